#include "unit.h"

#include "ped/error.h"
#include "ped/shamir.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static void field_matches_fips197(void)
{
	/* FIPS-197 section 4.2 examples */
	CU_ASSERT_EQUAL(ped_gf256_mul(0x57, 0x83), 0xc1);
	CU_ASSERT_EQUAL(ped_gf256_mul(0x57, 0x13), 0xfe);
	CU_ASSERT_EQUAL(ped_gf256_mul(0x57, 0x02), 0xae);
	CU_ASSERT_EQUAL(ped_gf256_mul(0x57, 0x04), 0x47);
	/* the AES S-box is built on these inverses */
	CU_ASSERT_EQUAL(ped_gf256_inv(0x53), 0xca);
	CU_ASSERT_EQUAL(ped_gf256_inv(0x01), 0x01);
	CU_ASSERT_EQUAL(ped_gf256_inv(0x00), 0x00);
	for (int a = 1; a < 256; a++) {
		CU_ASSERT_EQUAL(ped_gf256_mul((uint8_t)a, ped_gf256_inv((uint8_t)a)), 1);
		for (int b = 0; b < 256; b += 37)
			CU_ASSERT_EQUAL(ped_gf256_mul((uint8_t)a, (uint8_t)b),
					ped_gf256_mul((uint8_t)b, (uint8_t)a));
	}
}

/* Shares computed by an independent implementation (Python, exp/log tables
 * with generator 0x03) for secret 5300ff, M=3, coefficients (c1, c2) per
 * byte (01,02), (aa,bb), (00,80). */
static void known_answer_shares(void)
{
	const uint8_t secret[3] = {0x53, 0x00, 0xff};
	const uint8_t coeffs[6] = {0x01, 0x02, 0xaa, 0xbb, 0x00, 0x80};
	const char *want[5] = {"50117f", "5995c9", "5a8449", "77db27", "74caa7"};
	uint8_t shares[15];
	char hex[7];
	CU_ASSERT_EQUAL_FATAL(ped_shamir_split_with(secret, 3, 3, 5, coeffs, shares), PED_OK);
	for (int i = 0; i < 5; i++) {
		snprintf(hex, sizeof(hex), "%02x%02x%02x", shares[i * 3], shares[i * 3 + 1],
			 shares[i * 3 + 2]);
		CU_ASSERT_STRING_EQUAL(hex, want[i]);
	}
}

