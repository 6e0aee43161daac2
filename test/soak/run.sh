#!/bin/bash
# The soak test (issue #9, "Load"): 16 clients on a throw-away cluster with
# privstat preloaded, for SOAK_SECONDS (default 120): 12 of 4 aggregate roles
# with finite budgets send DP queries over a protected table (and, now and
# then, a query the policy refuses), 2 insert rows, 1 purges them under a
# retention rule (CALL privstat.purge_expired; the background workers purge
# too), 1 raises and lowers the
# budgets.  test/soak/driver.js runs them, over node-postgres (the vendored
# copy of test/node), and checks: no error but the expected refusals; no
# overspend (a sampler of budget_status, and a replay of the audit trail's
# charges against the limits in force); answered queries = charges in the
# trail = budget_status.charges, refusals = the trail's refusals; the trail
# verifies; the backends' memory grows by less than the bounds below.
# Prints TAP and the figures; exits non-zero on any failure.
#
# Usage: bash test/soak/run.sh               (as root, or with sudo; 2 minutes)
#        SOAK_SECONDS=25 bash test/soak/run.sh   (the short run of test/run.sh)
# Uses the privstat installed in the server's directories, and builds and
# installs it only if none is.
set -u
cd "$(dirname "$0")/../.."
. test/common.sh

SOAK_SECONDS=${SOAK_SECONDS:-120}
export PRIVSTAT_PORT=${PRIVSTAT_PORT:-54371}

ensure_packages $NODE_PACKAGES
ensure_installed
make_workdir
# %e: each error's SQLSTATE, which the driver counts in the server log too
# and the background retention workers purge every 10 s, alongside the client
start_cluster "log_line_prefix = '%m [%p] %u %e '" "max_connections = 40" "privstat.purge_interval = 10"

log "creating the soak database as superuser"
cluster_psql -q -v ON_ERROR_STOP=1 -d postgres <test/soak/setup.sql >"$WORKDIR/setup.log" 2>&1 ||
	{ cat "$WORKDIR/setup.log"; harness_fail "setting up the database"; }

log "installing node-postgres from test/node/vendor into $WORKDIR/node"
mkdir -p "$WORKDIR/node" && cp -r test/node/package.json test/node/package-lock.json test/node/install.js \
	test/node/vendor test/soak/driver.js "$WORKDIR/node"/
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$WORKDIR/node"
as_test_user node "$WORKDIR/node/install.js" >"$WORKDIR/npm.log" 2>&1 ||
	{ cat "$WORKDIR/npm.log"; harness_fail "install of node-postgres from test/node/vendor"; }

log "16 clients for $SOAK_SECONDS s"
as_test_user env PGHOST="$PGHOST" PGPORT="$PGPORT" PGDATABASE=privstat_soak ADMIN_USER=postgres \
	SOAK_SECONDS="$SOAK_SECONDS" SERVER_LOG="$WORKDIR/server.log" \
	timeout $((SOAK_SECONDS + 300)) node "$WORKDIR/node/driver.js"
rc=$?
[ $rc -ne 0 ] && { echo "--- server log (ERROR lines, tail)"; grep -E 'ERROR|FATAL|PANIC|TRAP' "$WORKDIR/server.log" | tail -20; }
exit $rc
