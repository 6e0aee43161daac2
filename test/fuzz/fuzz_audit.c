/*
 * fuzz_audit: the audit trail's readers in src/audit.c (linked as is, with
 * src/records.c for the shared record helpers): trail_replay() (startup:
 * the newest segment, torn tails, empty segments), verify_audit_log() (the
 * chain walk) and _audit_log() (events and their text records), on a
 * segment file made of the input (format: fuzz_records.h; mode bits 3-4
 * pick the segment's number: 1, 2, 3 or 16).
 *
 * Besides ASan/UBSan, for every input:
 *	- replay, verification and reading never crash; an ERROR in replay is
 *	  what the server catches and turns into fail-closed, so it is allowed;
 *	- after a replay that did not fail closed, verify_audit_log() says the
 *	  trail is intact, with every record from the segment's header to the
 *	  end, and a second replay is clean and reaches the same end;
 *	- with WRITE_MORE, an event (with text records) written after the
 *	  replay verifies too, and the next replay ends after it;
 *	- journal_restore() (the journal lost records the trail holds), against
 *	  a journal that ends at a seq taken from the input: every journal seq
 *	  from there to the trail's budget_next is either restored or marked
 *	  lost, in order, once; the restored ones come from records whose chain
 *	  verifies.
 */
#include "../../src/audit.c"

#include <stdlib.h>

#include "fuzz_shim.h"
#include "fuzz_records.h"

static const uint8 master[32] = {
	0x70, 0x72, 0x69, 0x76, 0x73, 0x74, 0x61, 0x74, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x6b, 0x65,
	0x79, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e
};

static const uint64 segnos[4] = {1, 2, 3, 16};

static AuditShared ashared;

/* a budget journal that ends at fake_next and takes what journal_restore gives back */
static uint64 fake_next;
static uint64 fake_expect;
static bool fake_lost_final;

/* after the final mark: the journal's end (the mark is not passed on) */
static uint64
fake_scan(uint64 from, void (*fn) (const PrivstatBudgetEvent *ev))
{
	(void) from;
	(void) fn;
	return fake_expect;
}

static bool
fake_restore(const PrivstatBudgetEvent *ev)
{
	if (ev == NULL)
		return true;
	if (ev->seq != fake_expect)
		fuzz_fail("journal_restore gave back record %llu, expected %llu",
				  (unsigned long long) ev->seq, (unsigned long long) fake_expect);
	fake_expect++;
	return true;
}

static void
fake_lost(uint64 from, uint64 to)
{
	if (from != fake_expect || to < from)
		fuzz_fail("journal_restore marked %llu..%llu lost, expected from %llu",
				  (unsigned long long) from, (unsigned long long) to,
				  (unsigned long long) fake_expect);
	if (from == to)
	{
		fake_lost_final = true;
		to = from + 1;
	}
	fake_expect = to;
}

/* budget.synced: none (trail_catch_up is not fuzzed; journal_restore is given its target) */
static uint64
fake_synced(void)
{
	return 0;
}

static const PrivstatBudgetJournal fake_journal = {
	.scan = fake_scan,
	.restore = fake_restore,
	.lost = fake_lost,
	.synced = fake_synced,
};

/* remove every file of the trail's directory */
static void
clear_trail(void)
{
	DIR		   *dir = opendir(AUDIT_DIR);
	struct dirent *de;
	char		path[MAXPGPATH];

	if (dir == NULL)
		return;
	while ((de = readdir(dir)) != NULL)
	{
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), AUDIT_DIR "/%s", de->d_name);
		unlink(path);
	}
	closedir(dir);
}

typedef struct Replayed
{
	bool		fail_closed;
	bool		error;
	uint64		segno;
	uint64		seg_first;
	uint64		next_seq;
	uint64		budget_next;
	uint8		last_mac[32];
} Replayed;

static void
replay(Replayed *out)
{
	memset(&ashared, 0, sizeof(ashared));
	shared = &ashared;
	pg_atomic_init_u64(&shared->written, 0);
	pg_atomic_init_u64(&shared->flushed, 0);
	pg_atomic_init_flag(&shared->pruning);
	memset(out, 0, sizeof(*out));
	if (FUZZ_TRY())
	{
		trail_replay();
		FUZZ_END();
	}
	else
	{
		/* audit_shmem_startup's PG_CATCH */
		FUZZ_END();
		out->error = true;
		shared->fail_closed = true;
	}
	segment_close();
	out->fail_closed = shared->fail_closed;
	out->segno = shared->segno;
	out->seg_first = shared->seg_first;
	out->next_seq = shared->next_seq;
	out->budget_next = shared->budget_next;
	memcpy(out->last_mac, shared->last_mac, 32);
}

