#!/bin/bash
# Partition policy templates (chapter 6, issue #27): partition showpolicies
# -exporttemplate FILE writes the policies in the reference's format (the
# file on hsmcm's side, as lunacm writes it), partition init -applytemplate
# FILE initializes a partition with a template's values and destructive
# directions; a template with policies 0 and 1 both on, policy 1 not
# destructive OFF-to-ON, a bad line or a policy this HSM has not is refused
# and the partition stays uninitialized; an initialized partition takes no
# template.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so hdom po1 dom po2 co1
start_hsm
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no yes
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[dom]}
use "READING DOMAIN" ${KEY[dom]}
use "SETTING DOMAIN" ${KEY[dom]}
write "SETTING PO" ${KEY[po1]} ${KEY[po2]}
use "PO LOGIN" ${KEY[po1]}
write "SETTING CO" ${KEY[co1]}
use "CO LOGIN" ${KEY[co1]}
P
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label ppt; role login -name so; partition create -label p1; partition create -label p2"
[ $RC -eq 0 ] || fail "setup: $OUT"

note "a template of an uninitialized partition: the defaults, the source blank"
hsmcm -c "slot set -slot 1; partition showpolicies -exporttemplate $T/default.ppt"
[ $RC -eq 0 ] || fail "export: $OUT"
expect_contains "$OUT" "Partition policies for Partition: p1 written to $T/default.ppt"
[ "$(stat -c %a "$T/default.ppt")" = 600 ] || fail "the template is mode $(stat -c %a "$T/default.ppt")"
head -n 4 "$T/default.ppt" >"$T/head"
cat >"$T/want" <<H
# Policy template FW Version $(sed -n 's/^PED_VERSION *:\?= *//p' "$PED_SRCDIR/Makefile" | head -n 1)
# Field format - Policy ID:Policy Description:Policy Value:Off to on destructive:On to off destructive
# Sourced from partition: 

