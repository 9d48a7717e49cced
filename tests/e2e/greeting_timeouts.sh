#!/bin/bash
# The relays' read timeout on connections that never greet, each on its own:
# pedserver closes a silent TCP connection; pedclient closes a silent HSM and
# gives up on a pedserver that accepts and says nothing. Their timers run
# only when something is due (no periodic tick), so each of these deadlines
# is the timer's only reason to wake.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
PEER="$PED_SRCDIR/tests/e2e/relay_peer.py"

start_pedserver S -socketreadtimeout 1
start_pedclient -socketreadtimeout 1
HSOCK="$XDG_RUNTIME_DIR/openped/pedclient.sock"

note "pedserver: a TCP connection that sends nothing is closed after the read timeout"
OUT=$(python3 "$PEER" "tcp:127.0.0.1:$PORT_S" closed 8) || fail "pedserver kept a silent connection: $OUT"
wait_for 5 grep -q "sent no greeting in 1 s: closing" "$T/S.log" || fail "not logged: $(tail -n 3 "$T/S.log")"

note "pedclient: an HSM that sends nothing gets BYE RC_OPERATION_TIMED_OUT and is closed"
OUT=$(python3 "$PEER" "unix:$HSOCK" expect BYE 8 closed 8) || fail "pedclient kept a silent HSM: $OUT"
expect_contains "$OUT" "BYE code=0xc0000303"
wait_for 5 grep -q "no greeting from the HSM" "$T/pedclient.log" || fail "not logged: $(tail -n 3 "$T/pedclient.log")"

note "pedclient: a pedserver that accepts and never answers ends the session (CKR_PED_UNPLUGGED)"
python3 - "$T/mute.port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
c, _ = s.accept()
time.sleep(30)  # answers nothing
PY
MUTE=$!
track $MUTE
wait_for 5 test -s "$T/mute.port"
OUT=$(python3 "$PEER" "unix:$HSOCK" hello 4 1 1 777 127.0.0.1 "$(cat "$T/mute.port")" expect BYE 8) ||
	fail "no BYE for a mute pedserver: $OUT"
expect_contains "$OUT" "BYE code=0x8000002e"
grep -q "pedserver did not answer in time" "$T/pedclient.log" || fail "not logged: $(tail -n 3 "$T/pedclient.log")"
kill $MUTE 2>/dev/null || true

note "both daemons still serve"
pedserver_cmd S -mode show
[ $RC -eq 0 ] || fail "pedserver: $OUT"
pedclient_cmd -mode show
[ $RC -eq 0 ] || fail "pedclient: $OUT"
echo "greeting timeouts ok"
