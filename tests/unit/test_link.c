/* The secure link over a socket pair: a record waiting out of turn (a
 * duplicate a hostile relay slipped in) stops the next send, CSP or answer,
 * before it leaves. */
#include "kas_fixture.h"
#include "unit.h"

#include "ped/error.h"
#include "ped/link.h"

#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct v_side {
	struct hsm_identity id;
	int fd;
	struct ped_link l;
	int r;
};

static void *v_thread(void *arg)
{
	struct v_side *v = arg;
	struct ped_kas_params p = {PED_KAS_V, PED_KAS_1E1S, "HSM:1", v->id.static_key, v->id.static_cert,
				   v->id.hoc, NULL, 0, NULL, NULL};
	v->r = ped_link_handshake(&v->l, v->fd, &p, 5000);
	return NULL;
}

/* A linked pair: U in *u (this thread), V in *v. */
static void pair(struct v_side *v, struct ped_link *u)
{
	int sv[2];
	pthread_t t;
	struct ped_kas_params p = {PED_KAS_U, PED_KAS_1E1S, "PED:1", NULL, NULL, NULL, NULL, 0, NULL, NULL};

	signal(SIGPIPE, SIG_IGN); /* a CLOSE to an end already closed, as the daemons do */
	memset(v, 0, sizeof(*v));
	CU_ASSERT_EQUAL_FATAL(fixture_identity(&v->id, "1"), PED_OK);
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	v->fd = sv[1];
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, v_thread, v), 0);
	CU_ASSERT_EQUAL(ped_link_handshake(u, sv[0], &p, 5000), PED_OK);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL_FATAL(v->r, PED_OK);
}

/* V sends a DATA record twice, as a relay that duplicates a frame would deliver it. */
static void send_twice(struct v_side *v)
{
	uint8_t *rec = NULL;
	size_t rl = 0;
	static const uint8_t req[] = {0x01, 1, 0};
	CU_ASSERT_EQUAL_FATAL(ped_channel_seal(v->l.ch, PED_REC_DATA, req, sizeof(req), &rec, &rl), PED_OK);
	CU_ASSERT_EQUAL(ped_frame_send(v->l.in.fd, PED_LINK_RECORD, rec, rl, 1000), PED_OK);
	CU_ASSERT_EQUAL(ped_frame_send(v->l.in.fd, PED_LINK_RECORD, rec, rl, 1000), PED_OK);
	OPENSSL_free(rec);
}

/* Nothing but (at most) a CLOSE reaches V: no CSP, no answer. */
static void v_gets_no_answer(struct v_side *v)
{
	uint8_t rt, *pt = NULL;
	size_t len = 0;
	int r = ped_link_recv(&v->l, &rt, &pt, &len, 200, NULL);
	CU_ASSERT(r == PED_E_TIMED_OUT || r == PED_E_CLOSED);
	if (pt)
		OPENSSL_clear_free(pt, len ? len : 1);
}

static void test_duplicate_stops_csp(void)
{
	struct v_side v;
	struct ped_link u;
	uint8_t rt, *pt = NULL;
	size_t len = 0;
	static const uint8_t split[32] = {42};

	pair(&v, &u);
	send_twice(&v);
	CU_ASSERT_EQUAL(ped_link_recv(&u, &rt, &pt, &len, 1000, NULL), PED_OK);
	CU_ASSERT_EQUAL(rt, PED_REC_DATA);
	OPENSSL_clear_free(pt, len ? len : 1);
	/* the duplicate is already waiting: the split must not leave */
	CU_ASSERT_EQUAL(ped_link_send_csp(&u, split, sizeof(split)), PED_E_REPLAY);
	v_gets_no_answer(&v);
	ped_link_close(&u, PED_E_REPLAY);
	ped_link_close(&v.l, PED_OK);
	fixture_identity_free(&v.id);
}

static void test_duplicate_stops_answer(void)
{
	struct v_side v;
	struct ped_link u;
	uint8_t rt, *pt = NULL;
	size_t len = 0;
	static const uint8_t created[] = {0x82, 1, 1, 0};

	pair(&v, &u);
	send_twice(&v);
	CU_ASSERT_EQUAL(ped_link_recv(&u, &rt, &pt, &len, 1000, NULL), PED_OK);
	OPENSSL_clear_free(pt, len ? len : 1);
	CU_ASSERT_EQUAL(ped_link_send(&u, PED_REC_DATA, created, sizeof(created)), PED_E_REPLAY);
	v_gets_no_answer(&v);
	ped_link_close(&u, PED_E_REPLAY);
	ped_link_close(&v.l, PED_OK);
	fixture_identity_free(&v.id);
}

static void test_turn_by_turn_unaffected(void)
{
	struct v_side v;
	struct ped_link u;
	uint8_t rt, *pt = NULL;
	size_t len = 0;
	static const uint8_t req[] = {0x01, 1, 0}, split[32] = {7};

	pair(&v, &u);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(ped_link_send(&v.l, PED_REC_DATA, req, sizeof(req)), PED_OK);
		CU_ASSERT_EQUAL(ped_link_recv(&u, &rt, &pt, &len, 1000, NULL), PED_OK);
		OPENSSL_clear_free(pt, len ? len : 1);
		CU_ASSERT_EQUAL(ped_link_send_csp(&u, split, sizeof(split)), PED_OK);
		CU_ASSERT_EQUAL(ped_link_recv(&v.l, &rt, &pt, &len, 1000, NULL), PED_OK);
		CU_ASSERT_EQUAL(rt, PED_REC_CSP);
		CU_ASSERT(len == sizeof(split) && pt && memcmp(pt, split, len) == 0);
		OPENSSL_clear_free(pt, len ? len : 1);
	}
	ped_link_close(&u, PED_OK);
	ped_link_close(&v.l, PED_OK);
	fixture_identity_free(&v.id);
}

UNIT_SUITE(link, NULL, NULL, UNIT_TEST(test_duplicate_stops_csp), UNIT_TEST(test_duplicate_stops_answer),
	   UNIT_TEST(test_turn_by_turn_unaffected))
