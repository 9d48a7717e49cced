#include "ped/pinmask.h"

#include "ped/error.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

#define MASK_INFO_V1 "OPENPED-PIN-MASK-v1"
#define MASK_SALT_V2 "OPENPED-PIN-MASK-v2"
#define MASK_MAX 256

int ped_pin_validate(const char *pin, const char **why)
{
	size_t len = pin ? strlen(pin) : 0;
	const char *msg = NULL;

	if (len == 0)
		return PED_OK;
	for (size_t i = 0; i < len; i++)
		if (pin[i] < '0' || pin[i] > '9')
			msg = "PIN must contain only digits";
	if (!msg && (len < PED_PIN_MIN || len > PED_PIN_MAX))
		msg = "PIN must be 4 to 48 digits";
	if (!msg && pin[0] == '0')
		msg = "PIN must not start with 0";
	if (why)
		*why = msg;
	return msg ? PED_E_INVALID : PED_OK;
}

void ped_pin_kdf_scrypt(struct ped_pin_kdf *k, unsigned log2n, unsigned r, unsigned p)
{
	k->id = PED_PIN_KDF_SCRYPT;
	k->log2n = (uint8_t)(log2n > 255 ? 255 : log2n);
	k->r = (uint8_t)(r > 255 ? 255 : r);
	k->p = (uint8_t)(p > 255 ? 255 : p);
}

void ped_pin_kdf_default(struct ped_pin_kdf *k)
{
	ped_pin_kdf_scrypt(k, PED_SCRYPT_LOG2N_DEFAULT, PED_SCRYPT_R_DEFAULT, PED_SCRYPT_P_DEFAULT);
}

int ped_pin_kdf_check(const struct ped_pin_kdf *k, const char **why)
{
	const char *msg = NULL;

	switch (k->id) {
	case PED_PIN_KDF_NONE:
	case PED_PIN_KDF_HKDF:
		if (k->log2n || k->r || k->p)
			msg = "no cost parameters for this mask";
		break;
	case PED_PIN_KDF_SCRYPT:
		/* each bound before the products, so no shift or product overflows */
		if (k->log2n < PED_SCRYPT_LOG2N_MIN || k->log2n > PED_SCRYPT_LOG2N_MAX)
			msg = "scrypt log2 N must be 8 to 20";
		else if (k->r < 1 || k->r > PED_SCRYPT_R_MAX)
			msg = "scrypt r must be 1 to 64";
		else if (k->p < 1 || k->p > PED_SCRYPT_P_MAX)
			msg = "scrypt p must be 1 to 16";
		else if ((UINT64_C(1) << k->log2n) * k->r > PED_SCRYPT_NR_MAX)
			msg = "scrypt N*r over 2^20 (128 MiB)";
		else if ((UINT64_C(1) << k->log2n) * k->r * k->p > PED_SCRYPT_NRP_MAX)
			msg = "scrypt N*r*p over 2^21";
		else if (k->log2n >= 16u * k->r) /* scrypt's own rule: N < 2^(128 r / 8) */
			msg = "scrypt N must be below 2^(16 r)";
		break;
	default:
		msg = "unknown PIN mask";
		break;
	}
	if (why)
		*why = msg;
	return msg ? PED_E_RANGE : PED_OK;
}

const char *ped_pin_kdf_describe(const struct ped_pin_kdf *k, char *out, size_t len)
{
	switch (k->id) {
	case PED_PIN_KDF_NONE: snprintf(out, len, "none"); break;
	case PED_PIN_KDF_HKDF: snprintf(out, len, "HKDF-SHA-512 (format 1)"); break;
	case PED_PIN_KDF_SCRYPT:
		snprintf(out, len, "scrypt N=2^%u r=%u p=%u", k->log2n, k->r, k->p);
		break;
	default: snprintf(out, len, "unknown (%u)", k->id); break;
	}
	return out;
}

static int derive_hkdf(EVP_KDF_CTX *kctx, const char *pin, const uint8_t *keyset, uint8_t index,
		       uint8_t *mask, size_t len)
{
	uint8_t salt[PED_KEYSET_ID_LEN + 1];
	OSSL_PARAM params[5];

	memcpy(salt, keyset, PED_KEYSET_ID_LEN);
	salt[PED_KEYSET_ID_LEN] = index;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA512", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)pin, strlen(pin));
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, MASK_INFO_V1,
						      sizeof(MASK_INFO_V1) - 1);
	params[4] = OSSL_PARAM_construct_end();
	return EVP_KDF_derive(kctx, mask, len, params) == 1 ? PED_OK : PED_E_CRYPTO;
}

static int derive_scrypt(EVP_KDF_CTX *kctx, const struct ped_pin_kdf *k, const char *pin,
			 const uint8_t *keyset, uint8_t index, uint8_t *mask, size_t len)
{
	uint8_t salt[sizeof(MASK_SALT_V2) - 1 + PED_KEYSET_ID_LEN + 1];
	uint64_t n = UINT64_C(1) << k->log2n;
	uint32_t r = k->r, p = k->p;
	/* exactly what OpenSSL's scrypt allocates (V and B); the checked bounds
	 * keep it under 129 MiB, and the default limit (1 GiB) never applies */
	uint64_t maxmem = 128 * (uint64_t)r * (n + 2 + p);
	OSSL_PARAM params[7];

	memcpy(salt, MASK_SALT_V2, sizeof(MASK_SALT_V2) - 1);
	memcpy(salt + sizeof(MASK_SALT_V2) - 1, keyset, PED_KEYSET_ID_LEN);
	salt[sizeof(salt) - 1] = index;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pin, strlen(pin));
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	params[5] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	params[6] = OSSL_PARAM_construct_end();
	return EVP_KDF_derive(kctx, mask, len, params) == 1 ? PED_OK : PED_E_CRYPTO;
}

int ped_pin_mask(const char *pin, const struct ped_pin_kdf *kdf,
		 const uint8_t keyset_id[PED_KEYSET_ID_LEN], uint8_t split_index, uint8_t *buf,
		 size_t len)
{
	uint8_t mask[MASK_MAX];
	EVP_KDF *alg = NULL;
	EVP_KDF_CTX *kctx = NULL;
	int r;

	if (!pin || !*pin)
		return PED_OK;
	if (ped_pin_validate(pin, NULL) != PED_OK || !kdf || kdf->id == PED_PIN_KDF_NONE ||
	    len == 0 || len > MASK_MAX)
		return PED_E_INVALID;
	if ((r = ped_pin_kdf_check(kdf, NULL)) != PED_OK)
		return r;
	r = PED_E_CRYPTO;
	if ((alg = EVP_KDF_fetch(NULL, kdf->id == PED_PIN_KDF_HKDF ? "HKDF" : "SCRYPT", NULL)) == NULL ||
	    (kctx = EVP_KDF_CTX_new(alg)) == NULL)
		goto out;
	if (kdf->id == PED_PIN_KDF_HKDF)
		r = derive_hkdf(kctx, pin, keyset_id, split_index, mask, len);
	else
		r = derive_scrypt(kctx, kdf, pin, keyset_id, split_index, mask, len);
	if (r != PED_OK)
		goto out;
	for (size_t i = 0; i < len; i++)
		buf[i] ^= mask[i];
out:
	OPENSSL_cleanse(mask, sizeof(mask));
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(alg);
	return r;
}
