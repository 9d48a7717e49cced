#define _GNU_SOURCE /* memmem */
#include "unit.h"

#include "ped/error.h"
#include "ped/record.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

static void pair(struct ped_channel **a, struct ped_channel **b)
{
	struct ped_channel_keys ka, kb;
	RAND_bytes((uint8_t *)&ka, sizeof(ka));
	kb.tx = ka.rx;
	kb.rx = ka.tx;
	CU_ASSERT_EQUAL_FATAL(ped_channel_new(&ka, a), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_channel_new(&kb, b), PED_OK);
	ped_channel_keys_cleanse(&ka);
	ped_channel_keys_cleanse(&kb);
}

static int roundtrip(struct ped_channel *a, struct ped_channel *b, uint8_t type, const uint8_t *m,
		     size_t len)
{
	uint8_t *rec, *pt, t;
	size_t rl, pl;
	int r;
	if ((r = ped_channel_seal(a, type, m, len, &rec, &rl)) != PED_OK)
		return r;
	r = ped_channel_open(b, rec, rl, &t, &pt, &pl);
	OPENSSL_free(rec);
	if (r != PED_OK)
		return r;
	r = (t == type && pl == len && (len == 0 || memcmp(pt, m, len) == 0)) ? PED_OK : -9999;
	OPENSSL_clear_free(pt, pl ? pl : 1);
	return r;
}

static void round_trips_both_ways_all_sizes(void)
{
	struct ped_channel *a, *b;
	static uint8_t msg[PED_RECORD_MAX_PLAINTEXT + 1];
	size_t sizes[] = {0, 1, 15, 16, 17, 1000, PED_RECORD_MAX_PLAINTEXT};
	RAND_bytes(msg, sizeof(msg));
	pair(&a, &b);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		CU_ASSERT_EQUAL(roundtrip(a, b, PED_REC_DATA, msg, sizes[i]), PED_OK);
		CU_ASSERT_EQUAL(roundtrip(b, a, PED_REC_DATA, msg, sizes[i]), PED_OK);
	}
	CU_ASSERT_EQUAL(roundtrip(a, b, PED_REC_READY, NULL, 0), PED_OK);
	CU_ASSERT_EQUAL(ped_channel_tx_seq(a), 8);
	CU_ASSERT_EQUAL(ped_channel_rx_seq(b), 8);
	uint8_t *rec;
	size_t rl;
	CU_ASSERT_EQUAL(ped_channel_seal(a, PED_REC_DATA, msg, PED_RECORD_MAX_PLAINTEXT + 1, &rec, &rl),
			PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_channel_seal(a, 9, msg, 1, &rec, &rl), PED_E_INVALID);
	CU_ASSERT_TRUE(ped_channel_alive(a));
	/* the same plaintext twice gives different ciphertexts (counter moves on) */
	uint8_t *r1, *r2;
	size_t l1, l2;
	ped_channel_seal(a, PED_REC_DATA, msg, 32, &r1, &l1);
	ped_channel_seal(a, PED_REC_DATA, msg, 32, &r2, &l2);
	CU_ASSERT(memcmp(r1 + PED_RECORD_HEADER_LEN, r2 + PED_RECORD_HEADER_LEN, 32) != 0);
	OPENSSL_free(r1);
	OPENSSL_free(r2);
	ped_channel_free(a);
	ped_channel_free(b);
}

