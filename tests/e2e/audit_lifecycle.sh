#!/bin/bash
# The Auditor's lifecycle against the HSM's (as the reference's): "the
# Auditor role cannot be initialized by another role" (role init -name au
# with the HSM SO or the Auditor logged in is refused: log out first); the
# Auditor and the log (its secret and configuration) survive "hsm init", a
# soft re-initialization the HSM SO can run, and "hsm init" is itself a
# logged event; "hsm zeroize" (the factory reset) destroys them.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so dom au
# the second hsm init reuses the first's blue and red keysets
cat >"$T/a.policy" <<P
reuse "SETTING SO" no yes
write "SETTING SO" ${KEY[so]}
use "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no yes
write "SETTING DOMAIN" ${KEY[dom]}
use "SETTING DOMAIN" ${KEY[dom]}
write "SETTING AU" ${KEY[au]}
use "AU LOGIN" ${KEY[au]}
P
start_hsm
start_ped A $HSM_SERIAL "$T/a.policy"
SPOOL="$T/state/hsm-$HSM_SERIAL.auditq"
MASK="event mask        : access,manage,keymanage,usage,first,external,logmanage,success,failure"

note "role init -name au while the HSM SO is logged in: refused, log out first"
hsmcm -c "hsm init -label first; role login -name so; role init -name au"
[ $RC -ne 0 ] || fail "another role initialized the Auditor: $OUT"
expect_contains "$OUT" "Error: the Auditor cannot be initialized by another role, and the HSM SO is logged in: log out first"
expect_contains "$OUT" "CKR_USER_ALREADY_LOGGED_IN"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "Audit Role Initialized -> No"

note "logged out, the Auditor is made (the PED's white keyset) and turns the log on"
hsmcm -c "role login -name so; role logout; role init -name au
role login -name au; audit config evmask all"
[ $RC -eq 0 ] || fail "setup: $OUT"

note "nor may the Auditor re-initialize itself while logged in"
hsmcm -c "role login -name au; role init -name au"
[ $RC -ne 0 ] || fail "the logged-in Auditor re-initialized the role: $OUT"
expect_contains "$OUT" "the Auditor is logged in: log out first"
grep -q '|manage|F|au|0|0|0x00000100|role init|-name au|' "$SPOOL" || fail "no record of the refusal: $(cat "$SPOOL")"

note "hsm init again: partitions go, the Auditor and the log stay; the init is logged"
hsmcm -c "role login -name so; partition create -label p1; hsm init -label second -force"
[ $RC -eq 0 ] || fail "re-initialization: $OUT"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "Audit Role Initialized -> Yes"
expect_contains "$OUT" "Partitions -> 0"
expect_contains "$OUT" "Label -> second"
grep -q '|manage|S|so|0|0|0x00000000|hsm init|-label second|' "$SPOOL" || fail "no hsm init record: $(cat "$SPOOL")"
! grep -q '|audit end|' "$SPOOL" || fail "the re-initialization ended the log: $(cat "$SPOOL")"
# the same Auditor logs in (no new role init), its configuration is as it
# was, and the log is one chain across the re-initialization
hsmcm -c "role login -name au; audit config get; audit verify -file $SPOOL"
[ $RC -eq 0 ] || fail "the Auditor after hsm init: $OUT"
expect_contains "$OUT" "$MASK"
expect_contains "$OUT" "Verified messages 1 to "
expect_contains "$OUT" "hsm init: -label second"

note "hsm zeroize: the Auditor and the log secret go"
hsmcm -c "hsm zeroize -force; hsm showinfo"
[ $RC -eq 0 ] || fail "zeroize: $OUT"
expect_contains "$OUT" "Audit Role Initialized -> No"
grep -q '|logmanage|S|.*|audit end|the HSM was zeroized' "$SPOOL" || fail "no audit end record: $(cat "$SPOOL")"
hsmcm -c "role login -name au"
[ $RC -ne 0 ] || fail "the Auditor logged in after a zeroization: $OUT"
echo "auditor lifecycle across hsm init and zeroize ok"
