#!/bin/bash
# Issue 29's first acceptance, end to end: after a ceremony (hsm init,
# partition init, role logins, a key generated and used through the
# PKCS#11 module) audit verify passes on the files pedclient wrote and
# lists each event; pedtool audit-verify agrees with the exported secret.
#
# The log needs an Auditor, and an Auditor an initialized HSM: the HSM is
# initialized, the Auditor made (nobody logged in: no other role may make
# it) and the log turned on; then the ceremony, the HSM initialized again
# first, is logged in full. The Auditor and its log survive that hsm init
# (docs/audit.md): nobody makes the Auditor again.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pkcs11_lib.sh"
set -e
command -v pkcs11-tool >/dev/null || skip "pkcs11-tool (opensc) is not installed: make deps"

p11_start
new_keys au
# The second hsm init reuses the keysets of the first: the same blue and
# red keys.
cat >"$T/L.policy" <<P
reuse "SETTING SO" no yes
write "SETTING SO" ${KEY[so]}
use "SETTING SO" ${KEY[so]}
reuse "SETTING DOMAIN" no yes no
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[pdom]}
use "SETTING DOMAIN" ${KEY[hdom]}
write "SETTING AU" ${KEY[au]}
write "SETTING PO" ${KEY[po]}
write "SETTING CO" ${KEY[co]}
use "SO LOGIN" ${KEY[so]}
use "AU LOGIN" ${KEY[au]}
use "PO LOGIN" ${KEY[po]}
use "CO LOGIN" ${KEY[co]}
P
LOGS="$XDG_DATA_HOME/openped/audit"
start_pedclient
start_ped L $HSM_SERIAL "$T/L.policy"

note "the Auditor and the log, on an HSM initialized for them"
hsmcm -c "hsm init -label first; role init -name au
role login -name au; audit config evmask all; audit export -file $T/log.lws -password twelvechars1; role logout"
[ $RC -eq 0 ] || fail "the Auditor: $OUT"

note "the ceremony: hsm init again, partition init, role logins, a key made and used through the module"
hsmcm -c "role login -name so; hsm init -label p11 -force"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "Audit Role Initialized -> Yes"
hsmcm -c "role login -name so; partition create -label $TOKEN; slot set -slot 1; partition init -label $TOKEN
role login -name po; role init -name co"
[ $RC -eq 0 ] || fail "the ceremony: $OUT"
client pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --keypairgen --key-type EC:prime256v1 \
	--usage-sign --label sk --id 21 >"$T/gen.out" 2>&1 || fail "keypairgen: $(cat "$T/gen.out")"
head -c 32 /dev/urandom >"$T/hash"
client pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --sign --id 21 -m ECDSA \
	--input-file "$T/hash" --output-file "$T/sig" >"$T/sign.out" 2>&1 || fail "sign: $(cat "$T/sign.out")"
[ -s "$T/sig" ] || fail "no signature"

note "pedclient holds every record; audit verify passes on its files and lists each event"
# every record but the one the asking login makes (written just before
# audit status reads the numbers) is on pedclient's disk
delivered_all() {
	hsmcm -c "role login -name au; audit status"
	local w d
	w=$(awk -F': *' '/^[[:space:]]*Records written/{print $2}' <<<"$OUT")
	d=$(awk '/^[[:space:]]*Delivered/{print $NF}' <<<"$OUT")
	[ -n "$w" ] && [ "$d" -ge $((w - 1)) ]
}
wait_for 30 delivered_all || fail "records not delivered: $OUT"
cat "$LOGS"/hsm_${HSM_SERIAL}_*.log >"$T/before"
hsmcm -c "role login -name au; audit verify -file $LOGS"
[ $RC -eq 0 ] || fail "audit verify: $OUT"
expect_contains "$OUT" "Verified messages 1 to "
expect_contains "$OUT" "The log reaches record "
# the Auditor's login for it adds records after; what was there is unchanged
cat "$LOGS"/hsm_${HSM_SERIAL}_*.log >"$T/after"
cmp -s -n "$(wc -c <"$T/before")" "$T/before" "$T/after" || fail "verify changed the files"
for want in \
	"logmanage success  au  slot - object 0  audit init: the Auditor's log secret is set" \
	"manage    success  so  slot 0 object 0  hsm init: -label p11" \
	"logmanage success  au  slot - object 0  audit config: evmask access,manage,keymanage,usage,first,external,logmanage,success,failure" \
	"access    success  so  slot 0 object 0  role login: -name so" \
	"manage    success  so  slot 0 object 0  partition create: -label $TOKEN" \
	"manage    success  so  slot 1 object 0  partition init: -label $TOKEN" \
	"access    success  po  slot 1 object 0  role login: -name po" \
	"manage    success  co  slot 1 object 0  role init: -name co" \
	"access    success  app slot 1 object 0  Login: application" \
	"keymanage success  app slot 1 object " \
	"first     success  app slot 1 object " \
	"usage     success  app slot 1 object "; do
	expect_contains "$OUT" "$want" "audit verify's listing"
done
grep -q "keymanage success  app slot 1 object [1-9][0-9]*  GenerateKeyPair: application" <<<"$OUT" ||
	fail "no key generation record: $OUT"
grep -q "first     success  app slot 1 object [1-9][0-9]*  SignInit: first use of object" <<<"$OUT" ||
	fail "no first use record: $OUT"
grep -q "usage     success  app slot 1 object [1-9][0-9]*  SignInit: object" <<<"$OUT" ||
	fail "no key use record: $OUT"
# each event once where it happened once
[ "$(grep -c 'hsm init: -label p11' <<<"$OUT")" = 1 ] || fail "hsm init listed more than once"
[ "$(grep -c 'GenerateKeyPair' <<<"$OUT")" = 1 ] || fail "the key generation listed more than once"
# one Auditor, one chain, across the re-initialization
[ "$(grep -c 'audit init:' <<<"$OUT")" = 1 ] || fail "the Auditor was made more than once: $OUT"
[ "$(grep -c 'audit config: evmask' <<<"$OUT")" = 1 ] || fail "the log was turned on more than once: $OUT"
! grep -q "audit end" <<<"$OUT" || fail "hsm init ended the log: $OUT"

note "pedtool audit-verify with the exported secret agrees, to the HSM's last record"
hsmcm -c "role login -name au; audit status"
last=$(awk '/^[[:space:]]*Delivered/{print $NF}' <<<"$OUT")
expect_exit 0 "$BIN/pedtool" audit-verify -lws "$T/log.lws" -password twelvechars1 -file "$LOGS" -last "$last"
expect_contains "$OUT" "SignInit: object"
expect_contains "$OUT" "hsm init: -label p11"
echo "audit after a ceremony ok"
