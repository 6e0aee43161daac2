#!/bin/bash
# Random SQL against privstat: sqlsmith (Debian's package) generates queries
# from the catalog of a database with privstat installed, protected tables,
# consent, scope and retention rules, and runs them as a role at access level
# aggregate (every query goes through privstat's planner hook: validated,
# rewritten or refused) and then as a superuser (who bypasses the policy but
# runs the DP aggregates, the pseudonym and sealed types and privstat's
# functions with arbitrary arguments).  The point is zero crashes: after each
# run the server log is searched for a backend killed by a signal, a PANIC or
# a failed assertion, and the server must still answer at the end.
#
# Prints TAP ("ok N - ...", "not ok N - ...", "1..N") and the figures of each
# run (queries tried, errors by SQLSTATE, DP releases charged, crashes);
# exits non-zero on any failure.  Internal errors (SQLSTATE XX000: an elog in
# PostgreSQL or privstat) are listed with a query each but are not failures.  A crash's query is printed (the server log's "Failed process was
# running" line) and kept, with the log, in $SQLSMITH_KEEP if set.
#
# Usage: bash test/sqlsmith/run.sh   (as root, or as a user with sudo; test/run.sh
# runs it).  Uses the privstat installed in the server's directories, and
# builds and installs it only if none is.
#
# Settings (environment):
#   SQLSMITH_QUERIES  queries per run (default 3000: about a minute and a half
#                     in all on 2 cores); e.g. 100000 for a long run
#   SQLSMITH_SEED     the first seed (default 1); a run that sqlsmith ends
#                     early (a lost connection) is continued with seed + 1000
#   SQLSMITH_ROLES    which runs, in order (default "aggregate aggregate-user
#                     superuser"): the aggregate role over every table it
#                     sees (the catalog's too), the same over the database's
#                     own tables only (--exclude-catalog: more of its queries
#                     reach protected tables), the superuser over the
#                     database's own tables
#   SQLSMITH_KEEP     a directory to copy the server log, sqlsmith's output and
#                     its errors (but syntax and access errors, class 42) to
#   SQLSMITH_HOLD     keep the cluster up that many seconds at the end (to
#                     reproduce a query in psql)
set -u
cd "$(dirname "$0")/../.."
. test/common.sh

QUERIES=${SQLSMITH_QUERIES:-3000}
SEED=${SQLSMITH_SEED:-1}
ROLES=${SQLSMITH_ROLES:-aggregate aggregate-user superuser}
KEEP=${SQLSMITH_KEEP:-}
DB=privstat_fuzz
AGG_USER=fuzz_agg		# a login role, member of fuzz_analysts (level aggregate)
SUPER_USER=fuzz_super		# a login superuser with a budget

n=0
failures=0
tap() {				# tap ok|not-ok description
	n=$((n + 1))
	if [ "$1" = ok ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failures=$((failures + 1))
	fi
}
finish() {
	echo "1..$n"
	if [ -n "$KEEP" ]; then
		mkdir -p "$KEEP" && cp "$WORKDIR"/server.log "$WORKDIR"/sqlsmith-*.out "$KEEP"/ 2>/dev/null
		cluster_psql -d sqlsmith_log -c "COPY (SELECT i.target, i.seed, e.* FROM error e JOIN instance i USING (id)
			WHERE e.sqlstate NOT LIKE '42%') TO STDOUT (FORMAT csv, HEADER)" >"$KEEP/errors.csv" 2>/dev/null
	fi
	[ "$failures" -eq 0 ]
	exit $?
}
fail() {			# a failure of the harness
	tap not-ok "$*"
	finish
}

