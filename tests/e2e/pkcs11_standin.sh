#!/bin/bash
# The real clients against libopenped-pkcs11.so with tests/tools/p11_standin
# answering for hsm-sim (libhsm's objects and mechanisms, no PED: a login
# with no PIN is granted and logged). What the module must do for the
# clients, checked today whatever hsm-sim serves: pkcs11-tool (slots, a
# login with no PIN, an EC key pair, a signature openssl verifies with the
# public key alone, --test with EC and RSA keys), p11tool (tokens,
# --generate-privkey, --list-privkeys, --test-sign), OpenSSL's pkcs11
# engine (a pkcs11: URI), and 4 processes x 4 threads signing while a fifth
# is killed mid-call, leaving no session behind. The suites that need
# hsm-sim and a PED are pkcs11_tool.sh, p11tool.sh, openssl_engine.sh and
# pkcs11_stress.sh.
. "$(dirname "$0")/../lib.sh"
set -e
for c in pkcs11-tool p11tool; do
	command -v $c >/dev/null || skip "$c is not installed: make deps"
done
engine=$(find /usr/lib -path '*engines-3/pkcs11.so' 2>/dev/null | head -n 1)
[ -n "$engine" ] || skip "the OpenSSL pkcs11 engine (libengine-pkcs11-openssl) is not installed: make deps"

MODULE="$PED_BUILD/lib/libopenped-pkcs11.so"
SOCK="$T/standin.sock"
export OPENPED_PKCS11_CONF="$T/p11.conf" OPENPED_PKCS11_LOG="$T/pkcs11.log"
printf 'Module = { Socket = "%s"; };\n' "$SOCK" >"$OPENPED_PKCS11_CONF"
"${RUN[@]}" "$TOOLS/p11_standin" "$SOCK" "$T/logins" &
track $!
wait_for 20 test -S "$SOCK" || fail "p11_standin did not start"

CLIENT_RUN=()
if [ "${PED_VALGRIND:-0}" = 1 ]; then
	CLIENT_RUN=(valgrind -q --error-exitcode=99 --leak-check=no --log-file="$T/valgrind.%p.log"
		--suppressions="$(dirname "$0")/pkcs11.supp")
fi
client() { so_client "$MODULE" "${CLIENT_RUN[@]}" "$@"; }
tool() { client pkcs11-tool --module "$MODULE" "$@"; }
logins() { grep -c 'pin=absent' "$T/logins" 2>/dev/null || true; }
head -c 3000 /dev/urandom >"$T/data"

note "pkcs11-tool: the slots of chapter 13"
OUT=$(tool -L 2>&1) || fail "pkcs11-tool -L: $OUT"
grep -A2 '^Slot 0 ' <<<"$OUT" | grep -q 'token label        : standin$' || fail "slot 0 is not the partition: $OUT"
grep -A2 '^Slot 1 ' <<<"$OUT" | grep -q 'token label        : standin-hsm' || fail "slot 1 is not the admin partition: $OUT"
grep -A2 '^Slot 2 ' <<<"$OUT" | grep -q 'token label        : backup' || fail "slot 2 is not the backup HSM: $OUT"
expect_contains "$OUT" "PIN pad present"

note "pkcs11-tool: a login with no PIN, key pairs, a signature openssl verifies"
before=$(logins)
tool --token-label standin --login --keypairgen --key-type EC:prime256v1 --usage-sign --label k1 --id 01 \
	>"$T/out" 2>&1 || fail "keypairgen: $(cat "$T/out")"
[ "$(logins)" -gt "$before" ] || fail "pkcs11-tool did not log in with no PIN: $(cat "$T/logins")"
tool --token-label standin --login --keypairgen --key-type rsa:2048 --usage-sign --usage-decrypt --label r1 --id 02 \
	>"$T/out" 2>&1 || fail "RSA keypairgen: $(cat "$T/out")"
tool --token-label standin --login --sign --mechanism ECDSA-SHA256 --id 01 --signature-format openssl \
	--input-file "$T/data" --output-file "$T/k1.sig" >"$T/out" 2>&1 || fail "sign: $(cat "$T/out")"
