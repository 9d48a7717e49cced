#!/bin/bash
# The test runner fails a hung suite after PED_TEST_TIMEOUT instead of
# hanging the whole run, lets the suite's trap stop what it started, and
# still runs and counts the suites after it.
. "$(dirname "$0")/../lib.sh"

cat >"$T/hangs.sh" <<'SUITE'
. "$PED_SRCDIR/tests/lib.sh"
sleep 1000 &
track $!
echo $! >"$OUT_DIR/daemon.pid"
echo "suite started"
sleep 1000
SUITE
cat >"$T/passes.sh" <<'SUITE'
echo fine
SUITE
mkdir "$T/logs"
start=$SECONDS
OUT=$(OUT_DIR=$T PED_TEST_LOGS="$T/logs" PED_TEST_TIMEOUT=2 \
	PED_TESTS="$T/hangs.sh $T/passes.sh" timeout 60 "$PED_SRCDIR/tests/check.sh" "$PED_BUILD" 2>&1)
rc=$?
took=$((SECONDS - start))
note "$OUT"
[ $rc -ne 0 ] || fail "a hung suite left the run green"
expect_contains "$OUT" "(timed out after 2s)"
expect_contains "$OUT" "suite started" "the hung suite's log tail"
expect_contains "$OUT" "PASS  $T/passes" "the suite after the hung one"
expect_contains "$OUT" "1 passed, 1 failed, 0 skipped"
[ $took -lt 25 ] || fail "the run took ${took}s: the hung suite was not stopped at its limit"
daemon=$(cat "$T/daemon.pid")
wait_gone 10 "$daemon" || fail "the hung suite's background process $daemon outlived it"
echo "ok: hung suite failed after 2s, its daemon stopped, the next suite ran"
