# Sourced by bench/run.sh with a running throw-away cluster (PGHOST, PGPORT).
# Privacy-budget charges against what PostgreSQL pays for a commit:
#  - tps of a DP query on a 1,000-row table vs a one-row INSERT transaction
#    (synchronous_commit on, fsync on): each pays exactly one flush;
#  - the same with 8 clients (charges share flushes like commits do);
#  - PostgreSQL's own floor for the same work: the same scan of 1,000 rows
#    made durable by one commit flush in one statement (INSERT ... SELECT
#    count), against the DP query (issue #17's target: >= 0.95x at 1 and 8
#    clients), in paired rounds (below);
#  - the ceiling of those ratios on this machine: the same DP query with
#    fsync off (no flush at all), against the INSERT with its flush;
#  - the CPU cost of a charge without the flush (fsync off), from latencies
#    on a one-row table: charge = 2*L(one dp_count) - L(count) - L(two dp_counts),
#    which cancels the noise draw and the aggregate's own work.
SECS=${BENCH_SECONDS:-10}
cluster_psql -q -d bench -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
SELECT privstat.set_budget(current_user::regrole, 'infinity');
DROP TABLE IF EXISTS small, one, ins;
CREATE TABLE small AS SELECT g AS i FROM generate_series(1, 1000) g;
CREATE TABLE one AS SELECT 1 AS i;
CREATE TABLE ins (v int);
VACUUM ANALYZE small, one;
SQL
B=$WORKDIR/bench_scripts
mkdir -p "$B"
echo 'SELECT privstat.dp_count(i, 0.001) FROM small;' >"$B/dp.sql"
echo 'SELECT count(i) FROM small;' >"$B/count.sql"
echo 'INSERT INTO ins VALUES (1);' >"$B/ins.sql"
echo 'INSERT INTO ins SELECT count(i) FROM small;' >"$B/scan_commit.sql"
echo 'SELECT count(i) FROM one;' >"$B/l0.sql"
echo 'SELECT privstat.dp_count(i, 0.001) FROM one;' >"$B/l1.sql"
echo 'SELECT privstat.dp_count(i, 0.001), privstat.dp_count(i, 0.002) FROM one;' >"$B/l2.sql"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$B"

# every run is a charge here: the release cache (bench/dashboard.sh) is off
pgb() {	# pgbench ... -> "tps latency_ms"
	as_test_user env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" \
		PGOPTIONS="-c privstat.release_cache_ttl=0" \
		pgbench -n -M prepared -T "$SECS" "$@" bench 2>/dev/null |
		awk '/^latency average/ {l=$4} /^tps/ {t=$3} END {print t, l}'
}

median() {	# median of the numbers given
	printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# The DP query and its floor run in ROUNDS pairs of adjacent runs, in ABBA
# order (DP first in even rounds, the floor first in odd ones, so a steady
# drift of the machine favours neither), and the ratio is the median of the
# rounds' ratios.  Single runs one after the other differed by up to 15%, and
# the disk's speed here drifts by up to 1.8x within minutes: a ratio of runs
# minutes apart measured the drift.
ROUNDS=${BENCH_ROUNDS:-5}
echo
echo "== privacy budget charges (fsync on, synchronous_commit on; ${SECS}s per run, median of $ROUNDS paired rounds)"
declare -A ins_at
for c in 1 8; do
	j=$((c > 1 ? 2 : 1))
	dps=() scs=() ratios=()
	for ((r = 0; r < ROUNDS; r++)); do
		if ((r % 2 == 0)); then
			read -r d _ < <(pgb -c $c -j $j -f "$B/dp.sql")
			read -r s _ < <(pgb -c $c -j $j -f "$B/scan_commit.sql")
		else
			read -r s _ < <(pgb -c $c -j $j -f "$B/scan_commit.sql")
			read -r d _ < <(pgb -c $c -j $j -f "$B/dp.sql")
		fi
		dps+=("$d") scs+=("$s") ratios+=("$(awk -v d="$d" -v s="$s" 'BEGIN {printf "%.3f", d / s}')")
	done
	dp_tps=$(median "${dps[@]}")
	sc_tps=$(median "${scs[@]}")
	ratio=$(median "${ratios[@]}")
	read -r ins_tps _ < <(pgb -c $c -j $j -f "$B/ins.sql")
	ins_at[$c]=$ins_tps
	read -r cnt_tps _ < <(pgb -c $c -j $j -f "$B/count.sql")
	target=$([ $c -eq 1 ] && echo 0.8 || echo 1.0)
	awk -v c=$c -v d="$dp_tps" -v i="$ins_tps" -v n="$cnt_tps" -v s="$sc_tps" -v t=$target -v q="$ratio" \
		-v dl="${dps[*]}" -v sl="${scs[*]}" -v ql="${ratios[*]}" 'BEGIN {
		printf "%d client(s): DP query %.0f tps, one-row INSERT %.0f tps, ratio %.2f (issue #4'"'"'s old target >= %s);", c, d, i, d / i, t
		printf " the same count without privstat (no flush) %.0f tps\n", n
		printf "  PostgreSQL'"'"'s own scan + one commit flush (INSERT ... SELECT count(i) FROM small) %.0f tps, %.2fx the INSERT;", s, s / i
		printf " the DP query is %.2fx of it (median of the rounds; target >= 0.95)\n", q
		printf "  rounds: DP query %s; scan + commit %s; ratios %s\n", dl, sl, ql }'
done

cluster_psql -q -d bench -c "ALTER SYSTEM SET fsync = off" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
for c in 1 8; do
	read -r free_tps _ < <(pgb -c $c -j $((c > 1 ? 2 : 1)) -f "$B/dp.sql")
	awk -v c=$c -v d="$free_tps" -v i="${ins_at[$c]}" 'BEGIN {
		printf "%d client(s), fsync off: the DP query with no flush at all %.0f tps, %.2fx the INSERT above (the ceiling of any charge)\n", c, d, d / i }'
done
read -r _ l0 < <(pgb -c 1 -f "$B/l0.sql")
read -r _ l1 < <(pgb -c 1 -f "$B/l1.sql")
read -r _ l2 < <(pgb -c 1 -f "$B/l2.sql")
cluster_psql -q -d bench -c "ALTER SYSTEM RESET fsync" -c "SELECT pg_reload_conf()" >/dev/null
awk -v a="$l0" -v b="$l1" -v c="$l2" 'BEGIN {
	printf "CPU of a charge without its flush (fsync off): L(count) %.1f us, L(dp_count) %.1f us, L(2 dp_counts) %.1f us -> charge %.1f us (target < 20)\n",
		a * 1000, b * 1000, c * 1000, (2 * b - a - c) * 1000 }'
