#!/bin/bash
# Remote PED end to end: hsm-sim -> pedclient -> pedserver -> headless PED.
# The RPV is initialized remotely with a one-time password on a zeroized
# HSM, which then keys a new session with it for hsm init; later sessions are
# keyed with the orange key. Also: a wrong password, the one-client rule,
# a PED killed mid-login (CKR_PED_UNPLUGGED within the ping timeout) and a
# restarted PED served again without restarting pedserver, the idle timeout.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

new_keys rpk so dom
start_hsm
start_pedserver A -pinginterval 1 -pingtimeout 2
start_pedclient -pinginterval 1 -pingtimeout 2
cat >"$T/A.policy" <<P
$OPERATOR
write rpv ${KEY[rpk]}
write so ${KEY[so]}
write domain ${KEY[dom]}
P
start_remote_ped A A "$T/A.policy"
wait_for 10 shown A "Ped2 Connection Status:   Connected" || fail "pedserver does not see the PED: $OUT"

note "without an RPV, ped connect needs the one-time password"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A"
[ $RC -ne 0 ] || fail "connect without RPV or password succeeded"
expect_contains "$OUT" "Remote PED vector of HSM $HSM_SERIAL is not initialized"

note "the one-time password session serves ped vector init only: hsm init over it is refused"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A -password -wait; hsm init -label early"
[ $RC -ne 0 ] || fail "hsm init over the password session succeeded: $OUT"
expect_contains "$OUT" "keyed with the one-time password: it serves ped vector init only"
expect_contains "$OUT" "CKR_DEVICE_ERROR"
! grep -q '"event":"request"' "$T/A.events" || fail "the PED was asked for a keyset over the password session"
hsmcm -c "ped disconnect"
[ $RC -eq 0 ] || fail "ped disconnect: $OUT"
wait_for 10 shown A "Client Information:         Not Available" || fail "session still shown: $OUT"
: >"$T/A.events"

note "RPV initialized remotely with a one-time password, then the HSM over a session keyed with it"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A -password; ped vector init; hsm init -label remote; ped disconnect"
[ $RC -eq 0 ] || fail "remote RPV and HSM init: $OUT"
grep -q "Please attend to the PED and enter following password: [0-9]\{8\}$" <<<"$OUT" || fail "no password: $OUT"
expect_contains "$OUT" "Successfully initialized the HSM."
grep -q '"auth":"password"' "$T/A.events" || fail "the PED did not ask for the password"
note "... the HSM keyed the session again with the new RPV before hsm init (full channel, no orange key asked)"
expect_contains "$OUT" "Remote PED connection re-established (full secure channel, 2e2s)."
sessions=$(grep -o '"event":"session","hsm":"[0-9]*","auth":"[a-z]*"\|"scheme":"[0-9a-z]*"' "$T/A.events" | tr '\n' ' ')
expect_eq "$sessions" "\"event\":\"session\",\"hsm\":\"$HSM_SERIAL\",\"auth\":\"password\" \"scheme\":\"1e1s\" \"event\":\"session\",\"hsm\":\"$HSM_SERIAL\",\"auth\":\"rpv\" \"scheme\":\"2e2s\" " "the PED's sessions"
! grep '"event":"screen"' "$T/A.events" | grep '"key_type":"RPV"' | grep -q "COMPUTE SESSION KEY" ||
	fail "the PED asked for the orange key to key the session again"

note "the one-time password is refused once the HSM is initialized"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A -password"
[ $RC -ne 0 ] || fail "-password accepted on an initialized HSM"

note "a later session keyed with the RPV the PED holds (2e2s: the RPV static key on the orange key); the PED reports the RPK"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; role login -name so; ped get"
[ $RC -eq 0 ] || fail "remote login: $OUT"
expect_contains "$OUT" "listening to remote PED"
grep -q '"scheme":"2e2s"' "$T/A.events" || fail "the orange-key session did not run the Full Unified 2e2s scheme"
"$BIN/ikey" list -json | grep -q '"serial":"'"${KEY[rpk]}"'"[^}]*"rpv_static_key":true' ||
	fail "the orange key carries no RPV static key: $("$BIN/ikey" list -json)"
wait_for 5 shown A "Ped2 RPK Count            1" || fail "RPK count: $OUT"
expect_contains "$OUT" "Ped2 RPK Serial Numbers   ($HSM_SERIAL)"
expect_contains "$OUT" "HSM Serial Number:        $HSM_SERIAL"
# the operator guide's section 3 quotes these lines of pedserver -mode show
guide=$(awk '/^pedserver now shows:$/ { on = 1; next } on && /^```$/ { if (++n == 2) exit; next } on && n == 1' \
	"$PED_SRCDIR/docs/operator-guide.md" | sed -E 's/127\.0\.0\.1:[0-9]+/127.0.0.1:PORT/')
[ -n "$guide" ] || fail "the operator guide quotes no pedserver -mode show"
[[ "$(sed -E 's/127\.0\.0\.1:[0-9]+/127.0.0.1:PORT/' <<<"$OUT")" == *"$guide"* ]] ||
	fail "pedserver -mode show is not what the operator guide quotes: $guide
