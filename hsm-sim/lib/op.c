/* Operations: encrypt, decrypt, sign, verify, digest, single- and
 * multi-part, with OpenSSL 3 EVP. The output length of every call is known
 * before any input is consumed (hsm/mech.h), so PKCS#11's two-call
 * convention never loses data: block modes count what OpenSSL holds, a
 * CBC-PAD decryption keeps its last block here and strips the padding
 * itself, an AES-GCM decryption keeps its input until the tag is checked. */
#include "keys_int.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <string.h>

enum aesmode { AM_ECB, AM_CBC, AM_CBC_PAD, AM_CTR, AM_GCM };

struct hsm_op {
	const struct kmech *m;
	CK_FLAGS fn;
	int active, started, multipart;
	int confirm; /* policy 29 off: RSA signatures verified before they leave */
	int pub;     /* the key is a public key object's */
	/* the key, copied at init */
	EVP_PKEY *pkey;
	uint8_t key[HSM_GENERIC_MAX];
	size_t keylen;
	size_t modlen;   /* RSA: k, the modulus in bytes */
	size_t fieldlen; /* EC: bytes of a scalar */
	size_t outsize;  /* signature, MAC or digest bytes */
	/* the parameter, copied at init */
	const EVP_MD *md, *mgf1;
	int saltlen;
	uint8_t *label;
	size_t label_len;
	enum aesmode mode;
	uint8_t iv[16];
	unsigned ctr_bits;
	uint8_t *gcm_iv, *aad;
	size_t gcm_iv_len, aad_len, taglen;
	/* multi-part state */
	EVP_MD_CTX *mdctx, *cfctx;
	EVP_MAC_CTX *mac;
	EVP_CIPHER_CTX *cctx;
	uint64_t in_total, out_total;
	uint8_t tail[16]; /* CBC-PAD decryption: the last block, held back */
	size_t tail_len;
	uint8_t *buf; /* AES-GCM decryption: the input until the tag is checked */
	size_t buf_len;
};

static int encrypting(const struct hsm_op *op)
{
	return op->fn == CKF_ENCRYPT;
}

static int single_part(const struct hsm_op *op)
{
	switch (op->m->family) {
	case KM_RSA_RAW:
	case KM_RSA_OAEP:
	case KM_RSA_PSS:
	case KM_ECDSA: return 1;
	default: return 0;
	}
}

/* Back to no state: the contexts go, the counts restart. */
static void reset_stream(struct hsm_op *op)
{
	EVP_MD_CTX_free(op->mdctx);
	EVP_MD_CTX_free(op->cfctx);
	EVP_MAC_CTX_free(op->mac);
	EVP_CIPHER_CTX_free(op->cctx);
	op->mdctx = op->cfctx = NULL;
	op->mac = NULL;
	op->cctx = NULL;
	op->in_total = op->out_total = 0;
	OPENSSL_cleanse(op->tail, sizeof(op->tail));
	op->tail_len = 0;
	OPENSSL_clear_free(op->buf, op->buf_len);
	op->buf = NULL;
	op->buf_len = 0;
	op->started = 0;
}

/* The operation is over: nothing of it stays but the shell to free, its
 * key wiped now rather than when the session gets round to freeing it. */
static CK_RV end(struct hsm_op *op, CK_RV rv)
{
	reset_stream(op);
	OPENSSL_cleanse(op->key, sizeof(op->key));
	op->keylen = 0;
	EVP_PKEY_free(op->pkey);
	op->pkey = NULL;
	op->active = 0;
	return rv;
}

void hsm_op_free(struct hsm_op *op)
{
	if (!op)
		return;
	reset_stream(op);
	EVP_PKEY_free(op->pkey);
	OPENSSL_free(op->label);
	OPENSSL_free(op->gcm_iv);
	OPENSSL_free(op->aad);
	OPENSSL_clear_free(op, sizeof(*op));
}

int hsm_op_active(const struct hsm_op *op)
{
	return op && op->active;
}

/* --- init ------------------------------------------------------------------ */

static CK_ATTRIBUTE_TYPE usage_of(CK_FLAGS fn)
{
	switch (fn) {
	case CKF_ENCRYPT: return CKA_ENCRYPT;
	case CKF_DECRYPT: return CKA_DECRYPT;
	case CKF_SIGN: return CKA_SIGN;
	case CKF_VERIFY: return CKA_VERIFY;
	case CKF_WRAP: return CKA_WRAP;
	case CKF_UNWRAP: return CKA_UNWRAP;
	case CKF_DERIVE: return CKA_DERIVE;
	}
	return CKA_VENDOR_DEFINED;
}

static CK_KEY_TYPE key_type_of(const struct kmech *m)
{
	switch (m->family) {
	case KM_RSA_RAW:
	case KM_RSA_OAEP:
	case KM_RSA_PSS:
	case KM_RSA_MD:
	case KM_RSA_PSS_MD: return CKK_RSA;
	case KM_ECDSA:
	case KM_ECDSA_MD:
	case KM_ECDH: return CKK_EC;
	case KM_HMAC: return CKK_GENERIC_SECRET;
	case KM_AES:
	case KM_KW: return CKK_AES;
	default: return CK_UNAVAILABLE_INFORMATION;
	}
}

CK_RV kkey_allows(const struct hsm_obj *key, CK_MECHANISM_TYPE type)
{
	const struct hsm_attr *a = hsm_obj_attr(key, CKA_ALLOWED_MECHANISMS);

	if (!a || a->len == 0)
		return CKR_OK;
	for (size_t i = 0; i < a->len / sizeof(CK_MECHANISM_TYPE); i++) {
		CK_MECHANISM_TYPE t;
		memcpy(&t, a->val + i * sizeof(t), sizeof(t));
		if (t == type)
			return CKR_OK;
	}
	return kfail(CKR_MECHANISM_INVALID, "%s: not in the key's CKA_ALLOWED_MECHANISMS",
		     hsm_mech_name(type));
}

CK_RV kkey_fits(const struct hsm_obj *key, const struct kmech *m, CK_FLAGS fn, CK_RV inconsistent)
{
	if (!key)
		return kfail(CKR_KEY_HANDLE_INVALID, "no key");
	if (!hsm_obj_bool(key, usage_of(fn)))
		return kfail(CKR_KEY_FUNCTION_NOT_PERMITTED, "the key's %s is false",
			     hsm_attr_name(usage_of(fn)));
	if (key->key_type != key_type_of(m))
		return kfail(inconsistent, "%s: not for this type of key", m->name);
	return kkey_allows(key, m->type);
}

static int no_param(const CK_MECHANISM *m)
{
	return m->ulParameterLen == 0;
}

#define PARAM(m, type) ((m)->ulParameterLen == sizeof(type) && (m)->pParameter ? (const type *)(m)->pParameter : NULL)

static CK_RV bad_param(const struct kmech *km, const char *why)
{
	return kfail(CKR_MECHANISM_PARAM_INVALID, "%s: %s", km->name, why);
}

