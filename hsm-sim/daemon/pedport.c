/* The HSM end of the PED link: attaching a PED, and asking it for keys. */
#include "sim.h"

#include "ped/app.h"
#include "ped/cert.h"
#include "ped/ec.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/relay.h"
#include "ped/thread.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <time.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct attach_job {
	struct sim *sim;
	struct sim_hsm *hs;
	int fd;
};

/* The HSM's static key and certificates as OpenSSL objects, made once (the
 * identity never changes; zeroize keeps it): importing a P-521 scalar costs
 * a point multiplication, a tenth of a handshake. Each caller gets its own
 * references. */
static int identity(struct sim_hsm *hs, EVP_PKEY **key, X509 **cert, X509 **hoc)
{
	int r = PED_OK;
	*key = NULL;
	*cert = *hoc = NULL;
	pthread_mutex_lock(&hs->ped_mu);
	if (!hs->id_key) {
		EVP_PKEY *k = NULL;
		X509 *c = NULL, *h = NULL;
		if (ped_ec_priv_import(hs->h.static_priv, HSM_SCALAR_LEN, &k) != PED_OK ||
		    ped_cert_from_der(hs->h.static_cert, hs->h.static_cert_len, &c) != PED_OK ||
		    ped_cert_from_der(hs->h.hoc_cert, hs->h.hoc_cert_len, &h) != PED_OK) {
			EVP_PKEY_free(k);
			X509_free(c);
			r = PED_E_CORRUPT;
		} else {
			hs->id_key = k;
			hs->id_cert = c;
			hs->id_hoc = h;
		}
	}
	if (r == PED_OK && EVP_PKEY_up_ref(hs->id_key) && X509_up_ref(hs->id_cert) && X509_up_ref(hs->id_hoc)) {
		*key = hs->id_key;
		*cert = hs->id_cert;
		*hoc = hs->id_hoc;
	} else if (r == PED_OK) {
		r = PED_E_CRYPTO;
	}
	pthread_mutex_unlock(&hs->ped_mu);
	return r;
}

/* A link is alive if nothing (not even end of stream) waits on it while idle. */
static int link_alive(struct ped_link *l)
{
	struct pollfd p = {.fd = ped_link_fd(l), .events = POLLIN};
	return poll(&p, 1, 0) == 0;
}

static void *attach_thread(void *arg)
{
	struct attach_job *j = arg;
	struct sim_hsm *hs = j->hs;
	struct ped_kas_params p;
	struct ped_link l;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *hoc = NULL;
	char id[PED_KAS_ID_MAX];
	int r;

	snprintf(id, sizeof(id), "HSM:%s", hs->h.serial);
	if ((r = identity(hs, &key, &cert, &hoc)) != PED_OK) {
		close(j->fd);
		goto out;
	}
	memset(&p, 0, sizeof(p));
	p.role = PED_KAS_V;
	p.scheme = PED_KAS_1E1S;
	p.id = id;
	p.static_key = key;
	p.static_cert = cert;
	p.hoc = hoc;
	if ((r = ped_link_handshake(&l, j->fd, &p, j->sim->link_timeout_ms)) != PED_OK) {
		ped_warn("HSM %s: PED handshake failed: %s", hs->h.serial, ped_strerror(r));
		goto out;
	}
	pthread_mutex_lock(&hs->ped_mu);
	if (hs->remote_state == REMOTE_KEYING || hs->remote_state == REMOTE_UP) {
		pthread_mutex_unlock(&hs->ped_mu);
		ped_warn("HSM %s: a Remote PED session is open; local PED %s ignored", hs->h.serial, l.peer_id);
		ped_link_close(&l, PED_E_BUSY);
		goto out;
	}
	if (hs->ped_attached && (hs->ped_busy || link_alive(&hs->ped))) {
		pthread_mutex_unlock(&hs->ped_mu);
		ped_warn("HSM %s: a PED is already attached; refusing %s", hs->h.serial, l.peer_id);
		ped_link_close(&l, PED_E_BUSY);
		goto out;
	}
	if (hs->ped_attached)
		ped_link_close(&hs->ped, PED_E_PED_UNPLUGGED);
	hs->ped = l;
	hs->ped_attached = 1;
	pthread_mutex_unlock(&hs->ped_mu);
	ped_info("HSM %s: local PED attached (%s)", hs->h.serial, l.peer_id);
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(hoc);
	atomic_fetch_sub(&j->sim->helpers, 1);
	free(j);
	return NULL;
}

