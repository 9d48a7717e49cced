#!/bin/bash
# A pedserver link that trickles: pedserver's frames reach pedclient one
# byte every 400 ms (tests/tools/impair_relay -dribble), so no whole frame,
# not even a PONG, arrives within the ping timeout. docs/protocol.md: "no
# frame for interval + pingtimeout s means a dead peer", so pedclient ends
# the session and a login fails with CKR_PED_UNPLUGGED within the ping
# timeout, instead of hanging while single bytes keep it looking alive.
# With the trickle turned off, the next ped connect works.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
[ -x "$TOOLS/impair_relay" ] || fail "$TOOLS/impair_relay is missing"

new_keys rpk so dom
start_hsm
start_pedserver A -pinginterval 1 -pingtimeout 2
start_pedclient -pinginterval 1 -pingtimeout 2
cat >"$T/A.policy" <<P
$OPERATOR
write rpv ${KEY[rpk]}
use rpv ${KEY[rpk]}
write so ${KEY[so]}
use so ${KEY[so]}
write domain ${KEY[dom]}
P
start_remote_ped A A "$T/A.policy"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A -password; ped vector init; hsm init -label trickle; ped disconnect"
[ $RC -eq 0 ] || fail "setup: $OUT"

# the relay starts with its impairment off: the greeting goes through whole
"$TOOLS/impair_relay" -target 127.0.0.1:$PORT_A -dribble 400 -off -portfile "$T/relay.port" >"$T/relay.log" 2>&1 &
RELAY=$!
track $RELAY
wait_for 10 test -s "$T/relay.port" || fail "relay: $(cat "$T/relay.log")"
RPORT=$(cat "$T/relay.port")
hsmcm -c "ped connect -ip 127.0.0.1 -port $RPORT; role login -name so; role logout"
[ $RC -eq 0 ] || fail "login through the relay: $OUT"

note "pedserver's frames trickle in a byte at a time: the session ends by the ping timeout"
kill -USR2 $RELAY
start=$SECONDS
hsmcm -c "role login -name so"
[ $RC -ne 0 ] || fail "a login over a trickling link succeeded"
expect_contains "$OUT" "CKR_PED_UNPLUGGED"
[ $((SECONDS - start)) -le 6 ] || fail "CKR_PED_UNPLUGGED took $((SECONDS - start)) s (ping interval 1 s + timeout 2 s)"
grep -q "stopped answering pings" "$T/pedclient.log" || fail "pedclient did not log the ping timeout: $(tail -n 3 "$T/pedclient.log")"

note "the trickle off: a new ped connect and login work"
kill -USR1 $RELAY
wait_for 10 shown A "Client Information:         Not Available" || fail "pedserver still holds the session: $OUT"
hsmcm -c "ped disconnect"
hsmcm -c "ped connect -ip 127.0.0.1 -port $RPORT; role login -name so; ped disconnect"
[ $RC -eq 0 ] || fail "login after the trickle: $OUT"
echo "remote trickle ok"