ensure_packages ${SQLSMITH_PACKAGES:-sqlsmith}	# test/common.sh may define it
ensure_installed
make_workdir
# Core files of crashed backends land in the data directory (if the kernel's
# core_pattern is a plain file name).  Every ERROR is logged with its SQLSTATE
# and user (the figures below), without the statement; a crashed backend's
# query is logged whole by the postmaster ("Failed process was running").
ulimit -c unlimited 2>/dev/null
start_cluster "log_line_prefix = '%m [%p] %u %e '" \
	"log_min_error_statement = panic" \
	"track_activity_query_size = 65536" \
	"log_min_messages = warning" \
	"restart_after_crash = on" \
	"max_connections = 20"

log "creating the fuzzed database as superuser"
cluster_psql -q -v ON_ERROR_STOP=1 -d postgres >"$WORKDIR/setup.log" 2>&1 <<EOF || { cat "$WORKDIR/setup.log"; fail "setting up the database"; }
SET client_min_messages = warning;
CREATE DATABASE $DB;
\\c $DB
SET client_min_messages = warning;
CREATE EXTENSION privstat;

-- people: consent-bound (consent text[]), a pseudonym and a sealed column,
-- retention on seen; protected, privacy unit id
CREATE TABLE people (id int PRIMARY KEY, region text, consent text[], tags text[],
                     email privstat.pseudonym, ssn privstat.sealed, income numeric,
                     age int, seen timestamptz);
INSERT INTO people
	SELECT g, CASE WHEN g % 2 = 0 THEN 'EU' ELSE 'US' END,
	       CASE WHEN g % 3 = 0 THEN ARRAY['analytics', 'marketing']
	            WHEN g % 3 = 1 THEN ARRAY['analytics'] END,
	       ARRAY['t' || (g % 7), 'u' || (g % 3)],
	       privstat.pseudonymize('user' || g || '@example.com', 'email'),
	       privstat.seal(lpad(g::text, 9, '0'), 'ssn'),
	       (g * 37 % 90000)::numeric + 0.5, 18 + g % 70,
	       '2026-01-01 00:00:00+00'::timestamptz - g * interval '1 day'
	FROM generate_series(1, 500) g;

-- orders: protected by user_id, bounds on amount and qty, a pseudonym
-- customer, a sealed note, tags; retention on created
CREATE TABLE orders (id int PRIMARY KEY, user_id int, product_id int, amount numeric,
                     qty int, price float8, region text, tags text[],
                     customer privstat.pseudonym, note privstat.sealed, created timestamptz);
INSERT INTO orders
	SELECT g, g % 500 + 1, g % 20, (g % 50)::numeric + 0.25, g % 5, (g % 13) * 1.5,
	       CASE WHEN g % 2 = 0 THEN 'EU' ELSE 'US' END,
	       ARRAY['a' || (g % 4)],
	       privstat.pseudonymize((g % 500 + 1)::bigint, 'customer'),
	       privstat.seal('note ' || g),
	       '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 hour'
	FROM generate_series(1, 5000) g;
CREATE INDEX ON orders (user_id);
CREATE INDEX ON orders (customer);

-- visits: protected with a pseudonym as privacy unit, scoped for the analysts
CREATE TABLE visits (visitor privstat.pseudonym, page text, duration interval,
                     bytes bigint, at timestamptz, ip privstat.sealed);
INSERT INTO visits
	SELECT privstat.pseudonymize('v' || (g % 300)), '/p/' || (g % 25),
	       (g % 600) * interval '1 second', g * 1000,
	       '2026-02-01 00:00:00+00'::timestamptz + g * interval '5 minutes',
	       privstat.seal('10.0.' || (g % 256) || '.' || (g % 100))
	FROM generate_series(1, 3000) g;

-- a partitioned protected table
CREATE TABLE events (user_id int, kind text, value numeric, at timestamptz)
	PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events
	FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events
	FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO events
	SELECT g % 200, 'k' || (g % 5), g % 100,
	       '2025-06-01 00:00:00+00'::timestamptz + g * interval '2 hours'
	FROM generate_series(1, 4000) g;

-- unprotected tables
CREATE TABLE products (id int PRIMARY KEY, name text, category text, price numeric,
                       labels text[], added timestamptz);
