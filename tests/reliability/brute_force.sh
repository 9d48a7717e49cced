#!/bin/bash
# Brute force: guessing PINs and keys hits the documented lockouts exactly.
#   - Crypto Officer: partition policy 20 (lowered to 4 here) failed logins
#     lock the CO and CU roles at the 4th, not before; a locked role is
#     refused without asking the PED (nothing more to guess against).
#   - Partition SO, guessing the PIN of one of its 2-of-2 keys: ten
#     consecutive failures zeroize the partition at the 10th; a good login
#     in between starts the count again.
#   - HSM SO: three consecutive failures zeroize the HSM at the 3rd.
# A wrong key is a key of the right colour from another HSM (a wrong secret);
# a wrong PIN is the right key with another PIN.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../e2e/hsm_lib.sh"
set -e

cases=0 exact=0
# case_done NAME OK: one lockout checked
case_done() {
	cases=$((cases + 1))
	if [ "$2" = 1 ]; then exact=$((exact + 1)); echo "brute force: $1: exact"; else echo "brute force: $1: NOT exact" >&2; fi
}
finish() {
	echo "result: brute_cases=$cases brute_exact=$exact"
	[ $cases -gt 0 ] && [ $exact -eq $cases ]
}

# ped NAME SERIAL POLICY_TEXT: (re)starts PED NAME with that policy
ped() {
	local pid_var="PED_$1_PID"
	if [ -n "${!pid_var:-}" ]; then kill -TERM "${!pid_var}" 2>/dev/null || true; wait_gone 10 "${!pid_var}"; fi
	printf '%s\n' "$3" >"$T/$1.policy"
	: >"$T/$1.events"
	start_ped "$1" "$2" "$T/$1.policy"
}

# fail_once WHAT CMD: CMD is refused with CKR_PIN_INCORRECT and no lockout yet
wrong() {
	hsmcm -c "$2"
	[ $RC -ne 0 ] || fail "$1: a wrong credential logged in"
	expect_contains "$OUT" "CKR_PIN_INCORRECT"
}

new_keys so dom po1 po2 co bso bdom bpo xco
start_hsm

note "setup: HSM A with partition p1 (2-of-2 PO keys with PINs, CO), HSM B with its own keys"
ped A $HSM_SERIAL "write \"SETTING SO\" ${KEY[so]}
reuse \"SETTING DOMAIN\" no yes
write \"SETTING DOMAIN\" ${KEY[dom]}
use \"READING DOMAIN\" ${KEY[dom]}
use \"SO LOGIN\" ${KEY[so]}
mofn \"SETTING PO\" 2 2
write \"SETTING PO\" ${KEY[po1]} ${KEY[po2]}
newpin \"SETTING PO\" 11111111 22222222
pin ${KEY[po1]} 11111111
pin ${KEY[po2]} 22222222
use \"PO LOGIN\" ${KEY[po1]} ${KEY[po2]}
write \"SETTING CO\" ${KEY[co]}
use \"CO LOGIN\" ${KEY[co]}"
ped B $BACKUP_SERIAL "write \"SETTING SO\" ${KEY[bso]}
reuse \"SETTING DOMAIN\" no yes
write \"SETTING DOMAIN\" ${KEY[bdom]}
use \"READING DOMAIN\" ${KEY[bdom]}
use \"SO LOGIN\" ${KEY[bso]}
write \"SETTING PO\" ${KEY[bpo]}
use \"PO LOGIN\" ${KEY[bpo]}
write \"SETTING CO\" ${KEY[xco]}"
hsmcm -c "hsm init -label a; role login -name so; partition create -label p1; slot set -slot 1; partition init -label p1; role login -name po; role init -name co; partition changepolicy -policy 20 -value 4; role login -name co"
[ $RC -eq 0 ] || { tail -n 5 "$T/A.log" >&2; fail "setup of HSM A: $OUT"; }
hsmcm -c "slot set -slot 20; hsm init -label b; role login -name so; partition create -label q; slot list"
[ $RC -eq 0 ] || fail "setup of HSM B: $OUT"
QSLOT=$(awk '/Slot Id ->/{id=$NF} /Label ->/{ if ($NF == "q") print id }' <<<"$OUT" | head -n 1)
[ -n "$QSLOT" ] || QSLOT=21
hsmcm -c "slot set -slot $QSLOT; partition init -label q; role login -name po; role init -name co"
[ $RC -eq 0 ] || fail "setup of HSM B's partition (slot $QSLOT): $OUT"

