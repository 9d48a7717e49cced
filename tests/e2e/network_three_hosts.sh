#!/bin/bash
# Three hosts (issue #30, test 2): the HSM host (hsm-sim -network with the
# HSM, pedclient), the operator's workstation (hsmcm and vtl, registered
# with both other hosts, pedserver and the Remote PED for the HSM's
# partition) and the RBS host (its own hsm-sim with the Backup HSM, rbs,
# and the Backup HSM's PED through pedclient and pedserver on that host:
# pedclient's double duty, 004 lines 5384-5392) in three network
# namespaces, the workstation joined to each other host by a veth pair of
# its own. The HSM host and the RBS host never talk to each other: the
# backup's objects cross HSM host -> workstation -> RBS host, sealed
# (hsm/clonewire.h), hsmcm relaying them between its two TLS sessions.
#
# From the workstation's hsmcm: HSM policy 16 off refuses the backup, with
# nothing made on the Backup HSM; then the Crypto Officer (deactivated, so
# the black key is asked for) logs in to the distant partition at the
# workstation's Remote PED, and `partition archive backup -slot N` to the
# Backup HSM rbs serves (N: its number in hsmcm's slot list) does its PED
# work at the RBS host's PED. The backup is found through rbs and on the
# RBS host's own hsm-sim, restored to another partition of the HSM host,
# and a restored key signs over the link (pkcs11-tool) as openssl verifies
# with the original's public key. tcpdump watches both links the whole
# time: no challenge, command, label or object value crosses either in
# clear (a canary sent in clear on each must be seen).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/netns_lib.sh"
set -e
# the HSM host's runtime and data; the other two hosts have their own below
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data"
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"

command -v tcpdump >/dev/null || skip "no tcpdump: the capture of both links is this suite's point"
HH=ped3hh$$ WS=ped3ws$$ RB=ped3rb$$
netns_hosts $HH $WS $RB
# the workstation in the middle: 10.235.1.0/24 to the HSM host, 10.235.2.0/24 to the RBS host
HHIP=10.235.1.2 WSHIP=10.235.1.1 RBIP=10.235.2.2 WSRIP=10.235.2.1
netns_link $WS vwh$$ $WSHIP $HH vhh$$ $HHIP
netns_link $WS vwr$$ $WSRIP $RB vrb$$ $RBIP

WSRUN="$T/ws-run" WSCONF="$T/ws/openped-pkcs11.conf"
RBRUN="$T/rb-run" RBDATA="$T/rb-data"
mkdir -p "$WSRUN" "$T/ws" "$RBRUN" "$RBDATA"
ws() { OPENPED_PKCS11_CONF="$WSCONF" XDG_RUNTIME_DIR="$WSRUN" ip netns exec $WS "$@"; }
rb() { XDG_RUNTIME_DIR="$RBRUN" XDG_DATA_HOME="$RBDATA" ip netns exec $RB "$@"; }
# hsmcm on the workstation (the HSM host first, then the RBS host vtl
# registered); output in $OUT (and the transcript), status in $RC
net_hsmcm() {
	set +e
	OUT=$(OPENPED_PKCS11_CONF="$WSCONF" XDG_RUNTIME_DIR="$WSRUN" timeout 240 ip netns exec $WS "${RUN[@]}" "$BIN/hsmcm" \
		-server $HHIP "$@" 2>&1 |
		tee -a "$TRANSCRIPT"; exit "${PIPESTATUS[0]}")
	RC=$?
	set -e
}
# hsmcm of the RBS host's operator, on its own hsm-sim
rb_hsmcm() {
	set +e
	OUT=$(XDG_RUNTIME_DIR="$RBRUN" timeout 120 ip netns exec $RB "${RUN[@]}" "$BIN/hsmcm" "$@" 2>&1)
	RC=$?
	set -e
}

# Object values long enough that finding one in a capture means something
MASTER_VALUE=master-value-6c1f94a2 SIGNING_VALUE=signing-value-0e7d33b8

