#!/bin/bash
# rbs, the Remote Backup Service (issue #30; the reference's chapter 12,
# "Configuring a Remote Backup Server"), on one host: hsm-sim with an HSM
# and a Backup HSM, rbs --genkey, --config, --register and --daemon without
# a terminal, a client workstation's vtl and hsmcm -server reaching the
# Backup HSM served, and nothing else of the host. The Backup HSM's PED is
# a Remote PED through this host's pedclient and pedserver (pedclient's
# double duty). The refusals: an unregistered client, a client presenting
# another certificate, an RBS whose certificate is not the one registered,
# a wrong password; each leaves both sides serving. SIGTERM stops rbs.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
# expect_exit needs the failing command to go on: no set -e

rbs() { "${RUN[@]}" "$BIN/rbs" -socket "$HSM_SOCK" "$@"; }
vtl() { "${RUN[@]}" "$BIN/vtl" "$@"; }
remote() { timeout 120 "${RUN[@]}" "$BIN/hsmcm" -server 127.0.0.1 "$@"; }
RBS_DIR="$XDG_DATA_HOME/openped/rbs" # the documented default

note "this host: an HSM with a partition backed up to the Backup HSM, through local PEDs"
new_keys so hdom po pdom co bso bdom bpo bco brpk
start_hsm
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[pdom]}
write "SETTING PO" ${KEY[po]}
use "PO LOGIN" ${KEY[po]}
write "SETTING CO" ${KEY[co]}
use "CO LOGIN" ${KEY[co]}
P
cat >"$T/b.policy" <<P
write "SETTING SO" ${KEY[bso]}
use "SO LOGIN" ${KEY[bso]}
write rpv ${KEY[brpk]}
reuse "SETTING DOMAIN" no yes
write "SETTING DOMAIN" ${KEY[bdom]}
use "READING DOMAIN" ${KEY[pdom]}
use "SETTING DOMAIN" ${KEY[pdom]}
write "SETTING PO" ${KEY[bpo]}
use "PO LOGIN" ${KEY[bpo]}
write "SETTING CO" ${KEY[bco]}
use "CO LOGIN" ${KEY[bco]}
P
start_ped A $HSM_SERIAL "$T/a.policy"
start_ped B $BACKUP_SERIAL "$T/b.policy"
hsmcm -c "slot set -slot 20; hsm init -label backup; role login -name so; ped vector init; slot set -slot 0; hsm init -label main; role login -name so; partition create -label p1; slot set -slot 1; partition init -label p1; role login -name po; role init -name co; role login -name co; object create -label alpha -value one; partition archive backup -slot 20 -partition bk1"
[ $RC -eq 0 ] || fail "setup: $OUT"
expect_contains "$OUT" "Backup Complete."
stop_ped B

note "rbs --genkey: the password twice, a mismatch writes nothing"
expect_exit 1 rbs --genkey < <(printf 'correct horse\nbattery staple\n')
expect_contains "$OUT" "the two passwords do not match: nothing was written"
[ ! -e "$RBS_DIR/server/server.key" ] || fail "a mismatch wrote the key"
[ ! -e "$RBS_DIR/server/server.pem" ] || fail "a mismatch wrote the certificate"
expect_exit 1 rbs --genkey < <(printf 'short\nshort\n')
expect_contains "$OUT" "an RBS password is 8 to 255 characters"
OUT=$(printf 'correct horse\ncorrect horse\n' | rbs --genkey 2>&1) || fail "genkey: $OUT"
expect_contains "$OUT" "Certificate written to: $RBS_DIR/server/server.pem"
expect_eq "$(stat -c %a "$RBS_DIR/server/server.key")" 600 "the key's mode"
expect_eq "$(stat -c %a "$RBS_DIR")" 700 "rbs's folder's mode"
grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$RBS_DIR/server/server.key" || fail "the key is not encrypted"
if command -v openssl >/dev/null; then
	# PKCS#8 as OpenSSL reads it: scrypt, AES-256; the password opens it, another does not
	OUT=$(openssl asn1parse -in "$RBS_DIR/server/server.key" 2>&1)
	expect_contains "$OUT" ":scrypt"
	expect_contains "$OUT" "aes-256-cbc"
	openssl pkey -in "$RBS_DIR/server/server.key" -passin pass:'correct horse' -noout ||
		fail "openssl cannot open the key with its password"
	! openssl pkey -in "$RBS_DIR/server/server.key" -passin pass:'wrong horse' -noout 2>/dev/null ||
		fail "another password opens the key"
fi
cp "$RBS_DIR/server/server.pem" "$T/server.pem.first"
expect_exit 1 rbs --genkey < <(printf 'correct horse\ncorrect horse\n')
expect_contains "$OUT" "-force makes a new one"
cmp -s "$RBS_DIR/server/server.pem" "$T/server.pem.first" || fail "an existing certificate was replaced"

