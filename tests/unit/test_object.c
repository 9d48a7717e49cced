/* The object model: every flag of the attribute table, template errors,
 * C_GetAttributeValue's cases, changes, copies, matching, size bounds and
 * the storage encoding. */
#include "unit.h"

#include "keys_fixture.h"

#include "hsm/object.h"
#include "ped/error.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

static CK_OBJECT_CLASS c_data = CKO_DATA, c_cert = CKO_CERTIFICATE, c_pub = CKO_PUBLIC_KEY,
		       c_priv = CKO_PRIVATE_KEY, c_secret = CKO_SECRET_KEY;
static CK_KEY_TYPE k_rsa = CKK_RSA, k_ec = CKK_EC, k_aes = CKK_AES, k_gen = CKK_GENERIC_SECRET;
static uint8_t aes16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static EVP_PKEY *rsa, *ec;

static int setup(void)
{
	rsa = EVP_RSA_gen(2048);
	ec = EVP_EC_gen("P-256");
	return !rsa || !ec;
}

static int teardown(void)
{
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	return 0;
}

static struct hsm_obj *make(const CK_ATTRIBUTE *t, CK_ULONG n, CK_RV want)
{
	struct hsm_obj *o = NULL;
	CK_RV rv = hsm_obj_create(NULL, t, n, &o);

	if (rv != want)
		fprintf(stderr, "create: %s, wanted %s: %s\n", hsm_ck_name(rv), hsm_ck_name(want),
			hsm_ck_why());
	CU_ASSERT_EQUAL(rv, want);
	if (rv != CKR_OK)
		CU_ASSERT_PTR_NULL(o);
	return o;
}

static CK_ULONG get_len(const struct hsm_obj *o, CK_ATTRIBUTE_TYPE type)
{
	CK_ATTRIBUTE a = {type, NULL, 0};
	hsm_obj_get(o, &a, 1);
	return a.ulValueLen;
}

/* A BIGINT component of an OpenSSL key, for templates. */
static size_t bn(EVP_PKEY *k, const char *name, uint8_t *buf)
{
	BIGNUM *b = NULL;
	size_t n;

	CU_ASSERT_FATAL(EVP_PKEY_get_bn_param(k, name, &b) == 1);
	n = (size_t)BN_bn2bin(b, buf);
	BN_clear_free(b);
	return n;
}

/* --- the table -------------------------------------------------------------- */

static void table_is_consistent(void)
{
	size_t n;
	const struct hsm_attr_rule *r = hsm_attr_rules(&n);
	uint32_t kinds[] = {HSM_K_DATA,     HSM_K_CERT,  HSM_K_RSA_PUB, HSM_K_EC_PUB,
			    HSM_K_RSA_PRIV, HSM_K_EC_PRIV, HSM_K_AES,   HSM_K_GENERIC};

	CU_ASSERT(n > 40);
	for (size_t i = 0; i < n; i++) {
		uint32_t f = r[i].flags;
		/* never required and forbidden at once */
		CU_ASSERT(!((f & HSM_AF_CREATE_REQ) && (f & HSM_AF_CREATE_NO)));
		CU_ASSERT(!((f & HSM_AF_GEN_REQ) && (f & HSM_AF_GEN_NO)));
		CU_ASSERT(!((f & HSM_AF_UNWRAP_REQ) && (f & HSM_AF_UNWRAP_NO)));
		/* the token sets it: no default, no template, no change */
		if (f & HSM_AF_TOKEN_SET)
			CU_ASSERT(!(f & (HSM_AF_DEF | HSM_AF_MODIFIABLE | HSM_AF_CREATE_REQ)));
		/* secrets are private and secret keys' */
		if (f & HSM_AF_SENSITIVE)
			CU_ASSERT((r[i].kinds & ~(HSM_K_PRIV | HSM_K_SECRET)) == 0);
		/* one-way flags are on booleans */
		if (f & (HSM_AF_TRUE_STAYS | HSM_AF_FALSE_STAYS | HSM_AF_SO_TRUE | HSM_AF_USAGE))
			CU_ASSERT_EQUAL(r[i].av, HSM_AV_BOOL);
		CU_ASSERT_PTR_NOT_NULL(hsm_attr_name(r[i].type));
		/* one row per attribute and kind */
		for (size_t j = i + 1; j < n; j++)
			if (r[j].type == r[i].type)
				CU_ASSERT((r[i].kinds & r[j].kinds) == 0);
	}
	/* every kind has a class, every key a key type and the protections */
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		CU_ASSERT_PTR_NOT_NULL(hsm_attr_rule(CKA_CLASS, kinds[k]));
		CU_ASSERT_PTR_NOT_NULL(hsm_attr_rule(CKA_TOKEN, kinds[k]));
		if (kinds[k] & HSM_K_KEY)
			CU_ASSERT_PTR_NOT_NULL(hsm_attr_rule(CKA_LOCAL, kinds[k]));
		if (kinds[k] & (HSM_K_PRIV | HSM_K_SECRET))
			CU_ASSERT_PTR_NOT_NULL(hsm_attr_rule(CKA_SENSITIVE, kinds[k]));
	}
	CU_ASSERT_STRING_EQUAL(hsm_attr_name(CKA_LABEL), "CKA_LABEL");
	CU_ASSERT_PTR_NULL(hsm_attr_name(0x7777));
}

/* --- creation and defaults ---------------------------------------------- */

static void data_defaults(void)
{
	const char *label = "notes", *app = "tests";
	CK_ATTRIBUTE t[] = {KF_U(CKA_CLASS, &c_data), KF_D(CKA_LABEL, label, strlen(label)),
			    KF_D(CKA_APPLICATION, app, strlen(app)), KF_D(CKA_VALUE, "abc", 3)};
	struct hsm_obj *o = make(t, KF_N(t), CKR_OK);
	uint8_t buf[16];
	CK_ATTRIBUTE g[] = {{CKA_LABEL, buf, sizeof(buf)}};

	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_EQUAL(o->cls, CKO_DATA);
	CU_ASSERT_EQUAL(o->key_type, CK_UNAVAILABLE_INFORMATION);
	CU_ASSERT(o->ouid != 0);
	/* defaults: session, public, modifiable, copyable, destroyable */
	CU_ASSERT_FALSE(hsm_obj_bool(o, CKA_TOKEN));
	CU_ASSERT_FALSE(hsm_obj_bool(o, CKA_PRIVATE));
	CU_ASSERT_TRUE(hsm_obj_bool(o, CKA_MODIFIABLE));
	CU_ASSERT_TRUE(hsm_obj_bool(o, CKA_COPYABLE));
	CU_ASSERT_TRUE(hsm_obj_bool(o, CKA_DESTROYABLE));
	CU_ASSERT_EQUAL(get_len(o, CKA_OBJECT_ID), 0);
	CU_ASSERT_EQUAL(hsm_obj_get(o, g, 1), CKR_OK);
	CU_ASSERT_EQUAL(g[0].ulValueLen, 5);
	CU_ASSERT_EQUAL(memcmp(buf, "notes", 5), 0);
	CU_ASSERT_EQUAL(hsm_obj_size(o), o->bytes);
	hsm_obj_free(o);
}

