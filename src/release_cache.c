/*-------------------------------------------------------------------------
 *
 * release_cache.c
 *	  Answers already released are returned again, at no privacy cost.
 *
 * A DP answer, once released to a role, is public to that role: returning
 * the very same rows again is post-processing and spends nothing.  A
 * dashboard that refreshes a panel every 30 seconds over data that changes
 * every ten minutes is charged once per change, not once per refresh.
 *
 * What is "the same query".  An entry's key is a SHA-256 of the database,
 * the role charged (GetUserId()), the planned statement as nodeToString
 * prints it (relations, functions and operators by OID, constants with
 * their values, privacy parameters given as arguments, the restricted
 * role's validated rewrite and its row rules), the values of the
 * statement's parameters, and the settings that change what a plan
 * computes (the privacy settings, privstat.purpose, TimeZone, DateStyle,
 * search_path, ...).  Another role, purpose, parameter or epsilon is
 * another key.  Nothing of the session is in it, so pooled connections
 * (pgbouncer in transaction mode) share entries.
 *
 * What is "unchanged".  Every relation a cached plan reads (a partition
 * counts as its partitioned root) has a slot in shared memory with a
 * generation number, and so has the whole cluster (slot 0): every
 * statement that may change a relation's rows bumps its slot before the
 * first row changes (INSERT, UPDATE, DELETE, MERGE at executor start, COPY
 * FROM and REFRESH MATERIALIZED VIEW in the utility hook), and any other
 * utility statement (TRUNCATE among them), or a change to privstat's own
 * tables (policies, row rules, keys), bumps slot 0.  An entry records the generations it
 * was computed at, and is served only while they are all unchanged.
 *
 * A generation alone does not say whether the writer's rows are in a
 * reader's snapshot: a writer that bumped before the reader looked may
 * commit after the reader's snapshot was taken.  So each slot also keeps
 * the transaction ids of its writers, until they are older than every
 * snapshot in the cluster (GetOldestNonRemovableTransactionId).  A result
 * is kept, or served, only when every writer listed is complete in the
 * query's own snapshot (XidInMVCCSnapshot) and is not the query's own
 * transaction; a writer still running makes the query a miss that is
 * charged and not kept.  A slot made while writers may already be running
 * is trusted only by snapshots taken after all of them ended (settle_xid).
 *
 * Restarts.  The entries and the slots are in the same shared memory, and
 * a restart or a crash loses both, so no entry outlives the counters that
 * would show it stale: nothing needs to be persisted.
 *
 * Not cached: EXPLAIN ANALYZE, scrollable cursors, DP queries nested in
 * another query, queries run with PL/pgSQL variables as parameters, and
 * plans that read a foreign table, a table function, or a table a logical
 * replication subscription writes into (its apply worker changes rows
 * without the executor hooks).  A writer that does not go through the
 * executor or the utility hook (an extension writing heap tuples itself)
 * is not seen; privstat.release_cache_ttl bounds how old a reused answer
 * can be.  Answers that depend on the clock (now(), a retention rule's
 * expiry) are the answers of their first run until they age out.
 *
 * Memory.  Entries live in a DSA area made in place in the main shared
 * memory segment, limited to privstat.release_cache_size; the least
 * recently used entries are evicted to make room.
 *
 * Locking: tables_lock (shared: find a slot; exclusive: add or evict one),
 * each slot's spinlock for its fields; entries_lock (exclusive) for the
 * entries, the area and the statistics.  Never both LWLocks at once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/detoast.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xlog.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_subscription_rel.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/dsa.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "privstat/common.h"
#include "privstat/guc.h"
#include "privstat/release_cache.h"

int			privstat_release_cache_size = 8192;
int			privstat_release_cache_ttl = 900;

/* relation slots: fixed; the least recently read is dropped when full */
#define RC_TABLES		1024
/* writers a slot lists before the oldest is folded into overflow_xid */
#define RC_XIDS			8

typedef struct RcTableKey
{
	Oid			dbid;			/* InvalidOid for slot 0 */
	Oid			relid;			/* a root relation, or InvalidOid */
} RcTableKey;

typedef struct RcTable
{
	RcTableKey	key;
	slock_t		mutex;			/* protects everything below */
	uint64		gen;			/* bumped by every writer */
	TransactionId settle_xid;	/* trusted by snapshots whose xmin follows it */
	TransactionId overflow_xid; /* the newest writer no longer listed */
	int			nxids;
	TransactionId xids[RC_XIDS];	/* writers not yet older than every snapshot */
	TimestampTz last_used;
} RcTable;

typedef struct RcDep
{
	RcTableKey	key;
	uint64		gen;
} RcDep;

typedef struct RcKey
{
	Oid			dbid;
	Oid			role;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
} RcKey;

typedef struct RcEntry
{
	RcKey		key;
	dsa_pointer blob;
	Size		size;
	TimestampTz created;
	TimestampTz last_used;
} RcEntry;

/* an entry's rows and what they depend on, in the area */
typedef struct RcBlob
{
	int32		ndeps;
	int32		ntuples;
	Size		tuples_off;		/* MinimalTuples, each at a MAXALIGNed offset */
	RcDep		deps[FLEXIBLE_ARRAY_MEMBER];
} RcBlob;

