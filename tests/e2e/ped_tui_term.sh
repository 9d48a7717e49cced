#!/bin/bash
# The ncurses PED on a terminal it cannot draw on: TERM unset, unknown, or
# dumb. It says why and what to use instead, exit status 2, before anything
# starts. It died in initscr ("Error opening terminal: unknown.", status 1,
# its control socket left behind), or on TERM=dumb drew the PED as one
# garbled line and went on taking keys.
. "$(dirname "$0")/../lib.sh"
set -e
. "$(dirname "$0")/tmux_lib.sh"
export XDG_RUNTIME_DIR="$T/run"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
S=pedterm
screen() { tm capture-pane -p -J -t "$S"; }
# a tmux server for each run: a new session right after kill-server can
# reach the server still going away ("server exited unexpectedly")
servers=()
next_tmux() { cleanup_tmux; S=pedterm${#servers[@]}; servers+=("$S"); }
trap 'for S in "${servers[@]}"; do cleanup_tmux; done; _cleanup' EXIT

for term in UNSET dumb no-such-terminal; do
	if [ $term = UNSET ]; then e=(env -u TERM); else e=(env TERM=$term); fi
	note "TERM=$term"
	next_tmux
	tm new-session -d -s "$S" -x 100 -y 24 "${e[*]} $BIN/ped-device -mode menu -control $T/t.ctl; echo EXIT=\$?; sleep 30"
	tm_wait "EXIT="
	tm_wait "EXIT=2"
	tm_wait "use -headless"
	[ $term = UNSET ] && tm_wait "TERM is not set" || tm_wait "TERM=$term"
	[ ! -e "$T/t.ctl" ] || fail "TERM=$term: the control socket was left behind"
done

note "a terminal it can use still runs the PED"
next_tmux
tm new-session -d -s "$S" -x 80 -y 24 "env TERM=xterm $BIN/ped-device -mode menu -control $T/t.ctl; echo EXIT=\$?; sleep 30"
tm_wait "Select Mode"
tm send-keys -t "$S" q
tm_wait "EXIT=0"
echo "ped tui term ok"
