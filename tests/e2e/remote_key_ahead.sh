#!/bin/bash
# Both ends of a Remote PED handshake make their ephemeral key ahead of it
# (docs/performance.md, fifth round), so it is off the path from ped connect
# to the session key. An ephemeral key lives no longer than its handshake
# needs: a session that waits for its first PED operation (the orange key is
# asked then; chapter 5, steps 7-10) can wait hours, and it holds no ephemeral
# key meanwhile, on either end. Keyed at once (the PED holds the RPK), each
# end makes exactly one ephemeral key, the one made ahead, and frees it.
# (hsm-sim and the PED made their keys ahead for deferred sessions too, and
# held them until the first command or ped disconnect.)
# tests/tools/keyspy.c (LD_PRELOAD) counts the P-521 keys each process has
# generated and not yet freed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
SHIM="$TOOLS/keyspy.so"
PEER="$PED_SRCDIR/tests/e2e/relay_peer.py"
LINK_TIMEOUT=5
[ -e "$SHIM" ] || fail "$SHIM not built"
# An ASan build wants its runtime first; the shim is loaded before it.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

# live FILE: P-521 keys generated and alive in the process writing FILE
live() { if [ -s "$1" ]; then tail -n 1 "$1" | cut -d' ' -f2; else echo 0; fi; }
# made FILE: how many P-521 keys that process has generated
made() { grep -c '^+' "$1" || true; }

new_keys so dom rpk
init_hsm_with_rpv first
# hsm-sim again, now with the shim (its setup's local PED ran without it)
kill -TERM "$HSM_PID"
wait_gone 20 "$HSM_PID"
KEYSPY_FILE="$T/hsm.keys" LD_PRELOAD="$SHIM" start_hsm
start_pedserver A
start_pedclient
printf 'use rpv %s\nuse so %s\n' "${KEY[rpk]}" "${KEY[so]}" >"$T/R.policy"
# a short exchange time: a key made ahead lives no longer (below)
printf 'link_timeout = %d;\n' "$LINK_TIMEOUT" >"$T/R.conf"
KEYSPY_FILE="$T/ped.keys" LD_PRELOAD="$SHIM" start_remote_ped R A "$T/R.policy" -configfile "$T/R.conf"
screens() { grep '"event":"screen"' "$T/R.events" | sed 's/.*"text":"\(.*\)"}$/\1/; s/\(\\n\)*$//; s|\\n| / |g'; }
hsm0=$(live "$T/hsm.keys") ped0=$(live "$T/ped.keys")

note "a deferred session (the PED lacks the RPK): no ephemeral key on either end while it waits"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; ped get"
[ $RC -eq 0 ] || fail "ped connect: $OUT"
expect_contains "$OUT" "session key at the first PED operation"
wait_for 10 grep -q '"event":"session"' "$T/R.events" || fail "pedserver opened no session: $(cat "$T/R.events")"
wait_for 10 eval '[ "$(screens | tail -n 1)" = "Remote PED mode / Awaiting command..." ]' ||
	fail "the PED does not await a command: $(screens | tail -n 3)"
expect_eq "$(live "$T/hsm.keys")" "$hsm0" "ephemeral keys alive in hsm-sim while the session waits"
expect_eq "$(live "$T/ped.keys")" "$ped0" "ephemeral keys alive in the PED while the session waits"

note "the first PED operation keys the session; the keys it made are gone after"
hsmcm -c "role login -name so"
[ $RC -eq 0 ] || fail "role login: $OUT"
grep -q '"scheme":"2e2s"' "$T/R.events" || fail "the session did not run 2e2s"
[ "$(made "$T/hsm.keys")" -ge 1 ] || fail "hsm-sim made no ephemeral key: is the shim loaded?"
[ "$(made "$T/ped.keys")" -ge 1 ] || fail "the PED made no ephemeral key: is the shim loaded?"
expect_eq "$(live "$T/hsm.keys")" "$hsm0" "ephemeral keys alive in hsm-sim after the handshake"
expect_eq "$(live "$T/ped.keys")" "$ped0" "ephemeral keys alive in the PED after the handshake"

