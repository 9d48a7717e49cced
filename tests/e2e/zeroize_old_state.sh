#!/bin/bash
# A zeroized HSM's device secret must not open the state it had before.
# docs/security.md calls a copy of a state file harmless alone (a backup,
# one sent with a bug report): its secrets are sealed under the device
# secret. hsm zeroize (or three wrong HSM SO logins) erased the state but
# kept the device secret, so any older copy of the state file, put back
# in the state directory, brought the zeroized HSM back whole (partitions,
# keys, SO), and whoever later got the zeroized HSM's directory opened
# every older copy with it. A zeroization now replaces the device secret
# (hsm-SERIAL.device.new, then a rename: a crash leaves one that opens the
# state), so what was sealed before it opens under no key there is.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so dom po pdom co so2 dom2 au
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${KEY[dom]} ${KEY[pdom]}
write "SETTING PO" ${KEY[po]}
use "PO LOGIN" ${KEY[po]}
write "SETTING CO" ${KEY[co]}
use "CO LOGIN" ${KEY[co]}
P
start_hsm
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label dev; role login -name so; partition create -label p1; slot set -slot 1; partition init -label p1; role login -name po; role init -name co; role login -name co; object create -label k -value secretvalue; hsm showinfo"
[ $RC -eq 0 ] || fail "setup: $OUT"
state="$T/state/hsm-$HSM_SERIAL.state" dev="$T/state/hsm-$HSM_SERIAL.device"
logins="$T/state/hsm-$HSM_SERIAL.logins"
cp "$state" "$T/old.state" # a copy of the state file alone: a backup, a bug report
cp "$dev" "$T/old.device"

stop_hsm() {
	kill -TERM "$HSM_PID"
	wait_gone 20 "$HSM_PID" || fail "hsm-sim did not stop"
	rm -f "$T/ped-$BACKUP_SERIAL.sock"
}
run_hsm() {
	set +e
	timeout 30 "${RUN[@]}" "$BIN/hsm-sim" -state "$T/state" -socket "$HSM_SOCK" -logfile "$T/refused.log" \
		>"$T/refused.out" 2>&1
	HSM_RC=$?
	set -e
}

note "hsm zeroize: a new device secret"
hsmcm -c "hsm zeroize -force; hsm showinfo"
[ $RC -eq 0 ] || fail "zeroize: $OUT"
expect_contains "$OUT" "HSM Initialized -> no (zeroized)"
[ "$(stat -c %a "$dev")" = 600 ] || fail "$dev is mode $(stat -c %a "$dev")"
[ ! -e "$dev.new" ] || fail "$dev.new left behind"
! cmp -s "$dev" "$T/old.device" || fail "hsm zeroize kept the device secret: older copies of the state open under it"

note "the zeroized HSM starts again, zeroized"
stop_ped A
stop_hsm
start_hsm
start_ped B $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm showinfo"
[ $RC -eq 0 ] || fail "after the restart: $OUT"
expect_contains "$OUT" "HSM Initialized -> no (zeroized)"

note "the copy from before the zeroization, put back: refused, not the HSM undone"
stop_ped B
stop_hsm
cp "$state" "$T/zeroized.state"
cp "$T/old.state" "$state"
rm -f "$logins"
run_hsm
[ $HSM_RC -ne 0 ] || fail "hsm-sim started on the state from before the zeroization: the zeroization is undone"
grep -q "do not open under this HSM's device secret" "$T/refused.out" "$T/refused.log" ||
	fail "no clear message: $(cat "$T/refused.out" "$T/refused.log")"
cp "$T/zeroized.state" "$state"

note "three wrong HSM SO logins zeroize it: the device secret goes too"
cat >"$T/b.policy" <<P
write "SETTING SO" ${KEY[so2]}
write "SETTING DOMAIN" ${KEY[dom2]}
write "SETTING AU" ${KEY[au]}
use "SO LOGIN" ${KEY[so]}
P
start_hsm
start_ped C $HSM_SERIAL "$T/b.policy"
# an Auditor: the HSM keeps an audit log state, sealed like the state
hsmcm -c "hsm init -label again; role init -name au"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
cp "$state" "$T/old2.state"
cp "$dev" "$T/old2.device"
audit="$T/state/hsm-$HSM_SERIAL.audit"
[ -e "$audit" ] || fail "no audit log state after hsm init"
cp "$audit" "$T/old2.audit" # sealed under the old device secret
for i in 1 2 3; do hsmcm -c "role login -name so"; done
expect_contains "$OUT" "ZEROIZED"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "HSM Initialized -> no (zeroized)"
! cmp -s "$dev" "$T/old2.device" || fail "the failed-login zeroization kept the device secret"
stop_ped C
stop_hsm
cp "$state" "$T/zeroized2.state"
cp "$T/old2.state" "$state"
rm -f "$logins"
run_hsm
[ $HSM_RC -ne 0 ] || fail "hsm-sim started on the state from before the failed-login zeroization"

note "a crash after the new state, before the rename: the new device secret is taken"
cp "$T/zeroized2.state" "$state"
# the state sealed under the new secret, the old one still in place, and
# the audit log state not sealed again yet
mv "$dev" "$dev.new"
cp -p "$T/old2.device" "$dev"
chmod 600 "$dev"
cp "$T/old2.audit" "$audit"
start_hsm
hsmcm -c "hsm showinfo"
[ $RC -eq 0 ] || fail "after a crash mid-rotation: $OUT $(cat "$T/hsm.log")"
[ ! -e "$dev.new" ] || fail "$dev.new not taken"
! cmp -s "$dev" "$T/old2.device" || fail "the old device secret kept"
! cmp -s "$audit" "$T/old2.audit" || fail "the audit log state was not sealed again under the new secret"
stop_hsm
note "and the audit log state sealed again opens at the next start"
start_hsm
hsmcm -c "hsm showinfo"
[ $RC -eq 0 ] || fail "after the audit state was sealed again: $OUT $(cat "$T/hsm.log")"
stop_hsm
note "a crash before the new state: the old device secret stays"
head -c 32 /dev/urandom >"$dev.new"
chmod 600 "$dev.new"
cp "$dev" "$T/cur.device"
start_hsm
hsmcm -c "hsm showinfo"
[ $RC -eq 0 ] || fail "with a stale $dev.new: $OUT"
[ ! -e "$dev.new" ] || fail "a stale $dev.new kept"
cmp -s "$dev" "$T/cur.device" || fail "a stale $dev.new replaced the device secret"
echo "zeroize takes the device secret: ok"
