#!/bin/bash
# How tests/e2e/state-v7 was made: state version 7, by hsm-sim at commit
# f3416e5 (the last on main before version 8). Run from a checkout of that
# commit, built, as tests/e2e/make.sh OUTDIR; then copy OUTDIR/state/*.state,
# OUTDIR/keys/*.ikey and OUTDIR/keys.txt (sorted) here. Not a suite: the
# suites are tests/e2e/*.sh only.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
OUTDIR=$1
new_keys so hsmdom dom1 po1 co1 bso bdom bpo bco
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no yes
write "SETTING DOMAIN" ${KEY[hsmdom]} ${KEY[dom1]}
use "READING DOMAIN" ${KEY[dom1]}
use "SETTING DOMAIN" ${KEY[dom1]}
write "SETTING PO" ${KEY[po1]}
use "PO LOGIN" ${KEY[po1]}
write "SETTING CO" ${KEY[co1]}
use "CO LOGIN" ${KEY[co1]}
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
start_hsm
start_ped A $HSM_SERIAL "$T/a.policy"
start_ped B $BACKUP_SERIAL "$T/b.policy"
cat >"$T/main.cmds" <<C
slot set -slot 20
hsm init -label backup
slot set -slot 0
hsm init -label main
role login -name so
hsm changehsmpolicy -policy 21 -value 0
role login -name so
partition create -label p1
slot set -slot 1
partition init -label p1
role login -name po
role init -name co
role login -name co
object create -label alpha -value one
object create -label beta -value two
partition archive backup -slot 20 -partition bk1
partition archive list -slot 20
role logout
role login -name po
role createchallenge -name co -challenge "open sesame"
partition changepolicy -policy 22 -value 1
partition changepolicy -policy 23 -value 1
partition changepolicy -policy 15 -value 0
role logout
role login -name co -password "open sesame"
object create -label gamma -value three
C
hsmcm -f "$T/main.cmds"
echo "$OUT" | tail -20
[ $RC -eq 0 ] || fail "setup: $OUT"
hsmcm -c "slot set -slot 1; role login -name co -password \"wrong one\""
hsmcm -c "slot set -slot 1; role login -name co -password \"wrong one\""
hsmcm -c "slot set -slot 1; partition showinfo"
echo "$OUT" | grep "Crypto Officer"
kill -TERM "$PED_A_PID" "$PED_B_PID"; wait_gone 10 "$PED_A_PID"; wait_gone 10 "$PED_B_PID"
kill -TERM "$HSM_PID"; wait_gone 10 "$HSM_PID"
for k in "${!KEY[@]}"; do echo "$k ${KEY[$k]}"; done >"$T/keys.txt"
cp -a "$T/state" "$T/keys" "$T/keys.txt" "$OUTDIR/"
