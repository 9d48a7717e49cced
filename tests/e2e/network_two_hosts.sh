#!/bin/bash
# Seed 001's backup session across two hosts (issue #30, test 1): the HSM
# host (hsm-sim -network with the HSM, pedclient) and the operator's
# workstation (hsmcm and vtl over the mutually authenticated TLS link,
# pedserver, the Remote PED, and its own hsm-sim with the Backup HSM, whose
# PED is reached through a pedclient on the workstation linked to the
# workstation's pedserver: pedclient's "double duty", 004 lines 5384-5392)
# in two network namespaces joined by a veth pair. hsmcm holds a session
# with each hsm-sim: the HSM host's slots keep their numbers, the Backup HSM
# (the workstation hsm-sim's slot 0) follows them as slot 16. The
# workstation registers with the HSM (vtl createCert, hsm-sim -client
# register, vtl addServer on the documented default port) and makes an EC
# key in the partition with the PKCS#11 module over the link; then the
# seed's steps from its hsmcm: slot set, ped connect to the workstation, the
# Crypto Officer's login, ped disconnect, ped connect -slot 16, partition
# archive backup: the Backup HSM's hsm-sim does its own PED work, the
# objects cross sealed (hsm/clonewire.h) through hsmcm. The backup is
# restored to another partition of the HSM, whose restored key signs over
# the link (pkcs11-tool) and openssl verifies it with the original's
# public key. Before that: HSM policy 16 off refuses the backup, and the
# link cut in the middle of a backup (the Backup HSM's partition made in
# memory, its Crypto Officer's key not yet there) fails it with a lost link
# named in hsmcm, leaving no partition on the Backup HSM; the seed's
# session is the retry. tcpdump watches the TLS link the whole time: none
# of the challenges, commands or labels crosses in clear (a canary sent in
# clear on the same port must be seen, so a capture that missed the
# traffic fails). Finally the link is cut between sessions: hsmcm fails
# naming the host and port, and once the link is back a new session works.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/netns_lib.sh"
set -e
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data"
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"

WS=pednws$$ HH=pednhh$$
netns_hosts $WS $HH
# a failure while the Remote PED is stopped (SIGSTOP, the cut-link step)
# must not leave _cleanup waiting for ever on a PED that cannot take SIGTERM
netns_before_cleanup() { kill -CONT ${R_PID:-} 2>/dev/null; }
netns_link $WS vws$$ 10.232.0.1 $HH vhh$$ 10.232.0.2
WSRUN="$T/ws-run" WSCONF="$T/ws/openped-pkcs11.conf"
mkdir -p "$WSRUN" "$T/ws"
ws() { OPENPED_PKCS11_CONF="$WSCONF" XDG_RUNTIME_DIR="$WSRUN" ip netns exec $WS "$@"; }
# hsmcm on the workstation, over TLS; output in $OUT (and the transcript), status in $RC
net_hsmcm() {
	set +e
	OUT=$(OPENPED_PKCS11_CONF="$WSCONF" XDG_RUNTIME_DIR="$WSRUN" timeout 120 ip netns exec $WS "${RUN[@]}" "$BIN/hsmcm" \
		-server 10.232.0.2 "$@" 2>&1 |
		tee -a "$TRANSCRIPT"; exit "${PIPESTATUS[0]}")
	RC=$?
	set -e
}

note "the HSM host: hsm-sim -network on the default port with the HSM; set-up with its PED cabled to it"
new_keys so hdom po po2 dom co co2 rpkA bso bdom rpkB bpo bpo2 bco bco2
printf 'hsms = ( { serial = "%s"; slot = 0; type = "hsm"; } );\n' $HSM_SERIAL >"$T/hh.conf"
ip netns exec $HH "${RUN[@]}" "$BIN/hsm-sim" -network -configfile "$T/hh.conf" -state "$T/state" -socket "$HSM_SOCK" \
	-pidfile "$T/hsm.pid" -logfile "$T/hsm.log" &
