#!/bin/bash
# Regression: a command whose state save fails (store full) left its change in
# the running hsm-sim: "partition create" answered RC_FILE_ERROR yet the
# partition stayed in memory (shown, usable) and vanished at the next restart.
# Now hsm-sim goes back to the last saved state and logs the cause; and the
# PED's "cannot insert key" names its cause too (it said only "file error").
# And a failed login whose count cannot be saved: the rollback gave the guess
# back (and undid the SO-limit zeroization), so guessing never reached the
# limit. Now the attempt is on disk before the keys are checked, or not made;
# and a full store no longer stops the count (the login record's room is
# made when it is first written).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
# the state and the key store each on a small tmpfs, filled apart
MNT="$T/mnt" MNTK="$T/mntk"
small_disks 4m "$MNT" "$MNTK"
mkdir -m 700 "$MNT/state" "$MNTK/keys" # a store and a state directory must be private
ln -s "$MNT/state" "$T/state"
ln -s "$MNTK/keys" "$IKEY_STORE"
new_keys so dom spare bso bdom
start_hsm
printf 'write "SETTING SO" %s\nuse "SO LOGIN" %s\nwrite "SETTING DOMAIN" %s\n' "${KEY[so]}" "${KEY[so]}" "${KEY[dom]}" >"$T/a.policy"
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label full"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
# One hsmcm session, fed line by line: the SO logs in, then the store fills.
session_open
session_run "role login -name so"
dd if=/dev/zero of="$MNT/fill" bs=64k 2>/dev/null || true
dd if=/dev/zero of="$MNTK/fill" bs=64k 2>/dev/null || true
session_run "partition create -label p1"
session_close
expect_contains "$OUT" "Command Result : No Error"
expect_contains "$OUT" "RC_FILE_ERROR"
grep -q "No space left on device" "$T/hsm.log" || fail "the cause is not logged: $(cat "$T/hsm.log")"
hsmcm -c "hsm showinfo; slot list"
expect_contains "$OUT" "Partitions -> 0"
expect_not_contains "$OUT" "p1"
note "the PED names the cause when a key cannot be inserted (its lock file)"
set +e
"$BIN/ped-device" -send "insert ${KEY[spare]}" -control "$T/A.ctl" >"$T/ins.out" 2>&1
set -e
cat "$T/ins.out" "$T/A.log" | grep -q "cannot insert key ${KEY[spare]}: .*No space left on device" ||
	fail "no cause for the failed insert: $(cat "$T/ins.out"; tail -n 3 "$T/A.log")"
rm -f "$MNT/fill" "$MNTK/fill"
hsmcm -c "role login -name so; partition create -label p2; slot list"
[ $RC -eq 0 ] || fail "partition create once the store has room: $OUT"
expect_contains "$OUT" "Label ->                p2"

note "a wrong SO login that cannot be counted is refused, and counting holds"
printf 'write "SETTING SO" %s\nwrite "SETTING DOMAIN" %s\n' "${KEY[bso]}" "${KEY[bdom]}" >"$T/b.policy"
start_ped B $BACKUP_SERIAL "$T/b.policy"
hsmcm -c "slot set -slot 20; hsm init -label backup"
[ $RC -eq 0 ] || fail "backup hsm init: $OUT"
kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"
printf 'use "SO LOGIN" %s\n' "${KEY[bso]}" >"$T/a.policy" # the other HSM's blue key: a wrong one here
: >"$T/A.events"
start_ped A $HSM_SERIAL "$T/a.policy"
# The count goes to the login record, written in place in room made at its
# first write (the SO's login above): a full store does not stop it, a
# read-only one does.
mount -o remount,ro "$MNT" || fail "remount ro"
for i in 1 2 3 4; do
	hsmcm -c "role login -name so"
	[ $RC -ne 0 ] || fail "a wrong SO key logged in: $OUT"
	expect_contains "$OUT" "cannot count this login attempt"
	expect_not_contains "$OUT" "CKR_PIN_INCORRECT"
done
grep -q "Read-only file system" "$T/hsm.log" || fail "the cause is not logged: $(tail -n 3 "$T/hsm.log")"
mount -o remount,rw "$MNT" || fail "remount rw"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "HSM Initialized -> yes"
expect_contains "$OUT" "SO failed logins -> 0 of 3"
dd if=/dev/zero of="$MNT/fill" bs=64k 2>/dev/null || true
hsmcm -c "role login -name so"
expect_contains "$OUT" "CKR_PIN_INCORRECT"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 1 of 3"
rm -f "$MNT/fill"
for i in 2 3; do
	hsmcm -c "role login -name so"
	expect_contains "$OUT" "CKR_PIN_INCORRECT"
done
expect_contains "$OUT" "the HSM has been ZEROIZED"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "HSM Initialized -> no (zeroized)"
echo "hsm save failure ok"
