/*
 * TAP output for the standalone test harnesses (test/stat, test/numeric):
 * "ok N - ..." or "not ok N - ..." per check, then the plan "1..N".
 * test/run.sh counts these lines.
 */
#ifndef PRIVSTAT_TEST_TAP_H
#define PRIVSTAT_TEST_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int	tap_tests = 0;
static int	tap_failures = 0;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
check(int ok, const char *fmt, ...)
{
	va_list		ap;

	tap_tests++;
	if (!ok)
		tap_failures++;
	printf("%s %d - ", ok ? "ok" : "not ok", tap_tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* print the plan; the exit status of the harness */
static int
tap_done(void)
{
	printf("1..%d\n", tap_tests);
	return tap_failures == 0 ? 0 : 1;
}

#endif							/* PRIVSTAT_TEST_TAP_H */
