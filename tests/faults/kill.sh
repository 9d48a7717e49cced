#!/bin/bash
# Fault injection: SIGKILL of ped-device, pedserver, pedclient or hsm-sim at
# a random moment of a Remote PED ceremony that writes iKeys and HSM state
# (RPV, HSM init, SO login, partition, PO/CO keys, objects). After each kill:
# hsmcm ends (bounded) with a CKR_* error; every iKey passes ikey verify; the
# HSM state loads in a fresh hsm-sim and holds exactly what the ceremony had
# committed (the step in flight may be there too only when hsm-sim itself was
# killed, the answer lost); the objects the CO committed are all there; the
# killed daemon restarted, a fresh ceremony succeeds.
# ROUNDS (default 10) kills; FAULT_SEED replays a run.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../e2e/hsm_lib.sh"
. "$(dirname "$0")/../e2e/remote_lib.sh"
. "$(dirname "$0")/faults_lib.sh"
set +e

start_hsm
start_pedserver A -pinginterval 1 -pingtimeout 2
start_pedclient -pinginterval 1 -pingtimeout 2

note "calibration: one whole ceremony, timed"
prepare_ceremony
ped_restart "$CER_POLICY"
t0=$EPOCHREALTIME
hsmcm -f "$CER_CMDS"
[ $RC -eq 0 ] || fail "the ceremony fails without faults: $OUT"
span_ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
[ "$span_ms" -ge 5 ] || span_ms=5
echo "ceremony takes $span_ms ms"
keys_ok || fail "keys after a clean ceremony"

restart() { # the daemon that was killed
	case $1 in
	hsm-sim) start_hsm ;;
	pedserver) start_pedserver A -pinginterval 1 -pingtimeout 2 ;;
	pedclient) start_pedclient -pinginterval 1 -pingtimeout 2 ;;
	ped-device) ;; # restarted below with the ceremony's policy
	esac
}
pid_of() {
	case $1 in
	hsm-sim) echo "$HSM_PID" ;;
	pedserver) cat "$T/A-run/openped/pedserver.pid" ;;
	pedclient) cat "$XDG_RUNTIME_DIR/openped/pedclient.pid" ;;
	ped-device) echo "$PED_A_PID" ;;
	esac
}
TARGETS=(ped-device pedserver pedclient hsm-sim)
declare -A BY_TARGET
started=$SECONDS
for round in $(seq 1 "$ROUNDS"); do
	CASE_OK=1 CASE_LOST=0
	target=${TARGETS[RANDOM % 4]}
	delay_ms=$((RANDOM % span_ms))
	hsmcm -c "ped disconnect"
	hsmcm -c "hsm zeroize -force"
	[ $RC -eq 0 ] || fail "round $round: zeroize before the ceremony: $OUT"
	prepare_ceremony "$T/round.out"
	ped_restart "$CER_POLICY"
	victim=$(pid_of $target)
	( exec timeout 120 "$BIN/hsmcm" -socket "$HSM_SOCK" -f "$CER_CMDS" >"$T/round.out" 2>&1 ) &
	cpid=$!
	sleep "$(printf '0.%03d' "$delay_ms")"
	kill -KILL "$victim"
	FAULTS=$((FAULTS + 1))
	wait_gone 10 "$victim" || fail "$target ($victim) survived SIGKILL"
	t_kill=$SECONDS
	if ! wait_for 30 eval "! alive $cpid"; then
		case_fail "hsmcm hangs after $target was killed"
		kill -KILL $cpid
	fi
	wait $cpid; crc=$?
	done_steps=$(committed "$T/round.out" | awk '$1 == NR - 1 { n = NR } END { print n + 0 }')
	echo "round $round: SIGKILL $target after ${delay_ms} ms; $done_steps of ${#CER_STEPS[@]} steps done; hsmcm exit $crc"
	if [ "$done_steps" -lt ${#CER_STEPS[@]} ]; then
		[ $crc -ne 0 ] || case_fail "hsmcm exited 0 though the ceremony stopped at step $done_steps"
		# a kill of hsm-sim before hsmcm connected: hsmcm says it cannot reach it
		grep -Eq "(CKR|RC)_[A-Z_]+" "$T/round.out" ||
			{ [ $target = hsm-sim ] && [ "$done_steps" -eq 0 ] && grep -q "cannot reach hsm-sim" "$T/round.out"; } ||
			case_fail "no CKR_* or RC_* error from hsmcm: $(tail -n 5 "$T/round.out")"
	fi
	restart $target
	keys_ok
	maybe=0; [ $target = hsm-sim ] && maybe=1
	check_state "$done_steps" $maybe
	ped_restart "$CER_POLICY"
	hsmcm -c "ped disconnect"
	check_objects "$done_steps" $maybe
	fresh_ceremony
	[ $CASE_OK = 1 ] && SURVIVED=$((SURVIVED + 1))
	[ $CASE_LOST = 1 ] && DATA_LOST=$((DATA_LOST + 1))
	BY_TARGET[$target]=$((${BY_TARGET[$target]:-0} + 1))
done
for k in "${!BY_TARGET[@]}"; do echo "kills of $k: ${BY_TARGET[$k]}"; done
echo "rounds took $((SECONDS - started)) s"
result
