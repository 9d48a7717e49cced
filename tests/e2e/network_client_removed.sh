#!/bin/bash
# hsm-sim -client remove cuts the client's live links too, not only its
# next connection. hsmcm's shell and the PKCS#11 module keep a link open
# for as long as they run (the module's idle connections are kept for its
# next calls, and hsm-sim's network sessions have no idle limit), so a
# registration removed because a workstation was lost or retired went on
# serving that workstation until it chose to reconnect: possibly never.
# Now the proxy checks the registration before it passes on anything the
# client sends; other clients are not touched.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set +e

sim_client() { "${RUN[@]}" "$BIN/hsm-sim" -state "$T/state" -client "$@"; }

start_hsm -network -port 0
wait_for 20 grep -q 'serving TLS on' "$T/hsm.log" || fail "no TLS listener: $(cat "$T/hsm.log")"
port=$(grep -o 'serving TLS on [^ ]* port [0-9]*' "$T/hsm.log" | awk '{print $NF}')

for ws in ws1 ws2; do # two workstations, each registered
	mkdir -p "$T/$ws"
	OPENPED_PKCS11_CONF="$T/$ws/p11.conf" "$BIN/vtl" createCert -n $ws >/dev/null || fail "createCert $ws"
	OUT=$(sim_client register -name $ws -cert "$T/$ws/cert/client/$ws.pem") || fail "register $ws: $OUT"
	OPENPED_PKCS11_CONF="$T/$ws/p11.conf" "$BIN/vtl" addServer -n 127.0.0.1 -c "$T/state/network/server.pem" \
		-p "$port" >/dev/null || fail "addServer $ws"
done

note "ws1's shell stays connected; ws1's registration is removed under it"
mkfifo "$T/ws1.in"
OPENPED_PKCS11_CONF="$T/ws1/p11.conf" "${RUN[@]}" "$BIN/hsmcm" -server 127.0.0.1 <"$T/ws1.in" >"$T/ws1.out" 2>&1 &
track $!
SHELL_PID=$!
exec 7>"$T/ws1.in"
echo "hsm showinfo" >&7
ok_results() { grep -c 'Command Result : No Error' "$T/ws1.out"; }
wait_for 20 eval '[ "$(ok_results)" = 1 ]' || fail "ws1's first command: $(cat "$T/ws1.out")"
OUT=$(sim_client remove -name ws1) || fail "remove: $OUT"
expect_contains "$OUT" "client ws1 removed"

note "its next command over the live link is refused: the link is closed"
echo "hsm showinfo" >&7
wait_for 20 grep -q 'ws1: its registration was removed or replaced: link closed' "$T/hsm.log" ||
	fail "the removed client's live link was not closed: $(cat "$T/ws1.out")"
wait_gone 20 "$SHELL_PID" || fail "hsmcm still has a link: $(cat "$T/ws1.out")"
exec 7>&-
expect_eq "$(ok_results)" 1 "commands served to ws1"
expect_contains "$(cat "$T/ws1.out")" "lost hsm-sim"

note "a new connection of ws1 is refused as before; ws2 is served on"
OUT=$(OPENPED_PKCS11_CONF="$T/ws1/p11.conf" "$BIN/hsmcm" -server 127.0.0.1 -c "hsm showinfo" 2>&1) &&
	fail "ws1 reconnected: $OUT"
expect_contains "$OUT" "it is not registered there"
OUT=$(OPENPED_PKCS11_CONF="$T/ws2/p11.conf" "$BIN/hsmcm" -server 127.0.0.1 -c "hsm showinfo" 2>&1) ||
	fail "ws2 no longer served: $OUT"
expect_contains "$OUT" "Command Result : No Error"

note "a name registered again with another certificate does not keep the old one's link"
mkfifo "$T/ws2.in"
OPENPED_PKCS11_CONF="$T/ws2/p11.conf" "${RUN[@]}" "$BIN/hsmcm" -server 127.0.0.1 <"$T/ws2.in" >"$T/ws2.out" 2>&1 &
track $!
SHELL_PID=$!
exec 7>"$T/ws2.in"
echo "hsm showinfo" >&7
wait_for 20 grep -q 'Command Result : No Error' "$T/ws2.out" || fail "ws2's first command: $(cat "$T/ws2.out")"
sim_client remove -name ws2 >/dev/null || fail "remove ws2"
OUT=$(sim_client register -name ws2 -cert "$T/ws1/cert/client/ws1.pem") || fail "register ws2 again: $OUT"
echo "hsm showinfo" >&7
wait_gone 20 "$SHELL_PID" || fail "ws2's old certificate kept its link: $(cat "$T/ws2.out")"
exec 7>&-
expect_eq "$(grep -c 'Command Result : No Error' "$T/ws2.out")" 1 "commands served to the old ws2"
alive "$HSM_PID" || fail "hsm-sim ended"
echo "network_client_removed: passed"
