#include "unit.h"

#include "ped/error.h"

#include <string.h>

static void documented_codes_keep_their_values(void)
{
	CU_ASSERT_EQUAL(ped_err_code(PED_E_PED_UNPLUGGED), 0x8000002eu);
	CU_ASSERT_STRING_EQUAL(ped_err_name(PED_E_PED_UNPLUGGED), "CKR_PED_UNPLUGGED");
	CU_ASSERT_EQUAL(ped_err_code(PED_E_SOCKET), 0xc0000500u);
	CU_ASSERT_STRING_EQUAL(ped_err_name(PED_E_SOCKET), "RC_SOCKET_ERROR");
	CU_ASSERT_EQUAL(ped_err_code(PED_E_TIMED_OUT), 0xc0000303u);
	CU_ASSERT_STRING_EQUAL(ped_err_name(PED_E_TIMED_OUT), "RC_OPERATION_TIMED_OUT");
	CU_ASSERT_EQUAL(ped_err_code(PED_E_PIN_INCORRECT), 0xa0u);
	CU_ASSERT_STRING_EQUAL(ped_err_name(PED_E_CALLBACK_ERROR), "CKR_CALLBACK_ERROR");
	CU_ASSERT_STRING_EQUAL(ped_err_name(PED_E_CERTIFICATE_INVALID), "CKR_CERTIFICATE_INVALID");
	CU_ASSERT_STRING_EQUAL(ped_err_name(PED_OK), "CKR_OK");
}

static void strerror_names_and_describes(void)
{
	CU_ASSERT_STRING_EQUAL(ped_strerror(PED_E_PED_UNPLUGGED),
			       "CKR_PED_UNPLUGGED: PED unplugged or unreachable");
	CU_ASSERT_STRING_EQUAL(ped_strerror(PED_E_FRAME_MAGIC),
			       "PED_E_FRAME_MAGIC: frame has a bad magic number");
	CU_ASSERT_STRING_EQUAL(ped_strerror(-9999), "unknown error");
	CU_ASSERT_STRING_EQUAL(ped_err_name(-9999), "UNKNOWN_ERROR");
}

static void codes_and_names_map_back(void)
{
	CU_ASSERT_EQUAL(ped_err_from_code(0x8000002eu), PED_E_PED_UNPLUGGED);
	CU_ASSERT_EQUAL(ped_err_from_code(0xc0000303u), PED_E_TIMED_OUT);
	CU_ASSERT_EQUAL(ped_err_from_code(0x12345678u), PED_E_GENERAL);
	CU_ASSERT_EQUAL(ped_err_from_name("ckr_pin_incorrect"), PED_E_PIN_INCORRECT);
	CU_ASSERT_EQUAL(ped_err_from_name("PED_E_REPLAY"), PED_E_REPLAY);
	/* every entry's code maps back to itself: no two entries share a code */
	for (int e = 0; e >= -200; e--) {
		if (strcmp(ped_strerror(e), "unknown error") == 0)
			continue;
		CU_ASSERT_EQUAL(ped_err_from_code(ped_err_code(e)), e);
		CU_ASSERT_EQUAL(ped_err_from_name(ped_err_name(e)), e);
	}
}

UNIT_SUITE(error, NULL, NULL, UNIT_TEST(documented_codes_keep_their_values),
	   UNIT_TEST(strerror_names_and_describes), UNIT_TEST(codes_and_names_map_back))
