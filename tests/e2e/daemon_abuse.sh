#!/bin/bash
# What a local user or a network peer can do to pedserver and pedclient
# without any credential must not stop them serving:
# - silent admin connections: the admin port used to be read inside the
#   event loop, a byte at a time with a fresh timeout per byte, so one idle
#   connection froze relaying, pings and SIGTERM for SocketReadTimeout;
# - idle connections on the network port: they shared 16 greeting slots
#   with the local PED socket, and 16 of them locked the PED out.
# And how they start: with stdin and stdout closed `-mode start` never
# returned (the report pipe took fd 1, which detaching stdio closed); a start
# that timed out said "failed" and left the daemon serving.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
PEER="$PED_SRCDIR/tests/e2e/relay_peer.py"
printf 'ServerPort = 0;\nAdminPort = 0;\nSocketReadTimeout = 20;\n' >"$T/S.conf"
start_pedserver S
printf 'AdminPort = 0;\nSocketReadTimeout = 20;\n' >"$T/pedclient.conf"
# a registered pedserver certificate, so pedclient's TLS port does handshakes
pedserver_cmd S -regen -commonname ps-abuse -force
[ $RC -eq 0 ] || fail "regen: $OUT"
mkdir -p "$XDG_DATA_HOME/openped/cert/pedservers"
cp "$(sed -n 's/^Certificate created and written to: //p' <<<"$OUT")" "$XDG_DATA_HOME/openped/cert/pedservers/ps.pem"
start_pedclient
ADM_S=$(cat "$T/S-run/openped/pedserver.admin")
ADM_C=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.admin")

note "silent admin connections do not stall the daemons (read timeout 20 s)"
# more than the 8 served at once: the oldest make room for the newest
exec 3<>"/dev/tcp/127.0.0.1/$ADM_S" 4<>"/dev/tcp/127.0.0.1/$ADM_S" 5<>"/dev/tcp/127.0.0.1/$ADM_S" \
	6<>"/dev/tcp/127.0.0.1/$ADM_S" 7<>"/dev/tcp/127.0.0.1/$ADM_S" 8<>"/dev/tcp/127.0.0.1/$ADM_S" \
	9<>"/dev/tcp/127.0.0.1/$ADM_S" 10<>"/dev/tcp/127.0.0.1/$ADM_S" 11<>"/dev/tcp/127.0.0.1/$ADM_C"
printf 'sh' >&3 # half a request, then nothing
start=$SECONDS
pedserver_cmd S -mode show
[ $RC -eq 0 ] || fail "pedserver -mode show behind silent admin connections: $OUT"
"$PEER" "tcp:127.0.0.1:$PORT_S" hello 3 2 0 X expect STATUS 5 >"$T/peer.out" 2>&1 ||
	fail "pedserver's network port did not answer: $(cat "$T/peer.out")"
pedclient_cmd -mode show
[ $RC -eq 0 ] || fail "pedclient -mode show behind a silent admin connection: $OUT"
[ $((SECONDS - start)) -lt 10 ] || fail "the answers took $((SECONDS - start)) s: the event loop waited on a silent peer"
exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- 10>&- 11>&-

note "connections that never start TLS hold at most 16 handshake threads (32 while cut ones end)"
PC_PID=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")
pedclient_cmd -mode show
tlsport=$(sed -n 's/^ *PED-initiated Port: *\([0-9]*\) .*/\1/p' <<<"$OUT")
[ -n "$tlsport" ] || fail "no PED-initiated port: $OUT"
base=$(ls "/proc/$PC_PID/task" | wc -l)
# a ThreadSanitizer build's runtime starts a thread of its own at the first
# thread pedclient makes (make check-tsan)
if nm "$BIN/pedclient" 2>/dev/null | grep -q ' __tsan_init'; then base=$((base + 1)); fi
for i in $(seq 20 59); do eval "exec $i<>/dev/tcp/127.0.0.1/$tlsport"; done
pedclient_cmd -mode show # answered after the loop has taken the 40 connections
[ $RC -eq 0 ] || fail "pedclient -mode show: $OUT"
# 16 wait; each connection past them cut the oldest, whose thread ends at once
threads() { ls "/proc/$PC_PID/task" | wc -l; }
[ "$(threads)" -le $((base + 32)) ] || fail "$(threads) threads for 40 silent TLS connections (was $base)"
wait_for 10 eval '[ "$(threads)" -le $((base + 16)) ]' || fail "$(threads) threads for 40 silent TLS connections (was $base)"
for i in $(seq 20 59); do eval "exec $i>&-"; done

