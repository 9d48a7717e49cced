#!/bin/bash
# pedclient's command line and daemon: the command lines chapter 5 prints,
# PED id mappings round trip (persisted atomically), testid with and
# without a server or a PED, refused options, a missing configuration file,
# malformed input from the HSM side and from a pedserver (the daemon stays
# up), the idle timeout and -ignoreidletimeout.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
PEER="$PED_SRCDIR/tests/e2e/relay_peer.py"
printf 'AdminPort = 0;\n# the operator: kept\n' >"$T/pedclient.conf"
chmod 600 "$T/pedclient.conf"

note "refused: -winservice, unknown modes, a missing configuration file"
pedclient_cmd -mode start -winservice
[ $RC -ne 0 ] || fail "-winservice accepted"
expect_contains "$OUT" "Windows services do not exist on this platform"
pedclient_cmd -mode nosuch
[ $RC -ne 0 ] || fail "unknown mode accepted"
set +e; OUT=$("$BIN/pedclient" -mode show -configfile "$T/none.conf" 2>&1); RC=$?; set -e
[ $RC -ne 0 ] || fail "missing config accepted"
expect_contains "$OUT" "none.conf"
expect_contains "$OUT" "RC_FILE_ERROR"

note "PED id mappings: setid, assignid, releaseid, deleteid, as printed in the chapter"
pedclient_cmd -mode setid -id 1234 -id_ip myhostname -id_port 3456
[ $RC -eq 0 ] || fail "setid: $OUT"
pedclient_cmd -mode assignid -id 1234 -id_serialnumber 123456789
[ $RC -eq 0 ] || fail "assignid: $OUT"
grep -q 'serial = "123456789"' "$T/pedclient.conf" || fail "assignment not stored: $(cat "$T/pedclient.conf")"
grep -q '^# the operator: kept' "$T/pedclient.conf" || fail "comment lost"
[ "$(stat -c %a "$T/pedclient.conf")" = 600 ] || fail "config mode"
pedclient_cmd -mode assignid -id 99 -id_serialnumber 1
[ $RC -ne 0 ] || fail "assignid of an undefined id accepted"
expect_contains "$OUT" "PED id 99 is not defined"
pedclient_cmd -mode setid -id 7 -id_ip h -id_port 70000
[ $RC -ne 0 ] || fail "port 70000 accepted"
pedclient_cmd -mode releaseid -id 1234
[ $RC -eq 0 ] || fail "releaseid: $OUT"
grep -q 'serial = ""' "$T/pedclient.conf" || fail "release not stored"
pedclient_cmd -mode deleteid -id 1234
[ $RC -eq 0 ] || fail "deleteid: $OUT"
grep -q '1234' "$T/pedclient.conf" && fail "mapping not deleted"

