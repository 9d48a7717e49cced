/* Speaks hsm-sim's application protocol (docs/protocol.md, section 13)
 * directly, one request per line, for what the PKCS#11 module cannot show
 * (tests/e2e/app_protocol.sh): two applications at once, one application
 * on several connections, malformed requests and frames, a client that
 * dies in the middle of a call.
 *
 *   p11_call SOCKET < script
 *
 * Each line is "CONN COMMAND ARGS..." (# starts a comment); CONN names a
 * connection, made at its first use with the application id "CONN" names
 * (the first 16 bytes of SHA-256 of the text after an '@' in CONN, or of
 * CONN: "a1@x" and "a2@x" are two connections of one application). Each
 * command prints one line, "COMMAND: CKR_NAME" (and its results). An
 * argument "=VAR" stores the handle a command returns, "$VAR" reads it.
 *
 *   slots                          GetSlotList: "slot N kind K present P serial S" lines
 *   token SLOT                     GetTokenInfo: label, flags, sessions
 *   open SLOT ro|rw [=VAR]         OpenSession
 *   close S | closeall SLOT        CloseSession, CloseAllSessions
 *   info S                         GetSessionInfo: state
 *   login S so|user|cu [PIN] [MS]  Login (no PIN: the PED; MS the PED timeout, default 20000)
 *   logout S
 *   initpin S [PIN] | setpin S [OLD NEW]
 *   data S LABEL token|session private|public [=VAR]   CreateObject of a data object
 *   aes S LABEL token|session [=VAR]                   GenerateKey (AES-256, encrypt)
 *   ec S LABEL token|session [=PUB [=PRIV]]            GenerateKeyPair (P-256, sign)
 *   find S [LABEL]                 FindObjectsInit, FindObjects, FindObjectsFinal: the count
 *   label S OBJ                    GetAttributeValue CKA_LABEL
 *   destroy S OBJ
 *   sign S KEY                     SignInit, Sign (ECDSA on 32 bytes)
 *   signinit S KEY | signdata S    the two apart
 *   inittoken SLOT LABEL [PIN]     InitToken
 *   encrypt S KEY                  EncryptInit, Encrypt (AES-ECB on 16 bytes)
 *   random S N
 *   raw HEX                        any request payload: "raw: CKR_NAME"
 *   frame TYPE HEX                 any frame; "frame: closed" when hsm-sim closes
 *   hello VERSION                  a new connection's greeting: "hello: version V" or "closed"
 *   quit                           exits at once, connections open (as a killed client) */
#include "ped/buf.h"
#include "ped/error.h"
#include "ped/frame.h"
#include "ped/link.h"
#include "ped/net.h"
#include "ped/p11wire.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CONNS 16
#define MAX_VARS 64
#define TIMEOUT_MS 120000

static const char *sock_path;

static struct conn {
	char name[32];
	int fd;
	struct ped_framer in;
} conns[MAX_CONNS];
static int nconns;

static struct var {
	char name[32];
	CK_ULONG v;
} vars[MAX_VARS];
static int nvars;
static uint32_t call_id;

