/* Key management: generation, wrapping, unwrapping, derivation, random. */
#include "keys_int.h"

#include "ped/error.h"
#include "ped/kwp.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <string.h>

static CK_RV mech_for(const CK_MECHANISM *m, CK_FLAGS fn, const struct kmech **km)
{
	if (!m)
		return kfail(CKR_ARGUMENTS_BAD, "no mechanism");
	if ((*km = kmech_find(m->mechanism)) == NULL || !((*km)->flags & fn))
		return kfail(CKR_MECHANISM_INVALID, "mechanism 0x%lx: not for this function",
			     m->mechanism);
	return CKR_OK;
}

/* The partition may not be read-only (policy 28): checked before anything. */
static CK_RV manage(const struct hsm_key_env *env)
{
	if (!kenv(env)->pol.v[HSM_KP_KEY_MANAGEMENT])
		return kfail(CKR_TOKEN_WRITE_PROTECTED,
			     "partition policy 28 (key management functions) is off: "
			     "the partition's objects are read-only");
	return CKR_OK;
}

/* --- generation ------------------------------------------------------------ */

CK_RV hsm_generate_key(const struct hsm_key_env *env, const CK_MECHANISM *m, const CK_ATTRIBUTE *t,
		       CK_ULONG n, struct hsm_obj **out)
{
	struct kfinish f = {KO_GENERATE, env, 1, 0, 0, 0, NULL};
	const struct kmech *km;
	struct hsm_obj *o = NULL;
	CK_ULONG len;
	uint8_t *v = NULL;
	CK_RV rv;

	if (!out)
		return kfail(CKR_ARGUMENTS_BAD, "no place for the key");
	*out = NULL;
	if ((rv = manage(env)) != CKR_OK || (rv = mech_for(m, CKF_GENERATE, &km)) != CKR_OK)
		return rv;
	if (m->ulParameterLen)
		return kfail(CKR_MECHANISM_PARAM_INVALID, "%s takes no parameter", km->name);
	f.gen_mech = km->type;
	if ((rv = kobj_new(CKO_SECRET_KEY,
			   km->type == CKM_AES_KEY_GEN ? CKK_AES : CKK_GENERIC_SECRET, &o)) != CKR_OK ||
	    (rv = kobj_apply_template(o, KO_GENERATE, t, n)) != CKR_OK)
		goto out;
	len = hsm_obj_ulong(o, CKA_VALUE_LEN);
	if (o->key_type == CKK_AES ? (len != 16 && len != 24 && len != 32)
				   : (len < 1 || len > HSM_GENERIC_MAX)) {
		rv = kfail(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_VALUE_LEN %lu: %s", len,
			   o->key_type == CKK_AES ? "an AES key is 16, 24 or 32 bytes"
						  : "a generic secret is 1 to 512 bytes");
		goto out;
	}
	if ((v = OPENSSL_malloc(len)) == NULL) {
		rv = kfail(CKR_HOST_MEMORY, "out of memory");
		goto out;
	}
	if (RAND_priv_bytes(v, (int)len) != 1) {
		OPENSSL_clear_free(v, len);
		rv = kfail(CKR_DEVICE_ERROR, "no random numbers");
		goto out;
	}
	if ((rv = kobj_put_owned(o, CKA_VALUE, v, len)) != CKR_OK || (rv = kobj_finish(o, &f)) != CKR_OK)
		goto out;
	*out = o;
	o = NULL;
out:
	hsm_obj_free(o);
	return rv;
}

/* A template's CKA_EC_PARAMS, when it names a curve we do not have. */
static int unknown_curve(const CK_ATTRIBUTE *t, CK_ULONG n)
{
	for (CK_ULONG i = 0; t && i < n && i < HSM_TEMPLATE_MAX; i++)
		if (t[i].type == CKA_EC_PARAMS && t[i].pValue &&
		    !kcurve_from_params(t[i].pValue, t[i].ulValueLen))
			return 1;
	return 0;
}