void pedport_attach(struct sim *sim, struct sim_hsm *hs, int fd)
{
	struct attach_job *j = malloc(sizeof(*j));
	if (!j) {
		close(fd);
		return;
	}
	*j = (struct attach_job){sim, hs, fd};
	atomic_fetch_add(&sim->helpers, 1);
	if (ped_thread_spawn(attach_thread, j) != PED_OK) {
		atomic_fetch_sub(&sim->helpers, 1);
		close(fd);
		free(j);
	}
}

void pedport_detach(struct sim_hsm *hs)
{
	pthread_mutex_lock(&hs->ped_mu);
	if (hs->ped_attached)
		ped_link_close(&hs->ped, PED_OK);
	hs->ped_attached = 0;
	hs->remote = 0;
	if (hs->remote_state != REMOTE_KEYING)
		hs->remote_state = REMOTE_NONE;
	pthread_mutex_unlock(&hs->ped_mu);
}

int pedport_describe(struct sim_hsm *hs, char *out, size_t len)
{
	int remote = 0;
	pthread_mutex_lock(&hs->ped_mu);
	if (hs->remote_state == REMOTE_UP || hs->remote_state == REMOTE_KEYING) {
		snprintf(out, len, "Remote PED %.40s via pedserver %.60s%s%s", hs->remote_ped, hs->remote_server,
			 hs->remote_otp ? ", one-time password session" : "",
			 hs->remote_state == REMOTE_KEYING ? " (computing the session key)" : "");
		remote = 1;
	} else if (hs->ped_attached && (hs->ped_busy || link_alive(&hs->ped))) {
		snprintf(out, len, "Local PED attached.");
	} else {
		snprintf(out, len, "No local PED attached.");
	}
	pthread_mutex_unlock(&hs->ped_mu);
	return remote;
}

/* Takes the link for one exchange; PED_E_PED_UNPLUGGED when there is none.
 * A Remote PED session still being keyed is waited for. */
static int take_link(struct session *s, struct sim_hsm *hs)
{
	int r = PED_OK;
	if (s->sim->stopping)
		return PED_E_CANCEL; /* hsm-sim is shutting down: no new PED wait */
	pthread_mutex_lock(&hs->ped_mu);
	if (hs->remote_state == REMOTE_KEYING) {
		struct timespec until;
		ped_cond_deadline(&until, s->sim->ped_timeout_ms);
		while (hs->remote_state == REMOTE_KEYING)
			if (pthread_cond_timedwait(&hs->remote_cv, &hs->ped_mu, &until) != 0)
				break;
		if (hs->remote_state == REMOTE_KEYING) {
			pthread_mutex_unlock(&hs->ped_mu);
			return PED_E_PED_UNPLUGGED;
		}
	}
	if (hs->remote_state == REMOTE_FAILED) {
		r = hs->remote_err;
		hs->remote_state = REMOTE_NONE;
		pthread_mutex_unlock(&hs->ped_mu);
		return r;
	}
	uint64_t now = ped_now_ms();
	if (hs->ped_busy) {
		/* another session's ceremony has this PED, and uses hs->ped outside
		 * ped_mu: nothing here may close it */
		pthread_mutex_unlock(&hs->ped_mu);
		return PED_E_BUSY;
	}
	if (hs->remote && hs->ped_attached && now > hs->remote_last_use &&
	    now - hs->remote_last_use > (uint64_t)s->sim->remote_idle_timeout_s * 1000u) {
		ped_warn("HSM %s: Remote PED session idle for more than %d s: closed", hs->h.serial,
			 s->sim->remote_idle_timeout_s);
		ped_link_close(&hs->ped, PED_E_TIMED_OUT);
		hs->ped_attached = hs->remote = 0;
		hs->remote_state = REMOTE_NONE;
		pthread_mutex_unlock(&hs->ped_mu);
		return PED_E_PED_UNPLUGGED;
	}
	if (!hs->ped_attached) {
		r = PED_E_PED_UNPLUGGED;
	} else if (!link_alive(&hs->ped)) {
		ped_link_close(&hs->ped, PED_E_PED_UNPLUGGED);
		hs->ped_attached = 0;
		if (hs->remote) {
			ped_warn("HSM %s: the Remote PED session ended", hs->h.serial);
			hs->remote = 0;
			hs->remote_state = REMOTE_NONE;
		}
		r = PED_E_PED_UNPLUGGED;
	} else {
		hs->ped_busy = 1;
	}
	pthread_mutex_unlock(&hs->ped_mu);
	return r;
}

