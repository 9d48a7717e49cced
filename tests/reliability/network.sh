#!/bin/bash
# Network reliability: pedserver and the PED in one network namespace (the
# operator's workstation), hsm-sim and pedclient in another (the HSM host),
# joined by a veth pair, as in tests/e2e/two_hosts.sh. Every case runs a
# Remote PED ceremony: ped connect, an SO login (1 of 1) and a PO login
# (3 of 5 keys, each with its PIN) on a partition, then ped disconnect.
#   a  slow link: tbf 64 kbit/s, 4 KiB burst, 400 ms queue, on both ends
#   b  the link down 30 s in the middle of a login: CKR_PED_UNPLUGGED
#      within the ping timeout, then after the link is back ped connect
#      and the logins succeed, nothing restarted
#   b2 the link down 1.5 s under an open idle session: it survives
#   c  through tests/tools/impair_relay between pedclient and pedserver:
#      200 ms each way; writes split into single bytes; stalls shorter than
#      the ping timeout (the ceremony must complete); stalls longer than it
#      (the ceremony completes or fails with CKR_PED_UNPLUGGED, and the next
#      ped connect works); the relay killed mid-login (CKR_PED_UNPLUGGED
#      at once); single bytes and long stalls together (frames held half
#      delivered); pedserver's frames trickling back a byte at a time
#      (CKR_PED_UNPLUGGED within the ping timeout)
# Every hsmcm call is bounded by a timeout. Ends with a result line; exits 0
# only if every case passed. NET_CASES="a b b2 c1 c2 c3 c4 c5 c6 c7" picks cases.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../e2e/hsm_lib.sh"
. "$(dirname "$0")/../e2e/remote_lib.sh"
set -e

CASES=${NET_CASES:-a b b2 c1 c2 c3 c4 c5 c6 c7}
CUT_SECONDS=${CUT_SECONDS:-30}
# short liveness settings, so a dead link shows in PING_INTERVAL + PING_TIMEOUT s
PING_INTERVAL=1 PING_TIMEOUT=3
DEAD_AFTER=$((PING_INTERVAL + PING_TIMEOUT + 2)) # 2 s of slack for the tick and the BYE
# before pedserver's WELCOME there are no pings: the socket read timeout
# bounds the greeting instead
READ_TIMEOUT=5
STALL_DEAD_AFTER=$((READ_TIMEOUT > PING_INTERVAL + PING_TIMEOUT ? READ_TIMEOUT + 2 : DEAD_AFTER))

[ "$(id -u)" = 0 ] || skip "network namespaces need root"
command -v ip >/dev/null || skip "no ip command (iproute2)"
[ -x "$TOOLS/impair_relay" ] || fail "$TOOLS/impair_relay is missing: make first"
WS=pednws$$ HH=pednhh$$ VW=vnw$$ VH=vnh$$
ip netns add $WS 2>/dev/null || skip "cannot create network namespaces here"
ip netns add $HH 2>/dev/null || { ip netns del $WS; skip "cannot create a second network namespace"; }
cleanup_ns() { ip netns del $WS 2>/dev/null; ip netns del $HH 2>/dev/null; }
trap '_cleanup; cleanup_ns' EXIT
ip link add $VW type veth peer name $VH 2>/dev/null || skip "cannot create a veth pair here"
ip link set $VW netns $WS
ip link set $VH netns $HH
ip -n $WS addr add 10.232.0.1/24 dev $VW
ip -n $HH addr add 10.232.0.2/24 dev $VH
for n in $WS $HH; do ip -n $n link set lo up; done
ip -n $WS link set $VW up
ip -n $HH link set $VH up
WS_IP=10.232.0.1

new_keys rpk so dom pdom po1 po2 po3 po4 po5
WSRUN="$T/ws-run"
mkdir -p "$WSRUN"
ws() { XDG_RUNTIME_DIR="$WSRUN" ip netns exec $WS "$@"; }

