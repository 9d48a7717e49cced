/* The attribute rule table: PKCS#11 2.40's tables for storage objects,
 * data objects, X.509 certificates and RSA, EC, AES and generic secret
 * keys, with their footnotes as flags, in one place. Every rule the object
 * layer applies (templates, defaults, sensitivity, modification, storage)
 * reads this table; docs/keys.md lists it for people. */
#include "keys_int.h"

#include <openssl/crypto.h>
#include <string.h>

#define K(x) HSM_K_##x
#define F(x) HSM_AF_##x
#define R(type, kinds, av, flags, def, min, max)                                                   \
	{ type, #type, kinds, HSM_AV_##av, flags, def, min, max }

/* bytes of DER names and certificates' other fields */
#define NAME_MAX_LEN 16384
#define ID_MAX_LEN 256
#define MECHS_MAX (64 * sizeof(CK_MECHANISM_TYPE))

static const struct hsm_attr_rule rules[] = {
	/* every object */
	R(CKA_CLASS, K(ALL), ULONG, F(CREATE_REQ) | F(UNWRAP_REQ), 0, 0, 0),
	R(CKA_TOKEN, K(ALL), BOOL, F(DEF) | F(COPY), CK_FALSE, 0, 0),
	R(CKA_PRIVATE, K(DATA) | K(CERT) | K(PUB), BOOL, F(DEF) | F(COPY), CK_FALSE, 0, 0),
	R(CKA_PRIVATE, K(PRIV) | K(SECRET), BOOL, F(DEF) | F(COPY), CK_TRUE, 0, 0),
	R(CKA_MODIFIABLE, K(ALL), BOOL, F(DEF) | F(COPY) | F(FALSE_STAYS), CK_TRUE, 0, 0),
	R(CKA_COPYABLE, K(ALL), BOOL, F(DEF) | F(COPY) | F(MODIFIABLE) | F(FALSE_STAYS), CK_TRUE, 0, 0),
	R(CKA_DESTROYABLE, K(ALL), BOOL, F(DEF) | F(COPY) | F(MODIFIABLE) | F(FALSE_STAYS), CK_TRUE, 0,
	  0),
	R(CKA_LABEL, K(ALL), UTF8, F(DEF) | F(MODIFIABLE), 0, 0, HSM_LABEL_LEN_MAX),

	/* data objects */
	R(CKA_APPLICATION, K(DATA), UTF8, F(DEF) | F(MODIFIABLE), 0, 0, HSM_LABEL_LEN_MAX),
	R(CKA_OBJECT_ID, K(DATA), DER, F(DEF) | F(MODIFIABLE), 0, 0, ID_MAX_LEN),
	R(CKA_VALUE, K(DATA), BYTES, F(DEF) | F(MODIFIABLE), 0, 0, HSM_ATTR_MAX),

	/* certificates (X.509 only) */
	R(CKA_CERTIFICATE_TYPE, K(CERT), ULONG, F(CREATE_REQ), 0, 0, 0),
	R(CKA_CERTIFICATE_CATEGORY, K(CERT), ULONG, F(DEF), 0, 0, 0),
	R(CKA_SUBJECT, K(CERT), DER, F(CREATE_REQ), 0, 1, NAME_MAX_LEN),
	R(CKA_ISSUER, K(CERT), DER, F(DEF) | F(MODIFIABLE), 0, 0, NAME_MAX_LEN),
	R(CKA_SERIAL_NUMBER, K(CERT), DER, F(DEF) | F(MODIFIABLE), 0, 0, ID_MAX_LEN),
	R(CKA_VALUE, K(CERT), DER, F(CREATE_REQ), 0, 1, HSM_ATTR_MAX),
	R(CKA_PUBLIC_KEY_INFO, K(CERT), DER, F(DEF), 0, 0, NAME_MAX_LEN),
	R(CKA_TRUSTED, K(CERT) | K(PUB) | K(SECRET), BOOL, F(DEF) | F(MODIFIABLE) | F(SO_TRUE),
	  CK_FALSE, 0, 0),

	/* certificates and keys */
	R(CKA_ID, K(CERT) | K(KEY), BYTES, F(DEF) | F(MODIFIABLE), 0, 0, ID_MAX_LEN),
	R(CKA_START_DATE, K(CERT) | K(KEY), DATE, F(DEF) | F(MODIFIABLE), 0, 0, sizeof(CK_DATE)),
	R(CKA_END_DATE, K(CERT) | K(KEY), DATE, F(DEF) | F(MODIFIABLE), 0, 0, sizeof(CK_DATE)),

	/* every key */
	R(CKA_KEY_TYPE, K(KEY), ULONG, F(CREATE_REQ) | F(UNWRAP_REQ), 0, 0, 0),
	R(CKA_DERIVE, K(KEY), BOOL, F(DEF) | F(MODIFIABLE) | F(USAGE), CK_FALSE, 0, 0),
	R(CKA_LOCAL, K(KEY), BOOL, F(TOKEN_SET), 0, 0, 0),
	R(CKA_KEY_GEN_MECHANISM, K(KEY), ULONG, F(TOKEN_SET), 0, 0, 0),
	R(CKA_ALLOWED_MECHANISMS, K(KEY), MECHS, F(DEF), 0, 0, MECHS_MAX),

	/* public and private keys */
	R(CKA_SUBJECT, K(PUB) | K(PRIV), DER, F(DEF) | F(MODIFIABLE), 0, 0, NAME_MAX_LEN),
	R(CKA_PUBLIC_KEY_INFO, K(PUB) | K(PRIV), DER, F(COMPUTED), 0, 1, NAME_MAX_LEN),

	/* usage: public and secret keys */
	R(CKA_ENCRYPT, K(PUB) | K(SECRET), BOOL, F(DEF) | F(MODIFIABLE) | F(USAGE), CK_FALSE, 0, 0),
	R(CKA_VERIFY, K(PUB) | K(SECRET), BOOL, F(DEF) | F(MODIFIABLE) | F(USAGE), CK_FALSE, 0, 0),
	R(CKA_VERIFY_RECOVER, K(PUB), BOOL, F(DEF) | F(MODIFIABLE) | F(USAGE), CK_FALSE, 0, 0),
	R(CKA_WRAP, K(PUB) | K(SECRET), BOOL, F(DEF) | F(MODIFIABLE) | F(USAGE), CK_FALSE, 0, 0),
	/* usage: private and secret keys */
	R(CKA_DECRYPT, K(PRIV) | K(SECRET), BOOL, F(DEF) | F(MODIFIABLE) | F(USAGE), CK_FALSE, 0, 0),
	R(CKA_SIGN, K(PRIV) | K(SECRET), BOOL, F(DEF) | F(MODIFIABLE) | F(USAGE), CK_FALSE, 0, 0),
	R(CKA_SIGN_RECOVER, K(PRIV), BOOL, F(DEF) | F(MODIFIABLE) | F(USAGE), CK_FALSE, 0, 0),
	R(CKA_UNWRAP, K(PRIV) | K(SECRET), BOOL, F(DEF) | F(MODIFIABLE) | F(USAGE), CK_FALSE, 0, 0),

	/* protection: private and secret keys */
	R(CKA_SENSITIVE, K(PRIV) | K(SECRET), BOOL, F(DEF) | F(MODIFIABLE) | F(TRUE_STAYS), CK_TRUE,
	  0, 0),
	R(CKA_EXTRACTABLE, K(PRIV) | K(SECRET), BOOL,
	  F(DEF) | F(MODIFIABLE) | F(FALSE_STAYS) | F(USAGE), CK_FALSE, 0, 0),
	R(CKA_ALWAYS_SENSITIVE, K(PRIV) | K(SECRET), BOOL, F(TOKEN_SET), 0, 0, 0),
	R(CKA_NEVER_EXTRACTABLE, K(PRIV) | K(SECRET), BOOL, F(TOKEN_SET), 0, 0, 0),
	R(CKA_WRAP_WITH_TRUSTED, K(PRIV) | K(SECRET), BOOL, F(DEF) | F(MODIFIABLE) | F(TRUE_STAYS),
	  CK_FALSE, 0, 0),
	R(CKA_ALWAYS_AUTHENTICATE, K(PRIV), BOOL, F(DEF), CK_FALSE, 0, 0),

	/* RSA */
	R(CKA_MODULUS, K(RSA_PUB), BIGINT, F(CREATE_REQ) | F(GEN_NO), 0, 256, 512),
	R(CKA_MODULUS, K(RSA_PRIV), BIGINT, F(CREATE_REQ) | F(GEN_NO) | F(UNWRAP_NO), 0, 256, 512),
	R(CKA_MODULUS_BITS, K(RSA_PUB), ULONG, F(CREATE_NO) | F(GEN_REQ), 0, 0, 0),
	R(CKA_PUBLIC_EXPONENT, K(RSA_PUB), BIGINT, F(CREATE_REQ), 0, 1, 64),
	R(CKA_PUBLIC_EXPONENT, K(RSA_PRIV), BIGINT, F(CREATE_REQ) | F(GEN_NO) | F(UNWRAP_NO), 0, 1,
	  64),
	R(CKA_PRIVATE_EXPONENT, K(RSA_PRIV), BIGINT,
	  F(CREATE_REQ) | F(GEN_NO) | F(UNWRAP_NO) | F(SENSITIVE), 0, 1, 512),
	R(CKA_PRIME_1, K(RSA_PRIV), BIGINT, F(GEN_NO) | F(UNWRAP_NO) | F(SENSITIVE), 0, 1, 256),
	R(CKA_PRIME_2, K(RSA_PRIV), BIGINT, F(GEN_NO) | F(UNWRAP_NO) | F(SENSITIVE), 0, 1, 256),
	R(CKA_EXPONENT_1, K(RSA_PRIV), BIGINT, F(GEN_NO) | F(UNWRAP_NO) | F(SENSITIVE), 0, 1, 256),
	R(CKA_EXPONENT_2, K(RSA_PRIV), BIGINT, F(GEN_NO) | F(UNWRAP_NO) | F(SENSITIVE), 0, 1, 256),
	R(CKA_COEFFICIENT, K(RSA_PRIV), BIGINT, F(GEN_NO) | F(UNWRAP_NO) | F(SENSITIVE), 0, 1, 256),

	/* EC */
	R(CKA_EC_PARAMS, K(EC_PUB), DER, F(CREATE_REQ) | F(GEN_REQ), 0, 1, 64),
	R(CKA_EC_PARAMS, K(EC_PRIV), DER, F(CREATE_REQ) | F(GEN_NO) | F(UNWRAP_NO), 0, 1, 64),
	R(CKA_EC_POINT, K(EC_PUB), DER, F(CREATE_REQ) | F(GEN_NO), 0, 1, 140),
	R(CKA_VALUE, K(EC_PRIV), BIGINT, F(CREATE_REQ) | F(GEN_NO) | F(UNWRAP_NO) | F(SENSITIVE), 0,
	  1, 66),

	/* secret keys */
	R(CKA_VALUE, K(AES), BYTES, F(CREATE_REQ) | F(GEN_NO) | F(UNWRAP_NO) | F(SENSITIVE), 0, 16,
	  32),
	R(CKA_VALUE, K(GENERIC), BYTES, F(CREATE_REQ) | F(GEN_NO) | F(UNWRAP_NO) | F(SENSITIVE), 0,
	  1, HSM_GENERIC_MAX),
	R(CKA_VALUE_LEN, K(SECRET), ULONG, F(CREATE_NO) | F(GEN_REQ), 0, 0, 0),
	R(CKA_CHECK_VALUE, K(AES), BYTES, F(COMPUTED), 0, 3, 3),
};

const struct hsm_attr_rule *hsm_attr_rules(size_t *count)
{
	*count = sizeof(rules) / sizeof(rules[0]);
	return rules;
}

const struct hsm_attr_rule *hsm_attr_rule(CK_ATTRIBUTE_TYPE type, uint32_t kind)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].type == type && (rules[i].kinds & kind))
			return &rules[i];
	return NULL;
}

