#!/bin/bash
# A backup to a backup partition made with the wrong red key: the reference
# (002, line 5) fails with CKR_CERTIFICATE_INVALID and leaves an empty
# backup partition for the operator to delete. hsm-sim fails the same way
# but leaves nothing on the backup HSM: a deliberate difference, documented
# in docs/operator-guide.md ("Backup and restore"). This suite holds it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so hdom po dom co bso bdom bpo other
start_hsm
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[dom]}
write "SETTING PO" ${KEY[po]}
use "PO LOGIN" ${KEY[po]}
write "SETTING CO" ${KEY[co]}
use "CO LOGIN" ${KEY[co]}
P
# the backup's key holders present a red key of another domain
cat >"$T/b.policy" <<P
write "SETTING SO" ${KEY[bso]}
use "SO LOGIN" ${KEY[bso]}
reuse "SETTING DOMAIN" no
write "SETTING DOMAIN" ${KEY[bdom]} ${KEY[other]}
write "SETTING PO" ${KEY[bpo]}
use "PO LOGIN" ${KEY[bpo]}
P
start_ped A $HSM_SERIAL "$T/a.policy"
start_ped B $BACKUP_SERIAL "$T/b.policy"
hsmcm -c "slot set -slot 20; hsm init -label bk; slot set -slot 0; hsm init -label main; role login -name so; partition create -label p1; slot set -slot 1; partition init -label p1; role login -name po; role init -name co; role login -name co; object create -label k -value v"
[ $RC -eq 0 ] || fail "setup: $OUT"
hsmcm -c "slot set -slot 1; role login -name co; partition archive backup -slot 20 -partition wrongdom"
[ $RC -ne 0 ] || fail "a backup into another domain succeeded: $OUT"
expect_contains "$OUT" "Command Result : 0x80000141 (CKR_CERTIFICATE_INVALID)"
hsmcm -c "slot set -slot 1; partition archive list -slot 20"
expect_contains "$OUT" "0 backup partitions on slot 20."
echo "a failed backup leaves nothing behind: ok"
