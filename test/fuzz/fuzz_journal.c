/*
 * fuzz_journal: the budget journal's reader, privstat_journal_replay() of
 * src/journal.c into the ledger of src/budget.c (both compiled in as they
 * are, with src/records.c linked), on a file made of the input (format:
 * fuzz_records.h).
 *
 * Besides ASan/UBSan, for every input:
 *	- the replay never raises an ERROR (it runs in the postmaster, where an
 *	  error would stop the server: a bad journal must only fail closed);
 *	- after a replay that did not fail closed, everything past the last good
 *	  record is zeros (a torn tail was cut), and a second replay of the file
 *	  as left is clean, cuts nothing, changes nothing and rebuilds the same
 *	  ledger, the same chain end and the same next seq;
 *	- budget_journal_scan() passes exactly the good records, in order;
 *	- with WRITE_MORE, a record appended by budget.c's journal_append() after the
 *	  replay is accepted by the next replay, with the ledger it implies.
 */
#include "../../src/journal.c"
#include "../../src/budget.c"

#include <stdlib.h>

#include "fuzz_shim.h"
#include "fuzz_records.h"

static const uint8 master[32] = {
	0x70, 0x72, 0x69, 0x76, 0x73, 0x74, 0x61, 0x74, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x6b, 0x65,
	0x79, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e
};

static BudgetShared fshared;
static JournalShared fjournal;

typedef struct LedgerState
{
	bool		fail_closed;
	uint64		next_seq;
	uint8		last_mac[32];
	uint32		timeline;
	int			nroles;
	BudgetEntry roles[64];
	int			logs;
} LedgerState;

static int
entry_cmp(const void *a, const void *b)
{
	Oid			x = ((const BudgetEntry *) a)->roleid;
	Oid			y = ((const BudgetEntry *) b)->roleid;

	return x < y ? -1 : x > y;
}

/* a fresh ledger and shared state, as a postmaster start has */
static void
fresh_shared(void)
{
	HASHCTL		info;

	if (ledger != NULL)
		hash_destroy(ledger);
	memset(&fshared, 0, sizeof(fshared));
	shared = &fshared;
	memset(&fjournal, 0, sizeof(fjournal));
	js = &fjournal;
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(Oid);
	info.entrysize = sizeof(BudgetEntry);
	ledger = ShmemInitHash("privstat budget ledger", privstat_max_roles, privstat_max_roles,
						   &info, HASH_ELEM | HASH_BLOBS);
	if (journal_fd >= 0)
		close(journal_fd);
	journal_fd = -1;
}

static void
replay(LedgerState *s)
{
	HASH_SEQ_STATUS st;
	BudgetEntry *e;
	int			logs = fuzz_log_count;

	fresh_shared();
	if (FUZZ_TRY())
	{
		privstat_journal_replay(apply_record);
		FUZZ_END();
	}
	else
	{
		FUZZ_END();
		fuzz_fail("the journal's replay raised an ERROR: %s", fuzz_last_message);
	}
	memset(s, 0, sizeof(*s));
	s->fail_closed = js->fail_closed;
	s->next_seq = js->next_seq;
	memcpy(s->last_mac, js->last_mac, 32);
	s->timeline = js->timeline;
	hash_seq_init(&st, ledger);
	while ((e = hash_seq_search(&st)) != NULL)
	{
		if (s->nroles >= (int) lengthof(s->roles))
			fuzz_fail("the ledger holds more roles than privstat.max_roles");
		s->roles[s->nroles++] = *e;
	}
	qsort(s->roles, s->nroles, sizeof(BudgetEntry), entry_cmp);
	s->logs = fuzz_log_count - logs;
}

static void
same_state(const LedgerState *a, const LedgerState *b, const char *what)
{
	if (a->fail_closed != b->fail_closed || a->next_seq != b->next_seq ||
		memcmp(a->last_mac, b->last_mac, 32) != 0 || a->timeline != b->timeline ||
		a->nroles != b->nroles ||
		memcmp(a->roles, b->roles, a->nroles * sizeof(BudgetEntry)) != 0)
		fuzz_fail("%s: replays disagree (seq %llu/%llu, fail_closed %d/%d, roles %d/%d)", what,
				  (unsigned long long) a->next_seq, (unsigned long long) b->next_seq,
				  a->fail_closed, b->fail_closed, a->nroles, b->nroles);
}

static uint64 scanned;

static void
scan_cb(const PrivstatBudgetEvent *ev)
{
	if (ev->seq != scanned)
		fuzz_fail("journal scan passed seq %llu at position %llu",
				  (unsigned long long) ev->seq, (unsigned long long) scanned);
	scanned++;
}

