#!/bin/bash
# The PKCS#11 module reaches hsm-sim on its default socket in the runtime
# directory. A process without one (su, sudo, a container: no
# XDG_RUNTIME_DIR, no /run/user/UID) has no slot, and the module's log
# said only "cannot reach hsm-sim at (no socket): No such file or
# directory". It now says what is missing and what to set.
. "$(dirname "$0")/../lib.sh"
set -e
command -v pkcs11-tool >/dev/null || skip "pkcs11-tool (opensc) is not installed: make deps"
[ ! -e "/run/user/$(id -u)" ] || skip "/run/user/$(id -u) exists here: the module has a default socket"
M="$PED_BUILD/lib/libopenped-pkcs11.so"
: >"$T/p11.conf"
rc=0
# so_client: under a sanitizer build, with its runtime preloaded
(
	unset XDG_RUNTIME_DIR
	export OPENPED_PKCS11_CONF="$T/p11.conf" OPENPED_PKCS11_LOG="$T/p11.log"
	so_client "$M" pkcs11-tool --module "$M" -L
) >"$T/out" 2>&1 || rc=$?
expect_contains "$(cat "$T/out")" "No slots." "pkcs11-tool -L"
expect_contains "$(cat "$T/p11.log")" \
	"cannot reach hsm-sim: no socket (XDG_RUNTIME_DIR is not set and /run/user/$(id -u) is not there): set XDG_RUNTIME_DIR as hsm-sim's, or Module.Socket" \
	"the module's log"
echo "pkcs11 module without a socket ok"
