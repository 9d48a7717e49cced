#!/bin/bash
# pedclient's audit log directory fills up while an HSM hands it records.
# A full disk first takes part of a line (write() returns a short count and
# leaves errno alone) and pedclient logged whatever errno held before: "File
# exists", from the log directory's mkdir, not the cause. Now it names the
# full disk; the records wait in the HSM's spool meanwhile, neither pedclient
# nor hsm-sim spins retrying, and once there is room every record is in the
# log exactly once, in order, the torn line cut.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
MNT="$T/mnt"
small_disks 64k "$MNT"

auditor_keys "$T/a.policy"
LOGS="$MNT/logs"
start_pedclient
start_hsm
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label main; role init -name au
role login -name au; audit config evmask all path $LOGS size 1m interval never"
[ $RC -eq 0 ] || fail "setup: $OUT"
PC_PID=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")

note "the log directory fills up"
dd if=/dev/zero of="$MNT/fill" bs=1k 2>/dev/null || true
for i in 1 2 3 4 5; do
	hsmcm -c "role login -name au; audit logmsg -message batch $i one; audit logmsg -message batch $i two"
	[ $RC -eq 0 ] || fail "audited work was refused while pedclient's disk is full: $OUT"
done
wait_for 20 grep -q "ERROR auditlog_write: audit log of HSM $HSM_SERIAL: " "$T/pedclient.log" ||
	fail "pedclient did not report the failed write: $(tail -n 5 "$T/pedclient.log")"
grep "ERROR auditlog_write: audit log of HSM $HSM_SERIAL: " "$T/pedclient.log" | grep -qv "No space left on device" &&
	fail "pedclient gave another cause than the full disk: $(grep auditlog_write "$T/pedclient.log" | head -n 3)"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pc0=$(ticks "$PC_PID") h0=$(ticks "$HSM_PID")
sleep 2 # the measurement window: retries, not a spin
pc=$(($(ticks "$PC_PID") - pc0)) h=$(($(ticks "$HSM_PID") - h0))
[ "$pc" -le 20 ] && [ "$h" -le 20 ] || fail "retrying with a full disk took pedclient $pc, hsm-sim $h ticks in 2 s"

note "room again: every record once, in order"
rm -f "$MNT/fill"
delivered_all() {
	hsmcm -c "role login -name au; audit status"
	W=$(awk -F': *' '/^[[:space:]]*Records written/{print $2}' <<<"$OUT")
	local d
	d=$(awk '/^[[:space:]]*Delivered/{print $NF}' <<<"$OUT")
	[ -n "$W" ] && [ "$d" -ge $((W - 1)) ]
}
wait_for 30 delivered_all || fail "records not delivered once there was room: $OUT"
cut -d'|' -f1 "$LOGS"/hsm_${HSM_SERIAL}_*.log >"$T/seqs"
first=$(head -n 1 "$T/seqs") n=$(tail -n 1 "$T/seqs")
[ "$n" -ge $((W - 1)) ] || fail "the log ends at $n; the HSM wrote $W"
seq "$first" "$n" | cmp -s - "$T/seqs" || fail "records lost, repeated or out of order: $(seq "$first" "$n" | diff - "$T/seqs" | head)"
for i in 1 2 3 4 5; do
	[ "$(cat "$LOGS"/hsm_* | grep -c "|batch $i two|")" = 1 ] || fail "batch $i two is not there exactly once"
done
echo "audit disk full ok"
