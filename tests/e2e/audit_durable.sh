#!/bin/bash
# A record is acknowledged (by pedclient to the HSM, by the HSM to the
# command that made it) only once it is on disk: the record fsync'd, and a
# file made for it named in its directory on disk too. pedclient made each
# rotated log file, and hsm-sim its spool, without syncing the directory:
# a crash after the acknowledgement could take the new file, and with it
# acknowledged records, out of the directory. Traced with strace: each file
# made is followed, in the thread that made it and before it is used
# further, by an fsync of its directory.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
command -v strace >/dev/null || fail "strace is missing: make deps installs it"

auditor_keys "$T/a.policy"
LOGS="$XDG_DATA_HOME/openped/audit"
: >"$T/pedclient.conf"
# (LeakSanitizer cannot run under ptrace: off for the traced daemons under check-asan)
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
strace -f -y -qq -e trace=openat,fsync -o "$T/pedclient.trace" "$BIN/pedclient" -configfile "$T/pedclient.conf" \
	-mode start -foreground -admin 0 -listenip 127.0.0.1 -listenport 0 -logfilename "$T/pedclient.log" \
	>"$T/pedclient.out" 2>&1 &
track $!
wait_for 20 test -S "$XDG_RUNTIME_DIR/openped/pedclient.sock" || fail "pedclient did not start: $(cat "$T/pedclient.out")"
track "$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")"
strace -f -y -qq -e trace=openat,fsync -o "$T/hsm.trace" "$BIN/hsm-sim" -state "$T/state" -socket "$HSM_SOCK" \
	-pidfile "$T/hsm.pid" -logfile "$T/hsm.log" &
track $!
wait_for 20 test -S "$T/ped-$BACKUP_SERIAL.sock" || fail "hsm-sim did not start: $(cat "$T/hsm.log")"
track "$(cat "$T/hsm.pid")"
start_ped A $HSM_SERIAL "$T/a.policy"

