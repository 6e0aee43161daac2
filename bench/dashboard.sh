# Sourced by bench/run.sh with a running throw-away cluster (PGHOST, PGPORT).
# Issue "Dashboards", the release cache: a 4-panel dashboard of a role at
# access level aggregate, refreshed every 30 s for an hour (120 refreshes,
# each a new connection, as a BI tool or a pool gives), over data that
# changes every 10 minutes (a batch of rows inserted before refreshes 1, 21,
# 41, ...: 6 changes).  The hour is replayed as fast as it runs, so
# privstat.release_cache_ttl (15 min) never expires an entry here; the data
# changes first.  Printed: the epsilon spent and the charges with the cache
# (the default) beside the same replay without it (release_cache_ttl = 0).
# Then the latency of a cache hit against the same query charged and run
# (pgbench, DASH_TX transactions of the 4 panels each; target <= 0.2x).
ROWS=${ROWS:-}
DASH_ROWS=${ROWS:-200000}
DASH_TX=${DASH_TX:-200}
cluster_psql -q -d bench -v ON_ERROR_STOP=1 -v rows="$DASH_ROWS" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS privstat;
DROP TABLE IF EXISTS dash_orders;
DO $$ BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_dash') THEN
		CREATE ROLE bench_dash LOGIN;
	END IF;
END $$;
SELECT privstat.set_access('bench_dash', 'aggregate');
SELECT privstat.set_budget('bench_dash', 'infinity', 1);
CREATE TABLE dash_orders (user_id int, country text, amount numeric, created timestamptz);
INSERT INTO dash_orders
	SELECT g % (:rows / 4), (ARRAY['FR', 'DE', 'US', 'JP', 'BR'])[g % 5 + 1], (g % 200)::numeric,
		   '2026-01-01'::timestamptz + (g % 90) * interval '1 day'
	FROM generate_series(1, :rows) g;
VACUUM ANALYZE dash_orders;
SELECT privstat.protect('dash_orders', 'user_id', max_groups_contributed => 4);
SELECT privstat.set_bounds('dash_orders', 'amount', 0, 200);
GRANT USAGE ON SCHEMA privstat TO bench_dash;
SQL
D=$WORKDIR/dashboard
mkdir -p "$D"
cat >"$D/panels.sql" <<'PANELS'
SELECT date_trunc('day', created) AS day, count(*) FROM dash_orders WHERE created >= DATE '2026-03-01' GROUP BY 1 ORDER BY 1;
SELECT country, sum(amount) AS revenue FROM dash_orders GROUP BY country ORDER BY country;
SELECT avg(amount) AS basket FROM dash_orders;
SELECT count(DISTINCT user_id) AS customers FROM dash_orders;
PANELS
echo "INSERT INTO dash_orders SELECT g % 50000, 'FR', 10, DATE '2026-03-15' FROM generate_series(1, 500) g;" >"$D/change.sql"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$D"

dash_psql() {	# dash_psql TTL FILE: the panels as bench_dash, one connection
	as_test_user env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=bench_dash \
		PGOPTIONS="-c privstat.release_cache_ttl=$1" psql -X -q -d bench -v ON_ERROR_STOP=1 -f "$2" >/dev/null
}
spent() {
	cluster_psql -At -d bench -c "SELECT round(epsilon_spent_total::numeric, 2) || ' ' || charges FROM privstat.budget_status WHERE role = 'bench_dash'::regrole"
}

echo
echo "== dashboard: 4 panels refreshed every 30 s for an hour (120 refreshes), data changed every 10 minutes"
for ttl in 900 0; do
	cluster_psql -q -d bench -c "SELECT privstat.reset_budget('bench_dash'), privstat.clear_release_cache()" >/dev/null
	start=$(date +%s.%N)
	for r in $(seq 1 120); do
		[ $(((r - 1) % 20)) -eq 0 ] && cluster_psql -q -d bench -f "$D/change.sql" >/dev/null
		dash_psql $ttl "$D/panels.sql"
	done
	end=$(date +%s.%N)
	read -r eps charges < <(spent)
	label=$([ $ttl -eq 0 ] && echo "without the cache (release_cache_ttl = 0)" || echo "with the release cache          ")
	awk -v l="$label" -v e="$eps" -v c="$charges" -v s="$start" -v t="$end" 'BEGIN {
		printf "%s: epsilon spent %7.2f, charges %3d of 480 panel runs, replay %.1f s\n", l, e, c, t - s }'
done

echo "== latency: the 4 panels answered from the cache vs charged and run (pgbench, $DASH_TX transactions, 1 client)"
pgb_dash() {	# pgb_dash TTL -> latency_ms
	as_test_user env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=bench_dash \
		PGOPTIONS="-c privstat.release_cache_ttl=$1" \
		pgbench -n -t "$DASH_TX" -f "$D/panels.sql" bench 2>/dev/null |
		awk '/^latency average/ {print $4}'
}
dash_psql 900 "$D/panels.sql"
hit=$(pgb_dash 900)
miss=$(pgb_dash 0)
awk -v h="$hit" -v m="$miss" 'BEGIN {
	printf "hit %.3f ms, charged run %.3f ms: ratio %.3f (target <= 0.2)\n", h, m, h / m }'
cluster_psql -At -d bench -c "SELECT 'release_cache_status: hits ' || hits || ', misses ' || misses || ', epsilon saved ' || round(epsilon_saved::numeric, 1) FROM privstat.release_cache_status WHERE role = 'bench_dash'::regrole"
cluster_psql -q -d bench -c "DROP TABLE dash_orders" -c "SELECT privstat.reset_budget('bench_dash')" >/dev/null