/* A login waits on people: the command lock (sim->mu) is released while
 * this session owns its PED, so other sessions' commands run meanwhile; the
 * caller checks what the login brings back again under the lock. */
static int take(struct session *s, struct sim_hsm *hs)
{
	if (!s->release_lock)
		return take_link(s, hs);
	pthread_mutex_unlock(&s->sim->mu);
	int r = take_link(s, hs);
	if (r != PED_OK)
		pthread_mutex_lock(&s->sim->mu);
	return r;
}

/* Why the relays ended a Remote PED session, from the BYE that came in the
 * channel's place (pedclient's ping timeout, the PED gone, ...). */
static const char *bye_reason(const struct ped_link *l)
{
	return l->foreign_err == PED_OK ? "pedclient closed it" : ped_err_name(l->foreign_err);
}

/* Gives the link back; a broken one is dropped. Takes the command lock again. */
static int give(struct session *s, struct sim_hsm *hs, int r)
{
	pthread_mutex_lock(&hs->ped_mu);
	hs->ped_busy = 0;
	pthread_cond_broadcast(&hs->remote_cv); /* ped disconnect may wait for the link */
	if (hs->closing && r != PED_OK) {
		ped_warn("HSM %s: Remote PED session closed by the operator during a PED operation", hs->h.serial);
		ped_link_close(&hs->ped, PED_E_PED_UNPLUGGED);
		hs->ped_attached = hs->remote = 0;
		hs->remote_state = REMOTE_NONE;
		r = PED_E_PED_UNPLUGGED;
	} else if (s->sim->stopping && r != PED_OK) {
		ped_info("HSM %s: PED operation cancelled: hsm-sim is stopping", hs->h.serial);
		ped_link_close(&hs->ped, PED_E_CANCEL);
		hs->ped_attached = hs->remote = 0;
		hs->remote_state = REMOTE_NONE;
		r = PED_E_CANCEL;
	} else if (r == PED_E_CLOSED || r == PED_E_SOCKET || r == PED_E_TIMED_OUT || r == PED_E_BAD_RECORD ||
	    r == PED_E_REPLAY || r == PED_E_CHANNEL_CLOSED || r == PED_E_FRAME_TRUNCATED ||
	    r == PED_E_FRAME_TYPE || r == PED_E_FRAME_MAGIC || r == PED_E_FRAME_OVERSIZE) {
		if (r == PED_E_FRAME_TYPE && hs->ped.foreign == PED_RELAY_BYE)
			ped_warn("HSM %s: the Remote PED session ended: %s", hs->h.serial, bye_reason(&hs->ped));
		else
			ped_warn("HSM %s: PED link lost: %s", hs->h.serial, ped_strerror(r));
		ped_link_close(&hs->ped, PED_E_PED_UNPLUGGED);
		hs->ped_attached = 0;
		if (hs->remote) {
			hs->remote = 0;
			hs->remote_state = REMOTE_NONE;
		}
		r = PED_E_PED_UNPLUGGED;
	}
	hs->remote_last_use = ped_now_ms();
	pthread_mutex_unlock(&hs->ped_mu);
	if (s->release_lock)
		pthread_mutex_lock(&s->sim->mu);
	return r;
}

static int send_request(struct sim_hsm *hs, uint8_t op, int key_type, const char *title,
			const char *prompt, const char *colour, int allow_reuse)
{
	struct ped_app_request req;
	uint8_t *m = NULL;
	size_t len = 0;
	int r;

	memset(&req, 0, sizeof(req));
	req.op = op;
	req.key_type = (uint8_t)key_type;
	req.allow_reuse = (uint8_t)allow_reuse;
	snprintf(req.title, sizeof(req.title), "%s", title);
	snprintf(req.prompt, sizeof(req.prompt), "%s", prompt);
	snprintf(req.colour, sizeof(req.colour), "%s", colour);
	if ((r = ped_app_encode_request(&req, &m, &len)) != PED_OK)
		return r;
	r = ped_link_send(&hs->ped, PED_REC_DATA, m, len);
	OPENSSL_free(m);
	return r;
}

/* The PED's answer: a CSP or a DATA record. */
static int await(struct session *s, struct sim_hsm *hs, uint8_t *rt, uint8_t **msg, size_t *len)
{
	return ped_link_recv(&hs->ped, rt, msg, len, s->sim->ped_timeout_ms, NULL);
}

