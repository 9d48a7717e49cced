#!/bin/bash
# object create's -value is the object itself: hsmcm keeps it out of its
# history (docs/security.md, finding 6), but the audit record of the
# command carried it ("object create|-label k -value SECRET"), in the
# HSM's spool and in the log files pedclient keeps on its host for the
# Auditor. The record names the object by its label, never its value;
# docs/audit.md: options that carry secrets are never recorded.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so dom au po pdom co
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${KEY[dom]} ${KEY[pdom]}
write "SETTING AU" ${KEY[au]}
use "AU LOGIN" ${KEY[au]}
write "SETTING PO" ${KEY[po]}
use "PO LOGIN" ${KEY[po]}
write "SETTING CO" ${KEY[co]}
use "CO LOGIN" ${KEY[co]}
P
start_hsm
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label main; role init -name au; role login -name au; audit config evmask all"
[ $RC -eq 0 ] || fail "audit setup: $OUT"
hsmcm -c "role login -name so; partition create -label p1; slot set -slot 1; partition init -label p1; role login -name po; role init -name co; role login -name co; object create -label k1 -value CANARYVALUE1; obj create -label k2 -value CANARYVALUE2"
[ $RC -eq 0 ] || fail "setup: $OUT"

spool="$T/state/hsm-$HSM_SERIAL.auditq"
grep -q "object create|-label k1|" "$spool" || fail "no record of object create k1: $(cat "$spool")"
grep -q "|-label k2|" "$spool" || fail "no record of obj create k2: $(cat "$spool")"
! grep -q CANARYVALUE "$spool" || fail "an object's value is in the audit log: $(grep CANARYVALUE "$spool")"
echo "audit records no object value: ok"
