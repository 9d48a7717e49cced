#!/bin/bash
# rbs across two hosts (issue #30): the RBS host (hsm-sim with its Backup
# HSM, rbs --daemon on the documented default port 1792) and a client
# workstation (vtl, hsmcm -server) in two network namespaces joined by a
# veth pair. The workstation registers rbs's certificate with vtl addServer
# (no -p: the default port), vtl verify lists the Backup HSM served and
# hsmcm -server sees it as its only slot; the RBS host's own HSM stays out
# of reach. Then SIGTERM stops rbs and the workstation is told it cannot
# reach the host.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/netns_lib.sh"
set -e
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data"
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"

WS=rbsnws$$ RB=rbsnrb$$
netns_hosts $WS $RB
netns_link $WS vrw$$ 10.233.0.1 $RB vrb$$ 10.233.0.2
WSCONF="$T/ws/openped-pkcs11.conf"
mkdir -p "$T/ws"
ws() { OPENPED_PKCS11_CONF="$WSCONF" ip netns exec $WS "${RUN[@]}" "$@"; }
rbs() { "${RUN[@]}" "$BIN/rbs" -socket "$HSM_SOCK" "$@"; }

note "the RBS host: hsm-sim and its Backup HSM; rbs --genkey, --config, --daemon on port 1792"
new_keys bso bdom
start_hsm
printf 'write "SETTING SO" %s\nreuse "SETTING DOMAIN" no\nwrite "SETTING DOMAIN" %s\n' "${KEY[bso]}" "${KEY[bdom]}" \
	>"$T/b.policy"
start_ped B $BACKUP_SERIAL "$T/b.policy"
hsmcm -c "slot set -slot 20; hsm init -label rbs-backup"
[ $RC -eq 0 ] || fail "the Backup HSM's init: $OUT"
OUT=$(printf 'rbs two hosts\nrbs two hosts\n' | rbs --genkey 2>&1) || fail "genkey: $OUT"
OUT=$(printf '1\nX\n' | rbs --config 2>&1) || fail "config: $OUT"
printf 'rbs two hosts\n' >"$T/rbs.pw"
chmod 600 "$T/rbs.pw"

note "the workstation: its certificate, registered on the RBS host; rbs's registered there"
OUT=$(ws "$BIN/vtl" createCert -n ws1) || fail "createCert: $OUT"
OUT=$(rbs --register -name ws1 -cert "$T/ws/cert/client/ws1.pem") || fail "register: $OUT"
ip netns exec $RB "${RUN[@]}" "$BIN/rbs" -socket "$HSM_SOCK" --daemon -foreground -password-file "$T/rbs.pw" \
	-pidfile "$T/rbs.pid" >"$T/rbs.log" 2>&1 &
track $!
RBS_PID=$!
wait_for 20 grep -q 'serving TLS on \* port 1792' "$T/rbs.log" || fail "no TLS listener on 1792: $(cat "$T/rbs.log")"
OUT=$(ws "$BIN/vtl" addServer -n 10.233.0.2 -c "$XDG_DATA_HOME/openped/rbs/server/server.pem") || fail "addServer: $OUT"
expect_contains "$OUT" "(port 1792,"

note "across the link: the Backup HSM served is the workstation's slot, and nothing else of the host"
OUT=$(ws "$BIN/vtl" verify) || fail "verify: $OUT"
expect_contains "$OUT" "The following Backup HSMs were found on 10.233.0.2:"
expect_contains "$OUT" "rbs-backup"
expect_not_contains "$OUT" "$HSM_SERIAL"
OUT=$(ws timeout 60 "$BIN/hsmcm" -server 10.233.0.2 -c "slot list; hsm showinfo" 2>&1) || fail "hsmcm -server: $OUT"
expect_contains "$OUT" "Serial Number ->        $BACKUP_SERIAL"
expect_contains "$OUT" "Current Slot Id: 20"
expect_not_contains "$OUT" "$HSM_SERIAL"
OUT=$(ws timeout 60 "$BIN/hsmcm" -server 10.233.0.2 -c "slot set -slot 0" 2>&1) && fail "slot 0 reached: $OUT"
expect_contains "$OUT" "no slot 0"
grep -q 'client ws1 connected from 10.233.0.1' "$T/rbs.log" || fail "not logged: $(cat "$T/rbs.log")"

note "SIGTERM: rbs stops; the workstation cannot reach it"
kill -TERM "$RBS_PID"
wait_gone 20 "$RBS_PID" || fail "rbs did not stop"
grep -q 'stopped' "$T/rbs.log" || fail "no clean stop: $(cat "$T/rbs.log")"
set +e
OUT=$(ws "$BIN/vtl" verify 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "verify with rbs stopped: $OUT"
expect_contains "$OUT" "cannot reach 10.233.0.2 port 1792"
echo "rbs_two_hosts: passed"
