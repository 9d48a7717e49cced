#!/bin/bash
# kill -9 of hsm-sim during a restore (issue #27) leaves the last saved state
# whole: each round starts from the same saved states (a partition p2 that
# holds nothing, a backup of 605 objects, keys among them), restores into
# p2 and kills hsm-sim at a random moment of the command. The state files
# then load whole (under their device secrets), p2 holds nothing or the
# whole backup, never part of it, and the backup is untouched.
# ROUNDS (default 6) kills.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
ROUNDS=${ROUNDS:-6}
NOBJ=605

new_keys so hdom po1 dom po2 co1 co2 bso bdom bpo bco
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no yes
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[dom]}
use "READING DOMAIN" ${KEY[dom]}
use "SETTING DOMAIN" ${KEY[dom]}
write "SETTING PO" ${KEY[po1]} ${KEY[po2]}
use "PO LOGIN" ${KEY[po1]} / ${KEY[po2]}
write "SETTING CO" ${KEY[co1]} ${KEY[co2]}
use "CO LOGIN" ${KEY[co1]}
P
cat >"$T/b.policy" <<P
write "SETTING SO" ${KEY[bso]}
use "SO LOGIN" ${KEY[bso]}
reuse "SETTING DOMAIN" no yes
write "SETTING DOMAIN" ${KEY[bdom]}
use "READING DOMAIN" ${KEY[dom]}
use "SETTING DOMAIN" ${KEY[dom]}
write "SETTING PO" ${KEY[bpo]}
use "PO LOGIN" ${KEY[bpo]}
write "SETTING CO" ${KEY[bco]}
use "CO LOGIN" ${KEY[bco]}
P
printf 'use "CO LOGIN" %s\nuse "SO LOGIN" %s\n' "${KEY[co2]}" "${KEY[so]}" >"$T/a2.policy"
printf 'use "CO LOGIN" %s\n' "${KEY[bco]}" >"$T/b2.policy"
sed -e 's|^reuse "SETTING DOMAIN".*|reuse "SETTING DOMAIN" yes|' "$T/b.policy" >"$T/b3.policy"
n=0
run() { # hsm-sim and a PED on each HSM, their policies
	# the last run's PEDs would reattach with their policy, racing the new ones
	stop_ped "A$n" "B$n"
	n=$((n + 1))
	rm -f "$T/ped-$HSM_SERIAL.sock" "$T/ped-$BACKUP_SERIAL.sock" "$HSM_SOCK"
	start_hsm
	start_ped "A$n" $HSM_SERIAL "$1"
	start_ped "B$n" $BACKUP_SERIAL "$2"
}
# The run's PEDs stop with it: left running, one attaches again to the next
# run's hsm-sim and, there before the new one, answers with its old policy
# (as in hsm_keys_backup.sh).
stop_peds() {
	local p
	for p in $(eval echo "\$PED_A${n}_PID \$PED_B${n}_PID"); do
		kill -TERM "$p"
		wait_gone 20 "$p" || fail "PED $p did not stop"
	done
}
stop_hsm() {
	stop_peds
	kill -TERM "$HSM_PID"; wait_gone 20 "$HSM_PID" || fail "hsm-sim did not stop"
}
STATE="$T/state/hsm-$HSM_SERIAL.state" BSTATE="$T/state/hsm-$BACKUP_SERIAL.state"

run "$T/a.policy" "$T/b.policy"
hsmcm -c "slot set -slot 20; hsm init -label bk; slot set -slot 0; hsm init -label main; role login -name so; partition create -label p1; partition create -label p2
slot set -slot 1; partition init -label p1; role login -name po; role init -name co
slot set -slot 2; partition init -label p2; role login -name po; role init -name co"
[ $RC -eq 0 ] || fail "setup: $OUT"
stop_hsm
mkdir -m 700 "$T/out"
"$TOOLS/hsm_keys" gen "$STATE" p1 "$T/out" $((NOBJ - 5)) || fail "hsm_keys gen"
run "$T/a.policy" "$T/b3.policy"
hsmcm -c "slot set -slot 1; role login -name co; partition archive backup -slot 20 -partition big"
[ $RC -eq 0 ] || fail "backup: $OUT"
expect_contains "$OUT" "$NOBJ objects have been backed up"
stop_hsm
cp -a "$T/state" "$T/saved"

restore_cmd="slot set -slot 2; role login -name co; partition archive restore -slot 20 -partition big"
note "calibration: one restore, timed"
run "$T/a2.policy" "$T/b2.policy"
t0=$EPOCHREALTIME
hsmcm -c "$restore_cmd"
[ $RC -eq 0 ] || fail "a restore without faults: $OUT"
expect_contains "$OUT" "Restore Complete. $NOBJ objects have been restored."
span=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
stop_hsm
echo "a restore takes $span ms"

declare -A seen
for round in $(seq 1 "$ROUNDS"); do
	rm -rf "$T/state"; cp -a "$T/saved" "$T/state"
	run "$T/a2.policy" "$T/b2.policy"
	# anywhere in the command: the logins, the restore, its save
	delay=$(( RANDOM % (span + span / 2 + 10) ))
	( timeout 60 "$BIN/hsmcm" -socket "$HSM_SOCK" -c "$restore_cmd" >"$T/round.out" 2>&1 ) &
	client=$!
	sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
	kill -KILL "$HSM_PID"
	wait "$HSM_PID" 2>/dev/null || true
	wait "$client" 2>/dev/null || true
	stop_peds
	"$TOOLS/hsm_keys" count "$STATE" >"$T/count" || fail "round $round (${delay} ms): the state does not load"
	"$TOOLS/hsm_keys" count "$BSTATE" >"$T/bcount" || fail "round $round: the backup HSM's state does not load"
	grep -qx "big $NOBJ" "$T/bcount" || fail "round $round: the backup changed: $(cat "$T/bcount")"
	grep -qx "p1 $NOBJ" "$T/count" || fail "round $round: p1 changed: $(cat "$T/count")"
	got=$(awk '$1 == "p2" { print $2 }' "$T/count")
	case $got in
	0 | "$NOBJ") ;; # the state before (its login counts saved, maybe) or after
	*) fail "round $round (${delay} ms): p2 holds $got objects: part of a restore" ;;
	esac
	seen[$got]=1
	echo "round $round: killed at ${delay} ms, p2 holds $got"
done
"$TOOLS/hsm_keys" grep "$T/out/secrets.hex" "$T"/state/*.state || fail "a key is in a state file in clear"
# only each run's own PEDs came to its hsm-sim's PED ports
expect_not_contains "$(cat "$T/hsm.log")" "a PED is already attached; refusing"
echo "kill -9 during a restore: the last saved state, whole (outcomes: ${!seen[*]})"
