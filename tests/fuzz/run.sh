#!/bin/bash
# Runs each libFuzzer target for SECONDS on a scratch copy of its seed corpus
# (new inputs found stay out of the tree) and fails on any crash or leak.
# Usage: run.sh BUILD SECONDS NAME...
set -u
build=$1 seconds=$2; shift 2
top=$(cd "$(dirname "$0")/../.." && pwd)
status=0
for name in "$@"; do
	work=$(mktemp -d "${TMPDIR:-/tmp}/ped-fuzz-$name.XXXXXX")
	mkdir -p "$work/corpus" "$work/artifacts"
	cp -r "$top/tests/fuzz/corpus/$name/." "$work/corpus/" 2>/dev/null
	echo "fuzz: $name for ${seconds}s"
	if "$top/$build/fuzz/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus" \
		>"$work/log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
		echo "fuzz: $name ok, ${execs:-?} executions, corpus $(ls "$work/corpus" | wc -l)"
		rm -rf "$work"
	else
		echo "fuzz: $name FAILED; log and crashing input kept in $work"
		tail -n 40 "$work/log"
		status=1
	fi
done
exit $status
