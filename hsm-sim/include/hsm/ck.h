/* PKCS#11 inside libhsm: the packaged header (p11-kit's pkcs11.h, version
 * 2.40) and how its return codes meet the project's.
 *
 * Two planes, two kinds of result:
 *   - the data plane (objects, mechanisms, key policies: hsm/object.h,
 *     hsm/mech.h, hsm/keypolicy.h) returns CK_RV, the code a PKCS#11 client
 *     expects, unchanged from the HSM to the module;
 *   - the admin and storage planes (state files, policy changes, the control
 *     channel) keep the project's int PED_OK / PED_E_* (ped/error.h).
 * They meet where the values are the same: ped_err_code() gives a PED
 * code's documented value, which for the codes PKCS#11 names is the CK_RV
 * (PED_E_HOST_MEMORY is CKR_HOST_MEMORY, PED_E_ACTION_PROHIBITED is
 * CKR_ACTION_PROHIBITED), and ped_err_from_code(rv) maps a CK_RV back to
 * the PED code of that value, PED_E_GENERAL when there is none.
 * hsm_ck_from_ped() is the direction the data plane needs.
 *
 * No CK_ constant is written by hand anywhere in libhsm: every one comes
 * from this header. */
#ifndef HSM_CK_H
#define HSM_CK_H

#include <p11-kit/pkcs11.h>

/* The name of a return code: "CKR_KEY_FUNCTION_NOT_PERMITTED", or
 * "CKR_0x..." for one this library never returns. */
const char *hsm_ck_name(CK_RV rv);

/* The CK_RV for a PED error: PED_OK is CKR_OK; a code whose documented
 * value is a PKCS#11 or vendor CKR_ value passes through; storage faults
 * (PED_E_IO, PED_E_FILE, PED_E_CORRUPT) are CKR_DEVICE_ERROR; anything else
 * CKR_GENERAL_ERROR. */
CK_RV hsm_ck_from_ped(int err);

/* Why the last call of this library that failed in this thread failed, in
 * a sentence for a log ("CKA_VALUE_LEN 20: an AES key is 16, 24 or 32
 * bytes"); read it right after the failure (calls that succeed leave it
 * as it was). Never holds a secret. */
const char *hsm_ck_why(void);

#endif
