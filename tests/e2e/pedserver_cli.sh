#!/bin/bash
# pedserver's command line and daemon: the command lines chapter 5 prints
# (addresses on loopback, ports ephemeral), refused options, the -mode show
# block field for field, config -show/-set keeping unknown settings,
# appliances, -regen, hot-plug of the PED, malformed frames on every port
# (the daemon stays up and logs the peer), the ping timeout, stop while busy.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
PEER="$PED_SRCDIR/tests/e2e/relay_peer.py"

# Ephemeral ports from the start: a test must never touch a real pedserver's 1502/1503.
printf 'ServerPort = 0;\nAdminPort = 0;\n' >"$T/S.conf"

note "refused options and ranges"
pedserver_cmd S -mode start -pedwritelay 10001
[ $RC -ne 0 ] || fail "-pedwritelay 10001 accepted"
expect_contains "$OUT" "-pedwritelay: value 10001 out of range (0-10000)"
pedserver_cmd S -mode start -eadmin 2
[ $RC -ne 0 ] || fail "-eadmin 2 accepted"
pedserver_cmd S -mode frobnicate
[ $RC -ne 0 ] || fail "unknown mode accepted"
expect_contains "$OUT" "not one of"
pedserver_cmd S -mode show -appliance list
[ $RC -ne 0 ] || fail "-mode and -appliance together accepted"
set +e; OUT=$("$BIN/pedserver" -mode start -configfile "$T/missing.conf" 2>&1); RC=$?; set -e
[ $RC -ne 0 ] || fail "a missing -configfile was accepted"
expect_contains "$OUT" "missing.conf"
expect_contains "$OUT" "RC_FILE_ERROR"

note "show when nothing runs"
pedserver_cmd S -mode show
[ $RC -ne 0 ] || fail "show succeeded with no server"
expect_contains "$OUT" "RC_SOCKET_ERROR c0000500"

note "config -set writes the file atomically, keeps its comments and mode, -show reads it"
echo '# not ours: kept' >>"$T/S.conf"
chmod 640 "$T/S.conf"
pedserver_cmd S -mode config -set -idletimeout 900 -pedwritelay 250 -pinginterval 1 -pingtimeout 1
[ $RC -eq 0 ] || fail "config -set: $OUT"
grep -q '^# not ours: kept' "$T/S.conf" || fail "comment lost: $(cat "$T/S.conf")"
[ "$(stat -c %a "$T/S.conf")" = 640 ] || fail "config mode $(stat -c %a "$T/S.conf")"
pedserver_cmd S -mode config -show
expect_contains "$OUT" "IdleTimeout = 900"
expect_contains "$OUT" "PedWriteDelay = 250"
note "the troubleshooting form: -set LogFileName FILE (a setting named as in the file)"
pedserver_cmd S -mode config -set LogFileName "$T/named.log" maxlogfilesize 64
[ $RC -eq 0 ] || fail "config -set LogFileName: $OUT"
pedserver_cmd S -mode config -show
expect_contains "$OUT" "LogFileName = \"$T/named.log\""
expect_contains "$OUT" "MaxLogFileSize = 64"
pedserver_cmd S -mode config -set NoSuchSetting 1
[ $RC -ne 0 ] || fail "an unknown setting name was accepted"
expect_contains "$OUT" "unexpected argument 'NoSuchSetting'"

note "the chapter's start line (no dash form too) and the status block"
pedserver_cmd S mode start -ip 127.0.0.1 -port 0 -admin 0 -socketreadtimeout 2 -logfile "$T/S.log"
[ $RC -eq 0 ] || fail "start: $OUT"
for l in "Ped Server Version" "Ped Server launched in startup mode." "Starting background process" \
	"Background process started" "Ped Server Process created, exiting this process."; do
	expect_contains "$OUT" "$l"
done
track "$(cat "$T/S-run/openped/pedserver.pid")"
pedserver_cmd S -m show
[ $RC -eq 0 ] || fail "show: $OUT"
labels=$(sed -n '/^Server Information:/,$p' <<<"$OUT" | sed -n 's/^ *\([A-Za-z0-9 ]*[A-Za-z]\)[: ].*/\1/p' | sed 's/ *$//' | tr '\n' '|')
want="Server Information|Hostname|IP|Firmware Version|PedII Protocol Version|Software Version|Ped2 Connection Status|Ped2 RPK Count|Ped2 RPK Serial Numbers|Client Information|Operating Information|Server Port|External Server Interface|Admin Port|External Admin Interface|Server Up Time|Server Idle Time|Idle Timeout Value|Current Connection Time|Current Connection Idle Time|Current Connection Total Idle Time|Total Connection Time|Total Connection Idle Time|Show command|"
expect_eq "$labels" "$want" "status block fields"
expect_contains "$OUT" "Ped2 Connection Status:   Disconnected"
expect_contains "$OUT" "Idle Timeout Value:       900 (secs)"
expect_contains "$OUT" "External Admin Interface: No"
port=$(awk '/Server Port:/{print $3}' <<<"$OUT")