note "the PED holds the RPK: keyed at once, each end makes one key, the one made ahead, and frees it"
wait_for 10 shown A "Ped2 RPK Serial Numbers   ($HSM_SERIAL)" || fail "pedserver does not know the PED holds the RPK: $OUT"
hsmcm -c "ped disconnect"
[ $RC -eq 0 ] || fail "ped disconnect: $OUT"
hsm1=$(made "$T/hsm.keys") ped1=$(made "$T/ped.keys") sessions=$(grep -c '"remote":true' "$T/R.events" || true)
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; ped get"
[ $RC -eq 0 ] || fail "second ped connect: $OUT"
expect_not_contains "$OUT" "session key at the first PED operation"
wait_for 10 eval '[ "$(grep -c "\"remote\":true" "$T/R.events")" -gt "$sessions" ]' || fail "the second session was not keyed"
wait_for 10 eval '[ "$(live "$T/hsm.keys")" = "$hsm0" ] && [ "$(live "$T/ped.keys")" = "$ped0" ]' ||
	fail "ephemeral keys outlive the handshake: hsm-sim $(live "$T/hsm.keys") (was $hsm0), PED $(live "$T/ped.keys") (was $ped0)"
expect_eq "$(($(made "$T/hsm.keys") - hsm1))" 1 "ephemeral keys hsm-sim made for a session keyed at once"
expect_eq "$(($(made "$T/ped.keys") - ped1))" 1 "ephemeral keys the PED made for a session keyed at once"
hsmcm -c "role login -name so"
[ $RC -eq 0 ] || fail "role login in the second session: $OUT"

note "the PED holds the RPK but no HELLO_V comes: the key made ahead is gone after one exchange's time"
# Whether the HSM keys at once is the HSM's choice, from a WELCOME flag the
# relays set: pedserver's list of the PED's RPKs may be stale or cut short,
# and anyone who reaches pedserver may open a session and never key it. The
# PED made its key ahead and held it for as long as such a session waited.
hsmcm -c "ped disconnect"
[ $RC -eq 0 ] || fail "ped disconnect of the second session: $OUT"
ped2=$(made "$T/ped.keys") sessions=$(grep -c '"event":"session"' "$T/R.events" || true)
python3 "$PEER" "tcp:127.0.0.1:$PORT_A" hello 3 1 1 "$HSM_SERIAL" expect WELCOME silent $((LINK_TIMEOUT * 4)) \
	>"$T/peer.out" 2>&1 &
peer=$!
track $peer
wait_for 10 eval '[ "$(grep -c "\"event\":\"session\"" "$T/R.events")" -gt "$sessions" ]' ||
	fail "pedserver opened no session for the client that never keys: $(cat "$T/peer.out")"
wait_for 10 eval '[ "$(made "$T/ped.keys")" -gt "$ped2" ]' || fail "the PED made no key ahead: the case is not tested"
wait_for $((LINK_TIMEOUT + 5)) eval '[ "$(live "$T/ped.keys")" = "$ped0" ]' ||
	fail "the PED still holds its key made ahead $((LINK_TIMEOUT + 5)) s after the session opened: $(live "$T/ped.keys") (was $ped0)"
grep -q '"event":"detached"' <(tail -n +"$(grep -n '"event":"session"' "$T/R.events" | tail -n 1 | cut -d: -f1)" "$T/R.events") &&
	fail "the session ended: the key went with it, not on its own"
kill "$peer" 2>/dev/null || true
wait "$peer" 2>/dev/null || true