note "rbs --config: the Backup HSMs of this host, picked by number, X to exit"
expect_exit 1 rbs --config < <(printf '1\n')
expect_contains "$OUT" "nothing was saved"
[ ! -e "$RBS_DIR/rbs.conf" ] || fail "rbs.conf written without X"
OUT=$(printf '7\n1\nX\n' | rbs --config 2>&1) || fail "config: $OUT"
expect_contains "$OUT" "20  $BACKUP_SERIAL"
expect_not_contains "$OUT" "$HSM_SERIAL" # an HSM that is not a Backup HSM is not offered
expect_contains "$OUT" "'7' is not a number of the list"
expect_contains "$OUT" "1 Backup HSM(s) served"
grep -qx "backup $BACKUP_SERIAL" "$RBS_DIR/rbs.conf" || fail "rbs.conf: $(cat "$RBS_DIR/rbs.conf")"
expect_eq "$(stat -c %a "$RBS_DIR/rbs.conf")" 600 "rbs.conf's mode"

note "the client workstation's certificate, registered on the RBS host"
WS1="$T/ws1/openped-pkcs11.conf"
mkdir -p "$T/ws1"
export OPENPED_PKCS11_CONF="$WS1"
OUT=$(vtl createCert -n ws1) || fail "createCert: $OUT"
OUT=$(rbs --register -name ws1 -cert "$T/ws1/cert/client/ws1.pem") || fail "register: $OUT"
expect_contains "$OUT" "client ws1 registered"
expect_exit 1 rbs --register -name ws1b -cert "$T/ws1/cert/client/ws1.pem"
expect_contains "$OUT" "this certificate is registered already, as ws1"
OUT=$(rbs --list-clients) || fail "list-clients: $OUT"
expect_contains "$OUT" "1 registered client(s)"

note "rbs --daemon: a wrong password and a password file others can read are refused"
printf 'wrong horse\n' >"$T/bad.pw"
chmod 600 "$T/bad.pw"
expect_exit 1 rbs --daemon -port 0 -password-file "$T/bad.pw"
expect_contains "$OUT" "wrong RBS password"
expect_exit 1 rbs --daemon -port 0 -password-fd 3 3< <(printf 'wrong horse again\n')
expect_contains "$OUT" "wrong RBS password"
printf 'correct horse\n' >"$T/rbs.pw"
chmod 644 "$T/rbs.pw"
expect_exit 1 rbs --daemon -port 0 -password-file "$T/rbs.pw"
expect_contains "$OUT" "must be a file of ours that no one else can read"
chmod 600 "$T/rbs.pw"

note "rbs --daemon on port 0: the port it took is logged"
OUT=$(rbs --daemon -port 0 -password-file "$T/rbs.pw" -pidfile "$T/rbs.pid" -logfile "$T/rbs.log" 2>&1) ||
	fail "rbs --daemon: $OUT"
RBS_PID=$(cat "$T/rbs.pid")
track "$RBS_PID"
wait_for 20 grep -q 'serving TLS on' "$T/rbs.log" || fail "no listener: $(cat "$T/rbs.log")"
port=$(grep -o 'serving TLS on [^ ]* port [0-9]*' "$T/rbs.log" | awk '{print $NF}')
[ "$port" -gt 0 ] || fail "no port in $(cat "$T/rbs.log")"
OUT=$(vtl addServer -n 127.0.0.1 -c "$RBS_DIR/server/server.pem" -p "$port") || fail "addServer: $OUT"

note "vtl verify and hsmcm -server see the Backup HSM served, and only it"
OUT=$(vtl verify) || fail "verify: $OUT"
expect_contains "$OUT" "The following Backup HSMs were found on 127.0.0.1:"
grep -qE "^ +0  $BACKUP_SERIAL +backup\$" <<<"$OUT" || fail "verify: $OUT"
expect_not_contains "$OUT" "$HSM_SERIAL"
expect_not_contains "$OUT" " p1"
OUT=$(remote -c "slot list" 2>&1) || fail "hsmcm -server slot list: $OUT"
expect_contains "$OUT" "Serial Number ->        $BACKUP_SERIAL"
expect_contains "$OUT" "Slot Description ->     Backup Device"
expect_contains "$OUT" "Current Slot Id: 20"
expect_not_contains "$OUT" "$HSM_SERIAL"
expect_not_contains "$OUT" "Admin Token Slot"
OUT=$(remote -c "hsm showinfo" 2>&1) || fail "hsm showinfo of the Backup HSM: $OUT"
expect_contains "$OUT" "$BACKUP_SERIAL"
OUT=$(remote -c "partition archive list -slot 20" 2>&1) || fail "archive list: $OUT"
expect_contains "$OUT" "Partition: bk1  Objects: 1"
grep -q 'client ws1 connected from 127.0.0.1' "$T/rbs.log" || fail "no connection logged: $(cat "$T/rbs.log")"

