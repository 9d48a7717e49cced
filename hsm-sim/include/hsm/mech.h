/* Mechanisms: what the HSM does with its keys, all with OpenSSL 3 EVP, and
 * the checks that decide whether it may (the key's attributes, the
 * partition's key policies), each with the CK_RV a PKCS#11 client expects.
 *
 * An operation (C_EncryptInit .. C_EncryptFinal and the other families) is
 * a struct hsm_op: hsm_op_init checks everything that can be checked before
 * data arrives and copies what it needs (key material, IV, AAD), so the key
 * object may go away while the operation lives. Then one of:
 *   one-shot:   hsm_op_oneshot (C_Encrypt, C_Decrypt, C_Sign, C_Digest) or
 *               hsm_op_verify (C_Verify);
 *   multi-part: hsm_op_update (C_*Update) ... hsm_op_final (C_*Final) or
 *               hsm_op_verify_final (C_VerifyFinal).
 * PKCS#11's two-call convention holds for every call with output: out NULL
 * asks for the length (*outlen set, nothing consumed); a buffer too small
 * gives CKR_BUFFER_TOO_SMALL with the length in *outlen and consumes
 * nothing; the operation stays active for the next call. Any other result
 * than CKR_OK ends the operation, as does a final or one-shot call that
 * returns output; hsm_op_active says whether the session still has one.
 * Lengths: update and final give the exact length; a one-shot RSA or
 * CBC-PAD decryption asked with out NULL gives a bound (the exact length
 * comes with CKR_BUFFER_TOO_SMALL, or with the plaintext).
 * AES-GCM decryption gives nothing before its final call, which checks the
 * tag before any plaintext is returned (PKCS#11 2.40, as SoftHSM2 does).
 *
 * Mechanisms with one part only (CKM_RSA_PKCS, CKM_RSA_X_509,
 * CKM_RSA_PKCS_PSS, CKM_RSA_PKCS_OAEP, CKM_ECDSA) refuse updates with
 * CKR_FUNCTION_NOT_SUPPORTED. */
#ifndef HSM_MECH_H
#define HSM_MECH_H

#include "hsm/ck.h"
#include "hsm/keypolicy.h"
#include "hsm/object.h"

/* Bounds of what an operation holds: AES-GCM decryption buffers its input
 * until the tag is checked (beyond: CKR_ENCRYPTED_DATA_LEN_RANGE); GCM IV
 * and AAD, OAEP labels. */
#define HSM_OP_BUFFER_MAX (16u * 1024 * 1024)
#define HSM_GCM_IV_MAX 128
#define HSM_GCM_AAD_MAX 65536
#define HSM_OAEP_LABEL_MAX 1024
#define HSM_RANDOM_MAX 65536

/* C_GetMechanismList: the mechanisms the partition's policies allow (18,
 * 33, 43 take theirs away), two-call convention. */
CK_RV hsm_mech_list(const struct hsm_key_env *env, CK_MECHANISM_TYPE *list, CK_ULONG *count);
/* C_GetMechanismInfo: key sizes in the units PKCS#11 gives each family
 * (RSA, EC, generic secret: bits; AES, HMAC: bytes), the functions the
 * policies leave (45 takes CKF_VERIFY from the raw ones).
 * CKR_MECHANISM_INVALID for one not listed. */
CK_RV hsm_mech_info(const struct hsm_key_env *env, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info);
/* "CKM_AES_GCM", NULL for one this library does not know. */
const char *hsm_mech_name(CK_MECHANISM_TYPE type);

struct hsm_op;

/* fn is CKF_ENCRYPT, CKF_DECRYPT, CKF_SIGN, CKF_VERIFY or CKF_DIGEST (key
 * NULL). Checks, in order: the mechanism and its policies
 * (CKR_MECHANISM_INVALID), the key's usage attribute
 * (CKR_KEY_FUNCTION_NOT_PERMITTED), its class and type
 * (CKR_KEY_TYPE_INCONSISTENT), CKA_ALLOWED_MECHANISMS
 * (CKR_MECHANISM_INVALID), the policies on the key (17, 39:
 * CKR_KEY_FUNCTION_NOT_PERMITTED), its size (CKR_KEY_SIZE_RANGE), the
 * mechanism's parameter (CKR_MECHANISM_PARAM_INVALID). */
CK_RV hsm_op_init(const struct hsm_key_env *env, CK_FLAGS fn, const CK_MECHANISM *m,
		  const struct hsm_obj *key, struct hsm_op **out);
/* in may be NULL when inlen is 0. Encrypt/decrypt: out, outlen as the
 * two-call convention says. Sign, verify, digest: out and outlen unused
 * (pass NULL). */
CK_RV hsm_op_update(struct hsm_op *op, const CK_BYTE *in, CK_ULONG inlen, CK_BYTE *out,
		    CK_ULONG *outlen);
CK_RV hsm_op_final(struct hsm_op *op, CK_BYTE *out, CK_ULONG *outlen);
CK_RV hsm_op_oneshot(struct hsm_op *op, const CK_BYTE *in, CK_ULONG inlen, CK_BYTE *out,
		     CK_ULONG *outlen);
