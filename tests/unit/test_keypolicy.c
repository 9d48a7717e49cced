/* The partition policies that concern keys: their table, their changes,
 * and for each one a flip that changes what a client gets back. */
#include "unit.h"

#include "keys_fixture.h"

#include "hsm/keypolicy.h"
#include "hsm/mech.h"
#include "hsm/object.h"
#include "ped/error.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <string.h>

static struct hsm_key_env env;
static uint8_t kv[32], msg[64];

/* A fresh env per test: defaults, then what the test flips. */
static struct hsm_key_env *fresh(void)
{
	hsm_key_env_init(&env);
	return &env;
}

static void flip(unsigned number, unsigned value)
{
	CU_ASSERT_EQUAL(hsm_kp_set(&env.pol, number, value, NULL), PED_OK);
}

static struct hsm_obj *secret(const struct hsm_key_env *e, CK_KEY_TYPE kt, size_t len,
			      const CK_ATTRIBUTE *x, CK_ULONG n)
{
	return kf_secret(e, kt, kv, len, x, n);
}

/* --- the table and its changes ---------------------------------------------- */

static void table_and_defaults(void)
{
	size_t n;
	const struct hsm_kp_desc *t = hsm_kp_table(&n);
	struct hsm_key_policies p;
	const unsigned on[] = {0, 2, 4, 5, 6, 10, 11, 16, 17, 18, 28, 29, 33, 34, 43, 45};
	const unsigned off[] = {1, 9, 39};

	CU_ASSERT_EQUAL(n, 19);
	hsm_kp_defaults(&p);
	for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++)
		CU_ASSERT(p.v[on[i]] == 1 && hsm_kp_find(on[i])->def == 1);
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		CU_ASSERT(p.v[off[i]] == 0 && hsm_kp_find(off[i])->def == 0);
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(p.v[t[i].number], t[i].def);
		CU_ASSERT_PTR_NOT_NULL(t[i].name);
	}
	CU_ASSERT_PTR_NULL(hsm_kp_find(15)); /* a partition policy, not about keys */
	CU_ASSERT_PTR_NULL(hsm_kp_find(46));
	CU_ASSERT_EQUAL(hsm_kp_valid(&p), PED_OK);
	CU_ASSERT_STRING_EQUAL(hsm_kp_find(HSM_KP_RSA_PKCS)->name, "Allow RSA PKCS mechanism");
	/* NULL env everywhere: the same defaults, HSM cloning allowed */
	fresh();
	CU_ASSERT_EQUAL(memcmp(&env.pol, &p, sizeof(p)), 0);
	CU_ASSERT_EQUAL(env.hsm_cloning, 1);
	CU_ASSERT_EQUAL(env.so, 0);
}

static void changes_and_destruction(void)
{
	struct hsm_key_policies p;
	int erases = -1;

	hsm_kp_defaults(&p);
	/* 0 and 1 never on together, whichever comes second */
	CU_ASSERT_EQUAL(hsm_kp_set(&p, 1, 1, &erases), PED_E_ACTION_PROHIBITED);
	CU_ASSERT_EQUAL(p.v[1], 0);
	CU_ASSERT_EQUAL(hsm_kp_set(&p, 0, 0, &erases), PED_OK);
	CU_ASSERT_EQUAL(erases, 0); /* ON-to-OFF: not destructive */
	CU_ASSERT_EQUAL(hsm_kp_set(&p, 1, 1, &erases), PED_OK);
	CU_ASSERT_EQUAL(erases, 1); /* OFF-to-ON: destructive */
	CU_ASSERT_EQUAL(hsm_kp_set(&p, 0, 1, &erases), PED_E_ACTION_PROHIBITED);
	CU_ASSERT_EQUAL(hsm_kp_valid(&p), PED_OK);
	p.v[0] = 1;
	CU_ASSERT_EQUAL(hsm_kp_valid(&p), PED_E_INVALID);
	p.v[0] = 0;
	/* values and numbers */
	CU_ASSERT_EQUAL(hsm_kp_set(&p, 10, 2, &erases), PED_E_RANGE);
	CU_ASSERT_EQUAL(hsm_kp_set(&p, 15, 1, &erases), PED_E_NOT_FOUND);
	CU_ASSERT_EQUAL(hsm_kp_set(&p, 99, 1, NULL), PED_E_NOT_FOUND);
	p.v[15] = 1;
	CU_ASSERT_EQUAL(hsm_kp_valid(&p), PED_E_INVALID);
	p.v[15] = 0;
	/* the table's directions: OFF-to-ON for most, ON-to-OFF for 39, none for 2, 6, 17, 45 */
	hsm_kp_defaults(&p);
	CU_ASSERT_EQUAL(hsm_kp_change_erases(&p, 10, 0), 0);
	CU_ASSERT_EQUAL(hsm_kp_set(&p, 10, 0, &erases), PED_OK);
	CU_ASSERT_EQUAL(hsm_kp_change_erases(&p, 10, 1), 1);
	CU_ASSERT_EQUAL(hsm_kp_change_erases(&p, 9, 1), 1);
	CU_ASSERT_EQUAL(hsm_kp_change_erases(&p, 39, 1), 0);
	CU_ASSERT_EQUAL(hsm_kp_set(&p, 39, 1, &erases), PED_OK);
	CU_ASSERT_EQUAL(erases, 0);
	CU_ASSERT_EQUAL(hsm_kp_change_erases(&p, 39, 0), 1);
	CU_ASSERT_EQUAL(hsm_kp_change_erases(&p, 39, 1), 0); /* no change, no erasing */
	for (unsigned n = 0; n < HSM_KP_SLOTS; n++) {
		const struct hsm_kp_desc *d = hsm_kp_find(n);
		if (n == 2 || n == 6 || n == 17 || n == 45) {
			CU_ASSERT(d && !d->erase_off_to_on && !d->erase_on_to_off);
		} else if (d && n != 39) {
			CU_ASSERT(d->erase_off_to_on && !d->erase_on_to_off);
		}
	}
}