static void shuffle(uint8_t *v, unsigned n)
{
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j = (unsigned)rand() % (i + 1);
		uint8_t t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

static void every_m_n_and_subset_size(void)
{
	uint8_t secret[32], shares[16 * 32], out[32], idx[16];
	struct ped_share sel[16];
	srand(7);
	for (unsigned n = 1; n <= 16; n++)
		for (unsigned m = 1; m <= n; m++) {
			RAND_bytes(secret, sizeof(secret));
			CU_ASSERT_EQUAL_FATAL(ped_shamir_split(secret, 32, m, n, shares), PED_OK);
			for (unsigned k = 1; k <= n; k++) {
				for (unsigned i = 0; i < n; i++)
					idx[i] = (uint8_t)(i + 1);
				shuffle(idx, n);
				for (unsigned i = 0; i < k; i++)
					sel[i] = (struct ped_share){idx[i], shares + (idx[i] - 1) * 32};
				int r = ped_shamir_combine(sel, k, m, 32, out);
				if (k < m) {
					CU_ASSERT_EQUAL(r, PED_E_SHARE_TOO_FEW);
				} else {
					CU_ASSERT_EQUAL(r, PED_OK);
					CU_ASSERT(memcmp(out, secret, 32) == 0);
				}
			}
		}
}

static void fewer_than_m_reveal_nothing_useful(void)
{
	/* with M-1 shares and a guessed extra share, any secret is possible:
	 * check that combining M-1 true shares with a fake one gives a wrong secret */
	uint8_t secret[16], shares[5 * 16], fake[16], out[16];
	RAND_bytes(secret, sizeof(secret));
	CU_ASSERT_EQUAL(ped_shamir_split(secret, 16, 3, 5, shares), PED_OK);
	memset(fake, 0, sizeof(fake));
	struct ped_share sel[3] = {{1, shares}, {2, shares + 16}, {5, fake}};
	CU_ASSERT_EQUAL(ped_shamir_combine(sel, 3, 3, 16, out), PED_OK);
	CU_ASSERT(memcmp(out, secret, 16) != 0);
}

/* Any M of the N combine to the secret, every subset (not one at random),
 * for every M and N up to 10; any M - 1 come back as too few. */
static void every_subset_of_every_m_n(void)
{
	uint8_t secret[4], shares[10 * 4], out[4];
	struct ped_share sel[10];
	for (unsigned n = 1; n <= 10; n++)
		for (unsigned m = 1; m <= n; m++) {
			RAND_bytes(secret, sizeof(secret));
			CU_ASSERT_EQUAL_FATAL(ped_shamir_split(secret, 4, m, n, shares), PED_OK);
			for (unsigned set = 1; set < (1u << n); set++) {
				unsigned k = 0;
				for (unsigned i = 0; i < n; i++)
					if (set & (1u << i))
						sel[k++] = (struct ped_share){(uint8_t)(i + 1), shares + i * 4};
				int r = ped_shamir_combine(sel, k, m, 4, out);
				if (k < m) {
					CU_ASSERT_EQUAL(r, PED_E_SHARE_TOO_FEW);
				} else if (r != PED_OK || memcmp(out, secret, 4) != 0) {
					CU_FAIL("a quorum did not give the secret");
					return;
				}
			}
		}
}

/* Perfect secrecy, exhaustively for one byte: over every choice of the
 * M - 1 coefficients, any M - 1 shares take every combination of values
 * exactly once, whatever the secret. M - 1 splits therefore tell nothing
 * about it (no value, not even a zero share, is likelier for one secret
 * than another). M = 2 and 3, N = M + 1, every (M - 1)-subset. */
static void fewer_than_m_are_uniform_whatever_the_secret(void)
{
	static uint16_t seen[65536];
	const uint8_t secrets[3] = {0x00, 0x5a, 0xff};
	uint8_t coeffs[2], shares[4];
	for (unsigned m = 2; m <= 3; m++) {
		unsigned n = m + 1, combos = m == 2 ? 256 : 65536;
		for (unsigned sidx = 0; sidx < 3; sidx++)
			for (unsigned a = 0; a < n; a++)
				for (unsigned b = a + 1; b < (m == 2 ? a + 2 : n); b++) {
					memset(seen, 0, sizeof(seen));
					for (unsigned c = 0; c < combos; c++) {
						coeffs[0] = (uint8_t)c;
						coeffs[1] = (uint8_t)(c >> 8);
						CU_ASSERT_EQUAL_FATAL(ped_shamir_split_with(&secrets[sidx], 1, m, n, coeffs,
											    shares), PED_OK);
						unsigned v = m == 2 ? shares[a] : (unsigned)shares[a] << 8 | shares[b];
						seen[v]++;
					}
					unsigned bad = 0;
					for (unsigned v = 0; v < combos; v++)
						bad += seen[v] != 1;
					CU_ASSERT_EQUAL(bad, 0);
				}
	}
}

/* The shares are the polynomial at x = 1..N, in order: never at 0 (that
 * is the secret) and never twice. M = 2, coefficient 1: share x = x ^ secret. */
static void shares_are_at_one_to_n(void)
{
	const uint8_t secret = 0x42, coeff = 0x01;
	uint8_t shares[16], out[PED_SHAMIR_MAX_SECRET + 1];
	CU_ASSERT_EQUAL_FATAL(ped_shamir_split_with(&secret, 1, 2, 16, &coeff, shares), PED_OK);
	for (unsigned x = 1; x <= 16; x++)
		CU_ASSERT_EQUAL(shares[x - 1], (uint8_t)(x ^ secret));
	/* and the bounds of the length and of M in eval */
	uint8_t big[PED_SHAMIR_MAX_SECRET + 1];
	memset(big, 7, sizeof(big));
	CU_ASSERT_EQUAL(ped_shamir_split(big, sizeof(big), 1, 1, out), PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_shamir_split(big, PED_SHAMIR_MAX_SECRET, 1, 1, out), PED_OK);
	struct ped_share one = {1, big};
	CU_ASSERT_EQUAL(ped_shamir_eval(&one, 1, 17, 1, 0, out), PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_shamir_eval(&one, 1, 0, 1, 0, out), PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_shamir_eval(&one, 1, 1, sizeof(big), 0, out), PED_E_INVALID);
}

static void bad_shares_are_refused(void)
{
	uint8_t secret[8] = {1, 2, 3, 4, 5, 6, 7, 8}, shares[3 * 8], out[8];
	CU_ASSERT_EQUAL(ped_shamir_split(secret, 8, 2, 3, shares), PED_OK);
	struct ped_share dup[2] = {{2, shares + 8}, {2, shares + 8}};
	CU_ASSERT_EQUAL(ped_shamir_combine(dup, 2, 2, 8, out), PED_E_SHARE_DUPLICATE);
	struct ped_share zero[2] = {{0, shares}, {1, shares}};
	CU_ASSERT_EQUAL(ped_shamir_combine(zero, 2, 2, 8, out), PED_E_SHARE_INVALID);
	struct ped_share big[2] = {{17, shares}, {1, shares}};
	CU_ASSERT_EQUAL(ped_shamir_combine(big, 2, 2, 8, out), PED_E_SHARE_INVALID);
	CU_ASSERT_EQUAL(ped_shamir_split(secret, 8, 3, 2, shares), PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_shamir_split(secret, 8, 0, 2, shares), PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_shamir_split(secret, 8, 2, 17, shares), PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_shamir_split(secret, 0, 1, 1, shares), PED_E_INVALID);
	/* M = 1: every share is the secret itself */
	CU_ASSERT_EQUAL(ped_shamir_split(secret, 8, 1, 3, shares), PED_OK);
	for (int i = 0; i < 3; i++)
		CU_ASSERT(memcmp(shares + i * 8, secret, 8) == 0);
}

UNIT_SUITE(shamir, NULL, NULL, UNIT_TEST(field_matches_fips197), UNIT_TEST(known_answer_shares),
	   UNIT_TEST(every_m_n_and_subset_size), UNIT_TEST(fewer_than_m_reveal_nothing_useful),
	   UNIT_TEST(bad_shares_are_refused), UNIT_TEST(every_subset_of_every_m_n),
	   UNIT_TEST(fewer_than_m_are_uniform_whatever_the_secret), UNIT_TEST(shares_are_at_one_to_n))
