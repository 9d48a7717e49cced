#!/bin/bash
# An M of N login rehearsed with the mistakes people make (chapter 5), and
# how chapter 8 counts them: a key of the old keyset of a zeroized and
# re-initialized HSM, the same key twice, a duplicate of a split already
# read, a key of another colour, a blank key, a damaged and a truncated
# key file. None of them counts as a split of the keyset or as a failed
# login ("if you merely forget to insert the PED key, or insert the wrong
# color key, that is not counted"); the old keyset presented whole is "an
# incorrect PED key of the correct type" and counts once; a login left
# unfinished (the key timeout) counts nothing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys o1 o2 o3 n1 n2 n3 d1 d2 d3 dom blank bad short
start_hsm
cat >"$T/old.policy" <<P
mofn so 2 3
write "SETTING SO" ${KEY[o1]} ${KEY[o2]} ${KEY[o3]}
write "SETTING DOMAIN" ${KEY[dom]}
P
start_ped A $HSM_SERIAL "$T/old.policy"
hsmcm -c "hsm init -label old; hsm zeroize -force"
[ $RC -eq 0 ] || fail "first init and zeroize: $OUT"
stop_ped A
note "re-initialized: a new 2 of 3 SO keyset and a duplicate set, the old red key reused"
cat >"$T/new.policy" <<P
mofn so 2 3
write "SETTING SO" ${KEY[n1]} ${KEY[n2]} ${KEY[n3]} ${KEY[d1]} ${KEY[d2]} ${KEY[d3]}
duplicates so 1
reuse "SETTING DOMAIN" yes
use "SETTING DOMAIN" ${KEY[dom]}
P
start_ped B $HSM_SERIAL "$T/new.policy"
hsmcm -c "hsm init -label new"
[ $RC -eq 0 ] || fail "second init: $OUT"
stop_ped B
"$BIN/ikey" show "${KEY[d1]}" | grep -q "Split:     1 of 3" || fail "d1 is not a duplicate of split 1"

# a damaged key (one byte of n2's split flipped) and a truncated one (half of n3)
python3 - "$IKEY_STORE" "${KEY[n2]}" "${KEY[bad]}" "${KEY[n3]}" "${KEY[short]}" <<'PY'
import sys
store, src, bad, src2, short = sys.argv[1:]
def load(s): return bytearray(open(f"{store}/{s}.ikey", "rb").read())
def save(s, d): open(f"{store}/{s}.ikey", "wb").write(bytes(d))
d = load(src); d[8:16] = load(bad)[8:16]; d[-40] ^= 1; save(bad, d)
d = load(src2); d[8:16] = load(short)[8:16]; save(short, d[:len(d) // 2])
PY

# present SERIAL SCREEN: a key in, Enter, and the screen the PED must show
present() { printf 'remove\ninsert %s\npress enter\nexpect "%s"\n' "$1" "$2"; }
{
	echo 'expect "SO LOGIN... Insert a SO / HSM Admin PED Key (BLUE) Press ENTER."'
	present "${KEY[o1]}" "Keys read: 01 of 02 Insert another"
	present "${KEY[n1]}" "Keys read: 01 of 02 Insert another"
	present "${KEY[n1]}" "SO LOGIN... This split was already read. Press ENTER."
	echo 'press enter'
	present "${KEY[d1]}" "SO LOGIN... This split was already read. Press ENTER."
	echo 'press enter'
	present "${KEY[dom]}" "SO LOGIN... ** WARNING ** This PED Key is for Domain. Press ENTER."
	echo 'press enter'
	present "${KEY[blank]}" "SO LOGIN... ** WARNING ** This PED Key is blank. Press ENTER."
	echo 'press enter'
	present "${KEY[bad]}" "** ERROR ** PED Key unreadable. Data corrupt. Press ENTER."
	echo 'press enter'
	present "${KEY[short]}" "** ERROR ** PED Key unreadable."
	echo 'press enter'
	echo 'expect "Keys read: 01 of 02 Insert another"'
	echo "remove"
	echo "insert ${KEY[d2]}"
	echo 'press enter'
	echo 'wait-idle'
	echo 'remove'
} >"$T/mistakes.script"
play_script S "$T/mistakes.script"
hsmcm -c "role login -name so"
[ $RC -eq 0 ] || fail "login after the mistakes: $OUT"
wait "$SPID" || fail "the script did not run through: $(cat "$T/S.log")"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 0 of 3"

note "the old keyset whole: a wrong key of the right colour, one failed login"
printf 'use "SO LOGIN" %s %s\n' "${KEY[o1]}" "${KEY[o2]}" >"$T/old_login.policy"
start_ped C $HSM_SERIAL "$T/old_login.policy"
hsmcm -c "role login -name so"
expect_contains "$OUT" "Command Result : 0xa0 (CKR_PIN_INCORRECT)"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 1 of 3"
stop_ped C

note "one split read, the second never comes: CKR_TIMEOUT, nothing counted"
printf 'expect "SO LOGIN"\ninsert %s\npress enter\nexpect "Keys read: 01 of 02"\nremove\nwait-idle -timeout 30\n' \
	"${KEY[n3]}" >"$T/half.script"
play_script H "$T/half.script" -keytimeout 2
hsmcm -c "role login -name so"
expect_contains "$OUT" "Command Result : 0x80000024 (CKR_TIMEOUT)"
wait "$SPID" || fail "the half script did not run through: $(cat "$T/H.log")"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 1 of 3"
echo PASS
