#!/bin/bash
# The bounds of M of N (chapter 5: "M value? (1-16)", "N value? (M-16)"):
# a 16 of 16 SO keyset is written and logs in with all sixteen; fifteen are
# not a quorum ("Keys read: 15 of 16", the key timeout, nothing counted).
# A 1 of 3 Auditor keyset logs in with any one of its keys.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

ks=()
for i in $(seq 1 16); do
	new_keys "k$i"
	ks+=("${KEY[k$i]}")
done
new_keys dom a1 a2 a3
start_hsm
cat >"$T/init.policy" <<P
mofn so 16 16
write "SETTING SO" ${ks[*]}
use "SO LOGIN" ${ks[*]}
write "SETTING DOMAIN" ${KEY[dom]}
mofn audit 1 3
write "SETTING AU" ${KEY[a1]} ${KEY[a2]} ${KEY[a3]}
P
start_ped A $HSM_SERIAL "$T/init.policy"
note "16 of 16: written, and all sixteen log in"
hsmcm -c "hsm init -label bounds; role login -name so; hsm showinfo"
[ $RC -eq 0 ] || fail "16 of 16 init and login: $OUT"
expect_contains "$OUT" "SO failed logins -> 0 of 3"
for s in "${ks[@]}"; do
	"$BIN/ikey" show "$s" | grep -q "quorum M = 16" || fail "key $s is not a split of a 16 of 16 keyset"
done
"$BIN/ikey" show "${ks[15]}" | grep -q "Split:     16 of 16" || fail "the last key is not split 16"
hsmcm -c "role init -name au"
[ $RC -eq 0 ] || fail "1 of 3 Auditor: $OUT"
stop_ped A

note "15 of 16: no quorum, nothing sent, nothing counted"
printf 'use "SO LOGIN" %s\n' "${ks[*]:0:15}" >"$T/fifteen.policy"
start_ped B $HSM_SERIAL "$T/fifteen.policy" -keytimeout 2
hsmcm -c "role login -name so"
[ $RC -ne 0 ] || fail "15 of 16 logged in: $OUT"
grep -q 'Keys read: 15 of 16' "$T/B.events" || fail "the PED did not count fifteen splits"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 0 of 3"
stop_ped B

note "1 of 3: any one key logs the Auditor in"
for k in a1 a2 a3; do
	printf 'use "AU LOGIN" %s\n' "${KEY[$k]}" >"$T/$k.policy"
	start_ped "$k" $HSM_SERIAL "$T/$k.policy"
	hsmcm -c "role login -name au"
	[ $RC -eq 0 ] || fail "the Auditor's key $k alone: $OUT"
	stop_ped "$k"
done
echo PASS
