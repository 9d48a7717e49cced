#!/bin/bash
# systemd's notify protocol without systemd: each daemon in the foreground
# sends READY=1 (and its MAINPID) to $NOTIFY_SOCKET once it serves, and
# STOPPING=1 on SIGTERM. Also: the shipped units pass systemd-analyze verify.
. "$(dirname "$0")/../lib.sh"
set -e
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data"
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"
listen() { # PATH: print each datagram received, one per line, into PATH.log
	python3 -u - "$1" >"$1.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    print(s.recv(4096).decode().replace("\n", " "), flush=True)
PY
	track $!
	wait_for 5 test -S "$1"
}
for d in pedserver pedclient hsm-sim; do
	sock="$T/$d.notify"
	listen "$sock"
	: >"$T/$d.conf"
	case $d in
	pedserver) cmd=("$BIN/pedserver" -mode start -foreground -port 0 -admin 0 -configfile "$T/$d.conf") ;;
	pedclient) cmd=("$BIN/pedclient" -mode start -foreground -admin 0 -listenport -1 -configfile "$T/$d.conf") ;;
	hsm-sim) cmd=("$BIN/hsm-sim" -state "$T/state" -socket "$T/hsm.sock") ;;
	esac
	NOTIFY_SOCKET="$sock" "${RUN[@]}" "${cmd[@]}" >"$T/$d.out" 2>&1 &
	pid=$!
	track $pid
	wait_for 20 grep -q "READY=1" "$sock.log" || fail "$d sent no READY=1: $(cat "$T/$d.out")"
	grep -q "MAINPID=" "$sock.log" || fail "$d sent no MAINPID"
	kill -TERM $pid
	wait_for 10 grep -q "STOPPING=1" "$sock.log" || fail "$d sent no STOPPING=1"
	wait_gone 10 $pid || fail "$d did not stop"
done
if command -v systemd-analyze >/dev/null; then
	for u in pedserver pedclient hsm-sim; do
		sed -e "s|@BINDIR@|$BIN|" -e "s|@SYSCONFDIR@|$T/etc|" "$PED_SRCDIR/conf/$u.service" >"$T/$u.service"
	done
	(cd "$T" && systemd-analyze verify --man=no pedserver.service pedclient.service hsm-sim.service) ||
		fail "systemd-analyze verify"
else
	echo "note: systemd-analyze not installed; units not verified"
fi
echo "notify ok"
