#!/bin/bash
# The commands the reference's procedures use and hsmcm lacked: partition
# clone (slot to slot within a cloning domain, the target's CO key asked
# for, objects the target holds not cloned again, another domain refused),
# partition showinfo, hsm showinfo, and partition delete with the lost
# Partition SO key procedure of chapter 5 (delete, create, initialize with a
# new blue key and the original red key, restore the objects: here by clone).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so hdom po1 dom1 co1 po2 co2 po3 dom3 co3 po4 co4
start_hsm
ped() { # a fresh PED with this policy
	if [ -n "${PED_A_PID:-}" ]; then kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"; fi
	rm -f "$T/A.events"
	printf '%s\n' "$1" >"$T/a.policy"
	start_ped A $HSM_SERIAL "$T/a.policy"
}
ped "write \"SETTING SO\" ${KEY[so]}
use \"SO LOGIN\" ${KEY[so]}
reuse \"SETTING DOMAIN\" no no yes no
write \"SETTING DOMAIN\" ${KEY[hdom]} ${KEY[dom1]} ${KEY[dom3]}
use \"SETTING DOMAIN\" ${KEY[dom1]}
write \"SETTING PO\" ${KEY[po1]} ${KEY[po2]} ${KEY[po3]}
use \"PO LOGIN\" ${KEY[po1]} / ${KEY[po2]} / ${KEY[po3]}
write \"SETTING CO\" ${KEY[co1]} ${KEY[co2]} ${KEY[co3]}"
hsmcm -c "hsm init -label parts; role login -name so; partition create -label p1; partition create -label p2; partition create -label p3
slot set -slot 1; partition init -label p1; role login -name po; role init -name co
slot set -slot 2; partition init -label p2; role login -name po; role init -name co
slot set -slot 3; partition init -label p3; role login -name po; role init -name co"
[ $RC -eq 0 ] || fail "setup: $OUT"

note "partition clone: the target's CO key, the chosen objects, none twice, never across domains"
ped "use \"CO LOGIN\" ${KEY[co1]} / ${KEY[co2]} / ${KEY[co2]} / ${KEY[co1]} / ${KEY[co2]}"
hsmcm -c "slot set -slot 1; role login -name co; object create -label alpha -value one; object create -label beta -value two
partition clone -slot 2 -objects 1; partition clone -slot 2 -objects all"
[ $RC -eq 0 ] || fail "clone: $OUT"
expect_contains "$OUT" "Logging into the container p2 on slot 2 as the Crypto Officer."
expect_contains "$OUT" "Cloned object 1 to partition p2 (new handle 1)."
expect_contains "$OUT" "Clone Complete. 1 objects have been cloned to partition p2 on slot 2."
expect_contains "$OUT" "Cloned object 2 to partition p2 (new handle 2)."
[ "$(grep -c '"title":"CO LOGIN..."' "$T/A.events")" -eq 3 ] || fail "the target's CO key was not asked for each clone"
hsmcm -c "slot set -slot 1; role login -name co; partition clone -slot 3 -objects all"
[ $RC -ne 0 ] || fail "a clone into another domain: $OUT"
expect_contains "$OUT" "Command Result : 0x80000141 (CKR_CERTIFICATE_INVALID)"

note "partition showinfo and hsm showinfo"
hsmcm -c "slot set -slot 2; role login -name co; partition showinfo; slot set -slot 0; hsm showinfo"
[ $RC -eq 0 ] || fail "showinfo: $OUT"
for l in "Partition Label -> p2" "Partition Serial Number -> 154438865290" "Partition Status -> OK" \
	"Role Status -> Crypto Officer logged in" "Crypto Officer -> initialized (1 of 1 keys), 0 failed logins of 10" \
	"Partition Storage:" "Object Count: 2" "HSM Label -> parts" "HSM Status -> OK" "RPV Initialized -> No" "Partitions -> 3"; do
	expect_contains "$OUT" "$l"
done

note "partition delete: the HSM SO, a confirmation (-force without a terminal); the slots after it move down"
ped "use \"SO LOGIN\" ${KEY[so]}
write \"SETTING PO\" ${KEY[po4]}
reuse \"SETTING DOMAIN\" yes
use \"SETTING DOMAIN\" ${KEY[dom1]}
use \"PO LOGIN\" ${KEY[po4]}
write \"SETTING CO\" ${KEY[co4]}
use \"CO LOGIN\" ${KEY[co2]} / ${KEY[co4]} / ${KEY[co4]}"
hsmcm -c "role login -name so; partition delete -label p1"
[ $RC -ne 0 ] || fail "deleted without confirmation: $OUT"
expect_contains "$OUT" "give -force"
hsmcm -c "partition delete -label p1 -force"
[ $RC -ne 0 ] || fail "deleted without the HSM SO: $OUT"
hsmcm -c "role login -name so; partition delete -label p1 -force; slot list"
[ $RC -eq 0 ] || fail "partition delete: $OUT"
expect_contains "$OUT" "Partition p1 deleted."
expect_not_contains "$OUT" "Label ->                p1"
[ "$(awk '/Label ->/{print $NF}' <<<"$OUT" | head -n 1)" = p2 ] || fail "p2 did not move to slot 1: $OUT"

note "the lost Partition SO key: a new partition, a new blue key, the original red key; the objects cloned back"
hsmcm -c "role login -name so; partition create -label p1new; slot set -slot 3; partition init -label p1new; role login -name po; role init -name co
slot set -slot 1; role login -name co; partition clone -slot 3 -objects all; slot set -slot 3; role login -name co; partition contents"
[ $RC -eq 0 ] || fail "the procedure: $OUT"
expect_contains "$OUT" "Clone Complete. 2 objects have been cloned to partition p1new on slot 3."
expect_contains "$OUT" "Number of objects: 2"
echo "partition commands ok"