note "the host's other HSM is out of reach, and so is the Backup HSM's administration"
OUT=$(remote -c "slot set -slot 0" 2>&1) && fail "a client reached slot 0: $OUT"
expect_contains "$OUT" "no slot 0"
OUT=$(remote -c "slot set -slot 1" 2>&1) && fail "a client reached slot 1: $OUT"
OUT=$(remote -c "partition archive list -slot 0" 2>&1) && fail "archive on the HSM: $OUT"
OUT=$(remote -c "hsm zeroize -force" 2>&1) && fail "a client zeroized the Backup HSM: $OUT"
expect_contains "$OUT" "reaches only the Backup HSMs the Remote Backup Service serves"
OUT=$(remote -c "role login -name so" 2>&1) && fail "an SO login through rbs: $OUT"
expect_contains "$OUT" "reaches only the Backup HSMs"
OUT=$(remote -c "audit show" 2>&1) && fail "audit through rbs: $OUT"
OUT=$(remote -c "ped vector erase" 2>&1) && fail "ped vector through rbs: $OUT"
hsmcm -c "slot set -slot 20; hsm showinfo"
expect_contains "$OUT" "backup" # still initialized: nothing reached it
hsmcm -c "slot set -slot 1; partition contents"
[ $RC -ne 0 ] || expect_contains "$OUT" "alpha"

note "hsm-sim enforces the restriction itself: on its control socket, as rbs opens it"
restricted() { python3 "$(dirname "$0")/hsm_restrict.py" "$HSM_SOCK" "$@"; }
if command -v python3 >/dev/null; then
	OUT=$(restricted "$BACKUP_SERIAL" "slot list" "slot set -slot 0" "slot set -slot 1" "hsm zeroize -force" \
		"partition archive list -slot 0" "par ar l -slot 20" "par sh") || fail "restricted session: $OUT"
	expect_contains "$OUT" "Serial Number ->        $BACKUP_SERIAL"
	expect_not_contains "$OUT" "Serial Number ->        $HSM_SERIAL"
	expect_contains "$OUT" "no slot 0"
	expect_contains "$OUT" "no slot 1"
	expect_contains "$OUT" "reaches only the Backup HSMs"
	expect_contains "$OUT" "slot 0 is not a backup HSM"
	expect_contains "$OUT" "Partition: bk1  Objects: 1" # the lunacm abbreviations are the same commands
	expect_eq "$(grep -c '^result 0x0$' <<<"$OUT")" 2 "commands that succeeded (slot list, archive list)"
	# never widened: a second restriction ends the session unanswered
	OUT=$(restricted "$BACKUP_SERIAL,twice" "slot list") || fail "twice: $OUT"
	expect_eq "$OUT" "closed" "a second restriction"
	# an HSM this hsm-sim does not have: nothing to see, nothing to run
	OUT=$(restricted 99 "slot list" "hsm showinfo") || fail "none here: $OUT"
	expect_not_contains "$OUT" "Slot Id ->"
	expect_contains "$OUT" "reaches only the Backup HSMs"
	wait_for 10 grep -q "a session's restriction came twice: closed" "$T/hsm.log" || fail "not logged by hsm-sim"
else
	note "(python3 is not installed: the direct check is skipped; rbs's sessions above went through it)"
fi

note "the Backup HSM's PED: a Remote PED through this host's pedserver and pedclient"
start_pedserver A
start_pedclient
cat >"$T/R.policy" <<P
use rpv ${KEY[brpk]}
use "CO LOGIN" ${KEY[bco]}
P
start_remote_ped R A "$T/R.policy"
hsmcm -c "ped connect -slot 20 -ip 127.0.0.1 -port $PORT_A"
[ $RC -eq 0 ] || fail "ped connect: $OUT"
OUT=$(remote -c "partition archive contents -slot 20 -partition bk1" 2>&1) || fail "archive contents: $OUT"
expect_contains "$OUT" "Object Label: alpha"
grep -q '"event":"insert"' "$T/R.events" || fail "the Remote PED read no key"
shown A "HSM Serial Number:        $BACKUP_SERIAL" || fail "pedserver A: $OUT"

serving() { # both sides still serve: the registered client sees its Backup HSM
	OPENPED_PKCS11_CONF="$WS1" vtl verify >"$T/verify.out" 2>&1 || fail "$1: ws1 no longer served: $(cat "$T/verify.out")"
	grep -q "$BACKUP_SERIAL" "$T/verify.out" || fail "$1: $(cat "$T/verify.out")"
	alive "$RBS_PID" || fail "$1: rbs ended"
	alive "$HSM_PID" || fail "$1: hsm-sim ended"
}

