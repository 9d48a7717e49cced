#!/bin/bash
# Tampering with the log pedclient wrote (issue 29's acceptance): a record
# deleted, two swapped, a byte edited, the file truncated, each at the
# start, in the middle and at the end of the log, is found by audit verify
# on the HSM, naming the record, and the files are never rewritten. The
# start and the end are where a chain alone is blind: the first record
# chains from a genesis value bound to the log secret, the serial and its
# number, and the HSM compares the log's end with the last record it handed
# to pedclient. pedtool audit-verify, with only the exported secret, finds
# the same, the end given with -last.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

auditor_keys "$T/a.policy"
LOGS="$XDG_DATA_HOME/openped/audit" # pedclient's own directory: the whole log is there
start_pedclient
start_hsm
start_ped A $HSM_SERIAL "$T/a.policy"

# Access records off: the Auditor's logins for the checks below add nothing,
# so the log the HSM knows ends where the copies end.
cmds="hsm init -label main; role init -name au
role login -name au; audit config evmask m,k,u,r,x,g,s,f size 16k interval never
audit export -file $T/main.lws -password twelvechars1"
for i in $(seq 1 70); do cmds="$cmds; audit logmsg -message filler number $i of seventy"; done
hsmcm -c "$cmds"
[ $RC -eq 0 ] || fail "setup: $OUT"
written() {
	hsmcm -c "role login -name au; audit status"
	W=$(awk -F': *' '/^[[:space:]]*Records written/{print $2}' <<<"$OUT")
	D=$(awk '/^[[:space:]]*Delivered/{print $NF}' <<<"$OUT")
	[ -n "$W" ] && [ "$D" = "$W" ]
}
wait_for 30 written || fail "records not delivered: $OUT"
LAST=$W
files=("$LOGS"/hsm_${HSM_SERIAL}_*.log)
[ ${#files[@]} -ge 2 ] || fail "no rotation at 16k: ${files[*]}"
mkdir "$T/orig"
cp "${files[@]}" "$T/orig"
FIRST=$(basename "${files[0]}")
NEWEST=$(basename "${files[-1]}")
n_first=$(wc -l <"$T/orig/$FIRST")
n_newest=$(wc -l <"$T/orig/$NEWEST")
first_of_newest=$(head -n 1 "$T/orig/$NEWEST" | cut -d'|' -f1)
[ "$n_first" -ge 8 ] && [ "$n_newest" -ge 4 ] || fail "files too short to tamper with: $n_first, $n_newest"

note "the untouched log verifies, to its last record"
hsmcm -c "role login -name au; audit verify -file $T/orig"
[ $RC -eq 0 ] || fail "verify: $OUT"
expect_contains "$OUT" "Verified messages 1 to $LAST"
expect_contains "$OUT" "The log reaches record $LAST"
expect_exit 0 "$BIN/pedtool" audit-verify -lws "$T/main.lws" -password twelvechars1 -file "$T/orig" -last "$LAST" -quiet
expect_contains "$OUT" "Verified messages 1 to $LAST"

# swap N: lines N and N + 1 change places.
swap() { awk -v a="$1" 'NR == a { h = $0; next } { print } NR == a + 1 { print h }'; }

# case NAME FILE EDIT EXPECT: a copy of the log whose FILE (first or newest)
# EDIT changes (a command on stdin to stdout); audit verify on the HSM
# fails, its output contains EXPECT, and the copy is as it was.
case_() {
	local name=$1 which=$2 edit=$3 expect=$4 f sum
	rm -rf "$T/c"
	cp -r "$T/orig" "$T/c"
	f="$T/c/$([ "$which" = first ] && echo "$FIRST" || echo "$NEWEST")"
	eval "$edit" <"$f" >"$T/edited"
	cmp -s "$T/edited" "$f" && fail "$name: the edit changed nothing"
	cat "$T/edited" >"$f"
	sum=$(cat "$T/c"/* | sha256sum)
	hsmcm -c "role login -name au; audit verify -file $T/c"
	[ $RC -ne 0 ] || fail "$name: the log verified: $OUT"
	expect_contains "$OUT" "$expect" "$name"
	[ "$(cat "$T/c"/* | sha256sum)" = "$sum" ] || fail "$name: verify changed the files"
	echo "    $name: $(grep -m1 'Verify failed' <<<"$OUT" | sed 's/^[[:space:]]*//' | cut -c1-150)"
}

note "at the start: the first record"
case_ "deleted" first "sed 1d" "Verify failed on record 2 "
case_ "swapped" first "swap 1" "Verify failed on record 2 "
case_ "edited" first "sed '1s/|audit init|/|audit inis|/'" "Verify failed on record 1 "
case_ "truncated" first "tail -c +3" "Verify failed at line 1 of $T/c/$FIRST"
# the first two records gone
case_ "two deleted" first "sed 1,2d" "Verify failed on record 3 "

note "in the middle: record 5, and the boundary between files"
case_ "deleted" first "sed 5d" "Verify failed on record 6 "
expect_contains "$OUT" "record 5 missing"
case_ "swapped" first "swap 5" "Verify failed on record 6 "
case_ "edited" first "sed '5s/filler number/filler numbeR/'" "Verify failed on record 5 "
case_ "truncated" first "head -c -20" "Verify failed on record $n_first "
case_ "whole records cut from a middle file" first "head -n -2" "Verify failed on record $((n_first + 1)) "

note "at the end: the newest record"
case_ "deleted" newest "sed '\$d'" "Verify failed after record $((LAST - 1)): the HSM handed records up to $LAST"
expect_contains "$OUT" "record $LAST is missing"
case_ "swapped" newest "swap $((n_newest - 1))" "Verify failed on record $LAST "
case_ "edited" newest "sed '\$s/of seventy/of sevenTy/'" "Verify failed on record $LAST "
case_ "truncated" newest "head -c -20" "Verify failed on record $LAST "
case_ "whole records cut" newest "head -n -3" "records $((LAST - 2)) to $LAST are missing"

note "pedtool audit-verify: the start by the genesis value, the end with -last"
set +e # expect_exit's own substitution fails by design here
rm -rf "$T/c" && cp -r "$T/orig" "$T/c" && sed -i 1d "$T/c/$FIRST"
expect_exit 1 "$BIN/pedtool" audit-verify -lws "$T/main.lws" -password twelvechars1 -file "$T/c" -quiet
expect_contains "$OUT" "Verify failed on record 2 "
rm -rf "$T/c" && cp -r "$T/orig" "$T/c" && sed -i '$d' "$T/c/$NEWEST"
expect_exit 1 "$BIN/pedtool" audit-verify -lws "$T/main.lws" -password twelvechars1 -file "$T/c" -last "$LAST" -quiet
expect_contains "$OUT" "Verify failed after record $((LAST - 1)): the log should reach record $LAST"
# without the count it cannot tell, and says so
expect_exit 0 "$BIN/pedtool" audit-verify -lws "$T/main.lws" -password twelvechars1 -file "$T/c" -quiet
expect_contains "$OUT" "cannot be told from a log that ends here"
set -e

note "one file on its own: linked to the file before it; the newest checked against the HSM"
hsmcm -c "role login -name au; audit verify -file $T/orig/$NEWEST"
[ $RC -eq 0 ] || fail "the newest file alone: $OUT"
expect_contains "$OUT" "Linked to record $((first_of_newest - 1)), the last of"
expect_contains "$OUT" "The log reaches record $LAST"
rm -rf "$T/c" && cp -r "$T/orig" "$T/c" && sed -i '$d' "$T/c/$NEWEST"
hsmcm -c "role login -name au; audit verify -file $T/c/$NEWEST"
[ $RC -ne 0 ] || fail "the newest file cut short verified on its own: $OUT"
expect_contains "$OUT" "record $LAST is missing"
# the file before it cut short: the link breaks
rm -rf "$T/c" && cp -r "$T/orig" "$T/c" && sed -i '$d' "$T/c/$(basename "${files[-2]}")"
hsmcm -c "role login -name au; audit verify -file $T/c/$NEWEST"
[ $RC -ne 0 ] || fail "a file whose predecessor lost its end verified: $OUT"
expect_contains "$OUT" "Verify failed on record $first_of_newest "
# the first file alone starts the log: it verifies
hsmcm -c "role login -name au; audit verify -file $T/orig/$FIRST"
[ $RC -eq 0 ] || fail "the first file alone: $OUT"
expect_contains "$OUT" "Verified messages 1 to $n_first"
note "records not yet delivered, taken out of the spool while hsm-sim runs"
PC=$(cat "$XDG_RUNTIME_DIR/openped/pedclient.pid")
kill -TERM "$PC"
wait_gone 20 "$PC" || fail "pedclient did not stop"
SPOOL="$T/state/hsm-$HSM_SERIAL.auditq"
hsmcm -c "role login -name au; audit logmsg -message waits one; audit logmsg -message waits two"
[ $RC -eq 0 ] || fail "logmsg: $OUT"
grep -q "|waits two|" "$SPOOL" || fail "the records are not in the spool"
hsmcm -c "role login -name au; audit verify -file $LOGS"
[ $RC -eq 0 ] || fail "the log with records waiting: $OUT"
expect_contains "$OUT" "the newer ones wait in its spool"
# the last one cut from the spool
cp "$SPOOL" "$T/spool.orig"
sed -i '$d' "$SPOOL"
hsmcm -c "role login -name au; audit verify -file $LOGS"
[ $RC -ne 0 ] || fail "a record cut from the spool went unnoticed: $OUT"
two=$(grep "|waits two|" "$T/spool.orig" | cut -d'|' -f1)
expect_contains "$OUT" "record $two, written by the HSM and not yet handed to pedclient, is not in its spool"
# the spool deleted
rm "$SPOOL"
hsmcm -c "role login -name au; audit verify -file $LOGS"
[ $RC -ne 0 ] || fail "the spool deleted went unnoticed: $OUT"
expect_contains "$OUT" "not yet handed to pedclient, is not in its spool"
echo "audit tampering ok"
