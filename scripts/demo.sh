#!/bin/bash
# The main job. Until the full ceremony demo exists (end-to-end issue), it
# shows what the build made: each program and its version.
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
shopt -s nullglob
progs=("$build"/bin/*)
echo "Open PED suite: programs in $build/bin"
if [ ${#progs[@]} -eq 0 ]; then
	echo "  (none built yet)"
fi
for p in "${progs[@]}"; do
	printf '  %-12s %s\n' "$(basename "$p")" "$("$p" -version 2>&1 | head -n 1)"
done