/* --- each policy ---------------------------------------------------------------- */

static void p0_p4_cloning(void)
{
	struct hsm_obj *s = secret(NULL, CKK_AES, 16, NULL, 0), *pub, *priv;

	kf_ec_pair(NULL, "P-256", NULL, 0, NULL, 0, &pub, &priv);
	fresh();
	CU_ASSERT_EQUAL(hsm_kp_check(&env, HSM_KP_DO_CLONE, priv, 0), CKR_OK);
	CU_ASSERT_EQUAL(hsm_kp_check(&env, HSM_KP_DO_CLONE, s, 0), CKR_OK);
	flip(0, 0);
	CU_ASSERT_EQUAL(hsm_kp_check(&env, HSM_KP_DO_CLONE, priv, 0), CKR_ACTION_PROHIBITED);
	CU_ASSERT_EQUAL(hsm_kp_check(&env, HSM_KP_DO_CLONE, s, 0), CKR_OK);
	CU_ASSERT_EQUAL(hsm_kp_check(&env, HSM_KP_DO_CLONE, pub, 0), CKR_OK);
	flip(4, 0);
	CU_ASSERT_EQUAL(hsm_kp_check(&env, HSM_KP_DO_CLONE, s, 0), CKR_ACTION_PROHIBITED);
	CU_ASSERT_EQUAL(hsm_kp_check(&env, HSM_KP_DO_CLONE, pub, 0), CKR_OK);
	/* HSM policy 7 off: nothing leaves by cloning */
	fresh();
	env.hsm_cloning = 0;
	CU_ASSERT_EQUAL(hsm_kp_check(&env, HSM_KP_DO_CLONE, pub, 0), CKR_ACTION_PROHIBITED);
	CU_ASSERT_EQUAL(hsm_kp_check(&env, HSM_KP_DO_CLONE, s, 0), CKR_ACTION_PROHIBITED);
	hsm_obj_free(s);
	hsm_obj_free(pub);
	hsm_obj_free(priv);
}

static void p1_p5_wrapping(void)
{
	CK_ATTRIBUTE x[] = {KF_B(CKA_EXTRACTABLE, 1)};
	struct hsm_obj *kek = secret(NULL, CKK_AES, 32, (CK_ATTRIBUTE[]){KF_B(CKA_WRAP, 1)}, 1);
	struct hsm_obj *s = secret(NULL, CKK_AES, 16, x, 1), *pub, *priv;
	CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_ULONG n;

	kf_ec_pair(NULL, "P-256", NULL, 0, x, 1, &pub, &priv);
	fresh();
	CU_ASSERT_EQUAL(hsm_wrap_key(&env, &m, kek, priv, NULL, &n), CKR_KEY_NOT_WRAPPABLE);
	CU_ASSERT_EQUAL(hsm_wrap_key(&env, &m, kek, s, NULL, &n), CKR_OK);
	flip(0, 0);
	flip(1, 1);
	CU_ASSERT_EQUAL(hsm_wrap_key(&env, &m, kek, priv, NULL, &n), CKR_OK);
	flip(5, 0);
	CU_ASSERT_EQUAL(hsm_wrap_key(&env, &m, kek, s, NULL, &n), CKR_KEY_NOT_WRAPPABLE);
	CU_ASSERT_EQUAL(hsm_wrap_key(&env, &m, kek, priv, NULL, &n), CKR_OK);
	hsm_obj_free(kek);
	hsm_obj_free(s);
	hsm_obj_free(pub);
	hsm_obj_free(priv);
}