static void every_flipped_bit_kills_the_channel(void)
{
	uint8_t msg[40], *rec, *pt, t;
	size_t rl, pl;
	RAND_bytes(msg, sizeof(msg));
	for (size_t bit = 0; bit < 8 * (PED_RECORD_OVERHEAD + sizeof(msg)); bit++) {
		struct ped_channel *a, *b;
		pair(&a, &b);
		CU_ASSERT_EQUAL_FATAL(ped_channel_seal(a, PED_REC_DATA, msg, sizeof(msg), &rec, &rl), PED_OK);
		rec[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CU_ASSERT_EQUAL(ped_channel_open(b, rec, rl, &t, &pt, &pl), PED_E_BAD_RECORD);
		CU_ASSERT_FALSE(ped_channel_alive(b));
		/* and nothing more is accepted, not even a good record */
		rec[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		CU_ASSERT_EQUAL(ped_channel_open(b, rec, rl, &t, &pt, &pl), PED_E_CHANNEL_CLOSED);
		OPENSSL_free(rec);
		ped_channel_free(a);
		ped_channel_free(b);
	}
}

static void truncation_replay_and_reorder(void)
{
	struct ped_channel *a, *b;
	uint8_t msg[64], *r0, *r1, *pt, t;
	size_t l0, l1, pl;
	RAND_bytes(msg, sizeof(msg));
	for (size_t cut = 0; cut < PED_RECORD_OVERHEAD + sizeof(msg); cut++) {
		pair(&a, &b);
		ped_channel_seal(a, PED_REC_DATA, msg, sizeof(msg), &r0, &l0);
		CU_ASSERT_EQUAL(ped_channel_open(b, r0, cut, &t, &pt, &pl), PED_E_BAD_RECORD);
		OPENSSL_free(r0);
		ped_channel_free(a);
		ped_channel_free(b);
	}
	/* replay */
	pair(&a, &b);
	ped_channel_seal(a, PED_REC_DATA, msg, sizeof(msg), &r0, &l0);
	CU_ASSERT_EQUAL(ped_channel_open(b, r0, l0, &t, &pt, &pl), PED_OK);
	OPENSSL_clear_free(pt, pl);
	CU_ASSERT_EQUAL(ped_channel_open(b, r0, l0, &t, &pt, &pl), PED_E_REPLAY);
	CU_ASSERT_FALSE(ped_channel_alive(b));
	OPENSSL_free(r0);
	ped_channel_free(a);
	ped_channel_free(b);
	/* reorder */
	pair(&a, &b);
	ped_channel_seal(a, PED_REC_DATA, msg, sizeof(msg), &r0, &l0);
	ped_channel_seal(a, PED_REC_DATA, msg, sizeof(msg), &r1, &l1);
	CU_ASSERT_EQUAL(ped_channel_open(b, r1, l1, &t, &pt, &pl), PED_E_REPLAY);
	OPENSSL_free(r0);
	OPENSSL_free(r1);
	ped_channel_free(a);
	ped_channel_free(b);
	/* a record from another channel (other keys) */
	struct ped_channel *c, *d;
	pair(&a, &b);
	pair(&c, &d);
	ped_channel_seal(a, PED_REC_DATA, msg, sizeof(msg), &r0, &l0);
	CU_ASSERT_EQUAL(ped_channel_open(d, r0, l0, &t, &pt, &pl), PED_E_BAD_RECORD);
	/* a record reflected back to its sender */
	CU_ASSERT_EQUAL(ped_channel_open(a, r0, l0, &t, &pt, &pl), PED_E_BAD_RECORD);
	OPENSSL_free(r0);
	ped_channel_free(a);
	ped_channel_free(b);
	ped_channel_free(c);
	ped_channel_free(d);
}

static void csp_is_wrapped_and_close_ends(void)
{
	struct ped_channel *a, *b;
	uint8_t csp[48], *rec, *pt, *out, t;
	size_t rl, pl, ol;
	RAND_bytes(csp, sizeof(csp));
	pair(&a, &b);
	CU_ASSERT_EQUAL_FATAL(ped_channel_seal_csp(a, csp, sizeof(csp), &rec, &rl), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_channel_open(b, rec, rl, &t, &pt, &pl), PED_OK);
	CU_ASSERT_EQUAL(t, PED_REC_CSP);
	CU_ASSERT_EQUAL(pl, 56); /* KWP: 48 bytes + 8 */
	CU_ASSERT(memmem(pt, pl, csp, 8) == NULL);
	CU_ASSERT_EQUAL(ped_channel_unwrap_csp(b, pt, pl, &out, &ol), PED_OK);
	CU_ASSERT_EQUAL(ol, sizeof(csp));
	CU_ASSERT(memcmp(out, csp, sizeof(csp)) == 0);
	OPENSSL_clear_free(out, ol);
	pt[3] ^= 1;
	CU_ASSERT_EQUAL(ped_channel_unwrap_csp(b, pt, pl, &out, &ol), PED_E_BAD_RECORD);
	CU_ASSERT_FALSE(ped_channel_alive(b));
	OPENSSL_clear_free(pt, pl);
	OPENSSL_free(rec);
	/* CLOSE from the peer ends the channel on receipt */
	uint8_t reason[4] = {0, 0, 0, 0};
	ped_channel_free(b);
	ped_channel_free(a);
	pair(&a, &b);
	ped_channel_seal(a, PED_REC_CLOSE, reason, 4, &rec, &rl);
	CU_ASSERT_EQUAL(ped_channel_open(b, rec, rl, &t, &pt, &pl), PED_OK);
	CU_ASSERT_EQUAL(t, PED_REC_CLOSE);
	CU_ASSERT_FALSE(ped_channel_alive(b));
	OPENSSL_clear_free(pt, pl);
	OPENSSL_free(rec);
	ped_channel_free(a);
	ped_channel_free(b);
}

UNIT_SUITE(record, NULL, NULL, UNIT_TEST(round_trips_both_ways_all_sizes),
	   UNIT_TEST(every_flipped_bit_kills_the_channel), UNIT_TEST(truncation_replay_and_reorder),
	   UNIT_TEST(csp_is_wrapped_and_close_ends))
