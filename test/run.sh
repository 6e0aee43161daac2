#!/bin/bash
# privstat's whole test suite: installs what is missing (as root), builds,
# installs, then runs pg_regress (the attack suite among them), the isolation
# specs, the statistical tests of the noise and of the numeric conversion, the
# TAP tests (Citus built once per machine for the Citus one), the
# node-postgres client test (test/node), a short soak (test/soak) and a
# bounded random-query run (test/sqlsmith), each on throw-away clusters with
# privstat preloaded.  Ends with one line
# "N passed, M failed" and exits non-zero on any failure.
#
# Usage: bash test/run.sh        (as root, or as a user with sudo)
set -u
cd "$(dirname "$0")/.."
. test/common.sh

ensure_packages $NODE_PACKAGES $BI_PACKAGES $SQLSMITH_PACKAGES $FUZZ_PACKAGES
build_and_install
make_workdir
SRC=$(copy_tree)
PGXS_DIR=$(dirname "$(dirname "$(dirname "$($PG_BINDIR/pg_config --pgxs)")")")
PG_REGRESS=$PGXS_DIR/src/test/regress/pg_regress
PG_ISOLATION_REGRESS=$PGXS_DIR/src/test/isolation/pg_isolation_regress
REGRESS=$(make -s print-REGRESS)
ISOLATION=$(make -s print-ISOLATION)

passed=0
failed=0
count() {			# count "... ok" / "... FAILED" lines of pg_regress output
	local out=$1
	passed=$((passed + $(grep -cE '\.\.\. ok|^ok ' "$out")))
	failed=$((failed + $(grep -cE '\.\.\. FAILED|^not ok ' "$out")))
}

log "pg_regress: $REGRESS"
as_test_user "$PG_REGRESS" --temp-instance="$WORKDIR/regress/tmp" \
	--temp-config="$SRC/test/privstat.conf" --bindir="$PG_BINDIR" \
	--inputdir="$SRC" --outputdir="$WORKDIR/regress" $REGRESS \
	2>&1 | tee "$WORKDIR/regress.out"
count "$WORKDIR/regress.out"
[ -f "$WORKDIR/regress/regression.diffs" ] && cat "$WORKDIR/regress/regression.diffs"

log "isolation: $ISOLATION"
as_test_user "$PG_ISOLATION_REGRESS" --temp-instance="$WORKDIR/isolation/tmp" \
	--temp-config="$SRC/test/privstat.conf" --bindir="$PG_BINDIR" \
	--inputdir="$SRC/test/isolation" --outputdir="$WORKDIR/isolation" $ISOLATION \
	2>&1 | tee "$WORKDIR/isolation.out"
count "$WORKDIR/isolation.out"
[ -f "$WORKDIR/isolation/regression.diffs" ] && cat "$WORKDIR/isolation/regression.diffs"

log "statistical tests of the noise (test/stat)"
# The harness links src/noise.c and src/dp_mech.c alone, built with the
# test-only seeding entry point; the server module must not have it.
cc -O2 -Wall -Wextra -DPRIVSTAT_NOISE_TESTING -Iinclude -o "$WORKDIR/noise_stat" \
	test/stat/noise_stat.c src/noise.c src/dp_mech.c -lcrypto -lm &&
	"$WORKDIR/noise_stat" ${PRIVSTAT_STAT_ARGS:-} 2>&1 | tee "$WORKDIR/stat.out"
if nm -D --defined-only privstat.so | grep -q noise_test_seed; then
	echo "not ok - the server module exports the test-only seeding function" | tee -a "$WORKDIR/stat.out"
else
	echo "ok - the server module has no seeding entry point" | tee -a "$WORKDIR/stat.out"
fi
stat_pass=$(grep -cE '^ok ' "$WORKDIR/stat.out")
stat_fail=$(grep -cE '^not ok ' "$WORKDIR/stat.out")
grep -q '^1\.\.' "$WORKDIR/stat.out" || stat_fail=$((stat_fail + 1))
passed=$((passed + stat_pass))
failed=$((failed + stat_fail))

log "numeric to float8 conversion of the DP aggregates (test/numeric)"
# The decoder of stored numerics (src/numeric_float8.c) against strtod of
# PostgreSQL 15's own decimal output, ~3 million values; --long for ~60 million.
: >"$WORKDIR/numeric.out"
cc -O2 -Wall -Wextra -Iinclude -isystem "$($PG_BINDIR/pg_config --includedir-server)" \
	-o "$WORKDIR/numeric_float8" test/numeric/numeric_float8.c src/numeric_float8.c -lm &&
	"$WORKDIR/numeric_float8" ${PRIVSTAT_NUMERIC_ARGS:-} 2>&1 | tee "$WORKDIR/numeric.out"
num_pass=$(grep -cE '^ok ' "$WORKDIR/numeric.out")
num_fail=$(grep -cE '^not ok ' "$WORKDIR/numeric.out")
grep -q '^1\.\.' "$WORKDIR/numeric.out" || num_fail=$((num_fail + 1))
passed=$((passed + num_pass))
failed=$((failed + num_fail))

