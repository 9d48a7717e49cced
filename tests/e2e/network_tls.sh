#!/bin/bash
# hsm-sim across the network (issue #30): its TLS listener with pinned
# certificates on both sides, vtl's registration of the client, and hsmcm
# and vtl verify over the link. The refusals: an unregistered client, a
# server whose certificate is not the registered one, an expired client
# certificate and an expired server certificate. Each is refused with a
# message that says which, and leaves both sides serving.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pkcs11_lib.sh"
# expect_exit needs the failing command to go on: no set -e

vtl() { "${RUN[@]}" "$BIN/vtl" "$@"; }
sim_client() { "${RUN[@]}" "$BIN/hsm-sim" -state "$T/state" -client "$@"; }

note "hsm-sim -network: a server certificate made at the first start, its key 0600"
new_keys so hdom po pdom co rpk
start_hsm -network -port 0
wait_for 20 grep -q 'serving TLS on' "$T/hsm.log" || fail "no TLS listener: $(cat "$T/hsm.log")"
port=$(grep -o 'serving TLS on [^ ]* port [0-9]*' "$T/hsm.log" | awk '{print $NF}')
expect_eq "$(stat -c %a "$T/state/network/server.key")" 600 "the server key's mode"
SERVER_PEM="$T/state/network/server.pem"
p11_init_hsm
set +e # hsm_lib's hsmcm turns it on; expect_exit needs it off

note "vtl createCert; hsm-sim -client register; vtl addServer"
WS1="$T/ws1/openped-pkcs11.conf"
mkdir -p "$T/ws1"
cp "$OPENPED_PKCS11_CONF" "$WS1"
export OPENPED_PKCS11_CONF="$WS1"
OUT=$(vtl createCert -n ws1) || fail "createCert: $OUT"
expect_contains "$OUT" "Certificate created and written to: $T/ws1/cert/client/ws1.pem"
expect_eq "$(stat -c %a "$T/ws1/cert/client/ws1Key.pem")" 600 "the client key's mode"
expect_exit 1 vtl createCert -n ws1
expect_contains "$OUT" "-force makes a new one"
OUT=$(sim_client register -name ws1 -cert "$T/ws1/cert/client/ws1.pem") || fail "register: $OUT"
expect_contains "$OUT" "client ws1 registered"
expect_exit 1 sim_client register -name ws1 -cert "$T/ws1/cert/client/ws1.pem"
expect_contains "$OUT" "registered already"
expect_exit 1 sim_client register -name other -cert "$T/ws1/cert/client/ws1.pem"
expect_contains "$OUT" "this certificate is registered already, as ws1"
expect_exit 1 sim_client register -name ../x -cert "$T/ws1/cert/client/ws1.pem"
OUT=$(vtl addServer -n 127.0.0.1 -c "$SERVER_PEM" -p "$port") || fail "addServer: $OUT"
expect_contains "$OUT" "New server 127.0.0.1 successfully added"
expect_exit 1 vtl addServer -n 127.0.0.1 -c "$SERVER_PEM" -p "$port"
expect_contains "$OUT" "registered already"
OUT=$(vtl listServers)
expect_contains "$OUT" "127.0.0.1"
expect_contains "$OUT" "1 server(s)"
grep -q 'ServerName00 = "127.0.0.1"' "$WS1" || fail "no ServerName00 in $(cat "$WS1")"
grep -q "ServerPort00 = $port" "$WS1" || fail "no ServerPort00 in $(cat "$WS1")"
grep -q "PEDTimeout1 = 20000" "$WS1" || fail "vtl lost the module's settings: $(cat "$WS1")"

note "vtl verify and hsmcm -server: the partition over TLS"
OUT=$(vtl verify) || fail "verify: $OUT"
expect_contains "$OUT" "The following partitions were found on 127.0.0.1:"
expect_contains "$OUT" " $TOKEN"
expect_not_contains "$OUT" "$BACKUP_SERIAL" # a client sees application partitions only
OUT=$("${RUN[@]}" "$BIN/hsmcm" -server 127.0.0.1 -c "slot list") || fail "hsmcm -server: $OUT"
expect_contains "$OUT" "Label ->                $TOKEN"
grep -q 'network client ws1 connected from 127.0.0.1' "$T/hsm.log" || fail "no connection logged"

note "a network client administers partitions only: no zeroize, no admin slot, no audit"
OUT=$("${RUN[@]}" "$BIN/hsmcm" -server 127.0.0.1 -c "hsm zeroize -force" 2>&1) && fail "a network client zeroized the HSM: $OUT"
expect_contains "$OUT" "a network client administers application partitions only"
OUT=$("${RUN[@]}" "$BIN/hsmcm" -server 127.0.0.1 -c "slot set -slot 1; hsm zeroize -force" 2>&1) &&
	fail "a network client zeroized the HSM from a partition slot: $OUT"