static CK_RV pss_param(struct hsm_op *op, const CK_MECHANISM *m)
{
	const CK_RSA_PKCS_PSS_PARAMS *p = PARAM(m, CK_RSA_PKCS_PSS_PARAMS);
	int embits, emlen;

	if (!p)
		return bad_param(op->m, "not a CK_RSA_PKCS_PSS_PARAMS");
	if ((op->md = kmd_of_mech(p->hashAlg)) == NULL ||
	    (op->m->hash && p->hashAlg != op->m->hash))
		return bad_param(op->m, "hashAlg not SHA-1 or SHA-2, or not the mechanism's");
	if ((op->mgf1 = kmd_of_mgf(p->mgf)) == NULL)
		return bad_param(op->m, "mgf not MGF1 with SHA-1 or SHA-2");
	embits = EVP_PKEY_get_bits(op->pkey) - 1;
	emlen = (embits + 7) / 8;
	if (p->sLen > (CK_ULONG)(emlen - EVP_MD_get_size(op->md) - 2))
		return bad_param(op->m, "sLen too long for the key");
	op->saltlen = (int)p->sLen;
	return CKR_OK;
}

static CK_RV oaep_param(struct hsm_op *op, const CK_MECHANISM *m)
{
	const CK_RSA_PKCS_OAEP_PARAMS *p = PARAM(m, CK_RSA_PKCS_OAEP_PARAMS);

	if (!p)
		return bad_param(op->m, "not a CK_RSA_PKCS_OAEP_PARAMS");
	if ((op->md = kmd_of_mech(p->hashAlg)) == NULL || (op->mgf1 = kmd_of_mgf(p->mgf)) == NULL)
		return bad_param(op->m, "hashAlg or mgf not SHA-1 or SHA-2");
	if (p->ulSourceDataLen > 0) {
		if (p->source != CKZ_DATA_SPECIFIED || !p->pSourceData ||
		    p->ulSourceDataLen > HSM_OAEP_LABEL_MAX)
			return bad_param(op->m, "a label is CKZ_DATA_SPECIFIED, at most 1024 bytes");
		if ((op->label = OPENSSL_memdup(p->pSourceData, p->ulSourceDataLen)) == NULL)
			return kfail(CKR_HOST_MEMORY, "out of memory");
		op->label_len = p->ulSourceDataLen;
	} else if (p->source != 0 && p->source != CKZ_DATA_SPECIFIED) {
		return bad_param(op->m, "source not CKZ_DATA_SPECIFIED");
	}
	return CKR_OK;
}

static CK_RV aes_param(struct hsm_op *op, const CK_MECHANISM *m)
{
	const CK_AES_CTR_PARAMS *ctr;
	const CK_GCM_PARAMS *gcm;
	CK_ULONG t;

	switch (op->m->type) {
	case CKM_AES_ECB:
		op->mode = AM_ECB;
		return no_param(m) ? CKR_OK : bad_param(op->m, "takes no parameter");
	case CKM_AES_CBC:
	case CKM_AES_CBC_PAD:
		op->mode = op->m->type == CKM_AES_CBC ? AM_CBC : AM_CBC_PAD;
		if (m->ulParameterLen != 16 || !m->pParameter)
			return bad_param(op->m, "the parameter is a 16-byte IV");
		memcpy(op->iv, m->pParameter, 16);
		return CKR_OK;
	case CKM_AES_CTR:
		op->mode = AM_CTR;
		if ((ctr = PARAM(m, CK_AES_CTR_PARAMS)) == NULL || ctr->ulCounterBits < 1 ||
		    ctr->ulCounterBits > 128)
			return bad_param(op->m, "not a CK_AES_CTR_PARAMS with 1 to 128 counter bits");
		memcpy(op->iv, ctr->cb, 16);
		op->ctr_bits = (unsigned)ctr->ulCounterBits;
		return CKR_OK;
	case CKM_AES_GCM:
		op->mode = AM_GCM;
		if ((gcm = PARAM(m, CK_GCM_PARAMS)) == NULL)
			return bad_param(op->m, "not a CK_GCM_PARAMS");
		t = gcm->ulTagBits;
		if (gcm->ulIvLen < 1 || gcm->ulIvLen > HSM_GCM_IV_MAX || !gcm->pIv ||
		    gcm->ulAADLen > HSM_GCM_AAD_MAX || (gcm->ulAADLen && !gcm->pAAD) ||
		    !(t == 32 || t == 64 || (t >= 96 && t <= 128 && t % 8 == 0)))
			return bad_param(op->m, "IV 1 to 128 bytes, AAD up to 64 KiB, tag 32, 64 "
					 "or 96 to 128 bits");
		if ((op->gcm_iv = OPENSSL_memdup(gcm->pIv, gcm->ulIvLen)) == NULL ||
		    (gcm->ulAADLen && (op->aad = OPENSSL_memdup(gcm->pAAD, gcm->ulAADLen)) == NULL))
			return kfail(CKR_HOST_MEMORY, "out of memory");
		op->gcm_iv_len = gcm->ulIvLen;
		op->aad_len = gcm->ulAADLen;
		op->taglen = t / 8;
		return CKR_OK;
	}
	return bad_param(op->m, "not an AES mode");
}

/* The key material and the parameter: no usage or policy check (callers). */
CK_RV kop_prepare(const struct kmech *km, CK_FLAGS fn, const CK_MECHANISM *m,
		  const struct hsm_obj *key, struct hsm_op **out)
{
	struct hsm_op *op;
	const struct hsm_attr *v;
	CK_RV rv = CKR_OK;

	*out = NULL;
	if ((op = OPENSSL_zalloc(sizeof(*op))) == NULL)
		return kfail(CKR_HOST_MEMORY, "out of memory");
	op->m = km;
	op->fn = fn;
	op->active = 1;
	op->md = km->hash ? kmd_of_mech(km->hash) : NULL;
	if (key && key->pkey) {
		EVP_PKEY_up_ref(key->pkey);
		op->pkey = key->pkey;
		op->pub = (key->kind & HSM_K_PUB) != 0;
		if (key->key_type == CKK_RSA) {
			op->modlen = (size_t)EVP_PKEY_get_size(key->pkey);
		} else {
			const struct kcurve *c = kcurve_of(key);
			op->fieldlen = c ? c->field_len : 0;
		}
	} else if (key && (v = hsm_obj_attr(key, CKA_VALUE)) != NULL && v->len <= sizeof(op->key)) {
		memcpy(op->key, v->val, v->len);
		op->keylen = v->len;
	}
	switch (km->family) {
	case KM_RSA_PSS:
	case KM_RSA_PSS_MD: rv = pss_param(op, m); break;
	case KM_RSA_OAEP: rv = oaep_param(op, m); break;
	case KM_AES: rv = aes_param(op, m); break;
	default:
		if (!no_param(m))
			rv = bad_param(km, "takes no parameter");
	}
	switch (km->family) {
	case KM_RSA_RAW:
	case KM_RSA_PSS:
	case KM_RSA_MD:
	case KM_RSA_PSS_MD: op->outsize = op->modlen; break;
	case KM_ECDSA:
	case KM_ECDSA_MD: op->outsize = 2 * op->fieldlen; break;
	case KM_HMAC:
	case KM_DIGEST: op->outsize = (size_t)EVP_MD_get_size(op->md); break;
	default: break;
	}
	if (rv != CKR_OK) {
		hsm_op_free(op);
		return rv;
	}
	*out = op;
	return CKR_OK;
}

