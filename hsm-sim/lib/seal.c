/* AES-256-GCM sealing under HKDF-derived keys, and the device secret file
 * (hsm/seal.h). */
#include "hsm/seal.h"

#include "ped/error.h"
#include "ped/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_INFO "OPENPED-STATE-v1"
#define DOMAIN_INFO "OPENPED-DOMAIN-CLONE-v1"
#define SEAL_MAX (64u * 1024 * 1024)

int hsm_hkdf(const uint8_t *ikm, size_t ikmlen, const void *info, size_t infolen, uint8_t out[HSM_KEY_LEN])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[4];
	int r = PED_E_CRYPTO;

	if (!ctx)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
	params[3] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, HSM_KEY_LEN, params) == 1)
		r = PED_OK;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	if (r != PED_OK)
		OPENSSL_cleanse(out, HSM_KEY_LEN);
	return r;
}

int hsm_storage_key(const uint8_t secret[HSM_DEVICE_SECRET_LEN], const char *serial, uint8_t kek[HSM_KEY_LEN])
{
	char info[sizeof(STATE_INFO) + 64];
	int n = snprintf(info, sizeof(info), "%s%s", STATE_INFO, serial);
	if (n < 0 || (size_t)n >= sizeof(info))
		return PED_E_INVALID;
	return hsm_hkdf(secret, HSM_DEVICE_SECRET_LEN, info, (size_t)n, kek);
}

int hsm_domain_key(const uint8_t *secret, size_t len, uint8_t key[HSM_KEY_LEN])
{
	return hsm_hkdf(secret, len, DOMAIN_INFO, sizeof(DOMAIN_INFO) - 1, key);
}

int hsm_seal(const uint8_t key[HSM_KEY_LEN], const uint8_t *aad, size_t aadlen, const uint8_t *pt, size_t ptlen,
	     uint8_t **out, size_t *outlen)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	int n = 0, r = PED_E_CRYPTO;

	*out = NULL;
	*outlen = 0;
	if (ptlen > SEAL_MAX || aadlen > SEAL_MAX || aadlen > INT32_MAX)
		return PED_E_RANGE;
	if (!(buf = OPENSSL_malloc(ptlen + HSM_SEAL_OVERHEAD)))
		return PED_E_HOST_MEMORY;
	if (RAND_bytes(buf, HSM_SEAL_NONCE_LEN) != 1 || !(ctx = EVP_CIPHER_CTX_new()) ||
	    EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), key, buf, NULL) != 1 ||
	    (aadlen && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1) ||
	    (ptlen && EVP_EncryptUpdate(ctx, buf + HSM_SEAL_NONCE_LEN, &n, pt, (int)ptlen) != 1) ||
	    EVP_EncryptFinal_ex(ctx, buf + HSM_SEAL_NONCE_LEN + ptlen, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, HSM_SEAL_TAG_LEN, buf + HSM_SEAL_NONCE_LEN + ptlen) != 1)
		goto out;
	*out = buf;
	*outlen = ptlen + HSM_SEAL_OVERHEAD;
	buf = NULL;
	r = PED_OK;
out:
	OPENSSL_clear_free(buf, ptlen + HSM_SEAL_OVERHEAD);
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int hsm_open(const uint8_t key[HSM_KEY_LEN], const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t inlen,
	     uint8_t **pt, size_t *ptlen)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t *buf = NULL, tag[HSM_SEAL_TAG_LEN];
	size_t len;
	int n = 0, r = PED_E_BAD_RECORD;

	*pt = NULL;
	*ptlen = 0;
	if (inlen < HSM_SEAL_OVERHEAD || inlen - HSM_SEAL_OVERHEAD > SEAL_MAX || aadlen > SEAL_MAX ||
	    aadlen > INT32_MAX)
		return PED_E_BAD_RECORD;
	len = inlen - HSM_SEAL_OVERHEAD;
	memcpy(tag, in + HSM_SEAL_NONCE_LEN + len, sizeof(tag));
	if (len && !(buf = OPENSSL_malloc(len)))
		return PED_E_HOST_MEMORY;
	if (!(ctx = EVP_CIPHER_CTX_new()) || EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), key, in, NULL) != 1 ||
	    (aadlen && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1) ||
	    (len && EVP_DecryptUpdate(ctx, buf, &n, in + HSM_SEAL_NONCE_LEN, (int)len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, sizeof(tag), tag) != 1)
		goto out;
	/* the tag is checked here: nothing decrypted leaves before it is */
	if (EVP_DecryptFinal_ex(ctx, buf ? buf + len : tag, &n) != 1)
		goto out;
	*pt = buf;
	*ptlen = len;
	buf = NULL;
	r = PED_OK;
out:
	OPENSSL_clear_free(buf, len);
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int hsm_device_read(const char *path, uint8_t secret[HSM_DEVICE_SECRET_LEN], char *why, size_t whylen)
{
	struct stat st;
	uint8_t buf[HSM_DEVICE_SECRET_LEN + 1];
	ssize_t n;
	int fd = -1, r;

	if ((r = ped_file_open(path, O_RDONLY, 0, &fd, why, whylen)) != PED_OK)
		return r;
	r = PED_E_FILE;
	if (fstat(fd, &st) != 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_mode & 077) {
		snprintf(why, whylen, "%s: readable or writable by others (mode %03o); a device secret is 0600",
			 path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n != HSM_DEVICE_SECRET_LEN) {
		snprintf(why, whylen, "%s: %s", path, n < 0 ? strerror(errno) : "not a device secret (32 bytes)");
		r = n < 0 ? PED_E_FILE : PED_E_CORRUPT;
		goto out;
	}
	memcpy(secret, buf, HSM_DEVICE_SECRET_LEN);
	r = PED_OK;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return r;
}

int hsm_device_create(const char *path, uint8_t secret[HSM_DEVICE_SECRET_LEN], char *why, size_t whylen)
{
	int r;

	if (access(path, F_OK) == 0 || errno != ENOENT) {
		snprintf(why, whylen, "%s: exists already; a device secret is never replaced", path);
		return PED_E_EXISTS;
	}
	if (RAND_priv_bytes(secret, HSM_DEVICE_SECRET_LEN) != 1) {
		snprintf(why, whylen, "no random bytes for the device secret");
		return PED_E_CRYPTO;
	}
	if ((r = ped_file_write_atomic(path, secret, HSM_DEVICE_SECRET_LEN, 0600)) != PED_OK) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		OPENSSL_cleanse(secret, HSM_DEVICE_SECRET_LEN);
	}
	return r;
}
