#!/bin/bash
# The 2e2s and 1e1s traces of `pedtool handshake` re-derived with the openssl
# command line alone, from what pedtool prints and docs/protocol.md: keys
# rebuilt as DER from the printed scalars and points, ECDH with pkeyutl,
# the KDF with `openssl kdf ... SSKDF`, the tags with `openssl mac ... HMAC`.
. "$(dirname "$0")/../lib.sh"
command -v openssl >/dev/null || skip "openssl command not installed"
command -v perl >/dev/null || skip "perl not installed (hex to binary)"

tobin() { perl -e 'print pack("H*", $ARGV[0])' "$1"; }
tohex() { od -An -v -tx1 | tr -d ' \n'; }
val() { sed -n "s/^$1: //p" "$T/trace"; }

# ECPrivateKey (RFC 5915) for P-521 from a scalar and its public point.
privkey() {
	cat >"$T/k.cnf" <<CNF
asn1=SEQUENCE:ec
[ec]
version=INT:1
priv=FORMAT:HEX,OCTETSTRING:$1
params=EXPLICIT:0,OID:secp521r1
pub=EXPLICIT:1,FORMAT:HEX,BITSTRING:$2
CNF
	openssl asn1parse -genconf "$T/k.cnf" -out "$3" >/dev/null || fail "cannot build private key"
}
# SubjectPublicKeyInfo for a P-521 point.
pubkey() {
	cat >"$T/p.cnf" <<CNF
asn1=SEQUENCE:spki
[spki]
alg=SEQUENCE:alg
pub=FORMAT:HEX,BITSTRING:$1
[alg]
oid=OID:id-ecPublicKey
curve=OID:secp521r1
CNF
	openssl asn1parse -genconf "$T/p.cnf" -out "$2" >/dev/null || fail "cannot build public key"
}
ecdh() { openssl pkeyutl -derive -keyform DER -inkey "$1" -peerform DER -peerkey "$2" | tohex; }
sskdf() {
	openssl kdf -keylen "$3" -kdfopt digest:SHA512 -kdfopt "hexkey:$1" -kdfopt "hexinfo:$2" SSKDF |
		tr -d ':\n' | tr 'A-F' 'a-f'
}
hmac() {
	tobin "$2" >"$T/data"
	openssl mac -digest SHA512 -macopt "hexkey:$1" -in "$T/data" HMAC | tr -d '\n' | tr 'A-F' 'a-f'
}

