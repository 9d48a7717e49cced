/* The cloning protocol between two hsm-sims (hsm/clonewire.h): what
 * crosses is opaque, and whatever the relay does to it (alter, cut, swap,
 * replay, mix two sessions) fails at the receiver, as does another domain
 * or an answer to another offer. */
#include "unit.h"

#include "hsm/ck.h"
#include "hsm/clonewire.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

#define NOBJ 3

static int contains(const uint8_t *hay, size_t n, const char *needle)
{
	size_t l = strlen(needle);
	for (size_t i = 0; i + l <= n; i++)
		if (!memcmp(hay + i, needle, l))
			return 1;
	return 0;
}

static uint8_t domain[HSM_KEY_LEN], other_domain[HSM_KEY_LEN];
static struct hsm_obj *objs[NOBJ];

static int setup(void)
{
	CK_OBJECT_CLASS data = CKO_DATA, secret = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_BBOOL yes = CK_TRUE;
	uint8_t key[32] = {1, 2, 3};
	char label[3][16] = {"master-key", "signing-key", "aes-key"};
	if (RAND_bytes(domain, sizeof(domain)) != 1 || RAND_bytes(other_domain, sizeof(other_domain)) != 1)
		return 1;
	for (int i = 0; i < 2; i++) {
		CK_ATTRIBUTE t[] = {{CKA_CLASS, &data, sizeof(data)},
				    {CKA_TOKEN, &yes, sizeof(yes)},
				    {CKA_LABEL, label[i], strlen(label[i])},
				    {CKA_VALUE, "value", 5}};
		if (hsm_obj_create(NULL, t, 4, &objs[i]) != CKR_OK)
			return 1;
		objs[i]->handle = (CK_OBJECT_HANDLE)(10 + i);
		objs[i]->ouid = 0x1000u + (uint64_t)i;
	}
	CK_ATTRIBUTE k[] = {{CKA_CLASS, &secret, sizeof(secret)}, {CKA_KEY_TYPE, &aes, sizeof(aes)},
			    {CKA_TOKEN, &yes, sizeof(yes)},     {CKA_LABEL, label[2], strlen(label[2])},
			    {CKA_VALUE, key, sizeof(key)}};
	if (hsm_obj_create(NULL, k, 5, &objs[2]) != CKR_OK)
		return 1;
	objs[2]->handle = 12;
	objs[2]->ouid = 0x1002;
	return 0;
}

static int teardown(void)
{
	for (int i = 0; i < NOBJ; i++)
		hsm_obj_free(objs[i]);
	return 0;
}

struct msg {
	uint8_t *p;
	size_t len;
};

/* A whole backup: the sender (source partition) offers, the Backup HSM
 * accepts under rdomain, then the objects and the trailer. */
struct run {
	struct hsm_cw s, r;
	struct msg offer, accept, obj[NOBJ], trailer;
	int accept_rc, confirm_rc;
};

static void run_free(struct run *x)
{
	hsm_cw_clear(&x->s);
	hsm_cw_clear(&x->r);
	OPENSSL_free(x->offer.p);
	OPENSSL_free(x->accept.p);
	for (int i = 0; i < NOBJ; i++)
		OPENSSL_free(x->obj[i].p);
	OPENSSL_free(x->trailer.p);
	memset(x, 0, sizeof(*x));
}

