/* Mechanisms against OpenSSL's own judgement: signatures made through
 * libhsm verify with the openssl CLI on the exported public key,
 * ciphertexts decrypt with openssl enc, pkeyutl or EVP, wraps match RFC
 * 5649's vectors, ECDH agrees with the peer's EVP_PKEY_derive. And every
 * CK_RV on the way: parameters, lengths, the two-call convention. */
#include "unit.h"

#include "keys_fixture.h"

#include "hsm/mech.h"
#include "hsm/object.h"
#include "ped/error.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hsm_obj *rsa_pub, *rsa_priv, *ec_pub, *ec_priv;
static EVP_PKEY *ossl_rsa; /* made by OpenSSL, imported: the CLI holds its private key */
static struct hsm_obj *imp_pub, *imp_priv;
static uint8_t msg[1000];

static int setup(void)
{
	CK_ATTRIBUTE pubx[] = {KF_B(CKA_VERIFY, 1), KF_B(CKA_ENCRYPT, 1), KF_B(CKA_WRAP, 1)};
	CK_ATTRIBUTE privx[] = {KF_B(CKA_SIGN, 1), KF_B(CKA_DECRYPT, 1), KF_B(CKA_UNWRAP, 1),
				KF_B(CKA_DERIVE, 1)};
	CK_ULONG bits = 2048;
	size_t plen;
	const uint8_t *p = kf_ec_params("P-256", &plen);
	CK_ATTRIBUTE rsat[] = {KF_U(CKA_MODULUS_BITS, &bits), pubx[0], pubx[1], pubx[2]};
	CK_ATTRIBUTE ect[] = {KF_D(CKA_EC_PARAMS, p, plen), pubx[0]};
	CK_MECHANISM rg = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0}, eg = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	BIO *b;
	int ok;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 1);
	if (hsm_generate_key_pair(NULL, &rg, rsat, 4, privx, 3, &rsa_pub, &rsa_priv) != CKR_OK ||
	    hsm_generate_key_pair(NULL, &eg, ect, 2, privx, 4, &ec_pub, &ec_priv) != CKR_OK ||
	    (ossl_rsa = EVP_RSA_gen(2048)) == NULL)
		return 1;
	/* kf_import asserts, which CUnit does not allow here: made in the tests */
	b = BIO_new_file(kf_path("imp.pem"), "w");
	ok = b && PEM_write_bio_PrivateKey(b, ossl_rsa, NULL, NULL, 0, NULL, NULL) == 1;
	BIO_free(b);
	return !ok;
}

static int teardown(void)
{
	hsm_obj_free(rsa_pub);
	hsm_obj_free(rsa_priv);
	hsm_obj_free(ec_pub);
	hsm_obj_free(ec_priv);
	hsm_obj_free(imp_pub);
	hsm_obj_free(imp_priv);
	EVP_PKEY_free(ossl_rsa);
	return 0;
}

/* The imported pair, made on first use. */
static void imported(void)
{
	CK_ATTRIBUTE pubx[] = {KF_B(CKA_ENCRYPT, 1), KF_B(CKA_WRAP, 1), KF_B(CKA_VERIFY, 1)};
	CK_ATTRIBUTE privx[] = {KF_B(CKA_DECRYPT, 1), KF_B(CKA_UNWRAP, 1), KF_B(CKA_SIGN, 1)};

	if (!imp_pub)
		imp_pub = kf_import(NULL, ossl_rsa, 0, pubx, KF_N(pubx));
	if (!imp_priv)
		imp_priv = kf_import(NULL, ossl_rsa, 1, privx, KF_N(privx));
	CU_ASSERT_FATAL(imp_pub && imp_priv);
}

static void write_spki(const struct hsm_obj *o, const char *name)
{
	const struct hsm_attr *a = hsm_obj_attr(o, CKA_PUBLIC_KEY_INFO);
	CU_ASSERT_FATAL(a != NULL);
	CU_ASSERT_EQUAL(kf_write(name, a->val, a->len), 0);
}

static const char *hex(const uint8_t *p, size_t n)
{
	static char out[2 * 512 + 1];
	for (size_t i = 0; i < n && i < 512; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * (n < 512 ? n : 512)] = '\0';
	return out;
}

/* r || s as DER, for OpenSSL. */
static size_t ecdsa_der(const uint8_t *raw, size_t len, uint8_t *der)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	uint8_t *p = der;
	int n;

	ECDSA_SIG_set0(s, BN_bin2bn(raw, (int)len / 2, NULL), BN_bin2bn(raw + len / 2, (int)len / 2, NULL));
	n = i2d_ECDSA_SIG(s, &p);
	ECDSA_SIG_free(s);
	return (size_t)n;
}

/* Signs msg[0..len) one-shot and in parts (the same for deterministic
 * mechanisms is not required: both must verify), checks both with the API. */
static CK_RV sign_both(CK_MECHANISM *m, const struct hsm_obj *priv, const struct hsm_obj *pub,
		       size_t len, uint8_t *sig, CK_ULONG *siglen)
{
	struct hsm_op *op = NULL;
	uint8_t sig2[1024];
	CK_ULONG n2 = sizeof(sig2);
	CK_RV rv = kf_sign(NULL, m, priv, msg, len, sig, siglen);

	if (rv != CKR_OK)
		return rv;
	CU_ASSERT_EQUAL(kf_verify(NULL, m, pub, msg, len, sig, *siglen), CKR_OK);
	/* in parts of 1, 100 and the rest */
	CU_ASSERT_EQUAL_FATAL(hsm_op_init(NULL, CKF_SIGN, m, priv, &op), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_update(op, msg, 1, NULL, NULL), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_update(op, msg + 1, 100, NULL, NULL), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_update(op, msg + 101, len - 101, NULL, NULL), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_final(op, sig2, &n2), CKR_OK);
	CU_ASSERT_FALSE(hsm_op_active(op));
	hsm_op_free(op);
	CU_ASSERT_EQUAL(n2, *siglen);
	CU_ASSERT_EQUAL_FATAL(hsm_op_init(NULL, CKF_VERIFY, m, pub, &op), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_update(op, msg, 500, NULL, NULL), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_update(op, msg + 500, len - 500, NULL, NULL), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_verify_final(op, sig2, n2), CKR_OK);
	hsm_op_free(op);
	/* another message, another signature */
	CU_ASSERT_EQUAL(kf_verify(NULL, m, pub, msg, len - 1, sig, *siglen), CKR_SIGNATURE_INVALID);
	sig2[0] ^= 1;
	CU_ASSERT_EQUAL(kf_verify(NULL, m, pub, msg, len, sig2, n2), CKR_SIGNATURE_INVALID);
	CU_ASSERT_EQUAL(kf_verify(NULL, m, pub, msg, len, sig2, n2 - 1), CKR_SIGNATURE_LEN_RANGE);
	return CKR_OK;
}

/* --- the table --------------------------------------------------------------- */

static void mechanism_list_and_info(void)
{
	CK_MECHANISM_TYPE list[64];
	CK_ULONG n = 0, small = 2;
	CK_MECHANISM_INFO info;

	CU_ASSERT_EQUAL(hsm_mech_list(NULL, NULL, &n), CKR_OK);
	CU_ASSERT(n >= 35);
	CU_ASSERT_EQUAL(hsm_mech_list(NULL, list, &small), CKR_BUFFER_TOO_SMALL);
	CU_ASSERT_EQUAL(small, n);
	CU_ASSERT_EQUAL(hsm_mech_list(NULL, list, &n), CKR_OK);
	for (CK_ULONG i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(hsm_mech_info(NULL, list[i], &info), CKR_OK);
		CU_ASSERT(info.flags & CKF_HW);
		CU_ASSERT(info.flags & ~(CK_FLAGS)CKF_HW);
		CU_ASSERT_PTR_NOT_NULL(hsm_mech_name(list[i]));
	}
	CU_ASSERT_EQUAL(hsm_mech_info(NULL, CKM_RSA_PKCS_KEY_PAIR_GEN, &info), CKR_OK);
	CU_ASSERT(info.ulMinKeySize == 2048 && info.ulMaxKeySize == 4096 &&
		  info.flags == (CKF_HW | CKF_GENERATE_KEY_PAIR));
	CU_ASSERT_EQUAL(hsm_mech_info(NULL, CKM_ECDSA, &info), CKR_OK);
	CU_ASSERT(info.ulMinKeySize == 256 && info.ulMaxKeySize == 521);
	CU_ASSERT_EQUAL(info.flags, CKF_HW | CKF_SIGN | CKF_VERIFY | CKF_EC_F_P | CKF_EC_NAMEDCURVE |
					    CKF_EC_UNCOMPRESS);
	CU_ASSERT_EQUAL(hsm_mech_info(NULL, CKM_AES_CBC_PAD, &info), CKR_OK);
	CU_ASSERT(info.ulMinKeySize == 16 && info.ulMaxKeySize == 32 &&
		  info.flags == (CKF_HW | CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP));
	CU_ASSERT_EQUAL(hsm_mech_info(NULL, CKM_SHA256, &info), CKR_OK);
	CU_ASSERT_EQUAL(info.flags, CKF_HW | CKF_DIGEST);
	CU_ASSERT_EQUAL(hsm_mech_info(NULL, CKM_DES3_CBC, &info), CKR_MECHANISM_INVALID);
	CU_ASSERT_STRING_EQUAL(hsm_mech_name(CKM_AES_KEY_WRAP_PAD), "CKM_AES_KEY_WRAP_PAD");
	CU_ASSERT_PTR_NULL(hsm_mech_name(CKM_DES3_CBC));
}

/* --- generation ------------------------------------------------------------------- */

