#!/bin/bash
# The README's main command: the demo runs the ceremony to a success summary,
# exits 0, and leaves no process or temp file behind.
. "$(dirname "$0")/../lib.sh"
set -e
export TMPDIR="$T"
mkdir -p "$T/demo-tmp"
set +e
TMPDIR="$T/demo-tmp" bash "$PED_SRCDIR/scripts/demo.sh" "$(basename "$PED_BUILD")" >"$T/demo.out" 2>&1
rc=$?
set -e
[ $rc -eq 0 ] || { tail -30 "$T/demo.out" >&2; fail "demo exited $rc"; }
grep -q "== demo passed" "$T/demo.out" || fail "no success summary"
grep -q "Restore Complete. 2 objects have been restored." "$T/demo.out" || fail "restore not shown"
grep -q "\[PED remote\] SLOT / COMPUTE SESSION KEY. / Enter PED Password." "$T/demo.out" || fail "PED screens not shown"
[ -z "$(ls -A "$T/demo-tmp")" ] || fail "demo left files: $(ls -A "$T/demo-tmp")"
! pgrep -f "$T/demo-tmp" >/dev/null || fail "demo left processes: $(pgrep -af "$T/demo-tmp")"
echo "demo ok"
