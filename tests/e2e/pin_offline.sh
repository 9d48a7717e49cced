#!/bin/bash
# Security issue 2026-12, finding 3: with more than M keys of one keyset
# under one PIN, a thief checks PIN guesses offline (each guess unmasks the
# splits, and they agree only under the right PIN), then logs in with a
# PIN-less copy and no failure counted. The price of a guess is the defence.
#
# Here: the PED masks a 1-of-2 SO keyset at the default scrypt cost, named
# on each key, and logs in end to end with it; tests/tools/pin_thief, given
# both key files, finds the PIN in a short candidate list and reports
# guesses per core-second (CPU time); again at the cheap cost a test keyset
# chooses on purpose, and on format 1 files (HKDF) for comparison. Rates are
# reported, never asserted (docs/pinmask.md, make bench).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

PIN=73519246
CHEAP_PIN=24681357
new_keys so1 so2 dom bso1 bso2 bdom
start_hsm

cat >"$T/a.policy" <<P
mofn so 1 2
write "SETTING SO" ${KEY[so1]} ${KEY[so2]}
newpin so $PIN $PIN
write "SETTING DOMAIN" ${KEY[dom]}
pin ${KEY[so1]} $PIN
use "SO LOGIN" ${KEY[so1]}
P
note "a 1-of-2 SO keyset, one PIN on both keys, at the PED's default cost"
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "hsm init -label main"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
for k in so1 so2; do
	expect_exit 0 "$BIN/ikey" show "${KEY[$k]}" -json
	expect_contains "$OUT" '"pin":true'
	expect_contains "$OUT" '"pin_mask":{"kdf":"scrypt","log2n":16,"r":8,"p":1}' "key $k"
	expect_contains "$OUT" '"format":2'
done
expect_exit 0 "$BIN/ikey" show "${KEY[dom]}" -json
expect_contains "$OUT" '"pin_mask":null'

note "an end-to-end login unmasks at the default cost"
hsmcm -c "role login -name so"
[ $RC -eq 0 ] || fail "SO login at the default cost: $OUT"
hsmcm -c "hsm showinfo"
expect_contains "$OUT" "SO failed logins -> 0 of 3"

note "the thief, with both key files and a short candidate list"
# the right PIN last: every wrong guess is paid for
printf '%s\n' 1234 11111111 73519245 99999999 12345678 "$PIN" >"$T/candidates"
OUT=$("$TOOLS/pin_thief" -candidates "$T/candidates" "$IKEY_STORE/${KEY[so1]}.ikey" \
	"$IKEY_STORE/${KEY[so2]}.ikey" 2>&1) || fail "the thief did not find the PIN: $OUT"
echo "$OUT"
expect_contains "$OUT" "found=$PIN tried=6 "
expect_contains "$OUT" 'mask="scrypt N=2^16 r=8 p=1"'
default_rate=$(sed -n 's/.*guesses_per_core_s=\([0-9.]*\).*/\1/p' <<<"$OUT")
# a list without the PIN finds nothing: the check is the interpolation, not luck
printf '%s\n' 1234 73519247 >"$T/wrong"
set +e
OUT=$("$TOOLS/pin_thief" -candidates "$T/wrong" "$IKEY_STORE/${KEY[so1]}.ikey" "$IKEY_STORE/${KEY[so2]}.ikey" 2>&1)
rc=$?
set -e
[ $rc -eq 1 ] || fail "a list without the PIN: exit $rc: $OUT"
expect_contains "$OUT" "found=none tried=2 "
# one key alone (M splits, not M + 1) gives no test at all
set +e
OUT=$("$TOOLS/pin_thief" -candidates "$T/candidates" "$IKEY_STORE/${KEY[so1]}.ikey" "$IKEY_STORE/${KEY[so1]}.ikey" 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] || fail "the same key twice: exit $rc: $OUT"
expect_contains "$OUT" "repeats split 1"

note "a test keyset at the cheap cost, chosen with -pinmaskcost 8"
cat >"$T/b.policy" <<P
mofn so 1 2
write "SETTING SO" ${KEY[bso1]} ${KEY[bso2]}
newpin so $CHEAP_PIN $CHEAP_PIN
write "SETTING DOMAIN" ${KEY[bdom]}
P
start_ped B $BACKUP_SERIAL "$T/b.policy" -pinmaskcost 8
grep -q "scrypt N=2^8 r=8 p=1, cheaper than the default: for test keysets only" "$T/B.log" ||
	fail "the PED did not warn of its cheap cost: $(cat "$T/B.log")"
hsmcm -c "slot set -slot 20; hsm init -label backup"
[ $RC -eq 0 ] || fail "backup hsm init: $OUT"
expect_exit 0 "$BIN/ikey" show "${KEY[bso1]}" -json
expect_contains "$OUT" '"pin_mask":{"kdf":"scrypt","log2n":8,"r":8,"p":1}'
OUT=$("$TOOLS/pin_thief" -range 24681200 "$CHEAP_PIN" "$IKEY_STORE/${KEY[bso1]}.ikey" \
	"$IKEY_STORE/${KEY[bso2]}.ikey" 2>&1) || fail "the thief did not find the cheap PIN: $OUT"
echo "$OUT"
expect_contains "$OUT" "found=$CHEAP_PIN tried=158 "
cheap_rate=$(sed -n 's/.*guesses_per_core_s=\([0-9.]*\).*/\1/p' <<<"$OUT")

note "format 1 key files (HKDF, tests/vectors/ikey-v1), as the PED wrote them before"
OUT=$("$TOOLS/pin_thief" -range 73500000 "$PIN" "$PED_SRCDIR"/tests/vectors/ikey-v1/*.ikey 2>&1) ||
	fail "the thief did not find the format 1 PIN: $OUT"
echo "$OUT"
expect_contains "$OUT" "found=$PIN tried=19247 "
v1_rate=$(sed -n 's/.*guesses_per_core_s=\([0-9.]*\).*/\1/p' <<<"$OUT")

note "offline guesses per core-second against a stolen 1-of-2 keyset: default scrypt $default_rate," \
	"cheap test cost $cheap_rate, format 1 HKDF $v1_rate"
echo PASS
