/* The mechanism table: what C_GetMechanismList and C_GetMechanismInfo say,
 * and what op.c and keymgmt.c look up. Key sizes are in the unit PKCS#11
 * gives each family: bits for RSA, EC and generic secret key generation,
 * bytes for AES and HMAC. */
#include "keys_int.h"

#include <string.h>

#define ENC (CKF_ENCRYPT | CKF_DECRYPT)
#define SIG (CKF_SIGN | CKF_VERIFY)
#define WRP (CKF_WRAP | CKF_UNWRAP)
#define ECF (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)
#define M(type, fam, min, max, flags, hash) {type, #type, KM_##fam, min, max, flags, hash}

static const struct kmech mechs[] = {
	/* generation */
	M(CKM_RSA_PKCS_KEY_PAIR_GEN, PAIRGEN, 2048, 4096, CKF_GENERATE_KEY_PAIR, 0),
	M(CKM_EC_KEY_PAIR_GEN, PAIRGEN, 256, 521, CKF_GENERATE_KEY_PAIR | ECF, 0),
	M(CKM_AES_KEY_GEN, KEYGEN, 16, 32, CKF_GENERATE, 0),
	M(CKM_GENERIC_SECRET_KEY_GEN, KEYGEN, 8, HSM_GENERIC_MAX * 8, CKF_GENERATE, 0),
	/* RSA */
	M(CKM_RSA_PKCS, RSA_RAW, 2048, 4096, ENC | SIG, 0),
	M(CKM_RSA_X_509, RSA_RAW, 2048, 4096, ENC | SIG, 0),
	M(CKM_RSA_PKCS_OAEP, RSA_OAEP, 2048, 4096, ENC | WRP, 0),
	M(CKM_RSA_PKCS_PSS, RSA_PSS, 2048, 4096, SIG, 0),
	M(CKM_SHA256_RSA_PKCS, RSA_MD, 2048, 4096, SIG, CKM_SHA256),
	M(CKM_SHA384_RSA_PKCS, RSA_MD, 2048, 4096, SIG, CKM_SHA384),
	M(CKM_SHA512_RSA_PKCS, RSA_MD, 2048, 4096, SIG, CKM_SHA512),
	M(CKM_SHA256_RSA_PKCS_PSS, RSA_PSS_MD, 2048, 4096, SIG, CKM_SHA256),
	M(CKM_SHA384_RSA_PKCS_PSS, RSA_PSS_MD, 2048, 4096, SIG, CKM_SHA384),
	M(CKM_SHA512_RSA_PKCS_PSS, RSA_PSS_MD, 2048, 4096, SIG, CKM_SHA512),
	/* EC */
	M(CKM_ECDSA, ECDSA, 256, 521, SIG | ECF, 0),
	M(CKM_ECDSA_SHA256, ECDSA_MD, 256, 521, SIG | ECF, CKM_SHA256),
	M(CKM_ECDSA_SHA384, ECDSA_MD, 256, 521, SIG | ECF, CKM_SHA384),
	M(CKM_ECDSA_SHA512, ECDSA_MD, 256, 521, SIG | ECF, CKM_SHA512),
	M(CKM_ECDH1_DERIVE, ECDH, 256, 521, CKF_DERIVE | ECF, 0),
	/* HMAC with generic secrets */
	M(CKM_SHA224_HMAC, HMAC, 1, HSM_GENERIC_MAX, SIG, CKM_SHA224),
	M(CKM_SHA256_HMAC, HMAC, 1, HSM_GENERIC_MAX, SIG, CKM_SHA256),
	M(CKM_SHA384_HMAC, HMAC, 1, HSM_GENERIC_MAX, SIG, CKM_SHA384),
	M(CKM_SHA512_HMAC, HMAC, 1, HSM_GENERIC_MAX, SIG, CKM_SHA512),
	/* AES */
	M(CKM_AES_ECB, AES, 16, 32, ENC, 0),
	M(CKM_AES_CBC, AES, 16, 32, ENC, 0),
	M(CKM_AES_CBC_PAD, AES, 16, 32, ENC | WRP, 0),
	M(CKM_AES_CTR, AES, 16, 32, ENC, 0),
	M(CKM_AES_GCM, AES, 16, 32, ENC, 0),
	M(CKM_AES_KEY_WRAP, KW, 16, 32, WRP, 0),
	M(CKM_AES_KEY_WRAP_PAD, KW, 16, 32, WRP, 0),
	/* digests */
	M(CKM_SHA_1, DIGEST, 0, 0, CKF_DIGEST, CKM_SHA_1),
	M(CKM_SHA224, DIGEST, 0, 0, CKF_DIGEST, CKM_SHA224),
	M(CKM_SHA256, DIGEST, 0, 0, CKF_DIGEST, CKM_SHA256),
	M(CKM_SHA384, DIGEST, 0, 0, CKF_DIGEST, CKM_SHA384),
	M(CKM_SHA512, DIGEST, 0, 0, CKF_DIGEST, CKM_SHA512),
};
#define NMECHS (sizeof(mechs) / sizeof(mechs[0]))