note "setid keeps a long host name whole, refuses an empty one and a 65th mapping"
# A mapping held 64 characters: a longer name was stored whole, but dialled cut short.
long=pedserver-number-one.operations.datacentre-east.example-corporation.internal
pedclient_cmd -mode setid -id 5 -id_ip "$long" -id_port 1
[ $RC -eq 0 ] || fail "setid with a ${#long}-character name: $OUT"
pedclient_cmd -mode testid -id 5
expect_contains "$OUT" "Testing PED id 5: pedserver $long:1"
pedclient_cmd -mode setid -id 5 -id_ip "$(printf 'a%.0s' $(seq 254))" -id_port 1
[ $RC -eq 2 ] || fail "a 254-character name accepted: $OUT"
pedclient_cmd -mode setid -id 6 -id_ip "" -id_port 1
[ $RC -eq 2 ] || fail "an empty -id_ip accepted: $OUT"
expect_contains "$OUT" "-id_ip: a host name or address of 1 to 253 characters."
# Only the first 64 mappings were read: a 65th was stored and assigned, never found.
for i in $(seq 2 64); do pedclient_cmd -mode setid -id $((1000 + i)) -id_ip 127.0.0.1 -id_port 1; done
pedclient_cmd -mode setid -id 1065 -id_ip 127.0.0.1 -id_port 1
[ $RC -ne 0 ] || fail "a 65th mapping accepted: $OUT"
expect_contains "$OUT" "At most 64 PED ids can be mapped"
grep -q 'id = 1065;' "$T/pedclient.conf" && fail "the refused mapping was stored"
pedclient_cmd -mode setid -id 1064 -id_ip 127.0.0.2 -id_port 2
[ $RC -eq 0 ] || fail "changing the 64th mapping: $OUT"
pedclient_cmd -mode testid -id 1064
expect_contains "$OUT" "Testing PED id 1064: pedserver 127.0.0.2:2"
for i in 5 $(seq 1002 1064); do pedclient_cmd -mode deleteid -id "$i"; done
grep -q 'id = ' "$T/pedclient.conf" && fail "mappings left: $(cat "$T/pedclient.conf")"
pedclient_cmd -mode config -show
expect_contains "$OUT" "IdleTimeout = 1800"
pedclient_cmd -mode config -set -idletimeout 4 -pinginterval 1 -pingtimeout 1 -socketwritetimeout 2
[ $RC -eq 0 ] || fail "config -set: $OUT"

note "testid: no server, a server without a PED, then with a PED"
start_pedserver A
pedclient_cmd -mode setid -id 100 -id_ip 127.0.0.1 -id_port 1
pedclient_cmd -mode testid -id 100
[ $RC -ne 0 ] || fail "testid without a server succeeded"
expect_contains "$OUT" "RC_SOCKET_ERROR"
pedclient_cmd -mode setid -id 100 -id_ip 127.0.0.1 -id_port "$PORT_A"
pedclient_cmd -mode testid -id 100
[ $RC -ne 0 ] || fail "testid without a PED succeeded"
expect_contains "$OUT" "No PED is attached"
new_keys rpk
printf '%s\nwrite rpv %s\n' "$OPERATOR" "${KEY[rpk]}" >"$T/P.policy"
start_remote_ped P A "$T/P.policy"
pedclient_cmd -mode testid -id 100
[ $RC -eq 0 ] || fail "testid: $OUT"
expect_contains "$OUT" "is attached"

note "start, show, malformed input on the HSM socket"
start_pedclient -logtrace 1
pedclient_cmd -mode show
[ $RC -eq 0 ] || fail "show: $OUT"
expect_contains "$OUT" "Remote PED Sessions:        0"
HSOCK="$XDG_RUNTIME_DIR/openped/pedclient.sock"
[ "$(stat -c %a "$HSOCK")" = 660 ] || fail "HSM socket mode $(stat -c %a "$HSOCK")"
python3 "$PEER" "unix:$HSOCK" raw 474152424147450a closed 5 >/dev/null || fail "garbage on the HSM socket not refused"
python3 "$PEER" "unix:$HSOCK" hello 3 1 2 1 expect BYE >/dev/null || fail "a non-HSM greeting not refused"
OUT=$(python3 "$PEER" "unix:$HSOCK" hello 4 1 2 555 expect BYE) || fail "unmapped HSM not refused: $OUT"
expect_contains "$OUT" "BYE code=0xe000007b"
grep -q "malformed" "$T/pedclient.log" || fail "malformed input not logged"
grep -q "TRACE .*frame HELLO (0x30), [0-9]* bytes, from the HSM" "$T/pedclient.log" || fail "-logtrace 1 logged no frame headers"

