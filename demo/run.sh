#!/bin/bash
# privstat demo: installs what is missing (as root), builds and installs
# privstat, starts a throw-away cluster with privstat preloaded, generates a
# synthetic data set (10,000 users, 100,000 events) and runs a scripted
# session (demo/demo.sql).  The cluster is removed at the end.
#
# Usage: bash demo/run.sh        (as root, or as a user with sudo)
set -u
cd "$(dirname "$0")/.."
. test/common.sh

ensure_packages
build_and_install
make_workdir
SRC=$(copy_tree)
start_cluster

echo "server log at start (note the key file line):"
grep -A2 'privstat created' "$WORKDIR/server.log" | sed 's/^/    /'

cluster_psql -q -d postgres -c 'CREATE DATABASE demo'
cluster_psql -d demo -v ON_ERROR_STOP=1 -f "$SRC/demo/demo.sql"
rc=$?
[ $rc -eq 0 ] && log "demo finished" || log "demo failed (psql exit $rc)"
exit $rc
