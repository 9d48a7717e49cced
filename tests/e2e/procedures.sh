#!/bin/bash
# Chapter 5 procedures end to end, each checked by its outcome:
#  - local RPV initialization: the orange key, with its RPV static key, on a Local PED-USB;
#  - duplicates made at creation with their own PINs; a duplicate split does not count twice;
#  - a second HSM initialized by reusing the first one's red keyset ("Stage 1");
#  - a Remote PED session with the orange key, "ped get" showing PED id 100, ped disconnect,
#    and the switch to another pedserver;
#  - role changepw for SO, PO and CO (old keyset first, then the new one; the old one fails);
#  - rotating the RPV over a Remote PED: the old orange key no longer opens a session.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

new_keys so dom rpk po1 po2 pd1 pd2 co bso spare so2 po3 co2 rpk2
start_hsm
json() { "$BIN/ikey" list -json; }
key_is() { json | grep -q '"serial":"'"${KEY[$1]}"'"[^}]*'"$2"; }
ped_local() { # NAME SERIAL POLICY: a fresh local PED, the previous one of that name stopped
	local pid_var="PED_$1_PID"
	if [ -n "${!pid_var:-}" ]; then kill -TERM "${!pid_var}"; wait_gone 10 "${!pid_var}"; fi
	rm -f "$T/$1.events"
	# PO keysets with PINs, logged in many times: the cheap test cost, on
	# purpose (tests/e2e/pin_offline.sh logs in at the default)
	start_ped "$1" "$2" "$3" -pinmaskcost 8
}

note "local RPV initialization, duplicates at creation with their own PINs, a duplicate split counts once"
cat >"$T/l1.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no yes
write "SETTING DOMAIN" ${KEY[dom]}
use "READING DOMAIN" ${KEY[dom]}
write rpv ${KEY[rpk]}
mofn "SETTING PO" 2 2
duplicates "SETTING PO" 1
write "SETTING PO" ${KEY[po1]} ${KEY[po2]} ${KEY[pd1]} ${KEY[pd2]}
newpin "SETTING PO" 11111111 22222222 33333333 44444444
pin ${KEY[po1]} 11111111
pin ${KEY[po2]} 22222222
pin ${KEY[pd1]} 33333333
pin ${KEY[pd2]} 44444444
use "PO LOGIN" ${KEY[po1]} ${KEY[pd1]} ${KEY[po2]}
write "SETTING CO" ${KEY[co]}
use "CO LOGIN" ${KEY[co]}
P
ped_local L $HSM_SERIAL "$T/l1.policy"
hsmcm -c "ped get; hsm init -label proc; role login -name so; ped vector init; partition create -label p1; slot set -slot 1; partition init -label p1; role login -name po; role init -name co; role login -name co"
[ $RC -eq 0 ] || fail "local procedures: $OUT"
expect_contains "$OUT" "HSM slot 0 listening to local PED (PED id=0)."
key_is rpk '"type":"RPV"[^}]*"rpv_static_key":true' || fail "orange key: $(json)"
for k in po1 po2 pd1 pd2; do key_is $k '"m":2,"n":2' || fail "$k is not a 2-of-2 split"; done
key_is pd1 '"index":1' && key_is po1 '"index":1' || fail "pd1 does not duplicate split 1"
# the duplicates carry the keyset's PIN mask cost, the one the PED was told to use
for k in po1 po2 pd1 pd2; do
	key_is $k '"pin_mask":{"kdf":"scrypt","log2n":8,"r":8,"p":1}' || fail "$k: not the keyset's mask cost"
done
[ "$(json | grep -o '"keyset":"[0-9a-f]*"' | sort | uniq -c | awk '$1 == 4' | wc -l)" = 1 ] ||
	fail "the four PO keys are not one keyset"
grep -q 'This split was' "$T/L.events" || fail "the duplicate of split 1 was not refused"

note "a second HSM initialized with the first one's red keyset (reuse)"
cat >"$T/b.policy" <<P
write "SETTING SO" ${KEY[bso]}
reuse "SETTING DOMAIN" yes
use "SETTING DOMAIN" ${KEY[dom]}
P
start_ped B $BACKUP_SERIAL "$T/b.policy"
hsmcm -c "slot set -slot 20; hsm init -label second"
[ $RC -eq 0 ] || fail "second HSM with a reused domain: $OUT"
key_is spare '"blank":true' || fail "a new red key was written instead of reusing the keyset"
grep -q '"title":"SETTING DOMAIN..."' "$T/B.events" || fail "no domain ceremony on the second HSM"

