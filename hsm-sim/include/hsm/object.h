/* PKCS#11 objects inside the HSM: an object is a set of attributes, checked
 * against one rule table (hsm_attr_rules(), attrs.c) that says, for each
 * attribute, which classes and key types have it, its kind of value, its
 * default and what may be done with it. No I/O, no store, no session: the
 * session layer numbers objects (handle), keeps token objects in the
 * partition and session objects with their session, hides CKA_PRIVATE
 * objects from sessions not logged in, and frees an object with
 * hsm_obj_free when it is destroyed or its session closes.
 *
 * Classes: data, certificate (X.509), public, private and secret keys.
 * Key types: RSA (2048-4096 bits), EC (P-256, P-384, P-521), AES (16, 24,
 * 32 bytes), generic secret (1-HSM_GENERIC_MAX bytes).
 *
 * Every function of the data plane returns a CK_RV with PKCS#11 2.40
 * semantics (hsm/ck.h); hsm_ck_why() says why one failed. Templates are
 * PKCS#11 CK_ATTRIBUTE arrays in the host's layout (CK_BBOOL one byte,
 * CK_ULONG native): the session layer decodes its wire format into them. */
#ifndef HSM_OBJECT_H
#define HSM_OBJECT_H

#include "hsm/ck.h"
#include "hsm/keypolicy.h"

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

/* Size bounds: no small fixed limit, but a documented one. An attribute
 * over its bound (HSM_ATTR_MAX at most: a 16 KiB certificate fits) is
 * CKR_ATTRIBUTE_VALUE_INVALID; an object whose values add up to more than
 * HSM_OBJ_MAX is CKR_DEVICE_MEMORY. */
#define HSM_ATTR_MAX 32768
#define HSM_OBJ_MAX 65536
#define HSM_TEMPLATE_MAX 128 /* attributes in one template */
#define HSM_GENERIC_MAX 512  /* bytes of a generic secret */
#define HSM_LABEL_LEN_MAX 256

/* Object kinds: the rule table's columns. */
#define HSM_K_DATA 0x001u
#define HSM_K_CERT 0x002u /* X.509 certificate */
#define HSM_K_RSA_PUB 0x004u
#define HSM_K_EC_PUB 0x008u
#define HSM_K_RSA_PRIV 0x010u
#define HSM_K_EC_PRIV 0x020u
#define HSM_K_AES 0x040u
#define HSM_K_GENERIC 0x080u
#define HSM_K_PUB (HSM_K_RSA_PUB | HSM_K_EC_PUB)
#define HSM_K_PRIV (HSM_K_RSA_PRIV | HSM_K_EC_PRIV)
#define HSM_K_SECRET (HSM_K_AES | HSM_K_GENERIC)
#define HSM_K_KEY (HSM_K_PUB | HSM_K_PRIV | HSM_K_SECRET)
#define HSM_K_ALL (HSM_K_DATA | HSM_K_CERT | HSM_K_KEY)

/* Kinds of value, as stored: normalized on the way in. */
enum hsm_av {
	HSM_AV_BOOL,   /* CK_BBOOL, stored 0 or 1 */
	HSM_AV_ULONG,  /* CK_ULONG */
	HSM_AV_BYTES,  /* any bytes */
	HSM_AV_UTF8,   /* UTF-8 text, no NUL */
	HSM_AV_DATE,   /* CK_DATE "YYYYMMDD", or empty */
	HSM_AV_BIGINT, /* unsigned big-endian, stored without leading zeros */
	HSM_AV_DER,    /* one DER element (the kind named by the attribute), or empty */
	HSM_AV_MECHS,  /* array of CK_MECHANISM_TYPE */
};

