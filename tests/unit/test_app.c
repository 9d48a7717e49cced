#include "unit.h"

#include "ped/app.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <string.h>

static void requests_round_trip(void)
{
	struct ped_app_request req = {PED_APP_CREATE, PED_KEY_SO, 1, "SETTING SO PIN...",
				      "SO / HSM Admin", "BLUE"}, back;
	uint8_t *m;
	size_t l;
	CU_ASSERT_EQUAL_FATAL(ped_app_encode_request(&req, &m, &l), PED_OK);
	CU_ASSERT_EQUAL(ped_app_decode_request(m, l, &back), PED_OK);
	CU_ASSERT_EQUAL(back.op, PED_APP_CREATE);
	CU_ASSERT_EQUAL(back.key_type, PED_KEY_SO);
	CU_ASSERT_EQUAL(back.allow_reuse, 1);
	CU_ASSERT_STRING_EQUAL(back.title, "SETTING SO PIN...");
	CU_ASSERT_STRING_EQUAL(back.prompt, "SO / HSM Admin");
	CU_ASSERT_STRING_EQUAL(back.colour, "BLUE");
	for (size_t cut = 0; cut < l; cut++)
		CU_ASSERT_EQUAL(ped_app_decode_request(m, cut, &back), PED_E_INVALID);
	m[1] = 9; /* no such key type */
	CU_ASSERT_EQUAL(ped_app_decode_request(m, l, &back), PED_E_INVALID);
	m[1] = PED_KEY_SO;
	m[6] = '\n'; /* control characters cannot reach the display */
	CU_ASSERT_EQUAL(ped_app_decode_request(m, l, &back), PED_E_INVALID);
	m[6] = 0xc2; /* nor C1 ones written in UTF-8 (U+009B, CSI), nor any byte beyond ASCII */
	m[7] = 0x9b;
	CU_ASSERT_EQUAL(ped_app_decode_request(m, l, &back), PED_E_INVALID);
	m[6] = 'E';
	m[7] = 0xe9; /* Latin-1 e acute */
	CU_ASSERT_EQUAL(ped_app_decode_request(m, l, &back), PED_E_INVALID);
	m[7] = 'T'; /* "SETTING SO PIN..." again */
	CU_ASSERT_EQUAL(ped_app_decode_request(m, l, &back), PED_OK);
	OPENSSL_clear_free(m, l);
	req.op = 0x55;
	CU_ASSERT_EQUAL(ped_app_encode_request(&req, &m, &l), PED_E_INVALID);
}

static void splits_round_trip_and_are_bounded(void)
{
	struct ped_app_splits sp, back;
	uint8_t *m;
	size_t l;
	memset(&sp, 0, sizeof(sp));
	sp.count = 3;
	for (int i = 0; i < 3; i++) {
		sp.s[i] = (struct ped_app_split){(uint8_t)(i + 1), 3, 5, {7}, {0}, 32};
		memset(sp.s[i].share, 0x40 + i, 32);
	}
	CU_ASSERT_EQUAL_FATAL(ped_app_encode_splits(&sp, &m, &l), PED_OK);
	CU_ASSERT_EQUAL(ped_app_decode_splits(m, l, &back), PED_OK);
	CU_ASSERT_EQUAL(back.count, 3);
	CU_ASSERT_EQUAL(back.s[2].index, 3);
	CU_ASSERT(memcmp(back.s[1].share, sp.s[1].share, 32) == 0);
	for (size_t cut = 0; cut < l; cut++)
		CU_ASSERT_EQUAL(ped_app_decode_splits(m, cut, &back), PED_E_INVALID);
	m[2] = 6; /* index beyond N */
	CU_ASSERT_EQUAL(ped_app_decode_splits(m, l, &back), PED_E_INVALID);
	OPENSSL_clear_free(m, l);
	sp.count = 17;
	CU_ASSERT_EQUAL(ped_app_encode_splits(&sp, &m, &l), PED_E_INVALID);
}

static void secret_created_and_result(void)
{
	uint8_t secret[32] = {1, 2, 3}, *m;
	const uint8_t *s;
	size_t l, sl;
	struct ped_app_created c = {2, 3, 0, {9}}, cb;
	uint32_t code;
	CU_ASSERT_EQUAL(ped_app_encode_secret(PED_APP_SECRET, secret, 32, &m, &l), PED_OK);
	CU_ASSERT_EQUAL(ped_app_decode_secret(m, l, PED_APP_SECRET, &s, &sl), PED_OK);
	CU_ASSERT(sl == 32 && memcmp(s, secret, 32) == 0);
	CU_ASSERT_EQUAL(ped_app_decode_secret(m, l, PED_APP_REUSED, &s, &sl), PED_E_INVALID);
	OPENSSL_clear_free(m, l);
	CU_ASSERT_EQUAL(ped_app_encode_created(&c, &m, &l), PED_OK);
	CU_ASSERT_EQUAL(ped_app_decode_created(m, l, &cb), PED_OK);
	CU_ASSERT(cb.m == 2 && cb.n == 3 && cb.keyset_id[0] == 9);
	m[1] = 4; /* M > N */
	CU_ASSERT_EQUAL(ped_app_decode_created(m, l, &cb), PED_E_INVALID);
	OPENSSL_clear_free(m, l);
	CU_ASSERT_EQUAL(ped_app_encode_result(0x8000002eu, &m, &l), PED_OK);
	CU_ASSERT_EQUAL(ped_app_decode_result(m, l, &code), PED_OK);
	CU_ASSERT_EQUAL(code, 0x8000002eu);
	CU_ASSERT_EQUAL(ped_app_decode_result(m, l - 1, &code), PED_E_INVALID);
	OPENSSL_clear_free(m, l);
}

UNIT_SUITE(app, NULL, NULL, UNIT_TEST(requests_round_trip), UNIT_TEST(splits_round_trip_and_are_bounded),
	   UNIT_TEST(secret_created_and_result))
