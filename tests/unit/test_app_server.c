/* hsm-sim's application server (hsm-sim/daemon/app*.c) driven request by
 * request as app_serve runs them (app_request), for an application on an
 * HSM with an initialized partition in slot 1 and no PED, as
 * tests/fuzz/fuzz_p11server.c sets it up: what two calls of one
 * application at once may leave behind. */
#include "unit.h"

#include "../../hsm-sim/daemon/app.h"
#include "../../hsm-sim/daemon/auth.h"

#include "ped/buf.h"
#include "ped/log.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct sim sim;
static struct pedports peds;
static struct sim_hsm *hs;
static int ready;
static unsigned log_mask;

static int suite_init(void)
{
	struct hsm_partition *p;
	char dir[512], err[256];

	log_mask = ped_log_get_mask();
	ped_log_set_mask(0); /* the daemon's lines are not this suite's output */
	snprintf(dir, sizeof(dir), "%s/app_server", unit_tmpdir());
	if (mkdir(dir, 0700) != 0)
		return -1;
	sim_init(&sim);
	if ((hs = sim_add(&sim, "1000", 0, 0)) == NULL || sim_open(&sim, dir, err, sizeof(err)) != 0)
		return -1;
	pedports_init(&peds, &sim);
	peds.ped_timeout_ms = 1000;
	peds.link_timeout_ms = 1000;
	peds.remote_idle_timeout_s = 60;
	/* an initialized HSM and partition with its roles (credentials no PED
	 * will ever present) */
	hs->h.initialized = 1;
	hs->h.so.cred.set = 1;
	if (hsm_partition_create(&hs->h, "p1", &p) != 0)
		return -1;
	snprintf(p->label, sizeof(p->label), "p1");
	p->initialized = 1;
	p->po.cred.set = p->co.cred.set = p->cu.cred.set = 1;
	ready = 1;
	return 0;
}

static int suite_cleanup(void)
{
	if (ready) {
		unlink(hs->state_path);
		apps_wipe();
		sim_wipe(&sim);
	}
	ped_log_set_mask(log_mask);
	return 0;
}

/* An application, with no session yet. */
static struct app *new_app(uint8_t id)
{
	struct p11w_hello h = {P11W_VERSION, {id}, 1, "unit", 0};
	return apps_connect(&sim, &h);
}

/* Its Crypto Officer logged in on the partition (where it has a session:
 * the first session it opens there is a public one). */
static void co_login(struct app *a)
{
	sim_login(&a->logins, hs)->co[0] = AUTH_LOGGED_IN;
}

/* One request of fn with the arguments in args: its CK_RV, the results
 * left in *res (valid until reply is reused). */
static CK_RV call(struct app *a, uint16_t fn, const struct ped_wbuf *args, struct ped_wbuf *reply,
		  struct ped_rbuf *res)
{
	struct ped_wbuf req;
	uint32_t id = 0;
	CK_RV rv = CKR_GENERAL_ERROR;

	ped_wbuf_init(&req, P11W_PAYLOAD_MAX);
	p11w_put_request_header(&req, 7, fn);
	if (args)
		ped_wbuf_bytes(&req, args->p, args->len);
	ped_wbuf_truncate(reply, 0);
	app_request(&sim, &peds, NULL, a, req.p, req.len, reply);
	ped_rbuf_init(res, reply->p, reply->len);
	if (p11w_get_reply_header(res, &id, &rv) != CKR_OK || id != 7)
		rv = CKR_GENERAL_ERROR;
	ped_wbuf_free(&req);
	return rv;
}

static CK_SESSION_HANDLE open_rw(struct app *a)
{
	struct ped_wbuf args, reply;
	struct ped_rbuf res;
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;

	ped_wbuf_init(&args, 64);
	ped_wbuf_init(&reply, P11W_PAYLOAD_MAX);
	p11w_put_ulong(&args, 1);
	p11w_put_ulong(&args, CKF_SERIAL_SESSION | CKF_RW_SESSION);
	if (call(a, P11W_FN_OPEN_SESSION, &args, &reply, &res) == CKR_OK)
		h = p11w_get_ulong(&res);
	ped_wbuf_free(&args);
	ped_wbuf_free(&reply);
	return h;
}

