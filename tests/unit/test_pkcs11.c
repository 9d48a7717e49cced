/* The PKCS#11 module (pkcs11/), without hsm-sim: its configuration, slot
 * numbering and result mapping as functions, and the C_ functions
 * themselves against a scripted stand-in for hsm-sim's application
 * protocol (a thread on a Unix socket speaking ped/p11wire.h): the
 * function table, C_Initialize's rules, argument checks made before
 * anything is sent, PED logins and their results, the two-call
 * convention, threads, C_Finalize during a PED wait, fork. */
#include "unit.h"

#include "../../pkcs11/p11.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/frame.h"
#include "ped/link.h"
#include "ped/net.h"
#include "ped/thread.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the stand-in for hsm-sim ------------------------------------------- */

static struct fake {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char sock[512];
	int listen_fd;
	int close_on_hello;         /* today's hsm-sim */
	struct p11w_slot slots[8];  /* what GetSlotList answers */
	uint32_t nslots;
	CK_RV login_rv;             /* what Login answers */
	int login_hold;             /* Login waits until released */
	int holding;                /* a Login is waiting */
	int pin_present;            /* the last Login's */
	uint32_t ped_ms;            /* the last Login's PED timeout */
	CK_ULONG user_type;
	int requests;               /* APP_REQUESTs served */
	int with_inits;             /* of them WithInit: an init sent with its call */
	CK_RV init_rv;              /* what SignInit and EncryptInit answer */
	CK_ULONG last_init_fn;      /* the last init served, alone or with its call */
	int finals;                 /* operations' final calls served */
	int conns;                  /* connections open */
	uint8_t ids[64][P11W_APP_ID_LEN]; /* application ids greeted, in order */
	int nids;
	CK_ULONG next_session;
	uint16_t stall_fn;          /* a call never answered (0: none) */
	uint16_t hold_fn;           /* a call answered once this is 0 again */
	int held;                   /* a hold_fn call is waiting */
} fk = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .listen_fd = -1};

/* The tests set the stand-in's answers under its lock: its connection
 * threads read them, and a reply on the socket orders nothing for
 * ThreadSanitizer (make check-tsan). */
#define FK_SET(field, value)                                                                                           \
	do {                                                                                                           \
		pthread_mutex_lock(&fk.mu);                                                                            \
		fk.field = (value);                                                                                    \
		pthread_mutex_unlock(&fk.mu);                                                                          \
	} while (0)

static const char signature[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static CK_RV fake_getattr(void *ctx, CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_RV rv = CKR_OK;
	static const CK_OBJECT_CLASS cls = CKO_DATA;
	(void)ctx;
	for (CK_ULONG i = 0; i < n; i++) {
		const void *v = NULL;
		CK_ULONG l = 0;
		if (t[i].type == CKA_LABEL)
			v = "stand-in", l = 8;
		else if (t[i].type == CKA_CLASS)
			v = &cls, l = sizeof(cls);
		if (!v) {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_TYPE_INVALID;
		} else if (t[i].pValue && t[i].ulValueLen < l) {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			if (rv == CKR_OK)
				rv = CKR_BUFFER_TOO_SMALL;
		} else {
			if (t[i].pValue)
				memcpy(t[i].pValue, v, l);
			t[i].ulValueLen = l;
		}
	}
	return rv;
}

/* One request: the reply in w. */
static void serve(struct ped_rbuf *r, uint16_t fn, struct ped_wbuf *w, uint32_t id)
{
	CK_RV rv = CKR_OK;
	struct ped_wbuf res;
	ped_wbuf_init(&res, P11W_PAYLOAD_MAX);

	switch (fn) {
	case P11W_FN_GET_SLOT_LIST:
		pthread_mutex_lock(&fk.mu);
		p11w_put_slot_list(&res, fk.slots, fk.nslots);
		pthread_mutex_unlock(&fk.mu);
		break;
	case P11W_FN_GET_TOKEN_INFO: {
		CK_TOKEN_INFO ti;
		CK_ULONG slot = p11w_get_ulong(r);
		memset(&ti, ' ', sizeof(ti));
		snprintf((char *)ti.label, sizeof(ti.label), "token-%lu", (unsigned long)slot);
		ti.label[strlen((char *)ti.label)] = ' ';
		ti.flags = CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED;
		p11w_put_token_info(&res, &ti);
		break;
	}
	case P11W_FN_OPEN_SESSION:
		pthread_mutex_lock(&fk.mu);
		p11w_put_ulong(&res, ++fk.next_session);
		pthread_mutex_unlock(&fk.mu);
		break;
	case P11W_FN_GET_SESSION_INFO: {
		CK_SESSION_INFO si = {.slotID = 1, .state = CKS_RO_PUBLIC_SESSION, .flags = CKF_SERIAL_SESSION};
		p11w_put_session_info(&res, &si);
		break;
	}
	case P11W_FN_LOGIN: {
		int present;
		size_t pl;
		(void)p11w_get_ulong(r);
		CK_ULONG type = p11w_get_ulong(r);
		(void)p11w_get_pin(r, &present, &pl);
		uint32_t ms = ped_rbuf_u32(r);
		pthread_mutex_lock(&fk.mu);
		fk.user_type = type;
		fk.pin_present = present;
		fk.ped_ms = ms;
		rv = fk.login_rv;
		if (fk.login_hold) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 10;
			fk.holding++;
			pthread_cond_broadcast(&fk.cv);
			while (fk.login_hold && pthread_cond_timedwait(&fk.cv, &fk.mu, &until) == 0)
				;
			fk.holding--;
		}
		pthread_mutex_unlock(&fk.mu);
		break;
	}
	case P11W_FN_GET_MECHANISM_LIST: {
		CK_ULONG l[3] = {CKM_SHA256, CKM_ECDSA, CKM_AES_GCM};
		p11w_put_ulong_list(&res, l, 3);
		break;
	}
	case P11W_FN_SIGN: {
		struct p11w_out o;
		size_t n;
		(void)p11w_get_ulong(r);
		(void)p11w_get_bytes(r, P11W_DATA_MAX, &n);
		(void)p11w_get_out(r, &o);
		if (o.present && o.capacity < sizeof(signature) - 1)
			rv = CKR_BUFFER_TOO_SMALL;
		p11w_put_out_result(&res, &o, signature, sizeof(signature) - 1);
		break;
	}
	case P11W_FN_SIGN_FINAL:
	case P11W_FN_DECRYPT_FINAL: {
		struct p11w_out o;
		size_t l = fn == P11W_FN_SIGN_FINAL ? sizeof(signature) - 1 : 0;
		(void)p11w_get_ulong(r);
		(void)p11w_get_out(r, &o);
		if (o.present && o.capacity < l)
			rv = CKR_BUFFER_TOO_SMALL;
		p11w_put_out_result(&res, &o, signature, l);
		pthread_mutex_lock(&fk.mu);
		fk.finals++;
		pthread_mutex_unlock(&fk.mu);
		break;
	}
	case P11W_FN_VERIFY_FINAL:
		pthread_mutex_lock(&fk.mu);
		fk.finals++;
		pthread_mutex_unlock(&fk.mu);
		break;
	case P11W_FN_GET_ATTRIBUTE_VALUE: {
		struct p11w_template t;
		(void)p11w_get_ulong(r);
		(void)p11w_get_ulong(r);
		if ((rv = p11w_get_template(r, P11W_TPL_LENGTHS, &t)) != CKR_OK)
			break;
		rv = p11w_getattr_serve(&t, fake_getattr, NULL);
		if (p11w_reply_has_results(fn, rv))
			(void)p11w_put_attr_results(&res, &t);
		p11w_template_free(&t);
		break;
	}
	case P11W_FN_SIGN_INIT:
	case P11W_FN_ENCRYPT_INIT:
		pthread_mutex_lock(&fk.mu);
		rv = fk.init_rv;
		fk.last_init_fn = fn;
		pthread_mutex_unlock(&fk.mu);
		break;
	case P11W_FN_ENCRYPT: {
		struct p11w_out o;
		size_t n;
		(void)p11w_get_ulong(r);
		(void)p11w_get_bytes(r, P11W_DATA_MAX, &n);
		(void)p11w_get_out(r, &o);
		if (o.present && o.capacity < n + 16)
			rv = CKR_BUFFER_TOO_SMALL;
		p11w_put_out_result(&res, &o, signature, n + 16 < sizeof(signature) ? n + 16 : 16);
		break;
	}
	case P11W_FN_CLOSE_SESSION:
	case P11W_FN_CLOSE_ALL_SESSIONS:
	case P11W_FN_SIGN_UPDATE:
	case P11W_FN_LOGOUT:
	case P11W_FN_DESTROY_OBJECT:
	case P11W_FN_SET_ATTRIBUTE_VALUE:
		break;
	default:
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	}
	p11w_put_reply_header(w, id, rv);
	if (p11w_reply_has_results(fn, rv))
		ped_wbuf_bytes(w, res.p, res.len);
	ped_wbuf_free(&res);
}

