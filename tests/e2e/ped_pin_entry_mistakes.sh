#!/bin/bash
# "Enter PED PIN:" at a login, and the mistakes made there. Enter pressed
# twice (once for "Press ENTER.", once more by habit or a bouncing key)
# sent an empty PIN: the share went to the HSM unmasked, and the HSM SO
# lost one of the three attempts before the HSM zeroizes. A PIN is 4 to 48
# digits not starting with 0 (chapter 5), so anything else cannot be the
# key's PIN: the PED asks again, nothing reaches the HSM, nothing counts.
# A well-formed wrong PIN still counts once, after the quorum (chapter 5's
# note; tests/e2e/ped_mofn_pin.sh).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys s1 s2 dom
start_hsm
cat >"$T/init.policy" <<P
mofn so 2 2
write "SETTING SO" ${KEY[s1]} ${KEY[s2]}
newpin so 11111111 22222222
write "SETTING DOMAIN" ${KEY[dom]}
P
start_ped A $HSM_SERIAL "$T/init.policy" -pinmaskcost 8
hsmcm -c "hsm init -label pins"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
stop_ped A

cat >"$T/login.script" <<S
expect "SO LOGIN... Insert a SO / HSM Admin PED Key (BLUE) Press ENTER."
insert ${KEY[s1]}
# Enter twice: the second lands on "Enter PED PIN:" with nothing typed
press enter enter
expect "SO LOGIN... PIN not accepted: PIN must be 4 to 48 digits Press ENTER."
press enter
expect "SO LOGIN... Enter PED PIN:"
pin 111
expect "PIN not accepted: PIN must be 4 to 48 digits"
press enter
expect "SO LOGIN... Enter PED PIN:"
pin 01111111
expect "PIN not accepted: PIN must not start with 0"
press enter
expect "SO LOGIN... Enter PED PIN:"
pin 11111111
expect "Keys read: 01 of 02"
remove
insert ${KEY[s2]}
press enter
expect "Enter PED PIN:"
pin 22222222
wait-idle
remove
S
play_script S "$T/login.script"
hsmcm -c "role login -name so"
LOGIN_OUT=$OUT
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 0 of 3"
[ "$(echo "$LOGIN_OUT" | grep -c '^Command Result : No Error')" = 1 ] || fail "the login failed: $LOGIN_OUT"
wait "$SPID" || fail "the script did not run through: $(cat "$T/S.log")"

note "a policy with no PIN for a key that has one: the answerer gives up, nothing counted"
printf 'use "SO LOGIN" %s %s\npin %s 11111111\n' "${KEY[s1]}" "${KEY[s2]}" "${KEY[s1]}" >"$T/nopin.policy"
start_ped B $HSM_SERIAL "$T/nopin.policy"
hsmcm -c "role login -name so"
expect_contains "$OUT" "Command Result : 0x1 (CKR_CANCEL)"
grep -q "the PED refuses the policy's PIN" "$T/B.log" || fail "the answerer did not say why: $(cat "$T/B.log")"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 0 of 3"
echo PASS
