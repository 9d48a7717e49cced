#!/bin/bash
# A crash of a program that holds keys must not write them to a core file.
# With ulimit -c unlimited (a developer's shell, a distribution's default,
# a crash handler such as systemd-coredump keeping cores of services) a
# core of hsm-sim held the HSMs' storage keys (derived from the device
# secrets) and every unsealed key, in a file that outlives a zeroization;
# a PED's held the splits and PINs of its ceremony. hsm-sim, ped-device,
# rbs, pedclient and pedserver set their core limit to 0 at start.
. "$(dirname "$0")/../lib.sh"
set -e
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data"
mkdir -p -m 700 "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME" "$T/state" "$T/cores"
ulimit -c unlimited 2>/dev/null || skip "cannot raise the core limit here"
# the crash below is kill -SEGV: a sanitizer build's own SEGV handler would
# take it and report it (make check-asan, check-tsan); the kernel must
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0"
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}handle_segv=0"

core_limit() { awk '/^Max core file size/ {print $5}' "/proc/$1/limits"; }

note "hsm-sim"
(cd "$T/cores" && exec "$BIN/hsm-sim" -state "$T/state" -socket "$T/hsm.sock" -logfile "$T/hsm.log") &
HSM=$!
track $HSM
wait_for 20 test -S "$T/hsm.sock" || fail "hsm-sim did not start: $(cat "$T/hsm.log")"
[ "$(core_limit $HSM)" = 0 ] || fail "hsm-sim's core limit is $(core_limit $HSM)"

note "ped-device"
"$BIN/ped-device" -headless -hsm "$T/state/none.sock" -store "$T/keys" -control "$T/ped.ctl" >"$T/ped.log" 2>&1 &
PED=$!
track $PED
wait_for 20 test -S "$T/ped.ctl" || fail "ped-device did not start: $(cat "$T/ped.log")"
[ "$(core_limit $PED)" = 0 ] || fail "ped-device's core limit is $(core_limit $PED)"

note "a crash of hsm-sim writes no core (where the kernel writes one into the working directory)"
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo '|')
case $pattern in
'|'* | */*) echo "core_pattern is '$pattern': not a file in the working directory; the limit above is the check" ;;
*)
	# the control: a process without the limit leaves a core here
	(cd "$T/cores" && exec sleep 30) &
	ctl=$!
	wait_for 5 test "$(readlink /proc/$ctl/cwd 2>/dev/null)" = "$T/cores" || true
	kill -SEGV $ctl
	wait $ctl 2>/dev/null || true
	if wait_for 5 eval 'ls "$T/cores" | grep -q core'; then
		rm -f "$T/cores"/core*
		kill -SEGV $HSM
		wait_gone 10 $HSM || fail "hsm-sim did not die"
		! wait_for 2 eval 'ls "$T/cores" | grep -q core' || fail "hsm-sim left a core: $(ls -l "$T/cores")"
	else
		echo "no core from the control process either (core_pattern '$pattern'): the limit above is the check"
	fi
	;;
esac
kill -TERM $PED 2>/dev/null || true
echo "no core dumps: ok"
