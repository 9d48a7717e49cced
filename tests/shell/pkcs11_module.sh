#!/bin/bash
# libopenped-pkcs11.so is loaded into other people's processes: it exports
# the 68 C_ functions of PKCS#11 2.40 and nothing else (libped stays
# private), and references nothing that prints, exits or handles signals.
. "$(dirname "$0")/../lib.sh"
set -e
M="$PED_BUILD/lib/libopenped-pkcs11.so"
[ -f "$M" ] || fail "$M is missing"
command -v nm >/dev/null || skip "no nm"

exported=$(nm -D --defined-only "$M" | awk '{print $3}')
[ "$(grep -c '^C_' <<<"$exported")" = 68 ] || fail "not the 68 C_ functions: $(grep '^C_' <<<"$exported" | wc -l)"
others=$(grep -v '^C_' <<<"$exported" || true)
[ -z "$others" ] || fail "exported besides the C_ functions: $others"

undefined=$(nm -D --undefined-only "$M" | awk '{print $2}' | sed 's/@.*//')
# A sanitizer build keeps every function its metadata names (no section
# is collected) and brings the runtime's references: only its exports count.
if grep -q '^__[at]san_' <<<"$undefined"; then
	echo "pkcs11 module symbols ok (sanitizer build: exports only)"
	exit 0
fi
for f in printf fprintf dprintf puts fputs perror vfprintf exit _exit abort signal sigaction raise; do
	! grep -qx "$f" <<<"$undefined" || fail "the module references $f"
done
needed=$(readelf -d "$M" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
# libssl is loaded only for TLS to the network servers vtl registers
# (ped/libssl.h): an application using a local hsm-sim does not map it
expect_eq "$needed" "libc.so.6 libconfig.so.9 libcrypto.so.3 " "libraries the module needs"
echo "pkcs11 module symbols ok"