track $!
HSM_PID=$!
wait_for 20 grep -q 'serving TLS on \* port 1792' "$T/hsm.log" || fail "no TLS listener on 1792: $(cat "$T/hsm.log")"
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no yes
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[dom]}
use "READING DOMAIN" ${KEY[dom]}
use "SETTING DOMAIN" ${KEY[dom]}
write rpv ${KEY[rpkA]}
write "SETTING PO" ${KEY[po]} ${KEY[po2]}
use "PO LOGIN" ${KEY[po]} / ${KEY[po2]}
write "SETTING CO" ${KEY[co]} ${KEY[co2]}
use "CO LOGIN" ${KEY[co]} / ${KEY[co]} / ${KEY[co2]} / ${KEY[co2]}
P
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label main; role login -name so; ped vector init; partition create -label SA52_P1; partition create -label restored
slot set -slot 1; partition init -label SA52_P1; role login -name po; role init -name co; partition changepolicy -policy 22 -value 1; role login -name co; role createchallenge -name co -challenge userpin1; role logout; role login -name co -password userpin1; object create -label master-key -value k1; object create -label signing-key -value k2
slot set -slot 2; partition init -label restored; role login -name po; role init -name co; partition changepolicy -policy 22 -value 1; role login -name co; role createchallenge -name co -challenge userpin2; role logout; role login -name co -password userpin2
slot set -slot 0; role login -name so; hsm changehsmpolicy -policy 16 -value 0"
[ $RC -eq 0 ] || fail "set-up: $OUT"
set +e
kill -TERM "$PED_A_PID"
wait_gone 10 "$PED_A_PID"
set -e
: >"$T/pedclient.conf"
ip netns exec $HH "$BIN/pedclient" -mode start -admin 0 -listenport -1 -pinginterval 1 -pingtimeout 1 -configfile "$T/pedclient.conf" \
	-logfilename "$T/pedclient.log" >"$T/out" 2>&1 || fail "pedclient: $(cat "$T/out")"
track "$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")"

note "the workstation: its hsm-sim with the Backup HSM, initialized at the PED cabled to it"
printf 'hsms = ( { serial = "%s"; slot = 0; type = "backup"; } );\n' $BACKUP_SERIAL >"$T/wshsm.conf"
OPENPED_PKCS11_CONF="$WSCONF" XDG_RUNTIME_DIR="$WSRUN" ip netns exec $WS "${RUN[@]}" "$BIN/hsm-sim" -configfile "$T/wshsm.conf" \
	-state "$T/wsstate" -pidfile "$T/wshsm.pid" -logfile "$T/wshsm.log" &
track $!
WSHSM_PID=$!
WSPED="$WSRUN/openped/ped-$BACKUP_SERIAL.sock"
wait_for 20 test -S "$WSPED" || fail "the workstation's hsm-sim did not start: $(cat "$T/wshsm.log")"
printf 'write "SETTING SO" %s\nuse "SO LOGIN" %s\nreuse "SETTING DOMAIN" no\nwrite "SETTING DOMAIN" %s\nwrite rpv %s\n' \
	"${KEY[bso]}" "${KEY[bso]}" "${KEY[bdom]}" "${KEY[rpkB]}" >"$T/b.policy"
"${RUN[@]}" "$BIN/ped-device" -headless -hsm "$WSPED" -policy "$T/b.policy" -control "$T/B.ctl" -events "$T/B.events" \
	-keytimeout 20 >"$T/B.log" 2>&1 &
PED_B_PID=$!
track $PED_B_PID
wait_for 20 grep -q '"event":"attached"' "$T/B.events" || fail "PED B did not attach: $(cat "$T/B.log")"
ws "$BIN/hsmcm" -c "hsm init -label BackupHSM; role login -name so; ped vector init" >"$T/out" 2>&1 ||
	fail "the Backup HSM's set-up: $(cat "$T/out")"
set +e
kill -TERM "$PED_B_PID"
wait_gone 10 "$PED_B_PID"
set -e

note "the workstation: pedserver, the Remote PED, and pedclient for the Backup HSM (double duty)"
: >"$T/ws.conf"
ws "$BIN/pedserver" -mode start -ip 0.0.0.0 -port 0 -admin 0 -pinginterval 1 -pingtimeout 1 -configfile "$T/ws.conf" -logfile "$T/ws.log" \
	>"$T/out" 2>&1 || fail "pedserver: $(cat "$T/out")"