/* verify_audit_log(): ok, records, first bad seq or -1, first seq */
static bool
verify(int64 *records, int64 *bad, int64 *first)
{
	LOCAL_FCINFO(fcinfo, 0);

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	if (FUZZ_TRY())
	{
		privstat_verify_audit_log(fcinfo);
		FUZZ_END();
	}
	else
	{
		FUZZ_END();
		fuzz_fail("verify_audit_log raised an ERROR: %s", fuzz_last_message);
	}
	*records = DatumGetInt64(fuzz_tuple_values[1]);
	*bad = fuzz_tuple_nulls[2] ? -1 : DatumGetInt64(fuzz_tuple_values[2]);
	*first = DatumGetInt64(fuzz_tuple_values[3]);
	return DatumGetBool(fuzz_tuple_values[0]);
}

static void
read_log(void)
{
	LOCAL_FCINFO(fcinfo, 0);
	ReturnSetInfo rsinfo;

	memset(&rsinfo, 0, sizeof(rsinfo));
	rsinfo.type = T_ReturnSetInfo;
	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, (Node *) &rsinfo);
	if (FUZZ_TRY())
	{
		privstat_audit_log(fcinfo);
		FUZZ_END();
	}
	else
	{
		FUZZ_END();
		fuzz_fail("_audit_log raised an ERROR: %s", fuzz_last_message);
	}
}

static void
check_intact(const Replayed *r, const char *what)
{
	int64		records,
				bad,
				first;

	if (!verify(&records, &bad, &first))
		fuzz_fail("%s: a trail that replayed clean does not verify (bad at %lld)", what, (long long) bad);
	if (first != (int64) r->seg_first || records != (int64) (r->next_seq - r->seg_first))
		fuzz_fail("%s: verify counts %lld records from %lld, replay %llu from %llu", what,
				  (long long) records, (long long) first,
				  (unsigned long long) (r->next_seq - r->seg_first),
				  (unsigned long long) r->seg_first);
}

/* recompute CRC and HMAC of the first fix records (and seq if asked) */
static void
fix_chain(uint8 *file, size_t len, int mode, int fix, uint64 segno)
{
	uint8		prev[32];
	size_t		n = len / sizeof(AuditRecord);
	uint64		first = 0;

	memset(prev, 0, sizeof(prev));
	for (size_t i = 0; i < n && (fix == 255 || (int) i < fix); i++)
	{
		AuditRecord r;

		memcpy(&r, file + i * sizeof(r), sizeof(r));
		if (privstat_record_is_zero(&r))
			break;
		if (i == 0 && r.type == AR_SEGMENT)
		{
			memcpy(prev, r.u.seg.prev_mac, 32);
			first = r.seq;
			if (mode & FIX_SEQ)
				r.u.seg.segno = segno;
		}
		if (mode & FIX_SEQ)
			r.seq = first + i;
		privstat_record_seal(&r, prev, audit_key());
		memcpy(prev, r.mac, 32);
		memcpy(file + i * sizeof(r), &r, sizeof(r));
	}
}

static void write_seeds(const char *dir);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("PRIVSTAT_FUZZ_MAKE_SEEDS");
	char	   *abs = seeds ? realpath(seeds, NULL) : NULL;

	(void) argc;
	(void) argv;
	fuzz_set_master_key(master);
	fuzz_enter_datadir();
	if (mkdir("privstat", 0700) != 0 || mkdir(AUDIT_DIR, 0700) != 0)
		fuzz_fail("cannot make the trail's directory");
	if (seeds)
	{
		if (abs == NULL)
			fuzz_fail("no directory %s", seeds);
		write_seeds(abs);
		exit(0);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int			mode,
				fix;
	uint64		segno;
	uint8	   *file;
	size_t		len;
	char		path[MAXPGPATH];
	Replayed	first,
				second;
	int64		records,
				bad,
				firstseq;

	if (size < RECORDS_HDR || size > RECORDS_HDR + MAX_FILE)
		return 0;
	mode = data[0];
	fix = data[1];
	segno = segnos[(mode >> 3) & 3];
	len = size - RECORDS_HDR;
	file = malloc(len + 1);
	memcpy(file, data + RECORDS_HDR, len);
	if (mode & FIX_CHAIN)
		fix_chain(file, len, mode, fix, segno);
	clear_trail();
	segment_path(segno, path);
	write_file(path, file, len);

	replay(&first);
	/* whatever replay made of it, the readers must cope */
	(void) verify(&records, &bad, &firstseq);
	read_log();
	/* (a header whose seq would wrap within its file fails closed: README.md) */
	if (!first.fail_closed)
	{
		check_intact(&first, "after replay");
		replay(&second);
		if (second.fail_closed || second.next_seq != first.next_seq ||
			second.segno != first.segno ||
			memcmp(second.last_mac, first.last_mac, 32) != 0)
			fuzz_fail("a second replay disagrees with the first");

		/*
		 * A journal that ends before the trail's budget events, or before
		 * the records budget.synced says it had (up to two more than the
		 * trail holds): restore from the trail, mark the rest lost.
		 */
		if (second.budget_next > 0)
		{
			uint64		target = second.budget_next + (fix >> 6) % 3;

			fake_next = fake_expect = (uint64) fix % target;
			fake_lost_final = false;
			budget_journal = &fake_journal;
			if (FUZZ_TRY())
			{
				journal_restore(fake_next, target);
				FUZZ_END();
				if (fake_expect < target)
					fuzz_fail("journal_restore left records %llu..%llu neither restored nor lost",
							  (unsigned long long) fake_expect, (unsigned long long) target);
				if (fake_lost_final != (fake_expect == target + 1))
					fuzz_fail("journal_restore's final mark does not match its losses");
			}
			else
				FUZZ_END();		/* a segment that cannot be read: caught at startup */
			budget_journal = NULL;
			replay(&second);
		}

		if (mode & WRITE_MORE)
		{
			AuditRecord r;
			char		text[200];
			int			textlen = len % sizeof(text);

			/*
			 * a (forged) trail whose budget events reach the journal's last
			 * record number: the journal refuses the charge before the
			 * trail sees it (privstat_journal_append)
			 */
			if (shared->budget_next >= PRIVSTAT_BUDGET_SEQ_LIMIT)
			{
				free(file);
				return 0;
			}
			memset(text, 'q', sizeof(text));
			event_init(&r, AR_CHARGE);
			r.u.ev.role = 100;
			r.u.ev.epsilon = 0.5;
			r.u.ev.ref = shared->budget_next;
			if (FUZZ_TRY())
			{
				trail_event(&r, text, textlen);
				FUZZ_END();
			}
			else
			{
				FUZZ_END();
				/*
				 * a (forged) trail at its last sequence numbers: the writer
				 * refuses an event whose records (and perhaps a new segment's
				 * header) would pass the limit
				 */
				if (first.next_seq + 2 + (textlen + AUDIT_TEXT_PER_RECORD - 1) / AUDIT_TEXT_PER_RECORD >
					AUDIT_SEQ_LIMIT + 1 &&
					strstr(fuzz_last_message, "used up its sequence numbers") != NULL)
				{
					free(file);
					return 0;
				}
				fuzz_fail("writing an event after a clean replay failed: %s", fuzz_last_message);
			}
			segment_close();
			second.next_seq = shared->next_seq;
			check_intact(&second, "after an event");
			read_log();
			replay(&first);
			if (first.fail_closed || first.next_seq != second.next_seq)
				fuzz_fail("the replay after an event does not end after it");
		}
	}
	free(file);
	fuzz_free_all();
	return 0;
}

