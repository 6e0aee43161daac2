#!/bin/bash
# privstat benchmarks: ratios against PostgreSQL's own functions, measured in
# one run on one throw-away cluster.  Each query runs 5 times, interleaved
# with its baseline, and the median is compared.  Figures go to stdout.
#
# Usage: bash bench/run.sh [rows]     (default 1,000,000 rows)
set -u
cd "$(dirname "$0")/.."
. test/common.sh

ROWS=${1:-1000000}
ensure_packages
build_and_install
make_workdir
SRC=$(copy_tree)
start_cluster "shared_buffers = '1GB'" "work_mem = '512MB'" "max_parallel_workers_per_gather = 0" \
	"search_path = '\"\$user\", public, privstat'"
cluster_psql -q -d postgres -c 'CREATE DATABASE bench'
cluster_psql -d bench -v ON_ERROR_STOP=1 -v rows="$ROWS" -f "$SRC/bench/pseudonym.sql"
