#!/bin/bash
# hsm init of an initialized HSM (the SO logged in) writes the new blue
# keyset, then asks for the domain. When the domain ceremony failed (no
# key before the PED's key timeout), the HSM kept its old SO secret while
# the SO's key, overwritten, held the new one: no key opened the SO role,
# every try was a failed login, and hsm zeroize was the only way back.
# Now the HSM takes the new SO keyset (as role changepw would) and nothing
# else changes.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
new_keys so dom
start_hsm
printf 'write "SETTING SO" %s\nwrite "SETTING DOMAIN" %s\n' "${KEY[so]}" "${KEY[dom]}" >"$T/a.policy"
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label first"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
stop_ped A

cat >"$T/r.script" <<S
expect "SO LOGIN"
insert ${KEY[so]}
press enter
wait-idle
expect "SETTING SO PIN... Would you like to reuse an existing keyset?"
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
expect "SETTING DOMAIN... Would you like to reuse an existing keyset?"
# nobody brings the red key: the key timeout
wait-idle -timeout 30
remove
S
play_script S "$T/r.script" -keytimeout 2
hsmcm -c "role login -name so; hsm init -label second"
expect_contains "$OUT" "Command Result : 0x80000024 (CKR_TIMEOUT)"
INIT_OUT=$OUT
wait "$SPID" || fail "the script did not run through: $(cat "$T/S.log")"

note "the SO's key, rewritten, opens the role; the HSM is as it was"
printf 'use "SO LOGIN" %s\n' "${KEY[so]}" >"$T/l.policy"
start_ped L $HSM_SERIAL "$T/l.policy"
hsmcm -c "role login -name so; hsm showinfo"
[ $RC -eq 0 ] || fail "the SO key no longer opens the role: $OUT"
expect_contains "$OUT" "SO failed logins -> 0 of 3"
expect_contains "$OUT" "HSM Label -> first"
expect_contains "$INIT_OUT" "the HSM is not re-initialized"
echo PASS