note "ped disconnect of a deferred session: nothing was made, nothing is left"
kill -TERM "$PED_R_PID"
wait_gone 10 "$PED_R_PID"
: >"$T/R.events" && : >"$T/ped.keys"
KEYSPY_FILE="$T/ped.keys" LD_PRELOAD="$SHIM" start_remote_ped R A "$T/R.policy"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A"
[ $RC -eq 0 ] || fail "third ped connect: $OUT"
wait_for 10 eval '[ "$(screens | tail -n 1)" = "Remote PED mode / Awaiting command..." ]' ||
	fail "the new PED does not await a command: $(screens | tail -n 3)"
expect_eq "$(live "$T/hsm.keys")" "$hsm0" "ephemeral keys alive in hsm-sim while the new PED's session waits"
expect_eq "$(made "$T/ped.keys")" 0 "ephemeral keys the new PED made for a session that waits"
hsmcm -c "ped disconnect"
[ $RC -eq 0 ] || fail "ped disconnect of the waiting session: $OUT"
expect_eq "$(live "$T/hsm.keys")" "$hsm0" "ephemeral keys alive in hsm-sim after ped disconnect"

note "a session the PED refuses: the key made ahead goes before the refusal waits for its operator"
# The refusal's screen waits for ENTER, up to the key timeout: this PED's
# operator acts only when the test says (ped-device -send), as a person would.
kill -TERM "$PED_R_PID"
wait_gone 10 "$PED_R_PID"
: >"$T/ped.keys"
KEYSPY_FILE="$T/ped.keys" LD_PRELOAD="$SHIM" "${RUN[@]}" "$BIN/ped-device" -headless -mode remote \
	-pedserver "$(ped_socket_of A)" -control "$T/M.ctl" -events "$T/M.events" -keytimeout 120 >"$T/M.ped.log" 2>&1 &
PED_M_PID=$!
track $PED_M_PID
wait_for 20 grep -q '"attached":true' "$T/M.events" || fail "the PED did not attach: $(cat "$T/M.ped.log")"
send() { "$BIN/ped-device" -send "$*" -control "$T/M.ctl" >/dev/null; }
asks() { [ "$("$BIN/ped-device" -send prompt -control "$T/M.ctl" 2>/dev/null | head -n 1)" = "$1" ]; }
shows() { "$BIN/ped-device" -send screen -control "$T/M.ctl" 2>/dev/null | grep -q "$1"; }
(exec timeout 60 "${RUN[@]}" "$BIN/hsmcm" -socket "$HSM_SOCK" -c "ped connect -ip 127.0.0.1 -port $PORT_A -wait" \
	>"$T/m.connect" 2>&1) &
connect=$!
wait_for 30 asks "insert-read RPV" || fail "the PED did not ask for the orange key: $(tail -n 3 "$T/M.events")"
send insert "${KEY[rpk]}"
send press enter
wait "$connect" || fail "ped connect with the orange key: $(cat "$T/m.connect")"
send remove
hsmcm -c "ped disconnect"
[ $RC -eq 0 ] || fail "ped disconnect after the orange key: $OUT"
wait_for 10 shown A "Ped2 RPK Serial Numbers   ($HSM_SERIAL)" || fail "the PED reports no RPK: $OUT"
wait_for 10 shown A "Client Information:         Not Available" || fail "pedserver still serves hsm-sim: $OUT"
made0=$(made "$T/ped.keys")
# an HSM that offers 1e1s where the PED holds its HOC (tests/tools/fake_hsm)
"${RUN[@]}" "$TOOLS/fake_hsm" -connect "127.0.0.1:$PORT_A" -serial "$HSM_SERIAL" -attack rpk-evict -mode scheme \
	-timeout 30 >"$T/fake.out" 2>&1 &
fake=$!
track $fake
wait_for 30 shows "Refused" || fail "the PED did not refuse the session: $(tail -n 3 "$T/M.events")"
[ "$(made "$T/ped.keys")" -gt "$made0" ] || fail "the PED made no key ahead: the case is not tested"
expect_eq "$(live "$T/ped.keys")" 0 "ephemeral keys alive in the PED while its refusal waits for ENTER"
send press enter
wait "$fake" 2>/dev/null || true
echo "remote key ahead ok"
