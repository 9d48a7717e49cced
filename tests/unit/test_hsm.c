#include "unit.h"
#include "keys_fixture.h"

#include "hsm/hsm.h"
#include "ped/buf.h"
#include "ped/cert.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/shamir.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static struct hsm *h, *other;

/* The device secret of the suite's HSMs. */
static const uint8_t device_secret[HSM_DEVICE_SECRET_LEN] = "the 32-byte device secret, test.";

static int setup(void)
{
	h = OPENSSL_zalloc(sizeof(*h));
	other = OPENSSL_zalloc(sizeof(*other));
	return !h || !other || hsm_create(h, "150001") || hsm_create(other, "150002") ||
	       hsm_set_device_secret(h, device_secret) || hsm_set_device_secret(other, device_secret);
}

/* x with h's storage key, ready to decode h's files (a refused file or
 * hsm_cleanse takes the key away). */
static struct hsm *keyed(struct hsm *x)
{
	memcpy(x->kek, h->kek, sizeof(x->kek));
	x->kek_set = 1;
	return x;
}

static int teardown(void)
{
	if (h)
		hsm_cleanse(h);
	if (other)
		hsm_cleanse(other);
	OPENSSL_clear_free(h, sizeof(*h));
	OPENSSL_clear_free(other, sizeof(*other));
	return 0;
}

/* A keyset as the PED would make it: M of N splits of a fresh secret. */
struct keyset {
	uint8_t secret[HSM_SECRET_LEN];
	uint8_t shares[16 * HSM_SECRET_LEN];
	uint8_t id[16];
	uint8_t m, n;
};

static void make_keyset(struct keyset *k, uint8_t m, uint8_t n)
{
	RAND_bytes(k->secret, sizeof(k->secret));
	RAND_bytes(k->id, sizeof(k->id));
	k->m = m;
	k->n = n;
	CU_ASSERT_EQUAL_FATAL(ped_shamir_split(k->secret, HSM_SECRET_LEN, m, n, k->shares), PED_OK);
}

static void present(const struct keyset *k, const uint8_t *idx, int count, struct ped_app_splits *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->count = (uint8_t)count;
	for (int i = 0; i < count; i++) {
		struct ped_app_split *s = &sp->s[i];
		s->index = idx[i];
		s->m = k->m;
		s->n = k->n;
		memcpy(s->keyset_id, k->id, 16);
		memcpy(s->share, k->shares + (idx[i] - 1) * HSM_SECRET_LEN, HSM_SECRET_LEN);
		s->share_len = HSM_SECRET_LEN;
	}
}

static void identity_is_a_valid_chain(void)
{
	X509 *hoc = NULL, *st = NULL;
	CU_ASSERT_FALSE(h->initialized);
	CU_ASSERT_EQUAL(ped_cert_from_der(h->hoc_cert, h->hoc_cert_len, &hoc), PED_OK);
	CU_ASSERT_EQUAL(ped_cert_from_der(h->static_cert, h->static_cert_len, &st), PED_OK);
	CU_ASSERT_EQUAL(ped_cert_verify(st, hoc), PED_OK);
	X509_free(hoc);
	X509_free(st);
}

static void splits_combine_and_verify(void)
{
	struct keyset ks, wrong;
	struct ped_app_splits sp;
	uint8_t secret[HSM_SECRET_LEN];
	struct hsm_credential c;
	const uint8_t idx[] = {5, 2, 3}, dup[] = {2, 2, 3};
	make_keyset(&ks, 3, 5);
	make_keyset(&wrong, 3, 5);
	hsm_credential_set(&c, ks.secret, sizeof(ks.secret), 3, 5, ks.id);
	present(&ks, idx, 3, &sp);
	CU_ASSERT_EQUAL(hsm_combine(&c, &sp, secret), PED_OK);
	CU_ASSERT(memcmp(secret, ks.secret, HSM_SECRET_LEN) == 0);
	present(&ks, idx, 2, &sp);
	CU_ASSERT_EQUAL(hsm_combine(&c, &sp, secret), PED_E_PIN_INCORRECT); /* too few */
	present(&wrong, idx, 3, &sp);
	CU_ASSERT_EQUAL(hsm_combine(&c, &sp, secret), PED_E_PIN_INCORRECT); /* another keyset */
	present(&ks, dup, 3, &sp);
	CU_ASSERT_EQUAL(hsm_combine(&c, &sp, secret), PED_E_CALLBACK_ERROR);
	/* one wrong PIN: a wrong share; only the recombined secret shows it */
	present(&ks, idx, 3, &sp);
	sp.s[1].share[0] ^= 0x5a;
	CU_ASSERT_EQUAL(hsm_combine(&c, &sp, secret), PED_OK);
	CU_ASSERT(memcmp(secret, ks.secret, HSM_SECRET_LEN) != 0);
}

static void init_hsm(struct hsm *x, struct keyset *so)
{
	struct keyset dom;
	hsm_zeroize(x);
	make_keyset(so, 2, 3);
	make_keyset(&dom, 1, 1);
	hsm_credential_set(&x->so.cred, so->secret, HSM_SECRET_LEN, 2, 3, so->id);
	hsm_credential_set(&x->domain, dom.secret, HSM_SECRET_LEN, 1, 1, dom.id);
	snprintf(x->label, sizeof(x->label), "hsm%s", x->serial);
	x->initialized = 1;
}

static void three_wrong_so_logins_zeroize_that_hsm_only(void)
{
	struct keyset so, so2;
	struct hsm_login_result res;
	struct hsm_partition *p;
	uint8_t bad[HSM_SECRET_LEN] = {0};
	init_hsm(h, &so);
	init_hsm(other, &so2);
	CU_ASSERT_EQUAL_FATAL(hsm_partition_create(h, "p1", &p), PED_OK);
	/* a success resets the count */
	hsm_login(h, NULL, HSM_ROLE_SO, bad, sizeof(bad), &res);
	CU_ASSERT_EQUAL(res.err, PED_E_PIN_INCORRECT);
	CU_ASSERT_EQUAL(res.remaining, 2);
	hsm_login(h, NULL, HSM_ROLE_SO, so.secret, HSM_SECRET_LEN, &res);
	CU_ASSERT_EQUAL(res.err, PED_OK);
	CU_ASSERT_EQUAL(h->so.failures, 0);
	for (uint32_t i = 1; i <= 3; i++) {
		hsm_login(h, NULL, HSM_ROLE_SO, bad, sizeof(bad), &res);
		CU_ASSERT_EQUAL(res.err, PED_E_PIN_INCORRECT);
		CU_ASSERT_EQUAL(res.remaining, 3 - i);
		CU_ASSERT_EQUAL(res.hsm_zeroized, i == 3);
	}
	CU_ASSERT_FALSE(h->initialized);
	CU_ASSERT_EQUAL(h->npartitions, 0);
	CU_ASSERT_FALSE(h->so.cred.set);
	CU_ASSERT(h->hoc_cert_len > 0); /* the identity survives a zeroize */
	/* and nothing else was touched */
	CU_ASSERT_TRUE(other->initialized);
	hsm_login(other, NULL, HSM_ROLE_SO, so2.secret, HSM_SECRET_LEN, &res);
	CU_ASSERT_EQUAL(res.err, PED_OK);
	/* after the zeroize there is no SO to log in as */
	hsm_login(h, NULL, HSM_ROLE_SO, so.secret, HSM_SECRET_LEN, &res);
	CU_ASSERT_EQUAL(res.err, PED_E_USER_NOT_LOGGED_IN);
	/* A count at the limit whose zeroization never reached the disk (the
	 * save failed, the saved count was reloaded) zeroizes at the next
	 * attempt, even with the right keys. */
	init_hsm(h, &so);
	h->so.failures = HSM_SO_MAX_FAILURES;
	hsm_login(h, NULL, HSM_ROLE_SO, so.secret, HSM_SECRET_LEN, &res);
	CU_ASSERT_EQUAL(res.err, PED_E_PIN_INCORRECT);
	CU_ASSERT_TRUE(res.hsm_zeroized);
	CU_ASSERT_FALSE(h->initialized);
}

/* hsm init over an initialized HSM keeps the Auditor; zeroization
 * (also by three wrong SO logins) takes it. */
static void soft_init_keeps_the_auditor_zeroize_does_not(void)
{
	struct keyset so, au;
	struct hsm_login_result res;
	struct hsm_partition *p;
	init_hsm(h, &so);
	make_keyset(&au, 1, 1);
	hsm_credential_set(&h->au.cred, au.secret, HSM_SECRET_LEN, 1, 1, au.id);
	CU_ASSERT_EQUAL_FATAL(hsm_partition_create(h, "p1", &p), PED_OK);
	hsm_reinit(h);
	CU_ASSERT_FALSE(h->initialized);
	CU_ASSERT_EQUAL(h->npartitions, 0);
	CU_ASSERT_FALSE(h->so.cred.set);
	CU_ASSERT_TRUE(h->au.cred.set);
	h->initialized = 1;
	hsm_login(h, NULL, HSM_ROLE_AU, au.secret, HSM_SECRET_LEN, &res);
	CU_ASSERT_EQUAL(res.err, PED_OK);
	hsm_zeroize(h);
	CU_ASSERT_FALSE(h->au.cred.set);
}

