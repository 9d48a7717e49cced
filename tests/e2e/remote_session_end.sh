#!/bin/bash
# Issue 32, item 2: a Remote PED session that ended elsewhere (pedserver's
# idle timeout, a pedserver restart, a pedclient restart) is ended in
# hsm-sim too: "ped get" no longer says "listening to remote PED", and
# "ped connect" (the seed's recovery step) works at once, with no failed
# PED operation or "ped disconnect" first.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

new_keys rpk
start_hsm
start_pedserver A -idletimeout 2
start_pedclient
cat >"$T/A.policy" <<P
$OPERATOR
write rpv ${KEY[rpk]}
P
start_remote_ped A A "$T/A.policy"
wait_for 10 shown A "Ped2 Connection Status:   Connected" || fail "pedserver does not see the PED: $OUT"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A -password; ped vector init; ped disconnect"
[ $RC -eq 0 ] || fail "remote RPV init: $OUT"

# ended WHY: hsm-sim says the session is gone, and a new one opens at once.
ended() {
	hsmcm -c "ped get"
	[ $RC -eq 0 ] || fail "ped get after $1: $OUT"
	expect_not_contains "$OUT" "listening to remote PED" "ped get after $1"
	expect_contains "$OUT" "listening to local PED (PED id=0)" "ped get after $1"
}
reconnect() {
	hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A -wait; ped get"
	[ $RC -eq 0 ] || fail "ped connect after $1: $OUT"
	expect_contains "$OUT" "listening to remote PED" "ped get after reconnecting ($1)"
}
session_gone_at_pedserver() {
	wait_for 10 shown A "Client Information:         Not Available" || fail "pedserver still serves a client: $OUT"
}

note "pedserver's idle timeout ends the session"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A -wait; ped get"
[ $RC -eq 0 ] || fail "ped connect: $OUT"
expect_contains "$OUT" "listening to remote PED"
wait_for 20 grep -q "idle" "$T/A.log" || fail "pedserver did not idle the session out: $(cat "$T/A.log")"
session_gone_at_pedserver
ended "pedserver's idle timeout"
reconnect "pedserver's idle timeout"

note "a pedclient restart ends the session"
pedclient_cmd -mode stop
[ $RC -eq 0 ] || fail "pedclient stop: $OUT"
start_pedclient
ended "a pedclient restart"
reconnect "a pedclient restart"

note "a pedserver restart ends the session, keyed or waiting for the first PED operation"
for state in keyed deferred; do
	pedserver_cmd A -mode stop
	[ $RC -eq 0 ] || fail "pedserver stop: $OUT"
	kill "$PED_A_PID" 2>/dev/null || true
	wait_gone 10 "$PED_A_PID" || fail "the PED did not stop"
	start_pedserver A -idletimeout 600
	start_remote_ped A A "$T/A.policy"
	if [ $state = keyed ]; then
		# scripts run "ped disconnect; ped connect": the first finds the end
		hsmcm -c "ped disconnect"
		[ $RC -eq 0 ] || fail "ped disconnect of a session the relays ended: $OUT"
		expect_contains "$OUT" "had already ended"
	fi
	ended "a pedserver restart ($state)"
	if [ $state = keyed ]; then
		reconnect "a pedserver restart"
	else
		# a new PED does not hold the orange key: keyed at the first PED operation
		hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; ped get"
		[ $RC -eq 0 ] || fail "deferred ped connect: $OUT"
		expect_contains "$OUT" "session key at the first PED operation"
	fi
done
pedserver_cmd A -mode stop
session_gone_at_pedserver() { :; }
ended "a pedserver stop, while the session waited for its first PED operation"
hsmcm -c "ped disconnect"
[ $RC -ne 0 ] || fail "ped disconnect found a session that had ended: $OUT"
expect_contains "$OUT" "no Remote PED is connected"
grep -q "Remote PED session ended" "$T/hsm.log" || fail "hsm-sim did not log the end: $(cat "$T/hsm.log")"
echo "remote session end ok"
