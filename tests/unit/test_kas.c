#include "unit.h"

#include "kas_fixture.h"
#include "ped/ec.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <string.h>

static struct hsm_identity hsm, other;
static const uint8_t rpv[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t wrong_rpv[32] = "0123456789abcdef0123456789abcdeX";

static int setup(void)
{
	return fixture_identity(&hsm, "150000") || fixture_identity(&other, "150001");
}

static int teardown(void)
{
	fixture_identity_free(&hsm);
	fixture_identity_free(&other);
	return 0;
}

struct pair {
	struct ped_kas *u, *v;
};

static void make_pair(struct pair *p, enum ped_kas_scheme s, const uint8_t *u_secret, size_t ul,
		      const uint8_t *v_secret, size_t vl, X509 *u_anchor, X509 *u_cert, EVP_PKEY *u_key)
{
	struct ped_kas_params up = {PED_KAS_U, s, "PED:0000000000000001", NULL, NULL, u_anchor,
				    u_secret, ul, NULL, NULL, NULL, NULL, 0, NULL};
	struct ped_kas_params vp = {PED_KAS_V, s, "HSM:150000", hsm.static_key, hsm.static_cert,
				    hsm.hoc, v_secret, vl, NULL, NULL, NULL, NULL, 0, NULL};
	if (s == PED_KAS_2E2S) {
		up.static_key = u_key;
		up.static_cert = u_cert;
	}
	CU_ASSERT_EQUAL_FATAL(ped_kas_new(&up, &p->u), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_kas_new(&vp, &p->v), PED_OK);
}

static void free_pair(struct pair *p)
{
	ped_kas_free(p->u);
	ped_kas_free(p->v);
}

static void expect_matching_keys(struct pair *p)
{
	struct ped_channel_keys ku, kv;
	CU_ASSERT_TRUE(ped_kas_done(p->u));
	CU_ASSERT_TRUE(ped_kas_done(p->v));
	CU_ASSERT_EQUAL_FATAL(ped_kas_take_keys(p->u, &ku), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_kas_take_keys(p->v, &kv), PED_OK);
	CU_ASSERT(memcmp(&ku.tx, &kv.rx, sizeof(ku.tx)) == 0);
	CU_ASSERT(memcmp(&ku.rx, &kv.tx, sizeof(ku.rx)) == 0);
	CU_ASSERT(memcmp(ku.tx.dek, ku.rx.dek, PED_DEK_LEN) != 0);
	CU_ASSERT(memcmp(ku.tx.cwk, ku.rx.cwk, PED_CWK_LEN) != 0);
	CU_ASSERT_EQUAL(ped_kas_take_keys(p->u, &ku), PED_E_INVALID); /* taken once */
	ped_channel_keys_cleanse(&ku);
	ped_channel_keys_cleanse(&kv);
	CU_ASSERT_STRING_EQUAL(ped_kas_peer_id(p->v), "PED:0000000000000001");
	CU_ASSERT_STRING_EQUAL(ped_kas_peer_id(p->u), "HSM:150000");
}

static void local_1e1s_agrees(void)
{
	struct pair p;
	int ue, ve;
	make_pair(&p, PED_KAS_1E1S, NULL, 0, NULL, 0, NULL, NULL, NULL);
	CU_ASSERT_EQUAL(fixture_run(p.u, p.v, NULL, NULL, &ue, &ve), PED_OK);
	expect_matching_keys(&p);
	free_pair(&p);
	/* with the HOC known in advance too */
	make_pair(&p, PED_KAS_1E1S, NULL, 0, NULL, 0, hsm.hoc, NULL, NULL);
	CU_ASSERT_EQUAL(fixture_run(p.u, p.v, NULL, NULL, &ue, &ve), PED_OK);
	expect_matching_keys(&p);
	free_pair(&p);
}

static void remote_1e1s_password(void)
{
	struct pair p;
	int ue, ve;
	make_pair(&p, PED_KAS_1E1S, (const uint8_t *)"12345678", 8, (const uint8_t *)"12345678", 8,
		  NULL, NULL, NULL);
	CU_ASSERT_EQUAL(fixture_run(p.u, p.v, NULL, NULL, &ue, &ve), PED_OK);
	expect_matching_keys(&p);
	free_pair(&p);
	/* wrong password: V's check of U's tag fails; V alerts U; both report it */
	make_pair(&p, PED_KAS_1E1S, (const uint8_t *)"12345679", 8, (const uint8_t *)"12345678", 8,
		  NULL, NULL, NULL);
	CU_ASSERT_EQUAL(fixture_run(p.u, p.v, NULL, NULL, &ue, &ve), PED_E_KEY_CONFIRM);
	CU_ASSERT_EQUAL(ue, PED_E_KEY_CONFIRM);
	CU_ASSERT_EQUAL(ve, PED_E_KEY_CONFIRM);
	CU_ASSERT_FALSE(ped_kas_done(p.u));
	free_pair(&p);
}

/* Whoever plays the PED against a zeroized HSM learns nothing it could test
 * password guesses against offline: V keeps tag_V until U's tag checks. */
static void hsm_gives_no_password_oracle(void)
{
	struct pair p;
	struct ped_kas_out hello, from_u, from_v;

	make_pair(&p, PED_KAS_1E1S, (const uint8_t *)"00000000", 8, (const uint8_t *)"12345678", 8,
		  NULL, NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(ped_kas_start(p.v, &hello), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_kas_input(p.u, hello.msg[0], hello.len[0], &from_u), PED_OK);
	CU_ASSERT_EQUAL_FATAL(from_u.count, 2);
	CU_ASSERT_EQUAL(from_u.msg[0][0], PED_KAS_KEYSHARE_U);
	CU_ASSERT_EQUAL(from_u.msg[1][0], PED_KAS_CONFIRM_U);
	/* a bare KEYSHARE_U gets no answer */
	CU_ASSERT_EQUAL(ped_kas_input(p.v, from_u.msg[0], from_u.len[0], &from_v), PED_OK);
	CU_ASSERT_EQUAL(from_v.count, 0);
	CU_ASSERT_FALSE(ped_kas_done(p.v));
	/* a guessed password gets an ALERT, never CONFIRM_V */
	CU_ASSERT_EQUAL(ped_kas_input(p.v, from_u.msg[1], from_u.len[1], &from_v), PED_E_KEY_CONFIRM);
	CU_ASSERT_EQUAL_FATAL(from_v.count, 1);
	CU_ASSERT_EQUAL(from_v.msg[0][0], PED_KAS_ALERT);
	CU_ASSERT_EQUAL(ped_kas_alert_error(from_v.msg[0], from_v.len[0]), PED_E_KEY_CONFIRM);
	ped_kas_out_clear(&from_v);
	/* and V is finished with this password: a second tag is not checked */
	CU_ASSERT_EQUAL(ped_kas_input(p.v, from_u.msg[1], from_u.len[1], &from_v), PED_E_KEY_CONFIRM);
	CU_ASSERT_EQUAL(from_v.count, 0);
	ped_kas_out_clear(&hello);
	ped_kas_out_clear(&from_u);
	ped_kas_out_clear(&from_v);
	free_pair(&p);
}

static void full_unified_2e2s(void)
{
	struct pair p;
	int ue, ve;
	make_pair(&p, PED_KAS_2E2S, rpv, 32, rpv, 32, hsm.hoc, hsm.rpv_cert, hsm.rpv_key);
	CU_ASSERT_EQUAL(fixture_run(p.u, p.v, NULL, NULL, &ue, &ve), PED_OK);
	expect_matching_keys(&p);
	free_pair(&p);
	/* wrong RPV: V catches U's tag, before sending its own; both report it */
	make_pair(&p, PED_KAS_2E2S, wrong_rpv, 32, rpv, 32, hsm.hoc, hsm.rpv_cert, hsm.rpv_key);
	CU_ASSERT_EQUAL(fixture_run(p.u, p.v, NULL, NULL, &ue, &ve), PED_E_KEY_CONFIRM);
	CU_ASSERT_EQUAL(ve, PED_E_KEY_CONFIRM);
	CU_ASSERT_EQUAL(ue, PED_E_KEY_CONFIRM);
	free_pair(&p);
}

static void wrong_certificates_are_refused(void)
{
	struct pair p;
	int ue, ve;
	/* the PED trusts another HSM's root: V's static key does not chain to it */
	make_pair(&p, PED_KAS_2E2S, rpv, 32, rpv, 32, other.hoc, hsm.rpv_cert, hsm.rpv_key);
	CU_ASSERT_EQUAL(fixture_run(p.u, p.v, NULL, NULL, &ue, &ve), PED_E_CERTIFICATE_INVALID);
	CU_ASSERT_EQUAL(ue, PED_E_CERTIFICATE_INVALID);
	CU_ASSERT_EQUAL(ve, PED_E_CERTIFICATE_INVALID);
	free_pair(&p);
	/* an orange key made by another HSM: V refuses U's static certificate */
	make_pair(&p, PED_KAS_2E2S, rpv, 32, rpv, 32, hsm.hoc, other.rpv_cert, other.rpv_key);
	CU_ASSERT_EQUAL(fixture_run(p.u, p.v, NULL, NULL, &ue, &ve), PED_E_CERTIFICATE_INVALID);
	CU_ASSERT_EQUAL(ve, PED_E_CERTIFICATE_INVALID);
	free_pair(&p);
	/* 1e1s with a known HOC and an HSM presenting another root */
	make_pair(&p, PED_KAS_1E1S, NULL, 0, NULL, 0, other.hoc, NULL, NULL);
	CU_ASSERT_EQUAL(fixture_run(p.u, p.v, NULL, NULL, &ue, &ve), PED_E_CERTIFICATE_INVALID);
	free_pair(&p);
}

/* Flips one bit of one message (dir, index, bit). */
struct flip {
	int dir, index;
	size_t bit;
	int done;
};

static void flip_bit(int dir, int index, uint8_t *msg, size_t *len, void *arg)
{
	struct flip *f = arg;
	if (dir == f->dir && index == f->index && f->bit / 8 < *len) {
		msg[f->bit / 8] ^= (uint8_t)(1u << (f->bit % 8));
		f->done = 1;
	}
}

static void every_flipped_bit_fails(void)
{
	/* messages: V->U #0 HELLO_V, U->V #0 KEYSHARE_U, U->V #1 CONFIRM_U, V->U #1 CONFIRM_V */
	struct {
		int dir, index;
	} msgs[] = {{1, 0}, {0, 0}, {0, 1}, {1, 1}};
	int failures = 0, runs = 0;
	for (size_t m = 0; m < 4; m++) {
		/* about 60 bits spread over each message, one in every field */
		for (size_t i = 0; i < 60; i++) {
			struct pair p;
			size_t span = msgs[m].dir == 1 && msgs[m].index == 0 ? 1300 : 300;
			struct flip f = {msgs[m].dir, msgs[m].index, (i * span / 60) * 8 + i % 8, 0};
			int ue, ve;
			make_pair(&p, PED_KAS_2E2S, rpv, 32, rpv, 32, hsm.hoc, hsm.rpv_cert, hsm.rpv_key);
			int r = fixture_run(p.u, p.v, flip_bit, &f, &ue, &ve);
			if (f.done) {
				runs++;
				/* no tampered handshake may end with both sides done */
				if (r != PED_OK && !(ped_kas_done(p.u) && ped_kas_done(p.v)))
					failures++;
				else
					CU_FAIL("a flipped bit went unnoticed");
			}
			free_pair(&p);
		}
	}
	CU_ASSERT(runs > 100);
	CU_ASSERT_EQUAL(failures, runs);
}

struct cut {
	int dir, index;
	size_t keep;
	int done;
};

static void truncate_msg(int dir, int index, uint8_t *msg, size_t *len, void *arg)
{
	struct cut *c = arg;
	(void)msg;
	if (dir == c->dir && index == c->index && c->keep < *len) {
		*len = c->keep;
		c->done = 1;
	}
}

static void every_truncation_fails(void)
{
	struct {
		int dir, index;
	} msgs[] = {{1, 0}, {0, 0}, {0, 1}, {1, 1}};
	for (size_t m = 0; m < 4; m++)
		for (size_t keep = 1;; keep++) {
			struct pair p;
			struct cut c = {msgs[m].dir, msgs[m].index, keep, 0};
			int ue, ve;
			make_pair(&p, PED_KAS_2E2S, rpv, 32, rpv, 32, hsm.hoc, hsm.rpv_cert, hsm.rpv_key);
			int r = fixture_run(p.u, p.v, truncate_msg, &c, &ue, &ve);
			free_pair(&p);
			if (!c.done)
				break;
			CU_ASSERT_NOT_EQUAL(r, PED_OK);
			if (keep > 8)
				keep += 37; /* long messages: sample, but every field */
		}
}

static uint8_t *saved_hello;
static size_t saved_len;

static void save_hello(int dir, int index, uint8_t *msg, size_t *len, void *arg)
{
	(void)arg;
	if (dir == 1 && index == 0 && !saved_hello) {
		saved_hello = OPENSSL_memdup(msg, *len);
		saved_len = *len;
	}
}

static void replay_hello(int dir, int index, uint8_t *msg, size_t *len, void *arg)
{
	(void)arg;
	if (dir == 1 && index == 0 && saved_len == *len)
		memcpy(msg, saved_hello, *len);
}

static void replayed_hello_from_another_session_fails(void)
{
	struct pair p;
	int ue, ve;
	make_pair(&p, PED_KAS_2E2S, rpv, 32, rpv, 32, hsm.hoc, hsm.rpv_cert, hsm.rpv_key);
	CU_ASSERT_EQUAL(fixture_run(p.u, p.v, save_hello, NULL, &ue, &ve), PED_OK);
	free_pair(&p);
	make_pair(&p, PED_KAS_2E2S, rpv, 32, rpv, 32, hsm.hoc, hsm.rpv_cert, hsm.rpv_key);
	CU_ASSERT_NOT_EQUAL(fixture_run(p.u, p.v, replay_hello, NULL, &ue, &ve), PED_OK);
	CU_ASSERT_EQUAL(ve, PED_E_KEY_CONFIRM);
	free_pair(&p);
	OPENSSL_free(saved_hello);
	saved_hello = NULL;
}

static void off_curve_point(int dir, int index, uint8_t *msg, size_t *len, void *arg)
{
	(void)arg;
	/* KEYSHARE_U: type, u16 id length, id, then the point; corrupt Y */
	if (dir == 0 && index == 0) {
		size_t idl = (size_t)msg[1] << 8 | msg[2];
		msg[3 + idl + 132] ^= 1;
	}
	(void)len;
}

static void point_not_on_curve_is_refused(void)
{
	struct pair p;
	int ue, ve;
	make_pair(&p, PED_KAS_1E1S, NULL, 0, NULL, 0, NULL, NULL, NULL);
	CU_ASSERT_EQUAL(fixture_run(p.u, p.v, off_curve_point, NULL, &ue, &ve), PED_E_HANDSHAKE);
	CU_ASSERT_EQUAL(ve, PED_E_HANDSHAKE);
	free_pair(&p);
}

/* An ALERT ends the handshake whatever it says: one claiming success (code 0,
 * as a relay may forge) or malformed is PED_E_HANDSHAKE, never a handshake
 * left waiting for a message that will not come. */
static void an_alert_always_ends_the_handshake(void)
{
	static const struct {
		uint8_t msg[PED_KAS_ALERT_LEN + 1];
		size_t len;
		int want;
	} cases[] = {
		{{PED_KAS_ALERT, 0, 0, 0, 0}, PED_KAS_ALERT_LEN, PED_E_HANDSHAKE},
		{{PED_KAS_ALERT, 0xff, 0xff, 0xff, 0xff}, PED_KAS_ALERT_LEN, PED_E_HANDSHAKE},
		{{PED_KAS_ALERT, 0, 0}, 3, PED_E_HANDSHAKE},
		{{PED_KAS_ALERT, 0, 0, 0, 0, 0}, PED_KAS_ALERT_LEN + 1, PED_E_HANDSHAKE},
		{{0}, 0, PED_E_KEY_CONFIRM}, /* filled in below: the peer's own reason */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pair p;
		struct ped_kas_out out = {0};
		uint8_t msg[PED_KAS_ALERT_LEN + 1];
		size_t len = cases[i].len;

		memcpy(msg, cases[i].msg, sizeof(msg));
		if (!len) {
			ped_kas_alert_encode(PED_E_KEY_CONFIRM, msg);
			len = PED_KAS_ALERT_LEN;
		}
		make_pair(&p, PED_KAS_1E1S, NULL, 0, NULL, 0, NULL, NULL, NULL);
		CU_ASSERT_EQUAL(ped_kas_start(p.v, &out), PED_OK);
		ped_kas_out_clear(&out);
		CU_ASSERT_EQUAL(ped_kas_input(p.v, msg, len, &out), cases[i].want);
		CU_ASSERT_EQUAL(ped_kas_error(p.v), cases[i].want);
		CU_ASSERT_EQUAL(out.count, 0); /* no ALERT back for an ALERT */
		CU_ASSERT_FALSE(ped_kas_done(p.v));
		ped_kas_out_clear(&out);
		free_pair(&p);
	}
}

static void parameters_are_checked(void)
{
	struct ped_kas *k;
	struct ped_kas_params p = {PED_KAS_V, PED_KAS_1E1S, "HSM:1", NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, 0, NULL};
	CU_ASSERT_EQUAL(ped_kas_new(&p, &k), PED_E_INVALID); /* V needs its keys */
	p.role = PED_KAS_U;
	p.scheme = PED_KAS_2E2S;
	CU_ASSERT_EQUAL(ped_kas_new(&p, &k), PED_E_INVALID); /* 2e2s needs RPV and key */
	p.scheme = PED_KAS_1E1S;
	p.id = "";
	CU_ASSERT_EQUAL(ped_kas_new(&p, &k), PED_E_INVALID);
}

/* The PED reads who V says it is before it asks its operator anything. */
static void hello_peek_shows_what_v_offers(void)
{
	struct pair p;
	struct ped_kas_out out;
	enum ped_kas_scheme sch = 0;
	char id[PED_KAS_ID_MAX + 1];
	X509 *hoc = NULL;

	for (int s = PED_KAS_1E1S; s <= PED_KAS_2E2S; s++) {
		make_pair(&p, (enum ped_kas_scheme)s, rpv, sizeof(rpv), rpv, sizeof(rpv), hsm.hoc, hsm.rpv_cert,
			  hsm.rpv_key);
		CU_ASSERT_EQUAL_FATAL(ped_kas_start(p.v, &out), PED_OK);
		CU_ASSERT_EQUAL(ped_kas_hello_peek(out.msg[0], out.len[0], NULL, NULL, &sch, id, NULL, &hoc), PED_OK);
		CU_ASSERT_EQUAL((int)sch, s);
		CU_ASSERT_STRING_EQUAL(id, "HSM:150000");
		CU_ASSERT_PTR_NOT_NULL_FATAL(hoc);
		CU_ASSERT_EQUAL(X509_cmp(hoc, hsm.hoc), 0);
		X509_free(hoc);
		/* every truncation, and another message type, is refused with nothing to free */
		for (size_t cut = 0; cut < out.len[0]; cut += 7) {
			hoc = NULL;
			CU_ASSERT_NOT_EQUAL(ped_kas_hello_peek(out.msg[0], cut, NULL, NULL, &sch, id, NULL, &hoc), PED_OK);
			CU_ASSERT_PTR_NULL(hoc);
		}
		out.msg[0][0] = PED_KAS_KEYSHARE_U;
		CU_ASSERT_EQUAL(ped_kas_hello_peek(out.msg[0], out.len[0], NULL, NULL, &sch, id, NULL, &hoc), PED_E_HANDSHAKE);
		ped_kas_out_clear(&out);
		free_pair(&p);
	}
}

/* Certificates already decoded (the last session's, the peek's) are taken
 * only where the HELLO_V carries their very bytes: another HSM's, handed in,
 * are passed over and the message's own are decoded and checked. */
static void known_certificates_only_for_their_own_bytes(void)
{
	struct ped_kas_out out;
	enum ped_kas_scheme sch;
	char id[PED_KAS_ID_MAX + 1];
	X509 *cert = NULL, *hoc = NULL, *cert2 = NULL, *hoc2 = NULL;
	struct ped_kas *v = NULL, *u = NULL;
	int ue, ve;

	struct ped_kas_params vp = {PED_KAS_V, PED_KAS_2E2S, "HSM:150000", hsm.static_key, hsm.static_cert,
				    hsm.hoc, rpv, sizeof(rpv), NULL, NULL, NULL, NULL, 0, NULL};
	CU_ASSERT_EQUAL_FATAL(ped_kas_new(&vp, &v), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_kas_start(v, &out), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_kas_hello_peek(out.msg[0], out.len[0], NULL, NULL, &sch, id, &cert, &hoc), PED_OK);
	CU_ASSERT_EQUAL(X509_cmp(cert, hsm.static_cert), 0);
	CU_ASSERT_EQUAL(X509_cmp(hoc, hsm.hoc), 0);
	/* the same bytes again: the same objects, not decoded anew */
	CU_ASSERT_EQUAL(ped_kas_hello_peek(out.msg[0], out.len[0], cert, hoc, &sch, id, &cert2, &hoc2), PED_OK);
	CU_ASSERT_PTR_EQUAL(cert2, cert);
	CU_ASSERT_PTR_EQUAL(hoc2, hoc);
	X509_free(cert2);
	X509_free(hoc2);
	/* another HSM's: passed over */
	CU_ASSERT_EQUAL(ped_kas_hello_peek(out.msg[0], out.len[0], other.static_cert, other.hoc, &sch, id, &cert2,
					   &hoc2),
			PED_OK);
	CU_ASSERT_PTR_NOT_EQUAL(cert2, other.static_cert);
	CU_ASSERT_PTR_NOT_EQUAL(hoc2, other.hoc);
	CU_ASSERT_EQUAL(X509_cmp(cert2, hsm.static_cert), 0);
	CU_ASSERT_EQUAL(X509_cmp(hoc2, hsm.hoc), 0);
	X509_free(cert2);
	X509_free(hoc2);
	ped_kas_out_clear(&out);
	ped_kas_free(v);

	/* U with the peek's certificates runs on them; with another HSM's it
	 * decodes the message's own, and either way the handshake agrees */
	for (int mine = 1; mine >= 0; mine--) {
		struct ped_kas_params up = {PED_KAS_U, PED_KAS_2E2S, "PED:0000000000000001", hsm.rpv_key,
					    hsm.rpv_cert, hsm.hoc, rpv, sizeof(rpv), NULL, NULL,
					    mine ? cert : other.static_cert, mine ? hoc : other.hoc, 0, NULL};
		CU_ASSERT_EQUAL_FATAL(ped_kas_new(&vp, &v), PED_OK);
		CU_ASSERT_EQUAL_FATAL(ped_kas_new(&up, &u), PED_OK);
		CU_ASSERT_EQUAL(fixture_run(u, v, NULL, NULL, &ue, &ve), PED_OK);
		CU_ASSERT_TRUE(ped_kas_done(u));
		CU_ASSERT_EQUAL(X509_cmp(ped_kas_peer_cert(u), hsm.static_cert), 0);
		if (mine) {
			CU_ASSERT_PTR_EQUAL(ped_kas_peer_cert(u), cert);
		} else {
			CU_ASSERT_PTR_NOT_EQUAL(ped_kas_peer_cert(u), other.static_cert);
		}
		ped_kas_free(u);
		ped_kas_free(v);
	}
	X509_free(cert);
	X509_free(hoc);
}

/* keyshare_first (what ped_link's handshakes use): U's KEYSHARE_U leaves
 * alone, V works on it while U derives, and ped_kas_continue gives the
 * CONFIRM_U that went with it before; the ephemeral keys made ahead are the
 * ones the messages carry, and a handshake holds its own reference. */
/* Keys marked with eph_mark() count in eph_gone when their last reference goes. */
static int eph_index = -1, eph_gone;
static char eph_marker;

static void eph_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (ptr == &eph_marker)
		eph_gone++;
}

static void eph_mark(EVP_PKEY *k)
{
	if (eph_index < 0)
		eph_index = EVP_PKEY_get_ex_new_index(0, NULL, NULL, NULL, eph_free_cb);
	CU_ASSERT_FATAL(eph_index >= 0 && EVP_PKEY_set_ex_data(k, eph_index, &eph_marker) == 1);
}

static void keyshare_first_with_keys_made_ahead(void)
{
	for (int s = PED_KAS_1E1S; s <= PED_KAS_2E2S; s++) {
		EVP_PKEY *ue = NULL, *ve = NULL;
		uint8_t q_u[PED_EC_POINT_LEN], q_v[PED_EC_POINT_LEN];
		struct ped_kas_out hello, ks, confirm_u, none, confirm_v, done;
		struct pair p;
		const uint8_t *secret = s == PED_KAS_2E2S ? rpv : (const uint8_t *)"12345678";
		size_t sl = s == PED_KAS_2E2S ? sizeof(rpv) : 8;
		struct ped_kas_params up = {PED_KAS_U, s, "PED:0000000000000001", NULL, NULL, hsm.hoc,
					    secret, sl, NULL, NULL, NULL, NULL, 1, NULL};
		struct ped_kas_params vp = {PED_KAS_V, s, "HSM:150000", hsm.static_key, hsm.static_cert,
					    hsm.hoc, secret, sl, NULL, NULL, NULL, NULL, 0, NULL};

		CU_ASSERT_EQUAL_FATAL(ped_ec_generate(&ue), PED_OK);
		CU_ASSERT_EQUAL_FATAL(ped_ec_generate(&ve), PED_OK);
		CU_ASSERT_EQUAL_FATAL(ped_ec_pub_export(ue, q_u), PED_OK);
		CU_ASSERT_EQUAL_FATAL(ped_ec_pub_export(ve, q_v), PED_OK);
		if (s == PED_KAS_2E2S) {
			up.static_key = hsm.rpv_key;
			up.static_cert = hsm.rpv_cert;
		}
		up.ephemeral = ue;
		vp.ephemeral = ve;
		eph_mark(ue);
		eph_mark(ve);
		eph_gone = 0;
		CU_ASSERT_EQUAL_FATAL(ped_kas_new(&up, &p.u), PED_OK);
		CU_ASSERT_EQUAL_FATAL(ped_kas_new(&vp, &p.v), PED_OK);
		EVP_PKEY_free(ue); /* the handshakes hold their own */
		EVP_PKEY_free(ve);
		CU_ASSERT_EQUAL(eph_gone, 0);

		CU_ASSERT_FALSE(ped_kas_pending(p.u));
		CU_ASSERT_EQUAL(ped_kas_continue(p.u, &none), PED_E_INVALID); /* nothing due yet */
		CU_ASSERT_EQUAL_FATAL(ped_kas_start(p.v, &hello), PED_OK);
		CU_ASSERT_EQUAL_FATAL(ped_kas_input(p.u, hello.msg[0], hello.len[0], &ks), PED_OK);
		CU_ASSERT_EQUAL_FATAL(ks.count, 1);
		CU_ASSERT_EQUAL(ks.msg[0][0], PED_KAS_KEYSHARE_U);
		CU_ASSERT_TRUE(ped_kas_pending(p.u));
		CU_ASSERT_FALSE(ped_kas_done(p.u));
		/* the keys made ahead are the ones on the wire: Q_eU after U's id,
		 * Q_eV at HELLO_V's end (2e2s; 1e1s sends a nonce there) */
		CU_ASSERT(memcmp(ks.msg[0] + 1 + 2 + strlen("PED:0000000000000001"), q_u, sizeof(q_u)) == 0);
		if (s == PED_KAS_2E2S)
			CU_ASSERT(memcmp(hello.msg[0] + hello.len[0] - sizeof(q_v), q_v, sizeof(q_v)) == 0);
		/* V takes KEYSHARE_U while U has not derived yet, and says nothing */
		CU_ASSERT_EQUAL(ped_kas_input(p.v, ks.msg[0], ks.len[0], &none), PED_OK);
		CU_ASSERT_EQUAL(none.count, 0);
		/* each end's ephemeral key goes once it has derived, though the
		 * handshake itself lives on until confirmation and READY */
		CU_ASSERT_EQUAL(eph_gone, 1);
		CU_ASSERT_EQUAL_FATAL(ped_kas_continue(p.u, &confirm_u), PED_OK);
		CU_ASSERT_EQUAL(eph_gone, 2);
		CU_ASSERT_FALSE(ped_kas_pending(p.u));
		CU_ASSERT_EQUAL_FATAL(confirm_u.count, 1);
		CU_ASSERT_EQUAL(confirm_u.msg[0][0], PED_KAS_CONFIRM_U);
		CU_ASSERT_EQUAL(ped_kas_continue(p.u, &none), PED_E_INVALID); /* once */
		CU_ASSERT_EQUAL_FATAL(ped_kas_input(p.v, confirm_u.msg[0], confirm_u.len[0], &confirm_v), PED_OK);
		CU_ASSERT_EQUAL_FATAL(confirm_v.count, 1);
		CU_ASSERT_EQUAL(ped_kas_input(p.u, confirm_v.msg[0], confirm_v.len[0], &done), PED_OK);
		expect_matching_keys(&p);
		ped_kas_out_clear(&hello);
		ped_kas_out_clear(&ks);
		ped_kas_out_clear(&confirm_u);
		ped_kas_out_clear(&confirm_v);
		ped_kas_out_clear(&done);
		free_pair(&p);
	}
}

/* While U's derivation is due, V's ALERT still ends U's handshake, and
 * anything else is out of turn. */
static void keyshare_first_waits_for_nothing_but_continue(void)
{
	for (int alert = 0; alert <= 1; alert++) {
		struct ped_kas_out hello, ks, out;
		struct pair p;
		uint8_t a[PED_KAS_ALERT_LEN];
		struct ped_kas_params up = {PED_KAS_U, PED_KAS_1E1S, "PED:0000000000000001", NULL, NULL, hsm.hoc,
					    NULL, 0, NULL, NULL, NULL, NULL, 1, NULL};
		struct ped_kas_params vp = {PED_KAS_V, PED_KAS_1E1S, "HSM:150000", hsm.static_key, hsm.static_cert,
					    hsm.hoc, NULL, 0, NULL, NULL, NULL, NULL, 0, NULL};

		CU_ASSERT_EQUAL_FATAL(ped_kas_new(&up, &p.u), PED_OK);
		CU_ASSERT_EQUAL_FATAL(ped_kas_new(&vp, &p.v), PED_OK);
		CU_ASSERT_EQUAL_FATAL(ped_kas_start(p.v, &hello), PED_OK);
		CU_ASSERT_EQUAL_FATAL(ped_kas_input(p.u, hello.msg[0], hello.len[0], &ks), PED_OK);
		CU_ASSERT_TRUE_FATAL(ped_kas_pending(p.u));
		if (alert) {
			ped_kas_alert_encode(PED_E_BUSY, a);
			CU_ASSERT_EQUAL(ped_kas_input(p.u, a, sizeof(a), &out), PED_E_BUSY);
			CU_ASSERT_EQUAL(out.count, 0);
		} else {
			/* HELLO_V again, out of turn: refused with an ALERT */
			CU_ASSERT_EQUAL(ped_kas_input(p.u, hello.msg[0], hello.len[0], &out), PED_E_HANDSHAKE);
			CU_ASSERT_EQUAL_FATAL(out.count, 1);
			CU_ASSERT_EQUAL(out.msg[0][0], PED_KAS_ALERT);
		}
		ped_kas_out_clear(&out);
		CU_ASSERT_FALSE(ped_kas_pending(p.u));
		CU_ASSERT_NOT_EQUAL(ped_kas_continue(p.u, &out), PED_OK);
		CU_ASSERT_EQUAL(out.count, 0);
		CU_ASSERT_FALSE(ped_kas_done(p.u));
		ped_kas_out_clear(&hello);
		ped_kas_out_clear(&ks);
		free_pair(&p);
	}
}

UNIT_SUITE(kas, setup, teardown, UNIT_TEST(keyshare_first_with_keys_made_ahead),
	   UNIT_TEST(keyshare_first_waits_for_nothing_but_continue), UNIT_TEST(hello_peek_shows_what_v_offers),
	   UNIT_TEST(known_certificates_only_for_their_own_bytes), UNIT_TEST(local_1e1s_agrees), UNIT_TEST(remote_1e1s_password),
	   UNIT_TEST(hsm_gives_no_password_oracle),
	   UNIT_TEST(full_unified_2e2s), UNIT_TEST(wrong_certificates_are_refused),
	   UNIT_TEST(every_flipped_bit_fails), UNIT_TEST(every_truncation_fails),
	   UNIT_TEST(replayed_hello_from_another_session_fails),
	   UNIT_TEST(point_not_on_curve_is_refused), UNIT_TEST(parameters_are_checked),
	   UNIT_TEST(an_alert_always_ends_the_handshake))
