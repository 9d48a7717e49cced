/* A stand-in for hsm-sim's side of the application protocol
 * (docs/protocol.md, section 13), so the real clients can be run against
 * libopenped-pkcs11.so before and beside hsm-sim's own server
 * (tests/e2e/pkcs11_standin.sh):
 *
 *   p11_standin SOCKET LOGFILE
 *
 * hsm-sim's default slots (HSM admin 0, one partition "standin" at 1, the
 * backup HSM at 20); objects, mechanisms and operations are libhsm's, with
 * the default key policies. There is no PED: a login with no PIN is
 * granted at once and written to LOGFILE ("login user=1 pin=absent"), so
 * the suite sees which logins went "through the PED". Applications are
 * kept apart by their id as the protocol says: sessions and logins are an
 * application's, and end with its last connection. One lock over
 * everything: this is a test fixture, not a server. */
#include "hsm/mech.h"
#include "hsm/object.h"
#include "ped/buf.h"
#include "ped/error.h"
#include "ped/frame.h"
#include "ped/link.h"
#include "ped/net.h"
#include "ped/p11wire.h"
#include "ped/thread.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_OBJECTS 512
#define MAX_SESSIONS 1024
#define MAX_APPS 64
#define PARTITION_SLOT 1

struct app {
	uint8_t id[P11W_APP_ID_LEN];
	int conns;
	int logged_in;
};

struct session {
	struct app *app; /* NULL: free */
	int rw;
	struct hsm_op *op;
	CK_OBJECT_HANDLE found[MAX_OBJECTS];
	int nfound, next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct hsm_obj *objects[MAX_OBJECTS];
static CK_OBJECT_HANDLE next_handle = 1;
static struct session sessions[MAX_SESSIONS]; /* handle i + 1 */
static struct app apps[MAX_APPS];
static struct hsm_key_env env;
static FILE *login_log;

/* ---- the model ----------------------------------------------------------- */

static struct hsm_obj *object(struct app *a, CK_OBJECT_HANDLE h)
{
	for (int i = 0; i < MAX_OBJECTS; i++)
		if (objects[i] && objects[i]->handle == h)
			return a->logged_in || !hsm_obj_bool(objects[i], CKA_PRIVATE) ? objects[i] : NULL;
	return NULL;
}

static CK_RV keep(struct hsm_obj *o, CK_OBJECT_HANDLE *h)
{
	for (int i = 0; i < MAX_OBJECTS; i++)
		if (!objects[i]) {
			objects[i] = o;
			*h = o->handle = next_handle++;
			return CKR_OK;
		}
	hsm_obj_free(o);
	return CKR_DEVICE_MEMORY;
}

static struct session *session(struct app *a, CK_SESSION_HANDLE h)
{
	return h >= 1 && h <= MAX_SESSIONS && sessions[h - 1].app == a ? &sessions[h - 1] : NULL;
}

static void session_close(struct session *s)
{
	hsm_op_free(s->op);
	memset(s, 0, sizeof(*s));
}

static int open_sessions(void)
{
	int n = 0;
	for (int i = 0; i < MAX_SESSIONS; i++)
		n += sessions[i].app != NULL;
	return n;
}

static void op_done(struct session *s)
{
	if (s->op && !hsm_op_active(s->op)) {
		hsm_op_free(s->op);
		s->op = NULL;
	}
}

static void pad(unsigned char *f, size_t n, const char *text)
{
	memset(f, ' ', n);
	memcpy(f, text, strlen(text) < n ? strlen(text) : n);
}

static CK_RV getattr(void *ctx, CK_ATTRIBUTE *t, CK_ULONG n)
{
	return hsm_obj_get(ctx, t, n);
}

/* ---- the functions ------------------------------------------------------- */

static CK_RV op_init(struct app *a, struct ped_rbuf *r, CK_FLAGS fn, int with_key)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(r);
	struct p11w_mech m;
	struct session *s;
	struct hsm_obj *key = NULL;
	CK_RV rv;

	if ((rv = p11w_get_mechanism(r, &m)) != CKR_OK)
		return rv;
	CK_OBJECT_HANDLE k = with_key ? p11w_get_ulong(r) : 0;
	if ((s = session(a, h)) == NULL)
		rv = CKR_SESSION_HANDLE_INVALID;
	else if (s->op)
		rv = CKR_OPERATION_ACTIVE;
	else if (with_key && (key = object(a, k)) == NULL)
		rv = CKR_KEY_HANDLE_INVALID;
	else
		rv = hsm_op_init(&env, fn, &m.m, key, &s->op);
	p11w_mech_free(&m);
	return rv;
}

