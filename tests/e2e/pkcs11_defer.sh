#!/bin/bash
# One round trip per operation through libopenped-pkcs11.so (issue #33,
# docs/pkcs11.md "One round trip per operation"): once hsm-sim has
# accepted an init on a session, the next init of that key and mechanism
# travels with the operation's call, one request per operation (hsm-sim's
# own count, hsmcm's application list). The errors of an init the module
# may no longer vouch for still come from C_SignInit: after this
# application destroyed the key, after C_Logout. A key another application
# destroys between a deferred init and its call fails the call cleanly,
# and the next init again. pkcs11-tool --test runs on the module as well.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pkcs11_lib.sh"
set -e
command -v pkcs11-tool >/dev/null || skip "pkcs11-tool (opensc) is not installed: make deps"

p11_start
p11_init_hsm
STRESS=("${RUN[@]}" "$TOOLS/p11_stress" "$MODULE" "$TOKEN")
client pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --keypairgen --key-type EC:prime256v1 \
	--usage-sign --label dk --id 31 >"$T/gen.out" 2>&1 || fail "keypairgen: $(cat "$T/gen.out")"

# The requests hsm-sim counted on the p11_stress application's session,
# found by its pid: under valgrind its name is valgrind's (memcheck-amd64-)
requests() {
	hsmcm -c "application list"
	[ $RC -eq 0 ] || fail "application list: $OUT"
	awk -v pid="(pid $app)" '/^\tApplication [0-9]+: / { app = index($0, pid) > 0; next }
		app && /Session [0-9]+:.*requests / { sub(/.*requests /, ""); print; exit }' <<<"$OUT"
}

mkdir "$T/go"
"${STRESS[@]}" defer dk "$T/go" >"$T/defer.out" 2>&1 &
app=$!
wait_for 60 grep -q "^ready 1" "$T/defer.out" || fail "the application did not sign: $(cat "$T/defer.out")"
r1=$(requests)
[ -n "$r1" ] || fail "no request count for the application's session: $OUT"
touch "$T/go/1"
wait_for 60 grep -q "^ready 2" "$T/defer.out" || fail "the application did not sign ten times: $(cat "$T/defer.out")"
r2=$(requests)
note "ten signatures after the first: $((r2 - r1)) requests"
# one request per signature: C_SignInit answered by the module, sent with C_Sign
expect_eq "$((r2 - r1))" 10

touch "$T/go/2"
wait_for 60 grep -q "^ready 3" "$T/defer.out" || fail "the application stopped: $(cat "$T/defer.out")"
# the application's own C_DestroyObject and C_Logout: the init went to the
# HSM, which said no (not the call after it)
expect_contains "$(cat "$T/defer.out")" "own destroyed: init 0x60"  # CKR_KEY_HANDLE_INVALID
expect_contains "$(cat "$T/defer.out")" "logged out: init 0x101"    # CKR_USER_NOT_LOGGED_IN

note "another application destroys the key between a deferred C_SignInit and its C_Sign"
client pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --delete-object --type privkey --label dk \
	>"$T/delete.out" 2>&1 || fail "pkcs11-tool --delete-object: $(cat "$T/delete.out")"
touch "$T/go/3"
wait "$app" || fail "the application: $(cat "$T/defer.out")"
# the call fails cleanly, the operation ends, and the next init is the HSM's
expect_contains "$(cat "$T/defer.out")" "after: sign 0x60 init 0x60"
kill -0 "$HSM_PID" 2>/dev/null || fail "hsm-sim is gone"

note "pkcs11-tool --test: every part, the inits it repeats among them"
client pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --test >"$T/test.out" 2>&1 ||
	fail "pkcs11-tool --test: $(cat "$T/test.out")"
expect_contains "$(cat "$T/test.out")" "No errors"
echo "pkcs11 deferred inits ok"
