#!/bin/bash
# What the headless PED writes down and how it reads its policy:
# - the event log (0600) never holds a PIN or password: digits typed at those
#   prompts are logged as "digit", as the screen shows stars;
# - a policy's `pin` rule matches its key's serial in either case (in lower
#   case it was ignored: the login failed and was counted);
# - a `newpin` the PED would refuse is refused when the policy is read (the
#   answerer retyped it for ever, flooding the log);
# - leaving Remote PED mode without an RPK held asks nothing; the "Exiting
#   now will invalidate the RPK" question, asked when one is held, left the
#   mode when nobody answered it; no answer now means No (test_ped_dialog.c,
#   tests/e2e/ped_modes.sh).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so dom
start_hsm
cat >"$T/init.policy" <<P
write "SETTING SO" ${KEY[so]}
newpin so 73519246
write "SETTING DOMAIN" ${KEY[dom]}
P
start_ped A $HSM_SERIAL "$T/init.policy"
hsmcm -c "hsm init -label secrets"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"

note "the event log holds no PIN and is 0600"
[ "$(stat -c %a "$T/A.events")" = 600 ] || fail "event log mode $(stat -c %a "$T/A.events")"
keys=$(grep '"event":"key"' "$T/A.events" | sed 's/.*"key":"\([^"]*\)".*/\1/' | tr '\n' ' ')
expect_contains "$keys" "digit digit digit"
expect_not_contains "$(echo "$keys" | tr -d ' ')" "73519246" "the key events"
expect_not_contains "$(cat "$T/A.events")" "73519246" "the event log"

note "a pin rule with the serial in lower case"
lower=$(echo "${KEY[so]}" | tr 'A-F' 'a-f')
printf 'pin %s 73519246\n' "$lower" >"$T/login.policy"
start_ped B $HSM_SERIAL "$T/login.policy"
hsmcm -c "role login -name so; hsm showinfo"
[ $RC -eq 0 ] || fail "login with a lower-case pin rule: $OUT"
expect_contains "$OUT" "SO failed logins -> 0 of 3"
kill -TERM "$PED_B_PID"; wait_gone 10 "$PED_B_PID"

note "a newpin the PED would refuse is refused with the policy"
printf 'newpin so 0123\n' >"$T/bad.policy"
rc=0
OUT=$(timeout 20 "${RUN[@]}" "$BIN/ped-device" -headless -policy "$T/bad.policy" -control "$T/bad.ctl" 2>&1) || rc=$?
[ $rc -eq 1 ] || fail "ped-device with a bad newpin exited $rc: $OUT"
expect_contains "$OUT" "newpin 0123: PIN must not start with 0"

note "without an RPK held, < leaves Remote PED mode at once"
"${RUN[@]}" "$BIN/ped-device" -headless -mode remote -pedserver "$T/no-pedserver.sock" -keytimeout 1 \
	-control "$T/R.ctl" -events "$T/R.events" >"$T/R.log" 2>&1 &
track $!
screen() { "$BIN/ped-device" -control "$T/R.ctl" -dump-screen 2>/dev/null; }
wait_for 20 eval 'screen | grep -q "Remote PED mode"' || fail "the PED did not start in Remote PED mode"
"$BIN/ped-device" -control "$T/R.ctl" -send "press <" >/dev/null
wait_for 10 eval 'screen | grep -q "Select Mode"' || fail "< did not leave Remote PED mode: $(screen)"
! grep -q "invalidate the RPK" "$T/R.events" || fail "the PED warned of an RPK it does not hold"
echo "ped policy and secrets ok"