static void p2_p6_unwrapping(void)
{
	CK_ATTRIBUTE x[] = {KF_B(CKA_EXTRACTABLE, 1)};
	struct hsm_obj *kek = secret(NULL, CKK_AES, 32,
				     (CK_ATTRIBUTE[]){KF_B(CKA_WRAP, 1), KF_B(CKA_UNWRAP, 1)}, 2);
	struct hsm_obj *s = secret(NULL, CKK_AES, 16, x, 1), *pub, *priv, *o = NULL;
	CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	uint8_t ws[64], wp[400];
	CK_ULONG ns = sizeof(ws), np = sizeof(wp);
	CK_OBJECT_CLASS sc = CKO_SECRET_KEY, pc = CKO_PRIVATE_KEY;
	CK_KEY_TYPE aes = CKK_AES, ec = CKK_EC;
	CK_ATTRIBUTE ts[] = {KF_U(CKA_CLASS, &sc), KF_U(CKA_KEY_TYPE, &aes)};
	CK_ATTRIBUTE tp[] = {KF_U(CKA_CLASS, &pc), KF_U(CKA_KEY_TYPE, &ec)};

	kf_ec_pair(NULL, "P-256", NULL, 0, x, 1, &pub, &priv);
	fresh();
	flip(0, 0);
	flip(1, 1);
	CU_ASSERT_EQUAL(hsm_wrap_key(&env, &m, kek, s, ws, &ns), CKR_OK);
	CU_ASSERT_EQUAL(hsm_wrap_key(&env, &m, kek, priv, wp, &np), CKR_OK);
	fresh();
	CU_ASSERT_EQUAL(hsm_unwrap_key(&env, &m, kek, wp, np, tp, 2, &o), CKR_OK);
	hsm_obj_free(o);
	CU_ASSERT_EQUAL(hsm_unwrap_key(&env, &m, kek, ws, ns, ts, 2, &o), CKR_OK);
	hsm_obj_free(o);
	flip(2, 0);
	CU_ASSERT_EQUAL(hsm_unwrap_key(&env, &m, kek, wp, np, tp, 2, &o), CKR_ACTION_PROHIBITED);
	CU_ASSERT_EQUAL(hsm_unwrap_key(&env, &m, kek, ws, ns, ts, 2, &o), CKR_OK);
	hsm_obj_free(o);
	flip(6, 0);
	CU_ASSERT_EQUAL(hsm_unwrap_key(&env, &m, kek, ws, ns, ts, 2, &o), CKR_ACTION_PROHIBITED);
	CU_ASSERT_PTR_NULL(o);
	hsm_obj_free(kek);
	hsm_obj_free(s);
	hsm_obj_free(pub);
	hsm_obj_free(priv);
}

static void p9_digest_key(void)
{
	struct hsm_obj *s = secret(NULL, CKK_GENERIC_SECRET, 20, NULL, 0);
	CK_MECHANISM m = {CKM_SHA256, NULL, 0};
	struct hsm_op *op = NULL;
	uint8_t d[32], want[32];
	CK_ULONG n = sizeof(d);

	fresh();
	CU_ASSERT_EQUAL_FATAL(hsm_op_init(&env, CKF_DIGEST, &m, NULL, &op), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_digest_key(op, &env, s), CKR_KEY_INDIGESTIBLE);
	hsm_op_free(op);
	flip(9, 1);
	CU_ASSERT_EQUAL_FATAL(hsm_op_init(&env, CKF_DIGEST, &m, NULL, &op), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_update(op, msg, 5, NULL, NULL), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_digest_key(op, &env, s), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_final(op, d, &n), CKR_OK);
	hsm_op_free(op);
	{
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		EVP_DigestInit_ex2(c, EVP_sha256(), NULL);
		EVP_DigestUpdate(c, msg, 5);
		EVP_DigestUpdate(c, kv, 20);
		EVP_DigestFinal_ex(c, want, NULL);
		EVP_MD_CTX_free(c);
	}
	CU_ASSERT_EQUAL(memcmp(d, want, 32), 0);
	/* only secret keys are digested */
	CU_ASSERT_EQUAL_FATAL(hsm_op_init(&env, CKF_DIGEST, &m, NULL, &op), CKR_OK);
	struct hsm_obj *pub, *priv;
	kf_ec_pair(NULL, "P-256", NULL, 0, NULL, 0, &pub, &priv);
	CU_ASSERT_EQUAL(hsm_op_digest_key(op, &env, priv), CKR_KEY_INDIGESTIBLE);
	hsm_op_free(op);
	hsm_obj_free(pub);
	hsm_obj_free(priv);
	hsm_obj_free(s);
}

static void p10_multipurpose(void)
{
	CK_ATTRIBUTE two[] = {KF_B(CKA_ENCRYPT, 1), KF_B(CKA_SIGN, 1)};
	CK_ATTRIBUTE one[] = {KF_B(CKA_ENCRYPT, 1), KF_B(CKA_DECRYPT, 1)};
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ULONG len = 16;
	struct hsm_obj *o = NULL, *c = NULL;

	fresh();
	o = secret(&env, CKK_AES, 16, two, 2);
	hsm_obj_free(o);
	flip(10, 0);
	CU_ASSERT_EQUAL(hsm_obj_create(&env, (CK_ATTRIBUTE[]){KF_U(CKA_CLASS, &(CK_OBJECT_CLASS){CKO_SECRET_KEY}),
							      KF_U(CKA_KEY_TYPE, &(CK_KEY_TYPE){CKK_AES}),
							      KF_D(CKA_VALUE, kv, 16), two[0], two[1]},
				       5, &o),
			CKR_TEMPLATE_INCONSISTENT);
	CU_ASSERT_EQUAL(hsm_generate_key(&env, &gen,
					 (CK_ATTRIBUTE[]){KF_U(CKA_VALUE_LEN, &len), two[0], two[1]}, 3, &o),
			CKR_TEMPLATE_INCONSISTENT);
	/* encrypt and decrypt are one purpose */
	o = secret(&env, CKK_AES, 16, one, 2);
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_EQUAL(hsm_obj_set(&env, o, &(CK_ATTRIBUTE)KF_B(CKA_WRAP, 1), 1),
			CKR_TEMPLATE_INCONSISTENT);
	CU_ASSERT_FALSE(hsm_obj_bool(o, CKA_WRAP));
	CU_ASSERT_EQUAL(hsm_obj_copy(&env, o, &(CK_ATTRIBUTE)KF_B(CKA_DERIVE, 1), 1, &c),
			CKR_TEMPLATE_INCONSISTENT);
	flip(10, 1);
	CU_ASSERT_EQUAL(hsm_obj_set(&env, o, &(CK_ATTRIBUTE)KF_B(CKA_WRAP, 1), 1), CKR_OK);
	hsm_obj_free(o);
}

