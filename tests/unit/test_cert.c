#include "unit.h"

#include "kas_fixture.h"
#include "ped/cert.h"
#include "ped/ec.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

static void chain_verifies_against_its_own_root_only(void)
{
	struct hsm_identity a, b;
	CU_ASSERT_EQUAL_FATAL(fixture_identity(&a, "1"), PED_OK);
	CU_ASSERT_EQUAL_FATAL(fixture_identity(&b, "2"), PED_OK);
	CU_ASSERT_EQUAL(ped_cert_verify_root(a.hoc), PED_OK);
	CU_ASSERT_EQUAL(ped_cert_verify(a.static_cert, a.hoc), PED_OK);
	CU_ASSERT_EQUAL(ped_cert_verify(a.rpv_cert, a.hoc), PED_OK);
	CU_ASSERT_EQUAL(ped_cert_verify(a.static_cert, b.hoc), PED_E_CERTIFICATE_INVALID);
	/* a leaf is no root, and a root is no key-agreement leaf */
	CU_ASSERT_EQUAL(ped_cert_verify_root(a.static_cert), PED_E_CERTIFICATE_INVALID);
	CU_ASSERT_EQUAL(ped_cert_verify(a.hoc, a.hoc), PED_E_CERTIFICATE_INVALID);
	/* DER round trip, and bounded, exact decoding */
	uint8_t *der, *longer;
	size_t len;
	X509 *back;
	CU_ASSERT_EQUAL_FATAL(ped_cert_to_der(a.static_cert, &der, &len), PED_OK);
	CU_ASSERT_EQUAL(ped_cert_from_der(der, len, &back), PED_OK);
	CU_ASSERT_EQUAL(X509_cmp(back, a.static_cert), 0);
	X509_free(back);
	for (size_t cut = 0; cut < len; cut += 17)
		CU_ASSERT_EQUAL(ped_cert_from_der(der, cut, &back), PED_E_CERTIFICATE_INVALID);
	longer = OPENSSL_malloc(len + 1);
	memcpy(longer, der, len);
	longer[len] = 0;
	CU_ASSERT_EQUAL(ped_cert_from_der(longer, len + 1, &back), PED_E_CERTIFICATE_INVALID);
	/* a flipped bit in the signed part breaks the signature */
	der[len / 2] ^= 1;
	if (ped_cert_from_der(der, len, &back) == PED_OK) {
		CU_ASSERT_EQUAL(ped_cert_verify(back, a.hoc), PED_E_CERTIFICATE_INVALID);
		X509_free(back);
	}
	OPENSSL_free(longer);
	OPENSSL_free(der);
	fixture_identity_free(&a);
	fixture_identity_free(&b);
}

/* re-dates c (seconds from now) and signs it again with the HOC's key */
static void redate(X509 *c, long not_before, long not_after, EVP_PKEY *hoc_key)
{
	CU_ASSERT_PTR_NOT_NULL(X509_gmtime_adj(X509_getm_notBefore(c), not_before));
	CU_ASSERT_PTR_NOT_NULL(X509_gmtime_adj(X509_getm_notAfter(c), not_after));
	CU_ASSERT(X509_sign(c, hoc_key, EVP_sha512()) > 0);
}

/* This host's clock behind the issuer's (a wall-clock step back): a
 * certificate not valid yet still verifies; an expired one does not. */
static void clock_behind_is_tolerated_expiry_is_not(void)
{
	struct hsm_identity a;
	CU_ASSERT_EQUAL_FATAL(fixture_identity(&a, "1"), PED_OK);
	redate(a.static_cert, 5 * 3600, 86400, a.hoc_key);
	CU_ASSERT_EQUAL(ped_cert_verify(a.static_cert, a.hoc), PED_OK);
	redate(a.hoc, 5 * 3600, 86400, a.hoc_key);
	redate(a.static_cert, 5 * 3600, 86400, a.hoc_key);
	CU_ASSERT_EQUAL(ped_cert_verify(a.static_cert, a.hoc), PED_OK);
	redate(a.static_cert, -2 * 86400, -86400, a.hoc_key);
	CU_ASSERT_EQUAL(ped_cert_verify(a.static_cert, a.hoc), PED_E_CERTIFICATE_INVALID);
	fixture_identity_free(&a);
}

