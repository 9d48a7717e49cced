#!/bin/bash
# The ncurses PED in a terminal too small for it (resized during a
# ceremony, down to 20x5 and one row): it says so, no key of the PED acts
# until the terminal is 80x24 again (they did, blind: a digit, Yes to a
# question nobody could read), quitting still does, and the ceremony's
# screen comes back whole.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
. "$(dirname "$0")/tmux_lib.sh"
export XDG_RUNTIME_DIR="$T/run"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
S=pedsmall
screen() { tm capture-pane -p -J -t "$S"; }
# the message as one line, however narrow the terminal cut it
flat_wait() {
	wait_for 20 eval "screen | tr -d '\n' | grep -qF -- \"$1\"" || { screen >&2; fail "the PED never showed '$1'"; }
}
value() { screen | grep -A2 -F "M value? (1-16)" | tail -n 1 | sed 's/^ *x \(.\{20\}\).*/\1/; s/ *$//'; }

start_hsm
tm new-session -d -s "$S" -x 80 -y 24 \
	"$BIN/ped-device -hsm $T/ped-$HSM_SERIAL.sock -control $T/tui.ctl -keytimeout 60; echo EXITED; sleep 30"
tm_wait "Awaiting command..."
( timeout 120 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "hsm init -label small" >"$T/init.out" 2>&1 ) &
track $!
tm_wait "reuse an existing"
keys n
tm_wait "M value? (1-16)"

for size in "60 20" "20 5" "80 1"; do
	set -- $size
	note "resized to $1x$2: keys wait"
	tm resize-window -t "$S" -x "$1" -y "$2"
	flat_wait "this one is $1x$2"
	keys 2 y Enter KP1 KP9
	"$BIN/ped-device" -control "$T/tui.ctl" -dump-screen >"$T/dump" # the keys were read and passed by
	grep -q "M value? (1-16)" "$T/dump" || fail "a key acted on the unseen screen: $(cat "$T/dump")"
done
tm resize-window -t "$S" -x 80 -y 24
tm_wait "M value? (1-16)"
expect_eq "$(value)" ">" "M after keys typed while the terminal was too small"
keys 3
tm_wait ">03"
! screen | grep -q EXITED || fail "the PED quit"

note "q still quits in a small terminal"
tm resize-window -t "$S" -x 40 -y 10
flat_wait "this one is 40x10"
keys q
tm resize-window -t "$S" -x 80 -y 24
tm_wait "q again quits"
tm resize-window -t "$S" -x 40 -y 10
flat_wait "this one is 40x10"
keys q
tm_wait "EXITED"
echo "ped tui small ok"