INSERT INTO products
	SELECT g, 'p' || g, CASE WHEN g < 10 THEN 'a' ELSE 'b' END, g * 2.5,
	       ARRAY['l' || (g % 3)], '2025-01-01 00:00:00+00'::timestamptz + g * interval '1 day'
	FROM generate_series(0, 19) g;
CREATE TABLE notes (id serial PRIMARY KEY, body text, author privstat.pseudonym,
                    secret privstat.sealed, at timestamptz DEFAULT now());
INSERT INTO notes (body, author, secret)
	SELECT 'n' || g, privstat.pseudonymize(g::bigint), privstat.seal('s' || g)
	FROM generate_series(1, 50) g;

-- views over protected tables (validated with their expansion)
CREATE VIEW eu_orders AS SELECT id, user_id, amount, qty, created FROM orders WHERE region = 'EU';
CREATE VIEW order_products AS
	SELECT o.amount, o.qty, p.category, o.created FROM orders o JOIN products p ON p.id = o.product_id;

ANALYZE;

SELECT privstat.protect('people', 'id');
SELECT privstat.set_bounds('people', 'income', 0, 100000);
SELECT privstat.set_bounds('people', 'age', 0, 120);
SELECT privstat.protect('orders', 'user_id');
SELECT privstat.set_bounds('orders', 'amount', 0, 100);
SELECT privstat.set_bounds('orders', 'qty', 0, 4);
SELECT privstat.set_bounds('orders', 'price', 0, 20);
SELECT privstat.protect('visits', 'visitor');
SELECT privstat.set_bounds('visits', 'bytes', 0, 10000000);
SELECT privstat.protect('events', 'user_id');
SELECT privstat.set_bounds('events', 'value', 0, 100);

-- roles: the level on a group role, inherited by the login role
CREATE ROLE fuzz_analysts;
CREATE ROLE $AGG_USER LOGIN IN ROLE fuzz_analysts;
SELECT privstat.set_access('fuzz_analysts', 'aggregate');
SELECT privstat.set_budget('$AGG_USER', 'infinity');
CREATE ROLE $SUPER_USER LOGIN SUPERUSER;
SELECT privstat.set_budget('$SUPER_USER', 'infinity');
GRANT SELECT ON products, notes, eu_orders, order_products TO fuzz_analysts;
-- sqlsmith finds its tables in information_schema.tables, which lists only
-- tables the user holds some privilege on: REFERENCES (which reads nothing)
-- makes the protected tables visible to it without SELECT
GRANT REFERENCES ON people, orders, visits, events, events_2025, events_2026 TO fuzz_analysts;

-- sqlsmith writes operators unqualified: the pseudonym and sealed ones are
-- in schema privstat
ALTER DATABASE $DB SET search_path = "\$user", public, privstat;

-- row-level rules: consent on people, a scope on visits, retention
SELECT privstat.set_consent('people', 'consent');
SELECT privstat.grant_purpose('$AGG_USER', 'analytics');
SELECT privstat.grant_purpose('$SUPER_USER', 'analytics');
ALTER ROLE $AGG_USER SET privstat.purpose = 'analytics';
SELECT privstat.set_scope('visits', 'fuzz_analysts', 'page LIKE ''/p/1%''');
SELECT privstat.set_retention('orders', 'created', '100 years');
SELECT privstat.set_retention('people', 'seen', '100 years', 'anonymize', ARRAY['tags']);
SELECT privstat.set_retention('events', 'at', '100 years');
EOF

# sqlsmith's own log (--log-to): every error with its query and SQLSTATE, in
# another database of the same cluster (the tables its log.sql creates)
cluster_psql -q -v ON_ERROR_STOP=1 -d postgres >>"$WORKDIR/setup.log" 2>&1 <<EOF || { cat "$WORKDIR/setup.log"; fail "creating sqlsmith's log database"; }
CREATE DATABASE sqlsmith_log;
\\c sqlsmith_log
CREATE TABLE instance (id bigserial PRIMARY KEY, rev text, target text, hostname text,
                       version text, seed text, t timestamptz DEFAULT now());