const char *hsm_attr_name(CK_ATTRIBUTE_TYPE type)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].type == type)
			return rules[i].name;
	return NULL;
}

uint32_t kkind(CK_OBJECT_CLASS cls, CK_KEY_TYPE kt)
{
	switch (cls) {
	case CKO_DATA: return HSM_K_DATA;
	case CKO_CERTIFICATE: return HSM_K_CERT;
	case CKO_PUBLIC_KEY:
		return kt == CKK_RSA ? HSM_K_RSA_PUB : kt == CKK_EC ? HSM_K_EC_PUB : 0;
	case CKO_PRIVATE_KEY:
		return kt == CKK_RSA ? HSM_K_RSA_PRIV : kt == CKK_EC ? HSM_K_EC_PRIV : 0;
	case CKO_SECRET_KEY:
		return kt == CKK_AES ? HSM_K_AES : kt == CKK_GENERIC_SECRET ? HSM_K_GENERIC : 0;
	}
	return 0;
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF, no NUL. */
static int utf8_valid(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = p[i];
		size_t n;
		uint32_t cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i <= n)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		i += n + 1;
	}
	return 1;
}

/* One DER element, definite length, spanning exactly len bytes. */
static int der_one(const uint8_t *p, size_t len)
{
	size_t hdr = 2, body;

	if (len < 2 || (p[0] & 0x1f) == 0x1f)
		return 0;
	if (p[1] < 0x80) {
		body = p[1];
	} else {
		size_t nb = p[1] & 0x7f;
		if (nb == 0 || nb > 4 || len < 2 + nb)
			return 0;
		body = 0;
		for (size_t i = 0; i < nb; i++)
			body = (body << 8) | p[2 + i];
		hdr += nb;
	}
	return body == len - hdr;
}