cmds="hsm init -label main; role init -name au
role login -name au; audit config evmask all size 16k interval never"
for i in $(seq 1 120); do cmds="$cmds; audit logmsg -message filler number $i"; done
hsmcm -c "$cmds"
[ $RC -eq 0 ] || fail "setup: $OUT"
delivered() {
	hsmcm -c "role login -name au; audit status"
	W=$(awk -F': *' '/^[[:space:]]*Records written/{print $2}' <<<"$OUT")
	D=$(awk '/^[[:space:]]*Delivered/{print $NF}' <<<"$OUT")
	[ -n "$W" ] && [ "$D" -ge $((W - 1)) ]
}
wait_for 30 delivered || fail "records not delivered: $OUT"
files=("$LOGS"/hsm_${HSM_SERIAL}_*.log)
[ ${#files[@]} -ge 3 ] || fail "no rotation at 16k: ${files[*]}"

# synced_after_creating TRACE PREFIX SUFFIX DIR: each openat that made a
# file named PREFIX...SUFFIX (O_CREAT, and not failed) is followed in that
# thread by an fsync of DIR before the thread's next openat of such a file.
synced_after_creating() {
	awk -v pre="$2" -v suf="$3" -v dir="$4" '
	function ends(s) { return substr(s, 1, length(pre)) == pre && substr(s, length(s) - length(suf) + 1) == suf }
	{
		pid = $1
		if ($2 ~ /^openat\(/) {
			split($0, q, "\""); path = q[2]
			if (!ends(path)) next
			if (pending[pid]) { bad = bad " " pending[pid]; pending[pid] = "" }
			if ($0 ~ /O_CREAT/ && $0 !~ /= -1/) { pending[pid] = path; made++ }
		} else if ($2 ~ /^fsync\(/ && index($0, "<" dir ">") && pending[pid]) {
			pending[pid] = ""
		}
	}
	END {
		for (p in pending) if (pending[p]) bad = bad " " pending[p]
		if (!made) { print "no file made"; exit 1 }
		if (bad != "") { print "made, not synced to its directory:" bad; exit 1 }
		print made " made, each synced"
	}' "$1"
}
note "pedclient: each log file it made (${#files[@]}) named on disk before its records were acknowledged"
res=$(synced_after_creating "$T/pedclient.trace" "$LOGS/hsm_${HSM_SERIAL}_" .log "$LOGS") || fail "pedclient: $res"
echo "    $res"
n=$(awk '{print $1}' <<<"$res")
[ "$n" -ge ${#files[@]} ] || fail "pedclient made $n files by trace, ${#files[@]} are there"
note "hsm-sim: the spool it made named on disk before the command reported"
res=$(synced_after_creating "$T/hsm.trace" "$T/state/hsm-$HSM_SERIAL.auditq" .auditq "$T/state") || fail "hsm-sim: $res"
echo "    $res"

# stop_pedclient: the traced pedclient (and its strace) stop
stop_pedclient() {
	local pid
	pid=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")
	kill -TERM "$pid"
	wait_gone 20 "$pid" || fail "pedclient did not stop"
}
note "an fsync that fails acknowledges nothing it was to keep"
stop_pedclient
hsmcm -c "role login -name au; audit status"
D0=$(awk '/^[[:space:]]*Delivered/{print $NF}' <<<"$OUT")
# once it has started, every fsync of this pedclient fails: nothing it
# writes from now is known to be on disk
start_pedclient
PC=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")
strace -f -o "$T/inject.trace" -e trace=fsync -e inject=fsync:error=EIO -p "$PC" 2>"$T/strace.err" &
track $!
wait_for 20 grep -q "Process $PC attached" "$T/strace.err" || fail "strace did not attach: $(cat "$T/strace.err")"
hsmcm -c "role login -name au; audit logmsg -message while fsync fails"
[ $RC -eq 0 ] || fail "logmsg: $OUT"
# (the old code acknowledged them: they left the spool)
wait_for 30 eval 'grep -q "could not be synced" "$T/hsm.log" || ! grep -q "|while fsync fails|" "$T/state/hsm-$HSM_SERIAL.auditq"' ||
	fail "no delivery attempted: $(tail -n 5 "$T/hsm.log")"
hsmcm -c "role login -name au; audit status"
D=$(awk '/^[[:space:]]*Delivered/{print $NF}' <<<"$OUT")
[ "$D" = "$D0" ] || fail "records acknowledged while every fsync failed: delivered $D0, then $D"
expect_contains "$OUT" "could not be synced (Input/output error)"
! grep -q "|while fsync fails|" "$LOGS"/hsm_*.log || fail "the records not synced were left in the file"
stop_pedclient
start_pedclient
wait_for 30 delivered || fail "records not delivered after the failure: $OUT"
[ "$(cat "$LOGS"/hsm_*.log | grep -c "|while fsync fails|")" = 1 ] || fail "the record is not there exactly once"
hsmcm -c "role login -name au; audit verify -file $LOGS"
[ $RC -eq 0 ] || fail "verify after the failure: $OUT"

note "a FIFO in the log directory takes no record"
mkdir -m 700 "$T/logs2"
mkfifo -m 600 "$T/logs2/hsm_${HSM_SERIAL}_00000000000000000001.log"
hsmcm -c "role login -name au; audit config path $T/logs2; audit logmsg -message into a fifo"
[ $RC -eq 0 ] || fail "path: $OUT"
wait_for 30 eval 'grep -q "is not a regular file" "$T/hsm.log" || ! grep -q "|into a fifo|" "$T/state/hsm-$HSM_SERIAL.auditq"' ||
	fail "no delivery attempted: $(tail -n 5 "$T/hsm.log")"
hsmcm -c "role login -name au; audit status"
D=$(awk '/^[[:space:]]*Delivered/{print $NF}' <<<"$OUT")
n=$(grep "|into a fifo|" "$T/state/hsm-$HSM_SERIAL.auditq" | cut -d'|' -f1)
[ -n "$n" ] || fail "the record was acknowledged into a FIFO and left the spool (delivered up to $D)"
[ "$D" -lt "$n" ] || fail "record $n acknowledged into a FIFO (delivered up to $D)"
expect_contains "$OUT" "is not a regular file"
echo "audit durable ok"
