#!/bin/bash
# A daemon out of file descriptors does not spin. hsm-sim serves each
# control connection on a thread of its own, so a local client that opens
# connections and keeps them can take every descriptor hsm-sim may have;
# accept() then failed with EMFILE, the listener stayed readable, and the
# event loop woke, failed and woke again at 100% CPU, saying nothing, for
# as long as the connections stayed. Now the waiting connection is accepted
# with a descriptor kept in reserve and closed at once, the cause is
# logged, and once the connections go hsm-sim serves as before. (The fix is
# in ped_accept, which pedserver, pedclient and rbs use as well.) The window
# below is the measurement, not a wait for readiness.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
if [ -n "${PED_VALGRIND:-}" ]; then
	echo "SKIP: valgrind keeps descriptors of its own; measured on the native run"
	exit 77
fi
command -v python3 >/dev/null || skip "python3 is missing"

(ulimit -n 48 && exec "$BIN/hsm-sim" -state "$T/state" -socket "$HSM_SOCK" -logfile "$T/hsm.log") &
HSM_PID=$!
track $HSM_PID
wait_for 20 test -S "$T/ped-$BACKUP_SERIAL.sock" || fail "hsm-sim did not start: $(cat "$T/hsm.log")"

note "80 connections held open against a limit of 48 descriptors"
mkfifo "$T/go"
python3 - "$HSM_SOCK" "$T/held" "$T/go" <<'PY' &
import socket, sys
held = []
for i in range(80):
    c = socket.socket(socket.AF_UNIX)
    c.connect(sys.argv[1])
    held.append(c)
open(sys.argv[2], "w").close()
open(sys.argv[3]).read()  # until the test lets go
PY
HOLDER=$!
track $HOLDER
wait_for 20 test -e "$T/held" || fail "the connections were not made"
wait_for 20 grep -q "cannot accept a connection: Too many open files" "$T/hsm.log" ||
	fail "hsm-sim did not say it ran out of descriptors: $(tail -n 5 "$T/hsm.log")"
ticks() { awk '{print $14 + $15}' "/proc/$HSM_PID/stat"; }
before=$(ticks)
sleep 2
used=$(($(ticks) - before))
note "$used clock ticks of CPU in 2 s with every descriptor taken"
[ "$used" -le 20 ] || fail "hsm-sim spun with no descriptor left: $used ticks in 2 s"
echo go >"$T/go"
wait_gone 20 $HOLDER || fail "the holder did not end"

note "the connections gone, hsm-sim serves"
wait_for 20 eval '"$BIN/hsmcm" -socket "$HSM_SOCK" -c "slot list" | grep -q "Serial Number ->        $HSM_SERIAL"' ||
	fail "hsm-sim does not serve after the descriptors came back"
kill -TERM $HSM_PID
wait_gone 20 $HSM_PID || fail "hsm-sim did not stop"
grep -q "stopped" "$T/hsm.log" || fail "hsm-sim did not stop cleanly: $(tail -n 5 "$T/hsm.log")"
echo "fd limit ok"
