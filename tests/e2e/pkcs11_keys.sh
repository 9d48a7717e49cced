#!/bin/bash
# Issue #27's acceptance with keys hsm-sim itself made, through
# libopenped-pkcs11.so and pkcs11-tool, every login on a headless PED:
# a key pair generated after a PED login signs, openssl verifies with the
# public key read back, and the private key's value is never returned; the
# partition is backed up to the backup HSM and restored into a partition
# of the same domain, where the restored private key signs (verified with
# the original public key) and the restored public key verifies a
# signature made before the backup; a partition of another domain refuses
# the restore and is left as it was, nothing half-made on either HSM; no
# state file holds the raw bytes of a private or secret key hsm-sim made
# (the values of keys made non-sensitive and extractable for the purpose,
# read through the module).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/hsm_lib.sh"
set -e
for c in pkcs11-tool p11tool; do
	command -v $c >/dev/null || skip "$c is not installed: make deps"
done

MODULE="$PED_BUILD/lib/libopenped-pkcs11.so"
[ -f "$MODULE" ] || fail "$MODULE is missing: run make"
export OPENPED_PKCS11_CONF="$T/openped-pkcs11.conf"
export OPENPED_PKCS11_LOG="$T/pkcs11.log"
printf 'Module = { Socket = "%s"; PEDTimeout1 = 20000; PEDTimeout2 = 40000; PEDTimeout3 = 10000; };\n' \
	"$HSM_SOCK" >"$OPENPED_PKCS11_CONF"
CLIENT_RUN=()
if [ "${PED_VALGRIND:-0}" = 1 ]; then
	CLIENT_RUN=(valgrind -q --error-exitcode=99 --leak-check=no --log-file="$T/valgrind.%p.log"
		--suppressions="$(dirname "$0")/pkcs11.supp")
fi
tool() { so_client "$MODULE" "${CLIENT_RUN[@]}" pkcs11-tool --module "$MODULE" "$@"; }
# pubkey TOKEN LABEL PEM: the public key as PEM, read by p11tool
# (pkcs11-tool 0.23's --read-object of an EC key reads memory it freed: an
# ASan build of the module would report it as ours)
pubkey() {
	so_client "$MODULE" "${CLIENT_RUN[@]}" p11tool --provider "$MODULE" --batch --export-pubkey \
		"pkcs11:token=$1;object=$2;type=public" >"$3" 2>"$T/export.err" ||
		fail "exporting the public key $2 of $1: $(cat "$T/export.err")"
}
# value LABEL priv|secret: CKA_VALUE asked through the module after a login
# (pkcs11-tool 0.23 reads no private key: it says so and exits 0)
value() { OUT=$("${RUN[@]}" "$TOOLS/p11_stress" "$MODULE" p1 value "$1" "$2" 2>&1) || fail "p11_stress value $1: $OUT"; }

# p1 and p2 share a domain, p3 has its own; one Crypto Officer keyset for
# the three (reused), so that any CO login the suite makes is answered
# with the same black key, in whatever order the clients log in.
new_keys so hdom po dom dom3 co bso bdom bpo bco
cat >"$T/a.policy" <<P
write "SETTING SO" ${KEY[so]}
use "SO LOGIN" ${KEY[so]}
reuse "SETTING DOMAIN" no no yes no
write "SETTING DOMAIN" ${KEY[hdom]} ${KEY[dom]} ${KEY[dom3]}
use "READING DOMAIN" ${KEY[dom]}
use "SETTING DOMAIN" ${KEY[dom]}
reuse "SETTING PO" no yes
write "SETTING PO" ${KEY[po]}
use "SETTING PO" ${KEY[po]}
use "PO LOGIN" ${KEY[po]}
reuse "SETTING CO" no yes
write "SETTING CO" ${KEY[co]}
use "SETTING CO" ${KEY[co]}
use "CO LOGIN" ${KEY[co]}
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
start_hsm
start_ped A $HSM_SERIAL "$T/a.policy"
start_ped B $BACKUP_SERIAL "$T/b.policy"
hsmcm -c "slot set -slot 20; hsm init -label bk; slot set -slot 0; hsm init -label main; role login -name so; partition create -label p1; partition create -label p2; partition create -label p3
slot set -slot 1; partition init -label p1; role login -name po; role init -name co
slot set -slot 2; partition init -label p2; role login -name po; role init -name co
slot set -slot 3; partition init -label p3; role login -name po; role init -name co"
[ $RC -eq 0 ] || fail "setup: $OUT"
co_logins() { grep -c '"title":"CO LOGIN' "$T/A.events" || true; }
head -c 3000 /dev/urandom >"$T/input"