CK_RV hsm_op_init(const struct hsm_key_env *env, CK_FLAGS fn, const CK_MECHANISM *m,
		  const struct hsm_obj *key, struct hsm_op **out)
{
	const struct kmech *km;
	struct hsm_op *op = NULL;
	CK_RV rv;

	if (!out || !m)
		return kfail(CKR_ARGUMENTS_BAD, "no mechanism or no place for the operation");
	*out = NULL;
	if (fn != CKF_ENCRYPT && fn != CKF_DECRYPT && fn != CKF_SIGN && fn != CKF_VERIFY &&
	    fn != CKF_DIGEST)
		return kfail(CKR_ARGUMENTS_BAD, "not an operation's function");
	if ((km = kmech_find(m->mechanism)) == NULL || !(km->flags & fn))
		return kfail(CKR_MECHANISM_INVALID, "mechanism 0x%lx: not for this function",
			     m->mechanism);
	if ((rv = hsm_kp_mech(env, km->type, fn)) != CKR_OK)
		return rv;
	if (fn != CKF_DIGEST) {
		if ((rv = kkey_fits(key, km, fn, CKR_KEY_TYPE_INCONSISTENT)) != CKR_OK)
			return rv;
		if (fn == CKF_SIGN && (rv = hsm_kp_check(env, HSM_KP_DO_SIGN, key, 0)) != CKR_OK)
			return rv;
		if (fn == CKF_ENCRYPT && (rv = hsm_kp_check(env, HSM_KP_DO_ENCRYPT, key, 0)) != CKR_OK)
			return rv;
		if (km->family == KM_HMAC && (rv = hsm_kp_check(env, HSM_KP_DO_HMAC, key, 0)) != CKR_OK)
			return rv;
	} else {
		key = NULL;
	}
	if ((rv = kop_prepare(km, fn, m, key, &op)) != CKR_OK)
		return rv;
	op->confirm = fn == CKF_SIGN && key && key->key_type == CKK_RSA &&
		      !kenv(env)->pol.v[HSM_KP_RSA_SIGN_NO_CONFIRM];
	*out = op;
	return CKR_OK;
}

/* --- RSA and ECDSA on one part ------------------------------------------ */

static CK_RV rsa_params(struct hsm_op *op, EVP_PKEY_CTX *ctx)
{
	int pad;

	switch (op->m->family) {
	case KM_RSA_RAW:
		pad = op->m->type == CKM_RSA_X_509 ? RSA_NO_PADDING : RSA_PKCS1_PADDING;
		return EVP_PKEY_CTX_set_rsa_padding(ctx, pad) == 1 ? CKR_OK : CKR_GENERAL_ERROR;
	case KM_RSA_MD: return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 ? CKR_OK
											     : CKR_GENERAL_ERROR;
	case KM_RSA_PSS:
	case KM_RSA_PSS_MD:
		if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		    (op->m->family == KM_RSA_PSS && EVP_PKEY_CTX_set_signature_md(ctx, op->md) != 1) ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, op->mgf1) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, op->saltlen) != 1)
			return CKR_GENERAL_ERROR;
		return CKR_OK;
	case KM_RSA_OAEP: {
		uint8_t *label = NULL;
		if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, op->md) != 1 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, op->mgf1) != 1)
			return CKR_GENERAL_ERROR;
		if (op->label_len) {
			if ((label = OPENSSL_memdup(op->label, op->label_len)) == NULL)
				return CKR_HOST_MEMORY;
			if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, (int)op->label_len) != 1) {
				OPENSSL_free(label);
				return CKR_GENERAL_ERROR;
			}
		}
		return CKR_OK;
	}
	default: return CKR_OK;
	}
}

/* A new context for one EVP_PKEY operation (pkey_ctx). */
static CK_RV new_pkey_ctx(struct hsm_op *op, CK_FLAGS which, EVP_PKEY_CTX **out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, op->pkey, NULL);
	int ok = 0;
	CK_RV rv;

	*out = NULL;
	if (!ctx)
		return kfail(CKR_HOST_MEMORY, "out of memory");
	switch (which) {
	case CKF_SIGN: ok = EVP_PKEY_sign_init(ctx); break;
	case CKF_VERIFY:
		ok = op->m->type == CKM_RSA_X_509 ? EVP_PKEY_verify_recover_init(ctx)
						  : EVP_PKEY_verify_init(ctx);
		break;
	case CKF_ENCRYPT: ok = EVP_PKEY_encrypt_init(ctx); break;
	case CKF_DECRYPT: ok = EVP_PKEY_decrypt_init(ctx); break;
	}
	if (ok != 1 || (EVP_PKEY_get_base_id(op->pkey) == EVP_PKEY_RSA &&
			(rv = rsa_params(op, ctx)) != CKR_OK)) {
		EVP_PKEY_CTX_free(ctx);
		ERR_clear_error();
		return kfail(CKR_GENERAL_ERROR, "OpenSSL refuses the operation's setup");
	}
	*out = ctx;
	return CKR_OK;
}

/* A public-key operation's context, kept by the thread for its next
 * operation on the same key and parameters: making one fetched the
 * algorithm from the providers' store (under its lock) and set the padding
 * through parameters at every verification, a sixth of hsm-sim's CPU time
 * on an RSA-2048 verification (make bench, issue #33). Public keys only: a
 * kept context holds its key, and a private key must go when its object
 * does. The context holds a reference to its key, so the key's address
 * names it for as long as it is kept. */
struct kept_pctx {
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey;
	CK_FLAGS which;
	CK_MECHANISM_TYPE mech;
	const EVP_MD *md, *mgf1;
	int saltlen;
};

static pthread_key_t kept_key;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;
static int kept_ready;

static void kept_free(void *p)
{
	struct kept_pctx *k = p;

	EVP_PKEY_CTX_free(k->ctx);
	OPENSSL_free(k);
}

static void kept_init(void)
{
	kept_ready = pthread_key_create(&kept_key, kept_free) == 0;
}

void hsm_op_thread_end(void)
{
	struct kept_pctx *k;

	if (pthread_once(&kept_once, kept_init) != 0 || !kept_ready || (k = pthread_getspecific(kept_key)) == NULL)
		return;
	(void)pthread_setspecific(kept_key, NULL);
	kept_free(k);
}

/* The thread's slot for a kept context, if op's may be kept. */
static struct kept_pctx *kept_slot(const struct hsm_op *op)
{
	struct kept_pctx *k;

	if (!op->pub || op->label_len || pthread_once(&kept_once, kept_init) != 0 || !kept_ready)
		return NULL;
	if ((k = pthread_getspecific(kept_key)) == NULL) {
		if ((k = OPENSSL_zalloc(sizeof(*k))) == NULL || pthread_setspecific(kept_key, k) != 0) {
			OPENSSL_free(k);
			return NULL;
		}
	}
	return k;
}

static int kept_is(const struct kept_pctx *k, const struct hsm_op *op, CK_FLAGS which)
{
	return k->ctx && k->pkey == op->pkey && k->which == which && k->mech == op->m->type &&
	       k->md == op->md && k->mgf1 == op->mgf1 && k->saltlen == op->saltlen;
}

/* A context for one EVP_PKEY operation: which is CKF_SIGN, CKF_VERIFY,
 * CKF_ENCRYPT or CKF_DECRYPT (verify with recovery for raw RSA). *owned:
 * the caller frees it; else the thread keeps it (kept_pctx). */
