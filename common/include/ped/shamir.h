/* Shamir secret sharing over GF(2^8) with the AES polynomial
 * x^8 + x^4 + x^3 + x + 1. Each secret byte is shared independently with its
 * own random polynomial of degree M-1; share i (1..N) is the polynomial at
 * x = i. 1 <= M <= N <= 16, as the PED allows. Field arithmetic is
 * constant-time: no table is indexed by a secret. */
#ifndef PED_SHAMIR_H
#define PED_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#define PED_SHAMIR_MAX_SHARES 16
#define PED_SHAMIR_MAX_SECRET 1024

struct ped_share {
	uint8_t index; /* x coordinate, 1..16 */
	const uint8_t *data;
};

/* Splits len bytes into n shares written to shares_out: share i at offset (i-1)*len. */
int ped_shamir_split(const uint8_t *secret, size_t len, unsigned m, unsigned n, uint8_t *shares_out);
/* Combines count shares by Lagrange interpolation at x = 0. Refuses fewer than
 * m (PED_E_SHARE_TOO_FEW), a repeated index (PED_E_SHARE_DUPLICATE) and an index
 * outside 1..16 (PED_E_SHARE_INVALID); uses the first m shares given. */
int ped_shamir_combine(const struct ped_share *shares, size_t count, unsigned m, size_t len,
		       uint8_t *secret_out);

/* The sharing polynomial at x, from count >= m shares (same checks as
 * combine): x = 0 is the secret, x = i re-creates split i, which is how the
 * PED duplicates a whole keyset from a quorum of it. */
int ped_shamir_eval(const struct ped_share *shares, size_t count, unsigned m, size_t len,
		    uint8_t x, uint8_t *out);

/* For tests and known-answer checks. */
uint8_t ped_gf256_mul(uint8_t a, uint8_t b);
uint8_t ped_gf256_inv(uint8_t a); /* inv(0) = 0 */
/* Split with given coefficients: coeffs[j*(m-1) + k] is the x^(k+1) coefficient for byte j. */
int ped_shamir_split_with(const uint8_t *secret, size_t len, unsigned m, unsigned n,
			  const uint8_t *coeffs, uint8_t *shares_out);

#endif
