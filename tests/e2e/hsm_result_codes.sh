#!/bin/bash
# Only the reference's result codes reach the operator: a PED busy with
# another session's login and a second ped connect answer CKR_DEVICE_ERROR
# (they printed PED_E_BUSY), a session key that was not computed answers
# CKR_PED_UNPLUGGED (it printed PED_E_KEY_CONFIRM); the message line before
# the result keeps the detail, and says what to do when there is no PED at
# all (it said nothing but CKR_PED_UNPLUGGED).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

no_internal_codes() { expect_not_contains "$1" "PED_E_" "${2:-output}"; }

new_keys so dom
start_hsm
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
write "SETTING DOMAIN" ${KEY[dom]}
P
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label codes"
[ $RC -eq 0 ] || fail "hsm init: $OUT"

note "a login waits on the PED; a second session's login finds the PED busy"
kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"; rm -f "$T/A.events"
start_ped A $HSM_SERIAL - -keytimeout 600
( exec timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/first.out" 2>&1 ) &
FIRST=$!
wait_for 20 grep -q '"event":"request"' "$T/A.events" || fail "the first login never reached the PED"
hsmcm -c "role login -name so"
[ $RC -ne 0 ] || fail "a second login used a busy PED: $OUT"
expect_contains "$OUT" "Command Result : 0x30 (CKR_DEVICE_ERROR)"
expect_contains "$OUT" "is busy with another session's operation"
# as the operator guide's "Result codes" prints it
guide=$(awk '/^## Result codes/ { on = 1 } on && /^```$/ { if (++n == 2) exit; next } on && n == 1' \
	"$PED_SRCDIR/docs/operator-guide.md" | expand | sed 's/[[:space:]]*$//')
[ "$guide" = "$(expand <<<"$OUT" | sed 's/[[:space:]]*$//' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}')" ] ||
	fail "the busy PED's answer is not what the operator guide prints: $OUT"
no_internal_codes "$OUT" "the busy PED's answer"
kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"
wait "$FIRST" || true
no_internal_codes "$(cat "$T/first.out")" "the first login's answer"

note "the PED gone, then no PED at all: CKR_PED_UNPLUGGED says so, and what to do"
# the killed PED's link is found dead at the next PED operation, if not before
hsmcm -c "role login -name so"
[ $RC -ne 0 ] || fail "a login with no PED succeeded: $OUT"
expect_contains "$OUT" "Command Result : 0x8000002e (CKR_PED_UNPLUGGED)"
grep -qF "Error: the local PED of HSM $HSM_SERIAL has gone; attach it again (ped-device -hsm " <<<"$OUT" ||
	expect_contains "$OUT" "Error: no PED is attached to HSM $HSM_SERIAL"
hsmcm -c "role login -name so"
[ $RC -ne 0 ] || fail "a login with no PED succeeded: $OUT"
expect_contains "$OUT" "Command Result : 0x8000002e (CKR_PED_UNPLUGGED)"
expect_contains "$OUT" "Error: no PED is attached to HSM $HSM_SERIAL: attach one to its local PED link (ped-device -hsm "
expect_contains "$OUT" "or connect a Remote PED (ped connect)."

note "a second ped connect while a session is open"
start_pedserver A
start_pedclient
printf 'password %s\nidentity %s\n' "$TRANSCRIPT" "$TRANSCRIPT" >"$T/r.policy"
start_remote_ped R A "$T/r.policy"
hsmcm -c "ped connect -slot 20 -ip 127.0.0.1 -port $PORT_A -password"
[ $RC -eq 0 ] || fail "ped connect: $OUT"
hsmcm -c "ped connect -slot 20 -ip 127.0.0.1 -port $PORT_A -password"
[ $RC -ne 0 ] || fail "a second ped connect succeeded: $OUT"
expect_contains "$OUT" "Command Result : 0x30 (CKR_DEVICE_ERROR)"
expect_contains "$OUT" "a Remote PED session is already open"
no_internal_codes "$OUT" "the second connect's answer"
hsmcm -c "ped disconnect -slot 20"

note "a wrong one-time password: the session key is not computed"
kill -TERM "$PED_R_PID"; wait_gone 10 "$PED_R_PID"
printf 'password 87654321\nidentity %s\n' "$TRANSCRIPT" >"$T/wrong.policy"
start_remote_ped R A "$T/wrong.policy"
wait_for 10 shown A "Client Information:         Not Available" || fail "pedserver still busy"
hsmcm -c "ped connect -slot 20 -ip 127.0.0.1 -port $PORT_A -password -wait"
[ $RC -ne 0 ] || fail "a wrong password keyed a session: $OUT"
expect_contains "$OUT" "Command Result : 0x8000002e (CKR_PED_UNPLUGGED)"
expect_contains "$OUT" "key confirmation failed"
no_internal_codes "$OUT" "the wrong password's answer"
echo "result codes ok"
