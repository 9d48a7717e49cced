/* The secure link over a socket pair: a record waiting out of turn (a
 * duplicate a hostile relay slipped in) stops the next send, CSP or answer,
 * before it leaves. */
#include "kas_fixture.h"
#include "unit.h"

#include "ped/error.h"
#include "ped/frame.h"
#include "ped/kas.h"
#include "ped/link.h"

#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
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
				   v->id.hoc, NULL, 0, NULL, NULL, NULL, NULL, 0, NULL};
	v->r = ped_link_handshake(&v->l, v->fd, &p, 5000);
	return NULL;
}

/* A linked pair: U in *u (this thread), V in *v. */
static void pair(struct v_side *v, struct ped_link *u)
{
	int sv[2];
	pthread_t t;
	struct ped_kas_params p = {PED_KAS_U, PED_KAS_1E1S, "PED:1", NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, 0, NULL};

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

/* An ALERT is the peer's word only while V waits for READY: once the channel
 * is up, one slipped in (unauthenticated, its code anyone's choice) is a
 * foreign frame, one fixed error that ends the session, never the code it
 * carries; the channel still carries the CLOSE that tells the peer. */
static void test_alert_after_ready_ends_channel(void)
{
	struct v_side v;
	struct ped_link u;
	uint8_t rt, *pt = NULL, alert[PED_KAS_ALERT_LEN];
	size_t len = 0;
	static const uint8_t req[] = {0x01, 1, 0};

	pair(&v, &u);
	ped_kas_alert_encode(PED_E_PIN_INCORRECT, alert);
	CU_ASSERT_EQUAL(ped_frame_send(v.l.in.fd, PED_LINK_KAS, alert, sizeof(alert), 1000), PED_OK);
	CU_ASSERT_EQUAL(ped_link_recv(&u, &rt, &pt, &len, 1000, NULL), PED_E_FRAME_TYPE);
	CU_ASSERT_PTR_NULL(pt);
	CU_ASSERT_EQUAL(u.foreign, PED_LINK_KAS);
	ped_link_close(&u, PED_E_FRAME_TYPE); /* its CLOSE reaches V */
	CU_ASSERT_EQUAL(ped_link_recv(&v.l, &rt, &pt, &len, 1000, NULL), PED_E_CLOSED);
	/* and one waiting before a send is not "nothing waiting" */
	ped_link_close(&v.l, PED_OK);
	fixture_identity_free(&v.id);
	pair(&v, &u);
	ped_kas_alert_encode(PED_E_TIMED_OUT, alert);
	CU_ASSERT_EQUAL(ped_frame_send(u.in.fd, PED_LINK_KAS, alert, sizeof(alert), 1000), PED_OK);
	CU_ASSERT_NOT_EQUAL(ped_link_send(&v.l, PED_REC_DATA, req, sizeof(req)), PED_OK);
	ped_link_close(&u, PED_OK);
	ped_link_close(&v.l, PED_OK);
	fixture_identity_free(&v.id);
}

/* The PED reads HELLO_V before it asks its operator for the secret, then
 * hands it to the handshake: the channel is the same as in one go. */
static void test_handshake_after_hello_v(void)
{
	struct v_side v;
	struct ped_link u;
	struct ped_framer f;
	struct ped_kas_params p = {PED_KAS_U, PED_KAS_1E1S, "PED:1", NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, 0, NULL};
	uint8_t type, *hello = NULL, rt, *pt = NULL;
	size_t hello_len = 0, len = 0;
	static const uint8_t req[] = {0x01, 1, 0};
	pthread_t t;
	int sv[2];

	signal(SIGPIPE, SIG_IGN);
	memset(&v, 0, sizeof(v));
	CU_ASSERT_EQUAL_FATAL(fixture_identity(&v.id, "1"), PED_OK);
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	v.fd = sv[1];
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, v_thread, &v), 0);
	ped_framer_init(&f, sv[0], PED_FRAME_MAX_PAYLOAD);
	CU_ASSERT_EQUAL_FATAL(ped_framer_recv(&f, &type, &hello, &hello_len, 5000), PED_OK);
	CU_ASSERT_EQUAL(type, PED_LINK_KAS);
	p.role = PED_KAS_V; /* only U has a first message to hand over */
	CU_ASSERT_EQUAL(ped_link_handshake_after(&u, &f, &p, hello, hello_len, 5000), PED_E_ARGUMENTS_BAD);
	p.role = PED_KAS_U;
	CU_ASSERT_EQUAL(ped_link_handshake_after(&u, &f, &p, hello, hello_len, 5000), PED_OK);
	OPENSSL_clear_free(hello, hello_len);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL_FATAL(v.r, PED_OK);
	CU_ASSERT_EQUAL(ped_link_send(&v.l, PED_REC_DATA, req, sizeof(req)), PED_OK);
	CU_ASSERT_EQUAL(ped_link_recv(&u, &rt, &pt, &len, 1000, NULL), PED_OK);
	CU_ASSERT(rt == PED_REC_DATA && len == sizeof(req) && pt && memcmp(pt, req, len) == 0);
	if (pt)
		OPENSSL_clear_free(pt, len ? len : 1);
	ped_link_close(&u, PED_OK);
	ped_link_close(&v.l, PED_OK);
	fixture_identity_free(&v.id);
}

