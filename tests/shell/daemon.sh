#!/bin/bash
# The shared daemon plumbing, end to end, through tests/tools/testd:
# background start on port 0, readiness, PID file, one instance per PID file,
# answers, SIGTERM stop within a second with the PID file gone; foreground too.
. "$(dirname "$0")/../lib.sh"
TESTD=$TOOLS/testd

note "background start on an ephemeral port"
expect_exit 0 "${RUN[@]}" "$TESTD" -port 0 -pidfile "$T/testd.pid" -portfile "$T/port"
expect_contains "$OUT" "testd: started, pid"
# start returned only once the child was ready: port and pid files exist now
[ -s "$T/port" ] || fail "port file missing after start returned"
[ -s "$T/testd.pid" ] || fail "PID file missing after start returned"
port=$(cat "$T/port"); pid=$(cat "$T/testd.pid")
track "$pid"
[ "$port" -gt 0 ] || fail "bound port not reported: '$port'"
alive "$pid" || fail "daemon $pid not running"

note "it answers on port $port"
expect_exit 0 "$TESTD" -client "$port" ping
expect_eq "$OUT" "pong"
expect_exit 0 "$TESTD" -client "$port" hello
expect_eq "$OUT" "hello"

note "a second instance with the same PID file is refused"
expect_exit 1 "$TESTD" -port 0 -pidfile "$T/testd.pid"
expect_contains "$OUT" "already running as pid $pid"
expect_contains "$OUT" "PED_E_PIDFILE"

note "a port in use is reported by the starting command"
expect_exit 1 "$TESTD" -port "$port"
expect_contains "$OUT" "RC_SOCKET_ERROR"
expect_contains "$OUT" "cannot listen on 127.0.0.1:$port"

note "SIGTERM stops it and removes the PID file"
start=$EPOCHREALTIME
kill -TERM "$pid"
# a bound, not a speed target (make bench times things): it stops, and soon
wait_gone 10 "$pid" || fail "daemon still running 10 s after SIGTERM"
wait_for 5 test ! -e "$T/testd.pid" || fail "PID file left behind"
note "stopped in $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.3f", b-a}') s"

note "a stale PID file (dead process) is taken over"
echo 999999 >"$T/stale.pid"
expect_exit 0 "$TESTD" -port 0 -pidfile "$T/stale.pid" -portfile "$T/port2"
pid2=$(cat "$T/stale.pid"); track "$pid2"
[ "$pid2" != 999999 ] || fail "stale PID file not replaced"
kill -TERM "$pid2"; wait_for 2 test ! -e "$T/stale.pid" || fail "stale-case PID file left"

note "foreground mode"
"${RUN[@]}" "$TESTD" -foreground -port 0 -pidfile "$T/fg.pid" -portfile "$T/port3" 2>"$T/fg.log" &
fg=$!; track "$fg"
wait_for 5 test -s "$T/port3" || fail "foreground daemon did not come up"
expect_exit 0 "$TESTD" -client "$(cat "$T/port3")" ping
expect_eq "$OUT" "pong"
expect_eq "$(cat "$T/fg.pid")" "$fg"
kill -TERM "$fg"; wait "$fg"; rc=$?
expect_eq "$rc" 0 "foreground exit status"
[ ! -e "$T/fg.pid" ] || fail "foreground PID file left"
grep -q "INFO main: listening on 127.0.0.1" "$T/fg.log" || fail "no log line in foreground stderr"
echo "daemon plumbing ok"