static void partition_limits(void)
{
	struct keyset so, po, co, cu;
	struct hsm_login_result res;
	struct hsm_partition *p1, *p2;
	uint8_t bad[HSM_SECRET_LEN] = {1};
	init_hsm(h, &so);
	CU_ASSERT_EQUAL_FATAL(hsm_partition_create(h, "p1", &p1), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_partition_create(h, "p2", &p2), PED_OK);
	CU_ASSERT_EQUAL(hsm_partition_create(h, "p2", &p2), PED_E_EXISTS);
	p2 = hsm_partition_find(h, "p2");
	make_keyset(&po, 1, 1);
	make_keyset(&co, 1, 1);
	make_keyset(&cu, 1, 1);
	for (int i = 0; i < 2; i++) {
		struct hsm_partition *p = i ? p2 : p1;
		hsm_credential_set(&p->po.cred, po.secret, HSM_SECRET_LEN, 1, 1, po.id);
		hsm_credential_set(&p->co.cred, co.secret, HSM_SECRET_LEN, 1, 1, co.id);
		hsm_credential_set(&p->cu.cred, cu.secret, HSM_SECRET_LEN, 1, 1, cu.id);
		p->initialized = 1;
		CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(p, kf_data("k", "v", 1, 0)), PED_OK);
	}
	/* Partition SO: 10 wrong zeroize that partition, not the other */
	for (int i = 0; i < 10; i++)
		hsm_login(h, p1, HSM_ROLE_PO, bad, sizeof(bad), &res);
	CU_ASSERT_TRUE(res.partition_zeroized);
	CU_ASSERT_FALSE(p1->initialized);
	CU_ASSERT_EQUAL(p1->nobjs, 0);
	CU_ASSERT_STRING_EQUAL(p1->name, "p1");
	CU_ASSERT_TRUE(p2->initialized);
	CU_ASSERT_TRUE(h->initialized);
	/* CU: 10 wrong lock CU only */
	for (int i = 0; i < 10; i++)
		hsm_login(h, p2, HSM_ROLE_CU, bad, sizeof(bad), &res);
	CU_ASSERT_TRUE(p2->cu.locked);
	CU_ASSERT_FALSE(p2->co.locked);
	hsm_login(h, p2, HSM_ROLE_CU, cu.secret, HSM_SECRET_LEN, &res);
	CU_ASSERT_EQUAL(res.err, PED_E_PIN_LOCKED); /* even the right key now */
	CU_ASSERT_EQUAL(p2->cu.failures, 10);       /* and a locked role counts no more */
	hsm_login(h, p2, HSM_ROLE_CO, co.secret, HSM_SECRET_LEN, &res);
	CU_ASSERT_EQUAL(res.err, PED_OK);
	/* policy 20 lowers the CO/CU limit; CO failures lock both */
	p2->cu.locked = 0;
	p2->cu.failures = 0;
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p2, 20, 3), PED_OK);
	for (int i = 0; i < 3; i++)
		hsm_login(h, p2, HSM_ROLE_CO, bad, sizeof(bad), &res);
	CU_ASSERT_TRUE(res.locked);
	CU_ASSERT_TRUE(p2->co.locked && p2->cu.locked);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p2, 20, 11), PED_E_RANGE);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p2, 20, 0), PED_E_RANGE);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p2, 22, 2), PED_E_RANGE);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p2, 22, 1), PED_OK);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p2, 23, 1), PED_OK);
	p2->co.activated = 1;
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p2, 22, 0), PED_OK);
	CU_ASSERT_FALSE(p2->co.activated); /* activation off deletes the cached secret */
	CU_ASSERT_TRUE(p2->allow_auto_activation); /* kept; in effect again with 22 on */
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p2, 99, 1), PED_E_NOT_FOUND);
	/* policy 15 (ignore failed challenges): 1 by default; OFF-to-ON is
	 * destructive, ON-to-OFF is not */
	CU_ASSERT_EQUAL(p2->ignore_failed_challenges, 1);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p2, 15, 2), PED_E_RANGE);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p2, 15, 0), PED_OK);
	CU_ASSERT_EQUAL(p2->nobjs, 1);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p2, 15, 1), PED_OK);
	CU_ASSERT_EQUAL(p2->nobjs, 0);
	CU_ASSERT_TRUE(p2->initialized); /* the objects go, not the roles */
	CU_ASSERT_FALSE(hsm_label_valid(""));
	CU_ASSERT_FALSE(hsm_label_valid("123456789012345678901234567890123"));
	CU_ASSERT_FALSE(hsm_label_valid("tab\there"));
	CU_ASSERT_TRUE(hsm_label_valid("my partition"));
}

/* The file as version 6 wrote it: that writer, frozen here (an old format
 * never changes), so that files of every older version can be made from it
 * by taking out what each version added. */
static void v6_str(struct ped_wbuf *w, const char *s)
{
	ped_wbuf_lv16(w, s, strlen(s));
}

static void v6_cred(struct ped_wbuf *w, const struct hsm_credential *c)
{
	ped_wbuf_u8(w, c->set);
	ped_wbuf_u8(w, c->m);
	ped_wbuf_u8(w, c->n);
	ped_wbuf_bytes(w, c->keyset_id, sizeof(c->keyset_id));
	ped_wbuf_bytes(w, c->verifier, sizeof(c->verifier));
}

static void v6_role(struct ped_wbuf *w, const struct hsm_role_state *rs)
{
	v6_cred(w, &rs->cred);
	ped_wbuf_u32(w, rs->failures);
	ped_wbuf_u8(w, rs->locked);
	ped_wbuf_u8(w, rs->challenge_set);
	ped_wbuf_bytes(w, rs->challenge_verifier, sizeof(rs->challenge_verifier));
}

static int encode_v6(const struct hsm *x, uint8_t **buf, size_t *len)
{
	struct ped_wbuf w;
	uint8_t hash[32];
	unsigned int hl = 0;

	ped_wbuf_init(&w, 4u << 20);
	ped_wbuf_bytes(&w, "OPHS", 4);
	ped_wbuf_u8(&w, 6);
	v6_str(&w, x->serial);
	v6_str(&w, x->label);
	ped_wbuf_u8(&w, x->initialized);
	ped_wbuf_u8(&w, x->is_backup);
	v6_role(&w, &x->so);
	v6_role(&w, &x->au);
	v6_cred(&w, &x->domain);
	ped_wbuf_bytes(&w, x->hoc_priv, sizeof(x->hoc_priv));
	ped_wbuf_bytes(&w, x->static_priv, sizeof(x->static_priv));
	ped_wbuf_lv16(&w, x->hoc_cert, x->hoc_cert_len);
	ped_wbuf_lv16(&w, x->static_cert, x->static_cert_len);
	ped_wbuf_u8(&w, x->rpv_set);
	ped_wbuf_bytes(&w, x->rpv, sizeof(x->rpv));
	ped_wbuf_u8(&w, x->rpv_2e2s);
	v6_str(&w, x->ped_ip);
	ped_wbuf_u16(&w, x->ped_port);
	ped_wbuf_u8(&w, x->so_resets_partition_pin);
	ped_wbuf_u32(&w, x->npartitions);
	for (uint32_t i = 0; i < x->npartitions; i++) {
		const struct hsm_partition *p = &x->partitions[i];
		v6_str(&w, p->name);
		v6_str(&w, p->label);
		ped_wbuf_u8(&w, p->initialized);
		v6_cred(&w, &p->domain);
		v6_role(&w, &p->po);
		v6_role(&w, &p->co);
		v6_role(&w, &p->cu);
		ped_wbuf_u32(&w, p->max_failed_user_logins);
		ped_wbuf_u8(&w, p->allow_activation);
		ped_wbuf_u8(&w, p->allow_auto_activation);
		ped_wbuf_u8(&w, p->ignore_failed_challenges);
		int keep = hsm_activation_persists(p);
		ped_wbuf_u8(&w, (uint8_t)(keep && p->co.activated));
		ped_wbuf_u8(&w, (uint8_t)(keep && p->cu.activated));
		/* objects were a label and a value: data objects here */
		ped_wbuf_u32(&w, p->nobjs);
		for (uint32_t j = 0; j < p->nobjs; j++) {
			const struct hsm_attr *l = hsm_obj_attr(p->objs[j], CKA_LABEL);
			const struct hsm_attr *v = hsm_obj_attr(p->objs[j], CKA_VALUE);
			ped_wbuf_u64(&w, p->objs[j]->handle);
			ped_wbuf_u64(&w, p->objs[j]->ouid);
			ped_wbuf_lv16(&w, l->val, l->len);
			ped_wbuf_lv16(&w, v->val, v->len);
		}
	}
	if (w.err == 0 && EVP_Digest(w.p, w.len, hash, &hl, EVP_sha256(), NULL) != 1)
		w.err = PED_E_CRYPTO;
	ped_wbuf_bytes(&w, hash, sizeof(hash));
	return ped_wbuf_take(&w, buf, len);
}