static int result_of(const uint8_t *msg, size_t len)
{
	uint32_t code;
	if (ped_app_decode_result(msg, len, &code) != PED_OK)
		return PED_E_CALLBACK_ERROR;
	int e = ped_err_from_code(code);
	/* The PED ran out of time or was reset: the operation did not complete. */
	return e == PED_OK ? PED_E_CALLBACK_ERROR : e;
}

/* The one-time password authenticates the Remote PED "before initializing
 * the RPV" and for nothing else: other keysets cross only a session keyed
 * with the RPV (ped vector init keys one at once). Called with the link taken. */
static int otp_session_refuses(struct session *s, struct sim_hsm *hs, int key_type)
{
	pthread_mutex_lock(&hs->ped_mu);
	int refuse = hs->remote && hs->remote_otp && key_type != PED_KEY_RPV;
	pthread_mutex_unlock(&hs->ped_mu);
	if (refuse)
		sess_out(s, "Error: the Remote PED session of HSM %s is keyed with the one-time password: it serves "
			    "ped vector init only. Initialize the RPV first.", hs->h.serial);
	return refuse;
}

int pedport_auth(struct session *s, struct sim_hsm *hs, int key_type, const char *title,
		 const char *prompt, const char *colour, struct ped_app_splits *sp)
{
	uint8_t rt, *msg = NULL;
	size_t len = 0;
	int r;

	if ((r = take(s, hs)) != PED_OK)
		return r;
	if (otp_session_refuses(s, hs, key_type)) {
		r = PED_E_DEVICE_ERROR;
		goto out;
	}
	if ((r = send_request(hs, PED_APP_AUTH, key_type, title, prompt, colour, 0)) != PED_OK ||
	    (r = await(s, hs, &rt, &msg, &len)) != PED_OK)
		goto out;
	if (rt == PED_REC_CSP)
		r = ped_app_decode_splits(msg, len, sp) == PED_OK ? PED_OK : PED_E_CALLBACK_ERROR;
	else
		r = result_of(msg, len);
out:
	if (msg)
		OPENSSL_clear_free(msg, len ? len : 1);
	return give(s, hs, r);
}

static int create_keyset(struct session *s, struct sim_hsm *hs, int key_type, const char *title,
			 const char *prompt, const char *colour, int allow_reuse, uint8_t secret[HSM_SECRET_LEN],
			 struct ped_app_created *info, const uint8_t *extra, size_t extra_len)
{
	uint8_t rt, *msg = NULL, *sm = NULL;
	size_t len = 0, slen = 0;
	int r;

	if ((r = take(s, hs)) != PED_OK)
		return r;
	if (otp_session_refuses(s, hs, key_type)) {
		r = PED_E_DEVICE_ERROR;
		goto out;
	}
	if (RAND_priv_bytes(secret, HSM_SECRET_LEN) != 1) {
		r = PED_E_CRYPTO;
		goto out;
	}
	if ((r = send_request(hs, PED_APP_CREATE, key_type, title, prompt, colour, allow_reuse)) != PED_OK ||
	    (r = ped_app_encode_secret(PED_APP_SECRET, secret, HSM_SECRET_LEN, &sm, &slen)) != PED_OK ||
	    (r = ped_link_send_csp(&hs->ped, sm, slen)) != PED_OK ||
	    (extra && (r = ped_link_send_csp(&hs->ped, extra, extra_len)) != PED_OK) ||
	    (r = await(s, hs, &rt, &msg, &len)) != PED_OK)
		goto out;
	if (rt == PED_REC_CSP) {
		const uint8_t *adopted;
		size_t alen;
		if (ped_app_decode_reused(msg, len, info, &adopted, &alen) != PED_OK || alen != HSM_SECRET_LEN) {
			r = PED_E_CALLBACK_ERROR;
			goto out;
		}
		memcpy(secret, adopted, HSM_SECRET_LEN);
	} else if (len && msg[0] == PED_APP_CREATED) {
		r = ped_app_decode_created(msg, len, info) == PED_OK ? PED_OK : PED_E_CALLBACK_ERROR;
	} else {
		r = result_of(msg, len);
	}
out:
	if (sm)
		OPENSSL_clear_free(sm, slen);
	if (msg)
		OPENSSL_clear_free(msg, len ? len : 1);
	if (r != PED_OK)
		OPENSSL_cleanse(secret, HSM_SECRET_LEN);
	return give(s, hs, r);
}