/* A frame to the module, never raising SIGPIPE when it has gone. */
static int fake_send(int fd, uint8_t type, const uint8_t *p, size_t len)
{
	uint8_t buf[PED_FRAME_HEADER_LEN + P11W_PAYLOAD_MAX];
	size_t off = 0, total = PED_FRAME_HEADER_LEN + len;
	ped_frame_header_encode(type, (uint32_t)len, buf);
	memcpy(buf + PED_FRAME_HEADER_LEN, p, len);
	while (off < total) {
		ssize_t n = send(fd, buf + off, total - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN) {
			usleep(1000);
			continue;
		}
		if (n <= 0)
			return PED_E_SOCKET;
		off += (size_t)n;
	}
	return PED_OK;
}

static void *fake_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct ped_framer in;
	uint8_t type, *msg = NULL;
	size_t len = 0;

	ped_framer_init(&in, fd, P11W_PAYLOAD_MAX);
	if (ped_framer_recv(&in, &type, &msg, &len, 5000) != PED_OK || type != P11W_APP_HELLO)
		goto out;
	struct p11w_hello h;
	pthread_mutex_lock(&fk.mu);
	int refuse = fk.close_on_hello;
	pthread_mutex_unlock(&fk.mu);
	if (refuse || p11w_get_hello(msg, len, &h) != CKR_OK)
		goto out;
	pthread_mutex_lock(&fk.mu);
	if (fk.nids < 64)
		memcpy(fk.ids[fk.nids++], h.app_id, P11W_APP_ID_LEN);
	fk.conns++;
	pthread_mutex_unlock(&fk.mu);
	struct p11w_welcome wl = {.version = P11W_VERSION, .max_payload = P11W_PAYLOAD_MAX, .name = "stand-in"};
	struct ped_wbuf w;
	ped_wbuf_init(&w, 256);
	(void)p11w_put_welcome(&w, &wl);
	(void)fake_send(fd, P11W_APP_WELCOME, w.p, w.len);
	ped_wbuf_free(&w);
	for (;;) {
		OPENSSL_clear_free(msg, len ? len : 1);
		msg = NULL;
		if (ped_framer_recv(&in, &type, &msg, &len, -1) != PED_OK || type != P11W_APP_REQUEST)
			break;
		struct ped_rbuf r;
		uint32_t id;
		uint16_t fn;
		ped_rbuf_init(&r, msg, len);
		if (p11w_get_request_header(&r, &id, &fn) != CKR_OK)
			break;
		pthread_mutex_lock(&fk.mu);
		fk.requests++;
		int stall = fk.stall_fn && fn == fk.stall_fn;
		pthread_mutex_unlock(&fk.mu);
		if (stall)
			continue; /* until the module gives up and closes */
		pthread_mutex_lock(&fk.mu);
		if (fk.hold_fn && fn == fk.hold_fn) {
			fk.held = 1;
			pthread_cond_broadcast(&fk.cv);
			while (fk.hold_fn == fn)
				pthread_cond_wait(&fk.cv, &fk.mu);
			fk.held = 0;
		}
		pthread_mutex_unlock(&fk.mu);
		ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
		if (fn == P11W_FN_WITH_INIT) {
			/* the init served as on its own; the call only if it succeeded */
			struct p11w_with_init wi;
			struct ped_rbuf ir;
			struct ped_wbuf iw;
			CK_RV irv = p11w_get_with_init(&r, &wi);
			uint32_t iid;
			pthread_mutex_lock(&fk.mu);
			fk.with_inits++;
			pthread_mutex_unlock(&fk.mu);
			if (irv == CKR_OK) {
				ped_rbuf_init(&ir, wi.init_args, wi.init_len);
				ped_wbuf_init(&iw, 64);
				serve(&ir, wi.init_fn, &iw, id);
				ped_rbuf_init(&ir, iw.p, iw.len);
				(void)p11w_get_reply_header(&ir, &iid, &irv);
				ped_wbuf_free(&iw);
			}
			if (irv == CKR_OK)
				serve(&r, wi.fn, &w, id);
			else
				p11w_put_reply_header(&w, id, irv);
		} else {
			serve(&r, fn, &w, id);
		}
		int sent = fake_send(fd, P11W_APP_REPLY, w.p, w.len);
		ped_wbuf_free(&w);
		if (sent != PED_OK)
			break;
	}
	pthread_mutex_lock(&fk.mu);
	fk.conns--;
	pthread_cond_broadcast(&fk.cv);
	pthread_mutex_unlock(&fk.mu);
out:
	if (msg)
		OPENSSL_clear_free(msg, len ? len : 1);
	ped_framer_free(&in);
	close(fd);
	return NULL;
}

static void *fake_accept(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(fk.listen_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		ped_set_nonblock(fd, 1);
		(void)ped_thread_spawn(fake_conn, (void *)(intptr_t)fd);
	}
}

/* The module's configuration for the tests: EXTRA settings in the file. */
static void configure(const char *extra)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/p11.conf", unit_tmpdir());
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fprintf(f, "Module = { Socket = \"%s\"; PEDTimeout1 = 1000; PEDTimeout2 = 2000; PEDTimeout3 = 3000; %s };\n",
		fk.sock, extra ? extra : "");
	fclose(f);
	setenv(P11_CONF_ENV, path, 1);
}

static int suite_init(void)
{
	snprintf(fk.sock, sizeof(fk.sock), "%s/fake-hsm.sock", unit_tmpdir());
	if (ped_unix_listen(fk.sock, 0600, &fk.listen_fd) != PED_OK)
		return -1;
	ped_set_nonblock(fk.listen_fd, 0);
	return ped_thread_spawn(fake_accept, NULL) == PED_OK ? 0 : -1;
}

static int suite_cleanup(void)
{
	unsetenv(P11_CONF_ENV);
	return 0;
}

static void fake_slots(void)
{
	static const struct p11w_slot s[] = {
		{.slot = 0, .token_present = 1, .kind = P11W_SLOT_ADMIN, .hsm_index = 0, .serial = "154438865288"},
		{.slot = 1, .token_present = 1, .kind = P11W_SLOT_PARTITION, .hsm_index = 0, .serial = "1544388652881"},
		{.slot = 2, .token_present = 0, .kind = P11W_SLOT_PARTITION, .hsm_index = 0},
		{.slot = 20, .token_present = 1, .kind = P11W_SLOT_BACKUP, .hsm_index = 1, .serial = "496771"},
	};
	pthread_mutex_lock(&fk.mu);
	memcpy(fk.slots, s, sizeof(s));
	fk.nslots = 4;
	fk.close_on_hello = 0;
	fk.login_rv = CKR_OK;
	fk.login_hold = 0;
	fk.nids = 0;
	fk.init_rv = CKR_OK;
	pthread_mutex_unlock(&fk.mu);
}

static int finals(void)
{
	pthread_mutex_lock(&fk.mu);
	int n = fk.finals;
	pthread_mutex_unlock(&fk.mu);
	return n;
}

static int requests(void)
{
	pthread_mutex_lock(&fk.mu);
	int n = fk.requests;
	pthread_mutex_unlock(&fk.mu);
	return n;
}

