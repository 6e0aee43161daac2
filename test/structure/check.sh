#!/bin/bash
# The module structure of src/, checked on the built objects (prints TAP):
# which file uses which is read from the symbols each object file defines
# and leaves undefined (nm), so an include that is not used does not count
# and a declaration written by hand instead of an include does.
#   - src/common.c, the bottom layer, uses nothing of privstat's;
#   - no two files of src/ use each other;
#   - the use graph of src/ has no cycle at all (tsort finds none).
# Run after the build, from the project root: bash test/structure/check.sh
set -u
cd "$(dirname "$0")/../.."
objs=$(find src -name '*.o' | sort)
if [ -z "$objs" ]; then
	echo "not ok 1 - no object files under src/: build first"
	echo "1..1"
	exit 1
fi
edges=$(nm -A $objs | awk '
	{
		split($1, f, ":"); obj = f[1]
		if ($2 == "U") { und[obj, $3] = 1; undn[obj] = undn[obj] " " $3 }
		else if ($(NF - 1) ~ /^[TDBRC]$/) def[$NF] = obj
	}
	END {
		for (o in undn) {
			n = split(undn[o], s, " ")
			for (i = 1; i <= n; i++)
				if ((s[i] in def) && def[s[i]] != o) print o, def[s[i]]
		}
	}' | sort -u)

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; }

uses=$(echo "$edges" | awk '$1 == "src/common.o" { print $2 }' | tr '\n' ' ')
if [ ! -f src/common.o ]; then
	notok "there is no src/common.c, the bottom layer"
elif [ -z "$uses" ]; then ok "src/common.c uses nothing of privstat's"; else notok "src/common.c uses $uses"; fi

mutual=$(echo "$edges" | awk '{ e[$1 " " $2] = 1 } END { for (k in e) { split(k, p, " "); if (p[1] < p[2] && ((p[2] " " p[1]) in e)) print p[1] "<->" p[2] } }' | tr '\n' ' ')
if [ -z "$mutual" ]; then ok "no two files of src/ use each other"; else notok "files that use each other: $mutual"; fi

if loop=$(echo "$edges" | tsort 2>&1 >/dev/null) && [ -z "$loop" ]; then
	ok "the use graph of src/ ($(echo "$edges" | wc -l) edges) has no cycle"
else
	notok "the use graph of src/ has a cycle: $(echo "$loop" | tr '\n' ' ')"
fi
echo "1..$n"
