#!/bin/bash
# Issue acceptance: with headless PEDs, one hsmcm -f script initializes an
# HSM (blue 2-of-3 with PINs, red 1-of-1), a partition and its CO, logs in,
# creates objects, backs them up to the backup HSM and restores them to a
# second partition in the same domain; a third partition in another domain
# fails the restore with CKR_CERTIFICATE_INVALID and keeps its contents.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so1 so2 so3 hsmdom po1 dom1 co1 po2 co2 po3 dom3 co3 bso bdom bpo bco
start_hsm

# PED A serves the HSM, PED B the backup HSM; each answers from its policy,
# as the key holders standing at each PED would.
cat >"$T/a.policy" <<P
mofn "SETTING SO" 2 3
write "SETTING SO" ${KEY[so1]} ${KEY[so2]} ${KEY[so3]}
newpin "SETTING SO" 11112222 33334444 55556666
pin ${KEY[so1]} 11112222
pin ${KEY[so2]} 33334444
pin ${KEY[so3]} 55556666
use "SO LOGIN" ${KEY[so1]} ${KEY[so3]}
# domains: the HSM's, p1's, p2 reuses p1's, p3 gets its own
reuse "SETTING DOMAIN" no no yes no
write "SETTING DOMAIN" ${KEY[hsmdom]} ${KEY[dom1]} ${KEY[dom3]}
use "READING DOMAIN" ${KEY[dom1]}
use "SETTING DOMAIN" ${KEY[dom1]}
write "SETTING PO" ${KEY[po1]} ${KEY[po2]} ${KEY[po3]}
use "PO LOGIN" ${KEY[po1]} / ${KEY[po2]} / ${KEY[po3]}
write "SETTING CO" ${KEY[co1]} ${KEY[co2]} ${KEY[co3]}
use "CO LOGIN" ${KEY[co1]} / ${KEY[co2]} / ${KEY[co3]}
P
cat >"$T/b.policy" <<P
write "SETTING SO" ${KEY[bso]}
use "SO LOGIN" ${KEY[bso]}
reuse "SETTING DOMAIN" no yes
write "SETTING DOMAIN" ${KEY[bdom]}
use "READING DOMAIN" ${KEY[dom1]}
use "SETTING DOMAIN" ${KEY[dom1]}
write "SETTING PO" ${KEY[bpo]}
use "PO LOGIN" ${KEY[bpo]}
write "SETTING CO" ${KEY[bco]}
use "CO LOGIN" ${KEY[bco]}
P
# SO keys with PINs, logged in again and again: the cheap test cost, on purpose
start_ped A $HSM_SERIAL "$T/a.policy" -pinmaskcost 8
start_ped B $BACKUP_SERIAL "$T/b.policy"

cat >"$T/main.cmds" <<C
# the backup HSM, then the HSM: blue 2-of-3 with PINs, red 1-of-1
slot set -slot 20
hsm init -label backup
slot set -slot 0
hsm init -label main
role login -name so
partition create -label p1
partition create -label p2
partition create -label p3
slot list
# p1: its PO and domain, its CO, objects
slot set -slot 1
partition init -label p1
role login -name po
role init -name co
role login -name co
object create -label alpha -value one
object create -label beta -value two
object create -label gamma -value three
partition archive backup -slot 20 -partition bk1
partition archive list -slot 20
partition archive contents -slot 20 -partition bk1
# p2: the same domain (p1's red key reused); restore the backup into it
slot set -slot 2
partition init -label p2
role login -name po
role init -name co
role login -name co
partition archive restore -slot 20 -partition bk1
partition contents
# again: p2 holds those objects (same OUID), which a restore skips (chapter 12)
partition archive restore -slot 20 -partition bk1
partition contents
C
note "one hsmcm -f script: init, partition, CO, login, objects, backup, restore"
hsmcm -f "$T/main.cmds"
[ $RC -eq 0 ] || { cat "$T/A.log" "$T/B.log" >&2; fail "main script failed: $OUT"; }
expect_contains "$OUT" "Successfully initialized the HSM."
expect_contains "$OUT" "Caution: You have only 3 so login attempts left."
expect_contains "$OUT" "Slot Id ->              3"
expect_contains "$OUT" "Logging in as the SO on slot 20."
expect_contains "$OUT" "Creating Domain for the partition bk1 on slot 20."
expect_contains "$OUT" "3 objects have been backed up to partition bk1"
expect_contains "$OUT" "Partition: bk1  Objects: 3"
expect_contains "$OUT" "Backup partition bk1 on slot 20:"
# each object: label, handle, class, ID, OUID, the backup's and the restored copy alike
grep -q "Object Label: beta  Handle: [0-9]*  Object Type: Data  ID: (none)  Object UID: [0-9a-f]\{16\}" <<<"$OUT" ||
	fail "contents lines: $OUT"
ouid=$(grep -o "Object Label: gamma .*Object UID: [0-9a-f]*" <<<"$OUT" | head -n 1 | sed 's/.*UID: //')
[ "$(grep -c "Object Label: gamma .*Object UID: $ouid" <<<"$OUT")" -ge 2 ] || fail "the OUID is not kept: $OUT"
expect_contains "$OUT" "Restore Complete. 3 objects have been restored."
expect_contains "$OUT" "Object Label: gamma"
expect_contains "$OUT" "Restore Complete. 0 objects have been restored."
expect_not_contains "$OUT" "Number of objects: 6"
expect_not_contains "$OUT" "Error in execution"

note "the keys were written as asked: 2-of-3 blue with PINs, 1-of-1 red"
"$BIN/ikey" show "${KEY[so2]}" >"$T/so2.txt"
grep -q "2 of 3" "$T/so2.txt" || grep -qi "index.*2" "$T/so2.txt" || fail "so2 is not split 2 of 3: $(cat "$T/so2.txt")"

cat >"$T/p3.cmds" <<C
slot set -slot 3
partition init -label p3
role login -name po
role init -name co
role login -name co
object create -label mine -value kept
partition archive restore -slot 20 -partition bk1
C
note "a partition in another domain: restore fails with CKR_CERTIFICATE_INVALID"
hsmcm -f "$T/p3.cmds"
[ $RC -ne 0 ] || fail "restore into another domain succeeded: $OUT"
expect_contains "$OUT" "Command Result : 0x80000141 (CKR_CERTIFICATE_INVALID)"

note "and p3 keeps exactly what it had"
hsmcm -c "slot set -slot 3; role login -name co; partition contents"
[ $RC -eq 0 ] || fail "p3 contents: $OUT"
expect_contains "$OUT" "Object Label: mine"
expect_contains "$OUT" "Number of objects: 1"

note "state survives a restart of hsm-sim"
kill -TERM "$HSM_PID"
wait_gone 20 "$HSM_PID" || fail "hsm-sim did not stop on SIGTERM"
[ ! -e "$HSM_SOCK" ] || fail "control socket left behind"
for f in "$T"/state/*.state; do [ "$(stat -c %a "$f")" = 600 ] || fail "$f is not mode 0600"; done
start_hsm
hsmcm -c "slot list; partition archive list -slot 20"
expect_contains "$OUT" "Label ->                p2"
expect_contains "$OUT" "Partition: bk1  Objects: 3"
echo "PASS"
