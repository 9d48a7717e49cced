#include "ped/shamir.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

/* Shift-and-add multiplication; the conditional reductions are masks, so the
 * time does not depend on the operands. */
uint8_t ped_gf256_mul(uint8_t a, uint8_t b)
{
	uint8_t r = 0;
	for (int i = 0; i < 8; i++) {
		r ^= (uint8_t)(-(b & 1) & a);
		a = (uint8_t)((a << 1) ^ (-(a >> 7) & 0x1b));
		b >>= 1;
	}
	return r;
}

/* a^254 = a^-1 in GF(2^8): a fixed sequence of multiplications. */
uint8_t ped_gf256_inv(uint8_t a)
{
	uint8_t r = 1, base = a;
	for (int e = 254; e; e >>= 1) {
		uint8_t sq = ped_gf256_mul(r, base);
		uint8_t mask = (uint8_t)-(e & 1);
		r = (uint8_t)((sq & mask) | (r & ~mask));
		base = ped_gf256_mul(base, base);
	}
	return r;
}

static int check_params(size_t len, unsigned m, unsigned n)
{
	if (len == 0 || len > PED_SHAMIR_MAX_SECRET || m < 1 || m > n || n > PED_SHAMIR_MAX_SHARES)
		return PED_E_INVALID;
	return PED_OK;
}

int ped_shamir_split_with(const uint8_t *secret, size_t len, unsigned m, unsigned n,
			  const uint8_t *coeffs, uint8_t *shares_out)
{
	int r;
	if ((r = check_params(len, m, n)) != PED_OK)
		return r;
	for (unsigned i = 1; i <= n; i++) {
		uint8_t *share = shares_out + (size_t)(i - 1) * len;
		for (size_t j = 0; j < len; j++) {
			/* Horner from the highest coefficient down to the secret. */
			uint8_t y = 0;
			for (unsigned k = m - 1; k >= 1; k--)
				y = ped_gf256_mul((uint8_t)(y ^ coeffs[j * (m - 1) + k - 1]), (uint8_t)i);
			share[j] = (uint8_t)(y ^ secret[j]);
		}
	}
	return PED_OK;
}

int ped_shamir_split(const uint8_t *secret, size_t len, unsigned m, unsigned n, uint8_t *shares_out)
{
	size_t clen = len * (m > 1 ? m - 1 : 1);
	uint8_t *coeffs;
	int r;

	if ((r = check_params(len, m, n)) != PED_OK)
		return r;
	if ((coeffs = OPENSSL_malloc(clen)) == NULL)
		return PED_E_HOST_MEMORY;
	if (m > 1 && RAND_priv_bytes(coeffs, (int)clen) != 1) {
		r = PED_E_CRYPTO;
		goto out;
	}
	r = ped_shamir_split_with(secret, len, m, n, coeffs, shares_out);
out:
	OPENSSL_clear_free(coeffs, clen);
	return r;
}

int ped_shamir_eval(const struct ped_share *shares, size_t count, unsigned m, size_t len,
		    uint8_t x, uint8_t *out)
{
	uint8_t basis[PED_SHAMIR_MAX_SHARES];
	unsigned seen = 0;

	if (len == 0 || len > PED_SHAMIR_MAX_SECRET || m < 1 || m > PED_SHAMIR_MAX_SHARES)
		return PED_E_INVALID;
	for (size_t i = 0; i < count; i++) {
		if (shares[i].index < 1 || shares[i].index > PED_SHAMIR_MAX_SHARES)
			return PED_E_SHARE_INVALID;
		if (seen & (1u << shares[i].index))
			return PED_E_SHARE_DUPLICATE;
		seen |= 1u << shares[i].index;
	}
	if (count < m)
		return PED_E_SHARE_TOO_FEW;
	/* Lagrange basis at x: l_i = prod_{k != i} (x - x_k) / (x_i - x_k); minus is xor. */
	for (unsigned i = 0; i < m; i++) {
		uint8_t num = 1, den = 1;
		for (unsigned k = 0; k < m; k++) {
			if (k == i)
				continue;
			num = ped_gf256_mul(num, (uint8_t)(x ^ shares[k].index));
			den = ped_gf256_mul(den, (uint8_t)(shares[k].index ^ shares[i].index));
		}
		basis[i] = ped_gf256_mul(num, ped_gf256_inv(den));
	}
	for (size_t j = 0; j < len; j++) {
		uint8_t s = 0;
		for (unsigned i = 0; i < m; i++)
			s ^= ped_gf256_mul(basis[i], shares[i].data[j]);
		out[j] = s;
	}
	return PED_OK;
}

int ped_shamir_combine(const struct ped_share *shares, size_t count, unsigned m, size_t len,
		       uint8_t *secret_out)
{
	return ped_shamir_eval(shares, count, m, len, 0, secret_out);
}
