#!/bin/bash
# SIGHUP reopens a daemon's log file, as logrotate expects (move the file,
# then HUP): hsm-sim, pedserver and pedclient go on logging into a new file
# at the same path. The signal used to end each of them on the spot, with no
# clean stop, its PID file and sockets left behind.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
start_hsm
printf 'ServerPort = 0;\nAdminPort = 0;\n' >"$T/S.conf"
start_pedserver S
printf 'AdminPort = 0;\n' >"$T/pedclient.conf"
start_pedclient
PS_PID=$(cat "$T/S-run/openped/pedserver.pid")
PC_PID=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")

# rotate NAME PID LOG: the log moved away, HUP; the daemon lives on and
# says so in a new file at LOG.
rotate() {
	local name=$1 pid=$2 log=$3
	wait_for 20 test -s "$log" || fail "$name wrote no log to $log"
	mv "$log" "$log.1"
	kill -HUP "$pid"
	wait_for 20 grep -q "the log file reopened" "$log" || fail "$name did not reopen $log after SIGHUP"
	alive "$pid" || fail "$name died of SIGHUP"
	expect_not_contains "$(cat "$log.1")" "the log file reopened" "the moved $name log"
}

note "hsm-sim"
rotate hsm-sim "$HSM_PID" "$T/hsm.log"
hsmcm -c "slot list"
[ $RC -eq 0 ] || fail "hsm-sim does not serve after SIGHUP: $OUT"

note "pedserver"
rotate pedserver "$PS_PID" "$T/S.log"
pedserver_cmd S -mode show
[ $RC -eq 0 ] || fail "pedserver does not answer after SIGHUP: $OUT"

note "pedclient"
rotate pedclient "$PC_PID" "$T/pedclient.log"
pedclient_cmd -mode show
[ $RC -eq 0 ] || fail "pedclient does not answer after SIGHUP: $OUT"

note "SIGTERM still stops each cleanly"
kill -TERM "$PS_PID" "$PC_PID"
wait_gone 20 "$PS_PID" || fail "pedserver did not stop"
wait_gone 20 "$PC_PID" || fail "pedclient did not stop"
[ ! -e "$T/S-run/openped/pedserver.pid" ] || fail "pedserver left its PID file"
echo "log reopen ok"