/* ---------------------------------------------------------------- seeds */

/* a segment written by the server's own code: events, some with text records */
static void
write_seeds(const char *dir)
{
	Replayed	r;
	uint8	   *file;
	size_t		len;
	char		path[MAXPGPATH];
	const char *query = "SELECT privstat.dp_count(*, ?) FROM customers WHERE region = ? GROUP BY city ORDER BY ? LIMIT ?";

	clear_trail();
	replay(&r);					/* no segment: starts segment 1 */
	if (FUZZ_TRY())
	{
		AuditRecord ev;

		event_init(&ev, AR_BUDGET_SET);
		ev.u.ev.role = 100;
		ev.u.ev.epsilon = 10;
		ev.u.ev.ref = 0;
		trail_event(&ev, NULL, 0);
		event_init(&ev, AR_CHARGE);
		ev.u.ev.role = 100;
		ev.u.ev.epsilon = 0.5;
		ev.u.ev.ref = 1;
		trail_event(&ev, query, strlen(query));
		event_init(&ev, AR_REFUSAL);
		ev.u.ev.role = 101;
		strlcpy(ev.u.ev.detail, "exhausted", sizeof(ev.u.ev.detail));
		trail_event(&ev, query, 40);
		event_init(&ev, AR_KEY_ROTATION);
		ev.u.ev.op = AOP_UPDATE;
		ev.u.ev.count = 2;
		trail_event(&ev, "customer", 8);
		event_init(&ev, AR_PURGE);
		ev.u.ev.relid = 16384;
		ev.u.ev.count = 12;
		strlcpy(ev.u.ev.detail, "delete", sizeof(ev.u.ev.detail));
		trail_event(&ev, NULL, 0);
		event_init(&ev, AR_BUDGET_ADOPT);
		ev.u.ev.op = AOP_RECOVERED;
		ev.u.ev.ref = 2;
		trail_event(&ev, NULL, 0);
		FUZZ_END();
	}
	else
		fuzz_fail("writing the seed segment: %s", fuzz_last_message);
	segment_close();
	segment_path(1, path);
	file = read_file(path, &len);
	len = trim_zeros(file, len);
	write_seed(dir, "empty", 0, 0, file, 0);
	write_seed(dir, "header-only", 0, 0, file, 128);
	write_seed(dir, "valid", 0, 0, file, len);
	write_seed(dir, "valid-fix", FIX_CHAIN | FIX_SEQ, 255, file, len);
	write_seed(dir, "valid-append", WRITE_MORE, 0, file, len);
	write_seed(dir, "torn", 0, 0, file, 7 * 128 + 33);
	write_seed(dir, "seg2-fix", FIX_CHAIN | FIX_SEQ | (1 << 3), 255, file, len);
	write_seed(dir, "zeros", 0, 0, file + len - 256, 256);
	free(file);
}