typedef struct RcStats
{
	Oid			role;
	int64		hits;
	int64		misses;
	int64		stored;
	double		epsilon_saved;
	double		delta_saved;
} RcStats;

typedef struct RcShared
{
	LWLock	   *tables_lock;
	LWLock	   *entries_lock;
	pg_atomic_uint64 next_gen;
	int			dsa_tranche;
	Size		dsa_size;
	Size		bytes;			/* held by entries (entries_lock) */
	char		dsa_place[FLEXIBLE_ARRAY_MEMBER];
} RcShared;

/* one DP query's dealings with the cache, for the life of its executor */
typedef struct RcQuery
{
	PrivstatQueryState link;
	bool		hit;
	/* a hit: the rows to replay */
	char	   *rows;
	int			ntuples;
	int			pos;
	Size		off;
	/* a miss: what to keep when the query completes */
	bool		keep;
	bool		too_big;
	bool		done;
	RcKey		key;
	int			ndeps;
	RcDep	   *deps;
	TimestampTz started;		/* the answer's age counts from here */
	List	   *tuples;			/* MinimalTuples, in cxt */
	Size		bytes;
	MemoryContext cxt;
} RcQuery;

typedef struct TeeReceiver
{
	DestReceiver pub;
	DestReceiver *inner;
	RcQuery    *q;
	uint64		received;
} TeeReceiver;

static RcShared *rc = NULL;
static HTAB *rc_tables = NULL;
static HTAB *rc_entries = NULL;
static HTAB *rc_stats = NULL;
static dsa_area *rc_dsa = NULL;
static int	rc_max_entries = 0;
static PrivstatQueryState *active = NULL;
static int	run_depth = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * PostgreSQL's settings an answer may depend on beyond its plan (besides
 * every setting with a dotted name: privstat's, and the ones row security
 * policies read with current_setting, such as app.tenant)
 */
static const char *const key_settings[] = {
	"TimeZone", "DateStyle", "IntervalStyle", "search_path", "lc_monetary",
	"lc_numeric", "lc_time", "default_text_search_config", "row_security",
	"extra_float_digits", "bytea_output", "session_authorization", "role",
};

static Size
rc_dsa_bytes(void)
{
	if (privstat_release_cache_size <= 0)
		return 0;
	return Max((Size) privstat_release_cache_size * 1024, Max(dsa_minimum_size(), (Size) 1024 * 1024));
}

static Size
rc_shmem_size(void)
{
	Size		size = MAXALIGN(offsetof(RcShared, dsa_place)) + rc_dsa_bytes();

	size = add_size(size, hash_estimate_size(RC_TABLES, sizeof(RcTable)));
	size = add_size(size, hash_estimate_size(rc_max_entries, sizeof(RcEntry)));
	return add_size(size, hash_estimate_size(privstat_max_roles, sizeof(RcStats)));
}

static void
rc_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	if (privstat_release_cache_size <= 0)
		return;
	RequestAddinShmemSpace(rc_shmem_size());
	RequestNamedLWLockTranche("privstat_release_cache", 2);
}