static void p11_changing_attributes(void)
{
	struct hsm_obj *o = secret(NULL, CKK_AES, 16, (CK_ATTRIBUTE[]){KF_B(CKA_EXTRACTABLE, 1)}, 1);
	struct hsm_obj *c = NULL;

	fresh();
	CU_ASSERT_EQUAL(hsm_obj_set(&env, o, &(CK_ATTRIBUTE)KF_B(CKA_ENCRYPT, 1), 1), CKR_OK);
	flip(11, 0);
	CU_ASSERT_EQUAL(hsm_obj_set(&env, o, &(CK_ATTRIBUTE)KF_B(CKA_DECRYPT, 1), 1),
			CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(hsm_obj_set(&env, o, &(CK_ATTRIBUTE)KF_B(CKA_EXTRACTABLE, 0), 1),
			CKR_ATTRIBUTE_READ_ONLY);
	CU_ASSERT_EQUAL(hsm_obj_copy(&env, o, &(CK_ATTRIBUTE)KF_B(CKA_SIGN, 1), 1, &c),
			CKR_ATTRIBUTE_READ_ONLY);
	/* what is not a key function still changes */
	CU_ASSERT_EQUAL(hsm_obj_set(&env, o, &(CK_ATTRIBUTE)KF_D(CKA_LABEL, "l", 1), 1), CKR_OK);
	CU_ASSERT_EQUAL(hsm_obj_set(&env, o, &(CK_ATTRIBUTE)KF_B(CKA_SENSITIVE, 1), 1), CKR_OK);
	CU_ASSERT_EQUAL(hsm_obj_copy(&env, o, &(CK_ATTRIBUTE)KF_B(CKA_TOKEN, 1), 1, &c), CKR_OK);
	hsm_obj_free(c);
	hsm_obj_free(o);
}

static void p16_rsa_blinding(void)
{
	/* OpenSSL 3 always blinds RSA private operations: both values sign,
	 * and verification cannot tell them apart (docs/keys.md) */
	struct hsm_obj *pub, *priv;
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	uint8_t s1[256], s2[256];
	CK_ULONG n1 = sizeof(s1), n2 = sizeof(s2);

	kf_rsa_pair(NULL, 2048, (CK_ATTRIBUTE[]){KF_B(CKA_VERIFY, 1)}, 1,
		    (CK_ATTRIBUTE[]){KF_B(CKA_SIGN, 1)}, 1, &pub, &priv);
	fresh();
	CU_ASSERT_EQUAL(kf_sign(&env, &m, priv, msg, sizeof(msg), s1, &n1), CKR_OK);
	flip(16, 0);
	CU_ASSERT_EQUAL(kf_sign(&env, &m, priv, msg, sizeof(msg), s2, &n2), CKR_OK);
	CU_ASSERT(n1 == n2 && memcmp(s1, s2, n1) == 0); /* PKCS#1 v1.5 is deterministic */
	CU_ASSERT_EQUAL(hsm_kp_change_erases(&env.pol, 16, 1), 1);
	hsm_obj_free(pub);
	hsm_obj_free(priv);
}

static void p17_signing_with_non_local_keys(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	struct hsm_obj *imported = kf_import(NULL, k, 1, (CK_ATTRIBUTE[]){KF_B(CKA_SIGN, 1)}, 1);
	struct hsm_obj *pub, *priv;
	CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
	uint8_t sig[64];
	CK_ULONG n = sizeof(sig);

	kf_ec_pair(NULL, "P-256", (CK_ATTRIBUTE[]){KF_B(CKA_VERIFY, 1)}, 1,
		   (CK_ATTRIBUTE[]){KF_B(CKA_SIGN, 1)}, 1, &pub, &priv);
	fresh();
	CU_ASSERT_EQUAL(kf_sign(&env, &m, imported, msg, 10, sig, &n), CKR_OK);
	flip(17, 0);
	CU_ASSERT_EQUAL(kf_sign(&env, &m, imported, msg, 10, sig, &n), CKR_KEY_FUNCTION_NOT_PERMITTED);
	n = sizeof(sig);
	CU_ASSERT_EQUAL(kf_sign(&env, &m, priv, msg, 10, sig, &n), CKR_OK);
	CU_ASSERT_EQUAL(kf_verify(&env, &m, pub, msg, 10, sig, n), CKR_OK);
	hsm_obj_free(imported);
	hsm_obj_free(pub);
	hsm_obj_free(priv);
	EVP_PKEY_free(k);
}

static int listed(CK_MECHANISM_TYPE type)
{
	CK_MECHANISM_TYPE list[64];
	CK_ULONG n = 64;

	CU_ASSERT_EQUAL(hsm_mech_list(&env, list, &n), CKR_OK);
	for (CK_ULONG i = 0; i < n; i++)
		if (list[i] == type)
			return 1;
	return 0;
}

static void p18_p33_p43_rsa_mechanisms(void)
{
	struct hsm_obj *pub, *priv;
	CK_MECHANISM raw = {CKM_RSA_X_509, NULL, 0}, pkcs = {CKM_RSA_PKCS, NULL, 0};
	CK_MECHANISM pss = {CKM_SHA256_RSA_PKCS_PSS,
			    &(CK_RSA_PKCS_PSS_PARAMS){CKM_SHA256, CKG_MGF1_SHA256, 32},
			    sizeof(CK_RSA_PKCS_PSS_PARAMS)};
	uint8_t out[256];
	CK_ULONG n = sizeof(out);
	CK_MECHANISM_INFO info;

	kf_rsa_pair(NULL, 2048, (CK_ATTRIBUTE[]){KF_B(CKA_ENCRYPT, 1)}, 1,
		    (CK_ATTRIBUTE[]){KF_B(CKA_SIGN, 1)}, 1, &pub, &priv);
	fresh();
	CU_ASSERT(listed(CKM_RSA_X_509) && listed(CKM_RSA_PKCS));
	CU_ASSERT_EQUAL(kf_sign(&env, &raw, priv, msg, 32, out, &n), CKR_OK);
	CU_ASSERT_EQUAL(kf_sign(&env, &pkcs, priv, msg, 32, out, &n), CKR_OK);
	/* 18: raw RSA */
	flip(18, 0);
	CU_ASSERT_EQUAL(kf_sign(&env, &raw, priv, msg, 32, out, &n), CKR_MECHANISM_INVALID);
	CU_ASSERT_EQUAL(kf_crypt(&env, CKF_ENCRYPT, &raw, pub, msg, 32, out, &n), CKR_MECHANISM_INVALID);
	CU_ASSERT_FALSE(listed(CKM_RSA_X_509));
	CU_ASSERT_EQUAL(hsm_mech_info(&env, CKM_RSA_X_509, &info), CKR_MECHANISM_INVALID);
	CU_ASSERT_EQUAL(kf_sign(&env, &pkcs, priv, msg, 32, out, &n), CKR_OK);
	/* 33: CKM_RSA_PKCS */
	fresh();
	flip(33, 0);
	CU_ASSERT_EQUAL(kf_sign(&env, &pkcs, priv, msg, 32, out, &n), CKR_MECHANISM_INVALID);
	CU_ASSERT_EQUAL(kf_crypt(&env, CKF_ENCRYPT, &pkcs, pub, msg, 32, out, &n), CKR_MECHANISM_INVALID);
	CU_ASSERT_FALSE(listed(CKM_RSA_PKCS));
	CU_ASSERT(listed(CKM_RSA_X_509));
	/* 43: no non-FIPS algorithms, neither of them; PSS stays */
	fresh();
	flip(43, 0);
	CU_ASSERT_EQUAL(kf_sign(&env, &pkcs, priv, msg, 32, out, &n), CKR_MECHANISM_INVALID);
	CU_ASSERT_EQUAL(kf_sign(&env, &raw, priv, msg, 32, out, &n), CKR_MECHANISM_INVALID);
	n = sizeof(out);
	CU_ASSERT_EQUAL(kf_sign(&env, &pss, priv, msg, 32, out, &n), CKR_OK);
	CU_ASSERT(!listed(CKM_RSA_PKCS) && !listed(CKM_RSA_X_509) && listed(CKM_SHA256_RSA_PKCS_PSS));
	hsm_obj_free(pub);
	hsm_obj_free(priv);
}

static void p43_hmac_key_size(void)
{
	CK_ATTRIBUTE x[] = {KF_B(CKA_SIGN, 1)};
	struct hsm_obj *short_key = secret(NULL, CKK_GENERIC_SECRET, 13, x, 1);
	struct hsm_obj *fips_key = secret(NULL, CKK_GENERIC_SECRET, 14, x, 1);
	CK_MECHANISM m = {CKM_SHA256_HMAC, NULL, 0};
	CK_MECHANISM_INFO info;
	uint8_t mac[32];
	CK_ULONG n = sizeof(mac);

	fresh();
	CU_ASSERT_EQUAL(kf_sign(&env, &m, short_key, msg, 10, mac, &n), CKR_OK);
	CU_ASSERT_EQUAL(hsm_mech_info(&env, CKM_SHA256_HMAC, &info), CKR_OK);
	CU_ASSERT_EQUAL(info.ulMinKeySize, 1);
	flip(43, 0);
	CU_ASSERT_EQUAL(kf_sign(&env, &m, short_key, msg, 10, mac, &n), CKR_KEY_SIZE_RANGE);
	CU_ASSERT_EQUAL(kf_sign(&env, &m, fips_key, msg, 10, mac, &n), CKR_OK);
	CU_ASSERT_EQUAL(hsm_mech_info(&env, CKM_SHA256_HMAC, &info), CKR_OK);
	CU_ASSERT_EQUAL(info.ulMinKeySize, 14);
	hsm_obj_free(short_key);
	hsm_obj_free(fips_key);
}

static void p28_key_management(void)
{
	struct hsm_obj *o = secret(NULL, CKK_AES, 16,
				   (CK_ATTRIBUTE[]){KF_B(CKA_ENCRYPT, 1), KF_B(CKA_DERIVE, 1)}, 2);
	struct hsm_obj *pub, *priv, *c = NULL;
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0}, ecb = {CKM_AES_ECB, NULL, 0};
	CK_MECHANISM pair = {CKM_EC_KEY_PAIR_GEN, NULL, 0}, kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_ECDH1_DERIVE_PARAMS dp = {CKD_NULL, 0, NULL, 65, msg};
	CK_MECHANISM ecdh = {CKM_ECDH1_DERIVE, &dp, sizeof(dp)};
	CK_ULONG len = 16, n = 64;
	uint8_t out[64];
	CK_ATTRIBUTE data[] = {KF_U(CKA_CLASS, &(CK_OBJECT_CLASS){CKO_DATA})};

	kf_ec_pair(NULL, "P-256", NULL, 0, (CK_ATTRIBUTE[]){KF_B(CKA_DERIVE, 1)}, 1, &pub, &priv);
	fresh();
	CU_ASSERT_EQUAL(hsm_obj_create(&env, data, 1, &c), CKR_OK);
	hsm_obj_free(c);
	c = NULL;
	flip(28, 0);
	/* the partition is read-only: create, copy, change, destroy, generate, unwrap, derive */
	CU_ASSERT_EQUAL(hsm_obj_create(&env, data, 1, &c), CKR_TOKEN_WRITE_PROTECTED);
	CU_ASSERT_EQUAL(hsm_obj_copy(&env, o, NULL, 0, &c), CKR_TOKEN_WRITE_PROTECTED);
	CU_ASSERT_EQUAL(hsm_obj_set(&env, o, &(CK_ATTRIBUTE)KF_D(CKA_LABEL, "x", 1), 1),
			CKR_TOKEN_WRITE_PROTECTED);
	CU_ASSERT_EQUAL(hsm_obj_destroy_check(&env, o), CKR_TOKEN_WRITE_PROTECTED);
	CU_ASSERT_EQUAL(hsm_generate_key(&env, &gen, (CK_ATTRIBUTE[]){KF_U(CKA_VALUE_LEN, &len)}, 1, &c),
			CKR_TOKEN_WRITE_PROTECTED);
	CU_ASSERT_EQUAL(hsm_generate_key_pair(&env, &pair, NULL, 0, NULL, 0, &c, &c),
			CKR_TOKEN_WRITE_PROTECTED);
	CU_ASSERT_EQUAL(hsm_unwrap_key(&env, &kwp, o, out, 24, NULL, 0, &c), CKR_TOKEN_WRITE_PROTECTED);
	CU_ASSERT_EQUAL(hsm_derive_key(&env, &ecdh, priv, NULL, 0, &c), CKR_TOKEN_WRITE_PROTECTED);
	CU_ASSERT_PTR_NULL(c);
	/* but the keys still work */
	CU_ASSERT_EQUAL(kf_crypt(&env, CKF_ENCRYPT, &ecb, o, msg, 16, out, &n), CKR_OK);
	CU_ASSERT_EQUAL(hsm_kp_check(&env, HSM_KP_DO_CLONE, o, 0), CKR_OK);
	hsm_obj_free(o);
	hsm_obj_free(pub);
	hsm_obj_free(priv);
}

