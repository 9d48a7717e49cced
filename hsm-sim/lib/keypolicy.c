/* The partition policies that concern keys: their table, their changes and
 * the one check the object and mechanism layers call. */
#include "keys_int.h"

#include "ped/error.h"

#include <string.h>
#include <time.h>

/* Chapter 8's table: defaults, and which direction of a change erases the
 * partition's objects ("Destructive OFF-to-ON" and so on). Policy 39's
 * template line says OFF-to-ON; its table entry, which we follow, says
 * ON-to-OFF, the direction that lowers the objects' protection. */
static const struct hsm_kp_desc table[] = {
	{HSM_KP_PRIVATE_CLONING, "Allow private key cloning", 1, 1, 0},
	{HSM_KP_PRIVATE_WRAPPING, "Allow private key wrapping", 0, 1, 0},
	{HSM_KP_PRIVATE_UNWRAPPING, "Allow private key unwrapping", 1, 0, 0},
	{HSM_KP_SECRET_CLONING, "Allow secret key cloning", 1, 1, 0},
	{HSM_KP_SECRET_WRAPPING, "Allow secret key wrapping", 1, 1, 0},
	{HSM_KP_SECRET_UNWRAPPING, "Allow secret key unwrapping", 1, 0, 0},
	{HSM_KP_DIGEST_KEY, "Allow DigestKey", 0, 1, 0},
	{HSM_KP_MULTIPURPOSE, "Allow multipurpose keys", 1, 1, 0},
	{HSM_KP_CHANGE_ATTRIBUTES, "Allow changing key attributes", 1, 1, 0},
	{HSM_KP_NO_RSA_BLINDING, "Operate without RSA blinding", 1, 1, 0},
	{HSM_KP_SIGN_NON_LOCAL, "Allow signing with non-local keys", 1, 0, 0},
	{HSM_KP_RAW_RSA, "Allow raw RSA operations", 1, 1, 0},
	{HSM_KP_KEY_MANAGEMENT, "Allow Key Management Functions", 1, 1, 0},
	{HSM_KP_RSA_SIGN_NO_CONFIRM, "Perform RSA signing without confirmation", 1, 1, 0},
	{HSM_KP_RSA_PKCS, "Allow RSA PKCS mechanism", 1, 1, 0},
	{HSM_KP_CBC_PAD_ANY_SIZE, "Allow CBC-PAD (un)wrap keys of any size", 1, 1, 0},
	{HSM_KP_DATES, "Allow Start/End Date Attributes", 0, 0, 1},
	{HSM_KP_NON_FIPS, "Allow non-FIPS algorithms", 1, 1, 0},
	{HSM_KP_PREHASH_SIGVER, "Allow ECDSA/RSA Prehash SigVer", 1, 0, 0},
};
#define NTABLE (sizeof(table) / sizeof(table[0]))

static const struct hsm_key_env defaults = {
	.pol.v =
		{
			[HSM_KP_PRIVATE_CLONING] = 1,
			[HSM_KP_PRIVATE_UNWRAPPING] = 1,
			[HSM_KP_SECRET_CLONING] = 1,
			[HSM_KP_SECRET_WRAPPING] = 1,
			[HSM_KP_SECRET_UNWRAPPING] = 1,
			[HSM_KP_MULTIPURPOSE] = 1,
			[HSM_KP_CHANGE_ATTRIBUTES] = 1,
			[HSM_KP_NO_RSA_BLINDING] = 1,
			[HSM_KP_SIGN_NON_LOCAL] = 1,
			[HSM_KP_RAW_RSA] = 1,
			[HSM_KP_KEY_MANAGEMENT] = 1,
			[HSM_KP_RSA_SIGN_NO_CONFIRM] = 1,
			[HSM_KP_RSA_PKCS] = 1,
			[HSM_KP_CBC_PAD_ANY_SIZE] = 1,
			[HSM_KP_NON_FIPS] = 1,
			[HSM_KP_PREHASH_SIGVER] = 1,
		},
	.hsm_cloning = 1,
};

const struct hsm_kp_desc *hsm_kp_table(size_t *count)
{
	*count = NTABLE;
	return table;
}

const struct hsm_kp_desc *hsm_kp_find(unsigned number)
{
	for (size_t i = 0; i < NTABLE; i++)
		if (table[i].number == number)
			return &table[i];
	return NULL;
}

void hsm_kp_defaults(struct hsm_key_policies *p)
{
	*p = defaults.pol;
}

void hsm_key_env_init(struct hsm_key_env *e)
{
	*e = defaults;
}

const struct hsm_key_env *kenv(const struct hsm_key_env *env)
{
	return env ? env : &defaults;
}

