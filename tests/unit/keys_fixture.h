/* Keys for the object, mechanism and key policy suites: templates, objects
 * made through libhsm, and the openssl CLI as the outside judge. */
#ifndef TESTS_KEYS_FIXTURE_H
#define TESTS_KEYS_FIXTURE_H

#include "hsm/keypolicy.h"
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
/* The public key an object holds, as OpenSSL reads its CKA_PUBLIC_KEY_INFO. */
EVP_PKEY *kf_spki(const struct hsm_obj *o);

/* Files in the suite's temporary directory and the openssl CLI. */
const char *kf_path(const char *name); /* valid until the next call */
int kf_write(const char *name, const void *data, size_t len);
int kf_read(const char *name, uint8_t *buf, size_t cap, size_t *len);
/* Runs a shell command in the temporary directory; its exit status. */
int kf_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