/* Rule flags; the first ones are PKCS#11 2.40's table footnotes. */
#define HSM_AF_CREATE_REQ (1u << 0)   /* 1: must be in C_CreateObject's template */
#define HSM_AF_CREATE_NO (1u << 1)    /* 2: must not be: the token sets it */
#define HSM_AF_GEN_REQ (1u << 2)      /* 3: must be in C_GenerateKey(Pair)'s template */
#define HSM_AF_GEN_NO (1u << 3)       /* 4: must not be (nor in C_DeriveKey's) */
#define HSM_AF_UNWRAP_REQ (1u << 4)   /* 5: must be in C_UnwrapKey's template */
#define HSM_AF_UNWRAP_NO (1u << 5)    /* 6: must not be */
#define HSM_AF_SENSITIVE (1u << 6)    /* 7: hidden while CKA_SENSITIVE or !CKA_EXTRACTABLE */
#define HSM_AF_MODIFIABLE (1u << 7)   /* 8: C_SetAttributeValue and C_CopyObject may change it */
#define HSM_AF_SO_TRUE (1u << 8)      /* 10: only the SO sets it to CK_TRUE */
#define HSM_AF_TRUE_STAYS (1u << 9)   /* 11: changes false to true only */
#define HSM_AF_FALSE_STAYS (1u << 10) /* 12: changes true to false only */
#define HSM_AF_COPY (1u << 11)        /* C_CopyObject may change it (TOKEN, PRIVATE, ...) */
#define HSM_AF_TOKEN_SET (1u << 12)   /* set by the token only, in no template */
#define HSM_AF_COMPUTED (1u << 13)    /* the token computes it; a template may repeat it */
#define HSM_AF_USAGE (1u << 14)       /* a key function: policies 10 and 11 */
#define HSM_AF_DEF (1u << 15)         /* has a default: def, or empty for bytes */

struct hsm_attr_rule {
	CK_ATTRIBUTE_TYPE type;
	const char *name;
	uint32_t kinds; /* HSM_K_* this row applies to */
	enum hsm_av av;
	uint32_t flags;
	CK_ULONG def;              /* default of a BOOL or ULONG with HSM_AF_DEF */
	uint32_t min_len, max_len; /* bytes of the stored value (BIGINT: without leading zeros) */
};

/* The table, rows grouped by attribute; an attribute may have one row per
 * group of kinds (CKA_VALUE of a data object and of an AES key differ). */
const struct hsm_attr_rule *hsm_attr_rules(size_t *count);
/* The row of type for kind, NULL when objects of that kind have no such attribute. */
const struct hsm_attr_rule *hsm_attr_rule(CK_ATTRIBUTE_TYPE type, uint32_t kind);
/* "CKA_LABEL", or NULL for an attribute the table does not know. */
const char *hsm_attr_name(CK_ATTRIBUTE_TYPE type);

struct hsm_attr {
	CK_ATTRIBUTE_TYPE type;
	CK_ULONG len;
	uint8_t *val; /* OPENSSL_malloc'd, wiped when freed */
};

/* An object. Read the fields; change none but handle. */
struct hsm_obj {
	CK_OBJECT_HANDLE handle; /* the session layer's number; 0 until it gives one */
	uint64_t ouid;           /* identity kept by encode/decode (backup, cloning); new for a copy */
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE key_type; /* CK_UNAVAILABLE_INFORMATION unless a key */
	uint32_t kind;        /* HSM_K_* */
	size_t nattrs;
	struct hsm_attr *attrs; /* sorted by type, one of each */
	size_t bytes;           /* their values' lengths added up */
	EVP_PKEY *pkey;         /* RSA and EC keys: derived from the attributes when the
				 * object is made or decoded; never stored */
};

/* C_CreateObject. CKR_TOKEN_WRITE_PROTECTED when policy 28 is off. */
CK_RV hsm_obj_create(const struct hsm_key_env *env, const CK_ATTRIBUTE *t, CK_ULONG n,
		     struct hsm_obj **out);
/* C_CopyObject: CKR_ACTION_PROHIBITED when src has CKA_COPYABLE false; the
 * template may change attributes with HSM_AF_MODIFIABLE or HSM_AF_COPY (of
 * a source with CKA_MODIFIABLE false, only HSM_AF_COPY ones), never making
 * a copy less protected than src. */
CK_RV hsm_obj_copy(const struct hsm_key_env *env, const struct hsm_obj *src, const CK_ATTRIBUTE *t,
		   CK_ULONG n, struct hsm_obj **out);
/* C_GetAttributeValue, exactly as PKCS#11 2.40 5.7 says: per attribute
 * CK_UNAVAILABLE_INFORMATION when hidden (CKR_ATTRIBUTE_SENSITIVE), absent
 * (CKR_ATTRIBUTE_TYPE_INVALID) or too long for its buffer
 * (CKR_BUFFER_TOO_SMALL); the length when pValue is NULL. */