static CK_RV pkey_ctx(struct hsm_op *op, CK_FLAGS which, EVP_PKEY_CTX **out, int *owned)
{
	struct kept_pctx *k = kept_slot(op);
	CK_RV rv;

	*owned = k == NULL;
	if (k && kept_is(k, op, which)) {
		*out = k->ctx;
		return CKR_OK;
	}
	if ((rv = new_pkey_ctx(op, which, out)) != CKR_OK || !k)
		return rv;
	EVP_PKEY_CTX_free(k->ctx);
	*k = (struct kept_pctx){*out, op->pkey, which, op->m->type, op->md, op->mgf1, op->saltlen};
	return CKR_OK;
}

static CK_RV ecdsa_raw(const uint8_t *der, size_t derlen, size_t fl, uint8_t *raw)
{
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	const BIGNUM *r, *ss;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (s) {
		ECDSA_SIG_get0(s, &r, &ss);
		if (BN_bn2binpad(r, raw, (int)fl) == (int)fl && BN_bn2binpad(ss, raw + fl, (int)fl) == (int)fl)
			rv = CKR_OK;
	}
	ECDSA_SIG_free(s);
	return rv == CKR_OK ? rv : kfail(rv, "ECDSA signature encoding");
}

/* DER of a raw r || s (OPENSSL_malloc'd). */
static CK_RV ecdsa_der(const uint8_t *raw, size_t fl, uint8_t **der, size_t *derlen)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)fl, NULL), *ss = BN_bin2bn(raw + fl, (int)fl, NULL);
	int n;

	*der = NULL;
	if (!s || !r || !ss || ECDSA_SIG_set0(s, r, ss) != 1) {
		ECDSA_SIG_free(s);
		BN_free(r);
		BN_free(ss);
		return kfail(CKR_HOST_MEMORY, "out of memory");
	}
	n = i2d_ECDSA_SIG(s, der);
	ECDSA_SIG_free(s);
	if (n <= 0)
		return kfail(CKR_HOST_MEMORY, "out of memory");
	*derlen = (size_t)n;
	return CKR_OK;
}

/* Input bounds of the one-part mechanisms. */
static CK_RV single_input(const struct hsm_op *op, size_t inlen)
{
	size_t k = op->modlen, max = 0;

	switch (op->m->family) {
	case KM_RSA_RAW:
		if (op->fn == CKF_DECRYPT)
			return inlen == k ? CKR_OK
					  : kfail(CKR_ENCRYPTED_DATA_LEN_RANGE, "%zu bytes: RSA takes %zu",
						  inlen, k);
		max = op->m->type == CKM_RSA_X_509 ? k : k - 11;
		break;
	case KM_RSA_OAEP:
		if (op->fn == CKF_DECRYPT)
			return inlen == k ? CKR_OK
					  : kfail(CKR_ENCRYPTED_DATA_LEN_RANGE, "%zu bytes: RSA takes %zu",
						  inlen, k);
		max = k - 2 * (size_t)EVP_MD_get_size(op->md) - 2;
		break;
	case KM_RSA_PSS:
		if (inlen != (size_t)EVP_MD_get_size(op->md))
			return kfail(CKR_DATA_LEN_RANGE, "%zu bytes: PSS signs a hash of %d", inlen,
				     EVP_MD_get_size(op->md));
		return CKR_OK;
	case KM_ECDSA:
		if (inlen < 1 || inlen > 64)
			return kfail(CKR_DATA_LEN_RANGE, "%zu bytes: ECDSA signs a hash of 1 to 64", inlen);
		return CKR_OK;
	default: return CKR_OK;
	}
	return inlen <= max ? CKR_OK
			    : kfail(CKR_DATA_LEN_RANGE, "%zu bytes: %s takes at most %zu", inlen,
				    op->m->name, max);
}

/* Raw RSA works on k bytes: the input, zeros in front. */
static const uint8_t *x509_pad(const struct hsm_op *op, const uint8_t *in, size_t *inlen, uint8_t *buf)
{
	if (op->m->type != CKM_RSA_X_509)
		return in;
	memset(buf, 0, op->modlen - *inlen);
	if (*inlen)
		memcpy(buf + op->modlen - *inlen, in, *inlen);
	*inlen = op->modlen;
	return buf;
}

static CK_RV single_verify(struct hsm_op *op, const uint8_t *data, size_t len, const uint8_t *sig,
			   size_t siglen)
{
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t pad[512], rec[512], *der = NULL;
	size_t derlen = 0, reclen = sizeof(rec);
	int ok = 0, owned = 1;
	CK_RV rv;

	if (siglen != op->outsize)
		return kfail(CKR_SIGNATURE_LEN_RANGE, "%zu bytes: the signature is %zu", siglen,
			     op->outsize);
	if ((rv = single_input(op, len)) != CKR_OK || (rv = pkey_ctx(op, CKF_VERIFY, &ctx, &owned)) != CKR_OK)
		return rv;
	if (op->m->type == CKM_RSA_X_509) {
		data = x509_pad(op, data, &len, pad);
		ok = EVP_PKEY_verify_recover(ctx, rec, &reclen, sig, siglen) == 1 && reclen == len &&
		     CRYPTO_memcmp(rec, data, len) == 0;
	} else if (op->m->family == KM_ECDSA) {
		if ((rv = ecdsa_der(sig, op->fieldlen, &der, &derlen)) == CKR_OK)
			ok = EVP_PKEY_verify(ctx, der, derlen, data, len) == 1;
	} else {
		ok = EVP_PKEY_verify(ctx, sig, siglen, data, len) == 1;
	}
	if (owned)
		EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	ERR_clear_error();
	if (rv != CKR_OK)
		return rv;
	return ok ? CKR_OK : kfail(CKR_SIGNATURE_INVALID, "the signature does not verify");
}

/* One part, out holding op->modlen or op->outsize bytes: *outlen set to
 * what was written. */
static CK_RV single(struct hsm_op *op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t pad[512], der[160];
	size_t n = op->modlen, dl = sizeof(der), dlen = inlen;
	const uint8_t *data;
	int owned = 1;
	CK_RV rv;

	if ((rv = single_input(op, inlen)) != CKR_OK || (rv = pkey_ctx(op, op->fn, &ctx, &owned)) != CKR_OK)
		return rv;
	data = x509_pad(op, in, &dlen, pad);
	switch (op->fn) {
	case CKF_SIGN:
		if (op->m->family == KM_ECDSA) {
			if (EVP_PKEY_sign(ctx, der, &dl, data, dlen) != 1)
				rv = kfail(CKR_GENERAL_ERROR, "ECDSA failed");
			else if ((rv = ecdsa_raw(der, dl, op->fieldlen, out)) == CKR_OK)
				n = op->outsize;
		} else if (EVP_PKEY_sign(ctx, out, &n, data, dlen) != 1) {
			rv = kfail(op->m->type == CKM_RSA_X_509 ? CKR_DATA_INVALID : CKR_GENERAL_ERROR,
				   "%s: OpenSSL refuses to sign", op->m->name);
		} else if (op->confirm && single_verify(op, in, inlen, out, n) != CKR_OK) {
			OPENSSL_cleanse(out, n);
			rv = kfail(CKR_DEVICE_ERROR, "the signature made does not verify (policy 29)");
		}
		break;
	case CKF_ENCRYPT:
		if (EVP_PKEY_encrypt(ctx, out, &n, data, dlen) != 1)
			rv = kfail(op->m->type == CKM_RSA_X_509 ? CKR_DATA_INVALID : CKR_GENERAL_ERROR,
				   "%s: OpenSSL refuses to encrypt", op->m->name);
		break;
	case CKF_DECRYPT:
		if (EVP_PKEY_decrypt(ctx, out, &n, data, dlen) != 1)
			rv = kfail(CKR_ENCRYPTED_DATA_INVALID, "the ciphertext does not decrypt");
		break;
	}
	OPENSSL_cleanse(pad, sizeof(pad));
	if (owned)
		EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	if (rv == CKR_OK)
		*outlen = n;
	return rv;
}

