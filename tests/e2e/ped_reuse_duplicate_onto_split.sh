#!/bin/bash
# A keyset reused (the HSM SO's blue 2 of 2 for a Partition SO), and a
# duplicate set of it made at once: the first key the operator offers for
# the copies is one just read, split 2. The PED wrote split 1 over it, so
# the keyset had split 1 twice and no split 2, and neither the HSM SO nor
# the Partition SO could ever log in again. The PED now refuses a key
# holding another split of the keyset it writes, and the copies go onto
# other keys.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys A B C D dom pdom
start_hsm
cat >"$T/init.policy" <<P
mofn so 2 2
write "SETTING SO" ${KEY[A]} ${KEY[B]}
use "SO LOGIN" ${KEY[A]} ${KEY[B]}
write "SETTING DOMAIN" ${KEY[dom]}
P
start_ped A $HSM_SERIAL "$T/init.policy"
hsmcm -c "hsm init -label main; role login -name so; partition create -label p1"
[ $RC -eq 0 ] || fail "init: $OUT"
stop_ped A

# write_here: the key in the port written, no PIN
write_here() {
	cat <<S
press enter
expect "Overwrite? YES/NO"
press yes
expect "Enter new PED PIN:"
press enter
expect "Confirm new PED PIN:"
press enter
S
}
{
	cat <<S
expect "SO LOGIN"
insert ${KEY[A]}
press enter
expect "Keys read: 01 of 02"
remove
insert ${KEY[B]}
press enter
wait-idle
expect "SETTING PO PIN... Would you like to reuse an existing keyset?"
press yes
expect "Insert a Partition SO PED Key (BLUE)"
remove
insert ${KEY[A]}
press enter
expect "READING PO PIN... Keys read: 01 of 02"
remove
insert ${KEY[B]}
press enter
expect "Are you duplicating this keyset? (Y/N) Warning: You will need all N keys!"
press yes
# B, split 2, still in the port
expect "Insert a Partition SO PED Key (BLUE)"
press enter
expect "This PED Key is split 02 of this keyset. Use another."
press enter
expect "Insert a Partition SO PED Key (BLUE)"
remove
insert ${KEY[C]}
S
	write_here
	echo 'expect "Keys write: 01 of 02"'
	echo 'remove'
	echo "insert ${KEY[D]}"
	write_here
	cat <<S
expect "make another duplicate set?"
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
insert ${KEY[pdom]}
S
	write_here
	cat <<S
expect "Are you duplicating this keyset?(Y/N)"
press no
wait-idle
remove
S
} >"$T/p.script"
play_script S "$T/p.script"
hsmcm -c "role login -name so; slot set -slot 1; partition init -label p1"
wait "$SPID" || fail "the script did not run through: $(cat "$T/S.log")"
[ $RC -eq 0 ] || fail "partition init: $OUT"
"$BIN/ikey" show "${KEY[B]}" | grep -q "Split:     2 of 2" || fail "split 2 was overwritten: $("$BIN/ikey" show "${KEY[B]}")"
"$BIN/ikey" show "${KEY[C]}" | grep -q "Split:     1 of 2" || fail "C is not a copy of split 1"
"$BIN/ikey" show "${KEY[D]}" | grep -q "Split:     2 of 2" || fail "D is not a copy of split 2"

note "the keyset and its copies open both roles"
printf 'use "SO LOGIN" %s %s\nuse "PO LOGIN" %s %s\n' "${KEY[A]}" "${KEY[B]}" "${KEY[C]}" "${KEY[D]}" >"$T/l.policy"
start_ped L $HSM_SERIAL "$T/l.policy"
hsmcm -c "role login -name so; slot set -slot 1; role login -name po"
[ $RC -eq 0 ] || fail "logins with the keyset and its copies: $OUT"
echo PASS
