#!/bin/bash
# Chapter 8 activation: with policy 22 and a challenge secret, the CO's
# first login caches the PED key secret and later logins need only the
# challenge; a wrong challenge is refused; a restart forgets
# the cache unless auto-activation (policy 23) is on; role deactivate
# deletes it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so hdom po pdom co
start_hsm
all_roles_policy >"$T/a.policy"
start_ped A $HSM_SERIAL "$T/a.policy"
# HSM policy 21 off: the CO uses the challenge the Partition SO set (hsm_policy21.sh covers it on)
hsmcm -c "hsm init -label act; role login -name so; hsm changehsmpolicy -policy 21 -value 0; partition create -label p1; slot set -slot 1; partition init -label p1; role login -name po; role init -name co; role createchallenge -name co -challenge \"open sesame\"; partition changepolicy -policy 22 -value 1"
[ $RC -eq 0 ] || fail "setup: $OUT"
logins() { grep -c '"title":"CO LOGIN..."' "$T/A.events" || true; }

note "the first login uses the PED and caches its secret"
before=$(logins)
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\""
[ $RC -eq 0 ] || fail "first login: $OUT"
expect_contains "$OUT" "Role co activated"
[ "$(logins)" -eq $((before + 1)) ] || fail "the first login did not use the PED"

note "later logins need only the challenge, even with no PED"
kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\"; object create -label k -value v"
[ $RC -eq 0 ] || fail "activated login: $OUT"
expect_contains "$OUT" "User is activated, PED is not required."

note "a wrong challenge is refused (counted or not: activation_rules.sh)"
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame!\""
[ $RC -ne 0 ] || fail "wrong challenge accepted"
expect_contains "$OUT" "CKR_PIN_INCORRECT"

note "a restart forgets the cache without auto-activation"
kill -TERM "$HSM_PID"; wait_gone 10 "$HSM_PID"
rm -f "$T/ped-$BACKUP_SERIAL.sock"
start_hsm
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\""
[ $RC -ne 0 ] || fail "activation survived a restart without policy 23"
expect_contains "$OUT" "CKR_PED_UNPLUGGED"

note "with auto-activation the cache survives a restart"
rm -f "$T/A.events"
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "slot set -slot 1; role login -name po; partition changepolicy -policy 23 -value 1; role logout; role login -name co -password \"open sesame\""
[ $RC -eq 0 ] || fail "auto-activation setup: $OUT"
expect_contains "$OUT" "survives a restart (auto-activation)"
kill -TERM "$PED_A_PID"; wait_gone 10 "$PED_A_PID"
kill -TERM "$HSM_PID"; wait_gone 10 "$HSM_PID"
rm -f "$T/ped-$BACKUP_SERIAL.sock"
start_hsm
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\"; partition contents"
[ $RC -eq 0 ] || fail "auto-activated login after restart: $OUT"
expect_contains "$OUT" "Object Label: k"

note "role deactivate deletes the cached secret"
hsmcm -c "slot set -slot 1; role login -name co -password \"open sesame\"; role deactivate -name co; role login -name co -password \"open sesame\""
[ $RC -ne 0 ] || fail "login after deactivate did not need the PED"
expect_contains "$OUT" "Role co deactivated"
expect_contains "$OUT" "CKR_PED_UNPLUGGED"
echo "activation ok"
