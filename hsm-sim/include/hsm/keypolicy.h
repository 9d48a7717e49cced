/* The partition policies that concern keys (chapter 8's table, same
 * numbers) and the one place that applies them: hsm_kp_check() for what is
 * done to or with an object, hsm_kp_mech() for which mechanisms a function
 * may use. The object and mechanism layers call them; so should the layers
 * above (cloning, the session layer) rather than reading the values.
 *
 * The partition model embeds struct hsm_key_policies; the state file stores
 * it as (number, value) pairs for the numbers of hsm_kp_table(), a number
 * missing from an older file taking its default. Values are 0 or 1. */
#ifndef HSM_KEYPOLICY_H
#define HSM_KEYPOLICY_H

#include "hsm/ck.h"

#include <stddef.h>
#include <stdint.h>

struct hsm_obj;

enum hsm_kp {
	HSM_KP_PRIVATE_CLONING = 0,     /* default 1; never on with 1 */
	HSM_KP_PRIVATE_WRAPPING = 1,    /* default 0; never on with 0 */
	HSM_KP_PRIVATE_UNWRAPPING = 2,  /* default 1 */
	HSM_KP_SECRET_CLONING = 4,      /* default 1 */
	HSM_KP_SECRET_WRAPPING = 5,     /* default 1 */
	HSM_KP_SECRET_UNWRAPPING = 6,   /* default 1 */
	HSM_KP_DIGEST_KEY = 9,          /* default 0: C_DigestKey */
	HSM_KP_MULTIPURPOSE = 10,       /* default 1: more than one purpose per key */
	HSM_KP_CHANGE_ATTRIBUTES = 11,  /* default 1: usage flags, CKA_EXTRACTABLE */
	HSM_KP_NO_RSA_BLINDING = 16,    /* default 1; OpenSSL 3 always blinds */
	HSM_KP_SIGN_NON_LOCAL = 17,     /* default 1: sign with CKA_LOCAL false */
	HSM_KP_RAW_RSA = 18,            /* default 1: CKM_RSA_X_509 */
	HSM_KP_KEY_MANAGEMENT = 28,     /* default 1: create, destroy, generate, ... */
	HSM_KP_RSA_SIGN_NO_CONFIRM = 29, /* default 1; 0: every RSA signature verified */
	HSM_KP_RSA_PKCS = 33,           /* default 1: CKM_RSA_PKCS */
	HSM_KP_CBC_PAD_ANY_SIZE = 34,   /* default 1; 0: CBC-PAD (un)wraps 8-byte multiples */
	HSM_KP_DATES = 39,              /* default 0; 1: CKA_START_DATE/END_DATE enforced */
	HSM_KP_NON_FIPS = 43,           /* default 1 */
	HSM_KP_PREHASH_SIGVER = 45,     /* default 1: raw ECDSA/RSA verify a prehash */
};

#define HSM_KP_SLOTS 46 /* policy numbers 0..45 */

/* By policy number; numbers that are not key policies stay 0. */
struct hsm_key_policies {
	uint8_t v[HSM_KP_SLOTS];
};

/* One key policy: its default and which changes erase every object of the
 * partition (the table's "destructive" directions). */
struct hsm_kp_desc {
	uint8_t number;
	const char *name; /* as lunacm shows it */
	uint8_t def;
	uint8_t erase_off_to_on, erase_on_to_off;
};

/* The key policies, by number. */
const struct hsm_kp_desc *hsm_kp_table(size_t *count);
/* NULL when number is not a key policy. */
const struct hsm_kp_desc *hsm_kp_find(unsigned number);
void hsm_kp_defaults(struct hsm_key_policies *p);

/* The admin plane (int PED codes, ped/error.h). Whether changing number to
 * value would erase every object of the partition: 1 or 0. */
int hsm_kp_change_erases(const struct hsm_key_policies *p, unsigned number, unsigned value);
/* Sets one policy: PED_E_NOT_FOUND when number is not a key policy,
 * PED_E_RANGE for a value other than 0 or 1, PED_E_ACTION_PROHIBITED when
 * it would turn 0 and 1 on together. *erases (may be NULL) says the change
 * is destructive: the caller erases every object of the partition with it. */