static void secret_key_defaults(void)
{
	CK_ATTRIBUTE x[] = {KF_B(CKA_ENCRYPT, 1)};
	struct hsm_obj *o = kf_secret(NULL, CKK_AES, aes16, 16, x, 1);
	uint8_t kcv[16] = {0}, zero[16] = {0};
	int n = 0;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	CU_ASSERT_FATAL(o != NULL);
	/* the HSM's defaults: private, sensitive, not extractable */
	CU_ASSERT_TRUE(hsm_obj_bool(o, CKA_PRIVATE));
	CU_ASSERT_TRUE(hsm_obj_bool(o, CKA_SENSITIVE));
	CU_ASSERT_FALSE(hsm_obj_bool(o, CKA_EXTRACTABLE));
	CU_ASSERT_FALSE(hsm_obj_bool(o, CKA_DECRYPT));
	CU_ASSERT_TRUE(hsm_obj_bool(o, CKA_ENCRYPT));
	/* imported: neither local nor always protected */
	CU_ASSERT_FALSE(hsm_obj_bool(o, CKA_LOCAL));
	CU_ASSERT_FALSE(hsm_obj_bool(o, CKA_ALWAYS_SENSITIVE));
	CU_ASSERT_FALSE(hsm_obj_bool(o, CKA_NEVER_EXTRACTABLE));
	CU_ASSERT_EQUAL(hsm_obj_ulong(o, CKA_KEY_GEN_MECHANISM), CK_UNAVAILABLE_INFORMATION);
	CU_ASSERT_EQUAL(hsm_obj_ulong(o, CKA_VALUE_LEN), 16);
	/* the check value: AES-ECB of a zero block, as OpenSSL computes it */
	CU_ASSERT(EVP_EncryptInit_ex2(ctx, EVP_aes_128_ecb(), aes16, NULL, NULL) == 1);
	EVP_CIPHER_CTX_set_padding(ctx, 0);
	CU_ASSERT(EVP_EncryptUpdate(ctx, kcv, &n, zero, 16) == 1);
	CU_ASSERT_EQUAL(memcmp(hsm_obj_attr(o, CKA_CHECK_VALUE)->val, kcv, 3), 0);
	EVP_CIPHER_CTX_free(ctx);
	hsm_obj_free(o);
}

