#!/bin/bash
# Runs every test suite against one build directory and ends with CUnit's
# summary and the total as "N passed, N failed, N skipped".
#
# Shell suites (tests/shell/*.sh, tests/e2e/*.sh) exit 0 for pass, 77 for
# skip (saying why on their last line), anything else for failure.
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export PED_BUILD="$top/$build" PED_SRCDIR="$top"

passed=0 failed=0 skipped=0
failures=()
logdir="$top/$build/test-logs"
mkdir -p "$logdir"

shopt -s nullglob
suites=(tests/shell/*.sh tests/e2e/*.sh)
if [ -n "${PED_TESTS:-}" ]; then suites=($PED_TESTS); fi
for t in "${suites[@]}"; do
	case $t in *_lib.sh) continue ;; esac # helpers the suites source
	name=${t#tests/}; name=${name%.sh}
	log="$logdir/${name//\//_}.log"
	start=$EPOCHREALTIME
	bash "$t" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	case $rc in
	0) passed=$((passed + 1)); printf 'PASS  %-40s %5ss\n' "$name" "$secs" ;;
	77) skipped=$((skipped + 1)); printf 'SKIP  %-40s %s\n' "$name" "$(tail -n 1 "$log")" ;;
	*) failed=$((failed + 1)); failures+=("$name")
	   printf 'FAIL  %-40s (exit %d) log: %s\n' "$name" "$rc" "$log"
	   tail -n 25 "$log" | sed 's/^/      | /' ;;
	esac
done

# CUnit last, so its summary stands just above the total.
counts="$logdir/unit-counts"
rm -f "$counts"
UNIT_COUNTS="$counts" "$build/tests/unit-tests"
unit_rc=$?
if [ -s "$counts" ]; then
	read -r up uf <"$counts"
else
	up=0 uf=1
fi
[ $unit_rc -ne 0 ] && [ "$uf" -eq 0 ] && uf=1
passed=$((passed + up)); failed=$((failed + uf))

[ ${#failures[@]} -gt 0 ] && echo "failed shell suites: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
