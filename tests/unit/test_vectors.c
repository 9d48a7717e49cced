/* Wycheproof conformance vectors (tests/vectors/README.md): every valid case
 * accepted, every invalid case rejected, through the same calls the suite
 * uses (ped_ec_*, ped_kwp_*, EVP_DigestVerify for certificate signatures). */
#include "unit.h"

#include "ped/ec.h"
#include "ped/error.h"
#include "ped/kdf.h"
#include "ped/kwp.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 8

struct line {
	char *f[MAX_FIELDS];
	int n;
};

static FILE *open_vectors(const char *name)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/tests/vectors/%s", unit_source_dir(), name);
	FILE *f = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL(f);
	return f;
}

static int next_line(FILE *f, char **buf, size_t *cap, struct line *l)
{
	if (getline(buf, cap, f) < 0)
		return 0;
	l->n = 0;
	for (char *t = strtok(*buf, " \n"); t && l->n < MAX_FIELDS; t = strtok(NULL, " \n"))
		l->f[l->n++] = strcmp(t, "-") == 0 ? "" : t;
	return 1;
}

static unsigned char *unhex(const char *s, size_t *len)
{
	size_t n = strlen(s) / 2;
	unsigned char *b = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		sscanf(s + 2 * i, "%2hhx", &b[i]);
	*len = n;
	return b;
}

/* Wycheproof private keys are big-endian integers, sometimes with a leading 00. */
static EVP_PKEY *private_key(const char *hex)
{
	size_t n;
	unsigned char *b = unhex(hex, &n), scalar[PED_EC_SCALAR_LEN] = {0};
	EVP_PKEY *k = NULL;
	size_t skip = 0;
	while (n - skip > PED_EC_SCALAR_LEN && b[skip] == 0)
		skip++;
	if (n - skip <= PED_EC_SCALAR_LEN) {
		memcpy(scalar + PED_EC_SCALAR_LEN - (n - skip), b + skip, n - skip);
		ped_ec_priv_import(scalar, sizeof(scalar), &k);
	}
	free(b);
	return k;
}

struct tally {
	int valid_ok, invalid_rejected, acceptable_accepted, acceptable_rejected, wrong;
};

static void count(struct tally *t, const char *result, int accepted, const char *tc)
{
	if (strcmp(result, "valid") == 0) {
		if (accepted)
			t->valid_ok++;
		else {
			t->wrong++;
			fprintf(stderr, "valid case %s rejected\n", tc);
		}
	} else if (strcmp(result, "invalid") == 0) {
		if (!accepted)
			t->invalid_rejected++;
		else {
			t->wrong++;
			fprintf(stderr, "invalid case %s accepted\n", tc);
		}
	} else {
		accepted ? t->acceptable_accepted++ : t->acceptable_rejected++;
	}
}

static int ecdh_case(EVP_PKEY *priv, EVP_PKEY *peer, const char *shared_hex)
{
	uint8_t z[PED_ECDH_LEN];
	size_t sl;
	unsigned char *want;
	int ok;
	if (!priv || !peer || ped_ecdh_into(priv, peer, z) != PED_OK)
		return 0;
	want = unhex(shared_hex, &sl);
	ok = sl == PED_ECDH_LEN && memcmp(z, want, sl) == 0;
	free(want);
	return ok;
}

