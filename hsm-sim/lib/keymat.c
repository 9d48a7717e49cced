/* Key material: checks an object's key attributes and turns them into an
 * EVP_PKEY (RSA, EC) with OpenSSL 3's parameter API, and back; computes the
 * attributes that follow from the key (CKA_PUBLIC_KEY_INFO,
 * CKA_MODULUS_BITS, CKA_VALUE_LEN, CKA_CHECK_VALUE). */
#include "keys_int.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <string.h>

static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t oid_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};

static const struct kcurve curves[] = {
	{NID_X9_62_prime256v1, "prime256v1", oid_p256, sizeof(oid_p256), 32, 256},
	{NID_secp384r1, "secp384r1", oid_p384, sizeof(oid_p384), 48, 384},
	{NID_secp521r1, "secp521r1", oid_p521, sizeof(oid_p521), 66, 521},
};

/* Names a PrintableString curveName may give. */
static const struct {
	const char *name;
	int curve;
} aliases[] = {
	{"prime256v1", 0}, {"secp256r1", 0}, {"P-256", 0}, {"secp384r1", 1},
	{"P-384", 1},      {"secp521r1", 2}, {"P-521", 2},
};

const struct kcurve *kcurve_from_params(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (len == curves[i].oid_len && memcmp(p, curves[i].oid, len) == 0)
			return &curves[i];
	/* Parameters ::= CHOICE { ..., curveName PrintableString } */
	if (len >= 2 && p[0] == 0x13 && p[1] == len - 2) {
		for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
			if (strlen(aliases[i].name) == len - 2 &&
			    memcmp(p + 2, aliases[i].name, len - 2) == 0)
				return &curves[aliases[i].curve];
	}
	return NULL;
}

const struct kcurve *kcurve_of(const struct hsm_obj *o)
{
	const struct hsm_attr *a = hsm_obj_attr(o, CKA_EC_PARAMS);
	return a ? kcurve_from_params(a->val, a->len) : NULL;
}

static const struct kcurve *curve_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (strcmp(curves[i].name, name) == 0)
			return &curves[i];
	return NULL;
}

CK_ULONG kmat_key_size(const struct hsm_obj *o)
{
	const struct hsm_attr *a;
	const struct kcurve *c;

	if (o->kind & (HSM_K_RSA_PUB | HSM_K_RSA_PRIV)) {
		if (!(a = hsm_obj_attr(o, CKA_MODULUS)) || a->len == 0)
			return 0;
		CK_ULONG bits = a->len * 8;
		for (uint8_t top = a->val[0]; !(top & 0x80); top <<= 1)
			bits--;
		return bits;
	}
	if (o->kind & (HSM_K_EC_PUB | HSM_K_EC_PRIV))
		return (c = kcurve_of(o)) ? c->bits : 0;
	if (o->kind & HSM_K_SECRET)
		return (a = hsm_obj_attr(o, CKA_VALUE)) ? a->len : 0;
	return 0;
}

/* --- helpers --------------------------------------------------------------- */

static BIGNUM *bn_of(const struct hsm_obj *o, CK_ATTRIBUTE_TYPE type)
{
	const struct hsm_attr *a = hsm_obj_attr(o, type);
	BIGNUM *bn;

	if (!a || (bn = BN_secure_new()) == NULL)
		return NULL;
	if (!BN_bin2bn(a->val, (int)a->len, bn)) {
		BN_clear_free(bn);
		return NULL;
	}
	BN_set_flags(bn, BN_FLG_CONSTTIME);
	return bn;
}

static CK_RV put_bn(struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, const BIGNUM *bn)
{
	int n = BN_num_bytes(bn);
	uint8_t *buf;

	if (n <= 0)
		return kfail(CKR_GENERAL_ERROR, "an empty key component");
	if ((buf = OPENSSL_malloc((size_t)n)) == NULL)
		return kfail(CKR_HOST_MEMORY, "out of memory");
	BN_bn2bin(bn, buf);
	return kobj_put_owned(o, type, buf, (CK_ULONG)n);
}