note "a key pair made in p1 after a PED login signs; openssl verifies with the public key read back"
before=$(co_logins)
tool --token-label p1 --login --keypairgen --key-type EC:prime256v1 --usage-sign --label sig --id 51 \
	>"$T/gen.out" 2>&1 || fail "keypairgen: $(cat "$T/gen.out")"
[ "$(co_logins)" -gt "$before" ] || fail "the login did not go through the PED"
tool --token-label p1 --login --sign --mechanism ECDSA-SHA256 --id 51 --signature-format openssl \
	--input-file "$T/input" --output-file "$T/before.sig" >"$T/sign.out" 2>&1 || fail "sign: $(cat "$T/sign.out")"
pubkey p1 sig "$T/pub.pem"
openssl dgst -sha256 -verify "$T/pub.pem" -signature "$T/before.sig" "$T/input" >"$T/verify.out" 2>&1 ||
	fail "openssl does not verify p1's signature: $(cat "$T/verify.out")"

note "the private key's value is never returned"
value sig priv
expect_eq "$OUT" "value: 0x11 (none)" "CKA_VALUE of the private key (CKR_ATTRIBUTE_SENSITIVE)"

note "keys made non-sensitive and extractable, their values read: the needles for the state files"
tool --token-label p1 --login --keygen --key-type AES:32 --extractable --label aes --id 52 >"$T/gen2.out" 2>&1 ||
	fail "keygen AES: $(cat "$T/gen2.out")"
tool --token-label p1 --login --read-object --type secrkey --id 52 --output-file "$T/aes.bin" >"$T/ra.out" 2>&1 ||
	fail "reading the AES key's value: $(cat "$T/ra.out")"
[ "$(stat -c %s "$T/aes.bin")" = 32 ] || fail "the AES key's value is not 32 bytes"
tool --token-label p1 --login --keygen --key-type GENERIC:48 --extractable --label gen --id 53 >"$T/gen3.out" 2>&1 ||
	fail "keygen generic secret: $(cat "$T/gen3.out")"
tool --token-label p1 --login --read-object --type secrkey --id 53 --output-file "$T/gen.bin" >"$T/rg.out" 2>&1 ||
	fail "reading the generic secret's value: $(cat "$T/rg.out")"
[ "$(stat -c %s "$T/gen.bin")" = 48 ] || fail "the generic secret's value is not 48 bytes"

note "backup of p1 to the backup HSM"
hsmcm -c "slot set -slot 1; role login -name co; partition archive backup -slot 20 -partition keys; partition archive contents -slot 20 -partition keys"
[ $RC -eq 0 ] || fail "backup: $OUT"
expect_contains "$OUT" "4 objects have been backed up to partition keys"
expect_contains "$OUT" "Object Type: Private Key  Key Type: EC  ID: 51"

note "another domain (p3): refused, p3 as it was, nothing half-made on either HSM"
tool --token-label p3 --login --write-object "$T/input" --type data --label mine >"$T/w3.out" 2>&1 ||
	fail "a data object in p3: $(cat "$T/w3.out")"