note "a pedserver that answers with garbage: the session ends, the daemon stays up"
python3 - "$T/fake.port" <<'PY' &
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
c, _ = s.accept(); c.recv(4096); c.sendall(b"PD\x01\x31\xff\xff\xff\xffjunk"); c.close()
PY
FAKE=$!
wait_for 5 test -s "$T/fake.port"
OUT=$(python3 "$PEER" "unix:$HSOCK" hello 4 1 2 556 127.0.0.1 "$(cat "$T/fake.port")" expect BYE) || fail "bad server not reported: $OUT"
expect_contains "$OUT" "BYE code=0x8000002e"
wait "$FAKE" || true
pedclient_cmd -mode show
[ $RC -eq 0 ] || fail "pedclient died: $OUT"

note "a pedserver that sends a frame the session has no use for: the session ends at once"
python3 - "$T/odd.port" <<'PY' &
import socket, struct, sys, time
def lv8(s): return bytes([len(s)]) + s
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
c, _ = s.accept(); c.recv(4096)
body = bytes([2, 0, 0, 0]) + struct.pack(">HI", 0, 0) + lv8(b"odd-ped") + lv8(b"x") + lv8(b"") + lv8(b"")
c.sendall(b"PD\x01\x31" + struct.pack(">I", len(body)) + body)
time.sleep(0.2)
c.sendall(b"PD\x01\x90\x00\x00\x00\x01\x00")  # a KAS frame with one bit of its type flipped
c.settimeout(10)
try:
    while c.recv(4096):
        pass
except OSError:
    pass
PY
ODD=$!
track $ODD
wait_for 5 test -s "$T/odd.port"
start=$SECONDS
OUT=$(python3 "$PEER" "unix:$HSOCK" hello 4 1 1 558 127.0.0.1 "$(cat "$T/odd.port")" expect WELCOME expect BYE 15) ||
	fail "unknown frame from pedserver not reported: $OUT"
expect_contains "$OUT" "BYE code=0xe0000072"
[ $((SECONDS - start)) -le 3 ] || fail "took $((SECONDS - start)) s to end the session"
grep -q "unexpected .* frame from pedserver .*: ending the session" "$T/pedclient.log" || fail "unknown frame not logged"
wait "$ODD" || true

note "a frame whose length was damaged upward: bytes still flowing do not keep the session alive"
python3 - "$T/long.port" <<'PY' &
import socket, struct, sys, time
def lv8(s): return bytes([len(s)]) + s
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
c, _ = s.accept(); c.recv(4096)
body = bytes([2, 0, 0, 0]) + struct.pack(">HI", 0, 0) + lv8(b"long-ped") + lv8(b"x") + lv8(b"") + lv8(b"")
c.sendall(b"PD\x01\x31" + struct.pack(">I", len(body)) + body)
c.sendall(b"PD\x01\x11" + struct.pack(">I", 60000) + bytes(16))  # a record said to be 60000 bytes
pong = b"PD\x01\x33" + struct.pack(">I", 14) + bytes(14)
try:
    for _ in range(60):  # PONGs keep coming, swallowed by the long frame
        c.sendall(pong)
        time.sleep(0.25)
except OSError:
    pass
PY
LONG=$!
track $LONG
wait_for 5 test -s "$T/long.port"
OUT=$(python3 "$PEER" "unix:$HSOCK" hello 4 1 1 559 127.0.0.1 "$(cat "$T/long.port")" expect WELCOME expect BYE 15) ||
	fail "a stream stuck in a long frame was not given up: $OUT"
expect_contains "$OUT" "BYE code=0x8000002e"
# the ping timeout (2 s here), not the idle timeout (4 s), ends it: only whole frames count as life
grep -q "pedserver 127.0.0.1:$(cat "$T/long.port") stopped answering pings" "$T/pedclient.log" ||
	fail "not ended by the ping timeout: $(grep 559 "$T/pedclient.log")"
kill $LONG 2>/dev/null || true

