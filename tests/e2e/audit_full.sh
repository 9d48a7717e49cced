#!/bin/bash
# A full audit spool (issue 29): with pedclient down, the HSM keeps its
# records up to audit_spool_max; then it refuses what it would have to log
# (CKR_DEVICE_MEMORY) rather than lose a record, still runs reads and the
# Auditor's commands, and runs again once pedclient has taken the records.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

auditor_keys "$T/a.policy"
sed 's/^audit_spool_max = .*/audit_spool_max = 65536;/' "$PED_SRCDIR/conf/hsm-sim.conf" >"$T/hsm-sim.conf"
grep -q '^audit_spool_max = 65536;' "$T/hsm-sim.conf" || fail "conf/hsm-sim.conf has no audit_spool_max"
start_hsm -configfile "$T/hsm-sim.conf"
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label main; role init -name au
role login -name au; audit config evmask all"
[ $RC -eq 0 ] || fail "setup: $OUT"

note "no pedclient: records wait in the spool until it is full"
cmds="role login -name au"
for i in $(seq 1 240); do cmds="$cmds; audit logmsg -message filler $i"; done
hsmcm -c "$cmds"
expect_contains "$OUT" "CKR_DEVICE_MEMORY"
hsmcm -c "role login -name au; audit status"
expect_contains "$OUT" "HSM Logging Status : FULL"
kept=$(grep -c . "$T/state/hsm-$HSM_SERIAL.auditq")

note "full: what would be logged is refused, reads still run"
hsmcm -c "role login -name so; partition create -label p1"
expect_contains "$OUT" "the HSM's audit log is full"
hsmcm -c "hsm showinfo"
[ $RC -eq 0 ] || fail "a read refused: $OUT"
[ "$(grep -c . "$T/state/hsm-$HSM_SERIAL.auditq")" -le "$kept" ] || fail "the spool grew past full"

note "pedclient takes the records: the HSM works again, and nothing was lost"
start_pedclient
# drained: pedclient holds every record written before this check. The
# check's own Auditor login is a record too, which the HSM may not have
# handed over yet when audit status runs: asking for 0 waiting lost that
# race on most tries, and passed only when delivery happened to win it.
drained() {
	hsmcm -c "role login -name au; audit status"
	local written delivered
	written=$(sed -n 's/^[[:space:]]*Records written *: \([0-9]*\).*/\1/p' <<<"$OUT")
	delivered=$(sed -n 's/^[[:space:]]*Delivered *: up to record \([0-9]*\).*/\1/p' <<<"$OUT")
	[ -n "$written" ] && [ -n "$delivered" ] && [ "$delivered" -ge $((written - 1)) ]
}
wait_for 30 drained || fail "the spool did not drain: $OUT"
hsmcm -c "role login -name so; partition create -label p1"
[ $RC -eq 0 ] || fail "after draining: $OUT"
wait_for 30 drained || fail "the spool did not drain: $OUT"
hsmcm -c "role login -name au; audit verify -file $XDG_DATA_HOME/openped/audit"
[ $RC -eq 0 ] || fail "verify: $OUT"
expect_contains "$OUT" "Verified messages 1 to "
expect_contains "$OUT" "partition create: -label p1"
echo "full audit spool ok"
