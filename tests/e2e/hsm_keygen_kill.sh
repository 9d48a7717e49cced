#!/bin/bash
# kill -9 of hsm-sim during key generation (issue #27) leaves the last
# saved state whole: an application (through libopenped-pkcs11.so, its
# login on a headless PED) makes RSA key pairs on the token one after
# another, and hsm-sim is killed at a random moment among them, nearly
# always inside a generation (the generation is most of each call). The
# state file then loads whole under its device secret; the partition
# holds what it held before, every pair the application was told was made
# (C_GenerateKeyPair answers after the save), at most one more whose answer
# the kill cut off, and never half a pair; hsm-sim starts again on it and
# the keys are there. ROUNDS (default 5, 3 under valgrind, where a pair
# takes a minute) kills.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
ROUNDS=${ROUNDS:-$([ "${PED_VALGRIND:-0}" = 1 ] && echo 3 || echo 5)}
BITS=2048

MODULE="$PED_BUILD/lib/libopenped-pkcs11.so"
[ -f "$MODULE" ] || fail "$MODULE is missing: run make"
export OPENPED_PKCS11_CONF="$T/openped-pkcs11.conf"
export OPENPED_PKCS11_LOG="$T/pkcs11.log"
printf 'Module = { Socket = "%s"; PEDTimeout1 = 20000; PEDTimeout2 = 40000; PEDTimeout3 = 10000; };\n' \
	"$HSM_SOCK" >"$OPENPED_PKCS11_CONF"
STRESS=("${RUN[@]}" "$TOOLS/p11_stress" "$MODULE" p1)

new_keys so hdom po dom co
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[dom]}
write "SETTING PO" ${KEY[po]}
use "PO LOGIN" ${KEY[po]}
write "SETTING CO" ${KEY[co]}
use "CO LOGIN" ${KEY[co]}
P
n=0
run() {
	# the last run's PED would reattach, racing the new one for the link
	stop_ped "A$n"
	n=$((n + 1))
	rm -f "$T/ped-$HSM_SERIAL.sock" "$T/ped-$BACKUP_SERIAL.sock" "$HSM_SOCK"
	start_hsm
	start_ped "A$n" $HSM_SERIAL "$T/a.policy"
}
stop_hsm() {
	kill -TERM "$HSM_PID"; wait_gone 20 "$HSM_PID" || fail "hsm-sim did not stop"
}
STATE="$T/state/hsm-$HSM_SERIAL.state"

run
hsmcm -c "hsm init -label main; role login -name so; partition create -label p1
slot set -slot 1; partition init -label p1; role login -name po; role init -name co"
[ $RC -eq 0 ] || fail "setup: $OUT"
# what the partition held at the last save before the kills: one pair
OUT=$("${STRESS[@]}" genx base 2>&1) || fail "the first key pair: $OUT"
stop_hsm
"$TOOLS/hsm_keys" count "$STATE" >"$T/count"
grep -qx "p1 2" "$T/count" || fail "the saved state: $(cat "$T/count")"
cp -a "$T/state" "$T/saved"

note "calibration: two RSA-$BITS pairs, timed"
run
"${STRESS[@]}" gen cal $BITS >"$T/cal.out" 2>&1 &
cal=$!
wait_for 60 grep -q '^logged in' "$T/cal.out" || fail "no login: $(cat "$T/cal.out")"
t0=$EPOCHREALTIME
wait_for 300 grep -q '^generated 2$' "$T/cal.out" || fail "two pairs not made: $(cat "$T/cal.out")"
span=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
kill -TERM "$cal"; wait "$cal" 2>/dev/null || true
stop_hsm
echo "two pairs take $span ms"

declare -A seen
for round in $(seq 1 "$ROUNDS"); do
	rm -rf "$T/state"; cp -a "$T/saved" "$T/state"
	run
	"${STRESS[@]}" gen k $BITS >"$T/round.out" 2>&1 &
	app=$!
	wait_for 60 grep -q '^logged in' "$T/round.out" || fail "round $round: no login: $(cat "$T/round.out")"
	# a random moment among the first pairs: the kill's time is the test's
	# subject, so it is drawn, not waited for
	delay=$((RANDOM % (span + 10)))
	sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
	kill -KILL "$HSM_PID"
	wait "$HSM_PID" 2>/dev/null || true
	wait "$app" 2>/dev/null && fail "round $round: the application did not see hsm-sim go"
	told=$(grep -c '^generated' "$T/round.out" || true)
	"$TOOLS/hsm_keys" count "$STATE" >"$T/count" || fail "round $round (${delay} ms): the state does not load"
	got=$(awk '$1 == "p1" { print $2 }' "$T/count")
	pairs=$(((got - 2) / 2))
	[ "$got" -ge 2 ] && [ $(((got - 2) % 2)) -eq 0 ] ||
		fail "round $round (${delay} ms): p1 holds $got objects: half a pair, or the last save lost"
	[ "$pairs" -eq "$told" ] || [ "$pairs" -eq $((told + 1)) ] ||
		fail "round $round (${delay} ms): $told pairs answered, $pairs saved"
	seen[$((pairs - told))]=1
	echo "round $round: killed at ${delay} ms, $told pairs answered, $pairs saved"
done

note "hsm-sim starts on the last round's state: the pairs are whole"
run
hsmcm -c "slot set -slot 1; role login -name co; partition contents"
[ $RC -eq 0 ] || fail "contents after the kills: $OUT"
expect_contains "$OUT" "Number of objects: $got"
[ "$(grep -c 'Object Type: Private Key  Key Type: RSA' <<<"$OUT")" = "$pairs" ] || fail "RSA private keys: $OUT"
[ "$(grep -c 'Object Type: Public Key  Key Type: RSA' <<<"$OUT")" = "$pairs" ] || fail "RSA public keys: $OUT"
echo "kill -9 during key generation: the last saved state, whole (saved beyond the answers: ${!seen[*]})"