static CK_RV rsa_generate(const struct hsm_obj *pub, EVP_PKEY **pkey)
{
	CK_ULONG bits = hsm_obj_ulong(pub, CKA_MODULUS_BITS);
	const struct hsm_attr *e = hsm_obj_attr(pub, CKA_PUBLIC_EXPONENT);
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn = NULL;
	CK_RV rv = CKR_OK;

	if (bits < 2048 || bits > 4096)
		return kfail(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_MODULUS_BITS %lu: 2048 to 4096", bits);
	if ((bn = e ? BN_bin2bn(e->val, (int)e->len, NULL) : BN_new()) == NULL ||
	    (!e && BN_set_word(bn, 65537) != 1)) {
		rv = kfail(CKR_HOST_MEMORY, "out of memory");
		goto out;
	}
	if (!BN_is_odd(bn) || BN_is_one(bn)) {
		rv = kfail(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_PUBLIC_EXPONENT: odd and above 1");
		goto out;
	}
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) != 1 ||
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, bn) != 1 || EVP_PKEY_keygen(ctx, pkey) != 1)
		rv = kfail(CKR_GENERAL_ERROR, "RSA key generation failed");
out:
	EVP_PKEY_CTX_free(ctx);
	BN_free(bn);
	ERR_clear_error();
	return rv;
}

static CK_RV ec_generate(const struct hsm_obj *pub, EVP_PKEY **pkey)
{
	const struct kcurve *c = kcurve_of(pub);
	EVP_PKEY *group;
	EVP_PKEY_CTX *ctx = NULL;
	CK_RV rv = CKR_OK;

	if (!c)
		return kfail(CKR_TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS is required");
	if ((group = kmat_ec_group(c)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, group, NULL)) == NULL ||
	    EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, pkey) != 1)
		rv = kfail(CKR_GENERAL_ERROR, "EC key generation failed");
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return rv;
}

CK_RV hsm_generate_key_pair(const struct hsm_key_env *env, const CK_MECHANISM *m,
			    const CK_ATTRIBUTE *pubt, CK_ULONG npub, const CK_ATTRIBUTE *privt,
			    CK_ULONG npriv, struct hsm_obj **pub, struct hsm_obj **priv)
{
	struct kfinish f = {KO_GENERATE, env, 1, 0, 0, 0, NULL};
	const struct kmech *km;
	struct hsm_obj *pu = NULL, *pr = NULL;
	EVP_PKEY *pkey = NULL;
	CK_KEY_TYPE kt;
	CK_RV rv;

	if (!pub || !priv)
		return kfail(CKR_ARGUMENTS_BAD, "no place for the keys");
	*pub = *priv = NULL;
	if ((rv = manage(env)) != CKR_OK || (rv = mech_for(m, CKF_GENERATE_KEY_PAIR, &km)) != CKR_OK)
		return rv;
	if (m->ulParameterLen)
		return kfail(CKR_MECHANISM_PARAM_INVALID, "%s takes no parameter", km->name);
	kt = km->type == CKM_RSA_PKCS_KEY_PAIR_GEN ? CKK_RSA : CKK_EC;
	if (kt == CKK_EC && unknown_curve(pubt, npub))
		return kfail(CKR_CURVE_NOT_SUPPORTED, "CKA_EC_PARAMS: P-256, P-384 or P-521 only");
	f.gen_mech = km->type;
	if ((rv = kobj_new(CKO_PUBLIC_KEY, kt, &pu)) != CKR_OK ||
	    (rv = kobj_new(CKO_PRIVATE_KEY, kt, &pr)) != CKR_OK ||
	    (rv = kobj_apply_template(pu, KO_GENERATE, pubt, npub)) != CKR_OK ||
	    (rv = kobj_apply_template(pr, KO_GENERATE, privt, npriv)) != CKR_OK)
		goto out;
	if ((rv = kt == CKK_RSA ? rsa_generate(pu, &pkey) : ec_generate(pu, &pkey)) != CKR_OK ||
	    (rv = kmat_put_pkey(pu, pkey)) != CKR_OK || (rv = kmat_put_pkey(pr, pkey)) != CKR_OK ||
	    (rv = kobj_finish(pu, &f)) != CKR_OK)
		goto out;
	f.pair = pu;
	if ((rv = kobj_finish(pr, &f)) != CKR_OK)
		goto out;
	*pub = pu;
	*priv = pr;
	pu = pr = NULL;
out:
	EVP_PKEY_free(pkey);
	hsm_obj_free(pu);
	hsm_obj_free(pr);
	return rv;
}

