#!/bin/bash
# The partition policies that concern keys (issue #27; chapter 6's table):
# partition showpolicies lists every policy with its documented default
# (-verbose: which changes erase the objects); partition changepolicy
# applies them, erasing every object where the table's direction says so
# (confirmation or -force), never 0 and 1 on together; policy 28 off makes
# the objects read-only; HSM policy 7 is shown over 0 and 4. What the
# policies do to key operations is libhsm's, tested in test_keypolicy.c.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so hdom po pdom co
start_hsm
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[pdom]}
write "SETTING PO" ${KEY[po]}
use "PO LOGIN" ${KEY[po]}
write "SETTING CO" ${KEY[co]}
use "CO LOGIN" ${KEY[co]}
P
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label kp; role login -name so; partition create -label p1; slot set -slot 1; partition init -label p1; role login -name po; role init -name co"
[ $RC -eq 0 ] || fail "setup: $OUT"

note "every key policy of the table with its documented default"
hsmcm -c "slot set -slot 1; partition showpolicies"
[ $RC -eq 0 ] || fail "showpolicies: $OUT"
while IFS='|' read -r num name def; do
	expect_contains "$OUT" "$num: $name : $def"
done <<'L'
0|Allow private key cloning|1
1|Allow private key wrapping|0
2|Allow private key unwrapping|1
4|Allow secret key cloning|1
5|Allow secret key wrapping|1
6|Allow secret key unwrapping|1
9|Allow DigestKey|0
10|Allow multipurpose keys|1
11|Allow changing key attributes|1
15|Ignore failed challenge responses|1
16|Operate without RSA blinding|1
17|Allow signing with non-local keys|1
18|Allow raw RSA operations|1
20|Max failed user logins allowed|10
22|Allow activation|0
23|Allow auto-activation|0
25|Minimum pin length (inverted 255 - min)|247
26|Maximum pin length|255
28|Allow Key Management Functions|1
29|Perform RSA signing without confirmation|1
33|Allow RSA PKCS mechanism|1
34|Allow CBC-PAD (un)wrap keys of any size|1
39|Allow Start/End Date Attributes|0
43|Allow non-FIPS algorithms|1
45|Allow ECDSA/RSA Prehash SigVer|1
L
[ "$(grep -c '^	[0-9]*: .* : [0-9]*$' <<<"$OUT")" = 25 ] || fail "not 25 policies: $OUT"

note "-verbose: the destructive directions of the table"
hsmcm -c "slot set -slot 1; partition showpolicies -verbose"
expect_contains "$OUT" "0: Allow private key cloning : 1 : Destructive OFF-to-ON (default 1)"
expect_contains "$OUT" "2: Allow private key unwrapping : 1 : Not destructive (default 1)"
expect_contains "$OUT" "39: Allow Start/End Date Attributes : 0 : Destructive ON-to-OFF (default 0)"
expect_contains "$OUT" "45: Allow ECDSA/RSA Prehash SigVer : 1 : Not destructive (default 1)"

note "0 and 1 are never on together"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 1 -value 1"
[ $RC -ne 0 ] || fail "1 on with 0 on: $OUT"
expect_contains "$OUT" "may not be on at the same time"
expect_contains "$OUT" "Command Result : 0x1b (CKR_ACTION_PROHIBITED)"

# objects for a policy to erase: as the CO
mkobj() { hsmcm -c "slot set -slot 1; role login -name co; object create -label $1 -value v"; [ $RC -eq 0 ] || fail "object create $1: $OUT"; }
count() { hsmcm -c "slot set -slot 1; role login -name co; partition contents"; sed -n 's/.*Number of objects: \([0-9]*\).*/\1/p' <<<"$OUT"; }