/* A computed attribute: put it, or check the one given (template, storage). */
static CK_RV put_computed(struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, uint8_t *val, size_t len)
{
	const struct hsm_attr *a = hsm_obj_attr(o, type);

	if (a) {
		int same = a->len == len && CRYPTO_memcmp(a->val, val, len) == 0;
		OPENSSL_clear_free(val, len);
		return same ? CKR_OK
			    : kfail(CKR_ATTRIBUTE_VALUE_INVALID, "%s: not the key's",
				    hsm_attr_name(type));
	}
	return kobj_put_owned(o, type, val, len);
}

static CK_RV put_computed_ulong(struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	CK_ULONG have = hsm_obj_ulong(o, type);

	if (hsm_obj_attr(o, type))
		return have == v ? CKR_OK
				 : kfail(CKR_TEMPLATE_INCONSISTENT, "%s %lu: the key's is %lu",
					 hsm_attr_name(type), have, v);
	return kobj_put_ulong(o, type, v);
}

static CK_RV fromdata(const char *alg, int selection, OSSL_PARAM *params, EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
	CK_RV rv = CKR_OK;

	*out = NULL;
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, selection, params) != 1)
		rv = kfail(CKR_ATTRIBUTE_VALUE_INVALID, "%s key: OpenSSL refuses its values", alg);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return rv;
}

static CK_RV put_spki(struct hsm_obj *o)
{
	int n = i2d_PUBKEY(o->pkey, NULL);
	uint8_t *buf, *p;

	if (n <= 0)
		return kfail(CKR_GENERAL_ERROR, "no SubjectPublicKeyInfo for the key");
	if ((buf = p = OPENSSL_malloc((size_t)n)) == NULL)
		return kfail(CKR_HOST_MEMORY, "out of memory");
	if (i2d_PUBKEY(o->pkey, &p) != n) {
		OPENSSL_free(buf);
		return kfail(CKR_GENERAL_ERROR, "no SubjectPublicKeyInfo for the key");
	}
	return put_computed(o, CKA_PUBLIC_KEY_INFO, buf, (size_t)n);
}

/* A DER length of at most 255 bytes (an EC SubjectPublicKeyInfo's largest,
 * P-521's, is 155). */
static size_t der_len(uint8_t *p, size_t len)
{
	if (len < 0x80) {
		p[0] = (uint8_t)len;
		return 1;
	}
	p[0] = 0x81;
	p[1] = (uint8_t)len;
	return 2;
}

/* An EC key's SubjectPublicKeyInfo (RFC 5480: id-ecPublicKey, the named
 * curve, the uncompressed point), built here: i2d_PUBKEY looks its encoder
 * up among the providers at every call, which was 43% of the HSM's time in
 * a P-256 C_GenerateKeyPair (make bench, issue #33). The bytes are
 * i2d_PUBKEY's (tests/unit/test_object.c compares them on every curve). */
