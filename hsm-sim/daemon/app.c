/* The application protocol (app.h): the greeting, one request at a time,
 * the table of functions, and the steps they share (app_int.h). */
#include "app_int.h"
#include "audit.h"

#include "hsm/ck.h"
#include "hsm/result.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/frame.h"
#include "ped/log.h"
#include "ped/net.h"

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#define APP_IO_TIMEOUT_MS 10000
#define APP_SERVER_NAME "hsm-sim " PED_VERSION

/* ---- the steps every function takes ---------------------------------------- */

CK_RV app_args_end(struct app_call *c)
{
	return p11w_end(c->r) == CKR_OK ? CKR_OK : CKR_ARGUMENTS_BAD;
}

static int session_closed(struct app *a, struct app_session *s)
{
	pthread_mutex_lock(&a->mu);
	int closed = s->closed;
	pthread_mutex_unlock(&a->mu);
	return closed;
}

CK_RV app_hold(struct app_call *c)
{
	struct app_session *s = c->s;

	c->hs = s->hs;
	sim_hold(&c->hold, s->hs, NULL);
	/* the session's partition, if it is still in the session's slot
	 * (partition delete moves the later ones down) */
	if (!sim_slot_resolve(s->hs, s->slot, &c->p, &c->pi) || (s->pi >= 0) != (c->p != NULL) ||
	    (c->p && strcmp(c->p->name, s->pname))) {
		ped_info("application %u: session %lu's partition is gone: the session is closed", c->a->no,
			 (unsigned long)s->handle);
		app_release_hsm(c);
		(void)apps_session_close(c->a, s->handle);
		return CKR_SESSION_HANDLE_INVALID;
	}
	return CKR_OK;
}