# the login into the backup is saved (the backup HSM's state is written
# again): what must not change is what the backup holds, p3's objects and
# the files of the state directory (no temporary left behind)
files() { ls -A "$T/state"; }
hsmcm -c "slot set -slot 1; role login -name co; partition archive contents -slot 20 -partition keys"
backup_before=$(grep 'Object Label' <<<"$OUT")
files >"$T/files.before"
hsmcm -c "slot set -slot 3; role login -name co; partition archive restore -slot 20 -partition keys"
[ $RC -ne 0 ] || fail "restore into another domain: $OUT"
expect_contains "$OUT" "CKR_CERTIFICATE_INVALID"
expect_not_contains "$OUT" "Restore Complete"
hsmcm -c "slot set -slot 3; role login -name co; partition contents"
expect_contains "$OUT" "Number of objects: 1"
expect_contains "$OUT" "Object Label: mine"
files >"$T/files.after"
diff "$T/files.before" "$T/files.after" >"$T/files.diff" || fail "a failed restore left files: $(cat "$T/files.diff")"
hsmcm -c "slot set -slot 1; role login -name co; partition archive contents -slot 20 -partition keys"
[ "$(grep 'Object Label' <<<"$OUT")" = "$backup_before" ] || fail "the backup changed: $OUT"
[ -n "$backup_before" ] || fail "the backup lists no object"
OUT=$(tool --token-label p3 --login -O 2>&1) || fail "listing p3: $OUT"
expect_not_contains "$OUT" "sig"

note "restore into p2, of p1's domain: the restored private key signs, the original public key verifies"
hsmcm -c "slot set -slot 2; role login -name co; partition archive restore -slot 20 -partition keys"
[ $RC -eq 0 ] || fail "restore: $OUT"
expect_contains "$OUT" "Restore Complete. 4 objects have been restored."
tool --token-label p2 --login --sign --mechanism ECDSA-SHA256 --id 51 --signature-format openssl \
	--input-file "$T/input" --output-file "$T/after.sig" >"$T/sign2.out" 2>&1 ||
	fail "the restored key does not sign: $(cat "$T/sign2.out")"
openssl dgst -sha256 -verify "$T/pub.pem" -signature "$T/after.sig" "$T/input" >"$T/verify.out" 2>&1 ||
	fail "the original public key does not verify the restored key's signature: $(cat "$T/verify.out")"
pubkey p2 sig "$T/pub2.pem"
openssl dgst -sha256 -verify "$T/pub2.pem" -signature "$T/before.sig" "$T/input" >"$T/verify.out" 2>&1 ||
	fail "the restored public key does not verify the signature made before: $(cat "$T/verify.out")"
tool --token-label p2 --login --read-object --type secrkey --id 52 --output-file "$T/aes2.bin" >"$T/ra2.out" 2>&1 ||
	fail "reading the restored AES key: $(cat "$T/ra2.out")"
cmp -s "$T/aes.bin" "$T/aes2.bin" || fail "the restored AES key is not the one backed up"

note "no state file holds the raw bytes of a key hsm-sim made"
# the EC private key of a key pair made non-sensitive and extractable: its
# scalar, read through the module (CKA_VALUE), is a needle too
OUT=$("${RUN[@]}" "$TOOLS/p11_stress" "$MODULE" p1 genx ecx 2>&1) || fail "a non-sensitive key pair: $OUT"
value ecx priv
# a PKCS#11 big integer, most significant byte first and no leading zero
# byte: 31 bytes or fewer for one scalar in 256
grep -qx 'value: CKR_OK \([0-9a-f][0-9a-f]\)\{1,32\}' <<<"$OUT" && [ "${OUT:14:2}" != 00 ] ||
	fail "the extractable EC key's scalar: $OUT"
xxd -r -p <<<"${OUT#value: CKR_OK }" >"$T/ecx.bin"
needles=("$T/aes.bin" "$T/gen.bin" "$T/ecx.bin")
# every state file of both HSMs, saved after all of the above
hsmcm -c "slot set -slot 1; role login -name co; partition contents"
expect_contains "$OUT" "Object Label: ecx"
n=0
for f in "$T"/state/*; do
	for k in "${needles[@]}"; do
		# any 16-byte window of a key's value, not only the whole of it
		size=$(stat -c %s "$k")
		for ((o = 0; o + 16 <= size; o += 8)); do
			hex=$(xxd -p -s $o -l 16 "$k" | tr -d '\n')
			if xxd -p "$f" | tr -d '\n' | grep -q "$hex"; then
				fail "$(basename "$f") holds bytes of $(basename "$k")"
			fi
		done
	done
	n=$((n + 1))
done
[ $n -ge 4 ] || fail "fewer state files than expected: $(ls "$T/state")"
echo "keys through the module, backup, restore, state at rest: ok"