int pedport_create(struct session *s, struct sim_hsm *hs, int key_type, const char *title,
		   const char *prompt, const char *colour, int allow_reuse, uint8_t secret[HSM_SECRET_LEN],
		   struct ped_app_created *info)
{
	return create_keyset(s, hs, key_type, title, prompt, colour, allow_reuse, secret, info, NULL, 0);
}

int pedport_create_rpv(struct session *s, struct sim_hsm *hs, uint8_t secret[HSM_SECRET_LEN],
		       struct ped_app_created *info)
{
	EVP_PKEY *hoc_key = NULL, *key = NULL;
	X509 *hoc = NULL, *cert = NULL;
	uint8_t scalar[PED_APP_SCALAR_LEN], *der = NULL, *msg = NULL;
	size_t der_len = 0, mlen = 0;
	char cn[64];
	int r;

	/* A second static key for the PED's side of 2e2s, certified by this HSM's HOC. */
	snprintf(cn, sizeof(cn), "RPV %s", hs->h.serial);
	if ((r = ped_ec_priv_import(hs->h.hoc_priv, HSM_SCALAR_LEN, &hoc_key)) != PED_OK ||
	    (r = ped_cert_from_der(hs->h.hoc_cert, hs->h.hoc_cert_len, &hoc)) != PED_OK ||
	    (r = ped_ec_generate(&key)) != PED_OK || (r = ped_ec_priv_export(key, scalar)) != PED_OK ||
	    (r = ped_cert_issue(hoc, hoc_key, key, cn, &cert)) != PED_OK ||
	    (r = ped_cert_to_der(cert, &der, &der_len)) != PED_OK ||
	    (r = ped_app_encode_rpv_key(scalar, der, der_len, hs->h.hoc_cert, hs->h.hoc_cert_len, &msg, &mlen)) != PED_OK)
		goto out;
	r = create_keyset(s, hs, PED_KEY_RPV, "SETTING RPV...", "RPK / Remote", "ORANGE", 1, secret, info, msg, mlen);
out:
	OPENSSL_cleanse(scalar, sizeof(scalar));
	if (msg)
		OPENSSL_clear_free(msg, mlen);
	OPENSSL_free(der);
	EVP_PKEY_free(hoc_key);
	EVP_PKEY_free(key);
	X509_free(hoc);
	X509_free(cert);
	return r;
}

/* ---- Remote PED through pedclient ---------------------------------------- */

struct keying_job {
	struct sim *sim;
	struct sim_hsm *hs;
	struct ped_framer in;
	uint8_t secret[HSM_SECRET_LEN];
	size_t secret_len;
	int full; /* 2e2s with the RPV static key on the orange key */
};

