#include "ped/kwp.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

static const EVP_CIPHER *cipher_for(size_t keylen, int pad)
{
	switch (keylen) {
	case 16: return pad ? EVP_aes_128_wrap_pad() : EVP_aes_128_wrap();
	case 24: return pad ? EVP_aes_192_wrap_pad() : EVP_aes_192_wrap();
	case 32: return pad ? EVP_aes_256_wrap_pad() : EVP_aes_256_wrap();
	}
	return NULL;
}

static int run(int enc, int pad, const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
	       uint8_t **out, size_t *outlen)
{
	const EVP_CIPHER *c = cipher_for(keylen, pad);
	EVP_CIPHER_CTX *ctx = NULL;
	size_t cap = inlen + 16;
	uint8_t *buf = NULL;
	int n = 0, fin = 0, r = PED_E_CRYPTO;

	if (!c || inlen == 0 || inlen > PED_KWP_MAX_INPUT)
		return PED_E_INVALID;
	if ((buf = OPENSSL_malloc(cap)) == NULL)
		return PED_E_HOST_MEMORY;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex(ctx, c, NULL, key, NULL, enc) != 1)
		goto out;
	if (EVP_CipherUpdate(ctx, buf, &n, in, (int)inlen) != 1 || n <= 0 ||
	    EVP_CipherFinal_ex(ctx, buf + n, &fin) != 1) {
		/* on unwrap this is the integrity check failing, or a bad length */
		r = enc ? PED_E_INVALID : PED_E_BAD_RECORD;
		goto out;
	}
	*out = buf;
	*outlen = (size_t)(n + fin);
	buf = NULL;
	r = PED_OK;
out:
	OPENSSL_clear_free(buf, cap);
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int ped_kwp_wrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen, uint8_t **out,
		 size_t *outlen)
{
	return run(1, 1, key, keylen, in, inlen, out, outlen);
}

int ped_kwp_unwrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen,
		   uint8_t **out, size_t *outlen)
{
	return run(0, 1, key, keylen, in, inlen, out, outlen);
}

int ped_kw_wrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen, uint8_t **out,
		size_t *outlen)
{
	return run(1, 0, key, keylen, in, inlen, out, outlen);
}

int ped_kw_unwrap(const uint8_t *key, size_t keylen, const uint8_t *in, size_t inlen, uint8_t **out,
		  size_t *outlen)
{
	return run(0, 0, key, keylen, in, inlen, out, outlen);
}
