#!/bin/bash
# Re-initializing a partition (chapter 6, "Re-initializing an Existing
# Partition"): the PED asks for the current Partition SO key, with no login
# before; the objects, the Crypto Officer and the Crypto User go; the
# Partition SO credential and the cloning domain stay (no new blue or red
# key is written, the old blue key still logs in). A wrong blue key changes
# nothing and counts as a failed Partition SO login.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so hdom po dom co co2 other
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
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label reinit; role login -name so; partition create -label p1; slot set -slot 1; partition init -label p1; role login -name po; role init -name co; role login -name co; object create -label k -value v"
[ $RC -eq 0 ] || fail "setup: $OUT"
json() { "$BIN/ikey" list -json; }
before=$(json)

note "a wrong blue key: nothing changes, one failed Partition SO login"
kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"; rm -f "$T/A.events"
printf 'use "PO LOGIN" %s\n' "${KEY[other]}" >"$T/wrong.policy"
"$BIN/ikey" list >/dev/null
start_ped A $HSM_SERIAL "$T/wrong.policy"
hsmcm -c "slot set -slot 1; partition init -label p1b -force"
[ $RC -ne 0 ] || fail "re-initialized with a blank key: $OUT"

note "the current Partition SO key, asked for with no login first"
kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"; rm -f "$T/A.events"
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "slot set -slot 1; partition init -label p1b -force"
[ $RC -eq 0 ] || fail "re-initialization: $OUT"
expect_contains "$OUT" "Partition re-initialized"
grep -q '"title":"PO LOGIN..."' "$T/A.events" || fail "the PED did not ask for the Partition SO key"
! grep -q '"title":"SETTING PO PIN..."\|"title":"SETTING DOMAIN..."' "$T/A.events" || fail "new blue or red keys were written"
[ "$(json)" = "$before" ] || fail "keys changed: $(json)"

note "the old blue key logs in; the CO and its objects are gone; the label is new"
hsmcm -c "slot set -slot 1; role login -name po; slot list"
[ $RC -eq 0 ] || fail "the Partition SO key after re-initialization: $OUT"
expect_contains "$OUT" "Label ->                p1b"
hsmcm -c "slot set -slot 1; role login -name co"
[ $RC -ne 0 ] || fail "the old CO logged in: $OUT"
expect_contains "$OUT" "role co is not initialized"

note "a new CO on the re-initialized partition"
kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"; rm -f "$T/A.events"
printf 'use "PO LOGIN" %s\nwrite "SETTING CO" %s\nuse "CO LOGIN" %s\n' "${KEY[po]}" "${KEY[co2]}" "${KEY[co2]}" >"$T/co2.policy"
start_ped A $HSM_SERIAL "$T/co2.policy"
hsmcm -c "slot set -slot 1; role login -name po; role init -name co; role login -name co; partition contents"
[ $RC -eq 0 ] || fail "a new CO: $OUT"
expect_contains "$OUT" "Number of objects: 0"
echo "partition re-initialization ok"
