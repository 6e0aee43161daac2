#!/bin/bash
# Build and run privstat's libFuzzer targets (see README.md), printing TAP.
#
#	bash test/fuzz/run.sh                     short run: a fixed number of inputs per target
#	                                          (about 8 s each here; FUZZ_RUNS=N for N each)
#	FUZZ_SECONDS=3600 bash test/fuzz/run.sh   long run, one target after another
#	FUZZ_JOBS=2 ...                           targets in parallel
#	FUZZ_TARGETS="journal audit" ...          some targets only
#
# The short run counts inputs, not seconds, so that a faster machine does not
# fuzz further than this one (the test command's result should not depend on
# the machine); FUZZ_SECONDS is for exploring.  Each target starts from the
# seed corpus in test/fuzz/corpus/<target>
# and the inputs of past failures in test/fuzz/crashes/<target> (both read
# only) with a fixed -seed, into a scratch corpus under $FUZZ_WORK
# (default a new temporary directory, kept: its corpora and logs are the
# figures).  A crash, a sanitizer report or a broken invariant is a failure;
# its input is saved as $FUZZ_WORK/<target>/crash-* and listed.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
SECONDS_PER=${FUZZ_SECONDS:-}
# the short run's inputs per target: about 8 s each on the development machine
short_runs() {
	case $1 in
		types) echo 600000 ;;
		journal) echo 45000 ;;
		*) echo 20000 ;;
	esac
}
TARGETS=${FUZZ_TARGETS:-types journal audit}
JOBS=${FUZZ_JOBS:-1}
WORK=${FUZZ_WORK:-$(mktemp -d /tmp/privstat-fuzz-run.XXXXXX)}
BUILD=$WORK/build
mkdir -p "$WORK"

if ! bash test/fuzz/build.sh "$BUILD" >"$WORK/build.log" 2>&1; then
	cat "$WORK/build.log"
	echo "1..1"
	echo "not ok 1 - build the fuzz targets (test/fuzz/build.sh)"
	exit 1
fi

run_target() {
	local t=$1 dir=$WORK/$1 crashes= bound start
	rm -rf "$dir" && mkdir -p "$dir/corpus"
	# inputs that once failed (test/fuzz/crashes): run first, as regressions
	[ -d "$ROOT/test/fuzz/crashes/$t" ] && crashes=$ROOT/test/fuzz/crashes/$t
	if [ -n "$SECONDS_PER" ]; then
		bound="-max_total_time=$SECONDS_PER"
	else
		# a cap for a very slow machine: 300 s
		bound="-runs=${FUZZ_RUNS:-$(short_runs "$t")} -max_total_time=300"
	fi
	start=$(date +%s)
	# -rss_limit_mb: ASan's quarantine counts; -max_len: 64 records and a torn one
	"$BUILD/fuzz_$t" $bound -seed=1 -max_len=8400 \
		-rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$dir/" \
		"$dir/corpus" "$ROOT/test/fuzz/corpus/$t" $crashes >"$dir/log" 2>&1
	echo $? >"$dir/rc"
	echo $(($(date +%s) - start)) >"$dir/seconds"
}

running=0
for t in $TARGETS; do
	run_target "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

n=0
failed=0
for t in $TARGETS; do
	n=$((n + 1))
	dir=$WORK/$t
	rc=$(cat "$dir/rc" 2>/dev/null || echo 99)
	stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$dir/log" | tail -1 |
		sed -E 's/^#([0-9]+)[[:space:]]+DONE[[:space:]]+cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*exec\/s: ([0-9]+).*/\1 runs, cov \2, ft \3, corpus \4, \5 exec\/s/')
	crashes=$(ls "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* 2>/dev/null)
	if [ "$rc" -eq 0 ] && [ -z "$crashes" ]; then
		echo "ok $n - fuzz_$t: $(cat "$dir/seconds")s, ${stats:-no stats}"
	else
		failed=$((failed + 1))
		echo "not ok $n - fuzz_$t exited $rc"
		grep -E 'ERROR|runtime error|invariant failed|fuzz shim' "$dir/log" | head -5 | sed 's/^/# /'
		for c in $crashes; do echo "# input: $c"; done
	fi
done
echo "1..$n"
echo "# logs and corpora: $WORK"
[ "$failed" -eq 0 ]