int hsm_kp_set(struct hsm_key_policies *p, unsigned number, unsigned value, int *erases);
/* PED_OK when every value is 0 or 1, 0 and 1 are not both on and every
 * other number is 0 (for a decoded state file). */
int hsm_kp_valid(const struct hsm_key_policies *p);

/* What the library knows of the caller: the partition's key policies, the
 * HSM policies they depend on, the session. The session layer fills one
 * per call (hsm_key_env_init, then its own values); NULL wherever an env
 * is taken means every default. */
struct hsm_key_env {
	struct hsm_key_policies pol;
	uint8_t hsm_cloning; /* HSM policy 7 "Allow cloning" (default 1) */
	uint8_t so;          /* the caller is the Partition SO: may set CKA_TRUSTED */
	int64_t now;         /* seconds since the epoch for the date policy; 0: the clock */
};

void hsm_key_env_init(struct hsm_key_env *e);

/* What is about to happen to obj. */
enum hsm_kp_what {
	HSM_KP_DO_MANAGE,       /* create, copy, generate, derive, unwrap, modify, destroy: 28 */
	HSM_KP_DO_CHANGE_USAGE, /* change a usage attribute or CKA_EXTRACTABLE of a key: 11 */
	HSM_KP_DO_PURPOSES,     /* obj as created or changed has its purposes: 10 */
	HSM_KP_DO_WRAP_OUT,     /* obj leaves the partition wrapped: 1, 5 */
	HSM_KP_DO_UNWRAP_IN,    /* obj arrives unwrapped: 2, 6 */
	HSM_KP_DO_CLONE,        /* obj leaves by cloning: HSM 7, 0, 4 */
	HSM_KP_DO_DIGEST_KEY,   /* obj is digested: 9 */
	HSM_KP_DO_SIGN,         /* obj signs or MACs: 17, 39 */
	HSM_KP_DO_HMAC,         /* obj is an HMAC key: 43 (FIPS: at least 112 bits) */
	HSM_KP_DO_ENCRYPT,      /* obj encrypts: 39 */
	HSM_KP_DO_WRAP_WITH,    /* obj wraps another key: 39 */
	HSM_KP_DO_CBC_PAD_WRAP,   /* obj's len bytes are wrapped with CKM_AES_CBC_PAD: 34 */
	HSM_KP_DO_CBC_PAD_UNWRAP, /* len bytes unwrapped with CKM_AES_CBC_PAD become obj: 34 */
};

/* CKR_OK, or the code a client expects when a policy forbids it:
 * CKR_TOKEN_WRITE_PROTECTED (28), CKR_ATTRIBUTE_READ_ONLY (11),
 * CKR_TEMPLATE_INCONSISTENT (10), CKR_KEY_NOT_WRAPPABLE (1, 5, 34 on wrap),
 * CKR_ACTION_PROHIBITED (2, 6, 0, 4, HSM 7, 34 on unwrap),
 * CKR_KEY_INDIGESTIBLE (9), CKR_KEY_FUNCTION_NOT_PERMITTED (17, 39),
 * CKR_KEY_SIZE_RANGE (43).
 * len is used by the CBC-PAD checks only (0 otherwise). */
CK_RV hsm_kp_check(const struct hsm_key_env *env, enum hsm_kp_what what, const struct hsm_obj *obj,
		   size_t len);

/* Whether mechanism mech may be used for fn (one of CKF_ENCRYPT,
 * CKF_DECRYPT, CKF_SIGN, CKF_VERIFY, CKF_WRAP, CKF_UNWRAP, ...): CKR_OK or
 * CKR_MECHANISM_INVALID (18 raw RSA, 33 and 43 CKM_RSA_PKCS, 43 raw RSA,
 * 45 raw ECDSA/RSA verification). */
CK_RV hsm_kp_mech(const struct hsm_key_env *env, CK_MECHANISM_TYPE mech, CK_FLAGS fn);

#endif
