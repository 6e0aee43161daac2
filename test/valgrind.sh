#!/bin/bash
# Runs the pg_regress suite (every file of the Makefile's REGRESS) and the
# isolation specs (ISOLATION) against a server under valgrind memcheck, and
# fails if any valgrind error has a privstat frame in its stack or if a
# regression file or spec fails.  PostgreSQL's own suppressions
# (src/tools/valgrind.supp of PostgreSQL 15, which Debian does not ship;
# reproduced below, with variants for Debian's stripped binary) are applied,
# so the padding PostgreSQL writes to WAL and to the relcache init file is
# not reported.  Any remaining error inside PostgreSQL alone is counted and
# shown, not failed on.  Debian's server is not built with USE_VALGRIND, so
# memcheck sees malloc-level errors and uses of uninitialised values, not
# overruns of palloc chunks.  Takes about 13 minutes on 2 cores (5 of them user_level_random).
#
# Usage: bash test/valgrind.sh        (as root, or as a user with sudo)
#        VALGRIND_KEEP=1 bash test/valgrind.sh   keeps the logs (vg.PID.log)
#        VALGRIND_TESTS="one_pass policy" bash test/valgrind.sh   only those pg_regress files, no specs
set -u
cd "$(dirname "$0")/.."
. test/common.sh

ensure_packages valgrind
build_and_install
make_workdir
SRC=$(copy_tree)
ROOT=$(pwd)
PORT=${PRIVSTAT_PORT:-54399}

# PostgreSQL's src/tools/valgrind.supp, minus the Python and the pgstat_send
# entries (no PL/Python here; no stats collector in 15).  PostgreSQL licence.
cat >"$WORKDIR/valgrind.supp" <<'SUPP'
{
	padding_pgstat_write
	Memcheck:Param
	write(buf)
	...
	fun:pgstat_write_statsfiles
}
{
	padding_XLogRecData_CRC
	Memcheck:Value8
	fun:pg_comp_crc32c*
	fun:XLogRecordAssemble
}
{
	padding_XLogRecData_write
	Memcheck:Param
	write(buf)
	...
	fun:XLogWrite
}
{
	padding_relcache
	Memcheck:Param
	write(buf)
	...
	fun:write_relcache_init_file
}
{
	padding_reorderbuffer_serialize
	Memcheck:Param
	write(buf)
	...
	fun:ReorderBufferSerializeTXN
}
{
	padding_twophase_prepare
	Memcheck:Param
	write(buf)
	...
	fun:EndPrepare
}
{
	padding_twophase_CRC
	Memcheck:Value8
	fun:pg_comp_crc32c*
	fun:EndPrepare
}
{
	padding_bootstrap_initial_xlog_write
	Memcheck:Param
	write(buf)
	...
	fun:BootStrapXLOG
}
{
	padding_bootstrap_control_file_write
	Memcheck:Param
	write(buf)
	...
	fun:WriteControlFile
	fun:BootStrapXLOG
}
{
	bootstrap_write_relmap_overlap
	Memcheck:Overlap
	fun:memcpy*
	fun:write_relmap_file
	fun:RelationMapFinishBootstrap
}
{
	overread_tuplestruct_pg_cast
	Memcheck:Addr4
	fun:IsBinaryCoercible
}
{
	uninitialized_atomic_init_u64
	Memcheck:Cond
	fun:pg_atomic_exchange_u64_impl
	fun:pg_atomic_write_u64_impl
	fun:pg_atomic_init_u64_impl
}
# Debian's postgres binary has no symbols for static functions (XLogWrite,
# write_relcache_init_file), so the two entries above that name them match
# nothing: the same padding, matched by their exported callers.
{
	padding_XLogWrite_stripped
	Memcheck:Param
	pwrite64(buf)
	...
	fun:XLogFlush
}
{
	padding_XLogWrite_stripped_walwriter
	Memcheck:Param
	pwrite64(buf)
	...
	fun:XLogBackgroundFlush
}
{
	padding_relcache_stripped
	Memcheck:Param
	write(buf)
	...
	fun:RelationCacheInitializePhase3
}
SUPP
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORKDIR/valgrind.supp"
as_test_user initdb -D "$WORKDIR/data" -A trust -U postgres >/dev/null || exit 2
# the settings of every test cluster (test/privstat.conf), then ours
cat "$SRC/test/privstat.conf" >>"$WORKDIR/data/postgresql.conf"
cat >>"$WORKDIR/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$WORKDIR'
port = $PORT
CONF
log "starting postgres under valgrind"
as_test_user bash -c "cd '$WORKDIR' && valgrind --quiet --trace-children=yes --num-callers=30 \
	--suppressions='$WORKDIR/valgrind.supp' --fullpath-after= --track-origins=yes \
	--error-limit=no --log-file='$WORKDIR/vg.%p.log' postgres -D '$WORKDIR/data' >'$WORKDIR/server.log' 2>&1 &"
for _ in $(seq 1 180); do
	as_test_user pg_isready -q -h "$WORKDIR" -p "$PORT" && break
	sleep 1
done
trap 'as_test_user pg_ctl -D "$WORKDIR/data" -m fast -w stop >/dev/null 2>&1; [ -n "${VALGRIND_KEEP:-}" ] || rm -rf "$WORKDIR"' EXIT

PGXS_DIR=$(dirname "$(dirname "$(dirname "$($PG_BINDIR/pg_config --pgxs)")")")
as_test_user "$PGXS_DIR/src/test/regress/pg_regress" --host="$WORKDIR" --port="$PORT" \
	--bindir="$PG_BINDIR" --inputdir="$SRC" --outputdir="$WORKDIR/out" ${VALGRIND_TESTS:-$(make -s print-REGRESS)}
rc=$?
[ "$rc" -eq 0 ] || cat "$WORKDIR/out/regression.diffs"
# the isolation specs too: concurrent charges, purges and rotations
if [ -z "${VALGRIND_TESTS:-}" ]; then
	as_test_user "$PGXS_DIR/src/test/isolation/pg_isolation_regress" --host="$WORKDIR" --port="$PORT" \
		--bindir="$PG_BINDIR" --inputdir="$SRC/test/isolation" --outputdir="$WORKDIR/isolation" \
		$(make -s print-ISOLATION) || rc=1
fi
as_test_user pg_ctl -D "$WORKDIR/data" -m fast -w stop >/dev/null 2>&1
sleep 2

# One valgrind error report per block; valgrind separates them by "==PID== "
# lines.  A privstat frame is one in privstat.so without debug information,
# or one whose source file (full paths: --fullpath-after=) is under $ROOT/src.
blocks() { cat "$WORKDIR"/vg.*.log | sed -E 's/^==[0-9]+== ?$//'; }
ours_re="privstat[.]so|$ROOT/src/"
ours=$(blocks | awk -v re="$ours_re" 'BEGIN {RS=""} $0 ~ re {n++} END {print n+0}')
all=$(cat "$WORKDIR"/vg.*.log | grep -cE '^==[0-9]+== (Invalid|Conditional|Use of|Syscall param|Mismatched|Source and destination)')
echo
echo "valgrind: $ours error(s) with a privstat frame; $all in all (the rest inside PostgreSQL alone)"
blocks | awk -v re="$ours_re" 'BEGIN {RS=""; ORS="\n\n"} $0 ~ re' | head -200
[ -n "${VALGRIND_KEEP:-}" ] && echo "logs kept in $WORKDIR"
[ "$rc" -eq 0 ] && [ "$ours" -eq 0 ]