/* one-shot (part 0), update (1) or final (2) with output */
static CK_RV op_out(struct app *a, struct ped_rbuf *r, struct ped_wbuf *res, int part)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(r);
	const uint8_t *in = NULL;
	size_t inlen = 0;
	struct p11w_out o;
	struct session *s;
	uint8_t *buf;
	CK_RV rv;

	if (part != 2)
		in = p11w_get_bytes(r, P11W_DATA_MAX, &inlen);
	if (p11w_get_out(r, &o) != CKR_OK)
		return CKR_ARGUMENTS_BAD;
	if ((s = session(a, h)) == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	if (!s->op)
		return CKR_OPERATION_NOT_INITIALIZED;
	/* never more than one reply holds, whatever the caller claims */
	CK_ULONG len = o.present ? (o.capacity > P11W_DATA_MAX ? P11W_DATA_MAX : (CK_ULONG)o.capacity) : 0;
	size_t size = (size_t)len + 1;
	if ((buf = OPENSSL_malloc(size)) == NULL)
		return CKR_HOST_MEMORY;
	if (part == 0)
		rv = hsm_op_oneshot(s->op, in, inlen, o.present ? buf : NULL, &len);
	else if (part == 1)
		rv = hsm_op_update(s->op, in, inlen, o.present ? buf : NULL, &len);
	else
		rv = hsm_op_final(s->op, o.present ? buf : NULL, &len);
	if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL)
		p11w_put_out_result(res, &o, buf, len);
	OPENSSL_clear_free(buf, size);
	op_done(s);
	return rv;
}

