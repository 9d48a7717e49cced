#include "unit.h"

#include "ped/error.h"
#include "ped/pinmask.h"
#include "ped/shamir.h"

#include <openssl/rand.h>
#include <string.h>

static const uint8_t keyset[PED_KEYSET_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void mask_round_trips_and_binds_pin_keyset_index(void)
{
	uint8_t share[32], a[32], b[32];
	RAND_bytes(share, sizeof(share));
	memcpy(a, share, 32);
	CU_ASSERT_EQUAL(ped_pin_mask("123456", keyset, 1, a, 32), PED_OK);
	CU_ASSERT(memcmp(a, share, 32) != 0);
	memcpy(b, a, 32);
	CU_ASSERT_EQUAL(ped_pin_mask("123456", keyset, 1, b, 32), PED_OK);
	CU_ASSERT(memcmp(b, share, 32) == 0);
	/* wrong PIN, other split index, other keyset: a different (wrong) share */
	memcpy(b, a, 32);
	ped_pin_mask("123457", keyset, 1, b, 32);
	CU_ASSERT(memcmp(b, share, 32) != 0);
	memcpy(b, share, 32);
	ped_pin_mask("123456", keyset, 2, b, 32);
	CU_ASSERT(memcmp(b, a, 32) != 0);
	uint8_t other[PED_KEYSET_ID_LEN] = {0};
	memcpy(b, share, 32);
	ped_pin_mask("123456", other, 1, b, 32);
	CU_ASSERT(memcmp(b, a, 32) != 0);
	/* no PIN: the share is stored as it is */
	memcpy(b, share, 32);
	CU_ASSERT_EQUAL(ped_pin_mask("", keyset, 1, b, 32), PED_OK);
	CU_ASSERT(memcmp(b, share, 32) == 0);
}

static void wrong_pin_shows_only_at_recombination(void)
{
	uint8_t secret[32], shares[5 * 32], out[32];
	const char *pins[5] = {"1111", "2222", "3333", "4444", "5555"};
	RAND_bytes(secret, sizeof(secret));
	CU_ASSERT_EQUAL(ped_shamir_split(secret, 32, 3, 5, shares), PED_OK);
	for (int i = 0; i < 5; i++)
		ped_pin_mask(pins[i], keyset, (uint8_t)(i + 1), shares + i * 32, 32);
	/* unmask three, one with a wrong PIN: each unmask "succeeds" */
	const char *entered[3] = {"1111", "2223", "3333"};
	struct ped_share sel[3];
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(ped_pin_mask(entered[i], keyset, (uint8_t)(i + 1), shares + i * 32, 32),
				PED_OK);
		sel[i] = (struct ped_share){(uint8_t)(i + 1), shares + i * 32};
	}
	CU_ASSERT_EQUAL(ped_shamir_combine(sel, 3, 3, 32, out), PED_OK);
	CU_ASSERT(memcmp(out, secret, 32) != 0);
}

static void pin_rules(void)
{
	const char *why = NULL;
	CU_ASSERT_EQUAL(ped_pin_validate("", NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_pin_validate("1234", NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_pin_validate("123456789012345678901234567890123456789012345678", NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_pin_validate("1234567890123456789012345678901234567890123456789", &why),
			PED_E_INVALID);
	CU_ASSERT_STRING_EQUAL(why, "PIN must be 4 to 48 digits");
	CU_ASSERT_EQUAL(ped_pin_validate("123", &why), PED_E_INVALID);
	CU_ASSERT_STRING_EQUAL(why, "PIN must be 4 to 48 digits");
	CU_ASSERT_EQUAL(ped_pin_validate("0123", &why), PED_E_INVALID);
	CU_ASSERT_STRING_EQUAL(why, "PIN must not start with 0");
	CU_ASSERT_EQUAL(ped_pin_validate("12a4", &why), PED_E_INVALID);
	CU_ASSERT_STRING_EQUAL(why, "PIN must contain only digits");
	uint8_t buf[4] = {0};
	CU_ASSERT_EQUAL(ped_pin_mask("0123", keyset, 1, buf, 4), PED_E_INVALID);
}

UNIT_SUITE(pinmask, NULL, NULL, UNIT_TEST(mask_round_trips_and_binds_pin_keyset_index),
	   UNIT_TEST(wrong_pin_shows_only_at_recombination), UNIT_TEST(pin_rules))