static const char *rv_name(CK_RV rv)
{
	static char buf[32];
#define N(x) \
	case x: return #x
	switch (rv) {
		N(CKR_OK);
		N(CKR_ARGUMENTS_BAD);
		N(CKR_ACTION_PROHIBITED);
		N(CKR_ATTRIBUTE_SENSITIVE);
		N(CKR_DEVICE_ERROR);
		N(CKR_FUNCTION_CANCELED);
		N(CKR_FUNCTION_NOT_SUPPORTED);
		N(CKR_KEY_HANDLE_INVALID);
		N(CKR_OBJECT_HANDLE_INVALID);
		N(CKR_OPERATION_ACTIVE);
		N(CKR_OPERATION_NOT_INITIALIZED);
		N(CKR_PIN_INCORRECT);
		N(CKR_PIN_EXPIRED);
		N(CKR_PIN_LOCKED);
		N(CKR_PIN_LEN_RANGE);
		N(CKR_SESSION_HANDLE_INVALID);
		N(CKR_SESSION_READ_ONLY);
		N(CKR_SESSION_READ_ONLY_EXISTS);
		N(CKR_SESSION_READ_WRITE_SO_EXISTS);
		N(CKR_SESSION_EXISTS);
		N(CKR_SLOT_ID_INVALID);
		N(CKR_TOKEN_NOT_PRESENT);
		N(CKR_TOKEN_WRITE_PROTECTED);
		N(CKR_USER_ALREADY_LOGGED_IN);
		N(CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
		N(CKR_USER_NOT_LOGGED_IN);
		N(CKR_USER_PIN_NOT_INITIALIZED);
		N(CKR_USER_TYPE_INVALID);
		N(CKR_BUFFER_TOO_SMALL);
	}
#undef N
	if (rv == 0x80000024UL)
		return "CKR_TIMEOUT";
	if (rv == 0x8000002eUL)
		return "CKR_PED_UNPLUGGED";
	if (rv == 0x1UL)
		return "CKR_CANCEL";
	snprintf(buf, sizeof(buf), "0x%lx", (unsigned long)rv);
	return buf;
}

static void app_id(const char *conn, uint8_t id[P11W_APP_ID_LEN])
{
	const char *at = strchr(conn, '@');
	uint8_t md[32];
	unsigned n = 0;
	EVP_Digest(at ? at + 1 : conn, strlen(at ? at + 1 : conn), md, &n, EVP_sha256(), NULL);
	memcpy(id, md, P11W_APP_ID_LEN);
}

/* The greeting on a fresh connection: the version hsm-sim answers, or -1. */
static int greet(struct conn *c, uint16_t version)
{
	struct p11w_hello h;
	struct p11w_welcome wl;
	struct ped_wbuf w;
	uint8_t type, *msg = NULL;
	size_t len = 0;
	int r = -1;

	memset(&h, 0, sizeof(h));
	h.version = version;
	app_id(c->name, h.app_id);
	h.pid = (uint32_t)getpid();
	snprintf(h.name, sizeof(h.name), "p11_call");
	ped_wbuf_init(&w, 256);
	if (p11w_put_hello(&w, &h) == CKR_OK && ped_frame_send(c->fd, P11W_APP_HELLO, w.p, w.len, TIMEOUT_MS) == PED_OK &&
	    ped_framer_recv(&c->in, &type, &msg, &len, TIMEOUT_MS) == PED_OK && type == P11W_APP_WELCOME &&
	    p11w_get_welcome(msg, len, &wl) == CKR_OK)
		r = wl.version;
	ped_wbuf_free(&w);
	OPENSSL_free(msg);
	return r;
}

static struct conn *conn_of(const char *name)
{
	for (int i = 0; i < nconns; i++)
		if (!strcmp(conns[i].name, name))
			return &conns[i];
	if (nconns == MAX_CONNS)
		return NULL;
	struct conn *c = &conns[nconns];
	snprintf(c->name, sizeof(c->name), "%s", name);
	if (ped_unix_connect(sock_path, &c->fd) != PED_OK)
		return NULL;
	ped_framer_init(&c->in, c->fd, P11W_PAYLOAD_MAX);
	if (greet(c, P11W_VERSION) != P11W_VERSION)
		return NULL;
	nconns++;
	return c;
}

static CK_ULONG value(const char *arg)
{
	if (arg[0] == '$')
		for (int i = 0; i < nvars; i++)
			if (!strcmp(vars[i].name, arg + 1))
				return vars[i].v;
	return strtoul(arg, NULL, 0);
}

static void store(const char *arg, CK_ULONG v)
{
	if (!arg || arg[0] != '=' || nvars == MAX_VARS)
		return;
	for (int i = 0; i < nvars; i++)
		if (!strcmp(vars[i].name, arg + 1)) {
			vars[i].v = v;
			return;
		}
	snprintf(vars[nvars].name, sizeof(vars[nvars].name), "%s", arg + 1);
	vars[nvars++].v = v;
}

/* One request (w holds its arguments after the header) and its reply: rv
 * and r on the results, or -1 when the connection ended. */
static int call(struct conn *c, struct ped_wbuf *w, CK_RV *rv, struct ped_rbuf *r, uint8_t **reply, size_t *len)
{
	uint8_t type;
	uint32_t id;

	*reply = NULL;
	if (ped_frame_send(c->fd, P11W_APP_REQUEST, w->p, w->len, TIMEOUT_MS) != PED_OK ||
	    ped_framer_recv(&c->in, &type, reply, len, TIMEOUT_MS) != PED_OK || type != P11W_APP_REPLY)
		return -1;
	ped_rbuf_init(r, *reply, *len);
	if (p11w_get_reply_header(r, &id, rv) != CKR_OK)
		return -1;
	return 0;
}

static void begin(struct ped_wbuf *w, uint16_t fn)
{
	ped_wbuf_init(w, P11W_PAYLOAD_MAX);
	p11w_put_request_header(w, ++call_id, fn);
}

/* Runs request w, prints "what: CKR_NAME"; r then holds the results. */
static CK_RV run(struct conn *c, const char *what, struct ped_wbuf *w, struct ped_rbuf *r, uint8_t **reply, int newline)
{
	size_t len = 0;
	CK_RV rv = CKR_GENERAL_ERROR;
	if (call(c, w, &rv, r, reply, &len) != 0) {
		printf("%s: closed\n", what);
		ped_wbuf_free(w);
		return (CK_RV)-1;
	}
	printf("%s: %s%s", what, rv_name(rv), newline ? "\n" : "");
	ped_wbuf_free(w);
	return rv;
}

static int hexval(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	for (; s[0] && s[1] && n < max; s += 2) {
		int hi = hexval(s[0]), lo = hexval(s[1]);
		if (hi < 0 || lo < 0)
			break;
		out[n++] = (uint8_t)(hi << 4 | lo);
	}
	return n;
}

static CK_USER_TYPE user_type(const char *s)
{
	return !strcmp(s, "so") ? CKU_SO : !strcmp(s, "cu") ? P11W_CKU_CRYPTO_USER : !strcmp(s, "user") ? CKU_USER : strtoul(s, NULL, 0);
}

static void put_pin(struct ped_wbuf *w, const char *pin)
{
	p11w_put_pin(w, (CK_UTF8CHAR_PTR)pin, pin ? strlen(pin) : 0);
}

static void command(int argc, char **argv)
{
	struct conn *c;
	struct ped_wbuf w;
	struct ped_rbuf r;
	uint8_t *reply = NULL;
	const char *cmd = argc > 1 ? argv[1] : "";
	CK_RV rv;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
#define ARG(i) (argc > (i) ? argv[i] : "")
#define HAVE(i) (argc > (i))

	if (!strcmp(cmd, "hello")) {
		/* a connection of its own: greeted with the version given */
		struct conn one;
		memset(&one, 0, sizeof(one));
		snprintf(one.name, sizeof(one.name), "%s", argv[0]);
		if (ped_unix_connect(sock_path, &one.fd) != PED_OK) {
			printf("hello: no hsm-sim\n");
			return;
		}
		ped_framer_init(&one.in, one.fd, P11W_PAYLOAD_MAX);
		int v = greet(&one, (uint16_t)strtoul(HAVE(2) ? ARG(2) : "1", NULL, 0));
		if (v < 0) {
			printf("hello: closed\n");
		} else {
			uint8_t type, *m = NULL;
			size_t l = 0;
			/* a version it does not speak: told its own, then closed */
			int closed = ped_framer_recv(&one.in, &type, &m, &l, 2000) == PED_E_CLOSED;
			OPENSSL_free(m);
			printf("hello: version %d%s\n", v, closed ? ", closed" : "");
		}
		ped_framer_free(&one.in);
		close(one.fd);
		return;
	}
	if ((c = conn_of(argv[0])) == NULL) {
		printf("%s: no connection\n", cmd);
		return;
	}
	if (!strcmp(cmd, "slots")) {
		struct p11w_slot *s = NULL;
		uint32_t n = 0;
		begin(&w, P11W_FN_GET_SLOT_LIST);
		if ((rv = run(c, cmd, &w, &r, &reply, 1)) == CKR_OK && p11w_get_slot_list(&r, &s, &n) == CKR_OK)
			for (uint32_t i = 0; i < n; i++)
				printf("slot %lu kind %u hsm %u present %u serial %s\n", (unsigned long)s[i].slot, s[i].kind,
				       s[i].hsm_index, s[i].token_present, s[i].serial);
		OPENSSL_free(s);
	} else if (!strcmp(cmd, "token") && HAVE(2)) {
		CK_TOKEN_INFO ti;
		begin(&w, P11W_FN_GET_TOKEN_INFO);
		p11w_put_ulong(&w, value(ARG(2)));
		if ((rv = run(c, cmd, &w, &r, &reply, 0)) == CKR_OK && p11w_get_token_info(&r, &ti) == CKR_OK)
			printf(" label %.32s flags 0x%lx sessions %lu rw %lu", (char *)ti.label, (unsigned long)ti.flags,
			       (unsigned long)ti.ulSessionCount, (unsigned long)ti.ulRwSessionCount);
		printf("\n");
	} else if (!strcmp(cmd, "open") && HAVE(3)) {
		begin(&w, P11W_FN_OPEN_SESSION);
		p11w_put_ulong(&w, value(ARG(2)));
		p11w_put_ulong(&w, CKF_SERIAL_SESSION | (!strcmp(ARG(3), "rw") ? CKF_RW_SESSION : 0));
		if ((rv = run(c, cmd, &w, &r, &reply, 0)) == CKR_OK) {
			CK_ULONG h = p11w_get_ulong(&r);
			printf(" %lu", (unsigned long)h);
			store(HAVE(4) ? ARG(4) : NULL, h);
		}
		printf("\n");
	} else if ((!strcmp(cmd, "close") || !strcmp(cmd, "logout") || !strcmp(cmd, "closeall")) && HAVE(2)) {
		begin(&w, !strcmp(cmd, "close") ? P11W_FN_CLOSE_SESSION : !strcmp(cmd, "logout") ? P11W_FN_LOGOUT
											     : P11W_FN_CLOSE_ALL_SESSIONS);
		p11w_put_ulong(&w, value(ARG(2)));
		(void)run(c, cmd, &w, &r, &reply, 1);
	} else if (!strcmp(cmd, "info") && HAVE(2)) {
		CK_SESSION_INFO si;
		begin(&w, P11W_FN_GET_SESSION_INFO);
		p11w_put_ulong(&w, value(ARG(2)));
		if ((rv = run(c, cmd, &w, &r, &reply, 0)) == CKR_OK && p11w_get_session_info(&r, &si) == CKR_OK)
			printf(" state %lu", (unsigned long)si.state);
		printf("\n");
	} else if (!strcmp(cmd, "login") && HAVE(3)) {
		const char *pin = HAVE(4) && strcmp(ARG(4), "-") ? ARG(4) : NULL;
		begin(&w, P11W_FN_LOGIN);
		p11w_put_ulong(&w, value(ARG(2)));
		p11w_put_ulong(&w, user_type(ARG(3)));
		put_pin(&w, pin);
		ped_wbuf_u32(&w, (uint32_t)strtoul(HAVE(5) ? ARG(5) : "20000", NULL, 0));
		(void)run(c, cmd, &w, &r, &reply, 1);
	} else if (!strcmp(cmd, "initpin") && HAVE(2)) {
		begin(&w, P11W_FN_INIT_PIN);
		p11w_put_ulong(&w, value(ARG(2)));
		put_pin(&w, HAVE(3) ? ARG(3) : NULL);
		ped_wbuf_u32(&w, 20000);
		(void)run(c, cmd, &w, &r, &reply, 1);
	} else if (!strcmp(cmd, "setpin") && HAVE(2)) {
		begin(&w, P11W_FN_SET_PIN);
		p11w_put_ulong(&w, value(ARG(2)));
		put_pin(&w, HAVE(3) ? ARG(3) : NULL);
		put_pin(&w, HAVE(4) ? ARG(4) : NULL);
		ped_wbuf_u32(&w, 20000);
		(void)run(c, cmd, &w, &r, &reply, 1);
	} else if (!strcmp(cmd, "data") && HAVE(5)) {
		CK_OBJECT_CLASS cls = CKO_DATA;
		CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
				    {CKA_LABEL, ARG(3), strlen(ARG(3))},
				    {CKA_TOKEN, !strcmp(ARG(4), "token") ? &yes : &no, 1},
				    {CKA_PRIVATE, !strcmp(ARG(5), "private") ? &yes : &no, 1},
				    {CKA_VALUE, "value", 5}};
		begin(&w, P11W_FN_CREATE_OBJECT);
		p11w_put_ulong(&w, value(ARG(2)));
		(void)p11w_put_template(&w, t, 5, P11W_TPL_VALUES);
		if ((rv = run(c, cmd, &w, &r, &reply, 0)) == CKR_OK) {
			CK_ULONG h = p11w_get_ulong(&r);
			printf(" %lu", (unsigned long)h);
			store(HAVE(6) ? ARG(6) : NULL, h);
		}
		printf("\n");
	} else if (!strcmp(cmd, "aes") && HAVE(4)) {
		CK_ULONG len = 32;
		CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
		CK_ATTRIBUTE t[] = {{CKA_LABEL, ARG(3), strlen(ARG(3))},
				    {CKA_TOKEN, !strcmp(ARG(4), "token") ? &yes : &no, 1},
				    {CKA_VALUE_LEN, &len, sizeof(len)},
				    {CKA_ENCRYPT, &yes, 1}};
		begin(&w, P11W_FN_GENERATE_KEY);
		p11w_put_ulong(&w, value(ARG(2)));
		(void)p11w_put_mechanism(&w, &m);
		(void)p11w_put_template(&w, t, 4, P11W_TPL_VALUES);
		if ((rv = run(c, cmd, &w, &r, &reply, 0)) == CKR_OK) {
			CK_ULONG h = p11w_get_ulong(&r);
			printf(" %lu", (unsigned long)h);
			store(HAVE(5) ? ARG(5) : NULL, h);
		}
		printf("\n");
	} else if (!strcmp(cmd, "ec") && HAVE(4)) {
		static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
		CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
		CK_BBOOL tok = !strcmp(ARG(4), "token");
		CK_ATTRIBUTE pub[] = {{CKA_LABEL, ARG(3), strlen(ARG(3))}, {CKA_TOKEN, &tok, 1},
				      {CKA_EC_PARAMS, (void *)p256, sizeof(p256)}, {CKA_VERIFY, &yes, 1}};
		CK_ATTRIBUTE priv[] = {{CKA_LABEL, ARG(3), strlen(ARG(3))}, {CKA_TOKEN, &tok, 1}, {CKA_SIGN, &yes, 1}};
		begin(&w, P11W_FN_GENERATE_KEY_PAIR);
		p11w_put_ulong(&w, value(ARG(2)));
		(void)p11w_put_mechanism(&w, &m);
		(void)p11w_put_template(&w, pub, 4, P11W_TPL_VALUES);
		(void)p11w_put_template(&w, priv, 3, P11W_TPL_VALUES);
		if ((rv = run(c, cmd, &w, &r, &reply, 0)) == CKR_OK) {
			CK_ULONG a = p11w_get_ulong(&r), b = p11w_get_ulong(&r);
			printf(" %lu %lu", (unsigned long)a, (unsigned long)b);
			store(HAVE(5) ? ARG(5) : NULL, a);
			store(HAVE(6) ? ARG(6) : NULL, b);
		}
		printf("\n");
	} else if (!strcmp(cmd, "find") && HAVE(2)) {
		CK_ATTRIBUTE t[] = {{CKA_LABEL, (void *)ARG(3), strlen(ARG(3))}};
		CK_ULONG found[64];
		uint32_t n = 0;
		begin(&w, P11W_FN_FIND_OBJECTS_INIT);
		p11w_put_ulong(&w, value(ARG(2)));
		(void)p11w_put_template(&w, t, HAVE(3) ? 1 : 0, P11W_TPL_VALUES);
		if ((rv = run(c, cmd, &w, &r, &reply, 0)) == CKR_OK) {
			OPENSSL_free(reply);
			begin(&w, P11W_FN_FIND_OBJECTS);
			p11w_put_ulong(&w, value(ARG(2)));
			ped_wbuf_u32(&w, 64);
			size_t len;
			if (call(c, &w, &rv, &r, &reply, &len) == 0 && rv == CKR_OK &&
			    p11w_get_ulong_list(&r, P11W_FIND_MAX, found, 64, &n) == CKR_OK)
				printf(" %u", n);
			ped_wbuf_free(&w);
			OPENSSL_free(reply);
			begin(&w, P11W_FN_FIND_OBJECTS_FINAL);
			p11w_put_ulong(&w, value(ARG(2)));
			reply = NULL;
			(void)call(c, &w, &rv, &r, &reply, &len);
			ped_wbuf_free(&w);
		}
		printf("\n");
	} else if (!strcmp(cmd, "label") && HAVE(3)) {
		CK_ATTRIBUTE t[] = {{CKA_LABEL, NULL, 64}};
		char buf[65];
		begin(&w, P11W_FN_GET_ATTRIBUTE_VALUE);
		p11w_put_ulong(&w, value(ARG(2)));
		p11w_put_ulong(&w, value(ARG(3)));
		t[0].pValue = buf;
		(void)p11w_put_template(&w, t, 1, P11W_TPL_LENGTHS);
		if ((rv = run(c, cmd, &w, &r, &reply, 0)) == CKR_OK && p11w_get_attr_results(&r, t, 1) == CKR_OK) {
			buf[t[0].ulValueLen < 64 ? t[0].ulValueLen : 64] = '\0';
			printf(" %s", buf);
		}
		printf("\n");
	} else if (!strcmp(cmd, "destroy") && HAVE(3)) {
		begin(&w, P11W_FN_DESTROY_OBJECT);
		p11w_put_ulong(&w, value(ARG(2)));
		p11w_put_ulong(&w, value(ARG(3)));
		(void)run(c, cmd, &w, &r, &reply, 1);
	} else if ((!strcmp(cmd, "sign") || !strcmp(cmd, "encrypt")) && HAVE(3)) {
		int sign = !strcmp(cmd, "sign");
		CK_MECHANISM m = {sign ? CKM_ECDSA : CKM_AES_ECB, NULL, 0};
		uint8_t in[32];
		memset(in, 0x5a, sizeof(in));
		begin(&w, sign ? P11W_FN_SIGN_INIT : P11W_FN_ENCRYPT_INIT);
		p11w_put_ulong(&w, value(ARG(2)));
		(void)p11w_put_mechanism(&w, &m);
		p11w_put_ulong(&w, value(ARG(3)));
		if ((rv = run(c, cmd, &w, &r, &reply, 0)) == CKR_OK) {
			size_t len;
			struct p11w_out o = {1, 256};
			uint8_t out[256];
			CK_ULONG n = 0;
			OPENSSL_free(reply);
			reply = NULL;
			begin(&w, sign ? P11W_FN_SIGN : P11W_FN_ENCRYPT);
			p11w_put_ulong(&w, value(ARG(2)));
			p11w_put_bytes(&w, in, sign ? 32 : 16);
			p11w_put_out(&w, out, sizeof(out));
			if (call(c, &w, &rv, &r, &reply, &len) == 0)
				printf(" %s", rv_name(rv));
			if (rv == CKR_OK && p11w_get_out_result(&r, &o, out, &n) == CKR_OK)
				printf(" %lu bytes", (unsigned long)n);
			ped_wbuf_free(&w);
		}
		printf("\n");
	} else if (!strcmp(cmd, "signinit") && HAVE(3)) {
		CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
		begin(&w, P11W_FN_SIGN_INIT);
		p11w_put_ulong(&w, value(ARG(2)));
		(void)p11w_put_mechanism(&w, &m);
		p11w_put_ulong(&w, value(ARG(3)));
		(void)run(c, cmd, &w, &r, &reply, 1);
	} else if (!strcmp(cmd, "signdata") && HAVE(2)) {
		uint8_t in[32], out[256];
		struct p11w_out o = {1, sizeof(out)};
		CK_ULONG n = 0;
		memset(in, 0x5a, sizeof(in));
		begin(&w, P11W_FN_SIGN);
		p11w_put_ulong(&w, value(ARG(2)));
		p11w_put_bytes(&w, in, sizeof(in));
		p11w_put_out(&w, out, sizeof(out));
		if ((rv = run(c, cmd, &w, &r, &reply, 0)) == CKR_OK && p11w_get_out_result(&r, &o, out, &n) == CKR_OK)
			printf(" %lu bytes", (unsigned long)n);
		printf("\n");
	} else if (!strcmp(cmd, "inittoken") && HAVE(3)) {
		uint8_t label[32];
		memset(label, ' ', sizeof(label));
		memcpy(label, ARG(3), strlen(ARG(3)) < 32 ? strlen(ARG(3)) : 32);
		begin(&w, P11W_FN_INIT_TOKEN);
		p11w_put_ulong(&w, value(ARG(2)));
		put_pin(&w, HAVE(4) ? ARG(4) : NULL);
		ped_wbuf_bytes(&w, label, sizeof(label));
		ped_wbuf_u32(&w, 20000);
		(void)run(c, cmd, &w, &r, &reply, 1);
	} else if (!strcmp(cmd, "random") && HAVE(3)) {
		begin(&w, P11W_FN_GENERATE_RANDOM);
		p11w_put_ulong(&w, value(ARG(2)));
		ped_wbuf_u32(&w, (uint32_t)value(ARG(3)));
		if ((rv = run(c, cmd, &w, &r, &reply, 0)) == CKR_OK) {
			size_t n = 0;
			(void)p11w_get_bytes(&r, P11W_DATA_MAX, &n);
			printf(" %zu bytes", n);
		}
		printf("\n");
	} else if (!strcmp(cmd, "raw") && HAVE(2)) {
		uint8_t buf[1024];
		size_t n = unhex(ARG(2), buf, sizeof(buf));
		ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
		ped_wbuf_bytes(&w, buf, n);
		(void)run(c, cmd, &w, &r, &reply, 1);
	} else if (!strcmp(cmd, "frame") && HAVE(3)) {
		uint8_t buf[1024], type, *m = NULL;
		size_t n = unhex(ARG(3), buf, sizeof(buf)), l = 0;
		int sent = ped_frame_send(c->fd, (uint8_t)strtoul(ARG(2), NULL, 0), buf, n, TIMEOUT_MS);
		int got = sent == PED_OK ? ped_framer_recv(&c->in, &type, &m, &l, 5000) : sent;
		printf("frame: %s\n", got == PED_E_CLOSED || got == PED_E_SOCKET ? "closed" : got == PED_OK ? "answered" : "no answer");
		OPENSSL_free(m);
	} else if (!strcmp(cmd, "quit")) {
		fflush(stdout);
		_exit(0);
	} else {
		printf("%s: unknown command\n", cmd);
	}
	OPENSSL_free(reply);
	fflush(stdout);
#undef ARG
#undef HAVE
}

int main(int argc, char **argv)
{
	char line[1024];

	if (argc != 2) {
		fprintf(stderr, "usage: p11_call SOCKET < script\n");
		return 2;
	}
	sock_path = argv[1];
	while (fgets(line, sizeof(line), stdin)) {
		char *words[16];
		int n = 0;
		for (char *p = strtok(line, " \t\n"); p && n < 16; p = strtok(NULL, " \t\n"))
			words[n++] = p;
		if (n == 0 || words[0][0] == '#')
			continue;
		command(n, words);
	}
	return 0;
}