static void *keying_thread(void *arg)
{
	struct keying_job *j = arg;
	struct sim_hsm *hs = j->hs;
	struct ped_kas_params p;
	struct ped_link l;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *hoc = NULL;
	char id[PED_KAS_ID_MAX];
	int r;

	snprintf(id, sizeof(id), "HSM:%s", hs->h.serial);
	if ((r = identity(hs, &key, &cert, &hoc)) == PED_OK) {
		memset(&p, 0, sizeof(p));
		p.role = PED_KAS_V;
		p.scheme = j->full ? PED_KAS_2E2S : PED_KAS_1E1S;
		p.id = id;
		p.static_key = key;
		p.static_cert = cert;
		p.hoc = hoc;
		p.secret = j->secret;
		p.secret_len = j->secret_len;
		/* The operator has the PED's whole key timeout to present the orange key or type the password. */
		r = ped_link_handshake_on(&l, &j->in, &p, j->sim->ped_timeout_ms);
	}
	pthread_mutex_lock(&hs->ped_mu);
	/* ped disconnect shuts the socket down while keying_fd names it: the
	 * descriptor is closed only after it is withdrawn, under ped_mu, so the
	 * operator's shutdown can never reach a socket that reused the number. */
	hs->keying_fd = -1;
	if (r != PED_OK) {
		ped_framer_free(&j->in);
		close(j->in.fd);
	}
	if (r == PED_OK && hs->ped_busy) {
		/* A ceremony on the local PED uses hs->ped outside ped_mu: the
		 * Remote PED takes its place only once it is given back. */
		struct timespec until;
		ped_cond_deadline(&until, j->sim->ped_timeout_ms);
		while (hs->ped_busy && !hs->keying_cancelled)
			if (pthread_cond_timedwait(&hs->remote_cv, &hs->ped_mu, &until) != 0)
				break;
		if (hs->ped_busy && !hs->keying_cancelled) {
			ped_link_close(&l, PED_E_BUSY);
			r = PED_E_BUSY;
		}
	}
	if (hs->keying_cancelled) {
		if (r == PED_OK)
			ped_link_close(&l, PED_OK);
		hs->remote_state = REMOTE_NONE;
		ped_info("HSM %s: Remote PED %s session closed by the operator before it was keyed", hs->h.serial,
			 hs->remote_ped);
	} else if (r == PED_OK) {
		if (hs->ped_attached)
			ped_link_close(&hs->ped, PED_E_PED_UNPLUGGED); /* the local PED is ignored now */
		hs->ped = l;
		hs->ped.timeout_ms = j->sim->link_timeout_ms;
		hs->ped_attached = 1;
		hs->remote = 1;
		hs->remote_state = REMOTE_UP;
		hs->remote_last_use = ped_now_ms();
		ped_info("HSM %s: Remote PED %s session keyed (%s)", hs->h.serial, hs->remote_ped,
			 j->full ? "2e2s" : "1e1s");
	} else {
		hs->remote_state = REMOTE_FAILED;
		hs->remote_err =
			r == PED_E_KEY_CONFIRM || r == PED_E_HANDSHAKE || r == PED_E_BUSY ? r : PED_E_PED_UNPLUGGED;
		if (r == PED_E_FRAME_TYPE && l.foreign == PED_RELAY_BYE)
			ped_warn("HSM %s: Remote PED session key not computed: the session ended: %s", hs->h.serial,
				 bye_reason(&l));
		else
			ped_warn("HSM %s: Remote PED session key not computed: %s", hs->h.serial, ped_strerror(r));
	}
	pthread_cond_broadcast(&hs->remote_cv);
	pthread_mutex_unlock(&hs->ped_mu);
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(hoc);
	OPENSSL_cleanse(j->secret, sizeof(j->secret));
	atomic_fetch_sub(&j->sim->helpers, 1);
	free(j);
	return NULL;
}