static CK_RV close_session(struct app *a, CK_SESSION_HANDLE h)
{
	struct ped_wbuf args, reply;
	struct ped_rbuf res;
	CK_RV rv;

	ped_wbuf_init(&args, 64);
	ped_wbuf_init(&reply, P11W_PAYLOAD_MAX);
	p11w_put_ulong(&args, h);
	rv = call(a, P11W_FN_CLOSE_SESSION, &args, &reply, &res);
	ped_wbuf_free(&args);
	ped_wbuf_free(&reply);
	return rv;
}

/* C_GenerateKey of an AES session key (token: a token key) on a thread. */
struct keygen {
	struct app *a;
	CK_SESSION_HANDLE h;
	CK_BBOOL token;
	CK_RV rv;
};

static void *keygen(void *arg)
{
	struct keygen *k = arg;
	CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ULONG len = 32;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &k->token, sizeof(CK_BBOOL)},
			    {CKA_ENCRYPT, &yes, sizeof(yes)}};
	struct ped_wbuf args, reply;
	struct ped_rbuf res;

	ped_wbuf_init(&args, 1024);
	ped_wbuf_init(&reply, P11W_PAYLOAD_MAX);
	p11w_put_ulong(&args, k->h);
	(void)p11w_put_mechanism(&args, &m);
	(void)p11w_put_template(&args, t, 3, P11W_TPL_VALUES);
	k->rv = call(k->a, P11W_FN_GENERATE_KEY, &args, &reply, &res);
	ped_wbuf_free(&args);
	ped_wbuf_free(&reply);
	return NULL;
}

/* Calls holding a reference to session h (app_use), under a->mu. */
static int session_refs(struct app *a, CK_SESSION_HANDLE h)
{
	int refs = 0;
	pthread_mutex_lock(&a->mu);
	for (struct app_session *s = a->sessions; s; s = s->next)
		if (s->handle == h)
			refs = s->refs;
	pthread_mutex_unlock(&a->mu);
	return refs;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* A key is made outside the HSM's lock, then kept under it. A session
 * closed meanwhile (C_CloseSession from another thread of the
 * application) keeps nothing: a session object kept for it outlived its
 * session (it went neither with it nor ever, and the application's other
 * sessions used it), and the call said CKR_OK. */
static void session_closed_while_a_key_is_made(void)
{
	for (int token = 0; token < 2; token++) {
		struct app *a = new_app((uint8_t)(0x40 + token));
		struct sim_hold hold;
		struct keygen k;
		pthread_t t;
		size_t objs_before = hs->h.partitions[0].nobjs;

		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		memset(&k, 0, sizeof(k));
		k.a = a;
		k.token = token ? CK_TRUE : CK_FALSE;
		CU_ASSERT_NOT_EQUAL_FATAL(k.h = open_rw(a), CK_INVALID_HANDLE);
		co_login(a);
		/* the call waits for the HSM's lock holding the session */
		sim_hold_init(&hold, &sim);
		sim_hold(&hold, hs, NULL);
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, keygen, &k), 0);
		for (int i = 0; i < 1000 && session_refs(a, k.h) == 0; i++)
			sleep_ms(5);
		sleep_ms(100); /* past any passing look-up: waiting in app_use */
		CU_ASSERT_EQUAL(session_refs(a, k.h), 1);
		CU_ASSERT_EQUAL(close_session(a, k.h), CKR_OK);
		sim_hold_drop(&hold);
		pthread_join(t, NULL);
		CU_ASSERT_EQUAL(k.rv, CKR_SESSION_CLOSED);
		pthread_mutex_lock(&a->mu);
		CU_ASSERT_EQUAL(a->nobjs, 0);
		CU_ASSERT_PTR_NULL(a->objs);
		pthread_mutex_unlock(&a->mu);
		CU_ASSERT_EQUAL(hs->h.partitions[0].nobjs, objs_before);
		apps_disconnect(a);
	}
}

