# Sourced by bench/run.sh: DP aggregates over a Citus distributed table
# against PostgreSQL's own aggregates over the same table, on a coordinator
# and two workers of this machine (issue #18's targets: <= 1.3x count(*),
# sum, avg, and a grouped query likewise).  Skipped, saying so, where Citus
# is not installed (test/citus/build.sh installs it from the vendored
# tarball).  CITUS_ROWS rows (default 2,000,000), 8 shards.
if [ ! -f "$($PG_BINDIR/pg_config --pkglibdir)/citus.so" ]; then
	echo
	echo "== Citus: skipped: Citus is not installed (bash test/citus/build.sh installs it)"
else
	CITUS_ROWS=${CITUS_ROWS:-2000000}
	citus_port=${PRIVSTAT_CITUS_PORT:-54340}
	citus_nodes="coordinator worker1 worker2"
	citus_stop() {
		for n in $citus_nodes; do
			[ -d "$WORKDIR/citus-$n" ] && as_test_user pg_ctl -D "$WORKDIR/citus-$n" -m fast -w stop >/dev/null 2>&1
		done
	}
	trap 'citus_stop; as_test_user pg_ctl -D "$WORKDIR/data" -m fast -w stop >/dev/null; rm -rf "$WORKDIR"' EXIT
	i=0
	for n in $citus_nodes; do
		d=$WORKDIR/citus-$n
		as_test_user initdb -D "$d" -A trust -U postgres >"$WORKDIR/initdb-$n.log" 2>&1 || { cat "$WORKDIR/initdb-$n.log"; exit 2; }
		{
			echo "shared_preload_libraries = 'citus,privstat'"
			echo "listen_addresses = ''"
			echo "unix_socket_directories = '$WORKDIR'"
			echo "port = $((citus_port + i))"
			echo "shared_buffers = '512MB'"
			echo "max_worker_processes = 16"
			echo "citus.shard_count = 8"
			echo "max_parallel_workers_per_gather = 0"
		} >>"$d/postgresql.conf"
		if [ $i -gt 0 ]; then
			cp "$WORKDIR/citus-coordinator/privstat.key" "$d/privstat.key"
			[ "$(id -u)" -eq 0 ] && chown postgres: "$d/privstat.key"
			chmod 600 "$d/privstat.key"
		else
			# the coordinator makes the key at its first start
			as_test_user pg_ctl -D "$d" -l "$WORKDIR/citus-$n.log" -w start >/dev/null &&
				as_test_user pg_ctl -D "$d" -m fast -w stop >/dev/null || { cat "$WORKDIR/citus-$n.log"; exit 2; }
		fi
		i=$((i + 1))
	done
	i=0
	for n in $citus_nodes; do
		as_test_user pg_ctl -D "$WORKDIR/citus-$n" -l "$WORKDIR/citus-$n.log" -w start >/dev/null ||
			{ cat "$WORKDIR/citus-$n.log"; exit 2; }
		as_test_user psql -X -q -h "$WORKDIR" -p $((citus_port + i)) -U postgres -d postgres \
			-c 'CREATE EXTENSION citus' -c 'CREATE EXTENSION privstat' >/dev/null || exit 2
		i=$((i + 1))
	done
	citus_psql() {
		as_test_user psql -X -h "$WORKDIR" -p "$citus_port" -U postgres -d postgres "$@"
	}
	citus_psql -q -v ON_ERROR_STOP=1 -v rows="$CITUS_ROWS" -v sock="$WORKDIR" -v port="$citus_port" \
		-v common="$SRC/bench/common.sql" <<'SQL' || exit 2
SET client_min_messages = warning;
SELECT citus_set_coordinator_host(:'sock', :port);
SELECT citus_add_node(:'sock', :port + 1);
SELECT citus_add_node(:'sock', :port + 2);
SELECT privstat.set_budget(current_user::regrole, 'infinity');
CREATE TABLE events (uid bigint, v bigint, g int);
SELECT create_distributed_table('events', 'uid');
INSERT INTO events SELECT x, x % 1000, x % 100 FROM generate_series(1, :rows) x;
VACUUM ANALYZE events;
\i :common
CREATE TEMP TABLE results (benchmark text, privstat_ms float8, postgres_ms float8, target float8);
DO $$
DECLARE r record;
BEGIN
	SELECT * INTO r FROM bench_pair('SELECT privstat.dp_count(*) FROM events', 'SELECT count(*) FROM events', 5);
	INSERT INTO results VALUES ('dp_count(*) vs count(*)', r.ms1, r.ms2, 1.3);
	SELECT * INTO r FROM bench_pair('SELECT privstat.dp_sum(v, 0, 1000) FROM events', 'SELECT sum(v) FROM events', 5);
	INSERT INTO results VALUES ('dp_sum(bigint) vs sum(bigint)', r.ms1, r.ms2, 1.3);
	SELECT * INTO r FROM bench_pair('SELECT privstat.dp_avg(v, 0, 1000) FROM events', 'SELECT avg(v) FROM events', 5);
	INSERT INTO results VALUES ('dp_avg(bigint) vs avg(bigint)', r.ms1, r.ms2, 1.3);
	SELECT * INTO r FROM bench_pair('SELECT g, privstat.dp_count(*) FROM events GROUP BY g',
	                                'SELECT g, count(*) FROM events GROUP BY g', 5);
	INSERT INTO results VALUES ('GROUP BY g (100 groups): dp_count(*) vs count(*)', r.ms1, r.ms2, 1.3);
	SELECT * INTO r FROM bench_pair('SELECT uid / 1000, privstat.dp_count(*) FROM events GROUP BY uid / 1000',
	                                'SELECT uid / 1000, count(*) FROM events GROUP BY uid / 1000', 3);
	INSERT INTO results VALUES ('GROUP BY uid / 1000: dp_count(*) vs count(*)', r.ms1, r.ms2, 1.3);
END $$;
\echo
\echo '== Citus: DP aggregates over a distributed table of' :rows 'rows, 8 shards, a coordinator and 2 workers (ratio = privstat / PostgreSQL; target: ratio <= target)'
\pset footer off
SELECT benchmark, round(privstat_ms::numeric, 1) AS privstat_ms, round(postgres_ms::numeric, 1) AS postgres_ms,
       round((privstat_ms / postgres_ms)::numeric, 2) AS ratio, target
FROM results ORDER BY benchmark;
SQL
	citus_stop
fi
