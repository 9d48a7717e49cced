#!/bin/bash
# pedclient as the HSM's logging daemon (issue 29): hsm-sim hands its audit
# records to pedclient, which writes them under the log directory the
# Auditor configured (audit config path), rotating by size. pedclient
# killed in the middle of a busy run and started again: the records waited
# in the HSM's spool and the log holds every one exactly once, in order,
# and audit verify passes on the files pedclient wrote.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

auditor_keys "$T/a.policy"
LOGS="$T/auditlogs"
start_pedclient
start_hsm
start_ped A $HSM_SERIAL "$T/a.policy"

# as an operator at hsmcm's prompt: record 1 (the Auditor's log secret set)
# reaches pedclient, in its own directory, before the Auditor sets the path
hsmcm -c "hsm init -label main; role init -name au"
[ $RC -eq 0 ] || fail "setup: $OUT"
wait_for 20 test -s "$XDG_DATA_HOME/openped/audit/hsm_${HSM_SERIAL}_00000000000000000001.log" ||
	fail "record 1 was not delivered to pedclient's own directory"
hsmcm -c "role login -name au; audit config evmask all path $LOGS size 16k interval never"
[ $RC -eq 0 ] || fail "setup: $OUT"
# Every record but the one the asking login itself made (it is written
# just before audit status reads the numbers) is on pedclient's disk.
delivered_all() {
	hsmcm -c "role login -name au; audit status"
	W=$(awk -F': *' '/^[[:space:]]*Records written/{print $2}' <<<"$OUT")
	local d
	d=$(awk '/^[[:space:]]*Delivered/{print $NF}' <<<"$OUT")
	[ -n "$W" ] && [ "$d" -ge $((W - 1)) ]
}
wait_for 20 delivered_all || fail "records not delivered: $OUT"
ls "$LOGS"/hsm_${HSM_SERIAL}_*.log >/dev/null || fail "no log file in $LOGS"

note "a busy run; pedclient killed in the middle of it, then started again"
(
	for i in $(seq 1 12); do
		"$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name au; audit logmsg -message batch $i one; audit logmsg -message batch $i two; audit logmsg -message batch $i three" >>"$T/busy.out" 2>&1
	done
	echo done >"$T/busy.done"
) &
BUSY=$!
wait_for 20 grep -q "batch 3 " "$LOGS"/hsm_* || fail "the busy run's records did not arrive"
kill -KILL "$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")"
rm -f "$XDG_RUNTIME_DIR/openped/pedclient.pid"
wait_for 30 test -e "$T/busy.done" || fail "the busy run did not finish"
wait "$BUSY"
! grep -q "Command Result : 0x" "$T/busy.out" || fail "a command failed while pedclient was down: $(grep -B3 'Command Result : 0x' "$T/busy.out")"
hsmcm -c "role login -name au; audit status"
expect_contains "$OUT" "pedclient          : not connected"
start_pedclient
wait_for 30 delivered_all || fail "records not delivered after the restart: $OUT"

note "every record exactly once, in order, across the rotated files"
# record 1 (the Auditor's log secret set) came before audit config path:
# it is in pedclient's own log directory
DEFAULT_LOGS="$XDG_DATA_HOME/openped/audit"
shopt -s nullglob
cat "$DEFAULT_LOGS"/hsm_${HSM_SERIAL}_*.log "$LOGS"/hsm_${HSM_SERIAL}_*.log | cut -d'|' -f1 >"$T/seqs"
n=$(tail -n 1 "$T/seqs")
[ "$n" -ge $((W - 1)) ] || fail "the log ends at $n; the HSM wrote $W"
seq 1 "$n" | cmp -s - "$T/seqs" || fail "records lost, repeated or out of order: $(seq 1 "$n" | diff - "$T/seqs" | head)"
[ "$(ls "$LOGS"/hsm_${HSM_SERIAL}_*.log | wc -l)" -ge 2 ] || fail "no rotation at 16k"
for i in $(seq 1 12); do
	[ "$(cat "$LOGS"/hsm_* | grep -c "|batch $i one|")" = 1 ] || fail "batch $i one is not there exactly once"
done

note "audit verify on the files pedclient wrote, and on one of them"
# the whole log: the first records may be in pedclient's own directory
# (above), and a log that does not start with its first record is refused
# The copy is made once the verifying session's own login record is on
# pedclient's disk (the spool empty): a record delivered after the copy
# would rightly be missing from it ("the HSM handed records up to N").
mkdir "$T/whole"
session_open
session_run "role login -name au"
wait_for 20 eval '[ ! -s "$T/state/hsm-$HSM_SERIAL.auditq" ]' || fail "the login record was not delivered"
cp "$DEFAULT_LOGS"/hsm_${HSM_SERIAL}_*.log "$LOGS"/hsm_${HSM_SERIAL}_*.log "$T/whole"
session_run "audit verify -file $T/whole"
session_close
expect_not_contains "$OUT" "Command Result : 0x" "verify"
expect_contains "$OUT" "Verified messages "
expect_contains "$OUT" "audit logmsg: batch 12 three"
# the operator guide (section 17): the configured directory alone, its
# first record not the log's, fails as it says
hsmcm -c "role login -name au; audit verify -file $LOGS"
[ $RC -ne 0 ] || fail "the configured directory verified without the log's first record: $OUT"
expect_contains "$OUT" "Verify failed on record 2 "
expect_contains "$OUT" "record 2: is not the first record of the log"
expect_contains "$OUT" "the records before an audit config path are where pedclient wrote before it"
f=$(ls "$LOGS"/hsm_${HSM_SERIAL}_*.log | sed -n 2p)
hsmcm -c "role login -name au; audit verify -file $f"
[ $RC -eq 0 ] || fail "verify of $f: $OUT"
expect_contains "$OUT" "Linked to record "
echo "pedclient logging daemon ok"