note "the HSM host: hsm-sim -network on the default port with the HSM; set-up with its PED cabled to it"
new_keys so hdom po po2 dom co co2 rpkA bso bdom rpkB bpo bco
printf 'hsms = ( { serial = "%s"; slot = 0; type = "hsm"; } );\n' $HSM_SERIAL >"$T/hh.conf"
ip netns exec $HH "${RUN[@]}" "$BIN/hsm-sim" -network -configfile "$T/hh.conf" -state "$T/state" -socket "$HSM_SOCK" \
	-pidfile "$T/hsm.pid" -logfile "$T/hsm.log" &
track $!
HSM_PID=$!
wait_for 60 grep -q 'serving TLS on \* port 1792' "$T/hsm.log" || fail "no TLS listener on 1792: $(cat "$T/hsm.log")"
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
slot set -slot 1; partition init -label SA52_P1; role login -name po; role init -name co; partition changepolicy -policy 22 -value 1; role login -name co; role createchallenge -name co -challenge userpin1; role logout; role login -name co -password userpin1; object create -label master-key -value $MASTER_VALUE; object create -label signing-key -value $SIGNING_VALUE
slot set -slot 2; partition init -label restored; role login -name po; role init -name co; partition changepolicy -policy 22 -value 1; role login -name co; role createchallenge -name co -challenge userpin2; role logout; role login -name co -password userpin2
slot set -slot 0; role login -name so; hsm changehsmpolicy -policy 16 -value 0"
[ $RC -eq 0 ] || fail "set-up: $OUT"
stop_ped A
: >"$T/pedclient.conf"
ip netns exec $HH "$BIN/pedclient" -mode start -admin 0 -listenport -1 -pinginterval 1 -pingtimeout 1 -configfile "$T/pedclient.conf" \
	-logfilename "$T/pedclient.log" >"$T/out" 2>&1 || fail "pedclient: $(cat "$T/out")"
track "$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")"

note "the RBS host: its hsm-sim with the Backup HSM, initialized at the PED cabled to it"
printf 'hsms = ( { serial = "%s"; slot = 0; type = "backup"; } );\n' $BACKUP_SERIAL >"$T/rbhsm.conf"
XDG_RUNTIME_DIR="$RBRUN" XDG_DATA_HOME="$RBDATA" ip netns exec $RB "${RUN[@]}" "$BIN/hsm-sim" -configfile "$T/rbhsm.conf" \
	-state "$T/rbstate" -pidfile "$T/rbhsm.pid" -logfile "$T/rbhsm.log" &
track $!
RBHSM_PID=$!
RBSOCK="$RBRUN/openped/hsm-sim.sock"
wait_for 60 test -S "$RBRUN/openped/ped-$BACKUP_SERIAL.sock" || fail "the RBS host's hsm-sim did not start: $(cat "$T/rbhsm.log")"
printf 'write "SETTING SO" %s\nuse "SO LOGIN" %s\nreuse "SETTING DOMAIN" no\nwrite "SETTING DOMAIN" %s\nwrite rpv %s\n' \
	"${KEY[bso]}" "${KEY[bso]}" "${KEY[bdom]}" "${KEY[rpkB]}" >"$T/b.policy"
"${RUN[@]}" "$BIN/ped-device" -headless -hsm "$RBRUN/openped/ped-$BACKUP_SERIAL.sock" -policy "$T/b.policy" \
	-control "$T/B.ctl" -events "$T/B.events" -keytimeout 20 >"$T/B.log" 2>&1 &
PED_B_PID=$!
track $PED_B_PID
wait_for 60 grep -q '"event":"attached"' "$T/B.events" || fail "PED B did not attach: $(cat "$T/B.log")"
rb_hsmcm -c "hsm init -label RBSBackupHSM; role login -name so; ped vector init"
[ $RC -eq 0 ] || fail "the Backup HSM's set-up: $OUT"
stop_ped B

note "the RBS host: rbs --genkey and --config without a terminal"
OUT=$(printf 'three hosts rbs\nthree hosts rbs\n' | rb "${RUN[@]}" "$BIN/rbs" -socket "$RBSOCK" --genkey 2>&1) || fail "genkey: $OUT"
OUT=$(printf '1\nX\n' | rb "${RUN[@]}" "$BIN/rbs" -socket "$RBSOCK" --config 2>&1) || fail "config: $OUT"
expect_contains "$OUT" "1 Backup HSM(s) served"
printf 'three hosts rbs\n' >"$T/rbs.pw"
chmod 600 "$T/rbs.pw"