note "key export mode: 0 off (ON-to-OFF keeps the objects), then 1 on (OFF-to-ON erases them, asked)"
mkobj a
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 0 -value 0"
[ $RC -eq 0 ] || fail "0 off: $OUT"
[ "$(count)" = 1 ] || fail "0 off erased the objects"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 1 -value 1"
[ $RC -ne 0 ] || fail "a destructive change without -force: $OUT"
expect_contains "$OUT" "CAUTION: turning on partition policy 1 erases all 1 objects of this partition."
[ "$(count)" = 1 ] || fail "the refused change erased the objects"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 1 -value 1 -force; partition showpolicies"
[ $RC -eq 0 ] || fail "1 on with -force: $OUT"
expect_contains "$OUT" "All 1 objects of the partition were erased."
expect_contains "$OUT" "1: Allow private key wrapping : 1"
[ "$(count)" = 0 ] || fail "1 on kept the objects"
note "several at once, all or nothing: back to cloning mode"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 1,0,99 -value 0,1,1"
[ $RC -ne 0 ] || fail "a list with an unknown policy: $OUT"
hsmcm -c "slot set -slot 1; partition showpolicies"
expect_contains "$OUT" "1: Allow private key wrapping : 1"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 1,0 -value 0,1; partition showpolicies"
[ $RC -eq 0 ] || fail "1 off then 0 on: $OUT"
expect_contains "$OUT" "0: Allow private key cloning : 1"
expect_contains "$OUT" "1: Allow private key wrapping : 0"

note "each destructive direction erases, the other keeps"
for pol in 4 5 10 11 16 18 28 29 33 34 43; do
	mkobj "o$pol"
	hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy $pol -value 0"
	[ $RC -eq 0 ] || fail "$pol off: $OUT"
	[ "$(count)" = 1 ] || fail "$pol ON-to-OFF erased the objects"
	hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy $pol -value 1 -force"
	[ $RC -eq 0 ] || fail "$pol on: $OUT"
	expect_contains "$OUT" "All 1 objects of the partition were erased."
	[ "$(count)" = 0 ] || fail "$pol OFF-to-ON kept the objects"
done
mkobj nd
for pol in 2 6 17 45; do
	hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy $pol -value 0; partition changepolicy -policy $pol -value 1"
	[ $RC -eq 0 ] || fail "$pol: $OUT"
done
[ "$(count)" = 1 ] || fail "a non-destructive policy erased the objects"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 9 -value 1 -force"
[ "$(count)" = 0 ] || fail "9 OFF-to-ON kept the objects"
mkobj d39
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 39 -value 1"
[ $RC -eq 0 ] || fail "39 on: $OUT"
[ "$(count)" = 1 ] || fail "39 OFF-to-ON erased the objects"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 39 -value 0 -force"
expect_contains "$OUT" "CAUTION: turning off partition policy 39 erases all 1 objects"
[ "$(count)" = 0 ] || fail "39 ON-to-OFF kept the objects"

note "policy 28 off: the objects are read-only (CKR_TOKEN_WRITE_PROTECTED)"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 28 -value 0"
hsmcm -c "slot set -slot 1; role login -name co; object create -label ro -value v"
[ $RC -ne 0 ] || fail "object create with 28 off: $OUT"
expect_contains "$OUT" "Command Result : 0xe2 (CKR_TOKEN_WRITE_PROTECTED)"

note "the policies survive a restart"
hsmcm -c "slot set -slot 1; partition showpolicies -verbose"
expect_contains "$OUT" "28: Allow Key Management Functions : 0"
before=$OUT
kill -TERM "$HSM_PID"; wait_gone 20 "$HSM_PID"
rm -f "$T/ped-$BACKUP_SERIAL.sock"
stop_ped A # it would reattach and race B for the link
start_hsm
start_ped B $HSM_SERIAL "$T/a.policy"
hsmcm -c "slot set -slot 1; partition showpolicies -verbose"
[ "$OUT" = "$before" ] || fail "the policies changed across a restart: $OUT"
note "HSM policy 7 off: shown over 0 and 4"
hsmcm -c "role login -name so; hsm changehsmpolicy -policy 7 -value 0 -force; partition create -label p2; slot set -slot 1; partition showpolicies"
[ $RC -eq 0 ] || fail "HSM policy 7 off: $OUT"
expect_contains "$OUT" "HSM policy 7 (Allow cloning) is 0"

echo "key policies: ok"
