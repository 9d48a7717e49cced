#!/bin/bash
# Regression: SIGTERM while a ceremony waited on its PED. hsm-sim waited one
# second for the command lock, then wiped and freed every HSM under the
# command still running, which could go on to save the wiped HSM; the
# operator got no result. Now the PED waits are ended at once, each command
# in flight fails and reports, and only then are the HSMs wiped.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so dom
cat >"$T/init.policy" <<P
write "SETTING SO" ${KEY[so]}
write "SETTING DOMAIN" ${KEY[dom]}
P
restart_ped() {
	if [ -n "${PED_A_PID:-}" ]; then kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"; fi
	: >"$T/A.events"
	start_ped A $HSM_SERIAL "$@"
}
# A PED with no answerer: every ceremony waits on it (for its key timeout).
idle_ped() {
	restart_ped - -keytimeout 600
}

# $1: the command that waits at the PED; $2: a line its result must show.
sigterm_during() {
	local cmd=$1 want=$2
	( exec timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "$cmd" >"$T/c.out" 2>&1 ) &
	local cpid=$!
	wait_for 20 grep -q '"event":"request"' "$T/A.events" ||
		fail "$cmd never reached the PED: $(cat "$T/c.out")"
	kill -TERM "$HSM_PID"
	wait_gone 20 "$HSM_PID" || fail "hsm-sim did not stop: $(tail -n 5 "$T/hsm.log")"
	set +e
	wait "$cpid"
	local rc=$?
	set -e
	[ $rc -ne 124 ] || fail "hsmcm hung after hsm-sim stopped"
	OUT=$(cat "$T/c.out")
	expect_contains "$OUT" "$want" "hsmcm's result of $cmd"
	expect_not_contains "$OUT" "lost hsm-sim" "hsmcm's result of $cmd"
	expect_not_contains "$(cat "$T/hsm.log")" "still running" "hsm-sim's log"
	expect_not_contains "$(cat "$T/hsm.log")" "did not finish" "hsm-sim's log"
	grep -q "PED operation cancelled: hsm-sim is stopping" "$T/hsm.log" ||
		fail "the cancel is not logged: $(cat "$T/hsm.log")"
	grep -q "INFO main: stopped" "$T/hsm.log" || fail "no clean stop: $(tail -n 5 "$T/hsm.log")"
	: >"$T/hsm.log"
}

note "hsm init (the command lock is held while it waits)"
start_hsm
restart_ped "$T/init.policy"
idle_ped
sigterm_during "hsm init -label lost" "Command Result : 0x1 (CKR_CANCEL)"
start_hsm
hsmcm -c "hsm showinfo"
expect_not_contains "$OUT" "lost"

note "a login (the command lock is released while it waits)"
restart_ped "$T/init.policy"
hsmcm -c "hsm init -label kept"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
idle_ped
sigterm_during "role login -name so" "Command Result : 0x1 (CKR_CANCEL)"
start_hsm
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "kept"
expect_contains "$OUT" "SO failed logins -> 0 of 3"
echo "hsm-sim SIGTERM during a ceremony ok"
