#!/bin/bash
# Two hosts: pedserver and the PED in one network namespace (the operator's
# workstation), hsm-sim and pedclient in another (the HSM host), joined by a
# veth pair. A Remote PED login crosses the link; the link is cut in the
# middle of a ceremony (the HSM sees CKR_PED_UNPLUGGED within the ping
# timeout, the PED's prompt goes) and, once it is back, a new ped connect recovers without
# restarting anything.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

[ "$(id -u)" = 0 ] || skip "network namespaces need root"
command -v ip >/dev/null || skip "no ip command (iproute2)"
WS=pedws$$ HH=pedhsm$$
ip netns add $WS 2>/dev/null || skip "cannot create network namespaces here"
ip netns add $HH || { ip netns del $WS; skip "cannot create a second network namespace"; }
cleanup_ns() { ip netns del $WS 2>/dev/null; ip netns del $HH 2>/dev/null; }
trap '_cleanup; cleanup_ns' EXIT
ip link add vws$$ type veth peer name vhh$$
ip link set vws$$ netns $WS
ip link set vhh$$ netns $HH
ip -n $WS addr add 10.231.0.1/24 dev vws$$
ip -n $HH addr add 10.231.0.2/24 dev vhh$$
for n in $WS $HH; do ip -n $n link set lo up; done
ip -n $WS link set vws$$ up
ip -n $HH link set vhh$$ up

new_keys rpk so dom
WSRUN="$T/ws-run"
mkdir -p "$WSRUN"
ws() { XDG_RUNTIME_DIR="$WSRUN" ip netns exec $WS "$@"; }
hh() { ip netns exec $HH "$@"; }
# Background processes are started with ip netns exec directly (it execs the
# command), so $! is the daemon's own pid.

note "the HSM host: hsm-sim and pedclient; the workstation: pedserver and the PED"
ip netns exec $HH "${RUN[@]}" "$BIN/hsm-sim" -state "$T/state" -socket "$HSM_SOCK" -pidfile "$T/hsm.pid" -logfile "$T/hsm.log" &
track $!
wait_for 20 test -S "$T/ped-$BACKUP_SERIAL.sock" || fail "hsm-sim did not start"
: >"$T/pedclient.conf"
hh "$BIN/pedclient" -mode start -admin 0 -listenport -1 -pinginterval 1 -pingtimeout 1 \
	-configfile "$T/pedclient.conf" -logfilename "$T/pedclient.log" >"$T/out" 2>&1 || fail "pedclient: $(cat "$T/out")"
track "$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")"
: >"$T/ws.conf"
ws "$BIN/pedserver" -mode start -ip 10.231.0.1 -port 0 -admin 0 -pinginterval 1 -pingtimeout 1 \
	-configfile "$T/ws.conf" -logfile "$T/ws.log" >"$T/out" 2>&1 || fail "pedserver: $(cat "$T/out")"
track "$(cat "$WSRUN/openped/pedserver.pid")"
ws "$BIN/pedserver" -mode show -configfile "$T/ws.conf" >"$T/out" 2>&1 || fail "show: $(cat "$T/out")"
port=$(awk '/Server Port:/{print $3}' "$T/out")
cat >"$T/P.policy" <<P
$OPERATOR
write rpv ${KEY[rpk]}
use rpv ${KEY[rpk]}
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
write "SETTING DOMAIN" ${KEY[dom]}
P
startp() { # the PED on the workstation
	rm -f "$T/P.events"
	# not through ws(): a backgrounded function is a subshell, and $! would be its pid
	XDG_RUNTIME_DIR="$WSRUN" ip netns exec $WS "${RUN[@]}" "$BIN/ped-device" -headless -mode remote -pedserver "$WSRUN/openped/pedserver-ped.sock" \
		-control "$T/P.ctl" -events "$T/P.events" -keytimeout 30 "$@" >"$T/P.log" 2>&1 &
	PPID_=$!
	track $PPID_
	wait_for 20 grep -q '"attached":true' "$T/P.events" || fail "the PED did not attach: $(cat "$T/P.log")"
}
startp -policy "$T/P.policy"

note "across the link: remote RPV init, HSM init, then a 2e2s login"
hsmcm -c "ped connect -ip 10.231.0.1 -port $port -password; ped vector init; hsm init -label twohosts; ped disconnect; ped connect -ip 10.231.0.1 -port $port; role login -name so; ped get"
[ $RC -eq 0 ] || fail "login across the link: $OUT"
expect_contains "$OUT" "via pedserver 10.231.0.1:$port"
grep -q '"scheme":"2e2s"' "$T/P.events" || fail "not 2e2s"
hsmcm -c "ped disconnect"

note "the link cut mid-ceremony: CKR_PED_UNPLUGGED within the ping timeout"
kill -TERM $PPID_; wait_gone 10 $PPID_
cat >"$T/stall.script" <<S
expect -timeout 20 "COMPUTE SESSION KEY. Insert a RPK / Remote PED Key (ORANGE)"
insert ${KEY[rpk]}
press enter
expect -timeout 20 "SO LOGIN... Insert a SO / HSM Admin PED Key (BLUE)"
wait-idle -timeout 10
S
startp -script "$T/stall.script"
hsmcm -c "ped connect -ip 10.231.0.1 -port $port"
[ $RC -eq 0 ] || fail "connect: $OUT"
( exec "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/login.out" 2>&1 ) &
LPID=$!
wait_for 20 grep -q "SO LOGIN" "$T/P.events" || fail "the login did not reach the PED"
ip -n $WS link set vws$$ down
start=$SECONDS
wait "$LPID" && fail "login succeeded over a cut link"
expect_contains "$(cat "$T/login.out")" "CKR_PED_UNPLUGGED"
[ $((SECONDS - start)) -le 6 ] || fail "CKR_PED_UNPLUGGED took $((SECONDS - start)) s"
grep -q "stopped answering pings" "$T/pedclient.log" || fail "pedclient did not log the dead pedserver"
grep -q "the Remote PED session ended: CKR_PED_UNPLUGGED" "$T/hsm.log" || fail "hsm.log: $(tail -n 3 "$T/hsm.log")"
# pedserver's ping timeout ends the session on its side too: the PED's
# prompt goes with it, well before the PED's 30 s key timeout
wait "$PPID_" || fail "the PED kept asking for the blue key after pedserver ended the session: $(cat "$T/P.log")"

note "the link back: a new ped connect recovers, nothing restarted"
ip -n $WS link set vws$$ up
startp -policy "$T/P.policy"
wait_for 10 eval 'ws "$BIN/pedserver" -mode show -configfile "$T/ws.conf" | grep -q "Client Information:         Not Available"' ||
	fail "pedserver still holds the dead session"
hsmcm -c "ped disconnect"
hsmcm -c "ped connect -ip 10.231.0.1 -port $port; role login -name so; ped disconnect"
[ $RC -eq 0 ] || fail "recovery after the link came back: $OUT"
echo "two hosts ok"
