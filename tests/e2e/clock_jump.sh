#!/bin/bash
# Regression: waits in the daemons are timed on CLOCK_MONOTONIC, not on the
# wall clock. hsm-sim waited for a Remote PED session being keyed with
# pthread_cond_timedwait on a CLOCK_REALTIME deadline; with the wall clock
# set back (NTP step, date -s) the deadline had already passed and the next
# ceremony failed at once with CKR_PED_UNPLUGGED while the operator was still
# at the PED (and set forward, the wait would have outlived ped_timeout by
# the jump). ped-device's screen waits (script expect/wait-idle) spun on the
# CPU for the whole timeout after a backward jump.
# The wall clock is moved by tests/tools/clockjump.c (LD_PRELOAD), never the system's.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
SHIM="$TOOLS/clockjump.so"
[ -e "$SHIM" ] || fail "$SHIM not built"
# An ASan build wants its runtime first; the shim is loaded before it.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
export CLOCKJUMP_FILE="$T/offset"
echo -7200 >"$CLOCKJUMP_FILE" # two hours back

note "ped-device: a script expect times out on time without spinning after the clock went back"
printf 'expect -timeout 2 "NEVER SHOWN"\n' >"$T/never.script"
start=$EPOCHREALTIME t0=$SECONDS
set +e
LD_PRELOAD="$SHIM" "$BIN/ped-device" -headless -mode usb -hsm "$T/nohsm.sock" -store "$T/keys" \
	-script "$T/never.script" -control "$T/never.ctl" >"$T/never.log" 2>&1 &
NPID=$!
track $NPID
# user + system ticks of the PED while it waits (fields 14, 15 of /proc/PID/stat)
ticks=0
while alive $NPID; do
	[ $((SECONDS - t0)) -lt 20 ] || fail "a 2 s expect did not time out in 20 s"
	t=$(awk '{print $14 + $15}' "/proc/$NPID/stat" 2>/dev/null) && ticks=$t
	sleep 0.1
done
wait $NPID; rc=$?
set -e
secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
[ $rc -ne 0 ] || fail "expect of a text never shown succeeded"
grep -q 'timed out waiting for "NEVER SHOWN"' "$T/never.log" || fail "no expect timeout: $(cat "$T/never.log")"
awk -v s="$secs" 'BEGIN { exit !(s >= 1.9 && s < 6) }' || fail "a 2 s expect timed out after $secs s"
hz=$(getconf CLK_TCK)
[ "$ticks" -lt $((hz / 2)) ] || fail "the PED used $ticks ticks ($hz/s) of CPU waiting 2 s: it spins"

note "hsm-sim: the wait for a Remote PED session being keyed outlasts a clock set back"
new_keys rpk so dom
LD_PRELOAD="$SHIM" start_hsm
start_pedserver A
start_pedclient
cat >"$T/A.policy" <<P
password $T/init.out
identity $T/init.out
write rpv ${KEY[rpk]}
write so ${KEY[so]}
write domain ${KEY[dom]}
P
start_remote_ped A A "$T/A.policy"
wait_for 10 shown A "Ped2 Connection Status:   Connected" || fail "pedserver does not see the PED: $OUT"
# The operator is slow: the PED is frozen while hsm-sim waits for the session key.
kill -STOP "$PED_A_PID"
( exec timeout 120 "$BIN/hsmcm" -socket "$HSM_SOCK" \
	-c "ped connect -ip 127.0.0.1 -port $PORT_A -password; ped vector init; hsm init -label jump; ped disconnect" \
	>"$T/init.out" 2>&1 ) &
CPID=$!
wait_for 20 grep -q "computing the session key" "$T/hsm.log" || fail "the session was not accepted: $(cat "$T/hsm.log")"
if wait_for 2 eval "! alive $CPID"; then
	kill -CONT "$PED_A_PID"
	fail "hsmcm gave up while the PED was still computing the session key: $(cat "$T/init.out")"
fi
kill -CONT "$PED_A_PID"
wait $CPID || fail "the ceremony failed once the PED answered: $(cat "$T/init.out")"
expect_contains "$(cat "$T/init.out")" "Successfully initialized the HSM."
echo "clock jump ok"
