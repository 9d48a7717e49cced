#!/bin/bash
# Issue 32, item 15, the ncurses PED: started without a terminal it says to
# use -headless instead of waiting for keys that never come; "No pedserver
# connected." comes with the socket it tried; q asks before quitting while
# a ceremony is live, and a second q quits; the question ends with the
# ceremony it was about (the HSM gone: the status line no longer says a
# ceremony is live, and the next ceremony's first q asks again).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

note "no terminal: an error that names -headless, at once"
export XDG_RUNTIME_DIR="$T/run"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
set +e
timeout 10 "$BIN/ped-device" -hsm "$T/none.sock" -control "$T/nt.ctl" </dev/null >"$T/nt.out" 2>"$T/nt.err"
rc=$?
set -e
[ $rc -eq 2 ] || fail "ped-device without a terminal exited $rc (124: it waited): $(cat "$T/nt.out" "$T/nt.err")"
grep -q -- "-headless" "$T/nt.err" || fail "no word of -headless: $(cat "$T/nt.err")"

. "$(dirname "$0")/tmux_lib.sh"
S=pedq

note "Remote PED mode with no pedserver names the socket it tried"
tm new-session -d -s "$S" -x 80 -y 24 \
	"$BIN/ped-device -mode remote -pedserver $T/nope/ped.sock -control $T/r.ctl; echo EXITED; sleep 30"
tm_wait "No pedserver"
tm_wait "No pedserver at $T/nope/ped.sock"
keys q
tm_wait "EXITED" # nothing live: q quits at once
cleanup_tmux

note "q during a ceremony asks first; a second q quits"
new_keys k1
start_hsm
tm new-session -d -s "$S" -x 80 -y 24 \
	"$BIN/ped-device -hsm $T/ped-$HSM_SERIAL.sock -control $T/tui.ctl -keytimeout 60; echo EXITED; sleep 30"
tm_wait "Awaiting command..."
( timeout 120 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "hsm init -label q" >"$T/init.out" 2>&1 ) &
track $!
tm_wait "reuse an existing"
keys q
tm_wait "A ceremony is live: q again quits"
! screen | grep -q EXITED || fail "the first q quit during a ceremony"
tm_wait "reuse an existing"
keys q
tm_wait "EXITED"
cleanup_tmux

note "the question ends with its ceremony: the HSM gone, the status says so no more, and the next ceremony's q asks again"
S=pedq2 # a new tmux server: right after kill-server a new session can reach the dying one
tm new-session -d -s "$S" -x 80 -y 24 \
	"$BIN/ped-device -hsm $T/ped-$HSM_SERIAL.sock -control $T/tui2.ctl -keytimeout 60; echo EXITED; sleep 30"
tm_wait "Awaiting command..."
( timeout 120 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "hsm init -label q" >"$T/init.out" 2>&1 ) &
track $!
tm_wait "reuse an existing"
keys q
tm_wait "A ceremony is live: q again quits"
kill -KILL "$HSM_PID"
wait "$HSM_PID" 2>/dev/null || true
tm_wait "No HSM connected."
wait_for 10 eval '! screen | grep -q "q again quits"' || fail "the status line still says a ceremony is live: $(screen)"
rm -f "$HSM_SOCK" "$T"/ped-*.sock
start_hsm
tm_wait "Awaiting command..."
( timeout 120 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "hsm init -label q" >"$T/init2.out" 2>&1 ) &
track $!
tm_wait "reuse an existing"
keys q
tm_wait "A ceremony is live: q again quits"
! screen | grep -q EXITED || fail "the first q of a new ceremony quit, the question of the last one standing"
keys q
tm_wait "EXITED"
echo "ped tui quit ok"
