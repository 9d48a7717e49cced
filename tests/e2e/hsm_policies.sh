#!/bin/bash
# HSM policies 7 (Allow cloning, destructive), 12 (not on a backup HSM:
# CKR_CANCEL), 16 (Allow network replication), 21 (Force user PIN change
# after set/reset, on by default: a challenge secret set by another role must be changed by its role before
# anything else, a restore included), 55 (Enable Restricted Restore, backup
# HSMs only: elsewhere CKR_CANCEL), and partition policies 25 and 26 (the
# challenge secret's length).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so hdom po pdom co bso bdom
start_hsm
all_roles_policy >"$T/a.policy"
printf 'write "SETTING SO" %s\nuse "SO LOGIN" %s\nwrite "SETTING DOMAIN" %s\n' "${KEY[bso]}" "${KEY[bso]}" "${KEY[bdom]}" >"$T/b.policy"
start_ped A $HSM_SERIAL "$T/a.policy"
start_ped B $BACKUP_SERIAL "$T/b.policy"
hsmcm -c "slot set -slot 20; hsm init -label bk; slot set -slot 0; hsm init -label pol; role login -name so; partition create -label p1; slot set -slot 1; partition init -label p1; role login -name po; role init -name co; partition changepolicy -policy 22 -value 1; slot set -slot 0; hsm showpolicies"
[ $RC -eq 0 ] || fail "setup: $OUT"
expect_contains "$OUT" "7: Allow cloning -> 1"
expect_contains "$OUT" "16: Allow network replication -> 1"
expect_contains "$OUT" "21: Force user PIN change after set/reset -> 1"
expect_not_contains "$OUT" "55:"

note "policy 55 applies to backup HSMs only"
hsmcm -c "role login -name so; hsm changehsmpolicy -policy 55 -value 1"
[ $RC -ne 0 ] || fail "policy 55 on an HSM: $OUT"
expect_contains "$OUT" "Command Result : 0x1 (CKR_CANCEL)"
hsmcm -c "slot set -slot 20; role login -name so; hsm changehsmpolicy -policy 55 -value 1; hsm showpolicies"
[ $RC -eq 0 ] || fail "policy 55 on the backup HSM: $OUT"
expect_contains "$OUT" "55: Enable Restricted Restore -> 1"

note "policy 12 (Allow non-FIPS algorithms) does not apply to a backup HSM: CKR_CANCEL (chapter 12)"
hsmcm -c "slot set -slot 20; role login -name so; hsm changehsmpolicy -policy 12 -value 0"
[ $RC -ne 0 ] || fail "policy 12 on the backup HSM: $OUT"
expect_contains "$OUT" "does not apply to a backup HSM"
expect_contains "$OUT" "Command Result : 0x1 (CKR_CANCEL)"

note "policy 21: the CO must change the challenge the Partition SO set before anything else"
hsmcm -c "slot set -slot 1; role login -name po; role createchallenge -name co -challenge \"open sesame\""
[ $RC -eq 0 ] || fail "createchallenge: $OUT"
expect_contains "$OUT" "must change this challenge secret before anything else"
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\"; object create -label k -value v"
[ $RC -ne 0 ] || fail "the CO acted before changing its challenge: $OUT"
expect_contains "$OUT" "change it now (role changepw -name co -oldpw OLD -newpw NEW)"
expect_contains "$OUT" "Command Result : 0xa3 (CKR_PIN_EXPIRED)"
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\"; partition archive restore -slot 20 -partition none"
[ $RC -ne 0 ] || fail "a restore before the change: $OUT"
expect_contains "$OUT" "CKR_PIN_EXPIRED"
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\"; role changepw -name co -oldpw \"open sesame\" -newpw \"sesame opens\"; object create -label k -value v"
[ $RC -eq 0 ] || fail "after the change: $OUT"
hsmcm -c "slot set -slot 1; role login -name co -password \"sesame opens\"; partition contents"
[ $RC -eq 0 ] || fail "the new challenge: $OUT"
expect_contains "$OUT" "Object Label: k"

note "partition policies 25 and 26: the challenge's length"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 25 -value 245; partition changepolicy -policy 26 -value 20; partition showpolicies"
[ $RC -eq 0 ] || fail "policies 25 and 26: $OUT"
expect_contains "$OUT" "25: Minimum pin length (inverted 255 - min) : 245"
expect_contains "$OUT" "26: Maximum pin length : 20"
hsmcm -c "slot set -slot 1; role login -name po; role createchallenge -name co -challenge \"nine char\""
[ $RC -ne 0 ] || fail "a 9-character challenge under a 10 minimum: $OUT"
expect_contains "$OUT" "Command Result : 0xa2 (CKR_PIN_LEN_RANGE)"
hsmcm -c "slot set -slot 1; role login -name po; role createchallenge -name co -challenge \"twenty-one characters\""
[ $RC -ne 0 ] || fail "a 21-character challenge over a 20 maximum: $OUT"
expect_contains "$OUT" "CKR_PIN_LEN_RANGE"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 25 -value 248"
[ $RC -ne 0 ] || fail "a minimum under 8: $OUT"

note "policy 21 off: a challenge the Partition SO set is used as it is"
hsmcm -c "role login -name so; hsm changehsmpolicy -policy 21 -value 0; slot set -slot 1; role login -name po; role createchallenge -name co -challenge \"ten chars!\"; role logout; role login -name co -password \"ten chars!\"; object create -label k2 -value v2"
[ $RC -eq 0 ] || fail "policy 21 off: $OUT"

note "policy 16 off: no backup or restore of this HSM's partitions"
hsmcm -c "role login -name so; hsm changehsmpolicy -policy 16 -value 0; slot set -slot 1; role login -name co -password \"ten chars!\"; partition archive backup -slot 20 -partition b1"
[ $RC -ne 0 ] || fail "a backup with policy 16 off: $OUT"
expect_contains "$OUT" "HSM policy 16 (Allow network replication) is 0"
expect_contains "$OUT" "Command Result : 0x1b (CKR_ACTION_PROHIBITED)"

note "policy 7 is destructive: -force, and every partition goes"
hsmcm -c "role login -name so; hsm changehsmpolicy -policy 16 -value 1; hsm changehsmpolicy -policy 7 -value 0"
[ $RC -ne 0 ] || fail "policy 7 without -force: $OUT"
expect_contains "$OUT" "CAUTION: turning off HSM policy 7 erases all 1 partitions"
hsmcm -c "role login -name so; hsm changehsmpolicy -policy 7 -value 0 -force; hsm showpolicies; hsm showinfo"
[ $RC -eq 0 ] || fail "policy 7 with -force: $OUT"
expect_contains "$OUT" "7: Allow cloning -> 0"
expect_contains "$OUT" "Partitions -> 0"

note "the policies survive a restart"
kill -TERM "$HSM_PID"; wait_gone 10 "$HSM_PID"
rm -f "$T/ped-$BACKUP_SERIAL.sock"
start_hsm
hsmcm -c "hsm showpolicies; slot set -slot 20; hsm showpolicies"
expect_contains "$OUT" "7: Allow cloning -> 0"
expect_contains "$OUT" "21: Force user PIN change after set/reset -> 0"
expect_contains "$OUT" "55: Enable Restricted Restore -> 1"
echo "HSM and PIN length policies ok"
