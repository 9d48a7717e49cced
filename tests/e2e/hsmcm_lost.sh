#!/bin/bash
# Regression: hsm-sim killed while a command waits on the PED. hsmcm printed
# only "lost hsm-sim: PED_E_CLOSED" on stderr, no CKR_* result, so scripts
# that read "Command Result" saw nothing; now it reports CKR_DEVICE_ERROR
# (the outcome of that command is unknown) and exits non-zero, at once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
new_keys so dom
start_hsm
printf 'write "SETTING SO" %s\nwrite "SETTING DOMAIN" %s\n' "${KEY[so]}" "${KEY[dom]}" >"$T/a.policy"
start_ped A $HSM_SERIAL "$T/a.policy"
kill -STOP "$PED_A_PID" # the key holder walked away mid-ceremony
( exec timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "hsm init -label lost" >"$T/out" 2>&1 ) &
CPID=$!
wait_for 20 grep -q "Please attend to the PED" "$T/out" || fail "hsm init did not start: $(cat "$T/out")"
kill -KILL "$HSM_PID"
wait_for 10 eval "! alive $CPID" || fail "hsmcm hangs after hsm-sim died"
if wait $CPID; then fail "hsmcm exited 0"; fi
expect_contains "$(cat "$T/out")" "Command Result : 0x30 (CKR_DEVICE_ERROR)"
expect_contains "$(cat "$T/out")" "lost hsm-sim"
kill -CONT "$PED_A_PID"
echo "hsmcm lost ok"
