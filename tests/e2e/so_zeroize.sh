#!/bin/bash
# Issue acceptance: three wrong HSM SO logins zeroize that HSM and nothing
# else.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so dom bso bdom
start_hsm
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
write "SETTING DOMAIN" ${KEY[dom]}
use "SO LOGIN" ${KEY[so]}
P
cat >"$T/b.policy" <<P
write "SETTING SO" ${KEY[bso]}
write "SETTING DOMAIN" ${KEY[bdom]}
P
start_ped A $HSM_SERIAL "$T/a.policy"
start_ped B $BACKUP_SERIAL "$T/b.policy"
hsmcm -c "slot set -slot 20; hsm init -label backup; slot set -slot 0; hsm init -label main; role login -name so; partition create -label p1"
[ $RC -eq 0 ] || fail "setup: $OUT"

note "another keyset's blue key is a wrong secret: counted"
# The backup HSM's blue SO key is the right colour with the wrong secret.
kill -TERM $PED_A_PID; wait_gone 10 $PED_A_PID
cat >"$T/a.policy" <<P
use "SO LOGIN" ${KEY[bso]}
P
: >"$T/A.events"
start_ped A $HSM_SERIAL "$T/a.policy"
for n in 3 2; do
	hsmcm -c "role login -name so"
	[ $RC -ne 0 ] || fail "a wrong SO key logged in"
	expect_contains "$OUT" "Caution: You have only $n so login attempts left."
	expect_contains "$OUT" "Command Result : 0xa0 (CKR_PIN_INCORRECT)"
done
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 2 of 3"
hsmcm -c "role login -name so"
expect_contains "$OUT" "Caution: You have only 1 so login attempts left."
expect_contains "$OUT" "the HSM has been ZEROIZED"
expect_contains "$OUT" "CKR_PIN_INCORRECT"

note "that HSM is zeroized; the backup HSM is untouched"
hsmcm -c "slot list; hsm showinfo"
expect_contains "$OUT" "HSM Initialized -> no (zeroized)"
expect_not_contains "$OUT" "Slot Id ->              1"
hsmcm -c "slot set -slot 20; hsm showinfo"
expect_contains "$OUT" "Label -> backup"
expect_contains "$OUT" "HSM Initialized -> yes"
expect_contains "$OUT" "SO failed logins -> 0 of 3"
echo PASS
