#include "unit.h"

#include "../../pedtool/legacy.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <string.h>

static const uint8_t rpv[32] = "legacy-rpv-0123456789abcdefghijk";
static const uint8_t other_rpv[32] = "legacy-rpv-0123456789abcdefghijX";

typedef void (*mutate_fn)(int dir, int index, uint8_t *m, size_t len);

static int run(struct ped_legacy *u, struct ped_legacy *v, mutate_fn mut, int *ue, int *ve)
{
	struct ped_kas_out out, next;
	int index[2] = {0, 0};
	*ue = *ve = PED_OK;
	ped_legacy_start(v, &out);
	/* alternate: messages from V go to U and back */
	int dir = 1;
	while (out.count) {
		struct ped_legacy *dst = dir ? u : v;
		int *err = dir ? ue : ve;
		memset(&next, 0, sizeof(next));
		for (int i = 0; i < out.count; i++) {
			struct ped_kas_out o;
			if (mut)
				mut(dir, index[dir]++, out.msg[i], out.len[i]);
			int r = ped_legacy_input(dst, out.msg[i], out.len[i], &o);
			if (r && !*err)
				*err = r;
			for (int j = 0; j < o.count && next.count < 2; j++) {
				next.msg[next.count] = o.msg[j];
				next.len[next.count++] = o.len[j];
			}
		}
		ped_kas_out_clear(&out);
		out = next;
		dir = !dir;
	}
	return *ue ? *ue : *ve;
}

static void agree_and_exchange(void)
{
	struct ped_legacy *u, *v;
	int ue, ve;
	uint8_t *rec, *pt;
	size_t rl, pl;
	CU_ASSERT_EQUAL_FATAL(ped_legacy_new(PED_KAS_U, rpv, 32, NULL, NULL, &u), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_legacy_new(PED_KAS_V, rpv, 32, NULL, NULL, &v), PED_OK);
	CU_ASSERT_EQUAL(run(u, v, NULL, &ue, &ve), PED_OK);
	CU_ASSERT_TRUE(ped_legacy_done(u) && ped_legacy_done(v));
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL_FATAL(ped_legacy_seal(u, (const uint8_t *)"to the HSM", 10, &rec, &rl), PED_OK);
		CU_ASSERT_EQUAL(ped_legacy_open(v, rec, rl, &pt, &pl), PED_OK);
		CU_ASSERT(pl == 10 && memcmp(pt, "to the HSM", 10) == 0);
		OPENSSL_clear_free(pt, pl + 32);
		/* replaying it fails and ends the channel */
		if (i == 2) {
			CU_ASSERT_EQUAL(ped_legacy_open(v, rec, rl, &pt, &pl), PED_E_REPLAY);
			CU_ASSERT_EQUAL(ped_legacy_open(v, rec, rl, &pt, &pl), PED_E_CHANNEL_CLOSED);
		}
		OPENSSL_free(rec);
	}
	ped_legacy_free(u);
	ped_legacy_free(v);
	/* a flipped ciphertext bit breaks the SHA-256 check */
	ped_legacy_new(PED_KAS_U, rpv, 32, NULL, NULL, &u);
	ped_legacy_new(PED_KAS_V, rpv, 32, NULL, NULL, &v);
	CU_ASSERT_EQUAL_FATAL(run(u, v, NULL, &ue, &ve), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_legacy_seal(v, (const uint8_t *)"to the PED", 10, &rec, &rl), PED_OK);
	rec[14] ^= 0x10;
	CU_ASSERT_EQUAL(ped_legacy_open(u, rec, rl, &pt, &pl), PED_E_BAD_RECORD);
	OPENSSL_free(rec);
	ped_legacy_free(u);
	ped_legacy_free(v);
}

