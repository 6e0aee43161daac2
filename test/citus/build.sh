#!/bin/bash
# Build and install Citus for privstat's Citus test (test/t/014_citus.pl), once
# per machine: from CITUS_TARBALL, or ../shared/vendor/citus-12.1.12.tar.gz
# beside the clone, checked against its .sha256.  The build is kept in
# CITUS_CACHE (default /var/cache/privstat-citus), outside the clone, and
# skipped when the same tarball is already installed for this PostgreSQL.
# Its last line names the installed version, or says "skip: <why>" (exit 0)
# when no tarball is available; the test then skips, saying so.  Run as root,
# or as a user with sudo (packages and make install).
#
# Usage: bash test/citus/build.sh
set -eu
cd "$(dirname "$0")/../.."
. test/common.sh

TARBALL=${CITUS_TARBALL:-$(cd .. && pwd)/shared/vendor/citus-12.1.12.tar.gz}
if [ "$(id -u)" -eq 0 ]; then
	CACHE=${CITUS_CACHE:-/var/cache/privstat-citus}
	SUDO=
else
	CACHE=${CITUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/privstat-citus}
	SUDO=sudo
fi
CITUS_PACKAGES="autoconf flex bison libcurl4-openssl-dev libkrb5-dev liblz4-dev libpam0g-dev libselinux1-dev libzstd-dev"

if [ ! -f "$TARBALL" ]; then
	echo "skip: no Citus tarball at $TARBALL (set CITUS_TARBALL)"
	exit 0
fi
if [ -f "$TARBALL.sha256" ]; then
	want=$(awk '{print $1}' "$TARBALL.sha256")
	have=$(sha256sum "$TARBALL" | awk '{print $1}')
	if [ "$want" != "$have" ]; then
		echo "Citus tarball $TARBALL does not match its .sha256 ($have, expected $want)" >&2
		exit 1
	fi
else
	have=$(sha256sum "$TARBALL" | awk '{print $1}')
fi
pkglib=$($PG_BINDIR/pg_config --pkglibdir)
stamp="$CACHE/installed-$have-pg$PG_MAJOR"
if [ -f "$stamp" ] && [ -f "$pkglib/citus.so" ]; then
	cat "$stamp"
	exit 0
fi
ensure_packages $CITUS_PACKAGES
rm -rf "$CACHE/src" && mkdir -p "$CACHE/src"
tar xzf "$TARBALL" -C "$CACHE/src"
dir=$(find "$CACHE/src" -mindepth 1 -maxdepth 1 -type d | head -1)
log "building Citus from $(basename "$TARBALL") in $dir (once per machine)"
(cd "$dir" && PG_CONFIG=$PG_BINDIR/pg_config ./configure >"$CACHE/configure.log" 2>&1 &&
	make -j"$(nproc)" >"$CACHE/make.log" 2>&1 && $SUDO make install >"$CACHE/install.log" 2>&1) || {
	tail -30 "$CACHE"/*.log >&2
	exit 1
}
echo "citus $(basename "$TARBALL" .tar.gz | sed 's/^citus-//') installed in $pkglib" | tee "$stamp"
