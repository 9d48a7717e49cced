#!/bin/bash
# One hsm-sim holds up to 256 HSMs (issue #33: memory per HSM at K = 256):
# every one is made, listed and answers on its own slot; 257 are refused
# with the limit named.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

hsms_conf() { # N FILE
	local n=$1 i
	{
		echo "hsms = ("
		for i in $(seq 0 $((n - 1))); do
			printf '  { serial = "%d"; slot = %d; type = "hsm"; }%s\n' $((700000 + i)) $((i * 20)) \
				"$([ "$i" -lt $((n - 1)) ] && echo ,)"
		done
		echo ");"
	} >"$2"
}

hsms_conf 257 "$T/257.conf"
set +e
"$BIN/hsm-sim" -configfile "$T/257.conf" -state "$T/s257" -socket "$T/h257.sock" -logfile "$T/h257.log" >"$T/257.out" 2>&1
rc=$?
set -e
[ $rc -ne 0 ] || fail "257 HSMs were accepted"
expect_contains "$(cat "$T/257.out" "$T/h257.log" 2>/dev/null)" "1 to 256 HSMs"

hsms_conf 256 "$T/256.conf"
"$BIN/hsm-sim" -configfile "$T/256.conf" -state "$T/state" -socket "$HSM_SOCK" -logfile "$T/hsm.log" &
track $!
# each new HSM writes its state file (two fsyncs) before the socket opens
wait_for 120 test -S "$HSM_SOCK" || { cat "$T/hsm.log" >&2; fail "hsm-sim with 256 HSMs did not start"; }
hsmcm -c "slot list"
[ $RC -eq 0 ] || fail "slot list: $OUT"
[ "$(grep -c 'Serial Number ->' <<<"$OUT")" -ge 256 ] || fail "slot list shows fewer than 256 HSMs: $OUT"
expect_contains "$OUT" "700255"
hsmcm -c "slot set -slot $((255 * 20)); hsm showinfo"
[ $RC -eq 0 ] || fail "the last HSM: $OUT"
expect_contains "$OUT" "Serial Number -> 700255"
[ "$(ls "$T/state"/hsm-*.state | wc -l)" -eq 256 ] || fail "not 256 state files"
echo "hsm-sim with 256 HSMs ok"