int hsm_kp_change_erases(const struct hsm_key_policies *p, unsigned number, unsigned value)
{
	const struct hsm_kp_desc *d = hsm_kp_find(number);

	if (!d || value > 1 || p->v[number] == value)
		return 0;
	return value ? d->erase_off_to_on : d->erase_on_to_off;
}

int hsm_kp_set(struct hsm_key_policies *p, unsigned number, unsigned value, int *erases)
{
	if (erases)
		*erases = 0;
	if (!hsm_kp_find(number))
		return PED_E_NOT_FOUND;
	if (value > 1)
		return PED_E_RANGE;
	/* chapter 8: policies 0 and 1 may not be on at the same time */
	if (value && ((number == HSM_KP_PRIVATE_CLONING && p->v[HSM_KP_PRIVATE_WRAPPING]) ||
		      (number == HSM_KP_PRIVATE_WRAPPING && p->v[HSM_KP_PRIVATE_CLONING])))
		return PED_E_ACTION_PROHIBITED;
	if (erases)
		*erases = hsm_kp_change_erases(p, number, value);
	p->v[number] = (uint8_t)value;
	return PED_OK;
}

int hsm_kp_valid(const struct hsm_key_policies *p)
{
	for (unsigned i = 0; i < HSM_KP_SLOTS; i++)
		if (p->v[i] > 1 || (p->v[i] && !hsm_kp_find(i)))
			return PED_E_INVALID;
	if (p->v[HSM_KP_PRIVATE_CLONING] && p->v[HSM_KP_PRIVATE_WRAPPING])
		return PED_E_INVALID;
	return PED_OK;
}

/* Days from 1970-01-01 to a civil date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int64_t kdate_time(const struct hsm_attr *a, int end)
{
	const CK_DATE *d;
	int64_t y = 0;
	unsigned m = 0, day = 0;

	if (!a || a->len != sizeof(CK_DATE))
		return 0;
	d = (const CK_DATE *)a->val;
	for (int i = 0; i < 4; i++)
		y = y * 10 + (d->year[i] - '0');
	m = (unsigned)((d->month[0] - '0') * 10 + (d->month[1] - '0'));
	day = (unsigned)((d->day[0] - '0') * 10 + (d->day[1] - '0'));
	return days_from_civil(y, m, day) * 86400 + (end ? 86399 : 0);
}

static int is_key(const struct hsm_obj *o)
{
	return (o->kind & HSM_K_KEY) != 0;
}

/* Policy 10's purposes: encrypt/decrypt, sign/verify, wrap/unwrap, derive. */
static int purposes(const struct hsm_obj *o)
{
	return (hsm_obj_bool(o, CKA_ENCRYPT) || hsm_obj_bool(o, CKA_DECRYPT)) +
	       (hsm_obj_bool(o, CKA_SIGN) || hsm_obj_bool(o, CKA_VERIFY) ||
		hsm_obj_bool(o, CKA_SIGN_RECOVER) || hsm_obj_bool(o, CKA_VERIFY_RECOVER)) +
	       (hsm_obj_bool(o, CKA_WRAP) || hsm_obj_bool(o, CKA_UNWRAP)) + hsm_obj_bool(o, CKA_DERIVE);
}

/* Policy 39: a key is used between its start and end dates only. */
static CK_RV dates(const struct hsm_key_env *e, const struct hsm_obj *o)
{
	int64_t now, start, end;

	if (!e->pol.v[HSM_KP_DATES] || !is_key(o))
		return CKR_OK;
	now = e->now ? e->now : (int64_t)time(NULL);
	start = kdate_time(hsm_obj_attr(o, CKA_START_DATE), 0);
	end = kdate_time(hsm_obj_attr(o, CKA_END_DATE), 1);
	if (start && now < start)
		return kfail(CKR_KEY_FUNCTION_NOT_PERMITTED,
			     "the key's CKA_START_DATE has not come (partition policy 39)");
	if (end && now > end)
		return kfail(CKR_KEY_FUNCTION_NOT_PERMITTED,
			     "the key's CKA_END_DATE has passed (partition policy 39)");
	return CKR_OK;
}

