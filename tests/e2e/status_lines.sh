#!/bin/bash
# Issue 32, item 7: status lines say what is true.
#  - pedserver -mode show: "External Server Interface" is where the server
#    port listens (-ip 127.0.0.1: No), not the ExternalServer setting;
#  - pedclient -mode testid: a PED serving the HSM the id is assigned to is
#    not "serving another HSM";
#  - ped get names the PED id the session went through (100 only when
#    ped connect gave the address, as the reference shows it).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

note "External Server Interface follows the address the port is bound to"
for args in "-ip 127.0.0.1:No" "-eserverport 0:No" "-ip 0.0.0.0:Yes"; do
	want=${args#*:}
	start_pedserver X ${args%:*}
	pedserver_cmd X -mode show
	expect_contains "$OUT" "External Server Interface: $want" "-mode show with ${args%:*}"
	pedserver_cmd X -mode stop
	[ $RC -eq 0 ] || fail "pedserver stop: $OUT"
done

note "testid: the PED serves the HSM its id is assigned to, or another"
new_keys rpk
start_hsm
start_pedserver A -ip 127.0.0.1
start_pedclient
cat >"$T/A.policy" <<P
$OPERATOR
write rpv ${KEY[rpk]}
P
start_remote_ped A A "$T/A.policy"
wait_for 10 shown A "Ped2 Connection Status:   Connected" || fail "pedserver does not see the PED: $OUT"
pedclient_cmd -mode setid -id 5 -id_ip 127.0.0.1 -id_port "$PORT_A"
[ $RC -eq 0 ] || fail "setid 5: $OUT"
pedclient_cmd -mode assignid -id 5 -id_serialnumber "$HSM_SERIAL"
[ $RC -eq 0 ] || fail "assignid 5: $OUT"
pedclient_cmd -mode setid -id 6 -id_ip 127.0.0.1 -id_port "$PORT_A"
pedclient_cmd -mode assignid -id 6 -id_serialnumber "$BACKUP_SERIAL"
[ $RC -eq 0 ] || fail "assignid 6: $OUT"
pedclient_cmd -mode testid -id 5
[ $RC -eq 0 ] || fail "testid 5: $OUT"
expect_contains "$OUT" "is attached."
hsmcm -c "ped connect -password; ped vector init"
[ $RC -eq 0 ] || fail "a session through PED id 5: $OUT"
wait_for 10 shown A "HSM Serial Number:        $HSM_SERIAL" || fail "pedserver does not serve the HSM: $OUT"
pedclient_cmd -mode testid -id 5
[ $RC -eq 0 ] || fail "testid 5: $OUT"
expect_not_contains "$OUT" "serving another HSM" "testid for the HSM served"
expect_contains "$OUT" "serving HSM $HSM_SERIAL, the HSM PED id 5 is assigned to"
pedclient_cmd -mode testid -id 6
expect_contains "$OUT" "is attached and serving another HSM" "testid for another HSM"

note "ped get names the PED id of the session"
hsmcm -c "ped get"
expect_contains "$OUT" "listening to remote PED (PED id=5)."
expect_contains "$OUT" "via pedserver of PED id 5"
hsmcm -c "ped disconnect; ped connect -ip 127.0.0.1 -port $PORT_A -wait; ped get"
[ $RC -eq 0 ] || fail "a session by address: $OUT"
expect_contains "$OUT" "listening to remote PED (PED id=100)."
hsmcm -c "ped disconnect; ped get"
expect_contains "$OUT" "listening to local PED (PED id=0)."
echo "status lines ok"
