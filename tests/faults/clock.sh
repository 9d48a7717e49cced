#!/bin/bash
# Fault injection: wall-clock jumps (±1..5 hours, through tests/tools/
# clockjump.c preloaded into hsm-sim, pedserver, pedclient and ped-device;
# the system clock is never touched) at a random moment while the daemons
# wait on a timeout or run a ceremony:
#  ping: the PED hangs (SIGSTOP) mid-login; CKR_PED_UNPLUGGED when the ping
#        timeout (2 s) runs out, not at once and not never;
#  idle: pedserver's idle timeout (3 s) ends an unused session on time;
#  key:  the PED's key timeout (2 s) when no key is presented;
#  ceremony: the jump lands mid-ceremony, which completes.
# Every case ends with ikey verify and a fresh ceremony. ROUNDS (default 10),
# FAULT_SEED replays.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../e2e/hsm_lib.sh"
. "$(dirname "$0")/../e2e/remote_lib.sh"
. "$(dirname "$0")/faults_lib.sh"
SHIM="$TOOLS/clockjump.so"
[ -e "$SHIM" ] || fail "$SHIM not built (make)"
export CLOCKJUMP_FILE="$T/offset" LD_PRELOAD="$SHIM"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
echo 0 >"$CLOCKJUMP_FILE"
jump() { echo "$1" >"$CLOCKJUMP_FILE.tmp" && mv "$CLOCKJUMP_FILE.tmp" "$CLOCKJUMP_FILE"; }
rand_jump() { local h=$((1 + RANDOM % 5)); [ $((RANDOM % 2)) = 0 ] && h=-$h; echo $((h * 3600)); }
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
within() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

start_hsm
start_pedserver A -pinginterval 1 -pingtimeout 2 -idletimeout 3
start_pedclient -pinginterval 1 -pingtimeout 2
prepare_ceremony
ped_restart "$CER_POLICY"
hsmcm -f "$CER_CMDS"
[ $RC -eq 0 ] || fail "the ceremony fails without faults: $OUT"
CER_OK_POLICY=$CER_POLICY

# stall_ped KEYTIMEOUT: a PED that presents the orange key, then leaves the
# SO login waiting (a script, not the answerer, which would present any blue key).
stall_ped() {
	if [ -n "${PED_A_PID:-}" ] && alive "$PED_A_PID"; then
		kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID" || kill -KILL "$PED_A_PID"
	fi
	rm -f "$T/A.events"
	cat >"$T/stall.script" <<S
expect -timeout 20 "COMPUTE SESSION KEY"
insert $(awk '/^use rpv/{print $3}' "$CER_OK_POLICY")
press enter
expect -timeout 20 "SO LOGIN"
wait-idle -timeout 60
S
	"$BIN/ped-device" -headless -mode remote -pedserver "$(ped_socket_of A)" -script "$T/stall.script" \
		-control "$T/A.ctl" -events "$T/A.events" -keytimeout "$1" >"$T/A.ped.log" 2>&1 &
	PED_A_PID=$!; track $PED_A_PID
	wait_for 20 grep -q '"attached":true' "$T/A.events" || fail "the stalling PED did not attach"
	wait_for 20 shown A "Ped2 Connection Status:   Connected" || fail "pedserver does not see the PED"
}

