#!/bin/bash
# Every man page renders without warnings, and every option a program's
# -help lists is in its man page.
. "$(dirname "$0")/../lib.sh"
set -e
command -v man >/dev/null || skip "man is not installed (make deps installs man-db)"
M="$PED_SRCDIR/man"
for f in "$M"/*.[158]; do
	w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
	[ -z "$w" ] || fail "$(basename "$f"): $w"
done
for p in ped-device:1 ikey:1 pedtool:1 hsmcm:1 vtl:1 rbs:1 pedserver:8 pedclient:8 hsm-sim:8; do
	prog=${p%:*} page="$M/${p%:*}.${p#*:}"
	[ -f "$page" ] || fail "no man page for $prog"
	text=$(LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$page" 2>/dev/null | col -b)
	for o in $("$BIN/$prog" -help 2>&1 | sed -n 's/^  \(-[a-z_-]*\).*/\1/p'); do
		grep -q -- "$o\b" <<<"$text" || fail "$prog: $o is in -help but not in its man page"
	done
done
# hsm-sim(8) names the state file version hsm-sim writes
v=$(sed -n 's/^#define HSM_STATE_VERSION \([0-9]*\).*/\1/p' "$PED_SRCDIR/hsm-sim/include/hsm/hsm.h")
[ -n "$v" ] || fail "no HSM_STATE_VERSION in hsm/hsm.h"
text=$(LC_ALL=C.UTF-8 MANWIDTH=200 man -l "$M/hsm-sim.8" 2>/dev/null | col -b | tr -s ' \t\n' '   ')
grep -q "version $v, and files of versions 2 to $((v - 1)) still load" <<<"$text" ||
	fail "hsm-sim(8) does not name state file version $v (hsm/hsm.h) as the one written"
echo "man pages ok"
