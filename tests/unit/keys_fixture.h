/* Keys for the object, mechanism and key policy suites: templates, objects
 * made through libhsm, and the openssl CLI as the outside judge. */
#ifndef TESTS_KEYS_FIXTURE_H
#define TESTS_KEYS_FIXTURE_H

#include "hsm/mech.h"
#include "hsm/object.h"

#include <stddef.h>
#include <stdint.h>

extern CK_BBOOL kf_yes, kf_no;

/* Template entries: a CK_BBOOL, a CK_ULONG (by address), bytes. */
#define KF_B(t, v) {(t), (v) ? &kf_yes : &kf_no, sizeof(CK_BBOOL)}
#define KF_U(t, p) {(t), (void *)(p), sizeof(CK_ULONG)}
#define KF_D(t, p, n) {(t), (void *)(p), (n)}
#define KF_N(a) (sizeof(a) / sizeof((a)[0]))

/* CKA_EC_PARAMS of "P-256", "P-384" or "P-521" (a DER OID). */
const uint8_t *kf_ec_params(const char *curve, size_t *len);

/* A secret key of type kt with value and the extra attributes; NULL on
 * failure (the test fails). */
struct hsm_obj *kf_secret(const struct hsm_key_env *env, CK_KEY_TYPE kt, const void *value, size_t len,
			  const CK_ATTRIBUTE *extra, CK_ULONG n);
/* A token data object (CKA_TOKEN and CKA_PRIVATE true) with label and
 * value, its OUID ouid (0: a new one); NULL on failure (the test fails). */
struct hsm_obj *kf_data(const char *label, const void *value, size_t len, uint64_t ouid);
/* Whether a and b hold the same attributes with the same values. */
int kf_same_attrs(const struct hsm_obj *a, const struct hsm_obj *b);
/* An OpenSSL RSA or EC key as a public (priv 0) or private key object,
 * through C_CreateObject, with the extra attributes. */
struct hsm_obj *kf_import(const struct hsm_key_env *env, EVP_PKEY *k, int priv, const CK_ATTRIBUTE *extra,
			  CK_ULONG n);
/* A generated key pair: RSA of bits, or EC on curve; CU_FAIL on failure. */
void kf_rsa_pair(const struct hsm_key_env *env, CK_ULONG bits, const CK_ATTRIBUTE *pubx, CK_ULONG npub,
		 const CK_ATTRIBUTE *privx, CK_ULONG npriv, struct hsm_obj **pub, struct hsm_obj **priv);
void kf_ec_pair(const struct hsm_key_env *env, const char *curve, const CK_ATTRIBUTE *pubx,
		CK_ULONG npub, const CK_ATTRIBUTE *privx, CK_ULONG npriv, struct hsm_obj **pub,
		struct hsm_obj **priv);
/* The public key an object holds, as OpenSSL reads its CKA_PUBLIC_KEY_INFO. */
EVP_PKEY *kf_spki(const struct hsm_obj *o);

/* One-shot helpers through hsm_op_*: CKR_OK or the first failure. */
CK_RV kf_sign(const struct hsm_key_env *env, CK_MECHANISM *m, const struct hsm_obj *key,
	      const void *data, size_t len, uint8_t *sig, CK_ULONG *siglen);
CK_RV kf_verify(const struct hsm_key_env *env, CK_MECHANISM *m, const struct hsm_obj *key,
		const void *data, size_t len, const uint8_t *sig, CK_ULONG siglen);
CK_RV kf_crypt(const struct hsm_key_env *env, CK_FLAGS fn, CK_MECHANISM *m,
	       const struct hsm_obj *key, const void *in, size_t len, uint8_t *out,
	       CK_ULONG *outlen);

/* Files in the suite's temporary directory and the openssl CLI. */
const char *kf_path(const char *name); /* valid until the next call */
int kf_write(const char *name, const void *data, size_t len);
int kf_read(const char *name, uint8_t *buf, size_t cap, size_t *len);
/* Runs a shell command in the temporary directory; its exit status. */
int kf_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