# hsmcm_t SECONDS COMMANDS: hsmcm on the HSM host, bounded; $OUT, $RC, $TOOK
hsmcm_t() {
	local t0
	t0=$(date +%s.%N)
	set +e
	OUT=$(ip netns exec $HH timeout -k 5 "$1" "$BIN/hsmcm" -socket "$HSM_SOCK" -c "$2" 2>&1 | tee -a "$TRANSCRIPT"
	      exit "${PIPESTATUS[0]}")
	RC=$?
	CER_END=$(date +%s.%N)
	set -e
	TOOK=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
}

note "the HSM host: hsm-sim and pedclient; the workstation: pedserver and the PED"
ip netns exec $HH "${RUN[@]}" "$BIN/hsm-sim" -state "$T/state" -socket "$HSM_SOCK" -pidfile "$T/hsm.pid" -logfile "$T/hsm.log" &
track $!
wait_for 20 test -S "$T/ped-$BACKUP_SERIAL.sock" || fail "hsm-sim did not start"
: >"$T/pedclient.conf"
ip netns exec $HH "$BIN/pedclient" -mode start -admin 0 -listenport -1 -pinginterval $PING_INTERVAL -pingtimeout $PING_TIMEOUT -socketreadtimeout $READ_TIMEOUT \
	-configfile "$T/pedclient.conf" -logfilename "$T/pedclient.log" >"$T/out" 2>&1 || fail "pedclient: $(cat "$T/out")"
track "$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")"
: >"$T/ws.conf"
ws "$BIN/pedserver" -mode start -ip $WS_IP -port 0 -admin 0 -pinginterval $PING_INTERVAL -pingtimeout $PING_TIMEOUT -socketreadtimeout $READ_TIMEOUT \
	-configfile "$T/ws.conf" -logfile "$T/ws.log" >"$T/out" 2>&1 || fail "pedserver: $(cat "$T/out")"
track "$(cat "$WSRUN/openped/pedserver.pid")"
ws_show() { ws timeout 20 "$BIN/pedserver" -mode show -configfile "$T/ws.conf" 2>&1; }
PORT=$(ws_show | awk '/Server Port:/{print $3}')
[ -n "$PORT" ] || fail "no pedserver port"
{
	echo "$OPERATOR"
	echo "write rpv ${KEY[rpk]}"
	echo "use rpv ${KEY[rpk]}"
	echo "write \"SETTING SO\" ${KEY[so]}"
	echo "use \"SO LOGIN\" ${KEY[so]}"
	echo "reuse \"SETTING DOMAIN\" no no"
	echo "write \"SETTING DOMAIN\" ${KEY[dom]} ${KEY[pdom]}"
	echo "mofn \"SETTING PO\" 3 5"
	echo "write \"SETTING PO\" ${KEY[po1]} ${KEY[po2]} ${KEY[po3]} ${KEY[po4]} ${KEY[po5]}"
	echo "newpin \"SETTING PO\" 11111111 22222222 33333333 44444444 55555555"
	for i in 1 2 3 4 5; do echo "pin ${KEY[po$i]} $i$i$i$i$i$i$i$i"; done
	echo "use \"PO LOGIN\" ${KEY[po1]} ${KEY[po3]} ${KEY[po5]}"
} >"$T/P.policy"
PED_PID=
startp() { # the PED on the workstation
	rm -f "$T/P.events"
	XDG_RUNTIME_DIR="$WSRUN" ip netns exec $WS "${RUN[@]}" "$BIN/ped-device" -headless -mode remote \
		-pedserver "$WSRUN/openped/pedserver-ped.sock" -control "$T/P.ctl" -events "$T/P.events" -keytimeout 60 "$@" \
		>"$T/P.log" 2>&1 &
	PED_PID=$!
	track $PED_PID
	wait_for 20 grep -q '"attached":true' "$T/P.events" || fail "the PED did not attach: $(cat "$T/P.log")"
}
stopp() { kill -TERM "$PED_PID" 2>/dev/null || true; wait_gone 10 "$PED_PID"; }
startp -policy "$T/P.policy"