CK_RV app_use(struct app_call *c, CK_SESSION_HANDLE h, unsigned how)
{
	struct app_session *s;

	if ((s = c->s = apps_session_get(c->a, h)) == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	/* what application list shows: requests, a WithInit one */
	if (!c->counted) {
		atomic_fetch_add(&s->requests, 1);
		c->counted = 1;
	}
	if (how & APP_USE_OPS) {
		pthread_mutex_lock(&s->mu);
		c->s_locked = 1;
		/* it may have closed while another call had it */
		if (session_closed(c->a, s))
			return CKR_SESSION_HANDLE_INVALID;
	}
	return how & APP_USE_HSM ? app_hold(c) : CKR_OK;
}

int app_hsm_in_scope(const struct app_call *c, const struct sim_hsm *hs)
{
	/* a serial never changes once the HSM is added: no lock */
	if (!hs || (c->scope->network && hs->h.is_backup))
		return 0;
	return !c->scope->served || hsm_ctl_restrict_has(c->scope->served, hs->h.serial);
}

CK_RV app_use_slot(struct app_call *c, CK_SLOT_ID slot)
{
	struct sim_hsm *hs;

	if (slot > 100000 || (hs = sim_hsm_of_slot(c->sim, (int)slot)) == NULL || !app_hsm_in_scope(c, hs))
		return CKR_SLOT_ID_INVALID;
	c->hs = hs;
	sim_hold(&c->hold, hs, NULL);
	if (!sim_slot_resolve(hs, (int)slot, &c->p, &c->pi)) {
		/* a slot the HSM has room for but no partition holds; a backup
		 * HSM lists its admin slot only */
		return hs->h.is_backup ? CKR_SLOT_ID_INVALID : CKR_TOKEN_NOT_PRESENT;
	}
	if (c->p && hs->h.is_backup)
		return CKR_SLOT_ID_INVALID; /* its partitions are archives */
	return CKR_OK;
}

void app_release_hsm(struct app_call *c)
{
	app_obj_end(c);
	sim_hold_drop(&c->hold);
	c->p = NULL;
}

void app_done(struct app_call *c)
{
	app_release_hsm(c);
	if (c->s && c->s_locked)
		pthread_mutex_unlock(&c->s->mu);
	c->s_locked = 0;
	apps_session_put(c->a, c->s);
	c->s = NULL;
}

int app_role(struct app_call *c, int *must_change)
{
	struct sim_login *lg = sim_login(&c->a->logins, c->hs);
	uint8_t f = 0;
	int role = -1;

	if (!c->p) {
		if ((f = lg->so) != 0)
			role = HSM_ROLE_SO;
	} else if ((f = lg->po[c->pi]) != 0) {
		role = HSM_ROLE_PO;
	} else if ((f = lg->co[c->pi]) != 0) {
		role = HSM_ROLE_CO;
	} else if ((f = lg->cu[c->pi]) != 0) {
		role = HSM_ROLE_CU;
	}
	if (must_change)
		*must_change = f == AUTH_MUST_CHANGE;
	return role;
}

CK_RV app_need_user(struct app_call *c)
{
	int must_change, role = app_role(c, &must_change);
	if (role != HSM_ROLE_CO && role != HSM_ROLE_CU)
		return CKR_USER_NOT_LOGGED_IN;
	return must_change ? CKR_PIN_EXPIRED : CKR_OK;
}

CK_RV app_need_co(struct app_call *c)
{
	int must_change, role = app_role(c, &must_change);
	if (role < 0)
		return CKR_USER_NOT_LOGGED_IN;
	if (must_change)
		return CKR_PIN_EXPIRED;
	/* the Crypto User uses objects, the Partition SO manages policies:
	 * neither makes, changes or destroys one */
	return role == HSM_ROLE_CO ? CKR_OK : CKR_ACTION_PROHIBITED;
}

CK_RV app_ck_of(int err)
{
	switch (err) {
	case HSM_E_PIN_LEN_RANGE: return CKR_PIN_LEN_RANGE;
	case HSM_E_PIN_EXPIRED: return CKR_PIN_EXPIRED;
	case HSM_E_DEVICE_MEMORY: return CKR_DEVICE_MEMORY;
	case HSM_E_FUNCTION_NOT_SUPPORTED: return CKR_FUNCTION_NOT_SUPPORTED;
	/* the reference's code for a PED wait that ran out */
	case PED_E_TIMED_OUT: return hsm_ck_from_ped(PED_E_TIMEOUT);
	/* another ceremony has the PED: this one did not run */
	case PED_E_BUSY: return CKR_FUNCTION_CANCELED;
	}
	return hsm_ck_from_ped(err);
}

/* ---- requests --------------------------------------------------------------- */

static const app_fn functions[P11W_FN_MAX + 1] = {
	[P11W_FN_GET_SLOT_LIST] = app_get_slot_list,
	[P11W_FN_GET_SLOT_INFO] = app_get_slot_info,
	[P11W_FN_GET_TOKEN_INFO] = app_get_token_info,
	[P11W_FN_GET_MECHANISM_LIST] = app_get_mechanism_list,
	[P11W_FN_GET_MECHANISM_INFO] = app_get_mechanism_info,
	[P11W_FN_INIT_TOKEN] = app_init_token,
	[P11W_FN_INIT_PIN] = app_init_pin,
	[P11W_FN_SET_PIN] = app_set_pin,
	[P11W_FN_OPEN_SESSION] = app_open_session,
	[P11W_FN_CLOSE_SESSION] = app_close_session,
	[P11W_FN_CLOSE_ALL_SESSIONS] = app_close_all_sessions,
	[P11W_FN_GET_SESSION_INFO] = app_get_session_info,
	[P11W_FN_LOGIN] = app_login,
	[P11W_FN_LOGOUT] = app_logout,
	[P11W_FN_CREATE_OBJECT] = app_create_object,
	[P11W_FN_COPY_OBJECT] = app_copy_object,
	[P11W_FN_DESTROY_OBJECT] = app_destroy_object,
	[P11W_FN_GET_OBJECT_SIZE] = app_get_object_size,
	[P11W_FN_GET_ATTRIBUTE_VALUE] = app_get_attribute_value,
	[P11W_FN_SET_ATTRIBUTE_VALUE] = app_set_attribute_value,
	[P11W_FN_FIND_OBJECTS_INIT] = app_find_objects_init,
	[P11W_FN_FIND_OBJECTS] = app_find_objects,
	[P11W_FN_FIND_OBJECTS_FINAL] = app_find_objects_final,
	[P11W_FN_ENCRYPT_INIT] = app_op_init,
	[P11W_FN_ENCRYPT] = app_op_data,
	[P11W_FN_ENCRYPT_UPDATE] = app_op_data,
	[P11W_FN_ENCRYPT_FINAL] = app_op_data,
	[P11W_FN_DECRYPT_INIT] = app_op_init,
	[P11W_FN_DECRYPT] = app_op_data,
	[P11W_FN_DECRYPT_UPDATE] = app_op_data,
	[P11W_FN_DECRYPT_FINAL] = app_op_data,
	[P11W_FN_DIGEST_INIT] = app_op_init,
	[P11W_FN_DIGEST] = app_op_data,
	[P11W_FN_DIGEST_UPDATE] = app_op_data,
	[P11W_FN_DIGEST_KEY] = app_digest_key,
	[P11W_FN_DIGEST_FINAL] = app_op_data,
	[P11W_FN_SIGN_INIT] = app_op_init,
	[P11W_FN_SIGN] = app_op_data,
	[P11W_FN_SIGN_UPDATE] = app_op_data,
	[P11W_FN_SIGN_FINAL] = app_op_data,
	[P11W_FN_VERIFY_INIT] = app_op_init,
	[P11W_FN_VERIFY] = app_verify,
	[P11W_FN_VERIFY_UPDATE] = app_op_data,
	[P11W_FN_VERIFY_FINAL] = app_verify_final,
	[P11W_FN_GENERATE_KEY] = app_generate_key,
	[P11W_FN_GENERATE_KEY_PAIR] = app_generate_key_pair,
	[P11W_FN_WRAP_KEY] = app_wrap_key,
	[P11W_FN_UNWRAP_KEY] = app_unwrap_key,
	[P11W_FN_DERIVE_KEY] = app_derive_key,
	[P11W_FN_SEED_RANDOM] = app_seed_random,
	[P11W_FN_GENERATE_RANDOM] = app_generate_random,
};

/* The HSM's audit log (audit.h): logins, keys made and removed, and each
 * operation's key (its first use, and every use). Reads make no record. */
static void audit_call(struct app_call *c, CK_RV rv)
{
	struct sim_hsm *hs = c->s ? c->s->hs : c->hs;
	int slot = c->s ? c->s->slot : -1, r = rv == CKR_OK ? PED_OK : hsm_result_from_ck((uint32_t)rv);
	const char *name = p11w_fn_name(c->fn) ? p11w_fn_name(c->fn) : "?";

	if (!hs || rv == CKR_BUFFER_TOO_SMALL)
		return;
	switch (c->fn) {
	case P11W_FN_LOGIN:
	case P11W_FN_LOGOUT:
		audit_event(hs, HSM_AUDIT_ACCESS, r, "app", slot, 0, name, "application %u", c->a->no);
		break;
	case P11W_FN_CREATE_OBJECT:
	case P11W_FN_COPY_OBJECT:
	case P11W_FN_DESTROY_OBJECT:
	case P11W_FN_SET_ATTRIBUTE_VALUE:
	case P11W_FN_GENERATE_KEY:
	case P11W_FN_GENERATE_KEY_PAIR:
	case P11W_FN_WRAP_KEY:
	case P11W_FN_UNWRAP_KEY:
	case P11W_FN_DERIVE_KEY:
		audit_event(hs, HSM_AUDIT_KEYMANAGE, r, "app", slot, c->audit_obj, name, "application %u", c->a->no);
		break;
	case P11W_FN_ENCRYPT_INIT:
	case P11W_FN_DECRYPT_INIT:
	case P11W_FN_SIGN_INIT:
	case P11W_FN_VERIFY_INIT:
		if (c->audit_obj)
			audit_key_used(hs, r, "app", slot, c->audit_obj, c->audit_ouid, name);
		break;
	default:
		break;
	}
}

/* The crypto functions: with the HSM's audit log on they wait while a
 * Remote PED operation is in progress on that HSM, as the reference blocks
 * crypto on every application partition then (docs/pkcs11.md). */
static int crypto_fn(uint16_t fn)
{
	return (fn >= P11W_FN_ENCRYPT_INIT && fn <= P11W_FN_DECRYPT_FINAL) ||
	       (fn >= P11W_FN_DIGEST_KEY && fn <= P11W_FN_DIGEST_KEY) ||
	       (fn >= P11W_FN_SIGN_INIT && fn <= P11W_FN_GENERATE_RANDOM);
}

/* The functions audit_call records. */
static int audited_fn(uint16_t fn)
{
	return fn == P11W_FN_LOGIN || fn == P11W_FN_LOGOUT || fn == P11W_FN_CREATE_OBJECT || fn == P11W_FN_COPY_OBJECT ||
	       fn == P11W_FN_DESTROY_OBJECT || fn == P11W_FN_SET_ATTRIBUTE_VALUE || fn == P11W_FN_ENCRYPT_INIT ||
	       fn == P11W_FN_DECRYPT_INIT || fn == P11W_FN_SIGN_INIT || fn == P11W_FN_VERIFY_INIT ||
	       (fn >= P11W_FN_GENERATE_KEY && fn <= P11W_FN_DERIVE_KEY);
}

/* The HSM of the session the request names first (every session
 * function's first argument), or NULL. */
static struct sim_hsm *request_hsm(struct app_call *c)
{
	struct ped_rbuf peek = *c->r;
	CK_SESSION_HANDLE h = p11w_get_ulong(&peek);
	struct app_session *s = apps_session_get(c->a, h);
	struct sim_hsm *hs = s ? s->hs : NULL; /* a session's HSM never changes */
	if (s)
		apps_session_put(c->a, s);
	return hs;
}

/* CKR_OK once no Remote PED operation holds crypto on the call's HSM;
 * CKR_DEVICE_ERROR when one still does after the application's
 * ProbeTimeout. hsm-sim answers then, on the connection the call came on,
 * so the application keeps its connection, sessions and logins and signs
 * again once the ceremony is over (a module that gave up and closed the
 * connection would end the application in hsm-sim). */
static CK_RV wait_remote_ped(struct app_call *c, struct sim_hsm *hs)
{
	struct pedport *pt;
	uint64_t t0;
	int limit = c->peds->ped_timeout_ms, probe = 0;
	if (!hs || !audit_on(hs) || !pedport_remote_busy(pt = pedport_of(c->peds, hs)))
		return CKR_OK;
	if (c->a->probe_ms > 0 && c->a->probe_ms < (uint32_t)limit) {
		limit = (int)c->a->probe_ms;
		probe = 1;
	}
	/* said when it starts, so that an operator (and a suite) sees why an
	 * application stands still */
	ped_info("application %u: %s waits for the Remote PED operation on HSM %s (audit log on)", c->a->no,
		 p11w_fn_name(c->fn) ? p11w_fn_name(c->fn) : "?", hs->h.serial);
	t0 = ped_now_ms();
	/* a Remote PED ceremony can last its whole PED timeout: the call waits
	 * as long, or as the application's ProbeTimeout says */
	if (!pedport_remote_wait(pt, limit)) {
		ped_info("application %u: crypto resumes after %llu ms", c->a->no,
			 (unsigned long long)(ped_now_ms() - t0));
		return CKR_OK;
	}
	if (probe) {
		ped_info("application %u: ProbeTimeout (%d ms) passed during the Remote PED operation: "
			 "CKR_DEVICE_ERROR", c->a->no, limit);
		return CKR_DEVICE_ERROR;
	}
	ped_warn("application %u: a Remote PED operation still runs after %d ms: crypto goes on", c->a->no, limit);
	return CKR_OK;
}

/* A ceremony's lines (what hsmcm's operator would read) go to the log. */
static void log_line(void *arg, const char *text)
{
	const struct app *a = arg;
	if (text[0])
		ped_info("application %u: %s", a->no, text);
}

/* Clears what one function's run left in c, for the next. */
static void call_reset(struct app_call *c)
{
	app_done(c);
	c->hs = NULL;
	c->pi = 0;
	c->audit_obj = c->audit_ouid = 0;
}

/* One function on its arguments: the Remote PED wait and the full log's
 * refusal where they apply, the function, its audit record. */
static CK_RV run_fn(struct app_call *c, uint16_t fn, struct ped_rbuf *args)
{
	struct sim_hsm *hs;
	CK_RV rv;

	c->fn = fn;
	c->r = args;
	/* one look-up of the session for both checks: each takes the
	 * application's lock and walks its sessions */
	hs = audited_fn(fn) || crypto_fn(fn) ? request_hsm(c) : NULL;
	rv = crypto_fn(fn) ? wait_remote_ped(c, hs) : CKR_OK;
	/* a full log refuses what it would have to record (docs/audit.md) */
	if (rv == CKR_OK)
		rv = hs && audited_fn(fn) && audit_full(hs) ? CKR_DEVICE_MEMORY : functions[fn](c);
	audit_call(c, rv);
	call_reset(c);
	return rv;
}

/* WithInit: the operation's init, exactly as its own request would run
 * (checks, audit record), then, if it succeeded, the call on the rest of
 * the request. *fn becomes the call's: the reply carries its results. */
static CK_RV with_init(struct app_call *c, struct ped_rbuf *r, uint16_t *fn)
{
	struct p11w_with_init wi;
	struct ped_rbuf init, peek;
	CK_SESSION_HANDLE h;
	CK_RV rv;

	if (p11w_get_with_init(r, &wi) != CKR_OK)
		return CKR_ARGUMENTS_BAD;
	ped_rbuf_init(&init, wi.init_args, wi.init_len);
	/* one session for both, or the request is malformed */
	peek = init;
	h = p11w_get_ulong(&peek);
	peek = *r;
	if (h != p11w_get_ulong(&peek) || p11w_rbuf_rv(&peek) != CKR_OK)
		return CKR_ARGUMENTS_BAD;
	if ((rv = run_fn(c, wi.init_fn, &init)) != CKR_OK)
		return rv;
	*fn = wi.fn;
	return run_fn(c, wi.fn, r);
}

/* What a narrowed session (HSM_CTL_RESTRICT) may ask: which slots there
 * are and what is in them; a Backup HSM's work goes through the shell. */
static int narrowed_fn(uint16_t fn)
{
	return fn == P11W_FN_GET_SLOT_LIST || fn == P11W_FN_GET_SLOT_INFO || fn == P11W_FN_GET_TOKEN_INFO;
}

void app_request(struct sim *sim, struct pedports *peds, const struct app_scope *scope, struct app *a,
		 const uint8_t *req, size_t len, struct ped_wbuf *reply)
{
	static const struct app_scope everything = {0, NULL};
	struct ped_rbuf r;
	struct app_call c;
	uint32_t id = 0;
	uint16_t fn = 0;
	size_t start = reply->len;
	CK_RV rv;

	ped_rbuf_init(&r, req, len);
	/* The results go straight after the reply's header, which is written
	 * when the call's answer is known: no copy of them, no second buffer
	 * to wipe (a 4 KiB encryption's output was written three times). */
	p11w_put_reply_header(reply, 0, 0);
	memset(&c, 0, sizeof(c));
	c.sim = sim;
	c.peds = peds;
	c.scope = scope ? scope : &everything;
	c.a = a;
	c.r = &r;
	c.w = reply;
	c.out = (struct sim_out){.line = log_line, .arg = a}; /* no one to ask, no files */
	sim_hold_init(&c.hold, sim);
	if (p11w_get_request_header(&r, &id, &fn) != CKR_OK) {
		fn = 0;
		rv = CKR_ARGUMENTS_BAD;
	} else if (c.scope->served && !narrowed_fn(fn)) {
		rv = CKR_ACTION_PROHIBITED; /* WithInit too: an init is never one of these */
	} else if (fn == P11W_FN_WITH_INIT) {
		rv = with_init(&c, &r, &fn);
	} else if (fn > P11W_FN_MAX || !functions[fn]) {
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	} else {
		rv = run_fn(&c, fn, &r);
	}
	app_done(&c);
	if (p11w_reply_has_results(fn, rv) && p11w_wbuf_rv(reply) != CKR_OK)
		rv = p11w_wbuf_rv(reply) == CKR_HOST_MEMORY ? CKR_HOST_MEMORY : CKR_DEVICE_MEMORY; /* no room in one reply */
	if (reply->err || !p11w_reply_has_results(fn, rv))
		ped_wbuf_truncate(reply, start + P11W_REPLY_HEADER_LEN);
	p11w_set_reply_header(reply->p + start, id, rv);
	if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
		ped_trace("application %u: %s: %s", a->no, p11w_fn_name(fn) ? p11w_fn_name(fn) : "?", hsm_ck_name(rv));
}

/* ---- a connection ----------------------------------------------------------- */

static int send_welcome(int fd)
{
	struct p11w_welcome wl = {P11W_VERSION, P11W_PAYLOAD_MAX, APP_SERVER_NAME};
	struct ped_wbuf w;
	int r = PED_E_INVALID;

	ped_wbuf_init(&w, 128);
	if (p11w_put_welcome(&w, &wl) == CKR_OK)
		r = ped_frame_send(fd, P11W_APP_WELCOME, w.p, w.len, APP_IO_TIMEOUT_MS);
	ped_wbuf_free(&w);
	return r;
}

/* Requests are read with no deadline, so the connection's thread can wait
 * in read itself rather than in a poll before it: one system call less per
 * request. A reply that cannot leave still gives up after
 * APP_IO_TIMEOUT_MS (the send timeout, then ped_frame_send's own). Left
 * non-blocking if the timeout cannot be set. */
static void blocking_reads(struct ped_framer *in)
{
	struct timeval tv = {APP_IO_TIMEOUT_MS / 1000, (APP_IO_TIMEOUT_MS % 1000) * 1000};

	if (setsockopt(in->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 && ped_set_nonblock(in->fd, 0) == PED_OK)
		in->blocking = 1;
}

void app_serve(struct sim *sim, struct pedports *peds, const struct app_scope *scope, int fd, struct ped_framer *in,
	       const uint8_t *hello, size_t len)
{
	struct p11w_hello h;
	struct ped_wbuf reply;
	struct app *a;

	/* A version this server does not speak is told ours, then closed. */
	if (len >= 2 && ped_be16_get(hello) != P11W_VERSION) {
		ped_info("an application speaks version %u of the application protocol, not %u: closed",
			 ped_be16_get(hello), P11W_VERSION);
		(void)send_welcome(fd);
		return;
	}
	if (p11w_get_hello(hello, len, &h) != CKR_OK) {
		ped_info("an application's APP_HELLO is malformed: closed");
		return;
	}
	if (send_welcome(fd) != PED_OK || (a = apps_connect(sim, &h)) == NULL) {
		OPENSSL_cleanse(&h, sizeof(h));
		return;
	}
	OPENSSL_cleanse(&h, sizeof(h));
	blocking_reads(in);
	in->dec.max_payload = P11W_PAYLOAD_MAX;
	ped_wbuf_init(&reply, P11W_PAYLOAD_MAX);
	for (;;) {
		uint8_t type, *msg = NULL;
		size_t mlen = 0;
		int r;

		if (ped_framer_recv(in, &type, &msg, &mlen, -1) != PED_OK)
			break;
		if (type != P11W_APP_REQUEST) {
			OPENSSL_clear_free(msg, mlen ? mlen : 1);
			ped_info("application %u: a frame of type 0x%02x where a request belongs: connection closed", a->no,
				 type);
			break;
		}
		if (!sim_op_begin(sim)) { /* hsm-sim is stopping */
			OPENSSL_clear_free(msg, mlen ? mlen : 1);
			break;
		}
		app_request(sim, peds, scope, a, msg, mlen, &reply);
		OPENSSL_clear_free(msg, mlen ? mlen : 1);
		r = reply.err ? PED_E_INVALID
			      : ped_frame_send(fd, P11W_APP_REPLY, reply.p, reply.len, APP_IO_TIMEOUT_MS);
		ped_wbuf_truncate(&reply, 0); /* wiped; its block serves the next reply */
		sim_op_end(sim);
		if (r != PED_OK)
			break;
	}
	ped_wbuf_free(&reply);
	apps_disconnect(a);
}