/* The file as version v (3 or 4) wrote it: version 4 added ped_ip (lv16,
 * empty here) and ped_port (u16) after the RPV and its 2e2s flag, version 5
 * the HSM policy 15 byte after them. */
static uint8_t *older_version(const uint8_t *buf, size_t len, const uint8_t rpv[HSM_SECRET_LEN], int v,
			      size_t *out_len)
{
	size_t drop = v == 3 ? 5 : 1, cut = 0;
	unsigned int hl;
	for (size_t i = 0; !cut && i + HSM_SECRET_LEN <= len; i++)
		if (!memcmp(buf + i, rpv, HSM_SECRET_LEN))
			cut = i + HSM_SECRET_LEN + 1 + (v == 3 ? 0 : 4);
	CU_ASSERT_FATAL(cut && cut + drop < len && !memcmp(buf + cut, "\0\0\0\0\0", drop));
	uint8_t *old = OPENSSL_malloc(len - drop);
	CU_ASSERT_PTR_NOT_NULL_FATAL(old);
	memcpy(old, buf, cut);
	memcpy(old + cut, buf + cut + drop, len - drop - cut);
	old[4] = (uint8_t)v;
	*out_len = len - drop;
	CU_ASSERT_FATAL(EVP_Digest(old, *out_len - 32, old + *out_len - 32, &hl, EVP_sha256(), NULL) == 1);
	return old;
}

