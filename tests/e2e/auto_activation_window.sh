#!/bin/bash
# Auto-activation as chapter 8 has it (lines 6856, 6955): turned on after a
# role was activated, it "takes effect ... the next time the role is
# authenticated", so the cache made before does not survive the next
# restart; and a cached secret survives a power loss "of up to two hours",
# not longer. The power-off time is what hsm-sim saved at its last stop; the
# restarts' clocks are moved with tests/tools/clockjump.so.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
SHIM="$TOOLS/clockjump.so"
[ -e "$SHIM" ] || fail "$SHIM not built"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export CLOCKJUMP_FILE="$T/offset"

new_keys so hdom po pdom co
start_hsm
all_roles_policy >"$T/a.policy"
start_ped A $HSM_SERIAL "$T/a.policy"
# the CO sets its own challenge: nothing for HSM policy 21 to ask
hsmcm -c "hsm init -label auto; role login -name so; partition create -label p1; slot set -slot 1; partition init -label p1; role login -name po; role init -name co; partition changepolicy -policy 22 -value 1; role login -name co; role createchallenge -name co -challenge \"open sesame\"; role logout; role login -name co -password \"open sesame\""
[ $RC -eq 0 ] || fail "setup: $OUT"
expect_contains "$OUT" "Role co activated: the PED key secret is cached."
challenge_only() { hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\""; }
# restart [OFFSET]: hsm-sim stopped (it saves the power-off time) and started with its wall clock moved
restart() {
	kill -TERM "$HSM_PID"; wait_gone 10 "$HSM_PID"
	rm -f "$T/ped-$BACKUP_SERIAL.sock"
	echo "${1:-0}" >"$CLOCKJUMP_FILE"
	LD_PRELOAD="$SHIM" start_hsm
}

note "policy 23 turned on after the activation: the cache does not survive the next restart"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 23 -value 1"
[ $RC -eq 0 ] || fail "policy 23: $OUT"
kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"
restart 0
challenge_only
[ $RC -ne 0 ] || fail "the cache made before policy 23 survived a restart: $OUT"
expect_contains "$OUT" "CKR_PED_UNPLUGGED"

note "once the CO authenticated with policy 23 on, an hour off keeps it"
rm -f "$T/A.events"
start_ped A $HSM_SERIAL "$T/a.policy"
challenge_only
[ $RC -eq 0 ] || fail "login with the PED: $OUT"
kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"
restart 3600
challenge_only
[ $RC -eq 0 ] || fail "the cache did not survive an hour off: $OUT"
expect_contains "$OUT" "User is activated, PED is not required."

note "more than two hours off: the PED key is needed again"
restart $((3600 + 7300))
challenge_only
[ $RC -ne 0 ] || fail "the cache survived more than two hours off: $OUT"
expect_contains "$OUT" "CKR_PED_UNPLUGGED"
grep -q "cached activation(s) dropped at power-on" "$T/hsm.log" || fail "hsm.log does not say why"
echo "auto-activation window ok"