track "$(cat "$WSRUN/openped/pedserver.pid")"
ws "$BIN/pedserver" -mode show -configfile "$T/ws.conf" >"$T/out" 2>&1 || fail "show: $(cat "$T/out")"
port=$(awk '/Server Port:/{print $3}' "$T/out")
: >"$T/wspedclient.conf"
ws "$BIN/pedclient" -mode start -admin 0 -listenport -1 -pinginterval 1 -pingtimeout 1 -configfile "$T/wspedclient.conf" \
	-logfilename "$T/wspedclient.log" >"$T/out" 2>&1 || fail "the workstation's pedclient: $(cat "$T/out")"
track "$(cat "$WSRUN/openped/pedclient.pid")"
cat >"$T/r.policy" <<P
use rpv ${KEY[rpkB]}
use "SO LOGIN" ${KEY[bso]}
write "SETTING PO" ${KEY[bpo]}
use "PO LOGIN" ${KEY[bpo]} / ${KEY[bpo]}
reuse "SETTING DOMAIN" yes
use "READING DOMAIN" ${KEY[dom]}
use "SETTING DOMAIN" ${KEY[dom]}
write "SETTING CO" ${KEY[bco]}
use "CO LOGIN" ${KEY[bco]}
P
start_r() { # the Remote PED on the workstation, with policy $1
	rm -f "$T/R.events"
	# not through ws(): a backgrounded function is a subshell, and $! would be its pid
	OPENPED_PKCS11_CONF="$WSCONF" XDG_RUNTIME_DIR="$WSRUN" ip netns exec $WS "${RUN[@]}" "$BIN/ped-device" -headless \
		-mode remote -pedserver "$WSRUN/openped/pedserver-ped.sock" -policy "$1" -control "$T/R.ctl" \
		-events "$T/R.events" -keytimeout 60 >"$T/R.log" 2>&1 &
	R_PID=$!
	track $R_PID
	wait_for 20 grep -q '"attached":true' "$T/R.events" || fail "the PED did not attach: $(cat "$T/R.log")"
}
start_r "$T/r.policy"

note "registration: vtl createCert, hsm-sim -client register, vtl addServer (port 1792 by default)"
ws "$BIN/vtl" createCert -n workstation >"$T/out" 2>&1 || fail "createCert: $(cat "$T/out")"
cp "$T/ws/cert/client/workstation.pem" "$T/workstation.pem" # what scp would carry to the HSM host
"$BIN/hsm-sim" -state "$T/state" -client register -name workstation -cert "$T/workstation.pem" >"$T/out" 2>&1 ||
	fail "register: $(cat "$T/out")"
cp "$T/state/network/server.pem" "$T/server.pem" # and back
ws "$BIN/vtl" addServer -n 10.232.0.2 -c "$T/server.pem" >"$T/out" 2>&1 || fail "addServer: $(cat "$T/out")"
ws "$BIN/vtl" listServers >"$T/out" 2>&1
grep -q '10.232.0.2 *1792' "$T/out" || fail "listServers: $(cat "$T/out")"

note "tcpdump on the TLS link"
ip netns exec $HH tcpdump -i vhh$$ --immediate-mode -U -s 0 -w "$T/tls.pcap" tcp port 1792 >"$T/tcpdump.log" 2>&1 &
TCPDUMP_PID=$!
track $TCPDUMP_PID
wait_for 10 grep -q 'listening on' "$T/tcpdump.log" || fail "tcpdump: $(cat "$T/tcpdump.log")"
ws "$BIN/vtl" verify >"$T/out" 2>&1 || fail "verify: $(cat "$T/out")"
grep -q 'SA52_P1' "$T/out" || fail "verify: $(cat "$T/out")"
grep -q 'restored' "$T/out" || fail "verify: $(cat "$T/out")"

