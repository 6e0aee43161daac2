#!/bin/bash
# The BI corpus test: SQL shapes as Metabase, Superset, Grafana, Tableau,
# Looker and Power BI generate them (test/bi/corpus.json), run through real
# drivers from Debian's packages (psycopg2, psycopg 3, pyodbc over psqlODBC,
# pgjdbc) as a role at access level aggregate.  Starts a throw-away cluster,
# creates the data and the roles as superuser, compiles the Java runner, runs
# test/bi/corpus.py (which runs the Java runner too and judges every driver's
# records), stops the cluster.  Prints TAP ("ok N - ...", "not ok N - ...",
# "1..N"); exits non-zero on any failure.
#
# Usage: bash test/bi/run.sh   (as root, or as a user with sudo; test/run.sh
# runs it).  Uses the privstat installed in the server's directories, and
# builds and installs it only if none is.  BI_MODES=psycopg2,jdbc runs a subset
# of the driver modes (test/bi/corpus.py lists them).
set -u
cd "$(dirname "$0")/../.."
. test/common.sh

BI_USER=bi_analyst		# a login role, member of bi_analysts (level aggregate)
# epsilon of each rewritten aggregate: high, so that margins of 30 noise
# scales stay tight (each customer may count in 10 groups with 10 rows); this
# test measures which SQL is accepted and how it is answered and charged, not
# privacy (test/stat does)
BI_EPSILON=100
BI_SELECTION_EPSILON=10		# what each GROUP BY spends to select its groups
BI_REPEAT=6			# executions of each named prepared statement: past 5 custom plans
BI_TIMEOUT_MS=30000		# statement_timeout of every connection

ensure_packages $BI_PACKAGES
ensure_installed
make_workdir
# log_statement and a prefix naming user and application let corpus.py check,
# in the server log, which protocol each driver used; pgjdbc cannot reach a
# Unix socket without an extra library, so the cluster listens on 127.0.0.1 too
# Every execution must be charged once here: the release cache, which answers
# a repeated query again for free (sql/release_cache.sql), is off.
start_cluster "log_statement = 'all'" "log_line_prefix = '%m [%p] %u %a '" \
	"listen_addresses = '127.0.0.1'" "privstat.max_epsilon = $BI_EPSILON" \
	"privstat.release_cache_ttl = 0"

log "creating the BI database as superuser"
cluster_psql -q -v ON_ERROR_STOP=1 -d postgres >"$WORKDIR/setup.log" 2>&1 <<EOF || { cat "$WORKDIR/setup.log"; harness_fail "setting up the database"; }
CREATE DATABASE privstat_bi;
ALTER DATABASE privstat_bi SET timezone = 'UTC';
\\c privstat_bi
CREATE EXTENSION privstat;
-- 20,000 orders of 2,000 customers, 10 each, one every 26.28 minutes over
-- 2026 (a customer's orders are 36.5 days apart: 10 months, 10 days, ...);
-- amount takes every value 0.00..99.99 twice, price 0..49.99, qty 1..5; a
-- customer's country, segment and signup year are fixed.  Every value lies
-- within the declared bounds and each customer falls in at most 10 groups of
-- any GROUP BY with at most 10 rows each, so with max_groups_contributed and
-- max_rows_contributed 10 the rewrite keeps every row: the owner's exact
-- answer is what the analyst's answer estimates.
CREATE TABLE orders (id int PRIMARY KEY, customer_id privstat.pseudonym NOT NULL,
	amount numeric(10,2) NOT NULL, qty int NOT NULL, price double precision NOT NULL,
	country text NOT NULL, created_at timestamptz NOT NULL, created_day date NOT NULL,
	created_ts timestamp NOT NULL);
INSERT INTO orders
	SELECT g, privstat.pseudonymize(((g - 1) % 2000 + 1)::bigint, 'customer'),
	       ((g * 7919) % 10000) / 100.0, 1 + ((g - 1) / 2000 + g) % 5, ((g * 31) % 5000) / 100.0,
	       (ARRAY['FR', 'DE', 'IT', 'ES', 'US'])[(g - 1) % 5 + 1],
	       t, (t AT TIME ZONE 'UTC')::date, t AT TIME ZONE 'UTC'
	FROM generate_series(1, 20000) g,
	     LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00' + (g - 1) * interval '1576800 milliseconds' AS t) s;
-- the customers, protected too, joined on the pseudonym
CREATE TABLE customers (customer_id privstat.pseudonym PRIMARY KEY, segment text NOT NULL,
	signup_year int NOT NULL);
INSERT INTO customers
	SELECT privstat.pseudonymize(c::bigint, 'customer'),
	       (ARRAY['retail', 'smb', 'enterprise', 'public'])[c % 4 + 1], 2020 + c % 6
	FROM generate_series(1, 2000) c;
-- an unprotected dimension table
CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL, region text NOT NULL);
INSERT INTO countries VALUES ('FR', 'France', 'EMEA'), ('DE', 'Germany', 'EMEA'),
	('IT', 'Italy', 'EMEA'), ('ES', 'Spain', 'EMEA'), ('US', 'United States', 'AMER');