/* --- wrapping ---------------------------------------------------------------- */

/* What is wrapped of a key: a secret key's value, a private key's PKCS#8. */
static CK_RV wrapped_material(const struct hsm_obj *key, uint8_t **p, size_t *len, int *owned)
{
	const struct hsm_attr *v;

	*owned = 0;
	if (key->kind & HSM_K_PRIV) {
		*owned = 1;
		return kmat_pkcs8(key, p, len);
	}
	if ((v = hsm_obj_attr(key, CKA_VALUE)) == NULL)
		return kfail(CKR_KEY_NOT_WRAPPABLE, "the key has no value");
	*p = v->val;
	*len = v->len;
	return CKR_OK;
}

/* The wrapping key's checks, shared by wrap and unwrap. */
static CK_RV wrapping_key(const struct hsm_key_env *env, const struct kmech *km, CK_FLAGS fn,
			  const struct hsm_obj *k)
{
	CK_RV rv;

	if ((rv = hsm_kp_mech(env, km->type, fn)) != CKR_OK)
		return rv;
	if (!k)
		return kfail(fn == CKF_WRAP ? CKR_WRAPPING_KEY_HANDLE_INVALID
					    : CKR_UNWRAPPING_KEY_HANDLE_INVALID,
			     "no key");
	if (km->family == KM_RSA_OAEP &&
	    k->kind != (fn == CKF_WRAP ? HSM_K_RSA_PUB : HSM_K_RSA_PRIV) &&
	    hsm_obj_bool(k, fn == CKF_WRAP ? CKA_WRAP : CKA_UNWRAP))
		return kfail(fn == CKF_WRAP ? CKR_WRAPPING_KEY_TYPE_INCONSISTENT
					    : CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
			     "%s: not for this key", km->name);
	return kkey_fits(k, km, fn,
			 fn == CKF_WRAP ? CKR_WRAPPING_KEY_TYPE_INCONSISTENT
					: CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT);
}

/* KW and KWP through libped (ped/kwp.h). */
static CK_RV kw(int wrap, const struct kmech *km, const struct hsm_obj *k, const uint8_t *in,
		size_t inlen, uint8_t **out, size_t *outlen)
{
	const struct hsm_attr *v = hsm_obj_attr(k, CKA_VALUE);
	int pad = km->type == CKM_AES_KEY_WRAP_PAD, err;

	if (!v)
		return kfail(CKR_GENERAL_ERROR, "the AES key has no value");
	if (wrap)
		err = (pad ? ped_kwp_wrap : ped_kw_wrap)(v->val, v->len, in, inlen, out, outlen);
	else
		err = (pad ? ped_kwp_unwrap : ped_kw_unwrap)(v->val, v->len, in, inlen, out, outlen);
	if (err == PED_OK)
		return CKR_OK;
	if (err == PED_E_HOST_MEMORY)
		return kfail(CKR_HOST_MEMORY, "out of memory");
	return wrap ? kfail(CKR_KEY_SIZE_RANGE, "%s cannot wrap %zu bytes", km->name, inlen)
		    : kfail(CKR_WRAPPED_KEY_INVALID, "%s: the integrity check fails", km->name);
}

