#!/bin/bash
# Runs every test suite against one build directory and ends with CUnit's
# summary and the total as "N passed, N failed, N skipped".
#
# Shell suites (tests/shell/*.sh, tests/e2e/*.sh) exit 0 for pass, 77 for
# skip (saying why on their last line), anything else for failure.
#
# PED_TESTS="tests/e2e/a.sh unit" runs only the suites named ("unit" is the
# CUnit runner). Each suite gets PED_TEST_TIMEOUT seconds (default 300, 900
# under valgrind): a hung suite fails with its log instead of hanging the
# run. At the limit it gets one SIGTERM, so its trap still stops its
# daemons; SIGKILL follows 30 s later; what is left of its process group
# when it ends is killed.
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
case $build in /*) ;; *) build="$top/$build" ;; esac
export PED_BUILD="$build" PED_SRCDIR="$top"

passed=0 failed=0 skipped=0
failures=()
logdir=${PED_TEST_LOGS:-$build/test-logs}
mkdir -p "$logdir"

limit=${PED_TEST_TIMEOUT:-$([ "${PED_VALGRIND:-0}" = 1 ] && echo 900 || echo 300)}

# bounded COMMAND...: COMMAND in a process group of its own, under timeout.
# --foreground: the signal goes to COMMAND alone, once (signalled twice, a
# suite's shell could die inside its EXIT trap and leave its temp dir).
bounded() {
	setsid timeout --foreground -k 30 "$limit" "$@" &
	local pid=$! rc
	wait "$pid"
	rc=$?
	kill -KILL -- "-$pid" 2>/dev/null
	return $rc
}

shopt -s nullglob
suites=(tests/shell/*.sh tests/e2e/*.sh unit)
if [ -n "${PED_TESTS:-}" ]; then suites=($PED_TESTS); fi
run_unit=
for t in "${suites[@]}"; do
	case $t in
	unit) run_unit=1; continue ;;
	*_lib.sh) continue ;; # helpers the suites source
	esac
	name=${t#tests/}; name=${name%.sh}
	log="$logdir/${name//\//_}.log"
	start=$EPOCHREALTIME
	bounded bash "$t" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	case $rc in
	0) passed=$((passed + 1)); printf 'PASS  %-40s %5ss\n' "$name" "$secs" ;;
	77) skipped=$((skipped + 1)); printf 'SKIP  %-40s %s\n' "$name" "$(tail -n 1 "$log")" ;;
	*) failed=$((failed + 1)); failures+=("$name")
	   if awk -v s="$secs" -v l="$limit" 'BEGIN { exit !(s >= l) }'; then
		printf 'FAIL  %-40s (timed out after %ss) log: %s\n' "$name" "$limit" "$log"
	   else
		printf 'FAIL  %-40s (exit %d) log: %s\n' "$name" "$rc" "$log"
	   fi
	   tail -n 25 "$log" | sed 's/^/      | /' ;;
	esac
done

# CUnit last, so its summary stands just above the total.
if [ -n "$run_unit" ]; then
	counts="$logdir/unit-counts"
	rm -f "$counts"
	UNIT_COUNTS="$counts" bounded "$build/tests/unit-tests"
	unit_rc=$?
	if [ -s "$counts" ]; then
		read -r up uf <"$counts"
	else
		up=0 uf=1
	fi
	[ $unit_rc -eq 124 ] && echo "FAIL  unit tests timed out after ${limit}s"
	[ $unit_rc -ne 0 ] && [ "$uf" -eq 0 ] && uf=1
	passed=$((passed + up)); failed=$((failed + uf))
fi

[ ${#failures[@]} -gt 0 ] && echo "failed shell suites: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
