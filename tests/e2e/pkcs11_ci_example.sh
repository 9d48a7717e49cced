#!/bin/bash
# The CI job of docs/pkcs11.md ("A CI job that logs in through a headless
# PED"), run as printed there, so that the example people copy works: the
# script is cut out of the document, its MODULE line pointed at this
# build, and run with this build's programs first on PATH. It must end
# with openssl's "Verified OK" and the PED's CO logins counted.
. "$(dirname "$0")/../lib.sh"
set -e
command -v pkcs11-tool >/dev/null || skip "pkcs11-tool (opensc) is not installed: make deps"
MODULE="$PED_BUILD/lib/libopenped-pkcs11.so"
[ -f "$MODULE" ] || fail "$MODULE is missing: run make"

awk '/^## A CI job that logs in through a headless PED/ { s = 1 }
     s && /^```sh$/ { c = 1; next }
     c && /^```$/ { exit }
     c' "$PED_SRCDIR/docs/pkcs11.md" >"$T/ci.sh"
grep -q '^MODULE=' "$T/ci.sh" || fail "no CI job in docs/pkcs11.md"
grep -q 'pkcs11-tool' "$T/ci.sh" || fail "the CI job does not run pkcs11-tool"
sed -i "s|^MODULE=.*|MODULE=$MODULE|" "$T/ci.sh"

# pkcs11-tool is not built here: with a sanitizer build of the module it
# needs the sanitizer's runtime (so_runtime), given by a wrapper first on PATH
mkdir -p "$T/wrap" "$T/tmp"
rt_env=$(so_runtime "$MODULE")
if [ -n "$rt_env" ]; then
	printf '#!/bin/sh\nexec env %s %s "$@"\n' "$rt_env" "$(command -v pkcs11-tool)" >"$T/wrap/pkcs11-tool"
	chmod +x "$T/wrap/pkcs11-tool"
fi

# the job's own temporary directories under $T; its daemons stopped at our
# exit even when it fails half-way (hsm-sim detaches: its PID file)
stop_job() {
	local f
	for f in $(find "$T/tmp" -name hsm.pid 2>/dev/null); do
		kill -TERM "$(cat "$f")" 2>/dev/null || true
	done
	[ -z "${job:-}" ] || kill -TERM -- "-$job" 2>/dev/null || true
}
trap 'stop_job; _cleanup' EXIT
set +e
PATH="$T/wrap:$BIN:$PATH" TMPDIR="$T/tmp" HOME="$T" setsid sh "$T/ci.sh" >"$T/ci.out" 2>&1 &
job=$!
wait $job
rc=$?
set -e
[ $rc -eq 0 ] || fail "the CI job of docs/pkcs11.md failed ($rc): $(tail -n 30 "$T/ci.out")"
expect_contains "$(cat "$T/ci.out")" "Verified OK" "the CI job's output"
logins=$(tail -n 1 "$T/ci.out")
[ "$logins" -ge 2 ] 2>/dev/null || fail "the PED served fewer than the job's two logins: $(tail -n 5 "$T/ci.out")"
echo "the CI job of docs/pkcs11.md: ok ($logins CO logins on the headless PED)"
