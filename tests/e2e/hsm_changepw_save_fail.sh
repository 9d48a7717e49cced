#!/bin/bash
# role changepw with the HSM's state store full. The PED wrote the new
# keyset over the SO's key, then the HSM could not save it and went back
# to its last saved state, the old keyset: the SO's only key no longer
# opened the role, and each try counted a failed login (the third zeroizes
# the HSM). Now the HSM saves before the PED is asked to write anything,
# and a store that is full refuses the command with the key untouched.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
MNT="$T/mnt"
small_disks 4m "$MNT"
mkdir -m 700 "$MNT/state" # a state directory must be private
ln -s "$MNT/state" "$T/state"
new_keys so dom
start_hsm
printf 'write "SETTING SO" %s\nwrite "SETTING DOMAIN" %s\n' "${KEY[so]}" "${KEY[dom]}" >"$T/a.policy"
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label full"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
stop_ped A
keyset() { "$BIN/ikey" show "${KEY[so]}" | awk '/^Keyset:/ {print $2}'; }
old=$(keyset)

# role login, changepw's login with the old key, then the new 1 of 1 over it
cat >"$T/chg.script" <<S
expect "SO LOGIN"
insert ${KEY[so]}
press enter
wait-idle
expect "SO LOGIN"
press enter
expect "reuse an existing keyset?"
press no
expect "M value?"
type 1
press enter
expect "N value?"
type 1
press enter
expect "Insert a SO / HSM Admin PED Key (BLUE)"
press enter
expect "This PED Key is for SO. Overwrite? YES/NO"
press yes
expect "Are you sure"
press yes
expect "Enter new PED PIN:"
press enter
expect "Confirm new PED PIN:"
press enter
expect "Are you duplicating this keyset?(Y/N)"
press no
wait-idle
remove
S
play_script S "$T/chg.script"

note "changepw with the state store full: refused before the PED writes"
session_open
session_run "role login -name so"
dd if=/dev/zero of="$MNT/fill" bs=64k 2>/dev/null || true
session_run "role changepw -name so"
session_close
[ "$(keyset)" = "$old" ] || fail "the SO key was rewritten though the HSM could not save: $OUT"
expect_contains "$OUT" "no key was written"
expect_contains "$OUT" "RC_FILE_ERROR"
grep -q "Overwrite" "$T/S.events" && fail "the PED was asked to write a key"
kill -TERM $SPID 2>/dev/null || true
wait_gone 10 $SPID || fail "scripted PED did not stop"

rm -f "$MNT/fill"
note "the SO key opens the role, nothing counted"
printf 'use "SO LOGIN" %s\n' "${KEY[so]}" >"$T/l.policy"
start_ped L $HSM_SERIAL "$T/l.policy"
hsmcm -c "role login -name so; hsm showinfo"
[ $RC -eq 0 ] || fail "the SO key no longer opens the role: $OUT"
expect_contains "$OUT" "SO failed logins -> 0 of 3"
echo PASS