note "2e2s"
"$BIN/pedtool" handshake -scheme 2e2s -trace >"$T/trace" || fail "pedtool handshake failed"
grep -q '^result: ok$' "$T/trace" || fail "no result line"
privkey "$(val u_eph_priv)" "$(val u_eph_pub)" "$T/ue.der"
privkey "$(val u_static_priv)" "$(val u_static_pub)" "$T/us.der"
pubkey "$(val v_eph_pub)" "$T/ve.der"
pubkey "$(val v_static_pub)" "$T/vs.der"
ze=$(ecdh "$T/ue.der" "$T/ve.der"); expect_eq "$ze" "$(val ze)" "Ze (openssl pkeyutl)"
zs=$(ecdh "$T/us.der" "$T/vs.der"); expect_eq "$zs" "$(val zs)" "Zs (openssl pkeyutl)"
expect_eq "$ze$zs" "$(val z)" "Z = Ze || Zs"
# the V side reaches the same secrets from its own private keys
privkey "$(val v_eph_priv)" "$(val v_eph_pub)" "$T/ve_priv.der"
pubkey "$(val u_eph_pub)" "$T/ue_pub.der"
expect_eq "$(ecdh "$T/ve_priv.der" "$T/ue_pub.der")" "$ze" "Ze from V's side"
dkm=$(sskdf "$(val z)" "$(val fixed_info)" 320)
expect_eq "$dkm" "$(val dkm)" "DKM (openssl kdf SSKDF)"
# DKM layout: mac_key(64) dek_u2v(32) dmk_u2v(64) cwk_u2v(32) dek_v2u(32) dmk_v2u(64) cwk_v2u(32)
expect_eq "${dkm:0:128}" "$(val mac_key)" "mac_key = DKM[0:64]"
expect_eq "${dkm:128:64}" "$(val dek_u2v)" "dek_u2v"
expect_eq "${dkm:192:128}" "$(val dmk_u2v)" "dmk_u2v"
expect_eq "${dkm:320:64}" "$(val cwk_u2v)" "cwk_u2v"
expect_eq "${dkm:384:64}" "$(val dek_v2u)" "dek_v2u"
expect_eq "${dkm:448:128}" "$(val dmk_v2u)" "dmk_v2u"
expect_eq "${dkm:576:64}" "$(val cwk_v2u)" "cwk_v2u"
# MacData: "KC_2_U" || ID_U || ID_V || Q_eU || Q_eV, and the mirror for V
idu=$(printf 'PED:0000000000000001' | tohex); idv=$(printf 'HSM:000000' | tohex)
mdu=$(printf 'KC_2_U' | tohex)$idu$idv$(val u_eph_pub)$(val v_eph_pub)
mdv=$(printf 'KC_2_V' | tohex)$idv$idu$(val v_eph_pub)$(val u_eph_pub)
expect_eq "$(val mac_data_u)" "$mdu" "MacData_U layout"
expect_eq "$(val mac_data_v)" "$mdv" "MacData_V layout"
expect_eq "$(hmac "$(val mac_key)" "$mdu")" "$(val tag_u)" "tag_U (openssl mac HMAC)"
expect_eq "$(hmac "$(val mac_key)" "$mdv")" "$(val tag_v)" "tag_V (openssl mac HMAC)"
# FixedInfo carries the RPV last, as u32 length || RPV
fi=$(val fixed_info); rpv=$(val rpv)
expect_eq "${fi: -72}" "00000020$rpv" "FixedInfo ends with len || RPV"

note "1e1s with a one-time password"
"$BIN/pedtool" handshake -scheme 1e1s -trace >"$T/trace" || fail "pedtool handshake 1e1s failed"
privkey "$(val u_eph_priv)" "$(val u_eph_pub)" "$T/ue.der"
pubkey "$(val v_static_pub)" "$T/vs.der"
z=$(ecdh "$T/ue.der" "$T/vs.der"); expect_eq "$z" "$(val z)" "Z (1e1s)"
dkm=$(sskdf "$z" "$(val fixed_info)" 320); expect_eq "$dkm" "$(val dkm)" "DKM (1e1s)"
# U proves the password first (tag_U), V answers with tag_V only then
mdu=$(printf 'KC_1_U' | tohex)$idu$idv$(val u_eph_pub)$(val nonce_v)
mdv=$(printf 'KC_1_V' | tohex)$idv$idu$(val nonce_v)$(val u_eph_pub)
expect_eq "$(val mac_data_u)" "$mdu" "MacData_U (1e1s)"
expect_eq "$(val mac_data_v)" "$mdv" "MacData_V (1e1s)"
expect_eq "$(hmac "${dkm:0:128}" "$mdu")" "$(val tag_u)" "tag_U (1e1s)"
expect_eq "$(hmac "${dkm:0:128}" "$mdv")" "$(val tag_v)" "tag_V (1e1s)"
pw=$(val password | perl -ne 'chomp; print pack("H*", $_)')
[[ "$pw" =~ ^[0-9]{8}$ ]] || fail "password is not 8 digits: $pw"

note "legacy"
"$BIN/pedtool" handshake -scheme legacy -trace >"$T/trace" || fail "legacy handshake failed"
grep -q '^result: ok$' "$T/trace" || fail "legacy: no result"
echo "handshake re-derived with openssl"