static void generate_secret_keys(void)
{
	CK_MECHANISM aes = {CKM_AES_KEY_GEN, NULL, 0}, gen = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
	CK_ULONG l16 = 16, l20 = 20, l32 = 32, l0 = 0, l513 = 513, l1 = 1;
	CK_OBJECT_CLASS pubcls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE des = CKK_DES3;
	struct hsm_obj *k = NULL;
	uint8_t v[8] = {0};

	CK_ATTRIBUTE t[] = {KF_U(CKA_VALUE_LEN, &l32), KF_B(CKA_SENSITIVE, 1), KF_B(CKA_EXTRACTABLE, 1)};
	CU_ASSERT_EQUAL(hsm_generate_key(NULL, &aes, t, KF_N(t), &k), CKR_OK);
	CU_ASSERT_FATAL(k != NULL);
	CU_ASSERT_EQUAL(hsm_obj_ulong(k, CKA_VALUE_LEN), 32);
	CU_ASSERT_EQUAL(hsm_obj_attr(k, CKA_VALUE)->len, 32);
	CU_ASSERT_TRUE(hsm_obj_bool(k, CKA_LOCAL));
	CU_ASSERT_EQUAL(hsm_obj_ulong(k, CKA_KEY_GEN_MECHANISM), CKM_AES_KEY_GEN);
	CU_ASSERT_TRUE(hsm_obj_bool(k, CKA_ALWAYS_SENSITIVE));
	CU_ASSERT_FALSE(hsm_obj_bool(k, CKA_NEVER_EXTRACTABLE));
	hsm_obj_free(k);
	CU_ASSERT_EQUAL(hsm_generate_key(NULL, &aes, (CK_ATTRIBUTE[]){KF_U(CKA_VALUE_LEN, &l16),
								      KF_B(CKA_SENSITIVE, 0)},
					 2, &k),
			CKR_OK);
	CU_ASSERT_FALSE(hsm_obj_bool(k, CKA_ALWAYS_SENSITIVE));
	CU_ASSERT_TRUE(hsm_obj_bool(k, CKA_NEVER_EXTRACTABLE));
	hsm_obj_free(k);
	CU_ASSERT_EQUAL(hsm_generate_key(NULL, &gen, (CK_ATTRIBUTE[]){KF_U(CKA_VALUE_LEN, &l1)}, 1, &k),
			CKR_OK);
	CU_ASSERT(k && k->key_type == CKK_GENERIC_SECRET);
	hsm_obj_free(k);
	/* what generation refuses */
	CU_ASSERT_EQUAL(hsm_generate_key(NULL, &aes, NULL, 0, &k), CKR_TEMPLATE_INCOMPLETE);
	CU_ASSERT_EQUAL(hsm_generate_key(NULL, &aes, (CK_ATTRIBUTE[]){KF_U(CKA_VALUE_LEN, &l20)}, 1, &k),
			CKR_ATTRIBUTE_VALUE_INVALID);
	CU_ASSERT_EQUAL(hsm_generate_key(NULL, &gen, (CK_ATTRIBUTE[]){KF_U(CKA_VALUE_LEN, &l0)}, 1, &k),
			CKR_ATTRIBUTE_VALUE_INVALID);
	CU_ASSERT_EQUAL(hsm_generate_key(NULL, &gen, (CK_ATTRIBUTE[]){KF_U(CKA_VALUE_LEN, &l513)}, 1,
					 &k),
			CKR_ATTRIBUTE_VALUE_INVALID);
	CU_ASSERT_EQUAL(hsm_generate_key(NULL, &aes,
					 (CK_ATTRIBUTE[]){KF_U(CKA_VALUE_LEN, &l16),
							  KF_D(CKA_VALUE, v, sizeof(v))},
					 2, &k),
			CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(hsm_generate_key(NULL, &aes,
					 (CK_ATTRIBUTE[]){KF_U(CKA_VALUE_LEN, &l16), KF_B(CKA_LOCAL, 0)},
					 2, &k),
			CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(hsm_generate_key(NULL, &aes,
					 (CK_ATTRIBUTE[]){KF_U(CKA_VALUE_LEN, &l16), KF_U(CKA_CLASS, &pubcls)},
					 2, &k),
			CKR_TEMPLATE_INCONSISTENT);
	CU_ASSERT_EQUAL(hsm_generate_key(NULL, &aes,
					 (CK_ATTRIBUTE[]){KF_U(CKA_VALUE_LEN, &l16), KF_U(CKA_KEY_TYPE, &des)},
					 2, &k),
			CKR_TEMPLATE_INCONSISTENT);
	CU_ASSERT_EQUAL(hsm_generate_key(NULL, &(CK_MECHANISM){CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0},
					 NULL, 0, &k),
			CKR_MECHANISM_INVALID);
	CU_ASSERT_EQUAL(hsm_generate_key(NULL, &(CK_MECHANISM){CKM_AES_KEY_GEN, v, 8},
					 (CK_ATTRIBUTE[]){KF_U(CKA_VALUE_LEN, &l16)}, 1, &k),
			CKR_MECHANISM_PARAM_INVALID);
	CU_ASSERT_PTR_NULL(k);
}

static void generate_pairs(void)
{
	CK_MECHANISM rg = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0}, eg = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_ULONG bits = 2048, small = 1024;
	uint8_t e3[] = {3}, e4[] = {4};
	const uint8_t k1[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a};
	const char *curves[] = {"P-256", "P-384", "P-521"};
	size_t fields[] = {32, 48, 66}, plen;
	struct hsm_obj *pub = NULL, *priv = NULL;
	EVP_PKEY *spki;

	/* RSA: the exponent given, the public key's attributes, the same key in both */
	CK_ATTRIBUTE rt[] = {KF_U(CKA_MODULUS_BITS, &bits), KF_D(CKA_PUBLIC_EXPONENT, e3, 1)};
	CU_ASSERT_EQUAL_FATAL(hsm_generate_key_pair(NULL, &rg, rt, 2, NULL, 0, &pub, &priv), CKR_OK);
	CU_ASSERT_EQUAL(hsm_obj_ulong(pub, CKA_MODULUS_BITS), 2048);
	CU_ASSERT_EQUAL(hsm_obj_attr(pub, CKA_PUBLIC_EXPONENT)->len, 1);
	CU_ASSERT_EQUAL(hsm_obj_attr(priv, CKA_MODULUS)->len, 256);
	CU_ASSERT(hsm_obj_bool(pub, CKA_LOCAL) && hsm_obj_bool(priv, CKA_LOCAL));
	CU_ASSERT_EQUAL(hsm_obj_ulong(priv, CKA_KEY_GEN_MECHANISM), CKM_RSA_PKCS_KEY_PAIR_GEN);
	CU_ASSERT_TRUE(hsm_obj_bool(priv, CKA_ALWAYS_SENSITIVE));
	CU_ASSERT_TRUE(hsm_obj_bool(priv, CKA_NEVER_EXTRACTABLE));
	CU_ASSERT_PTR_NOT_NULL(hsm_obj_attr(priv, CKA_PRIME_1));
	CU_ASSERT_EQUAL(hsm_obj_attr(pub, CKA_PUBLIC_KEY_INFO)->len,
			hsm_obj_attr(priv, CKA_PUBLIC_KEY_INFO)->len);
	spki = kf_spki(pub);
	CU_ASSERT(spki && EVP_PKEY_eq(spki, priv->pkey) == 1);
	EVP_PKEY_free(spki);
	hsm_obj_free(pub);
	hsm_obj_free(priv);
	pub = priv = NULL;
	CU_ASSERT_EQUAL(hsm_generate_key_pair(NULL, &rg, rt, 1, NULL, 0, &pub, &priv), CKR_OK);
	CU_ASSERT(pub && memcmp(hsm_obj_attr(pub, CKA_PUBLIC_EXPONENT)->val, "\x01\x00\x01", 3) == 0);
	hsm_obj_free(pub);
	hsm_obj_free(priv);
	pub = priv = NULL;
	CU_ASSERT_EQUAL(hsm_generate_key_pair(NULL, &rg, NULL, 0, NULL, 0, &pub, &priv),
			CKR_TEMPLATE_INCOMPLETE);
	CU_ASSERT_EQUAL(hsm_generate_key_pair(NULL, &rg, (CK_ATTRIBUTE[]){KF_U(CKA_MODULUS_BITS, &small)},
					      1, NULL, 0, &pub, &priv),
			CKR_ATTRIBUTE_VALUE_INVALID);
	CU_ASSERT_EQUAL(hsm_generate_key_pair(NULL, &rg,
					      (CK_ATTRIBUTE[]){rt[0], KF_D(CKA_PUBLIC_EXPONENT, e4, 1)},
					      2, NULL, 0, &pub, &priv),
			CKR_ATTRIBUTE_VALUE_INVALID);
	CU_ASSERT_EQUAL(hsm_generate_key_pair(NULL, &rg, rt, 1,
					      (CK_ATTRIBUTE[]){KF_D(CKA_MODULUS, e3, 1)}, 1, &pub, &priv),
			CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_PTR_NULL(pub);
	/* EC on each curve: CKA_EC_POINT a DER OCTET STRING, as OpenSC reads it */
	for (int i = 0; i < 3; i++) {
		const uint8_t *p = kf_ec_params(curves[i], &plen);
		const struct hsm_attr *pt;
		CK_ATTRIBUTE et = KF_D(CKA_EC_PARAMS, p, plen);
		CU_ASSERT_EQUAL_FATAL(hsm_generate_key_pair(NULL, &eg, &et, 1, NULL, 0, &pub, &priv),
				      CKR_OK);
		pt = hsm_obj_attr(pub, CKA_EC_POINT);
		CU_ASSERT_EQUAL(pt->val[0], 0x04);
		CU_ASSERT_EQUAL(pt->val[pt->len - 2 * fields[i] - 1], 0x04);
		CU_ASSERT_EQUAL(pt->len, 2 * fields[i] + 1 + (fields[i] > 60 ? 3 : 2));
		CU_ASSERT_EQUAL(hsm_obj_attr(priv, CKA_EC_PARAMS)->len, plen);
		CU_ASSERT(hsm_obj_attr(priv, CKA_VALUE)->len <= fields[i]);
		hsm_obj_free(pub);
		hsm_obj_free(priv);
		pub = priv = NULL;
	}
	CU_ASSERT_EQUAL(hsm_generate_key_pair(NULL, &eg,
					      (CK_ATTRIBUTE[]){KF_D(CKA_EC_PARAMS, k1, sizeof(k1))}, 1,
					      NULL, 0, &pub, &priv),
			CKR_CURVE_NOT_SUPPORTED);
	CU_ASSERT_EQUAL(hsm_generate_key_pair(NULL, &eg, NULL, 0, NULL, 0, &pub, &priv),
			CKR_TEMPLATE_INCOMPLETE);
	const uint8_t *p = kf_ec_params("P-256", &plen);
	CU_ASSERT_EQUAL(hsm_generate_key_pair(NULL, &eg, (CK_ATTRIBUTE[]){KF_D(CKA_EC_PARAMS, p, plen)},
					      1, (CK_ATTRIBUTE[]){KF_D(CKA_EC_PARAMS, p, plen)}, 1,
					      &pub, &priv),
			CKR_ATTRIBUTE_READ_ONLY);
}

/* --- signatures, checked by the openssl CLI -------------------------------------- */

static void rsa_signatures_verify_with_openssl(void)
{
	struct {
		CK_MECHANISM_TYPE mech, hash;
		CK_RSA_PKCS_MGF_TYPE mgf;
		const char *md;
		int pss;
	} cases[] = {
		{CKM_SHA256_RSA_PKCS, 0, 0, "sha256", 0},
		{CKM_SHA384_RSA_PKCS, 0, 0, "sha384", 0},
		{CKM_SHA512_RSA_PKCS, 0, 0, "sha512", 0},
		{CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, "sha256", 1},
		{CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384, "sha384", 1},
		{CKM_SHA512_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512, "sha512", 1},
	};
	uint8_t sig[512];
	CK_ULONG n;

	write_spki(rsa_pub, "rsa.der");
	CU_ASSERT_EQUAL(kf_write("msg.bin", msg, sizeof(msg)), 0);
	for (size_t i = 0; i < KF_N(cases); i++) {
		CK_RSA_PKCS_PSS_PARAMS pss = {cases[i].hash, cases[i].mgf, 32};
		CK_MECHANISM m = {cases[i].mech, cases[i].pss ? &pss : NULL,
				  cases[i].pss ? sizeof(pss) : 0};
		n = sizeof(sig);
		CU_ASSERT_EQUAL_FATAL(sign_both(&m, rsa_priv, rsa_pub, sizeof(msg), sig, &n), CKR_OK);
		CU_ASSERT_EQUAL(n, 256);
		CU_ASSERT_EQUAL(kf_write("sig.bin", sig, n), 0);
		CU_ASSERT_EQUAL(kf_sh("openssl dgst -%s -verify rsa.der -keyform DER %s -signature "
				      "sig.bin msg.bin",
				      cases[i].md,
				      cases[i].pss ? "-sigopt rsa_padding_mode:pss -sigopt "
						     "rsa_pss_saltlen:32"
						   : ""),
				0);
		sig[7] ^= 0x10;
		CU_ASSERT_EQUAL(kf_write("sig.bin", sig, n), 0);
		CU_ASSERT_NOT_EQUAL(kf_sh("openssl dgst -%s -verify rsa.der -keyform DER %s -signature "
					  "sig.bin msg.bin",
					  cases[i].md,
					  cases[i].pss ? "-sigopt rsa_padding_mode:pss" : ""),
				    0);
	}
}

static void rsa_raw_mechanisms(void)
{
	/* DigestInfo of SHA-256, then the hash: what CKM_RSA_PKCS signs */
	uint8_t di[19 + 32] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
			       0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
	uint8_t sig[512], rec[512], big[300];
	size_t recl = 0;
	CK_ULONG n = sizeof(sig);
	CK_MECHANISM pkcs = {CKM_RSA_PKCS, NULL, 0}, raw = {CKM_RSA_X_509, NULL, 0};
	CK_RSA_PKCS_PSS_PARAMS pp = {CKM_SHA256, CKG_MGF1_SHA256, 20};
	CK_MECHANISM pss = {CKM_RSA_PKCS_PSS, &pp, sizeof(pp)};
	struct hsm_op *op = NULL;

	write_spki(rsa_pub, "rsa.der");
	CU_ASSERT_EQUAL(kf_write("msg.bin", msg, sizeof(msg)), 0);
	EVP_Digest(msg, sizeof(msg), di + 19, NULL, EVP_sha256(), NULL);
	CU_ASSERT_EQUAL(kf_write("hash.bin", di + 19, 32), 0);
	/* PKCS#1 v1.5 on a DigestInfo: the same as sha256WithRSAEncryption */
	CU_ASSERT_EQUAL(kf_sign(NULL, &pkcs, rsa_priv, di, sizeof(di), sig, &n), CKR_OK);
	CU_ASSERT_EQUAL(kf_verify(NULL, &pkcs, rsa_pub, di, sizeof(di), sig, n), CKR_OK);
	CU_ASSERT_EQUAL(kf_write("sig.bin", sig, n), 0);
	CU_ASSERT_EQUAL(kf_sh("openssl dgst -sha256 -verify rsa.der -keyform DER -signature sig.bin "
			      "msg.bin"),
			0);
	CU_ASSERT_EQUAL(kf_sign(NULL, &pkcs, rsa_priv, big, 246, sig, &n), CKR_DATA_LEN_RANGE);
	/* one part only */
	CU_ASSERT_EQUAL(hsm_op_init(NULL, CKF_SIGN, &pkcs, rsa_priv, &op), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_update(op, di, 10, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);
	CU_ASSERT_FALSE(hsm_op_active(op));
	CU_ASSERT_EQUAL(hsm_op_final(op, sig, &n), CKR_OPERATION_NOT_INITIALIZED);
	hsm_op_free(op);
	/* PSS on a hash */
	n = sizeof(sig);
	CU_ASSERT_EQUAL(kf_sign(NULL, &pss, rsa_priv, di + 19, 32, sig, &n), CKR_OK);
	CU_ASSERT_EQUAL(kf_verify(NULL, &pss, rsa_pub, di + 19, 32, sig, n), CKR_OK);
	CU_ASSERT_EQUAL(kf_write("sig.bin", sig, n), 0);
	CU_ASSERT_EQUAL(kf_sh("openssl pkeyutl -verify -pubin -inkey rsa.der -keyform DER -in "
			      "hash.bin -sigfile sig.bin -pkeyopt digest:sha256 -pkeyopt "
			      "rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:20"),
			0);
	CU_ASSERT_EQUAL(kf_sign(NULL, &pss, rsa_priv, di + 19, 31, sig, &n), CKR_DATA_LEN_RANGE);
	/* raw RSA: what verifyrecover gives back is the input, zeros in front */
	n = sizeof(sig);
	CU_ASSERT_EQUAL(kf_sign(NULL, &raw, rsa_priv, di, sizeof(di), sig, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 256);
	CU_ASSERT_EQUAL(kf_verify(NULL, &raw, rsa_pub, di, sizeof(di), sig, n), CKR_OK);
	CU_ASSERT_EQUAL(kf_write("sig.bin", sig, n), 0);
	CU_ASSERT_EQUAL(kf_sh("openssl pkeyutl -verifyrecover -pubin -inkey rsa.der -keyform DER -in "
			      "sig.bin -out rec.bin -pkeyopt rsa_padding_mode:none"),
			0);
	CU_ASSERT_EQUAL(kf_read("rec.bin", rec, sizeof(rec), &recl), 0);
	CU_ASSERT_EQUAL(recl, 256);
	CU_ASSERT_EQUAL(memcmp(rec + 256 - sizeof(di), di, sizeof(di)), 0);
	memset(big, 0xff, sizeof(big)); /* above the modulus */
	CU_ASSERT_EQUAL(kf_sign(NULL, &raw, rsa_priv, big, 256, sig, &n), CKR_DATA_INVALID);
	CU_ASSERT_EQUAL(kf_sign(NULL, &raw, rsa_priv, big, 257, sig, &n), CKR_DATA_LEN_RANGE);
}

static void rsa_4096(void)
{
	CK_ULONG bits = 4096, n = 512;
	CK_MECHANISM m = {CKM_SHA512_RSA_PKCS, NULL, 0};
	CK_MECHANISM_INFO info;
	struct hsm_obj *pub = NULL, *priv = NULL;
	uint8_t sig[512];
	uint8_t *pubenc = NULL, *sec = NULL;
	size_t pl = 0, sl = 0;

	kf_rsa_pair(NULL, bits, (CK_ATTRIBUTE[]){KF_B(CKA_VERIFY, 1)}, 1,
		    (CK_ATTRIBUTE[]){KF_B(CKA_SIGN, 1), KF_B(CKA_TOKEN, 1)}, 2, &pub, &priv);
	CU_ASSERT_EQUAL(hsm_obj_ulong(pub, CKA_MODULUS_BITS), 4096);
	CU_ASSERT_EQUAL(hsm_mech_info(NULL, CKM_SHA512_RSA_PKCS, &info), CKR_OK);
	CU_ASSERT(bits <= info.ulMaxKeySize);
	CU_ASSERT_EQUAL(kf_sign(NULL, &m, priv, msg, sizeof(msg), sig, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 512);
	write_spki(pub, "rsa4096.der");
	CU_ASSERT_EQUAL(kf_write("sig.bin", sig, n), 0);
	CU_ASSERT_EQUAL(kf_write("msg.bin", msg, sizeof(msg)), 0);
	CU_ASSERT_EQUAL(kf_sh("openssl dgst -sha512 -verify rsa4096.der -keyform DER -signature "
			      "sig.bin msg.bin"),
			0);
	/* a 4096-bit private key fits an object and its encoding */
	CU_ASSERT_EQUAL(hsm_obj_encode(priv, &pubenc, &pl, &sec, &sl), PED_OK);
	CU_ASSERT(sl > 1024 && pl > 512);
	OPENSSL_clear_free(pubenc, pl);
	OPENSSL_clear_free(sec, sl);
	hsm_obj_free(pub);
	hsm_obj_free(priv);
}

static void ecdsa_verifies_with_openssl(void)
{
	struct {
		const char *curve, *md;
		CK_MECHANISM_TYPE mech;
		size_t siglen;
	} cases[] = {{"P-256", "sha256", CKM_ECDSA_SHA256, 64},
		     {"P-384", "sha384", CKM_ECDSA_SHA384, 96},
		     {"P-521", "sha512", CKM_ECDSA_SHA512, 132}};
	uint8_t sig[200], der[200], hash[32];
	CK_ULONG n;
	CK_MECHANISM raw = {CKM_ECDSA, NULL, 0};

	CU_ASSERT_EQUAL(kf_write("msg.bin", msg, sizeof(msg)), 0);
	for (size_t i = 0; i < KF_N(cases); i++) {
		struct hsm_obj *pub, *priv;
		CK_MECHANISM m = {cases[i].mech, NULL, 0};
		kf_ec_pair(NULL, cases[i].curve, (CK_ATTRIBUTE[]){KF_B(CKA_VERIFY, 1)}, 1,
			   (CK_ATTRIBUTE[]){KF_B(CKA_SIGN, 1)}, 1, &pub, &priv);
		n = sizeof(sig);
		CU_ASSERT_EQUAL_FATAL(sign_both(&m, priv, pub, sizeof(msg), sig, &n), CKR_OK);
		CU_ASSERT_EQUAL(n, cases[i].siglen);
		write_spki(pub, "ec.der");
		CU_ASSERT_EQUAL(kf_write("sig.der", der, ecdsa_der(sig, n, der)), 0);
		CU_ASSERT_EQUAL(kf_sh("openssl dgst -%s -verify ec.der -keyform DER -signature sig.der "
				      "msg.bin",
				      cases[i].md),
				0);
		hsm_obj_free(pub);
		hsm_obj_free(priv);
	}
	/* ECDSA on a hash made outside */
	EVP_Digest(msg, sizeof(msg), hash, NULL, EVP_sha256(), NULL);
	n = sizeof(sig);
	CU_ASSERT_EQUAL(kf_sign(NULL, &raw, ec_priv, hash, 32, sig, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 64);
	CU_ASSERT_EQUAL(kf_verify(NULL, &raw, ec_pub, hash, 32, sig, n), CKR_OK);
	CU_ASSERT_EQUAL(kf_verify(NULL, &raw, ec_pub, hash, 31, sig, n), CKR_SIGNATURE_INVALID);
	CU_ASSERT_EQUAL(kf_verify(NULL, &raw, ec_pub, hash, 32, sig, 63), CKR_SIGNATURE_LEN_RANGE);
	write_spki(ec_pub, "ec.der");
	CU_ASSERT_EQUAL(kf_write("hash.bin", hash, 32), 0);
	CU_ASSERT_EQUAL(kf_write("sig.der", der, ecdsa_der(sig, n, der)), 0);
	CU_ASSERT_EQUAL(kf_sh("openssl pkeyutl -verify -pubin -inkey ec.der -keyform DER -in hash.bin "
			      "-sigfile sig.der"),
			0);
	CU_ASSERT_EQUAL(kf_sign(NULL, &raw, ec_priv, hash, 0, sig, &n), CKR_DATA_LEN_RANGE);
}

static void hmac_against_evp(void)
{
	CK_MECHANISM_TYPE mechs[] = {CKM_SHA224_HMAC, CKM_SHA256_HMAC, CKM_SHA384_HMAC, CKM_SHA512_HMAC};
	const char *mds[] = {"SHA224", "SHA256", "SHA384", "SHA512"};
	uint8_t key[40], mac[64], want[64];
	size_t wl = 0;
	CK_ULONG n;
	struct hsm_obj *k;

	RAND_bytes(key, sizeof(key));
	k = kf_secret(NULL, CKK_GENERIC_SECRET, key, sizeof(key),
		      (CK_ATTRIBUTE[]){KF_B(CKA_SIGN, 1), KF_B(CKA_VERIFY, 1)}, 2);
	CU_ASSERT_FATAL(k != NULL);
	for (size_t i = 0; i < KF_N(mechs); i++) {
		CK_MECHANISM m = {mechs[i], NULL, 0};
		n = sizeof(mac);
		CU_ASSERT_EQUAL(sign_both(&m, k, k, sizeof(msg), mac, &n), CKR_OK);
		CU_ASSERT(EVP_Q_mac(NULL, "HMAC", NULL, mds[i], NULL, key, sizeof(key), msg,
				    sizeof(msg), want, sizeof(want), &wl) != NULL);
		CU_ASSERT(n == wl && memcmp(mac, want, wl) == 0);
	}
	/* an AES key is not an HMAC key */
	struct hsm_obj *aes = kf_secret(NULL, CKK_AES, key, 16, (CK_ATTRIBUTE[]){KF_B(CKA_SIGN, 1)}, 1);
	CU_ASSERT_EQUAL(kf_sign(NULL, &(CK_MECHANISM){CKM_SHA256_HMAC, NULL, 0}, aes, msg, 10, mac, &n),
			CKR_KEY_TYPE_INCONSISTENT);
	hsm_obj_free(aes);
	hsm_obj_free(k);
}

/* --- PKCS#11's two-call convention ------------------------------------------------ */

static void two_call_convention(void)
{
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	struct hsm_op *op = NULL;
	uint8_t sig[512];
	CK_ULONG n = 0;

	CU_ASSERT_EQUAL_FATAL(hsm_op_init(NULL, CKF_SIGN, &m, rsa_priv, &op), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_oneshot(op, msg, 100, NULL, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 256);
	n = 255;
	CU_ASSERT_EQUAL(hsm_op_oneshot(op, msg, 100, sig, &n), CKR_BUFFER_TOO_SMALL);
	CU_ASSERT_EQUAL(n, 256);
	CU_ASSERT_TRUE(hsm_op_active(op));
	CU_ASSERT_EQUAL(hsm_op_oneshot(op, msg, 100, sig, &n), CKR_OK);
	CU_ASSERT_FALSE(hsm_op_active(op));
	CU_ASSERT_EQUAL(hsm_op_oneshot(op, msg, 100, sig, &n), CKR_OPERATION_NOT_INITIALIZED);
	CU_ASSERT_EQUAL(kf_verify(NULL, &m, rsa_pub, msg, 100, sig, n), CKR_OK);
	hsm_op_free(op);
	/* multi-part: the final call keeps the data when its buffer is short */
	CU_ASSERT_EQUAL_FATAL(hsm_op_init(NULL, CKF_SIGN, &m, rsa_priv, &op), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_update(op, msg, 60, NULL, NULL), CKR_OK);
	n = 10;
	CU_ASSERT_EQUAL(hsm_op_oneshot(op, msg, 40, sig, &n), CKR_OPERATION_ACTIVE);
	CU_ASSERT_EQUAL(hsm_op_final(op, sig, &n), CKR_BUFFER_TOO_SMALL);
	CU_ASSERT_EQUAL(hsm_op_update(op, msg + 60, 40, NULL, NULL), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_final(op, NULL, &n), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_final(op, sig, &n), CKR_OK);
	hsm_op_free(op);
	CU_ASSERT_EQUAL(kf_verify(NULL, &m, rsa_pub, msg, 100, sig, n), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_update(NULL, msg, 1, NULL, NULL), CKR_OPERATION_NOT_INITIALIZED);
}

/* --- AES -------------------------------------------------------------------------------- */

static struct hsm_obj *aes_key(const uint8_t *key, size_t len)
{
	return kf_secret(NULL, CKK_AES, key, len,
			 (CK_ATTRIBUTE[]){KF_B(CKA_ENCRYPT, 1), KF_B(CKA_DECRYPT, 1)}, 2);
}

/* Runs a multi-part operation in parts of the given sizes, asking each
 * length first and checking the answer was exact. */
static CK_RV multipart(CK_FLAGS fn, CK_MECHANISM *m, const struct hsm_obj *k, const uint8_t *in,
		       size_t len, const size_t *parts, size_t nparts, uint8_t *out, size_t *outlen)
{
	struct hsm_op *op = NULL;
	size_t off = 0, done = 0;
	CK_ULONG n;
	CK_RV rv = hsm_op_init(NULL, fn, m, k, &op);

	for (size_t i = 0; rv == CKR_OK && off < len; i++) {
		size_t p = i < nparts ? parts[i] : len - off;
		if (p > len - off)
			p = len - off;
		rv = hsm_op_update(op, in + off, p, NULL, &n);
		if (rv != CKR_OK)
			break;
		CK_ULONG asked = n;
		rv = hsm_op_update(op, in + off, p, out + done, &n);
		if (rv == CKR_OK)
			CU_ASSERT_EQUAL(n, asked);
		off += p;
		done += n;
	}
	if (rv == CKR_OK)
		rv = hsm_op_final(op, NULL, &n);
	if (rv == CKR_OK) {
		CK_ULONG asked = n;
		rv = hsm_op_final(op, out + done, &n);
		if (rv == CKR_OK)
			CU_ASSERT_EQUAL(n, asked);
		done += n;
	}
	hsm_op_free(op);
	*outlen = done;
	return rv;
}

static void aes_gcm(void)
{
	uint8_t key[32], iv[12], aad[20], ct[1100], pt[1100], tag[16], ref[1100];
	CK_GCM_PARAMS gp = {iv, sizeof(iv), 96, aad, sizeof(aad), 128};
	CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof(gp)};
	size_t parts[] = {1, 15, 16, 17, 100}, n2;
	CK_ULONG n = sizeof(ct);
	struct hsm_obj *k;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0, l2 = 0;

	RAND_bytes(key, sizeof(key));
	RAND_bytes(iv, sizeof(iv));
	RAND_bytes(aad, sizeof(aad));
	k = aes_key(key, 32);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &m, k, msg, sizeof(msg), ct, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, sizeof(msg) + 16);
	/* OpenSSL decrypts it and checks the tag */
	CU_ASSERT(EVP_DecryptInit_ex2(c, EVP_aes_256_gcm(), key, iv, NULL) == 1);
	CU_ASSERT(EVP_DecryptUpdate(c, NULL, &l, aad, sizeof(aad)) == 1);
	CU_ASSERT(EVP_DecryptUpdate(c, ref, &l, ct, (int)sizeof(msg)) == 1);
	memcpy(tag, ct + sizeof(msg), 16);
	CU_ASSERT(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1);
	CU_ASSERT(EVP_DecryptFinal_ex(c, ref + l, &l2) == 1);
	CU_ASSERT(l + l2 == (int)sizeof(msg) && memcmp(ref, msg, sizeof(msg)) == 0);
	EVP_CIPHER_CTX_free(c);
	/* in parts: the same bytes; decryption gives everything at the end */
	CU_ASSERT_EQUAL(multipart(CKF_ENCRYPT, &m, k, msg, sizeof(msg), parts, 5, ref, &n2), CKR_OK);
	CU_ASSERT(n2 == n && memcmp(ref, ct, n) == 0);
	CU_ASSERT_EQUAL(multipart(CKF_DECRYPT, &m, k, ct, n, parts, 5, pt, &n2), CKR_OK);
	CU_ASSERT(n2 == sizeof(msg) && memcmp(pt, msg, sizeof(msg)) == 0);
	n = sizeof(pt);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_DECRYPT, &m, k, ct, sizeof(msg) + 16, pt, &n), CKR_OK);
	/* a changed bit anywhere: nothing comes out */
	ct[3] ^= 1;
	n = sizeof(pt);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_DECRYPT, &m, k, ct, sizeof(msg) + 16, pt, &n),
			CKR_ENCRYPTED_DATA_INVALID);
	CU_ASSERT_EQUAL(multipart(CKF_DECRYPT, &m, k, ct, sizeof(msg) + 16, parts, 5, pt, &n2),
			CKR_ENCRYPTED_DATA_INVALID);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_DECRYPT, &m, k, ct, 15, pt, &n), CKR_ENCRYPTED_DATA_LEN_RANGE);
	/* a 96-bit tag; parameters out of bounds */
	gp.ulTagBits = 96;
	n = sizeof(ct);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &m, k, msg, 10, ct, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 22);
	gp.ulTagBits = 100;
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &m, k, msg, 10, ct, &n), CKR_MECHANISM_PARAM_INVALID);
	gp.ulTagBits = 128;
	gp.ulIvLen = 0;
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &m, k, msg, 10, ct, &n), CKR_MECHANISM_PARAM_INVALID);
	gp.ulIvLen = 12;
	m.ulParameterLen = sizeof(gp) - 8;
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &m, k, msg, 10, ct, &n), CKR_MECHANISM_PARAM_INVALID);
	hsm_obj_free(k);
}

