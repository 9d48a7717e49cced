#!/bin/bash
# An idle hsm-sim sleeps: no thread wakes on a timer while nothing happens
# (the daemon standard: a poll-based loop, no busy loops). Each HSM's audit
# courier used to wake every second to find nothing to hand over; it now
# sleeps until a record comes. The window below is the measurement, not a
# wait for readiness.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
if [ -n "${PED_VALGRIND:-}" ]; then
	echo "SKIP: valgrind schedules the threads itself; wake-ups are measured on the native run"
	exit 77
fi
# ThreadSanitizer's runtime has a thread of its own that wakes ten times a second
if nm "$BIN/hsm-sim" 2>/dev/null | grep -q ' __tsan_init'; then
	echo "SKIP: a ThreadSanitizer build: its runtime's thread wakes on a timer; wake-ups are measured on the native run"
	exit 77
fi

# a pedclient socket named, so each HSM has its audit courier thread
printf 'pedclient_socket = "%s";\n' "$T/pedclient.sock" >"$T/hsm-sim.conf"
start_hsm -configfile "$T/hsm-sim.conf"
hsmcm -c "slot list"
[ $RC -eq 0 ] || fail "hsm-sim does not serve: $OUT"
switches() {
	local n=0 f v
	for f in /proc/"$HSM_PID"/task/*/status; do
		while read -r k v; do
			case $k in voluntary_ctxt_switches: | nonvoluntary_ctxt_switches:) n=$((n + v)) ;; esac
		done <"$f"
	done
	echo $n
}
threads=$(ls /proc/"$HSM_PID"/task | wc -l)
before=$(switches)
sleep 3
after=$(switches)
woke=$((after - before))
note "$threads threads, $woke wake-ups in 3 s idle"
[ "$woke" -le 1 ] || fail "an idle hsm-sim woke $woke times in 3 s ($threads threads)"
echo "PASS"
