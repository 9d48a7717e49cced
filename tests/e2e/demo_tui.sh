#!/bin/bash
# make demo-tui's wiring, through tmux: the cheat sheet, the ncurses PED in
# Remote PED mode attached to pedserver, the shell's first step waiting on it
# (the one-time password screen), and a clean exit when the PED is closed early
# (q asks first while the session is live, then quits).
. "$(dirname "$0")/../lib.sh"
set -e
command -v tmux >/dev/null || skip "tmux is not installed"
S=peddemo$$
mkdir -p "$T/tmp"
tmux -L "$S" new-session -d -s "$S" -x 100 -y 40 \
	"TMPDIR='$T/tmp' bash '$PED_SRCDIR/scripts/demo.sh' '$(basename "$PED_BUILD")' --tui; echo DEMO-EXIT=\$?; sleep 30"
trap 'tmux -L "$S" kill-server 2>/dev/null; _cleanup' EXIT
screen() { tmux -L "$S" capture-pane -p -t "$S"; }
wait_for 30 eval 'screen | grep -q "Press Enter to start the PED"' || fail "no cheat sheet: $(screen)"
screen | grep -q "one-time password     the line 'HSM: ... enter following password'" || fail "cheat sheet incomplete: $(screen)"
tmux -L "$S" send-keys -t "$S" Enter
wait_for 30 eval 'screen | grep -q "Is this the HSM?"' || fail "the PED did not ask to confirm the HSM: $(screen)"
# the shell's lines under the keys: the identity to compare, and the password
fpr=$(screen | sed -n 's/^ . \(.\{20\}\) .*/\1/p' | grep -A1 "HOC fingerprint:" | tail -n 1 | tr -d ' ')
wait_for 10 eval 'screen | tr -d " " | grep -q "identity:HOCfingerprint$fpr"' || fail "the PED's fingerprint ($fpr) is not the shell's: $(screen)"
wait_for 10 eval 'screen | grep -q "enter following password: [0-9]\{8\}"' || fail "the password is not shown: $(screen)"
tmux -L "$S" send-keys -t "$S" y
wait_for 30 eval 'screen | grep -q "Enter PED Password"' || fail "the PED did not ask for the password: $(screen)"
# a Remote PED session is live: the first q asks, the second quits
tmux -L "$S" send-keys -t "$S" q
wait_for 10 eval 'screen | grep -q "q again quits"' || fail "q did not ask before quitting: $(screen)"
tmux -L "$S" send-keys -t "$S" q
wait_for 30 eval 'screen | grep -q "DEMO-EXIT="' || fail "the demo did not end: $(screen)"
screen | grep -q "the PED was closed before the ceremony ended" || fail "no reason given: $(screen)"
wait_for 10 eval '[ -z "$(ls -A "$T/tmp")" ]' || fail "demo left files: $(ls -A "$T/tmp")"
echo "demo-tui ok"