static void aes_cbc_pad_with_openssl_enc(void)
{
	uint8_t key[16], iv[16], ct[1100], pt[1100], back[1100];
	CK_MECHANISM m = {CKM_AES_CBC_PAD, iv, 16};
	size_t parts[] = {1, 15, 16, 17, 3, 200}, got = 0, n2;
	CK_ULONG n = sizeof(ct), exact;
	struct hsm_obj *k;
	struct hsm_op *op = NULL;

	RAND_bytes(key, sizeof(key));
	RAND_bytes(iv, sizeof(iv));
	k = aes_key(key, 16);
	for (size_t len = 0; len <= 48; len += 7) {
		char cmd[2200];
		n = sizeof(ct);
		CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &m, k, msg, len, ct, &n), CKR_OK);
		CU_ASSERT_EQUAL(n, len / 16 * 16 + 16);
		CU_ASSERT_EQUAL(kf_write("ct.bin", ct, n), 0);
		snprintf(cmd, sizeof(cmd), "openssl enc -d -aes-128-cbc -K %s", hex(key, 16));
		CU_ASSERT_EQUAL(kf_sh("%s -iv %s -in ct.bin -out pt.bin", cmd, hex(iv, 16)), 0);
		CU_ASSERT_EQUAL(kf_read("pt.bin", pt, sizeof(pt), &got), 0);
		CU_ASSERT(got == len && memcmp(pt, msg, len) == 0);
		/* back through the HSM in parts */
		CU_ASSERT_EQUAL(multipart(CKF_DECRYPT, &m, k, ct, n, parts, KF_N(parts), back, &n2),
				CKR_OK);
		CU_ASSERT(n2 == len && memcmp(back, msg, len) == 0);
		CU_ASSERT_EQUAL(multipart(CKF_ENCRYPT, &m, k, msg, len, parts, KF_N(parts), back, &n2),
				CKR_OK);
		CU_ASSERT(n2 == n && memcmp(back, ct, n) == 0);
	}
	/* one-shot decryption into a buffer of just the plaintext's length */
	n = sizeof(ct);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &m, k, msg, 37, ct, &n), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_op_init(NULL, CKF_DECRYPT, &m, k, &op), CKR_OK);
	exact = 0;
	CU_ASSERT_EQUAL(hsm_op_oneshot(op, ct, 48, NULL, &exact), CKR_OK);
	CU_ASSERT_EQUAL(exact, 48); /* a bound */
	exact = 30;
	CU_ASSERT_EQUAL(hsm_op_oneshot(op, ct, 48, pt, &exact), CKR_BUFFER_TOO_SMALL);
	CU_ASSERT_EQUAL(exact, 37); /* now exact */
	CU_ASSERT_TRUE(hsm_op_active(op));
	CU_ASSERT_EQUAL(hsm_op_oneshot(op, ct, 48, pt, &exact), CKR_OK);
	CU_ASSERT(exact == 37 && memcmp(pt, msg, 37) == 0);
	hsm_op_free(op);
	/* wrong padding, wrong lengths */
	ct[47 - 16] ^= 0x01; /* the last byte of the last block's plaintext */
	n = sizeof(pt);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_DECRYPT, &m, k, ct, 48, pt, &n), CKR_ENCRYPTED_DATA_INVALID);
	CU_ASSERT_EQUAL(multipart(CKF_DECRYPT, &m, k, ct, 48, parts, 3, pt, &n2),
			CKR_ENCRYPTED_DATA_INVALID);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_DECRYPT, &m, k, ct, 47, pt, &n), CKR_ENCRYPTED_DATA_LEN_RANGE);
	CU_ASSERT_EQUAL(multipart(CKF_DECRYPT, &m, k, ct, 47, parts, 3, pt, &n2),
			CKR_ENCRYPTED_DATA_LEN_RANGE);
	m.ulParameterLen = 8;
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_DECRYPT, &m, k, ct, 48, pt, &n), CKR_MECHANISM_PARAM_INVALID);
	hsm_obj_free(k);
}