CK_RV hsm_obj_get(const struct hsm_obj *o, CK_ATTRIBUTE *t, CK_ULONG n);
/* C_SetAttributeValue, all or nothing: CKR_TOKEN_WRITE_PROTECTED (policy
 * 28), CKR_ACTION_PROHIBITED (CKA_MODIFIABLE false), CKR_ATTRIBUTE_READ_ONLY
 * (not modifiable, a one-way change backwards, policy 11),
 * CKR_ATTRIBUTE_TYPE_INVALID, CKR_ATTRIBUTE_VALUE_INVALID,
 * CKR_TEMPLATE_INCONSISTENT (policy 10). */
CK_RV hsm_obj_set(const struct hsm_key_env *env, struct hsm_obj *o, const CK_ATTRIBUTE *t,
		  CK_ULONG n);
/* C_FindObjects: 1 when every attribute of the template is o's with that
 * value. An attribute o hides (sensitive) never matches. */
int hsm_obj_match(const struct hsm_obj *o, const CK_ATTRIBUTE *t, CK_ULONG n);
/* C_DestroyObject's checks: CKR_TOKEN_WRITE_PROTECTED (policy 28),
 * CKR_ACTION_PROHIBITED (CKA_DESTROYABLE false). The caller frees. */
CK_RV hsm_obj_destroy_check(const struct hsm_key_env *env, const struct hsm_obj *o);
/* Wipes every value and frees; NULL is fine. */
void hsm_obj_free(struct hsm_obj *o);
/* A deep copy of o, the same object: its OUID and handle kept, its values
 * copied, its key shared (one more reference). For the partition model's
 * copies (a partition changed aside, then kept whole), not C_CopyObject. */
CK_RV hsm_obj_dup(const struct hsm_obj *o, struct hsm_obj **out);

/* C_GetObjectSize: the bytes of its values. */
CK_ULONG hsm_obj_size(const struct hsm_obj *o);
const struct hsm_attr *hsm_obj_attr(const struct hsm_obj *o, CK_ATTRIBUTE_TYPE type);
/* A BOOL attribute: 1 or 0 (0 when absent). */
int hsm_obj_bool(const struct hsm_obj *o, CK_ATTRIBUTE_TYPE type);
/* A ULONG attribute, CK_UNAVAILABLE_INFORMATION when absent. */
CK_ULONG hsm_obj_ulong(const struct hsm_obj *o, CK_ATTRIBUTE_TYPE type);

/* Storage and cloning (the storage plane: int PED codes).
 *
 * hsm_obj_encode splits an object in two versioned byte strings:
 *   pub: every attribute that is not secret material, with the OUID;
 *   sec: the secret material (rows with HSM_AF_SENSITIVE: CKA_VALUE of
 *        secret and EC private keys, CKA_PRIVATE_EXPONENT and the CRT
 *        values of RSA private keys), with the same OUID; NULL and 0 for
 *        objects that have none (data, certificates, public keys).
 * The state file and the cloning protocol keep pub as it is (integrity
 * protected with the rest of the file or message) and wrap sec under the
 * partition's storage key or the cloning domain's key, with pub bound to it
 * (for example AES-GCM with pub as additional data), and give both back to
 * hsm_obj_decode. Secret material is never in pub, whatever CKA_SENSITIVE
 * says. Both are OPENSSL_malloc'd: free with OPENSSL_clear_free.
 *
 * hsm_obj_decode is bounded and checks everything hsm_obj_create does
 * (values, consistency, the key material itself) but no template rule and
 * no policy: it refuses a damaged pair whole with PED_E_CORRUPT and why,
 * and keeps the OUID; handle is 0. Attributes missing from an older
 * encoding take their defaults. */
#define HSM_OBJ_ENCODING_VERSION 1
int hsm_obj_encode(const struct hsm_obj *o, uint8_t **pub, size_t *publen, uint8_t **sec,
		   size_t *seclen);
int hsm_obj_decode(const uint8_t *pub, size_t publen, const uint8_t *sec, size_t seclen,
		   struct hsm_obj **out, char *why, size_t whylen);

#endif
