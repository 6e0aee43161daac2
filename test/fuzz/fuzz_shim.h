/*
 * fuzz_shim.h: the few PostgreSQL server functions privstat's readers call,
 * re-implemented for a process without a server (fuzz_shim.c), and the
 * harness side of them.  See README.md.
 */
#ifndef PRIVSTAT_FUZZ_SHIM_H
#define PRIVSTAT_FUZZ_SHIM_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

/*
 * ereport(ERROR) longjmps here; errfinish() aborts if nothing is armed (an
 * ERROR outside FUZZ_TRY is a harness bug).  Usage:
 *		if (FUZZ_TRY()) { call(); FUZZ_END(); ok = true; } else ok = false;
 */
extern sigjmp_buf *fuzz_error_jmp;
extern sigjmp_buf fuzz_error_buf;
#define FUZZ_TRY()	(fuzz_error_jmp = &fuzz_error_buf, sigsetjmp(fuzz_error_buf, 0) == 0)
#define FUZZ_END()	(fuzz_error_jmp = NULL)

/* the last error or log message, formatted (message, detail, hint) */
extern int	fuzz_last_elevel;
extern char fuzz_last_message[4096];
extern int	fuzz_log_count;

/*
 * When set, a message whose formatted text contains this string while its
 * format does not (so it came in through an argument) aborts: input
 * functions must never echo their input.
 */
extern const char *fuzz_forbidden_echo;

/* free every palloc of the current iteration (MemoryContexts other than keys') */
extern void fuzz_free_all(void);

/* the master key of src/keys.c (fuzz_keys.c) */
extern void fuzz_set_master_key(const uint8_t *key32);

/* the last heap_form_tuple / tuplestore_putvalues of an SQL function */
extern uintptr_t fuzz_tuple_values[16];
extern _Bool fuzz_tuple_nulls[16];
extern int	fuzz_tuple_rows;

/* a fresh empty directory for this process, chdir()ed into (the "data directory") */
extern void fuzz_enter_datadir(void);

/* abort with a message: an invariant of a reader does not hold */
extern void fuzz_fail(const char *fmt,...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
