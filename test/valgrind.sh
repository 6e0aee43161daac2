#!/bin/bash
# Runs the pg_regress suite against a server under valgrind memcheck and
# fails if any valgrind error has a privstat frame in its stack.  Errors
# inside PostgreSQL alone (uninitialised padding written to WAL and to the
# relcache init file, which PostgreSQL's own valgrind.supp suppresses) are
# counted and shown, not failed on.  Takes a few minutes.
#
# Usage: bash test/valgrind.sh        (as root, or as a user with sudo)
set -u
cd "$(dirname "$0")/.."
. test/common.sh

ensure_packages valgrind
build_and_install
make_workdir
SRC=$(copy_tree)
PORT=${PRIVSTAT_PORT:-54399}
as_test_user initdb -D "$WORKDIR/data" -A trust -U postgres >/dev/null || exit 2
cat >>"$WORKDIR/data/postgresql.conf" <<CONF
shared_preload_libraries = 'privstat'
listen_addresses = ''
unix_socket_directories = '$WORKDIR'
port = $PORT
CONF
log "starting postgres under valgrind"
as_test_user bash -c "cd '$WORKDIR' && valgrind --quiet --trace-children=yes --num-callers=30 \
	--error-limit=no --log-file='$WORKDIR/vg.%p.log' postgres -D '$WORKDIR/data' >'$WORKDIR/server.log' 2>&1 &"
for _ in $(seq 1 180); do
	as_test_user pg_isready -q -h "$WORKDIR" -p "$PORT" && break
	sleep 1
done
trap 'as_test_user pg_ctl -D "$WORKDIR/data" -m fast -w stop >/dev/null 2>&1; rm -rf "$WORKDIR"' EXIT

PGXS_DIR=$(dirname "$(dirname "$(dirname "$($PG_BINDIR/pg_config --pgxs)")")")
as_test_user "$PGXS_DIR/src/test/regress/pg_regress" --host="$WORKDIR" --port="$PORT" \
	--bindir="$PG_BINDIR" --inputdir="$SRC" --outputdir="$WORKDIR/out" $(make -s print-REGRESS)
rc=$?
as_test_user pg_ctl -D "$WORKDIR/data" -m fast -w stop >/dev/null 2>&1
sleep 2

# one valgrind error report per block; valgrind separates them by "==PID== " lines
blocks() { cat "$WORKDIR"/vg.*.log | sed -E 's/^==[0-9]+== ?$//'; }
ours=$(blocks | awk 'BEGIN {RS=""} /privstat/ {n++} END {print n+0}')
all=$(cat "$WORKDIR"/vg.*.log | grep -cE '^==[0-9]+== (Invalid|Conditional|Use of|Syscall param|Mismatched|Source and destination)')
echo
echo "valgrind: $ours error(s) with a privstat frame; $all in all (the rest inside PostgreSQL alone)"
blocks | awk 'BEGIN {RS=""; ORS="\n\n"} /privstat/' | head -100
[ "$rc" -eq 0 ] && [ "$ours" -eq 0 ]