note "Crypto Officer, another partition's black key: locked at the 4th failure (policy 20 = 4)"
ped A $HSM_SERIAL "use \"CO LOGIN\" ${KEY[xco]}"
ok=1
for n in 1 2 3; do
	wrong "CO guess $n" "slot set -slot 1; role login -name co"
	case $OUT in *"role is locked"*) ok=0; echo "locked early at guess $n" >&2 ;; esac
done
hsmcm -c "slot set -slot 1; role login -name co"
[ $RC -ne 0 ] || fail "the 4th wrong CO key logged in"
case $OUT in *"Too many failed logins: the role is locked."*) ;; *) ok=0; echo "not locked at the 4th: $OUT" >&2 ;; esac
note "the locked CO is refused without the PED; the right key does not unlock it"
ped A $HSM_SERIAL "use \"CO LOGIN\" ${KEY[co]}"
hsmcm -c "slot set -slot 1; role login -name co"
[ $RC -ne 0 ] || { ok=0; echo "the locked CO logged in with the right key" >&2; }
expect_contains "$OUT" "CKR_PIN_LOCKED"
expect_not_contains "$OUT" "Please attend to the PED."
case_done "CO lockout at policy 20" $ok

note "Partition SO, guessing one key's PIN: 9 failures, a good login resets, then zeroized at the 10th"
ped A $HSM_SERIAL "pin ${KEY[po1]} 11111111
pin ${KEY[po2]} 22222221
use \"PO LOGIN\" ${KEY[po1]} ${KEY[po2]}"
ok=1
for n in $(seq 1 9); do
	wrong "PO PIN guess $n" "slot set -slot 1; role login -name po"
	case $OUT in *ZEROIZED!*|*"has been ZEROIZED"*) ok=0; echo "zeroized early at guess $n" >&2 ;; esac
done
ped A $HSM_SERIAL "pin ${KEY[po1]} 11111111
pin ${KEY[po2]} 22222222
use \"PO LOGIN\" ${KEY[po1]} ${KEY[po2]}"
hsmcm -c "slot set -slot 1; role login -name po"
[ $RC -eq 0 ] || { ok=0; echo "the right PINs were refused after 9 failures: $OUT" >&2; }
ped A $HSM_SERIAL "pin ${KEY[po1]} 11111112
pin ${KEY[po2]} 22222222
use \"PO LOGIN\" ${KEY[po1]} ${KEY[po2]}"
for n in $(seq 1 9); do
	wrong "PO PIN guess $n after the reset" "slot set -slot 1; role login -name po"
	case $OUT in *"has been ZEROIZED"*) ok=0; echo "zeroized early at guess $n after the reset" >&2 ;; esac
done
hsmcm -c "slot set -slot 1; role login -name po"
[ $RC -ne 0 ] || fail "the 10th wrong PIN logged in"
case $OUT in *"Too many failed Partition SO logins: the partition has been ZEROIZED."*) ;; *) ok=0; echo "not zeroized at the 10th: $OUT" >&2 ;; esac
hsmcm -c "slot set -slot 1; role login -name co"
[ $RC -ne 0 ] || { ok=0; echo "the CO of a zeroized partition logged in" >&2; }
case_done "Partition SO zeroized at 10 PIN guesses" $ok

note "HSM SO, HSM B's blue key: 2 failures, a good login resets, then zeroized at the 3rd"
ped A $HSM_SERIAL "use \"SO LOGIN\" ${KEY[bso]}"
ok=1
for n in 1 2; do wrong "SO guess $n" "role login -name so"; done
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 2 of 3"
ped A $HSM_SERIAL "use \"SO LOGIN\" ${KEY[so]}"
hsmcm -c "role login -name so; hsm showinfo"
[ $RC -eq 0 ] || { ok=0; echo "the right SO key was refused after 2 failures: $OUT" >&2; }
case $OUT in *"SO failed logins -> 0 of 3"*) ;; *) ok=0; echo "a good SO login did not reset the count: $OUT" >&2 ;; esac
ped A $HSM_SERIAL "use \"SO LOGIN\" ${KEY[bso]}"
for n in 1 2; do
	wrong "SO guess $n after the reset" "role login -name so"
	case $OUT in *"has been ZEROIZED"*) ok=0 ;; esac
done
hsmcm -c "role login -name so"
case $OUT in *"Too many failed HSM SO logins: the HSM has been ZEROIZED."*) ;; *) ok=0; echo "not zeroized at the 3rd: $OUT" >&2 ;; esac
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "HSM Initialized -> no (zeroized)"
hsmcm -c "slot set -slot 20; hsm showinfo"
expect_contains "$OUT" "HSM Initialized -> yes"
case_done "HSM SO zeroized at 3 key guesses" $ok

finish