note "an unregistered client is refused and learns nothing"
WS2="$T/ws2/openped-pkcs11.conf"
mkdir -p "$T/ws2"
OPENPED_PKCS11_CONF="$WS2" vtl createCert -n ws2 >/dev/null
OPENPED_PKCS11_CONF="$WS2" vtl addServer -n 127.0.0.1 -c "$RBS_DIR/server/server.pem" -p "$port" >/dev/null
expect_exit 1 env OPENPED_PKCS11_CONF="$WS2" "$BIN/vtl" verify
expect_contains "$OUT" "127.0.0.1 refused our certificate: it is not registered there"
expect_not_contains "$OUT" "$BACKUP_SERIAL"
expect_exit 1 env OPENPED_PKCS11_CONF="$WS2" "$BIN/hsmcm" -server 127.0.0.1 -c "slot list"
expect_not_contains "$OUT" "Slot Id"
wait_for 10 grep -q 'refused: client certificate not registered' "$T/rbs.log" || fail "not logged: $(cat "$T/rbs.log")"
serving "after an unregistered client"

note "a client presenting another certificate under a registered name is refused"
WS3="$T/ws3/openped-pkcs11.conf"
mkdir -p "$T/ws3"
OPENPED_PKCS11_CONF="$WS3" vtl createCert -n ws1 >/dev/null # the name ws1, not its certificate
OPENPED_PKCS11_CONF="$WS3" vtl addServer -n 127.0.0.1 -c "$RBS_DIR/server/server.pem" -p "$port" >/dev/null
expect_exit 1 env OPENPED_PKCS11_CONF="$WS3" "$BIN/vtl" verify
expect_contains "$OUT" "it is not registered there"
expect_not_contains "$OUT" "$BACKUP_SERIAL"
serving "after another certificate"

note "an RBS whose certificate is not the one registered is refused"
cp "$T/ws1/cert/server/127.0.0.1.pem" "$T/server.good"
cp "$T/state/network/server.pem" "$T/ws1/cert/server/127.0.0.1.pem" 2>/dev/null ||
	cp "$T/ws2/cert/client/ws2.pem" "$T/ws1/cert/server/127.0.0.1.pem"
expect_exit 1 vtl verify
expect_contains "$OUT" "127.0.0.1 presented a certificate that is not the one registered for it"
expect_not_contains "$OUT" "$BACKUP_SERIAL"
wait_for 10 grep -q "the client refused this server's certificate" "$T/rbs.log" || fail "not logged on rbs"
cp "$T/server.good" "$T/ws1/cert/server/127.0.0.1.pem"
serving "after a wrong RBS certificate"

note "rbs --remove-client: refused from the next connection, and a session open ends"
mkfifo "$T/ws1.in"
timeout 120 "${RUN[@]}" "$BIN/hsmcm" -server 127.0.0.1 <"$T/ws1.in" >"$T/ws1.out" 2>&1 &
SHELL_PID=$!
track $SHELL_PID
exec 7>"$T/ws1.in"
echo "slot list" >&7
wait_for 20 grep -q "Serial Number ->        $BACKUP_SERIAL" "$T/ws1.out" || fail "the open session: $(cat "$T/ws1.out")"
OUT=$(rbs --remove-client ws1) || fail "remove-client: $OUT"
expect_contains "$OUT" "client ws1 removed"
echo "hsm showinfo" >&7
wait_gone 20 "$SHELL_PID" || fail "the removed client's open session goes on: $(cat "$T/ws1.out")"
exec 7>&-
expect_eq "$(grep -c 'Command Result : No Error' "$T/ws1.out")" 1 "commands served to ws1's open session"
grep -q 'ws1: its registration was removed or replaced: link closed' "$T/rbs.log" || fail "not logged on rbs"
expect_exit 1 vtl verify
expect_contains "$OUT" "it is not registered there"
rbs --register -name ws1 -cert "$T/ws1/cert/client/ws1.pem" >/dev/null || fail "register again"
serving "registered again"

note "SIGTERM: rbs stops cleanly, its PID file gone; hsm-sim goes on"
kill -TERM "$RBS_PID"
wait_gone 20 "$RBS_PID" || fail "rbs did not stop"
grep -q 'rbs.*stopped' "$T/rbs.log" || fail "no clean stop: $(cat "$T/rbs.log")"
[ ! -e "$T/rbs.pid" ] || fail "the PID file is left"
alive "$HSM_PID" || fail "hsm-sim ended with rbs"
expect_exit 1 vtl verify
echo "rbs: passed"
