#!/bin/bash
# GnuTLS's p11tool against libopenped-pkcs11.so, each login answered by a
# headless PED (local, then Remote): the tokens, a private key generated in
# the HSM, listed after a login, and p11tool's --test-sign (signed in the
# HSM, verified by GnuTLS with the public key).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pkcs11_lib.sh"
set -e
command -v p11tool >/dev/null || skip "p11tool (gnutls-bin) is not installed: make deps"

p11_start
p11_init_hsm
tool() { client p11tool --provider "$MODULE" --batch "$@"; }

note "tokens"
OUT=$(tool --list-tokens 2>&1) || fail "p11tool --list-tokens: $OUT"
expect_contains "$OUT" "token=$TOKEN"
expect_contains "$OUT" "Label: $TOKEN"

round() {
	local k=$1 ped=$2 before
	before=$(ped_logins "$ped")
	note "$ped PED: a private key $k generated after a login with no PIN"
	tool --login --generate-privkey ECDSA --curve secp256r1 --label "$k" "pkcs11:token=$TOKEN" \
		>"$T/gen.out" 2>&1 || fail "generate-privkey: $(cat "$T/gen.out")"
	[ "$(ped_logins "$ped")" -gt "$before" ] || fail "the login did not go through the $ped PED"
	OUT=$(tool --login --list-privkeys "pkcs11:token=$TOKEN" 2>&1) || fail "list-privkeys: $OUT"
	expect_contains "$OUT" "Label: $k"
	note "$ped PED: --test-sign with $k"
	OUT=$(tool --login --test-sign "pkcs11:token=$TOKEN;object=$k" 2>&1) || fail "test-sign: $OUT"
	expect_contains "$OUT" "ok"
	expect_not_contains "$OUT" "failed"
}

round gk1 L
p11_go_remote
round gk2 R
echo "p11tool ok"
