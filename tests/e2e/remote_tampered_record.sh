#!/bin/bash
# A Remote PED session whose records to the PED are forged or reordered on
# the network (tests/tools/hostile_relay between pedclient and pedserver):
# the PED ends that session (the record fails authentication, or is a
# replay) and the HSM's command fails with CKR_PED_UNPLUGGED, no login
# accepted. The PED's own link to pedserver carried every frame whole, so
# the PED stays attached: the next ped connect works at once. (It used to
# drop its pedserver link and attach again 0.5 s later; a ped connect in
# between was refused, "no PED attached": the hostile relay test's
# NOT-REACHED rounds.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
RELAY="$TOOLS/hostile_relay"
[ -x "$RELAY" ] || fail "$RELAY is missing"

new_keys rpk so dom
start_hsm
start_pedserver A
start_pedclient
cat >"$T/A.policy" <<P
$OPERATOR
write rpv ${KEY[rpk]}
use rpv ${KEY[rpk]}
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no yes
write "SETTING DOMAIN" ${KEY[dom]}
use "SETTING DOMAIN" ${KEY[dom]}
reuse "SETTING PO" yes
use "SETTING PO" ${KEY[so]}
P
start_remote_ped A A "$T/A.policy"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A -password; ped vector init; hsm init -label tamper; ped disconnect"
[ $RC -eq 0 ] || fail "setup: $OUT"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; role login -name so; partition create -label part; ped disconnect"
[ $RC -eq 0 ] || fail "partition: $OUT"
# the PED's event log says when it leaves pedserver, before pedserver (and
# so the HSM) hears of it
detached() { grep -c '"event":"pedserver","attached":false' "$T/A.events" || true; }
detached_before=$(detached)

# tampered CASE COMMANDS: COMMANDS through a relay that applies CASE to the
# HSM's first record (c2s #2: HELLO_V and CONFIRM_V come first).
tampered() {
	local c=$1 cmds=$2
	rm -f "$T/relay.port"
	"$RELAY" -connect "127.0.0.1:$PORT_A" -portfile "$T/relay.port" -case "$c" -target c2s:2 >"$T/relay.log" 2>&1 &
	local relay=$!
	track $relay
	wait_for 10 test -s "$T/relay.port" || fail "relay: $(cat "$T/relay.log")"
	hsmcm -c "ped connect -ip 127.0.0.1 -port $(cat "$T/relay.port"); $cmds"
	kill -TERM $relay
	wait $relay || true
	grep -q "^mutated: $c c2s #2" "$T/relay.log" || fail "$c: the relay did not reach the HSM's first record: $(cat "$T/relay.log")"
	[ $RC -ne 0 ] || fail "$c: $cmds succeeded over a tampered session: $OUT"
	expect_contains "$OUT" "CKR_PED_UNPLUGGED" "$c: hsmcm"
	[ "$(detached)" = "$detached_before" ] ||
		fail "$c: the PED left pedserver after the tampered session: $(grep 'remote_detach' "$T/A.ped.log")"
	# no wait here: the next session must find the PED attached
	hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; role login -name so; role logout; ped disconnect"
	[ $RC -eq 0 ] || fail "$c: the ped connect right after the tampered session failed: $OUT"
}

note "a forged record before the HSM's login request: it fails the PED's record check"
tampered forge "role login -name so"
grep -q "session with HSM $HSM_SERIAL ended: PED_E_BAD_RECORD" "$T/A.ped.log" ||
	fail "the PED did not end the session on the forged record: $(tail -n 5 "$T/A.ped.log")"

note "partition init's new PO keyset: its secret (CSP) before the request, out of order"
tampered reorder "slot set -slot 1; partition init -label p1"
grep -q "session with HSM $HSM_SERIAL ended: PED_E_REPLAY" "$T/A.ped.log" ||
	fail "the PED did not end the session on the record out of order: $(tail -n 5 "$T/A.ped.log")"
hsmcm -c "slot list"
expect_not_contains "$OUT" "p1" "slot list after the tampered partition init"

if grep -q "PED .* disconnected\|no PED attached" "$T/A.log"; then
	fail "pedserver lost its PED: $(grep 'disconnected\|no PED' "$T/A.log")"
fi
grep -q "disconnected: the PED ended the session" "$T/A.log" || fail "pedserver did not end the sessions at the PED's word"
echo "remote tampered record ok"
