/* CK_RV names, the bridge from PED codes, and the reason of the last failure. */
#include "keys_int.h"

#include "ped/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char why[256];

CK_RV kfail(CK_RV rv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return rv;
}

const char *hsm_ck_why(void)
{
	return why;
}

#define N(x) {x, #x}
static const struct {
	CK_RV rv;
	const char *name;
} names[] = {
	N(CKR_OK),
	N(CKR_HOST_MEMORY),
	N(CKR_GENERAL_ERROR),
	N(CKR_ARGUMENTS_BAD),
	N(CKR_ACTION_PROHIBITED),
	N(CKR_ATTRIBUTE_READ_ONLY),
	N(CKR_ATTRIBUTE_SENSITIVE),
	N(CKR_ATTRIBUTE_TYPE_INVALID),
	N(CKR_ATTRIBUTE_VALUE_INVALID),
	N(CKR_DATA_INVALID),
	N(CKR_DATA_LEN_RANGE),
	N(CKR_DEVICE_ERROR),
	N(CKR_DEVICE_MEMORY),
	N(CKR_ENCRYPTED_DATA_INVALID),
	N(CKR_ENCRYPTED_DATA_LEN_RANGE),
	N(CKR_FUNCTION_NOT_SUPPORTED),
	N(CKR_KEY_HANDLE_INVALID),
	N(CKR_KEY_SIZE_RANGE),
	N(CKR_KEY_TYPE_INCONSISTENT),
	N(CKR_KEY_INDIGESTIBLE),
	N(CKR_KEY_FUNCTION_NOT_PERMITTED),
	N(CKR_KEY_NOT_WRAPPABLE),
	N(CKR_KEY_UNEXTRACTABLE),
	N(CKR_MECHANISM_INVALID),
	N(CKR_MECHANISM_PARAM_INVALID),
	N(CKR_OPERATION_ACTIVE),
	N(CKR_OPERATION_NOT_INITIALIZED),
	N(CKR_SIGNATURE_INVALID),
	N(CKR_SIGNATURE_LEN_RANGE),
	N(CKR_TEMPLATE_INCOMPLETE),
	N(CKR_TEMPLATE_INCONSISTENT),
	N(CKR_TOKEN_WRITE_PROTECTED),
	N(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
	N(CKR_WRAPPED_KEY_INVALID),
	N(CKR_WRAPPED_KEY_LEN_RANGE),
	N(CKR_WRAPPING_KEY_SIZE_RANGE),
	N(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
	N(CKR_UNWRAPPING_KEY_SIZE_RANGE),
	N(CKR_BUFFER_TOO_SMALL),
	N(CKR_CURVE_NOT_SUPPORTED),
	N(CKR_DOMAIN_PARAMS_INVALID),
};
#undef N

const char *hsm_ck_name(CK_RV rv)
{
	static _Thread_local char other[32];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].rv == rv)
			return names[i].name;
	snprintf(other, sizeof(other), "CKR_0x%08lx", rv);
	return other;
}

CK_RV hsm_ck_from_ped(int err)
{
	uint32_t code;

	switch (err) {
	case PED_OK: return CKR_OK;
	case PED_E_IO:
	case PED_E_FILE:
	case PED_E_CORRUPT: return CKR_DEVICE_ERROR;
	}
	code = ped_err_code(err);
	/* PKCS#11's own codes and vendor (Luna) CKR_ values; RC_ and our own
	 * codes live at 0xc0000000 and above */
	if (code < 0xc0000000u)
		return code;
	return CKR_GENERAL_ERROR;
}