static CK_RV put_ec_spki(struct hsm_obj *o, const struct kcurve *c, const uint8_t *pt)
{
	static const uint8_t ec_public_key[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
	size_t n = 1 + 2 * c->field_len, alg = sizeof(ec_public_key) + c->oid_len;
	size_t bits = n + 1, inner = 2 + alg + 1 + (bits < 0x80 ? 1 : 2) + bits;
	size_t total = 1 + (inner < 0x80 ? 1 : 2) + inner, off = 0;
	uint8_t *der;

	if ((der = OPENSSL_malloc(total)) == NULL)
		return kfail(CKR_HOST_MEMORY, "out of memory");
	der[off++] = 0x30;
	off += der_len(der + off, inner);
	der[off++] = 0x30;
	off += der_len(der + off, alg);
	memcpy(der + off, ec_public_key, sizeof(ec_public_key));
	off += sizeof(ec_public_key);
	memcpy(der + off, c->oid, c->oid_len);
	off += c->oid_len;
	der[off++] = 0x03;
	off += der_len(der + off, bits);
	der[off++] = 0x00; /* no unused bits */
	memcpy(der + off, pt, n);
	return put_computed(o, CKA_PUBLIC_KEY_INFO, der, total);
}

/* --- RSA ------------------------------------------------------------------- */

static const CK_ATTRIBUTE_TYPE crt_attrs[5] = {CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1,
					       CKA_EXPONENT_2, CKA_COEFFICIENT};
static const char *const crt_names[5] = {OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
					 OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
					 OSSL_PKEY_PARAM_RSA_COEFFICIENT1};

static CK_RV rsa_finish(struct hsm_obj *o)
{
	int priv = o->kind == HSM_K_RSA_PRIV, ncrt = 0, bits;
	BIGNUM *n = bn_of(o, CKA_MODULUS), *e = bn_of(o, CKA_PUBLIC_EXPONENT), *d = NULL;
	BIGNUM *crt[5] = {NULL};
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	CK_RV rv = CKR_HOST_MEMORY;

	if (!n || !e) {
		rv = kfail(CKR_TEMPLATE_INCOMPLETE, "CKA_MODULUS and CKA_PUBLIC_EXPONENT are required");
		goto out;
	}
	bits = BN_num_bits(n);
	if (bits < 2048 || bits > 4096 || !BN_is_odd(n)) {
		rv = kfail(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_MODULUS: %d bits, not an RSA modulus of "
			   "2048 to 4096 bits", bits);
		goto out;
	}
	if (!BN_is_odd(e) || BN_is_one(e) || BN_cmp(e, n) >= 0) {
		rv = kfail(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_PUBLIC_EXPONENT: not odd, above 1 and "
			   "below the modulus");
		goto out;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		goto out;
	if (priv) {
		if ((d = bn_of(o, CKA_PRIVATE_EXPONENT)) == NULL) {
			rv = kfail(CKR_TEMPLATE_INCOMPLETE, "CKA_PRIVATE_EXPONENT is required");
			goto out;
		}
		if (BN_is_zero(d) || BN_cmp(d, n) >= 0) {
			rv = kfail(CKR_ATTRIBUTE_VALUE_INVALID,
				   "CKA_PRIVATE_EXPONENT: not below the modulus");
			goto out;
		}
		if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d))
			goto out;
		for (int i = 0; i < 5; i++)
			ncrt += (crt[i] = bn_of(o, crt_attrs[i])) != NULL;
		if (ncrt != 0 && ncrt != 5) {
			rv = kfail(CKR_TEMPLATE_INCONSISTENT,
				   "CKA_PRIME_1 .. CKA_COEFFICIENT: all five or none");
			goto out;
		}
		for (int i = 0; i < ncrt; i++)
			if (!OSSL_PARAM_BLD_push_BN(bld, crt_names[i], crt[i]))
				goto out;
	}
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((rv = fromdata("RSA", priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params, &o->pkey)) !=
	    CKR_OK)
		goto out;
	if (!priv && (rv = put_computed_ulong(o, CKA_MODULUS_BITS, (CK_ULONG)bits)) != CKR_OK)
		goto out;
	rv = put_spki(o);
out:
	OSSL_PARAM_free(params); /* secrets came from secure BNs: cleansed */
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	BN_clear_free(d);
	for (int i = 0; i < 5; i++)
		BN_clear_free(crt[i]);
	return rv;
}

/* --- EC -------------------------------------------------------------------- */

int kmat_ec_point(const struct kcurve *c, const uint8_t *p, size_t len, const uint8_t **pt)
{
	size_t n = 1 + 2 * c->field_len, hdr = n < 128 ? 2 : 3;

	/* ECPoint ::= OCTET STRING, as PKCS#11 2.40 stores CKA_EC_POINT */
	if (len == hdr + n && p[0] == 0x04 &&
	    (hdr == 2 ? p[1] == n : (p[1] == 0x81 && p[2] == n)) && p[hdr] == 0x04) {
		*pt = p + hdr;
		return 1;
	}
	if (len == n && p[0] == 0x04) {
		*pt = p;
		return 1;
	}
	return 0;
}

