#!/bin/bash
# An upgrade with state on disk: the state directory and key store that
# hsm-sim at commit f3416e5 (state version 7, the last before the sealed
# version 8) left, in tests/e2e/state-v7 (made by its make.sh there). HSM
# 154438865288 has partition p1 (domain dom1) with objects alpha, beta and
# gamma, a CO challenge, policies 22, 23 and 15 = 0 and two failed CO
# challenges; backup HSM 496771 holds bk1, the backup of p1 made before
# gamma. The current hsm-sim must start on them with nothing lost, the old
# keys logging in, and upgrade them: sealed at once, since the version 7
# files hold the HSM's private keys, its RPV and the objects in clear and
# were sealed only at the next save (an HSM only logged in to never saves
# its state, and a crash skips the save at stop).
#
# A partition of version 7 kept its domain's verifier, not the cloning key
# (derived from the red key's secret) that version 8 seals in the state;
# backup, restore and clone refused such a partition ("no cloning key:
# initialize the partition's domain again (partition init)"), and partition
# init erases the partition's objects: an old backup could never be restored
# and an old partition's objects never backed up without losing them. Now
# the command asks once for the partition's red key, checks it against the
# verifier and keeps the key.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

FIX="$PED_SRCDIR/tests/e2e/state-v7"
mkdir -m 700 "$T/state" "$T/keys"
cp "$FIX"/state/*.state "$T/state/"
cp "$FIX"/keys/*.ikey "$T/keys/"
chmod 600 "$T"/state/* "$T"/keys/*
while read -r k s; do KEY[$k]=$s; done <"$FIX/keys.txt"
state="$T/state/hsm-$HSM_SERIAL.state"
[ "$(od -An -tu1 -j4 -N1 "$state" | tr -d ' ')" = 7 ] || fail "the fixture is not a version 7 state file"
new_keys po2 co2

# PED A: the HSM SO, dom1 (reused), then p2's new PO and CO (phase 1) or
# p1's (phase 2); PED B: the backup HSM's SO, bk1's PO and CO, dom1
a_policy() {
	cat <<P
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" yes
use "READING DOMAIN" ${KEY[dom1]}
use "SETTING DOMAIN" ${KEY[dom1]}
write "SETTING PO" ${KEY[po2]}
use "PO LOGIN" ${KEY[$1]}
write "SETTING CO" ${KEY[co2]}
use "CO LOGIN" ${KEY[$2]}
P
}
cat >"$T/b.policy" <<P
use "SO LOGIN" ${KEY[bso]}
reuse "SETTING DOMAIN" yes
use "READING DOMAIN" ${KEY[dom1]}
use "SETTING DOMAIN" ${KEY[dom1]}
use "PO LOGIN" ${KEY[bpo]}
use "CO LOGIN" ${KEY[bco]}
P

start_hsm
note "the version 7 files are sealed at the first start, not at some later save"
# (they hold the HOC and static private keys, the RPV and the objects in
# clear; an HSM only logged in to writes its login record, never its state)
for s in $HSM_SERIAL $BACKUP_SERIAL; do
	[ "$(od -An -tu1 -j4 -N1 "$T/state/hsm-$s.state" | tr -d ' ')" = 8 ] ||
		fail "hsm-$s.state is still version $(od -An -tu1 -j4 -N1 "$T/state/hsm-$s.state") after the start"
	grep -q "HSM $s: state file of version 7 saved as version 8" "$T/hsm.log" || fail "no word of the upgrade: $(cat "$T/hsm.log")"
done
note "the version 7 state loads whole"
hsmcm -c "hsm showinfo; slot set -slot 1; partition showinfo"
[ $RC -eq 0 ] || fail "showinfo: $OUT"
expect_contains "$OUT" "HSM Label -> main"
expect_contains "$OUT" "Crypto Officer -> initialized (1 of 1 keys), 2 failed logins of 10, challenge set"
expect_contains "$OUT" "Object Count: 3"

note "the old backup restores into a new partition of its domain"
a_policy po2 co2 >"$T/a1.policy"
start_ped A1 $HSM_SERIAL "$T/a1.policy"
start_ped B1 $BACKUP_SERIAL "$T/b.policy"
hsmcm -c "role login -name so; partition create -label p2; slot set -slot 2; partition init -label p2; role login -name po; role init -name co; role login -name co; partition archive restore -slot 20 -partition bk1; partition contents"
[ $RC -eq 0 ] || fail "restore of the old backup: $OUT"
expect_contains "$OUT" "Partition bk1 of HSM $BACKUP_SERIAL has no cloning key yet"
expect_contains "$OUT" "Restore Complete. 2 objects have been restored."
expect_contains "$OUT" "Object Label: beta"
expect_not_contains "$OUT" "partition init)"

note "the old partition is backed up, its objects kept"
stop_ped A1
a_policy po1 co1 >"$T/a2.policy"
start_ped A2 $HSM_SERIAL "$T/a2.policy"
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\"; partition archive backup -slot 20 -partition bk1 -replace; partition contents"
[ $RC -eq 0 ] || fail "backup of the old partition: $OUT"
expect_contains "$OUT" "Partition p1 of HSM $HSM_SERIAL has no cloning key yet"
expect_contains "$OUT" "3 objects have been backed up to partition bk1"
expect_contains "$OUT" "Object Label: gamma"
expect_contains "$OUT" "Number of objects: 3"

note "the cloning keys were kept: after a restart nobody is asked again"
kill -TERM "$HSM_PID"
wait_gone 20 "$HSM_PID" || fail "hsm-sim did not stop"
rm -f "$T/ped-$BACKUP_SERIAL.sock"
stop_ped A2 B1
start_hsm
start_ped A3 $HSM_SERIAL "$T/a2.policy"
start_ped B3 $BACKUP_SERIAL "$T/b.policy"
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\"; partition archive backup -slot 20 -partition bk1 -replace; partition showinfo"
[ $RC -eq 0 ] || fail "second backup: $OUT"
expect_not_contains "$OUT" "no cloning key"
expect_contains "$OUT" "3 objects have been backed up to partition bk1"
expect_contains "$OUT" "Object Count: 3"
echo "upgrade_state_v7 ok"
