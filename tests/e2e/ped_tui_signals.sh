#!/bin/bash
# The ncurses PED and the signals a keyboard sends: Ctrl-\ (SIGQUIT) ends it
# as Ctrl-C does, giving the terminal back (it died with the terminal left
# without echo, its screen standing, and its control socket left behind).
. "$(dirname "$0")/../lib.sh"
set -e
. "$(dirname "$0")/tmux_lib.sh"
export XDG_RUNTIME_DIR="$T/run"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
S=pedsig
# a tmux server for each run: a new session right after kill-server can
# reach the server still going away ("server exited unexpectedly")
servers=()
next_tmux() { cleanup_tmux; S=pedsig${#servers[@]}; servers+=("$S"); }
trap 'for S in "${servers[@]}"; do cleanup_tmux; done; _cleanup' EXIT

# after the PED: its exit status, and whether the terminal echoes again
AFTER='echo EXIT=$?; if stty -a | grep -q " echo "; then echo TTY=echo; else echo TTY=noecho; fi; sleep 30'

for sig in C-c 'C-\'; do
	note "$sig at the mode menu: the PED ends and gives the terminal back"
	next_tmux
	tm new-session -d -s "$S" -x 80 -y 24 "$BIN/ped-device -mode menu -control $T/sig.ctl; $AFTER"
	tm_wait "Select Mode"
	keys "$sig"
	tm_wait "EXIT="
	tm_wait "TTY=echo"
	! screen | grep -q "Select Mode" || fail "$sig left the PED's screen standing: $(screen)"
	[ ! -e "$T/sig.ctl" ] || fail "$sig left the control socket behind"
done
echo "ped tui signals ok"