/* A session-only data object, private or not: its handle, or 0. */
static CK_OBJECT_HANDLE data_object(struct app *a, CK_SESSION_HANDLE h, CK_BBOOL private)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_TOKEN, &no, sizeof(no)},
			    {CKA_PRIVATE, &private, sizeof(private)}, {CKA_VALUE, "secret", 6}};
	struct ped_wbuf args, reply;
	struct ped_rbuf res;
	CK_OBJECT_HANDLE o = 0;

	ped_wbuf_init(&args, 1024);
	ped_wbuf_init(&reply, P11W_PAYLOAD_MAX);
	p11w_put_ulong(&args, h);
	(void)p11w_put_template(&args, t, 4, P11W_TPL_VALUES);
	if (call(a, P11W_FN_CREATE_OBJECT, &args, &reply, &res) == CKR_OK)
		o = p11w_get_ulong(&res);
	ped_wbuf_free(&args);
	ped_wbuf_free(&reply);
	return o;
}

/* A call whose arguments are the session's handle and an object's (0: none). */
static CK_RV handles(struct app *a, uint16_t fn, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o)
{
	struct ped_wbuf args, reply;
	struct ped_rbuf res;
	CK_RV rv;

	ped_wbuf_init(&args, 64);
	ped_wbuf_init(&reply, P11W_PAYLOAD_MAX);
	p11w_put_ulong(&args, h);
	if (o)
		p11w_put_ulong(&args, o);
	rv = call(a, fn, &args, &reply, &res);
	ped_wbuf_free(&args);
	ped_wbuf_free(&reply);
	return rv;
}

/* PKCS#11's C_Logout: "all private session objects from sessions
 * belonging to the application are destroyed". They were kept, hidden
 * while nobody was logged in, and there again at the next login. */
static void logout_destroys_private_session_objects(void)
{
	struct app *a = new_app(0x50);
	CK_SESSION_HANDLE h, h2;
	CK_OBJECT_HANDLE secret, open;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_NOT_EQUAL_FATAL(h = open_rw(a), CK_INVALID_HANDLE);
	CU_ASSERT_NOT_EQUAL_FATAL(h2 = open_rw(a), CK_INVALID_HANDLE);
	co_login(a);
	CU_ASSERT_NOT_EQUAL_FATAL(secret = data_object(a, h, CK_TRUE), 0);
	CU_ASSERT_NOT_EQUAL_FATAL(open = data_object(a, h2, CK_FALSE), 0);
	CU_ASSERT_EQUAL(handles(a, P11W_FN_GET_OBJECT_SIZE, h2, secret), CKR_OK);
	CU_ASSERT_EQUAL(handles(a, P11W_FN_LOGOUT, h2, 0), CKR_OK);
	pthread_mutex_lock(&a->mu);
	CU_ASSERT_EQUAL(a->nobjs, 1);
	pthread_mutex_unlock(&a->mu);
	/* logged in again: the private one is gone, the public one stays */
	co_login(a);
	CU_ASSERT_EQUAL(handles(a, P11W_FN_GET_OBJECT_SIZE, h, secret), CKR_OBJECT_HANDLE_INVALID);
	CU_ASSERT_EQUAL(handles(a, P11W_FN_GET_OBJECT_SIZE, h, open), CKR_OK);
	apps_disconnect(a);
}

/* PKCS#11's C_CloseSession: "If this function is successful and it
 * closes the last session between the application and the token, the
 * login state of the token for the application returns to public
 * sessions. Any new sessions to the token opened by the application will
 * be either R/O Public or R/W Public sessions"; C_CloseAllSessions the
 * same. The login outlived the sessions: an application that closed them
 * all to be done with the token found its next session logged in as the
 * Crypto Officer, with no PED asked. */
