#!/bin/bash
# Each HSM has its own command lock. A ceremony that keeps its HSM's lock
# while it waits on its PED (hsm init) holds up no command on another HSM,
# and slot list does not wait for it at all; a command on the same HSM
# waits its turn and then runs.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

start_hsm
# a PED with no answerer: hsm init waits on it until the PED goes
start_ped A $HSM_SERIAL - -keytimeout 600

( exec timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "hsm init -label slow" >"$T/init.out" 2>&1 ) &
INIT_PID=$!
wait_for 20 grep -q '"event":"request"' "$T/A.events" || fail "hsm init never reached the PED: $(cat "$T/init.out")"

note "a command on the same HSM waits for the ceremony"
( exec timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "hsm showinfo" >"$T/same.out" 2>&1 ) &
SAME_PID=$!

note "the backup HSM answers meanwhile"
hsmcm -c "slot set -slot 20; hsm showinfo"
[ $RC -eq 0 ] || fail "the backup HSM waited on another HSM's ceremony: $OUT"
expect_contains "$OUT" "Serial Number -> $BACKUP_SERIAL"

note "slot list answers meanwhile, from what the HSMs were before"
hsmcm -c "slot list"
[ $RC -eq 0 ] || fail "slot list: $OUT"
expect_contains "$OUT" "Serial Number ->        $HSM_SERIAL"
expect_not_contains "$OUT" "slow"
expect_not_contains "$(cat "$T/same.out")" "Command Result" "the command on the HSM in its ceremony"
alive "$INIT_PID" || fail "hsm init ended early: $(cat "$T/init.out")"

note "the PED goes: the ceremony fails and the waiting command runs"
kill -TERM "$PED_A_PID"
wait_gone 10 "$PED_A_PID"
set +e
wait "$INIT_PID"
wait "$SAME_PID"
rc=$?
set -e
[ $rc -eq 0 ] || fail "the waiting command failed (rc $rc): $(cat "$T/same.out")"
expect_not_contains "$(cat "$T/init.out")" "Command Result : No Error" "hsm init without its PED"
expect_contains "$(cat "$T/same.out")" "HSM Initialized -> no"
echo "hsm-sim per-HSM command locks ok"