ANALYZE orders, customers, countries;
SELECT privstat.protect('orders', 'customer_id', max_groups_contributed => 10, max_rows_contributed => 10);
SELECT privstat.set_bounds('orders', 'amount', 0, 100);
SELECT privstat.set_bounds('orders', 'qty', 0, 5);
SELECT privstat.set_bounds('orders', 'price', 0, 50);
SELECT privstat.protect('customers', 'customer_id', max_groups_contributed => 10, max_rows_contributed => 10);
SELECT privstat.set_bounds('customers', 'signup_year', 2020, 2025);
-- the level is given to a group role; the login role inherits it.  No
-- search_path is set anywhere: privstat stays off the path.
CREATE ROLE bi_analysts;
CREATE ROLE $BI_USER LOGIN IN ROLE bi_analysts;
SELECT privstat.set_access('bi_analysts', 'aggregate');
SELECT privstat.set_budget('$BI_USER', 'infinity', 'infinity');
ALTER ROLE $BI_USER SET privstat.epsilon = $BI_EPSILON;
ALTER ROLE $BI_USER SET privstat.selection_epsilon = $BI_SELECTION_EPSILON;
GRANT SELECT ON countries TO bi_analysts;	-- and no SELECT on orders or customers
EOF

log "compiling the pgjdbc runner; configuring psqlODBC"
mkdir -p "$WORKDIR/bi/java" "$WORKDIR/bi/odbc"
cp test/bi/corpus.py test/bi/corpus.json "$WORKDIR/bi"/
javac -d "$WORKDIR/bi/java" -cp /usr/share/java/postgresql.jar test/bi/BiCorpus.java >"$WORKDIR/javac.log" 2>&1 ||
	{ cat "$WORKDIR/javac.log"; harness_fail "compiling test/bi/BiCorpus.java"; }
# the driver's own odbcinst.ini in the workdir (ODBCSYSINI), not /etc's
PSQLODBC=$(dpkg -L odbc-postgresql | grep '/psqlodbcw\.so$' | head -1)
[ -n "$PSQLODBC" ] || harness_fail "psqlodbcw.so not found in odbc-postgresql"
printf '[PostgreSQL Unicode]\nDescription = psqlODBC, Unicode\nDriver = %s\n' "$PSQLODBC" >"$WORKDIR/bi/odbc/odbcinst.ini"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$WORKDIR/bi"
echo "$(java -version 2>&1 | head -1); $(/usr/bin/python3 --version); psqlODBC $(dpkg-query -W -f='${Version}' odbc-postgresql)"

log "corpus.py as $BI_USER: psycopg2, psycopg 3, pyodbc, pgjdbc"
as_test_user env PGHOST="$PGHOST" PGPORT="$PGPORT" PGDATABASE=privstat_bi \
	BI_USER=$BI_USER ADMIN_USER=postgres SERVER_LOG="$WORKDIR/server.log" \
	JDBC_URL="jdbc:postgresql://127.0.0.1:$PGPORT/privstat_bi" \
	JAVA_CP="/usr/share/java/postgresql.jar:$WORKDIR/bi/java" ODBCSYSINI="$WORKDIR/bi/odbc" \
	BI_REPEAT=$BI_REPEAT BI_TIMEOUT_MS=$BI_TIMEOUT_MS BI_MODES="${BI_MODES:-}" \
	timeout 300 /usr/bin/python3 "$WORKDIR/bi/corpus.py"
rc=$?
[ $rc -ne 0 ] && { echo "--- server log (errors, tail)"; grep -E 'PANIC|FATAL|TRAP|terminated by signal' "$WORKDIR/server.log" | tail -20; }
exit $rc