/* Between U and V: passes U's bytes on, and delivers V's second handshake
 * message (CONFIRM_V in 1e1s) twice in one write, so the copy is already
 * waiting when U is about to send READY. */
struct dup_relay {
	int to_u, to_v;
};

static void *dup_relay_thread(void *arg)
{
	struct dup_relay *d = arg;
	struct ped_frame_decoder dec;
	int kas_from_v = 0;
	size_t cap = 2 * (PED_FRAME_HEADER_LEN + PED_FRAME_MAX_PAYLOAD);
	uint8_t *out = malloc(cap);

	ped_frame_decoder_init(&dec, PED_FRAME_MAX_PAYLOAD);
	while (out) {
		struct pollfd pf[2] = {{.fd = d->to_u, .events = POLLIN}, {.fd = d->to_v, .events = POLLIN}};
		uint8_t buf[4096];
		ssize_t n;

		if (poll(pf, 2, 5000) <= 0)
			break;
		if (pf[0].revents) {
			if ((n = read(d->to_u, buf, sizeof(buf))) <= 0 || write(d->to_v, buf, (size_t)n) != n)
				break;
		}
		if (pf[1].revents) {
			size_t off = 0, used;
			struct ped_frame f;
			int r = 0;

			if ((n = read(d->to_v, buf, sizeof(buf))) <= 0)
				break;
			while (off < (size_t)n &&
			       (r = ped_frame_decoder_feed(&dec, buf + off, (size_t)n - off, &used, &f)) >= 0) {
				off += used;
				if (r == 1) {
					size_t l1 = 0, l2 = 0;

					ped_frame_encode(f.type, f.payload, f.len, out, cap, &l1);
					if (f.type == PED_LINK_KAS && ++kas_from_v == 2)
						ped_frame_encode(f.type, f.payload, f.len, out + l1, cap - l1, &l2);
					if (write(d->to_u, out, l1 + l2) != (ssize_t)(l1 + l2))
						goto out;
				}
			}
			if (r < 0)
				break;
		}
	}
out:
	free(out);
	ped_frame_decoder_free(&dec);
	close(d->to_u);
	close(d->to_v);
	return NULL;
}

/* U refuses to go on (a copy of CONFIRM_V is waiting): V, which would wait
 * for READY as long as an operator may take, hears U's reason at once. */
static void test_refused_ready_tells_v(void)
{
	struct v_side v;
	struct ped_link u;
	struct dup_relay d;
	pthread_t tv, tr;
	int su[2], sv[2];
	struct ped_kas_params p = {PED_KAS_U, PED_KAS_1E1S, "PED:1", NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, 0, NULL};

	signal(SIGPIPE, SIG_IGN);
	memset(&v, 0, sizeof(v));
	CU_ASSERT_EQUAL_FATAL(fixture_identity(&v.id, "1"), PED_OK);
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, su), 0);
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	d.to_u = su[1];
	d.to_v = sv[0];
	v.fd = sv[1];
	CU_ASSERT_EQUAL_FATAL(pthread_create(&tr, NULL, dup_relay_thread, &d), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&tv, NULL, v_thread, &v), 0);
	CU_ASSERT_EQUAL(ped_link_handshake(&u, su[0], &p, 5000), PED_E_FRAME_TYPE);
	pthread_join(tv, NULL);
	/* V's own limit is 5 s: without the ALERT it would end PED_E_TIMED_OUT */
	CU_ASSERT_EQUAL(v.r, PED_E_FRAME_TYPE);
	pthread_join(tr, NULL); /* both ends closed their sockets on failure */
	fixture_identity_free(&v.id);
}