/* The most a wrap of len bytes gives, or the key-size error. */
static CK_RV wrap_len(const struct kmech *km, struct hsm_op *op, size_t len, size_t *out)
{
	switch (km->type) {
	case CKM_AES_KEY_WRAP_PAD:
		if (len == 0 || len > PED_KWP_MAX_INPUT)
			break;
		*out = (len + 7) / 8 * 8 + 8;
		return CKR_OK;
	case CKM_AES_KEY_WRAP:
		if (len < 16 || len % 8 || len > PED_KWP_MAX_INPUT)
			break;
		*out = len + 8;
		return CKR_OK;
	default:
		if (kop_bound(op, len, out) != CKR_OK)
			break;
		return CKR_OK;
	}
	return kfail(CKR_KEY_SIZE_RANGE, "%s cannot wrap a key of %zu bytes", km->name, len);
}

CK_RV hsm_wrap_key(const struct hsm_key_env *env, const CK_MECHANISM *m,
		   const struct hsm_obj *wrapping, const struct hsm_obj *key, CK_BYTE *out,
		   CK_ULONG *outlen)
{
	const struct kmech *km;
	struct hsm_op *op = NULL;
	uint8_t *mat = NULL, *w = NULL;
	size_t matlen = 0, need = 0, wlen = 0;
	int owned = 0;
	CK_RV rv;

	if (!outlen)
		return kfail(CKR_ARGUMENTS_BAD, "no output length");
	if ((rv = mech_for(m, CKF_WRAP, &km)) != CKR_OK ||
	    (rv = wrapping_key(env, km, CKF_WRAP, wrapping)) != CKR_OK ||
	    (rv = hsm_kp_check(env, HSM_KP_DO_WRAP_WITH, wrapping, 0)) != CKR_OK)
		return rv;
	if (km->family == KM_KW && m->ulParameterLen)
		return kfail(CKR_MECHANISM_PARAM_INVALID, "%s takes no parameter", km->name);
	if (km->family != KM_KW && (rv = kop_prepare(km, CKF_ENCRYPT, m, wrapping, &op)) != CKR_OK)
		return rv;
	if (!key) {
		rv = kfail(CKR_KEY_HANDLE_INVALID, "no key to wrap");
		goto out;
	}
	if (!(key->kind & (HSM_K_PRIV | HSM_K_SECRET)) ||
	    (km->family == KM_RSA_OAEP && !(key->kind & HSM_K_SECRET))) {
		rv = kfail(CKR_KEY_NOT_WRAPPABLE, "%s wraps %s keys only", km->name,
			   km->family == KM_RSA_OAEP ? "secret" : "private and secret");
		goto out;
	}
	if (!hsm_obj_bool(key, CKA_EXTRACTABLE)) {
		rv = kfail(CKR_KEY_UNEXTRACTABLE, "the key's CKA_EXTRACTABLE is false");
		goto out;
	}
	if ((rv = hsm_kp_check(env, HSM_KP_DO_WRAP_OUT, key, 0)) != CKR_OK)
		goto out;
	if (hsm_obj_bool(key, CKA_WRAP_WITH_TRUSTED) && !hsm_obj_bool(wrapping, CKA_TRUSTED)) {
		rv = kfail(CKR_KEY_NOT_WRAPPABLE, "CKA_WRAP_WITH_TRUSTED: the wrapping key is not "
			   "CKA_TRUSTED");
		goto out;
	}
	if ((rv = wrapped_material(key, &mat, &matlen, &owned)) != CKR_OK)
		goto out;
	if (km->type == CKM_AES_CBC_PAD &&
	    (rv = hsm_kp_check(env, HSM_KP_DO_CBC_PAD_WRAP, key, matlen)) != CKR_OK)
		goto out;
	if ((rv = wrap_len(km, op, matlen, &need)) != CKR_OK)
		goto out;
	if (!out) {
		*outlen = need;
		goto out;
	}
	if (*outlen < need) {
		*outlen = need;
		rv = kfail(CKR_BUFFER_TOO_SMALL, "%zu bytes needed", need);
		goto out;
	}
	if (km->family == KM_KW) {
		if ((rv = kw(1, km, wrapping, mat, matlen, &w, &wlen)) != CKR_OK)
			goto out;
		memcpy(out, w, wlen);
	} else if ((rv = kop_run(op, mat, matlen, out, &wlen)) != CKR_OK) {
		goto out;
	}
	*outlen = wlen;
out:
	if (owned)
		OPENSSL_clear_free(mat, matlen);
	OPENSSL_clear_free(w, wlen);
	hsm_op_free(op);
	return rv;
}