note "the RBS host: pedserver, the Backup HSM's Remote PED, and pedclient for the Backup HSM (double duty)"
: >"$T/rbped.conf"
rb "$BIN/pedserver" -mode start -ip 127.0.0.1 -port 0 -admin 0 -pinginterval 1 -pingtimeout 1 -configfile "$T/rbped.conf" \
	-logfile "$T/rbped.log" >"$T/out" 2>&1 || fail "the RBS host's pedserver: $(cat "$T/out")"
track "$(cat "$RBRUN/openped/pedserver.pid")"
rb "$BIN/pedserver" -mode show -configfile "$T/rbped.conf" >"$T/out" 2>&1 || fail "show: $(cat "$T/out")"
rbport=$(awk '/Server Port:/{print $3}' "$T/out")
: >"$T/rbpedclient.conf"
rb "$BIN/pedclient" -mode start -admin 0 -listenport -1 -pinginterval 1 -pingtimeout 1 -configfile "$T/rbpedclient.conf" \
	-logfilename "$T/rbpedclient.log" >"$T/out" 2>&1 || fail "the RBS host's pedclient: $(cat "$T/out")"
track "$(cat "$RBRUN/openped/pedclient.pid")"
cat >"$T/rb.policy" <<P
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
# not through rb(): a backgrounded function is a subshell, and $! would be its pid
XDG_RUNTIME_DIR="$RBRUN" ip netns exec $RB "${RUN[@]}" "$BIN/ped-device" -headless -mode remote \
	-pedserver "$RBRUN/openped/pedserver-ped.sock" -policy "$T/rb.policy" -control "$T/RB.ctl" -events "$T/RB.events" \
	-keytimeout 60 >"$T/RB.log" 2>&1 &
RB_PED_PID=$!
track $RB_PED_PID
wait_for 60 grep -q '"attached":true' "$T/RB.events" || fail "the RBS host's PED did not attach: $(cat "$T/RB.log")"
# the RBS host's operator links the Backup HSM to this PED (its orange key)
rb_hsmcm -c "ped connect -slot 0 -ip 127.0.0.1 -port $rbport; ped get -slot 0"
[ $RC -eq 0 ] || fail "ped connect on the RBS host: $OUT"
expect_contains "$OUT" "listening to remote PED"

note "the workstation: pedserver and the Remote PED for the HSM host's partitions"
: >"$T/ws.conf"
ws "$BIN/pedserver" -mode start -ip 0.0.0.0 -port 0 -admin 0 -pinginterval 1 -pingtimeout 1 -configfile "$T/ws.conf" -logfile "$T/ws.log" \
	>"$T/out" 2>&1 || fail "pedserver: $(cat "$T/out")"
track "$(cat "$WSRUN/openped/pedserver.pid")"
ws "$BIN/pedserver" -mode show -configfile "$T/ws.conf" >"$T/out" 2>&1 || fail "show: $(cat "$T/out")"
port=$(awk '/Server Port:/{print $3}' "$T/out")
cat >"$T/r.policy" <<P
use rpv ${KEY[rpkA]}
use "CO LOGIN" ${KEY[co]}
P
OPENPED_PKCS11_CONF="$WSCONF" XDG_RUNTIME_DIR="$WSRUN" ip netns exec $WS "${RUN[@]}" "$BIN/ped-device" -headless \
	-mode remote -pedserver "$WSRUN/openped/pedserver-ped.sock" -policy "$T/r.policy" -control "$T/R.ctl" \
	-events "$T/R.events" -keytimeout 60 >"$T/R.log" 2>&1 &
R_PID=$!
track $R_PID
wait_for 60 grep -q '"attached":true' "$T/R.events" || fail "the workstation's PED did not attach: $(cat "$T/R.log")"

note "registration: one client certificate, registered on the HSM host and on the RBS host; both servers added"
ws "$BIN/vtl" createCert -n workstation >"$T/out" 2>&1 || fail "createCert: $(cat "$T/out")"
cp "$T/ws/cert/client/workstation.pem" "$T/workstation.pem" # what scp would carry to each host
"$BIN/hsm-sim" -state "$T/state" -client register -name workstation -cert "$T/workstation.pem" >"$T/out" 2>&1 ||
	fail "register on the HSM host: $(cat "$T/out")"