note "idle network connections do not lock the PED out"
for i in $(seq 20 40); do eval "exec $i<>/dev/tcp/127.0.0.1/$PORT_S"; done
printf '%s\n' "$OPERATOR" >"$T/p.policy"
start_remote_ped P S "$T/p.policy"
wait_for 20 eval 'pedserver_cmd S -mode show; grep -q "Ped2 Connection Status:   Connected" <<<"$OUT"' ||
	fail "the PED could not attach behind idle network connections: $(tail -n 5 "$T/S.log")"
for i in $(seq 20 40); do eval "exec $i>&-"; done
pedserver_cmd S -mode stop
[ $RC -eq 0 ] || fail "stop: $OUT"

note "started with stdin and stdout closed, pedserver starts, logs and stops"
rm -f "$T/S.log"
XDG_RUNTIME_DIR="$T/S-run" timeout 30 "$BIN/pedserver" -mode start -configfile "$T/S.conf" -logfile "$T/S.log" \
	<&- >&- 2>"$T/start.err" || fail "-mode start with stdio closed: rc $? $(cat "$T/start.err")"
track "$(cat "$T/S-run/openped/pedserver.pid")"
pedserver_cmd S -mode stop
[ $RC -eq 0 ] || fail "stop: $OUT"
grep -q "stopped" "$T/S.log" || fail "the log lost its lines after the start: $(cat "$T/S.log")"

note "a start that times out stops the process it started"
command -v strace >/dev/null || fail "strace is missing: make deps installs it"
pedserver_cmd S -mode start -logfile "$T/S.log" -bgprocessstartuptimeout 1
[ $RC -eq 0 ] || fail "start: $OUT"
pedserver_cmd S -mode stop
set +e
# (LeakSanitizer cannot run under ptrace: off for this one start under check-asan)
XDG_RUNTIME_DIR="$T/S-run" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" timeout 60 strace -f -o /dev/null -e inject=listen:delay_enter=3000000 \
	"$BIN/pedserver" -mode start -configfile "$T/S.conf" -logfile "$T/S.log" -bgprocessstartuptimeout 1 >"$T/st.out" 2>&1
rc=$?
set -e
[ $rc -ne 0 ] || fail "a start held back past its timeout succeeded: $(cat "$T/st.out")"
expect_contains "$(cat "$T/st.out")" "RC_OPERATION_TIMED_OUT"
pedserver_cmd S -mode show
[ $RC -ne 0 ] || fail "the timed-out pedserver serves after all: $OUT"
note "a runtime directory others may write to is refused"
mkdir -p "$T/open-run/openped"
chmod 777 "$T/open-run/openped"
set +e
XDG_RUNTIME_DIR="$T/open-run" timeout 30 "$BIN/pedserver" -mode start -configfile "$T/S.conf" -logfile "$T/o.log" >"$T/o.out" 2>&1
rc=$?
set -e
[ $rc -ne 0 ] || fail "pedserver started in a world-writable runtime directory"
expect_contains "$(cat "$T/o.out" "$T/o.log" 2>/dev/null)" "that only it may write to; refusing to use it"
[ ! -e "$T/open-run/openped/pedserver.pid" ] || fail "a PID file was written there"
echo "daemon abuse ok"