/* --- unwrapping -------------------------------------------------------------- */

static CK_RV unwrap_len(const struct kmech *km, const struct hsm_obj *k, size_t inlen)
{
	size_t max = PED_KWP_MAX_INPUT;
	int ok;

	switch (km->type) {
	case CKM_AES_KEY_WRAP_PAD: ok = inlen >= 16 && inlen % 8 == 0 && inlen <= max + 16; break;
	case CKM_AES_KEY_WRAP: ok = inlen >= 24 && inlen % 8 == 0 && inlen <= max + 8; break;
	case CKM_AES_CBC_PAD: ok = inlen >= 16 && inlen % 16 == 0 && inlen <= max + 16; break;
	default: ok = k->pkey && inlen == (size_t)EVP_PKEY_get_size(k->pkey); break;
	}
	return ok ? CKR_OK
		  : kfail(CKR_WRAPPED_KEY_LEN_RANGE, "%s: %zu bytes cannot be a wrapped key", km->name,
			  inlen);
}

/* The wrapped bytes, decrypted (OPENSSL_malloc'd). */
static CK_RV unwrap_bytes(const struct kmech *km, struct hsm_op *op, const struct hsm_obj *k,
			  const uint8_t *in, size_t inlen, uint8_t **pt, size_t *ptlen)
{
	size_t bound = 0;

	if (km->family == KM_KW)
		return kw(0, km, k, in, inlen, pt, ptlen);
	*pt = NULL;
	if (kop_bound(op, inlen, &bound) != CKR_OK)
		return kfail(CKR_WRAPPED_KEY_LEN_RANGE, "%s: %zu bytes cannot be a wrapped key",
			     km->name, inlen);
	if ((*pt = OPENSSL_malloc(bound ? bound : 1)) == NULL)
		return kfail(CKR_HOST_MEMORY, "out of memory");
	if (kop_run(op, in, inlen, *pt, ptlen) != CKR_OK) {
		OPENSSL_clear_free(*pt, bound ? bound : 1);
		*pt = NULL;
		*ptlen = 0;
		return kfail(CKR_WRAPPED_KEY_INVALID, "%s: the wrapped key does not decrypt", km->name);
	}
	return CKR_OK;
}

