#!/bin/bash
# privstat benchmarks: ratios against PostgreSQL's own functions, measured in
# one run on one throw-away cluster.  Each query runs several times,
# interleaved with its baseline, and the medians are compared.
#
# Usage: bash bench/run.sh [pseudonym|dp_agg|budget|retention|policy|row_policy|user_level|timeseries|bi|audit|dashboard|citus|all] [rows]
#   pseudonym: 1,000,000 rows by default; dp_agg: 10,000,000 rows by default;
#   budget: pgbench, BENCH_SECONDS (default 10) per run; retention: 2,000,000 rows;
#   policy: 10,000,000 rows; row_policy: 10,000,000 rows (ROW_POLICY_RUNS, default 7, runs per query);
#   user_level: 10,000,000 rows from 100,000 users in 1,000 groups; audit: 20,000 events per run;
#   timeseries: 1,000,000 rows from 100,000 people; bi: the BI corpus (test/bi) through four drivers,
#   its median restricted/owner latency ratio per driver; dashboard: 4 panels over 200,000 rows replayed
#   for an hour of 30-s refreshes with and without the release cache, and a hit's latency;
#   citus: DP aggregates over a distributed table of CITUS_ROWS (2,000,000) rows on a coordinator
#   and two workers (bench/citus.sh; skipped where Citus is not installed)
set -u
cd "$(dirname "$0")/.."
. test/common.sh

WHAT=${1:-all}
ROWS=${2:-}
ensure_packages
build_and_install
make_workdir
SRC=$(copy_tree)
start_cluster "shared_buffers = '1GB'" "work_mem = '512MB'" "max_parallel_workers_per_gather = 0" \
	"search_path = '\"\$user\", public, privstat'"
cluster_psql -q -d postgres -c 'CREATE DATABASE bench'
if [ "$WHAT" = pseudonym ] || [ "$WHAT" = all ]; then
	cluster_psql -d bench -v ON_ERROR_STOP=1 -v rows="${ROWS:-1000000}" -f "$SRC/bench/pseudonym.sql"
fi
if [ "$WHAT" = dp_agg ] || [ "$WHAT" = all ]; then
	cluster_psql -d bench -v ON_ERROR_STOP=1 -v rows="${ROWS:-10000000}" -f "$SRC/bench/dp_agg.sql"
fi
if [ "$WHAT" = retention ] || [ "$WHAT" = all ]; then
	cluster_psql -d bench -v ON_ERROR_STOP=1 -v rows="${ROWS:-2000000}" -f "$SRC/bench/retention.sql"
fi
if [ "$WHAT" = policy ] || [ "$WHAT" = all ]; then
	cluster_psql -d bench -v ON_ERROR_STOP=1 -v rows="${ROWS:-10000000}" -f "$SRC/bench/policy.sql"
fi
if [ "$WHAT" = row_policy ] || [ "$WHAT" = all ]; then
	cluster_psql -d bench -v ON_ERROR_STOP=1 -v rows="${ROWS:-10000000}" -v runs="${ROW_POLICY_RUNS:-7}" \
		-f "$SRC/bench/row_policy.sql"
fi
if [ "$WHAT" = user_level ] || [ "$WHAT" = all ]; then
	cluster_psql -d bench -v ON_ERROR_STOP=1 -v rows="${ROWS:-10000000}" -f "$SRC/bench/user_level.sql"
fi
if [ "$WHAT" = timeseries ] || [ "$WHAT" = all ]; then
	cluster_psql -d bench -v ON_ERROR_STOP=1 -v rows="${ROWS:-1000000}" -f "$SRC/bench/timeseries.sql"
fi
if [ "$WHAT" = bi ] || [ "$WHAT" = all ]; then
	log "BI corpus: median latency of each shape as the restricted role / as the owner, per driver"
	ensure_packages $BI_PACKAGES
	bash test/bi/run.sh 2>&1 | grep -E '^# median|^[0-9]+ passed|^1\.\.' || true
fi
if [ "$WHAT" = audit ] || [ "$WHAT" = all ]; then
	cluster_psql -d bench -v ON_ERROR_STOP=1 -f "$SRC/bench/audit.sql"
fi
if [ "$WHAT" = budget ] || [ "$WHAT" = all ]; then
	. bench/budget.sh
fi
if [ "$WHAT" = dashboard ] || [ "$WHAT" = all ]; then
	. bench/dashboard.sh
fi
if [ "$WHAT" = citus ] || [ "$WHAT" = all ]; then
	. bench/citus.sh
fi
