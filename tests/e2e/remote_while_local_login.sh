#!/bin/bash
# Regression: a Remote PED session keyed while a login waited on the local
# PED replaced the PED link at once, under the ceremony that was using it
# outside the PED lock: the login broke. Now the keyed session waits for
# the ceremony to give the link back, then takes its place.
# Meanwhile hsm-sim holds no ephemeral key: its handshake is over (the key
# it made ahead stayed alive until the link was given back, up to the PED
# timeout). tests/tools/keyspy.c counts them, as in remote_key_ahead.sh.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
SHIM="$TOOLS/keyspy.so"
[ -e "$SHIM" ] || fail "$SHIM not built"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
live() { if [ -s "$1" ]; then tail -n 1 "$1" | cut -d' ' -f2; else echo 0; fi; }
made() { grep -c '^+' "$1" || true; }

new_keys so dom rpk
init_hsm_with_rpv busy "use \"SO LOGIN\" ${KEY[so]}"
# hsm-sim again, now with the shim
kill -TERM "$HSM_PID"
wait_gone 20 "$HSM_PID"
KEYSPY_FILE="$T/hsm.keys" LD_PRELOAD="$SHIM" start_hsm
hsm0=$(live "$T/hsm.keys")

# The local PED now has an operator who acts only when told (no answerer).
: >"$T/L.events"
start_ped L $HSM_SERIAL - -keytimeout 120

start_pedserver A
start_pedclient
echo "use rpv ${KEY[rpk]}" >"$T/R.policy"
start_remote_ped R A "$T/R.policy"

note "a login waits on the local PED"
( exec timeout 120 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/login.out" 2>&1 ) &
LOGIN_PID=$!
wait_for 20 grep -q '"event":"request"' "$T/L.events" || fail "the login never reached the local PED: $(cat "$T/login.out")"

note "meanwhile a Remote PED session is keyed for the same HSM"
# -wait keys it now (a plain ped connect keys it at the first PED operation)
( exec timeout 120 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "ped connect -ip 127.0.0.1 -port $PORT_A -wait" >"$T/connect.out" 2>&1 ) &
CONNECT_PID=$!
wait_for 30 grep -q '"remote":true' "$T/R.events" || fail "the Remote PED session was not keyed: $(cat "$T/R.ped.log")"
alive "$LOGIN_PID" || fail "the login ended while its PED was taken: $(cat "$T/login.out")"
hsmcm -c "ped get"
expect_contains "$OUT" "computing the session key"
[ "$(made "$T/hsm.keys")" -ge 1 ] || fail "hsm-sim made no ephemeral key: is the shim loaded?"
wait_for 10 eval '[ "$(live "$T/hsm.keys")" = "$hsm0" ]' ||
	fail "hsm-sim holds an ephemeral key while its keyed session waits for the local PED: $(live "$T/hsm.keys") (was $hsm0)"
alive "$LOGIN_PID" || fail "the login ended before the keys were counted: $(cat "$T/login.out")"

note "the operator finishes the login on the local PED: it succeeds"
"$BIN/ped-device" -send "insert ${KEY[so]}" -control "$T/L.ctl" >/dev/null
"$BIN/ped-device" -send "press enter" -control "$T/L.ctl" >/dev/null
set +e
wait "$LOGIN_PID"
rc=$?
set -e
[ $rc -eq 0 ] || fail "the login broke when the Remote PED was keyed (rc $rc): $(cat "$T/login.out")"
expect_contains "$(cat "$T/login.out")" "Command Result : No Error"
expect_not_contains "$(cat "$T/hsm.log")" "PED link lost"
wait "$CONNECT_PID" || fail "ped connect -wait: $(cat "$T/connect.out")"

note "then the Remote PED takes the HSM's PED port"
wait_for 20 eval 'hsmcm -c "ped get"; grep -q "listening to remote PED" <<<"$OUT"' || fail "the Remote PED never took over: $OUT"
expect_not_contains "$OUT" "computing the session key"
"$BIN/ped-device" -send "remove" -control "$T/L.ctl" >/dev/null # the blue key goes to the Remote PED
hsmcm -c "role login -name so"
[ $RC -eq 0 ] || fail "a login on the Remote PED: $OUT"
grep -q '"title":"SO LOGIN' "$T/R.events" || fail "the login did not go to the Remote PED"
echo "remote session while a local login runs ok"
