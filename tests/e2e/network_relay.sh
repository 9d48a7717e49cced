#!/bin/bash
# A backup and a restore between two hsm-sim processes on one host, hsmcm
# relaying (issue #30): hsm-sim A serves its partitions over TLS (hsmcm
# -server), hsm-sim B holds a Backup HSM on its local socket; hsmcm holds a
# session with each at once. Slot numbers: A's as A numbers them, B's
# after them (its Backup HSM, B's slot 0, is slot 21). The backup runs as a
# half on each hsm-sim (B's does its own PED work: SO login, the new
# partition's blue, red and black keys), the objects crossing sealed; the
# restore goes back into another partition of A. Then the refusals: a
# Backup HSM partition of another domain (CKR_CERTIFICATE_INVALID, nothing
# kept), HSM policy 16 off on A (nothing asked of B's PED), a half run
# without hsmcm's relay, and the namespace-free stand-in for a link cut:
# A killed in the middle of a backup leaves no partition on B.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data"
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME" "$T/b"
B_SERIAL=700101
B_SOCK="$T/b/hsm.sock"
export OPENPED_PKCS11_CONF="$T/ws/openped-pkcs11.conf"
mkdir -p "$T/ws"

note "hsm-sim A with -network; its HSM initialized at its own PED"
new_keys so hdom po po2 dom co co2 bso bdom bpo bpo2 bpo3 bco bco2 other
start_hsm -network -port 0
wait_for 20 grep -q 'serving TLS on' "$T/hsm.log" || fail "no TLS listener: $(cat "$T/hsm.log")"
port=$(grep -o 'serving TLS on [^ ]* port [0-9]*' "$T/hsm.log" | awk '{print $NF}')
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no yes
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[dom]}
use "READING DOMAIN" ${KEY[dom]}
use "SETTING DOMAIN" ${KEY[dom]}
write "SETTING PO" ${KEY[po]} ${KEY[po2]}
use "PO LOGIN" ${KEY[po]} / ${KEY[po2]}
write "SETTING CO" ${KEY[co]} ${KEY[co2]}
use "CO LOGIN" ${KEY[co]} / ${KEY[co]} / ${KEY[co2]} / ${KEY[co2]}
P
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label main; role login -name so; partition create -label P1; partition create -label restored
slot set -slot 1; partition init -label P1; role login -name po; role init -name co; partition changepolicy -policy 22 -value 1; role login -name co; role createchallenge -name co -challenge userpin1; role logout; role login -name co -password userpin1; object create -label master-key -value k1; object create -label signing-key -value k2
slot set -slot 2; partition init -label restored; role login -name po; role init -name co; partition changepolicy -policy 22 -value 1; role login -name co; role createchallenge -name co -challenge userpin2; role logout; role login -name co -password userpin2"
[ $RC -eq 0 ] || fail "A's set-up: $OUT"

note "hsm-sim B: one Backup HSM, initialized at its own PED"
printf 'hsms = ( { serial = "%s"; slot = 0; type = "backup"; } );\n' $B_SERIAL >"$T/b.conf"
"${RUN[@]}" "$BIN/hsm-sim" -configfile "$T/b.conf" -state "$T/bstate" -socket "$B_SOCK" -pidfile "$T/b.pid" \
	-logfile "$T/b.log" -network -port 0 &
track $!
B_PID=$!
wait_for 20 test -S "$T/b/ped-$B_SERIAL.sock" || fail "hsm-sim B did not start: $(cat "$T/b.log")"
start_bped() { # B's PED with policy $1 ("-": no one answers)
	local answerer=(-policy "$1")
	[ "$1" != - ] || answerer=()
	rm -f "$T/B.events"
	"${RUN[@]}" "$BIN/ped-device" -headless -hsm "$T/b/ped-$B_SERIAL.sock" "${answerer[@]}" -control "$T/B.ctl" \
		-events "$T/B.events" -keytimeout 20 >"$T/B.log" 2>&1 &
	B_PED=$!
	track $B_PED
	wait_for 20 grep -q '"event":"attached"' "$T/B.events" || fail "B's PED did not attach: $(cat "$T/B.log")"
}
stop_bped() { kill -TERM "$B_PED" 2>/dev/null || true; wait_gone 20 "$B_PED" || fail "B's PED did not stop"; }
printf 'write "SETTING SO" %s\nuse "SO LOGIN" %s\nreuse "SETTING DOMAIN" no\nwrite "SETTING DOMAIN" %s\n' \
	"${KEY[bso]}" "${KEY[bso]}" "${KEY[bdom]}" >"$T/b-init.policy"
