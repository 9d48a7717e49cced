#!/bin/bash
# OpenSSL through libengine-pkcs11-openssl and libopenped-pkcs11.so: a key
# pair made in the HSM (pkcs11-tool, its login on a headless PED), a
# signature made by openssl with a pkcs11: URI (the engine logs in with no
# PIN: the PED answers), verified by openssl with the public key alone.
# Local PED, then Remote PED.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pkcs11_lib.sh"
set -e
for c in pkcs11-tool p11tool; do
	command -v $c >/dev/null || skip "$c is not installed: make deps"
done
engine=$(find /usr/lib -path '*engines-3/pkcs11.so' 2>/dev/null | head -n 1)
[ -n "$engine" ] || skip "the OpenSSL pkcs11 engine (libengine-pkcs11-openssl) is not installed: make deps"

p11_start
p11_init_hsm
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
head -c 4096 /dev/urandom >"$T/input"

round() {
	local k=$1 ped=$2 id=$3 before
	client pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --login --keypairgen \
		--key-type EC:prime256v1 --usage-sign --label "$k" --id "$id" >"$T/gen.out" 2>&1 ||
		fail "keypairgen: $(cat "$T/gen.out")"
	p11_pubkey "$k" "$T/$k.pem"
	before=$(ped_logins "$ped")
	note "$ped PED: openssl signs with pkcs11:token=$TOKEN;object=$k"
	OPENSSL_CONF="$T/openssl.cnf" client openssl dgst -sha256 -engine pkcs11 -keyform engine \
		-sign "pkcs11:token=$TOKEN;object=$k;type=private" -out "$T/$k.sig" "$T/input" >"$T/sign.out" 2>&1 ||
		fail "openssl with the engine: $(cat "$T/sign.out")"
	[ "$(ped_logins "$ped")" -gt "$before" ] || fail "the engine's login did not go through the $ped PED"
	note "$ped PED: openssl verifies with the public key alone"
	p11_verify "$T/$k.pem" "$T/input" "$T/$k.sig"
}

round ek1 L 11
p11_go_remote
round ek2 R 12
echo "openssl engine ok"