---
$OUT"

note "one client at a time: the backup HSM is refused while the session lives"
hsmcm -c "ped connect -slot 20 -ip 127.0.0.1 -port $PORT_A -password"
[ $RC -ne 0 ] || fail "a second client was served"
expect_contains "$OUT" "the PED is serving another HSM"
grep -q "refused client" "$T/A.log" || fail "pedserver did not log the refused client"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A"
[ $RC -ne 0 ] || fail "a second ped connect on the same HSM was accepted"
expect_contains "$OUT" "already open"
hsmcm -c "ped disconnect"
[ $RC -eq 0 ] || fail "ped disconnect: $OUT"
wait_for 10 shown A "Client Information:         Not Available" || fail "session still shown: $OUT"

note "ped set: the default pedserver of ped connect, kept across a restart of hsm-sim"
hsmcm -c "ped set"
[ $RC -ne 0 ] || fail "ped set without -ip or -port was accepted"
hsmcm -c "ped set -ip 127.0.0.1 -port $PORT_A"
[ $RC -eq 0 ] || fail "ped set: $OUT"
kill -TERM "$HSM_PID"; wait_gone 10 "$HSM_PID"
start_hsm
hsmcm -c "ped get"
expect_contains "$OUT" "Default Remote PED server (ped set): 127.0.0.1:$PORT_A"
hsmcm -c "ped connect; ped get; role login -name so; ped disconnect"
[ $RC -eq 0 ] || fail "ped connect with the defaults: $OUT"
expect_contains "$OUT" "via pedserver 127.0.0.1:$PORT_A"
wait_for 10 shown A "Client Information:         Not Available" || fail "session still shown: $OUT"

note "a wrong one-time password fails on both ends before any CSP moves"
kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"
sed "s|^password .*|password 87654321|" "$T/A.policy" >"$T/wrongpw.policy"
start_remote_ped A A "$T/wrongpw.policy"
hsmcm -c "ped connect -slot 20 -ip 127.0.0.1 -port $PORT_A -password"
[ $RC -eq 0 ] || fail "connect for the backup HSM: $OUT"
hsmcm -c "slot set -slot 20; ped vector init"
[ $RC -ne 0 ] || fail "a session keyed with the wrong password was used"
expect_contains "$OUT" "Command Result : 0x8000002e (CKR_PED_UNPLUGGED)"
expect_contains "$OUT" "key confirmation failed"
wait_for 10 grep -q '"event":"session-failed"' "$T/A.events" || fail "the PED did not report the failure"
wait_for 10 shown A "Client Information:         Not Available" || fail "failed session still shown: $OUT"

note "the PED killed mid-login: CKR_PED_UNPLUGGED within the ping timeout"
kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"
cat >"$T/stall.script" <<S
expect -timeout 20 "COMPUTE SESSION KEY. Insert a RPK / Remote PED Key (ORANGE)"
insert ${KEY[rpk]}
press enter
expect -timeout 20 "SO LOGIN... Insert a SO / HSM Admin PED Key (BLUE)"
wait-idle -timeout 60
S
start_scripted_ped S A "$T/stall.script"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A"
[ $RC -eq 0 ] || fail "connect: $OUT"
( exec "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/login.out" 2>&1 ) &
LPID=$!
wait_for 20 grep -q "SO LOGIN" "$T/S.events" || fail "the login did not reach the PED"
kill -KILL "$PED_S_PID"; wait "$PED_S_PID" 2>/dev/null || true
start=$SECONDS
wait "$LPID" && fail "login succeeded without a PED"
expect_contains "$(cat "$T/login.out")" "CKR_PED_UNPLUGGED"
[ $((SECONDS - start)) -le 5 ] || fail "CKR_PED_UNPLUGGED took $((SECONDS - start)) s"
# the HSM's log names why the relays ended the session, not the BYE's frame type
wait_for 5 grep -q "the Remote PED session ended: CKR_PED_UNPLUGGED" "$T/hsm.log" || fail "hsm.log: $(tail -n 3 "$T/hsm.log")"
! grep -q PED_E_FRAME_TYPE "$T/hsm.log" || fail "hsm.log reports a relay's BYE as a frame type error"
wait_for 10 shown A "Ped2 Connection Status:   Disconnected" || fail "pedserver still shows the PED: $OUT"

note "a restarted PED is served again without restarting pedserver"
rm -f "$T/A.events"
start_remote_ped A A "$T/A.policy"
hsmcm -c "ped disconnect"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; role login -name so; ped disconnect"
[ $RC -eq 0 ] || fail "login after the PED came back: $OUT"
grep '"event":"screen"' "$T/A.events" | grep '"key_type":"RPV"' | grep -q "COMPUTE SESSION KEY" ||
	fail "a restarted PED keyed the session without its orange key"

