#!/bin/bash
# A new keyset whose writing stops part way (no key before the PED's key
# timeout). role changepw writes the new splits over the role's own keys:
# once M of them are written they open the keyset and the HSM must take it,
# or the SO is left with two keys of a keyset the HSM does not have and one
# of the old one (every try a failed login, the third zeroizes the HSM).
# Fewer than M written open nothing: the HSM keeps the old keyset.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys s1 s2 s3 b1 dom
start_hsm
cat >"$T/init.policy" <<P
mofn so 2 3
write "SETTING SO" ${KEY[s1]} ${KEY[s2]} ${KEY[s3]}
write "SETTING DOMAIN" ${KEY[dom]}
P
start_ped A $HSM_SERIAL "$T/init.policy"
hsmcm -c "hsm init -label main"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
stop_ped A
keyset() { "$BIN/ikey" show "${KEY[$1]}" | awk '/^Keyset:/ {print $2}'; }
old=$(keyset s3)

# the script's first lines: role login, then changepw's login, then reuse? No, M=2, N=3
head_script() {
	cat <<S
expect "SO LOGIN"
insert ${KEY[s1]}
press enter
expect "Keys read: 01 of 02"
insert ${KEY[s2]}
press enter
wait-idle
expect "SO LOGIN"
insert ${KEY[s1]}
press enter
expect "Keys read: 01 of 02"
insert ${KEY[s2]}
press enter
expect "reuse an existing keyset?"
press no
expect "M value?"
type 2
press enter
expect "N value?"
type 3
press enter
S
}
# write_one SERIAL WARNING: one key of the new keyset, over what it held
write_one() {
	cat <<S
expect "PED Key (BLUE) Press ENTER."
remove
insert $1
press enter
expect "$2"
press yes
S
	[ "$2" = "This PED Key is blank." ] || printf 'expect "Are you sure"\npress yes\n'
	cat <<S
expect "Enter new PED PIN:"
press enter
expect "Confirm new PED PIN:"
press enter
S
}
run_changepw() {
	play_script "$1" "$T/$1.script" -keytimeout 2
	hsmcm -c "role login -name so; role changepw -name so"
	wait "$SPID" || fail "script $1 did not run through: $(cat "$T/$1.log")"
}
# login_with NAME A B: a PED presenting keys A and B logs the SO in
login_with() {
	printf 'use "SO LOGIN" %s %s\n' "${KEY[$2]}" "${KEY[$3]}" >"$T/$1.policy"
	start_ped "$1" $HSM_SERIAL "$T/$1.policy"
	hsmcm -c "role login -name so"
	stop_ped "$1"
}

note "one blank key written, then none: fewer than M, the old keyset stays"
{ head_script; write_one "${KEY[b1]}" "This PED Key is blank."
  printf 'expect "Keys write: 01 of 03"\nwait-idle -timeout 30\nremove\n'; } >"$T/one.script"
run_changepw one
expect_contains "$OUT" "Command Result : 0x80000024 (CKR_TIMEOUT)"
login_with L1 s1 s3
[ $RC -eq 0 ] || fail "the old keyset no longer opens the SO role: $OUT"

note "the new 2 of 3 over s1 and s2, and key 3 never comes: the quorum is written"
{ head_script; write_one "${KEY[s1]}" "This PED Key is for SO."
  write_one "${KEY[s2]}" "This PED Key is for SO."
  printf 'expect "Keys write: 02 of 03"\nwait-idle -timeout 30\nremove\n'; } >"$T/two.script"
run_changepw two
[ $RC -eq 0 ] || fail "changepw that wrote the quorum failed: $OUT"
new=$(keyset s1)
[ "$new" = "$(keyset s2)" ] && [ "$new" != "$old" ] && [ "$(keyset s3)" = "$old" ] ||
	fail "unexpected keysets: s1 $new, s2 $(keyset s2), s3 $(keyset s3), old $old"
login_with L2 s1 s2
[ $RC -eq 0 ] || fail "the keys written do not open the SO role: $OUT"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 0 of 3"
echo PASS
