#!/bin/bash
# What may end or keep an activated role (chapter 8) and how failed challenges
# count (partition policy 15, "Ignore failed challenge responses"):
# - at 1, the default, a wrong challenge is refused and not counted; at 0 it
#   counts toward policy 20's limit; turning it back on erases the objects;
# - a reset (role resetpw) deletes the cached secret: the old challenge alone
#   no longer logs in;
# - a challenge set by someone else (the Partition SO) deactivates the role;
#   one the CO sets for itself does not.
# Also: the reference's spelling -challengeSecret.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so hdom po pdom co co2
start_hsm
# ped_up BLACK-KEY: the PED, whose CO holder presents that key
ped_up() {
	cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[pdom]}
write "SETTING PO" ${KEY[po]}
use "PO LOGIN" ${KEY[po]}
write "SETTING CO" ${KEY[co]} ${KEY[co2]}
use "CO LOGIN" ${KEY[$1]}
P
	: >"$T/A.events"
	start_ped A $HSM_SERIAL "$T/a.policy"
}
ped_down() { kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"; }
ped_up co
# HSM policy 21 off: the CO uses the challenge the Partition SO set (hsm_policy21.sh covers it on)
hsmcm -c "hsm init -label rules; role login -name so; hsm changepolicy -policy 15 -value 1; hsm changehsmpolicy -policy 21 -value 0;
partition create -label p1; slot set -slot 1; partition init -label p1; role login -name po; role init -name co;
role createchallenge -name co -challengeSecret \"open sesame\"; partition changepolicy -policy 22 -value 1;
partition changepolicy -policy 20 -value 3; partition showpolicies"
[ $RC -eq 0 ] || fail "setup: $OUT"
expect_contains "$OUT" "15: Ignore failed challenge responses : 1"
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\"; object create -label k -value v"
[ $RC -eq 0 ] || fail "first CO login: $OUT"
expect_contains "$OUT" "Role co activated"

note "partition policy 15 at 1: wrong challenges are refused, not counted"
for i in 1 2 3 4; do
	hsmcm -c "slot set -slot 1; role login -name co -password wrong-guess"
	expect_contains "$OUT" "CKR_PIN_INCORRECT"
	expect_not_contains "$OUT" "locked"
done
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\""
[ $RC -eq 0 ] || fail "four uncounted wrong challenges locked the CO (limit 3): $OUT"
expect_contains "$OUT" "User is activated, PED is not required."

note "at 0 they count toward policy 20's limit"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 15 -value 0"
[ $RC -eq 0 ] || fail "policy 15 to 0: $OUT"
expect_not_contains "$OUT" "erased"
for i in 1 2 3; do
	hsmcm -c "slot set -slot 1; role login -name co -password wrong-guess"
	expect_contains "$OUT" "CKR_PIN_INCORRECT"
done
expect_contains "$OUT" "Too many failed logins: the role is locked."
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\""
expect_contains "$OUT" "CKR_PIN_LOCKED"

note "turning it back on is destructive: -force, and the objects go"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 15 -value 1"
[ $RC -ne 0 ] || fail "a destructive policy change without -force"
expect_contains "$OUT" "CAUTION: turning on partition policy 15 erases all 1 objects"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 15 -value 1 -force; partition showpolicies"
[ $RC -eq 0 ] || fail "policy 15 to 1 with -force: $OUT"
expect_contains "$OUT" "All 1 objects of the partition were erased."
expect_contains "$OUT" "15: Ignore failed challenge responses : 1"

note "a reset deletes the cached secret: the old challenge alone does not log in"
ped_down
ped_up co2 # the reset writes the next black key
hsmcm -c "slot set -slot 1; role login -name po; role resetpw -name co"
[ $RC -eq 0 ] || fail "resetpw: $OUT"
ped_down
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\""
[ $RC -ne 0 ] || fail "the old activation survived the reset: $OUT"
expect_not_contains "$OUT" "User is activated"
expect_contains "$OUT" "CKR_PED_UNPLUGGED"
ped_up co2
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\""
[ $RC -eq 0 ] || fail "login with the new black key: $OUT"
expect_contains "$OUT" "Role co activated"

note "a challenge the Partition SO sets deactivates the CO; one the CO sets does not"
hsmcm -c "slot set -slot 1; role login -name po; role createchallenge -name co -challenge \"po knows this\""
[ $RC -eq 0 ] || fail "createchallenge by the Partition SO: $OUT"
expect_contains "$OUT" "Role co deactivated"
ped_down
hsmcm -c "slot set -slot 1; role login -name co -password \"po knows this\""
[ $RC -ne 0 ] || fail "the Partition SO logged in as the activated CO without the black key: $OUT"
expect_contains "$OUT" "CKR_PED_UNPLUGGED"
ped_up co2
hsmcm -c "slot set -slot 1; role login -name co -password \"po knows this\"; role createchallenge -name co -challenge \"co's own\""
[ $RC -eq 0 ] || fail "CO login and own challenge: $OUT"
expect_not_contains "$OUT" "deactivated"
expect_not_contains "$OUT" "Error:" # it said "log in as Partition SO first", then went ahead
ped_down
hsmcm -c "slot set -slot 1; role login -name co -password \"co's own\""
[ $RC -eq 0 ] || fail "the CO's own new challenge: $OUT"
expect_contains "$OUT" "User is activated, PED is not required."
echo "activation rules ok"
