#!/bin/bash
# The configuration files shipped in conf/ load as they are.
. "$(dirname "$0")/../lib.sh"
set -e
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data" IKEY_STORE="$T/keys"
C="$PED_SRCDIR/conf"

expect_exit 0 "$BIN/pedserver" -mode config -show -configfile "$C/pedserver.conf"
expect_contains "$OUT" "ServerPort = 1503"
expect_exit 0 "$BIN/pedclient" -mode config -show -configfile "$C/pedclient.conf"
expect_contains "$OUT" "AdminPort = 1501"

"$BIN/hsm-sim" -configfile "$C/hsm-sim.conf" -state "$T/state" -socket "$T/hsm.sock" -logfile "$T/hsm.log" &
track $!
wait_for 20 test -S "$T/ped-496771.sock" || fail "hsm-sim did not start with conf/hsm-sim.conf: $(cat "$T/hsm.log")"
expect_exit 0 "$BIN/hsmcm" -socket "$T/hsm.sock" -c "slot list"
expect_contains "$OUT" "154438865288"

# power-on: Local PED mode (the first HSM command chooses the mode); < is the mode menu
printf 'expect -timeout 10 "Local PED mode"\npress <\nexpect -timeout 10 "Select Mode"\n' >"$T/menu.script"
expect_exit 0 "$BIN/ped-device" -headless -configfile "$C/ped-device.conf" -script "$T/menu.script" -control "$T/ped.ctl"
# the module's: C_Initialize accepts it as it is (pkcs11-tool loads the module with it)
if command -v pkcs11-tool >/dev/null; then
	# (it exits 1 for "No slots.": no hsm-sim here)
	m="$PED_BUILD/lib/libopenped-pkcs11.so"
	OUT=$(OPENPED_PKCS11_CONF="$C/openped-pkcs11.conf" so_client "$m" pkcs11-tool --module "$m" --show-info 2>&1) || true
	expect_contains "$OUT" "Open PED PKCS#11 module"
	expect_not_contains "$OUT" "C_Initialize failed"
fi
echo "conf files ok"
