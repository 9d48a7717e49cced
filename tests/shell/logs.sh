#!/bin/bash
# Issue #32, item 11: logs are never lost in silence. hsm-sim -daemon
# without -logfile logged to /dev/null, an unwritable log path started with
# status 0, -foreground ignored -logfile, and the units made a LogsDirectory=
# that nothing wrote. Now: a daemon in the background logs to a file (the
# one named, else NAME.log in the data directory); in the foreground (a
# terminal, a service manager's journal) to stderr unless a file is named;
# a log that cannot be opened stops the start with the reason.
. "$(dirname "$0")/../lib.sh"
set -e
export XDG_RUNTIME_DIR="$T/run" XDG_DATA_HOME="$T/data"
mkdir -m 700 "$T/run"
nolog="$T/missing-dir/x.log"

note "hsm-sim -daemon without -logfile: hsm-sim.log in the data directory, 0600"
expect_exit 0 "$BIN/hsm-sim" -daemon -state "$T/state" -socket "$T/run/h.sock"
pid=$(sed -n 's/^hsm-sim started (pid \([0-9]*\)).*/\1/p' <<<"$OUT")
[ -n "$pid" ] || fail "no pid in: $OUT"
track "$pid"
log="$XDG_DATA_HOME/openped/hsm-sim.log"
wait_for 10 grep -q "serving on $T/run/h.sock" "$log" || fail "hsm-sim -daemon logged nowhere: $(ls -la "$XDG_DATA_HOME/openped" 2>&1)"
expect_eq "$(stat -c %a "$log")" 600 "hsm-sim.log's mode"
expect_contains "$OUT" "log $log"
kill -TERM "$pid"
wait_gone 10 "$pid" || fail "hsm-sim did not stop"
grep -q "INFO main: stopped" "$log" || fail "no 'stopped' in the log"

note "hsm-sim in the foreground: stderr, or the file named"
"$BIN/hsm-sim" -state "$T/state" -socket "$T/run/h.sock" 2>"$T/fg.err" &
pid=$!
track "$pid"
wait_for 10 grep -q "serving on" "$T/fg.err" || fail "hsm-sim in the foreground logged nothing on stderr"
kill -TERM "$pid"
wait_gone 10 "$pid"

note "an unwritable log stops every start, with the reason"
for args in "" "-daemon"; do
	# shellcheck disable=SC2086
	expect_exit 1 "$BIN/hsm-sim" $args -state "$T/state" -socket "$T/run/h.sock" -logfile "$nolog"
	expect_contains "$OUT" "cannot write the log file $nolog"
	[ ! -S "$T/run/h.sock" ] || fail "hsm-sim $args served with an unwritable log"
done
: >"$T/ps.conf"
for fg in "" "-foreground"; do
	# shellcheck disable=SC2086
	expect_exit 1 "$BIN/pedserver" -mode start $fg -port 0 -admin 0 -configfile "$T/ps.conf" -logfile "$nolog"
	expect_contains "$OUT" "Cannot write the log file $nolog"
	expect_contains "$OUT" "Startup failed."
done
: >"$T/pc.conf"
expect_exit 1 "$BIN/pedclient" -mode start -foreground -admin 0 -listenport -1 -configfile "$T/pc.conf" \
	-logfilename "$nolog"
expect_contains "$OUT" "Cannot write the log file $nolog"
printf 'expect -timeout 5 "Local PED mode"\n' >"$T/p.script"
expect_exit 1 "$BIN/ped-device" -headless -script "$T/p.script" -control "$T/p.ctl" -logfile "$nolog"
expect_contains "$OUT" "cannot write the log file $nolog"

note "pedserver -foreground: the file named, else stderr"
"$BIN/pedserver" -mode start -foreground -port 0 -admin 0 -configfile "$T/ps.conf" -logfile "$T/ps.log" \
	>"$T/ps.out" 2>"$T/ps.err" &
pid=$!
track "$pid"
wait_for 10 grep -q "serving on" "$T/ps.log" || fail "-foreground ignored -logfile: stderr has $(cat "$T/ps.err")"
kill -TERM "$pid"
wait_gone 10 "$pid"
expect_not_contains "$(cat "$T/ps.err")" "serving on" "stderr with a log file"
"$BIN/pedserver" -mode start -foreground -port 0 -admin 0 -configfile "$T/ps.conf" >"$T/ps.out" 2>"$T/ps.err" &
pid=$!
track "$pid"
wait_for 10 grep -q "serving on" "$T/ps.err" || fail "-foreground without a log file logged nothing on stderr"
kill -TERM "$pid"
wait_gone 10 "$pid"
[ ! -e "$XDG_DATA_HOME/openped/pedserver.log" ] || fail "-foreground without LogFileName wrote pedserver.log"

note "pedclient -foreground -logfilename: the file"
"$BIN/pedclient" -mode start -foreground -admin 0 -listenport -1 -configfile "$T/pc.conf" \
	-logfilename "$T/pc.log" >"$T/pc.out" 2>&1 &
pid=$!
track "$pid"
wait_for 10 grep -q "INFO" "$T/pc.log" || fail "pedclient -foreground ignored -logfilename: $(cat "$T/pc.out")"
kill -TERM "$pid"
wait_gone 10 "$pid"

note "the units write to the journal: no LogsDirectory= that nothing writes"
for u in "$PED_SRCDIR"/conf/*.service; do
	! grep -q '^LogsDirectory=' "$u" || fail "$(basename "$u") makes a LogsDirectory= no program writes to"
done
echo "logs ok"