/* --- streams -------------------------------------------------------------- */

static const char *mode_name(enum aesmode m)
{
	switch (m) {
	case AM_ECB: return "ECB";
	case AM_CBC:
	case AM_CBC_PAD: return "CBC";
	case AM_CTR: return "CTR";
	case AM_GCM: return "GCM";
	}
	return "";
}

static CK_RV start_aes(struct hsm_op *op)
{
	EVP_CIPHER *c = kaes_fetch(mode_name(op->mode), op->keylen);
	int enc = encrypting(op), n = 0, ok;
	OSSL_PARAM params[2] = {OSSL_PARAM_END, OSSL_PARAM_END};
	size_t ivlen = op->gcm_iv_len;

	if (op->mode == AM_GCM)
		params[0] = OSSL_PARAM_construct_size_t(OSSL_CIPHER_PARAM_AEAD_IVLEN, &ivlen);
	ok = c && (op->cctx = EVP_CIPHER_CTX_new()) != NULL &&
	     EVP_CipherInit_ex2(op->cctx, c, NULL, NULL, enc, params) == 1 &&
	     EVP_CipherInit_ex2(op->cctx, NULL, op->key,
				op->mode == AM_GCM ? op->gcm_iv : op->mode == AM_ECB ? NULL : op->iv,
				enc, NULL) == 1 &&
	     EVP_CIPHER_CTX_set_padding(op->cctx, op->mode == AM_CBC_PAD && enc) == 1 &&
	     (op->mode != AM_GCM || op->aad_len == 0 ||
	      EVP_CipherUpdate(op->cctx, NULL, &n, op->aad, (int)op->aad_len) == 1);
	EVP_CIPHER_free(c);
	ERR_clear_error();
	return ok ? CKR_OK : kfail(CKR_GENERAL_ERROR, "AES setup failed");
}

static CK_RV start_md(struct hsm_op *op)
{
	EVP_PKEY_CTX *pctx = NULL;
	const char *md = EVP_MD_get0_name(op->md);
	int sign = op->fn == CKF_SIGN;

	if ((op->mdctx = EVP_MD_CTX_new()) == NULL)
		return kfail(CKR_HOST_MEMORY, "out of memory");
	if ((sign ? EVP_DigestSignInit_ex(op->mdctx, &pctx, md, NULL, NULL, op->pkey, NULL)
		  : EVP_DigestVerifyInit_ex(op->mdctx, &pctx, md, NULL, NULL, op->pkey, NULL)) != 1 ||
	    (op->m->family != KM_ECDSA_MD && rsa_params(op, pctx) != CKR_OK))
		return kfail(CKR_GENERAL_ERROR, "%s setup failed", op->m->name);
	if (!op->confirm)
		return CKR_OK;
	if ((op->cfctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit_ex(op->cfctx, &pctx, md, NULL, NULL, op->pkey, NULL) != 1 ||
	    rsa_params(op, pctx) != CKR_OK)
		return kfail(CKR_GENERAL_ERROR, "%s setup failed", op->m->name);
	return CKR_OK;
}

static CK_RV start_mac(struct hsm_op *op)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	OSSL_PARAM params[2];
	int ok;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)EVP_MD_get0_name(op->md), 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = mac && (op->mac = EVP_MAC_CTX_new(mac)) != NULL &&
	     EVP_MAC_init(op->mac, op->key, op->keylen, params) == 1;
	EVP_MAC_free(mac);
	return ok ? CKR_OK : kfail(CKR_GENERAL_ERROR, "HMAC setup failed");
}