note "ped disconnect while the PED waits for the orange key (asked by the first command) ends the keying at once, twice over"
start_pedserver B -pinginterval 1 -pingtimeout 2
cat >"$T/orange.script" <<S
expect -timeout 20 "COMPUTE SESSION KEY. Insert a RPK / Remote PED Key (ORANGE)"
wait-idle -timeout 20
expect -timeout 20 "COMPUTE SESSION KEY. Insert a RPK / Remote PED Key (ORANGE)"
wait-idle -timeout 20
expect -timeout 20 "COMPUTE SESSION KEY. Insert a RPK / Remote PED Key (ORANGE)"
insert ${KEY[rpk]}
press enter
expect -timeout 20 "SO LOGIN... Insert a SO / HSM Admin PED Key (BLUE)"
wait-idle -timeout 5
expect -timeout 20 "SO LOGIN... Insert a SO / HSM Admin PED Key (BLUE)"
wait-idle -timeout 5
S
start_scripted_ped O B "$T/orange.script"
prompts() { grep -c "COMPUTE SESSION KEY" "$T/O.events" || true; }
for round in 1 2; do
	before=$(prompts)
	hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_B"
	[ $RC -eq 0 ] || fail "connect $round: $OUT"
	( exec "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/login.out" 2>&1 ) &
	LPID=$!
	wait_for 20 eval '[ "$(prompts)" -gt "$before" ]' || fail "round $round: the PED did not ask for the orange key: $(tail -n 3 "$T/O.events")"
	start=$SECONDS
	hsmcm -c "ped disconnect"
	[ $RC -eq 0 ] || fail "round $round: ped disconnect during keying: $OUT"
	expect_contains "$OUT" "Remote PED connection closed."
	[ $((SECONDS - start)) -le 5 ] || fail "round $round: ped disconnect took $((SECONDS - start)) s"
	wait "$LPID" && fail "round $round: the login succeeded without a session key"
	expect_contains "$(cat "$T/login.out")" "CKR_PED_UNPLUGGED"
	wait_for 10 shown B "Client Information:         Not Available" || fail "round $round: session still shown: $OUT"
	hsmcm -c "ped get"
	expect_contains "$OUT" "listening to local PED"
done
[ "$(grep -c "closed by the operator before it was keyed" "$T/hsm.log")" -eq 2 ] || fail "hsm.log: $(tail -n 3 "$T/hsm.log")"
[ "$(grep -c '"event":"detached"' "$T/O.events")" -eq 2 ] || fail "the PED did not see both sessions end: $(cat "$T/O.events")"

note "ped disconnect under a login ends it at once; the PED's prompt goes too (well within its key timeout)"
logins() { grep -c "SO LOGIN" "$T/O.events" || true; }
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_B -wait"
[ $RC -eq 0 ] || fail "connect with the orange key: $OUT"
( exec "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/login.out" 2>&1 ) &
LPID=$!
wait_for 20 eval '[ "$(logins)" -gt 0 ]' || fail "the login did not reach the PED"
start=$SECONDS
hsmcm -c "ped disconnect"
[ $RC -eq 0 ] || fail "ped disconnect under a login: $OUT"
expect_contains "$OUT" "Remote PED connection closed."
wait "$LPID" && fail "the login succeeded after ped disconnect"
expect_contains "$(cat "$T/login.out")" "CKR_PED_UNPLUGGED"
[ $((SECONDS - start)) -le 5 ] || fail "ending the login took $((SECONDS - start)) s"
grep -q "closed by the operator during a PED operation" "$T/hsm.log" || fail "hsm.log: $(tail -n 3 "$T/hsm.log")"

note "pedclient dying under a login takes the PED's prompt down too"
before=$(logins)
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_B -wait" # the PED keeps the RPV: no orange key asked
[ $RC -eq 0 ] || fail "connect again: $OUT"
( exec "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/login.out" 2>&1 ) &
LPID=$!
wait_for 20 eval '[ "$(logins)" -gt "$before" ]' || fail "the second login did not reach the PED"
kill -KILL "$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")"
wait "$LPID" && fail "login succeeded without pedclient"
expect_contains "$(cat "$T/login.out")" "CKR_PED_UNPLUGGED"
wait "$PED_O_PID" || fail "the PED kept asking for the blue key after the session ended: $(cat "$T/O.log")"
start_pedclient -pinginterval 1 -pingtimeout 2
hsmcm -c "ped disconnect"

note "the idle timeout ends the session; authentication then fails with CKR_PED_UNPLUGGED"
pedserver_cmd A -mode stop
[ $RC -eq 0 ] || fail "stop: $OUT"
wait_for 10 grep -q '"attached":false' "$T/A.events" || fail "the PED did not see pedserver stop"
start_pedserver A -idletimeout 2 -pinginterval 1 -pingtimeout 2
wait_for 10 shown A "Ped2 Connection Status:   Connected" || fail "the PED did not come back to the new pedserver"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; role login -name so"
[ $RC -eq 0 ] || fail "login before the idle timeout: $OUT"
wait_for 10 grep -q "idle timeout" "$T/A.log" || fail "pedserver did not time the session out"
hsmcm -c "role logout; role login -name so"
[ $RC -ne 0 ] || fail "login after the idle timeout succeeded"
expect_contains "$OUT" "CKR_PED_UNPLUGGED"
echo "remote PED ok"