CREATE TABLE error (id bigint REFERENCES instance (id), msg text, query text, sqlstate text,
                    t timestamptz DEFAULT now(), errid bigserial PRIMARY KEY);
CREATE TABLE stat (id bigint REFERENCES instance (id), generated bigint, level float,
                   nodes float, retries float, updated timestamptz, impedance jsonb);
EOF
LOG_TO="host=$PGHOST port=$PGPORT dbname=sqlsmith_log user=postgres"

# Both roles' budgets are infinite; the superuser's random calls may change
# them (set_budget, reset_budget with arbitrary arguments): set them again
# before each run.
reset_budgets() {
	cluster_psql -q -d $DB -c "SELECT privstat.set_budget('$AGG_USER', 'infinity'), privstat.set_budget('$SUPER_USER', 'infinity')" >/dev/null 2>&1
}

# DP releases charged to role $1 so far
charges() {
	cluster_psql -At -d $DB -c "SELECT coalesce(sum(charges), 0) FROM privstat.budget_status WHERE role = '$1'" 2>/dev/null
}

# the server answers
server_up() {
	[ "$(cluster_psql -At -d $DB -c 'SELECT 1' 2>/dev/null)" = 1 ]
}

# Errors of $1's log lines (prefix "date time zone [pid] user sqlstate") from byte $2 of the server log, by SQLSTATE
errors_by_state() {
	tail -c +"$(($2 + 1))" "$WORKDIR/server.log" |
		awk -v u="$1" '$5 == u && $7 == "ERROR:" { print $6 }' | sort | uniq -c | sort -rn
}

