#include "ped/pinmask.h"

#include "ped/error.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <string.h>

#define MASK_INFO "OPENPED-PIN-MASK-v1"

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

int ped_pin_mask(const char *pin, const uint8_t keyset_id[PED_KEYSET_ID_LEN], uint8_t split_index,
		 uint8_t *buf, size_t len)
{
	uint8_t salt[PED_KEYSET_ID_LEN + 1], *mask = NULL;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5];
	int r = PED_E_CRYPTO;

	if (!pin || !*pin)
		return PED_OK;
	if (ped_pin_validate(pin, NULL) != PED_OK)
		return PED_E_INVALID;
	memcpy(salt, keyset_id, PED_KEYSET_ID_LEN);
	salt[PED_KEYSET_ID_LEN] = split_index;
	if ((mask = OPENSSL_malloc(len)) == NULL)
		return PED_E_HOST_MEMORY;
	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL || (kctx = EVP_KDF_CTX_new(kdf)) == NULL)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA512", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)pin, strlen(pin));
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, MASK_INFO,
						      sizeof(MASK_INFO) - 1);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, mask, len, params) != 1)
		goto out;
	for (size_t i = 0; i < len; i++)
		buf[i] ^= mask[i];
	r = PED_OK;
out:
	OPENSSL_clear_free(mask, len);
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return r;
}
