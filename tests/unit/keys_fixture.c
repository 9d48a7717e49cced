#include "keys_fixture.h"

#include "unit.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

CK_BBOOL kf_yes = CK_TRUE, kf_no = CK_FALSE;

static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};

const uint8_t *kf_ec_params(const char *curve, size_t *len)
{
	if (strcmp(curve, "P-384") == 0) {
		*len = sizeof(p384);
		return p384;
	}
	if (strcmp(curve, "P-521") == 0) {
		*len = sizeof(p521);
		return p521;
	}
	*len = sizeof(p256);
	return p256;
}

struct hsm_obj *kf_secret(const struct hsm_key_env *env, CK_KEY_TYPE kt, const void *value, size_t len,
			  const CK_ATTRIBUTE *extra, CK_ULONG n)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[HSM_TEMPLATE_MAX];
	struct hsm_obj *o = NULL;
	CK_RV rv;

	t[0] = (CK_ATTRIBUTE)KF_U(CKA_CLASS, &cls);
	t[1] = (CK_ATTRIBUTE)KF_U(CKA_KEY_TYPE, &kt);
	t[2] = (CK_ATTRIBUTE)KF_D(CKA_VALUE, value, len);
	for (CK_ULONG i = 0; i < n && i + 3 < HSM_TEMPLATE_MAX; i++)
		t[3 + i] = extra[i];
	rv = hsm_obj_create(env, t, 3 + n, &o);
	if (rv != CKR_OK)
		fprintf(stderr, "kf_secret: %s: %s\n", hsm_ck_name(rv), hsm_ck_why());
	CU_ASSERT_EQUAL(rv, CKR_OK);
	return o;
}

struct hsm_obj *kf_data(const char *label, const void *value, size_t len, uint64_t ouid)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {KF_U(CKA_CLASS, &cls), KF_B(CKA_TOKEN, 1), KF_B(CKA_PRIVATE, 1),
			    KF_D(CKA_LABEL, label, strlen(label)), KF_D(CKA_VALUE, value, len)};
	struct hsm_obj *o = NULL;
	CK_RV rv = hsm_obj_create(NULL, t, KF_N(t), &o);

	if (rv != CKR_OK)
		fprintf(stderr, "kf_data: %s: %s\n", hsm_ck_name(rv), hsm_ck_why());
	CU_ASSERT_EQUAL(rv, CKR_OK);
	if (o && ouid)
		o->ouid = ouid;
	return o;
}

int kf_same_attrs(const struct hsm_obj *a, const struct hsm_obj *b)
{
	if (!a || !b || a->nattrs != b->nattrs)
		return 0;
	for (size_t i = 0; i < a->nattrs; i++)
		if (a->attrs[i].type != b->attrs[i].type || a->attrs[i].len != b->attrs[i].len ||
		    (a->attrs[i].len && memcmp(a->attrs[i].val, b->attrs[i].val, a->attrs[i].len)))
			return 0;
	return 1;
}

static size_t bn(EVP_PKEY *k, const char *name, uint8_t *buf)
{
	BIGNUM *b = NULL;
	size_t n = 0;

	if (EVP_PKEY_get_bn_param(k, name, &b) == 1)
		n = (size_t)BN_bn2bin(b, buf);
	BN_clear_free(b);
	return n;
}

struct hsm_obj *kf_import(const struct hsm_key_env *env, EVP_PKEY *k, int priv, const CK_ATTRIBUTE *extra,
			  CK_ULONG n)
{
	static const char *const rsa_names[] = {
		OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,         OSSL_PKEY_PARAM_RSA_D,
		OSSL_PKEY_PARAM_RSA_FACTOR1,   OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
	static const CK_ATTRIBUTE_TYPE rsa_types[] = {CKA_MODULUS,    CKA_PUBLIC_EXPONENT,
						      CKA_PRIVATE_EXPONENT, CKA_PRIME_1,
						      CKA_PRIME_2,    CKA_EXPONENT_1,
						      CKA_EXPONENT_2, CKA_COEFFICIENT};
	CK_OBJECT_CLASS cls = priv ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA ? CKK_RSA : CKK_EC;
	uint8_t v[8][512], pt[140];
	size_t m = 2, ptl = 0, plen;
	CK_ATTRIBUTE t[HSM_TEMPLATE_MAX] = {KF_U(CKA_CLASS, &cls), KF_U(CKA_KEY_TYPE, &kt)};
	struct hsm_obj *o = NULL;
	char group[32] = "";
	CK_RV rv;

	if (kt == CKK_RSA) {
		for (size_t i = 0; i < (priv ? 8u : 2u); i++) {
			size_t l = bn(k, rsa_names[i], v[i]);
			t[m++] = (CK_ATTRIBUTE)KF_D(rsa_types[i], v[i], l);
		}
	} else {
		EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL);
		t[m++] = (CK_ATTRIBUTE)KF_D(CKA_EC_PARAMS,
					    kf_ec_params(strcmp(group, "secp521r1") == 0   ? "P-521"
							 : strcmp(group, "secp384r1") == 0 ? "P-384"
											   : "P-256",
							 &plen),
					    plen);
		if (priv) {
			t[m++] = (CK_ATTRIBUTE)KF_D(CKA_VALUE, v[0], bn(k, OSSL_PKEY_PARAM_PRIV_KEY, v[0]));
		} else {
			EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &ptl);
			t[m++] = (CK_ATTRIBUTE)KF_D(CKA_EC_POINT, pt, ptl);
		}
	}
	for (CK_ULONG i = 0; i < n && m < HSM_TEMPLATE_MAX; i++)
		t[m++] = extra[i];
	rv = hsm_obj_create(env, t, m, &o);
	if (rv != CKR_OK)
		fprintf(stderr, "kf_import: %s: %s\n", hsm_ck_name(rv), hsm_ck_why());
	CU_ASSERT_EQUAL(rv, CKR_OK);
	OPENSSL_cleanse(v, sizeof(v));
	return o;
}