static CK_RV serve(struct app *a, uint16_t fn, struct ped_rbuf *r, struct ped_wbuf *res)
{
	struct session *s = NULL;
	struct p11w_template t, t2;
	struct p11w_mech m;
	struct hsm_obj *o, *o2;
	CK_OBJECT_HANDLE h, h2;
	size_t n, n2;
	const uint8_t *p, *p2;
	CK_RV rv = CKR_OK;

	switch (fn) {
	case P11W_FN_GET_SLOT_LIST: {
		struct p11w_slot sl[] = {
			{0, 1, P11W_SLOT_ADMIN, 0, "154438865288"},
			{PARTITION_SLOT, 1, P11W_SLOT_PARTITION, 0, "1544388652881"},
			{2, 0, P11W_SLOT_PARTITION, 0, ""},
			{20, 1, P11W_SLOT_BACKUP, 1, "496771"},
		};
		p11w_put_slot_list(res, sl, 4);
		break;
	}
	case P11W_FN_GET_SLOT_INFO: {
		CK_SLOT_INFO si;
		CK_SLOT_ID slot = p11w_get_ulong(r);
		memset(&si, 0, sizeof(si));
		pad(si.slotDescription, sizeof(si.slotDescription), "p11_standin slot");
		pad(si.manufacturerID, sizeof(si.manufacturerID), "Open PED");
		si.flags = CKF_HW_SLOT | (slot == 2 ? 0 : CKF_TOKEN_PRESENT);
		p11w_put_slot_info(res, &si);
		break;
	}
	case P11W_FN_GET_TOKEN_INFO: {
		CK_TOKEN_INFO ti;
		CK_SLOT_ID slot = p11w_get_ulong(r);
		memset(&ti, 0, sizeof(ti));
		pad(ti.label, sizeof(ti.label), slot == PARTITION_SLOT ? "standin" : slot == 0 ? "standin-hsm" : "backup");
		pad(ti.manufacturerID, sizeof(ti.manufacturerID), "Open PED");
		pad(ti.model, sizeof(ti.model), "p11_standin");
		pad(ti.serialNumber, sizeof(ti.serialNumber), slot == PARTITION_SLOT ? "1544388652881" : "154438865288");
		ti.flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED |
			   CKF_PROTECTED_AUTHENTICATION_PATH;
		ti.ulMaxSessionCount = ti.ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
		ti.ulSessionCount = (CK_ULONG)open_sessions();
		ti.ulRwSessionCount = CK_UNAVAILABLE_INFORMATION;
		ti.ulMaxPinLen = P11W_PIN_MAX;
		ti.ulTotalPublicMemory = ti.ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
		ti.ulTotalPrivateMemory = ti.ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
		memcpy(ti.utcTime, "                ", 16);
		p11w_put_token_info(res, &ti);
		break;
	}
	case P11W_FN_GET_MECHANISM_LIST: {
		CK_MECHANISM_TYPE list[P11W_MECHS_MAX];
		CK_ULONG count = P11W_MECHS_MAX;
		(void)p11w_get_ulong(r);
		if ((rv = hsm_mech_list(&env, list, &count)) == CKR_OK)
			p11w_put_ulong_list(res, list, (uint32_t)count);
		break;
	}
	case P11W_FN_GET_MECHANISM_INFO: {
		CK_MECHANISM_INFO mi;
		(void)p11w_get_ulong(r);
		if ((rv = hsm_mech_info(&env, p11w_get_ulong(r), &mi)) == CKR_OK)
			p11w_put_mechanism_info(res, &mi);
		break;
	}
	case P11W_FN_OPEN_SESSION: {
		CK_SLOT_ID slot = p11w_get_ulong(r);
		CK_FLAGS flags = p11w_get_ulong(r);
		int i;
		if (slot == 2)
			return CKR_TOKEN_NOT_PRESENT;
		for (i = 0; i < MAX_SESSIONS && sessions[i].app; i++)
			;
		if (i == MAX_SESSIONS)
			return CKR_SESSION_COUNT;
		sessions[i].app = a;
		sessions[i].rw = (flags & CKF_RW_SESSION) != 0;
		p11w_put_ulong(res, (CK_ULONG)i + 1);
		break;
	}
	case P11W_FN_CLOSE_SESSION:
		if ((s = session(a, p11w_get_ulong(r))) == NULL)
			return CKR_SESSION_HANDLE_INVALID;
		session_close(s);
		break;
	case P11W_FN_CLOSE_ALL_SESSIONS:
		for (int i = 0; i < MAX_SESSIONS; i++)
			if (sessions[i].app == a)
				session_close(&sessions[i]);
		break;
	case P11W_FN_GET_SESSION_INFO: {
		if ((s = session(a, p11w_get_ulong(r))) == NULL)
			return CKR_SESSION_HANDLE_INVALID;
		CK_SESSION_INFO si = {PARTITION_SLOT,
				      a->logged_in ? (s->rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS)
						   : (s->rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION),
				      CKF_SERIAL_SESSION | (s->rw ? CKF_RW_SESSION : 0), 0};
		p11w_put_session_info(res, &si);
		break;
	}
	case P11W_FN_LOGIN: {
		int present;
		if ((s = session(a, p11w_get_ulong(r))) == NULL)
			return CKR_SESSION_HANDLE_INVALID;
		CK_USER_TYPE type = p11w_get_ulong(r);
		(void)p11w_get_pin(r, &present, &n);
		fprintf(login_log, "login user=%lu pin=%s\n", (unsigned long)type, present ? "given" : "absent");
		fflush(login_log);
		if (a->logged_in)
			return CKR_USER_ALREADY_LOGGED_IN;
		a->logged_in = 1;
		break;
	}
	case P11W_FN_LOGOUT:
		if ((s = session(a, p11w_get_ulong(r))) == NULL)
			return CKR_SESSION_HANDLE_INVALID;
		if (!a->logged_in)
			return CKR_USER_NOT_LOGGED_IN;
		a->logged_in = 0;
		break;
	case P11W_FN_CREATE_OBJECT:
		s = session(a, p11w_get_ulong(r));
		if ((rv = p11w_get_template(r, P11W_TPL_VALUES, &t)) != CKR_OK)
			return rv;
		if (!s)
			rv = CKR_SESSION_HANDLE_INVALID;
		else if ((rv = hsm_obj_create(&env, t.attrs, t.count, &o)) == CKR_OK && (rv = keep(o, &h)) == CKR_OK)
			p11w_put_ulong(res, h);
		p11w_template_free(&t);
		break;
	case P11W_FN_DESTROY_OBJECT:
		s = session(a, p11w_get_ulong(r));
		h = p11w_get_ulong(r);
		if (!s)
			return CKR_SESSION_HANDLE_INVALID;
		for (int i = 0; i < MAX_OBJECTS; i++)
			if (objects[i] && objects[i]->handle == h && object(a, h)) {
				if ((rv = hsm_obj_destroy_check(&env, objects[i])) == CKR_OK) {
					hsm_obj_free(objects[i]);
					objects[i] = NULL;
				}
				return rv;
			}
		return CKR_OBJECT_HANDLE_INVALID;
	case P11W_FN_GET_OBJECT_SIZE:
		s = session(a, p11w_get_ulong(r));
		o = object(a, p11w_get_ulong(r));
		if (!s || !o)
			return !s ? CKR_SESSION_HANDLE_INVALID : CKR_OBJECT_HANDLE_INVALID;
		p11w_put_ulong(res, hsm_obj_size(o));
		break;
	case P11W_FN_GET_ATTRIBUTE_VALUE:
		s = session(a, p11w_get_ulong(r));
		o = object(a, p11w_get_ulong(r));
		if ((rv = p11w_get_template(r, P11W_TPL_LENGTHS, &t)) != CKR_OK)
			return rv;
		if (!s || !o)
			rv = !s ? CKR_SESSION_HANDLE_INVALID : CKR_OBJECT_HANDLE_INVALID;
		else if (p11w_reply_has_results(fn, rv = p11w_getattr_serve(&t, getattr, o)))
			(void)p11w_put_attr_results(res, &t);
		p11w_template_free(&t);
		break;
	case P11W_FN_SET_ATTRIBUTE_VALUE:
		s = session(a, p11w_get_ulong(r));
		o = object(a, p11w_get_ulong(r));
		if ((rv = p11w_get_template(r, P11W_TPL_VALUES, &t)) != CKR_OK)
			return rv;
		rv = !s ? CKR_SESSION_HANDLE_INVALID : !o ? CKR_OBJECT_HANDLE_INVALID : hsm_obj_set(&env, o, t.attrs, t.count);
		p11w_template_free(&t);
		break;
	case P11W_FN_FIND_OBJECTS_INIT:
		s = session(a, p11w_get_ulong(r));
		if ((rv = p11w_get_template(r, P11W_TPL_VALUES, &t)) != CKR_OK)
			return rv;
		if (!s) {
			p11w_template_free(&t);
			return CKR_SESSION_HANDLE_INVALID;
		}
		s->nfound = s->next = 0;
		for (int i = 0; i < MAX_OBJECTS; i++)
			if (objects[i] && object(a, objects[i]->handle) && hsm_obj_match(objects[i], t.attrs, t.count))
				s->found[s->nfound++] = objects[i]->handle;
		p11w_template_free(&t);
		break;
	case P11W_FN_FIND_OBJECTS: {
		CK_OBJECT_HANDLE list[MAX_OBJECTS];
		uint32_t max, count = 0;
		s = session(a, p11w_get_ulong(r));
		max = ped_rbuf_u32(r);
		if (!s)
			return CKR_SESSION_HANDLE_INVALID;
		while (count < max && count < MAX_OBJECTS && s->next < s->nfound)
			list[count++] = s->found[s->next++];
		p11w_put_ulong_list(res, list, count);
		break;
	}
	case P11W_FN_FIND_OBJECTS_FINAL:
		return session(a, p11w_get_ulong(r)) ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
	case P11W_FN_ENCRYPT_INIT:
		return op_init(a, r, CKF_ENCRYPT, 1);
	case P11W_FN_DECRYPT_INIT:
		return op_init(a, r, CKF_DECRYPT, 1);
	case P11W_FN_SIGN_INIT:
		return op_init(a, r, CKF_SIGN, 1);
	case P11W_FN_VERIFY_INIT:
		return op_init(a, r, CKF_VERIFY, 1);
	case P11W_FN_DIGEST_INIT:
		return op_init(a, r, CKF_DIGEST, 0);
	case P11W_FN_ENCRYPT:
	case P11W_FN_DECRYPT:
	case P11W_FN_SIGN:
	case P11W_FN_DIGEST:
		return op_out(a, r, res, 0);
	case P11W_FN_ENCRYPT_UPDATE:
	case P11W_FN_DECRYPT_UPDATE:
		return op_out(a, r, res, 1);
	case P11W_FN_ENCRYPT_FINAL:
	case P11W_FN_DECRYPT_FINAL:
	case P11W_FN_SIGN_FINAL:
	case P11W_FN_DIGEST_FINAL:
		return op_out(a, r, res, 2);
	case P11W_FN_SIGN_UPDATE:
	case P11W_FN_VERIFY_UPDATE:
	case P11W_FN_DIGEST_UPDATE:
		s = session(a, p11w_get_ulong(r));
		p = p11w_get_bytes(r, P11W_DATA_MAX, &n);
		if (!s || !s->op)
			return !s ? CKR_SESSION_HANDLE_INVALID : CKR_OPERATION_NOT_INITIALIZED;
		rv = hsm_op_update(s->op, p, n, NULL, NULL);
		op_done(s);
		break;
	case P11W_FN_VERIFY:
	case P11W_FN_VERIFY_FINAL:
		s = session(a, p11w_get_ulong(r));
		p = fn == P11W_FN_VERIFY ? p11w_get_bytes(r, P11W_DATA_MAX, &n) : NULL;
		p2 = p11w_get_bytes(r, P11W_DATA_MAX, &n2);
		if (!s || !s->op)
			return !s ? CKR_SESSION_HANDLE_INVALID : CKR_OPERATION_NOT_INITIALIZED;
		rv = fn == P11W_FN_VERIFY ? hsm_op_verify(s->op, p, n, p2, n2) : hsm_op_verify_final(s->op, p2, n2);
		op_done(s);
		break;
	case P11W_FN_GENERATE_KEY:
		s = session(a, p11w_get_ulong(r));
		if ((rv = p11w_get_mechanism(r, &m)) != CKR_OK)
			return rv;
		if ((rv = p11w_get_template(r, P11W_TPL_VALUES, &t)) == CKR_OK) {
			if (!s)
				rv = CKR_SESSION_HANDLE_INVALID;
			else if ((rv = hsm_generate_key(&env, &m.m, t.attrs, t.count, &o)) == CKR_OK &&
				 (rv = keep(o, &h)) == CKR_OK)
				p11w_put_ulong(res, h);
			p11w_template_free(&t);
		}
		p11w_mech_free(&m);
		break;
	case P11W_FN_GENERATE_KEY_PAIR:
		s = session(a, p11w_get_ulong(r));
		if ((rv = p11w_get_mechanism(r, &m)) != CKR_OK)
			return rv;
		if ((rv = p11w_get_template(r, P11W_TPL_VALUES, &t)) == CKR_OK) {
			if ((rv = p11w_get_template(r, P11W_TPL_VALUES, &t2)) == CKR_OK) {
				if (!s)
					rv = CKR_SESSION_HANDLE_INVALID;
				else if ((rv = hsm_generate_key_pair(&env, &m.m, t.attrs, t.count, t2.attrs, t2.count, &o,
								     &o2)) == CKR_OK) {
					if ((rv = keep(o, &h)) == CKR_OK && (rv = keep(o2, &h2)) == CKR_OK) {
						p11w_put_ulong(res, h);
						p11w_put_ulong(res, h2);
					}
				}
				p11w_template_free(&t2);
			}
			p11w_template_free(&t);
		}
		p11w_mech_free(&m);
		break;
	case P11W_FN_GENERATE_RANDOM: {
		uint8_t *b;
		s = session(a, p11w_get_ulong(r));
		uint32_t len = ped_rbuf_u32(r);
		if (!s)
			return CKR_SESSION_HANDLE_INVALID;
		if (len > P11W_DATA_MAX)
			return CKR_ARGUMENTS_BAD;
		if ((b = OPENSSL_malloc(len + 1)) == NULL)
			return CKR_HOST_MEMORY;
		if ((rv = hsm_random(b, len)) == CKR_OK)
			p11w_put_bytes(res, b, len);
		OPENSSL_clear_free(b, len + 1);
		break;
	}
	case P11W_FN_SEED_RANDOM:
		return session(a, p11w_get_ulong(r)) ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
	default:
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	return rv;
}

/* ---- connections --------------------------------------------------------- */

static int send_frame(int fd, uint8_t type, const uint8_t *p, size_t len)
{
	uint8_t hdr[PED_FRAME_HEADER_LEN];
	struct part {
		const void *b;
		size_t n;
	} parts[2] = {{hdr, sizeof(hdr)}, {p, len}};

	ped_frame_header_encode(type, (uint32_t)len, hdr);
	for (int i = 0; i < 2; i++)
		for (size_t off = 0; off < parts[i].n;) {
			ssize_t w = send(fd, (const uint8_t *)parts[i].b + off, parts[i].n - off, MSG_NOSIGNAL);
			if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
				usleep(200);
				continue;
			}
			if (w <= 0)
				return -1;
			off += (size_t)w;
		}
	return 0;
}