/* An RSA private key whose private exponent is not its public key's. */
static struct hsm_obj *broken_rsa(EVP_PKEY *k)
{
	uint8_t n[256], e[4], d[256];
	BIGNUM *b = NULL;
	size_t nl, el, dl;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	struct hsm_obj *o = NULL;

	EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &b);
	nl = (size_t)BN_bn2bin(b, n);
	BN_free(b);
	b = NULL;
	EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &b);
	el = (size_t)BN_bn2bin(b, e);
	BN_free(b);
	b = NULL;
	EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_D, &b);
	dl = (size_t)BN_bn2bin(b, d);
	BN_clear_free(b);
	d[dl - 1] ^= 2;
	CK_ATTRIBUTE t[] = {KF_U(CKA_CLASS, &cls),         KF_U(CKA_KEY_TYPE, &kt),
			    KF_D(CKA_MODULUS, n, nl),      KF_D(CKA_PUBLIC_EXPONENT, e, el),
			    KF_D(CKA_PRIVATE_EXPONENT, d, dl), KF_B(CKA_SIGN, 1)};
	CU_ASSERT_EQUAL(hsm_obj_create(NULL, t, KF_N(t), &o), CKR_OK);
	OPENSSL_cleanse(d, sizeof(d));
	return o;
}

static void p29_rsa_signing_confirmation(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	struct hsm_obj *bad = broken_rsa(k);
	struct hsm_obj *pub = kf_import(NULL, k, 0, (CK_ATTRIBUTE[]){KF_B(CKA_VERIFY, 1)}, 1);
	CK_MECHANISM combined = {CKM_SHA256_RSA_PKCS, NULL, 0}, pkcs = {CKM_RSA_PKCS, NULL, 0};
	uint8_t sig[256];
	CK_ULONG n = sizeof(sig);
	struct hsm_op *op = NULL;

	CU_ASSERT_FATAL(bad && pub);
	/* default: no confirmation, a bad signature leaves the HSM */
	fresh();
	CU_ASSERT_EQUAL(kf_sign(&env, &combined, bad, msg, 40, sig, &n), CKR_OK);
	CU_ASSERT_EQUAL(kf_verify(&env, &combined, pub, msg, 40, sig, n), CKR_SIGNATURE_INVALID);
	/* 29 off: the HSM verifies what it signed, one-shot and in parts */
	flip(29, 0);
	n = sizeof(sig);
	CU_ASSERT_EQUAL(kf_sign(&env, &combined, bad, msg, 40, sig, &n), CKR_DEVICE_ERROR);
	CU_ASSERT_EQUAL(kf_sign(&env, &pkcs, bad, msg, 40, sig, &n), CKR_DEVICE_ERROR);
	CU_ASSERT_EQUAL_FATAL(hsm_op_init(&env, CKF_SIGN, &combined, bad, &op), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_update(op, msg, 40, NULL, NULL), CKR_OK);
	CU_ASSERT_EQUAL(hsm_op_final(op, sig, &n), CKR_DEVICE_ERROR);
	hsm_op_free(op);
	/* a sound key still signs */
	struct hsm_obj *good = kf_import(NULL, k, 1, (CK_ATTRIBUTE[]){KF_B(CKA_SIGN, 1)}, 1);
	n = sizeof(sig);
	CU_ASSERT_EQUAL(kf_sign(&env, &combined, good, msg, 40, sig, &n), CKR_OK);
	CU_ASSERT_EQUAL(kf_verify(&env, &combined, pub, msg, 40, sig, n), CKR_OK);
	hsm_obj_free(good);
	hsm_obj_free(bad);
	hsm_obj_free(pub);
	EVP_PKEY_free(k);
}