CK_RV hsm_unwrap_key(const struct hsm_key_env *env, const CK_MECHANISM *m,
		     const struct hsm_obj *unwrapping, const CK_BYTE *in, CK_ULONG inlen,
		     const CK_ATTRIBUTE *t, CK_ULONG n, struct hsm_obj **out)
{
	struct kfinish f = {KO_UNWRAP, env, 0, CK_UNAVAILABLE_INFORMATION, 0, 0, NULL};
	const struct kmech *km;
	struct hsm_op *op = NULL;
	struct hsm_obj *o = NULL;
	EVP_PKEY *pkey = NULL;
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE kt;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	CK_RV rv;

	if (!out || (inlen && !in))
		return kfail(CKR_ARGUMENTS_BAD, "no wrapped key or no place for the key");
	*out = NULL;
	if ((rv = manage(env)) != CKR_OK || (rv = mech_for(m, CKF_UNWRAP, &km)) != CKR_OK ||
	    (rv = wrapping_key(env, km, CKF_UNWRAP, unwrapping)) != CKR_OK)
		return rv;
	if (km->family == KM_KW && m->ulParameterLen)
		return kfail(CKR_MECHANISM_PARAM_INVALID, "%s takes no parameter", km->name);
	if (km->family != KM_KW && (rv = kop_prepare(km, CKF_DECRYPT, m, unwrapping, &op)) != CKR_OK)
		return rv;
	if ((rv = ktemplate_class(t, n, &cls, &kt)) != CKR_OK)
		goto out;
	if (cls == CK_UNAVAILABLE_INFORMATION || kt == CK_UNAVAILABLE_INFORMATION) {
		rv = kfail(CKR_TEMPLATE_INCOMPLETE, "CKA_CLASS and CKA_KEY_TYPE are required");
		goto out;
	}
	if ((cls != CKO_SECRET_KEY && cls != CKO_PRIVATE_KEY) ||
	    (km->family == KM_RSA_OAEP && cls != CKO_SECRET_KEY)) {
		rv = kfail(CKR_TEMPLATE_INCONSISTENT, "%s unwraps %s keys only", km->name,
			   km->family == KM_RSA_OAEP ? "secret" : "private and secret");
		goto out;
	}
	if ((rv = kobj_new(cls, kt, &o)) != CKR_OK ||
	    (rv = kobj_apply_template(o, KO_UNWRAP, t, n)) != CKR_OK ||
	    (rv = hsm_kp_check(env, HSM_KP_DO_UNWRAP_IN, o, 0)) != CKR_OK ||
	    (rv = unwrap_len(km, unwrapping, inlen)) != CKR_OK ||
	    (rv = unwrap_bytes(km, op, unwrapping, in, inlen, &pt, &ptlen)) != CKR_OK)
		goto out;
	if (km->type == CKM_AES_CBC_PAD &&
	    (rv = hsm_kp_check(env, HSM_KP_DO_CBC_PAD_UNWRAP, o, ptlen)) != CKR_OK)
		goto out;
	if (cls == CKO_SECRET_KEY)
		rv = kobj_put(o, CKA_VALUE, pt, ptlen);
	else if ((rv = kmat_from_pkcs8(pt, ptlen, kt, &pkey)) == CKR_OK)
		rv = kmat_put_pkey(o, pkey);
	if (rv != CKR_OK || (rv = kobj_finish(o, &f)) != CKR_OK)
		goto out;
	*out = o;
	o = NULL;
out:
	OPENSSL_clear_free(pt, ptlen);
	EVP_PKEY_free(pkey);
	hsm_obj_free(o);
	hsm_op_free(op);
	return rv;
}

/* --- derivation -------------------------------------------------------------- */

static CK_RV ecdh_peer(const struct kmech *km, const CK_MECHANISM *m, const struct hsm_obj *base,
		       EVP_PKEY **peer)
{
	const CK_ECDH1_DERIVE_PARAMS *p = m->ulParameterLen == sizeof(*p) ? m->pParameter : NULL;
	const struct kcurve *c = kcurve_of(base);
	const uint8_t *pt;

	*peer = NULL;
	if (!p || p->kdf != CKD_NULL || p->ulSharedDataLen != 0 || !p->pPublicData)
		return kfail(CKR_MECHANISM_PARAM_INVALID,
			     "%s: a CK_ECDH1_DERIVE_PARAMS with CKD_NULL, no shared data and the "
			     "peer's point",
			     km->name);
	if (!c || !kmat_ec_point(c, p->pPublicData, p->ulPublicDataLen, &pt) ||
	    kmat_ec_pub(c, pt, 1 + 2 * c->field_len, peer) != CKR_OK)
		return kfail(CKR_MECHANISM_PARAM_INVALID, "%s: the peer's point is not on the key's curve",
			     km->name);
	return CKR_OK;
}