CK_RV kmat_ec_pub(const struct kcurve *c, const uint8_t *pt, size_t len, EVP_PKEY **out)
{
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL;
	CK_RV rv;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)c->name, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, len);
	params[2] = OSSL_PARAM_construct_end();
	if ((rv = fromdata("EC", EVP_PKEY_PUBLIC_KEY, params, out)) != CKR_OK)
		return rv;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL)) == NULL ||
	    EVP_PKEY_public_check(ctx) != 1) {
		EVP_PKEY_free(*out);
		*out = NULL;
		rv = kfail(CKR_ATTRIBUTE_VALUE_INVALID, "not a point of %s", c->name);
	}
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return rv;
}

/* CKA_EC_POINT as PKCS#11 2.40 stores it: the uncompressed point pt in a
 * DER OCTET STRING (pt may not point into the attribute it replaces). */
static CK_RV put_ec_point_der(struct hsm_obj *o, const struct kcurve *c, const uint8_t *pt)
{
	size_t n = 1 + 2 * c->field_len, hdr = n < 128 ? 2 : 3;
	uint8_t *der;

	if ((der = OPENSSL_malloc(hdr + n)) == NULL)
		return kfail(CKR_HOST_MEMORY, "out of memory");
	der[0] = 0x04;
	if (hdr == 2) {
		der[1] = (uint8_t)n;
	} else {
		der[1] = 0x81;
		der[2] = (uint8_t)n;
	}
	memcpy(der + hdr, pt, n);
	return kobj_put_owned(o, CKA_EC_POINT, der, hdr + n);
}

static CK_RV ec_pub_finish(struct hsm_obj *o, const struct kcurve *c)
{
	const struct hsm_attr *a = hsm_obj_attr(o, CKA_EC_POINT);
	const uint8_t *pt;
	size_t n = 1 + 2 * c->field_len, hdr = n < 128 ? 2 : 3;
	CK_RV rv;

	if (!a || !kmat_ec_point(c, a->val, a->len, &pt))
		return kfail(CKR_ATTRIBUTE_VALUE_INVALID,
			     "CKA_EC_POINT: not an uncompressed point of %s, raw or as a DER "
			     "OCTET STRING",
			     c->name);
	if ((rv = kmat_ec_pub(c, pt, n, &o->pkey)) != CKR_OK)
		return rv;
	if (pt != a->val) /* stored as given: already DER */
		return put_ec_spki(o, c, pt);
	if ((rv = put_ec_point_der(o, c, pt)) != CKR_OK)
		return rv;
	return put_ec_spki(o, c, hsm_obj_attr(o, CKA_EC_POINT)->val + hdr);
}

static CK_RV ec_priv_finish(struct hsm_obj *o, const struct kcurve *c)
{
	EC_GROUP *group = EC_GROUP_new_by_curve_name(c->nid);
	EC_POINT *pub = NULL;
	BIGNUM *d = bn_of(o, CKA_VALUE);
	BN_CTX *bnctx = BN_CTX_new();
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	uint8_t pt[1 + 2 * 66];
	size_t ptlen = 1 + 2 * c->field_len;
	CK_RV rv = CKR_HOST_MEMORY;

	if (!group || !d || !bnctx)
		goto out;
	if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(group)) >= 0) {
		rv = kfail(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_VALUE: not a private key of %s", c->name);
		goto out;
	}
	if ((pub = EC_POINT_new(group)) == NULL ||
	    EC_POINT_mul(group, pub, d, NULL, NULL, bnctx) != 1 ||
	    EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, pt, sizeof(pt), bnctx) !=
		    ptlen) {
		rv = kfail(CKR_GENERAL_ERROR, "no public key for the EC private key");
		goto out;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->name, 0) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, ptlen) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((rv = fromdata("EC", EVP_PKEY_KEYPAIR, params, &o->pkey)) != CKR_OK)
		goto out;
	rv = put_ec_spki(o, c, pt);