static void
rc_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	if (privstat_release_cache_size <= 0)
		return;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	rc = ShmemInitStruct("privstat release cache",
						 MAXALIGN(offsetof(RcShared, dsa_place)) + rc_dsa_bytes(), &found);
	if (!found)
	{
		LWLockPadded *locks = GetNamedLWLockTranche("privstat_release_cache");
		dsa_area   *area;

		rc->tables_lock = &locks[0].lock;
		rc->entries_lock = &locks[1].lock;
		pg_atomic_init_u64(&rc->next_gen, 1);
		rc->dsa_tranche = LWLockNewTrancheId();
		rc->dsa_size = rc_dsa_bytes();
		rc->bytes = 0;
		area = dsa_create_in_place(rc->dsa_place, rc->dsa_size, rc->dsa_tranche, NULL);
		dsa_set_size_limit(area, rc->dsa_size);
		dsa_pin(area);
		dsa_detach(area);
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(RcTableKey);
	info.entrysize = sizeof(RcTable);
	rc_tables = ShmemInitHash("privstat release cache tables", RC_TABLES, RC_TABLES,
							  &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	info.keysize = sizeof(RcKey);
	info.entrysize = sizeof(RcEntry);
	rc_entries = ShmemInitHash("privstat release cache entries", rc_max_entries, rc_max_entries,
							   &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	info.keysize = sizeof(Oid);
	info.entrysize = sizeof(RcStats);
	rc_stats = ShmemInitHash("privstat release cache statistics", privstat_max_roles,
							 privstat_max_roles, &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	LWLockRelease(AddinShmemInitLock);
}

/* the area, attached for the life of the backend on first use */
static dsa_area *
rc_area(void)
{
	if (rc_dsa == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		LWLockRegisterTranche(rc->dsa_tranche, "privstat_release_cache_area");
		rc_dsa = dsa_attach_in_place(rc->dsa_place, NULL);
		dsa_pin_mapping(rc_dsa);
		MemoryContextSwitchTo(old);
	}
	return rc_dsa;
}

/* ---------------------------------------------------------------------------
 * Relation slots
 * ---------------------------------------------------------------------------
 */

static uint64
next_gen(void)
{
	return pg_atomic_add_fetch_u64(&rc->next_gen, 1);
}

/* a partition counts as its partitioned root */
static Oid
root_of(Oid relid)
{
	if (get_rel_relispartition(relid))
	{
		List	   *ancestors = get_partition_ancestors(relid);

		if (ancestors != NIL)
			return llast_oid(ancestors);
	}
	return relid;
}

/* drop the writers older than every snapshot (the caller holds the mutex) */
static void
slot_prune(RcTable *t, TransactionId horizon)
{
	int			i,
				n = 0;

	if (!TransactionIdIsNormal(horizon))
		return;
	for (i = 0; i < t->nxids; i++)
		if (!TransactionIdPrecedes(t->xids[i], horizon))
			t->xids[n++] = t->xids[i];
	t->nxids = n;
	if (TransactionIdIsValid(t->overflow_xid) && TransactionIdPrecedes(t->overflow_xid, horizon))
		t->overflow_xid = InvalidTransactionId;
	if (TransactionIdIsValid(t->settle_xid) && TransactionIdPrecedes(t->settle_xid, horizon))
		t->settle_xid = InvalidTransactionId;
}

/* list a writer (the caller holds the mutex) */
static void
slot_add_writer(RcTable *t, TransactionId xid, TransactionId horizon)
{
	int			i,
				oldest = 0;

	for (i = 0; i < t->nxids; i++)
		if (TransactionIdEquals(t->xids[i], xid))
			return;
	if (t->nxids == RC_XIDS)
		slot_prune(t, horizon);
	if (t->nxids == RC_XIDS)
	{
		/* fold the oldest into overflow_xid: trusted once older than a snapshot's xmin */
		for (i = 1; i < t->nxids; i++)
			if (TransactionIdPrecedes(t->xids[i], t->xids[oldest]))
				oldest = i;
		if (!TransactionIdIsValid(t->overflow_xid) ||
			TransactionIdFollows(t->xids[oldest], t->overflow_xid))
			t->overflow_xid = t->xids[oldest];
		t->xids[oldest] = t->xids[--t->nxids];
	}
	t->xids[t->nxids++] = xid;
}

/*
 * A statement is about to change the rows of relid (a root, or InvalidOid
 * for everything): bump its slot if some cached answer may depend on it.
 * Slots are made by readers only; a slot made later distrusts the writers
 * already running (settle_xid).
 */
static void
mark_written(Oid relid)
{
	RcTableKey	key;
	RcTable    *t;
	TransactionId xid;
	TransactionId horizon = InvalidTransactionId;

	if (rc == NULL || !IsTransactionState() || IsParallelWorker() || RecoveryInProgress())
		return;
	memset(&key, 0, sizeof(key));
	if (OidIsValid(relid))
	{
		key.dbid = MyDatabaseId;
		key.relid = root_of(relid);
	}

	/*
	 * The writer's id, before the slot is looked up: a slot made after this
	 * has a settle_xid past it, so it distrusts this writer until it ends.
	 * (Taken after the lookup, a slot made in between could trust a
	 * snapshot in which this writer is still running.)  Before the lock:
	 * assigning it may extend pg_xact.
	 */
	xid = GetTopTransactionId();

	LWLockAcquire(rc->tables_lock, LW_SHARED);
	t = hash_search(rc_tables, &key, HASH_FIND, NULL);
	if (t != NULL)
	{
		uint64		gen = next_gen();

		if (t->nxids == RC_XIDS)	/* read without the mutex: only a hint */
			horizon = GetOldestNonRemovableTransactionId(NULL);
		SpinLockAcquire(&t->mutex);
		t->gen = gen;
		slot_add_writer(t, xid, horizon);
		SpinLockRelease(&t->mutex);
	}
	LWLockRelease(rc->tables_lock);
}

/* relations in privstat's schema hold policy: a change to them changes every answer */
static void
mark_relation_written(Oid relid)
{
	Oid			nsp = get_rel_namespace(relid);

	mark_written(relid);
	if (OidIsValid(nsp) && nsp == get_namespace_oid("privstat", true))
		mark_written(InvalidOid);
}

/* make room in the slot table: the least recently read slot, never slot 0 */
static bool
evict_slot(void)
{
	HASH_SEQ_STATUS seq;
	RcTable    *t,
			   *victim = NULL;

	hash_seq_init(&seq, rc_tables);
	while ((t = hash_seq_search(&seq)) != NULL)
		if (OidIsValid(t->key.relid) && (victim == NULL || t->last_used < victim->last_used))
			victim = t;
	if (victim == NULL)
		return false;
	/* a slot made again starts at a new generation: no entry matches it */
	hash_search(rc_tables, &victim->key, HASH_REMOVE, NULL);
	return true;
}

/*
 * Read the generation of each dependency for a query running with
 * snapshot snap; false if a writer listed may have changed rows the
 * snapshot does not show, or the query's own transaction wrote.
 */
static bool
read_generations(RcDep *deps, int ndeps, Snapshot snap)
{
	TransactionId horizon = GetOldestNonRemovableTransactionId(NULL);
	TimestampTz now = GetCurrentTimestamp();
	bool		ok = true;
	int			i;

	LWLockAcquire(rc->tables_lock, LW_EXCLUSIVE);
	for (i = 0; i < ndeps && ok; i++)
	{
		bool		found;
		RcTable    *t = hash_search(rc_tables, &deps[i].key, HASH_ENTER_NULL, &found);
		RcTable		copy;
		int			j;

		if (t == NULL && evict_slot())
			t = hash_search(rc_tables, &deps[i].key, HASH_ENTER_NULL, &found);
		if (t == NULL)
		{
			ok = false;
			break;
		}
		if (!found)
		{
			SpinLockInit(&t->mutex);
			t->gen = next_gen();
			t->settle_xid = ReadNextTransactionId();
			t->overflow_xid = InvalidTransactionId;
			t->nxids = 0;
		}
		/* copied out: the checks below may take locks (subtrans) and raise */
		SpinLockAcquire(&t->mutex);
		t->last_used = now;
		slot_prune(t, horizon);
		copy = *t;
		SpinLockRelease(&t->mutex);

		deps[i].gen = copy.gen;
		if (TransactionIdIsValid(copy.settle_xid) &&
			TransactionIdFollows(copy.settle_xid, snap->xmin))
			ok = false;
		if (TransactionIdIsValid(copy.overflow_xid) &&
			!TransactionIdPrecedes(copy.overflow_xid, snap->xmin))
			ok = false;
		for (j = 0; j < copy.nxids && ok; j++)
			if (TransactionIdIsCurrentTransactionId(copy.xids[j]) ||
				XidInMVCCSnapshot(copy.xids[j], snap))
				ok = false;
	}
	LWLockRelease(rc->tables_lock);
	return ok;
}

/* ---------------------------------------------------------------------------
 * Which queries, and their key
 * ---------------------------------------------------------------------------
 */

/* true if a logical replication subscription writes into relid */
static bool
subscribed(Oid relid)
{
	Relation	rel = table_open(SubscriptionRelRelationId, AccessShareLock);
	ScanKeyData skey;
	SysScanDesc scan;
	bool		found;

	ScanKeyInit(&skey, Anum_pg_subscription_rel_srrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, SubscriptionRelSrrelidSrsubidIndexId, true, NULL, 1, &skey);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

static int
dep_cmp(const void *a, const void *b)
{
	const RcDep *x = a;
	const RcDep *y = b;

	if (x->key.dbid != y->key.dbid)
		return x->key.dbid < y->key.dbid ? -1 : 1;
	if (x->key.relid != y->key.relid)
		return x->key.relid < y->key.relid ? -1 : 1;
	return 0;
}

/*
 * The slots a plan's answer depends on: slot 0 and the root of every
 * relation it reads, sorted, once each.  NULL if the plan reads something
 * whose changes privstat cannot see.
 */
static RcDep *
plan_dependencies(PlannedStmt *stmt, int *ndeps)
{
	RcDep	   *deps = palloc0(sizeof(RcDep) * (list_length(stmt->rtable) + 1));
	int			n = 1,
				i,
				out = 0;
	ListCell   *lc;

	foreach(lc, stmt->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_FUNCTION || rte->rtekind == RTE_TABLEFUNC ||
			rte->rtekind == RTE_NAMEDTUPLESTORE)
			return NULL;
		if (rte->rtekind != RTE_RELATION || rte->relkind == RELKIND_VIEW)
			continue;
		if (rte->relkind != RELKIND_RELATION && rte->relkind != RELKIND_PARTITIONED_TABLE &&
			rte->relkind != RELKIND_MATVIEW)
			return NULL;
		deps[n].key.dbid = MyDatabaseId;
		deps[n].key.relid = root_of(rte->relid);
		if (subscribed(rte->relid) || subscribed(deps[n].key.relid))
			return NULL;
		n++;
	}
	qsort(deps, n, sizeof(RcDep), dep_cmp);
	for (i = 0; i < n; i++)
		if (out == 0 || dep_cmp(&deps[out - 1], &deps[i]) != 0)
			deps[out++] = deps[i];
	*ndeps = out;
	return deps;
}

static void
hash_text(pg_cryptohash_ctx *ctx, const char *s)
{
	uint32		len = s ? strlen(s) : UINT32_MAX;

	pg_cryptohash_update(ctx, (const uint8 *) &len, sizeof(len));
	if (s)
		pg_cryptohash_update(ctx, (const uint8 *) s, len);
}

static void
hash_bytes_into(pg_cryptohash_ctx *ctx, const char *p, uint32 len)
{
	pg_cryptohash_update(ctx, (const uint8 *) &len, sizeof(len));
	pg_cryptohash_update(ctx, (const uint8 *) p, len);
}

static void
make_key(QueryDesc *qd, RcKey *key)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	ParamListInfo params = qd->params;
	struct config_generic **gucs = get_guc_variables();
	int			nguc = GetNumConfigOptions();
	Oid			session;
	int			i;

	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	key->role = GetUserId();
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not initialize SHA-256: %s", pg_cryptohash_error(ctx));
	hash_text(ctx, "privstat release cache 2");
	pg_cryptohash_update(ctx, (const uint8 *) key, offsetof(RcKey, digest));
	session = GetSessionUserId();
	pg_cryptohash_update(ctx, (const uint8 *) &session, sizeof(session));
	hash_text(ctx, nodeToString(qd->plannedstmt));
	for (i = 0; params != NULL && i < params->numParams; i++)
	{
		ParamExternData *p = &params->params[i];

		pg_cryptohash_update(ctx, (const uint8 *) &p->ptype, sizeof(p->ptype));
		if (p->isnull || !OidIsValid(p->ptype))
			hash_text(ctx, NULL);
		else
		{
			/* the binary form: exact, whatever extra_float_digits says */
			Oid			typsend;
			bool		varlena;
			bytea	   *bin;

			getTypeBinaryOutputInfo(p->ptype, &typsend, &varlena);
			bin = OidSendFunctionCall(typsend, p->value);
			hash_bytes_into(ctx, VARDATA(bin), VARSIZE(bin) - VARHDRSZ);
		}
	}
	for (i = 0; i < (int) lengthof(key_settings); i++)
		hash_text(ctx, GetConfigOption(key_settings[i], true, false));
	for (i = 0; i < nguc; i++)
	{
		const char *name = gucs[i]->name;

		if (strchr(name, '.') != NULL && strncmp(name, "privstat.release_cache_", 23) != 0)
		{
			hash_text(ctx, name);
			hash_text(ctx, GetConfigOption(name, true, false));
		}
	}
	if (pg_cryptohash_final(ctx, key->digest, sizeof(key->digest)) < 0)
		elog(ERROR, "could not finish SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

/* ---------------------------------------------------------------------------
 * Entries
 * ---------------------------------------------------------------------------
 */

static RcStats *
stats_of(Oid role)
{
	bool		found;
	RcStats    *s = hash_search(rc_stats, &role, HASH_ENTER_NULL, &found);

	if (s != NULL && !found)
	{
		memset(((char *) s) + sizeof(Oid), 0, sizeof(RcStats) - sizeof(Oid));
	}
	return s;
}

static void
entry_remove(RcEntry *e)
{
	dsa_free(rc_area(), e->blob);
	rc->bytes -= e->size;
	hash_search(rc_entries, &e->key, HASH_REMOVE, NULL);
}

/* the least recently used entry goes; false if there was none */
static bool
evict_entry(void)
{
	HASH_SEQ_STATUS seq;
	RcEntry    *e,
			   *victim = NULL;

	hash_seq_init(&seq, rc_entries);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (victim == NULL || e->last_used < victim->last_used)
			victim = e;
	if (victim == NULL)
		return false;
	entry_remove(victim);
	return true;
}

static bool
entry_fresh(RcEntry *e, const RcDep *deps, int ndeps, TimestampTz now)
{
	RcBlob	   *b = dsa_get_address(rc_area(), e->blob);

	if (privstat_release_cache_ttl > 0 &&
		now - e->created >= (int64) privstat_release_cache_ttl * USECS_PER_SEC)
		return false;
	return b->ndeps == ndeps && memcmp(b->deps, deps, sizeof(RcDep) * ndeps) == 0;
}

/* a query whose rows may be kept and replayed */
static bool
cacheable(QueryDesc *qd, int eflags)
{
	PlannedStmt *stmt = qd->plannedstmt;

	if (qd->operation != CMD_SELECT || stmt->commandType != CMD_SELECT ||
		stmt->hasModifyingCTE || qd->tupDesc == NULL)
		return false;
	if ((eflags & (EXEC_FLAG_BACKWARD | EXEC_FLAG_MARK | EXEC_FLAG_REWIND)) != 0 ||
		qd->instrument_options != 0 || run_depth > 0)
		return false;
	/* SERIALIZABLE needs the scans' predicate locks; FOR UPDATE, its row locks */
	if (IsolationIsSerializable() || stmt->rowMarks != NIL)
		return false;
	/* a cursor WITH HOLD is run again from the start when its transaction commits */
	if (ActivePortal != NULL && (ActivePortal->cursorOptions & CURSOR_OPT_HOLD) != 0)
		return false;
	if (qd->snapshot == NULL || !IsMVCCSnapshot(qd->snapshot) || RecoveryInProgress())
		return false;
	if (qd->params != NULL && (qd->params->paramFetch != NULL || qd->params->paramCompile != NULL))
		return false;
	return true;
}

bool
privstat_release_cache_lookup(QueryDesc *qd, int eflags, double epsilon, double delta)
{
	RcDep	   *deps;
	int			ndeps = 0;
	RcKey		key;
	RcEntry    *e;
	RcStats    *s;
	RcQuery    *q;
	TimestampTz now;
	bool		hit = false;
	char	   *rows = NULL;
	int			ntuples = 0;

	if (rc == NULL || privstat_release_cache_ttl == 0)
		return false;
	if (!cacheable(qd, eflags) || (deps = plan_dependencies(qd->plannedstmt, &ndeps)) == NULL ||
		!read_generations(deps, ndeps, qd->snapshot))
	{
		LWLockAcquire(rc->entries_lock, LW_EXCLUSIVE);
		if ((s = stats_of(GetUserId())) != NULL)
			s->misses++;
		LWLockRelease(rc->entries_lock);
		return false;
	}
	make_key(qd, &key);
	now = GetCurrentTimestamp();

	LWLockAcquire(rc->entries_lock, LW_EXCLUSIVE);
	e = hash_search(rc_entries, &key, HASH_FIND, NULL);
	if (e != NULL && entry_fresh(e, deps, ndeps, now))
	{
		RcBlob	   *b = dsa_get_address(rc_area(), e->blob);

		rows = MemoryContextAlloc(qd->estate->es_query_cxt, e->size - b->tuples_off);
		memcpy(rows, (char *) b + b->tuples_off, e->size - b->tuples_off);
		ntuples = b->ntuples;
		e->last_used = now;
		hit = true;
	}
	else if (e != NULL)
		entry_remove(e);
	if ((s = stats_of(key.role)) != NULL)
	{
		if (hit)
		{
			s->hits++;
			s->epsilon_saved += epsilon;
			s->delta_saved += delta;
		}
		else
			s->misses++;
	}
	LWLockRelease(rc->entries_lock);

	q = privstat_query_state_new(qd, sizeof(RcQuery), &active);
	if (hit)
	{
		q->hit = true;
		q->rows = rows;
		q->ntuples = ntuples;
		return true;
	}
	q->keep = true;
	q->key = key;
	q->deps = MemoryContextAlloc(qd->estate->es_query_cxt, sizeof(RcDep) * ndeps);
	memcpy(q->deps, deps, sizeof(RcDep) * ndeps);
	q->ndeps = ndeps;
	q->started = now;
	q->cxt = qd->estate->es_query_cxt;
	return false;
}

static void
store(RcQuery *q)
{
	Size		head = MAXALIGN(offsetof(RcBlob, deps) + sizeof(RcDep) * q->ndeps);
	Size		size = head + q->bytes;
	dsa_area   *area;
	dsa_pointer p = InvalidDsaPointer;
	RcEntry    *e;
	RcStats    *s;
	bool		found;
	char	   *dst;
	ListCell   *lc;

	if (size > rc->dsa_size / 4)
		return;
	LWLockAcquire(rc->entries_lock, LW_EXCLUSIVE);
	area = rc_area();
	e = hash_search(rc_entries, &q->key, HASH_FIND, NULL);
	if (e != NULL)
		entry_remove(e);
	for (;;)
	{
		p = dsa_allocate_extended(area, size, DSA_ALLOC_NO_OOM);
		if (DsaPointerIsValid(p) || !evict_entry())
			break;
	}
	if (!DsaPointerIsValid(p))
	{
		LWLockRelease(rc->entries_lock);
		return;
	}
	e = hash_search(rc_entries, &q->key, HASH_ENTER_NULL, &found);
	if (e == NULL && evict_entry())
		e = hash_search(rc_entries, &q->key, HASH_ENTER_NULL, &found);
	if (e == NULL)
	{
		dsa_free(area, p);
		LWLockRelease(rc->entries_lock);
		return;
	}
	{
		RcBlob	   *b = dsa_get_address(area, p);

		b->ndeps = q->ndeps;
		b->ntuples = list_length(q->tuples);
		b->tuples_off = head;
		memcpy(b->deps, q->deps, sizeof(RcDep) * q->ndeps);
		dst = (char *) b + head;
		foreach(lc, q->tuples)
		{
			MinimalTuple t = lfirst(lc);

			memcpy(dst, t, t->t_len);
			dst += MAXALIGN(t->t_len);
		}
	}
	e->blob = p;
	e->size = size;
	e->created = q->started;
	e->last_used = GetCurrentTimestamp();
	rc->bytes += size;
	if ((s = stats_of(q->key.role)) != NULL)
		s->stored++;
	LWLockRelease(rc->entries_lock);
}

/* ---------------------------------------------------------------------------
 * Executor and utility hooks
 * ---------------------------------------------------------------------------
 */

/* a copy of the slot's row with every value in line (no pointer into a TOAST table) */
static MinimalTuple
flat_copy(TupleTableSlot *slot)
{
	TupleDesc	desc = slot->tts_tupleDescriptor;
	Datum	   *values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	int			i;

	slot_getallattrs(slot);
	for (i = 0; i < desc->natts; i++)
	{
		values[i] = slot->tts_values[i];
		if (!slot->tts_isnull[i] && TupleDescAttr(desc, i)->attlen == -1 &&
			VARATT_IS_EXTENDED(DatumGetPointer(values[i])))
			values[i] = PointerGetDatum(detoast_attr((struct varlena *) DatumGetPointer(values[i])));
	}
	return heap_form_minimal_tuple(desc, values, slot->tts_isnull);
}

static bool
tee_receive(TupleTableSlot *slot, DestReceiver *self)
{
	TeeReceiver *t = (TeeReceiver *) self;
	RcQuery    *q = t->q;
	bool		more;

	t->received++;
	if (!q->too_big)
	{
		MemoryContext old = MemoryContextSwitchTo(q->cxt);
		MinimalTuple mt = flat_copy(slot);

		q->bytes += MAXALIGN(mt->t_len);
		if (q->bytes > rc->dsa_size / 4)
		{
			q->too_big = true;
			list_free_deep(q->tuples);
			q->tuples = NIL;
			pfree(mt);
		}
		else
			q->tuples = lappend(q->tuples, mt);
		MemoryContextSwitchTo(old);
	}
	more = t->inner->receiveSlot(slot, t->inner);
	if (!more)
		q->too_big = true;		/* the run stops short: not the whole answer */
	return more;
}

static void
tee_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	TeeReceiver *t = (TeeReceiver *) self;

	t->inner->rStartup(t->inner, operation, typeinfo);
}

static void
tee_shutdown(DestReceiver *self)
{
	TeeReceiver *t = (TeeReceiver *) self;

	t->inner->rShutdown(t->inner);
}

static void
tee_destroy(DestReceiver *self pg_attribute_unused())
{
}

/* send the kept rows as ExecutorRun would have (forward, count rows at most) */
static void
replay(QueryDesc *qd, RcQuery *q, ScanDirection direction, uint64 count)
{
	DestReceiver *dest = qd->dest;
	EState	   *estate = qd->estate;
	MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);
	TupleTableSlot *slot;
	uint64		sent = 0;

	estate->es_processed = 0;
	dest->rStartup(dest, qd->operation, qd->tupDesc);
	if (!ScanDirectionIsNoMovement(direction))
	{
		slot = MakeSingleTupleTableSlot(qd->tupDesc, &TTSOpsMinimalTuple);
		while (q->pos < q->ntuples && (count == 0 || sent < count))
		{
			MinimalTuple t = (MinimalTuple) (q->rows + q->off);

			ExecStoreMinimalTuple(t, slot, false);
			q->pos++;
			q->off += MAXALIGN(t->t_len);
			if (!dest->receiveSlot(slot, dest))
				break;
			sent++;
		}
		ExecDropSingleTupleTableSlot(slot);
	}
	estate->es_processed = sent;
	dest->rShutdown(dest);
	MemoryContextSwitchTo(old);
}

/* run the plan one level deeper; dest is restored to saved, even on error */
static void
run_nested(QueryDesc *qd, ScanDirection direction, uint64 count, bool execute_once,
		   DestReceiver *saved)
{
	run_depth++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(qd, direction, count, execute_once);
		else
			standard_ExecutorRun(qd, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		run_depth--;
		qd->dest = saved;
	}
	PG_END_TRY();
}

static void
rc_ExecutorRun(QueryDesc *qd, ScanDirection direction, uint64 count, bool execute_once)
{
	RcQuery    *q = privstat_query_state_find(qd, active);
	TeeReceiver tee;
	DestReceiver *saved = qd->dest;

	memset(&tee, 0, sizeof(tee));

	if (q != NULL && q->hit)
	{
		if (!ScanDirectionIsForward(direction) && !ScanDirectionIsNoMovement(direction))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a released answer cannot be read backward")));
		replay(qd, q, direction, count);
		return;
	}
	if (q != NULL && q->keep && !q->done && ScanDirectionIsForward(direction))
	{
		tee.pub.receiveSlot = tee_receive;
		tee.pub.rStartup = tee_startup;
		tee.pub.rShutdown = tee_shutdown;
		tee.pub.rDestroy = tee_destroy;
		tee.pub.mydest = saved->mydest;
		tee.inner = saved;
		tee.q = q;
		qd->dest = &tee.pub;
	}
	run_nested(qd, direction, count, execute_once, saved);

	/* all rows produced: keep them */
	if (q != NULL && q->keep && !q->done && ScanDirectionIsForward(direction) &&
		(count == 0 || tee.received < count))
	{
		q->done = true;
		if (!q->too_big)
			store(q);
	}
	else if (q != NULL && q->keep && !ScanDirectionIsForward(direction))
		q->keep = false;
}

/* after PostgreSQL's checks: a statement that will write marks what it writes */
static void
rc_ExecutorStart(QueryDesc *qd, int eflags)
{
	if (prev_ExecutorStart)
		prev_ExecutorStart(qd, eflags);
	else
		standard_ExecutorStart(qd, eflags);

	/*
	 * A query started while another runs (a function reading a table, in a
	 * select list, a WHERE or a row security policy): the running answers
	 * depend on relations their plans do not show, and are not kept.
	 */
	if (run_depth > 0)
	{
		PrivstatQueryState *l;

		for (l = active; l != NULL; l = l->next)
			((RcQuery *) l)->keep = false;
	}

	if (rc != NULL && !(eflags & EXEC_FLAG_EXPLAIN_ONLY) &&
		(qd->operation != CMD_SELECT || qd->plannedstmt->hasModifyingCTE))
	{
		ListCell   *lc;

		foreach(lc, qd->plannedstmt->resultRelations)
			mark_relation_written(rt_fetch(lfirst_int(lc), qd->plannedstmt->rtable)->relid);
	}
}

/* utility statements that change no rows any query reads */
static bool
harmless_utility(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_TransactionStmt:
		case T_VariableSetStmt:
		case T_VariableShowStmt:
		case T_DiscardStmt:
		case T_ExplainStmt:
		case T_PrepareStmt:
		case T_ExecuteStmt:
		case T_DeallocateStmt:
		case T_DeclareCursorStmt:
		case T_FetchStmt:
		case T_ClosePortalStmt:
		case T_LockStmt:
		case T_CallStmt:
		case T_DoStmt:
		case T_VacuumStmt:
		case T_ClusterStmt:
		case T_ReindexStmt:
		case T_IndexStmt:
		case T_CheckPointStmt:
		case T_LoadStmt:
		case T_ListenStmt:
		case T_NotifyStmt:
		case T_UnlistenStmt:
		case T_CreatedbStmt:
		case T_DropdbStmt:
		case T_AlterSystemStmt:
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
		case T_ConstraintsSetStmt:
		case T_CreateTableAsStmt:
		case T_CopyStmt:		/* COPY FROM: marked by its caller */
		case T_RefreshMatViewStmt:	/* marked by its caller */
			return true;
		case T_DropStmt:
			/* an index holds no rows (and DROP INDEX CONCURRENTLY must not get an xid) */
			return ((DropStmt *) stmt)->removeType == OBJECT_INDEX;
		default:
			return false;
	}
}

static void
rc_ProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				  ProcessUtilityContext context, ParamListInfo params,
				  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;

	if (rc != NULL && IsTransactionState())
	{
		RangeVar   *target = NULL;

		if (IsA(stmt, CopyStmt) && ((CopyStmt *) stmt)->is_from)
			target = ((CopyStmt *) stmt)->relation;
		else if (IsA(stmt, RefreshMatViewStmt))
			target = ((RefreshMatViewStmt *) stmt)->relation;
		if (target != NULL)
		{
			Oid			relid = RangeVarGetRelid(target, NoLock, true);

			if (OidIsValid(relid))
				mark_relation_written(relid);
		}
		else if (!harmless_utility(stmt))
			mark_written(InvalidOid);
	}
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

void
privstat_release_cache_init(void)
{
	DefineCustomIntVariable("privstat.release_cache_size",
							gettext_noop("Shared memory for answers already released, reused at no privacy cost."),
							gettext_noop("0 turns the release cache off; otherwise at least 1MB is used."),
							&privstat_release_cache_size,
							8192, 0, INT_MAX / 1024,
							PGC_POSTMASTER,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	/*
	 * Reuse is post-processing of the role's own releases: whoever runs the
	 * query may ask for fresher answers (and pay for them) or accept older
	 * ones.
	 */
	DefineCustomIntVariable("privstat.release_cache_ttl",
							gettext_noop("Age beyond which a released answer is not reused."),
							gettext_noop("0: never reuse (every run is charged); -1: reuse while the data is unchanged, however old."),
							&privstat_release_cache_ttl,
							900, -1, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	rc_max_entries = Max(64, privstat_release_cache_size);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = rc_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = rc_shmem_startup;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = rc_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = rc_ExecutorRun;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = rc_ProcessUtility;
}

/* ---------------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(privstat_release_cache_status);

/* per role: hits, misses, kept, epsilon and delta saved, entries and bytes held */
Datum
privstat_release_cache_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	RcStats    *s;
	RcStats    *rows;
	int64	   *entries;
	int64	   *bytes;
	int			n = 0;
	int			i;
	bool		all;

	privstat_require_preload();
	InitMaterializedSRF(fcinfo, 0);
	if (rc == NULL)
		PG_RETURN_VOID();
	all = privstat_has_role("privstat_admin") || privstat_has_role("privstat_auditor");

	/* copied under the lock; rights checked and rows written after it */
	rows = palloc(sizeof(RcStats) * privstat_max_roles);
	entries = palloc0(sizeof(int64) * privstat_max_roles);
	bytes = palloc0(sizeof(int64) * privstat_max_roles);
	LWLockAcquire(rc->entries_lock, LW_SHARED);
	hash_seq_init(&seq, rc_stats);
	while ((s = hash_seq_search(&seq)) != NULL)
		if (n < privstat_max_roles)
			rows[n++] = *s;
	{
		RcEntry    *e;

		hash_seq_init(&seq, rc_entries);
		while ((e = hash_seq_search(&seq)) != NULL)
			for (i = 0; i < n; i++)
				if (rows[i].role == e->key.role)
				{
					entries[i]++;
					bytes[i] += e->size;
					break;
				}
	}
	LWLockRelease(rc->entries_lock);

	for (i = 0; i < n; i++)
	{
		Datum		values[8];
		bool		nulls[8] = {false};

		if (!all && !has_privs_of_role(GetUserId(), rows[i].role))
			continue;
		values[0] = ObjectIdGetDatum(rows[i].role);
		values[1] = Int64GetDatum(rows[i].hits);
		values[2] = Int64GetDatum(rows[i].misses);
		values[3] = Int64GetDatum(rows[i].stored);
		values[4] = Float8GetDatum(rows[i].epsilon_saved);
		values[5] = Float8GetDatum(rows[i].delta_saved);
		values[6] = Int64GetDatum(entries[i]);
		values[7] = Int64GetDatum(bytes[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(privstat_clear_release_cache);

/* drop every entry (administrators): the next run of each query is charged */
Datum
privstat_clear_release_cache(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS seq;
	RcEntry    *e;
	int64		n = 0;

	privstat_require_preload();
	if (!privstat_has_role("privstat_admin"))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to clear the release cache"),
				 errhint("Only members of privstat_admin may.")));
	if (rc == NULL)
		PG_RETURN_INT64(0);
	LWLockAcquire(rc->entries_lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, rc_entries);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		entry_remove(e);
		n++;
	}
	LWLockRelease(rc->entries_lock);
	PG_RETURN_INT64(n);
}