note "a real key: an EC key pair made in SA52_P1 with the PKCS#11 module over the link"
MODULE="$PED_BUILD/lib/libopenped-pkcs11.so"
# the workstation's PKCS#11 clients, with its client configuration
p11() { so_client "$MODULE" ip netns exec $WS env OPENPED_PKCS11_CONF="$WSCONF" XDG_RUNTIME_DIR="$WSRUN" "$@"; }
HAVE_P11=0
if command -v pkcs11-tool >/dev/null && command -v p11tool >/dev/null; then
	HAVE_P11=1
	p11 pkcs11-tool --module "$MODULE" --token-label SA52_P1 --login --pin userpin1 --keypairgen \
		--key-type EC:prime256v1 --usage-sign --id 4e01 --label netkey >"$T/out" 2>&1 || fail "keypairgen: $(cat "$T/out")"
	# its public key from the listing (pkcs11-tool 0.23's --read-object of an EC
	# key reads freed memory: an ASan run would stop there), as a P-256 SPKI
	p11 pkcs11-tool --module "$MODULE" --token-label SA52_P1 --list-objects --type pubkey >"$T/out" 2>&1 ||
		fail "listing netkey: $(cat "$T/out")"
	point=$(awk '/EC_POINT:/{print $2; exit}' "$T/out")
	[ "${point:0:4}" = 0441 ] && [ ${#point} = 134 ] || fail "netkey's EC point: $(cat "$T/out")"
	python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' \
		"3059301306072a8648ce3d020106082a8648ce3d030107034200${point:4}" >"$T/netkey.der"
	openssl pkey -pubin -inform DER -in "$T/netkey.der" -out "$T/netkey.pem" >"$T/out" 2>&1 ||
		fail "netkey's public key: $(cat "$T/out")"
	NOBJ=4
else
	note "(pkcs11-tool or p11tool is not installed: the key's part is skipped)"
	NOBJ=2
fi

note "HSM policy 16 (Allow network replication) off: the backup across the link is refused"
net_hsmcm -c "slot set slot 1; role login -name co -password userpin1; partition archive backup -slot 16 -par SAbck1"
[ $RC -ne 0 ] || fail "a backup with HSM policy 16 off: $OUT"
expect_contains "$OUT" "HSM policy 16 (Allow network replication) is 0 on HSM $HSM_SERIAL"
expect_contains "$OUT" "Error in execution: CKR_ACTION_PROHIBITED."
expect_contains "$OUT" "Command Result : 0x1b (CKR_ACTION_PROHIBITED)"
expect_not_contains "$OUT" "Creating partition"
# the HSM SO turns it on, at the HSM's own PED (a new one: its events
# file starts empty, so "attached" is this one's)
rm -f "$T/A.events"
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "role login -name so; hsm changehsmpolicy -policy 16 -value 1; role logout"
[ $RC -eq 0 ] || fail "policy 16 on: $OUT"
set +e
kill -TERM "$PED_A_PID"
wait_gone 10 "$PED_A_PID"
set -e

note "the link cut in the middle of a backup: a named error, no partition half made on the Backup HSM"
# the key holder is away from the PED when the black key is asked for:
# the key is held elsewhere a moment (its lock taken, as another PED holds
# an inserted key), and the PED is stopped while it waits for it. The
# Backup HSM's half waits there, its partition made in memory, and the link
# to the HSM host is cut
lock="$IKEY_STORE/${KEY[bco]}.lock"
[ -e "$lock" ] || install -m 600 /dev/null "$lock"
( exec 9<>"$lock"; flock -x 9; exec sleep 300 ) &
LOCK_PID=$!
track $LOCK_PID
# under load the holder may not have the lock yet: the PED would write the
# black key and the backup finish before the cut
wait_for 60 eval '! flock -n "$lock" true' || fail "the key's lock was not taken"
# only the PED's events from here on count, and hsmcm's output file exists
# before anything reads it (a fail message's cat, whatever the scheduling)
r_seen=$(wc -l <"$T/R.events")
: >"$T/cut.out"
( OPENPED_PKCS11_CONF="$WSCONF" XDG_RUNTIME_DIR="$WSRUN" exec timeout 180 ip netns exec $WS "$BIN/hsmcm" -server 10.232.0.2 -c \
	"slot set slot 1; role login -name co -password userpin1; ped connect ip 127.0.0.1 port $port -slot 16; partition archive backup -slot 16 -par SAbck1" \
	>>"$T/cut.out" 2>&1 ) &
CPID=$!
wait_for 120 eval 'tail -n +$((r_seen + 1)) "$T/R.events" | grep -q "SETTING CO"' ||
	fail "the backup never reached its CO: $(cat "$T/cut.out")"
wait_for 60 grep -q 'Creating partition SAbck1 on slot 16.' "$T/cut.out" ||
	fail "hsmcm did not show the backup partition made: $(cat "$T/cut.out")"
kill -STOP $R_PID
kill -TERM $LOCK_PID
# cut at the HSM host's end: the workstation's keepalive probes leave and
# are lost (ped/tlsnet.h: the link is found dead in about 25 s)
ip -n $HH link set vhh$$ down
wait_for 90 grep -q 'hsmcm: lost hsm-sim on 10.232.0.2' "$T/cut.out" || fail "hsmcm did not see the link go: $(cat "$T/cut.out")"
# the operator gives up at the PED too: the Backup HSM's half ends
set +e
kill -TERM $R_PID 2>/dev/null
kill -CONT $R_PID 2>/dev/null
wait_gone 10 $R_PID
set -e
wait_for 60 eval "! alive $CPID" || fail "hsmcm hangs on the cut link"
if wait $CPID; then fail "hsmcm exited 0 over a cut link: $(cat "$T/cut.out")"; fi
expect_contains "$(cat "$T/cut.out")" "Creating partition SAbck1 on slot 16."
expect_contains "$(cat "$T/cut.out")" "Command Result : 0x30 (CKR_DEVICE_ERROR)"
expect_not_contains "$(cat "$T/cut.out")" "Backup Complete."
# on the workstation: the partition the backup had made is gone with it
OUT=$(ws "$BIN/hsmcm" -c "partition archive list -slot 0" 2>&1) || fail "archive list: $OUT"
expect_contains "$OUT" "0 backup partitions on slot 0."
# the stopped PED's end may have reached the Backup HSM's hsm-sim already
# (through pedserver and pedclient) or not: either way the slot is left
# with no Remote PED for the retry's ped connect
OUT=$(ws "$BIN/hsmcm" -c "ped disconnect -slot 0" 2>&1) ||
	expect_contains "$OUT" "Error: no Remote PED is connected to slot 0."

note "the link back: the retry is the seed's session"
ip -n $HH link set vhh$$ up
wait_for 20 eval 'ws "$BIN/pedserver" -mode show -configfile "$T/ws.conf" | grep -q "Client Information:         Not Available"' ||
	fail "pedserver still holds the dead session"
# the first attempt wrote the backup partition's blue key before the cut
# (and maybe its black one as the PED went): the retry's new partition
# gets blank ones
sed -e "s/${KEY[bpo]}/${KEY[bpo2]}/g" -e "s/${KEY[bco]}/${KEY[bco2]}/g" "$T/r.policy" >"$T/r2.policy"
start_r "$T/r2.policy"

note "seed 001 from the workstation's hsmcm: slot list, login, ped connect -slot 16, partition archive backup"
net_hsmcm -c "slot list"
[ $RC -eq 0 ] || fail "slot list: $OUT"
grep -A1 'Slot Id ->              16' <<<"$OUT" | grep -q "Server ->               $WSRUN/openped/hsm-sim.sock (local hsm-sim)" ||
	fail "the Backup HSM is not slot 16: $OUT"
grep -A2 'Slot Id ->              16' <<<"$OUT" | grep -q "Label ->                BackupHSM" || fail "slot 16: $OUT"
net_hsmcm -c "slot set slot 1; ped get; ped connect ip 10.232.0.1 port $port; ped get; role login -name Crypto Officer -password userpin1; ped disconnect; ped connect ip 127.0.0.1 port $port -slot 16; ped get -slot 16; partition archive backup -slot 16 -par SAbck1"
[ $RC -eq 0 ] || fail "the backup over the link: $OUT"
for l in "HSM slot 1 listening to remote PED (PED id=100)." "via pedserver 10.232.0.1:$port" \
	"User is activated, PED is not required." "HSM slot 16 listening to remote PED (PED id=100)." \
	"Logging in as the SO on slot 16." "Creating partition SAbck1 on slot 16." "$NOBJ objects will be backed up." \
	"Backup Complete." "$NOBJ objects have been backed up to partition SAbck1" "on slot 16."; do
	expect_contains "$OUT" "$l" "the backup's transcript"
done
grep -q 'network client workstation connected from 10.232.0.1' "$T/hsm.log" || fail "hsm-sim did not log the client"

note "restore to another partition of the same domain; its objects are there"
net_hsmcm -c "slot set -slot 2; role login -name co -password userpin2; ped get -slot 16; partition archive restore -slot 16 -partition SAbck1; partition contents"
[ $RC -eq 0 ] || fail "the restore over the link: $OUT"
expect_contains "$OUT" "Logging into the container SAbck1 on slot 16 as the user."
expect_contains "$OUT" "Restore Complete. $NOBJ objects have been restored."
expect_contains "$OUT" "master-key"
expect_contains "$OUT" "signing-key"
if [ $HAVE_P11 = 1 ]; then
	note "the restored key signs over the link; openssl verifies it with the original's public key"
	expect_contains "$OUT" "Object Label: netkey"
	printf 'restored across the network' >"$T/tosign"
	p11 pkcs11-tool --module "$MODULE" --token-label restored --login --pin userpin2 --sign --mechanism ECDSA-SHA256 \
		--id 4e01 --signature-format openssl -i "$T/tosign" -o "$T/sig" >"$T/out" 2>&1 || fail "sign: $(cat "$T/out")"
	openssl dgst -sha256 -verify "$T/netkey.pem" -signature "$T/sig" "$T/tosign" >"$T/out" 2>&1 ||
		fail "openssl does not verify the restored key's signature: $(cat "$T/out")"
fi

note "the capture: no challenge, command or label in clear; a canary sent in clear is seen"
ip netns exec $WS bash -c 'exec 3<>/dev/tcp/10.232.0.2/1792; printf "canary-in-clear-7f3a" >&3; sleep 0.2; exec 3>&-' || true
wait_for 10 grep -q 'refused: TLS handshake failed' "$T/hsm.log" || fail "the canary connection was not seen"
wait_for 10 grep -q canary-in-clear "$T/tls.pcap" || fail "tcpdump did not write the canary: $(cat "$T/tcpdump.log")"
kill -TERM $TCPDUMP_PID
wait_gone 10 $TCPDUMP_PID
{
	echo "canary text:canary-in-clear-7f3a"
	for s in userpin1 userpin2 "partition archive backup" "Command Result" SA52_P1 SAbck1 master-key signing-key \
		netkey "Crypto Officer" BackupHSM; do
		echo "${s// /_} text:$s"
	done
} >"$T/secrets"
set +e
python3 "$PED_SRCDIR/tests/reliability/scan_secrets.py" "$T/secrets" "$T/tls.pcap" >"$T/scan.out" 2>&1
set -e
grep -q 'FOUND canary' "$T/scan.out" || fail "the capture missed the link's traffic: $(cat "$T/scan.out")"
found=$(grep 'FOUND' "$T/scan.out" | grep -v 'FOUND canary' || true)
# for make reliability's table (tests/reliability/capture_tls.sh runs this suite)
echo "result: secrets_in_capture=$(grep -c . <<<"$found" || true)"
[ -z "$found" ] || fail "in clear on the TLS link: $found"
alive "$HSM_PID" || fail "hsm-sim ended"
alive "$WSHSM_PID" || fail "the workstation's hsm-sim ended"

note "the link cut: hsmcm fails with a named error; back up, a new session works"
ip -n $WS link set vws$$ down
net_hsmcm -c "slot list"
[ $RC -ne 0 ] || fail "hsmcm reached the HSM over a cut link"
expect_contains "$OUT" "cannot reach hsm-sim on 10.232.0.2: cannot reach 10.232.0.2 port 1792"
ip -n $WS link set vws$$ up
net_hsmcm -c "slot list"
[ $RC -eq 0 ] || fail "after the link came back: $OUT"
expect_contains "$OUT" "SA52_P1"
echo "network two hosts ok"
