#!/bin/bash
# pedclient stopped while TLS handshakes of its PED-initiated port are in
# progress (peers that connected and said nothing): each runs on a worker
# thread in OpenSSL, reading pedclient's settings. Its exit() used to run
# OpenSSL's atexit cleanup, which frees the locks and stores those workers
# were using, and return from the settings they read: ThreadSanitizer
# (make check-tsan) reported the race; a worker that was not waiting in
# read just then could crash the stop. The daemon now ends with _exit once
# its own goodbyes are said when a worker or TLS proxy still runs.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
printf 'AdminPort = 0;\nSocketReadTimeout = 20;\n' >"$T/pedclient.conf"
# a registered pedserver certificate, so the TLS port runs handshakes
printf 'ServerPort = 0;\nAdminPort = 0;\n' >"$T/S.conf"
pedserver_cmd S -regen -commonname ps-stop -force
[ $RC -eq 0 ] || fail "regen: $OUT"
mkdir -p "$XDG_DATA_HOME/openped/cert/pedservers"
cp "$(sed -n 's/^Certificate created and written to: //p' <<<"$OUT")" "$XDG_DATA_HOME/openped/cert/pedservers/ps.pem"
start_pedclient
PC_PID=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")
pedclient_cmd -mode show
tlsport=$(sed -n 's/^ *PED-initiated Port: *\([0-9]*\) .*/\1/p' <<<"$OUT")
[ -n "$tlsport" ] || fail "no PED-initiated port: $OUT"

note "four silent connections: four handshakes waiting on their peers"
base=$(ls "/proc/$PC_PID/task" | wc -l)
for i in $(seq 20 23); do eval "exec $i<>/dev/tcp/127.0.0.1/$tlsport"; done
wait_for 10 eval '[ "$(ls /proc/'"$PC_PID"'/task | wc -l)" -ge $((base + 4)) ]' ||
	fail "no handshake threads for the silent connections ($(ls "/proc/$PC_PID/task" | wc -l), $base before)"

note "pedclient -mode stop with them in progress: it stops, cleanly"
pedclient_cmd -mode stop
[ $RC -eq 0 ] || fail "pedclient -mode stop: $OUT"
wait_gone 20 "$PC_PID" || fail "pedclient did not stop with handshakes in progress"
for i in $(seq 20 23); do eval "exec $i>&-"; done
[ ! -e "$XDG_RUNTIME_DIR/openped/pedclient.pid" ] || fail "the PID file outlived pedclient"
grep -q "stopped" "$T/pedclient.log" || fail "pedclient did not log its stop: $(tail -n 5 "$T/pedclient.log")"
rep=$(sanitizer_report "$PC_PID")
[ -z "$rep" ] || fail "pedclient's stop, as the sanitizer saw it: $rep"
echo "pedclient stops with handshakes in progress: ok"
