#!/bin/bash
# Chapter 5, "Black Crypto Officer PED key": with HSM policy 15 (Enable SO
# reset of partition PIN) at 0, the default, the Partition SO cannot reset
# the CO ("the CO is locked out"); the CO can always reset the CU. Turning
# the policy on is destructive: every partition is erased. With it on, the
# Partition SO resets the CO to a new black key, and only that key logs in.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so dom po pdom co cu cu2 po2 pdom2 co2 co3
start_hsm
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
write "SETTING DOMAIN" ${KEY[dom]} ${KEY[pdom]} ${KEY[pdom2]}
use "SO LOGIN" ${KEY[so]}
write "SETTING PO" ${KEY[po]} ${KEY[po2]}
use "PO LOGIN" ${KEY[po]} / ${KEY[po2]}
write "SETTING CO" ${KEY[co]} ${KEY[co2]} ${KEY[co3]}
use "CO LOGIN" ${KEY[co]} / ${KEY[co3]} / ${KEY[co2]}
write "SETTING CU" ${KEY[cu]} ${KEY[cu2]}
P
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label p15; hsm showpolicies"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
expect_contains "$OUT" "15: Enable SO reset of partition PIN -> 0"

note "policy 15 at 0 (default): the Partition SO cannot reset the CO; the CO resets the CU"
hsmcm -c "role login -name so; partition create -label p1; slot set -slot 1; partition init -label p1;
role login -name po; role init -name co; role resetpw -name co"
[ $RC -ne 0 ] || fail "the Partition SO reset the CO with policy 15 at 0"
expect_contains "$OUT" "HSM policy 15 (Enable SO reset of partition PIN) is 0"
expect_contains "$OUT" "Command Result : 0x1b (CKR_ACTION_PROHIBITED)"
hsmcm -c "slot set -slot 1; role login -name co; role init -name cu; role resetpw -name cu"
[ $RC -eq 0 ] || fail "the CO reset the CU: $OUT"
"$BIN/ikey" show "${KEY[cu2]}" | grep -qi "user" || fail "no new gray key written: $("$BIN/ikey" show "${KEY[cu2]}")"

note "turning policy 15 on needs the HSM SO and -force while partitions exist; it erases them"
hsmcm -c "hsm changepolicy -policy 15 -value 1"
[ $RC -ne 0 ] || fail "changepolicy without the SO logged in"
expect_contains "$OUT" "log in as HSM SO first"
hsmcm -c "role login -name so; hsm changepolicy -policy 15 -value 1"
[ $RC -ne 0 ] || fail "a destructive policy change without -force"
expect_contains "$OUT" "CAUTION: turning on HSM policy 15 erases all 1 partitions"
hsmcm -c "role login -name so; hsm changepolicy -policy 15 -value 1 -force; hsm showpolicies; hsm showinfo"
[ $RC -eq 0 ] || fail "changepolicy -force: $OUT"
expect_contains "$OUT" "All partitions and their contents were erased."
expect_contains "$OUT" "15: Enable SO reset of partition PIN -> 1"
expect_contains "$OUT" "Partitions -> 0"

note "with policy 15 on, kept across a restart, the Partition SO resets the CO; only the new key logs in"
kill -TERM "$HSM_PID"; wait_gone 10 "$HSM_PID"
start_hsm
wait_for 20 eval '[ $(grep -c "\"event\":\"attached\"" "$T/A.events") -ge 2 ]' || fail "the PED did not attach again"
hsmcm -c "role login -name so; partition create -label p2; slot set -slot 1; partition init -label p2;
role login -name po; role init -name co; role resetpw -name co"
[ $RC -eq 0 ] || fail "the Partition SO reset the CO with policy 15 at 1: $OUT"
hsmcm -c "slot set -slot 1; role login -name co; object create -label k -value v"
[ $RC -eq 0 ] || fail "the new CO key (the reset's) does not log in: $OUT"
hsmcm -c "slot set -slot 1; role login -name co"
[ $RC -ne 0 ] || fail "the CO key replaced by the reset still logs in"
expect_contains "$OUT" "CKR_PIN_INCORRECT"

note "back at 0, role init over the existing CO is a reset too, and refused"
hsmcm -c "role login -name so; hsm changepolicy -policy 15 -value 0; slot set -slot 1; role login -name po; role init -name co"
[ $RC -ne 0 ] || fail "role init replaced the CO's credential with policy 15 at 0"
expect_contains "$OUT" "HSM policy 15 (Enable SO reset of partition PIN) is 0"
expect_contains "$OUT" "CKR_ACTION_PROHIBITED"
echo "HSM policy 15 ok"