static void run_send(struct run *x, const uint8_t *rdomain)
{
	memset(x, 0, sizeof(*x));
	CU_ASSERT_EQUAL_FATAL(hsm_cw_init(&x->s, HSM_CW_BACKUP, HSM_CW_SENDER, domain, "154438865288", "P1"), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_cw_init(&x->r, HSM_CW_BACKUP, HSM_CW_RECEIVER, rdomain, "700101", "bk"), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_cw_offer(&x->s, &x->offer.p, &x->offer.len), PED_OK);
	x->accept_rc = hsm_cw_accept(&x->r, x->offer.p, x->offer.len, &x->accept.p, &x->accept.len);
	if (x->accept_rc != PED_OK)
		return;
	x->confirm_rc = hsm_cw_confirm(&x->s, x->accept.p, x->accept.len);
	if (x->confirm_rc != PED_OK)
		return;
	for (int i = 0; i < NOBJ; i++)
		CU_ASSERT_EQUAL_FATAL(hsm_cw_seal_object(&x->s, objs[i], &x->obj[i].p, &x->obj[i].len), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_cw_trailer(&x->s, &x->trailer.p, &x->trailer.len), PED_OK);
}

/* The receiver takes msgs in order: PED_OK when every one opened and the
 * last (the trailer) verified, else the first failure. */
static int receive(struct hsm_cw *r, struct msg *const *msgs, size_t n, int *opened)
{
	*opened = 0;
	for (size_t i = 0; i < n; i++) {
		int rc;
		if (hsm_cw_kind(msgs[i]->p, msgs[i]->len) == HSM_CW_TRAILER) {
			rc = hsm_cw_check_trailer(r, msgs[i]->p, msgs[i]->len);
		} else {
			struct hsm_obj *o = NULL;
			uint64_t from = 0;
			rc = hsm_cw_open_object(r, msgs[i]->p, msgs[i]->len, &o, &from);
			if (rc == PED_OK) {
				CU_ASSERT_EQUAL(o->ouid, objs[*opened]->ouid);
				CU_ASSERT_EQUAL(from, objs[*opened]->handle);
				hsm_obj_free(o);
				(*opened)++;
			}
		}
		if (rc != PED_OK)
			return rc;
	}
	return PED_OK;
}

static void whole_stream_verifies(void)
{
	struct run x;
	int n;
	run_send(&x, domain);
	CU_ASSERT_EQUAL(x.accept_rc, PED_OK);
	CU_ASSERT_EQUAL(x.confirm_rc, PED_OK);
	struct msg *m[] = {&x.obj[0], &x.obj[1], &x.obj[2], &x.trailer};
	CU_ASSERT_EQUAL(receive(&x.r, m, 4, &n), PED_OK);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_STRING_EQUAL(x.r.peer_serial, "154438865288");
	CU_ASSERT_STRING_EQUAL(x.r.peer_partition, "P1");
	CU_ASSERT_STRING_EQUAL(x.s.peer_serial, "700101");
	/* the relay sees no label and no value */
	for (int i = 0; i < NOBJ; i++) {
		CU_ASSERT_FALSE(contains(x.obj[i].p, x.obj[i].len, "key"));
		CU_ASSERT_FALSE(contains(x.obj[i].p, x.obj[i].len, "value"));
	}
	run_free(&x);
}

static void another_domain_is_refused_at_the_offer(void)
{
	struct run x;
	run_send(&x, other_domain);
	CU_ASSERT_EQUAL(x.accept_rc, PED_E_CERTIFICATE_INVALID);
	CU_ASSERT_PTR_NULL(x.accept.p);
	run_free(&x);
}

static void tampered_object_fails(void)
{
	struct run x;
	int n;
	run_send(&x, domain);
	x.obj[1].p[x.obj[1].len - 20] ^= 0x01; /* in the ciphertext */
	struct msg *m[] = {&x.obj[0], &x.obj[1], &x.obj[2], &x.trailer};
	CU_ASSERT_EQUAL(receive(&x.r, m, 4, &n), PED_E_BAD_RECORD);
	CU_ASSERT_EQUAL(n, 1);
	run_free(&x);

	run_send(&x, domain);
	x.obj[0].p[4] ^= 0x01; /* its sequence number */
	struct msg *m2[] = {&x.obj[0]};
	CU_ASSERT_EQUAL(receive(&x.r, m2, 1, &n), PED_E_REPLAY);
	run_free(&x);

	run_send(&x, domain);
	x.trailer.p[x.trailer.len - 1] ^= 0x80;
	struct msg *m3[] = {&x.obj[0], &x.obj[1], &x.obj[2], &x.trailer};
	CU_ASSERT_EQUAL(receive(&x.r, m3, 4, &n), PED_E_BAD_RECORD);
	run_free(&x);
}