/* CKR_OK, CKR_SIGNATURE_INVALID, CKR_SIGNATURE_LEN_RANGE; ends the operation. */
CK_RV hsm_op_verify_final(struct hsm_op *op, const CK_BYTE *sig, CK_ULONG siglen);
CK_RV hsm_op_verify(struct hsm_op *op, const CK_BYTE *data, CK_ULONG len, const CK_BYTE *sig,
		    CK_ULONG siglen);
/* C_DigestKey into a digest operation: a secret key's value
 * (CKR_KEY_INDIGESTIBLE for other keys and when policy 9 is off). */
CK_RV hsm_op_digest_key(struct hsm_op *op, const struct hsm_key_env *env, const struct hsm_obj *key);
int hsm_op_active(const struct hsm_op *op);
/* Wipes and frees; NULL is fine. */
void hsm_op_free(struct hsm_op *op);
/* Frees what the calling thread keeps for its next public-key operation
 * (else freed when the thread ends): for a thread that releases its
 * OpenSSL state itself (ped_thread_release_openssl). */
void hsm_op_thread_end(void);

/* C_GenerateKey: CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN (CKA_VALUE_LEN
 * required). The key has CKA_LOCAL, CKA_KEY_GEN_MECHANISM,
 * CKA_ALWAYS_SENSITIVE = CKA_SENSITIVE, CKA_NEVER_EXTRACTABLE =
 * !CKA_EXTRACTABLE. */
CK_RV hsm_generate_key(const struct hsm_key_env *env, const CK_MECHANISM *m, const CK_ATTRIBUTE *t,
		       CK_ULONG n, struct hsm_obj **out);
/* C_GenerateKeyPair: CKM_RSA_PKCS_KEY_PAIR_GEN (public template:
 * CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT optional, 65537),
 * CKM_EC_KEY_PAIR_GEN (public template: CKA_EC_PARAMS; CKR_CURVE_NOT_SUPPORTED
 * for another curve). The public key has CKA_MODULUS and
 * CKA_PUBLIC_EXPONENT or CKA_EC_POINT (a DER OCTET STRING) and CKA_EC_PARAMS;
 * both have CKA_PUBLIC_KEY_INFO (SubjectPublicKeyInfo DER). */
CK_RV hsm_generate_key_pair(const struct hsm_key_env *env, const CK_MECHANISM *m,
			    const CK_ATTRIBUTE *pubt, CK_ULONG npub, const CK_ATTRIBUTE *privt,
			    CK_ULONG npriv, struct hsm_obj **pub, struct hsm_obj **priv);
/* C_WrapKey, two-call convention: CKM_AES_KEY_WRAP_PAD (RFC 5649, the
 * PKCS#11 2.40 name of KWP), CKM_AES_KEY_WRAP (RFC 3394), CKM_AES_CBC_PAD,
 * CKM_RSA_PKCS_OAEP (secret keys only). A secret key is wrapped as its
 * value, a private key as PKCS#8 PrivateKeyInfo DER. CKR_KEY_UNEXTRACTABLE
 * (CKA_EXTRACTABLE false), CKR_KEY_NOT_WRAPPABLE (policies 1, 5, 34,
 * CKA_WRAP_WITH_TRUSTED without a trusted wrapping key, not a private or
 * secret key), CKR_KEY_FUNCTION_NOT_PERMITTED (no CKA_WRAP),
 * CKR_WRAPPING_KEY_TYPE_INCONSISTENT, CKR_KEY_SIZE_RANGE. */
CK_RV hsm_wrap_key(const struct hsm_key_env *env, const CK_MECHANISM *m,
		   const struct hsm_obj *wrapping, const struct hsm_obj *key, CK_BYTE *out,
		   CK_ULONG *outlen);
/* C_UnwrapKey: the template names CKA_CLASS and CKA_KEY_TYPE.
 * CKR_WRAPPED_KEY_INVALID, CKR_WRAPPED_KEY_LEN_RANGE,
 * CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, CKR_ACTION_PROHIBITED (policies 2,
 * 6, 34). The key has CKA_LOCAL, CKA_ALWAYS_SENSITIVE and
 * CKA_NEVER_EXTRACTABLE false. */
CK_RV hsm_unwrap_key(const struct hsm_key_env *env, const CK_MECHANISM *m,
		     const struct hsm_obj *unwrapping, const CK_BYTE *in, CK_ULONG inlen,
		     const CK_ATTRIBUTE *t, CK_ULONG n, struct hsm_obj **out);
/* C_DeriveKey: CKM_ECDH1_DERIVE with CKD_NULL and no shared data; the
 * peer's point raw (04 X Y) or as a DER OCTET STRING. The new key is a
 * generic secret (default) or AES key of CKA_VALUE_LEN bytes (AES:
 * required; generic: default the whole shared secret), the last bytes of
 * the shared secret when shorter. */
CK_RV hsm_derive_key(const struct hsm_key_env *env, const CK_MECHANISM *m,
		     const struct hsm_obj *base, const CK_ATTRIBUTE *t, CK_ULONG n,
		     struct hsm_obj **out);
/* C_GenerateRandom: at most HSM_RANDOM_MAX bytes a call (CKR_ARGUMENTS_BAD). */
CK_RV hsm_random(CK_BYTE *out, CK_ULONG len);

#endif
