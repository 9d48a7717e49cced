#!/bin/bash
# hsm-sim -daemon as docs/pkcs11.md's CI job starts it: the parent prints
# the child's pid and ends with status 0 having freed what it read (its
# configuration: under ASan or valgrind a leak in the parent is a non-zero
# status), and the child serves its control socket until SIGTERM.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

printf 'ped_timeout = 30;\n' >"$T/hsm-sim.conf"
set +e
OUT=$(timeout 60 "${RUN[@]}" "$BIN/hsm-sim" -daemon -configfile "$T/hsm-sim.conf" -state "$T/state" \
	-socket "$HSM_SOCK" -pidfile "$T/hsm.pid" -logfile "$T/hsm.log" 2>&1)
rc=$?
set -e
pid=$(sed -n 's/^hsm-sim started (pid \([0-9]*\)).*/\1/p' <<<"$OUT")
[ -z "$pid" ] || track "$pid"
[ $rc -eq 0 ] || fail "hsm-sim -daemon's parent ended with $rc: $OUT"
[ -n "$pid" ] || fail "hsm-sim -daemon did not say its pid: $OUT"
expect_eq "$(cat "$T/hsm.pid")" "$pid" "the PID file"
wait_for 20 test -S "$HSM_SOCK" || fail "the daemon does not listen: $(cat "$T/hsm.log")"
hsmcm -c "slot list"
[ $RC -eq 0 ] || fail "the daemon does not serve: $OUT"
kill -TERM "$pid"
wait_gone 20 "$pid" || fail "the daemon did not stop on SIGTERM"
echo "hsm-sim -daemon: ok"
