/* AES key wrap (SP 800-38F): KWP (with padding) for CSPs inside the channel,
 * KW only to cross-check against public vectors. Key size by key length
 * (16, 24 or 32 bytes); the channel always uses 32. */
#ifndef PED_KWP_H
#define PED_KWP_H

#include <stddef.h>
#include <stdint.h>

#define PED_KWP_MAX_INPUT 4096

/* Outputs go to OPENSSL_malloc'd buffers (free with OPENSSL_clear_free). */
int ped_kwp_wrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen, uint8_t **out,
		 size_t *outlen);
/* PED_E_BAD_RECORD when the integrity check fails. */
int ped_kwp_unwrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
		   uint8_t **out, size_t *outlen);
int ped_kw_wrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen, uint8_t **out,
		size_t *outlen);
int ped_kw_unwrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen, uint8_t **out,
		  size_t *outlen);

#endif
