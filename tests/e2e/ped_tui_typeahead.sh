#!/bin/bash
# A PIN typed ahead on the ncurses PED: Enter and the PIN typed at once,
# before the PED shows "Enter PED PIN:" (here while it shows "Token found").
# The PED takes them, in order, and the event log holds "digit" for each,
# never the PIN: a key logged while the firmware was not waiting on the
# operator was logged under the screen then shown, and a PIN's digits in
# clear.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
. "$(dirname "$0")/tmux_lib.sh"
export XDG_RUNTIME_DIR="$T/run"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
S=pedahead

new_keys so dom
start_hsm
cat >"$T/init.policy" <<P
write "SETTING SO" ${KEY[so]}
newpin so 73519246
write "SETTING DOMAIN" ${KEY[dom]}
P
start_ped A $HSM_SERIAL "$T/init.policy"
hsmcm -c "hsm init -label ahead"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"

tm new-session -d -s "$S" -x 80 -y 24 \
	"$BIN/ped-device -hsm $T/ped-$HSM_SERIAL.sock -control $T/tui.ctl -events $T/tui.events -keytimeout 60; sleep 30"
tm_wait "Awaiting command..."
"$BIN/ped-device" -control "$T/tui.ctl" -send "insert ${KEY[so]}" >/dev/null
tm_wait "iKey port: ${KEY[so]}"
note "Enter and the PIN typed during Token found"
( timeout 120 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/login.out" 2>&1; echo $? >"$T/login.rc" ) &
track $!
tm_wait "Token found"
tm send-keys -t "$S" Enter 7 3 5 1 9 2 4 6 Enter
wait_for 30 test -s "$T/login.rc" || fail "the login did not finish: $(screen)"
[ "$(cat "$T/login.rc")" = 0 ] || fail "the login with the PIN typed ahead failed: $(cat "$T/login.out")"
keys=$(grep '"event":"key"' "$T/tui.events" | sed 's/.*"key":"\([^"]*\)".*/\1/' | tr '\n' ' ')
expect_contains "$keys" "digit digit digit digit digit digit digit digit" "the key events"
expect_not_contains "$(grep '"event":"key"' "$T/tui.events" | tr -d '\n')" '"key":"7"' "the key events"
expect_not_contains "$(cat "$T/tui.events")" "73519246" "the event log"
echo "ped tui typeahead ok"