static void last_session_closed_ends_the_login(void)
{
	for (int all = 0; all < 2; all++) {
		struct app *a = new_app((uint8_t)(0x60 + all));
		CK_SESSION_HANDLE h, h2;
		struct ped_wbuf args, reply;
		struct ped_rbuf res;

		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_NOT_EQUAL_FATAL(h = open_rw(a), CK_INVALID_HANDLE);
		CU_ASSERT_NOT_EQUAL_FATAL(h2 = open_rw(a), CK_INVALID_HANDLE);
		co_login(a);
		/* one of two closed: the login stays */
		CU_ASSERT_EQUAL(close_session(a, h), CKR_OK);
		CU_ASSERT_NOT_EQUAL(data_object(a, h2, CK_TRUE), 0);
		if (all) {
			ped_wbuf_init(&args, 64);
			ped_wbuf_init(&reply, P11W_PAYLOAD_MAX);
			p11w_put_ulong(&args, 1);
			CU_ASSERT_EQUAL(call(a, P11W_FN_CLOSE_ALL_SESSIONS, &args, &reply, &res), CKR_OK);
			ped_wbuf_free(&args);
			ped_wbuf_free(&reply);
		} else {
			CU_ASSERT_EQUAL(close_session(a, h2), CKR_OK);
		}
		/* the next session is a public one */
		CU_ASSERT_NOT_EQUAL_FATAL(h = open_rw(a), CK_INVALID_HANDLE);
		CU_ASSERT_EQUAL(data_object(a, h, CK_TRUE), 0);
		CU_ASSERT_EQUAL(handles(a, P11W_FN_LOGOUT, h, 0), CKR_USER_NOT_LOGGED_IN);
		apps_disconnect(a);
	}
}

/* CK_TOKEN_INFO's ulSessionCount and ulRwSessionCount: "number of
 * sessions that this application currently has open with the token".
 * They counted every application's: a process saw how many sessions the
 * others had open on the partition. */
static void token_info_counts_the_applications_own_sessions(void)
{
	struct app *a = new_app(0x70), *b = new_app(0x71);
	struct ped_wbuf args, reply;
	struct ped_rbuf res;
	CK_SESSION_HANDLE h;
	CK_TOKEN_INFO ti;
	struct ped_wbuf ro;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_NOT_EQUAL(open_rw(a), CK_INVALID_HANDLE);
	CU_ASSERT_NOT_EQUAL(open_rw(b), CK_INVALID_HANDLE);
	CU_ASSERT_NOT_EQUAL(open_rw(b), CK_INVALID_HANDLE);
	ped_wbuf_init(&ro, 64);
	ped_wbuf_init(&reply, P11W_PAYLOAD_MAX);
	p11w_put_ulong(&ro, 1);
	p11w_put_ulong(&ro, CKF_SERIAL_SESSION);
	CU_ASSERT_EQUAL(call(b, P11W_FN_OPEN_SESSION, &ro, &reply, &res), CKR_OK);
	h = p11w_get_ulong(&res);
	CU_ASSERT_NOT_EQUAL(h, CK_INVALID_HANDLE);
	ped_wbuf_free(&ro);
	ped_wbuf_init(&args, 64);
	p11w_put_ulong(&args, 1);
	CU_ASSERT_EQUAL_FATAL(call(a, P11W_FN_GET_TOKEN_INFO, &args, &reply, &res), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(p11w_get_token_info(&res, &ti), CKR_OK);
	CU_ASSERT_EQUAL(ti.ulSessionCount, 1);
	CU_ASSERT_EQUAL(ti.ulRwSessionCount, 1);
	CU_ASSERT_EQUAL_FATAL(call(b, P11W_FN_GET_TOKEN_INFO, &args, &reply, &res), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(p11w_get_token_info(&res, &ti), CKR_OK);
	CU_ASSERT_EQUAL(ti.ulSessionCount, 3);
	CU_ASSERT_EQUAL(ti.ulRwSessionCount, 2);
	ped_wbuf_free(&args);
	ped_wbuf_free(&reply);
	apps_disconnect(a);
	apps_disconnect(b);
}

UNIT_SUITE(app_server, suite_init, suite_cleanup, UNIT_TEST(session_closed_while_a_key_is_made),
	   UNIT_TEST(logout_destroys_private_session_objects), UNIT_TEST(last_session_closed_ends_the_login),
	   UNIT_TEST(token_info_counts_the_applications_own_sessions))
