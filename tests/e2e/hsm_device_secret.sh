#!/bin/bash
# The state at rest (issue #27): each HSM's secrets are sealed under a key
# derived from its device secret, hsm-SERIAL.device beside the state file
# (32 random bytes, mode 0600, made at the first start). A state file with
# another HSM's device secret, or without its own, is refused: hsm-sim does
# not start, says why, and leaves the state file as it was. The right one
# opens it again. docs/security.md says what this protects.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so dom po pdom co
start_hsm
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
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label dev; role login -name so; partition create -label p1; slot set -slot 1; partition init -label p1; role login -name po; role init -name co; role login -name co; object create -label k -value secretvalue"
[ $RC -eq 0 ] || fail "setup: $OUT"

note "one device secret per HSM: 32 bytes, mode 0600"
for s in $HSM_SERIAL $BACKUP_SERIAL; do
	f="$T/state/hsm-$s.device"
	[ -f "$f" ] || fail "no $f"
	[ "$(stat -c %a "$f")" = 600 ] || fail "$f is mode $(stat -c %a "$f")"
	[ "$(stat -c %s "$f")" = 32 ] || fail "$f is $(stat -c %s "$f") bytes"
done
kill -TERM "$HSM_PID"; wait_gone 20 "$HSM_PID" || fail "hsm-sim did not stop"
rm -f "$T/ped-$BACKUP_SERIAL.sock"
state="$T/state/hsm-$HSM_SERIAL.state" dev="$T/state/hsm-$HSM_SERIAL.device"
cp "$state" "$T/saved.state"
cp -p "$dev" "$T/saved.device"

# hsm-sim in the foreground on the state directory: its status and words
run_hsm() {
	set +e
	timeout 30 "${RUN[@]}" "$BIN/hsm-sim" -state "$T/state" -socket "$HSM_SOCK" -logfile "$T/refused.log" \
		>"$T/refused.out" 2>&1
	HSM_RC=$?
	set -e
}

note "another HSM's device secret: refused, the state file untouched"
head -c 32 /dev/urandom >"$dev"
chmod 600 "$dev"
run_hsm
[ $HSM_RC -ne 0 ] || fail "hsm-sim started on a foreign device secret"
[ $HSM_RC -ne 124 ] || fail "hsm-sim did not stop on a foreign device secret"
grep -q "do not open under this HSM's device secret" "$T/refused.out" "$T/refused.log" ||
	fail "no clear message: $(cat "$T/refused.out" "$T/refused.log")"
cmp -s "$state" "$T/saved.state" || fail "the state file changed"

note "no device secret at all: refused, none made"
rm -f "$dev"
run_hsm
[ $HSM_RC -ne 0 ] || fail "hsm-sim started without its device secret"
grep -q "device secret .*hsm-$HSM_SERIAL.device is missing" "$T/refused.out" "$T/refused.log" ||
	fail "no clear message: $(cat "$T/refused.out" "$T/refused.log")"
[ ! -e "$dev" ] || fail "a new device secret was made over a sealed state"
cmp -s "$state" "$T/saved.state" || fail "the state file changed"

note "a device secret readable by others is refused"
cp -p "$T/saved.device" "$dev"
chmod 644 "$dev"
run_hsm
[ $HSM_RC -ne 0 ] || fail "hsm-sim used a device secret of mode 644"
grep -q "readable or writable by others" "$T/refused.out" "$T/refused.log" ||
	fail "no clear message: $(cat "$T/refused.out" "$T/refused.log")"

note "the state file gone, its device secret there: refused, no new HSM made"
chmod 600 "$dev"
mv "$state" "$T/moved.state"
run_hsm
[ $HSM_RC -ne 0 ] || fail "hsm-sim made a new HSM where the state file had gone"
[ $HSM_RC -ne 124 ] || fail "hsm-sim did not stop on a missing state file"
grep -q "hsm-$HSM_SERIAL.state: missing, but HSM $HSM_SERIAL's device secret .* is there" \
	"$T/refused.out" "$T/refused.log" || fail "no clear message: $(cat "$T/refused.out" "$T/refused.log")"
[ ! -e "$state" ] || fail "a new state file was made"
cmp -s "$dev" "$T/saved.device" || fail "the device secret changed"
mv "$T/moved.state" "$state"

note "the right device secret: the HSM as it was"
stop_ped A # it would reattach and race B for the link
start_hsm
start_ped B $HSM_SERIAL "$T/a.policy"
hsmcm -c "slot set -slot 1; role login -name co; partition contents"
[ $RC -eq 0 ] || fail "after the restart: $OUT"
expect_contains "$OUT" "Object Label: k"

note "a first start cut short before its state was saved: its device secret is dropped, the HSM made"
stop_ped B
kill -TERM "$HSM_PID"; wait_gone 20 "$HSM_PID" || fail "hsm-sim did not stop"
rm -f "$T/ped-$BACKUP_SERIAL.sock" "$T/ped-$HSM_SERIAL.sock"
mv "$T/state" "$T/state.old"
mkdir -m 700 "$T/state"
head -c 32 /dev/urandom >"$T/state/hsm-$HSM_SERIAL.device.new"
chmod 600 "$T/state/hsm-$HSM_SERIAL.device.new"
cp "$T/state/hsm-$HSM_SERIAL.device.new" "$T/cut.device"
# and a save killed before its rename: the temporary file of an old device secret
cp -p "$T/saved.device" "$T/state/hsm-$HSM_SERIAL.device.tmp.4242.0"
echo keep >"$T/state/notes.tmp.txt"
start_hsm
grep -q "removed 1 temporary file(s) of saves cut short" "$T/hsm.log" || fail "no word of the stray: $(cat "$T/hsm.log")"
[ ! -e "$T/state/hsm-$HSM_SERIAL.device.tmp.4242.0" ] || fail "a stray temporary device secret stayed"
[ -e "$T/state/notes.tmp.txt" ] || fail "a file not of a save was removed"
grep -q "hsm-$HSM_SERIAL.device.new was never used" "$T/hsm.log" || fail "no word of it: $(cat "$T/hsm.log")"
[ ! -e "$T/state/hsm-$HSM_SERIAL.device.new" ] || fail "hsm-$HSM_SERIAL.device.new left behind"
for f in "$T/state/hsm-$HSM_SERIAL.state" "$T/state/hsm-$HSM_SERIAL.device"; do
	[ -f "$f" ] || fail "no $f"
done
! cmp -s "$T/state/hsm-$HSM_SERIAL.device" "$T/cut.device" || fail "the unused device secret was taken"
hsmcm -c "hsm showinfo"
[ $RC -eq 0 ] || fail "the new HSM: $OUT"
echo "device secret: ok"