CASES=(ping idle key ceremony)
declare -A BY_CASE
started=$SECONDS
for round in $(seq 1 "$ROUNDS"); do
	CASE_OK=1 CASE_LOST=0
	c=${CASES[RANDOM % 4]}
	j=$(rand_jump)
	hsmcm -c "ped disconnect"
	case $c in
	ping) # SO login stalls at the PED; the PED dies; the wall clock jumps meanwhile
		stall_ped 200 # no SO key: the login waits at the PED
		( exec timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "ped connect -ip 127.0.0.1 -port $PORT_A; role login -name so" >"$T/c.out" 2>&1 ) &
		cpid=$!
		wait_for 20 grep -q "SO LOGIN" "$T/A.events" || case_fail "the login did not reach the PED"
		jump "$j"
		kill -STOP "$PED_A_PID"; t0=$EPOCHREALTIME # hung, its socket still open: only pings tell
		wait_for 30 eval "! alive $cpid" || { case_fail "hsmcm hangs after the PED hung"; kill -KILL $cpid; }
		wait $cpid; ms=$(ms_since "$t0")
		kill -KILL "$PED_A_PID"; kill -CONT "$PED_A_PID"
		grep -q CKR_PED_UNPLUGGED "$T/c.out" || case_fail "no CKR_PED_UNPLUGGED: $(cat "$T/c.out"; tail -n 5 "$T/A.events")"
		within "$ms" 1500 6000 || case_fail "CKR_PED_UNPLUGGED after $ms ms (ping timeout 2 s)"
		;;
	idle) # a session left unused: pedserver ends it after 3 s, whatever the wall clock does
		ped_restart "$CER_OK_POLICY"
		hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A"
		[ $RC -eq 0 ] || case_fail "connect: $OUT"
		t0=$EPOCHREALTIME
		n0=$(grep -c "idle timeout" "$T/A.log")
		sleep "0.$((RANDOM % 9))"; jump "$j"
		wait_for 20 eval "[ \$(grep -c 'idle timeout' '$T/A.log') -gt $n0 ]" || case_fail "the idle timeout never fired"
		ms=$(ms_since "$t0")
		within "$ms" 2500 6500 || case_fail "idle timeout (3 s) fired after $ms ms"
		;;
	key) # no key presented: the PED's key timeout (2 s)
		stall_ped 2
		( exec timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "ped connect -ip 127.0.0.1 -port $PORT_A; role login -name so" >"$T/c.out" 2>&1 ) &
		cpid=$!
		wait_for 20 grep -q "SO LOGIN" "$T/A.events" || case_fail "the login did not reach the PED"
		t0=$EPOCHREALTIME
		sleep "0.$((RANDOM % 9))"; jump "$j"
		wait_for 30 eval "! alive $cpid" || { case_fail "hsmcm hangs: the key timeout never fired"; kill -KILL $cpid; }
		wait $cpid; ms=$(ms_since "$t0")
		grep -Eq "Command Result : 0x[0-9a-f]+ \((CKR|RC)_" "$T/c.out" || case_fail "no error: $(tail -n 3 "$T/c.out")"
		within "$ms" 1500 6000 || case_fail "key timeout (2 s) fired after $ms ms"
		;;
	ceremony) # the jump lands mid-ceremony
		hsmcm -c "hsm zeroize -force"
		prepare_ceremony "$T/c.out"
		ped_restart "$CER_POLICY"
		( exec timeout 120 "$BIN/hsmcm" -socket "$HSM_SOCK" -f "$CER_CMDS" >"$T/c.out" 2>&1 ) &
		cpid=$!
		sleep "0.0$((RANDOM % 8))"; jump "$j"
		wait_for 60 eval "! alive $cpid" || { case_fail "the ceremony hangs"; kill -KILL $cpid; }
		wait $cpid || case_fail "the ceremony failed after the jump: $(tail -n 5 "$T/c.out")"
		CER_OK_POLICY=$CER_POLICY
		;;
	esac
	FAULTS=$((FAULTS + 1))
	echo "round $round: $c, wall clock ${j}s${ms:+, timeout after $ms ms}"
	unset ms
	keys_ok
	jump 0
	hsmcm -c "ped disconnect"
	fresh_ceremony && CER_OK_POLICY=$CER_POLICY
	[ $CASE_OK = 1 ] && SURVIVED=$((SURVIVED + 1))
	[ $CASE_LOST = 1 ] && DATA_LOST=$((DATA_LOST + 1))
	BY_CASE[$c]=$((${BY_CASE[$c]:-0} + 1))
done
for k in "${!BY_CASE[@]}"; do echo "case $k: ${BY_CASE[$k]}"; done
echo "rounds took $((SECONDS - started)) s"
result
