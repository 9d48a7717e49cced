#!/bin/bash
# The ncurses PED whose terminal goes away without a SIGHUP reaching it (it
# runs in a session of its own, setsid, as a service manager or a wrapper
# may start it): it quits, as on a hangup. It polled the dead terminal for
# ever, spinning a core, its control socket still taking requests.
. "$(dirname "$0")/../lib.sh"
set -e
. "$(dirname "$0")/tmux_lib.sh"
command -v setsid >/dev/null || skip "setsid is not installed"
export XDG_RUNTIME_DIR="$T/run"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
S=pedhup

tm new-session -d -s "$S" -x 80 -y 24 "setsid -w $BIN/ped-device -mode menu -control $T/hup.ctl"
wait_for 20 eval 'screen | grep -q "Select Mode"' || fail "the PED did not start: $(screen)"
pid=$(pgrep -f -- "^$BIN/ped-device -mode menu -control $T/hup.ctl")
[ -n "$pid" ] || fail "no ped-device process"
track "$pid"
note "the terminal goes away: the PED quits"
cleanup_tmux
wait_gone 10 "$pid" || fail "the PED outlived its terminal ($(ps -o stat=,pcpu= -p "$pid"))"
[ ! -e "$T/hup.ctl" ] || fail "the control socket outlived the PED"
echo "ped tui hangup ok"