static void truncated_stream_fails(void)
{
	struct run x;
	int n;
	run_send(&x, domain);
	/* the last object dropped: the trailer was made for three */
	struct msg *m[] = {&x.obj[0], &x.obj[1], &x.trailer};
	CU_ASSERT_NOT_EQUAL(receive(&x.r, m, 3, &n), PED_OK);
	run_free(&x);

	run_send(&x, domain);
	/* a message cut short */
	x.obj[0].len -= 1;
	struct msg *m2[] = {&x.obj[0]};
	CU_ASSERT_NOT_EQUAL(receive(&x.r, m2, 1, &n), PED_OK);
	x.obj[0].len += 1;
	run_free(&x);

	run_send(&x, domain);
	x.obj[0].len = 5;
	CU_ASSERT_EQUAL(receive(&x.r, m2, 1, &n), PED_E_CORRUPT);
	x.obj[0].len = 0;
	CU_ASSERT_EQUAL(receive(&x.r, m2, 1, &n), PED_E_CORRUPT);
	run_free(&x);
}

static void reordered_stream_fails(void)
{
	struct run x;
	int n;
	run_send(&x, domain);
	struct msg *m[] = {&x.obj[1], &x.obj[0], &x.obj[2], &x.trailer};
	CU_ASSERT_EQUAL(receive(&x.r, m, 4, &n), PED_E_REPLAY);
	CU_ASSERT_EQUAL(n, 0);
	run_free(&x);

	/* an object twice: its second copy is out of sequence */
	run_send(&x, domain);
	struct msg *d[] = {&x.obj[0], &x.obj[0]};
	CU_ASSERT_EQUAL(receive(&x.r, d, 2, &n), PED_E_REPLAY);
	run_free(&x);
}

static void replayed_or_mixed_sessions_fail(void)
{
	struct run a, b;
	int n;
	run_send(&a, domain);
	run_send(&b, domain);
	/* b's receiver given a's objects (an old stream replayed into a new session) */
	struct msg *m[] = {&a.obj[0], &a.obj[1], &a.obj[2], &a.trailer};
	CU_ASSERT_EQUAL(receive(&b.r, m, 4, &n), PED_E_BAD_RECORD);
	CU_ASSERT_EQUAL(n, 0);
	/* a's own objects with b's trailer (two sessions mixed) */
	struct msg *mix[] = {&a.obj[0], &a.obj[1], &a.obj[2], &b.trailer};
	CU_ASSERT_EQUAL(receive(&a.r, mix, 4, &n), PED_E_BAD_RECORD);
	CU_ASSERT_EQUAL(n, 3);
	run_free(&a);
	run_free(&b);
}