/* A V that plays its part up to KEYSHARE_U, then sends `hostile` at once,
 * while U (which sends KEYSHARE_U before it derives) is still deriving, and
 * records the frames U sends afterwards. */
enum hostile_frame { HOSTILE_CONFIRM_V, HOSTILE_ALERT, HOSTILE_RECORD, HOSTILE_HELLO_AGAIN, HOSTILE_COUNT };

struct hostile_v {
	struct hsm_identity id;
	int fd;
	enum hostile_frame what;
	int got_keyshare, confirm_u, records; /* what U sent */
};

static void *hostile_v_thread(void *arg)
{
	struct hostile_v *h = arg;
	struct ped_kas_params p = {PED_KAS_V, PED_KAS_1E1S, "HSM:1", h->id.static_key, h->id.static_cert,
				   h->id.hoc, NULL, 0, NULL, NULL, NULL, NULL, 0, NULL};
	struct ped_kas *k = NULL;
	struct ped_kas_out out = {0};
	struct ped_framer f;
	uint8_t type, *msg = NULL, junk[1 + PED_KAS_TAG_LEN];
	size_t len = 0;

	ped_framer_init(&f, h->fd, PED_FRAME_MAX_PAYLOAD);
	if (ped_kas_new(&p, &k) != PED_OK || ped_kas_start(k, &out) != PED_OK || out.count != 1 ||
	    ped_frame_send(h->fd, PED_LINK_KAS, out.msg[0], out.len[0], 1000) != PED_OK)
		goto out;
	if (ped_framer_recv(&f, &type, &msg, &len, 5000) != PED_OK || type != PED_LINK_KAS)
		goto out;
	h->got_keyshare = 1;
	OPENSSL_free(msg);
	msg = NULL;
	switch (h->what) {
	case HOSTILE_CONFIRM_V: /* a guess at tag_V */
		junk[0] = 0x04;
		memset(junk + 1, 0x5a, PED_KAS_TAG_LEN);
		(void)ped_frame_send(h->fd, PED_LINK_KAS, junk, sizeof(junk), 1000);
		break;
	case HOSTILE_ALERT: {
		uint8_t a[PED_KAS_ALERT_LEN];
		ped_kas_alert_encode(PED_E_PIN_INCORRECT, a);
		(void)ped_frame_send(h->fd, PED_LINK_KAS, a, sizeof(a), 1000);
		break;
	}
	case HOSTILE_RECORD:
		memset(junk, 0xa5, sizeof(junk));
		(void)ped_frame_send(h->fd, PED_LINK_RECORD, junk, sizeof(junk), 1000);
		break;
	default: /* HELLO_V once more, as a relay replaying it would */
		(void)ped_frame_send(h->fd, PED_LINK_KAS, out.msg[0], out.len[0], 1000);
		break;
	}
	/* everything U sends until it closes */
	while (ped_framer_recv(&f, &type, &msg, &len, 5000) == PED_OK) {
		if (type == PED_LINK_KAS && len == 1 + PED_KAS_TAG_LEN && msg[0] == 0x03)
			h->confirm_u++;
		if (type == PED_LINK_RECORD)
			h->records++;
		OPENSSL_clear_free(msg, len ? len : 1);
		msg = NULL;
	}
out:
	ped_kas_out_clear(&out);
	ped_kas_free(k);
	ped_framer_free(&f);
	close(h->fd);
	return NULL;
}

/* Frames V sends out of turn while U derives wait in U's socket: U reads
 * them after its CONFIRM_U and fails, and never sends READY or any record. */