start_bped "$T/b-init.policy"
OUT=$("$BIN/hsmcm" -socket "$B_SOCK" -c "hsm init -label BackupHSM" 2>&1) || fail "B's init: $OUT"
stop_bped

note "registration with A (vtl createCert, hsm-sim -client register, vtl addServer)"
"$BIN/vtl" createCert -n ws >"$T/out" 2>&1 || fail "createCert: $(cat "$T/out")"
"$BIN/hsm-sim" -state "$T/state" -client register -name ws -cert "$T/ws/cert/client/ws.pem" >"$T/out" 2>&1 ||
	fail "register: $(cat "$T/out")"
"$BIN/vtl" addServer -n 127.0.0.1 -c "$T/state/network/server.pem" -p "$port" >"$T/out" 2>&1 ||
	fail "addServer: $(cat "$T/out")"
# B serves its Backup HSM over TLS too, as a Remote Backup Service does: registered second
wait_for 20 grep -q 'serving TLS on' "$T/b.log" || fail "B has no TLS listener: $(cat "$T/b.log")"
bport=$(grep -o 'serving TLS on [^ ]* port [0-9]*' "$T/b.log" | awk '{print $NF}')
"$BIN/hsm-sim" -state "$T/bstate" -client register -name ws -cert "$T/ws/cert/client/ws.pem" >"$T/out" 2>&1 ||
	fail "register with B: $(cat "$T/out")"
"$BIN/vtl" addServer -n localhost -c "$T/bstate/network/server.pem" -p "$bport" >"$T/out" 2>&1 ||
	fail "addServer B: $(cat "$T/out")"
relay() { # hsmcm with both: A over TLS, then B's socket
	set +e
	OUT=$(timeout 120 "${RUN[@]}" "$BIN/hsmcm" -server 127.0.0.1 -socket "$B_SOCK" "$@" 2>&1 | tee -a "$TRANSCRIPT"
	      exit "${PIPESTATUS[0]}")
	RC=$?
	set -e
}

note "slot list: A's slots as A numbers them, B's Backup HSM after them, each with its server"
relay -c "slot list"
[ $RC -eq 0 ] || fail "slot list: $OUT"
expect_contains "$OUT" "Slot Id ->              1"
expect_contains "$OUT" "Slot Id ->              20"
expect_contains "$OUT" "Slot Id ->              21"
grep -A1 'Slot Id ->              21' <<<"$OUT" | grep -q "Server ->               $B_SOCK (local hsm-sim)" ||
	fail "slot 21 is not B's: $OUT"
grep -A1 'Slot Id ->              1$' <<<"$OUT" | grep -q 'Server ->               127.0.0.1' ||
	fail "slot 1 is not A's: $OUT"
expect_contains "$OUT" "Current Slot Id: 0"
relay -c "slot set -slot 21; partition archive list -slot 21"
[ $RC -eq 0 ] || fail "slot set 21: $OUT"
expect_contains "$OUT" "Current Slot Id: 21"
expect_contains "$OUT" "0 backup partitions on slot 21."

note "the backup across the two hsm-sims: B's PED work on B, the objects sealed through hsmcm"
cat >"$T/b1.policy" <<P
use "SO LOGIN" ${KEY[bso]}
write "SETTING PO" ${KEY[bpo]}
use "PO LOGIN" ${KEY[bpo]} / ${KEY[bpo]}
reuse "SETTING DOMAIN" yes
use "READING DOMAIN" ${KEY[dom]}
use "SETTING DOMAIN" ${KEY[dom]}
write "SETTING CO" ${KEY[bco]}
use "CO LOGIN" ${KEY[bco]} / ${KEY[bco]}
P
start_bped "$T/b1.policy"
relay -c "slot set -slot 1; role login -name co -password userpin1; partition archive backup -slot 21 -partition bk1"
[ $RC -eq 0 ] || fail "the backup: $OUT"
for l in "Logging in as the SO on slot 21." "Creating partition bk1 on slot 21." "Please attend to the PED." \
	"Creating Domain for the partition bk1 on slot 21." "Initializing the Crypto Officer of bk1 on slot 21." \
	"Logging into the container bk1 on slot 21 as the Crypto Officer." "Verifying that all objects can be backed up..." \
	"2 objects will be backed up." "Backing up objects..." "Cloned object 1 to partition bk1 (new handle 1)." \
	"Backup Complete." "2 objects have been backed up to partition bk1" "on slot 21." "Command Result : No Error"; do
	expect_contains "$OUT" "$l" "the backup's transcript"
