#!/bin/bash
# Issue #27 acceptance, keys end to end: real key pairs (made with libhsm by
# tests/tools/hsm_keys into a stopped hsm-sim's state, until the
# application protocol can make them through hsm-sim) are listed by
# partition contents with their class, key type and CKA_ID, backed up to
# the backup HSM (partition archive contents lists them) and restored to
# another partition of the same domain, where the restored private key
# signs and the signature verifies with the original public key (and the
# one made before verifies with the restored public key). A partition of
# another domain: refused with CKR_CERTIFICATE_INVALID, nothing restored.
# No state file, of the HSM or of the backup HSM, holds the raw bytes of a
# private or secret key.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so hdom po1 dom po2 po3 dom3 co1 co2 co3 bso bdom bpo bco
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no yes no
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[dom]} ${KEY[dom3]}
use "READING DOMAIN" ${KEY[dom]}
use "SETTING DOMAIN" ${KEY[dom]}
write "SETTING PO" ${KEY[po1]} ${KEY[po2]} ${KEY[po3]}
use "PO LOGIN" ${KEY[po1]} / ${KEY[po2]} / ${KEY[po3]}
write "SETTING CO" ${KEY[co1]} ${KEY[co2]} ${KEY[co3]}
use "CO LOGIN" ${KEY[co1]}
P
cat >"$T/b.policy" <<P
write "SETTING SO" ${KEY[bso]}
use "SO LOGIN" ${KEY[bso]}
reuse "SETTING DOMAIN" no yes
write "SETTING DOMAIN" ${KEY[bdom]}
use "READING DOMAIN" ${KEY[dom]}
use "SETTING DOMAIN" ${KEY[dom]}
write "SETTING PO" ${KEY[bpo]}
use "PO LOGIN" ${KEY[bpo]}
write "SETTING CO" ${KEY[bco]}
use "CO LOGIN" ${KEY[bco]}
P
# after the restart: the CO logins in the order the suite makes them, and
# the backup partition's domain is p1's (reused)
sed -e "s|^use \"CO LOGIN\".*|use \"CO LOGIN\" ${KEY[co1]} / ${KEY[co1]} / ${KEY[co3]} / ${KEY[co3]} / ${KEY[co2]} / ${KEY[co2]}|" \
	"$T/a.policy" >"$T/a2.policy"
sed -e 's|^reuse "SETTING DOMAIN".*|reuse "SETTING DOMAIN" yes|' "$T/b.policy" >"$T/b2.policy"
peds() {
	local suffix=${1#1}
	# round 1's PEDs would reattach to the restarted hsm-sim with round 1's
	# policy, racing round 2's for the link
	stop_ped A$(($1 - 1)) B$(($1 - 1))
	start_ped "A$1" $HSM_SERIAL "$T/a${suffix}.policy"
	start_ped "B$1" $BACKUP_SERIAL "$T/b${suffix}.policy"
	eval 'PEDS="$PED_A'"$1"'_PID $PED_B'"$1"'_PID"'
}
# The PEDs stop with hsm-sim: a PED left running attaches again to the next
# hsm-sim (as a PED left plugged in does), and when it is there before the
# new one, it answers the CO logins with the first policy's key: a flaky
# CKR_PIN_INCORRECT under load.
stop_hsm() {
	local p
	for p in $PEDS; do
		kill -TERM "$p"
		wait_gone 20 "$p" || fail "PED $p did not stop"
	done
	PEDS=
	kill -TERM "$HSM_PID"; wait_gone 20 "$HSM_PID" || fail "hsm-sim did not stop"
	rm -f "$T/ped-$BACKUP_SERIAL.sock"
}
start_hsm
peds 1
hsmcm -c "slot set -slot 20; hsm init -label bk; slot set -slot 0; hsm init -label main; role login -name so; partition create -label p1; partition create -label p2; partition create -label p3
slot set -slot 1; partition init -label p1; role login -name po; role init -name co
slot set -slot 2; partition init -label p2; role login -name po; role init -name co
slot set -slot 3; partition init -label p3; role login -name po; role init -name co"
[ $RC -eq 0 ] || fail "setup: $OUT"
stop_hsm

note "keys made in p1 (hsm-sim stopped)"
STATE="$T/state/hsm-$HSM_SERIAL.state"
mkdir -m 700 "$T/out"
"$TOOLS/hsm_keys" gen "$STATE" p1 "$T/out" || fail "hsm_keys gen"
[ "$(wc -l <"$T/out/secrets.hex")" = 5 ] || fail "secrets.hex"
"$TOOLS/hsm_keys" grep "$T/out/secrets.hex" "$STATE" || fail "a key is in the state file in clear"

start_hsm
peds 2
note "partition contents: class, key type, label, CKA_ID"
hsmcm -c "slot set -slot 1; role login -name co; partition contents"
[ $RC -eq 0 ] || fail "contents: $OUT"
expect_contains "$OUT" "Object Label: rsa  Handle: 1  Object Type: Public Key  Key Type: RSA  ID: 0102"
expect_contains "$OUT" "Object Label: rsa  Handle: 2  Object Type: Private Key  Key Type: RSA  ID: 0102"
expect_contains "$OUT" "Object Label: ec  Handle: 4  Object Type: Private Key  Key Type: EC  ID: (none)"
expect_contains "$OUT" "Object Label: aes  Handle: 5  Object Type: Symmetric Key  Key Type: AES"
expect_contains "$OUT" "Number of objects: 5"

note "backup to the backup HSM; its contents"
hsmcm -c "slot set -slot 1; role login -name co; partition archive backup -slot 20 -partition keys; partition archive contents -slot 20 -partition keys"
[ $RC -eq 0 ] || fail "backup: $OUT"
expect_contains "$OUT" "5 objects have been backed up to partition keys"
expect_contains "$OUT" "Backup partition keys on slot 20:"
grep -q "Object Label: rsa  Handle: [0-9]*  Object Type: Private Key  Key Type: RSA  ID: 0102" <<<"$OUT" ||
	fail "archive contents: $OUT"

note "another domain: refused, nothing restored"
hsmcm -c "slot set -slot 3; role login -name co; partition archive restore -slot 20 -partition keys"
[ $RC -ne 0 ] || fail "restore into another domain: $OUT"
expect_contains "$OUT" "Command Result : 0x80000141 (CKR_CERTIFICATE_INVALID)"
hsmcm -c "slot set -slot 3; role login -name co; partition contents"
expect_contains "$OUT" "Number of objects: 0"

note "restore into p2, of p1's domain"
hsmcm -c "slot set -slot 2; role login -name co; partition archive restore -slot 20 -partition keys; partition contents"
[ $RC -eq 0 ] || fail "restore: $OUT"
expect_contains "$OUT" "Restore Complete. 5 objects have been restored."
expect_contains "$OUT" "Object Type: Private Key  Key Type: RSA  ID: 0102"
stop_hsm

note "the restored private key signs; the original public key verifies"
"$TOOLS/hsm_keys" sign "$STATE" p2 "$T/out" || fail "the restored keys do not work"
note "no state file holds a key's raw bytes"
"$TOOLS/hsm_keys" grep "$T/out/secrets.hex" "$T"/state/*.state || fail "a key is in a state file in clear"
"$TOOLS/hsm_keys" count "$T/state/hsm-$BACKUP_SERIAL.state" >"$T/count"
grep -qx "keys 5" "$T/count" || fail "the backup: $(cat "$T/count")"
# only the PEDs of each hsm-sim's own run came to its PED ports
expect_not_contains "$(cat "$T/hsm.log")" "a PED is already attached; refusing"
echo "keys backed up and restored: ok"