const struct kmech *kmech_find(CK_MECHANISM_TYPE type)
{
	for (size_t i = 0; i < NMECHS; i++)
		if (mechs[i].type == type)
			return &mechs[i];
	return NULL;
}

const char *hsm_mech_name(CK_MECHANISM_TYPE type)
{
	const struct kmech *m = kmech_find(type);
	return m ? m->name : NULL;
}

static const CK_FLAGS functions[] = {CKF_ENCRYPT, CKF_DECRYPT, CKF_SIGN,      CKF_VERIFY,
				     CKF_DIGEST,  CKF_WRAP,    CKF_UNWRAP,    CKF_DERIVE,
				     CKF_GENERATE, CKF_GENERATE_KEY_PAIR};

/* The functions of m the policies leave. */
static CK_FLAGS allowed(const struct hsm_key_env *env, const struct kmech *m)
{
	CK_FLAGS f = m->flags;

	for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++)
		if ((f & functions[i]) && hsm_kp_mech(env, m->type, functions[i]) != CKR_OK)
			f &= ~functions[i];
	return f;
}

static int listed(CK_FLAGS f)
{
	for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++)
		if (f & functions[i])
			return 1;
	return 0;
}

CK_RV hsm_mech_list(const struct hsm_key_env *env, CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
	CK_ULONG n = 0;

	if (!count)
		return kfail(CKR_ARGUMENTS_BAD, "no count");
	for (size_t i = 0; i < NMECHS; i++)
		n += listed(allowed(env, &mechs[i]));
	if (!list) {
		*count = n;
		return CKR_OK;
	}
	if (*count < n) {
		*count = n;
		return kfail(CKR_BUFFER_TOO_SMALL, "%lu mechanisms", n);
	}
	n = 0;
	for (size_t i = 0; i < NMECHS; i++)
		if (listed(allowed(env, &mechs[i])))
			list[n++] = mechs[i].type;
	*count = n;
	return CKR_OK;
}

CK_RV hsm_mech_info(const struct hsm_key_env *env, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info)
{
	const struct kmech *m = kmech_find(type);
	CK_FLAGS f;

	if (!info)
		return kfail(CKR_ARGUMENTS_BAD, "no info");
	if (!m || !listed(f = allowed(env, m)))
		return kfail(CKR_MECHANISM_INVALID, "mechanism 0x%lx: not here", type);
	info->ulMinKeySize = m->min;
	info->ulMaxKeySize = m->max;
	/* every mechanism runs inside the HSM, never in the module: CKF_HW,
	 * as the reference HSM reports (pkcs11-tool --test tests signatures
	 * only with mechanisms that have it) */
	info->flags = f | CKF_HW;
	/* FIPS (policy 43 off): HMAC keys of 112 bits at least */
	if (m->family == KM_HMAC && !kenv(env)->pol.v[HSM_KP_NON_FIPS])
		info->ulMinKeySize = 14;
	return CKR_OK;
}

/* The hashes: as a digest mechanism and as an MGF1 function. */
static const struct {
	CK_MECHANISM_TYPE mech;
	CK_RSA_PKCS_MGF_TYPE mgf;
	const EVP_MD *(*md)(void);
} hashes[] = {
	{CKM_SHA_1, CKG_MGF1_SHA1, EVP_sha1},       {CKM_SHA224, CKG_MGF1_SHA224, EVP_sha224},
	{CKM_SHA256, CKG_MGF1_SHA256, EVP_sha256}, {CKM_SHA384, CKG_MGF1_SHA384, EVP_sha384},
	{CKM_SHA512, CKG_MGF1_SHA512, EVP_sha512},
};

const EVP_MD *kmd_of_mech(CK_MECHANISM_TYPE m)
{
	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
		if (hashes[i].mech == m)
			return hashes[i].md();
	return NULL;
}

const EVP_MD *kmd_of_mgf(CK_RSA_PKCS_MGF_TYPE mgf)
{
	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
		if (hashes[i].mgf == mgf)
			return hashes[i].md();
	return NULL;
}