note "a pedserver that stops answering pings: the session ends within the ping timeout"
python3 - "$T/silent.port" <<'PY' &
import socket, struct, sys, time
def lv8(s): return bytes([len(s)]) + s
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
c, _ = s.accept(); c.recv(4096)
body = bytes([2, 0, 0, 0]) + struct.pack(">HI", 0, 0) + lv8(b"silent-ped") + lv8(b"x") + lv8(b"") + lv8(b"")
c.sendall(b"PD\x01\x31" + struct.pack(">I", len(body)) + body)
time.sleep(20)  # never answers a ping
PY
SILENT=$!
track $SILENT
wait_for 5 test -s "$T/silent.port"
start=$SECONDS
OUT=$(python3 "$PEER" "unix:$HSOCK" hello 4 1 1 557 127.0.0.1 "$(cat "$T/silent.port")" expect WELCOME expect BYE 15) ||
	fail "dead pedserver not reported: $OUT"
expect_contains "$OUT" "BYE code=0x8000002e"
[ $((SECONDS - start)) -le 8 ] || fail "took $((SECONDS - start)) s to notice the dead pedserver"
grep -q "stopped answering pings" "$T/pedclient.log" || fail "ping timeout not logged"

note "a pedserver that stops reading costs its session the write timeout, not the daemon"
python3 - "$T/deaf.port" <<'PY' &
import socket, struct, sys, time
def lv8(s): return bytes([len(s)]) + s
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
c, _ = s.accept(); c.recv(4096)
body = bytes([2, 0, 0, 0]) + struct.pack(">HI", 0, 0) + lv8(b"deaf-ped") + lv8(b"x") + lv8(b"") + lv8(b"")
c.sendall(b"PD\x01\x31" + struct.pack(">I", len(body)) + body)
time.sleep(60)  # reads nothing more
PY
DEAF=$!
track $DEAF
wait_for 5 test -s "$T/deaf.port"
start=$SECONDS
OUT=$(timeout 60 python3 "$PEER" "unix:$HSOCK" hello 4 1 1 560 127.0.0.1 "$(cat "$T/deaf.port")" expect WELCOME \
	flood 400 closed 15) || fail "a session stuck writing to a deaf pedserver was not ended: $OUT"
[ $((SECONDS - start)) -le 10 ] || fail "took $((SECONDS - start)) s to give up on the deaf pedserver"
grep -q "write to pedserver failed" "$T/pedclient.log" || fail "write failure not logged"
pedclient_cmd -mode show
[ $RC -eq 0 ] || fail "pedclient not answering after the deaf pedserver: $OUT"
kill $DEAF 2>/dev/null || true

note "the idle timeout ends an unused session; the HSM sees CKR_PED_UNPLUGGED"
start_hsm
pedclient_cmd -mode assignid -id 100 -id_serialnumber $HSM_SERIAL
hsmcm -c "ped connect -password"
[ $RC -eq 0 ] || fail "connect through the mapping: $OUT"
wait_for 10 grep -q "idle timeout" "$T/pedclient.log" || fail "no idle timeout"
hsmcm -c "ped vector init"
[ $RC -ne 0 ] || fail "vector init over a timed-out session"
expect_contains "$OUT" "CKR_PED_UNPLUGGED"

note "-ignoreidletimeout keeps it"
pedclient_cmd -mode stop
[ $RC -eq 0 ] || fail "stop: $OUT"
start_pedclient -ignoreidletimeout
hsmcm -c "ped disconnect"
hsmcm -c "ped connect -password"
[ $RC -eq 0 ] || fail "connect: $OUT"
wait_for 10 shown A "Current Connection Idle Time: 3 (secs)" || fail "session did not stay idle: $OUT"
hsmcm -c "ped vector init"
[ $RC -eq 0 ] || fail "vector init after idling with -ignoreidletimeout: $OUT"
note "-mode show lists the session (keyed again with the new RPV), connected"
pedclient_cmd -mode show
expect_contains "$OUT" "Remote PED Sessions:        1"
grep -q "^  HSM $HSM_SERIAL -> pedserver 127.0.0.1:$PORT_A, PED .*: connected, " <<<"$OUT" || fail "session line: $OUT"
echo "pedclient ok"