OUT=$("${RUN[@]}" "$BIN/hsmcm" -server 127.0.0.1 -c "role login -name so" 2>&1) && fail "admin slot login over the network: $OUT"
expect_contains "$OUT" "a network client administers application partitions only"
OUT=$("${RUN[@]}" "$BIN/hsmcm" -server 127.0.0.1 -c "hsm showinfo") || fail "hsm showinfo over the network: $OUT"
OUT=$("${RUN[@]}" "$BIN/hsmcm" -server 127.0.0.1 -c "slot list") || fail "the server stopped serving: $OUT"
expect_contains "$OUT" "Label ->                $TOKEN"

note "the PKCS#11 module: the network partition first (chapter 13), a login through the PED and a signature over TLS"
if command -v pkcs11-tool >/dev/null; then
	tool() { client pkcs11-tool --module "$MODULE" "$@"; }
	# the network alone: no local hsm-sim for this client
	sed 's|Socket = .*|Socket = "'"$T"'/nothing.sock";|' "$WS1" >"$T/ws1/net-only.conf"
	OUT=$(OPENPED_PKCS11_CONF="$T/ws1/net-only.conf" tool -L 2>&1) || fail "pkcs11-tool -L, network only: $OUT"
	expect_contains "$OUT" "Slot 0 (0x0)"
	expect_contains "$OUT" "token label        : $TOKEN"
	expect_not_contains "$OUT" "Slot 1 (0x1)" # a network HSM shows its application partitions only
	# network and local: the network's partition is slot 0, the local HSM's slots after it
	OUT=$(tool -L 2>&1) || fail "pkcs11-tool -L: $OUT"
	expect_eq "$(grep -c "token label        : $TOKEN\$" <<<"$OUT")" 2 "partitions named $TOKEN (network, local)"
	expect_contains "$OUT" "Slot 2 (0x2)" # the local admin slot
	OUT=$(OPENPED_PKCS11_CONF="$T/ws1/net-only.conf" tool --slot 0 --login --keypairgen --key-type EC:prime256v1 \
		--usage-sign --id 4e01 --label netkey 2>&1) || fail "keypairgen over the network: $OUT"
	printf 'signed across the network' >"$T/tosign"
	OUT=$(OPENPED_PKCS11_CONF="$T/ws1/net-only.conf" tool --slot 0 --login --sign --mechanism ECDSA-SHA256 --id 4e01 \
		-i "$T/tosign" -o "$T/sig" 2>&1) || fail "sign over the network: $OUT"
	[ -s "$T/sig" ] || fail "no signature"
	# the key is the local partition's too: the same HSM, reached either way
	OUT=$(tool --slot 1 --login --list-objects --type privkey 2>&1) || fail "list locally: $OUT"
	expect_contains "$OUT" "netkey"
else
	note "(pkcs11-tool is not installed: the module's part is skipped)"
fi

serving() { # both sides still serve: the registered client sees its partition
	OPENPED_PKCS11_CONF="$WS1" vtl verify >"$T/verify.out" 2>&1 || fail "$1: ws1 no longer served: $(cat "$T/verify.out")"
	grep -q " $TOKEN" "$T/verify.out" || fail "$1: $(cat "$T/verify.out")"
	alive "$HSM_PID" || fail "$1: hsm-sim ended"
}

note "an unregistered client is refused and learns nothing, not even the slot list"
WS2="$T/ws2/openped-pkcs11.conf"
mkdir -p "$T/ws2"
OPENPED_PKCS11_CONF="$WS2" vtl createCert -n ws2 >/dev/null
OPENPED_PKCS11_CONF="$WS2" vtl addServer -n 127.0.0.1 -c "$SERVER_PEM" -p "$port" >/dev/null
expect_exit 1 env OPENPED_PKCS11_CONF="$WS2" "$BIN/vtl" verify
expect_contains "$OUT" "127.0.0.1 refused our certificate: it is not registered there"
expect_not_contains "$OUT" "$TOKEN"
expect_not_contains "$OUT" "$HSM_SERIAL"
expect_exit 1 env OPENPED_PKCS11_CONF="$WS2" "$BIN/hsmcm" -server 127.0.0.1 -c "slot list"
expect_contains "$OUT" "it is not registered there"
expect_not_contains "$OUT" "Slot Id"
wait_for 10 grep -q 'refused: client certificate not registered' "$T/hsm.log" || fail "the refusal is not logged"
serving "after an unregistered client"

