#include "unit.h"

#include "ped/error.h"
#include "ped/pinmask.h"
#include "ped/shamir.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

static const uint8_t keyset[PED_KEYSET_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const struct ped_pin_kdf hkdf = {PED_PIN_KDF_HKDF, 0, 0, 0};
/* the cheap cost a test keyset may choose; the construction is the same */
static const struct ped_pin_kdf cheap = {PED_PIN_KDF_SCRYPT, PED_SCRYPT_LOG2N_MIN, 8, 1};

static void round_trip_under(const struct ped_pin_kdf *kdf)
{
	uint8_t share[32], a[32], b[32];
	RAND_bytes(share, sizeof(share));
	memcpy(a, share, 32);
	CU_ASSERT_EQUAL(ped_pin_mask("123456", kdf, keyset, 1, a, 32), PED_OK);
	CU_ASSERT(memcmp(a, share, 32) != 0);
	memcpy(b, a, 32);
	CU_ASSERT_EQUAL(ped_pin_mask("123456", kdf, keyset, 1, b, 32), PED_OK);
	CU_ASSERT(memcmp(b, share, 32) == 0);
	/* wrong PIN, other split index, other keyset: a different (wrong) share */
	memcpy(b, a, 32);
	CU_ASSERT_EQUAL(ped_pin_mask("123457", kdf, keyset, 1, b, 32), PED_OK);
	CU_ASSERT(memcmp(b, share, 32) != 0);
	memcpy(b, share, 32);
	CU_ASSERT_EQUAL(ped_pin_mask("123456", kdf, keyset, 2, b, 32), PED_OK);
	CU_ASSERT(memcmp(b, a, 32) != 0);
	uint8_t other[PED_KEYSET_ID_LEN] = {0};
	memcpy(b, share, 32);
	CU_ASSERT_EQUAL(ped_pin_mask("123456", kdf, other, 1, b, 32), PED_OK);
	CU_ASSERT(memcmp(b, a, 32) != 0);
	/* no PIN: the share is stored as it is */
	memcpy(b, share, 32);
	CU_ASSERT_EQUAL(ped_pin_mask("", kdf, keyset, 1, b, 32), PED_OK);
	CU_ASSERT(memcmp(b, share, 32) == 0);
}

static void mask_round_trips_and_binds_pin_keyset_index(void)
{
	round_trip_under(&cheap);
	round_trip_under(&hkdf);
}

/* The mask is scrypt exactly as docs/pinmask.md writes it, checked with
 * OpenSSL's other scrypt entry point; and each cost gives its own mask. */
static void scrypt_mask_is_the_documented_construction(void)
{
	static const char tag[] = "OPENPED-PIN-MASK-v2";
	uint8_t salt[sizeof(tag) - 1 + PED_KEYSET_ID_LEN + 1], want[48], got[48], other[48];
	memcpy(salt, tag, sizeof(tag) - 1);
	memcpy(salt + sizeof(tag) - 1, keyset, PED_KEYSET_ID_LEN);
	salt[sizeof(salt) - 1] = 3;
	CU_ASSERT_EQUAL_FATAL(EVP_PBE_scrypt("73519246", 8, salt, sizeof(salt), 1u << PED_SCRYPT_LOG2N_MIN,
					     8, 1, 0, want, sizeof(want)),
			      1);
	memset(got, 0, sizeof(got));
	CU_ASSERT_EQUAL(ped_pin_mask("73519246", &cheap, keyset, 3, got, sizeof(got)), PED_OK);
	CU_ASSERT_EQUAL(memcmp(got, want, sizeof(want)), 0);
	struct ped_pin_kdf r4 = cheap;
	r4.r = 4;
	memset(other, 0, sizeof(other));
	CU_ASSERT_EQUAL(ped_pin_mask("73519246", &r4, keyset, 3, other, sizeof(other)), PED_OK);
	CU_ASSERT(memcmp(other, got, sizeof(got)) != 0);
	/* format 1's mask is HKDF and stays what it was (the vectors of test_ikey) */
	memset(other, 0, sizeof(other));
	CU_ASSERT_EQUAL(ped_pin_mask("73519246", &hkdf, keyset, 3, other, sizeof(other)), PED_OK);
	CU_ASSERT(memcmp(other, got, sizeof(got)) != 0);
}

static void wrong_pin_shows_only_at_recombination(void)
{
	uint8_t secret[32], shares[5 * 32], out[32];
	const char *pins[5] = {"1111", "2222", "3333", "4444", "5555"};
	RAND_bytes(secret, sizeof(secret));
	CU_ASSERT_EQUAL(ped_shamir_split(secret, 32, 3, 5, shares), PED_OK);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(ped_pin_mask(pins[i], &cheap, keyset, (uint8_t)(i + 1), shares + i * 32, 32),
				PED_OK);
	/* unmask three, one with a wrong PIN: each unmask "succeeds" */
	const char *entered[3] = {"1111", "2223", "3333"};
	struct ped_share sel[3];
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(ped_pin_mask(entered[i], &cheap, keyset, (uint8_t)(i + 1), shares + i * 32, 32),
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
	CU_ASSERT_EQUAL(ped_pin_mask("0123", &cheap, keyset, 1, buf, 4), PED_E_INVALID);
	/* a PIN always has a mask: "none" with a PIN is refused, not a clear share */
	struct ped_pin_kdf none = {PED_PIN_KDF_NONE, 0, 0, 0};
	CU_ASSERT_EQUAL(ped_pin_mask("1234", &none, keyset, 1, buf, 4), PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_pin_mask("1234", NULL, keyset, 1, buf, 4), PED_E_INVALID);
	CU_ASSERT(buf[0] == 0 && buf[1] == 0 && buf[2] == 0 && buf[3] == 0);
}

/* The default is the documented strong cost; what a key file may ask of a
 * PED is bounded before anything is derived (a hostile N or r would make
 * the PED allocate gigabytes; p or N*r*p would keep it busy for minutes). */
static void costs_are_bounded(void)
{
	struct ped_pin_kdf k;
	const char *why = NULL;
	ped_pin_kdf_default(&k);
	CU_ASSERT(k.id == PED_PIN_KDF_SCRYPT && k.log2n == 16 && k.r == 8 && k.p == 1);
	CU_ASSERT_EQUAL(ped_pin_kdf_check(&k, NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_pin_kdf_check(&cheap, NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_pin_kdf_check(&hkdf, NULL), PED_OK);
	static const struct {
		struct ped_pin_kdf k;
		const char *why;
	} bad[] = {
		{{PED_PIN_KDF_SCRYPT, 7, 8, 1}, "scrypt log2 N must be 8 to 20"},
		{{PED_PIN_KDF_SCRYPT, 21, 1, 1}, "scrypt log2 N must be 8 to 20"},
		{{PED_PIN_KDF_SCRYPT, 255, 255, 255}, "scrypt log2 N must be 8 to 20"},
		{{PED_PIN_KDF_SCRYPT, 16, 0, 1}, "scrypt r must be 1 to 64"},
		{{PED_PIN_KDF_SCRYPT, 10, 65, 1}, "scrypt r must be 1 to 64"},
		{{PED_PIN_KDF_SCRYPT, 16, 8, 0}, "scrypt p must be 1 to 16"},
		{{PED_PIN_KDF_SCRYPT, 10, 8, 17}, "scrypt p must be 1 to 16"},
		{{PED_PIN_KDF_SCRYPT, 18, 8, 1}, "scrypt N*r over 2^20 (128 MiB)"},
		{{PED_PIN_KDF_SCRYPT, 20, 2, 1}, "scrypt N*r over 2^20 (128 MiB)"},
		{{PED_PIN_KDF_SCRYPT, 16, 8, 8}, "scrypt N*r*p over 2^21"},
		{{PED_PIN_KDF_SCRYPT, 16, 1, 1}, "scrypt N must be below 2^(16 r)"},
		{{PED_PIN_KDF_HKDF, 16, 8, 1}, "no cost parameters for this mask"},
		{{PED_PIN_KDF_NONE, 0, 0, 1}, "no cost parameters for this mask"},
		{{3, 0, 0, 0}, "unknown PIN mask"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t buf[8] = {0};
		why = NULL;
		CU_ASSERT_EQUAL(ped_pin_kdf_check(&bad[i].k, &why), PED_E_RANGE);
		CU_ASSERT_PTR_NOT_NULL_FATAL(why);
		CU_ASSERT_STRING_EQUAL(why, bad[i].why);
		if (bad[i].k.id != PED_PIN_KDF_NONE)
			CU_ASSERT_EQUAL(ped_pin_mask("1234", &bad[i].k, keyset, 1, buf, sizeof(buf)), PED_E_RANGE);
	}
	/* the largest accepted costs derive (OpenSSL's memory limit is set to match) */
	struct ped_pin_kdf edge[] = {{PED_PIN_KDF_SCRYPT, 17, 8, 1}, {PED_PIN_KDF_SCRYPT, 10, 64, 1},
				     {PED_PIN_KDF_SCRYPT, 10, 1, 16}};
	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
		uint8_t buf[8] = {0};
		CU_ASSERT_EQUAL(ped_pin_kdf_check(&edge[i], NULL), PED_OK);
		CU_ASSERT_EQUAL(ped_pin_mask("1234", &edge[i], keyset, 1, buf, sizeof(buf)), PED_OK);
	}
	char text[64];
	CU_ASSERT_STRING_EQUAL(ped_pin_kdf_describe(&k, text, sizeof(text)), "scrypt N=2^16 r=8 p=1");
	CU_ASSERT_STRING_EQUAL(ped_pin_kdf_describe(&hkdf, text, sizeof(text)), "HKDF-SHA-512 (format 1)");
}

UNIT_SUITE(pinmask, NULL, NULL, UNIT_TEST(mask_round_trips_and_binds_pin_keyset_index),
	   UNIT_TEST(scrypt_mask_is_the_documented_construction),
	   UNIT_TEST(wrong_pin_shows_only_at_recombination), UNIT_TEST(pin_rules),
	   UNIT_TEST(costs_are_bounded))
