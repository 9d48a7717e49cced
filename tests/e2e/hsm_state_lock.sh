#!/bin/bash
# One hsm-sim per state directory. A second hsm-sim given the same -state
# (its sockets elsewhere, no PID file or another one) used to start and
# serve the same HSMs from its own copy in memory: each saved its copy
# whole, so a partition one of them had created and acknowledged was gone
# after the other's next save. Now the second is refused, naming the first;
# the first serves on; once it is gone (even killed -9) a new one starts.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
start_hsm
hsmcm -c "slot list"
[ $RC -eq 0 ] || fail "hsm-sim does not serve: $OUT"

note "a second hsm-sim on the same state directory is refused"
mkdir -m 700 "$T/b"
set +e
OUT=$(timeout 30 "$BIN/hsm-sim" -state "$T/state" -socket "$T/b/hsm.sock" -pidfile "$T/b/hsm.pid" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "a second hsm-sim ran on the same state directory"
[ $rc -ne 124 ] || fail "a second hsm-sim served the same state directory until its timeout"
expect_contains "$OUT" "the state directory $T/state is in use"
expect_contains "$OUT" "pid $HSM_PID"
[ ! -e "$T/b/hsm.sock" ] || fail "the second hsm-sim left its control socket"
[ ! -e "$T/b/hsm.pid" ] || fail "the second hsm-sim left its PID file"
hsmcm -c "slot list"
[ $RC -eq 0 ] || fail "the first hsm-sim stopped serving: $OUT"

note "and with -daemon, the start says so"
set +e
OUT=$(timeout 30 "$BIN/hsm-sim" -daemon -state "$T/state" -socket "$T/b/hsm.sock" -logfile "$T/b.log" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || { track "$(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' <<<"$OUT")"; fail "-daemon started on a state in use: $OUT"; }
expect_contains "$OUT" "is in use"

note "once the first is gone (killed), a new one takes the directory"
kill -KILL "$HSM_PID"
wait_gone 20 "$HSM_PID" || fail "hsm-sim did not die"
rm -f "$HSM_SOCK" "$T"/ped-*.sock # what the killed one left: start_hsm waits for them
start_hsm
hsmcm -c "slot list"
[ $RC -eq 0 ] || fail "hsm-sim did not start after the first was killed: $OUT"
echo "hsm state lock ok"