out:
	OSSL_PARAM_free(params); /* secrets came from secure BNs: cleansed */
	OSSL_PARAM_BLD_free(bld);
	EC_POINT_free(pub);
	EC_GROUP_free(group);
	BN_clear_free(d);
	BN_CTX_free(bnctx);
	return rv;
}

/* The curve's parameters as a key-generation template, made once per curve
 * and shared (read-only): a generation from a template copies its group,
 * where naming the curve built the group anew (its Montgomery constants
 * with a modular inversion) at every C_GenerateKeyPair. */
static _Atomic(EVP_PKEY *) ec_groups[sizeof(curves) / sizeof(curves[0])];

EVP_PKEY *kmat_ec_group(const struct kcurve *c)
{
	_Atomic(EVP_PKEY *) *slot = &ec_groups[c - curves];
	EVP_PKEY *g, *none = NULL;
	OSSL_PARAM params[2];

	if ((g = atomic_load(slot)) != NULL)
		return g;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)c->name, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (fromdata("EC", EVP_PKEY_KEY_PARAMETERS, params, &g) != CKR_OK)
		return NULL;
	if (!atomic_compare_exchange_strong(slot, &none, g)) { /* another thread's is kept */
		EVP_PKEY_free(g);
		g = none;
	}
	return g;
}

/* --- secret keys, certificates ------------------------------------------- */

/* Fetched once per mode and key size, then shared (a reference each
 * caller frees): the provider look-up and the name's snprintf were a
 * third of hsm-sim's own time on a 4 KiB AES-GCM encryption. */
static const char *const aes_modes[] = {"ECB", "CBC", "CTR", "GCM"};
static _Atomic(EVP_CIPHER *) aes_fetched[sizeof(aes_modes) / sizeof(aes_modes[0])][3];

EVP_CIPHER *kaes_fetch(const char *mode, size_t keylen)
{
	_Atomic(EVP_CIPHER *) *slot = NULL;
	EVP_CIPHER *c, *none = NULL;
	char name[32];

	if (keylen != 16 && keylen != 24 && keylen != 32)
		return NULL;
	for (size_t i = 0; i < sizeof(aes_modes) / sizeof(aes_modes[0]); i++)
		if (!strcmp(mode, aes_modes[i]))
			slot = &aes_fetched[i][keylen / 8 - 2];
	if (slot && (c = atomic_load(slot)) != NULL)
		return EVP_CIPHER_up_ref(c) == 1 ? c : NULL;
	snprintf(name, sizeof(name), "AES-%zu-%s", keylen * 8, mode);
	if ((c = EVP_CIPHER_fetch(NULL, name, NULL)) == NULL || !slot)
		return c;
	/* the table keeps a reference of its own; a thread that lost the
	 * race keeps just the caller's */
	if (EVP_CIPHER_up_ref(c) == 1 && !atomic_compare_exchange_strong(slot, &none, c))
		EVP_CIPHER_free(c);
	return c;
}

