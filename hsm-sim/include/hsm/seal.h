/* Sealing secrets at rest and in transit: AES-256-GCM under a key derived
 * with HKDF-SHA-256 (OpenSSL 3 EVP). Two keys use it:
 *
 *   - the storage key (KEK) of an HSM: HKDF(device secret, info
 *     "OPENPED-STATE-v1" || serial), the device secret being 32 random bytes
 *     kept in their own 0600 file beside the state file (the simulator's
 *     "hardware"); the state file's secrets are sealed under it;
 *   - a cloning domain's key: HKDF(domain secret, info
 *     "OPENPED-DOMAIN-CLONE-v1"); objects cloned (backup, restore, partition
 *     clone) travel sealed under it.
 *
 * A sealed blob is nonce (12 random bytes) || ciphertext || tag (16), the
 * additional data binding it to its place. Nothing here logs or keeps a
 * secret; every buffer that held one is wiped. */
#ifndef HSM_SEAL_H
#define HSM_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define HSM_KEY_LEN 32
#define HSM_DEVICE_SECRET_LEN 32
#define HSM_SEAL_NONCE_LEN 12
#define HSM_SEAL_TAG_LEN 16
#define HSM_SEAL_OVERHEAD (HSM_SEAL_NONCE_LEN + HSM_SEAL_TAG_LEN)

/* HKDF-SHA-256 (no salt) of ikm with info, HSM_KEY_LEN bytes into out. */
int hsm_hkdf(const uint8_t *ikm, size_t ikmlen, const void *info, size_t infolen, uint8_t out[HSM_KEY_LEN]);
/* The storage key of HSM serial from its device secret. */
int hsm_storage_key(const uint8_t secret[HSM_DEVICE_SECRET_LEN], const char *serial, uint8_t kek[HSM_KEY_LEN]);
/* A cloning domain's key from the domain secret the red key carries. */
int hsm_domain_key(const uint8_t *secret, size_t len, uint8_t key[HSM_KEY_LEN]);

/* Seals pt (may be empty) under key with aad: *out (OPENSSL_malloc'd,
 * ptlen + HSM_SEAL_OVERHEAD bytes). */
int hsm_seal(const uint8_t key[HSM_KEY_LEN], const uint8_t *aad, size_t aadlen, const uint8_t *pt, size_t ptlen,
	     uint8_t **out, size_t *outlen);
/* Opens what hsm_seal made: *pt (OPENSSL_malloc'd, free with
 * OPENSSL_clear_free; NULL when empty). PED_E_BAD_RECORD when the key,
 * the additional data or a byte is not the sealer's: nothing comes out. */
int hsm_open(const uint8_t key[HSM_KEY_LEN], const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t inlen,
	     uint8_t **pt, size_t *ptlen);

/* The device secret file (hsm-SERIAL.device beside hsm-SERIAL.state).
 * hsm_device_read reads it with the private-file rules (no link, a regular
 * file of ours, one name, no permission for group or others, exactly
 * HSM_DEVICE_SECRET_LEN bytes): PED_E_NOT_FOUND when there is none, other
 * errors with why. hsm_device_create makes a new random one, atomically,
 * mode 0600 (PED_E_EXISTS if there is one: a device secret is never
 * replaced). */
int hsm_device_read(const char *path, uint8_t secret[HSM_DEVICE_SECRET_LEN], char *why, size_t whylen);
int hsm_device_create(const char *path, uint8_t secret[HSM_DEVICE_SECRET_LEN], char *why, size_t whylen);

#endif
