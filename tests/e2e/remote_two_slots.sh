#!/bin/bash
# pedclient acceptance: two HSM slots on one host hold Remote PED sessions
# to two pedservers at the same time, and each login succeeds. The backup
# HSM's pedserver is found through a PED id mapping (setid + assignid).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

new_keys rpkA soA domA rpkB soB domB
start_hsm
start_pedserver A
start_pedserver B
start_pedclient
for x in A B; do
	pw=$([ $x = A ] && echo 11111111 || echo 22222222)
	cat >"$T/$x.policy" <<P
$OPERATOR
write rpv ${KEY[rpk$x]}
use rpv ${KEY[rpk$x]}
write so ${KEY[so$x]}
use so ${KEY[so$x]}
write domain ${KEY[dom$x]}
P
	start_remote_ped P$x $x "$T/$x.policy"
done

note "PED id 100 maps to pedserver B and is assigned to the backup HSM"
pedclient_cmd -mode setid -id 100 -id_ip 127.0.0.1 -id_port "$PORT_B"
[ $RC -eq 0 ] || fail "setid: $OUT"
pedclient_cmd -mode assignid -id 100 -id_serialnumber $BACKUP_SERIAL
[ $RC -eq 0 ] || fail "assignid: $OUT"
pedclient_cmd -mode testid -id 100
[ $RC -eq 0 ] || fail "testid: $OUT"
expect_contains "$OUT" "is attached"

note "both HSMs initialized remotely, each through its own pedserver, sessions open side by side"
hsmcm -c "ped connect -slot 0 -ip 127.0.0.1 -port $PORT_A -password; ped connect -slot 20 -password; slot set -slot 0; ped vector init; hsm init -label main; slot set -slot 20; ped vector init; hsm init -label backup"
[ $RC -eq 0 ] || fail "remote init of two HSMs: $OUT"
pedclient_cmd -mode show
[ $RC -eq 0 ] || fail "pedclient show: $OUT"
expect_contains "$OUT" "Remote PED Sessions:        2"
expect_contains "$OUT" "HSM $HSM_SERIAL -> pedserver 127.0.0.1:$PORT_A"
expect_contains "$OUT" "HSM $BACKUP_SERIAL -> pedserver 127.0.0.1:$PORT_B"
expect_contains "$OUT" "PED id 100: 127.0.0.1:$PORT_B, HSM $BACKUP_SERIAL"

note "new sessions keyed with each HSM's orange key; both logins succeed while both sessions live"
hsmcm -c "ped disconnect -slot 0; ped disconnect -slot 20; ped connect -slot 0 -ip 127.0.0.1 -port $PORT_A; ped connect -slot 20; slot set -slot 0; role login -name so; slot set -slot 20; role login -name so; ped get -slot 0; ped get -slot 20"
[ $RC -eq 0 ] || fail "two remote logins: $OUT"
expect_contains "$OUT" "HSM slot 0 listening to remote PED (PED id=100)."
expect_contains "$OUT" "HSM slot 20 listening to remote PED (PED id=100)."
shown A "HSM Serial Number:        $HSM_SERIAL" || fail "pedserver A: $OUT"
shown B "HSM Serial Number:        $BACKUP_SERIAL" || fail "pedserver B: $OUT"
grep -q '"event":"insert"' "$T/PA.events" || fail "PED A read no key"
grep -q '"event":"insert"' "$T/PB.events" || fail "PED B read no key"

note "stop while busy: pedclient ends both sessions and the HSMs see CKR_PED_UNPLUGGED"
pedclient_cmd -mode stop
[ $RC -eq 0 ] || fail "pedclient stop: $OUT"
expect_contains "$OUT" "PED Client stopped."
wait_for 10 shown A "Client Information:         Not Available" || fail "pedserver A still serves: $OUT"
wait_for 10 shown B "Client Information:         Not Available" || fail "pedserver B still serves: $OUT"
hsmcm -c "slot set -slot 0; role logout; role login -name so"
[ $RC -ne 0 ] || fail "login with pedclient stopped"
expect_contains "$OUT" "CKR_PED_UNPLUGGED"
hsmcm -c "ped connect -slot 0 -ip 127.0.0.1 -port $PORT_A"
expect_contains "$OUT" "CKR_PED_CLIENT_NOT_RUNNING"
echo "two slots ok"