static void wrong_rpv_fails_on_both_ends(void)
{
	struct ped_legacy *u, *v;
	int ue, ve;
	ped_legacy_new(PED_KAS_U, other_rpv, 32, NULL, NULL, &u);
	ped_legacy_new(PED_KAS_V, rpv, 32, NULL, NULL, &v);
	CU_ASSERT_EQUAL(run(u, v, NULL, &ue, &ve), PED_E_KEY_CONFIRM);
	CU_ASSERT_EQUAL(ve, PED_E_KEY_CONFIRM); /* V finds R1 wrong */
	CU_ASSERT_EQUAL(ue, PED_E_KEY_CONFIRM); /* and tells U */
	CU_ASSERT_FALSE(ped_legacy_done(u) || ped_legacy_done(v));
	ped_legacy_free(u);
	ped_legacy_free(v);
}

static int target_dir, target_index;

static void flip(int dir, int index, uint8_t *m, size_t len)
{
	if (dir == target_dir && index == target_index)
		m[len - 1] ^= 1;
}

static void tampered_nonces_fail(void)
{
	/* messages: V->U DH_V(0), U->V DH_U(0), V->U NONCE1(1), U->V NONCE2(1), V->U NONCE3(2) */
	int targets[5][2] = {{1, 0}, {0, 0}, {1, 1}, {0, 1}, {1, 2}};
	for (int t = 0; t < 5; t++) {
		struct ped_legacy *u, *v;
		int ue, ve;
		target_dir = targets[t][0];
		target_index = targets[t][1];
		ped_legacy_new(PED_KAS_U, rpv, 32, NULL, NULL, &u);
		ped_legacy_new(PED_KAS_V, rpv, 32, NULL, NULL, &v);
		CU_ASSERT_NOT_EQUAL(run(u, v, flip, &ue, &ve), PED_OK);
		CU_ASSERT_FALSE(ped_legacy_done(u) && ped_legacy_done(v));
		ped_legacy_free(u);
		ped_legacy_free(v);
	}
}

static uint8_t seen_nonce[3][16];

static void keep_nonces(int dir, int index, uint8_t *m, size_t len)
{
	/* NONCE1 is V's second message (index 1), NONCE2 U's second, NONCE3 V's third */
	int k = dir == 1 && index == 1 ? 0 : dir == 0 && index == 1 ? 1 : dir == 1 && index == 2 ? 2 : -1;
	if (k >= 0 && len == 17)
		memcpy(seen_nonce[k], m + 1, 16);
}

/* Regression: U's stream used IV R2 || R1, so its first keystream block was
 * E_Ke(R2 || R1), the NONCE2 body on the wire: a listener XORed it with the
 * first record and read 16 bytes of plaintext. No handshake block may be
 * either stream's first keystream block. */
static void no_handshake_block_is_keystream(void)
{
	static const uint8_t msg[32] = "SPLIT:0123456789abcdefghijklmnop";
	struct ped_legacy *u, *v;
	uint8_t *rec;
	size_t rl;
	int ue, ve;
	ped_legacy_new(PED_KAS_U, rpv, 32, NULL, NULL, &u);
	ped_legacy_new(PED_KAS_V, rpv, 32, NULL, NULL, &v);
	CU_ASSERT_EQUAL_FATAL(run(u, v, keep_nonces, &ue, &ve), PED_OK);
	for (int side = 0; side < 2; side++) {
		CU_ASSERT_EQUAL_FATAL(ped_legacy_seal(side ? v : u, msg, sizeof(msg), &rec, &rl), PED_OK);
		for (int k = 0; k < 3; k++) {
			uint8_t guess[16];
			for (int i = 0; i < 16; i++)
				guess[i] = rec[12 + i] ^ seen_nonce[k][i];
			CU_ASSERT_NOT_EQUAL(memcmp(guess, msg, 16), 0);
		}
		OPENSSL_free(rec);
	}
	ped_legacy_free(u);
	ped_legacy_free(v);
}

UNIT_SUITE(legacy, NULL, NULL, UNIT_TEST(agree_and_exchange), UNIT_TEST(wrong_rpv_fails_on_both_ends),
	   UNIT_TEST(tampered_nonces_fail), UNIT_TEST(no_handshake_block_is_keystream))
