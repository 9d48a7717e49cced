#include "ped/kdf.h"

#include "ped/error.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

int ped_sskdf_sha512(const uint8_t *z, size_t zlen, const uint8_t *info, size_t infolen,
		     uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[4];
	int r = PED_E_CRYPTO;

	if (!ctx)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA512", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, zlen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
	params[3] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, outlen, params) == 1)
		r = PED_OK;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return r;
}

int ped_hmac_sha512(const uint8_t *key, size_t keylen, const uint8_t *data, size_t len,
		    uint8_t out[64])
{
	size_t outlen = 0;
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA512", NULL, key, keylen, data, len, out, 64, &outlen) ==
		    NULL ||
	    outlen != 64)
		return PED_E_CRYPTO;
	return PED_OK;
}
