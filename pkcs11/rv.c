/* The HSM's answers as the application sees them (docs/protocol.md,
 * section 13, "Logins through the PED"). hsm-sim may say more than
 * PKCS#11 does (the reference's vendor codes for PED outcomes); the
 * module says it only when configured to, as the reference client does. */
#include "p11.h"

/* The reference's codes (ped/error.h keeps their values as well). */
#define VENDOR_CKR_TIMEOUT (CKR_VENDOR_DEFINED | 0x24UL)
#define VENDOR_CKR_PED_CLIENT_NOT_RUNNING (CKR_VENDOR_DEFINED | 0x2dUL)
#define VENDOR_CKR_PED_UNPLUGGED (CKR_VENDOR_DEFINED | 0x2eUL)

CK_RV p11_rv_present(const struct p11_config *c, CK_RV rv, int ped)
{
	if (c->vendor_codes) {
		/* a standard answer that a PED call can only mean one way */
		if (ped && rv == CKR_DEVICE_REMOVED)
			return VENDOR_CKR_PED_UNPLUGGED;
		return rv;
	}
	switch (rv) {
	case VENDOR_CKR_TIMEOUT:
		return CKR_FUNCTION_CANCELED;
	case VENDOR_CKR_PED_UNPLUGGED:
	case VENDOR_CKR_PED_CLIENT_NOT_RUNNING:
		return CKR_DEVICE_REMOVED;
	case CKR_CANCEL:
		/* CKR_CANCEL is a notify callback's: the PED's cancel is this */
		return ped ? CKR_FUNCTION_CANCELED : rv;
	default:
		return rv >= CKR_VENDOR_DEFINED ? CKR_DEVICE_ERROR : rv;
	}
}
