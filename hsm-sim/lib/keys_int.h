/* libhsm's keys, inside: what object.c, attrs.c, keymat.c, objcodec.c,
 * keypolicy.c, mech.c, op.c and keymgmt.c share. Not for the rest of
 * hsm-sim, which sees hsm/object.h, hsm/mech.h and hsm/keypolicy.h. */
#ifndef HSM_KEYS_INT_H
#define HSM_KEYS_INT_H

#include "hsm/ck.h"
#include "hsm/keypolicy.h"
#include "hsm/mech.h"
#include "hsm/object.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

/* Sets hsm_ck_why() and returns rv: return kfail(CKR_..., "why %s", ...). */
CK_RV kfail(CK_RV rv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* env, or the defaults when NULL. */
const struct hsm_key_env *kenv(const struct hsm_key_env *env);

/* How an object comes to be: which template rules apply. */
enum korigin {
	KO_CREATE,
	KO_GENERATE, /* C_GenerateKey, and either half of C_GenerateKeyPair */
	KO_UNWRAP,
	KO_DERIVE,
	KO_DECODE, /* from storage: no template rule, no policy */
};

/* The object kind (HSM_K_*) of a class and key type; 0 when unsupported. */
uint32_t kkind(CK_OBJECT_CLASS cls, CK_KEY_TYPE kt);

/* Checks one value against its row and hands back its stored form
 * (OPENSSL_malloc'd, *out NULL for an empty value): CKR_OK or
 * CKR_ATTRIBUTE_VALUE_INVALID. */
CK_RV kattr_normalize(const struct hsm_attr_rule *r, const void *val, CK_ULONG len, uint8_t **out,
		      CK_ULONG *outlen);

/* Objects being built. kobj_new makes an empty object of a class and key
 * type; kobj_put sets an attribute's stored form (replacing it); the
 * object owns val after kobj_put_owned. */
CK_RV kobj_new(CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, struct hsm_obj **out);
CK_RV kobj_put(struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, const void *val, CK_ULONG len);
CK_RV kobj_put_owned(struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, uint8_t *val, CK_ULONG len);
CK_RV kobj_put_bool(struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, int v);
CK_RV kobj_put_ulong(struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, CK_ULONG v);
void kobj_del(struct hsm_obj *o, CK_ATTRIBUTE_TYPE type);

/* The class and key type a template names (CK_UNAVAILABLE_INFORMATION when
 * it names none); CKR_ATTRIBUTE_VALUE_INVALID for a malformed value,
 * CKR_TEMPLATE_INCONSISTENT for two different ones. */
CK_RV ktemplate_class(const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_CLASS *cls, CK_KEY_TYPE *kt);

/* Applies a template to a new object of known class and key type, with
 * the rules of origin: the attributes' rows, the origin's forbidden and
 * required ones, normalized values, repeated attributes. */
CK_RV kobj_apply_template(struct hsm_obj *o, enum korigin origin, const CK_ATTRIBUTE *t, CK_ULONG n);

/* What the token contributes when it finishes an object. */
struct kfinish {
	enum korigin origin;
	const struct hsm_key_env *env; /* for the policies; unused by KO_DECODE */
	int local;                     /* CKA_LOCAL */
	CK_MECHANISM_TYPE gen_mech;    /* CKA_KEY_GEN_MECHANISM, or CK_UNAVAILABLE_INFORMATION */
	int base_always_sensitive, base_never_extractable; /* KO_DERIVE: the base key's */
	/* KO_GENERATE, a pair's private half: the public half, finished (an EC
	 * pair's point is read from its CKA_EC_POINT, not from OpenSSL again) */
	const struct hsm_obj *pair;
};
/* Defaults, the attributes the token sets, the key material checked and
 * its derived attributes (CKA_PUBLIC_KEY_INFO, CKA_MODULUS_BITS,
 * CKA_VALUE_LEN, CKA_CHECK_VALUE) and pkey, the consistency rules and the
 * policies on a new object (10), the size bound. */
CK_RV kobj_finish(struct hsm_obj *o, const struct kfinish *f);

/* Key material (keymat.c). */
struct kcurve {
	int nid;
	const char *name;      /* OpenSSL's group name */
	const uint8_t *oid;    /* DER OBJECT IDENTIFIER, tag and length included */
	size_t oid_len;
	size_t field_len;      /* bytes of a coordinate or a scalar */
	CK_ULONG bits;
};
/* From CKA_EC_PARAMS (a named curve's OID, or its name as a PrintableString). */
const struct kcurve *kcurve_from_params(const uint8_t *p, size_t len);
const struct kcurve *kcurve_of(const struct hsm_obj *o);
/* Checks an object's key material and sets pkey and the derived attributes. */
CK_RV kmat_finish(struct hsm_obj *o, const struct kfinish *f);
/* Puts the attributes of pkey (public or key pair) into o, an RSA or EC
 * object of the same type. */
CK_RV kmat_put_pkey(struct hsm_obj *o, EVP_PKEY *pkey);
/* A private key's PKCS#8 PrivateKeyInfo DER (OPENSSL_malloc'd). */
CK_RV kmat_pkcs8(const struct hsm_obj *o, uint8_t **der, size_t *len);
/* A private key from PKCS#8 DER, its type checked against kt. */
CK_RV kmat_from_pkcs8(const uint8_t *der, size_t len, CK_KEY_TYPE kt, EVP_PKEY **out);
/* An EC point, raw (04 X Y) or as a DER OCTET STRING of one, as the raw
 * uncompressed point for curve c; 0 if it is neither. */
int kmat_ec_point(const struct kcurve *c, const uint8_t *p, size_t len, const uint8_t **pt);
/* An EC public key on curve c from a raw uncompressed point. */
/* The curve's parameters, made once and kept for the process: a key
 * generation template (not freed by the caller). */
EVP_PKEY *kmat_ec_group(const struct kcurve *c);
CK_RV kmat_ec_pub(const struct kcurve *c, const uint8_t *pt, size_t len, EVP_PKEY **out);
/* The bits of an RSA or EC key object, bytes of a secret key's value. */
CK_ULONG kmat_key_size(const struct hsm_obj *o);

/* Mechanisms (mech.c). */
enum kmfamily {
	KM_PAIRGEN,
	KM_KEYGEN,
	KM_RSA_RAW,    /* CKM_RSA_PKCS, CKM_RSA_X_509 */
	KM_RSA_OAEP,
	KM_RSA_PSS,    /* on a hash the caller made */
	KM_RSA_MD,     /* CKM_SHA*_RSA_PKCS */
	KM_RSA_PSS_MD, /* CKM_SHA*_RSA_PKCS_PSS */
	KM_ECDSA,      /* on a hash the caller made */
	KM_ECDSA_MD,
	KM_ECDH,
	KM_HMAC,
	KM_AES, /* ECB, CBC, CBC-PAD, CTR, GCM */
	KM_KW,  /* AES key wrap, with and without padding */
	KM_DIGEST,
};

struct kmech {
	CK_MECHANISM_TYPE type;
	const char *name;
	enum kmfamily family;
	CK_ULONG min, max;
	CK_FLAGS flags;
	CK_MECHANISM_TYPE hash; /* CKM_SHA*: combined, HMAC and digest mechanisms; 0 */
};

const struct kmech *kmech_find(CK_MECHANISM_TYPE type);

/* Operations (op.c) for the key management functions: kop_prepare takes
 * the key material and the parameter without any usage or policy check
 * (the caller made its own), kop_bound gives the most a one-shot run of
 * inlen bytes writes, kop_run does it. */
CK_RV kop_prepare(const struct kmech *km, CK_FLAGS fn, const CK_MECHANISM *m,
		  const struct hsm_obj *key, struct hsm_op **out);
CK_RV kop_bound(struct hsm_op *op, size_t inlen, size_t *bound);
CK_RV kop_run(struct hsm_op *op, const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen);
/* Whether key may serve m for fn: its usage attribute
 * (CKR_KEY_FUNCTION_NOT_PERMITTED), its type (inconsistent), its
 * CKA_ALLOWED_MECHANISMS (CKR_MECHANISM_INVALID). */
CK_RV kkey_fits(const struct hsm_obj *key, const struct kmech *m, CK_FLAGS fn, CK_RV inconsistent);
CK_RV kkey_allows(const struct hsm_obj *key, CK_MECHANISM_TYPE type);

/* OpenSSL's digest for a CKM_SHA* mechanism or CKG_MGF1_* (NULL if none). */
const EVP_MD *kmd_of_mech(CK_MECHANISM_TYPE m);
const EVP_MD *kmd_of_mgf(CK_RSA_PKCS_MGF_TYPE mgf);
/* A big-endian u64 (objcodec.c). */
uint64_t kbe64(const uint8_t *p);

/* The time of a CK_DATE (midnight UTC), 0 for an empty date. */
int64_t kdate_time(const struct hsm_attr *a, int end);

/* The AES cipher of a key length for a mode ("ECB", "CBC", "CTR", "GCM"). */
EVP_CIPHER *kaes_fetch(const char *mode, size_t keylen);

#endif