static void template_errors(void)
{
	uint8_t aes20[20] = {0};
	CK_ULONG len = 16;
	CK_KEY_TYPE des3 = CKK_DES3;
	CK_OBJECT_CLASS hw = CKO_HW_FEATURE;
	uint32_t wide = 1;
	CK_ATTRIBUTE no_class[] = {KF_U(CKA_KEY_TYPE, &k_aes), KF_D(CKA_VALUE, aes16, 16)};
	CK_ATTRIBUTE no_type[] = {KF_U(CKA_CLASS, &c_secret), KF_D(CKA_VALUE, aes16, 16)};
	CK_ATTRIBUTE no_value[] = {KF_U(CKA_CLASS, &c_secret), KF_U(CKA_KEY_TYPE, &k_aes)};
	CK_ATTRIBUTE bad_len[] = {KF_U(CKA_CLASS, &c_secret), KF_U(CKA_KEY_TYPE, &k_aes),
				  KF_D(CKA_VALUE, aes20, 20)};
	CK_ATTRIBUTE value_len[] = {KF_U(CKA_CLASS, &c_secret), KF_U(CKA_KEY_TYPE, &k_aes),
				    KF_D(CKA_VALUE, aes16, 16), KF_U(CKA_VALUE_LEN, &len)};
	CK_ATTRIBUTE local[] = {KF_U(CKA_CLASS, &c_secret), KF_U(CKA_KEY_TYPE, &k_aes),
				KF_D(CKA_VALUE, aes16, 16), KF_B(CKA_LOCAL, 1)};
	CK_ATTRIBUTE other_kind[] = {KF_U(CKA_CLASS, &c_secret), KF_U(CKA_KEY_TYPE, &k_aes),
				     KF_D(CKA_VALUE, aes16, 16), KF_D(CKA_MODULUS, aes16, 16)};
	CK_ATTRIBUTE unknown[] = {KF_U(CKA_CLASS, &c_data), KF_D(0x7777, "x", 1)};
	CK_ATTRIBUTE bad_bool[] = {KF_U(CKA_CLASS, &c_data), KF_D(CKA_TOKEN, &wide, sizeof(wide))};
	CK_ATTRIBUTE dup_same[] = {KF_U(CKA_CLASS, &c_data), KF_B(CKA_TOKEN, 0), KF_B(CKA_TOKEN, 0)};
	CK_ATTRIBUTE dup_diff[] = {KF_U(CKA_CLASS, &c_data), KF_B(CKA_TOKEN, 0), KF_B(CKA_TOKEN, 1)};
	CK_ATTRIBUTE dup_class[] = {KF_U(CKA_CLASS, &c_data), KF_U(CKA_CLASS, &c_cert)};
	CK_ATTRIBUTE hw_class[] = {KF_U(CKA_CLASS, &hw)};
	CK_ATTRIBUTE des[] = {KF_U(CKA_CLASS, &c_secret), KF_U(CKA_KEY_TYPE, &des3),
			      KF_D(CKA_VALUE, aes20, 24)};
	CK_ATTRIBUTE null_value[] = {KF_U(CKA_CLASS, &c_data), KF_D(CKA_VALUE, NULL, 4)};
	struct hsm_obj *o;

	make(no_class, KF_N(no_class), CKR_TEMPLATE_INCOMPLETE);
	make(no_type, KF_N(no_type), CKR_TEMPLATE_INCOMPLETE);
	make(no_value, KF_N(no_value), CKR_TEMPLATE_INCOMPLETE);
	make(bad_len, KF_N(bad_len), CKR_ATTRIBUTE_VALUE_INVALID);
	make(value_len, KF_N(value_len), CKR_ATTRIBUTE_READ_ONLY);  /* footnote 2 */
	make(local, KF_N(local), CKR_ATTRIBUTE_READ_ONLY);          /* set by the token */
	make(other_kind, KF_N(other_kind), CKR_TEMPLATE_INCONSISTENT);
	make(unknown, KF_N(unknown), CKR_ATTRIBUTE_TYPE_INVALID);
	make(bad_bool, KF_N(bad_bool), CKR_ATTRIBUTE_VALUE_INVALID);
	o = make(dup_same, KF_N(dup_same), CKR_OK);
	hsm_obj_free(o);
	make(dup_diff, KF_N(dup_diff), CKR_TEMPLATE_INCONSISTENT);
	make(dup_class, KF_N(dup_class), CKR_TEMPLATE_INCONSISTENT);
	make(hw_class, KF_N(hw_class), CKR_ATTRIBUTE_VALUE_INVALID);
	make(des, KF_N(des), CKR_ATTRIBUTE_VALUE_INVALID);
	make(null_value, KF_N(null_value), CKR_ATTRIBUTE_VALUE_INVALID);
	CU_ASSERT_EQUAL(hsm_obj_create(NULL, NULL, 1, &o), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(hsm_obj_create(NULL, no_class, HSM_TEMPLATE_MAX + 1, &o),
			CKR_TEMPLATE_INCONSISTENT);
}

static void value_kinds(void)
{
	const uint8_t latin1[] = {'c', 0xe9}, utf8[] = {'c', 0xc3, 0xa9};
	CK_DATE good = {{'2', '0', '2', '4'}, {'0', '2'}, {'2', '9'}};
	CK_DATE feb30 = {{'2', '0', '2', '4'}, {'0', '2'}, {'3', '0'}};
	CK_DATE leap = {{'2', '0', '2', '3'}, {'0', '2'}, {'2', '9'}};
	const uint8_t not_der[] = {0x30, 0x05, 0x01};
	char long_label[HSM_LABEL_LEN_MAX + 1];
	CK_ATTRIBUTE t[3] = {KF_U(CKA_CLASS, &c_data)};
	struct hsm_obj *o;

	memset(long_label, 'a', sizeof(long_label));
	t[1] = (CK_ATTRIBUTE)KF_D(CKA_LABEL, utf8, sizeof(utf8));
	hsm_obj_free(make(t, 2, CKR_OK));
	t[1] = (CK_ATTRIBUTE)KF_D(CKA_LABEL, latin1, sizeof(latin1));
	make(t, 2, CKR_ATTRIBUTE_VALUE_INVALID);
	t[1] = (CK_ATTRIBUTE)KF_D(CKA_LABEL, long_label, sizeof(long_label));
	make(t, 2, CKR_ATTRIBUTE_VALUE_INVALID);
	t[1] = (CK_ATTRIBUTE)KF_D(CKA_LABEL, long_label, sizeof(long_label) - 1);
	hsm_obj_free(make(t, 2, CKR_OK));
	t[1] = (CK_ATTRIBUTE)KF_D(CKA_OBJECT_ID, not_der, sizeof(not_der));
	make(t, 2, CKR_ATTRIBUTE_VALUE_INVALID);
	/* dates: empty, valid, or refused */
	t[0] = (CK_ATTRIBUTE)KF_U(CKA_CLASS, &c_secret);
	t[1] = (CK_ATTRIBUTE)KF_U(CKA_KEY_TYPE, &k_aes);
	o = kf_secret(NULL, CKK_AES, aes16, 16, (CK_ATTRIBUTE[]){KF_D(CKA_START_DATE, &good, 8)}, 1);
	CU_ASSERT_EQUAL(hsm_obj_attr(o, CKA_START_DATE)->len, 8);
	CU_ASSERT_EQUAL(hsm_obj_attr(o, CKA_END_DATE)->len, 0);
	hsm_obj_free(o);
	t[2] = (CK_ATTRIBUTE)KF_D(CKA_START_DATE, &feb30, sizeof(feb30));
	make((CK_ATTRIBUTE[]){t[0], t[1], KF_D(CKA_VALUE, aes16, 16), t[2]}, 4,
	     CKR_ATTRIBUTE_VALUE_INVALID);
	t[2] = (CK_ATTRIBUTE)KF_D(CKA_END_DATE, &leap, sizeof(leap));
	make((CK_ATTRIBUTE[]){t[0], t[1], KF_D(CKA_VALUE, aes16, 16), t[2]}, 4,
	     CKR_ATTRIBUTE_VALUE_INVALID);
	t[2] = (CK_ATTRIBUTE)KF_D(CKA_END_DATE, &good, 7);
	make((CK_ATTRIBUTE[]){t[0], t[1], KF_D(CKA_VALUE, aes16, 16), t[2]}, 4,
	     CKR_ATTRIBUTE_VALUE_INVALID);
}

/* --- C_GetAttributeValue ----------------------------------------------------- */

static void get_attribute_cases(void)
{
	struct hsm_obj *o = kf_secret(NULL, CKK_AES, aes16, 16, NULL, 0);
	uint8_t label[8], small[1], id[4];
	CK_ATTRIBUTE t[] = {{CKA_LABEL, label, sizeof(label)},
			    {CKA_VALUE, label, sizeof(label)},
			    {CKA_MODULUS, label, sizeof(label)},
			    {CKA_CHECK_VALUE, small, sizeof(small)},
			    {CKA_VALUE_LEN, NULL, 0}};
	CK_ATTRIBUTE ok[] = {{CKA_ID, id, sizeof(id)}, {CKA_CHECK_VALUE, NULL, 0}};

	CU_ASSERT_FATAL(o != NULL);
	/* all the cases in one call: each attribute answered, one code */
	CU_ASSERT_EQUAL(hsm_obj_get(o, t, KF_N(t)), CKR_ATTRIBUTE_SENSITIVE);
	CU_ASSERT_EQUAL(t[0].ulValueLen, 0);                          /* empty label */
	CU_ASSERT_EQUAL(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION); /* sensitive */
	CU_ASSERT_EQUAL(t[2].ulValueLen, CK_UNAVAILABLE_INFORMATION); /* not an AES key's */
	CU_ASSERT_EQUAL(t[3].ulValueLen, CK_UNAVAILABLE_INFORMATION); /* too small */
	CU_ASSERT_EQUAL(t[4].ulValueLen, sizeof(CK_ULONG));           /* length asked */
	/* without the sensitive one: the next code (each call gets its
	 * buffers' sizes again: the last one wrote over them) */
	t[1].type = CKA_LABEL;
	t[0].ulValueLen = t[1].ulValueLen = t[2].ulValueLen = sizeof(label);
	t[3].ulValueLen = sizeof(small);
	CU_ASSERT_EQUAL(hsm_obj_get(o, t, KF_N(t)), CKR_ATTRIBUTE_TYPE_INVALID);
	t[3].ulValueLen = sizeof(small);
	CU_ASSERT_EQUAL(hsm_obj_get(o, &t[3], 1), CKR_BUFFER_TOO_SMALL);
	CU_ASSERT_EQUAL(hsm_obj_get(o, ok, KF_N(ok)), CKR_OK);
	CU_ASSERT_EQUAL(ok[0].ulValueLen, 0);
	CU_ASSERT_EQUAL(ok[1].ulValueLen, 3);
	hsm_obj_free(o);
}

static void sensitive_hiding(void)
{
	CK_ATTRIBUTE open[] = {KF_B(CKA_SENSITIVE, 0), KF_B(CKA_EXTRACTABLE, 1)};
	CK_ATTRIBUTE sens[] = {KF_B(CKA_SENSITIVE, 1), KF_B(CKA_EXTRACTABLE, 1)};
	CK_ATTRIBUTE unex[] = {KF_B(CKA_SENSITIVE, 0), KF_B(CKA_EXTRACTABLE, 0)};
	struct hsm_obj *a = kf_secret(NULL, CKK_AES, aes16, 16, open, 2);
	struct hsm_obj *b = kf_secret(NULL, CKK_AES, aes16, 16, sens, 2);
	struct hsm_obj *c = kf_secret(NULL, CKK_AES, aes16, 16, unex, 2);
	uint8_t v[32];
	CK_ATTRIBUTE g = {CKA_VALUE, v, sizeof(v)};

	CU_ASSERT_EQUAL(hsm_obj_get(a, &g, 1), CKR_OK);
	CU_ASSERT_EQUAL(g.ulValueLen, 16);
	CU_ASSERT_EQUAL(memcmp(v, aes16, 16), 0);
	g.ulValueLen = sizeof(v);
	CU_ASSERT_EQUAL(hsm_obj_get(b, &g, 1), CKR_ATTRIBUTE_SENSITIVE);
	g.ulValueLen = sizeof(v);
	CU_ASSERT_EQUAL(hsm_obj_get(c, &g, 1), CKR_ATTRIBUTE_SENSITIVE);
	CU_ASSERT_EQUAL(g.ulValueLen, CK_UNAVAILABLE_INFORMATION);
	/* a hidden value never matches a search either */
	CU_ASSERT_TRUE(hsm_obj_match(a, &(CK_ATTRIBUTE)KF_D(CKA_VALUE, aes16, 16), 1));
	CU_ASSERT_FALSE(hsm_obj_match(b, &(CK_ATTRIBUTE)KF_D(CKA_VALUE, aes16, 16), 1));
	hsm_obj_free(a);
	hsm_obj_free(b);
	hsm_obj_free(c);
}

/* --- keys from outside ------------------------------------------------------- */

static void rsa_import(void)
{
	uint8_t n[512], e[8], d[512], p[256], q[256], dp[256], dq[256], qi[256];
	size_t nl = bn(rsa, OSSL_PKEY_PARAM_RSA_N, n), el = bn(rsa, OSSL_PKEY_PARAM_RSA_E, e);
	size_t dl = bn(rsa, OSSL_PKEY_PARAM_RSA_D, d), pl = bn(rsa, OSSL_PKEY_PARAM_RSA_FACTOR1, p);
	size_t ql = bn(rsa, OSSL_PKEY_PARAM_RSA_FACTOR2, q);
	size_t dpl = bn(rsa, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp);
	size_t dql = bn(rsa, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq);
	size_t qil = bn(rsa, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi);
	uint8_t lead[513] = {0};
	CK_ATTRIBUTE pub[] = {KF_U(CKA_CLASS, &c_pub), KF_U(CKA_KEY_TYPE, &k_rsa),
			      KF_D(CKA_MODULUS, lead, nl + 1), KF_D(CKA_PUBLIC_EXPONENT, e, el)};
	CK_ATTRIBUTE priv[] = {KF_U(CKA_CLASS, &c_priv), KF_U(CKA_KEY_TYPE, &k_rsa),
			       KF_D(CKA_MODULUS, n, nl), KF_D(CKA_PUBLIC_EXPONENT, e, el),
			       KF_D(CKA_PRIVATE_EXPONENT, d, dl), KF_D(CKA_PRIME_1, p, pl),
			       KF_D(CKA_PRIME_2, q, ql), KF_D(CKA_EXPONENT_1, dp, dpl),
			       KF_D(CKA_EXPONENT_2, dq, dql), KF_D(CKA_COEFFICIENT, qi, qil)};
	uint8_t spki[600], *sp = spki;
	int spl = i2d_PUBKEY(rsa, &sp);
	struct hsm_obj *o;
	CK_ULONG bits = 2048;
	CK_ATTRIBUTE g[] = {{CKA_MODULUS, NULL, 0}, {CKA_PRIVATE_EXPONENT, NULL, 0}};

	memcpy(lead + 1, n, nl); /* a leading zero is normalized away */
	o = make(pub, KF_N(pub), CKR_OK);
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_EQUAL(hsm_obj_ulong(o, CKA_MODULUS_BITS), 2048);
	CU_ASSERT_EQUAL(hsm_obj_attr(o, CKA_MODULUS)->len, nl);
	CU_ASSERT_EQUAL(hsm_obj_attr(o, CKA_PUBLIC_KEY_INFO)->len, (CK_ULONG)spl);
	CU_ASSERT_EQUAL(memcmp(hsm_obj_attr(o, CKA_PUBLIC_KEY_INFO)->val, spki, (size_t)spl), 0);
	hsm_obj_free(o);
	/* CKA_MODULUS_BITS comes from the modulus: never from C_CreateObject */
	make((CK_ATTRIBUTE[]){pub[0], pub[1], pub[2], pub[3], KF_U(CKA_MODULUS_BITS, &bits)}, 5,
	     CKR_ATTRIBUTE_READ_ONLY);
	/* a repeated CKA_PUBLIC_KEY_INFO must be the key's */
	hsm_obj_free(make((CK_ATTRIBUTE[]){pub[0], pub[1], pub[2], pub[3],
					   KF_D(CKA_PUBLIC_KEY_INFO, spki, (size_t)spl)},
			  5, CKR_OK));
	spki[spl - 1] ^= 1;
	make((CK_ATTRIBUTE[]){pub[0], pub[1], pub[2], pub[3],
			      KF_D(CKA_PUBLIC_KEY_INFO, spki, (size_t)spl)},
	     5, CKR_ATTRIBUTE_VALUE_INVALID);
	/* 1024 bits, an even modulus, an even exponent */
	make((CK_ATTRIBUTE[]){pub[0], pub[1], KF_D(CKA_MODULUS, n, 128), pub[3]}, 4,
	     CKR_ATTRIBUTE_VALUE_INVALID);
	n[nl - 1] ^= 1;
	make((CK_ATTRIBUTE[]){pub[0], pub[1], KF_D(CKA_MODULUS, n, nl), pub[3]}, 4,
	     CKR_ATTRIBUTE_VALUE_INVALID);
	n[nl - 1] ^= 1;
	make((CK_ATTRIBUTE[]){pub[0], pub[1], pub[2], KF_D(CKA_PUBLIC_EXPONENT, "\x01\x00\x00", 3)},
	     4, CKR_ATTRIBUTE_VALUE_INVALID);
	/* the private key, with and without CRT values; never half of them */
	o = make(priv, KF_N(priv), CKR_OK);
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_EQUAL(hsm_obj_get(o, g, 2), CKR_ATTRIBUTE_SENSITIVE);
	CU_ASSERT_EQUAL(g[0].ulValueLen, nl);
	CU_ASSERT_EQUAL(g[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	CU_ASSERT_PTR_NOT_NULL(o->pkey);
	hsm_obj_free(o);
	hsm_obj_free(make(priv, 5, CKR_OK));
	make(priv, 7, CKR_TEMPLATE_INCONSISTENT);
	make(priv, 4, CKR_TEMPLATE_INCOMPLETE);
	OPENSSL_cleanse(d, sizeof(d));
}

static void ec_import(void)
{
	uint8_t pt[65], d[32], spki[200], *sp = spki, der[67] = {0x04, 0x41};
	size_t ptl = 0, plen;
	const uint8_t *params = kf_ec_params("P-256", &plen);
	const uint8_t k1[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}; /* secp256k1 */
	const char named[] = "\x13\x0aprime256v1";
	size_t dl = bn(ec, OSSL_PKEY_PARAM_PRIV_KEY, d);
	int spl = i2d_PUBKEY(ec, &sp);
	struct hsm_obj *o, *p;

	CU_ASSERT(EVP_PKEY_get_octet_string_param(ec, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &ptl) == 1);
	memcpy(der + 2, pt, 65);
	/* the point raw or as DER, params by OID or by name: one stored form */
	CK_ATTRIBUTE pub[] = {KF_U(CKA_CLASS, &c_pub), KF_U(CKA_KEY_TYPE, &k_ec),
			      KF_D(CKA_EC_PARAMS, named, sizeof(named) - 1), KF_D(CKA_EC_POINT, pt, ptl)};
	o = make(pub, KF_N(pub), CKR_OK);
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_EQUAL(hsm_obj_attr(o, CKA_EC_POINT)->len, 67);
	CU_ASSERT_EQUAL(memcmp(hsm_obj_attr(o, CKA_EC_POINT)->val, der, 67), 0);
	CU_ASSERT_EQUAL(hsm_obj_attr(o, CKA_EC_PARAMS)->len, plen);
	CU_ASSERT_EQUAL(memcmp(hsm_obj_attr(o, CKA_EC_PARAMS)->val, params, plen), 0);
	CU_ASSERT_EQUAL(memcmp(hsm_obj_attr(o, CKA_PUBLIC_KEY_INFO)->val, spki, (size_t)spl), 0);
	pub[2] = (CK_ATTRIBUTE)KF_D(CKA_EC_PARAMS, params, plen);
	pub[3] = (CK_ATTRIBUTE)KF_D(CKA_EC_POINT, der, 67);
	p = make(pub, KF_N(pub), CKR_OK);
	CU_ASSERT(p && hsm_obj_match(p, &pub[3], 1) && hsm_obj_match(o, &pub[3], 1));
	hsm_obj_free(p);
	hsm_obj_free(o);
	/* another curve, a compressed point, a point off the curve */
	pub[2] = (CK_ATTRIBUTE)KF_D(CKA_EC_PARAMS, k1, sizeof(k1));
	make(pub, KF_N(pub), CKR_ATTRIBUTE_VALUE_INVALID);
	pub[2] = (CK_ATTRIBUTE)KF_D(CKA_EC_PARAMS, params, plen);
	pub[3] = (CK_ATTRIBUTE)KF_D(CKA_EC_POINT, pt, 33);
	make(pub, KF_N(pub), CKR_ATTRIBUTE_VALUE_INVALID);
	pt[64] ^= 1;
	pub[3] = (CK_ATTRIBUTE)KF_D(CKA_EC_POINT, pt, 65);
	make(pub, KF_N(pub), CKR_ATTRIBUTE_VALUE_INVALID);
	/* the private key: its public key info from d alone */
	CK_ATTRIBUTE priv[] = {KF_U(CKA_CLASS, &c_priv), KF_U(CKA_KEY_TYPE, &k_ec),
			       KF_D(CKA_EC_PARAMS, params, plen), KF_D(CKA_VALUE, d, dl)};
	o = make(priv, KF_N(priv), CKR_OK);
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_EQUAL(memcmp(hsm_obj_attr(o, CKA_PUBLIC_KEY_INFO)->val, spki, (size_t)spl), 0);
	hsm_obj_free(o);
	/* no per-operation login on this HSM */
	make((CK_ATTRIBUTE[]){priv[0], priv[1], priv[2], priv[3], KF_B(CKA_ALWAYS_AUTHENTICATE, 1)},
	     5, CKR_ATTRIBUTE_VALUE_INVALID);
	memset(d, 0, sizeof(d));
	make(priv, KF_N(priv), CKR_ATTRIBUTE_VALUE_INVALID);
	memset(d, 0xff, sizeof(d)); /* above the order */
	priv[3] = (CK_ATTRIBUTE)KF_D(CKA_VALUE, d, 32);
	make(priv, KF_N(priv), CKR_ATTRIBUTE_VALUE_INVALID);
}

/* A self-signed certificate with a comment that makes it about len bytes. */
static size_t make_cert(size_t len, uint8_t **der, uint8_t **subject, size_t *subject_len)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509_EXTENSION *ext;
	char *comment = OPENSSL_malloc(len + 1);
	int n;

	memset(comment, 'c', len);
	comment[len] = '\0';
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"open ped", -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, ec);
	ext = X509V3_EXT_nconf_nid(NULL, NULL, NID_netscape_comment, comment);
	X509_add_ext(x, ext, -1);
	X509_sign(x, ec, EVP_sha256());
	*der = NULL;
	n = i2d_X509(x, der);
	*subject = NULL;
	*subject_len = (size_t)i2d_X509_NAME(name, subject);
	X509_EXTENSION_free(ext);
	X509_NAME_free(name);
	X509_free(x);
	OPENSSL_free(comment);
	return (size_t)n;
}

static void certificates_and_bounds(void)
{
	uint8_t *der, *subj, *big = OPENSSL_zalloc(HSM_ATTR_MAX + 1), *name = OPENSSL_zalloc(16384);
	size_t subj_len, len = make_cert(16 * 1024, &der, &subj, &subj_len);
	CK_CERTIFICATE_TYPE x509 = CKC_X_509, other = CKC_X_509_ATTR_CERT;
	CK_ATTRIBUTE t[] = {KF_U(CKA_CLASS, &c_cert), KF_U(CKA_CERTIFICATE_TYPE, &x509),
			    KF_D(CKA_SUBJECT, subj, subj_len), KF_D(CKA_VALUE, der, len),
			    KF_D(CKA_ISSUER, name, 16384)};
	struct hsm_obj *o;

	/* a 16 KiB certificate fits */
	CU_ASSERT(len > 16 * 1024);
	o = make(t, 4, CKR_OK);
	CU_ASSERT(o && hsm_obj_attr(o, CKA_VALUE)->len == len);
	hsm_obj_free(o);
	make(t, 3, CKR_TEMPLATE_INCOMPLETE); /* no value */
	make((CK_ATTRIBUTE[]){t[0], t[1], t[3]}, 3, CKR_TEMPLATE_INCOMPLETE); /* no subject */
	make((CK_ATTRIBUTE[]){t[0], t[2], t[3]}, 3, CKR_TEMPLATE_INCOMPLETE); /* no type */
	t[1] = (CK_ATTRIBUTE)KF_U(CKA_CERTIFICATE_TYPE, &other);
	make(t, 4, CKR_ATTRIBUTE_VALUE_INVALID);
	t[1] = (CK_ATTRIBUTE)KF_U(CKA_CERTIFICATE_TYPE, &x509);
	der[len / 2] ^= 0xff; /* not DER any more */
	t[3] = (CK_ATTRIBUTE)KF_D(CKA_VALUE, der, len - 1);
	make(t, 4, CKR_ATTRIBUTE_VALUE_INVALID);
	/* one attribute over its bound; an object over its bound */
	t[0] = (CK_ATTRIBUTE)KF_U(CKA_CLASS, &c_data);
	t[1] = (CK_ATTRIBUTE)KF_D(CKA_VALUE, big, HSM_ATTR_MAX + 1);
	make(t, 2, CKR_ATTRIBUTE_VALUE_INVALID);
	t[1].ulValueLen = HSM_ATTR_MAX;
	hsm_obj_free(make(t, 2, CKR_OK));
	OPENSSL_free(der);
	OPENSSL_free(subj);
	len = make_cert(HSM_ATTR_MAX - 2048, &der, &subj, &subj_len);
	name[0] = 0x30; /* a DER SEQUENCE of 16380 bytes */
	name[1] = 0x82;
	name[2] = (16380 >> 8) & 0xff;
	name[3] = 16380 & 0xff;
	CK_ATTRIBUTE full[] = {KF_U(CKA_CLASS, &c_cert), KF_U(CKA_CERTIFICATE_TYPE, &x509),
			       KF_D(CKA_SUBJECT, name, 16384), KF_D(CKA_VALUE, der, len),
			       KF_D(CKA_ISSUER, name, 16384), KF_D(CKA_PUBLIC_KEY_INFO, name, 16384),
			       KF_D(CKA_ID, "i", 1)};
	make(full, KF_N(full), CKR_DEVICE_MEMORY);
	hsm_obj_free(make(full, 4, CKR_OK));
	OPENSSL_free(der);
	OPENSSL_free(subj);
	OPENSSL_free(big);
	OPENSSL_free(name);
}

/* --- C_SetAttributeValue -------------------------------------------------- */

static CK_RV set1(struct hsm_obj *o, CK_ATTRIBUTE a)
{
	return hsm_obj_set(NULL, o, &a, 1);
}

static void set_rules(void)
{
	CK_ATTRIBUTE x[] = {KF_B(CKA_SENSITIVE, 0), KF_B(CKA_EXTRACTABLE, 1),
			    KF_B(CKA_WRAP_WITH_TRUSTED, 0)};
	struct hsm_obj *o = kf_secret(NULL, CKK_AES, aes16, 16, x, KF_N(x));
	struct hsm_key_env so;
	CK_ULONG len = 16;

	CU_ASSERT_FATAL(o != NULL);
	/* modifiable */
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_D(CKA_LABEL, "k1", 2)), CKR_OK);
	CU_ASSERT(hsm_obj_match(o, &(CK_ATTRIBUTE)KF_D(CKA_LABEL, "k1", 2), 1));
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_B(CKA_DECRYPT, 1)), CKR_OK);
	/* read-only after creation, set by the token, copy-only, not this kind's */
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_U(CKA_KEY_TYPE, &k_gen)), CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_U(CKA_VALUE_LEN, &len)), CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_B(CKA_LOCAL, 1)), CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_B(CKA_TOKEN, 1)), CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_D(CKA_VALUE, aes16, 16)), CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_D(CKA_MODULUS, aes16, 16)), CKR_ATTRIBUTE_TYPE_INVALID);
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_D(CKA_LABEL, "\xff", 1)), CKR_ATTRIBUTE_VALUE_INVALID);
	/* CKA_SENSITIVE false to true only; ALWAYS_SENSITIVE stays false */
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_B(CKA_SENSITIVE, 1)), CKR_OK);
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_B(CKA_SENSITIVE, 0)), CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_FALSE(hsm_obj_bool(o, CKA_ALWAYS_SENSITIVE));
	/* CKA_EXTRACTABLE true to false only */
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_B(CKA_EXTRACTABLE, 0)), CKR_OK);
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_B(CKA_EXTRACTABLE, 1)), CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_FALSE(hsm_obj_bool(o, CKA_NEVER_EXTRACTABLE));
	/* CKA_WRAP_WITH_TRUSTED false to true only */
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_B(CKA_WRAP_WITH_TRUSTED, 1)), CKR_OK);
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_B(CKA_WRAP_WITH_TRUSTED, 0)), CKR_ATTRIBUTE_READ_ONLY);
	/* CKA_TRUSTED true by the SO only */
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_B(CKA_TRUSTED, 1)), CKR_ATTRIBUTE_READ_ONLY);
	hsm_key_env_init(&so);
	so.so = 1;
	CU_ASSERT_EQUAL(hsm_obj_set(&so, o, &(CK_ATTRIBUTE)KF_B(CKA_TRUSTED, 1), 1), CKR_OK);
	/* all or nothing */
	CK_ATTRIBUTE two[] = {KF_D(CKA_LABEL, "k2", 2), KF_B(CKA_LOCAL, 1)};
	CU_ASSERT_EQUAL(hsm_obj_set(NULL, o, two, 2), CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT(hsm_obj_match(o, &(CK_ATTRIBUTE)KF_D(CKA_LABEL, "k1", 2), 1));
	/* CKA_COPYABLE, CKA_DESTROYABLE: true to false only */
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_B(CKA_DESTROYABLE, 0)), CKR_OK);
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_B(CKA_DESTROYABLE, 1)), CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(hsm_obj_destroy_check(NULL, o), CKR_ACTION_PROHIBITED);
	/* CKA_MODIFIABLE false: nothing changes any more */
	hsm_obj_free(o);
	o = kf_secret(NULL, CKK_AES, aes16, 16, (CK_ATTRIBUTE[]){KF_B(CKA_MODIFIABLE, 0)}, 1);
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_D(CKA_LABEL, "k", 1)), CKR_ACTION_PROHIBITED);
	CU_ASSERT_EQUAL(hsm_obj_destroy_check(NULL, o), CKR_OK);
	hsm_obj_free(o);
}