/* The AES key check value: the first 3 bytes of a zero block encrypted. */
static CK_RV aes_kcv(const struct hsm_attr *v, uint8_t **out)
{
	static const uint8_t zero[16];
	uint8_t block[32];
	EVP_CIPHER *c = kaes_fetch("ECB", v->len);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0;
	CK_RV rv = kfail(CKR_GENERAL_ERROR, "AES failed");

	*out = NULL;
	if (c && ctx && EVP_EncryptInit_ex2(ctx, c, v->val, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_EncryptUpdate(ctx, block, &n, zero, sizeof(zero)) == 1 && n == 16) {
		if ((*out = OPENSSL_memdup(block, 3)) != NULL)
			rv = CKR_OK;
		else
			rv = kfail(CKR_HOST_MEMORY, "out of memory");
	}
	OPENSSL_cleanse(block, sizeof(block));
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(c);
	return rv;
}

static CK_RV secret_finish(struct hsm_obj *o)
{
	const struct hsm_attr *v = hsm_obj_attr(o, CKA_VALUE);
	uint8_t *kcv;
	CK_RV rv;

	if (!v)
		return kfail(CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE is required");
	if (o->kind == HSM_K_AES && v->len != 16 && v->len != 24 && v->len != 32)
		return kfail(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_VALUE: an AES key is 16, 24 or 32 "
			     "bytes, not %lu", v->len);
	if ((rv = put_computed_ulong(o, CKA_VALUE_LEN, v->len)) != CKR_OK)
		return rv;
	if (o->kind != HSM_K_AES)
		return CKR_OK;
	v = hsm_obj_attr(o, CKA_VALUE); /* the put may have moved the array */
	if ((rv = aes_kcv(v, &kcv)) != CKR_OK)
		return rv;
	return put_computed(o, CKA_CHECK_VALUE, kcv, 3);
}

static CK_RV cert_finish(const struct hsm_obj *o)
{
	const struct hsm_attr *v = hsm_obj_attr(o, CKA_VALUE);
	const unsigned char *p;
	X509 *x;
	int whole;

	if (!v)
		return kfail(CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE is required");
	p = v->val;
	x = d2i_X509(NULL, &p, (long)v->len);
	whole = x && p == v->val + v->len;
	X509_free(x);
	ERR_clear_error();
	if (!whole)
		return kfail(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_VALUE: not a DER X.509 certificate");
	return CKR_OK;
}

/* The key's public point, uncompressed, whatever form it was made with. */
static CK_RV pkey_point(EVP_PKEY *pkey, const struct kcurve *c, uint8_t pt[1 + 2 * 66], size_t *len)
{
	if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, 1 + 2 * 66,
					    len) != 1 ||
	    *len == 0) {
		ERR_clear_error();
		return kfail(CKR_GENERAL_ERROR, "the key has no public point");
	}
	if (pt[0] != 0x04) {
		EC_GROUP *g = EC_GROUP_new_by_curve_name(c->nid);
		EC_POINT *p = g ? EC_POINT_new(g) : NULL;
		int ok = p && EC_POINT_oct2point(g, p, pt, *len, NULL) == 1 &&
			 (*len = EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, pt,
						    1 + 2 * 66, NULL)) == 1 + 2 * c->field_len;
		EC_POINT_free(p);
		EC_GROUP_free(g);
		if (!ok)
			return kfail(CKR_GENERAL_ERROR, "the key's point does not decompress");
	}
	if (*len != 1 + 2 * c->field_len)
		return kfail(CKR_GENERAL_ERROR, "the key's point is not one of %s", c->name);
	return CKR_OK;
}

/* A key this HSM has just generated (kmat_put_pkey kept OpenSSL's key on
 * the object): its attributes came from that key, so it is not rebuilt from
 * them and checked again; rebuilding both halves of a P-256 pair (two EC
 * groups made, d x G, a public-key check) was most of hsm-sim's time in a
 * C_GenerateKeyPair (make bench, issue #33). Only what follows from the key
 * is computed, and an EC pair's point is read from OpenSSL's key once
 * (put_ec_pkey, into the public half's CKA_EC_POINT): each read makes the
 * point affine, a field inversion, 2.7 us on P-256, three a pair before. */
static CK_RV generated_finish(struct hsm_obj *o, const struct hsm_obj *pair)
{
	const struct kcurve *c;
	/* the pair's point: in the public half's CKA_EC_POINT (DER, put there
	 * by put_ec_pkey); a private half with no pair reads it from its key */
	const struct hsm_obj *holder = o->kind == HSM_K_EC_PUB ? o : pair;
	const struct hsm_attr *a = holder ? hsm_obj_attr(holder, CKA_EC_POINT) : NULL;
	const uint8_t *p;
	uint8_t pt[1 + 2 * 66];
	size_t len;
	CK_RV rv;

	switch (o->kind) {
	case HSM_K_RSA_PRIV: return put_spki(o);
	case HSM_K_EC_PUB:
	case HSM_K_EC_PRIV:
		if ((c = kcurve_of(o)) == NULL)
			return kfail(CKR_TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS is required");
		len = 1 + 2 * c->field_len;
		if (a && kmat_ec_point(c, a->val, a->len, &p))
			memcpy(pt, p, len);
		else if (o->kind == HSM_K_EC_PUB)
			return kfail(CKR_GENERAL_ERROR, "the generated public key has no CKA_EC_POINT");
		else if ((rv = pkey_point(o->pkey, c, pt, &len)) != CKR_OK)
			return rv;
		if (o->kind == HSM_K_EC_PUB) {
			/* the public half holds no private key: it may outlive the
			 * private object (a kept verification context, another
			 * session's operation), and the private key must not */
			EVP_PKEY *group = kmat_ec_group(c), *pub = group ? EVP_PKEY_dup(group) : NULL;
			/* the curve's template copied (its group copied, not built
			 * from the name) and the point set: no private part */
			if (!pub || EVP_PKEY_set1_encoded_public_key(pub, pt, len) != 1) {
				EVP_PKEY_free(pub);
				ERR_clear_error();
				return kfail(CKR_GENERAL_ERROR, "no public key for the generated pair");
			}
			EVP_PKEY_free(o->pkey);
			o->pkey = pub;
		}
		return put_ec_spki(o, c, pt);
	default: break;
	}
	return kfail(CKR_GENERAL_ERROR, "a generated object of no key kind");
}

CK_RV kmat_finish(struct hsm_obj *o, const struct kfinish *f)
{
	const struct kcurve *c;

	/* an RSA public half is rebuilt from n and e (cheap beside the
	 * generation): it must not hold the private key either */
	if (f->origin == KO_GENERATE && o->pkey && o->kind != HSM_K_RSA_PUB)
		return generated_finish(o, f->pair);
	EVP_PKEY_free(o->pkey);
	o->pkey = NULL;
	switch (o->kind) {
	case HSM_K_DATA: return CKR_OK;
	case HSM_K_CERT: return cert_finish(o);
	case HSM_K_RSA_PUB:
	case HSM_K_RSA_PRIV: return rsa_finish(o);
	case HSM_K_EC_PUB:
	case HSM_K_EC_PRIV:
		if ((c = kcurve_of(o)) == NULL)
			return kfail(CKR_TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS is required");
		return o->kind == HSM_K_EC_PUB ? ec_pub_finish(o, c) : ec_priv_finish(o, c);
	case HSM_K_AES:
	case HSM_K_GENERIC: return secret_finish(o);
	}
	return kfail(CKR_GENERAL_ERROR, "an object of no kind");
}

/* --- from and to OpenSSL keys ---------------------------------------------- */

static CK_RV put_param_bn(struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, EVP_PKEY *pkey,
			  const char *name, int optional)
{
	BIGNUM *bn = NULL;
	CK_RV rv;

	if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
		ERR_clear_error();
		return optional ? CKR_OK : kfail(CKR_GENERAL_ERROR, "the key has no %s", name);
	}
	rv = put_bn(o, type, bn);
	BN_clear_free(bn);
	return rv;
}

static CK_RV put_ec_pkey(struct hsm_obj *o, EVP_PKEY *pkey)
{
	char name[64];
	const struct kcurve *c;
	uint8_t pt[1 + 2 * 66];
	size_t len = 0;
	CK_RV rv;

	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name),
					   NULL) != 1 ||
	    (c = curve_by_name(name)) == NULL) {
		ERR_clear_error();
		return kfail(CKR_CURVE_NOT_SUPPORTED, "not a key on P-256, P-384 or P-521");
	}
	if ((rv = kobj_put(o, CKA_EC_PARAMS, c->oid, c->oid_len)) != CKR_OK)
		return rv;
	if (o->kind == HSM_K_EC_PRIV)
		return put_param_bn(o, CKA_VALUE, pkey, OSSL_PKEY_PARAM_PRIV_KEY, 0);
	if ((rv = pkey_point(pkey, c, pt, &len)) != CKR_OK)
		return rv;
	return put_ec_point_der(o, c, pt);
}