static void aes_cbc_ecb_ctr_with_openssl_enc(void)
{
	uint8_t key[32], iv[16], ct[1100], pt[1100];
	CK_AES_CTR_PARAMS cp = {32, {0}};
	struct {
		CK_MECHANISM m;
		const char *cipher;
		int iv, nopad;
	} cases[] = {{{CKM_AES_CBC, iv, 16}, "aes-256-cbc", 1, 1},
		     {{CKM_AES_ECB, NULL, 0}, "aes-256-ecb", 0, 1},
		     {{CKM_AES_CTR, &cp, sizeof(cp)}, "aes-256-ctr", 1, 0}};
	size_t parts[] = {5, 16, 27}, n2, got;
	CK_ULONG n;
	struct hsm_obj *k;

	RAND_bytes(key, sizeof(key));
	RAND_bytes(iv, sizeof(iv));
	memcpy(cp.cb, iv, 16);
	cp.cb[15] = 0; /* room for the counter */
	k = aes_key(key, 32);
	for (size_t i = 0; i < KF_N(cases); i++) {
		const uint8_t *civ = cases[i].m.mechanism == CKM_AES_CTR ? cp.cb : iv;
		char cmd[2200];
		n = sizeof(ct);
		CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &cases[i].m, k, msg, 160, ct, &n), CKR_OK);
		CU_ASSERT_EQUAL(n, 160);
		CU_ASSERT_EQUAL(kf_write("ct.bin", ct, n), 0);
		snprintf(cmd, sizeof(cmd), "openssl enc -d -%s %s -K %s", cases[i].cipher,
			 cases[i].nopad ? "-nopad" : "", hex(key, 32));
		CU_ASSERT_EQUAL(kf_sh("%s %s%s -in ct.bin -out pt.bin", cmd, cases[i].iv ? "-iv " : "",
				      cases[i].iv ? hex(civ, 16) : ""),
				0);
		CU_ASSERT_EQUAL(kf_read("pt.bin", pt, sizeof(pt), &got), 0);
		CU_ASSERT(got == 160 && memcmp(pt, msg, 160) == 0);
		CU_ASSERT_EQUAL(multipart(CKF_ENCRYPT, &cases[i].m, k, msg, 160, parts, 3, pt, &n2),
				CKR_OK);
		CU_ASSERT(n2 == 160 && memcmp(pt, ct, 160) == 0);
		CU_ASSERT_EQUAL(multipart(CKF_DECRYPT, &cases[i].m, k, ct, 160, parts, 3, pt, &n2),
				CKR_OK);
		CU_ASSERT(n2 == 160 && memcmp(pt, msg, 160) == 0);
	}
	/* block modes without padding take whole blocks */
	n = sizeof(ct);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &cases[0].m, k, msg, 17, ct, &n), CKR_DATA_LEN_RANGE);
	CU_ASSERT_EQUAL(multipart(CKF_ENCRYPT, &cases[1].m, k, msg, 17, parts, 3, pt, &n2),
			CKR_DATA_LEN_RANGE);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_DECRYPT, &cases[0].m, k, ct, 17, pt, &n),
			CKR_ENCRYPTED_DATA_LEN_RANGE);
	/* CTR: the counter's bits may not wrap */
	cp.ulCounterBits = 4;
	cp.cb[15] = 0x0e; /* two blocks left */
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &cases[2].m, k, msg, 32, ct, &n), CKR_OK);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &cases[2].m, k, msg, 33, ct, &n), CKR_DATA_LEN_RANGE);
	CU_ASSERT_EQUAL(multipart(CKF_ENCRYPT, &cases[2].m, k, msg, 40, parts, 3, pt, &n2),
			CKR_DATA_LEN_RANGE);
	cp.ulCounterBits = 0;
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &cases[2].m, k, msg, 16, ct, &n),
			CKR_MECHANISM_PARAM_INVALID);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &(CK_MECHANISM){CKM_AES_ECB, iv, 16}, k, msg, 16, ct,
				 &n),
			CKR_MECHANISM_PARAM_INVALID);
	hsm_obj_free(k);
}