int pedport_remote_connect(struct session *s, struct sim_hsm *hs, const char *host, int port, const char *otp)
{
	struct keying_job *j = NULL;
	struct ped_relay_msg h, w;
	uint8_t type, *msg = NULL;
	size_t len = 0;
	int fd = -1, r;

	pthread_mutex_lock(&hs->ped_mu);
	int open_already = hs->remote_state == REMOTE_KEYING || hs->remote_state == REMOTE_UP;
	pthread_mutex_unlock(&hs->ped_mu);
	if (open_already) {
		sess_out(s, "Error: a Remote PED session is already open for HSM %s (%s); ped disconnect first.",
			 hs->h.serial, hs->remote_server);
		return PED_E_BUSY;
	}
	if (!(j = calloc(1, sizeof(*j))))
		return PED_E_HOST_MEMORY;
	j->sim = s->sim;
	j->hs = hs;
	if (otp) {
		memcpy(j->secret, otp, 8);
		j->secret_len = 8;
	} else {
		memcpy(j->secret, hs->h.rpv, HSM_SECRET_LEN);
		j->secret_len = HSM_SECRET_LEN;
		j->full = hs->h.rpv_2e2s;
	}
	if (ped_unix_connect(s->sim->pedclient_socket, &fd) != PED_OK) {
		sess_out(s, "Error: pedclient is not running beside this HSM (%s).", s->sim->pedclient_socket);
		r = PED_E_PED_CLIENT_NOT_RUNNING;
		goto fail;
	}
	memset(&h, 0, sizeof(h));
	h.role = PED_RELAY_ROLE_HSM;
	h.purpose = PED_RELAY_SESSION;
	h.auth = otp ? PED_RELAY_AUTH_OTP : PED_RELAY_AUTH_RPV;
	h.flags = j->full ? PED_RELAY_F_2E2S : 0;
	h.port = (uint16_t)port;
	snprintf(h.id, sizeof(h.id), "%s", hs->h.serial);
	snprintf(h.version, sizeof(h.version), "hsm-sim %s", PED_VERSION);
	snprintf(h.host, sizeof(h.host), "%s", host);
	ped_framer_init(&j->in, fd, PED_FRAME_MAX_PAYLOAD);
	/* pedclient's own read timeout bounds the dial; allow it and a little more. */
	if ((r = ped_relay_send(fd, PED_RELAY_HELLO, &h, s->sim->link_timeout_ms)) != PED_OK ||
	    (r = ped_framer_recv(&j->in, &type, &msg, &len, s->sim->link_timeout_ms + 5000)) != PED_OK) {
		sess_out(s, "Error: no answer from pedclient: %s", ped_strerror(r));
		r = r == PED_E_TIMED_OUT ? PED_E_TIMED_OUT : PED_E_PED_UNPLUGGED;
		goto fail_fd;
	}
	if (type == PED_RELAY_BYE) {
		struct ped_relay_msg b;
		r = ped_relay_decode(msg, len, &b) == PED_OK ? ped_err_from_code(b.code) : PED_E_PED_UNPLUGGED;
		if (r == PED_OK || r == PED_E_GENERAL)
			r = PED_E_PED_UNPLUGGED;
		if (r == PED_E_NOT_FOUND)
			sess_out(s, "Error: no PED id is assigned to HSM %s (pedclient -mode assignid), and no -ip given.",
				 hs->h.serial);
		else if (r == PED_E_BUSY)
			sess_out(s, "Error: the PED is serving another HSM.");
		else if (r == PED_E_SOCKET)
			sess_out(s, "Error: pedserver %s%s%d cannot be reached.", host, *host ? ":" : "port ", port);
		else
			sess_out(s, "Error: the Remote PED is not available: %s", ped_strerror(r));
		goto fail_fd;
	}
	if (type != PED_RELAY_WELCOME || ped_relay_decode(msg, len, &w) != PED_OK) {
		sess_out(s, "Error: unexpected answer from pedclient");
		r = PED_E_PED_UNPLUGGED;
		goto fail_fd;
	}
	OPENSSL_free(msg);
	msg = NULL;
	pthread_mutex_lock(&hs->ped_mu);
	hs->remote_state = REMOTE_KEYING;
	hs->keying_fd = fd;
	hs->keying_cancelled = 0;
	snprintf(hs->remote_ped, sizeof(hs->remote_ped), "%s", w.id);
	snprintf(hs->remote_host, sizeof(hs->remote_host), "%s", host);
	hs->remote_host_port = port;
	hs->remote_otp = otp != NULL;
	if (*host)
		snprintf(hs->remote_server, sizeof(hs->remote_server), "%.64s:%d", host, port);
	else
		snprintf(hs->remote_server, sizeof(hs->remote_server), "(this HSM's PED id)");
	pthread_mutex_unlock(&hs->ped_mu);

	atomic_fetch_add(&s->sim->helpers, 1);
	if (ped_thread_spawn(keying_thread, j) != PED_OK) {
		atomic_fetch_sub(&s->sim->helpers, 1);
		pthread_mutex_lock(&hs->ped_mu);
		hs->remote_state = REMOTE_NONE;
		hs->keying_fd = -1;
		pthread_mutex_unlock(&hs->ped_mu);
		r = PED_E_HOST_MEMORY;
		goto fail_fd;
	}
	ped_info("HSM %s: Remote PED %s accepted by pedserver; computing the session key", hs->h.serial, w.id);
	return PED_OK;

fail_fd:
	if (msg)
		OPENSSL_free(msg);
	ped_framer_free(&j->in);
	close(fd);
fail:
	OPENSSL_cleanse(j->secret, sizeof(j->secret));
	free(j);
	return r;
}

int pedport_remote_rekey(struct session *s, struct sim_hsm *hs)
{
	char host[64];
	int port, r;

	pthread_mutex_lock(&hs->ped_mu);
	if (!(hs->remote && hs->ped_attached && hs->remote_state == REMOTE_UP) || hs->ped_busy) {
		pthread_mutex_unlock(&hs->ped_mu);
		return PED_OK;
	}
	memcpy(host, hs->remote_host, sizeof(host));
	port = hs->remote_host_port;
	ped_link_close(&hs->ped, PED_OK);
	hs->ped_attached = hs->remote = 0;
	hs->remote_state = REMOTE_NONE;
	pthread_mutex_unlock(&hs->ped_mu);
	ped_info("HSM %s: RPV initialized: keying the Remote PED session again with it", hs->h.serial);
	sess_out(s, "Re-establishing the Remote PED connection with the new RPV...");
	if ((r = pedport_remote_connect(s, hs, host, port, NULL)) == PED_OK)
		r = pedport_remote_wait(s, hs);
	if (r == PED_OK)
		sess_out(s, "Remote PED connection re-established (%s).",
			 hs->h.rpv_2e2s ? "full secure channel, 2e2s" : "RPV, 1e1s");
	else
		sess_out(s, "Warning: the Remote PED connection was not re-established: %s. "
			    "The RPV is initialized; ped connect keys a new session with it.", ped_strerror(r));
	return r;
}