static CK_RV put_pkey_attrs(struct hsm_obj *o, EVP_PKEY *pkey)
{
	CK_RV rv;

	if (o->kind & (HSM_K_EC_PUB | HSM_K_EC_PRIV))
		return put_ec_pkey(o, pkey);
	if ((rv = put_param_bn(o, CKA_MODULUS, pkey, OSSL_PKEY_PARAM_RSA_N, 0)) != CKR_OK ||
	    (rv = put_param_bn(o, CKA_PUBLIC_EXPONENT, pkey, OSSL_PKEY_PARAM_RSA_E, 0)) != CKR_OK)
		return rv;
	if (o->kind != HSM_K_RSA_PRIV)
		return CKR_OK;
	if ((rv = put_param_bn(o, CKA_PRIVATE_EXPONENT, pkey, OSSL_PKEY_PARAM_RSA_D, 0)) != CKR_OK)
		return rv;
	for (int i = 0; i < 5; i++)
		if ((rv = put_param_bn(o, crt_attrs[i], pkey, crt_names[i], 1)) != CKR_OK)
			return rv;
	return CKR_OK;
}

CK_RV kmat_put_pkey(struct hsm_obj *o, EVP_PKEY *pkey)
{
	CK_RV rv = put_pkey_attrs(o, pkey);

	/* kept for kmat_finish: a generated key is used as made; any other
	 * origin rebuilds it from the attributes and checks it */
	if (rv == CKR_OK && EVP_PKEY_up_ref(pkey) == 1) {
		EVP_PKEY_free(o->pkey);
		o->pkey = pkey;
	}
	return rv;
}