static void p34_cbc_pad_key_sizes(void)
{
	CK_ATTRIBUTE x[] = {KF_B(CKA_EXTRACTABLE, 1)};
	struct hsm_obj *kek = secret(NULL, CKK_AES, 16,
				     (CK_ATTRIBUTE[]){KF_B(CKA_WRAP, 1), KF_B(CKA_UNWRAP, 1)}, 2);
	struct hsm_obj *odd = secret(NULL, CKK_GENERIC_SECRET, 20, x, 1);
	struct hsm_obj *even = secret(NULL, CKK_GENERIC_SECRET, 24, x, 1), *o = NULL;
	uint8_t iv[16] = {0}, w[64];
	CK_MECHANISM m = {CKM_AES_CBC_PAD, iv, 16};
	CK_ULONG n = sizeof(w);
	CK_OBJECT_CLASS sc = CKO_SECRET_KEY;
	CK_KEY_TYPE gk = CKK_GENERIC_SECRET;
	CK_ATTRIBUTE t[] = {KF_U(CKA_CLASS, &sc), KF_U(CKA_KEY_TYPE, &gk)};

	fresh();
	CU_ASSERT_EQUAL(hsm_wrap_key(&env, &m, kek, odd, w, &n), CKR_OK);
	CU_ASSERT_EQUAL(hsm_unwrap_key(&env, &m, kek, w, n, t, 2, &o), CKR_OK);
	hsm_obj_free(o);
	o = NULL;
	flip(34, 0);
	CU_ASSERT_EQUAL(hsm_unwrap_key(&env, &m, kek, w, n, t, 2, &o), CKR_ACTION_PROHIBITED);
	n = sizeof(w);
	CU_ASSERT_EQUAL(hsm_wrap_key(&env, &m, kek, odd, w, &n), CKR_KEY_NOT_WRAPPABLE);
	CU_ASSERT_EQUAL(hsm_wrap_key(&env, &m, kek, even, w, &n), CKR_OK);
	CU_ASSERT_EQUAL(hsm_unwrap_key(&env, &m, kek, w, n, t, 2, &o), CKR_OK);
	hsm_obj_free(o);
	/* other wrapping mechanisms do not care */
	n = sizeof(w);
	CU_ASSERT_EQUAL(hsm_wrap_key(&env, &(CK_MECHANISM){CKM_AES_KEY_WRAP_PAD, NULL, 0}, kek, odd, w,
				     &n),
			CKR_OK);
	hsm_obj_free(kek);
	hsm_obj_free(odd);
	hsm_obj_free(even);
}