/* Files of versions 3 and 4 still load, with the later settings at their defaults. */
static void older_state_files_still_load(void)
{
	struct keyset so;
	struct hsm *back = OPENSSL_zalloc(sizeof(*back));
	uint8_t *buf, *old;
	size_t len, old_len;
	char why[160];
	init_hsm(h, &so);
	h->rpv_set = 1;
	RAND_bytes(h->rpv, sizeof(h->rpv));
	h->ped_ip[0] = '\0';
	h->ped_port = 0;
	h->so_resets_partition_pin = 0;
	CU_ASSERT_EQUAL_FATAL(encode_v6(h, &buf, &len), PED_OK);
	for (int v = 3; v <= 4; v++) {
		old = older_version(buf, len, h->rpv, v, &old_len);
		CU_ASSERT_EQUAL(hsm_decode(old, old_len, keyed(back), why, sizeof(why)), PED_OK);
		CU_ASSERT_STRING_EQUAL(back->serial, h->serial);
		CU_ASSERT_EQUAL(memcmp(back->rpv, h->rpv, sizeof(h->rpv)), 0);
		CU_ASSERT_EQUAL(back->ped_port, 0);
		CU_ASSERT_EQUAL(back->so_resets_partition_pin, 0);
		hsm_cleanse(back);
		old[4] = HSM_STATE_VERSION + 1; /* a version from the future is refused, not misread */
		CU_ASSERT_EQUAL(hsm_decode(old, old_len, keyed(back), why, sizeof(why)), PED_E_CORRUPT);
		char want[160];
		snprintf(want, sizeof(want), "state version %d is newer than this hsm-sim reads (2 to %d): a later hsm-sim "
			 "wrote it; run that one (the file is left as it is)", HSM_STATE_VERSION + 1, HSM_STATE_VERSION);
		CU_ASSERT_STRING_EQUAL(why, want);
		OPENSSL_clear_free(old, old_len);
	}
	OPENSSL_clear_free(buf, len);

	/* Version 6 added partition policy 15 after policy 23; a version 5
	 * partition gets its default, 1 (failed challenges not counted). */
	struct hsm_partition *p;
	CU_ASSERT_EQUAL_FATAL(hsm_partition_create(h, "p15", &p), PED_OK);
	CU_ASSERT_EQUAL(p->ignore_failed_challenges, 1);
	p->max_failed_user_logins = 7;
	p->allow_activation = p->allow_auto_activation = 1;
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, HSM_POLICY_IGNORE_FAILED_CHALLENGES, 0), PED_OK);
	/* version 6 loads with version 7's settings at their defaults */
	h->allow_cloning = h->network_replication = h->force_pin_change = 0;
	h->saved_at = 1234;
	p->min_pin_policy = 240;
	p->co.challenge_expired = 1;
	CU_ASSERT_EQUAL_FATAL(encode_v6(h, &buf, &len), PED_OK);
	CU_ASSERT_EQUAL(hsm_decode(buf, len, keyed(back), why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL(back->partitions[0].ignore_failed_challenges, 0);
	CU_ASSERT_TRUE(back->allow_cloning && back->network_replication && back->force_pin_change);
	CU_ASSERT_FALSE(back->restricted_restore);
	CU_ASSERT_EQUAL(back->saved_at, 0); /* unknown: a cached secret will not survive */
	CU_ASSERT_EQUAL(back->partitions[0].min_pin_policy, 247);
	CU_ASSERT_EQUAL(back->partitions[0].max_pin_length, 255);
	CU_ASSERT_FALSE(back->partitions[0].co.challenge_expired);
	hsm_cleanse(back);
	/* and version 7 keeps them */
	{
		uint8_t *b7;
		size_t l7;
		CU_ASSERT_EQUAL_FATAL(hsm_encode(h, &b7, &l7), PED_OK);
		CU_ASSERT_EQUAL(hsm_decode(b7, l7, keyed(back), why, sizeof(why)), PED_OK);
		CU_ASSERT_FALSE(back->allow_cloning || back->network_replication || back->force_pin_change);
		CU_ASSERT_EQUAL(back->saved_at, 1234);
		CU_ASSERT_EQUAL(back->partitions[0].min_pin_policy, 240);
		CU_ASSERT_TRUE(back->partitions[0].co.challenge_expired);
		hsm_cleanse(back);
		OPENSSL_clear_free(b7, l7);
	}
	static const uint8_t policies[] = {0, 0, 0, 7, 1, 1, 0};
	size_t at = 0;
	for (size_t i = 0; !at && i + sizeof(policies) <= len; i++)
		if (!memcmp(buf + i, policies, sizeof(policies)))
			at = i + sizeof(policies) - 1;
	CU_ASSERT_FATAL(at != 0);
	memmove(buf + at, buf + at + 1, len - at - 1);
	len--;
	buf[4] = 5;
	unsigned int hl;
	CU_ASSERT_FATAL(EVP_Digest(buf, len - 32, buf + len - 32, &hl, EVP_sha256(), NULL) == 1);
	CU_ASSERT_EQUAL(hsm_decode(buf, len, keyed(back), why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL(back->partitions[0].max_failed_user_logins, 7);
	CU_ASSERT_EQUAL(back->partitions[0].ignore_failed_challenges, 1);
	OPENSSL_clear_free(buf, len + 1);

	h->so_resets_partition_pin = 1;
	hsm_zeroize(h); /* HSM policies go back to their defaults */
	CU_ASSERT_EQUAL(h->so_resets_partition_pin, 0);
	hsm_cleanse(back);
	OPENSSL_clear_free(back, sizeof(*back));
}

static void state_files_round_trip_and_refuse_damage(void)
{
	struct keyset so;
	struct hsm_partition *p;
	struct hsm *back = OPENSSL_zalloc(sizeof(*back));
	char path[600], why[160];
	uint8_t *buf;
	size_t len;
	struct stat sb;
	init_hsm(h, &so);
	hsm_partition_create(h, "par1", &p);
	p->initialized = 1;
	struct hsm_obj *o = kf_data("key one", "\1\2\3", 3, 0x1122334455667788ull);
	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(p, o), PED_OK);
	hsm_part_obj_remove(p, o->handle); /* handles are not given twice */
	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(p, o = kf_data("key one", "\1\2\3", 3, 0x1122334455667788ull)), PED_OK);
	CU_ASSERT_EQUAL(o->handle, 2);
	h->rpv_set = 1;
	RAND_bytes(h->rpv, sizeof(h->rpv));
	snprintf(h->ped_ip, sizeof(h->ped_ip), "192.124.106.100");
	h->ped_port = 1600;
	h->so_resets_partition_pin = 1;
	snprintf(path, sizeof(path), "%s/hsm-150001.state", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(hsm_save(h, path), PED_OK);
	CU_ASSERT_EQUAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL_FATAL(hsm_load(path, keyed(back), why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_encode(h, &buf, &len), PED_OK);
	{
		/* what loads is what was saved, the object whole (the bytes differ:
		 * every seal has its own nonce) */
		uint8_t *again = NULL;
		size_t again_len = 0;
		CU_ASSERT_TRUE(hsm_same_state(back, h));
		CU_ASSERT_EQUAL_FATAL(hsm_encode(back, &again, &again_len), PED_OK);
		CU_ASSERT_TRUE(again_len == len && memcmp(again, buf, len));
		OPENSSL_clear_free(again, again_len);
		CU_ASSERT_EQUAL_FATAL(back->npartitions, 1);
		CU_ASSERT_EQUAL_FATAL(back->partitions[0].nobjs, 1);
		const struct hsm_obj *bo = back->partitions[0].objs[0];
		CU_ASSERT_TRUE(bo->handle == 2 && bo->ouid == o->ouid && kf_same_attrs(bo, o));
		CU_ASSERT_EQUAL(back->partitions[0].next_handle, 3);
		CU_ASSERT_EQUAL(memcmp(back->static_priv, h->static_priv, sizeof(h->static_priv)), 0);
		CU_ASSERT_EQUAL(memcmp(back->rpv, h->rpv, sizeof(h->rpv)), 0);
		CU_ASSERT_STRING_EQUAL(back->ped_ip, "192.124.106.100");
		CU_ASSERT_EQUAL(back->ped_port, 1600);
		CU_ASSERT_EQUAL(back->so_resets_partition_pin, 1);
	}
	hsm_cleanse(back);
	for (size_t i = 0; i < len; i += 7) {
		buf[i] ^= 0x20;
		CU_ASSERT_EQUAL(hsm_decode(buf, len, keyed(back), why, sizeof(why)), PED_E_CORRUPT);
		buf[i] ^= 0x20;
	}
	for (size_t cut = 0; cut < len; cut += 97)
		CU_ASSERT_EQUAL(hsm_decode(buf, cut, keyed(back), why, sizeof(why)), PED_E_CORRUPT);
	CU_ASSERT_EQUAL(hsm_decode((const uint8_t *)"OPIK....", 8, keyed(back), why, sizeof(why)), PED_E_CORRUPT);
	CU_ASSERT_STRING_EQUAL(why, "not an HSM state file");
	/* a refused file leaves nothing half-loaded */
	CU_ASSERT_FALSE(back->initialized);
	CU_ASSERT_EQUAL(back->npartitions, 0);
	OPENSSL_clear_free(buf, len);
	hsm_cleanse(back);
	OPENSSL_clear_free(back, sizeof(*back));
}

/* The object store: objects grow on the heap up to HSM_MAX_OBJECTS and
 * HSM_PARTITION_BYTES; handles count up from 1 and are never given twice;
 * OUIDs are unique; copies are deep and moves leave the source empty, so no
 * two partitions ever share an object. */
static void objects_grow_copy_and_move(void)
{
	struct hsm_partition a = {0}, b = {0}, c = {0};
	uint8_t v = 0;
	hsm_partition_defaults(&a);
	for (uint32_t i = 0; i < HSM_MAX_OBJECTS; i++) {
		v = (uint8_t)i;
		CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(&a, kf_data("o", &v, 1, 0)), PED_OK);
	}
	CU_ASSERT_EQUAL(hsm_part_obj_add(&a, kf_data("o", &v, 1, 0)), PED_E_RANGE); /* freed */
	CU_ASSERT_EQUAL(a.nobjs, HSM_MAX_OBJECTS);
	for (uint32_t i = 0; i < HSM_MAX_OBJECTS; i++)
		CU_ASSERT_TRUE(a.objs[i]->handle == i + 1 && a.objs[i]->ouid != 0 &&
			       hsm_obj_attr(a.objs[i], CKA_VALUE)->val[0] == (uint8_t)i);
	CU_ASSERT_PTR_EQUAL(hsm_part_obj_find(&a, 7), a.objs[6]);
	CU_ASSERT_PTR_NULL(hsm_part_obj_find(&a, 0));
	CU_ASSERT_PTR_NULL(hsm_part_obj_find(&a, HSM_MAX_OBJECTS + 1));
	CU_ASSERT_PTR_EQUAL(hsm_part_obj_by_ouid(&a, a.objs[9]->ouid), a.objs[9]);
	hsm_part_obj_remove(&a, 7);
	hsm_part_obj_remove(&a, 7); /* gone: nothing */
	CU_ASSERT_PTR_NULL(hsm_part_obj_find(&a, 7));
	CU_ASSERT_EQUAL(a.nobjs, HSM_MAX_OBJECTS - 1);
	CU_ASSERT_EQUAL(a.objs[6]->handle, 8); /* the order stays */
	/* an OUID the partition holds is refused */
	CU_ASSERT_EQUAL(hsm_part_obj_add(&a, kf_data("o", &v, 1, a.objs[0]->ouid)), PED_E_EXISTS);
	CU_ASSERT_EQUAL(hsm_part_obj_add(&a, kf_data("o", &v, 1, 0)), PED_OK);
	CU_ASSERT_EQUAL(a.objs[a.nobjs - 1]->handle, HSM_MAX_OBJECTS + 1);
	CU_ASSERT_EQUAL_FATAL(hsm_partition_copy(&b, &a), PED_OK);
	CU_ASSERT_PTR_NOT_EQUAL(b.objs, a.objs);
	CU_ASSERT_PTR_NOT_EQUAL(b.objs[0], a.objs[0]);
	CU_ASSERT_TRUE(b.objs[0]->handle == 1 && b.objs[0]->ouid == a.objs[0]->ouid && kf_same_attrs(b.objs[0], a.objs[0]));
	hsm_part_obj_remove(&b, 1);
	CU_ASSERT_PTR_NOT_NULL(hsm_part_obj_find(&a, 1));
	hsm_partition_move(&c, &b);
	CU_ASSERT_PTR_NULL(b.objs);
	CU_ASSERT_EQUAL(b.nobjs, 0);
	CU_ASSERT_EQUAL(c.nobjs, HSM_MAX_OBJECTS - 1);
	hsm_partition_move(&c, &a); /* c's own objects are wiped and freed first */
	CU_ASSERT_EQUAL(c.nobjs, HSM_MAX_OBJECTS);
	hsm_zeroize_partition(&c);
	CU_ASSERT_PTR_NULL(c.objs);
	CU_ASSERT_EQUAL(c.nobjs, 0);
	CU_ASSERT_EQUAL(c.next_handle, 1);
	hsm_part_obj_clear(&a);
	hsm_part_obj_clear(&b);

	/* no small size limit: a few 32 KiB values fit, then the partition's
	 * storage is full */
	static uint8_t big[HSM_ATTR_MAX];
	uint32_t n = 0;
	int r;
	hsm_partition_defaults(&a);
	while ((r = hsm_part_obj_add(&a, kf_data("big", big, sizeof(big), 0))) == PED_OK)
		n++;
	CU_ASSERT_EQUAL(r, PED_E_RANGE);
	CU_ASSERT_EQUAL(n, HSM_PARTITION_BYTES / (sizeof(big) + 3));
	CU_ASSERT_TRUE(hsm_part_obj_bytes(&a) <= HSM_PARTITION_BYTES);
	hsm_part_obj_clear(&a);
	/* handles stay below 2^62 */
	a.next_handle = HSM_HANDLE_SESSION_BIT - 1;
	CU_ASSERT_EQUAL(hsm_part_obj_add(&a, kf_data("o", &v, 1, 0)), PED_OK);
	CU_ASSERT_EQUAL(hsm_part_obj_add(&a, kf_data("o", &v, 1, 0)), PED_E_RANGE);
	/* a cloned object the partition has no room for is freed once, by
	 * hsm_part_obj_add (hsm_clone_place freed it again: make reliability's
	 * objstore fuzz target) */
	uint64_t placed = 0;
	CU_ASSERT_EQUAL(hsm_clone_place(&a, kf_data("o", &v, 1, 0), HSM_CLONE_ALL, &placed), PED_E_RANGE);
	CU_ASSERT_EQUAL(a.nobjs, 1);
	hsm_part_obj_clear(&a);
}

static void counted(void *arg, uint64_t from, uint64_t to)
{
	(void)from;
	(void)to;
	(*(int *)arg)++;
}

/* Backup, restore and partition clone move objects through one function:
 * within a cloning domain only, all, the missing ones, or those too that
 * changed, every one with a new handle in the target. */
static void refused_told(void *arg, const struct hsm_obj *o, CK_RV rv)
{
	*(uint64_t *)arg = o->handle;
	CU_ASSERT_EQUAL(rv, CKR_ACTION_PROHIBITED);
}

static void cloning_stays_within_a_domain(void)
{
	struct hsm_partition a = {0}, b = {0}, c = {0}, f = {0};
	struct keyset d1, d2;
	int told = 0;
	hsm_partition_defaults(&a);
	hsm_partition_defaults(&b);
	hsm_partition_defaults(&c);
	hsm_partition_defaults(&f);
	make_keyset(&d1, 1, 1);
	make_keyset(&d2, 1, 1);
	CU_ASSERT_EQUAL(hsm_partition_set_domain(&a, d1.secret, HSM_SECRET_LEN, 1, 1, d1.id), PED_OK);
	CU_ASSERT_EQUAL(hsm_partition_set_domain(&b, d1.secret, HSM_SECRET_LEN, 1, 1, d1.id), PED_OK);
	CU_ASSERT_EQUAL(hsm_partition_set_domain(&c, d2.secret, HSM_SECRET_LEN, 1, 1, d2.id), PED_OK);
	CU_ASSERT_EQUAL(memcmp(a.domain_key, b.domain_key, HSM_KEY_LEN), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(a.domain_key, c.domain_key, HSM_KEY_LEN), 0);
	for (uint64_t i = 1; i <= 3; i++) {
		uint8_t v = (uint8_t)i;
		a.next_handle = 10 * i;
		CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(&a, kf_data("o", &v, 1, i)), PED_OK);
	}
	struct hsm_clone_ctx count = {NULL, NULL, counted, NULL, &told};
	CU_ASSERT_EQUAL(hsm_clone_objects(&c, &a, HSM_CLONE_ALL, NULL, 0, NULL), PED_E_CERTIFICATE_INVALID);
	CU_ASSERT_EQUAL(c.nobjs, 0);
	/* a domain whose verifier matches but whose key is not the domain's
	 * (a verifier alone proves nothing): the first object fails to open */
	f.domain = a.domain;
	f.domain_key_set = 1;
	RAND_bytes(f.domain_key, sizeof(f.domain_key));
	CU_ASSERT_EQUAL(hsm_clone_objects(&f, &a, HSM_CLONE_ALL, NULL, 0, NULL), PED_E_CERTIFICATE_INVALID);
	CU_ASSERT_EQUAL(hsm_clone_objects(&a, &f, HSM_CLONE_ALL, NULL, 0, NULL), 0); /* f holds nothing */
	/* a partition without a cloning key (from before state version 8) */
	f.domain_key_set = 0;
	CU_ASSERT_EQUAL(hsm_clone_objects(&f, &a, HSM_CLONE_ALL, NULL, 0, NULL), PED_E_UNSUPPORTED);
	CU_ASSERT_EQUAL(hsm_clone_objects(&b, &f, HSM_CLONE_ALL, NULL, 0, NULL), PED_E_UNSUPPORTED);
	hsm_part_obj_clear(&f);
	const uint64_t one[] = {20}, none[] = {99};
	CU_ASSERT_EQUAL(hsm_clone_objects(&b, &a, HSM_CLONE_MISSING, none, 1, NULL), PED_E_NOT_FOUND);
	CU_ASSERT_EQUAL(hsm_clone_objects(&b, &a, HSM_CLONE_MISSING, one, 1, &count), 1);
	CU_ASSERT_EQUAL(told, 1);
	CU_ASSERT_TRUE(b.nobjs == 1 && b.objs[0]->ouid == 2 && b.objs[0]->handle == 1);
	CU_ASSERT_TRUE(kf_same_attrs(b.objs[0], a.objs[1]));
	/* objects the target holds are not cloned again */
	CU_ASSERT_EQUAL(hsm_clone_objects(&b, &a, HSM_CLONE_MISSING, NULL, 0, NULL), 2);
	CU_ASSERT_EQUAL(b.nobjs, 3);
	uint8_t changed = 0x77;
	CK_ATTRIBUTE t[] = {KF_D(CKA_VALUE, &changed, 1)};
	CU_ASSERT_EQUAL(hsm_obj_set(NULL, a.objs[0], t, 1), CKR_OK);
	CU_ASSERT_EQUAL(hsm_clone_objects(&b, &a, HSM_CLONE_MISSING, NULL, 0, NULL), 0);
	CU_ASSERT_EQUAL(hsm_clone_objects(&b, &a, HSM_CLONE_MISSING_OR_CHANGED, NULL, 0, NULL), 1);
	CU_ASSERT_EQUAL(hsm_obj_attr(hsm_part_obj_by_ouid(&b, 1), CKA_VALUE)->val[0], 0x77);
	CU_ASSERT_EQUAL(hsm_part_obj_by_ouid(&b, 1)->handle, 2); /* overwritten in place */
	CU_ASSERT_EQUAL(hsm_clone_objects(&b, &a, HSM_CLONE_ALL, NULL, 0, NULL), 3);
	CU_ASSERT_EQUAL(b.nobjs, 6);

	/* the policies: HSM policy 7 off refuses every object, public ones too;
	 * partition policy 4 off a secret key, 0 off a private key, at either
	 * end; each refused object is told and skipped, the others cloned (the
	 * reference's "skips over any private keys") */
	struct hsm_key_env off, on;
	uint64_t refused = 0;
	hsm_key_env_init(&off);
	hsm_key_env_init(&on);
	off.hsm_cloning = 0;
	struct hsm_clone_ctx pol = {&off, &on, NULL, refused_told, &refused};
	hsm_part_obj_clear(&c);
	hsm_partition_defaults(&c);
	CU_ASSERT_EQUAL(hsm_partition_set_domain(&c, d1.secret, HSM_SECRET_LEN, 1, 1, d1.id), PED_OK);
	CU_ASSERT_EQUAL(hsm_clone_objects(&c, &a, HSM_CLONE_ALL, NULL, 0, &pol), 0);
	CU_ASSERT_EQUAL(refused, 30); /* the last told */
	CU_ASSERT_EQUAL(c.nobjs, 0);
	uint8_t key[16] = {1, 2, 3};
	struct hsm_obj *aes = kf_secret(NULL, CKK_AES, key, sizeof(key), NULL, 0);
	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(&a, aes), PED_OK);
	off.hsm_cloning = 1;
	off.pol.v[HSM_KP_SECRET_CLONING] = 0;
	refused = 0;
	CU_ASSERT_EQUAL(hsm_clone_objects(&c, &a, HSM_CLONE_ALL, NULL, 0, &pol), 3); /* the data objects */
	CU_ASSERT_EQUAL(refused, aes->handle);
	CU_ASSERT_EQUAL(c.nobjs, 3);
	CU_ASSERT_PTR_NULL(hsm_part_obj_by_ouid(&c, aes->ouid));
	pol.src_env = &on;
	pol.dst_env = &off; /* the target's policy 4 (chapter 12: a restore's prerequisite) */
	refused = 0;
	CU_ASSERT_EQUAL(hsm_clone_objects(&c, &a, HSM_CLONE_MISSING, NULL, 0, &pol), 0);
	CU_ASSERT_EQUAL(refused, aes->handle);
	pol.dst_env = &on;
	CU_ASSERT_EQUAL(hsm_clone_objects(&c, &a, HSM_CLONE_MISSING, NULL, 0, &pol), 1);
	CU_ASSERT_TRUE(kf_same_attrs(hsm_part_obj_by_ouid(&c, aes->ouid), aes));
	hsm_part_obj_clear(&a);
	hsm_part_obj_clear(&b);
	hsm_part_obj_clear(&c);
}

