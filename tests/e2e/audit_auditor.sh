#!/bin/bash
# The white-key Auditor (issue 29): role init, login, changepw and logout
# through a headless PED; the Auditor runs only the audit commands, hsm
# showinfo and the ped commands but ped vector; events of each class make
# chained records that audit verify checks, naming the first bad record of
# a log altered, cut, reordered or missing one; the wrapped log secret
# moves to another HSM, and an HSM whose Auditor has the same white key
# verifies the log, one with another white key does not.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e

new_keys so dom au au2 bso bdom bau
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
write "SETTING DOMAIN" ${KEY[dom]}
write "SETTING AU" ${KEY[au]} ${KEY[au2]}
P
# the Auditor's logins in the order the suite makes them: eleven with the
# first white key (the last of them is changepw's old key), then the new one
aus=$(printf '%s / ' ${KEY[au]} ${KEY[au]} ${KEY[au]} ${KEY[au]} ${KEY[au]} ${KEY[au]} ${KEY[au]} ${KEY[au]} ${KEY[au]} ${KEY[au]} ${KEY[au]})
echo "use \"AU LOGIN\" $aus${KEY[au2]} / ${KEY[au2]} / ${KEY[au2]}" >>"$T/a.policy"
# the backup HSM's Auditor: first its own white key, then the first HSM's
cat >"$T/b.policy" <<P
write "SETTING SO" ${KEY[bso]}
use "SO LOGIN" ${KEY[bso]}
write "SETTING DOMAIN" ${KEY[bdom]}
reuse "SETTING AU" no yes
write "SETTING AU" ${KEY[bau]}
use "SETTING AU" ${KEY[au]}
use "AU LOGIN" ${KEY[bau]} / ${KEY[bau]} / ${KEY[bau]} / ${KEY[au]} / ${KEY[au]}
P
start_hsm
start_ped A $HSM_SERIAL "$T/a.policy"
start_ped B $BACKUP_SERIAL "$T/b.policy"
SPOOL="$T/state/hsm-$HSM_SERIAL.auditq"

note "no Auditor: the audit commands want one"
hsmcm -c "hsm init -label main; audit status"
expect_contains "$OUT" "Error: log in as Auditor"
[ ! -s "$SPOOL" ] || fail "records before an Auditor: $(cat "$SPOOL")"

note "the Auditor is initialized (white key, nobody logged in); it turns the log on"
hsmcm -c "role init -name au
role login -name au; audit config evmask all; audit config get; audit logmsg -message first light; audit status"
[ $RC -eq 0 ] || fail "auditor setup: $OUT"
expect_contains "$OUT" "event mask        : access,manage,keymanage,usage,first,external,logmanage,success,failure"
expect_contains "$OUT" "HSM Logging Status : OK"
grep -q '|external|S|au|-|0|0x00000000|audit logmsg|first light|' "$SPOOL" || fail "logmsg record: $(cat "$SPOOL")"

note "the Auditor runs nothing else"
hsmcm -c "role login -name au; partition create -label nope"
expect_contains "$OUT" "Error: the Auditor may run only the audit commands"
expect_contains "$OUT" "CKR_ACTION_PROHIBITED"
hsmcm -c "role login -name au; ped vector init"
expect_contains "$OUT" "CKR_ACTION_PROHIBITED"
hsmcm -c "role login -name au; hsm showinfo; audit time get"
[ $RC -eq 0 ] || fail "the Auditor's own commands: $OUT"
expect_contains "$OUT" "HSM time is:"

note "events of the other classes: access (a failed SO login too) and manage"
hsmcm -c "role login -name so; partition create -label p1; role logout"
[ $RC -eq 0 ] || fail "SO work: $OUT"
grep -q '|access|S|so|0|0|0x00000000|role login|-name so|' "$SPOOL" || fail "login record: $(cat "$SPOOL")"
grep -q '|manage|S|so|0|0|0x00000000|partition create|-label p1|' "$SPOOL" || fail "manage record"

note "audit verify on the records as the HSM keeps them"
hsmcm -c "role login -name au; audit verify -file $SPOOL"
[ $RC -eq 0 ] || fail "verify: $OUT"
last=$(tail -n 1 "$SPOOL" | cut -d'|' -f1)
expect_contains "$OUT" "Verifying log on HSM with serial $HSM_SERIAL"
expect_contains "$OUT" "audit logmsg: first light"
expect_contains "$OUT" "partition create: -label p1"
# the verify run itself adds records after the ones the file had
expect_contains "$OUT" "Verified messages 1 to "

