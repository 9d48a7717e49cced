#!/bin/bash
# ped set answers as chapter 5 shows it (line 4174): "Command Result : 0
# (Success)"; its defaults survive a restart, and a refused ped set still
# answers with an error code. ped connect -ip takes an address no longer
# than ped set does.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

start_hsm
hsmcm -c "ped set -ip 192.124.106.100 -port 1503"
[ $RC -eq 0 ] || fail "ped set: $OUT"
expect_contains "$OUT" "Command Result : 0 (Success)"
expect_not_contains "$OUT" "No Error"
hsmcm -c "ped get"
expect_contains "$OUT" "Default Remote PED server (ped set): 192.124.106.100:1503"
expect_contains "$OUT" "Command Result : No Error"
hsmcm -c "ped set"
[ $RC -ne 0 ] || fail "ped set without -ip or -port: $OUT"
expect_contains "$OUT" "Command Result : 0x7 (CKR_ARGUMENTS_BAD)"

# ped connect -ip takes no more than ped set does: pedclient was handed a
# longer name cut to 64 characters and dialled that other host, while
# hsmcm said the whole name could not be reached.
long=pedserver-number-one.operations.datacentre-east.example-corporation.internal
hsmcm -c "ped set -ip $long"
[ $RC -ne 0 ] || fail "ped set with a ${#long}-character address: $OUT"
expect_contains "$OUT" "Error: the address is longer than 63 characters"
hsmcm -c "ped connect -ip $long -port 1503 -password"
[ $RC -ne 0 ] || fail "ped connect with a ${#long}-character address: $OUT"
expect_contains "$OUT" "Error: the address is longer than 63 characters"
expect_contains "$OUT" "Command Result : 0x7 (CKR_ARGUMENTS_BAD)"
expect_not_contains "$OUT" "enter following password"
echo "ped set ok"