/* Restored keys work (issue #27): key pairs made by libhsm are backed up
 * (into a backup HSM's partition, saved and loaded again as a state file)
 * and restored into another partition of the same domain; the restored
 * private keys sign and their signatures verify with the original public
 * keys, and a signature made before the backup verifies with the restored
 * public key. Into another domain: refused, nothing restored. */
static void restored_keys_sign_and_verify(void)
{
	struct hsm *bk = OPENSSL_zalloc(sizeof(*bk)), *back = OPENSSL_zalloc(sizeof(*back));
	struct hsm_partition src = {0}, dst = {0}, alien = {0}, *bp;
	struct hsm_obj *rsapub = NULL, *rsapriv = NULL, *ecpub = NULL, *ecpriv = NULL;
	struct keyset dom, dom2;
	uint8_t before[512], after[512];
	CK_ULONG blen, alen;
	char path[600], why[400];
	static const char msg[] = "signed before the backup";
	CK_MECHANISM rsa = {CKM_SHA256_RSA_PKCS, NULL, 0}, ecdsa = {CKM_ECDSA_SHA256, NULL, 0};
	CK_ATTRIBUTE pubt[] = {KF_B(CKA_TOKEN, 1), KF_B(CKA_VERIFY, 1)};
	CK_ATTRIBUTE privt[] = {KF_B(CKA_TOKEN, 1), KF_B(CKA_SIGN, 1)};

	CU_ASSERT_PTR_NOT_NULL_FATAL(bk);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	make_keyset(&dom, 1, 1);
	make_keyset(&dom2, 1, 1);
	hsm_partition_defaults(&src);
	hsm_partition_defaults(&dst);
	hsm_partition_defaults(&alien);
	CU_ASSERT_EQUAL(hsm_partition_set_domain(&src, dom.secret, HSM_SECRET_LEN, 1, 1, dom.id), PED_OK);
	CU_ASSERT_EQUAL(hsm_partition_set_domain(&dst, dom.secret, HSM_SECRET_LEN, 1, 1, dom.id), PED_OK);
	CU_ASSERT_EQUAL(hsm_partition_set_domain(&alien, dom2.secret, HSM_SECRET_LEN, 1, 1, dom2.id), PED_OK);
	kf_rsa_pair(NULL, 2048, pubt, KF_N(pubt), privt, KF_N(privt), &rsapub, &rsapriv);
	kf_ec_pair(NULL, "P-256", pubt, KF_N(pubt), privt, KF_N(privt), &ecpub, &ecpriv);
	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(&src, rsapub), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(&src, rsapriv), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(&src, ecpub), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(&src, ecpriv), PED_OK);
	blen = sizeof(before);
	CU_ASSERT_EQUAL_FATAL(kf_sign(NULL, &rsa, rsapriv, msg, sizeof(msg), before, &blen), CKR_OK);

	/* backup: into the backup HSM's partition, which is saved and loaded */
	CU_ASSERT_EQUAL_FATAL(hsm_create(bk, "150077"), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_set_device_secret(bk, device_secret), PED_OK);
	bk->is_backup = 1;
	CU_ASSERT_EQUAL_FATAL(hsm_partition_create(bk, "bk", &bp), PED_OK);
	CU_ASSERT_EQUAL(hsm_partition_set_domain(bp, dom.secret, HSM_SECRET_LEN, 1, 1, dom.id), PED_OK);
	CU_ASSERT_EQUAL(hsm_clone_objects(bp, &src, HSM_CLONE_ALL, NULL, 0, NULL), 4);
	snprintf(path, sizeof(path), "%s/hsm-150077.state", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(hsm_save(bk, path), PED_OK);
	memcpy(back->kek, bk->kek, sizeof(back->kek));
	back->kek_set = 1;
	CU_ASSERT_EQUAL_FATAL(hsm_load(path, back, why, sizeof(why)), PED_OK);
	bp = &back->partitions[0];
	CU_ASSERT_TRUE(bp->domain_key_set && bp->nobjs == 4);

	/* another domain: refused, nothing restored */
	CU_ASSERT_EQUAL(hsm_clone_objects(&alien, bp, HSM_CLONE_MISSING, NULL, 0, NULL), PED_E_CERTIFICATE_INVALID);
	CU_ASSERT_EQUAL(alien.nobjs, 0);
	/* restore into another partition of the domain */
	CU_ASSERT_EQUAL_FATAL(hsm_clone_objects(&dst, bp, HSM_CLONE_MISSING, NULL, 0, NULL), 4);
	const struct hsm_obj *rpriv = hsm_part_obj_by_ouid(&dst, rsapriv->ouid);
	const struct hsm_obj *rpub = hsm_part_obj_by_ouid(&dst, rsapub->ouid);
	const struct hsm_obj *epriv = hsm_part_obj_by_ouid(&dst, ecpriv->ouid);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rpriv);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rpub);
	CU_ASSERT_PTR_NOT_NULL_FATAL(epriv);
	CU_ASSERT_TRUE(hsm_obj_bool(rpriv, CKA_LOCAL)); /* kept across cloning (policy 17) */
	/* the signature made before verifies with the restored public key */
	CU_ASSERT_EQUAL(kf_verify(NULL, &rsa, rpub, msg, sizeof(msg), before, blen), CKR_OK);
	/* the restored private keys sign; the original public keys verify */
	alen = sizeof(after);
	CU_ASSERT_EQUAL(kf_sign(NULL, &rsa, rpriv, msg, sizeof(msg), after, &alen), CKR_OK);
	CU_ASSERT_EQUAL(kf_verify(NULL, &rsa, rsapub, msg, sizeof(msg), after, alen), CKR_OK);
	alen = sizeof(after);
	CU_ASSERT_EQUAL(kf_sign(NULL, &ecdsa, epriv, msg, sizeof(msg), after, &alen), CKR_OK);
	CU_ASSERT_EQUAL(kf_verify(NULL, &ecdsa, ecpub, msg, sizeof(msg), after, alen), CKR_OK);
	/* restoring again adds nothing: the target holds them (same OUID) */
	CU_ASSERT_EQUAL(hsm_clone_objects(&dst, bp, HSM_CLONE_MISSING, NULL, 0, NULL), 0);
	CU_ASSERT_EQUAL(dst.nobjs, 4);
	hsm_part_obj_clear(&src);
	hsm_part_obj_clear(&dst);
	hsm_part_obj_clear(&alien);
	hsm_cleanse(bk);
	hsm_cleanse(back);
	OPENSSL_clear_free(bk, sizeof(*bk));
	OPENSSL_clear_free(back, sizeof(*back));
}

