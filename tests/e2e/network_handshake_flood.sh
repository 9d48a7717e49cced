#!/bin/bash
# hsm-sim -network runs at most 16 TLS handshakes at once, each given
# link_timeout (10 s) to finish. A host that reached the port, with no
# certificate at all, used to hold all 16 with idle TCP connections (16
# new ones every 10 s): every registered client was refused ("16 handshakes
# in progress already") for as long as it went on. Now, when all 16 are
# taken, the handshake waiting longest is cut to make room: a client that
# completes its handshake is served.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set +e

start_hsm -network -port 0
wait_for 20 grep -q 'serving TLS on' "$T/hsm.log" || fail "no TLS listener: $(cat "$T/hsm.log")"
port=$(grep -o 'serving TLS on [^ ]* port [0-9]*' "$T/hsm.log" | awk '{print $NF}')
mkdir -p "$T/ws1"
export OPENPED_PKCS11_CONF="$T/ws1/p11.conf"
"$BIN/vtl" createCert -n ws1 >/dev/null || fail "createCert"
"$BIN/hsm-sim" -state "$T/state" -client register -name ws1 -cert "$T/ws1/cert/client/ws1.pem" >/dev/null ||
	fail "register"
"$BIN/vtl" addServer -n 127.0.0.1 -c "$T/state/network/server.pem" -p "$port" >/dev/null || fail "addServer"
OUT=$("$BIN/hsmcm" -server 127.0.0.1 -c "hsm showinfo" 2>&1) || fail "ws1 before the flood: $OUT"

note "a peer with no certificate opens 16 connections and says nothing"
silent_flood "$HSM_PID" "$port"

note "the registered client is served meanwhile, and the longest wait was cut for it"
for i in 1 2 3; do
	OUT=$("$BIN/hsmcm" -server 127.0.0.1 -c "hsm showinfo" 2>&1) || fail "ws1 refused during the flood ($i): $OUT"
	expect_contains "$OUT" "Command Result : No Error"
done
grep -q 'handshake cut short, the longest of 16 waiting' "$T/hsm.log" || fail "no cut logged: $(tail -5 "$T/hsm.log")"
touch "$T/flood.done"
wait_gone 20 "$FLOOD"
alive "$HSM_PID" || fail "hsm-sim ended"
echo "network_handshake_flood: passed"
