#!/bin/bash
# A new keyset's keys are written before the PED asks "Are you duplicating
# this keyset?". Nobody answering that question (the key timeout), or a
# duplicate set left half-written, makes no copies; it must not undo the
# keyset: role changepw writes the new secret over the role's own keys, so
# an HSM that kept the old secret would leave the SO with no key that opens
# the role (every try a failed login, three of them a zeroized HSM).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so so2 dom
start_hsm
cat >"$T/init.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
write "SETTING DOMAIN" ${KEY[dom]}
P
start_ped A $HSM_SERIAL "$T/init.policy"
hsmcm -c "hsm init -label main"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
stop_ped A

# run_script NAME: a scripted PED (key timeout 2 s) on the HSM's link, which
# the caller then drives with hsmcm; wait_script NAME checks it ran through.
run_script() {
	play_script "$1" "$T/$1.script" -keytimeout 2
}
wait_script() { wait "$SPID" || fail "script $1 did not run through: $(cat "$T/$1.log")"; }

# login_with NAME SERIAL...: a PED presenting those keys logs the SO in
login_with() {
	local name=$1 s
	shift
	printf 'use "SO LOGIN" %s\n' "$*" >"$T/$name.policy"
	start_ped "$name" $HSM_SERIAL "$T/$name.policy"
	hsmcm -c "role login -name so"
	stop_ped "$name"
}

note "changepw over the SO's only key; nobody answers the duplicate question"
old=$("$BIN/ikey" show "${KEY[so]}" | awk '/^Keyset:/ {print $2}')
# role login, then changepw's login with the old keyset, then the new keyset
cat >"$T/chg.script" <<S
expect "SO LOGIN"
insert ${KEY[so]}
press enter
wait-idle
expect "SO LOGIN"
press enter
expect "reuse an existing keyset?"
press no
expect "M value?"
type 1
press enter
expect "N value?"
type 1
press enter
expect "Insert a SO / HSM Admin PED Key (BLUE)"
press enter
expect "This PED Key is for SO"
press yes
expect "Are you sure"
press yes
expect "Enter new PED PIN:"
press enter
expect "Confirm new PED PIN:"
press enter
expect "Are you duplicating this keyset?(Y/N)"
# ... and the operator walks away: the key timeout
wait-idle -timeout 30
remove
S
run_script chg
hsmcm -c "role login -name so; role changepw -name so"
[ $RC -eq 0 ] || fail "changepw whose duplicate question timed out failed: $OUT"
wait_script chg
new=$("$BIN/ikey" show "${KEY[so]}" | awk '/^Keyset:/ {print $2}')
[ -n "$new" ] && [ "$new" != "$old" ] || fail "the key was not rewritten ($old, $new)"
login_with B "${KEY[so]}"
[ $RC -eq 0 ] || fail "the rewritten key no longer opens the SO role: $OUT"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 0 of 3"

note "changepw to 1 of 2 with a duplicate set left half-written"
cat >"$T/half.script" <<S
expect "SO LOGIN"
insert ${KEY[so]}
press enter
wait-idle
expect "SO LOGIN"
press enter
expect "reuse an existing keyset?"
press no
expect "M value?"
type 1
press enter
expect "N value?"
type 2
press enter
expect "Insert a SO / HSM Admin PED Key (BLUE)"
press enter
expect "This PED Key is for SO"
press yes
expect "Are you sure"
press yes
expect "Enter new PED PIN:"
press enter
expect "Confirm new PED PIN:"
press enter
expect "Keys write: 01 of 02"
remove
insert ${KEY[so2]}
press enter
expect "This PED Key is blank."
press yes
expect "Enter new PED PIN:"
press enter
expect "Confirm new PED PIN:"
press enter
expect "Are you duplicating this keyset?(Y/N)"
press yes
expect "Insert a SO / HSM Admin PED Key (BLUE)"
insert ${KEY[dom]}
press enter
expect "This PED Key is for Domain."
press yes
expect "Are you sure"
press yes
expect "Enter new PED PIN:"
press enter
expect "Confirm new PED PIN:"
press enter
expect "Keys write: 01 of 02"
# the second duplicate never comes
wait-idle -timeout 30
remove
S
run_script half
hsmcm -c "role login -name so; role changepw -name so"
[ $RC -eq 0 ] || fail "changepw whose duplicate set was left half-written failed: $OUT"
wait_script half
for k in so so2 dom; do
	login_with "C$k" "${KEY[$k]}"
	[ $RC -eq 0 ] || fail "key $k of the new 1 of 2 keyset does not open the SO role: $OUT"
done
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 0 of 3"
echo PASS