/* A cached PED secret reaches the disk only with policies 22 and 23, and
 * only once the role authenticated with policy 23 on ("takes effect ... the
 * next time the role is authenticated"); a restart keeps it only within
 * two hours of the power-off. */
static void activation_is_saved_only_with_auto_activation(void)
{
	struct keyset so;
	struct hsm_partition *p;
	struct hsm *back = OPENSSL_zalloc(sizeof(*back));
	char path[600], why[160];
	init_hsm(h, &so);
	hsm_partition_create(h, "par1", &p);
	p->initialized = 1;
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, 22, 1), PED_OK);
	hsm_activate(p, HSM_ROLE_CO);
	hsm_activate(p, HSM_ROLE_CU);
	snprintf(path, sizeof(path), "%s/hsm-150002.state", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(hsm_save(h, path), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_load(path, keyed(back), why, sizeof(why)), PED_OK);
	CU_ASSERT_FALSE(back->partitions[0].co.activated); /* a restart forgets it */
	hsm_cleanse(back);
	/* policy 23 turned on after activation: not before the next authentication */
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, 23, 1), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_save(h, path), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_load(path, keyed(back), why, sizeof(why)), PED_OK);
	CU_ASSERT_FALSE(back->partitions[0].co.activated || back->partitions[0].cu.activated);
	hsm_cleanse(back);
	hsm_activate(p, HSM_ROLE_CO); /* the CO authenticates */
	CU_ASSERT_EQUAL_FATAL(hsm_save(h, path), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_load(path, keyed(back), why, sizeof(why)), PED_OK);
	CU_ASSERT_TRUE(back->partitions[0].co.activated && !back->partitions[0].cu.activated);
	hsm_cleanse(back);
	/* the power was off from saved_at: two hours at most */
	h->saved_at = 1000000;
	CU_ASSERT_EQUAL(hsm_power_on(h, 1000000 + HSM_AUTO_ACTIVATION_WINDOW_S), 1); /* the CU's: not re-authenticated */
	CU_ASSERT_TRUE(p->co.activated && !p->cu.activated);
	CU_ASSERT_EQUAL(hsm_power_on(h, 1000000 + HSM_AUTO_ACTIVATION_WINDOW_S + 1), 1);
	CU_ASSERT_FALSE(p->co.activated);
	hsm_activate(p, HSM_ROLE_CO);
	CU_ASSERT_EQUAL(hsm_power_on(h, 999999), 1); /* a power-off in the future: not trusted */
	hsm_activate(p, HSM_ROLE_CO);
	h->saved_at = 0;
	CU_ASSERT_EQUAL(hsm_power_on(h, 1000000), 1); /* unknown */
	hsm_activate(p, HSM_ROLE_CO);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, 22, 0), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_save(h, path), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_load(path, keyed(back), why, sizeof(why)), PED_OK);
	CU_ASSERT_FALSE(back->partitions[0].co.activated);
	hsm_cleanse(back);
	OPENSSL_clear_free(back, sizeof(*back));
}

/* State files that earlier versions of hsm-sim wrote (the fuzz corpus keeps
 * them, after a byte that says whether to append the SHA-256) still load,
 * the later settings at their defaults. */
