#!/bin/bash
# The PED's modes as chapter 5 has them (docs/ped-device.md, "Modes"):
# - at power-on the PED is in "Local PED mode / Awaiting command..." and the
#   first HSM command chooses the mode: a request on the HSM's local link
#   keeps Local PED mode, a session pedserver opens switches to Remote PED
#   mode, and back (it used to wait in "Select Mode", or serve one cable only);
# - "Token found" shows before each ceremony's prompt;
# - ped connect asks the PED for nothing: the orange key is asked for at the
#   first command that needs the PED, and hsmcm says "present the orange RPK"
#   only when the PED does not hold it;
# - "Exiting now will invalidate the RPK" only when an RPK is held, and only
#   Yes leaves.
# The PED here has no answerer: the test is its operator (ped-device -send).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

new_keys so dom rpk
init_hsm_with_rpv modes
start_pedserver A
start_pedclient

# The PED of this test: cabled to the HSM and to pedserver, no -mode.
"${RUN[@]}" "$BIN/ped-device" -headless -hsm "$T/ped-$HSM_SERIAL.sock" -pedserver "$(ped_socket_of A)" \
	-control "$T/M.ctl" -events "$T/M.events" -keytimeout 30 >"$T/M.log" 2>&1 &
track $!
send() { "$BIN/ped-device" -control "$T/M.ctl" -send "$*" >/dev/null; }
screen() { "$BIN/ped-device" -control "$T/M.ctl" -dump-screen 2>/dev/null | tr '\n' ' '; }
# shows TEXT: the PED shows TEXT (its lines joined by spaces) within 20 s
shows() {
	WANT=$1
	wait_for 20 eval 'screen | grep -qF -- "$WANT"' || fail "the PED never showed '$1': $(screen)"
}
# screens: the screens the PED showed, one a line, lines joined by " / "
screens() { grep '"event":"screen"' "$T/M.events" | sed 's/.*"text":"\(.*\)"}$/\1/; s/\(\\n\)*$//; s|\\n| / |g'; }
# line_of TEXT: the number of the first screen (from the event log) holding TEXT, after line $2
line_of() { screens | awk -v t="$1" -v from="${2:-0}" 'NR > from && index($0, t) { print NR; exit }'; }

note "power-on: Local PED mode, awaiting a command, on both cables"
shows "Local PED mode Awaiting command..."
expect_eq "$(screens | grep -v '^BOOT' | head -n 1)" "Local PED mode / Awaiting command..." "the first screen after boot"
wait_for 10 shown A "Ped2 Connection Status:   Connected" || fail "pedserver does not see the PED in Local PED mode: $OUT"

note "a command on the local link: Local PED mode serves it, 'Token found' before the prompt"
( exec timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/local.out" 2>&1 ) &
LPID=$!
shows "SO LOGIN... Insert a SO / HSM Admin PED Key (BLUE)"
send insert "${KEY[so]}"
send press enter
wait "$LPID" || fail "local login: $(cat "$T/local.out")"
found=$(line_of "Local PED mode / Token found")
login=$(line_of "SO LOGIN...")
[ -n "$found" ] && [ "$found" -lt "$login" ] || fail "no 'Token found' before the login's prompt: $(screens)"
send remove

note "ped connect: the PED switches to Remote PED mode and asks for nothing yet"
shows "Local PED mode Awaiting command..."
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A"
[ $RC -eq 0 ] || fail "ped connect to a PED in Local PED mode: $OUT"
expect_not_contains "$OUT" "present the orange RPK"
shows "Remote PED mode Awaiting command..."
grep -q '"event":"mode","mode":"remote"' "$T/M.events" || fail "no switch to Remote PED mode: $(cat "$T/M.events")"
hsmcm -c "ped get"
expect_contains "$OUT" "session key at the first PED operation"
! screens | grep -q "COMPUTE SESSION KEY" || fail "the PED asked for the orange key at ped connect: $(screens)"
mark=$(screens | wc -l)

note "the first command that needs the PED: the orange key, then 'Token found', then the blue key"
shows "Remote PED mode Awaiting command..."
( exec timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/remote.out" 2>&1 ) &
RPID=$!
shows "COMPUTE SESSION KEY. Insert a RPK / Remote PED Key (ORANGE)"
send insert "${KEY[rpk]}"
send press enter
shows "SO LOGIN... Insert a SO / HSM Admin PED Key (BLUE)"
send insert "${KEY[so]}"
send press enter
wait "$RPID" || fail "remote login: $(cat "$T/remote.out")"
expect_contains "$(cat "$T/remote.out")" "present the orange RPK to compute the session key."
orange=$(line_of "COMPUTE SESSION KEY. / Insert a" "$mark")
found=$(line_of "Remote PED mode / Token found" "$mark")
login=$(line_of "SO LOGIN..." "$mark")
[ -n "$orange" ] && [ -n "$found" ] && [ "$orange" -lt "$found" ] && [ "$found" -lt "$login" ] ||
	fail "not orange key, Token found, blue key in that order: $(screens | tail -n +"$mark")"
send remove

note "the PED holds the RPK now: ped connect keys the session at once, no orange key asked, nothing said of it"
shows "Remote PED mode Awaiting command..."
mark=$(screens | wc -l)
( exec timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "ped disconnect; ped connect -ip 127.0.0.1 -port $PORT_A; ped get; role login -name so" >"$T/held.out" 2>&1 ) &
HPID=$!
shows "SO LOGIN... Insert a SO / HSM Admin PED Key (BLUE)"
send insert "${KEY[so]}"
send press enter
wait "$HPID" || fail "login with the RPK held: $(cat "$T/held.out")"
expect_not_contains "$(cat "$T/held.out")" "present the orange RPK"
expect_not_contains "$(cat "$T/held.out")" "session key at the first PED operation"
! screens | tail -n +"$((mark + 1))" | grep -q "COMPUTE SESSION KEY. / Insert" ||
	fail "the orange key asked again: $(screens | tail -n +"$mark")"
send remove

note "the exit warning with an RPK held: No keeps Remote PED mode"
shows "Remote PED mode Awaiting command..."
send press "<"
shows "Exiting now will invalidate the RPK. Confirm? YES/NO"
send press no
shows "Remote PED mode Awaiting command..."

note "after ped disconnect, a local command: back to Local PED mode"
hsmcm -c "ped disconnect"
[ $RC -eq 0 ] || fail "ped disconnect: $OUT"
wait_for 20 eval 'hsmcm -c "ped get"; grep -q "Local PED attached" <<<"$OUT"' || fail "the PED did not come back on the local link: $OUT"
mark=$(screens | wc -l)
( exec timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/local.out" 2>&1 ) &
LPID=$!
shows "SO LOGIN... Insert a SO / HSM Admin PED Key (BLUE)"
send insert "${KEY[so]}"
send press enter
wait "$LPID" || fail "local login after the Remote PED session: $(cat "$T/local.out")"
[ -n "$(line_of "Local PED mode / Token found" "$mark")" ] || fail "the PED did not serve it in Local PED mode: $(screens | tail -n +"$mark")"
send remove
shows "Local PED mode Awaiting command..."

note "< leaves the mode: the RPK read in Remote PED mode is still held, so the PED warns; Yes leaves"
send press "<"
shows "invalidate the RPK."
send press yes
shows "Select Mode"
echo "ped modes ok"