static void pair(const struct hsm_key_env *env, CK_MECHANISM_TYPE mech, const CK_ATTRIBUTE *first,
		 const CK_ATTRIBUTE *pubx, CK_ULONG npub, const CK_ATTRIBUTE *privx, CK_ULONG npriv,
		 struct hsm_obj **pub, struct hsm_obj **priv)
{
	CK_MECHANISM m = {mech, NULL, 0};
	CK_ATTRIBUTE t[HSM_TEMPLATE_MAX];
	CK_RV rv;

	t[0] = *first;
	for (CK_ULONG i = 0; i < npub && i + 1 < HSM_TEMPLATE_MAX; i++)
		t[1 + i] = pubx[i];
	rv = hsm_generate_key_pair(env, &m, t, npub + 1, privx, npriv, pub, priv);
	if (rv != CKR_OK)
		fprintf(stderr, "kf pair: %s: %s\n", hsm_ck_name(rv), hsm_ck_why());
	CU_ASSERT_EQUAL_FATAL(rv, CKR_OK);
}

void kf_rsa_pair(const struct hsm_key_env *env, CK_ULONG bits, const CK_ATTRIBUTE *pubx, CK_ULONG npub,
		 const CK_ATTRIBUTE *privx, CK_ULONG npriv, struct hsm_obj **pub, struct hsm_obj **priv)
{
	CK_ATTRIBUTE b = KF_U(CKA_MODULUS_BITS, &bits);
	pair(env, CKM_RSA_PKCS_KEY_PAIR_GEN, &b, pubx, npub, privx, npriv, pub, priv);
}

void kf_ec_pair(const struct hsm_key_env *env, const char *curve, const CK_ATTRIBUTE *pubx,
		CK_ULONG npub, const CK_ATTRIBUTE *privx, CK_ULONG npriv, struct hsm_obj **pub,
		struct hsm_obj **priv)
{
	size_t len;
	const uint8_t *p = kf_ec_params(curve, &len);
	CK_ATTRIBUTE c = KF_D(CKA_EC_PARAMS, p, len);
	pair(env, CKM_EC_KEY_PAIR_GEN, &c, pubx, npub, privx, npriv, pub, priv);
}

EVP_PKEY *kf_spki(const struct hsm_obj *o)
{
	const struct hsm_attr *a = hsm_obj_attr(o, CKA_PUBLIC_KEY_INFO);
	const unsigned char *p;

	if (!a)
		return NULL;
	p = a->val;
	return d2i_PUBKEY(NULL, &p, (long)a->len);
}

CK_RV kf_sign(const struct hsm_key_env *env, CK_MECHANISM *m, const struct hsm_obj *key,
	      const void *data, size_t len, uint8_t *sig, CK_ULONG *siglen)
{
	return kf_crypt(env, CKF_SIGN, m, key, data, len, sig, siglen);
}

CK_RV kf_verify(const struct hsm_key_env *env, CK_MECHANISM *m, const struct hsm_obj *key,
		const void *data, size_t len, const uint8_t *sig, CK_ULONG siglen)
{
	struct hsm_op *op = NULL;
	CK_RV rv = hsm_op_init(env, CKF_VERIFY, m, key, &op);

	if (rv == CKR_OK)
		rv = hsm_op_verify(op, data, len, sig, siglen);
	hsm_op_free(op);
	return rv;
}

CK_RV kf_crypt(const struct hsm_key_env *env, CK_FLAGS fn, CK_MECHANISM *m,
	       const struct hsm_obj *key, const void *in, size_t len, uint8_t *out,
	       CK_ULONG *outlen)
{
	struct hsm_op *op = NULL;
	CK_RV rv = hsm_op_init(env, fn, m, key, &op);

	if (rv == CKR_OK)
		rv = hsm_op_oneshot(op, in, len, out, outlen);
	hsm_op_free(op);
	return rv;
}

const char *kf_path(const char *name)
{
	static char path[1024];
	snprintf(path, sizeof(path), "%s/%s", unit_tmpdir(), name);
	return path;
}

int kf_write(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(kf_path(name), "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

int kf_read(const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(kf_path(name), "rb");

	if (!f)
		return -1;
	*len = fread(buf, 1, cap, f);
	fclose(f);
	return 0;
}

int kf_sh(const char *fmt, ...)
{
	char cmd[4096], full[4600];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && { %s; } >>keys-sh.log 2>&1", unit_tmpdir(), cmd);
	st = system(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