note "a second start is refused while one runs"
pedserver_cmd S -mode start -port 0 -admin 0
[ $RC -ne 0 ] || fail "second start succeeded"
expect_contains "$OUT" "Startup failed."

note "start says why it cannot serve: port in use, log not writable"
pedserver_cmd T2 -mode start -port "$port" -admin 0 -logfile "$T/T2.log"
[ $RC -ne 0 ] || fail "start on a port in use succeeded"
expect_contains "$OUT" "Startup failed. : 0xc0000500 RC_SOCKET_ERROR"
expect_contains "$OUT" "cannot listen on server port"
pedserver_cmd T3 -mode start -port 0 -admin 0 -logfile "$T/no/such/dir/T3.log"
[ $RC -ne 0 ] || fail "start with an unwritable log succeeded"
expect_contains "$OUT" "Cannot write the log file $T/no/such/dir/T3.log"
expect_contains "$OUT" "RC_FILE_ERROR"

note "hot-plug: a PED that appears is seen without a restart, and one that leaves too"
echo "$OPERATOR" >"$T/P.policy"
start_remote_ped P S "$T/P.policy"
wait_for 10 shown S "Ped2 Connection Status:   Connected" || fail "PED not seen: $OUT"
expect_contains "$OUT" "Firmware Version:        0.1.0"
kill -TERM "$PED_P_PID"; wait_gone 10 "$PED_P_PID"
wait_for 10 shown S "Ped2 Connection Status:   Disconnected" || fail "PED still seen: $OUT"
note "a PED greeting on the network port is refused: a PED attaches on its own port or USB"
OUT=$(python3 "$PEER" "tcp:127.0.0.1:$port" hello 1 1 0 PED:0000000000000666 expect BYE closed 5) ||
	fail "network PED not refused: $OUT"
shown S "Ped2 Connection Status:   Disconnected" || fail "network PED attached: $OUT"
grep -q "a PED attaches on the PED port or USB, not the network" "$T/S.log" || fail "refusal not logged"
rm -f "$T/P.events"
start_remote_ped P S "$T/P.policy"
wait_for 10 shown S "Ped2 Connection Status:   Connected" || fail "PED not seen again: $OUT"

note "malformed frames on the server and PED ports: the peer is dropped and logged, the daemon stays up"
python3 "$PEER" "tcp:127.0.0.1:$port" raw 474152424147452d6e6f742d612d6672616d65 closed 5 >/dev/null || fail "garbage not refused"
python3 "$PEER" "tcp:127.0.0.1:$port" raw 50440130ffffffff closed 5 >/dev/null || fail "oversize frame not refused"
python3 "$PEER" "tcp:127.0.0.1:$port" raw 504401300000000301ff00 closed 5 >/dev/null || fail "bad HELLO not refused"
python3 "$PEER" "unix:$(ped_socket_of S)" raw 5045 closed 15 >/dev/null || fail "truncated frame on the PED port not dropped"
grep -q "malformed input from 127.0.0.1" "$T/S.log" || fail "peer not logged: $(cat "$T/S.log")"
grep -q "malformed greeting from 127.0.0.1" "$T/S.log" || fail "bad greeting not logged"
shown S "Ped2 Connection Status:   Connected" || fail "daemon or PED lost: $OUT"

note "a client that stops answering pings is dropped after the ping timeout"
OUT=$(python3 "$PEER" "tcp:127.0.0.1:$port" hello 3 1 2 777 expect WELCOME silent 10) || fail "$OUT"
expect_contains "$OUT" "closed while silent"
grep -q "client 127.0.0.1:[0-9]* (HSM 777) disconnected: ping timeout" "$T/S.log" || fail "ping timeout not logged"
wait_for 10 grep -q '"event":"detached"' "$T/P.events" || fail "the PED was not told the session ended"

note "a frame of a type the session has no use for ends it at once, for the client and the PED"
# (a relay that dropped it would leave both ends waiting for a message that never comes)
n_detached=$(grep -c '"event":"detached"' "$T/P.events" || true)
start=$SECONDS
OUT=$(python3 "$PEER" "tcp:127.0.0.1:$port" hello 3 1 2 778 expect WELCOME raw 504401900000000100 expect BYE 5) ||
	fail "unknown frame in a session not answered: $OUT"
expect_contains "$OUT" "BYE code=0xe0000072"
[ $((SECONDS - start)) -le 3 ] || fail "took $((SECONDS - start)) s to end the session"
grep -q "unexpected .* frame from client 127.0.0.1:[0-9]*: ending the session" "$T/S.log" || fail "unknown frame not logged"
wait_for 10 eval '[ "$(grep -c "\"event\":\"detached\"" "$T/P.events")" -gt "$n_detached" ]' ||
	fail "the PED was not told the session ended"
shown S "Ped2 Connection Status:   Connected" || fail "daemon or PED lost: $OUT"
# a RECORD frame with two bits of its type flipped (0x11 -> 0x33) reads as a PONG that is not one
OUT=$(python3 "$PEER" "tcp:127.0.0.1:$port" hello 3 1 2 779 expect WELCOME raw 5044013300000010$(printf '11%.0s' $(seq 16)) expect BYE 5) ||
	fail "a PONG that is no relay message not answered: $OUT"
