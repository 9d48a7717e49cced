#!/bin/bash
# Regression: a command whose state save fails (store full) left its change in
# the running hsm-sim: "partition create" answered RC_FILE_ERROR yet the
# partition stayed in memory (shown, usable) and vanished at the next restart.
# Now hsm-sim goes back to the last saved state and logs the cause; and the
# PED's "cannot insert key" names its cause too (it said only "file error").
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
MNT="$T/mnt"
mkdir -p "$MNT"
mount -t tmpfs -o size=4m,mode=0700 tmpfs "$MNT" 2>/dev/null || skip "cannot mount a tmpfs (mount not permitted)"
trap 'for p in "${_pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait_gone 10 "$p"; done; umount "$MNT" || umount -l "$MNT"; _cleanup' EXIT
mkdir "$MNT/state" "$MNT/keys"
ln -s "$MNT/state" "$T/state"
ln -s "$MNT/keys" "$IKEY_STORE"
new_keys so dom spare
start_hsm
printf 'write "SETTING SO" %s\nuse "SO LOGIN" %s\nwrite "SETTING DOMAIN" %s\n' "${KEY[so]}" "${KEY[so]}" "${KEY[dom]}" >"$T/a.policy"
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label full"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
# One hsmcm session, fed line by line: the SO logs in, then the store fills.
session_open
session_run "role login -name so"
dd if=/dev/zero of="$MNT/fill" bs=64k 2>/dev/null || true
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
rm -f "$MNT/fill"
hsmcm -c "role login -name so; partition create -label p2; slot list"
[ $RC -eq 0 ] || fail "partition create once the store has room: $OUT"
expect_contains "$OUT" "Label ->                p2"
echo "hsm save failure ok"