static void files_of_earlier_versions_load(void)
{
	static const char *const files[] = {"hsm-v4-ped-set", "hsm-v5", "hsm-v6-partition-policy15", "regress-v2-loads-as-v5"};
	struct hsm *back = OPENSSL_zalloc(sizeof(*back));
	static uint8_t buf[1 << 16];
	char path[1024], why[160];
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/hsm_state/%s", unit_source_dir(), files[i]);
		FILE *f = fopen(path, "rb");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		size_t n = fread(buf, 1, sizeof(buf) - 32, f);
		fclose(f);
		CU_ASSERT_FATAL(n > 1);
		unsigned int hl;
		uint8_t sel = buf[0];
		memmove(buf, buf + 1, --n);
		if (sel & 1) {
			CU_ASSERT_FATAL(EVP_Digest(buf, n, buf + n, &hl, EVP_sha256(), NULL) == 1);
			n += 32;
		}
		CU_ASSERT_TRUE(buf[4] < HSM_STATE_VERSION);
		int r = hsm_decode(buf, n, keyed(back), why, sizeof(why));
		CU_ASSERT_EQUAL(r, PED_OK);
		if (r != PED_OK)
			fprintf(stderr, "%s: %s\n", files[i], why);
		CU_ASSERT_TRUE(back->allow_cloning && back->network_replication && back->force_pin_change);
		for (uint32_t j = 0; j < back->npartitions; j++)
			CU_ASSERT_TRUE(back->partitions[j].min_pin_policy == 247 && back->partitions[j].max_pin_length == 255);
		hsm_cleanse(back);
	}
	OPENSSL_clear_free(back, sizeof(*back));
}

/* Every partition policy: the key policies of hsm_kp_table and 15, 20, 22,
 * 23, 25, 26, at their defaults on a new partition; several changes at
 * once, all or nothing; the destructive directions are the partition's
 * own (a template may change them). */
static void partition_policies_with_their_effects(void)
{
	struct hsm_partition p = {0};
	unsigned nums[HSM_KP_SLOTS];
	size_t n, nkp, bad = 99;
	int erase = -1;
	const struct hsm_kp_desc *t = hsm_kp_table(&nkp);
	hsm_partition_defaults(&p);
	n = hsm_partition_policies(nums, HSM_KP_SLOTS);
	CU_ASSERT_EQUAL(n, nkp + 6);
	for (size_t i = 0; i < n; i++) {
		struct hsm_ppolicy d;
		CU_ASSERT_TRUE_FATAL(hsm_partition_policy(nums[i], &d));
		CU_ASSERT_EQUAL(hsm_partition_policy_value(&p, nums[i]), (int)d.def);
	}
	for (size_t i = 0; i < nkp; i++) {
		CU_ASSERT_TRUE(hsm_partition_policy(t[i].number, NULL));
		CU_ASSERT_EQUAL(hsm_partition_policy_destructive(&p, t[i].number, !t[i].def),
				t[i].def ? t[i].erase_on_to_off : t[i].erase_off_to_on);
	}
	CU_ASSERT_FALSE(hsm_partition_policy(3, NULL)); /* masking: not implemented */
	CU_ASSERT_EQUAL(hsm_partition_policy_value(&p, 3), -1);
	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(&p, kf_data("o", "v", 1, 0)), PED_OK);
	/* all or nothing: the third change is refused, nothing changed */
	uint32_t pol[] = {0, 1, 20}, val[] = {0, 1, 11};
	CU_ASSERT_EQUAL(hsm_partition_set_policies(&p, pol, val, 3, 0, &erase, &bad), PED_E_RANGE);
	CU_ASSERT_EQUAL(bad, 2);
	CU_ASSERT_TRUE(p.kp.v[0] == 1 && p.kp.v[1] == 0 && p.nobjs == 1);
	/* 1 on before 0 off: never both on */
	uint32_t pol2[] = {1, 0}, val2[] = {1, 0};
	CU_ASSERT_EQUAL(hsm_partition_set_policies(&p, pol2, val2, 2, 0, &erase, &bad), PED_E_ACTION_PROHIBITED);
	CU_ASSERT_EQUAL(bad, 0);
	/* 0 off then 1 on: 1 OFF-to-ON erases */
	val[2] = 5;
	CU_ASSERT_EQUAL(hsm_partition_set_policies(&p, pol, val, 3, 1, &erase, &bad), PED_OK); /* dry run */
	CU_ASSERT_TRUE(erase && p.nobjs == 1 && p.kp.v[0] == 1);
	CU_ASSERT_EQUAL(hsm_partition_set_policies(&p, pol, val, 3, 0, &erase, &bad), PED_OK);
	CU_ASSERT_TRUE(erase && p.nobjs == 0 && p.kp.v[0] == 0 && p.kp.v[1] == 1 && p.max_failed_user_logins == 5);
	/* a direction the partition's settings turn off (a template's) erases nothing */
	p.policy_erase[HSM_KP_NON_FIPS] = 0;
	CU_ASSERT_EQUAL(hsm_partition_set_policy(&p, HSM_KP_NON_FIPS, 0), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(&p, kf_data("o", "v", 1, 0)), PED_OK);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(&p, HSM_KP_NON_FIPS, 1), PED_OK);
	CU_ASSERT_EQUAL(p.nobjs, 1);
	/* and one it turns on erases where the table would not */
	p.policy_erase[HSM_KP_SIGN_NON_LOCAL] = HSM_ERASE_ON_TO_OFF;
	CU_ASSERT_EQUAL(hsm_partition_policy_erases(&p, HSM_KP_SIGN_NON_LOCAL, 0), 1);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(&p, HSM_KP_SIGN_NON_LOCAL, 0), PED_OK);
	CU_ASSERT_EQUAL(p.nobjs, 0);
	hsm_part_obj_clear(&p);
}

/* Whether needle's bytes are anywhere in hay. */
static int holds(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	for (size_t i = 0; m && i + m <= n; i++)
		if (!memcmp(hay + i, needle, m))
			return 1;
	return 0;
}

static int holds_attr(const uint8_t *hay, size_t n, const struct hsm_obj *o, CK_ATTRIBUTE_TYPE type)
{
	const struct hsm_attr *a = hsm_obj_attr(o, type);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_FATAL(a->len >= 16);
	return holds(hay, n, a->val, a->len);
}

/* At rest: a state file alone reveals no key. Keys generated by libhsm (an
 * AES key, an EC and a 2048-bit RSA private key), the HSM's own secrets
 * (HOC and static keys, RPV) and the cloning keys are nowhere in the file
 * in clear; what loads is what was saved; another device secret, none, or
 * a byte changed anywhere (the checksum made good again) is refused. */
