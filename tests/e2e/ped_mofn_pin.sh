#!/bin/bash
# Issue acceptance (PED): a headless 3-of-5 login where one PIN is wrong
# fails only after the third key, the HSM reports CKR_PIN_INCORRECT and
# counts the failure once. Also: a script that does not match the PED's
# screen fails fast, showing the screen it saw.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys s1 s2 s3 s4 s5 dom
start_hsm
cat >"$T/init.policy" <<P
mofn so 3 5
write "SETTING SO" ${KEY[s1]} ${KEY[s2]} ${KEY[s3]} ${KEY[s4]} ${KEY[s5]}
newpin so 11111111 22222222 33333333 44444444 55555555
write "SETTING DOMAIN" ${KEY[dom]}
P
# five keys with PINs, read six times: the cheap test cost, on purpose
start_ped A $HSM_SERIAL "$T/init.policy" -pinmaskcost 8
hsmcm -c "hsm init -label main"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
kill -TERM $PED_A_PID
wait_gone 10 $PED_A_PID

cat >"$T/login.script" <<S
# first key, right PIN
expect "SO LOGIN... Insert a SO / HSM Admin PED Key (BLUE) Press ENTER."
insert ${KEY[s1]}
press enter
expect "Enter PED PIN:"
pin 11111111
# second key, wrong PIN: the PED cannot tell, and goes on
expect "Keys read: 01 of 03 Insert another"
insert ${KEY[s2]}
press enter
expect "Enter PED PIN:"
pin 99999999
expect "Keys read: 02 of 03"
insert ${KEY[s4]}
press enter
expect "Enter PED PIN:"
pin 44444444
wait-idle
remove
S
note "3 of 5 with one wrong PIN: the failure comes after the third key"
play_script S "$T/login.script"
hsmcm -c "role login -name so"
[ $RC -ne 0 ] || fail "login with a wrong PIN succeeded"
expect_contains "$OUT" "Command Result : 0xa0 (CKR_PIN_INCORRECT)"
wait "$SPID" || { cat "$T/S.log" >&2; fail "the login script did not run to its end"; }
[ "$(grep -c '"event":"insert"' "$T/S.events")" = 3 ] || fail "expected three keys inserted"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 1 of 3"

note "the same three keys with the right PINs log in, and reset the count"
sed -i 's/pin 99999999/pin 22222222/' "$T/login.script"
: >"$T/S.events"
play_script S "$T/login.script"
hsmcm -c "role login -name so"
[ $RC -eq 0 ] || fail "login with the right PINs: $OUT"
wait "$SPID" || fail "second script"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 0 of 3"

note "a script that does not match fails fast with the screen it saw"
cat >"$T/wrong.script" <<S
expect "SO LOGIN"
insert ${KEY[s1]}
press enter
expect "Keys read: 01 of 05"
S
: >"$T/S.events"
play_script S "$T/wrong.script" -expecttimeout 300
( timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/hsmcm.out" 2>&1 || true ) &
track $!
# far sooner than the 300 s expect timeout: the PED waits on a PIN, not on the HSM
wait_for 30 eval "! alive $SPID" || fail "the mismatching script did not fail fast"
wait "$SPID" && fail "the mismatching script passed" || true
grep -q "expected \"Keys read: 01 of 05\"" "$T/S.log" || fail "no mismatch report: $(cat "$T/S.log")"
grep -q "Enter PED PIN:" "$T/S.log" || fail "the report does not show the screen: $(cat "$T/S.log")"
echo PASS