rb "$BIN/rbs" -socket "$RBSOCK" --register -name workstation -cert "$T/workstation.pem" >"$T/out" 2>&1 ||
	fail "register on the RBS host: $(cat "$T/out")"
XDG_RUNTIME_DIR="$RBRUN" XDG_DATA_HOME="$RBDATA" ip netns exec $RB "${RUN[@]}" "$BIN/rbs" -socket "$RBSOCK" --daemon \
	-foreground -password-file "$T/rbs.pw" -pidfile "$T/rbs.pid" >"$T/rbs.log" 2>&1 &
RBS_PID=$!
track $RBS_PID
wait_for 60 grep -q 'serving TLS on \* port 1792' "$T/rbs.log" || fail "rbs: no TLS listener on 1792: $(cat "$T/rbs.log")"
cp "$T/state/network/server.pem" "$T/hh-server.pem" # and back
cp "$RBDATA/openped/rbs/server/server.pem" "$T/rb-server.pem"
ws "$BIN/vtl" addServer -n $HHIP -c "$T/hh-server.pem" >"$T/out" 2>&1 || fail "addServer HSM host: $(cat "$T/out")"
ws "$BIN/vtl" addServer -n $RBIP -c "$T/rb-server.pem" >"$T/out" 2>&1 || fail "addServer RBS host: $(cat "$T/out")"
ws "$BIN/vtl" listServers >"$T/out" 2>&1
grep -q "$HHIP *1792" "$T/out" && grep -q "$RBIP *1792" "$T/out" || fail "listServers: $(cat "$T/out")"

note "tcpdump on both links, all of their TCP"
ip netns exec $HH tcpdump -i vhh$$ --immediate-mode -U -s 0 -w "$T/hh.pcap" tcp >"$T/tcpdump-hh.log" 2>&1 &
TCPDUMP_HH_PID=$!
track $TCPDUMP_HH_PID
ip netns exec $RB tcpdump -i vrb$$ --immediate-mode -U -s 0 -w "$T/rb.pcap" tcp >"$T/tcpdump-rb.log" 2>&1 &
TCPDUMP_RB_PID=$!
track $TCPDUMP_RB_PID
wait_for 30 grep -q 'listening on' "$T/tcpdump-hh.log" || fail "tcpdump (HSM host): $(cat "$T/tcpdump-hh.log")"
wait_for 30 grep -q 'listening on' "$T/tcpdump-rb.log" || fail "tcpdump (RBS host): $(cat "$T/tcpdump-rb.log")"
ws "$BIN/vtl" verify >"$T/out" 2>&1 || fail "verify: $(cat "$T/out")"
grep -q 'SA52_P1' "$T/out" || fail "verify: $(cat "$T/out")"
expect_contains "$(cat "$T/out")" "The following Backup HSMs were found on $RBIP:"
grep -q 'RBSBackupHSM' "$T/out" || fail "verify: $(cat "$T/out")"

note "hsmcm's slots: the HSM host's first, then the Backup HSM rbs serves"
net_hsmcm -c "slot list"
[ $RC -eq 0 ] || fail "slot list: $OUT"
BK=$(awk -v s="Server ->               $RBIP" '/Slot Id ->/{id=$4} index($0, s){print id; exit}' <<<"$OUT")
[ -n "$BK" ] || fail "no slot of $RBIP: $OUT"
# chapter 13's order: the HSM host's admin slot and fifteen partition slots, then the RBS host's
expect_eq "$BK" 16 "the Backup HSM's slot"
grep -A2 "Slot Id ->              $BK\$" <<<"$OUT" | grep -q "Label ->                RBSBackupHSM" || fail "slot $BK: $OUT"
expect_not_contains "$OUT" "Server ->               $WSRUN" # no hsm-sim on the workstation

note "a real key: an EC key pair made in SA52_P1 with the PKCS#11 module over the link"
MODULE="$PED_BUILD/lib/libopenped-pkcs11.so"
p11() { so_client "$MODULE" ip netns exec $WS env OPENPED_PKCS11_CONF="$WSCONF" XDG_RUNTIME_DIR="$WSRUN" "$@"; }
HAVE_P11=0
if command -v pkcs11-tool >/dev/null && command -v p11tool >/dev/null; then
	HAVE_P11=1
	p11 pkcs11-tool --module "$MODULE" --token-label SA52_P1 --login --pin userpin1 --keypairgen \
		--key-type EC:prime256v1 --usage-sign --id 4e01 --label netkey >"$T/out" 2>&1 || fail "keypairgen: $(cat "$T/out")"
	# its public key from the listing (see network_two_hosts.sh), as a P-256 SPKI
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

