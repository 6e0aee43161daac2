# Shared by test/run.sh, demo/run.sh and bench/run.sh: install what privstat
# needs on Debian, build and install it, and run commands as an unprivileged
# user (PostgreSQL refuses to run as root).  Source it; it defines functions.

PG_MAJOR=15
PG_BINDIR=/usr/lib/postgresql/$PG_MAJOR/bin
PACKAGES="build-essential postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libssl-dev libipc-run-perl"
# The node-postgres client test (test/node) needs Node.js too (its npm
# packages are in the tree): test/run.sh and test/node/run.sh pass it to
# ensure_packages.
NODE_PACKAGES="nodejs"
# The BI corpus test (test/bi) needs real drivers: psycopg2, psycopg 3, pyodbc
# over psqlODBC, and pgjdbc with a JDK to compile its runner.
BI_PACKAGES="python3-psycopg2 python3-psycopg odbc-postgresql unixodbc python3-pyodbc libpostgresql-jdbc-java default-jdk-headless"
# The random-query test (test/sqlsmith) needs sqlsmith.
SQLSMITH_PACKAGES="sqlsmith"
# The fuzz harnesses (test/fuzz) need clang with libFuzzer and the sanitizers
# (libclang-rt-14-dev, which clang only recommends).
FUZZ_PACKAGES="clang libclang-rt-14-dev"

log() { printf '\n== %s\n' "$*"; }

# Is Debian package $1 installed?  nodejs also counts as installed when node is
# on PATH: a Node.js from elsewhere (NodeSource's) must not be replaced.
have_package() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' && return 0
	case $1 in
	nodejs) command -v node >/dev/null ;;
	*) return 1 ;;
	esac
}

# Install whichever of $PACKAGES (plus any given) is missing.  Needs root.
ensure_packages() {
	local missing="" p
	for p in $PACKAGES "$@"; do
		have_package "$p" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing Debian packages:$missing; run this as root (or with sudo) to install them" >&2
		exit 2
	fi
	log "installing Debian packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# Keep package scripts from starting a server of their own during the
	# install (a chroot or container has no init to manage it); the cluster
	# that postgresql-common creates stays, stopped.
	local policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy=yes
	fi
	apt-get update -qq &&
		apt-get install -y -qq --no-install-recommends $missing >/tmp/privstat-apt.log 2>&1
	local rc=$?
	[ -n "$policy" ] && rm -f /usr/sbin/policy-rc.d
	if [ $rc -ne 0 ]; then
		tail -20 /tmp/privstat-apt.log >&2
		echo "apt-get install failed" >&2
		exit 2
	fi
}

# Build privstat and install it into the server's directories (root only).
build_and_install() {
	log "building and installing privstat"
	make -s -j2 PG_CONFIG=$PG_BINDIR/pg_config || exit 2
	if [ "$(id -u)" -eq 0 ]; then
		make -s install PG_CONFIG=$PG_BINDIR/pg_config >/dev/null || exit 2
	else
		sudo make -s install PG_CONFIG=$PG_BINDIR/pg_config >/dev/null || exit 2
	fi
}

# Build and install privstat unless the server has it already (a runner
# started on its own; test/run.sh has installed it).
ensure_installed() {
	[ -f "$($PG_BINDIR/pg_config --pkglibdir)/privstat.so" ] || build_and_install
}

# A failure of a harness before its checks, reported as TAP.
harness_fail() {
	echo "not ok 1 - $*"
	echo "1..1"
	exit 1
}

# Run a command as the unprivileged test user: postgres when we are root.
as_test_user() {
	if [ "$(id -u)" -eq 0 ]; then
		# postgres may not enter the current directory (a clone under /root)
		(runuser -u postgres -- test -x "$PWD" 2>/dev/null || cd /
		 runuser -u postgres -- env PATH="$PG_BINDIR:$PATH" "$@")
	else
		env PATH="$PG_BINDIR:$PATH" "$@"
	fi
}

# A scratch directory the test user owns, removed on exit.
make_workdir() {
	WORKDIR=$(mktemp -d /tmp/privstat.XXXXXX)
	chmod 755 "$WORKDIR"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$WORKDIR"
	trap 'rm -rf "$WORKDIR"' EXIT
}

# A private copy of the tree the test user can read (a clone under /root is
# not readable by postgres).
copy_tree() {
	local dst=$WORKDIR/src
	mkdir -p "$dst"
	cp -r Makefile sql expected test demo bench "$dst"/ 2>/dev/null
	[ "$(id -u)" -eq 0 ] && chown -R postgres: "$dst"
	echo "$dst"
}

# Start a throw-away cluster with privstat preloaded in $WORKDIR/data, on a
# Unix socket only; export PGHOST/PGPORT/PGUSER for psql; stop and remove it
# on exit.  Extra postgresql.conf lines may be given as arguments.
start_cluster() {
	local port=${PRIVSTAT_PORT:-54329} line
	log "starting a throw-away cluster in $WORKDIR/data"
	as_test_user initdb -D "$WORKDIR/data" -A trust -U postgres >"$WORKDIR/initdb.log" 2>&1 ||
		{ cat "$WORKDIR/initdb.log"; exit 2; }
	{
		echo "shared_preload_libraries = 'privstat'"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$WORKDIR'"
		echo "port = $port"
		for line in "$@"; do echo "$line"; done
	} >>"$WORKDIR/data/postgresql.conf"
	as_test_user pg_ctl -D "$WORKDIR/data" -l "$WORKDIR/server.log" -w start >/dev/null ||
		{ cat "$WORKDIR/server.log"; exit 2; }
	trap 'as_test_user pg_ctl -D "$WORKDIR/data" -m fast -w stop >/dev/null; rm -rf "$WORKDIR"' EXIT
	export PGHOST=$WORKDIR PGPORT=$port PGUSER=postgres
}

# psql against the throw-away cluster, as the test user
cluster_psql() {
	as_test_user env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" psql -X "$@"
}
