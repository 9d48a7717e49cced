#!/bin/bash
# A secret in hsmcm -c (a role's -password, a -challenge, object create's
# -value) was on hsmcm's command line, which every local user reads in
# /proc/PID/cmdline (mode 0444; ps shows it) for as long as hsmcm runs, a
# whole PED ceremony included. hsmcm copies the commands and wipes such an
# argument before it connects; one with no secret stays readable.
. "$(dirname "$0")/../lib.sh"
set -e
command -v python3 >/dev/null || skip "python3 is needed for a silent hsm-sim stand-in"

# A control socket that takes the connection, says so and never answers:
# hsmcm waits on it with its command line as it will be for the session.
serve() {
	rm -f "$T/s.sock" "$T/accepted"
	python3 - "$T/s.sock" "$T/accepted" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept()
open(sys.argv[2], "w").close()
time.sleep(30)
PY
	track $!
	SERVE_PID=$!
	wait_for 10 test -S "$T/s.sock" || fail "the stand-in did not listen"
}

# cmdline_while_waiting COMMANDS: hsmcm -c COMMANDS on the stand-in; its
# /proc/PID/cmdline (NULs as spaces) once it has connected, in $CMDLINE.
cmdline_while_waiting() {
	serve
	"$BIN/hsmcm" -socket "$T/s.sock" -c "$1" >/dev/null 2>&1 &
	local pid=$!
	track $pid
	wait_for 10 test -e "$T/accepted" || fail "hsmcm did not connect"
	CMDLINE=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	kill -TERM $pid "$SERVE_PID" 2>/dev/null || true
	wait_gone 10 $pid || fail "hsmcm did not stop"
}

for secret in "role login -name co -password CANARY1234" "role createchallenge -name cu -challenge CANARY1234" \
	"object create -label k -value CANARY1234" "role login -name co -pw=CANARY1234"; do
	note "$secret"
	cmdline_while_waiting "slot set -slot 1; $secret"
	case $CMDLINE in *CANARY1234*) fail "the secret is on hsmcm's command line: $CMDLINE" ;; esac
	case $CMDLINE in *-socket*) ;; *) fail "the rest of the command line went too: $CMDLINE" ;; esac
done

note "no secret: the command line as typed"
cmdline_while_waiting "slot list; hsm showinfo"
case $CMDLINE in *"slot list; hsm showinfo"*) ;; *) fail "a command line with no secret was changed: $CMDLINE" ;; esac
echo "hsmcm -c keeps secrets off /proc: ok"