/* --- C_CopyObject ---------------------------------------------------------------- */

static void copy_rules(void)
{
	CK_ATTRIBUTE x[] = {KF_B(CKA_SIGN, 1), KF_B(CKA_SENSITIVE, 1), KF_B(CKA_EXTRACTABLE, 1)};
	struct hsm_obj *o = kf_secret(NULL, CKK_GENERIC_SECRET, aes16, 16, x, KF_N(x)), *c = NULL;
	CK_ATTRIBUTE to_token[] = {KF_B(CKA_TOKEN, 1), KF_D(CKA_LABEL, "copy", 4),
				   KF_B(CKA_EXTRACTABLE, 0)};

	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_EQUAL(hsm_obj_copy(NULL, o, to_token, KF_N(to_token), &c), CKR_OK);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_TRUE(hsm_obj_bool(c, CKA_TOKEN));
	CU_ASSERT_FALSE(hsm_obj_bool(c, CKA_EXTRACTABLE));
	CU_ASSERT_TRUE(hsm_obj_bool(c, CKA_SIGN));
	CU_ASSERT_NOT_EQUAL(c->ouid, o->ouid);
	CU_ASSERT(hsm_obj_match(c, &(CK_ATTRIBUTE)KF_D(CKA_LABEL, "copy", 4), 1));
	CU_ASSERT_FALSE(hsm_obj_match(o, &(CK_ATTRIBUTE)KF_D(CKA_LABEL, "copy", 4), 1));
	hsm_obj_free(c);
	/* a copy is never less protected */
	CU_ASSERT_EQUAL(hsm_obj_copy(NULL, o, &(CK_ATTRIBUTE)KF_B(CKA_SENSITIVE, 0), 1, &c),
			CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(hsm_obj_copy(NULL, o, &(CK_ATTRIBUTE)KF_B(CKA_LOCAL, 1), 1, &c),
			CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_PTR_NULL(c);
	/* a source not modifiable: only the copy attributes, never modifiable again */
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_B(CKA_COPYABLE, 1)), CKR_OK);
	hsm_obj_free(o);
	o = kf_secret(NULL, CKK_AES, aes16, 16, (CK_ATTRIBUTE[]){KF_B(CKA_MODIFIABLE, 0)}, 1);
	CU_ASSERT_EQUAL(hsm_obj_copy(NULL, o, &(CK_ATTRIBUTE)KF_D(CKA_LABEL, "x", 1), 1, &c),
			CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(hsm_obj_copy(NULL, o, &(CK_ATTRIBUTE)KF_B(CKA_MODIFIABLE, 1), 1, &c),
			CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(hsm_obj_copy(NULL, o, &(CK_ATTRIBUTE)KF_B(CKA_TOKEN, 1), 1, &c), CKR_OK);
	hsm_obj_free(c);
	hsm_obj_free(o);
	/* CKA_COPYABLE false */
	o = kf_secret(NULL, CKK_AES, aes16, 16, (CK_ATTRIBUTE[]){KF_B(CKA_COPYABLE, 0)}, 1);
	CU_ASSERT_EQUAL(hsm_obj_copy(NULL, o, NULL, 0, &c), CKR_ACTION_PROHIBITED);
	CU_ASSERT_EQUAL(set1(o, (CK_ATTRIBUTE)KF_B(CKA_COPYABLE, 1)), CKR_ATTRIBUTE_READ_ONLY);
	hsm_obj_free(o);
}

static void matching(void)
{
	CK_BBOOL odd = 0x5a;
	const char *label = "find me";
	CK_ATTRIBUTE t[] = {KF_U(CKA_CLASS, &c_data), KF_D(CKA_LABEL, label, strlen(label)),
			    KF_B(CKA_TOKEN, 1)};
	struct hsm_obj *o = make(t, KF_N(t), CKR_OK);

	CU_ASSERT_TRUE(hsm_obj_match(o, NULL, 0));
	CU_ASSERT_TRUE(hsm_obj_match(o, t, KF_N(t)));
	CU_ASSERT_TRUE(hsm_obj_match(o, &(CK_ATTRIBUTE)KF_D(CKA_TOKEN, &odd, 1), 1));
	CU_ASSERT_FALSE(hsm_obj_match(o, &(CK_ATTRIBUTE)KF_U(CKA_CLASS, &c_secret), 1));
	CU_ASSERT_FALSE(hsm_obj_match(o, &(CK_ATTRIBUTE)KF_U(CKA_KEY_TYPE, &k_aes), 1));
	CU_ASSERT_FALSE(hsm_obj_match(o, &(CK_ATTRIBUTE)KF_D(CKA_LABEL, "find", 4), 1));
	CU_ASSERT_FALSE(hsm_obj_match(o, &(CK_ATTRIBUTE)KF_D(0x7777, "x", 1), 1));
	hsm_obj_free(o);
}

/* --- storage ------------------------------------------------------------------ */

static int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	for (size_t i = 0; m && i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

/* Encodes, decodes, encodes again: the same bytes; secrets only in sec. */
static void round_trip(const struct hsm_obj *o, const uint8_t *secret, size_t secret_len)
{
	uint8_t *pub = NULL, *sec = NULL, *pub2 = NULL, *sec2 = NULL;
	size_t pl = 0, sl = 0, pl2 = 0, sl2 = 0;
	struct hsm_obj *back = NULL;
	char why[160];

	CU_ASSERT_EQUAL_FATAL(hsm_obj_encode(o, &pub, &pl, &sec, &sl), PED_OK);
	CU_ASSERT_EQUAL(sec != NULL, secret != NULL);
	if (secret) {
		CU_ASSERT_FALSE(contains(pub, pl, secret, secret_len));
		CU_ASSERT_TRUE(contains(sec, sl, secret, secret_len));
	}
	CU_ASSERT_EQUAL(hsm_obj_decode(pub, pl, sec, sl, &back, why, sizeof(why)), PED_OK);
	CU_ASSERT_FATAL(back != NULL);
	CU_ASSERT_EQUAL(back->ouid, o->ouid);
	CU_ASSERT_EQUAL(back->nattrs, o->nattrs);
	CU_ASSERT_EQUAL(hsm_obj_encode(back, &pub2, &pl2, &sec2, &sl2), PED_OK);
	CU_ASSERT(pl == pl2 && memcmp(pub, pub2, pl) == 0);
	CU_ASSERT(sl == sl2 && (sl == 0 || memcmp(sec, sec2, sl) == 0));
	CU_ASSERT_EQUAL(o->pkey != NULL, back->pkey != NULL);
	if (o->pkey)
		CU_ASSERT_EQUAL(EVP_PKEY_eq(o->pkey, back->pkey), 1);
	hsm_obj_free(back);
	OPENSSL_clear_free(pub, pl);
	OPENSSL_clear_free(sec, sl);
	OPENSSL_clear_free(pub2, pl2);
	OPENSSL_clear_free(sec2, sl2);
}

/* The secret of a key object, for looking for it in encodings. */
static size_t secret_of(const struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, uint8_t *buf)
{
	const struct hsm_attr *a = hsm_obj_attr(o, type);
	memcpy(buf, a->val, a->len);
	return a->len;
}

static void encode_each_kind(void)
{
	CK_ATTRIBUTE data[] = {KF_U(CKA_CLASS, &c_data), KF_D(CKA_VALUE, "payload", 7)};
	CK_MECHANISM_TYPE allowed[] = {CKM_AES_GCM, CKM_AES_CBC_PAD};
	CK_ATTRIBUTE ax[] = {KF_D(CKA_ALLOWED_MECHANISMS, allowed, sizeof(allowed)),
			     KF_D(CKA_LABEL, "aes", 3), KF_B(CKA_TOKEN, 1)};
	uint8_t *der, *subj, gen[40], d[600];
	size_t subj_len, len = make_cert(100, &der, &subj, &subj_len);
	CK_CERTIFICATE_TYPE x509 = CKC_X_509;
	CK_ATTRIBUTE cert[] = {KF_U(CKA_CLASS, &c_cert), KF_U(CKA_CERTIFICATE_TYPE, &x509),
			       KF_D(CKA_SUBJECT, subj, subj_len), KF_D(CKA_VALUE, der, len)};
	EVP_PKEY *p521 = EVP_EC_gen("P-521");
	struct hsm_obj *o;

	round_trip(o = make(data, KF_N(data), CKR_OK), NULL, 0);
	hsm_obj_free(o);
	round_trip(o = make(cert, KF_N(cert), CKR_OK), NULL, 0);
	hsm_obj_free(o);
	round_trip(o = kf_secret(NULL, CKK_AES, aes16, 16, ax, KF_N(ax)), aes16, 16);
	hsm_obj_free(o);
	RAND_bytes(gen, sizeof(gen));
	round_trip(o = kf_secret(NULL, CKK_GENERIC_SECRET, gen, sizeof(gen), NULL, 0), gen, sizeof(gen));
	hsm_obj_free(o);
	round_trip(o = kf_import(NULL, rsa, 0, NULL, 0), NULL, 0);
	hsm_obj_free(o);
	o = kf_import(NULL, rsa, 1, NULL, 0);
	round_trip(o, d, secret_of(o, CKA_PRIVATE_EXPONENT, d));
	hsm_obj_free(o);
	round_trip(o = kf_import(NULL, p521, 0, NULL, 0), NULL, 0);
	hsm_obj_free(o);
	o = kf_import(NULL, p521, 1, NULL, 0);
	round_trip(o, d, secret_of(o, CKA_VALUE, d));
	hsm_obj_free(o);
	OPENSSL_cleanse(d, sizeof(d));
	EVP_PKEY_free(p521);
	OPENSSL_free(der);
	OPENSSL_free(subj);
}

static void decode_refuses_damage(void)
{
	struct hsm_obj *a = kf_secret(NULL, CKK_AES, aes16, 16, NULL, 0), *b, *back = NULL;
	uint8_t other[16] = {9}, *pub, *sec, *pub2, *sec2;
	size_t pl, sl, pl2, sl2;
	char why[160];

	b = kf_secret(NULL, CKK_AES, other, 16, NULL, 0);
	CU_ASSERT_FATAL(a && b);
	CU_ASSERT_EQUAL(hsm_obj_encode(a, &pub, &pl, &sec, &sl), PED_OK);
	CU_ASSERT_EQUAL(hsm_obj_encode(b, &pub2, &pl2, &sec2, &sl2), PED_OK);
	/* the secret part of another object */
	CU_ASSERT_EQUAL(hsm_obj_decode(pub, pl, sec2, sl2, &back, why, sizeof(why)), PED_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "another object"));
	/* no secret part: the key is incomplete */
	CU_ASSERT_EQUAL(hsm_obj_decode(pub, pl, NULL, 0, &back, why, sizeof(why)), PED_E_CORRUPT);
	/* truncated, trailing bytes, another version, parts swapped */
	CU_ASSERT_EQUAL(hsm_obj_decode(pub, pl - 1, sec, sl, &back, why, sizeof(why)), PED_E_CORRUPT);
	CU_ASSERT_EQUAL(hsm_obj_decode(sec, sl, pub, pl, &back, why, sizeof(why)), PED_E_CORRUPT);
	pub[4] = 2;
	CU_ASSERT_EQUAL(hsm_obj_decode(pub, pl, sec, sl, &back, why, sizeof(why)), PED_E_CORRUPT);
	pub[4] = HSM_OBJ_ENCODING_VERSION;
	/* the check value no longer the key's */
	for (size_t i = 0; i + 3 <= pl; i++)
		if (memcmp(pub + i, hsm_obj_attr(a, CKA_CHECK_VALUE)->val, 3) == 0) {
			pub[i] ^= 1;
			CU_ASSERT_EQUAL(hsm_obj_decode(pub, pl, sec, sl, &back, why, sizeof(why)),
					PED_E_CORRUPT);
			pub[i] ^= 1;
			break;
		}
	/* one more attribute whose length runs past the end, its header the last bytes */
	{
		uint8_t *longer = OPENSSL_malloc(pl + 8);
		const uint8_t tail[8] = {0x40, 0x00, 0x06, 0x00, 0x00, 0x80, 0x00, 0x00};
		memcpy(longer, pub, pl);
		memcpy(longer + pl, tail, 8);
		longer[15]++; /* the count */
		CU_ASSERT_EQUAL(hsm_obj_decode(longer, pl + 8, sec, sl, &back, why, sizeof(why)),
				PED_E_CORRUPT);
		CU_ASSERT_PTR_NULL(back);
		OPENSSL_free(longer);
	}
	CU_ASSERT_EQUAL(hsm_obj_decode(pub, pl, sec, sl, &back, NULL, 0), PED_OK);
	CU_ASSERT_PTR_NULL(back->pkey);
	hsm_obj_free(back);
	hsm_obj_free(a);
	hsm_obj_free(b);
	OPENSSL_clear_free(pub, pl);
	OPENSSL_clear_free(sec, sl);
	OPENSSL_clear_free(pub2, pl2);
	OPENSSL_clear_free(sec2, sl2);
}

/* One attribute of a and b: present in both, the same bytes. */
static int same_attr(const struct hsm_obj *a, const struct hsm_obj *b, CK_ATTRIBUTE_TYPE t)
{
	const struct hsm_attr *x = hsm_obj_attr(a, t), *y = hsm_obj_attr(b, t);
	return x && y && x->len == y->len && memcmp(x->val, y->val, x->len) == 0;
}

/* A generated pair keeps OpenSSL's key instead of rebuilding it from its
 * attributes: what it computes must be what an import of the same key
 * computes, and the key it keeps the key those attributes describe. */
static void generated_keys_as_imported(void)
{
	static const char *const curves[] = {"P-256", "P-384", "P-521"};
	struct hsm_obj *pub, *priv, *ipub, *ipriv;

	for (size_t i = 0; i < 4; i++) {
		if (i < 3)
			kf_ec_pair(NULL, curves[i], NULL, 0, NULL, 0, &pub, &priv);
		else
			kf_rsa_pair(NULL, 2048, NULL, 0, NULL, 0, &pub, &priv);
		CU_ASSERT_FATAL(pub && priv && pub->pkey && priv->pkey);
		ipub = kf_import(NULL, pub->pkey, 0, NULL, 0);
		ipriv = kf_import(NULL, priv->pkey, 1, NULL, 0);
		CU_ASSERT_FATAL(ipub && ipriv);
		CU_ASSERT(same_attr(pub, ipub, CKA_PUBLIC_KEY_INFO));
		CU_ASSERT(same_attr(priv, ipriv, CKA_PUBLIC_KEY_INFO));
		CU_ASSERT(same_attr(pub, priv, CKA_PUBLIC_KEY_INFO));
		if (i < 3) {
			CU_ASSERT(same_attr(pub, ipub, CKA_EC_POINT));
			CU_ASSERT(same_attr(pub, ipub, CKA_EC_PARAMS));
			CU_ASSERT(same_attr(priv, ipriv, CKA_VALUE));
			CU_ASSERT_EQUAL(hsm_obj_attr(pub, CKA_EC_POINT)->val[0], 0x04); /* DER */
		} else {
			CU_ASSERT(same_attr(pub, ipub, CKA_MODULUS_BITS));
			CU_ASSERT(same_attr(priv, ipriv, CKA_PRIVATE_EXPONENT));
			CU_ASSERT(same_attr(priv, ipriv, CKA_COEFFICIENT));
		}
		CU_ASSERT_EQUAL(EVP_PKEY_eq(pub->pkey, ipub->pkey), 1);
		CU_ASSERT_EQUAL(EVP_PKEY_eq(priv->pkey, ipriv->pkey), 1);
		/* the public half's key holds no private part: it may outlive the
		 * private object */
		BIGNUM *secret = NULL;
		CU_ASSERT_NOT_EQUAL(EVP_PKEY_get_bn_param(pub->pkey, i < 3 ? OSSL_PKEY_PARAM_PRIV_KEY : OSSL_PKEY_PARAM_RSA_D,
							  &secret), 1);
		BN_clear_free(secret);
		ERR_clear_error();
		hsm_obj_free(ipub);
		hsm_obj_free(ipriv);
		hsm_obj_free(pub);
		hsm_obj_free(priv);
	}
}

UNIT_SUITE(object, setup, teardown, UNIT_TEST(table_is_consistent), UNIT_TEST(data_defaults),
	   UNIT_TEST(secret_key_defaults), UNIT_TEST(template_errors), UNIT_TEST(value_kinds),
	   UNIT_TEST(get_attribute_cases), UNIT_TEST(sensitive_hiding), UNIT_TEST(rsa_import),
	   UNIT_TEST(ec_import), UNIT_TEST(certificates_and_bounds), UNIT_TEST(set_rules),
	   UNIT_TEST(copy_rules), UNIT_TEST(matching), UNIT_TEST(encode_each_kind),
	   UNIT_TEST(decode_refuses_damage), UNIT_TEST(generated_keys_as_imported))
