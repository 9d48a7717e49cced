/* SP 800-56C rev. 2 one-step key derivation, hash form with SHA-512, no salt:
 * all keying material of a handshake is SSKDF-SHA512(Z, FixedInfo). */
#ifndef PED_KDF_H
#define PED_KDF_H

#include <stddef.h>
#include <stdint.h>

int ped_sskdf_sha512(const uint8_t *z, size_t zlen, const uint8_t *info, size_t infolen,
		     uint8_t *out, size_t outlen);
/* HMAC-SHA-512 of data under key, full 64 bytes. */
int ped_hmac_sha512(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
		    uint8_t out[64]);

#endif