CK_RV hsm_derive_key(const struct hsm_key_env *env, const CK_MECHANISM *m,
		     const struct hsm_obj *base, const CK_ATTRIBUTE *t, CK_ULONG n,
		     struct hsm_obj **out)
{
	struct kfinish f = {KO_DERIVE, env, 0, CK_UNAVAILABLE_INFORMATION, 0, 0, NULL};
	const struct kmech *km;
	struct hsm_obj *o = NULL;
	EVP_PKEY *peer = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE kt;
	uint8_t z[66];
	size_t zlen = sizeof(z);
	CK_ULONG len;
	CK_RV rv;

	if (!out)
		return kfail(CKR_ARGUMENTS_BAD, "no place for the key");
	*out = NULL;
	if ((rv = manage(env)) != CKR_OK || (rv = mech_for(m, CKF_DERIVE, &km)) != CKR_OK ||
	    (rv = hsm_kp_mech(env, km->type, CKF_DERIVE)) != CKR_OK ||
	    (rv = kkey_fits(base, km, CKF_DERIVE, CKR_KEY_TYPE_INCONSISTENT)) != CKR_OK)
		return rv;
	if (base->kind != HSM_K_EC_PRIV)
		return kfail(CKR_KEY_TYPE_INCONSISTENT, "ECDH derives from an EC private key");
	if ((rv = ecdh_peer(km, m, base, &peer)) != CKR_OK ||
	    (rv = ktemplate_class(t, n, &cls, &kt)) != CKR_OK)
		goto out;
	if (cls != CK_UNAVAILABLE_INFORMATION && cls != CKO_SECRET_KEY) {
		rv = kfail(CKR_TEMPLATE_INCONSISTENT, "ECDH derives secret keys");
		goto out;
	}
	if ((rv = kobj_new(CKO_SECRET_KEY, kt == CK_UNAVAILABLE_INFORMATION ? CKK_GENERIC_SECRET : kt,
			   &o)) != CKR_OK ||
	    (rv = kobj_apply_template(o, KO_DERIVE, t, n)) != CKR_OK)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, base->pkey, NULL)) == NULL ||
	    EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, peer) != 1 ||
	    EVP_PKEY_derive(ctx, z, &zlen) != 1) {
		ERR_clear_error();
		rv = kfail(CKR_GENERAL_ERROR, "ECDH failed");
		goto out;
	}
	len = hsm_obj_ulong(o, CKA_VALUE_LEN);
	if (len == CK_UNAVAILABLE_INFORMATION && o->key_type == CKK_AES) {
		rv = kfail(CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required for an AES key");
		goto out;
	}
	if (len == CK_UNAVAILABLE_INFORMATION)
		len = zlen;
	if (len == 0 || len > zlen) {
		rv = kfail(CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN %lu: the shared secret has %zu bytes",
			   len, zlen);
		goto out;
	}
	/* shorter: its last bytes, as SoftHSM2 takes them */
	f.base_always_sensitive = hsm_obj_bool(base, CKA_ALWAYS_SENSITIVE);
	f.base_never_extractable = hsm_obj_bool(base, CKA_NEVER_EXTRACTABLE);
	if ((rv = kobj_put(o, CKA_VALUE, z + zlen - len, len)) != CKR_OK ||
	    (rv = kobj_finish(o, &f)) != CKR_OK)
		goto out;
	*out = o;
	o = NULL;
out:
	OPENSSL_cleanse(z, sizeof(z));
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	hsm_obj_free(o);
	return rv;
}

CK_RV hsm_random(CK_BYTE *out, CK_ULONG len)
{
	if ((len && !out) || len > HSM_RANDOM_MAX)
		return kfail(CKR_ARGUMENTS_BAD, "at most %d random bytes a call", HSM_RANDOM_MAX);
	if (len && RAND_bytes(out, (int)len) != 1)
		return kfail(CKR_DEVICE_ERROR, "no random numbers");
	return CKR_OK;
}