static void ecdh_der(void)
{
	FILE *f = open_vectors("ecdh_secp521r1_der.txt");
	char *buf = NULL;
	size_t cap = 0;
	struct line l;
	struct tally t = {0};
	while (f && next_line(f, &buf, &cap, &l)) {
		size_t n;
		unsigned char *der = unhex(l.f[2], &n);
		const unsigned char *p = der;
		EVP_PKEY *decoded = d2i_PUBKEY(NULL, &p, (long)n), *peer = NULL;
		uint8_t point[PED_EC_POINT_LEN];
		/* Our path: a P-521 key whose point re-imports through ped_ec_pub_import. */
		if (decoded && p == der + n && ped_ec_check_p521(decoded) == PED_OK &&
		    ped_ec_pub_export(decoded, point) == PED_OK)
			ped_ec_pub_import(point, sizeof(point), &peer);
		EVP_PKEY *priv = private_key(l.f[3]);
		count(&t, l.f[1], ecdh_case(priv, peer, l.f[4]), l.f[0]);
		EVP_PKEY_free(priv);
		EVP_PKEY_free(peer);
		EVP_PKEY_free(decoded);
		free(der);
	}
	free(buf);
	if (f)
		fclose(f);
	CU_ASSERT_EQUAL(t.wrong, 0);
	CU_ASSERT_EQUAL(t.valid_ok, 632);
	CU_ASSERT(t.invalid_rejected >= 50);
}

static void ecdh_point(void)
{
	FILE *f = open_vectors("ecdh_secp521r1_point.txt");
	char *buf = NULL;
	size_t cap = 0;
	struct line l;
	struct tally t = {0};
	while (f && next_line(f, &buf, &cap, &l)) {
		size_t n;
		unsigned char *pt = unhex(l.f[2], &n);
		EVP_PKEY *peer = NULL, *priv = private_key(l.f[3]);
		ped_ec_pub_import(pt, n, &peer);
		count(&t, l.f[1], ecdh_case(priv, peer, l.f[4]), l.f[0]);
		EVP_PKEY_free(priv);
		EVP_PKEY_free(peer);
		free(pt);
	}
	free(buf);
	if (f)
		fclose(f);
	CU_ASSERT_EQUAL(t.wrong, 0);
	CU_ASSERT_EQUAL(t.valid_ok, 632);
	CU_ASSERT_EQUAL(t.invalid_rejected, 28);
	/* acceptable: the one compressed point; only uncompressed points travel in our messages */
	CU_ASSERT_EQUAL(t.acceptable_rejected, 1);
}

static void ecdsa(void)
{
	FILE *f = open_vectors("ecdsa_secp521r1_sha512.txt");
	char *buf = NULL;
	size_t cap = 0;
	struct line l;
	struct tally t = {0};
	EVP_PKEY *key = NULL;
	while (f && next_line(f, &buf, &cap, &l)) {
		size_t n, ml, sl;
		if (strcmp(l.f[0], "key") == 0) {
			unsigned char *der = unhex(l.f[1], &n);
			const unsigned char *p = der;
			EVP_PKEY_free(key);
			key = d2i_PUBKEY(NULL, &p, (long)n);
			free(der);
			continue;
		}
		unsigned char *msg = unhex(l.f[2], &ml), *sig = unhex(l.f[3], &sl);
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		int ok = key && EVP_DigestVerifyInit(md, NULL, EVP_sha512(), NULL, key) == 1 &&
			 EVP_DigestVerify(md, sig, sl, msg, ml) == 1;
		count(&t, l.f[1], ok, l.f[0]);
		EVP_MD_CTX_free(md);
		free(msg);
		free(sig);
	}
	EVP_PKEY_free(key);
	free(buf);
	if (f)
		fclose(f);
	CU_ASSERT_EQUAL(t.wrong, 0);
	CU_ASSERT(t.valid_ok > 100);
	CU_ASSERT(t.invalid_rejected > 300);
}