/* --- RSA encryption ------------------------------------------------------------------- */

static void rsa_encryption_with_openssl_pkeyutl(void)
{
	uint8_t label[] = "lbl", ct[256], pt[256];
	CK_RSA_PKCS_OAEP_PARAMS op256 = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, label, 3};
	CK_RSA_PKCS_OAEP_PARAMS op1 = {CKM_SHA_1, CKG_MGF1_SHA1, 0, NULL, 0};
	CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, &op256, sizeof(op256)};
	CK_MECHANISM oaep1 = {CKM_RSA_PKCS_OAEP, &op1, sizeof(op1)};
	CK_MECHANISM pkcs = {CKM_RSA_PKCS, NULL, 0};
	CK_ULONG n = sizeof(ct);
	size_t got = 0;
	const char *oaep_opts = "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt "
				"rsa_mgf1_md:sha256 -pkeyopt rsa_oaep_label:6c626c";

	imported();
	write_spki(imp_pub, "imp.der");
	/* the HSM encrypts, the CLI with the private key decrypts */
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &oaep, imp_pub, msg, 190, ct, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 256);
	CU_ASSERT_EQUAL(kf_write("ct.bin", ct, n), 0);
	CU_ASSERT_EQUAL(kf_sh("openssl pkeyutl -decrypt -inkey imp.pem -in ct.bin -out pt.bin %s",
			      oaep_opts),
			0);
	CU_ASSERT_EQUAL(kf_read("pt.bin", pt, sizeof(pt), &got), 0);
	CU_ASSERT(got == 190 && memcmp(pt, msg, 190) == 0);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &oaep, imp_pub, msg, 191, ct, &n), CKR_DATA_LEN_RANGE);
	/* the CLI encrypts, the HSM decrypts */
	CU_ASSERT_EQUAL(kf_write("msg.bin", msg, 50), 0);
	CU_ASSERT_EQUAL(kf_sh("openssl pkeyutl -encrypt -pubin -inkey imp.der -keyform DER -in msg.bin "
			      "-out ct.bin %s",
			      oaep_opts),
			0);
	CU_ASSERT_EQUAL(kf_read("ct.bin", ct, sizeof(ct), &got), 0);
	n = sizeof(pt);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_DECRYPT, &oaep, imp_priv, ct, got, pt, &n), CKR_OK);
	CU_ASSERT(n == 50 && memcmp(pt, msg, 50) == 0);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_DECRYPT, &oaep1, imp_priv, ct, got, pt, &n),
			CKR_ENCRYPTED_DATA_INVALID);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_DECRYPT, &oaep, imp_priv, ct, got - 1, pt, &n),
			CKR_ENCRYPTED_DATA_LEN_RANGE);
	/* SHA-1 OAEP, the common default, and PKCS#1 v1.5 */
	n = sizeof(ct);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &oaep1, imp_pub, msg, 20, ct, &n), CKR_OK);
	CU_ASSERT_EQUAL(kf_write("ct.bin", ct, n), 0);
	CU_ASSERT_EQUAL(kf_sh("openssl pkeyutl -decrypt -inkey imp.pem -in ct.bin -out pt.bin "
			      "-pkeyopt rsa_padding_mode:oaep"),
			0);
	n = sizeof(ct);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &pkcs, imp_pub, msg, 245, ct, &n), CKR_OK);
	CU_ASSERT_EQUAL(kf_write("ct.bin", ct, n), 0);
	CU_ASSERT_EQUAL(kf_sh("openssl pkeyutl -decrypt -inkey imp.pem -in ct.bin -out pt.bin"), 0);
	CU_ASSERT_EQUAL(kf_read("pt.bin", pt, sizeof(pt), &got), 0);
	CU_ASSERT(got == 245 && memcmp(pt, msg, 245) == 0);
	n = sizeof(pt);
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_DECRYPT, &pkcs, imp_priv, ct, 256, pt, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 245);
	/* parameters */
	op256.hashAlg = CKM_MD5;
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &oaep, imp_pub, msg, 10, ct, &n),
			CKR_MECHANISM_PARAM_INVALID);
	op256.hashAlg = CKM_SHA256;
	op256.source = 7;
	CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_ENCRYPT, &oaep, imp_pub, msg, 10, ct, &n),
			CKR_MECHANISM_PARAM_INVALID);
}

/* --- digests, checks at init --------------------------------------------------------- */

static void digests(void)
{
	CK_MECHANISM_TYPE mechs[] = {CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512};
	const EVP_MD *mds[] = {EVP_sha1(), EVP_sha224(), EVP_sha256(), EVP_sha384(), EVP_sha512()};
	uint8_t d[64], want[64];
	unsigned int wl;
	size_t n2;
	CK_ULONG n;
	size_t parts[] = {3, 300};

	for (size_t i = 0; i < KF_N(mechs); i++) {
		CK_MECHANISM m = {mechs[i], NULL, 0};
		struct hsm_op *op = NULL;
		EVP_Digest(msg, sizeof(msg), want, &wl, mds[i], NULL);
		n = sizeof(d);
		CU_ASSERT_EQUAL(kf_crypt(NULL, CKF_DIGEST, &m, NULL, msg, sizeof(msg), d, &n), CKR_OK);
		CU_ASSERT(n == wl && memcmp(d, want, wl) == 0);
		CU_ASSERT_EQUAL_FATAL(hsm_op_init(NULL, CKF_DIGEST, &m, NULL, &op), CKR_OK);
		for (size_t j = 0, off = 0; j < 3; j++) {
			size_t p = j < 2 ? parts[j] : sizeof(msg) - off;
			CU_ASSERT_EQUAL(hsm_op_update(op, msg + off, p, NULL, NULL), CKR_OK);
			off += p;
		}
		n = sizeof(d);
		CU_ASSERT_EQUAL(hsm_op_final(op, d, &n), CKR_OK);
		CU_ASSERT(n == wl && memcmp(d, want, wl) == 0);
		hsm_op_free(op);
	}
	(void)n2;
	/* C_DigestKey: partition policy 9 is off by default */
	struct hsm_obj *k = aes_key(msg, 16);
	struct hsm_op *op = NULL;
	CU_ASSERT_EQUAL_FATAL(hsm_op_init(NULL, CKF_DIGEST, &(CK_MECHANISM){CKM_SHA256, NULL, 0}, NULL,
					  &op),
			      CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_digest_key(op, NULL, k), CKR_KEY_INDIGESTIBLE);
	CU_ASSERT_FALSE(hsm_op_active(op));
	hsm_op_free(op);
	hsm_obj_free(k);
}

