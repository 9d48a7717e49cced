#!/bin/bash
# ped set answers as chapter 5 shows it (line 4174): "Command Result : 0
# (Success)"; its defaults survive a restart, and a refused ped set still
# answers with an error code.
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
echo "ped set ok"