note "setup over the clean link: remote RPV, HSM init, a partition with a 3-of-5 PO"
hsmcm_t 120 "ped connect -ip $WS_IP -port $PORT -password; ped vector init; hsm init -label netrel; ped disconnect; ped connect -ip $WS_IP -port $PORT; role login -name so; partition create -label p1; slot set -slot 1; partition init -label p1; ped disconnect"
[ $RC -eq 0 ] || fail "setup: $OUT"

# the ceremony, to pedserver at $1:$2 (default: straight across the link)
ceremony() {
	local ip=${1:-$WS_IP} port=${2:-$PORT} limit=${3:-120}
	hsmcm_t 20 "ped disconnect" # a session a failed case left behind
	hsmcm_t "$limit" "ped connect -ip $ip -port $port; role login -name so; role logout; slot set -slot 1; role login -name po; role logout; ped disconnect"
}
# a ceremony on a clean link: each case ends with one, so none leaves the next a mess
clean_ceremony() {
	ceremony "$@"
	[ $RC -eq 0 ] || { echo "    the ceremony after recovery failed ($TOOK s): $OUT"; return 1; }
	echo "    recovered: the ceremony succeeded in $TOOK s"
}
# session_gone: pedserver no longer holds a client session
session_gone() { wait_for 20 eval 'ws_show | grep -q "Client Information:         Not Available"'; }
# reachable: the workstation answers across the link (a closed port refuses)
reachable() { ip netns exec $HH timeout 2 bash -c "exec 3<>/dev/tcp/$WS_IP/9" 2>&1 | grep -q refused; }