CK_RV hsm_kp_check(const struct hsm_key_env *env, enum hsm_kp_what what, const struct hsm_obj *obj,
		   size_t len)
{
	const struct hsm_key_env *e = kenv(env);
	const uint8_t *v = e->pol.v;
	int priv = obj->cls == CKO_PRIVATE_KEY, secret = obj->cls == CKO_SECRET_KEY;

	switch (what) {
	case HSM_KP_DO_MANAGE:
		if (!v[HSM_KP_KEY_MANAGEMENT])
			return kfail(CKR_TOKEN_WRITE_PROTECTED,
				     "partition policy 28 (key management functions) is off: "
				     "the partition's objects are read-only");
		break;
	case HSM_KP_DO_CHANGE_USAGE:
		if (is_key(obj) && !v[HSM_KP_CHANGE_ATTRIBUTES])
			return kfail(CKR_ATTRIBUTE_READ_ONLY,
				     "partition policy 11 (changing key attributes) is off");
		break;
	case HSM_KP_DO_PURPOSES:
		if (is_key(obj) && !v[HSM_KP_MULTIPURPOSE] && purposes(obj) > 1)
			return kfail(CKR_TEMPLATE_INCONSISTENT,
				     "partition policy 10 (multipurpose keys) is off: one of "
				     "encrypt/decrypt, sign/verify, wrap/unwrap, derive per key");
		break;
	case HSM_KP_DO_WRAP_OUT:
		if ((priv && !v[HSM_KP_PRIVATE_WRAPPING]) || (secret && !v[HSM_KP_SECRET_WRAPPING]))
			return kfail(CKR_KEY_NOT_WRAPPABLE, "partition policy %d (%s key wrapping) is off",
				     priv ? 1 : 5, priv ? "private" : "secret");
		break;
	case HSM_KP_DO_UNWRAP_IN:
		if ((priv && !v[HSM_KP_PRIVATE_UNWRAPPING]) ||
		    (secret && !v[HSM_KP_SECRET_UNWRAPPING]))
			return kfail(CKR_ACTION_PROHIBITED,
				     "partition policy %d (%s key unwrapping) is off", priv ? 2 : 6,
				     priv ? "private" : "secret");
		break;
	case HSM_KP_DO_CLONE:
		if (!e->hsm_cloning)
			return kfail(CKR_ACTION_PROHIBITED, "HSM policy 7 (allow cloning) is off");
		if ((priv && !v[HSM_KP_PRIVATE_CLONING]) || (secret && !v[HSM_KP_SECRET_CLONING]))
			return kfail(CKR_ACTION_PROHIBITED, "partition policy %d (%s key cloning) is off",
				     priv ? 0 : 4, priv ? "private" : "secret");
		break;
	case HSM_KP_DO_DIGEST_KEY:
		if (!v[HSM_KP_DIGEST_KEY])
			return kfail(CKR_KEY_INDIGESTIBLE, "partition policy 9 (DigestKey) is off");
		break;
	case HSM_KP_DO_SIGN:
		if (!v[HSM_KP_SIGN_NON_LOCAL] && !hsm_obj_bool(obj, CKA_LOCAL))
			return kfail(CKR_KEY_FUNCTION_NOT_PERMITTED,
				     "partition policy 17 is off: only keys made here "
				     "(CKA_LOCAL) sign");
		return dates(e, obj);
	case HSM_KP_DO_HMAC:
		if (!v[HSM_KP_NON_FIPS] && kmat_key_size(obj) < 14)
			return kfail(CKR_KEY_SIZE_RANGE,
				     "partition policy 43 (non-FIPS algorithms) is off: an HMAC key "
				     "has at least 112 bits");
		break;
	case HSM_KP_DO_ENCRYPT:
	case HSM_KP_DO_WRAP_WITH:
		return dates(e, obj);
	case HSM_KP_DO_CBC_PAD_WRAP:
	case HSM_KP_DO_CBC_PAD_UNWRAP:
		if (!v[HSM_KP_CBC_PAD_ANY_SIZE] && len % 8)
			return kfail(what == HSM_KP_DO_CBC_PAD_WRAP ? CKR_KEY_NOT_WRAPPABLE
								    : CKR_ACTION_PROHIBITED,
				     "partition policy 34 is off: CBC-PAD (un)wraps keys of a "
				     "multiple of 8 bytes only, not %zu",
				     len);
		break;
	}
	return CKR_OK;
}

CK_RV hsm_kp_mech(const struct hsm_key_env *env, CK_MECHANISM_TYPE mech, CK_FLAGS fn)
{
	const uint8_t *v = kenv(env)->pol.v;

	if (mech == CKM_RSA_X_509 && !v[HSM_KP_RAW_RSA])
		return kfail(CKR_MECHANISM_INVALID, "partition policy 18 (raw RSA) is off");
	if (mech == CKM_RSA_PKCS && !v[HSM_KP_RSA_PKCS])
		return kfail(CKR_MECHANISM_INVALID, "partition policy 33 (CKM_RSA_PKCS) is off");
	if ((mech == CKM_RSA_PKCS || mech == CKM_RSA_X_509) && !v[HSM_KP_NON_FIPS])
		return kfail(CKR_MECHANISM_INVALID,
			     "partition policy 43 (non-FIPS algorithms) is off");
	if (fn == CKF_VERIFY && !v[HSM_KP_PREHASH_SIGVER] &&
	    (mech == CKM_ECDSA || mech == CKM_RSA_PKCS || mech == CKM_RSA_PKCS_PSS))
		return kfail(CKR_MECHANISM_INVALID,
			     "partition policy 45 is off: no verification of a prehash");
	return CKR_OK;
}
