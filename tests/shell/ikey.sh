#!/bin/bash
# The ikey tool: blank keys, listing (table and JSON), labels, erase with and
# without confirmation, and verify naming every damaged key by serial.
. "$(dirname "$0")/../lib.sh"
export IKEY_STORE="$T/store"
IK=("${RUN[@]}" "$BIN/ikey")

note "new -count 5, then list -json shows five blank keys"
expect_exit 0 "${IK[@]}" new -count 5 -label "spare"
mapfile -t serials <<<"$OUT"
[ ${#serials[@]} -eq 5 ] || fail "expected 5 serials, got: $OUT"
for s in "${serials[@]}"; do [[ "$s" =~ ^[0-9A-F]{16}$ ]] || fail "bad serial '$s'"; done
expect_exit 0 "${IK[@]}" list -json
if command -v python3 >/dev/null; then
	n=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(1 for k in d["keys"] if k["blank"] and k["status"]=="ok"))' <<<"$OUT")
	expect_eq "$n" 5 "blank keys in list -json"
else
	expect_eq "$(grep -o '"blank":true' <<<"$OUT" | wc -l)" 5 "blank keys in list -json"
fi
expect_not_contains "$OUT" "share"
[ "$(stat -c %a "$IKEY_STORE")" = 700 ] || fail "store is not mode 0700"
[ "$(stat -c %a "$IKEY_STORE/${serials[0]}.ikey")" = 600 ] || fail "key file is not mode 0600"

note "the -store option wins over IKEY_STORE"
expect_exit 0 "${IK[@]}" -store "$T/other" new
expect_exit 0 "${IK[@]}" -store "$T/other" list
expect_eq "$(grep -c '^[0-9A-F]\{16\} ' <<<"$OUT")" 1 "keys in the other store"

note "label and show"
expect_exit 0 "${IK[@]}" label "${serials[0]}" "blue HSM SO #1"
expect_exit 0 "${IK[@]}" show "${serials[0]}"
expect_contains "$OUT" "Label:     blue HSM SO #1"
expect_contains "$OUT" "Contents:  blank"
expect_exit 0 "${IK[@]}" show "${serials[0],,}" -json
expect_contains "$OUT" '"label":"blue HSM SO #1"'
expect_exit 1 "${IK[@]}" show 0000000000000000
expect_contains "$OUT" "no such key"

note "flipping any byte of a key file makes verify name that key"
expect_exit 0 "${IK[@]}" verify
expect_contains "$OUT" "5 keys checked, 0 damaged"
f="$IKEY_STORE/${serials[1]}.ikey"
cp "$f" "$T/orig"
size=$(stat -c %s "$f")
for ((i = 0; i < size; i++)); do
	cp "$T/orig" "$f"
	byte=$(od -An -tu1 -j $i -N1 "$f" | tr -d ' ')
	printf "$(printf '\\%03o' $(((byte ^ 0x41) & 255)))" | dd of="$f" bs=1 seek=$i conv=notrunc status=none
	OUT=$("${IK[@]}" verify 2>&1); rc=$?
	[ $rc -ne 0 ] || fail "verify passed with byte $i flipped"
	expect_contains "$OUT" "key ${serials[1]}:" "verify output for byte $i"
done
cp "$T/orig" "$f"
truncate -s 20 "$f"
expect_exit 1 "${IK[@]}" verify
expect_contains "$OUT" "key ${serials[1]}: truncated"
expect_exit 1 "${IK[@]}" list
expect_contains "$OUT" "${serials[1]}  DAMAGED"

note "erase asks first; without a terminal it needs -force"
expect_exit 1 "${IK[@]}" erase "${serials[1]}"
expect_contains "$OUT" "use -force"
expect_exit 0 "${IK[@]}" erase "${serials[1]}" -force
expect_exit 0 "${IK[@]}" verify

note "stray temporaries from a killed writer are cleaned by verify"
echo junk >"$IKEY_STORE/${serials[2]}.ikey.tmp.999.0"
expect_exit 0 "${IK[@]}" verify
expect_contains "$OUT" "1 unfinished writes removed"
[ ! -e "$IKEY_STORE/${serials[2]}.ikey.tmp.999.0" ] || fail "temporary file left"

note "a store that is not there is an error, never made by a command that reads (issue 32, item 8)"
for cmd in list verify "show 0123456789ABCDEF" "label 0123456789ABCDEF x" "erase 0123456789ABCDEF -force"; do
	# shellcheck disable=SC2086 # the command's words
	expect_exit 1 "${IK[@]}" -store "$T/nothere" $cmd
	expect_contains "$OUT" "no key store at $T/nothere" "ikey $cmd"
	[ ! -e "$T/nothere" ] || fail "ikey $cmd made the store it was to read"
done

note "a write that fails names the store and the cause"
# a file size limit fails the write for root too (SIGXFSZ ignored: EFBIG)
OUT=$(trap '' XFSZ; ulimit -f 0; exec "${IK[@]}" new 2>&1); rc=$?
[ $rc -eq 1 ] || fail "ikey new under a zero file size limit exited $rc: $OUT"
expect_contains "$OUT" "cannot write a new key in the store $IKEY_STORE: File too large"

note "a label with escape sequences is listed and shown without them"
# ESC [2J clears the screen, ESC ]0; retitles the window, ESC ]52; writes the clipboard, U+009B is CSI
bad=$("${IK[@]}" new -label "$(printf 'a\033[2Jb\033]52;c;SGVsbG8=\007c\302\233d\tcaf\303\251')")
expect_exit 0 "${IK[@]}" list
line=$(grep -F "$bad" <<<"$OUT")
expect_not_contains "$line" "$(printf '\033')" "ikey list's line of the key"
expect_not_contains "$line" "$(printf '\007')" "ikey list's line of the key"
expect_not_contains "$line" "$(printf '\302\233')" "ikey list's line of the key"
expect_contains "$line" "a?[2Jb?]52;c;SGVsbG8=?c?d?caf$(printf '\303\251')" "ikey list's line of the key"
expect_exit 0 "${IK[@]}" show "$bad"
expect_not_contains "$OUT" "$(printf '\033')" "ikey show"
expect_contains "$OUT" "Label:     a?[2Jb?]52;c;SGVsbG8=?c?d?caf$(printf '\303\251')" "ikey show"
expect_exit 0 "${IK[@]}" list -json
expect_not_contains "$OUT" "$(printf '\033')" "ikey list -json"

note "usage errors"
expect_exit 2 "${IK[@]}" frobnicate
expect_exit 2 "${IK[@]}" new -count 0
expect_contains "$OUT" "out of range (1-1000)"
expect_exit 0 "${IK[@]}" -help
expect_contains "$OUT" "verify"
echo "ikey ok"