static void scalar_and_point_round_trip(void)
{
	EVP_PKEY *k, *k2, *pub;
	uint8_t s[PED_EC_SCALAR_LEN], p[PED_EC_POINT_LEN], p2[PED_EC_POINT_LEN], z1[66], z2[66];
	CU_ASSERT_EQUAL_FATAL(ped_ec_generate(&k), PED_OK);
	CU_ASSERT_EQUAL(ped_ec_priv_export(k, s), PED_OK);
	CU_ASSERT_EQUAL(ped_ec_pub_export(k, p), PED_OK);
	CU_ASSERT_EQUAL(p[0], 0x04);
	CU_ASSERT_EQUAL_FATAL(ped_ec_priv_import(s, sizeof(s), &k2), PED_OK);
	CU_ASSERT_EQUAL(ped_ec_pub_export(k2, p2), PED_OK);
	CU_ASSERT(memcmp(p, p2, sizeof(p)) == 0);
	CU_ASSERT_EQUAL_FATAL(ped_ec_pub_import(p, sizeof(p), &pub), PED_OK);
	CU_ASSERT_EQUAL(ped_ecdh_into(k2, pub, z1), PED_OK);
	CU_ASSERT_EQUAL(ped_ecdh_into(k, pub, z2), PED_OK);
	CU_ASSERT(memcmp(z1, z2, 66) == 0);
	p[100] ^= 1; /* off the curve */
	EVP_PKEY *bad = NULL;
	CU_ASSERT_EQUAL(ped_ec_pub_import(p, sizeof(p), &bad), PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_ec_pub_import(p, 67, &bad), PED_E_INVALID);
	memset(s, 0, sizeof(s));
	CU_ASSERT_EQUAL(ped_ec_priv_import(s, sizeof(s), &bad), PED_E_INVALID);
	memset(s, 0xff, sizeof(s)); /* above the order */
	CU_ASSERT_EQUAL(ped_ec_priv_import(s, sizeof(s), &bad), PED_E_INVALID);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(pub);
}

/* What an operator compares: the HSM's serial from its HOC, and 8 bytes of
 * SHA-256 over the HOC's DER, grouped as the HSM prints them. */
static void fingerprint_and_serial_name_the_hsm(void)
{
	struct hsm_identity a, b;
	uint8_t *der = NULL, md[32];
	size_t len = 0;
	char fpr[PED_CERT_FPR_LEN + 1], want[PED_CERT_FPR_LEN + 1], serial[32];

	CU_ASSERT_EQUAL_FATAL(fixture_identity(&a, "154438865288"), PED_OK);
	CU_ASSERT_EQUAL_FATAL(fixture_identity(&b, "154438865288"), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_cert_to_der(a.hoc, &der, &len), PED_OK);
	CU_ASSERT_EQUAL(ped_cert_fingerprint(der, len, fpr), PED_OK);
	SHA256(der, len, md);
	snprintf(want, sizeof(want), "%02X%02X %02X%02X %02X%02X %02X%02X", md[0], md[1], md[2], md[3], md[4], md[5],
		 md[6], md[7]);
	CU_ASSERT_STRING_EQUAL(fpr, want);
	OPENSSL_free(der);
	/* another HSM's root with the same serial in its name shows another fingerprint */
	CU_ASSERT_EQUAL_FATAL(ped_cert_to_der(b.hoc, &der, &len), PED_OK);
	CU_ASSERT_EQUAL(ped_cert_fingerprint(der, len, want), PED_OK);
	CU_ASSERT_STRING_NOT_EQUAL(fpr, want);
	OPENSSL_free(der);
	CU_ASSERT_EQUAL(ped_cert_hoc_serial(a.hoc, serial, sizeof(serial)), PED_OK);
	CU_ASSERT_STRING_EQUAL(serial, "154438865288");
	CU_ASSERT_EQUAL(ped_cert_hoc_serial(a.hoc, serial, 12), PED_E_NOT_FOUND); /* no room: not cut */
	CU_ASSERT_EQUAL(ped_cert_hoc_serial(a.static_cert, serial, sizeof(serial)), PED_E_NOT_FOUND);
	fixture_identity_free(&a);
	fixture_identity_free(&b);
}

UNIT_SUITE(cert, NULL, NULL, UNIT_TEST(chain_verifies_against_its_own_root_only),
	   UNIT_TEST(fingerprint_and_serial_name_the_hsm),
	   UNIT_TEST(clock_behind_is_tolerated_expiry_is_not),
	   UNIT_TEST(scalar_and_point_round_trip))
