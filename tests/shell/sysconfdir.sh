#!/bin/bash
# Where hsmcm, vtl and the PKCS#11 module look for the client configuration
# (openped-pkcs11.conf): the build's SYSCONFDIR, the one make install puts
# it in, for all three alike. Built again with another SYSCONFDIR, each
# follows it: their objects depend on the build's SYSCONFDIR stamp as
# libped's fileio.o does, so none keeps the old path.
. "$(dirname "$0")/../lib.sh"
set -e
[ -f "$PED_SRCDIR/Makefile" ] || skip "no source tree to build in"
command -v make >/dev/null || skip "no make"
note "the built programs: the build's SYSCONFDIR"
want="$(cat "$PED_BUILD/sysconfdir")/openped/openped-pkcs11.conf"
env -u OPENPED_PKCS11_CONF "$BIN/hsmcm" -server nowhere.invalid -c "slot list" >"$T/out" 2>&1 && fail "hsmcm: $(cat "$T/out")"
expect_contains "$(cat "$T/out")" "$want"
note "built again with another SYSCONFDIR, the three objects follow it"
B="$T/build"
objs=("$B/obj/hsm-sim/hsmcm/main.o" "$B/obj/vtl/main.o" "$B/obj/pic/pkcs11/config.o")
mk() { make --no-print-directory -C "$PED_SRCDIR" BUILD="$B" SYSCONFDIR="$1" "${objs[@]}" >"$T/out" 2>&1 || fail "make: $(cat "$T/out")"; }
mk /opt/first
for o in "${objs[@]}"; do
	grep -q /opt/first/openped/openped-pkcs11.conf "$o" || fail "$o: not built with SYSCONFDIR /opt/first"
done
mk /opt/second
for o in "${objs[@]}"; do
	grep -q /opt/second/openped/openped-pkcs11.conf "$o" || fail "$o kept the old SYSCONFDIR"
done
echo "sysconfdir ok"