static void init_checks(void)
{
	uint8_t key[16] = {0};
	CK_MECHANISM_TYPE only_gcm = CKM_AES_GCM;
	struct hsm_obj *aes = kf_secret(NULL, CKK_AES, key, 16,
					(CK_ATTRIBUTE[]){KF_B(CKA_ENCRYPT, 1), KF_B(CKA_SIGN, 1)}, 2);
	struct hsm_obj *gcm_only = kf_secret(
		NULL, CKK_AES, key, 16,
		(CK_ATTRIBUTE[]){KF_B(CKA_ENCRYPT, 1),
				 KF_D(CKA_ALLOWED_MECHANISMS, &only_gcm, sizeof(only_gcm))},
		2);
	CK_RSA_PKCS_PSS_PARAMS pp = {CKM_SHA384, CKG_MGF1_SHA256, 32};
	struct hsm_op *op = NULL;

	/* unknown, not for the function, wrong key type, usage off */
	CU_ASSERT_EQUAL(hsm_op_init(NULL, CKF_ENCRYPT, &(CK_MECHANISM){CKM_DES3_CBC, NULL, 0}, aes, &op),
			CKR_MECHANISM_INVALID);
	CU_ASSERT_EQUAL(hsm_op_init(NULL, CKF_SIGN, &(CK_MECHANISM){CKM_AES_CBC_PAD, key, 16}, aes, &op),
			CKR_MECHANISM_INVALID);
	CU_ASSERT_EQUAL(hsm_op_init(NULL, CKF_SIGN, &(CK_MECHANISM){CKM_ECDSA, NULL, 0}, aes, &op),
			CKR_KEY_TYPE_INCONSISTENT);
	CU_ASSERT_EQUAL(hsm_op_init(NULL, CKF_DECRYPT, &(CK_MECHANISM){CKM_AES_ECB, NULL, 0}, aes, &op),
			CKR_KEY_FUNCTION_NOT_PERMITTED);
	CU_ASSERT_EQUAL(hsm_op_init(NULL, CKF_SIGN, &(CK_MECHANISM){CKM_ECDSA, NULL, 0}, ec_pub, &op),
			CKR_KEY_FUNCTION_NOT_PERMITTED);
	CU_ASSERT_EQUAL(hsm_op_init(NULL, CKF_SIGN, &(CK_MECHANISM){CKM_ECDSA, NULL, 0}, NULL, &op),
			CKR_KEY_HANDLE_INVALID);
	/* CKA_ALLOWED_MECHANISMS */
	CU_ASSERT_EQUAL(hsm_op_init(NULL, CKF_ENCRYPT, &(CK_MECHANISM){CKM_AES_ECB, NULL, 0}, gcm_only,
				    &op),
			CKR_MECHANISM_INVALID);
	/* parameters: a PSS hash not the mechanism's, one where none is taken */
	CU_ASSERT_EQUAL(hsm_op_init(NULL, CKF_SIGN, &(CK_MECHANISM){CKM_SHA256_RSA_PKCS_PSS, &pp,
								    sizeof(pp)},
				    rsa_priv, &op),
			CKR_MECHANISM_PARAM_INVALID);
	pp.hashAlg = CKM_SHA256;
	pp.sLen = 223; /* 256 - 32 - 2 is the most */
	CU_ASSERT_EQUAL(hsm_op_init(NULL, CKF_SIGN, &(CK_MECHANISM){CKM_SHA256_RSA_PKCS_PSS, &pp,
								    sizeof(pp)},
				    rsa_priv, &op),
			CKR_MECHANISM_PARAM_INVALID);
	pp.sLen = 222;
	CU_ASSERT_EQUAL(hsm_op_init(NULL, CKF_SIGN, &(CK_MECHANISM){CKM_SHA256_RSA_PKCS_PSS, &pp,
								    sizeof(pp)},
				    rsa_priv, &op),
			CKR_OK);
	hsm_op_free(op);
	CU_ASSERT_EQUAL(hsm_op_init(NULL, CKF_SIGN, &(CK_MECHANISM){CKM_SHA256_RSA_PKCS, &pp, sizeof(pp)},
				    rsa_priv, &op),
			CKR_MECHANISM_PARAM_INVALID);
	CU_ASSERT_PTR_NULL(op);
	CU_ASSERT_EQUAL(hsm_op_init(NULL, CKF_WRAP, &(CK_MECHANISM){CKM_AES_ECB, NULL, 0}, aes, &op),
			CKR_ARGUMENTS_BAD);
	hsm_obj_free(aes);
	hsm_obj_free(gcm_only);
}

/* --- wrapping ------------------------------------------------------------------------ */

static struct hsm_obj *kek(const uint8_t *key, size_t len)
{
	return kf_secret(NULL, CKK_AES, key, len,
			 (CK_ATTRIBUTE[]){KF_B(CKA_WRAP, 1), KF_B(CKA_UNWRAP, 1)}, 2);
}

static CK_RV wrap(const struct hsm_key_env *env, CK_MECHANISM *m, const struct hsm_obj *w,
		  const struct hsm_obj *k, uint8_t *out, CK_ULONG *n)
{
	return hsm_wrap_key(env, m, w, k, out, n);
}

/* Unwraps as an extractable, readable secret key of kt and hands back its value. */
static CK_RV unwrap_secret(CK_MECHANISM *m, const struct hsm_obj *w, const uint8_t *in, size_t len,
			   CK_KEY_TYPE kt, uint8_t *value, size_t *vlen)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {KF_U(CKA_CLASS, &cls), KF_U(CKA_KEY_TYPE, &kt), KF_B(CKA_SENSITIVE, 0),
			    KF_B(CKA_EXTRACTABLE, 1)};
	struct hsm_obj *o = NULL;
	CK_RV rv = hsm_unwrap_key(NULL, m, w, in, len, t, KF_N(t), &o);

	if (rv == CKR_OK) {
		const struct hsm_attr *v = hsm_obj_attr(o, CKA_VALUE);
		memcpy(value, v->val, v->len);
		*vlen = v->len;
		CU_ASSERT_FALSE(hsm_obj_bool(o, CKA_LOCAL));
		CU_ASSERT_FALSE(hsm_obj_bool(o, CKA_ALWAYS_SENSITIVE));
		CU_ASSERT_FALSE(hsm_obj_bool(o, CKA_NEVER_EXTRACTABLE));
	}
	hsm_obj_free(o);
	return rv;
}