done
# the transcript in the single-process order: B's PED work, then A's count, then B's objects
order=$(grep -nE 'Creating partition|objects will be backed up|Cloned object 1 |Backup Complete' <<<"$OUT" | cut -d: -f1 | tr '\n' ' ')
[ "$(tr ' ' '\n' <<<"$order" | grep -c .)" = 4 ] && [ "$order" = "$(tr ' ' '\n' <<<"$order" | grep . | sort -n | tr '\n' ' ')" ] ||
	fail "the transcript's order: $OUT"
OUT=$("$BIN/hsmcm" -socket "$B_SOCK" -c "partition archive list -slot 0" 2>&1) || fail "list on B: $OUT"
expect_contains "$OUT" "Partition: bk1  Objects: 2"

note "restore into A's other partition; its objects are there"
relay -c "slot set -slot 2; role login -name co -password userpin2; partition archive restore -slot 21 -partition bk1; partition contents"
[ $RC -eq 0 ] || fail "the restore: $OUT"
expect_contains "$OUT" "Logging into the container bk1 on slot 21 as the user."
expect_contains "$OUT" "Restoring objects..."
expect_contains "$OUT" "Cloned object 1 to partition restored"
expect_contains "$OUT" "Restore Complete. 2 objects have been restored."
expect_contains "$OUT" "Object Label: master-key"
expect_contains "$OUT" "Object Label: signing-key"
stop_bped

note "B over TLS as the second registered server (as RBS serves a Backup HSM): the same slot 21"
printf 'use "CO LOGIN" %s / %s\n' "${KEY[bco]}" "${KEY[bco]}" >"$T/b-co.policy"
start_bped "$T/b-co.policy"
set +e
OUT=$(timeout 120 "${RUN[@]}" "$BIN/hsmcm" -server 127.0.0.1 -c "slot list; partition archive contents -slot 21 -partition bk1; slot set -slot 2; role login -name co -password userpin2; partition archive restore -slot 21 -partition bk1 -replace" 2>&1)
RC=$?
set -e
[ $RC -eq 0 ] || fail "B over TLS: $OUT"
grep -A1 'Slot Id ->              21' <<<"$OUT" | grep -q 'Server ->               localhost$' || fail "slot 21 is not B over TLS: $OUT"
expect_contains "$OUT" "Backup partition bk1 on slot 21:"
expect_contains "$OUT" "Object Label: master-key"
expect_contains "$OUT" "Restore Complete. 0 objects have been restored." # the same objects: nothing to replace
grep -q 'network client ws connected from 127.0.0.1' "$T/b.log" || fail "B saw no network client"
stop_bped

note "a Backup HSM partition of another domain: refused, nothing kept on B"
cat >"$T/b2.policy" <<P
use "SO LOGIN" ${KEY[bso]}
write "SETTING PO" ${KEY[bpo2]}
use "PO LOGIN" ${KEY[bpo2]}
reuse "SETTING DOMAIN" no
write "SETTING DOMAIN" ${KEY[other]}
P
start_bped "$T/b2.policy"
relay -c "slot set -slot 1; role login -name co -password userpin1; partition archive backup -slot 21 -partition bk2"
[ $RC -ne 0 ] || fail "a backup into another domain: $OUT"
expect_contains "$OUT" "Error: the domain presented is not the source partition's domain."
expect_contains "$OUT" "Command Result : 0x80000141 (CKR_CERTIFICATE_INVALID)"
expect_not_contains "$OUT" "objects will be backed up"
stop_bped
OUT=$("$BIN/hsmcm" -socket "$B_SOCK" -c "partition archive list -slot 0" 2>&1) || fail "list on B: $OUT"
expect_contains "$OUT" "1 backup partitions on slot 0."