static void test_out_of_turn_while_u_derives(void)
{
	struct ped_kas_params p = {PED_KAS_U, PED_KAS_1E1S, "PED:1", NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, 0, NULL};
	static const int want[HOSTILE_COUNT] = {PED_E_KEY_CONFIRM, PED_E_PIN_INCORRECT, PED_E_FRAME_TYPE,
						PED_E_HANDSHAKE};

	signal(SIGPIPE, SIG_IGN);
	for (int w = 0; w < HOSTILE_COUNT; w++) {
		struct hostile_v h;
		struct ped_link u;
		pthread_t t;
		int sv[2];

		memset(&h, 0, sizeof(h));
		h.what = (enum hostile_frame)w;
		CU_ASSERT_EQUAL_FATAL(fixture_identity(&h.id, "1"), PED_OK);
		CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		h.fd = sv[1];
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, hostile_v_thread, &h), 0);
		CU_ASSERT_EQUAL(ped_link_handshake(&u, sv[0], &p, 5000), want[w]);
		pthread_join(t, NULL);
		CU_ASSERT_EQUAL(h.got_keyshare, 1);
		CU_ASSERT(h.confirm_u <= 1);
		CU_ASSERT_EQUAL(h.records, 0);
		fixture_identity_free(&h.id);
	}
}

/* A writer that sends one frame (or closes) after a delay. */
struct late_writer {
	int fd;
	unsigned delay_us;
	int close_only;
};

static void *late_writer_thread(void *arg)
{
	struct late_writer *lw = arg;

	usleep(lw->delay_us);
	if (lw->close_only)
		close(lw->fd);
	else
		(void)ped_frame_send(lw->fd, 0x42, "late", 4, 1000);
	return NULL;
}

/* One frame read through a framer spinning spin_us, the writer delay_us
 * late (close_only: it closes instead); the recv's result. */
static int spin_recv(int use_pipe, unsigned spin_us, unsigned delay_us, int close_only, int timeout_ms,
		     unsigned *spin_after)
{
	struct late_writer lw = {-1, delay_us, close_only};
	struct ped_framer f;
	pthread_t th;
	uint8_t type = 0, *msg = NULL;
	size_t len = 0;
	int fds[2], r;

	CU_ASSERT_EQUAL_FATAL(use_pipe ? pipe(fds) : socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	lw.fd = fds[1];
	ped_framer_init(&f, fds[0], 64);
	f.spin_us = spin_us;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, late_writer_thread, &lw), 0);
	r = ped_framer_recv(&f, &type, &msg, &len, timeout_ms);
	if (r == PED_OK) {
		CU_ASSERT_EQUAL(type, 0x42);
		CU_ASSERT(len == 4 && !memcmp(msg, "late", 4));
		OPENSSL_free(msg);
	}
	pthread_join(th, NULL);
	*spin_after = f.spin_us;
	ped_framer_free(&f);
	close(fds[0]);
	if (!close_only)
		close(fds[1]);
	return r;
}

/* ped_framer.spin_us: the frame that comes while it spins, after it gave
 * up spinning, on a pipe (which cannot be looked at without sleeping: it
 * waits as before), a close while it spins, a wait shorter than the spin. */
static void test_framer_spin(void)
{
	unsigned after;

	CU_ASSERT_EQUAL(spin_recv(0, 200000, 2000, 0, -1, &after), PED_OK);
	CU_ASSERT_EQUAL(after, 200000);
	CU_ASSERT_EQUAL(spin_recv(0, 100, 20000, 0, 5000, &after), PED_OK);
	CU_ASSERT_EQUAL(spin_recv(1, 200000, 2000, 0, -1, &after), PED_OK);
	CU_ASSERT_EQUAL(after, 0);
	CU_ASSERT_EQUAL(spin_recv(0, 200000, 2000, 1, -1, &after), PED_E_CLOSED);
	CU_ASSERT_EQUAL(spin_recv(0, 200000, 300000, 0, 20, &after), PED_E_TIMED_OUT);
}

UNIT_SUITE(link, NULL, NULL, UNIT_TEST(test_framer_spin), UNIT_TEST(test_alert_after_ready_ends_channel),
	   UNIT_TEST(test_duplicate_stops_csp), UNIT_TEST(test_duplicate_stops_answer),
	   UNIT_TEST(test_turn_by_turn_unaffected), UNIT_TEST(test_refused_ready_tells_v),
	   UNIT_TEST(test_handshake_after_hello_v), UNIT_TEST(test_out_of_turn_while_u_derives))
