#include "ped/cert.h"

#include "ped/ec.h"
#include "ped/error.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <string.h>

#define VALIDITY_DAYS (20 * 365)

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

static X509 *new_cert(EVP_PKEY *pub, const char *cn)
{
	X509 *c = X509_new();
	X509_NAME *name;
	uint8_t serial[16];
	BIGNUM *bn = NULL;

	if (!c)
		return NULL;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f; /* positive */
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)))
		goto fail;
	BN_free(bn);
	bn = NULL;
	if (!X509_set_version(c, 2) || !X509_gmtime_adj(X509_getm_notBefore(c), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(c), (long)VALIDITY_DAYS * 86400) ||
	    !X509_set_pubkey(c, pub))
		goto fail;
	name = X509_get_subject_name(c);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Open PED suite",
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0))
		goto fail;
	return c;
fail:
	BN_free(bn);
	X509_free(c);
	return NULL;
}

int ped_cert_make_hoc(EVP_PKEY *hoc_key, const char *hsm_serial, X509 **out)
{
	char cn[96];
	X509 *c;

	snprintf(cn, sizeof(cn), "HOC %s", hsm_serial);
	if ((c = new_cert(hoc_key, cn)) == NULL)
		return PED_E_CRYPTO;
	if (!X509_set_issuer_name(c, X509_get_subject_name(c)) ||
	    !add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE") ||
	    !add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !add_ext(c, c, NID_subject_key_identifier, "hash") ||
	    !X509_sign(c, hoc_key, EVP_sha512())) {
		X509_free(c);
		return PED_E_CRYPTO;
	}
	*out = c;
	return PED_OK;
}

int ped_cert_issue(X509 *hoc, EVP_PKEY *hoc_key, EVP_PKEY *subject_pub, const char *cn, X509 **out)
{
	X509 *c = new_cert(subject_pub, cn);

	if (!c)
		return PED_E_CRYPTO;
	if (!X509_set_issuer_name(c, X509_get_subject_name(hoc)) ||
	    !add_ext(c, hoc, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(c, hoc, NID_key_usage, "critical,keyAgreement") ||
	    !add_ext(c, hoc, NID_authority_key_identifier, "keyid:always") ||
	    !X509_sign(c, hoc_key, EVP_sha512())) {
		X509_free(c);
		return PED_E_CRYPTO;
	}
	*out = c;
	return PED_OK;
}

/* "Not valid yet" says this host's clock is behind the one that issued the
 * certificate (a wall-clock step, a board without a clock), not that the
 * certificate is forged: trust is the pinned anchor, and a ceremony must not
 * fail because NTP stepped the clock back. Expiry still counts. */
int ped_cert_verify_cb(int ok, X509_STORE_CTX *ctx)
{
	if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_CERT_NOT_YET_VALID) {
		X509_STORE_CTX_set_error(ctx, X509_V_OK);
		return 1;
	}
	return ok;
}

static int verify_with(X509 *leaf, X509 *anchor)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok = 0;

	if (store && ctx && X509_STORE_add_cert(store, anchor) == 1 &&
	    X509_STORE_CTX_init(ctx, store, leaf, NULL) == 1) {
		/* Only the given root is trusted: no system store, no partial chains. */
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
		X509_STORE_CTX_set_verify_cb(ctx, ped_cert_verify_cb);
		ok = X509_verify_cert(ctx) == 1;
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

int ped_cert_verify_root(X509 *hoc)
{
	EVP_PKEY *k = X509_get0_pubkey(hoc);
	if (!k || ped_ec_check_p521(k) != PED_OK || X509_check_ca(hoc) < 1 ||
	    !(X509_get_extension_flags(hoc) & EXFLAG_SS) || !verify_with(hoc, hoc))
		return PED_E_CERTIFICATE_INVALID;
	return PED_OK;
}

int ped_cert_verify(X509 *leaf, X509 *hoc)
{
	EVP_PKEY *k = X509_get0_pubkey(leaf);

	if (!k || ped_ec_check_p521(k) != PED_OK)
		return PED_E_CERTIFICATE_INVALID;
	if (!(X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) ||
	    !(X509_get_key_usage(leaf) & KU_KEY_AGREEMENT) || X509_check_ca(leaf) != 0)
		return PED_E_CERTIFICATE_INVALID;
	if (ped_cert_verify_root(hoc) != PED_OK || !verify_with(leaf, hoc))
		return PED_E_CERTIFICATE_INVALID;
	return PED_OK;
}

int ped_cert_to_der(X509 *cert, uint8_t **der, size_t *len)
{
	unsigned char *buf = NULL;
	int n = i2d_X509(cert, &buf);
	if (n <= 0)
		return PED_E_CRYPTO;
	*der = buf;
	*len = (size_t)n;
	return PED_OK;
}

int ped_cert_from_der(const uint8_t *der, size_t len, X509 **out)
{
	const unsigned char *p = der;
	X509 *c;

	if (len == 0 || len > PED_CERT_MAX_DER)
		return PED_E_CERTIFICATE_INVALID;
	c = d2i_X509(NULL, &p, (long)len);
	if (!c || p != der + len) {
		X509_free(c);
		return PED_E_CERTIFICATE_INVALID;
	}
	*out = c;
	return PED_OK;
}

int ped_cert_fingerprint(const uint8_t *der, size_t len, char out[PED_CERT_FPR_LEN + 1])
{
	static const char hex[] = "0123456789ABCDEF";
	uint8_t md[32];
	size_t o = 0;

	if (EVP_Digest(der, len, md, NULL, EVP_sha256(), NULL) != 1)
		return PED_E_CRYPTO;
	for (int i = 0; i < 8; i++) {
		if (i && i % 2 == 0)
			out[o++] = ' ';
		out[o++] = hex[md[i] >> 4];
		out[o++] = hex[md[i] & 15];
	}
	out[o] = '\0';
	return PED_OK;
}

int ped_cert_hoc_serial(X509 *hoc, char *out, size_t outlen)
{
	char cn[96];
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(hoc), NID_commonName, cn, sizeof(cn));

	if (n < 5 || (size_t)n >= sizeof(cn) - 1 || strncmp(cn, "HOC ", 4) || (size_t)n - 4 >= outlen)
		return PED_E_NOT_FOUND;
	memcpy(out, cn + 4, (size_t)n - 4 + 1);
	return PED_OK;
}