expect_contains "$OUT" "BYE code=0xe0000072"
grep -q "malformed PONG frame from client 127.0.0.1:[0-9]*: ending the session" "$T/S.log" || fail "malformed PONG not logged"

# a KAS frame retyped into a RECORD by a relay reaches the PED mid-handshake:
# the PED ends the session, and pedserver tells the client at once
n_detached=$(grep -c '"event":"detached"' "$T/P.events" || true)
start=$SECONDS
OUT=$(python3 "$PEER" "tcp:127.0.0.1:$port" hello 3 1 2 780 expect WELCOME raw 5044011100000010$(printf '22%.0s' $(seq 16)) expect BYE 5) ||
	fail "a record before the session key not answered: $OUT"
expect_contains "$OUT" "BYE code=0xe0000072"
[ $((SECONDS - start)) -le 3 ] || fail "took $((SECONDS - start)) s to end the session"
grep -q "HSM 780 sent a record before the session key" "$T/P.ped.log" ||
	fail "the PED did not log the early record"
wait_for 10 eval '[ "$(grep -c "\"event\":\"detached\"" "$T/P.events")" -gt "$n_detached" ]' ||
	fail "the PED did not leave the session"
shown S "Ped2 Connection Status:   Connected" || fail "daemon or PED lost: $OUT"

note "a second client is refused while the first lives (and answers pings)"
python3 "$PEER" "tcp:127.0.0.1:$port" hello 3 1 2 111 expect WELCOME expect BYE 30 >"$T/first.out" &
FIRST=$!
wait_for 10 shown S "HSM Serial Number:        111" || fail "first client not shown: $OUT"
OUT=$(python3 "$PEER" "tcp:127.0.0.1:$port" hello 3 1 2 222 expect BYE) || fail "second client not refused: $OUT"
expect_contains "$OUT" "BYE code=0xe000007d"

note "stop while busy: the client gets its BYE and the daemon exits"
pedserver_cmd S -mode stop -name hellohi
[ $RC -eq 0 ] || fail "stop: $OUT"
expect_contains "$OUT" "Shutdown passed."
wait "$FIRST" || true
expect_contains "$(cat "$T/first.out")" "BYE code=0x8000002e"
pedserver_cmd S -mode show
[ $RC -ne 0 ] || fail "show after stop succeeded"

note "appliances and the client certificate (PED-initiated mode)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-521 -nodes -keyout "$T/app.key" -out "$T/the-best-appliance.pem" \
	-subj "/CN=hellocert" -days 30 >/dev/null 2>&1 || fail "openssl req"
pedserver_cmd S -appliance register -name hello -certificate "$T/the-best-appliance.pem" -ip 127.0.0.1 -port 9697
[ $RC -eq 0 ] || fail "register: $OUT"
pedserver_cmd S -appliance register -name hello -certificate "$T/the-best-appliance.pem" -ip 127.0.0.1
[ $RC -ne 0 ] || fail "duplicate name accepted"
pedserver_cmd S -appliance register -name bad -certificate "$T/S.conf" -ip 127.0.0.1
[ $RC -ne 0 ] || fail "a non-certificate accepted"
pedserver_cmd S -appliance register -name far -certificate "$T/the-best-appliance.pem" -ip 127.0.0.1 -port 65530
[ $RC -ne 0 ] || fail "port 65530 accepted"
pedserver_cmd S -appliance list
expect_contains "$OUT" "Server Name     IP Address          Port Number   Certificate Common Name"
grep -Eq "^hello +127.0.0.1 +9697 +hellocert$" <<<"$OUT" || fail "list: $OUT"
pedserver_cmd S -mode config -name hello -show
[ $RC -eq 0 ] || fail "config -name -show: $OUT"
expect_contains "$OUT" "Appliance hello: 127.0.0.1:9697, certificate $XDG_DATA_HOME/openped/cert/server/hello.pem"
pedserver_cmd S -mode config -name nosuch -show
[ $RC -ne 0 ] || fail "config -show of an unregistered appliance succeeded"
expect_contains "$OUT" "No appliance named 'nosuch' is registered"
pedserver_cmd S -mode show -name nosuch
[ $RC -ne 0 ] || fail "show of an unregistered appliance succeeded"
expect_contains "$OUT" "No appliance named 'nosuch' is registered"
pedserver_cmd S -appliance delete -name hello -force
[ $RC -eq 0 ] || fail "delete: $OUT"
pedserver_cmd S -appliance list
expect_not_contains "$OUT" "hellocert"
pedserver_cmd S -regen -commonname win2016_server -force
[ $RC -eq 0 ] || fail "regen: $OUT"
expect_contains "$OUT" "Successfully regenerated the client certificate."
crt=$(sed -n 's/^Certificate created and written to: //p' <<<"$OUT")
openssl x509 -in "$crt" -noout -subject | grep -q "CN = win2016_server" || fail "certificate subject"
key=$(sed -n 's/^Private Key created and written to: //p' <<<"$OUT")
[ "$(stat -c %a "$key")" = 600 ] || fail "key mode $(stat -c %a "$key")"
echo "pedserver ok"
