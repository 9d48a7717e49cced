#!/bin/bash
# lunacm's syntax as the reference's transcripts use it: option names
# without their dash ("slot set slot 1", "ped connect ip ..."), role names
# of two words unquoted ("role login -name Crypto Officer"), commands and
# verbs shortened to a unique prefix ("par ar r", "ped g"), hsm
# changehsmpolicy, hsm init -iped / -initwithped, partition archive's
# -password, -objects and -smkonly, and "ped vector" alone.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so hsmdom po pdom co rpk bso bdom bpo bco
start_hsm
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${KEY[hsmdom]} ${KEY[pdom]}
write "SETTING PO" ${KEY[po]}
use "PO LOGIN" ${KEY[po]}
write "SETTING CO" ${KEY[co]}
use "CO LOGIN" ${KEY[co]}
write rpv ${KEY[rpk]}
P
cat >"$T/b.policy" <<P
write "SETTING SO" ${KEY[bso]}
use "SO LOGIN" ${KEY[bso]}
reuse "SETTING DOMAIN" no yes
write "SETTING DOMAIN" ${KEY[bdom]}
use "READING DOMAIN" ${KEY[pdom]}
use "SETTING DOMAIN" ${KEY[pdom]}
write "SETTING PO" ${KEY[bpo]}
use "PO LOGIN" ${KEY[bpo]}
write "SETTING CO" ${KEY[bco]}
use "CO LOGIN" ${KEY[bco]}
P
start_ped A $HSM_SERIAL "$T/a.policy"
start_ped B $BACKUP_SERIAL "$T/b.policy"

note "slot set slot N, hsm init -iped and -initwithped, hsm changehsmpolicy"
hsmcm -c "slot set slot 20; hsm init -label backup -iped; slot set slot 0; hsm init -label syntax -initwithped; role login -name so; hsm changehsmpolicy -policy 15 -value 0"
[ $RC -eq 0 ] || fail "setup: $OUT"
expect_contains "$OUT" "Current Slot Id: 20"
expect_contains "$OUT" "HSM policy 15 is already 0."

note "shortened commands and verbs; role names of two words"
hsmcm -c "slot set slot 0; ro logi -name so; par cr -label p1; slot set slot 1; partition init -label p1; role login -name Partition SO; role init -name Crypto Officer; role login -name Crypto Officer; obj create -label alpha -value one; object create -label beta -value two; par cont; ped g"
[ $RC -eq 0 ] || fail "short forms: $OUT"
expect_contains "$OUT" "Number of objects: 2"
expect_contains "$OUT" "HSM slot 1 listening to local PED (PED id=0)."

note "partition archive backup -objects, restore with -password and -replace, par ar r"
hsmcm -c "slot set slot 1; role login -name Crypto Officer; partition archive backup -slot 20 -partition bk -objects 1; par ar l -slot 20; par ar r -slot 20 -partition bk -password ClientPassword -replace"
[ $RC -eq 0 ] || fail "archive: $OUT"
expect_contains "$OUT" "1 objects will be backed up."
expect_contains "$OUT" "Partition: bk  Objects: 1"
expect_contains "$OUT" "-password, -sopassword and -domain are not used"
expect_contains "$OUT" "Restore Complete."
hsmcm -c "slot set slot 1; role login -name co; partition archive backup -slot 20 -smkonly"
[ $RC -ne 0 ] || fail "-smkonly backed something up: $OUT"
expect_contains "$OUT" "hold no SMK"
expect_contains "$OUT" "Command Result : 0x54 (CKR_FUNCTION_NOT_SUPPORTED)"

note "ambiguous and unknown short forms are refused"
hsmcm -c "p list"
[ $RC -ne 0 ] || fail "'p' ran a command: $OUT"
expect_contains "$OUT" "'p' is ambiguous"

note "ped set ip ... port ..., ped vector alone, ped connect ip ..."
hsmcm -c "ped set ip 127.0.0.1 port 1600; ped get; role login -name so; ped vector"
[ $RC -eq 0 ] || fail "ped set / ped vector: $OUT"
expect_contains "$OUT" "Default Remote PED server (ped set): 127.0.0.1:1600"
grep -q '"title":"SETTING RPV..."' "$T/A.events" || fail "ped vector did not initialize the RPV"
hsmcm -c "ped connect ip 127.0.0.1 port 1"
[ $RC -ne 0 ] || fail "ped connect without pedclient: $OUT"
expect_contains "$OUT" "pedclient is not running"

note "a script stops at its first failing command (hsmcm(1)); standard input runs every line"
hsmcm -c "slot set -slot 99; hsm showinfo"
[ $RC -eq 1 ] || fail "a failing -c script exited $RC: $OUT"
expect_not_contains "$OUT" "hsm showinfo" "a -c script after its failing command"
printf 'slot set -slot 99\nhsm showinfo\n' >"$T/fail.cmds"
hsmcm -f "$T/fail.cmds"
[ $RC -eq 1 ] || fail "a failing -f script exited $RC: $OUT"
expect_not_contains "$OUT" "hsm showinfo" "a -f script after its failing command"
hsmcm <"$T/fail.cmds"
expect_contains "$OUT" "HSM Label -> " "commands on standard input after a failing one"
echo "lunacm syntax ok"
