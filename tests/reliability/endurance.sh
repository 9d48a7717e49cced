#!/bin/bash
# Endurance: LOGINS (default 10,000) SO logins in a row through the full
# path, hsm-sim -> pedclient -> pedserver -> headless PED over loopback,
# driven by the bench driver (one control session, as hsmcm would send the
# commands). CONNECTS (default 1,000) ped connect / ped disconnect cycles run
# beside them, so per-session state is exercised too. Every daemon's open
# descriptors (/proc/PID/fd) and memory (VmRSS, and Private_Dirty from
# smaps_rollup: what the process alone holds) are printed after a warm-up
# and at the end, in the same state (no session open); exits 0 only if the
# descriptor count did not grow at all and resident memory grew less than
# RSS_LIMIT_KIB.
#
# Why 512 KiB: a leak of even 64 bytes a login is 640 KiB over 10,000
# logins, and per-session leaks are far larger than that; below it sit
# the allocator's own noise (glibc keeps freed chunks in its arenas and
# trims only from the top, OpenSSL's per-thread and error-queue caches grow
# to their high-water mark) and the pages of code first touched after the
# warm-up, which the warm-up keeps to a few dozen KiB. Measured (2 cores):
# ped-device gains up to ~100 KiB over its first ~1,000 sessions and then
# stays flat (4,000 more add 28 KiB), hsm-sim ~100 KiB over 30,000 logins,
# and valgrind finds nothing lost: a high-water mark, not a leak.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../e2e/hsm_lib.sh"
. "$(dirname "$0")/../e2e/remote_lib.sh"
set -e

LOGINS=${LOGINS:-10000}
CONNECTS=${CONNECTS:-1000}
WARMUP=${WARMUP:-200}
RSS_LIMIT_KIB=${RSS_LIMIT_KIB:-512}
[ -x "$TOOLS/bench_driver" ] || fail "$TOOLS/bench_driver is missing: make first"

new_keys rpk so dom
start_hsm
start_pedserver A
start_pedclient
cat >"$T/A.policy" <<P
$OPERATOR
write rpv ${KEY[rpk]}
use rpv ${KEY[rpk]}
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
write "SETTING DOMAIN" ${KEY[dom]}
P
"${RUN[@]}" "$BIN/ped-device" -headless -mode remote -pedserver "$(ped_socket_of A)" -policy "$T/A.policy" \
	-control "$T/A.ctl" -events "$T/A.events" >"$T/A.ped.log" 2>&1 &
PED_PID=$!
track $PED_PID
wait_for 20 shown A "Ped2 Connection Status:   Connected" || fail "the PED did not attach: $(cat "$T/A.ped.log")"
connect="ped connect -ip 127.0.0.1 -port $PORT_A -wait"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A -password -wait; ped vector init; hsm init -label endure; ped disconnect"
[ $RC -eq 0 ] || fail "setup: $OUT"

PS_PID=$(cat "$T/A-run/openped/pedserver.pid")
PC_PID=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")
DAEMONS="hsm-sim:$HSM_PID pedclient:$PC_PID pedserver:$PS_PID ped-device:$PED_PID"

# drive N: N logins (and a logout each) in one session, then connect cycles
drive() {
	local n=$1 c=$2 t0=$SECONDS
	"$TOOLS/bench_driver" "$HSM_SOCK" -setup "$connect" "$n" "role login -name so" "role logout" >"$T/drive.out" 2>&1 ||
		fail "logins: $(cat "$T/drive.out")"
	echo "    $n logins in $((SECONDS - t0)) s (median, p99 ms: $(cat "$T/drive.out"))"
	hsmcm -c "ped disconnect"
	[ $RC -eq 0 ] || fail "ped disconnect: $OUT"
	if [ "$c" -gt 0 ]; then
		t0=$SECONDS
		"$TOOLS/bench_driver" "$HSM_SOCK" "$c" "$connect" "ped disconnect" >"$T/drive.out" 2>&1 ||
			fail "connect cycles: $(cat "$T/drive.out")"
		echo "    $c connect cycles in $((SECONDS - t0)) s"
	fi
	# the same state for every measure: no session open anywhere
	wait_for 10 shown A "Client Information:         Not Available" || fail "the session did not end: $OUT"
}

declare -A FD0 RSS0 PRIV0
measure() { # measure LABEL [base]: prints a table; with "base" keeps it as the start
	local n name pid fd rss priv
	printf '%-11s %-11s %5s %10s %12s\n' "$1" daemon fds "VmRSS KiB" "private KiB"
	for n in $DAEMONS; do
		name=${n%%:*} pid=${n#*:}
		alive "$pid" || fail "$name (pid $pid) died"
		fd=$(ls "/proc/$pid/fd" | wc -l)
		rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status")
		priv=$(awk '/^Private_Dirty:/{print $2}' "/proc/$pid/smaps_rollup")
		printf '%-11s %-11s %5d %10d %12d\n' "" "$name" "$fd" "$rss" "$priv"
		if [ "${2:-}" = base ]; then
			FD0[$name]=$fd RSS0[$name]=$rss PRIV0[$name]=$priv
		else
			FD1[$name]=$fd RSS1[$name]=$rss PRIV1[$name]=$priv
		fi
	done
}
declare -A FD1 RSS1 PRIV1

note "warm-up: $WARMUP logins"
drive "$WARMUP" $((CONNECTS / 10))
measure start base
note "endurance: $LOGINS logins and $CONNECTS connect cycles"
t0=$SECONDS
drive "$LOGINS" "$CONNECTS"
measure end
fd_growth=0 rss_growth=0 priv_growth=0
for n in $DAEMONS; do
	name=${n%%:*}
	d=$((FD1[$name] - FD0[$name])); [ $d -gt $fd_growth ] && fd_growth=$d
	d=$((RSS1[$name] - RSS0[$name])); [ $d -gt $rss_growth ] && rss_growth=$d
	d=$((PRIV1[$name] - PRIV0[$name])); [ $d -gt $priv_growth ] && priv_growth=$d
	echo "    $name: fds ${FD0[$name]} -> ${FD1[$name]}, VmRSS ${RSS0[$name]} -> ${RSS1[$name]} KiB, private ${PRIV0[$name]} -> ${PRIV1[$name]} KiB"
done
echo "endurance: $((SECONDS - t0)) s; max private growth ${priv_growth} KiB"
echo "result: logins=$LOGINS fd_growth=$fd_growth rss_growth_kib=$rss_growth"
[ $fd_growth -eq 0 ] || fail "descriptors grew by $fd_growth"
[ $rss_growth -lt "$RSS_LIMIT_KIB" ] || fail "resident memory grew by $rss_growth KiB (limit $RSS_LIMIT_KIB)"
[ $priv_growth -lt "$RSS_LIMIT_KIB" ] || fail "private memory grew by $priv_growth KiB (limit $RSS_LIMIT_KIB)"
echo "endurance ok"