note "Remote PED with the orange key: PED id 100, disconnect, then another pedserver"
start_pedserver A
start_pedserver B2
start_pedclient
printf 'use rpv %s\nuse "SO LOGIN" %s\n' "${KEY[rpk]}" "${KEY[so]}" >"$T/r.policy"
start_remote_ped RA A "$T/r.policy"
start_remote_ped RB B2 "$T/r.policy"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; ped get; role login -name so; ped disconnect; ped connect -ip 127.0.0.1 -port $PORT_B2; role login -name so; ped get"
[ $RC -eq 0 ] || fail "remote sessions: $OUT"
expect_contains "$OUT" "HSM slot 0 listening to remote PED (PED id=100)."
expect_contains "$OUT" "via pedserver 127.0.0.1:$PORT_A"
expect_contains "$OUT" "via pedserver 127.0.0.1:$PORT_B2"
grep -q '"scheme":"2e2s"' "$T/RA.events" || fail "pedserver A's session was not 2e2s"
grep -q '"scheme":"2e2s"' "$T/RB.events" || fail "pedserver B's session was not 2e2s"
hsmcm -c "ped disconnect"

note "role changepw: SO, PO, CO, each reading the old keyset before writing the new one"
cat >"$T/c.policy" <<P
use "SO LOGIN" ${KEY[so]} / ${KEY[so]} / ${KEY[so2]}
write "SETTING SO" ${KEY[so2]}
pin ${KEY[po1]} 11111111
pin ${KEY[po2]} 22222222
use "PO LOGIN" ${KEY[po1]} ${KEY[po2]} / ${KEY[po1]} ${KEY[po2]} / ${KEY[po3]}
mofn "SETTING PO" 1 1
write "SETTING PO" ${KEY[po3]}
use "CO LOGIN" ${KEY[co]} / ${KEY[co]} / ${KEY[co2]}
write "SETTING CO" ${KEY[co2]}
P
ped_local L $HSM_SERIAL "$T/c.policy"
hsmcm -c "role login -name so; role changepw -name so; role logout; role login -name so; slot set -slot 1; role login -name po; role changepw -name po; role logout; role login -name po; role login -name co; role changepw -name co; role logout; role login -name co"
[ $RC -eq 0 ] || fail "changepw: $OUT"
for k in so2 po3 co2; do key_is $k '"blank":false' || fail "$k was not written"; done
printf 'use "SO LOGIN" %s\n' "${KEY[so]}" >"$T/old.policy"
ped_local L $HSM_SERIAL "$T/old.policy"
hsmcm -c "role login -name so"
[ $RC -ne 0 ] || fail "the old SO keyset still logs in"
expect_contains "$OUT" "CKR_PIN_INCORRECT"

note "RPV rotation over a Remote PED: the old orange key no longer opens a session"
printf 'use rpv %s\nuse "SO LOGIN" %s\nwrite rpv %s\n' "${KEY[rpk]}" "${KEY[so2]}" "${KEY[rpk2]}" >"$T/rot.policy"
kill -TERM "$PED_RA_PID"; wait_gone 10 "$PED_RA_PID"; rm -f "$T/RA.events"
start_remote_ped RA A "$T/rot.policy"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; role login -name so; ped vector init; ped disconnect"
[ $RC -eq 0 ] || fail "RPV rotation: $OUT"
key_is rpk2 '"type":"RPV"' || fail "the new orange key was not written"
kill -TERM "$PED_RA_PID"; wait_gone 10 "$PED_RA_PID"; rm -f "$T/RA.events"
start_remote_ped RA A "$T/r.policy" # still presents the old orange key
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; role login -name so"
[ $RC -ne 0 ] || fail "the old orange key still opens a session"
hsmcm -c "ped disconnect"
printf 'use rpv %s\nuse "SO LOGIN" %s\n' "${KEY[rpk2]}" "${KEY[so2]}" >"$T/new.policy"
kill -TERM "$PED_RA_PID"; wait_gone 10 "$PED_RA_PID"; rm -f "$T/RA.events"
start_remote_ped RA A "$T/new.policy"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A; role login -name so; ped disconnect"
[ $RC -eq 0 ] || fail "the new orange key does not open a session: $OUT"
echo "procedures ok"