static void wrap_secret_keys(void)
{
	uint8_t kk[32], secret[24], out[600], back[600], iv[16];
	size_t bl = 0;
	CK_ULONG n, need;
	CK_RSA_PKCS_OAEP_PARAMS op = {CKM_SHA256, CKG_MGF1_SHA256, 0, NULL, 0};
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0}, kw = {CKM_AES_KEY_WRAP, NULL, 0};
	CK_MECHANISM cbc = {CKM_AES_CBC_PAD, iv, 16}, oaep = {CKM_RSA_PKCS_OAEP, &op, sizeof(op)};
	struct hsm_obj *w, *k, *locked, *plain;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t ref[64];
	int l = 0, l2 = 0;

	RAND_bytes(kk, sizeof(kk));
	RAND_bytes(secret, sizeof(secret));
	RAND_bytes(iv, sizeof(iv));
	w = kek(kk, 32);
	k = kf_secret(NULL, CKK_AES, secret, 24, (CK_ATTRIBUTE[]){KF_B(CKA_EXTRACTABLE, 1)}, 1);
	locked = kf_secret(NULL, CKK_AES, secret, 24, NULL, 0);
	/* KWP: the same bytes as OpenSSL's id-aes256-wrap-pad, and back */
	CU_ASSERT_EQUAL(wrap(NULL, &kwp, w, k, NULL, &need), CKR_OK);
	CU_ASSERT_EQUAL(need, 32);
	n = 31;
	CU_ASSERT_EQUAL(wrap(NULL, &kwp, w, k, out, &n), CKR_BUFFER_TOO_SMALL);
	CU_ASSERT_EQUAL(n, 32);
	CU_ASSERT_EQUAL(wrap(NULL, &kwp, w, k, out, &n), CKR_OK);
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	CU_ASSERT(EVP_EncryptInit_ex2(c, EVP_aes_256_wrap_pad(), kk, NULL, NULL) == 1);
	CU_ASSERT(EVP_EncryptUpdate(c, ref, &l, secret, 24) == 1);
	CU_ASSERT(EVP_EncryptFinal_ex(c, ref + l, &l2) == 1);
	CU_ASSERT(n == (CK_ULONG)(l + l2) && memcmp(out, ref, n) == 0);
	EVP_CIPHER_CTX_free(c);
	CU_ASSERT_EQUAL(unwrap_secret(&kwp, w, out, n, CKK_AES, back, &bl), CKR_OK);
	CU_ASSERT(bl == 24 && memcmp(back, secret, 24) == 0);
	out[5] ^= 1;
	CU_ASSERT_EQUAL(unwrap_secret(&kwp, w, out, n, CKK_AES, back, &bl), CKR_WRAPPED_KEY_INVALID);
	CU_ASSERT_EQUAL(unwrap_secret(&kwp, w, out, 12, CKK_AES, back, &bl), CKR_WRAPPED_KEY_LEN_RANGE);
	/* KW and CBC-PAD */
	n = sizeof(out);
	CU_ASSERT_EQUAL(wrap(NULL, &kw, w, k, out, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 32);
	CU_ASSERT_EQUAL(unwrap_secret(&kw, w, out, n, CKK_AES, back, &bl), CKR_OK);
	CU_ASSERT(bl == 24 && memcmp(back, secret, 24) == 0);
	n = sizeof(out);
	CU_ASSERT_EQUAL(wrap(NULL, &cbc, w, k, out, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 32);
	CU_ASSERT_EQUAL(unwrap_secret(&cbc, w, out, n, CKK_AES, back, &bl), CKR_OK);
	CU_ASSERT(bl == 24 && memcmp(back, secret, 24) == 0);
	/* RSA-OAEP: a secret key to the CLI's private key */
	imported();
	n = sizeof(out);
	CU_ASSERT_EQUAL(wrap(NULL, &oaep, imp_pub, k, out, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 256);
	CU_ASSERT_EQUAL(kf_write("wrapped.bin", out, n), 0);
	CU_ASSERT_EQUAL(kf_sh("openssl pkeyutl -decrypt -inkey imp.pem -in wrapped.bin -out key.bin "
			      "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt "
			      "rsa_mgf1_md:sha256"),
			0);
	CU_ASSERT_EQUAL(kf_read("key.bin", back, sizeof(back), &bl), 0);
	CU_ASSERT(bl == 24 && memcmp(back, secret, 24) == 0);
	CU_ASSERT_EQUAL(unwrap_secret(&oaep, imp_priv, out, n, CKK_AES, back, &bl), CKR_OK);
	CU_ASSERT(bl == 24 && memcmp(back, secret, 24) == 0);
	/* what wrapping refuses */
	n = sizeof(out);
	CU_ASSERT_EQUAL(wrap(NULL, &kwp, w, locked, out, &n), CKR_KEY_UNEXTRACTABLE);
	CU_ASSERT_EQUAL(wrap(NULL, &kwp, locked, k, out, &n), CKR_KEY_FUNCTION_NOT_PERMITTED);
	CU_ASSERT_EQUAL(wrap(NULL, &kwp, w, rsa_pub, out, &n), CKR_KEY_NOT_WRAPPABLE);
	CU_ASSERT_EQUAL(wrap(NULL, &oaep, imp_pub, rsa_priv, out, &n), CKR_KEY_NOT_WRAPPABLE);
	CU_ASSERT_EQUAL(wrap(NULL, &(CK_MECHANISM){CKM_AES_GCM, NULL, 0}, w, k, out, &n),
			CKR_MECHANISM_INVALID);
	plain = kf_secret(NULL, CKK_GENERIC_SECRET, kk, 32, (CK_ATTRIBUTE[]){KF_B(CKA_WRAP, 1)}, 1);
	CU_ASSERT_EQUAL(wrap(NULL, &kwp, plain, k, out, &n), CKR_WRAPPING_KEY_TYPE_INCONSISTENT);
	hsm_obj_free(plain);
	plain = NULL;
	CU_ASSERT_EQUAL(wrap(NULL, &oaep, w, k, out, &n), CKR_WRAPPING_KEY_TYPE_INCONSISTENT);
	/* CKA_WRAP_WITH_TRUSTED: only under a CKA_TRUSTED key, which the SO makes */
	struct hsm_key_env so;
	hsm_key_env_init(&so);
	so.so = 1;
	CU_ASSERT_EQUAL(hsm_obj_set(NULL, k, &(CK_ATTRIBUTE)KF_B(CKA_WRAP_WITH_TRUSTED, 1), 1), CKR_OK);
	CU_ASSERT_EQUAL(wrap(NULL, &kwp, w, k, out, &n), CKR_KEY_NOT_WRAPPABLE);
	CU_ASSERT_EQUAL(hsm_obj_set(&so, w, &(CK_ATTRIBUTE)KF_B(CKA_TRUSTED, 1), 1), CKR_OK);
	n = sizeof(out);
	CU_ASSERT_EQUAL(wrap(NULL, &kwp, w, k, out, &n), CKR_OK);
	/* unwrap templates */
	CU_ASSERT_EQUAL(hsm_unwrap_key(NULL, &kwp, w, out, n, NULL, 0, &plain), CKR_TEMPLATE_INCOMPLETE);
	CU_ASSERT_EQUAL(hsm_unwrap_key(NULL, &kwp, w, out, n,
				       (CK_ATTRIBUTE[]){KF_U(CKA_CLASS, &(CK_OBJECT_CLASS){CKO_DATA}),
							KF_U(CKA_KEY_TYPE, &(CK_KEY_TYPE){CKK_AES})},
				       2, &plain),
			CKR_TEMPLATE_INCONSISTENT);
	CU_ASSERT_EQUAL(hsm_unwrap_key(NULL, &kwp, w, out, n,
				       (CK_ATTRIBUTE[]){KF_U(CKA_CLASS, &(CK_OBJECT_CLASS){CKO_SECRET_KEY}),
							KF_U(CKA_KEY_TYPE, &(CK_KEY_TYPE){CKK_AES}),
							KF_U(CKA_VALUE_LEN, &(CK_ULONG){16})},
				       3, &plain),
			CKR_TEMPLATE_INCONSISTENT);
	CU_ASSERT_EQUAL(hsm_unwrap_key(NULL, &kwp, w, out, n,
				       (CK_ATTRIBUTE[]){KF_U(CKA_CLASS, &(CK_OBJECT_CLASS){CKO_SECRET_KEY}),
							KF_U(CKA_KEY_TYPE, &(CK_KEY_TYPE){CKK_AES}),
							KF_D(CKA_VALUE, secret, 24)},
				       3, &plain),
			CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(hsm_unwrap_key(NULL, &kwp, k, out, n,
				       (CK_ATTRIBUTE[]){KF_U(CKA_CLASS, &(CK_OBJECT_CLASS){CKO_SECRET_KEY}),
							KF_U(CKA_KEY_TYPE, &(CK_KEY_TYPE){CKK_AES})},
				       2, &plain),
			CKR_KEY_FUNCTION_NOT_PERMITTED);
	CU_ASSERT_PTR_NULL(plain);
	hsm_obj_free(w);
	hsm_obj_free(k);
	hsm_obj_free(locked);
}

static void wrap_private_keys(void)
{
	struct hsm_key_env env;
	uint8_t kk[16], out[3000], sig[600];
	CK_ULONG n = sizeof(out), sl = sizeof(sig);
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0}, m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_MECHANISM em = {CKM_ECDSA_SHA384, NULL, 0};
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE rsa = CKK_RSA, ec = CKK_EC;
	struct hsm_obj *w, *pub, *priv, *back = NULL;

	RAND_bytes(kk, sizeof(kk));
	w = kek(kk, 16);
	/* private key wrapping is partition policy 1, off by default, never with 0 */
	hsm_key_env_init(&env);
	CU_ASSERT_EQUAL(hsm_kp_set(&env.pol, HSM_KP_PRIVATE_CLONING, 0, NULL), PED_OK);
	CU_ASSERT_EQUAL(hsm_kp_set(&env.pol, HSM_KP_PRIVATE_WRAPPING, 1, NULL), PED_OK);
	kf_rsa_pair(NULL, 2048, (CK_ATTRIBUTE[]){KF_B(CKA_VERIFY, 1)}, 1,
		    (CK_ATTRIBUTE[]){KF_B(CKA_SIGN, 1), KF_B(CKA_EXTRACTABLE, 1)}, 2, &pub, &priv);
	CU_ASSERT_EQUAL(wrap(NULL, &kwp, w, priv, out, &n), CKR_KEY_NOT_WRAPPABLE);
	CU_ASSERT_EQUAL(wrap(&env, &kwp, w, priv, NULL, &n), CKR_OK);
	CU_ASSERT_EQUAL(wrap(&env, &kwp, w, priv, out, &n), CKR_OK);
	CU_ASSERT(n > 1200);
	/* back as a private key that signs for the public key */
	CK_ATTRIBUTE t[] = {KF_U(CKA_CLASS, &cls), KF_U(CKA_KEY_TYPE, &rsa), KF_B(CKA_SIGN, 1)};
	CU_ASSERT_EQUAL(hsm_unwrap_key(NULL, &kwp, w, out, n, t, KF_N(t), &back), CKR_OK);
	CU_ASSERT_FATAL(back != NULL);
	CU_ASSERT_FALSE(hsm_obj_bool(back, CKA_LOCAL));
	CU_ASSERT_EQUAL(memcmp(hsm_obj_attr(back, CKA_MODULUS)->val, hsm_obj_attr(priv, CKA_MODULUS)->val,
			       256),
			0);
	CU_ASSERT_EQUAL(kf_sign(NULL, &m, back, msg, 100, sig, &sl), CKR_OK);
	CU_ASSERT_EQUAL(kf_verify(NULL, &m, pub, msg, 100, sig, sl), CKR_OK);
	hsm_obj_free(back);
	back = NULL;
	/* a wrapped RSA key is not an EC key */
	t[1] = (CK_ATTRIBUTE)KF_U(CKA_KEY_TYPE, &ec);
	CU_ASSERT_EQUAL(hsm_unwrap_key(NULL, &kwp, w, out, n, t, KF_N(t), &back),
			CKR_TEMPLATE_INCONSISTENT);
	hsm_obj_free(pub);
	hsm_obj_free(priv);
	/* EC on P-384 */
	kf_ec_pair(NULL, "P-384", (CK_ATTRIBUTE[]){KF_B(CKA_VERIFY, 1)}, 1,
		   (CK_ATTRIBUTE[]){KF_B(CKA_SIGN, 1), KF_B(CKA_EXTRACTABLE, 1)}, 2, &pub, &priv);
	n = sizeof(out);
	CU_ASSERT_EQUAL(wrap(&env, &kwp, w, priv, out, &n), CKR_OK);
	CU_ASSERT_EQUAL(hsm_unwrap_key(NULL, &kwp, w, out, n, t, KF_N(t), &back), CKR_OK);
	CU_ASSERT_FATAL(back != NULL);
	CU_ASSERT_EQUAL(hsm_obj_attr(back, CKA_EC_PARAMS)->len, hsm_obj_attr(priv, CKA_EC_PARAMS)->len);
	sl = sizeof(sig);
	CU_ASSERT_EQUAL(kf_sign(NULL, &em, back, msg, 100, sig, &sl), CKR_OK);
	CU_ASSERT_EQUAL(kf_verify(NULL, &em, pub, msg, 100, sig, sl), CKR_OK);
	hsm_obj_free(back);
	hsm_obj_free(pub);
	hsm_obj_free(priv);
	hsm_obj_free(w);
}

static uint8_t *unhex(const char *s, size_t *len)
{
	size_t n = strlen(s) / 2;
	uint8_t *b = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		sscanf(s + 2 * i, "%2hhx", &b[i]);
	*len = n;
	return b;
}

/* RFC 5649 through the HSM: tests/vectors/aes_kwp.txt (Wycheproof). */
static void kwp_vectors(void)
{
	char path[1024], *line = NULL, *f[5];
	size_t cap = 0;
	FILE *fp;
	int valid_ok = 0, invalid_refused = 0, wrong = 0;
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};

	snprintf(path, sizeof(path), "%s/tests/vectors/aes_kwp.txt", unit_source_dir());
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp = fopen(path, "r"));
	while (getline(&line, &cap, fp) > 0) {
		int nf = 0;
		for (char *t = strtok(line, " \n"); t && nf < 5; t = strtok(NULL, " \n"))
			f[nf++] = strcmp(t, "-") == 0 ? "" : t;
		if (nf < 5)
			continue;
		size_t kl, ml, cl, bl = 0;
		uint8_t *key = unhex(f[2], &kl), *m = unhex(f[3], &ml), *ct = unhex(f[4], &cl), back[600];
		int valid = strcmp(f[1], "valid") == 0;
		if (kl == 16 || kl == 24 || kl == 32) {
			struct hsm_obj *w = kek(key, kl);
			CK_RV rv = unwrap_secret(&kwp, w, ct, cl, CKK_GENERIC_SECRET, back, &bl);
			int ok = rv == CKR_OK && bl == ml && memcmp(back, m, ml) == 0;
			if (valid && ml >= 1 && ml <= HSM_GENERIC_MAX) {
				struct hsm_obj *k = kf_secret(NULL, CKK_GENERIC_SECRET, m, ml,
							      (CK_ATTRIBUTE[]){KF_B(CKA_EXTRACTABLE, 1)}, 1);
				uint8_t out[600];
				CK_ULONG n = sizeof(out);
				ok = ok && hsm_wrap_key(NULL, &kwp, w, k, out, &n) == CKR_OK && n == cl &&
				     memcmp(out, ct, cl) == 0;
				hsm_obj_free(k);
				valid_ok += ok;
				wrong += !ok;
			} else if (!valid) {
				invalid_refused += !ok;
				wrong += ok;
				if (!ok)
					CU_ASSERT(rv == CKR_WRAPPED_KEY_INVALID ||
						  rv == CKR_WRAPPED_KEY_LEN_RANGE);
			}
			hsm_obj_free(w);
		}
		free(key);
		free(m);
		free(ct);
	}
	free(line);
	fclose(fp);
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT(valid_ok > 20);
	CU_ASSERT(invalid_refused > 20);
}

/* --- derivation -------------------------------------------------------------------- */

