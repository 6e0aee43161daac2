#!/bin/bash
# The real-client test: node-postgres (the npm package pg) drives privstat the
# way a BI tool does, over the extended protocol, as a role at access level
# aggregate (test/node/bi_client.js).  Starts a throw-away cluster, creates the
# data and the roles as superuser, installs the pinned npm packages (from
# test/node/vendor, checked against package-lock.json) into a
# scratch directory, runs the client, stops the cluster.  Prints TAP
# ("ok N - ...", "not ok N - ...", "1..N"); exits non-zero on any failure.
#
# Usage: bash test/node/run.sh   (as root, or as a user with sudo; test/run.sh
# runs it).  Uses the privstat installed in the server's directories, and
# builds and installs it only if none is.
set -u
cd "$(dirname "$0")/../.."
. test/common.sh

BI_USER=bi_analyst		# a login role, member of bi_analysts (level aggregate)
BI_BUDGET=60			# its epsilon budget; bi_client.js spends all of it
BI_DELTA=0.001			# its delta budget: group selection of its GROUP BY queries

ensure_packages $NODE_PACKAGES
ensure_installed
make_workdir
# log_statement and a prefix naming the user let the client check, in the
# server log, that its statements arrived over the extended protocol
# (and every execution is charged once: the release cache is off)
start_cluster "log_statement = 'all'" "log_line_prefix = '%m [%p] %u '" "privstat.release_cache_ttl = 0"

log "creating the BI database as superuser"
cluster_psql -q -v ON_ERROR_STOP=1 -d postgres >"$WORKDIR/setup.log" 2>&1 <<EOF || { cat "$WORKDIR/setup.log"; harness_fail "setting up the database"; }
CREATE DATABASE privstat_bi;
\\c privstat_bi
CREATE EXTENSION privstat;
-- 10,000 orders of 10,000 users (one each, so privstat's bounding of each
-- user's contribution leaves the exact answers the test compares with as they
-- are): amount 0..49, qty 0..4, half EU, one an hour from 2026
CREATE TABLE orders (id int, user_id int, product_id int, amount numeric, qty int,
                     region text, created timestamptz);
INSERT INTO orders
	SELECT g, g, g % 10, (g % 50)::numeric, g % 5,
	       CASE WHEN g % 2 = 0 THEN 'EU' ELSE 'US' END,
	       '2026-01-01 00:00:00+00'::timestamptz + g * interval '1 hour'
	FROM generate_series(1, 10000) g;
CREATE TABLE products (id int PRIMARY KEY, name text, category text);
INSERT INTO products SELECT g, 'p' || g, CASE WHEN g < 5 THEN 'a' ELSE 'b' END
	FROM generate_series(0, 9) g;
ANALYZE orders, products;
SELECT privstat.protect('orders', 'user_id');
SELECT privstat.set_bounds('orders', 'amount', 0, 100);
SELECT privstat.set_bounds('orders', 'qty', 0, 4);
-- the level is given to a group role; the login role inherits it
CREATE ROLE bi_analysts;
CREATE ROLE $BI_USER LOGIN IN ROLE bi_analysts;
SELECT privstat.set_access('bi_analysts', 'aggregate');
SELECT privstat.set_budget('$BI_USER', $BI_BUDGET, $BI_DELTA);
GRANT SELECT ON products TO bi_analysts;	-- and no SELECT on orders
EOF

log "installing node-postgres from test/node/vendor into $WORKDIR/node"
# The registry's own tarballs of the versions package-lock.json pins, kept in
# the tree and checked against the lockfile's sha512: the test needs no
# network (test/node/README: how to update them).
mkdir -p "$WORKDIR/node" && cp -r test/node/package.json test/node/package-lock.json test/node/bi_client.js \
	test/node/install.js test/node/vendor "$WORKDIR/node"/
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$WORKDIR/node"
as_test_user node "$WORKDIR/node/install.js" >"$WORKDIR/npm.log" 2>&1 ||
	{ cat "$WORKDIR/npm.log"; harness_fail "install of node-postgres from test/node/vendor"; }
echo "node $(node --version), pg $(cd "$WORKDIR/node" && node -p 'require("pg/package.json").version')"

log "bi_client.js as $BI_USER"
as_test_user env PGHOST="$PGHOST" PGPORT="$PGPORT" PGDATABASE=privstat_bi \
	BI_USER=$BI_USER BI_BUDGET=$BI_BUDGET ADMIN_USER=postgres SERVER_LOG="$WORKDIR/server.log" \
	timeout 300 node "$WORKDIR/node/bi_client.js"
rc=$?
[ $rc -ne 0 ] && { echo "--- server log (tail)"; tail -40 "$WORKDIR/server.log"; }
exit $rc
