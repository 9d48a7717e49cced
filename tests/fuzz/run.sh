#!/bin/bash
# Runs each libFuzzer target for SECONDS on a scratch copy of its seed corpus
# (new inputs found stay out of the tree) and fails on any crash or leak.
# Usage: run.sh BUILD SECONDS NAME...
# The last line is for scripts: "result: decoders=N execs=N crashes=N"
# (targets run, executions summed over them, targets that failed).
set -u
build=$1 seconds=$2; shift 2
top=$(cd "$(dirname "$0")/../.." && pwd)
status=0 decoders=0 total=0 crashes=0
# Leaks in libraries we cannot fix, each with its reason (lsan.supp).
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$top/tests/fuzz/lsan.supp:print_suppressions=0"
# SECONDS 0 builds only (tests/module.mk): libFuzzer reads 0 as "no limit".
[ "$seconds" -gt 0 ] || set --
for name in "$@"; do
	work=$(mktemp -d "${TMPDIR:-/tmp}/ped-fuzz-$name.XXXXXX")
	mkdir -p "$work/corpus" "$work/artifacts"
	cp -r "$top/tests/fuzz/corpus/$name/." "$work/corpus/" 2>/dev/null
	echo "fuzz: $name for ${seconds}s"
	if "$top/$build/fuzz/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus" \
		>"$work/log" 2>&1; then
		rc=0
	else
		rc=1
	fi
	decoders=$((decoders + 1))
	# libFuzzer prints its final stats on a crash too
	execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/log" | tail -n 1)
	total=$((total + ${execs:-0}))
	if [ $rc -eq 0 ]; then
		echo "fuzz: $name ok, ${execs:-?} executions, corpus $(ls "$work/corpus" | wc -l)"
		rm -rf "$work"
	else
		echo "fuzz: $name FAILED; log and crashing input kept in $work"
		tail -n 40 "$work/log"
		crashes=$((crashes + 1))
		status=1
	fi
done
echo "result: decoders=$decoders execs=$total crashes=$crashes"
exit $status