note "a half without hsmcm's relay is refused"
OUT=$("$BIN/hsmcm" -socket "$B_SOCK" -c "partition archive peerbackup -slot 0 -partition x" 2>&1) &&
	fail "a half ran alone: $OUT"
expect_contains "$OUT" "this is one half of a backup or restore between two hsm-sims"

note "HSM policy 16 off on A: refused there, nothing asked of B's PED"
hsmcm -c "role login -name so; hsm changehsmpolicy -policy 16 -value 0"
[ $RC -eq 0 ] || fail "policy 16 off: $OUT"
start_bped -
relay -c "slot set -slot 1; role login -name co -password userpin1; partition archive backup -slot 21 -partition bk3"
[ $RC -ne 0 ] || fail "a backup with policy 16 off: $OUT"
expect_contains "$OUT" "HSM policy 16 (Allow network replication) is 0 on HSM $HSM_SERIAL"
expect_contains "$OUT" "Command Result : 0x1b (CKR_ACTION_PROHIBITED)"
expect_not_contains "$OUT" "Logging in as the SO on slot 21."
grep -q '"SO LOGIN"\|SO LOGIN' "$T/B.events" && fail "B's PED was asked: $(cat "$T/B.events")"
hsmcm -c "role login -name so; hsm changehsmpolicy -policy 16 -value 1"
[ $RC -eq 0 ] || fail "policy 16 on: $OUT"
stop_bped

note "A gone in the middle of a backup: a named error, no partition half made on B"
# the new partition's black key is held elsewhere (its lock taken, as another
# PED holds an inserted key): B waits there, its partition made in memory,
# and A is killed; B then goes on, and learns A is gone when it wants A's objects
sed -e "s/${KEY[bpo]}/${KEY[bpo3]}/g" -e "s/${KEY[bco]}/${KEY[bco2]}/g" "$T/b1.policy" >"$T/b4.policy"
lock="$IKEY_STORE/${KEY[bco2]}.lock"
[ -e "$lock" ] || install -m 600 /dev/null "$lock"
( exec 9<>"$lock"; flock -x 9; exec sleep 300 ) &
LOCK_PID=$!
track $LOCK_PID
start_bped "$T/b4.policy"
( exec timeout 120 "$BIN/hsmcm" -server 127.0.0.1 -socket "$B_SOCK" -c \
	"slot set -slot 1; role login -name co -password userpin1; partition archive backup -slot 21 -partition bk4" \
	>"$T/cut.out" 2>&1 ) &
CPID=$!
wait_for 60 grep -q 'SETTING CO' "$T/B.events" || fail "the backup never reached B's CO: $(cat "$T/cut.out")"
# B's PED held still while it waits for the key (it waits only a moment)
kill -STOP $B_PED
kill -KILL "$HSM_PID"
wait_gone 10 "$HSM_PID"
kill -TERM $LOCK_PID
wait_gone 10 $LOCK_PID
kill -CONT $B_PED
wait_for 60 eval "! alive $CPID" || fail "hsmcm hangs: $(cat "$T/cut.out")"
if wait $CPID; then fail "hsmcm exited 0 with A gone: $(cat "$T/cut.out")"; fi
expect_contains "$(cat "$T/cut.out")" "Creating partition bk4 on slot 21."
expect_contains "$(cat "$T/cut.out")" "hsmcm: lost hsm-sim on 127.0.0.1"
expect_contains "$(cat "$T/cut.out")" "Command Result : 0x30 (CKR_DEVICE_ERROR)"
wait_for 20 grep -q 'the other HSM.s half ended first' "$T/b.log" || fail "B did not see A go: $(tail -n 5 "$T/b.log")"
stop_bped
OUT=$("$BIN/hsmcm" -socket "$B_SOCK" -c "partition archive list -slot 0" 2>&1) || fail "list on B: $OUT"
expect_contains "$OUT" "1 backup partitions on slot 0."
expect_not_contains "$OUT" "bk4"
alive "$B_PID" || fail "hsm-sim B ended"
echo "network relay ok"