note "HSM policy 16 (Allow network replication) off on the HSM host: the backup to the RBS host is refused"
net_hsmcm -c "slot set slot 1; role login -name co -password userpin1; partition archive backup -slot $BK -par SAbck1"
[ $RC -ne 0 ] || fail "a backup with HSM policy 16 off: $OUT"
expect_contains "$OUT" "HSM policy 16 (Allow network replication) is 0 on HSM $HSM_SERIAL"
expect_contains "$OUT" "Error in execution: CKR_ACTION_PROHIBITED."
expect_contains "$OUT" "Command Result : 0x1b (CKR_ACTION_PROHIBITED)"
expect_not_contains "$OUT" "Creating partition"
net_hsmcm -c "partition archive list -slot $BK"
[ $RC -eq 0 ] || fail "archive list through rbs: $OUT"
expect_contains "$OUT" "0 backup partitions on slot $BK."
rb_hsmcm -c "partition archive list -slot 0"
[ $RC -eq 0 ] || fail "archive list on the RBS host: $OUT"
expect_contains "$OUT" "0 backup partitions on slot 0."
! grep -q '"event":"insert"' "$T/RB.events" || fail "the refused backup asked a key at the Backup HSM's PED: $(cat "$T/RB.events")"
# the HSM SO turns it on, at the HSM's own PED (a new one: its events
# file starts empty, so "attached" is this one's)
rm -f "$T/A.events"
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "role login -name so; hsm changehsmpolicy -policy 16 -value 1; role logout"
[ $RC -eq 0 ] || fail "policy 16 on: $OUT"
stop_ped A

note "the Crypto Officer deactivated: the next login asks for the black key, at the workstation's Remote PED"
net_hsmcm -c "slot set slot 1; role login -name co -password userpin1; role deactivate -name co"
[ $RC -eq 0 ] || fail "deactivate: $OUT"
expect_contains "$OUT" "deactivated"

note "from the workstation's hsmcm: ped connect, the CO's login, ped disconnect, partition archive backup -slot $BK"
net_hsmcm -c "slot set slot 1; ped connect ip $WSHIP port $port; ped get; role login -name Crypto Officer -password userpin1; ped disconnect; partition archive backup -slot $BK -par SAbck1"
[ $RC -eq 0 ] || fail "the backup across two links: $OUT"
for l in "HSM slot 1 listening to remote PED (PED id=100)." "via pedserver $WSHIP:$port" \
	"Logging in as the SO on slot $BK." "Creating partition SAbck1 on slot $BK." "$NOBJ objects will be backed up." \
	"Backup Complete." "$NOBJ objects have been backed up to partition SAbck1" "on slot $BK."; do
	expect_contains "$OUT" "$l" "the backup's transcript"
done
expect_not_contains "$OUT" "User is activated, PED is not required."
grep -q '"event":"insert"' "$T/R.events" || fail "the CO's black key was not read at the workstation's PED: $(cat "$T/R.events")"
grep -q 'SETTING CO' "$T/RB.events" || fail "the backup's Crypto Officer was not made at the RBS host's PED"
grep -q 'network client workstation connected from '"$WSHIP" "$T/hsm.log" || fail "hsm-sim did not log the client"
grep -q "client workstation connected from $WSRIP" "$T/rbs.log" || fail "rbs did not log the client: $(cat "$T/rbs.log")"

note "the backup is on the RBS host's Backup HSM: through rbs, and on the RBS host's own hsm-sim"
net_hsmcm -c "partition archive list -slot $BK; partition archive contents -slot $BK -partition SAbck1"
[ $RC -eq 0 ] || fail "the backup's listing through rbs: $OUT"
expect_contains "$OUT" "Partition: SAbck1  Objects: $NOBJ"
expect_contains "$OUT" "Object Label: master-key"
expect_contains "$OUT" "Object Label: signing-key"
rb_hsmcm -c "partition archive list -slot 0"
[ $RC -eq 0 ] || fail "the backup's listing on the RBS host: $OUT"
expect_contains "$OUT" "Partition: SAbck1  Objects: $NOBJ"