static void wrap_vectors(const char *file, int pad)
{
	FILE *f = open_vectors(file);
	char *buf = NULL;
	size_t cap = 0;
	struct line l;
	struct tally t = {0};
	while (f && next_line(f, &buf, &cap, &l)) {
		size_t kl, ml, cl, ol = 0;
		unsigned char *key = unhex(l.f[2], &kl), *msg = unhex(l.f[3], &ml), *ct = unhex(l.f[4], &cl);
		uint8_t *out = NULL;
		int accepted;
		int (*unwrap)(const uint8_t *, size_t, const uint8_t *, size_t, uint8_t **, size_t *) =
			pad ? ped_kwp_unwrap : ped_kw_unwrap;
		int (*wrap)(const uint8_t *, size_t, const uint8_t *, size_t, uint8_t **, size_t *) =
			pad ? ped_kwp_wrap : ped_kw_wrap;
		/* accepted = unwrap gives msg; for valid cases wrapping msg must give ct too */
		accepted = unwrap(key, kl, ct, cl, &out, &ol) == PED_OK && ol == ml &&
			   memcmp(out, msg, ml) == 0;
		if (out)
			OPENSSL_clear_free(out, ol);
		if (accepted && strcmp(l.f[1], "valid") == 0) {
			out = NULL;
			if (wrap(key, kl, msg, ml, &out, &ol) != PED_OK || ol != cl || memcmp(out, ct, cl))
				accepted = 0;
			if (out)
				OPENSSL_clear_free(out, ol);
		}
		count(&t, l.f[1], accepted, l.f[0]);
		free(key);
		free(msg);
		free(ct);
	}
	free(buf);
	if (f)
		fclose(f);
	CU_ASSERT_EQUAL(t.wrong, 0);
	CU_ASSERT(t.valid_ok > 20);
	CU_ASSERT(t.invalid_rejected > 20);
}

static void kwp(void)
{
	wrap_vectors("aes_kwp.txt", 1);
}

static void kw(void)
{
	wrap_vectors("aes_kw.txt", 0);
}

static void hmac(void)
{
	FILE *f = open_vectors("hmac_sha512.txt");
	char *buf = NULL;
	size_t cap = 0;
	struct line l;
	struct tally t = {0};
	while (f && next_line(f, &buf, &cap, &l)) {
		size_t kl, ml, tl;
		unsigned char *key = unhex(l.f[3], &kl), *msg = unhex(l.f[4], &ml), *tag = unhex(l.f[5], &tl);
		uint8_t full[64];
		size_t want = (size_t)atoi(l.f[2]) / 8;
		/* A truncated tag compares against the leftmost bytes, in constant time. */
		int ok = ped_hmac_sha512(key, kl, msg, ml, full) == PED_OK && tl == want && tl <= 64 &&
			 CRYPTO_memcmp(full, tag, tl) == 0;
		count(&t, l.f[1], ok, l.f[0]);
		free(key);
		free(msg);
		free(tag);
	}
	free(buf);
	if (f)
		fclose(f);
	CU_ASSERT_EQUAL(t.wrong, 0);
	CU_ASSERT(t.valid_ok > 50);
	CU_ASSERT(t.invalid_rejected > 50);
}

static void sskdf_sha512(void)
{
	const uint8_t z[] = {0x10, 0x8c, 0xf6, 0x33, 0x18, 0x55, 0x5c, 0x78,
			     0x7f, 0xa5, 0x78, 0x73, 0x1d, 0xd4, 0xf0, 0x37};
	const uint8_t info[] = {0x53, 0x19, 0x1b, 0x1d, 0xd3, 0xf9, 0x4d, 0x83, 0x08, 0x4d, 0x61, 0xd6};
	const uint8_t want[] = {0x0a, 0xd4, 0x75, 0xc1, 0x82, 0x6d, 0xa3, 0x00,
				0x76, 0x37, 0x97, 0x0c, 0x8b, 0x92, 0xb9, 0x93};
	uint8_t out[16];
	CU_ASSERT_EQUAL(ped_sskdf_sha512(z, sizeof(z), info, sizeof(info), out, sizeof(out)), PED_OK);
	CU_ASSERT(memcmp(out, want, sizeof(want)) == 0);
}

UNIT_SUITE(vectors, NULL, NULL, UNIT_TEST(ecdh_der), UNIT_TEST(ecdh_point), UNIT_TEST(ecdsa),
	   UNIT_TEST(kwp), UNIT_TEST(kw), UNIT_TEST(hmac), UNIT_TEST(sskdf_sha512))