# the public key by p11tool: pkcs11-tool 0.23's --read-object of an EC key
# frees memory it then reads, which an ASan build of the module reports
client p11tool --provider "$MODULE" --batch --export-pubkey "pkcs11:token=standin;object=k1;type=public" \
	>"$T/k1.pem" 2>"$T/out" || fail "exporting the public key: $(cat "$T/out")"
openssl dgst -sha256 -verify "$T/k1.pem" -signature "$T/k1.sig" "$T/data" >"$T/out" 2>&1 ||
	fail "openssl does not verify pkcs11-tool's signature: $(cat "$T/out")"
OUT=$(tool --token-label standin --login --test 2>&1) || fail "pkcs11-tool --test: $OUT"
expect_contains "$OUT" "No errors"
expect_contains "$OUT" "RSA-PKCS-OAEP"

note "p11tool: tokens, a generated key, --test-sign"
OUT=$(client p11tool --provider "$MODULE" --batch --list-tokens 2>&1) || fail "p11tool --list-tokens: $OUT"
expect_contains "$OUT" "token=standin"
before=$(logins)
client p11tool --provider "$MODULE" --batch --login --generate-privkey ECDSA --curve secp256r1 --label gk \
	"pkcs11:token=standin" >"$T/out" 2>&1 || fail "p11tool --generate-privkey: $(cat "$T/out")"
[ "$(logins)" -gt "$before" ] || fail "p11tool did not log in with no PIN"
OUT=$(client p11tool --provider "$MODULE" --batch --login --list-privkeys "pkcs11:token=standin" 2>&1) ||
	fail "p11tool --list-privkeys: $OUT"
expect_contains "$OUT" "Label: gk"
OUT=$(client p11tool --provider "$MODULE" --batch --login --test-sign "pkcs11:token=standin;object=gk" 2>&1) ||
	fail "p11tool --test-sign: $OUT"
expect_contains "$OUT" "Verifying against public key in the token... ok"

note "OpenSSL's pkcs11 engine: a signature with a pkcs11: URI, verified with the public key alone"
cat >"$T/openssl.cnf" <<C
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $engine
MODULE_PATH = $MODULE
init = 0
C
before=$(logins)
OPENSSL_CONF="$T/openssl.cnf" client openssl dgst -sha256 -engine pkcs11 -keyform engine \
	-sign "pkcs11:token=standin;object=k1;type=private" -out "$T/e.sig" "$T/data" >"$T/out" 2>&1 ||
	fail "openssl with the engine: $(cat "$T/out")"
[ "$(logins)" -gt "$before" ] || fail "the engine did not log in with no PIN"
openssl dgst -sha256 -verify "$T/k1.pem" -signature "$T/e.sig" "$T/data" >"$T/out" 2>&1 ||
	fail "openssl does not verify the engine's signature: $(cat "$T/out")"

note "4 processes x 4 threads signing, a fifth killed mid-call, no session left"
# an array, not a function: $! of a process in the background is then the
# tool itself, which the kill must reach
STRESS=("${RUN[@]}" "$TOOLS/p11_stress" "$MODULE" standin)
stress() { "${STRESS[@]}" "$@"; }
pids=()
for i in 1 2 3 4; do
	"${STRESS[@]}" sign k1 4 3 >"$T/stress.$i.out" 2>&1 &
	pids+=($!)
done
"${STRESS[@]}" sign k1 4 30 >"$T/victim.out" 2>&1 &
victim=$!
wait_for 30 grep -q '^signing' "$T/victim.out" || fail "the fifth process never signed: $(cat "$T/victim.out")"
kill -KILL "$victim"
wait "$victim" 2>/dev/null || true
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || fail "process $((i + 1)): $(cat "$T/stress.$((i + 1)).out")"
	grep -q '^signed [1-9]' "$T/stress.$((i + 1)).out" || fail "process $((i + 1)) signed nothing"
done
wait_for 10 eval '[ "$(stress sessions)" = "sessions 0" ]' || fail "sessions left behind: $(stress sessions)"
echo "pkcs11 clients against the stand-in ok"