/* ---- configuration, numbering, results ----------------------------------- */

static void configuration_file(void)
{
	struct p11_config c;
	char path[600], err[512];
	FILE *f;

	p11_config_defaults(&c);
	CU_ASSERT(c.show_admin && !c.show_empty && !c.one_base);
	CU_ASSERT(c.ped_timeout[0] == 100000 && c.ped_timeout[1] == 200000 && c.ped_timeout[2] == 20000);

	snprintf(path, sizeof(path), "%s/cfg.conf", unit_tmpdir());
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs("Presentation = { OneBaseSlotId = 7; ShowUserSlots = \"5(154438865288001), 9 ( 496771 )\";\n"
	      "  ShowAdminTokens = false; ShowEmptySlots = true; };\n"
	      "Module = { Socket = \"/x/hsm.sock\"; PEDTimeout2 = 5; PedVendorCodes = true; };\n",
	      f);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(p11_config_load(&c, path, err, sizeof(err)), PED_OK);
	CU_ASSERT_EQUAL(c.one_base, 1); /* any number but 0 is 1 */
	CU_ASSERT(!c.show_admin && c.show_empty && c.vendor_codes);
	CU_ASSERT_EQUAL(c.ped_timeout[1], 5);
	CU_ASSERT_STRING_EQUAL(c.socket, "/x/hsm.sock");
	CU_ASSERT_EQUAL_FATAL(c.nuser_slots, 2);
	CU_ASSERT(c.user_slots[0].slot == 5 && !strcmp(c.user_slots[0].serial, "154438865288001"));
	CU_ASSERT(c.user_slots[1].slot == 9 && !strcmp(c.user_slots[1].serial, "496771"));

	/* any number but 0, a negative or a large one too, is 1 (chapter 13) */
	static const char *const ones[] = {"-1", "-2147483648", "9000000000L"};
	for (size_t i = 0; i < sizeof(ones) / sizeof(ones[0]); i++) {
		f = fopen(path, "w");
		CU_ASSERT_FATAL(f != NULL);
		fprintf(f, "Presentation = { OneBaseSlotId = %s; };\n", ones[i]);
		fclose(f);
		CU_ASSERT_EQUAL(p11_config_load(&c, path, err, sizeof(err)), PED_OK);
		CU_ASSERT_EQUAL(c.one_base, 1);
	}

	/* a bad file names its line; a missing one is the defaults */
	f = fopen(path, "w");
	fputs("Presentation = {\n  ShowEmptySlots = \"maybe\";\n};\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(p11_config_load(&c, path, err, sizeof(err)), PED_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, ":2:"));
	f = fopen(path, "w");
	fputs("Presentation = { ShowUserSlots = \"5 154438865288001\"; };\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(p11_config_load(&c, path, err, sizeof(err)), PED_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "ShowUserSlots"));
	snprintf(path, sizeof(path), "%s/none.conf", unit_tmpdir());
	CU_ASSERT_EQUAL(p11_config_load(&c, path, err, sizeof(err)), PED_OK);
	CU_ASSERT(c.show_admin);

	struct p11_user_slot us[2];
	size_t n;
	CU_ASSERT_EQUAL(p11_parse_user_slots("", us, 2, &n, err, sizeof(err)), PED_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(p11_parse_user_slots("1(a),2(b),3(c)", us, 2, &n, err, sizeof(err)), PED_E_CONFIG);
	CU_ASSERT_EQUAL(p11_parse_user_slots("1()", us, 2, &n, err, sizeof(err)), PED_E_CONFIG);
	CU_ASSERT_EQUAL(p11_parse_user_slots("x(1)", us, 2, &n, err, sizeof(err)), PED_E_CONFIG);
	CU_ASSERT_EQUAL(p11_parse_user_slots("1(12345678901234567)", us, 2, &n, err, sizeof(err)), PED_E_CONFIG);
}

static struct p11_slot_table number(const struct p11_config *c, const struct p11w_slot *s, uint32_t n)
{
	struct p11_slot_table t;
	CU_ASSERT_EQUAL(p11_slots_number(c, s, n, &t), CKR_OK);
	return t;
}

/* hsm-sim slots HSM by HSM: admin, then the partition slots. */
static const struct p11w_slot two_hsms[] = {
	{.slot = 0, .token_present = 1, .kind = P11W_SLOT_ADMIN, .hsm_index = 0, .serial = "A"},
	{.slot = 1, .token_present = 1, .kind = P11W_SLOT_PARTITION, .hsm_index = 0, .serial = "A1"},
	{.slot = 2, .token_present = 1, .kind = P11W_SLOT_PARTITION, .hsm_index = 0, .serial = "A2"},
	{.slot = 3, .token_present = 0, .kind = P11W_SLOT_PARTITION, .hsm_index = 0},
	{.slot = 20, .token_present = 1, .kind = P11W_SLOT_BACKUP, .hsm_index = 1, .serial = "B"},
	{.slot = 40, .token_present = 1, .kind = P11W_SLOT_ADMIN, .hsm_index = 2, .serial = "C"},
	{.slot = 41, .token_present = 0, .kind = P11W_SLOT_PARTITION, .hsm_index = 2},
	{.slot = 42, .token_present = 0, .kind = P11W_SLOT_PARTITION, .hsm_index = 2},
};

static void slot_numbering_as_chapter_13(void)
{
	struct p11_config c;
	struct p11_slot_table t;
	const struct p11_slot *s;

	/* defaults: partitions, then the admin slot; an HSM with no partition
	 * keeps a number for its first one */
	p11_config_defaults(&c);
	t = number(&c, two_hsms, 8);
	CU_ASSERT_EQUAL_FATAL(t.n, 5);
	CU_ASSERT(t.s[0].id == 0 && t.s[0].hsm_slot == 1);
	CU_ASSERT(t.s[1].id == 1 && t.s[1].hsm_slot == 2);
	CU_ASSERT(t.s[2].id == 2 && t.s[2].hsm_slot == 0 && t.s[2].kind == P11W_SLOT_ADMIN);
	CU_ASSERT(t.s[3].id == 3 && t.s[3].hsm_slot == 20 && t.s[3].kind == P11W_SLOT_BACKUP);
	CU_ASSERT(t.s[4].id == 5 && t.s[4].hsm_slot == 40); /* 4 reserved for HSM C's first partition */
	p11_slots_free(&t);

	/* OneBaseSlotId, ShowEmptySlots: every partition slot, without a token */
	c.one_base = 1;
	c.show_empty = 1;
	t = number(&c, two_hsms, 8);
	CU_ASSERT_EQUAL_FATAL(t.n, 8);
	CU_ASSERT(t.s[0].id == 1 && t.s[0].hsm_slot == 1);
	CU_ASSERT(t.s[2].id == 3 && t.s[2].hsm_slot == 3 && !t.s[2].token_present);
	CU_ASSERT(t.s[3].id == 4 && t.s[3].hsm_slot == 0);
	CU_ASSERT(t.s[5].id == 6 && t.s[5].hsm_slot == 41 && !t.s[5].token_present);
	CU_ASSERT(t.s[7].id == 8 && t.s[7].hsm_slot == 40);
	p11_slots_free(&t);

	/* ShowAdminTokens no: admin slots and the backup HSM have no number */
	p11_config_defaults(&c);
	c.show_admin = 0;
	t = number(&c, two_hsms, 8);
	CU_ASSERT_EQUAL_FATAL(t.n, 2);
	CU_ASSERT(t.s[0].id == 0 && t.s[1].id == 1 && t.s[1].hsm_slot == 2);
	p11_slots_free(&t);

	/* ShowUserSlots: A2 at 0; A1 disappears (same HSM, not redirected);
	 * the others number around 0 */
	p11_config_defaults(&c);
	c.user_slots[0] = (struct p11_user_slot){0, "A2"};
	c.nuser_slots = 1;
	t = number(&c, two_hsms, 8);
	CU_ASSERT_PTR_NULL(p11_slots_find_hsm(&t, 0, 1));
	s = p11_slots_find(&t, 0);
	CU_ASSERT(s && s->hsm_slot == 2);
	s = p11_slots_find(&t, 1);
	CU_ASSERT(s && s->hsm_slot == 0);
	s = p11_slots_find(&t, 2);
	CU_ASSERT(s && s->hsm_slot == 20);
	p11_slots_free(&t);

	/* a redirection far away, and two asking for one number */
	c.user_slots[0] = (struct p11_user_slot){20, "A1"};
	c.user_slots[1] = (struct p11_user_slot){20, "A2"};
	c.nuser_slots = 2;
	t = number(&c, two_hsms, 8);
	s = p11_slots_find(&t, 20);
	CU_ASSERT(s && s->hsm_slot == 1);
	CU_ASSERT_PTR_NULL(p11_slots_find_hsm(&t, 0, 2));
	CU_ASSERT(t.s[t.n - 1].id == 20);
	p11_slots_free(&t);

	t = number(&c, NULL, 0);
	CU_ASSERT_EQUAL(t.n, 0);
	p11_slots_free(&t);
}

static void results_as_the_application_sees_them(void)
{
	struct p11_config c;
	p11_config_defaults(&c);
	CU_ASSERT_EQUAL(p11_rv_present(&c, CKR_PIN_INCORRECT, 1), CKR_PIN_INCORRECT);
	CU_ASSERT_EQUAL(p11_rv_present(&c, 0x80000024UL, 1), CKR_FUNCTION_CANCELED);
	CU_ASSERT_EQUAL(p11_rv_present(&c, 0x8000002eUL, 1), CKR_DEVICE_REMOVED);
	CU_ASSERT_EQUAL(p11_rv_present(&c, 0x8000002dUL, 1), CKR_DEVICE_REMOVED);
	CU_ASSERT_EQUAL(p11_rv_present(&c, CKR_CANCEL, 1), CKR_FUNCTION_CANCELED);
	CU_ASSERT_EQUAL(p11_rv_present(&c, 0xc0000500UL, 0), CKR_DEVICE_ERROR);
	CU_ASSERT_EQUAL(p11_rv_present(&c, CKR_DEVICE_REMOVED, 1), CKR_DEVICE_REMOVED);
	c.vendor_codes = 1;
	CU_ASSERT_EQUAL(p11_rv_present(&c, 0x8000002eUL, 1), 0x8000002eUL);
	CU_ASSERT_EQUAL(p11_rv_present(&c, CKR_DEVICE_REMOVED, 1), 0x8000002eUL);
	CU_ASSERT_EQUAL(p11_rv_present(&c, CKR_DEVICE_REMOVED, 0), CKR_DEVICE_REMOVED);
	CU_ASSERT_EQUAL(p11_rv_present(&c, 0x80000024UL, 1), 0x80000024UL);
}

/* ---- the C_ functions ---------------------------------------------------- */

static void function_table(void)
{
	CK_FUNCTION_LIST_PTR f = NULL;
	CK_INFO info;

	CU_ASSERT_EQUAL(C_GetFunctionList(NULL), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL_FATAL(C_GetFunctionList(&f), CKR_OK);
	CU_ASSERT(f->version.major == 2 && f->version.minor == 40);
	/* every entry filled: a client calls any of them */
	void (*const *fp)(void) = (void (*const *)(void))(const void *)&f->C_Initialize;
	size_t n = (sizeof(*f) - offsetof(CK_FUNCTION_LIST, C_Initialize)) / sizeof(*fp);
	CU_ASSERT_EQUAL(n, 68);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT_PTR_NOT_NULL(fp[i]);
	CU_ASSERT(f->C_Sign == C_Sign && f->C_Login == C_Login && f->C_WaitForSlotEvent == C_WaitForSlotEvent);
	/* nothing but C_GetFunctionList before C_Initialize */
	CU_ASSERT_EQUAL(C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	CK_ULONG cnt;
	CU_ASSERT_EQUAL(C_GetSlotList(CK_FALSE, NULL, &cnt), CKR_CRYPTOKI_NOT_INITIALIZED);
}

static int app_locks, app_mutexes;
static CK_RV app_create(CK_VOID_PTR_PTR m)
{
	pthread_mutex_t *pm = malloc(sizeof(*pm));
	pthread_mutex_init(pm, NULL);
	*m = pm;
	__atomic_add_fetch(&app_mutexes, 1, __ATOMIC_SEQ_CST);
	return CKR_OK;
}
static CK_RV app_destroy(CK_VOID_PTR m)
{
	pthread_mutex_destroy(m);
	free(m);
	__atomic_sub_fetch(&app_mutexes, 1, __ATOMIC_SEQ_CST);
	return CKR_OK;
}
static CK_RV app_lock(CK_VOID_PTR m)
{
	__atomic_add_fetch(&app_locks, 1, __ATOMIC_SEQ_CST);
	return pthread_mutex_lock(m) ? CKR_GENERAL_ERROR : CKR_OK;
}
static CK_RV app_unlock(CK_VOID_PTR m)
{
	return pthread_mutex_unlock(m) ? CKR_GENERAL_ERROR : CKR_OK;
}

static void initialize_and_finalize_rules(void)
{
	CK_C_INITIALIZE_ARGS a;
	CK_INFO info;
	CK_ULONG n;

	fake_slots();
	configure(NULL);
	memset(&a, 0, sizeof(a));
	a.pReserved = &a;
	CU_ASSERT_EQUAL(C_Initialize(&a), CKR_ARGUMENTS_BAD);
	memset(&a, 0, sizeof(a));
	a.CreateMutex = app_create; /* some callbacks, not all */
	CU_ASSERT_EQUAL(C_Initialize(&a), CKR_ARGUMENTS_BAD);

	CU_ASSERT_EQUAL_FATAL(C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL(C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
	CU_ASSERT_EQUAL(C_GetInfo(&info), CKR_OK);
	CU_ASSERT(info.cryptokiVersion.major == 2 && info.cryptokiVersion.minor == 40);
	CU_ASSERT(!memcmp(info.manufacturerID, "Open PED  ", 10));
	CU_ASSERT_EQUAL(C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(C_Finalize(&a), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);

	/* the application's callbacks without CKF_OS_LOCKING_OK are used, and
	 * every mutex made is destroyed by C_Finalize */
	memset(&a, 0, sizeof(a));
	a.CreateMutex = app_create;
	a.DestroyMutex = app_destroy;
	a.LockMutex = app_lock;
	a.UnlockMutex = app_unlock;
	app_locks = 0;
	CU_ASSERT_EQUAL_FATAL(C_Initialize(&a), CKR_OK);
	CU_ASSERT_EQUAL(C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	CU_ASSERT(app_locks > 0);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);
	CU_ASSERT_EQUAL(app_mutexes, 0);
	/* with CKF_OS_LOCKING_OK too, the OS's */
	a.flags = CKF_OS_LOCKING_OK;
	app_locks = 0;
	CU_ASSERT_EQUAL_FATAL(C_Initialize(&a), CKR_OK);
	CU_ASSERT_EQUAL(C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	CU_ASSERT_EQUAL(app_locks, 0);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);

	/* CKF_LIBRARY_CANT_CREATE_OS_THREADS: the module starts no thread of
	 * its own for hsm-sim on this host; a network server's TLS link is
	 * one, so with servers configured C_Initialize says so (PKCS#11:
	 * CKR_NEED_TO_CREATE_THREADS), where it said CKR_OK and then started
	 * them in the application's calls */
	a.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS;
	CU_ASSERT_EQUAL_FATAL(C_Initialize(&a), CKR_OK);
	CU_ASSERT_EQUAL(C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);
	/* (configure's text goes inside Module: this closes it, opens Network) */
	configure("}; Network = { ServerName00 = \"127.0.0.1\"; ServerCert00 = \"server.pem\";");
	CU_ASSERT_EQUAL(C_Initialize(&a), CKR_NEED_TO_CREATE_THREADS);
	CU_ASSERT_EQUAL(C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
	a.flags = CKF_OS_LOCKING_OK;
	CU_ASSERT_EQUAL_FATAL(C_Initialize(&a), CKR_OK);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);

	/* a broken configuration file fails C_Initialize */
	configure("PEDTimeout1 = \"soon\";");
	CU_ASSERT_EQUAL(C_Initialize(NULL), CKR_GENERAL_ERROR);
	CU_ASSERT_EQUAL(C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
}

static void no_hsm_sim_means_no_slot(void)
{
	CK_ULONG n = 99;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID list[4];

	/* nobody at the socket */
	char path[600];
	snprintf(path, sizeof(path), "%s/nobody.conf", unit_tmpdir());
	FILE *f = fopen(path, "w");
	fprintf(f, "Module = { Socket = \"%s/nobody.sock\"; };\n", unit_tmpdir());
	fclose(f);
	setenv(P11_CONF_ENV, path, 1);
	CU_ASSERT_EQUAL_FATAL(C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL(C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_SLOT_ID_INVALID);
	CU_ASSERT_EQUAL(C_Login(1, CKU_USER, NULL, 0), CKR_DEVICE_REMOVED);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);

	/* today's hsm-sim: closes the connection on APP_HELLO */
	fake_slots();
	FK_SET(close_on_hello, 1);
	configure(NULL);
	CU_ASSERT_EQUAL_FATAL(C_Initialize(NULL), CKR_OK);
	n = 4;
	CU_ASSERT_EQUAL(C_GetSlotList(CK_FALSE, list, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);
	FK_SET(close_on_hello, 0);
}

static void slots_tokens_and_sessions(void)
{
	CK_SLOT_ID list[8];
	CK_ULONG n = 0;
	CK_TOKEN_INFO ti;
	CK_SLOT_INFO si;
	CK_SESSION_HANDLE s;
	CK_SESSION_INFO info;
	CK_MECHANISM_TYPE mechs[3];

	fake_slots();
	configure(NULL);
	CU_ASSERT_EQUAL_FATAL(C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL(C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 3); /* partition 1 (0), admin (1), backup (2); the empty slot hidden */
	n = 2;
	CU_ASSERT_EQUAL(C_GetSlotList(CK_FALSE, list, &n), CKR_BUFFER_TOO_SMALL);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(C_GetSlotList(CK_TRUE, list, &n), CKR_OK);
	CU_ASSERT(n == 3 && list[0] == 0 && list[1] == 1 && list[2] == 2);
	CU_ASSERT_EQUAL(C_GetSlotList(CK_FALSE, list, NULL), CKR_ARGUMENTS_BAD);

	CU_ASSERT_EQUAL(C_GetTokenInfo(0, &ti), CKR_OK);
	CU_ASSERT(!memcmp(ti.label, "token-1 ", 8)); /* slot 0 is hsm-sim's slot 1 */
	CU_ASSERT(ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH);
	CU_ASSERT(ti.flags & CKF_LOGIN_REQUIRED);
	CU_ASSERT_EQUAL(C_GetTokenInfo(7, &ti), CKR_SLOT_ID_INVALID);
	CU_ASSERT_EQUAL(C_GetTokenInfo(0, NULL), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(C_GetSlotInfo(0, &si), CKR_FUNCTION_NOT_SUPPORTED); /* the stand-in's answer, passed on */

	n = 0;
	CU_ASSERT_EQUAL(C_GetMechanismList(0, NULL, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 3);
	n = 1;
	CU_ASSERT_EQUAL(C_GetMechanismList(0, mechs, &n), CKR_BUFFER_TOO_SMALL);
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_EQUAL(C_GetMechanismList(0, mechs, &n), CKR_OK);
	CU_ASSERT(mechs[1] == CKM_ECDSA);

	CU_ASSERT_EQUAL(C_OpenSession(0, 0, NULL, NULL, &s), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	CU_ASSERT_EQUAL(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, NULL), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL_FATAL(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	CU_ASSERT_EQUAL(C_GetSessionInfo(s, &info), CKR_OK);
	CU_ASSERT_EQUAL(info.slotID, 0); /* hsm-sim's slot 1, numbered */
	CU_ASSERT_EQUAL(C_CloseSession(s), CKR_OK);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);
}

static void arguments_checked_before_sending(void)
{
	CK_SESSION_HANDLE s = 1;
	CK_ULONG n;
	CK_BYTE buf[8];
	CK_BBOOL yes = 1;
	CK_ULONG three = 3;
	CK_ATTRIBUTE bad_class = {CKA_CLASS, &yes, 1}, bad_tpl = {CKA_WRAP_TEMPLATE, &three, sizeof(three)};
	CK_OBJECT_HANDLE o;
	CK_MECHANISM wrong = {CKM_RSA_PKCS_PSS, buf, 3};
	uint8_t pin[P11W_PIN_MAX + 1];

	fake_slots();
	configure(NULL);
	CU_ASSERT_EQUAL_FATAL(C_Initialize(NULL), CKR_OK);
	int before = requests();
	CU_ASSERT_EQUAL(C_CreateObject(s, NULL, 1, &o), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(C_CreateObject(s, &bad_class, 1, NULL), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(C_CreateObject(s, &bad_class, 1, &o), CKR_ATTRIBUTE_VALUE_INVALID);
	CU_ASSERT_EQUAL(C_CreateObject(s, &bad_tpl, 1, &o), CKR_ATTRIBUTE_TYPE_INVALID);
	CU_ASSERT_EQUAL(C_SignInit(s, NULL, 1), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(C_SignInit(s, &wrong, 1), CKR_MECHANISM_PARAM_INVALID);
	CU_ASSERT_EQUAL(C_Sign(s, NULL, 4, buf, &n), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(C_Sign(s, buf, 4, buf, NULL), CKR_ARGUMENTS_BAD);
	memset(pin, '1', sizeof(pin));
	CU_ASSERT_EQUAL(C_Login(s, CKU_USER, pin, sizeof(pin)), CKR_PIN_LEN_RANGE);
	CU_ASSERT_EQUAL(C_InitToken(0, NULL, 0, NULL), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(C_FindObjects(s, NULL, 4, &n), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(C_GetAttributeValue(s, 1, NULL, 2), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(C_GenerateKeyPair(s, NULL, NULL, 0, NULL, 0, &o, &o), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL), CKR_NO_EVENT);
	CU_ASSERT_EQUAL(C_SignRecoverInit(s, &wrong, 1), CKR_FUNCTION_NOT_SUPPORTED);
	CU_ASSERT_EQUAL(C_GetFunctionStatus(s), CKR_FUNCTION_NOT_PARALLEL);
	CU_ASSERT_EQUAL(requests(), before); /* none of these reached hsm-sim */
	/* inputs larger than one request may carry: refused here, and, as
	 * PKCS#11 has a call that fails end its operation, the HSM's is ended
	 * with its final call (the next init would be CKR_OPERATION_ACTIVE) */
	static CK_BYTE big[P11W_DATA_MAX + 1];
	int f = finals();
	n = sizeof(buf);
	CU_ASSERT_EQUAL(C_Sign(s, big, sizeof(big), buf, &n), CKR_DATA_LEN_RANGE);
	CU_ASSERT_EQUAL(C_Decrypt(s, big, sizeof(big), buf, &n), CKR_ENCRYPTED_DATA_LEN_RANGE);
	CU_ASSERT_EQUAL(C_Verify(s, buf, 4, big, P11W_VALUE_MAX + 1), CKR_SIGNATURE_LEN_RANGE);
	CU_ASSERT_EQUAL(C_VerifyFinal(s, big, sizeof(big)), CKR_SIGNATURE_LEN_RANGE);
	CU_ASSERT_EQUAL(finals() - f, 4);
	CU_ASSERT_EQUAL(requests(), before + 4);
	/* an update that large goes in pieces */
	CU_ASSERT_EQUAL(C_SignUpdate(s, big, sizeof(big)), CKR_OK);
	CU_ASSERT_EQUAL(requests(), before + 6);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);
}

static void logins_through_the_ped(void)
{
	CK_SESSION_HANDLE s;

	fake_slots();
	configure(NULL);
	CU_ASSERT_EQUAL_FATAL(C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	/* NULL_PTR: the PED; the HSM may wait PEDTimeout1 + PEDTimeout2 */
	CU_ASSERT_EQUAL(C_Login(s, CKU_USER, NULL, 0), CKR_OK);
	pthread_mutex_lock(&fk.mu);
	CU_ASSERT(!fk.pin_present && fk.ped_ms == 3000 && fk.user_type == CKU_USER);
	/* "" is a PIN pad login too, as applications pass it */
	fk.pin_present = 1;
	pthread_mutex_unlock(&fk.mu);
	CU_ASSERT_EQUAL(C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "", 0), CKR_OK);
	pthread_mutex_lock(&fk.mu);
	CU_ASSERT(!fk.pin_present);
	pthread_mutex_unlock(&fk.mu);
	CU_ASSERT_EQUAL(C_Login(s, P11W_CKU_CRYPTO_USER, (CK_UTF8CHAR_PTR) "open sesame", 11), CKR_OK);
	pthread_mutex_lock(&fk.mu);
	CU_ASSERT(fk.pin_present && fk.user_type == P11W_CKU_CRYPTO_USER);
	pthread_mutex_unlock(&fk.mu);
	/* the HSM's results, and the reference's vendor codes mapped */
	static const struct {
		CK_RV hsm, app;
	} cases[] = {
		{CKR_PIN_INCORRECT, CKR_PIN_INCORRECT},
		{CKR_PIN_LOCKED, CKR_PIN_LOCKED},
		{CKR_USER_ALREADY_LOGGED_IN, CKR_USER_ALREADY_LOGGED_IN},
		{CKR_FUNCTION_CANCELED, CKR_FUNCTION_CANCELED},
		{0x80000024UL, CKR_FUNCTION_CANCELED},
		{0x8000002eUL, CKR_DEVICE_REMOVED},
		{CKR_CANCEL, CKR_FUNCTION_CANCELED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FK_SET(login_rv, cases[i].hsm);
		CU_ASSERT_EQUAL(C_Login(s, CKU_SO, NULL, 0), cases[i].app);
	}
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);

	configure("PedVendorCodes = true;");
	CU_ASSERT_EQUAL_FATAL(C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	FK_SET(login_rv, CKR_DEVICE_REMOVED);
	CU_ASSERT_EQUAL(C_Login(s, CKU_USER, NULL, 0), 0x8000002eUL);
	FK_SET(login_rv, 0x80000024UL);
	CU_ASSERT_EQUAL(C_Login(s, CKU_USER, NULL, 0), 0x80000024UL);
	FK_SET(login_rv, CKR_OK);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);
}

static void two_call_convention_and_attributes(void)
{
	CK_SESSION_HANDLE s;
	CK_BYTE sig[128];
	CK_ULONG n;
	char label[16];
	CK_OBJECT_CLASS cls = 0;
	CK_ATTRIBUTE q[] = {{CKA_LABEL, NULL, 0}, {CKA_CLASS, &cls, sizeof(cls)}, {CKA_VALUE, NULL, 0}};
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};

	fake_slots();
	configure(NULL);
	CU_ASSERT_EQUAL_FATAL(C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	CU_ASSERT_EQUAL(C_SignInit(s, &mech, 5), CKR_OK);
	n = 0;
	CU_ASSERT_EQUAL(C_Sign(s, (CK_BYTE_PTR) "data", 4, NULL, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 64);
	n = 10;
	CU_ASSERT_EQUAL(C_Sign(s, (CK_BYTE_PTR) "data", 4, sig, &n), CKR_BUFFER_TOO_SMALL);
	CU_ASSERT_EQUAL(n, 64);
	n = sizeof(sig);
	CU_ASSERT_EQUAL(C_Sign(s, (CK_BYTE_PTR) "data", 4, sig, &n), CKR_OK);
	CU_ASSERT(n == 64 && !memcmp(sig, signature, 64));

	CU_ASSERT_EQUAL(C_GetAttributeValue(s, 9, q, 3), CKR_ATTRIBUTE_TYPE_INVALID);
	CU_ASSERT_EQUAL(q[0].ulValueLen, 8);
	CU_ASSERT_EQUAL(cls, CKO_DATA);
	CU_ASSERT_EQUAL(q[2].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	q[0].pValue = label;
	q[0].ulValueLen = 3;
	CU_ASSERT_EQUAL(C_GetAttributeValue(s, 9, q, 2), CKR_BUFFER_TOO_SMALL);
	CU_ASSERT_EQUAL(q[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	q[0].ulValueLen = sizeof(label);
	CU_ASSERT_EQUAL(C_GetAttributeValue(s, 9, q, 2), CKR_OK);
	CU_ASSERT(q[0].ulValueLen == 8 && !memcmp(label, "stand-in", 8));
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);
}

struct signer {
	CK_SLOT_ID slot;
	int n, ok;
};

static void *sign_loop(void *arg)
{
	struct signer *g = arg;
	CK_SESSION_HANDLE s;
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	CK_BYTE sig[64];
	if (C_OpenSession(g->slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
		return NULL;
	for (int i = 0; i < g->n; i++) {
		CK_ULONG n = sizeof(sig);
		if (C_SignInit(s, &mech, 5) == CKR_OK && C_Sign(s, (CK_BYTE_PTR) "d", 1, sig, &n) == CKR_OK && n == 64)
			g->ok++;
	}
	(void)C_CloseSession(s);
	return NULL;
}

static CK_RV held_login_rv;
static void *held_login(void *arg)
{
	(void)arg;
	held_login_rv = C_Login(1, CKU_USER, NULL, 0);
	return NULL;
}

static void wait_holding(int want)
{
	pthread_mutex_lock(&fk.mu);
	for (int i = 0; i < 500 && fk.holding != want; i++) {
		pthread_mutex_unlock(&fk.mu);
		usleep(10000);
		pthread_mutex_lock(&fk.mu);
	}
	CU_ASSERT_EQUAL(fk.holding, want);
	pthread_mutex_unlock(&fk.mu);
}

/* A PED login holds up no other thread; C_Finalize wakes it and every
 * connection of the application closes. */
static void threads_and_a_ped_wait(void)
{
	pthread_t login, t[4];
	struct signer g[4];

	fake_slots();
	configure(NULL);
	CU_ASSERT_EQUAL_FATAL(C_Initialize(NULL), CKR_OK);
	FK_SET(login_hold, 1);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&login, NULL, held_login, NULL), 0);
	wait_holding(1);
	for (int i = 0; i < 4; i++) {
		g[i] = (struct signer){.slot = 0, .n = 50, .ok = 0};
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, sign_loop, &g[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CU_ASSERT_EQUAL(g[i].ok, 50);
	}
	/* the login still waits on its PED; C_Finalize ends it */
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);
	pthread_join(login, NULL);
	CU_ASSERT_EQUAL(held_login_rv, CKR_CRYPTOKI_NOT_INITIALIZED);
	pthread_mutex_lock(&fk.mu);
	fk.login_hold = 0;
	pthread_cond_broadcast(&fk.cv);
	for (int i = 0; i < 500 && fk.conns; i++) {
		pthread_mutex_unlock(&fk.mu);
		usleep(10000);
		pthread_mutex_lock(&fk.mu);
	}
	CU_ASSERT_EQUAL(fk.conns, 0); /* hsm-sim would now end the application's sessions */
	pthread_mutex_unlock(&fk.mu);
}

/* After fork the child is not initialized; initialized again, it is
 * another application (another id) to hsm-sim. */
static void fork_starts_uninitialized(void)
{
	CK_ULONG n;
	int status = 0, before;
	pid_t pid;

	fake_slots();
	configure(NULL);
	CU_ASSERT_EQUAL_FATAL(C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL(C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	pthread_mutex_lock(&fk.mu);
	before = fk.nids;
	pthread_mutex_unlock(&fk.mu);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		int code = 0;
		if (C_GetSlotList(CK_FALSE, NULL, &n) != CKR_CRYPTOKI_NOT_INITIALIZED)
			code |= 1;
		if (C_Initialize(NULL) != CKR_OK)
			code |= 2;
		if (C_GetSlotList(CK_FALSE, NULL, &n) != CKR_OK || n != 3)
			code |= 4;
		if (C_Finalize(NULL) != CKR_OK)
			code |= 8;
		_exit(code);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the parent goes on with its connection, untouched by the child's exit */
	CU_ASSERT_EQUAL(C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 3);
	pthread_mutex_lock(&fk.mu);
	CU_ASSERT_FATAL(fk.nids >= before + 1 && before >= 1);
	CU_ASSERT(memcmp(fk.ids[before - 1], fk.ids[before], P11W_APP_ID_LEN) != 0);
	pthread_mutex_unlock(&fk.mu);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);
}

static int with_inits(void)
{
	pthread_mutex_lock(&fk.mu);
	int n = fk.with_inits;
	pthread_mutex_unlock(&fk.mu);
	return n;
}

static void fake_init_rv(CK_RV rv)
{
	pthread_mutex_lock(&fk.mu);
	fk.init_rv = rv;
	fk.last_init_fn = 0;
	pthread_mutex_unlock(&fk.mu);
}

/* Init and sign; how many requests that took. */
static int sign_once(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, CK_RV *init_rv, CK_RV *sign_rv)
{
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	CK_BYTE sig[64];
	CK_ULONG n = sizeof(sig);
	int before = requests();
	*init_rv = C_SignInit(s, &mech, key);
	*sign_rv = *init_rv == CKR_OK ? C_Sign(s, (CK_BYTE_PTR) "d", 1, sig, &n) : CKR_OK;
	return requests() - before;
}

/* An init the HSM accepted on this session is sent with the operation's
 * call: one request per operation after the first. Anything that could
 * change the HSM's answer sends the next init alone again, so its errors
 * come from C_xInit; a deferred init that fails fails the call. */
static void one_round_trip_per_operation(void)
{
	CK_SESSION_HANDLE s, s2;
	CK_RV irv, srv;
	CK_BYTE iv[16] = {0}, data[32] = {0}, out[64];
	CK_GCM_PARAMS gp = {.pIv = iv, .ulIvLen = 12, .ulIvBits = 96, .ulTagBits = 128};
	CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof(gp)}, ecdsa = {CKM_ECDSA, NULL, 0};
	CK_ULONG n;
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE sign_off = {CKA_SIGN, &no, sizeof(no)};

	fake_slots();
	configure(NULL);
	CU_ASSERT_EQUAL_FATAL(C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_OK);

	/* the first init of (session, key, mechanism) goes alone, then one
	 * request per operation, the init in front of the call */
	CU_ASSERT_EQUAL(sign_once(s, 5, &irv, &srv), 2);
	CU_ASSERT_EQUAL(irv, CKR_OK);
	CU_ASSERT_EQUAL(srv, CKR_OK);
	int w = with_inits();
	for (int i = 0; i < 10; i++) {
		CU_ASSERT_EQUAL(sign_once(s, 5, &irv, &srv), 1);
		CU_ASSERT_EQUAL(srv, CKR_OK);
	}
	CU_ASSERT_EQUAL(with_inits(), w + 10);
	/* another key, another session: their first inits go alone */
	CU_ASSERT_EQUAL(sign_once(s, 6, &irv, &srv), 2);
	CU_ASSERT_EQUAL(sign_once(s2, 5, &irv, &srv), 2);

	/* an operation pending here is active, as the HSM would say */
	CU_ASSERT_EQUAL(C_SignInit(s, &ecdsa, 5), CKR_OK);
	CU_ASSERT_EQUAL(C_SignInit(s, &ecdsa, 5), CKR_OPERATION_ACTIVE);
	n = sizeof(out);
	CU_ASSERT_EQUAL(C_Sign(s, data, 32, out, &n), CKR_OK);
	/* a call refused for its length ends the operation, an init still
	 * deferred with it: the next init is not CKR_OPERATION_ACTIVE */
	static CK_BYTE big[P11W_DATA_MAX + 1];
	CU_ASSERT_EQUAL(C_SignInit(s, &ecdsa, 5), CKR_OK);
	n = sizeof(out);
	CU_ASSERT_EQUAL(C_Sign(s, big, sizeof(big), out, &n), CKR_DATA_LEN_RANGE);
	CU_ASSERT_EQUAL(C_SignInit(s, &ecdsa, 5), CKR_OK);
	n = sizeof(out);
	CU_ASSERT_EQUAL(C_Sign(s, data, 32, out, &n), CKR_OK);

	/* the key changed by another application meanwhile: the call says
	 * so, the operation ends, and the next init goes alone */
	fake_init_rv(CKR_KEY_HANDLE_INVALID);
	CU_ASSERT_EQUAL(sign_once(s, 5, &irv, &srv), 1);
	CU_ASSERT_EQUAL(irv, CKR_OK);
	CU_ASSERT_EQUAL(srv, CKR_KEY_HANDLE_INVALID);
	CU_ASSERT_EQUAL(sign_once(s, 5, &irv, &srv), 1);
	CU_ASSERT_EQUAL(irv, CKR_KEY_HANDLE_INVALID); /* from C_SignInit itself */
	fake_init_rv(CKR_OK);
	CU_ASSERT_EQUAL(sign_once(s, 5, &irv, &srv), 2);
	CU_ASSERT_EQUAL(sign_once(s, 5, &irv, &srv), 1);

	/* a first-time error comes from the init, and is not remembered */
	fake_init_rv(CKR_KEY_FUNCTION_NOT_PERMITTED);
	CU_ASSERT_EQUAL(sign_once(s, 7, &irv, &srv), 1);
	CU_ASSERT_EQUAL(irv, CKR_KEY_FUNCTION_NOT_PERMITTED);
	CU_ASSERT_EQUAL(sign_once(s, 7, &irv, &srv), 1);
	CU_ASSERT_EQUAL(irv, CKR_KEY_FUNCTION_NOT_PERMITTED);
	fake_init_rv(CKR_OK);

	/* what this application does to the key or its login ends what the
	 * module knew: the next init goes alone */
	CU_ASSERT_EQUAL(C_DestroyObject(s2, 5), CKR_OK);
	CU_ASSERT_EQUAL(sign_once(s, 5, &irv, &srv), 2);
	CU_ASSERT_EQUAL(sign_once(s, 5, &irv, &srv), 1);
	CU_ASSERT_EQUAL(C_SetAttributeValue(s, 5, &sign_off, 1), CKR_OK);
	CU_ASSERT_EQUAL(sign_once(s, 5, &irv, &srv), 2);
	CU_ASSERT_EQUAL(C_Logout(s), CKR_OK);
	CU_ASSERT_EQUAL(sign_once(s, 5, &irv, &srv), 2);
	CU_ASSERT_EQUAL(sign_once(s2, 5, &irv, &srv), 2);

	/* parameters: the same shape (another IV of the same length) goes
	 * with the call, another shape alone; the IV travels with the call */
	int before = requests();
	n = sizeof(out);
	CU_ASSERT_EQUAL(C_EncryptInit(s, &gcm, 9), CKR_OK);
	CU_ASSERT_EQUAL(C_Encrypt(s, data, 16, out, &n), CKR_OK);
	CU_ASSERT_EQUAL(requests() - before, 2);
	iv[0] = 1;
	before = requests();
	n = sizeof(out);
	CU_ASSERT_EQUAL(C_EncryptInit(s, &gcm, 9), CKR_OK);
	iv[0] = 2; /* the caller's buffer may change once the init returned */
	CU_ASSERT_EQUAL(C_Encrypt(s, data, 16, out, &n), CKR_OK);
	CU_ASSERT_EQUAL(requests() - before, 1);
	gp.ulIvLen = 16, gp.ulIvBits = 128;
	before = requests();
	n = sizeof(out);
	CU_ASSERT_EQUAL(C_EncryptInit(s, &gcm, 9), CKR_OK);
	CU_ASSERT_EQUAL(C_Encrypt(s, data, 16, out, &n), CKR_OK);
	CU_ASSERT_EQUAL(requests() - before, 2);
	/* a length query keeps the operation: the call after it goes alone
	 * (and ends it, so the next init is deferred again) */
	before = requests();
	w = with_inits();
	CU_ASSERT_EQUAL(C_EncryptInit(s, &gcm, 9), CKR_OK);
	CU_ASSERT_EQUAL(C_Encrypt(s, data, 16, NULL, &n), CKR_OK);
	CU_ASSERT_EQUAL(n, 32);
	CU_ASSERT_EQUAL(C_Encrypt(s, data, 16, out, &n), CKR_OK);
	CU_ASSERT_EQUAL(requests() - before, 2);
	CU_ASSERT_EQUAL(with_inits() - w, 1);
	CU_ASSERT_EQUAL(C_EncryptInit(s, &gcm, 9), CKR_OK);
	n = sizeof(out);
	CU_ASSERT_EQUAL(C_Encrypt(s, data, 16, out, &n), CKR_OK);
	CU_ASSERT_EQUAL(requests() - before, 3);
	CU_ASSERT_EQUAL(with_inits() - w, 2);

	/* a closed session takes its deferred init with it */
	CU_ASSERT_EQUAL(C_SignInit(s2, &ecdsa, 5), CKR_OK);
	CU_ASSERT_EQUAL(C_CloseSession(s2), CKR_OK);
	CU_ASSERT_EQUAL(C_CloseSession(s), CKR_OK);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);
}

/* Each call waits for its reply as long as its own timeout, whatever the
 * call before it on the connection waited (conn.c sets the socket's
 * receive timeout when it changes): a key pair the HSM never answers fails
 * at KeypairGenTimeout, after calls that may wait DefaultTimeout (5 s). */
static void each_call_waits_its_own_timeout(void)
{
	static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_ATTRIBUTE pubt[] = {{CKA_EC_PARAMS, (void *)p256, sizeof(p256)}};
	CK_MECHANISM gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_OBJECT_HANDLE pub, priv;
	CK_SESSION_HANDLE s;
	CK_TOKEN_INFO ti;

	fake_slots();
	configure("DefaultTimeout = 5000; KeypairGenTimeout = 200;");
	CU_ASSERT_EQUAL_FATAL(C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	CU_ASSERT_EQUAL(C_GetTokenInfo(0, &ti), CKR_OK);
	pthread_mutex_lock(&fk.mu);
	fk.stall_fn = P11W_FN_GENERATE_KEY_PAIR;
	pthread_mutex_unlock(&fk.mu);
	uint64_t t0 = ped_now_ms();
	CU_ASSERT_EQUAL(C_GenerateKeyPair(s, &gen, pubt, 1, NULL, 0, &pub, &priv), CKR_DEVICE_ERROR);
	uint64_t waited = ped_now_ms() - t0;
	CU_ASSERT(waited >= 150 && waited < 4000);
	pthread_mutex_lock(&fk.mu);
	fk.stall_fn = 0;
	pthread_mutex_unlock(&fk.mu);
	/* and the next call, on a new connection, is answered */
	CU_ASSERT_EQUAL(C_GetTokenInfo(0, &ti), CKR_OK);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);
}

/* C_CloseAllSessions: what the module kept of each session of the slot
 * (defer.c) goes with it. It stayed until C_Finalize: an application that
 * closes its sessions this way grew by each one it ever opened (1.4 KiB a
 * session, 14 MB after 10,000). The other slots' sessions keep theirs. */
static void close_all_sessions_keeps_nothing_of_them(void)
{
	CK_SESSION_HANDLE s, other;
	struct p11_module *m;
	CK_RV irv, srv;
	size_t before;

	fake_slots();
	configure(NULL);
	CU_ASSERT_EQUAL_FATAL(C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(p11_module_get(&m), CKR_OK);
	before = p11_defer_sessions(m);
	CU_ASSERT_EQUAL_FATAL(C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &other), CKR_OK);
	for (int i = 0; i < 100; i++) {
		CU_ASSERT_EQUAL_FATAL(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
		CU_ASSERT_EQUAL_FATAL(C_CloseAllSessions(0), CKR_OK);
	}
	CU_ASSERT_EQUAL(p11_defer_sessions(m), before + 1);
	/* the other slot's session goes on as before: its first init alone,
	 * then with its call */
	CU_ASSERT_EQUAL(sign_once(other, 5, &irv, &srv), 2);
	CU_ASSERT_EQUAL(sign_once(other, 5, &irv, &srv), 1);
	CU_ASSERT_EQUAL(srv, CKR_OK);
	CU_ASSERT_EQUAL(C_CloseAllSessions(1), CKR_OK);
	CU_ASSERT_EQUAL(p11_defer_sessions(m), before);
	p11_module_put(m);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);
}

static CK_RV held_init_rv;

static void *sign_init_key6(void *arg)
{
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	held_init_rv = C_SignInit(*(CK_SESSION_HANDLE *)arg, &mech, 6);
	return NULL;
}

/* Two threads on one session (which PKCS#11 leaves to the application to
 * avoid): an init deferred while another thread's init was at the HSM is
 * dropped when that one comes back accepted, the HSM running that one's
 * operation; kept, it was overwritten (leaked) by the next deferred init. */
static void an_init_deferred_during_another_is_dropped(void)
{
	CK_MECHANISM ecdsa = {CKM_ECDSA, NULL, 0};
	CK_SESSION_HANDLE s;
	struct p11_module *m;
	pthread_t t;
	CK_RV irv, srv;

	fake_slots();
	configure(NULL);
	CU_ASSERT_EQUAL_FATAL(C_Initialize(NULL), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(p11_module_get(&m), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	CU_ASSERT_EQUAL(sign_once(s, 5, &irv, &srv), 2); /* key 5 accepted: its next init waits */
	pthread_mutex_lock(&fk.mu);
	fk.hold_fn = P11W_FN_SIGN_INIT;
	pthread_mutex_unlock(&fk.mu);
	/* key 6 was never accepted: its init goes to the HSM and is held there */
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, sign_init_key6, &s), 0);
	pthread_mutex_lock(&fk.mu);
	while (!fk.held)
		pthread_cond_wait(&fk.cv, &fk.mu);
	pthread_mutex_unlock(&fk.mu);
	CU_ASSERT_EQUAL(C_SignInit(s, &ecdsa, 5), CKR_OK); /* deferred meanwhile */
	CU_ASSERT_EQUAL(p11_defer_pending(m), 1);
	pthread_mutex_lock(&fk.mu);
	fk.hold_fn = 0;
	pthread_cond_broadcast(&fk.cv);
	pthread_mutex_unlock(&fk.mu);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(held_init_rv, CKR_OK);
	CU_ASSERT_EQUAL(p11_defer_pending(m), 0);
	CK_BYTE sig[64];
	CK_ULONG n = sizeof(sig);
	int w = with_inits();
	CU_ASSERT_EQUAL(C_Sign(s, (CK_BYTE_PTR) "d", 1, sig, &n), CKR_OK); /* the HSM's operation */
	CU_ASSERT_EQUAL(with_inits(), w);
	CU_ASSERT_EQUAL(C_CloseSession(s), CKR_OK);
	p11_module_put(m);
	CU_ASSERT_EQUAL(C_Finalize(NULL), CKR_OK);
}

UNIT_SUITE(pkcs11, suite_init, suite_cleanup, UNIT_TEST(configuration_file), UNIT_TEST(slot_numbering_as_chapter_13),
	   UNIT_TEST(results_as_the_application_sees_them), UNIT_TEST(function_table),
	   UNIT_TEST(initialize_and_finalize_rules), UNIT_TEST(no_hsm_sim_means_no_slot),
	   UNIT_TEST(slots_tokens_and_sessions), UNIT_TEST(arguments_checked_before_sending),
	   UNIT_TEST(logins_through_the_ped), UNIT_TEST(two_call_convention_and_attributes),
	   UNIT_TEST(threads_and_a_ped_wait), UNIT_TEST(fork_starts_uninitialized),
	   UNIT_TEST(one_round_trip_per_operation), UNIT_TEST(each_call_waits_its_own_timeout),
	   UNIT_TEST(close_all_sessions_keeps_nothing_of_them), UNIT_TEST(an_init_deferred_during_another_is_dropped))