static void state_files_seal_every_secret(void)
{
	struct keyset so, dom;
	struct hsm_partition *p;
	struct hsm *back = OPENSSL_zalloc(sizeof(*back));
	struct hsm_obj *aes = NULL, *ecpub = NULL, *ecpriv = NULL, *rsapub = NULL, *rsapriv = NULL;
	char path[600], why[400];
	uint8_t *file = NULL, *buf = NULL;
	size_t flen = 0, len = 0;
	CK_ULONG len32 = 32;
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ATTRIBUTE at[] = {KF_B(CKA_TOKEN, 1), KF_U(CKA_VALUE_LEN, &len32), KF_D(CKA_LABEL, "aes", 3)};
	CK_ATTRIBUTE tok[] = {KF_B(CKA_TOKEN, 1)};

	init_hsm(h, &so);
	make_keyset(&dom, 1, 1);
	CU_ASSERT_EQUAL_FATAL(hsm_set_domain(h, dom.secret, HSM_SECRET_LEN, 1, 1, dom.id), PED_OK);
	h->rpv_set = 1;
	RAND_bytes(h->rpv, sizeof(h->rpv));
	CU_ASSERT_EQUAL_FATAL(hsm_partition_create(h, "sealed", &p), PED_OK);
	p->initialized = 1;
	CU_ASSERT_EQUAL_FATAL(hsm_partition_set_domain(p, dom.secret, HSM_SECRET_LEN, 1, 1, dom.id), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_generate_key(NULL, &gen, at, KF_N(at), &aes), CKR_OK);
	kf_ec_pair(NULL, "P-521", tok, 1, tok, 1, &ecpub, &ecpriv);
	kf_rsa_pair(NULL, 2048, tok, 1, tok, 1, &rsapub, &rsapriv);
	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(p, aes), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(p, ecpub), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(p, ecpriv), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(p, rsapub), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(p, rsapriv), PED_OK);
	snprintf(path, sizeof(path), "%s/hsm-150001.state", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(hsm_save(h, path), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_file_read_bounded(path, 1u << 24, &file, &flen), PED_OK);
	/* grep the file for every secret */
	CU_ASSERT_FALSE(holds_attr(file, flen, aes, CKA_VALUE));
	CU_ASSERT_FALSE(holds_attr(file, flen, ecpriv, CKA_VALUE));
	CU_ASSERT_FALSE(holds_attr(file, flen, rsapriv, CKA_PRIVATE_EXPONENT));
	CU_ASSERT_FALSE(holds_attr(file, flen, rsapriv, CKA_PRIME_1));
	CU_ASSERT_FALSE(holds_attr(file, flen, rsapriv, CKA_PRIME_2));
	CU_ASSERT_FALSE(holds_attr(file, flen, rsapriv, CKA_COEFFICIENT));
	CU_ASSERT_FALSE(holds(file, flen, h->hoc_priv, sizeof(h->hoc_priv)));
	CU_ASSERT_FALSE(holds(file, flen, h->static_priv, sizeof(h->static_priv)));
	CU_ASSERT_FALSE(holds(file, flen, h->rpv, sizeof(h->rpv)));
	CU_ASSERT_FALSE(holds(file, flen, h->domain_key, sizeof(h->domain_key)));
	CU_ASSERT_FALSE(holds(file, flen, p->domain_key, sizeof(p->domain_key)));
	CU_ASSERT_FALSE(holds(file, flen, dom.secret, sizeof(dom.secret)));
	/* the public halves are there: only secrets are sealed */
	CU_ASSERT_TRUE(holds_attr(file, flen, rsapub, CKA_MODULUS));
	/* loaded back: the same keys */
	CU_ASSERT_EQUAL_FATAL(hsm_load(path, keyed(back), why, sizeof(why)), PED_OK);
	CU_ASSERT_TRUE(hsm_same_state(back, h));
	CU_ASSERT_TRUE(back->domain_key_set && back->partitions[0].domain_key_set);
	hsm_cleanse(back);
	/* another device secret, or none: refused, saying so */
	uint8_t wrong[HSM_DEVICE_SECRET_LEN] = "another HSM's device secret....";
	snprintf(back->serial, sizeof(back->serial), "%s", h->serial);
	CU_ASSERT_EQUAL(hsm_set_device_secret(back, wrong), PED_OK);
	CU_ASSERT_EQUAL(hsm_decode(file, flen, back, why, sizeof(why)), PED_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "device secret"));
	CU_ASSERT_FALSE(back->kek_set || back->npartitions);
	CU_ASSERT_EQUAL(hsm_decode(file, flen, back, why, sizeof(why)), PED_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "device secret"));
	/* the whole file is bound to the storage key: a verifier changed in
	 * clear, its checksum made good, does not load */
	size_t at_v = 0;
	for (size_t i = 0; !at_v && i + HSM_VERIFIER_LEN <= flen; i++)
		if (!memcmp(file + i, h->so.cred.verifier, HSM_VERIFIER_LEN))
			at_v = i;
	CU_ASSERT_FATAL(at_v != 0);
	file[at_v] ^= 1;
	unsigned int hl;
	CU_ASSERT_FATAL(EVP_Digest(file, flen - 32, file + flen - 32, &hl, EVP_sha256(), NULL) == 1);
	CU_ASSERT_EQUAL(hsm_decode(file, flen, keyed(back), why, sizeof(why)), PED_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "device secret"));
	/* hsm_encode writes nothing without a storage key */
	back->kek_set = 0;
	CU_ASSERT_EQUAL(hsm_encode(back, &buf, &len), PED_E_INVALID);
	hsm_cleanse(back);
	OPENSSL_clear_free(file, flen);
	OPENSSL_clear_free(back, sizeof(*back));
	hsm_zeroize(h);
}

/* The fuzz target's version 8 seeds (tests/tools/hsm_seeds) open under its
 * device secret and hold what the seed writer put there: the fuzzer starts
 * past the seals. */
static void sealed_seeds_open(void)
{
	struct hsm *back = OPENSSL_zalloc(sizeof(*back));
	static uint8_t buf[1 << 16];
	char path[1024], why[400];
	FILE *f;
	size_t n;
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/hsm_state/hsm-v8-keys", unit_source_dir());
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(path, "rb"));
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	CU_ASSERT_FATAL(n > 1 && buf[0] == 0);
	snprintf(back->serial, sizeof(back->serial), "150099");
	CU_ASSERT_EQUAL_FATAL(hsm_set_device_secret(back, (const uint8_t *)"openped fuzz device secret 32 b"), PED_OK);
	int r = hsm_decode(buf + 1, n - 1, back, why, sizeof(why));
	CU_ASSERT_EQUAL(r, PED_OK);
	if (r == PED_OK) {
		CU_ASSERT_TRUE(back->domain_key_set && back->npartitions == 2);
		CU_ASSERT_TRUE(back->partitions[0].domain_key_set && back->partitions[0].nobjs == 4);
		CU_ASSERT_FALSE(back->partitions[1].domain_key_set);
		CU_ASSERT_EQUAL(back->partitions[0].kp.v[HSM_KP_DATES], 1);
	} else {
		fprintf(stderr, "hsm-v8-keys: %s\n", why);
	}
	hsm_cleanse(back);
	OPENSSL_clear_free(back, sizeof(*back));
}

/* HSM policies 7, 16, 21 and 55, and partition policies 25 and 26, as the
 * reference has them: defaults, ranges, what does not apply, what erases. */
static void hsm_and_pin_length_policies(void)
{
	struct keyset so;
	struct hsm_partition *p;
	init_hsm(h, &so);
	CU_ASSERT_EQUAL(hsm_policy_value(h, 7), 1);
	CU_ASSERT_EQUAL(hsm_policy_value(h, 16), 1);
	CU_ASSERT_EQUAL(hsm_policy_value(h, 21), 1);
	CU_ASSERT_EQUAL(hsm_policy_value(h, 55), -1); /* not a backup HSM */
	CU_ASSERT_EQUAL(hsm_set_policy(h, 55, 1), PED_E_CANCEL);
	CU_ASSERT_EQUAL(hsm_set_policy(h, 12, 1), PED_E_NOT_FOUND);
	CU_ASSERT_EQUAL(hsm_set_policy(h, 21, 2), PED_E_RANGE);
	CU_ASSERT_EQUAL_FATAL(hsm_partition_create(h, "p1", &p), PED_OK);
	CU_ASSERT_FALSE(hsm_policy_erases(h, 21, 0));
	CU_ASSERT_EQUAL(hsm_set_policy(h, 21, 0), PED_OK);
	CU_ASSERT_EQUAL(h->npartitions, 1);
	CU_ASSERT_TRUE(hsm_policy_erases(h, 7, 0)); /* "Allow cloning" is destructive */
	CU_ASSERT_EQUAL(hsm_set_policy(h, 7, 0), PED_OK);
	CU_ASSERT_EQUAL(h->npartitions, 0);
	CU_ASSERT_EQUAL(hsm_policy_value(h, 7), 0);
	hsm_zeroize(h);
	CU_ASSERT_TRUE(h->allow_cloning && h->force_pin_change);
	h->is_backup = 1;
	CU_ASSERT_EQUAL(hsm_policy_value(h, 55), 0);
	CU_ASSERT_EQUAL(hsm_set_policy(h, 55, 1), PED_OK);
	h->is_backup = 0;

	CU_ASSERT_EQUAL_FATAL(hsm_partition_create(h, "p2", &p), PED_OK);
	CU_ASSERT_TRUE(hsm_pin_length_ok(p, 8) && hsm_pin_length_ok(p, 255));
	CU_ASSERT_FALSE(hsm_pin_length_ok(p, 7));
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, 25, 248), PED_E_RANGE); /* 7: under the capability */
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, 25, 245), PED_OK);     /* 10 characters */
	CU_ASSERT_FALSE(hsm_pin_length_ok(p, 9));
	CU_ASSERT_TRUE(hsm_pin_length_ok(p, 10));
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, 26, 9), PED_E_RANGE); /* under the minimum */
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, 26, 12), PED_OK);
	CU_ASSERT_FALSE(hsm_pin_length_ok(p, 13));
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, 25, 240), PED_E_RANGE); /* 15 over the maximum 12 */
}

UNIT_SUITE(hsm, setup, teardown, UNIT_TEST(identity_is_a_valid_chain),
	   UNIT_TEST(splits_combine_and_verify), UNIT_TEST(three_wrong_so_logins_zeroize_that_hsm_only),
	   UNIT_TEST(soft_init_keeps_the_auditor_zeroize_does_not),
	   UNIT_TEST(partition_limits), UNIT_TEST(objects_grow_copy_and_move), UNIT_TEST(cloning_stays_within_a_domain),
	   UNIT_TEST(restored_keys_sign_and_verify),
	   UNIT_TEST(state_files_round_trip_and_refuse_damage), UNIT_TEST(older_state_files_still_load),
	   UNIT_TEST(activation_is_saved_only_with_auto_activation), UNIT_TEST(hsm_and_pin_length_policies),
	   UNIT_TEST(files_of_earlier_versions_load), UNIT_TEST(sealed_seeds_open),
	   UNIT_TEST(state_files_seal_every_secret), UNIT_TEST(partition_policies_with_their_effects))
