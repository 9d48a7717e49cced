#!/bin/bash
# Chapter 5, "To set up a Remote PED connection" (steps 7-10): ped connect
# returns "No Error" and the PED asks for nothing; "Issue the first command
# that requires authentication ... The Luna PED prompts for an orange PED
# key", then for the key the command needs. The session key is computed then
# (docs/protocol.md, section 11: the HSM sends its first handshake message
# with its first PED operation). hsmcm says "present the orange RPK" only when
# the PED does not hold it; with it held, ped connect keys the session at once.
# (It used to ask for the orange key at ped connect, and to say so always.)
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

new_keys so dom rpk
init_hsm_with_rpv first
start_pedserver A
start_pedclient
printf 'use rpv %s\nuse so %s\n' "${KEY[rpk]}" "${KEY[so]}" >"$T/R.policy"
start_remote_ped R A "$T/R.policy"
screens() { grep '"event":"screen"' "$T/R.events" | sed 's/.*"text":"\(.*\)"}$/\1/; s/\(\\n\)*$//; s|\\n| / |g'; }

note "ped connect: No Error, the PED awaits a command; nothing asked, nothing said of the orange key"
hsmcm -c "ped connect -ip 127.0.0.1 -port $PORT_A"
[ $RC -eq 0 ] || fail "ped connect: $OUT"
expect_not_contains "$OUT" "present the orange RPK"
wait_for 10 grep -q '"event":"session"' "$T/R.events" || fail "pedserver opened no session: $(cat "$T/R.events")"
hsmcm -c "ped get"
expect_contains "$OUT" "listening to remote PED"
expect_contains "$OUT" "session key at the first PED operation"
expect_eq "$(screens | tail -n 1)" "Remote PED mode / Awaiting command..." "the PED's screen after ped connect"
! grep -q "COMPUTE SESSION KEY" "$T/R.events" || fail "the PED asked for the orange key at ped connect: $(screens)"

note "the first command that needs the PED: orange key, Token found, then the blue key"
hsmcm -c "role login -name so"
[ $RC -eq 0 ] || fail "role login: $OUT"
expect_contains "$OUT" "Please attend to the PED: present the orange RPK to compute the session key."
sequence=$(screens | grep -o "COMPUTE SESSION KEY. / Insert a\|Remote PED mode / Token found\|SO LOGIN... / Insert a" | uniq | head -n 3 | tr '\n' ';')
expect_eq "$sequence" "COMPUTE SESSION KEY. / Insert a;Remote PED mode / Token found;SO LOGIN... / Insert a;" "the PED's prompts"
grep -q '"scheme":"2e2s"' "$T/R.events" || fail "the session did not run 2e2s"

note "the PED holds the RPK: the next ped connect keys at once, and says nothing of the orange key"
wait_for 10 shown A "Ped2 RPK Serial Numbers   ($HSM_SERIAL)" || fail "pedserver does not know the PED holds the RPK: $OUT"
hsmcm -c "ped disconnect; ped connect -ip 127.0.0.1 -port $PORT_A; ped get; role login -name so"
[ $RC -eq 0 ] || fail "second session: $OUT"
expect_not_contains "$OUT" "present the orange RPK"
expect_not_contains "$OUT" "session key at the first PED operation"
[ "$(grep -c "COMPUTE SESSION KEY. / Insert a" <<<"$(screens)")" = 1 ] || fail "the orange key asked again: $(screens)"

note "-wait keys the session at ped connect (a new PED: the orange key is asked, and said)"
kill -TERM "$PED_R_PID"; wait_gone 10 "$PED_R_PID"
: >"$T/R.events"
start_remote_ped R A "$T/R.policy"
hsmcm -c "ped disconnect; ped connect -ip 127.0.0.1 -port $PORT_A -wait; ped get"
[ $RC -eq 0 ] || fail "ped connect -wait: $OUT"
expect_contains "$OUT" "present the orange RPK"
expect_not_contains "$OUT" "session key at the first PED operation"
grep -q '"remote":true' "$T/R.events" || fail "-wait returned before the session was keyed"
echo "remote first command ok"