static CK_RV start(struct hsm_op *op)
{
	CK_RV rv = CKR_OK;

	if (op->started)
		return CKR_OK;
	switch (op->m->family) {
	case KM_AES: rv = start_aes(op); break;
	case KM_HMAC: rv = start_mac(op); break;
	case KM_RSA_MD:
	case KM_RSA_PSS_MD:
	case KM_ECDSA_MD: rv = start_md(op); break;
	case KM_DIGEST:
		if ((op->mdctx = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestInit_ex2(op->mdctx, op->md, NULL) != 1)
			rv = kfail(CKR_GENERAL_ERROR, "digest setup failed");
		break;
	default: rv = kfail(CKR_FUNCTION_NOT_SUPPORTED, "%s: one part only", op->m->name);
	}
	ERR_clear_error();
	op->started = rv == CKR_OK;
	return rv;
}

/* Blocks AES-CTR may still make before its counter bits wrap (PKCS#11
 * wraps within them, OpenSSL across all 128: we stop before). */
static uint64_t ctr_room(const struct hsm_op *op)
{
	unsigned bits = op->ctr_bits;
	uint64_t low = kbe64(op->iv + 8), high, mask;

	if (bits >= 128)
		return UINT64_MAX;
	if (bits < 64) {
		mask = (UINT64_C(1) << bits) - 1;
		return mask - (low & mask) + 1;
	}
	high = kbe64(op->iv);
	mask = bits == 64 ? 0 : (UINT64_C(1) << (bits - 64)) - 1;
	if ((high & mask) != mask || low == 0)
		return UINT64_MAX;
	return UINT64_MAX - low + 1;
}

/* The exact output of an update of inlen bytes, or the error it will be. */
static CK_RV update_len(const struct hsm_op *op, size_t inlen, size_t *len)
{
	uint64_t total = op->in_total + inlen, done;

	*len = 0;
	if (op->fn != CKF_ENCRYPT && op->fn != CKF_DECRYPT)
		return CKR_OK;
	switch (op->mode) {
	case AM_ECB:
	case AM_CBC:
		*len = (size_t)(total / 16 * 16 - op->out_total);
		return CKR_OK;
	case AM_CBC_PAD:
		done = total / 16 * 16;
		if (!encrypting(op) && total % 16 == 0 && done > 0)
			done -= 16; /* the last block may be the padding */
		*len = (size_t)(done - op->out_total);
		return CKR_OK;
	case AM_CTR:
		if ((total + 15) / 16 > ctr_room(op))
			return kfail(CKR_DATA_LEN_RANGE, "AES-CTR: the counter's %u bits would wrap",
				     op->ctr_bits);
		*len = inlen;
		return CKR_OK;
	case AM_GCM:
		if (encrypting(op)) {
			*len = inlen;
		} else if (total > HSM_OP_BUFFER_MAX) {
			return kfail(CKR_ENCRYPTED_DATA_LEN_RANGE,
				     "AES-GCM decrypts at most %u bytes: it holds them until the tag",
				     HSM_OP_BUFFER_MAX);
		}
		return CKR_OK;
	}
	return CKR_OK;
}

static CK_RV cipher_update(struct hsm_op *op, const uint8_t *in, size_t inlen, uint8_t *out,
			   size_t *outlen)
{
	int n = 0;
	uint8_t *tmp = NULL;
	size_t cat;

	*outlen = 0;
	if (op->mode == AM_GCM && !encrypting(op)) {
		uint8_t *nb = OPENSSL_malloc(op->buf_len + inlen ? op->buf_len + inlen : 1);
		if (!nb)
			return kfail(CKR_HOST_MEMORY, "out of memory");
		if (op->buf_len)
			memcpy(nb, op->buf, op->buf_len);
		if (inlen)
			memcpy(nb + op->buf_len, in, inlen);
		OPENSSL_clear_free(op->buf, op->buf_len);
		op->buf = nb;
		op->buf_len += inlen;
		return CKR_OK;
	}
	if (inlen == 0)
		return CKR_OK;
	if (op->mode != AM_CBC_PAD || encrypting(op)) {
		if (EVP_CipherUpdate(op->cctx, out, &n, in, (int)inlen) != 1)
			return kfail(CKR_GENERAL_ERROR, "AES failed");
		*outlen = (size_t)n;
		return CKR_OK;
	}
	/* CBC-PAD decryption: OpenSSL without padding, the last block held here */
	if ((tmp = OPENSSL_malloc(inlen + 16)) == NULL)
		return kfail(CKR_HOST_MEMORY, "out of memory");
	if (EVP_CipherUpdate(op->cctx, tmp, &n, in, (int)inlen) != 1) {
		OPENSSL_clear_free(tmp, inlen + 16);
		return kfail(CKR_GENERAL_ERROR, "AES failed");
	}
	cat = op->tail_len + (size_t)n;
	size_t hold = (op->in_total + inlen) % 16 == 0 && cat >= 16 ? 16 : 0;
	size_t give = cat - hold, from_tail = give < op->tail_len ? give : op->tail_len;
	memcpy(out, op->tail, from_tail);
	memcpy(out + from_tail, tmp, give - from_tail);
	/* what stays: the rest of the tail, then the rest of tmp */
	uint8_t keep[16];
	size_t k = 0;
	for (size_t i = from_tail; i < op->tail_len; i++)
		keep[k++] = op->tail[i];
	for (size_t i = give - from_tail; i < (size_t)n; i++)
		keep[k++] = tmp[i];
	memcpy(op->tail, keep, k);
	op->tail_len = k;
	OPENSSL_cleanse(keep, sizeof(keep));
	OPENSSL_clear_free(tmp, inlen + 16);
	*outlen = give;
	return CKR_OK;
}

/* Feeds inlen bytes; out holds update_len's bytes. */
static CK_RV update_raw(struct hsm_op *op, const uint8_t *in, size_t inlen, uint8_t *out,
			size_t *outlen)
{
	int ok = 1;
	CK_RV rv;

	*outlen = 0;
	switch (op->m->family) {
	case KM_AES:
		if ((rv = cipher_update(op, in, inlen, out, outlen)) != CKR_OK)
			return rv;
		break;
	case KM_HMAC: ok = EVP_MAC_update(op->mac, in, inlen) == 1; break;
	case KM_DIGEST: ok = EVP_DigestUpdate(op->mdctx, in, inlen) == 1; break;
	default:
		ok = (op->fn == CKF_SIGN ? EVP_DigestSignUpdate(op->mdctx, in, inlen)
					 : EVP_DigestVerifyUpdate(op->mdctx, in, inlen)) == 1 &&
		     (!op->cfctx || EVP_DigestVerifyUpdate(op->cfctx, in, inlen) == 1);
	}
	if (!ok)
		return kfail(CKR_GENERAL_ERROR, "%s failed", op->m->name);
	op->in_total += inlen;
	op->out_total += *outlen;
	return CKR_OK;
}

/* CBC-PAD: the padding of the last block, checked in constant time. */
static CK_RV unpad(const struct hsm_op *op, size_t *len)
{
	unsigned p = op->tail[15], bad = (p - 1u) >> 8 | (16u - p) >> 8; /* p in 1..16 */

	for (unsigned i = 0; i < 16; i++) {
		unsigned in_pad = (15u - i - p) >> 8 & 1u; /* i >= 16 - p */
		bad |= in_pad & ((op->tail[i] ^ p) != 0);
	}
	if ((bad & 1u) != 0)
		return kfail(CKR_ENCRYPTED_DATA_INVALID, "the CBC padding is wrong");
	*len = 16 - p;
	return CKR_OK;
}

/* ECB and CBC without padding take whole blocks only. */
static CK_RV not_whole_blocks(const struct hsm_op *op)
{
	return kfail(encrypting(op) ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE,
		     "AES-%s: not a whole number of blocks", mode_name(op->mode));
}

/* The exact output of the final call, or the error it will be. */
static CK_RV final_len(const struct hsm_op *op, size_t *len)
{
	uint64_t pending = op->in_total - op->out_total;

	*len = op->outsize;
	if (op->m->family != KM_AES)
		return CKR_OK;
	*len = 0;
	switch (op->mode) {
	case AM_ECB:
	case AM_CBC:
		return pending ? not_whole_blocks(op) : CKR_OK;
	case AM_CBC_PAD:
		if (encrypting(op)) {
			*len = 16;
			return CKR_OK;
		}
		if (op->in_total == 0 || op->in_total % 16 || op->tail_len != 16)
			return kfail(CKR_ENCRYPTED_DATA_LEN_RANGE, "AES-CBC-PAD: not whole blocks");
		return unpad(op, len);
	case AM_CTR: return CKR_OK;
	case AM_GCM:
		if (encrypting(op)) {
			*len = op->taglen;
		} else {
			if (op->buf_len < op->taglen)
				return kfail(CKR_ENCRYPTED_DATA_LEN_RANGE, "shorter than the GCM tag");
			*len = op->buf_len - op->taglen;
		}
		return CKR_OK;
	}
	return CKR_OK;
}

static CK_RV sign_final(struct hsm_op *op, uint8_t *out, size_t *outlen)
{
	uint8_t der[160];
	size_t n = op->outsize, dl = sizeof(der);

	if (op->m->family == KM_HMAC)
		return EVP_MAC_final(op->mac, out, outlen, op->outsize) == 1
			       ? CKR_OK
			       : kfail(CKR_GENERAL_ERROR, "HMAC failed");
	if (op->m->family == KM_DIGEST) {
		unsigned int u = 0;
		if (EVP_DigestFinal_ex(op->mdctx, out, &u) != 1)
			return kfail(CKR_GENERAL_ERROR, "digest failed");
		*outlen = u;
		return CKR_OK;
	}
	if (op->m->family == KM_ECDSA_MD) {
		if (EVP_DigestSignFinal(op->mdctx, der, &dl) != 1)
			return kfail(CKR_GENERAL_ERROR, "ECDSA failed");
		*outlen = op->outsize;
		return ecdsa_raw(der, dl, op->fieldlen, out);
	}
	if (EVP_DigestSignFinal(op->mdctx, out, &n) != 1)
		return kfail(CKR_GENERAL_ERROR, "%s failed", op->m->name);
	if (op->cfctx && EVP_DigestVerifyFinal(op->cfctx, out, n) != 1) {
		OPENSSL_cleanse(out, n);
		return kfail(CKR_DEVICE_ERROR, "the signature made does not verify (policy 29)");
	}
	*outlen = n;
	return CKR_OK;
}

/* The final call; out holds final_len's bytes. */
static CK_RV final_raw(struct hsm_op *op, uint8_t *out, size_t *outlen)
{
	int n = 0, m = 0;
	size_t len;
	CK_RV rv;

	*outlen = 0;
	if (op->fn == CKF_SIGN || op->fn == CKF_DIGEST)
		return sign_final(op, out, outlen);
	switch (op->mode) {
	case AM_CBC_PAD:
		if (!encrypting(op)) {
			if ((rv = unpad(op, &len)) != CKR_OK)
				return rv;
			memcpy(out, op->tail, len);
			*outlen = len;
			return CKR_OK;
		}
		/* fall through */
	case AM_ECB:
	case AM_CBC:
	case AM_CTR:
		if (EVP_CipherFinal_ex(op->cctx, out, &n) != 1)
			return kfail(CKR_GENERAL_ERROR, "AES failed");
		*outlen = (size_t)n;
		return CKR_OK;
	case AM_GCM:
		if (encrypting(op)) {
			if (EVP_CipherFinal_ex(op->cctx, out, &n) != 1 ||
			    EVP_CIPHER_CTX_ctrl(op->cctx, EVP_CTRL_AEAD_GET_TAG, (int)op->taglen,
						out + n) != 1)
				return kfail(CKR_GENERAL_ERROR, "AES-GCM failed");
			*outlen = (size_t)n + op->taglen;
			return CKR_OK;
		}
		len = op->buf_len - op->taglen;
		if (EVP_CIPHER_CTX_ctrl(op->cctx, EVP_CTRL_AEAD_SET_TAG, (int)op->taglen,
					op->buf + len) != 1 ||
		    EVP_CipherUpdate(op->cctx, out, &n, op->buf, (int)len) != 1 ||
		    EVP_CipherFinal_ex(op->cctx, out + n, &m) != 1) {
			OPENSSL_cleanse(out, len);
			ERR_clear_error();
			return kfail(CKR_ENCRYPTED_DATA_INVALID, "the GCM tag does not verify");
		}
		*outlen = (size_t)(n + m);
		return CKR_OK;
	}
	return kfail(CKR_GENERAL_ERROR, "no such mode");
}

/* --- the calls --------------------------------------------------------------- */

static CK_RV check_call(const struct hsm_op *op, const CK_BYTE *in, CK_ULONG inlen)
{
	if (!op || !op->active)
		return kfail(CKR_OPERATION_NOT_INITIALIZED, "no operation");
	if (inlen && !in)
		return kfail(CKR_ARGUMENTS_BAD, "no input");
	if (inlen > HSM_OP_BUFFER_MAX)
		return kfail(CKR_DATA_LEN_RANGE, "one call takes at most %u bytes", HSM_OP_BUFFER_MAX);
	return CKR_OK;
}

/* The two-call convention: CKR_OK with *outlen set when out is NULL,
 * CKR_BUFFER_TOO_SMALL when it is too short, 1 to go on. */
static int two_call(CK_BYTE *out, CK_ULONG *outlen, size_t need, CK_RV *rv)
{
	if (!out) {
		*outlen = need;
		*rv = CKR_OK;
		return 0;
	}
	if (*outlen < need) {
		*outlen = need;
		*rv = kfail(CKR_BUFFER_TOO_SMALL, "%zu bytes needed", need);
		return 0;
	}
	return 1;
}

CK_RV hsm_op_update(struct hsm_op *op, const CK_BYTE *in, CK_ULONG inlen, CK_BYTE *out,
		    CK_ULONG *outlen)
{
	size_t need = 0, n = 0;
	int crypt;
	CK_RV rv;

	if ((rv = check_call(op, in, inlen)) != CKR_OK)
		return rv;
	if (op->fn == CKF_VERIFY || op->fn == CKF_SIGN || op->fn == CKF_DIGEST) {
		crypt = 0;
	} else {
		crypt = 1;
		if (!outlen)
			return kfail(CKR_ARGUMENTS_BAD, "no output length");
	}
	if (single_part(op))
		return end(op, kfail(CKR_FUNCTION_NOT_SUPPORTED, "%s: one part only", op->m->name));
	if ((rv = start(op)) != CKR_OK || (rv = update_len(op, inlen, &need)) != CKR_OK)
		return end(op, rv);
	if (crypt && !two_call(out, outlen, need, &rv))
		return rv;
	if ((rv = update_raw(op, in, inlen, out, &n)) != CKR_OK)
		return end(op, rv);
	if (n != need) /* the convention rests on it */
		return end(op, kfail(CKR_GENERAL_ERROR, "%s: %zu bytes out, %zu said", op->m->name, n,
				     need));
	op->multipart = 1;
	if (crypt)
		*outlen = n;
	return CKR_OK;
}

CK_RV hsm_op_final(struct hsm_op *op, CK_BYTE *out, CK_ULONG *outlen)
{
	size_t need = 0, n = 0;
	CK_RV rv;

	if ((rv = check_call(op, NULL, 0)) != CKR_OK)
		return rv;
	if (!outlen || op->fn == CKF_VERIFY)
		return kfail(CKR_ARGUMENTS_BAD, "no output length, or a verification");
	if (single_part(op))
		return end(op, kfail(CKR_FUNCTION_NOT_SUPPORTED, "%s: one part only", op->m->name));
	if ((rv = start(op)) != CKR_OK || (rv = final_len(op, &need)) != CKR_OK)
		return end(op, rv);
	if (!two_call(out, outlen, need, &rv))
		return rv;
	rv = final_raw(op, out, &n);
	if (rv == CKR_OK)
		*outlen = n;
	return end(op, rv);
}

/* The output of a one-shot call: exact, or (decryptions) a bound. */
static CK_RV oneshot_len(const struct hsm_op *op, size_t inlen, size_t *len, int *exact)
{
	CK_RV rv;

	*exact = 1;
	if (op->fn == CKF_SIGN || op->fn == CKF_DIGEST) {
		*len = op->outsize;
		return single_part(op) ? single_input(op, inlen) : CKR_OK;
	}
	if (single_part(op)) {
		if ((rv = single_input(op, inlen)) != CKR_OK)
			return rv;
		*len = op->modlen;
		*exact = encrypting(op) || op->m->type == CKM_RSA_X_509;
		return CKR_OK;
	}
	switch (op->mode) {
	case AM_ECB:
	case AM_CBC:
		*len = inlen;
		return inlen % 16 ? not_whole_blocks(op) : CKR_OK;
	case AM_CBC_PAD:
		if (encrypting(op)) {
			*len = inlen / 16 * 16 + 16;
			return CKR_OK;
		}
		*len = inlen;
		*exact = 0;
		if (inlen == 0 || inlen % 16)
			return kfail(CKR_ENCRYPTED_DATA_LEN_RANGE, "AES-CBC-PAD: not whole blocks");
		return CKR_OK;
	case AM_CTR:
		*len = inlen;
		return (inlen + 15) / 16 > ctr_room(op)
			       ? kfail(CKR_DATA_LEN_RANGE, "AES-CTR: the counter's %u bits would wrap",
				       op->ctr_bits)
			       : CKR_OK;
	case AM_GCM:
		if (encrypting(op)) {
			*len = inlen + op->taglen;
			return CKR_OK;
		}
		if (inlen < op->taglen)
			return kfail(CKR_ENCRYPTED_DATA_LEN_RANGE, "shorter than the GCM tag");
		*len = inlen - op->taglen;
		return CKR_OK;
	}
	return CKR_OK;
}

/* The whole input at once into out, which holds oneshot_len's bytes. */
static CK_RV run(struct hsm_op *op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
	size_t n = 0, m = 0;
	CK_RV rv;

	if (single_part(op))
		return single(op, in, inlen, out, outlen);
	if ((rv = start(op)) != CKR_OK || (rv = update_raw(op, in, inlen, out, &n)) != CKR_OK ||
	    (rv = final_raw(op, out + n, &m)) != CKR_OK)
		return rv;
	*outlen = n + m;
	return CKR_OK;
}

CK_RV kop_bound(struct hsm_op *op, size_t inlen, size_t *bound)
{
	int exact;
	return oneshot_len(op, inlen, bound, &exact);
}

CK_RV kop_run(struct hsm_op *op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
	return run(op, in, inlen, out, outlen);
}

CK_RV hsm_op_oneshot(struct hsm_op *op, const CK_BYTE *in, CK_ULONG inlen, CK_BYTE *out,
		     CK_ULONG *outlen)
{
	size_t bound = 0, n = 0;
	int exact;
	uint8_t *tmp;
	CK_RV rv;

	if ((rv = check_call(op, in, inlen)) != CKR_OK)
		return rv;
	if (!outlen || op->fn == CKF_VERIFY)
		return kfail(CKR_ARGUMENTS_BAD, "no output length, or a verification");
	if (op->multipart || op->started)
		return kfail(CKR_OPERATION_ACTIVE, "a multi-part operation is under way");
	if ((rv = oneshot_len(op, inlen, &bound, &exact)) != CKR_OK)
		return end(op, rv);
	if (exact || !out || *outlen >= bound) {
		if (!two_call(out, outlen, bound, &rv))
			return rv;
		rv = run(op, in, inlen, out, &n);
		if (rv == CKR_OK)
			*outlen = n;
		return end(op, rv);
	}
	/* a decryption's length is known once it is done: done aside */
	if ((tmp = OPENSSL_malloc(bound ? bound : 1)) == NULL)
		return end(op, kfail(CKR_HOST_MEMORY, "out of memory"));
	rv = run(op, in, inlen, tmp, &n);
	if (rv == CKR_OK && n > *outlen) {
		*outlen = n;
		reset_stream(op); /* the next call starts again */
		OPENSSL_clear_free(tmp, bound ? bound : 1);
		return kfail(CKR_BUFFER_TOO_SMALL, "%zu bytes needed", n);
	}
	if (rv == CKR_OK) {
		memcpy(out, tmp, n);
		*outlen = n;
	}
	OPENSSL_clear_free(tmp, bound ? bound : 1);
	return end(op, rv);
}

CK_RV hsm_op_verify_final(struct hsm_op *op, const CK_BYTE *sig, CK_ULONG siglen)
{
	uint8_t mac[EVP_MAX_MD_SIZE], *der = NULL;
	size_t n = 0, derlen = 0;
	int ok = 0;
	CK_RV rv;

	if ((rv = check_call(op, sig, siglen)) != CKR_OK)
		return rv;
	if (op->fn != CKF_VERIFY)
		return kfail(CKR_ARGUMENTS_BAD, "not a verification");
	if (single_part(op))
		return end(op, kfail(CKR_FUNCTION_NOT_SUPPORTED, "%s: one part only", op->m->name));
	if ((rv = start(op)) != CKR_OK)
		return end(op, rv);
	if (siglen != op->outsize)
		return end(op, kfail(CKR_SIGNATURE_LEN_RANGE, "%lu bytes: the signature is %zu",
				     siglen, op->outsize));
	if (op->m->family == KM_HMAC) {
		ok = EVP_MAC_final(op->mac, mac, &n, sizeof(mac)) == 1 && n == siglen &&
		     CRYPTO_memcmp(mac, sig, n) == 0;
		OPENSSL_cleanse(mac, sizeof(mac));
	} else if (op->m->family == KM_ECDSA_MD) {
		if ((rv = ecdsa_der(sig, op->fieldlen, &der, &derlen)) != CKR_OK)
			return end(op, rv);
		ok = EVP_DigestVerifyFinal(op->mdctx, der, derlen) == 1;
		OPENSSL_free(der);
	} else {
		ok = EVP_DigestVerifyFinal(op->mdctx, sig, siglen) == 1;
	}
	ERR_clear_error();
	return end(op, ok ? CKR_OK : kfail(CKR_SIGNATURE_INVALID, "the signature does not verify"));
}

CK_RV hsm_op_verify(struct hsm_op *op, const CK_BYTE *data, CK_ULONG len, const CK_BYTE *sig,
		    CK_ULONG siglen)
{
	size_t n;
	CK_RV rv;

	if ((rv = check_call(op, data, len)) != CKR_OK || (rv = check_call(op, sig, siglen)) != CKR_OK)
		return rv;
	if (op->fn != CKF_VERIFY)
		return kfail(CKR_ARGUMENTS_BAD, "not a verification");
	if (op->multipart || op->started)
		return kfail(CKR_OPERATION_ACTIVE, "a multi-part operation is under way");
	if (single_part(op))
		return end(op, single_verify(op, data, len, sig, siglen));
	if ((rv = start(op)) != CKR_OK || (rv = update_raw(op, data, len, NULL, &n)) != CKR_OK)
		return end(op, rv);
	return hsm_op_verify_final(op, sig, siglen);
}

CK_RV hsm_op_digest_key(struct hsm_op *op, const struct hsm_key_env *env, const struct hsm_obj *key)
{
	const struct hsm_attr *v;
	size_t n;
	CK_RV rv;

	if ((rv = check_call(op, NULL, 0)) != CKR_OK)
		return rv;
	if (op->fn != CKF_DIGEST)
		return kfail(CKR_OPERATION_NOT_INITIALIZED, "no digest operation");
	if (!key)
		return end(op, kfail(CKR_KEY_HANDLE_INVALID, "no key"));
	if ((rv = hsm_kp_check(env, HSM_KP_DO_DIGEST_KEY, key, 0)) != CKR_OK)
		return end(op, rv);
	if (!(key->kind & HSM_K_SECRET) || (v = hsm_obj_attr(key, CKA_VALUE)) == NULL)
		return end(op, kfail(CKR_KEY_INDIGESTIBLE, "only a secret key's value is digested"));
	if ((rv = start(op)) != CKR_OK || (rv = update_raw(op, v->val, v->len, NULL, &n)) != CKR_OK)
		return end(op, rv);
	op->multipart = 1;
	return CKR_OK;
}
