#!/bin/bash
# The delivery across a new chain: an HSM zeroized (its last record "audit
# end") and given a new Auditor, whose first record starts a chain from the
# genesis value, with pedclient down in between. When pedclient comes back
# it holds the "audit end" record; the HSM checks that record is its own
# before it believes the count, and the record after it, a chain start,
# links to no record: its PREV must not be taken for that record's MAC
# (the delivery would be refused for good).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

auditor_keys "$T/a.policy"
new_keys so2 dom2 au2
cat >"$T/b.policy" <<P
write "SETTING SO" ${KEY[so2]}
use "SO LOGIN" ${KEY[so2]}
write "SETTING DOMAIN" ${KEY[dom2]}
write "SETTING AU" ${KEY[au2]}
use "AU LOGIN" ${KEY[au2]}
P
LOGS="$XDG_DATA_HOME/openped/audit"
SPOOL="$T/state/hsm-$HSM_SERIAL.auditq"
start_pedclient
start_hsm
start_ped A $HSM_SERIAL "$T/a.policy"
stop_pedclient() {
	local pid
	pid=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")
	kill -TERM "$pid"
	wait_gone 20 "$pid" || fail "pedclient did not stop"
}
spool_empty() { [ ! -s "$SPOOL" ]; }

hsmcm -c "hsm init -label a; role init -name au
role login -name au; audit config evmask all; audit logmsg -message before the zeroization"
[ $RC -eq 0 ] || fail "setup: $OUT"
wait_for 30 spool_empty || fail "records not delivered: $(cat "$SPOOL")"

note "zeroized: its last record delivered"
hsmcm -c "hsm zeroize -force"
[ $RC -eq 0 ] || fail "zeroize: $OUT"
wait_for 30 spool_empty || fail "the audit end record was not delivered: $(cat "$SPOOL")"
END=$(grep -h "|audit end|" "$LOGS"/hsm_*.log | cut -d'|' -f1)
[ -n "$END" ] || fail "no audit end record in the log"

note "pedclient down; a new Auditor starts a new chain; pedclient back"
stop_pedclient
stop_ped A
rm -f "$T/A.events"
start_ped A $HSM_SERIAL "$T/b.policy"
hsmcm -c "hsm init -label b; role init -name au
role login -name au; audit config evmask all; audit logmsg -message after the zeroization"
[ $RC -eq 0 ] || fail "the new Auditor: $OUT"
grep -q "|after the zeroization|" "$SPOOL" || fail "the record is not in the spool"
start_pedclient
wait_for 30 spool_empty || fail "the new chain was not delivered: $(tail -n 5 "$T/hsm.log")"
! grep -q "pedclient refuses\|is not this HSM's" "$T/hsm.log" || fail "the delivery was refused: $(grep refuses "$T/hsm.log")"
n=$(grep -h "|audit init|" "$LOGS"/hsm_*.log | tail -n 1 | cut -d'|' -f1)
[ "$n" = $((END + 1)) ] || fail "the new chain starts at $n, after $END"
hsmcm -c "role login -name au; audit status"
expect_not_contains "$OUT" "Last delivery"
echo "audit chain restart ok"
