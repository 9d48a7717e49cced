#!/bin/bash
# Many applications at once through libopenped-pkcs11.so: 8 processes of 4
# threads each sign for 10 s (each process logs in through the PED), while
# a ninth is killed in the middle of its calls; every survivor finishes
# without an error and hsm-sim is left with no session of anyone's. Then
# an operator's role logout in hsmcm is seen by a running application's
# next call.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pkcs11_lib.sh"
set -e
command -v pkcs11-tool >/dev/null || skip "pkcs11-tool (opensc) is not installed: make deps"

p11_start
p11_init_hsm
# our own tool: built like the module (its sanitizer runtime, or under
# valgrind); an array, not a function, so that $! of one in the background
# is the tool itself, which the kill must reach
STRESS=("${RUN[@]}" "$TOOLS/p11_stress" "$MODULE" "$TOKEN")
client pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --keypairgen --key-type EC:prime256v1 \
	--usage-sign --label sk --id 21 >"$T/gen.out" 2>&1 || fail "keypairgen: $(cat "$T/gen.out")"

note "8 processes x 4 threads signing for 10 s, a ninth killed mid-call"
pids=()
for i in 1 2 3 4 5 6 7 8; do
	"${STRESS[@]}" sign sk 4 10 >"$T/stress.$i.out" 2>&1 &
	pids+=($!)
done
"${STRESS[@]}" sign sk 4 30 >"$T/victim.out" 2>&1 &
victim=$!
# once it signs (logged in, threads started), it is always inside a call
wait_for 60 grep -q '^signing' "$T/victim.out" || fail "the ninth process never signed: $(cat "$T/victim.out")"
# the kill must land while the others sign, or it proves nothing about them
for p in "${pids[@]}"; do
	kill -0 "$p" 2>/dev/null || fail "a signer ended before the ninth was killed: $(cat "$T"/stress.*.out)"
done
kill -KILL "$victim"
wait "$victim" 2>/dev/null || true
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || fail "process $((i + 1)): $(cat "$T/stress.$((i + 1)).out")"
	grep -q '^signed [1-9]' "$T/stress.$((i + 1)).out" || fail "process $((i + 1)) signed nothing"
	# "signed N in S s": the load lasted the whole 10 s
	awk '/^signed / { ok = $4 >= 10 } END { exit !ok }' "$T/stress.$((i + 1)).out" ||
		fail "process $((i + 1)) did not sign for 10 s: $(cat "$T/stress.$((i + 1)).out")"
done

note "no session left behind, and hsm-sim serves the next application"
# hsm-sim's own count, every application and slot (C_GetTokenInfo counts
# the asking application's sessions only): nothing of the nine left (the
# killed one's connections end when the kernel closes them)
wait_for 10 eval 'hsmcm -c "application list"; grep -qxP "\\tSessions -> 0" <<<"$OUT" && grep -qxP "\\tApplications -> 0" <<<"$OUT"' ||
	fail "hsm-sim still holds applications or sessions: $OUT"
OUT=$(client pkcs11-tool --module "$MODULE" -L 2>&1) || fail "pkcs11-tool -L after the stress: $OUT"
expect_contains "$OUT" "token label        : $TOKEN"

note "an operator's role logout is seen by the application's next call"
"${STRESS[@]}" logout-wait sk "$T/logged-out" >"$T/logout.out" 2>&1 &
app=$!
wait_for 60 grep -q "signed before" "$T/logout.out" || fail "the application did not sign: $(cat "$T/logout.out")"
hsmcm -c "slot set -slot 1; role login -name co; role logout"
[ $RC -eq 0 ] || fail "role logout: $OUT"
touch "$T/logged-out"
wait "$app" || fail "the application's next call after the logout: $(cat "$T/logout.out")"
expect_contains "$(cat "$T/logout.out")" "after: 0x101" # CKR_USER_NOT_LOGGED_IN
echo "pkcs11 stress ok"