note "restore to another partition of the HSM host, through the same two links; its objects are there"
net_hsmcm -c "slot set -slot 2; role login -name co -password userpin2; partition archive restore -slot $BK -partition SAbck1; partition contents"
[ $RC -eq 0 ] || fail "the restore across two links: $OUT"
expect_contains "$OUT" "Logging into the container SAbck1 on slot $BK as the user."
expect_contains "$OUT" "Restore Complete. $NOBJ objects have been restored."
expect_contains "$OUT" "master-key"
expect_contains "$OUT" "signing-key"
if [ $HAVE_P11 = 1 ]; then
	note "the restored key signs over the link; openssl verifies it with the original's public key"
	expect_contains "$OUT" "Object Label: netkey"
	printf 'restored across two links' >"$T/tosign"
	p11 pkcs11-tool --module "$MODULE" --token-label restored --login --pin userpin2 --sign --mechanism ECDSA-SHA256 \
		--id 4e01 --signature-format openssl -i "$T/tosign" -o "$T/sig" >"$T/out" 2>&1 || fail "sign: $(cat "$T/out")"
	openssl dgst -sha256 -verify "$T/netkey.pem" -signature "$T/sig" "$T/tosign" >"$T/out" 2>&1 ||
		fail "openssl does not verify the restored key's signature: $(cat "$T/out")"
fi

note "the captures: nothing in clear on either link; a canary sent in clear on each is seen"
ip netns exec $WS bash -c "exec 3<>/dev/tcp/$HHIP/1792; printf canary-hsm-link-41d7 >&3; sleep 0.2; exec 3>&-" || true
ip netns exec $WS bash -c "exec 3<>/dev/tcp/$RBIP/1792; printf canary-rbs-link-93be >&3; sleep 0.2; exec 3>&-" || true
wait_for 30 grep -q canary-hsm-link "$T/hh.pcap" || fail "tcpdump did not write the HSM link's canary: $(cat "$T/tcpdump-hh.log")"
wait_for 30 grep -q canary-rbs-link "$T/rb.pcap" || fail "tcpdump did not write the RBS link's canary: $(cat "$T/tcpdump-rb.log")"
kill -TERM $TCPDUMP_HH_PID $TCPDUMP_RB_PID
wait_gone 30 $TCPDUMP_HH_PID
wait_gone 30 $TCPDUMP_RB_PID
{
	echo "canary_hsm text:canary-hsm-link-41d7"
	echo "canary_rbs text:canary-rbs-link-93be"
	for s in userpin1 userpin2 "partition archive" "Command Result" SA52_P1 SAbck1 master-key signing-key \
		netkey "Crypto Officer" RBSBackupHSM "$MASTER_VALUE" "$SIGNING_VALUE" "Please attend to the PED"; do
		echo "${s// /_} text:$s"
	done
} >"$T/secrets"
set +e
python3 "$PED_SRCDIR/tests/reliability/scan_secrets.py" "$T/secrets" "$T/hh.pcap" "$T/rb.pcap" >"$T/scan.out" 2>&1
set -e
grep -q "FOUND canary_hsm .* in $T/hh.pcap" "$T/scan.out" || fail "the capture missed the HSM link's traffic: $(cat "$T/scan.out")"
grep -q "FOUND canary_rbs .* in $T/rb.pcap" "$T/scan.out" || fail "the capture missed the RBS link's traffic: $(cat "$T/scan.out")"
found=$(grep 'FOUND' "$T/scan.out" | grep -v 'FOUND canary_' || true)
# for make reliability's table (tests/reliability/capture_rbs.sh runs this suite)
echo "result: secrets_in_capture=$(grep -c . <<<"$found" || true)"
[ -z "$found" ] || fail "in clear on a link: $found"
alive "$HSM_PID" || fail "the HSM host's hsm-sim ended"
alive "$RBHSM_PID" || fail "the RBS host's hsm-sim ended"
alive "$RBS_PID" || fail "rbs ended"
echo "network three hosts ok"