static void p39_start_and_end_dates(void)
{
	CK_DATE start = {{'2', '0', '3', '0'}, {'0', '1'}, {'0', '1'}};
	CK_DATE end = {{'2', '0', '2', '0'}, {'1', '2'}, {'3', '1'}};
	CK_ATTRIBUTE fx[] = {KF_B(CKA_ENCRYPT, 1), KF_B(CKA_DECRYPT, 1), KF_B(CKA_WRAP, 1),
			     KF_B(CKA_EXTRACTABLE, 1), KF_D(CKA_START_DATE, &start, sizeof(start))};
	struct hsm_obj *future = secret(NULL, CKK_AES, 16, fx, KF_N(fx));
	struct hsm_obj *sk = secret(NULL, CKK_GENERIC_SECRET, 16,
				    (CK_ATTRIBUTE[]){KF_B(CKA_SIGN, 1), KF_B(CKA_VERIFY, 1),
						     KF_D(CKA_END_DATE, &end, sizeof(end))},
				    3);
	struct hsm_obj *other = secret(NULL, CKK_AES, 16, (CK_ATTRIBUTE[]){KF_B(CKA_EXTRACTABLE, 1)}, 1);
	CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0}, hmac = {CKM_SHA256_HMAC, NULL, 0};
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	uint8_t out[64], mac[32];
	CK_ULONG n = sizeof(out), ml = sizeof(mac);

	/* off by default: the dates are kept and ignored */
	fresh();
	CU_ASSERT_EQUAL(kf_crypt(&env, CKF_ENCRYPT, &ecb, future, msg, 16, out, &n), CKR_OK);
	CU_ASSERT_EQUAL(kf_sign(&env, &hmac, sk, msg, 16, mac, &ml), CKR_OK);
	flip(39, 1);
	env.now = 1700000000; /* November 2023: before the start, after the end */
	n = sizeof(out);
	CU_ASSERT_EQUAL(kf_crypt(&env, CKF_ENCRYPT, &ecb, future, msg, 16, out, &n),
			CKR_KEY_FUNCTION_NOT_PERMITTED);
	CU_ASSERT_EQUAL(hsm_wrap_key(&env, &kwp, future, other, out, &n), CKR_KEY_FUNCTION_NOT_PERMITTED);
	CU_ASSERT_EQUAL(kf_sign(&env, &hmac, sk, msg, 16, mac, &ml), CKR_KEY_FUNCTION_NOT_PERMITTED);
	/* decrypting and verifying are not among the operations it limits */
	CU_ASSERT_EQUAL(kf_crypt(&env, CKF_DECRYPT, &ecb, future, out, 16, out, &n), CKR_OK);
	CU_ASSERT_EQUAL(kf_verify(&env, &hmac, sk, msg, 16, mac, sizeof(mac)), CKR_OK);
	/* inside the window (the last second of the end date counts) */
	env.now = 1893456000; /* 2030-01-01T00:00:00Z */
	n = sizeof(out);
	CU_ASSERT_EQUAL(kf_crypt(&env, CKF_ENCRYPT, &ecb, future, msg, 16, out, &n), CKR_OK);
	env.now = 1609459199; /* 2020-12-31T23:59:59Z */
	ml = sizeof(mac);
	CU_ASSERT_EQUAL(kf_sign(&env, &hmac, sk, msg, 16, mac, &ml), CKR_OK);
	env.now = 1609459200;
	CU_ASSERT_EQUAL(kf_sign(&env, &hmac, sk, msg, 16, mac, &ml), CKR_KEY_FUNCTION_NOT_PERMITTED);
	hsm_obj_free(future);
	hsm_obj_free(sk);
	hsm_obj_free(other);
}