static struct app *app_enter(const uint8_t id[P11W_APP_ID_LEN])
{
	struct app *free_slot = NULL;
	for (int i = 0; i < MAX_APPS; i++) {
		if (apps[i].conns && !memcmp(apps[i].id, id, P11W_APP_ID_LEN)) {
			apps[i].conns++;
			return &apps[i];
		}
		if (!apps[i].conns && !free_slot)
			free_slot = &apps[i];
	}
	if (free_slot) {
		memset(free_slot, 0, sizeof(*free_slot));
		memcpy(free_slot->id, id, P11W_APP_ID_LEN);
		free_slot->conns = 1;
	}
	return free_slot;
}

/* The application's last connection closed: it has ended. */
static void app_leave(struct app *a)
{
	if (--a->conns)
		return;
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (sessions[i].app == a)
			session_close(&sessions[i]);
	OPENSSL_cleanse(a, sizeof(*a));
}

static void *connection(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct ped_framer in;
	struct p11w_hello hello;
	struct app *a = NULL;
	uint8_t type, *msg = NULL;
	size_t len = 0;

	ped_framer_init(&in, fd, P11W_PAYLOAD_MAX);
	if (ped_framer_recv(&in, &type, &msg, &len, 5000) != PED_OK || type != P11W_APP_HELLO ||
	    p11w_get_hello(msg, len, &hello) != CKR_OK)
		goto out;
	pthread_mutex_lock(&mu);
	a = app_enter(hello.app_id);
	pthread_mutex_unlock(&mu);
	OPENSSL_cleanse(&hello, sizeof(hello));
	if (!a)
		goto out;
	struct p11w_welcome wl = {.version = P11W_VERSION, .max_payload = P11W_PAYLOAD_MAX, .name = "p11_standin"};
	struct ped_wbuf w, res;
	ped_wbuf_init(&w, 256);
	(void)p11w_put_welcome(&w, &wl);
	int sent = send_frame(fd, P11W_APP_WELCOME, w.p, w.len);
	ped_wbuf_free(&w);
	while (sent == 0) {
		struct ped_rbuf r;
		uint32_t id;
		uint16_t fn;
		CK_RV rv;

		OPENSSL_clear_free(msg, len ? len : 1);
		msg = NULL;
		if (ped_framer_recv(&in, &type, &msg, &len, -1) != PED_OK || type != P11W_APP_REQUEST)
			break;
		ped_rbuf_init(&r, msg, len);
		if (p11w_get_request_header(&r, &id, &fn) != CKR_OK)
			break;
		ped_wbuf_init(&res, P11W_PAYLOAD_MAX);
		pthread_mutex_lock(&mu);
		if (fn == P11W_FN_WITH_INIT) {
			/* the init as its own request would run, then the call */
			struct p11w_with_init wi;
			struct ped_rbuf init;
			rv = p11w_get_with_init(&r, &wi);
			if (rv == CKR_OK) {
				ped_rbuf_init(&init, wi.init_args, wi.init_len);
				rv = serve(a, wi.init_fn, &init, &res);
				fn = wi.fn;
			}
			if (rv == CKR_OK)
				rv = serve(a, fn, &r, &res);
		} else {
			rv = serve(a, fn, &r, &res);
		}
		pthread_mutex_unlock(&mu);
		ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
		p11w_put_reply_header(&w, id, rv);
		if (p11w_reply_has_results(fn, rv))
			ped_wbuf_bytes(&w, res.p, res.len);
		sent = p11w_wbuf_rv(&w) == CKR_OK ? send_frame(fd, P11W_APP_REPLY, w.p, w.len) : -1;
		ped_wbuf_free(&w);
		ped_wbuf_free(&res);
	}
out:
	if (a) {
		pthread_mutex_lock(&mu);
		app_leave(a);
		pthread_mutex_unlock(&mu);
	}
	if (msg)
		OPENSSL_clear_free(msg, len ? len : 1);
	ped_framer_free(&in);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	int lfd;

	if (argc != 3) {
		fprintf(stderr, "usage: p11_standin SOCKET LOGFILE\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((login_log = fopen(argv[2], "a")) == NULL || ped_unix_listen(argv[1], 0600, &lfd) != PED_OK) {
		fprintf(stderr, "p11_standin: cannot serve on %s\n", argv[1]);
		return 1;
	}
	hsm_key_env_init(&env);
	ped_set_nonblock(lfd, 0);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return 1;
		}
		ped_set_nonblock(fd, 1);
		if (ped_thread_spawn(connection, (void *)(intptr_t)fd) != PED_OK)
			close(fd);
	}
}