H
# the version is the build's: compare the fixed lines only
[ "$(sed -n 2,4p "$T/head")" = "$(sed -n 2,4p "$T/want")" ] || fail "header: $(cat "$T/head")"
grep -q '^# Policy template FW Version ' "$T/head" || fail "header: $(cat "$T/head")"
grep -qx '0:"Allow private key cloning":1:1:0' "$T/default.ppt" || fail "policy 0: $(cat "$T/default.ppt")"
grep -qx '1:"Allow private key wrapping":0:1:0' "$T/default.ppt" || fail "policy 1"
grep -qx '2:"Allow private key unwrapping":1:0:0' "$T/default.ppt" || fail "policy 2"
grep -qx '25:"Minimum pin length (inverted 255 - min)":247:0:0' "$T/default.ppt" || fail "policy 25"
grep -qx '39:"Allow Start/End Date Attributes":0:0:1' "$T/default.ppt" || fail "policy 39"
[ "$(grep -c '^[0-9]*:"' "$T/default.ppt")" = 25 ] || fail "not 25 policies: $(cat "$T/default.ppt")"

note "refused templates: nothing initialized, no key asked for"
sed -e 's/^1:"Allow private key wrapping":0:1:0/1:"Allow private key wrapping":1:1:0/' "$T/default.ppt" >"$T/both.ppt"
hsmcm -c "slot set -slot 1; partition init -label p1 -applytemplate $T/both.ppt"
[ $RC -ne 0 ] || fail "0 and 1 both on: $OUT"
expect_contains "$OUT" "policies 0 (Allow private key cloning) and 1 (Allow private key wrapping) may not both be 1"
expect_not_contains "$OUT" "Please attend to the PED"
sed -e 's/^1:"Allow private key wrapping":0:1:0/1:"Allow private key wrapping":0:0:0/' "$T/default.ppt" >"$T/one.ppt"
hsmcm -c "slot set -slot 1; partition init -label p1 -applytemplate $T/one.ppt"
[ $RC -ne 0 ] || fail "policy 1 not destructive: $OUT"
expect_contains "$OUT" "policy 1 (Allow private key wrapping) must be destructive Off to on (1)"
printf '0:"Allow private key cloning":1:1:0\n3:"Allow private key masking":0:1:0\n' >"$T/three.ppt"
hsmcm -c "slot set -slot 1; partition init -label p1 -applytemplate $T/three.ppt"
[ $RC -ne 0 ] || fail "policy 3: $OUT"
expect_contains "$OUT" "line 2: policy 3 is not a policy of this HSM's partitions"
printf '# comment\n\n43:"Allow non-FIPS Algorithms":1:1:0]\n' >"$T/typo.ppt"
hsmcm -c "slot set -slot 1; partition init -label p1 -applytemplate $T/typo.ppt"
[ $RC -ne 0 ] || fail "a trailing ]: $OUT"
expect_contains "$OUT" "line 3: "
hsmcm -c "slot set -slot 1; partition init -label p1 -applytemplate $T/none.ppt"
[ $RC -ne 0 ] || fail "no such file: $OUT"
expect_contains "$OUT" "cannot read the policy template"
hsmcm -c "slot set -slot 1; partition showinfo"
expect_contains "$OUT" "Partition Status -> Not initialized"

note "key export mode by template, with directions of our own"
sed -e 's/^0:"Allow private key cloning":1:1:0/0:"Allow private key cloning":0:1:0/' \
    -e 's/^1:"Allow private key wrapping":0:1:0/1:"Allow private key wrapping":1:1:0/' \
    -e 's/^43:"Allow non-FIPS algorithms":1:1:0/43:"Allow non-FIPS algorithms":0:0:0/' \
    -e 's/^17:\(.*\):1:0:0/17:\1:1:0:1/' \
    -e '/^20:/d' "$T/default.ppt" >"$T/export.ppt"
echo '20:"Max failed user logins allowed":5:0:0' >>"$T/export.ppt"
hsmcm -c "slot set -slot 1; partition init -label p1 -applytemplate $T/export.ppt; partition showpolicies -verbose"
[ $RC -eq 0 ] || fail "init with a template: $OUT"
expect_contains "$OUT" "0: Allow private key cloning : 0 : Destructive OFF-to-ON"
expect_contains "$OUT" "1: Allow private key wrapping : 1 : Destructive OFF-to-ON"
expect_contains "$OUT" "17: Allow signing with non-local keys : 1 : Destructive ON-to-OFF (default 1)"
expect_contains "$OUT" "20: Max failed user logins allowed : 5"
expect_contains "$OUT" "43: Allow non-FIPS algorithms : 0 : Not destructive (default 1)"

note "the template's directions act"
hsmcm -c "slot set -slot 1; role login -name po; role init -name co; role login -name co; object create -label k -value v"
[ $RC -eq 0 ] || fail "object: $OUT"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 43 -value 1"
[ $RC -eq 0 ] || fail "43 on, not destructive here: $OUT"
hsmcm -c "slot set -slot 1; role login -name co; partition contents"
expect_contains "$OUT" "Number of objects: 1"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 17 -value 0 -force"
expect_contains "$OUT" "All 1 objects of the partition were erased."

note "exported from an initialized partition and applied to another: the same policies"
hsmcm -c "slot set -slot 1; partition showpolicies -exporttemplate $T/p1.ppt"
grep -q "^# Sourced from partition: p1, SN: [0-9]" "$T/p1.ppt" || fail "source: $(head -n 3 "$T/p1.ppt")"
hsmcm -c "slot set -slot 2; partition init -label p2 -applytemplate $T/p1.ppt"
[ $RC -eq 0 ] || fail "p2: $OUT"
hsmcm -c "slot set -slot 1; partition showpolicies -verbose"
one=$(grep '^	[0-9]' <<<"$OUT")
hsmcm -c "slot set -slot 2; partition showpolicies -verbose"
two=$(grep '^	[0-9]' <<<"$OUT")
[ "$one" = "$two" ] || fail "p2 is not p1: $two"

note "an initialized partition takes no template"
hsmcm -c "slot set -slot 2; partition init -label p2 -applytemplate $T/default.ppt"
[ $RC -ne 0 ] || fail "a template on an initialized partition: $OUT"
expect_contains "$OUT" "not to an initialized partition"
echo "policy templates: ok"
