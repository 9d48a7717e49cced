#!/bin/bash
# The PED writes the key in its port, never one taken out. A key read at
# "Insert a ... PED Key" and taken out at "Overwrite? YES/NO" (the operator
# saw "This PED Key is for Domain." and swapped in a blank one) was written
# all the same: the domain key he had just pulled out lost its secret,
# while the key in the port stayed blank.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so dom blank dom2
start_hsm
cat >"$T/init.policy" <<P
write "SETTING SO" ${KEY[so]}
write "SETTING DOMAIN" ${KEY[dom]}
P
start_ped A $HSM_SERIAL "$T/init.policy"
hsmcm -c "hsm init -label first; hsm zeroize -force"
[ $RC -eq 0 ] || fail "hsm init and zeroize: $OUT"
stop_ped A
domset=$("$BIN/ikey" show "${KEY[dom]}" | awk '/^Keyset:/ {print $2}')

note "the SO keyset of the re-init: the domain key in the port by mistake, swapped at Overwrite?"
cat >"$T/swap.script" <<S
expect "SETTING SO PIN... Would you like to reuse an existing keyset?"
press no
expect "M value?"
type 1
press enter
expect "N value?"
type 1
press enter
expect "Insert a SO / HSM Admin PED Key (BLUE)"
insert ${KEY[dom]}
press enter
expect "This PED Key is for Domain. Overwrite? YES/NO"
remove
insert ${KEY[blank]}
press yes
expect "Are you sure"
press yes
expect "Enter new PED PIN:"
press enter
expect "Confirm new PED PIN:"
press enter
expect "The PED Key was removed. Nothing written."
press enter
# asked again: the key in the port now
expect "Insert a SO / HSM Admin PED Key (BLUE)"
press enter
expect "This PED Key is blank. Overwrite? YES/NO"
press yes
expect "Enter new PED PIN:"
press enter
expect "Confirm new PED PIN:"
press enter
expect "Are you duplicating this keyset?(Y/N)"
press no
expect "SETTING DOMAIN... Would you like to reuse an existing keyset?"
press no
expect "M value?"
type 1
press enter
expect "N value?"
type 1
press enter
expect "Insert a Domain PED Key (RED)"
remove
insert ${KEY[dom2]}
press enter
expect "This PED Key is blank. Overwrite? YES/NO"
press yes
expect "Enter new PED PIN:"
press enter
expect "Confirm new PED PIN:"
press enter
expect "Are you duplicating this keyset?(Y/N)"
press no
wait-idle
remove
S
play_script S "$T/swap.script"
hsmcm -c "hsm init -label second"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
wait "$SPID" || fail "the script did not run through: $(cat "$T/S.log")"
"$BIN/ikey" show "${KEY[dom]}" >"$T/dom.show"
grep -q "Contents:  Domain secret" "$T/dom.show" || fail "the domain key taken out was overwritten: $(cat "$T/dom.show")"
grep -q "Keyset:    $domset" "$T/dom.show" || fail "the domain key taken out changed: $(cat "$T/dom.show")"
"$BIN/ikey" show "${KEY[blank]}" | grep -q "Contents:  SO secret" || fail "the key in the port was not written"

note "the key in the port opens the SO role"
printf 'use "SO LOGIN" %s\n' "${KEY[blank]}" >"$T/login.policy"
start_ped B $HSM_SERIAL "$T/login.policy"
hsmcm -c "role login -name so"
[ $RC -eq 0 ] || fail "login with the key written: $OUT"
echo PASS