note "tampering: each is caught, naming the record; the files are left as they were"
cp "$SPOOL" "$T/log"
n=$(wc -l <"$T/log")
[ "$n" -ge 6 ] || fail "too few records to tamper with: $n"
sed '3d' "$T/log" >"$T/deleted.log"
awk 'NR == 3 { held = $0; next } { print } NR == 4 { print held }' "$T/log" >"$T/swapped.log"
sed '4s/0x00000000/0x00000001/' "$T/log" >"$T/edited.log"
head -c -30 "$T/log" >"$T/truncated.log"
for f in deleted swapped edited truncated; do
	sum=$(sha256sum <"$T/$f.log")
	hsmcm -c "role login -name au; audit verify -file $T/$f.log"
	[ $RC -ne 0 ] || fail "$f log verified: $OUT"
	case $f in
	deleted) expect_contains "$OUT" "Verify failed on record 4" ;;
	swapped) expect_contains "$OUT" "Verify failed on record 4" ;;
	edited) expect_contains "$OUT" "Verify failed on record 4" ;;
	truncated) expect_contains "$OUT" "Verify failed on record $n" ;;
	esac
	[ "$(sha256sum <"$T/$f.log")" = "$sum" ] || fail "verify changed $f.log"
done

note "role changepw -name au: the old white key, then a new keyset; the log goes on"
hsmcm -c "role login -name au; role changepw -name au; role logout; role login -name au; audit verify -file $SPOOL"
[ $RC -eq 0 ] || fail "changepw: $OUT"

note "another HSM, another white key: its own secret does not verify this log, the imported one does"
hsmcm -c "role login -name au; audit export -file $T/main.lws -password twelvechars1"
[ $RC -eq 0 ] || fail "export: $OUT"
note "pedtool audit-verify: the log off the HSM, with only the exported secret"
expect_exit 0 "$BIN/pedtool" audit-verify -lws "$T/main.lws" -password twelvechars1 -file "$T/log"
expect_contains "$OUT" "Verified messages 1 to $n"
set +e # expect_exit's own substitution fails by design here
expect_exit 1 "$BIN/pedtool" audit-verify -lws "$T/main.lws" -password twelvechars1 -file "$T/deleted.log"
expect_contains "$OUT" "Verify failed on record 4"
expect_exit 1 "$BIN/pedtool" audit-verify -lws "$T/main.lws" -password wrongpassword -file "$T/log"
set -e

hsmcm -c "slot set -slot 20; hsm init -label bk; role init -name au
role login -name au; audit verify -file $T/log -external"
[ $RC -ne 0 ] || fail "another white key verified the log: $OUT"
expect_contains "$OUT" "Verify failed on record 1"
# as lunacm says it: whose log on which HSM, then what to make sure of
said=$(grep -A1 -F "Verifying log from another HSM on HSM with serial $BACKUP_SERIAL" <<<"$OUT" | tail -n 1)
expect_contains "$said" "Make sure that the log's HSM has the same white Auditor key, or import its log secret."
hsmcm -c "slot set -slot 20; role login -name au; audit import -file $T/main.lws -password wrongpassword"
[ $RC -ne 0 ] || fail "a wrong password imported"
hsmcm -c "slot set -slot 20; role login -name au; audit import -file $T/main.lws -password twelvechars1; audit verify -file $T/log -external"
[ $RC -eq 0 ] || fail "imported secret: $OUT"
expect_contains "$OUT" "Verifying log from HSM with serial $HSM_SERIAL on HSM with serial $BACKUP_SERIAL"

note "the same white key on the backup HSM: its own secret verifies the first HSM's log"
hsmcm -c "slot set -slot 20; role init -name au; role login -name au; audit verify -file $T/log -external"
[ $RC -eq 0 ] || fail "same white key: $OUT"
expect_contains "$OUT" "Verified messages 1 to $n"
# but not as its own log: the records name another HSM
hsmcm -c "slot set -slot 20; role login -name au; audit verify -file $T/log"
[ $RC -ne 0 ] || fail "another HSM's records passed as this HSM's"

note "nothing secret in a record: no white-key secret, no log secret"
! grep -qi "$(od -An -tx1 -N8 "$T/main.lws" | tr -d ' \n')" "$SPOOL" || fail "export bytes in the log"
echo "auditor lifecycle ok"
