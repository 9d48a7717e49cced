/* What an HSM command answers the operator: only the reference's result
 * codes (CKR_..., RC_...) reach "Command Result :" lines; what went wrong in
 * detail stays in the message lines before it.
 *
 * Functions in the suite fail with libped's codes (ped/error.h), documented
 * ones and our own (PED_E_BUSY, PED_E_KEY_CONFIRM, ...). hsm-sim answers each
 * command with hsm_result_code(r): a documented code passes unchanged, one of
 * our own becomes the code the reference uses in that situation (the table
 * and its reasons: docs/operator-guide.md, "Result codes"). The HSM also
 * answers with a few PKCS#11 codes that no library function returns; they
 * are here, as HSM_E_*, not in libped's table. */
#ifndef HSM_RESULT_H
#define HSM_RESULT_H

#include <stdint.h>

/* PKCS#11 results only the HSM's commands give (values from PKCS#11). */
#define HSM_RESULT_TABLE(X)                                                                          \
	X(HSM_E_DEVICE_MEMORY, -1001, "CKR_DEVICE_MEMORY", 0x00000031u, "the HSM has no room for it")    \
	X(HSM_E_FUNCTION_NOT_SUPPORTED, -1002, "CKR_FUNCTION_NOT_SUPPORTED", 0x00000054u,                \
	  "not supported by this HSM")                                                                   \
	X(HSM_E_PIN_LEN_RANGE, -1003, "CKR_PIN_LEN_RANGE", 0x000000a2u,                                  \
	  "the secret's length is outside the partition's PIN length policies (25, 26)")               \
	X(HSM_E_PIN_EXPIRED, -1004, "CKR_PIN_EXPIRED", 0x000000a3u,                                      \
	  "the credential was set by another role and must be changed first (HSM policy 21)")              \
	X(HSM_E_TOKEN_WRITE_PROTECTED, -1005, "CKR_TOKEN_WRITE_PROTECTED", 0x000000e2u,                  \
	  "the partition's objects are read-only (partition policy 28)")                                 \
	X(HSM_E_USER_ALREADY_LOGGED_IN, -1006, "CKR_USER_ALREADY_LOGGED_IN", 0x00000100u,                \
	  "a role is logged in: log out first")                                                          \
	X(HSM_E_ENCRYPTED_DATA_INVALID, -1007, "CKR_ENCRYPTED_DATA_INVALID", 0x00000040u,                \
	  "a cloning message between two HSMs did not authenticate (altered, dropped, reordered or replayed)") \
	X(HSM_E_FUNCTION_CANCELED, -1008, "CKR_FUNCTION_CANCELED", 0x00000050u,                          \
	  "the other HSM of a cloning, or the link to it, went away before the cloning was done")

enum hsm_result {
#define HSM_RESULT_ENUM(sym, val, name, code, desc) sym = (val),
	HSM_RESULT_TABLE(HSM_RESULT_ENUM)
#undef HSM_RESULT_ENUM
};

/* Whether err is a code the reference documents (it reaches the operator as it is). */
int hsm_result_is_reference(int err);
/* The 32-bit code a command failing with err answers: err's own if the
 * reference documents it, else the reference's code for that situation. */
uint32_t hsm_result_code(int err);
/* The reference's name of a 32-bit result code ("CKR_DEVICE_ERROR"). */
const char *hsm_result_name(uint32_t code);
/* The code of a function's err for a PKCS#11 result of the data plane
 * (CK_RV): one of the HSM_E_* above, or ped_err_from_code's. */
int hsm_result_from_ck(uint32_t rv);
/* What err means, in words, without any code name: the message line that
 * keeps the detail a mapped result code no longer carries. */
const char *hsm_result_detail(int err);

#endif
