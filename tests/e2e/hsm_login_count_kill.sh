#!/bin/bash
# A login's count lives in the login record (hsm-SERIAL.logins, written in
# place, two slots in turn), not in a new state file: it must survive a
# SIGKILL of hsm-sim right after the PED answered, come back at start-up
# with the state file, fall back to the other slot when the newest is torn,
# and give way to a state file saved after it. A state file without a
# record (made before it existed) keeps its own counts.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
new_keys so dom bso bdom
start_hsm
printf 'write "SETTING SO" %s\nwrite "SETTING DOMAIN" %s\nwrite "SETTING SO" %s\nwrite "SETTING DOMAIN" %s\n' \
	"${KEY[so]}" "${KEY[dom]}" "${KEY[bso]}" "${KEY[bdom]}" >"$T/init.policy"
start_ped A $HSM_SERIAL "$T/init.policy"
start_ped B $BACKUP_SERIAL "$T/init.policy"
hsmcm -c "hsm init -label counted"
[ $RC -eq 0 ] || fail "hsm init: $OUT"
hsmcm -c "slot set -slot 20; hsm init -label backup"
[ $RC -eq 0 ] || fail "backup hsm init: $OUT"
stop_ped A B
REC="$T/state/hsm-$HSM_SERIAL.logins"

so_count() { # the SO's failed logins hsm-sim shows
	hsmcm -c "hsm showinfo"
	sed -n 's/.*SO failed logins -> \([0-9]*\) of 3.*/\1/p' <<<"$OUT"
}
ped_a() { # a fresh PED A on POLICY (its own events: start_ped waits for its attach)
	stop_ped A
	: >"$T/A.events"
	start_ped A $HSM_SERIAL "$1"
}
kill_restart() {
	kill -KILL "$HSM_PID"
	wait_gone 10 "$HSM_PID" || fail "hsm-sim did not die"
	stop_ped A
	start_hsm
	ped_a "$1"
}
printf 'use "SO LOGIN" %s\n' "${KEY[bso]}" >"$T/wrong.policy" # the other HSM's blue key
printf 'use "SO LOGIN" %s\n' "${KEY[so]}" >"$T/right.policy"
ped_a "$T/wrong.policy"

note "a failed login's count survives SIGKILL"
hsmcm -c "role login -name so"
expect_contains "$OUT" "CKR_PIN_INCORRECT"
[ -f "$REC" ] || fail "no login record"
[ "$(stat -c %a "$REC")" = 600 ] || fail "the login record is not 0600"
kill_restart "$T/wrong.policy"
expect_eq "$(so_count)" 1 "SO failed logins after SIGKILL"

note "SIGKILL right after the PED answered: an answered attempt is counted"
for i in 1 2 3; do
	before=$(so_count)
	[ "$before" -lt 2 ] || break
	n=$(grep -c '"event":"reply"' "$T/A.events" || true)
	( exec "$BIN/hsmcm" -socket "$HSM_SOCK" -c "role login -name so" >"$T/login.out" 2>&1 ) &
	lpid=$!
	wait_for 20 eval '[ "$(grep -c "\"event\":\"reply\"" "$T/A.events")" -gt '"$n"' ]' || fail "the PED did not answer"
	kill -KILL "$HSM_PID"
	wait "$lpid" || true
	wait_gone 10 "$HSM_PID" || fail "hsm-sim did not die"
	stop_ped A
	start_hsm
	ped_a "$T/wrong.policy"
	after=$(so_count)
	if grep -q CKR_PIN_INCORRECT "$T/login.out"; then
		expect_eq "$after" $((before + 1)) "count of an attempt answered CKR_PIN_INCORRECT"
	else
		[ "$after" = "$before" ] || [ "$after" = $((before + 1)) ] || fail "count $before became $after"
	fi
	echo "round $i: $before -> $after ($(grep -o 'CKR_[A-Z_]*\|RC_[A-Z_]*' "$T/login.out" | head -n 1))"
done
kill_restart "$T/right.policy"

note "a right login resets the count, on disk"
hsmcm -c "role login -name so"
[ $RC -eq 0 ] || fail "right SO login: $OUT"
kill_restart "$T/wrong.policy"
expect_eq "$(so_count)" 0 "SO failed logins after a right login and SIGKILL"

note "the newest slot torn: the one before it counts"
hsmcm -c "role login -name so"
hsmcm -c "role login -name so"
expect_eq "$(so_count)" 2 "two failures"
kill -KILL "$HSM_PID"
wait_gone 10 "$HSM_PID"
newest=$(python3 - "$REC" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
seq = [struct.unpack('>I', b[i * 4096 + 5:i * 4096 + 9])[0] for i in (0, 1)]
print(0 if (seq[0] - seq[1]) % 2**32 < 2**31 else 1)
PY
)
printf '\xff\xff\xff\xff' | dd of="$REC" bs=1 seek=$((newest * 4096 + 100)) conv=notrunc 2>/dev/null
stop_ped A
start_hsm
ped_a "$T/wrong.policy"
expect_eq "$(so_count)" 1 "the count of the slot before the torn one"

note "a state file saved after the record: its counts hold"
ped_a "$T/right.policy"
hsmcm -c "role login -name so; partition create -label p1"
[ $RC -eq 0 ] || fail "a change that saves the state: $OUT"
kill_restart "$T/wrong.policy"
expect_eq "$(so_count)" 0 "after a state save"

note "a state file without a record keeps its counts (migration)"
hsmcm -c "role login -name so"
kill -TERM "$HSM_PID" # a clean stop saves the state file whole
wait_gone 20 "$HSM_PID" || fail "hsm-sim did not stop"
rm -f "$REC"
stop_ped A
start_hsm
ped_a "$T/wrong.policy"
expect_eq "$(so_count)" 1 "state file's own count"
hsmcm -c "role login -name so"
kill_restart "$T/wrong.policy"
expect_eq "$(so_count)" 2 "counted on from the state file's count"

note "neither slot valid: refused, as a damaged state file is"
kill -KILL "$HSM_PID"
wait_gone 10 "$HSM_PID"
stop_ped A
printf 'junk' | dd of="$REC" bs=1 seek=0 conv=notrunc 2>/dev/null
printf 'junk' | dd of="$REC" bs=1 seek=4096 conv=notrunc 2>/dev/null
set +e
"$BIN/hsm-sim" -state "$T/state" -socket "$T/h2.sock" -logfile "$T/h2.log" >"$T/h2.err" 2>&1 &
h2=$!
track $h2
wait_gone 20 $h2
set -e
alive $h2 && fail "hsm-sim started with a damaged login record"
cat "$T/h2.log" "$T/h2.err" | grep -q "login record" || fail "the cause is not told: $(cat "$T/h2.log" "$T/h2.err")"
echo "hsm login count kill ok"
