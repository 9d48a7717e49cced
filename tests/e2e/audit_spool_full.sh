#!/bin/bash
# hsm-sim's audit spool (hsm-SERIAL.auditq, in the state directory) on a
# full disk. A full disk takes part of a record's line; hsm-sim reported the
# record not kept but left the fragment, so the next record, once there was
# room, finished that line: a line no one can read, a record acknowledged to
# the operator and never delivered, and pedclient refusing the gap at every
# try, for good (a restart did not help), until the spool filled and audited
# work was refused. Now the fragment is cut: every record kept is delivered,
# in order, and the log verifies.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e
MNT="$T/mnt"
small_disks 256k "$MNT"
mkdir -m 700 "$MNT/state" # a state directory must be private
ln -s "$MNT/state" "$T/state"

auditor_keys "$T/a.policy"
LOGS="$T/logs"
start_hsm
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label main; role init -name au
role login -name au; audit config evmask all path $LOGS size 1m interval never"
[ $RC -eq 0 ] || fail "setup: $OUT"

note "the state directory fills up under audited work"
dd if=/dev/zero of="$MNT/fill" bs=1k 2>/dev/null || true
session_open
session_run "role login -name au"
for i in $(seq 1 30); do
	session_run "audit logmsg -message full $i"
	grep -q "audit spool .*: No space left on device" "$T/hsm.log" && break
done
grep -q "audit spool .*: No space left on device" "$T/hsm.log" || fail "the spool never met the full disk"
rm -f "$MNT/fill"
for i in 1 2 3; do session_run "audit logmsg -message after $i"; done
session_close

note "pedclient takes every record kept"
start_pedclient
delivered_all() {
	hsmcm -c "role login -name au; audit status"
	W=$(awk -F': *' '/^[[:space:]]*Records written/{print $2}' <<<"$OUT")
	local d
	d=$(awk '/^[[:space:]]*Delivered/{print $NF}' <<<"$OUT")
	[ -n "$W" ] && [ "$d" -ge $((W - 1)) ]
}
wait_for 30 delivered_all || fail "records not delivered: $OUT $(grep -i 'gap' "$T/pedclient.log" | tail -n 2)"
! grep -q "refused (a gap)" "$T/pedclient.log" || fail "pedclient met a gap: $(grep 'gap' "$T/pedclient.log" | head -n 2)"
DEFAULT_LOGS="$XDG_DATA_HOME/openped/audit"
shopt -s nullglob
cat "$DEFAULT_LOGS"/hsm_${HSM_SERIAL}_*.log "$LOGS"/hsm_${HSM_SERIAL}_*.log | cut -d'|' -f1 >"$T/seqs"
n=$(tail -n 1 "$T/seqs")
seq 1 "$n" | cmp -s - "$T/seqs" || fail "records lost, repeated or out of order: $(seq 1 "$n" | diff - "$T/seqs" | head)"
for i in 1 2 3; do
	[ "$(cat "$DEFAULT_LOGS"/hsm_* "$LOGS"/hsm_* | grep -c "|after $i|")" = 1 ] || fail "'after $i' is not in the log exactly once"
done

note "and the log verifies"
mkdir "$T/whole"
rm -f "$T/session.fifo"
session_open
session_run "role login -name au"
wait_for 20 eval '[ ! -s "$T/state/hsm-$HSM_SERIAL.auditq" ]' || fail "the login record was not delivered"
cp "$DEFAULT_LOGS"/hsm_${HSM_SERIAL}_*.log "$LOGS"/hsm_${HSM_SERIAL}_*.log "$T/whole"
session_run "audit verify -file $T/whole"
session_close
expect_not_contains "$OUT" "Command Result : 0x" "verify"
expect_contains "$OUT" "audit logmsg: after 3"
echo "audit spool full ok"