note "baseline: the ceremony on the clean link"
ceremony
[ $RC -eq 0 ] || fail "baseline ceremony: $OUT"
BASE=$TOOK
echo "    baseline $BASE s"
# descriptors of the daemons that stay up, idle: the same at the end, after
# every broken session (a leak per timeout or reset shows here)
HSM_PID=$(cat "$T/hsm.pid")
PC_PID=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")
PS_PID=$(cat "$WSRUN/openped/pedserver.pid")
fds() { local n p; for n in hsm-sim:$HSM_PID pedclient:$PC_PID pedserver:$PS_PID; do
	p=${n#*:}; printf '%s=%s ' "${n%%:*}" "$(ls /proc/$p/fd | wc -l)"; done; }
session_gone || fail "the baseline session did not end"
FDS0=$(fds)

case_a() {
	ip netns exec $WS tc qdisc add dev $VW root tbf rate 64kbit burst 4kb latency 400ms || { echo "    tc on $VW failed"; return 1; }
	ip netns exec $HH tc qdisc add dev $VH root tbf rate 64kbit burst 4kb latency 400ms || { echo "    tc on $VH failed"; return 1; }
	# one ceremony moves about 2 KiB each way, which the 4 KiB burst would
	# absorb: ROUNDS of them in a row outrun the bucket and meet the rate
	local i rc=0 out='' took=0 t0
	t0=$(date +%s.%N)
	for i in $(seq 1 "${SLOW_ROUNDS:-6}"); do
		ceremony "" "" 180
		[ $RC -eq 0 ] || { rc=$RC out="round $i: $OUT"; break; }
	done
	took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	echo "    through the shapers: $(ip netns exec $WS tc -s qdisc show dev $VW | awk '/Sent/{print $2}') bytes out of the workstation, $(ip netns exec $HH tc -s qdisc show dev $VH | awk '/Sent/{print $2}') out of the HSM host"
	ip netns exec $WS tc qdisc del dev $VW root
	ip netns exec $HH tc qdisc del dev $VH root
	[ $rc -eq 0 ] || { echo "    over 64 kbit/s the ceremony failed after $took s: $out"; return 1; }
	echo "    over 64 kbit/s ${SLOW_ROUNDS:-6} ceremonies in a row took $took s"
}

# stalling_ped: a PED that keys the session, then waits at the SO login
# screen until the session ends (no operator comes)
stalling_ped() {
	stopp
	cat >"$T/stall.script" <<S
expect -timeout 30 "COMPUTE SESSION KEY. Insert a RPK / Remote PED Key (ORANGE)"
insert ${KEY[rpk]}
press enter
expect -timeout 30 "SO LOGIN... Insert a SO / HSM Admin PED Key (BLUE)"
wait-idle -timeout 120
S
	startp -script "$T/stall.script"
}

case_b() {
	local lpid start t_fail rc
	stalling_ped
	hsmcm_t 20 "ped disconnect"
	hsmcm_t 30 "ped connect -ip $WS_IP -port $PORT"
	[ $RC -eq 0 ] || { echo "    connect: $OUT"; return 1; }
	(exec ip netns exec $HH timeout -k 5 $((CUT_SECONDS + 30)) "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/login.out" 2>&1) &
	lpid=$!
	wait_for 30 grep -q "SO LOGIN" "$T/P.events" || { echo "    the login did not reach the PED"; return 1; }
	ip -n $WS link set $VW down
	start=$(date +%s.%N)
	set +e
	wait "$lpid"
	rc=$?
	set -e
	t_fail=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	if [ $rc -eq 0 ] || ! grep -q CKR_PED_UNPLUGGED "$T/login.out"; then
		ip -n $WS link set $VW up
		echo "    the login over the cut link ended with status $rc after $t_fail s: $(cat "$T/login.out")"
		return 1
	fi
	echo "    link down: CKR_PED_UNPLUGGED after $t_fail s (ping interval $PING_INTERVAL s + timeout $PING_TIMEOUT s)"
	if awk -v t="$t_fail" -v l="$DEAD_AFTER" 'BEGIN { exit !(t > l) }'; then
		ip -n $WS link set $VW up
		echo "    CKR_PED_UNPLUGGED took $t_fail s, more than $DEAD_AFTER s"
		return 1
	fi
	# pedserver, on its side of the cut, ends the session by its own ping timeout
	session_gone || { ip -n $WS link set $VW up; echo "    pedserver still holds the session with the link down"; return 1; }
	while awk -v a="$start" -v b="$(date +%s.%N)" -v c="$CUT_SECONDS" 'BEGIN { exit !(b - a < c) }'; do sleep 0.5; done
	ip -n $WS link set $VW up
	# the neighbour entry went FAILED while the link was down: until ARP
	# resolves again a connect gets EHOSTUNREACH, as on any real network
	# (no ping here: a connect to a closed port is refused once the host answers)
	wait_for 20 reachable || { echo "    the link did not come back"; return 1; }
	echo "    link up after ${CUT_SECONDS} s"
	stopp
	startp -policy "$T/P.policy"
	clean_ceremony
}

# b2: the link down 1.5 s while a session is open and idle: TCP carries
# the pings over the gap, the session lives and logs in afterwards
case_b2() {
	hsmcm_t 20 "ped disconnect"
	hsmcm_t 30 "ped connect -ip $WS_IP -port $PORT"
	[ $RC -eq 0 ] || { echo "    connect: $OUT"; return 1; }
	ip -n $WS link set $VW down
	sleep 1.5
	ip -n $WS link set $VW up
	sleep $((PING_INTERVAL + PING_TIMEOUT + 1)) # past the ping timeout
	hsmcm_t 60 "role login -name so; role logout; slot set -slot 1; role login -name po; role logout; ped disconnect"
	[ $RC -eq 0 ] || { echo "    after a 1.5 s blip the open session failed: $OUT"; return 1; }
	echo "    a 1.5 s blip: the open session lived on and logged in ($TOOK s)"
}

RELAY_PID=
# relay ARGS...: an impair_relay on the HSM host in front of pedserver; sets RPORT
relay() {
	rm -f "$T/relay.port"
	ip netns exec $HH "$TOOLS/impair_relay" -listen 127.0.0.1:0 -target $WS_IP:$PORT -portfile "$T/relay.port" "$@" \
		>"$T/relay.log" 2>&1 &
	RELAY_PID=$!
	track $RELAY_PID
	wait_for 10 test -s "$T/relay.port" || { echo "    the relay did not start: $(cat "$T/relay.log")"; return 1; }
	RPORT=$(cat "$T/relay.port")
}
relay_stop() {
	kill -TERM "$RELAY_PID" 2>/dev/null || true
	wait_gone 10 "$RELAY_PID"
	grep 'closed:' "$T/relay.log" | tail -n 1 | sed 's/^impair_relay: /    relay: /'
}

# must_pass NAME: the ceremony through the relay succeeds
must_pass() {
	ceremony 127.0.0.1 "$RPORT" 180
	local rc=$RC out=$OUT took=$TOOK
	[ $rc -eq 0 ] || { echo "    $1: the ceremony failed after $took s: $out"; tail -n 5 "$T/relay.log"; relay_stop; return 1; }
	echo "    $1: the ceremony took $took s (baseline $BASE s)"
	relay_stop
}

case_c1() { relay -delay 200 && must_pass "200 ms each way"; }
case_c2() { relay -split && must_pass "single-byte writes"; }
case_c3() { # stalls of 1 s, well inside the ping timeout: nothing may fail
	relay -stall 1 -stallprob 0.2 -seed 7 && must_pass "1 s stalls"
	echo "    $(grep -c stalled "$T/relay.log" || true) stalls"
}
case_c4() { long_stalls -stall 8 -stallprob 0.3 -seed 11; }
# c6: single-byte writes and 8 s stalls, so frames stop half delivered
case_c6() { long_stalls -split -stall 8 -stallprob 0.1 -seed 5; }
long_stalls() { # stalls of 8 s, past the ping timeout: complete, or CKR_PED_UNPLUGGED and recover
	relay "$@" || return 1
	ceremony 127.0.0.1 "$RPORT" 120
	local rc=$RC out=$OUT took=$TOOK
	echo "    $(grep -c stalled "$T/relay.log" || true) stalls"
	if [ $rc -eq 0 ]; then
		echo "    8 s stalls: the ceremony completed in $took s"
	elif grep -q CKR_PED_UNPLUGGED <<<"$out" && [ $rc -ne 124 ] && [ $rc -ne 137 ]; then
		echo "    8 s stalls: CKR_PED_UNPLUGGED after $took s"
		# each stall is fatal, so the first one ends the ceremony within the timeouts
		local first
		first=$(awk -v s="$(sed -n 's/^stall-at \([0-9.]*\)$/\1/p' "$T/relay.log" | head -n 1)" -v e="$CER_END" \
			'BEGIN { printf "%.2f", e - s }')
		echo "    ended $first s after the first stall began (limit $STALL_DEAD_AFTER s)"
		if awk -v t="$first" -v l="$STALL_DEAD_AFTER" 'BEGIN { exit !(t > l) }'; then
			relay_stop
			return 1
		fi
	else
		echo "    8 s stalls: the ceremony ended with status $rc after $took s, not CKR_PED_UNPLUGGED: $out"
		relay_stop
		return 1
	fi
	kill -USR1 "$RELAY_PID" # impairments off
	session_gone || { echo "    pedserver still holds the session"; relay_stop; return 1; }
	clean_ceremony 127.0.0.1 "$RPORT" 60 || { relay_stop; return 1; }
	relay_stop
}

# c5: the relay killed mid-login (both TCP connections closed at once):
# CKR_PED_UNPLUGGED at once, not after the ping timeout; then a new relay
# and ped connect work
case_c5() {
	local lpid rc start t_fail
	stalling_ped
	relay || return 1
	hsmcm_t 20 "ped disconnect"
	hsmcm_t 30 "ped connect -ip 127.0.0.1 -port $RPORT"
	[ $RC -eq 0 ] || { echo "    connect: $OUT"; relay_stop; return 1; }
	(exec ip netns exec $HH timeout -k 5 60 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/login.out" 2>&1) &
	lpid=$!
	wait_for 30 grep -q "SO LOGIN" "$T/P.events" || { echo "    the login did not reach the PED"; relay_stop; return 1; }
	kill -KILL "$RELAY_PID"
	start=$(date +%s.%N)
	wait "$RELAY_PID" 2>/dev/null || true # reaped here, so bash does not report the kill
	set +e
	wait "$lpid"
	rc=$?
	set -e
	t_fail=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	if [ $rc -eq 0 ] || ! grep -q CKR_PED_UNPLUGGED "$T/login.out"; then
		echo "    the login through a killed relay ended with status $rc after $t_fail s: $(cat "$T/login.out")"
		return 1
	fi
	echo "    relay killed: CKR_PED_UNPLUGGED after $t_fail s"
	awk -v t="$t_fail" 'BEGIN { exit !(t < 2) }' || { echo "    that is not at once"; return 1; }
	session_gone || { echo "    pedserver still holds the session"; return 1; }
	stopp
	startp -policy "$T/P.policy"
	relay || return 1
	clean_ceremony 127.0.0.1 "$RPORT" 60 || { relay_stop; return 1; }
	relay_stop
}

# c7: pedserver's frames trickle back one byte every 400 ms once the session
# is up: no whole frame within the ping timeout, so CKR_PED_UNPLUGGED
case_c7() {
	relay -dribble 400 -off || return 1
	hsmcm_t 20 "ped disconnect"
	hsmcm_t 30 "ped connect -ip 127.0.0.1 -port $RPORT"
	[ $RC -eq 0 ] || { echo "    connect: $OUT"; relay_stop; return 1; }
	kill -USR2 "$RELAY_PID"
	hsmcm_t 120 "role login -name so; slot set -slot 1; role login -name po"
	if [ $RC -eq 0 ] || ! grep -q CKR_PED_UNPLUGGED <<<"$OUT" ||
		awk -v t="$TOOK" -v l="$DEAD_AFTER" 'BEGIN { exit !(t > l) }'; then
		echo "    trickle: the logins ended with status $RC after $TOOK s (limit $DEAD_AFTER s): $OUT"
		relay_stop
		return 1
	fi
	echo "    trickle: CKR_PED_UNPLUGGED after $TOOK s"
	kill -USR1 "$RELAY_PID"
	session_gone || { echo "    pedserver still holds the session"; relay_stop; return 1; }
	clean_ceremony 127.0.0.1 "$RPORT" 60 || { relay_stop; return 1; }
	relay_stop
}

passed=0 ran=0 t_all=$SECONDS
for c in $CASES; do
	note "case $c"
	t0=$SECONDS
	ran=$((ran + 1))
	if "case_$c"; then
		passed=$((passed + 1))
		echo "case $c: pass ($((SECONDS - t0)) s)"
	else
		echo "case $c: FAIL ($((SECONDS - t0)) s)"
		for l in pedclient.log ws.log hsm.log; do echo "  -- $l"; tail -n 8 "$T/$l" | sed 's/^/  /'; done
	fi
done
note "descriptors after every case"
ran=$((ran + 1))
session_gone || true
FDS1=$(fds)
echo "    open descriptors: at the start $FDS0, at the end $FDS1"
if [ "$FDS0" = "$FDS1" ]; then
	passed=$((passed + 1))
	echo "case fds: pass"
else
	echo "case fds: FAIL"
	for p in $HSM_PID $PC_PID $PS_PID; do echo "  -- $p"; ls -l /proc/$p/fd | sed 's/^/  /'; done
fi
[ -z "${NET_LOGS:-}" ] || for l in pedclient.log ws.log hsm.log relay.log; do echo "  -- $l"; cat "$T/$l"; done
echo "network cases took $((SECONDS - t_all)) s"
echo "result: net_cases=$ran net_passed=$passed"
[ $passed -eq $ran ]