/* recompute CRC and HMAC of the first fix records (and seq if asked) */
static void
fix_chain(uint8 *file, size_t len, int mode, int fix)
{
	uint8		prev[32];
	size_t		n = len / sizeof(JournalRecord);

	memset(prev, 0, sizeof(prev));
	for (size_t i = 0; i < n && (fix == 255 || (int) i < fix); i++)
	{
		JournalRecord r;

		memcpy(&r, file + i * sizeof(r), sizeof(r));
		if (privstat_record_is_zero(&r))
			break;
		if (mode & FIX_SEQ)
			r.seq = i;
		privstat_record_seal(&r, prev, journal_key());
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
	privstat_max_roles = 4;		/* small, so "more roles than max_roles" is reachable */
	fuzz_enter_datadir();
	if (mkdir(JOURNAL_DIR, 0700) != 0)
		fuzz_fail("cannot make the journal's directory");
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
	uint8	   *file;
	size_t		len,
				after_len;
	uint8	   *after;
	LedgerState	first,
				second;

	if (size < RECORDS_HDR || size > RECORDS_HDR + MAX_FILE)
		return 0;
	mode = data[0];
	fix = data[1];
	len = size - RECORDS_HDR;
	file = malloc(len + 1);
	memcpy(file, data + RECORDS_HDR, len);
	if (mode & FIX_CHAIN)
		fix_chain(file, len, mode, fix);
	write_file(JOURNAL_FILE, file, len);
	if (mode & SYNCED_MARK)
	{
		JournalSynced m;

		memset(&m, 0, sizeof(m));
		m.magic = SYNCED_MAGIC;
		m.format = JOURNAL_FORMAT;
		m.records = (uint64) (mode >> 5) * 8;
		INIT_CRC32C(m.crc);
		COMP_CRC32C(m.crc, &m, offsetof(JournalSynced, crc));
		FIN_CRC32C(m.crc);
		write_file(SYNCED_FILE, &m, sizeof(m));
	}
	else
		unlink(SYNCED_FILE);

	replay(&first);
	if (!first.fail_closed)
	{
		after = read_file(JOURNAL_FILE, &after_len);
		if (after_len != len)
			fuzz_fail("replay changed the journal's size from %zu to %zu", len, after_len);
		if (!all_zero(after + first.next_seq * sizeof(JournalRecord),
					  after_len - Min(after_len, first.next_seq * sizeof(JournalRecord))))
			fuzz_fail("a clean replay left bytes after its last record %llu",
					  (unsigned long long) first.next_seq);
		scanned = 0;
		if (budget_journal_scan(0, scan_cb) != first.next_seq || scanned != first.next_seq)
			fuzz_fail("the journal scan does not pass the replayed records");

		replay(&second);
		same_state(&first, &second, "replay of a replayed journal");
		if (second.logs != 0)
			fuzz_fail("the second replay logged: %s", fuzz_last_message);
		{
			size_t		again_len;
			uint8	   *again = read_file(JOURNAL_FILE, &again_len);

			if (again_len != after_len || memcmp(again, after, after_len) != 0)
				fuzz_fail("the second replay changed the journal");
			free(again);
		}
		free(after);

		if ((mode & WRITE_MORE) && first.nroles > 0)
		{
			JournalRecord r;
			LedgerState	third;

			/* a charge to a role that has a ledger entry, as the server would write it */
			memset(&r, 0, sizeof(r));
			r.type = JR_CHARGE;
			r.roleid = second.roles[0].roleid;
			r.actor = 10;
			r.epsilon = 0.5;
			r.delta = 1e-9;
			if (FUZZ_TRY())
			{
				privstat_journal_open();
				journal_append(&r);
				FUZZ_END();
			}
			else
			{
				FUZZ_END();
				fuzz_fail("journal_append after a clean replay failed: %s", fuzz_last_message);
			}
			/* the 1 MB of zeros journal_extend() added reads as the end: keep a little, for speed */
			if (truncate(JOURNAL_FILE, (r.seq + 3) * sizeof(r)) != 0)
				fuzz_fail("cannot truncate the journal");
			add_spend(&second.roles[0], r.ts, units_up(r.epsilon, EPS_UNIT), units_up(r.delta, DELTA_UNIT));
			memcpy(second.last_mac, r.mac, 32);
			second.next_seq++;
			second.timeline = r.timeline;
			replay(&third);
			same_state(&second, &third, "replay after an append");
		}
	}
	free(file);
	fuzz_free_all();
	return 0;
}

/* ---------------------------------------------------------------- seeds */

/* a journal written by the server's own code: set, charges, reset, adopt */
static void
write_seeds(const char *dir)
{
	JournalRecord r;
	LedgerState	s;
	uint8	   *file;
	size_t		len;
	static const struct
	{
		int			type;
		Oid			role;
		double		eps;
		double		delta;
		int64		period;
	}			events[] = {
		{JR_SET, 100, 10.0, 1e-6, 0},
		{JR_CHARGE, 100, 0.5, 0, 0},
		{JR_SET, 101, INFINITY, INFINITY, 0},
		{JR_CHARGE, 101, 1.25, 1e-9, 0},
		{JR_SET, 100, 10.0, 1e-6, 3600 * USECS_PER_SEC},
		{JR_CHARGE, 100, 0.25, 0, 0},
		{JR_RESET, 101, 0, 0, 0},
		{JR_ADOPT, 0, 0, 0, 0},
		{JR_CHARGE, 102, 0.1, 0, 0},
	};

	unlink(JOURNAL_FILE);
	replay(&s);
	if (FUZZ_TRY())
	{
		privstat_journal_open();
		for (size_t i = 0; i < lengthof(events); i++)
		{
			memset(&r, 0, sizeof(r));
			r.type = events[i].type;
			r.roleid = events[i].role;
			r.actor = 10;
			r.epsilon = events[i].eps;
			r.delta = events[i].delta;
			r.period_us = events[i].period;
			journal_append(&r);
		}
		FUZZ_END();
	}
	else
		fuzz_fail("writing the seed journal: %s", fuzz_last_message);
	file = read_file(JOURNAL_FILE, &len);
	len = trim_zeros(file, len);
	write_seed(dir, "empty", 0, 0, file, 0);
	write_seed(dir, "valid", 0, 0, file, len);
	write_seed(dir, "valid-fix", FIX_CHAIN | FIX_SEQ, 255, file, len);
	write_seed(dir, "valid-append", WRITE_MORE, 0, file, len);
	write_seed(dir, "torn", 0, 0, file, 9 * 128 + 60);
	write_seed(dir, "three", FIX_CHAIN, 3, file, 5 * 128);
	free(file);
}
