#!/bin/bash
# What another local user could do with the files root's daemons and PED
# create (security issue 2026-12, findings 4, 5 and 7):
# - a link planted at a PID file's name: pedserver opened it O_CREAT without
#   O_NOFOLLOW and truncated whatever file it named;
# - an iKey store another user made: it was only mkdir'ed, so root's PED
#   wrote its lock file through their link (truncated, then the holder's
#   name written) and they could swap root's keys;
# - logs: the start-up check fopen(logfile, "a") created them 0644.
# hsm-sim's state directory now follows the key store's rule.
# Each must now be refused (or made 0600) before anything is written.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/user_lib.sh"
set -e
other_user
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data"
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"
# the other user's corner, and a file of root's that they would like changed
mkdir -m 755 "$T/other"
chown "$OTHER_UID:$OTHER_GID" "$T/other"
VICTIM="$T/victim"
printf 'root:precious\n' >"$VICTIM"
intact() { [ "$(cat "$VICTIM")" = "root:precious" ] || fail "$1: root's file was written: $(od -c "$VICTIM" | head -3)"; }

note "finding 4: a PID file name that is another user's link is refused, not written through"
as_other ln -s "$VICTIM" "$T/other/pedserver.pid"
: >"$T/S.conf"
set +e
timeout 30 "$BIN/pedserver" -mode start -port 0 -admin 0 -configfile "$T/S.conf" -pidfile "$T/other/pedserver.pid" \
	-logfile "$T/S.log" >"$T/s.out" 2>&1
rc=$?
set -e
# the old code started, with its pid in root's file: stop that daemon too
pid=$(tr -dc 0-9 <"$VICTIM")
[ -z "$pid" ] || { track "$pid"; kill -TERM "$pid" 2>/dev/null || true; }
intact "pedserver -pidfile LINK"
[ $rc -ne 0 ] || fail "pedserver started with a PID file that is another user's link: $(cat "$T/s.out")"
expect_contains "$(cat "$T/s.out")" "symbolic link"
# ... and a stop through such a link signals no one
expect_exit 0 "$BIN/pedserver" -mode stop -configfile "$T/S.conf" -pidfile "$T/other/pedserver.pid"
expect_contains "$OUT" "Ped Server is not running."

note "finding 5: a key store another user made is refused, by the ikey tool and by the PED"
STORE="$T/other/keys"
as_other mkdir -m 700 "$STORE"
set +e
OUT=$("$BIN/ikey" -store "$STORE" new -label so 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "ikey wrote a key into another user's store: $OUT"
expect_contains "$OUT" "refusing to use it"
[ -z "$(ls -A "$STORE")" ] || fail "files written in another user's store: $(ls -la "$STORE")"
# They plant a key (any valid file) and a lock that is a link to root's file.
"$BIN/ikey" -store "$T/mine" new -label bait >/dev/null
serial=$("$BIN/ikey" -store "$T/mine" list -json | grep -o '"serial":"[0-9A-F]*"' | head -1 | cut -d'"' -f4)
[ -n "$serial" ] || fail "no key made for the bait"
install -o "$OTHER_UID" -g "$OTHER_GID" -m 600 "$T/mine/$serial.ikey" "$STORE/$serial.ikey"
as_other ln -s "$VICTIM" "$STORE/$serial.lock"
"$BIN/ped-device" -headless -mode usb -hsm "$T/nohsm.sock" -store "$STORE" -control "$T/ped.ctl" \
	-logfile "$T/ped.log" >"$T/ped.out" 2>&1 &
PED=$!
track $PED
wait_for 10 eval '[ -S "$T/ped.ctl" ] || ! alive $PED' || fail "the PED neither served nor stopped"
# the old PED served; inserting the key wrote through the planted lock
if [ -S "$T/ped.ctl" ]; then
	"$BIN/ped-device" -control "$T/ped.ctl" -send "insert $serial" >"$T/ins.out" 2>&1 || true
	intact "PED inserting a key from another user's store"
	fail "the PED opened a key store another user made: $(cat "$T/ins.out")"
fi
intact "PED started on another user's store"
expect_contains "$(cat "$T/ped.out" "$T/ped.log" 2>/dev/null)" "refusing to use it"

note "the same rule for hsm-sim's state (verifiers, failure counters): another user's directory is refused"
as_other mkdir -m 700 "$T/other/state"
set +e
OUT=$(timeout 30 "$BIN/hsm-sim" -daemon -state "$T/other/state" -socket "$T/hsm.sock" -logfile "$T/hsm.log" 2>&1)
rc=$?
set -e
pid=$(sed -n 's/^hsm-sim started (pid \([0-9]*\)).*/\1/p' <<<"$OUT")
[ -z "$pid" ] || { track "$pid"; kill -TERM "$pid"; }
[ $rc -ne 0 ] || fail "hsm-sim kept its state in another user's directory: $OUT"
expect_contains "$OUT" "refusing to use it"

note "finding 5: a store of root's that others may enter is refused too; 0700 is required"
mkdir -m 755 "$T/open-keys"
set +e
OUT=$("$BIN/ikey" -store "$T/open-keys" list 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || fail "ikey used a store of mode 0755: $OUT"
expect_contains "$OUT" "chmod 700"
chmod 700 "$T/open-keys"
expect_exit 0 "$BIN/ikey" -store "$T/open-keys" list

note "finding 7: logs are created 0600, whatever the umask"
umask 022
printf 'ServerPort = 0;\nAdminPort = 0;\n' >"$T/L.conf"
expect_exit 0 "$BIN/pedserver" -mode start -configfile "$T/L.conf" -logfile "$T/pedserver.log"
track "$(cat "$XDG_RUNTIME_DIR/openped/pedserver.pid")"
mode=$(stat -c %a "$T/pedserver.log")
"$BIN/pedserver" -mode stop -configfile "$T/L.conf" >/dev/null
[ "$mode" = 600 ] || fail "pedserver's log was created mode $mode"
printf 'AdminPort = 0;\nListenPort = -1;\n' >"$T/C.conf"
expect_exit 0 "$BIN/pedclient" -mode start -configfile "$T/C.conf" -logfilename "$T/pedclient.log"
track "$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")"
mode=$(stat -c %a "$T/pedclient.log")
"$BIN/pedclient" -mode stop -configfile "$T/C.conf" >/dev/null
[ "$mode" = 600 ] || fail "pedclient's log was created mode $mode"
note "a log an older version left 0644 is made 0600 at the next start"
chmod 644 "$T/pedserver.log"
expect_exit 0 "$BIN/pedserver" -mode start -configfile "$T/L.conf" -logfile "$T/pedserver.log"
track "$(cat "$XDG_RUNTIME_DIR/openped/pedserver.pid")"
mode=$(stat -c %a "$T/pedserver.log")
"$BIN/pedserver" -mode stop -configfile "$T/L.conf" >/dev/null
[ "$mode" = 600 ] || fail "pedserver's old log is still mode $mode"
note "a log name that is another user's link is refused"
as_other ln -s "$VICTIM" "$T/other/pedserver.log"
set +e
OUT=$("$BIN/pedserver" -mode start -configfile "$T/L.conf" -logfile "$T/other/pedserver.log" 2>&1)
rc=$?
set -e
pid=$(cat "$XDG_RUNTIME_DIR/openped/pedserver.pid" 2>/dev/null || true)
[ -z "$pid" ] || { track "$pid"; "$BIN/pedserver" -mode stop -configfile "$T/L.conf" >/dev/null || true; }
intact "pedserver -logfile LINK"
[ $rc -ne 0 ] || fail "pedserver logged through another user's link: $OUT"
echo "private files ok"