note "a server whose certificate is not the registered one is refused"
cp "$T/ws1/cert/server/127.0.0.1.pem" "$T/server.good"
cp "$T/ws2/cert/client/ws2.pem" "$T/ws1/cert/server/127.0.0.1.pem" # pinned: another certificate
expect_exit 1 vtl verify
expect_contains "$OUT" "127.0.0.1 presented a certificate that is not the one registered for it"
expect_not_contains "$OUT" "$TOKEN"
wait_for 10 grep -q "the client refused this server's certificate" "$T/hsm.log" || fail "not logged on the server"
cp "$T/server.good" "$T/ws1/cert/server/127.0.0.1.pem"
serving "after a wrong server certificate"

note "an expired client certificate is refused (registered while it was valid)"
WS3="$T/ws3/openped-pkcs11.conf"
mkdir -p "$T/ws3"
OPENPED_PKCS11_CONF="$WS3" vtl createCert -n ws3 -days -1 >/dev/null
OPENPED_PKCS11_CONF="$WS3" vtl addServer -n 127.0.0.1 -c "$SERVER_PEM" -p "$port" >/dev/null
expect_exit 1 sim_client register -name ws3 -cert "$T/ws3/cert/client/ws3.pem"
expect_contains "$OUT" "has expired"
cp "$T/ws3/cert/client/ws3.pem" "$T/state/network/clients/ws3.pem" # time passed since it was registered
expect_exit 1 env OPENPED_PKCS11_CONF="$WS3" "$BIN/vtl" verify
expect_contains "$OUT" "refused our certificate: it has expired"
wait_for 10 grep -q 'client certificate refused (certificate has expired)' "$T/hsm.log" || fail "not logged"
serving "after an expired client certificate"

note "an expired server certificate is refused (the listener reads its identity at each connection)"
cp "$T/state/network/server.pem" "$T/server.pem.good"
cp "$T/state/network/server.key" "$T/server.key.good"
OPENPED_PKCS11_CONF="$T/exp/c.conf" vtl createCert -n expired-server -days -1 >/dev/null
cp "$T/exp/cert/client/expired-server.pem" "$T/state/network/server.pem"
cp "$T/exp/cert/client/expired-serverKey.pem" "$T/state/network/server.key"
cp "$T/state/network/server.pem" "$T/ws1/cert/server/127.0.0.1.pem" # pinned while valid
expect_exit 1 vtl verify
expect_contains "$OUT" "127.0.0.1 presented the certificate registered for it, but it has expired"
cp "$T/server.pem.good" "$T/state/network/server.pem"
cp "$T/server.key.good" "$T/state/network/server.key"
cp "$T/server.good" "$T/ws1/cert/server/127.0.0.1.pem"
serving "after an expired server certificate"

note "a private key others can read is refused, on either side"
chmod 644 "$T/state/network/server.key"
expect_exit 1 sim_client list
expect_contains "$OUT" "server.key must be a file of ours that no one else can read"
chmod 600 "$T/state/network/server.key"
chmod 640 "$T/ws1/cert/client/ws1Key.pem"
expect_exit 1 vtl verify
expect_contains "$OUT" "ws1Key.pem must be a file of ours that no one else can read"
chmod 600 "$T/ws1/cert/client/ws1Key.pem"
serving "after the keys' modes"

note "a pinned server certificate, or its folder, that others can change is refused"
pin="$T/ws1/cert/server/127.0.0.1.pem"
chmod 666 "$pin"
expect_exit 1 vtl verify
expect_contains "$OUT" "127.0.0.1.pem (the server's registered certificate) must be a file of ours or root's that no one else can change"
expect_not_contains "$OUT" "$TOKEN"
chmod 644 "$pin"
chmod 777 "$(dirname "$pin")"
expect_exit 1 env OPENPED_PKCS11_CONF="$WS1" "$BIN/hsmcm" -server 127.0.0.1 -c "slot list"
expect_contains "$OUT" "writable by no one else"
expect_not_contains "$OUT" "Slot Id"
chmod 755 "$(dirname "$pin")"
serving "after the pin's modes"

note "hsm-sim -client list and remove: a removed client is refused from its next connection"
OUT=$(sim_client list)
expect_contains "$OUT" "2 registered client(s)"
expect_contains "$OUT" "ws3"
expect_contains "$OUT" "(expired)"
OUT=$(sim_client remove -name ws1) || fail "remove: $OUT"
expect_contains "$OUT" "client ws1 removed"
expect_exit 1 vtl verify
expect_contains "$OUT" "it is not registered there"
alive "$HSM_PID" || fail "hsm-sim ended"

note "vtl deleteServer"
OUT=$(vtl deleteServer -n 127.0.0.1) || fail "deleteServer: $OUT"
expect_contains "$OUT" "successfully removed"
[ ! -e "$T/ws1/cert/server/127.0.0.1.pem" ] || fail "the server's certificate is still trusted"
OUT=$(vtl listServers)
expect_contains "$OUT" "0 server(s)"
echo "network_tls: passed"
