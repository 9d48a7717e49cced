#!/bin/bash
# Keys the terminal sends as escape sequences ncurses does not know from
# terminfo (TERM=screen under tmux):
# - the numeric keypad in application mode (Esc O q for 1, Esc O M for
#   Enter) is digits and Enter. It was Clear then the letter: keypad 1 was
#   q (quit), 2 r (remove the key), 9 y (Yes), . n (No);
# - any other (Alt-1, Ctrl-Up, F13) is dropped whole. Its Esc was Clear and
#   its digits keypad digits: at a PIN prompt, a PIN nobody typed, and a
#   failed login the HSM counts.
# Esc alone is still Clear.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
. "$(dirname "$0")/tmux_lib.sh"
export XDG_RUNTIME_DIR="$T/run"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
S=pedesc
# the display line under "M value? (1-16)" and the blank one: ">", ">02"
value() { screen | grep -A2 -F "M value? (1-16)" | tail -n 1 | sed 's/^ *x \(.\{20\}\).*/\1/; s/ *$//'; }

start_hsm
tm new-session -d -s "$S" -x 80 -y 24 \
	"$BIN/ped-device -hsm $T/ped-$HSM_SERIAL.sock -control $T/tui.ctl -keytimeout 60; sleep 30"
tm_wait "Awaiting command..."
( timeout 120 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "hsm init -label esc" >"$T/init.out" 2>&1 ) &
track $!
tm_wait "reuse an existing"
keys n
tm_wait "M value? (1-16)"

note "unknown sequences press nothing"
keys M-1
keys -H 1b 5b 31 3b 35 41 # Ctrl-Up, xterm's
keys -H 1b 5b 32 35 7e    # F13, xterm's
keys M-7
keys 2
tm_wait ">02"
expect_eq "$(value)" ">02" "M after Alt-1, F13, F20, Alt-7 and 2"

note "Esc alone is Clear"
keys Escape
wait_for 10 eval '[ "$(value)" = ">" ]' || fail "Esc did not clear: $(value)"
keys 3
tm_wait ">03"
expect_eq "$(value)" ">03" "M after Esc and 3"

note "the numeric keypad: digits and Enter"
keys Escape
wait_for 10 eval '[ "$(value)" = ">" ]' || fail "Esc did not clear: $(value)"
keys KP1
tm_wait ">01"
keys KP2
tm_wait ">12"
keys KPEnter
tm_wait "N value? (M-16)"
! screen | grep -q "q again quits" || fail "keypad 1 was taken for q: $(screen)"
keys KP1 KP5
tm_wait ">15"
keys KPEnter
tm_wait "PED Key (BLUE)"
echo "ped tui escapes ok"