static void p45_prehash_verification(void)
{
	struct hsm_obj *pub, *priv;
	CK_MECHANISM raw = {CKM_ECDSA, NULL, 0}, combined = {CKM_ECDSA_SHA256, NULL, 0};
	uint8_t hash[32], sig[64];
	CK_ULONG n = sizeof(sig);
	CK_MECHANISM_INFO info;

	kf_ec_pair(NULL, "P-256", (CK_ATTRIBUTE[]){KF_B(CKA_VERIFY, 1)}, 1,
		   (CK_ATTRIBUTE[]){KF_B(CKA_SIGN, 1)}, 1, &pub, &priv);
	EVP_Digest(msg, sizeof(msg), hash, NULL, EVP_sha256(), NULL);
	fresh();
	CU_ASSERT_EQUAL(kf_sign(&env, &raw, priv, hash, 32, sig, &n), CKR_OK);
	CU_ASSERT_EQUAL(kf_verify(&env, &raw, pub, hash, 32, sig, n), CKR_OK);
	flip(45, 0);
	CU_ASSERT_EQUAL(kf_verify(&env, &raw, pub, hash, 32, sig, n), CKR_MECHANISM_INVALID);
	CU_ASSERT_EQUAL(kf_sign(&env, &raw, priv, hash, 32, sig, &n), CKR_OK);
	CU_ASSERT_EQUAL(hsm_mech_info(&env, CKM_ECDSA, &info), CKR_OK);
	CU_ASSERT_EQUAL(info.flags & (CKF_SIGN | CKF_VERIFY), CKF_SIGN);
	n = sizeof(sig);
	CU_ASSERT_EQUAL(kf_sign(&env, &combined, priv, msg, sizeof(msg), sig, &n), CKR_OK);
	CU_ASSERT_EQUAL(kf_verify(&env, &combined, pub, msg, sizeof(msg), sig, n), CKR_OK);
	hsm_obj_free(pub);
	hsm_obj_free(priv);
}

static int setup(void)
{
	RAND_bytes(kv, sizeof(kv));
	RAND_bytes(msg, sizeof(msg));
	return 0;
}

UNIT_SUITE(keypolicy, setup, NULL, UNIT_TEST(table_and_defaults), UNIT_TEST(changes_and_destruction),
	   UNIT_TEST(p0_p4_cloning), UNIT_TEST(p1_p5_wrapping), UNIT_TEST(p2_p6_unwrapping),
	   UNIT_TEST(p9_digest_key), UNIT_TEST(p10_multipurpose), UNIT_TEST(p11_changing_attributes),
	   UNIT_TEST(p16_rsa_blinding), UNIT_TEST(p17_signing_with_non_local_keys),
	   UNIT_TEST(p18_p33_p43_rsa_mechanisms), UNIT_TEST(p43_hmac_key_size),
	   UNIT_TEST(p28_key_management), UNIT_TEST(p29_rsa_signing_confirmation),
	   UNIT_TEST(p34_cbc_pad_key_sizes), UNIT_TEST(p39_start_and_end_dates),
	   UNIT_TEST(p45_prehash_verification))
