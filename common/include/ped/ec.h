/* P-521 keys for ECDH (SP 800-56A ECC CDH) and certificate signatures.
 * Wire forms: a private key is its 66-byte big-endian scalar, a public key
 * the uncompressed point 04 || X || Y (133 bytes). Imported points are
 * validated (on the curve, not infinity) before any use. */
#ifndef PED_EC_H
#define PED_EC_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define PED_EC_SCALAR_LEN 66
#define PED_EC_POINT_LEN 133
#define PED_ECDH_LEN 66

int ped_ec_generate(EVP_PKEY **out);
int ped_ec_pub_export(const EVP_PKEY *key, uint8_t out[PED_EC_POINT_LEN]);
int ped_ec_priv_export(const EVP_PKEY *key, uint8_t out[PED_EC_SCALAR_LEN]);
/* PED_E_INVALID for a point not on P-521, infinity, or a wrong encoding. */
int ped_ec_pub_import(const uint8_t *point, size_t len, EVP_PKEY **out);
/* Rebuilds the full key pair from the scalar (public part computed). */
int ped_ec_priv_import(const uint8_t *scalar, size_t len, EVP_PKEY **out);
/* Checks that key is an EC key on P-521 with a valid public point. */
int ped_ec_check_p521(const EVP_PKEY *key);
/* ECC CDH: the 66-byte x-coordinate of d * Q, into an OPENSSL_malloc'd buffer
 * of PED_ECDH_LEN bytes (free with OPENSSL_clear_free). */
int ped_ecdh(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t **z_out);
/* Same, into a caller buffer of PED_ECDH_LEN bytes. */
int ped_ecdh_into(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t z[PED_ECDH_LEN]);

#endif
