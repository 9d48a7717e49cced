#!/bin/bash
# A daemon out of file descriptors. hsm-sim serves each control connection
# on a thread of its own, so a local client that opens connections and
# keeps them can take every descriptor hsm-sim may have. Then:
# - accept() failed with EMFILE, the listener stayed readable, and the
#   event loop woke, failed and woke again at 100% CPU, saying nothing, for
#   as long as the connections stayed. Now the waiting connection is
#   accepted with a descriptor kept in reserve and closed at once, and the
#   cause is logged. (The fix is in ped_accept, which pedserver, pedclient
#   and rbs use as well.)
# - a command whose save failed for want of a descriptor answered
#   RC_FILE_ERROR, but going back to the last saved state needs to read it,
#   which failed too: the change stayed in memory, and was saved with the
#   next change or at the stop. Now the read back uses the reserve.
# Once the connections go hsm-sim serves as before. The window below is the
# measurement, not a wait for readiness.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
if [ -n "${PED_VALGRIND:-}" ]; then
	echo "SKIP: valgrind keeps descriptors of its own; measured on the native run"
	exit 77
fi
command -v python3 >/dev/null || skip "python3 is missing"

(ulimit -n 64 && exec "$BIN/hsm-sim" -state "$T/state" -socket "$HSM_SOCK" -logfile "$T/hsm.log") &
HSM_PID=$!
track $HSM_PID
wait_for 20 test -S "$T/ped-$BACKUP_SERIAL.sock" || fail "hsm-sim did not start: $(cat "$T/hsm.log")"
new_keys so dom
printf 'write "SETTING SO" %s\nuse "SO LOGIN" %s\nwrite "SETTING DOMAIN" %s\n' "${KEY[so]}" "${KEY[so]}" "${KEY[dom]}" >"$T/a.policy"
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label fds"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
session_open
session_run "role login -name so"

note "100 connections held open against a limit of 64 descriptors"
mkfifo "$T/go"
python3 - "$HSM_SOCK" "$T/held" "$T/go" <<'PY' &
import socket, sys
held = []
for i in range(100):
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

note "a change that cannot be saved is not kept"
session_run "partition create -label p1"
session_run "slot list"
expect_contains "$(cat "$T/session.out")" "RC_FILE_ERROR"
grep -q "back to the state last saved" "$T/hsm.log" || fail "hsm-sim did not go back: $(tail -n 3 "$T/hsm.log")"
expect_not_contains "$(cat "$T/session.out")" "Label ->                p1" "slot list after the failed save"
echo go >"$T/go"
wait_gone 20 $HOLDER || fail "the holder did not end"
session_close

note "the connections gone, hsm-sim serves, and p1 is nowhere"
wait_for 20 eval '"$BIN/hsmcm" -socket "$HSM_SOCK" -c "slot list" | grep -q "Serial Number ->        $HSM_SERIAL"' ||
	fail "hsm-sim does not serve after the descriptors came back"
kill -TERM $HSM_PID
wait_gone 20 $HSM_PID || fail "hsm-sim did not stop"
grep -q "stopped" "$T/hsm.log" || fail "hsm-sim did not stop cleanly: $(tail -n 5 "$T/hsm.log")"
stop_ped A
rm -f "$HSM_SOCK" "$T"/ped-*.sock # start_hsm waits for the new ones
start_hsm
hsmcm -c "slot list"
expect_contains "$OUT" "Label ->                fds"
expect_not_contains "$OUT" "p1" "slot list after a restart"
echo "fd limit ok"