static int digits(const char *s, size_t n, unsigned *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return 1;
}

static int date_valid(const CK_DATE *d)
{
	static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned y, m, day;

	if (!digits((const char *)d->year, 4, &y) || !digits((const char *)d->month, 2, &m) ||
	    !digits((const char *)d->day, 2, &day))
		return 0;
	if (y < 1970 || m < 1 || m > 12 || day < 1 || day > mdays[m - 1])
		return 0;
	if (m == 2 && day == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 0;
	return 1;
}

CK_RV kattr_normalize(const struct hsm_attr_rule *r, const void *val, CK_ULONG len, uint8_t **out,
		      CK_ULONG *outlen)
{
	const uint8_t *p = val;
	uint8_t b;
	CK_ULONG n = len;

	*out = NULL;
	*outlen = 0;
	if (len > 0 && !val)
		return kfail(CKR_ATTRIBUTE_VALUE_INVALID, "%s: no value for %lu bytes", r->name, len);
	switch (r->av) {
	case HSM_AV_BOOL:
		if (len != sizeof(CK_BBOOL))
			return kfail(CKR_ATTRIBUTE_VALUE_INVALID, "%s: a CK_BBOOL is %zu byte, not %lu",
				     r->name, sizeof(CK_BBOOL), len);
		b = *(const CK_BBOOL *)val ? CK_TRUE : CK_FALSE;
		p = &b;
		break;
	case HSM_AV_ULONG:
		if (len != sizeof(CK_ULONG))
			return kfail(CKR_ATTRIBUTE_VALUE_INVALID, "%s: a CK_ULONG is %zu bytes, not %lu",
				     r->name, sizeof(CK_ULONG), len);
		break;
	case HSM_AV_BIGINT:
		while (n > 0 && *p == 0) {
			p++;
			n--;
		}
		break;
	case HSM_AV_DATE:
		if (len != 0 && (len != sizeof(CK_DATE) || !date_valid(val)))
			return kfail(CKR_ATTRIBUTE_VALUE_INVALID, "%s: not an empty or valid YYYYMMDD date",
				     r->name);
		break;
	case HSM_AV_UTF8:
		if (len > r->max_len || !utf8_valid(p, len))
			return kfail(CKR_ATTRIBUTE_VALUE_INVALID, "%s: not UTF-8 text of at most %u bytes",
				     r->name, r->max_len);
		break;
	case HSM_AV_DER:
		if (len == 0)
			break;
		if (r->type == CKA_EC_PARAMS) {
			const struct kcurve *c = kcurve_from_params(p, len);
			if (!c)
				return kfail(CKR_ATTRIBUTE_VALUE_INVALID,
					     "CKA_EC_PARAMS: not P-256, P-384 or P-521 by OID or name");
			p = c->oid;
			n = c->oid_len;
		} else if (r->type != CKA_EC_POINT && (len > r->max_len || !der_one(p, len))) {
			/* a point may come raw: keymat.c checks it against its curve */
			return kfail(CKR_ATTRIBUTE_VALUE_INVALID, "%s: not one DER element", r->name);
		}
		break;
	case HSM_AV_MECHS:
		if (len % sizeof(CK_MECHANISM_TYPE))
			return kfail(CKR_ATTRIBUTE_VALUE_INVALID, "%s: not an array of CK_MECHANISM_TYPE",
				     r->name);
		break;
	case HSM_AV_BYTES:
		break;
	}
	if (r->av != HSM_AV_BOOL && r->av != HSM_AV_ULONG && (n < r->min_len || n > r->max_len))
		return kfail(CKR_ATTRIBUTE_VALUE_INVALID, "%s: %lu bytes, not %u to %u", r->name, n,
			     r->min_len, r->max_len);
	if (n == 0)
		return CKR_OK;
	if ((*out = OPENSSL_malloc(n)) == NULL)
		return kfail(CKR_HOST_MEMORY, "out of memory");
	memcpy(*out, p, n);
	*outlen = n;
	return CKR_OK;
}