static void ecdh_agrees_with_openssl(void)
{
	EVP_PKEY *peer = EVP_EC_gen("P-256"), *hsm_pub = kf_spki(ec_pub);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL);
	uint8_t pt[65], der[67] = {0x04, 0x41}, z[32], bad[65];
	size_t ptl = 0, zl = sizeof(z);
	CK_ECDH1_DERIVE_PARAMS p = {CKD_NULL, 0, NULL, 65, pt};
	CK_MECHANISM m = {CKM_ECDH1_DERIVE, &p, sizeof(p)};
	CK_KEY_TYPE aes = CKK_AES;
	CK_ULONG l16 = 16, l33 = 33;
	CK_ATTRIBUTE open[] = {KF_B(CKA_SENSITIVE, 0), KF_B(CKA_EXTRACTABLE, 1)};
	struct hsm_obj *k = NULL;

	CU_ASSERT(EVP_PKEY_get_octet_string_param(peer, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &ptl) == 1);
	memcpy(der + 2, pt, 65);
	/* the peer's side, by OpenSSL */
	CU_ASSERT(EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, hsm_pub) == 1 &&
		  EVP_PKEY_derive(ctx, z, &zl) == 1);
	CU_ASSERT_EQUAL(hsm_derive_key(NULL, &m, ec_priv, open, 2, &k), CKR_OK);
	CU_ASSERT_FATAL(k != NULL);
	CU_ASSERT_EQUAL(k->key_type, CKK_GENERIC_SECRET);
	CU_ASSERT(hsm_obj_attr(k, CKA_VALUE)->len == 32 && memcmp(hsm_obj_attr(k, CKA_VALUE)->val, z, 32) == 0);
	/* made from a key always sensitive, but not sensitive itself */
	CU_ASSERT_FALSE(hsm_obj_bool(k, CKA_ALWAYS_SENSITIVE));
	CU_ASSERT_FALSE(hsm_obj_bool(k, CKA_LOCAL));
	hsm_obj_free(k);
	/* an AES key, the peer as a DER OCTET STRING: the last 16 bytes */
	p.pPublicData = der;
	p.ulPublicDataLen = sizeof(der);
	CK_ATTRIBUTE at[] = {KF_U(CKA_KEY_TYPE, &aes), KF_U(CKA_VALUE_LEN, &l16), open[0], open[1]};
	CU_ASSERT_EQUAL(hsm_derive_key(NULL, &m, ec_priv, at, 4, &k), CKR_OK);
	CU_ASSERT(k && memcmp(hsm_obj_attr(k, CKA_VALUE)->val, z + 16, 16) == 0);
	hsm_obj_free(k);
	k = NULL;
	/* sensitive and derived from an always sensitive key: always sensitive */
	CU_ASSERT_EQUAL(hsm_derive_key(NULL, &m, ec_priv, at, 2, &k), CKR_OK);
	CU_ASSERT(k && hsm_obj_bool(k, CKA_ALWAYS_SENSITIVE) && hsm_obj_bool(k, CKA_NEVER_EXTRACTABLE));
	hsm_obj_free(k);
	/* what derivation refuses */
	CU_ASSERT_EQUAL(hsm_derive_key(NULL, &m, ec_priv, at, 1, &k), CKR_TEMPLATE_INCOMPLETE);
	CU_ASSERT_EQUAL(hsm_derive_key(NULL, &m, ec_priv, (CK_ATTRIBUTE[]){KF_U(CKA_VALUE_LEN, &l33)}, 1,
				       &k),
			CKR_TEMPLATE_INCONSISTENT);
	CU_ASSERT_EQUAL(hsm_derive_key(NULL, &m, ec_priv, (CK_ATTRIBUTE[]){KF_D(CKA_VALUE, z, 32)}, 1, &k),
			CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(hsm_derive_key(NULL, &m, ec_pub, NULL, 0, &k), CKR_KEY_FUNCTION_NOT_PERMITTED);
	CU_ASSERT_EQUAL(hsm_derive_key(NULL, &m, rsa_priv, NULL, 0, &k), CKR_KEY_FUNCTION_NOT_PERMITTED);
	p.kdf = CKD_SHA1_KDF;
	CU_ASSERT_EQUAL(hsm_derive_key(NULL, &m, ec_priv, NULL, 0, &k), CKR_MECHANISM_PARAM_INVALID);
	p.kdf = CKD_NULL;
	p.ulSharedDataLen = 4;
	p.pSharedData = z;
	CU_ASSERT_EQUAL(hsm_derive_key(NULL, &m, ec_priv, NULL, 0, &k), CKR_MECHANISM_PARAM_INVALID);
	p.ulSharedDataLen = 0;
	memcpy(bad, pt, 65);
	bad[64] ^= 1; /* off the curve */
	p.pPublicData = bad;
	p.ulPublicDataLen = 65;
	CU_ASSERT_EQUAL(hsm_derive_key(NULL, &m, ec_priv, NULL, 0, &k), CKR_MECHANISM_PARAM_INVALID);
	CU_ASSERT_PTR_NULL(k);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(hsm_pub);
}

static void random_bytes(void)
{
	uint8_t a[64] = {0}, b[64] = {0};

	CU_ASSERT_EQUAL(hsm_random(a, sizeof(a)), CKR_OK);
	CU_ASSERT_EQUAL(hsm_random(b, sizeof(b)), CKR_OK);
	CU_ASSERT_NOT_EQUAL(memcmp(a, b, sizeof(a)), 0);
	CU_ASSERT_EQUAL(hsm_random(a, 0), CKR_OK);
	CU_ASSERT_EQUAL(hsm_random(a, HSM_RANDOM_MAX + 1), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(hsm_random(NULL, 1), CKR_ARGUMENTS_BAD);
}

/* The EC SubjectPublicKeyInfo the HSM builds itself is byte for byte
 * OpenSSL's (i2d_PUBKEY), on every curve, on both halves of a pair. */
static void ec_spki_is_openssls(void)
{
	static const uint8_t oids[3][10] = {{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07},
					    {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22},
					    {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23}};
	static const size_t oid_lens[3] = {10, 7, 7};
	CK_MECHANISM eg = {CKM_EC_KEY_PAIR_GEN, NULL, 0};

	for (int i = 0; i < 3; i++) {
		CK_ATTRIBUTE t[] = {KF_D(CKA_EC_PARAMS, oids[i], oid_lens[i])};
		struct hsm_obj *pub = NULL, *priv = NULL;
		uint8_t *der = NULL;
		int n;

		CU_ASSERT_EQUAL_FATAL(hsm_generate_key_pair(NULL, &eg, t, 1, NULL, 0, &pub, &priv), CKR_OK);
		n = i2d_PUBKEY(priv->pkey, &der);
		CU_ASSERT_FATAL(n > 0);
		for (int half = 0; half < 2; half++) {
			const struct hsm_attr *a = hsm_obj_attr(half ? priv : pub, CKA_PUBLIC_KEY_INFO);
			CU_ASSERT_FATAL(a != NULL);
			CU_ASSERT_EQUAL(a->len, (CK_ULONG)n);
			CU_ASSERT(a->len == (CK_ULONG)n && memcmp(a->val, der, (size_t)n) == 0);
		}
		/* the point is read from OpenSSL once a pair: the public half's
		 * CKA_EC_POINT is that point as a DER OCTET STRING, and its own
		 * key the same point */
		uint8_t pt[1 + 2 * 66], pub_pt[1 + 2 * 66];
		size_t ptlen = 0, pub_ptlen = 0, hdr = i == 2 ? 3 : 2;
		const struct hsm_attr *ecp = hsm_obj_attr(pub, CKA_EC_POINT);
		CU_ASSERT_FATAL(EVP_PKEY_get_octet_string_param(priv->pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
								pt, sizeof(pt), &ptlen) == 1);
		CU_ASSERT_FATAL(EVP_PKEY_get_octet_string_param(pub->pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
								pub_pt, sizeof(pub_pt), &pub_ptlen) == 1);
		CU_ASSERT_FATAL(ecp != NULL && ecp->len == hdr + ptlen);
		CU_ASSERT(ecp->val[0] == 0x04 && ecp->val[hdr - 1] == ptlen &&
			  memcmp(ecp->val + hdr, pt, ptlen) == 0);
		CU_ASSERT(pub_ptlen == ptlen && memcmp(pub_pt, pt, ptlen) == 0);
		OPENSSL_free(der);
		hsm_obj_free(pub);
		hsm_obj_free(priv);
	}
}

/* A verification's context is kept by the thread for the next one on the
 * same key and parameters (op.c, kept_pctx): another key, another salt
 * length, another mechanism, each verify as themselves. */
static void kept_contexts_follow_key_and_parameters(void)
{
	CK_ATTRIBUTE pubx[] = {KF_B(CKA_VERIFY, 1)}, privx[] = {KF_B(CKA_SIGN, 1)};
	CK_RSA_PKCS_PSS_PARAMS p32 = {CKM_SHA256, CKG_MGF1_SHA256, 32}, p20 = {CKM_SHA256, CKG_MGF1_SHA256, 20};
	CK_MECHANISM pk = {CKM_RSA_PKCS, NULL, 0}, pss32 = {CKM_RSA_PKCS_PSS, &p32, sizeof(p32)},
		     pss20 = {CKM_RSA_PKCS_PSS, &p20, sizeof(p20)};
	struct hsm_obj *pub2 = NULL, *priv2 = NULL;
	uint8_t s1[256], s2[256], sp[256], h[32];
	CK_ULONG n1 = sizeof(s1), n2 = sizeof(s2), np = sizeof(sp);

	memcpy(h, msg, sizeof(h));
	kf_rsa_pair(NULL, 2048, pubx, 1, privx, 1, &pub2, &priv2);
	CU_ASSERT_EQUAL_FATAL(kf_sign(NULL, &pk, rsa_priv, h, sizeof(h), s1, &n1), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(kf_sign(NULL, &pk, priv2, h, sizeof(h), s2, &n2), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(kf_sign(NULL, &pss32, rsa_priv, h, sizeof(h), sp, &np), CKR_OK);
	for (int round = 0; round < 2; round++) {
		CU_ASSERT_EQUAL(kf_verify(NULL, &pk, rsa_pub, h, sizeof(h), s1, n1), CKR_OK);
		CU_ASSERT_EQUAL(kf_verify(NULL, &pk, rsa_pub, h, sizeof(h), s1, n1), CKR_OK);
		CU_ASSERT_EQUAL(kf_verify(NULL, &pk, pub2, h, sizeof(h), s1, n1), CKR_SIGNATURE_INVALID);
		CU_ASSERT_EQUAL(kf_verify(NULL, &pk, pub2, h, sizeof(h), s2, n2), CKR_OK);
		CU_ASSERT_EQUAL(kf_verify(NULL, &pk, rsa_pub, h, sizeof(h), s2, n2), CKR_SIGNATURE_INVALID);
		CU_ASSERT_EQUAL(kf_verify(NULL, &pss32, rsa_pub, h, sizeof(h), sp, np), CKR_OK);
		CU_ASSERT_EQUAL(kf_verify(NULL, &pss20, rsa_pub, h, sizeof(h), sp, np), CKR_SIGNATURE_INVALID);
		CU_ASSERT_EQUAL(kf_verify(NULL, &pk, rsa_pub, h, sizeof(h), sp, np), CKR_SIGNATURE_INVALID);
		CU_ASSERT_EQUAL(kf_verify(NULL, &pss32, rsa_pub, h, sizeof(h), sp, np), CKR_OK);
	}
	/* the kept context holds its key: the object may go, the next verification
	 * with another key is right */
	hsm_obj_free(pub2);
	hsm_obj_free(priv2);
	CU_ASSERT_EQUAL(kf_verify(NULL, &pk, rsa_pub, h, sizeof(h), s1, n1), CKR_OK);
}

UNIT_SUITE(mech, setup, teardown, UNIT_TEST(mechanism_list_and_info), UNIT_TEST(generate_secret_keys),
	   UNIT_TEST(generate_pairs), UNIT_TEST(ec_spki_is_openssls), UNIT_TEST(rsa_signatures_verify_with_openssl),
	   UNIT_TEST(rsa_raw_mechanisms), UNIT_TEST(rsa_4096), UNIT_TEST(ecdsa_verifies_with_openssl),
	   UNIT_TEST(hmac_against_evp), UNIT_TEST(two_call_convention), UNIT_TEST(aes_gcm),
	   UNIT_TEST(aes_cbc_pad_with_openssl_enc), UNIT_TEST(aes_cbc_ecb_ctr_with_openssl_enc),
	   UNIT_TEST(rsa_encryption_with_openssl_pkeyutl), UNIT_TEST(digests), UNIT_TEST(init_checks),
	   UNIT_TEST(wrap_secret_keys), UNIT_TEST(wrap_private_keys), UNIT_TEST(kwp_vectors),
	   UNIT_TEST(ecdh_agrees_with_openssl), UNIT_TEST(random_bytes),
	   UNIT_TEST(kept_contexts_follow_key_and_parameters))
