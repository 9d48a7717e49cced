#!/bin/bash
# Two HSMs with the same serial (two hsm-sims, each its own state) logging
# through one pedclient into one directory. pedclient took each HSM's
# records by number alone: the second HSM's were "already held" (A's
# records of those numbers), acknowledged and dropped from its spool, never
# written, and its later records were appended to A's log. Now pedclient
# refuses a second HSM of a serial it is logging already, and an HSM checks
# that the last record pedclient holds is its own (its MAC) before it takes
# pedclient's word for what is written: B's records stay in its spool, both
# ends say why, A's log verifies, and B's records all reach a directory of
# their own once its Auditor names one.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
. "$(dirname "$0")/remote_lib.sh"
set -e

auditor_keys "$T/a.policy"
new_keys so2 dom2 au2
cat >"$T/b.policy" <<P
write "SETTING SO" ${KEY[so2]}
use "SO LOGIN" ${KEY[so2]}
write "SETTING DOMAIN" ${KEY[dom2]}
write "SETTING AU" ${KEY[au2]}
use "AU LOGIN" ${KEY[au2]}
P
# pedclient's own directory: nothing goes elsewhere before a path is set
LOGS="$XDG_DATA_HOME/openped/audit"
start_pedclient
start_hsm
start_ped A $HSM_SERIAL "$T/a.policy"

cmds="hsm init -label a; role init -name au
role login -name au; audit config evmask all size 0 interval never"
for i in $(seq 1 6); do cmds="$cmds; audit logmsg -message from A number $i"; done
hsmcm -c "$cmds"
[ $RC -eq 0 ] || fail "A's setup: $OUT"
status_of() { # SOCKET: audit status; W written, D delivered
	OUT=$(timeout 60 "$BIN/hsmcm" -socket "$1" -c "role login -name au; audit status" 2>&1)
	W=$(awk -F': *' '/^[[:space:]]*Records written/{print $2}' <<<"$OUT")
	D=$(awk '/^[[:space:]]*Delivered/{print $NF}' <<<"$OUT")
}
a_delivered() { status_of "$HSM_SOCK"; [ -n "$W" ] && [ "$D" -ge $((W - 1)) ]; }
wait_for 30 a_delivered || fail "A's records not delivered: $OUT"

note "B: another hsm-sim with the same serial, its Auditor logging into the same directory"
mkdir -m 700 "$T/two"
B_SOCK="$T/two/hsm.sock"
"${RUN[@]}" "$BIN/hsm-sim" -state "$T/two/state" -socket "$B_SOCK" -pidfile "$T/two/hsm.pid" \
	-logfile "$T/two/hsm.log" &
track $!
B_PID=$!
wait_for 20 test -S "$T/two/ped-$BACKUP_SERIAL.sock" || fail "the second hsm-sim did not start: $(cat "$T/two/hsm.log")"
"${RUN[@]}" "$BIN/ped-device" -headless -hsm "$T/two/ped-$HSM_SERIAL.sock" -policy "$T/b.policy" \
	-control "$T/B.ctl" -events "$T/B.events" -keytimeout 20 >"$T/B.log" 2>&1 &
track $!
wait_for 20 grep -q '"event":"attached"' "$T/B.events" || fail "PED B did not attach: $(cat "$T/B.log")"
# B makes more records than A holds: an HSM that took pedclient's count for
# its own dropped the first ones from its spool at once
cmds="hsm init -label b; role init -name au
role login -name au; audit config evmask all size 0 interval never"
for i in $(seq 1 20); do cmds="$cmds; audit logmsg -message from B number $i"; done
OUT=$(timeout 120 "$BIN/hsmcm" -socket "$B_SOCK" -c "$cmds" 2>&1) || fail "B's setup: $OUT"

# while A's courier is connected: pedclient refuses B's
wait_for 30 grep -q "another HSM with serial $HSM_SERIAL" "$T/pedclient.log" ||
	fail "pedclient did not say it refused B: $(tail -n 20 "$T/pedclient.log")"
wait_for 30 grep -q "pedclient refuses the audit records" "$T/two/hsm.log" ||
	fail "B's hsm-sim did not say why its records wait: $(tail -n 20 "$T/two/hsm.log")"

# never_written: every record B says it delivered is in the log, as B wrote it
b_delivered_are_written() {
	status_of "$B_SOCK"
	[ -n "$D" ] || fail "B's status: $OUT"
	for i in $(seq 1 20); do
		n=$(grep -h "|from B number $i|" "$@" 2>/dev/null | cut -d'|' -f1)
		if [ -z "$n" ]; then
			grep -q "|from B number $i|" "$T/two/state/hsm-$HSM_SERIAL.auditq" ||
				fail "B's record 'from B number $i' is neither written nor in B's spool (B delivered up to $D)"
		fi
	done
}
b_delivered_are_written "$LOGS"/hsm_*.log
[ "$D" = 0 ] || fail "B delivered up to $D into A's log"
status_of "$B_SOCK"
expect_contains "$OUT" "pedclient refuses"

note "A stopped: B connects alone, and finds the log pedclient holds is not its own"
kill -TERM "$HSM_PID"
wait_gone 20 "$HSM_PID" || fail "A's hsm-sim did not stop"
wait_for 30 grep -q "is not this HSM's record" "$T/two/hsm.log" ||
	fail "B did not find that pedclient's log is another HSM's: $(tail -n 20 "$T/two/hsm.log")"
wait_for 30 grep -q "HSM $HSM_SERIAL refuses its audit log in .*is not this HSM's record" "$T/pedclient.log" ||
	fail "pedclient did not say B refused the log: $(tail -n 20 "$T/pedclient.log")"
b_delivered_are_written "$LOGS"/hsm_*.log
[ "$D" = 0 ] || fail "B delivered up to $D into A's log"
! grep -q "|from B number" "$LOGS"/hsm_*.log || fail "B's records were written into A's log"
# B asks again less and less often (1, 2, 4, 8 s...): not a line in
# pedclient's log every second for as long as the refusal lasts
refusals() { grep -c "HSM $HSM_SERIAL refuses its audit log" "$T/pedclient.log" || true; }
base=$(refusals)
! wait_for 12 eval '[ $(($(refusals) - base)) -ge 6 ]' || fail "B was refused every second: $(($(refusals) - base)) times"

note "A's log is whole and verifies on A"
stop_ped A
rm -f "$HSM_SOCK" "$T"/ped-*.sock "$T/A.events"
start_hsm
start_ped A $HSM_SERIAL "$T/a.policy"
hsmcm -c "role login -name au; audit verify -file $LOGS"
[ $RC -eq 0 ] || fail "A's log: $OUT"
expect_contains "$OUT" "audit logmsg: from A number 6"

note "B's Auditor names a directory of its own: every B record reaches it"
OUT=$(timeout 60 "$BIN/hsmcm" -socket "$B_SOCK" -c "role login -name au; audit config path $T/blogs" 2>&1) ||
	fail "B's path: $OUT"
b_all() { status_of "$B_SOCK"; [ -n "$W" ] && [ "$D" -ge $((W - 1)) ]; }
wait_for 30 b_all || fail "B's records not delivered to its own directory: $OUT"
for i in $(seq 1 20); do
	grep -q "|from B number $i|" "$T"/blogs/hsm_*.log || fail "B's record 'from B number $i' is lost"
done
OUT=$(timeout 60 "$BIN/hsmcm" -socket "$B_SOCK" -c "role login -name au; audit verify -file $T/blogs" 2>&1) ||
	fail "B's log: $OUT"
expect_contains "$OUT" "audit logmsg: from B number 20"
echo "audit same serial ok"