int pedport_remote_wait(struct session *s, struct sim_hsm *hs)
{
	struct timespec until;
	int r = PED_OK;
	ped_cond_deadline(&until, s->sim->ped_timeout_ms);
	pthread_mutex_unlock(&s->sim->mu); /* the operator may take a while at the PED */
	pthread_mutex_lock(&hs->ped_mu);
	while (hs->remote_state == REMOTE_KEYING)
		if (pthread_cond_timedwait(&hs->remote_cv, &hs->ped_mu, &until) != 0)
			break;
	if (hs->remote_state == REMOTE_FAILED) {
		r = hs->remote_err;
		hs->remote_state = REMOTE_NONE;
	} else if (hs->remote_state != REMOTE_UP) {
		r = PED_E_PED_UNPLUGGED;
	}
	pthread_mutex_unlock(&hs->ped_mu);
	pthread_mutex_lock(&s->sim->mu);
	return r;
}

void pedport_abort(struct sim_hsm *hs)
{
	pthread_mutex_lock(&hs->ped_mu);
	if (hs->keying_fd >= 0)
		shutdown(hs->keying_fd, SHUT_RDWR);
	if (hs->ped_attached && hs->ped_busy)
		shutdown(ped_link_fd(&hs->ped), SHUT_RDWR);
	pthread_cond_broadcast(&hs->remote_cv);
	pthread_mutex_unlock(&hs->ped_mu);
}

int pedport_remote_disconnect(struct sim *sim, struct sim_hsm *hs)
{
	int r = PED_OK;
	pthread_mutex_lock(&hs->ped_mu);
	if (hs->remote_state == REMOTE_KEYING) {
		/* The operator need not wait out the key timeout for an orange key
		 * nobody will present, or a link that went quiet: ending the
		 * socket fails the handshake at once, and the keying thread closes
		 * it. It is waited for, so that ped connect may follow at once. */
		struct timespec until;
		hs->keying_cancelled = 1;
		if (hs->keying_fd >= 0)
			shutdown(hs->keying_fd, SHUT_RDWR);
		pthread_cond_broadcast(&hs->remote_cv); /* a keyed session waiting for the local PED */
		ped_cond_deadline(&until, sim->link_timeout_ms);
		while (hs->remote_state == REMOTE_KEYING)
			if (pthread_cond_timedwait(&hs->remote_cv, &hs->ped_mu, &until) != 0)
				break;
		r = hs->remote_state == REMOTE_KEYING ? PED_E_BUSY : PED_OK;
		pthread_mutex_unlock(&hs->ped_mu);
		return r;
	}
	if (hs->remote_state == REMOTE_UP && hs->remote && hs->ped_attached && hs->ped_busy) {
		/* A ceremony waits on the PED (for as long as the PED timeout):
		 * ending the socket ends that wait at once, and give() closes
		 * the link when the ceremony hands it back. */
		struct timespec until;
		hs->closing = 1;
		shutdown(ped_link_fd(&hs->ped), SHUT_RDWR);
		ped_cond_deadline(&until, sim->link_timeout_ms);
		while (hs->ped_busy)
			if (pthread_cond_timedwait(&hs->remote_cv, &hs->ped_mu, &until) != 0)
				break;
		hs->closing = 0;
		if (hs->ped_busy) {
			pthread_mutex_unlock(&hs->ped_mu);
			return PED_E_BUSY;
		}
		if (!hs->ped_attached) { /* give() closed it */
			pthread_mutex_unlock(&hs->ped_mu);
			return PED_OK;
		}
		/* the ceremony ended just before: the socket is shut down, close it below */
	}
	if (hs->remote_state == REMOTE_UP && hs->remote && hs->ped_attached && !hs->ped_busy) {
		ped_link_close(&hs->ped, PED_OK);
		hs->ped_attached = hs->remote = 0;
		hs->remote_state = REMOTE_NONE;
		ped_info("HSM %s: Remote PED session closed by the operator", hs->h.serial);
	} else if (hs->remote_state == REMOTE_FAILED) {
		hs->remote_state = REMOTE_NONE;
	} else if (hs->ped_busy) {
		r = PED_E_BUSY;
	} else {
		r = PED_E_PED_UNPLUGGED;
	}
	pthread_mutex_unlock(&hs->ped_mu);
	return r;
}