# A runner that prints TAP: count its lines; a crash, a missing plan, or a
# plan that does not match the assertions run counts as one more failure.
tap_runner() {
	local name=$1 rc pass fail plan
	shift
	"$@" 2>&1 | tee "$WORKDIR/$name.out"
	rc=${PIPESTATUS[0]}
	pass=$(grep -cE '^ok [0-9]+' "$WORKDIR/$name.out")
	fail=$(grep -cE '^not ok [0-9]+' "$WORKDIR/$name.out")
	plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$WORKDIR/$name.out" | tail -1)
	if [ -z "$plan" ] || [ "$plan" -ne $((pass + fail)) ] || { [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; }; then
		echo "not ok - $* exited $rc with plan '$plan' after $((pass + fail)) assertions" |
			tee -a "$WORKDIR/$name.out"
		fail=$((fail + 1))
	fi
	passed=$((passed + pass))
	failed=$((failed + fail))
}

log "module structure of src/ (test/structure)"
tap_runner structure bash test/structure/check.sh

log "fuzzing the readers (test/fuzz): pseudonym/sealed input, budget journal, audit trail"
# libFuzzer targets built with clang's ASan/UBSan, a fixed number of inputs
# each; PRIVSTAT_FUZZ_SECONDS=3600 for a long run
tap_runner fuzz env ${PRIVSTAT_FUZZ_SECONDS:+FUZZ_SECONDS=$PRIVSTAT_FUZZ_SECONDS} \
	FUZZ_WORK="$WORKDIR/fuzz" bash test/fuzz/run.sh

log "Citus for t/014_citus.pl (test/citus/build.sh: once per machine, from the vendored tarball)"
# the build's last line says what is installed, or why the test will skip
bash test/citus/build.sh 2>&1 | tee "$WORKDIR/citus.out"
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
	echo "not ok - building Citus from its tarball failed"
	failed=$((failed + 1))
fi
PRIVSTAT_CITUS_STATUS=$(tail -1 "$WORKDIR/citus.out")

log "TAP tests (prove)"
mkdir -p "$WORKDIR/tap" && [ "$(id -u)" -eq 0 ] && chown postgres: "$WORKDIR/tap"
# a small file system for t/015_disk_full.pl to fill (root only: mount)
TINYFS=
if [ "$(id -u)" -eq 0 ] && mkdir -p "$WORKDIR/tinyfs" &&
	mount -t tmpfs -o size=8m,mode=0700 tmpfs "$WORKDIR/tinyfs" 2>/dev/null; then
	chown postgres: "$WORKDIR/tinyfs"
	TINYFS=$WORKDIR/tinyfs
	trap 'umount "$WORKDIR/tinyfs"; rm -rf "$WORKDIR"' EXIT
fi
(cd "$SRC/test" && as_test_user env TESTDIR="$WORKDIR/tap" PG_REGRESS="$PG_REGRESS" \
	PRIVSTAT_CITUS_STATUS="$PRIVSTAT_CITUS_STATUS" PRIVSTAT_TINYFS="$TINYFS" \
	PERL5LIB="$PGXS_DIR/src/test/perl" prove -v t/*.pl) 2>&1 | tee "$WORKDIR/tap.out"
tap_pass=$(grep -cE '^ok [0-9]+' "$WORKDIR/tap.out")
tap_fail=$(grep -cE '^not ok [0-9]+' "$WORKDIR/tap.out")
if ! grep -q '^Result: PASS' "$WORKDIR/tap.out"; then
	# a script that died counts as a failure even if it failed no assertion
	[ "$tap_fail" -eq 0 ] && tap_fail=1
	for f in "$WORKDIR"/tap/tmp_check/log/*.log; do
		[ -f "$f" ] && { echo "--- $f"; tail -50 "$f"; }
	done
fi
passed=$((passed + tap_pass))
failed=$((failed + tap_fail))

log "node-postgres client test (test/node)"
tap_runner node bash test/node/run.sh

log "BI corpus with real drivers (test/bi)"
tap_runner bi bash test/bi/run.sh

log "soak test, short (test/soak; SOAK_SECONDS=${SOAK_SECONDS:-25}; 120 for the long run)"
export SOAK_SECONDS=${SOAK_SECONDS:-25}
tap_runner soak bash test/soak/run.sh

log "random queries (test/sqlsmith; SQLSMITH_QUERIES=${SQLSMITH_QUERIES:-3000} per run)"
tap_runner sqlsmith bash test/sqlsmith/run.sh

# CI shows only the end of what this printed: name every failure again here.
if [ "$failed" -ne 0 ]; then
	echo
	echo "failures:"
	for f in "$WORKDIR"/*.out; do
		awk -v out="$(basename "$f" .out)" '
			/^t\/[^ ]+\.pl / { script = $1 }
			/^not ok|\.\.\. FAILED|Dubious, test returned/ {
				print out (script != "" ? " " script : "") ": " $0 }' "$f"
	done | head -50
fi
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