static void answer_to_another_offer_fails(void)
{
	struct run a, b;
	run_send(&a, domain);
	run_send(&b, domain);
	/* the sender of b confirms a's accept: made for another offer (another nonce) */
	struct hsm_cw s;
	uint8_t *offer = NULL;
	size_t len = 0;
	CU_ASSERT_EQUAL_FATAL(hsm_cw_init(&s, HSM_CW_BACKUP, HSM_CW_SENDER, domain, "154438865288", "P1"), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_cw_offer(&s, &offer, &len), PED_OK);
	CU_ASSERT_EQUAL(hsm_cw_confirm(&s, a.accept.p, a.accept.len), PED_E_CERTIFICATE_INVALID);
	/* and no object can then be sealed */
	uint8_t *m = NULL;
	size_t ml = 0;
	CU_ASSERT_EQUAL(hsm_cw_seal_object(&s, objs[0], &m, &ml), PED_E_INVALID);
	OPENSSL_free(offer);
	hsm_cw_clear(&s);
	/* an accept whose nonce was changed in transit */
	CU_ASSERT_EQUAL_FATAL(hsm_cw_init(&s, HSM_CW_BACKUP, HSM_CW_SENDER, domain, "154438865288", "P1"), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_cw_offer(&s, &offer, &len), PED_OK);
	struct hsm_cw r;
	uint8_t *acc = NULL;
	size_t al = 0;
	CU_ASSERT_EQUAL_FATAL(hsm_cw_init(&r, HSM_CW_BACKUP, HSM_CW_RECEIVER, domain, "700101", ""), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_cw_accept(&r, offer, len, &acc, &al), PED_OK);
	acc[al - HSM_CW_TAG_LEN - 1] ^= 0x01; /* the nonce's last byte */
	CU_ASSERT_EQUAL(hsm_cw_confirm(&s, acc, al), PED_E_CERTIFICATE_INVALID);
	OPENSSL_free(acc);
	OPENSSL_free(offer);
	hsm_cw_clear(&r);
	hsm_cw_clear(&s);
	run_free(&a);
	run_free(&b);
}

static void offers_must_match_purpose_and_role(void)
{
	struct hsm_cw s, r;
	uint8_t *offer = NULL, *acc = NULL;
	size_t len = 0, al = 0;
	/* a restore's offer is not a backup's */
	CU_ASSERT_EQUAL_FATAL(hsm_cw_init(&s, HSM_CW_RESTORE, HSM_CW_RECEIVER, domain, "154438865288", "P1"), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_cw_offer(&s, &offer, &len), PED_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_cw_init(&r, HSM_CW_BACKUP, HSM_CW_RECEIVER, domain, "700101", ""), PED_OK);
	CU_ASSERT_EQUAL(hsm_cw_accept(&r, offer, len, &acc, &al), PED_E_CORRUPT);
	hsm_cw_clear(&r);
	/* the restore's sender takes it */
	CU_ASSERT_EQUAL_FATAL(hsm_cw_init(&r, HSM_CW_RESTORE, HSM_CW_SENDER, domain, "700101", "bk"), PED_OK);
	CU_ASSERT_EQUAL(hsm_cw_accept(&r, offer, len, &acc, &al), PED_OK);
	CU_ASSERT_EQUAL(hsm_cw_confirm(&s, acc, al), PED_OK);
	OPENSSL_free(acc);
	hsm_cw_clear(&r);
	/* the same HSM on both ends is not a cloning between two */
	CU_ASSERT_EQUAL_FATAL(hsm_cw_init(&r, HSM_CW_RESTORE, HSM_CW_SENDER, domain, "154438865288", "bk"), PED_OK);
	CU_ASSERT_EQUAL(hsm_cw_accept(&r, offer, len, &acc, &al), PED_E_CORRUPT);
	hsm_cw_clear(&r);
	/* names that are not printable, serials that are not digits */
	CU_ASSERT_EQUAL(hsm_cw_init(&r, HSM_CW_RESTORE, HSM_CW_SENDER, domain, "12a", ""), PED_E_INVALID);
	CU_ASSERT_EQUAL(hsm_cw_init(&r, HSM_CW_RESTORE, HSM_CW_SENDER, domain, "12", "a\nb"), PED_E_INVALID);
	OPENSSL_free(offer);
	hsm_cw_clear(&s);
}

UNIT_SUITE(clonewire, setup, teardown, UNIT_TEST(whole_stream_verifies), UNIT_TEST(another_domain_is_refused_at_the_offer),
	   UNIT_TEST(tampered_object_fails), UNIT_TEST(truncated_stream_fails), UNIT_TEST(reordered_stream_fails),
	   UNIT_TEST(replayed_or_mixed_sessions_fail), UNIT_TEST(answer_to_another_offer_fails),
	   UNIT_TEST(offers_must_match_purpose_and_role))