total_queries=0
total_crashes=0
for who in $ROLES; do
	case $who in
	aggregate) user=$AGG_USER; extra="" ;;
	aggregate-user) user=$AGG_USER; extra="--exclude-catalog" ;;
	# A superuser could wreck the catalog with random DELETEs and UPDATEs,
	# and a crash on a corrupt catalog says nothing about privstat: its
	# queries read and write only the database's own tables.
	superuser) user=$SUPER_USER; extra="--exclude-catalog" ;;
	*) fail "unknown run $who (SQLSMITH_ROLES: aggregate, aggregate-user, superuser)" ;;
	esac
	reset_budgets
	charges0=$(charges "$user")
	instance0=$(cluster_psql -At -d sqlsmith_log -c "SELECT coalesce(max(id), 0) FROM instance")
	log "sqlsmith as $user ($who): $QUERIES queries from seed $SEED"
	start_offset=$(stat -c %s "$WORKDIR/server.log")
	out=$WORKDIR/sqlsmith-$who.out
	: >"$out"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$out"
	left=$QUERIES
	seed=$SEED
	tried=0
	runs=0
	t0=$(date +%s)
	while [ "$left" -gt 0 ] && [ "$runs" -lt 20 ]; do
		runs=$((runs + 1))
		server_up || break
		# sqlsmith reconnects after a lost connection and goes on; it ends
		# (non-zero) when it cannot, e.g. while the server restarts after a
		# crash: go on with another seed for the queries left
		echo "== seed $seed, $left queries" >>"$out"
		as_test_user sqlsmith --target="host=$PGHOST port=$PGPORT dbname=$DB user=$user" \
			--seed=$seed --max-queries=$left --verbose --log-to="$LOG_TO" $extra >>"$out" 2>&1
		rc=$?
		# "queries: N" lines of --verbose: the last is the run's total
		done_now=$(tail -n 200 "$out" | sed -n 's/^queries: \([0-9][0-9]*\).*/\1/p' | tail -1)
		[ -z "$done_now" ] && done_now=0
		[ "$rc" -eq 0 ] && done_now=$left
		tried=$((tried + done_now))
		left=$((left - done_now))
		[ "$rc" -ne 0 ] && { echo "== sqlsmith exited $rc" >>"$out"; sleep 2; }
		seed=$((seed + 1000))
	done
	t1=$(date +%s)
	total_queries=$((total_queries + tried))
	charged=$(( $(charges "$user" || echo 0) - ${charges0:-0} ))

	crashes=$(tail -c +"$((start_offset + 1))" "$WORKDIR/server.log" |
		grep -cE 'terminated by signal|terminated by exception|PANIC:|TRAP:')
	total_crashes=$((total_crashes + crashes))
	errors=$(errors_by_state "$user" "$start_offset")
	nerr=$(echo "$errors" | awk '{ s += $1 } END { print s + 0 }')
	echo "# $who ($user): $tried queries tried in $((t1 - t0)) s, $runs sqlsmith run(s), $nerr errors, $charged DP releases charged, $crashes crashes"
	echo "# errors by SQLSTATE (top 10):"
	echo "$errors" | head -10 | while read -r cnt st; do
		[ -n "$cnt" ] && printf '#   %7d  %s (class %s)\n' "$cnt" "$st" "${st:0:2}"
	done
	echo "# errors by SQLSTATE class:"
	echo "$errors" | awk '$2 != "" { c[substr($2, 1, 2)] += $1 } END { for (k in c) printf "#   %7d  %s\n", c[k], k }' | sort -rn -k2

	# internal errors (elog, SQLSTATE XX000) are no crash but are reported,
	# with one query each
	cluster_psql -At -F ' | ' -d sqlsmith_log -c "
		SELECT count(*), left(regexp_replace(e.msg, '^ERROR:\\s+|\\s*\\n.*', '', 'g'), 120),
		       left(regexp_replace(min(e.query), '\\s+', ' ', 'g'), 300)
		FROM error e JOIN instance i ON i.id = e.id
		WHERE e.sqlstate LIKE 'XX%' AND i.id > ${instance0:-0}
		GROUP BY 2 ORDER BY 1 DESC LIMIT 10" 2>/dev/null | sed 's/^/# internal error: /'

	if [ "$crashes" -eq 0 ]; then
		tap ok "sqlsmith as $who: no backend crash, PANIC or failed assertion in $tried queries"
	else
		tap not-ok "sqlsmith as $who: $crashes crash(es) in $tried queries"
		tail -c +"$((start_offset + 1))" "$WORKDIR/server.log" |
			grep -E -A1 'terminated by signal|terminated by exception|PANIC:|TRAP:' | sed 's/^/#   /' | cut -c1-4000
	fi
	if [ "$left" -le 0 ]; then
		tap ok "sqlsmith as $who ran its $QUERIES queries"
	else
		tap not-ok "sqlsmith as $who ran $tried of $QUERIES queries (see below)"
		tail -20 "$out" | sed 's/^/#   /'
	fi
done

if server_up; then
	tap ok "the server still answers after $total_queries random queries"
else
	tap not-ok "the server does not answer after $total_queries random queries"
	tail -30 "$WORKDIR/server.log" | sed 's/^/#   /'
fi
if ls "$WORKDIR"/data/core* >/dev/null 2>&1; then
	tap not-ok "core files in the data directory: $(ls "$WORKDIR"/data/core* | tr '\n' ' ')"
	[ -n "$KEEP" ] && mkdir -p "$KEEP" && cp "$WORKDIR"/data/core* "$KEEP"/
fi
echo "# total: $total_queries queries, $total_crashes crashes"
if [ -n "${SQLSMITH_HOLD:-}" ]; then
	echo "# holding the cluster for $SQLSMITH_HOLD s: PGHOST=$PGHOST PGPORT=$PGPORT psql -d $DB -U $AGG_USER (or $SUPER_USER)"
	sleep "$SQLSMITH_HOLD"
fi
finish
