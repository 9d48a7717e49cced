#include "ped/ec.h"

#include "ped/error.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <string.h>

#define CURVE "P-521"

int ped_ec_generate(EVP_PKEY **out)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", CURVE);
	if (!k)
		return PED_E_CRYPTO;
	*out = k;
	return PED_OK;
}

int ped_ec_pub_export(const EVP_PKEY *key, uint8_t out[PED_EC_POINT_LEN])
{
	size_t len = 0;
	if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, out, PED_EC_POINT_LEN,
					    &len) != 1 ||
	    len != PED_EC_POINT_LEN)
		return PED_E_CRYPTO;
	return PED_OK;
}

int ped_ec_priv_export(const EVP_PKEY *key, uint8_t out[PED_EC_SCALAR_LEN])
{
	BIGNUM *d = NULL;
	int r = PED_E_CRYPTO;
	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1)
		return r;
	if (BN_bn2binpad(d, out, PED_EC_SCALAR_LEN) == PED_EC_SCALAR_LEN)
		r = PED_OK;
	BN_clear_free(d);
	return r;
}

static int from_params(OSSL_PARAM *params, int selection, EVP_PKEY **out)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	int r = PED_E_INVALID;

	if (!ctx)
		return PED_E_CRYPTO;
	if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &k, selection, params) != 1)
		goto out;
	r = PED_OK;
	*out = k;
out:
	EVP_PKEY_CTX_free(ctx);
	return r;
}

int ped_ec_check_p521(const EVP_PKEY *key)
{
	char group[32];
	size_t gl = 0;
	EVP_PKEY_CTX *ctx;
	int ok;

	if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
		return PED_E_INVALID;
	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   &gl) != 1 ||
	    (strcmp(group, "P-521") != 0 && strcmp(group, "secp521r1") != 0))
		return PED_E_INVALID;
	/* Named curve only: explicit parameters could smuggle a modified group
	 * (no cofactor, wrong order) that merely resembles P-521. */
	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING, group, sizeof(group),
					   &gl) == 1 &&
	    strcmp(group, OSSL_PKEY_EC_ENCODING_GROUP) != 0)
		return PED_E_INVALID;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, (EVP_PKEY *)key, NULL)) == NULL)
		return PED_E_CRYPTO;
	/* Full validation: on the curve, not infinity, right order. */
	ok = EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok ? PED_OK : PED_E_INVALID;
}

int ped_ec_pub_import(const uint8_t *point, size_t len, EVP_PKEY **out)
{
	OSSL_PARAM params[3];
	EVP_PKEY *k = NULL;
	int r;

	/* Only the uncompressed form travels in our messages. */
	if (len != PED_EC_POINT_LEN || point[0] != 0x04)
		return PED_E_INVALID;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, CURVE, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, len);
	params[2] = OSSL_PARAM_construct_end();
	if ((r = from_params(params, EVP_PKEY_PUBLIC_KEY, &k)) != PED_OK)
		return r;
	if ((r = ped_ec_check_p521(k)) != PED_OK) {
		EVP_PKEY_free(k);
		return r;
	}
	*out = k;
	return PED_OK;
}

int ped_ec_priv_import(const uint8_t *scalar, size_t len, EVP_PKEY **out)
{
	const EC_GROUP *grp = NULL;
	EC_GROUP *g = NULL;
	EC_POINT *pub = NULL;
	BIGNUM *d = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	uint8_t point[PED_EC_POINT_LEN];
	int r = PED_E_CRYPTO;

	if (len != PED_EC_SCALAR_LEN)
		return PED_E_INVALID;
	if ((g = EC_GROUP_new_by_curve_name(NID_secp521r1)) == NULL)
		goto out;
	grp = g;
	if ((d = BN_secure_new()) == NULL || !BN_bin2bn(scalar, (int)len, d))
		goto out;
	if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(grp)) >= 0) {
		r = PED_E_INVALID;
		goto out;
	}
	/* The public half is not stored with the scalar: compute it. */
	if ((pub = EC_POINT_new(grp)) == NULL || !EC_POINT_mul(grp, pub, d, NULL, NULL, NULL) ||
	    EC_POINT_point2oct(grp, pub, POINT_CONVERSION_UNCOMPRESSED, point, sizeof(point), NULL) !=
		    sizeof(point))
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, CURVE, 0) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	r = from_params(params, EVP_PKEY_KEYPAIR, out);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EC_POINT_free(pub);
	BN_clear_free(d);
	EC_GROUP_free(g);
	return r;
}

int ped_ecdh_into(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t z[PED_ECDH_LEN])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	size_t len = PED_ECDH_LEN;
	int r = PED_E_CRYPTO;

	if (!ctx)
		return r;
	/* EVP_PKEY_derive_set_peer validates the peer key (on-curve) by default. */
	if (EVP_PKEY_derive_init(ctx) != 1)
		goto out;
	if (EVP_PKEY_derive_set_peer(ctx, peer) != 1) {
		r = PED_E_INVALID;
		goto out;
	}
	if (EVP_PKEY_derive(ctx, z, &len) != 1 || len != PED_ECDH_LEN) {
		OPENSSL_cleanse(z, PED_ECDH_LEN);
		goto out;
	}
	r = PED_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	return r;
}

int ped_ecdh(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t **z_out)
{
	uint8_t *z = OPENSSL_malloc(PED_ECDH_LEN);
	int r;
	if (!z)
		return PED_E_HOST_MEMORY;
	if ((r = ped_ecdh_into(priv, peer, z)) != PED_OK) {
		OPENSSL_clear_free(z, PED_ECDH_LEN);
		return r;
	}
	*z_out = z;
	return PED_OK;
}