CK_RV kmat_pkcs8(const struct hsm_obj *o, uint8_t **der, size_t *len)
{
	PKCS8_PRIV_KEY_INFO *p8 = o->pkey ? EVP_PKEY2PKCS8(o->pkey) : NULL;
	uint8_t *p;
	int n;
	CK_RV rv = CKR_OK;

	*der = NULL;
	*len = 0;
	if (!p8 || (n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL)) <= 0) {
		rv = kfail(CKR_GENERAL_ERROR, "no PKCS#8 encoding of the key");
		goto out;
	}
	if ((*der = p = OPENSSL_malloc((size_t)n)) == NULL) {
		rv = kfail(CKR_HOST_MEMORY, "out of memory");
		goto out;
	}
	if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != n) {
		OPENSSL_clear_free(*der, (size_t)n);
		*der = NULL;
		rv = kfail(CKR_GENERAL_ERROR, "no PKCS#8 encoding of the key");
		goto out;
	}
	*len = (size_t)n;
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	return rv;
}

CK_RV kmat_from_pkcs8(const uint8_t *der, size_t len, CK_KEY_TYPE kt, EVP_PKEY **out)
{
	const unsigned char *p = der;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
	CK_RV rv = CKR_OK;
	int id;

	*out = NULL;
	if (!p8 || p != der + len || (*out = EVP_PKCS82PKEY(p8)) == NULL) {
		rv = kfail(CKR_WRAPPED_KEY_INVALID, "the unwrapped key is not a PKCS#8 private key");
		goto out;
	}
	id = EVP_PKEY_get_base_id(*out);
	if ((kt == CKK_RSA && id != EVP_PKEY_RSA) || (kt == CKK_EC && id != EVP_PKEY_EC)) {
		EVP_PKEY_free(*out);
		*out = NULL;
		rv = kfail(CKR_TEMPLATE_INCONSISTENT, "the unwrapped key is not of CKA_KEY_TYPE");
	}
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	ERR_clear_error();
	return rv;
}
