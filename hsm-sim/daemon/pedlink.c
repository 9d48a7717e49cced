/* The HSM end of the PED link: attaching a PED, and asking it for keys
 * (pedlink.h). */
#include "pedlink.h"

#include "hsm/result.h"
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
	struct pedport *pt;
	int fd;
};

void pedports_init(struct pedports *pp, struct sim *sim)
{
	pp->n = sim->nhsms;
	pthread_mutex_init(&pp->helpers_mu, NULL);
	ped_cond_init_monotonic(&pp->helpers_cv);
	for (int i = 0; i < pp->n; i++) {
		struct pedport *pt = &pp->port[i];
		pt->hs = &sim->hsms[i];
		pt->all = pp;
		pt->listen_fd = -1;
		pt->link.in.fd = -1;
		pt->keying_fd = -1;
		pthread_mutex_init(&pt->mu, NULL);
		ped_cond_init_monotonic(&pt->cv);
	}
}

struct pedport *pedport_of(struct pedports *pp, const struct sim_hsm *hs)
{
	return &pp->port[hs->index];
}

void pedports_helper_begin(struct pedports *pp)
{
	pthread_mutex_lock(&pp->helpers_mu);
	pp->helpers++;
	pthread_mutex_unlock(&pp->helpers_mu);
}

void pedports_helper_end(struct pedports *pp)
{
	pthread_mutex_lock(&pp->helpers_mu);
	if (--pp->helpers == 0)
		pthread_cond_broadcast(&pp->helpers_cv);
	pthread_mutex_unlock(&pp->helpers_mu);
}

int pedports_wait_helpers(struct pedports *pp, int timeout_ms)
{
	struct timespec until;
	ped_cond_deadline(&until, timeout_ms);
	pthread_mutex_lock(&pp->helpers_mu);
	while (pp->helpers > 0)
		if (pthread_cond_timedwait(&pp->helpers_cv, &pp->helpers_mu, &until) != 0)
			break;
	int left = pp->helpers;
	pthread_mutex_unlock(&pp->helpers_mu);
	return left;
}

void pedports_free(struct pedports *pp)
{
	for (int i = 0; i < pp->n; i++) {
		EVP_PKEY_free(pp->port[i].id_key);
		X509_free(pp->port[i].id_cert);
		X509_free(pp->port[i].id_hoc);
		pp->port[i].id_key = NULL;
		pp->port[i].id_cert = pp->port[i].id_hoc = NULL;
	}
}

/* The HSM's static key and certificates as OpenSSL objects, made once (the
 * identity never changes; zeroize keeps it): importing a P-521 scalar costs
 * a point multiplication, a tenth of a handshake. Each caller gets its own
 * references. */
static int identity(struct pedport *pt, EVP_PKEY **key, X509 **cert, X509 **hoc)
{
	int r = PED_OK;
	*key = NULL;
	*cert = *hoc = NULL;
	pthread_mutex_lock(&pt->mu);
	if (!pt->id_key) {
		EVP_PKEY *k = NULL;
		X509 *c = NULL, *h = NULL;
		if (ped_ec_priv_import(pt->hs->h.static_priv, HSM_SCALAR_LEN, &k) != PED_OK ||
		    ped_cert_from_der(pt->hs->h.static_cert, pt->hs->h.static_cert_len, &c) != PED_OK ||
		    ped_cert_from_der(pt->hs->h.hoc_cert, pt->hs->h.hoc_cert_len, &h) != PED_OK) {
			EVP_PKEY_free(k);
			X509_free(c);
			r = PED_E_CORRUPT;
		} else {
			pt->id_key = k;
			pt->id_cert = c;
			pt->id_hoc = h;
		}
	}
	if (r == PED_OK && EVP_PKEY_up_ref(pt->id_key) && X509_up_ref(pt->id_cert) && X509_up_ref(pt->id_hoc)) {
		*key = pt->id_key;
		*cert = pt->id_cert;
		*hoc = pt->id_hoc;
	} else if (r == PED_OK) {
		r = PED_E_CRYPTO;
	}
	pthread_mutex_unlock(&pt->mu);
	return r;
}

/* A link is alive if nothing (not even end of stream) waits on it while idle. */
static int link_alive(struct ped_link *l)
{
	struct pollfd p = {.fd = ped_link_fd(l), .events = POLLIN};
	return poll(&p, 1, 0) == 0;
}

int pedport_kas_begin(struct pedport *pt, struct pedport_kas *k)
{
	int r;

	memset(k, 0, sizeof(*k));
	snprintf(k->id, sizeof(k->id), "HSM:%s", pt->hs->h.serial);
	if ((r = identity(pt, &k->key, &k->cert, &k->hoc)) != PED_OK)
		return r;
	k->p.role = PED_KAS_V;
	k->p.scheme = PED_KAS_1E1S;
	k->p.id = k->id;
	k->p.static_key = k->key;
	k->p.static_cert = k->cert;
	k->p.hoc = k->hoc;
	return PED_OK;
}

void pedport_kas_end(struct pedport_kas *k)
{
	EVP_PKEY_free(k->key);
	X509_free(k->cert);
	X509_free(k->hoc);
	OPENSSL_cleanse(k, sizeof(*k));
}

static void *attach_thread(void *arg)
{
	struct attach_job *j = arg;
	struct pedport *pt = j->pt;
	struct pedport_kas k;
	struct ped_link l;
	int r;

	if ((r = pedport_kas_begin(pt, &k)) != PED_OK) {
		close(j->fd);
		goto out;
	}
	if ((r = ped_link_handshake(&l, j->fd, &k.p, pt->all->link_timeout_ms)) != PED_OK) {
		ped_warn("HSM %s: PED handshake failed: %s", pt->hs->h.serial, ped_strerror(r));
		goto out;
	}
	pthread_mutex_lock(&pt->mu);
	if (pt->remote_state == REMOTE_KEYING || pt->remote_state == REMOTE_UP || pt->remote_state == REMOTE_DEFERRED) {
		pthread_mutex_unlock(&pt->mu);
		ped_warn("HSM %s: a Remote PED session is open; local PED %s ignored", pt->hs->h.serial, l.peer_id);
		ped_link_close(&l, PED_E_BUSY);
		goto out;
	}
	if (pt->attached && (pt->busy || link_alive(&pt->link))) {
		pthread_mutex_unlock(&pt->mu);
		ped_warn("HSM %s: a PED is already attached; refusing %s", pt->hs->h.serial, l.peer_id);
		ped_link_close(&l, PED_E_BUSY);
		goto out;
	}
	if (pt->attached)
		ped_link_close(&pt->link, PED_E_PED_UNPLUGGED);
	pt->link = l;
	pt->attached = 1;
	pthread_mutex_unlock(&pt->mu);
	ped_info("HSM %s: local PED attached (%s)", pt->hs->h.serial, l.peer_id);
out:
	pedport_kas_end(&k);
	free(j);
	pedports_helper_end(pt->all);
	return NULL;
}

void pedport_attach(struct pedport *pt, int fd)
{
	struct attach_job *j = malloc(sizeof(*j));
	if (!j) {
		close(fd);
		return;
	}
	*j = (struct attach_job){pt, fd};
	pedports_helper_begin(pt->all);
	if (ped_thread_spawn(attach_thread, j) != PED_OK) {
		pedports_helper_end(pt->all);
		close(fd);
		free(j);
	}
}

/* Something (a BYE, the end of the stream) to read on a socket nothing
 * should cross while idle. */
static int fd_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0;
}

int pedport_remote_ended(struct pedport *pt)
{
	if (pt->remote_state == REMOTE_UP && pt->remote && pt->attached && !pt->busy && !link_alive(&pt->link)) {
		ped_warn("HSM %s: the Remote PED session ended: pedclient closed it (pedserver's idle timeout, or a "
			 "relay restarted)", pt->hs->h.serial);
		ped_link_close(&pt->link, PED_E_PED_UNPLUGGED);
		pt->attached = pt->remote = 0;
		pt->remote_state = REMOTE_NONE;
		return 1;
	}
	/* After WELCOME nothing crosses until the HSM's HELLO_V
	 * (docs/protocol.md, section 11): anything to read is the end. */
	if (pt->remote_state == REMOTE_DEFERRED && pt->keying_fd >= 0 && fd_readable(pt->keying_fd)) {
		struct timespec until;
		pt->keying_cancelled = pt->keying_ended = 1;
		pthread_cond_broadcast(&pt->cv);
		ped_cond_deadline(&until, pt->all->link_timeout_ms);
		while (pt->remote_state == REMOTE_DEFERRED)
			if (pthread_cond_timedwait(&pt->cv, &pt->mu, &until) != 0)
				break;
		return 1;
	}
	return 0;
}

int pedport_describe(struct pedport *pt, char *out, size_t len, int *ped_id)
{
	int remote = 0;
	*ped_id = 0;
	pthread_mutex_lock(&pt->mu);
	pedport_remote_ended(pt);
	if (pt->remote_state == REMOTE_UP || pt->remote_state == REMOTE_KEYING || pt->remote_state == REMOTE_DEFERRED) {
		snprintf(out, len, "Remote PED %.40s via pedserver %.60s%s%s", pt->remote_ped, pt->remote_server,
			 pt->remote_otp ? ", one-time password session" : "",
			 pt->remote_state == REMOTE_KEYING	? " (computing the session key)"
			 : pt->remote_state == REMOTE_DEFERRED ? " (session key at the first PED operation)"
								: "");
		remote = 1;
		*ped_id = pt->remote_ped_id;
	} else if (pt->attached && (pt->busy || link_alive(&pt->link))) {
		snprintf(out, len, "Local PED attached.");
	} else {
		snprintf(out, len, "No local PED attached.");
	}
	pthread_mutex_unlock(&pt->mu);
	return remote;
}

/* Why take() found no PED to use, for the operator (take_told). */
enum no_ped { NO_PED_SAID, NO_PED_NONE, NO_PED_REMOTE_IDLE, NO_PED_REMOTE_ENDED, NO_PED_LOCAL_GONE };

/* Takes the link for one exchange; PED_E_PED_UNPLUGGED when there is none
 * (*why says which case, when the result code alone would not).
 * A Remote PED session still being keyed is waited for; one whose keying
 * waits for the first PED operation (REMOTE_DEFERRED) is keyed now. With
 * queue, a PED another ceremony has is waited for too (up to wait_ms):
 * applications' logins take turns on the one PED; an operator is told it
 * is busy (PED_E_BUSY). */
static int take(struct pedport *pt, const struct sim_out *o, int wait_ms, int queue, enum no_ped *why)
{
	int r = PED_OK;

	*why = NO_PED_SAID;
	struct timespec queue_until;

	ped_cond_deadline(&queue_until, wait_ms);
	/* read under mu: pedports_abort sets it before it looks at the port */
	pthread_mutex_lock(&pt->mu);
	if (atomic_load(&pt->all->stopping)) {
		pthread_mutex_unlock(&pt->mu);
		return PED_E_CANCEL; /* hsm-sim is shutting down: no new PED wait */
	}
	if (pt->remote_state == REMOTE_DEFERRED) {
		/* chapter 5: "Issue the first command that requires authentication.
		 * ... The Luna PED prompts for an orange PED key." */
		int say = !pt->remote_rpk_held;
		pt->remote_state = REMOTE_KEYING;
		pthread_cond_broadcast(&pt->cv);
		pthread_mutex_unlock(&pt->mu);
		if (say)
			sim_outf(o, "Please attend to the PED: present the orange RPK to compute the session key.");
		pthread_mutex_lock(&pt->mu);
	}
	if (pt->remote_state == REMOTE_KEYING) {
		struct timespec until;
		ped_cond_deadline(&until, wait_ms);
		while (pt->remote_state == REMOTE_KEYING)
			if (pthread_cond_timedwait(&pt->cv, &pt->mu, &until) != 0)
				break;
		if (pt->remote_state == REMOTE_KEYING) {
			pthread_mutex_unlock(&pt->mu);
			return PED_E_PED_UNPLUGGED;
		}
	}
	if (pt->remote_state == REMOTE_FAILED) {
		r = pt->remote_err;
		pt->remote_state = REMOTE_NONE;
		pthread_mutex_unlock(&pt->mu);
		return r;
	}
	while (queue && pt->busy && !pt->closing && !atomic_load(&pt->all->stopping))
		if (pthread_cond_timedwait(&pt->cv, &pt->mu, &queue_until) != 0)
			break;
	if (atomic_load(&pt->all->stopping)) {
		pthread_mutex_unlock(&pt->mu);
		return PED_E_CANCEL;
	}
	uint64_t now = ped_now_ms();
	if (pt->busy) {
		/* another session's ceremony has this PED, and uses the link outside
		 * mu: nothing here may close it */
		pthread_mutex_unlock(&pt->mu);
		return PED_E_BUSY;
	}
	if (pt->remote && pt->attached && now > pt->remote_last_use &&
	    now - pt->remote_last_use > (uint64_t)pt->all->remote_idle_timeout_s * 1000u) {
		ped_warn("HSM %s: Remote PED session idle for more than %d s: closed", pt->hs->h.serial,
			 pt->all->remote_idle_timeout_s);
		ped_link_close(&pt->link, PED_E_TIMED_OUT);
		pt->attached = pt->remote = 0;
		pt->remote_state = REMOTE_NONE;
		pthread_mutex_unlock(&pt->mu);
		*why = NO_PED_REMOTE_IDLE;
		return PED_E_PED_UNPLUGGED;
	}
	if (!pt->attached) {
		*why = NO_PED_NONE;
		r = PED_E_PED_UNPLUGGED;
	} else if (!link_alive(&pt->link)) {
		ped_link_close(&pt->link, PED_E_PED_UNPLUGGED);
		pt->attached = 0;
		*why = pt->remote ? NO_PED_REMOTE_ENDED : NO_PED_LOCAL_GONE;
		if (pt->remote) {
			ped_warn("HSM %s: the Remote PED session ended", pt->hs->h.serial);
			pt->remote = 0;
			pt->remote_state = REMOTE_NONE;
		}
		r = PED_E_PED_UNPLUGGED;
	} else {
		pt->busy = 1;
	}
	pthread_mutex_unlock(&pt->mu);
	return r;
}

/* take(), telling the operator why the PED cannot be used when the result
 * code alone (the reference's, hsm/result.h) would not say it. */
static int take_told(struct pedport *pt, const struct sim_out *o, int wait_ms, int queue)
{
	enum no_ped why;
	int r = take(pt, o, wait_ms, queue, &why);
	/* CKR_PED_UNPLUGGED alone does not say that there never was a PED,
	 * nor what to do (an operator who forgot to start or cable one) */
	if (r == PED_E_PED_UNPLUGGED && why == NO_PED_NONE)
		sim_outf(o, "Error: no PED is attached to HSM %s: attach one to its local PED link (ped-device -hsm %s) "
			    "or connect a Remote PED (ped connect).", pt->hs->h.serial, pt->path);
	else if (r == PED_E_PED_UNPLUGGED && why == NO_PED_REMOTE_IDLE)
		sim_outf(o, "Error: the Remote PED session of HSM %s was idle for more than %d s and is closed; "
			    "connect again (ped connect).", pt->hs->h.serial, pt->all->remote_idle_timeout_s);
	else if (r == PED_E_PED_UNPLUGGED && why == NO_PED_REMOTE_ENDED)
		sim_outf(o, "Error: the Remote PED session of HSM %s has ended; connect again (ped connect).",
			 pt->hs->h.serial);
	else if (r == PED_E_PED_UNPLUGGED && why == NO_PED_LOCAL_GONE)
		sim_outf(o, "Error: the local PED of HSM %s has gone; attach it again (ped-device -hsm %s).",
			 pt->hs->h.serial, pt->path);
	else if (r == PED_E_BUSY)
		sim_outf(o, "Error: the PED of HSM %s is busy with another session's operation; try again when "
			    "it ends.", pt->hs->h.serial);
	else if (r == PED_E_KEY_CONFIRM || r == PED_E_HANDSHAKE)
		sim_outf(o, "Error: the Remote PED session key was not computed: %s. Connect again (ped connect) "
			    "with the right orange key or one-time password.", hsm_result_detail(r));
	return r;
}

/* Why the relays ended a Remote PED session, from the BYE that came in the
 * channel's place (pedclient's ping timeout, the PED gone, ...). */
const char *pedport_bye_reason(const struct ped_link *l)
{
	return l->foreign_err == PED_OK ? "pedclient closed it" : ped_err_name(l->foreign_err);
}

/* Gives the link back; a broken one is dropped. */
static int give(struct pedport *pt, int r)
{
	pthread_mutex_lock(&pt->mu);
	pt->busy = 0;
	pthread_cond_broadcast(&pt->cv); /* ped disconnect may wait for the link */
	if (pt->closing && r != PED_OK) {
		ped_warn("HSM %s: Remote PED session closed by the operator during a PED operation", pt->hs->h.serial);
		ped_link_close(&pt->link, PED_E_PED_UNPLUGGED);
		pt->attached = pt->remote = 0;
		pt->remote_state = REMOTE_NONE;
		r = PED_E_PED_UNPLUGGED;
	} else if (pt->all->stopping && r != PED_OK) {
		ped_info("HSM %s: PED operation cancelled: hsm-sim is stopping", pt->hs->h.serial);
		ped_link_close(&pt->link, PED_E_CANCEL);
		pt->attached = pt->remote = 0;
		pt->remote_state = REMOTE_NONE;
		r = PED_E_CANCEL;
	} else if (r == PED_E_CLOSED || r == PED_E_SOCKET || r == PED_E_TIMED_OUT || r == PED_E_BAD_RECORD ||
	    r == PED_E_REPLAY || r == PED_E_CHANNEL_CLOSED || r == PED_E_FRAME_TRUNCATED ||
	    r == PED_E_FRAME_TYPE || r == PED_E_FRAME_MAGIC || r == PED_E_FRAME_OVERSIZE) {
		if (r == PED_E_FRAME_TYPE && pt->link.foreign == PED_RELAY_BYE)
			ped_warn("HSM %s: the Remote PED session ended: %s", pt->hs->h.serial, pedport_bye_reason(&pt->link));
		else
			ped_warn("HSM %s: PED link lost: %s", pt->hs->h.serial, ped_strerror(r));
		ped_link_close(&pt->link, PED_E_PED_UNPLUGGED);
		pt->attached = 0;
		if (pt->remote) {
			pt->remote = 0;
			pt->remote_state = REMOTE_NONE;
		}
		r = PED_E_PED_UNPLUGGED;
	}
	pt->remote_last_use = ped_now_ms();
	pthread_mutex_unlock(&pt->mu);
	return r;
}

static int send_request(struct pedport *pt, uint8_t op, int key_type, const char *title,
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
	r = ped_link_send(&pt->link, PED_REC_DATA, m, len);
	OPENSSL_free(m);
	return r;
}

/* The PED's answer: a CSP or a DATA record. */
static int await(struct pedport *pt, uint8_t *rt, uint8_t **msg, size_t *len, int wait_ms)
{
	return ped_link_recv(&pt->link, rt, msg, len, wait_ms, NULL);
}

/* How long a ceremony waits on the PED: the port's ped_timeout, or less
 * when its caller says so (an application's request, bounded by its own
 * timeout). */
static int wait_of(const struct pedport *pt, int wait_ms)
{
	return wait_ms > 0 && wait_ms < pt->all->ped_timeout_ms ? wait_ms : pt->all->ped_timeout_ms;
}

/* give(), for a ceremony whose wait its caller bounded below the port's
 * ped_timeout: running out of that time is the PED's timeout
 * (PED_E_TIMEOUT), not a lost link, though the link goes all the same (the
 * PED is still in the ceremony, and its late answer would be taken for the
 * next one's; it attaches again). */
static int give_within(struct pedport *pt, int r, int wait_ms)
{
	int limited = wait_ms > 0 && wait_ms < pt->all->ped_timeout_ms && r == PED_E_TIMED_OUT;
	r = give(pt, r);
	if (limited && r == PED_E_PED_UNPLUGGED) {
		ped_info("HSM %s: no answer from the PED within the caller's %d ms: the ceremony is cancelled",
			 pt->hs->h.serial, wait_ms);
		r = PED_E_TIMEOUT;
	}
	return r;
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
static int otp_session_refuses(struct pedport *pt, const struct sim_out *o, int key_type)
{
	pthread_mutex_lock(&pt->mu);
	int refuse = pt->remote && pt->remote_otp && key_type != PED_KEY_RPV;
	pthread_mutex_unlock(&pt->mu);
	if (refuse)
		sim_outf(o, "Error: the Remote PED session of HSM %s is keyed with the one-time password: it serves "
			    "ped vector init only. Initialize the RPV first.", pt->hs->h.serial);
	return refuse;
}

int pedport_auth(struct pedport *pt, const struct sim_out *o, int key_type, const char *title,
		 const char *prompt, const char *colour, struct ped_app_splits *sp)
{
	return pedport_auth_within(pt, o, 0, key_type, title, prompt, colour, sp);
}

int pedport_auth_within(struct pedport *pt, const struct sim_out *o, int wait_ms, int key_type, const char *title,
			const char *prompt, const char *colour, struct ped_app_splits *sp)
{
	uint8_t rt, *msg = NULL;
	size_t len = 0;
	int wait = wait_of(pt, wait_ms), r;

	if ((r = take_told(pt, o, wait, wait_ms > 0)) != PED_OK)
		return r;
	if (otp_session_refuses(pt, o, key_type)) {
		r = PED_E_DEVICE_ERROR;
		goto out;
	}
	if ((r = send_request(pt, PED_APP_AUTH, key_type, title, prompt, colour, 0)) != PED_OK ||
	    (r = await(pt, &rt, &msg, &len, wait)) != PED_OK)
		goto out;
	if (rt == PED_REC_CSP)
		r = ped_app_decode_splits(msg, len, sp) == PED_OK ? PED_OK : PED_E_CALLBACK_ERROR;
	else
		r = result_of(msg, len);
out:
	if (msg)
		OPENSSL_clear_free(msg, len ? len : 1);
	return give_within(pt, r, wait_ms);
}

static int create_keyset(struct pedport *pt, const struct sim_out *o, int wait_ms, int key_type, const char *title,
			 const char *prompt, const char *colour, int allow_reuse, uint8_t secret[HSM_SECRET_LEN],
			 struct ped_app_created *info, const uint8_t *extra, size_t extra_len)
{
	uint8_t rt, *msg = NULL, *sm = NULL;
	size_t len = 0, slen = 0;
	int wait = wait_of(pt, wait_ms), r;

	if ((r = take_told(pt, o, wait, wait_ms > 0)) != PED_OK)
		return r;
	if (otp_session_refuses(pt, o, key_type)) {
		r = PED_E_DEVICE_ERROR;
		goto out;
	}
	if (RAND_priv_bytes(secret, HSM_SECRET_LEN) != 1) {
		r = PED_E_CRYPTO;
		goto out;
	}
	if ((r = send_request(pt, PED_APP_CREATE, key_type, title, prompt, colour, allow_reuse)) != PED_OK ||
	    (r = ped_app_encode_secret(PED_APP_SECRET, secret, HSM_SECRET_LEN, &sm, &slen)) != PED_OK ||
	    (r = ped_link_send_csp(&pt->link, sm, slen)) != PED_OK ||
	    (extra && (r = ped_link_send_csp(&pt->link, extra, extra_len)) != PED_OK) ||
	    (r = await(pt, &rt, &msg, &len, wait)) != PED_OK)
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
	return give_within(pt, r, wait_ms);
}

int pedport_create(struct pedport *pt, const struct sim_out *o, int key_type, const char *title,
		   const char *prompt, const char *colour, int allow_reuse, uint8_t secret[HSM_SECRET_LEN],
		   struct ped_app_created *info)
{
	return pedport_create_within(pt, o, 0, key_type, title, prompt, colour, allow_reuse, secret, info);
}

int pedport_create_within(struct pedport *pt, const struct sim_out *o, int wait_ms, int key_type, const char *title,
			  const char *prompt, const char *colour, int allow_reuse, uint8_t secret[HSM_SECRET_LEN],
			  struct ped_app_created *info)
{
	return create_keyset(pt, o, wait_ms, key_type, title, prompt, colour, allow_reuse, secret, info, NULL, 0);
}

int pedport_create_rpv(struct pedport *pt, const struct sim_out *o, uint8_t secret[HSM_SECRET_LEN],
		       struct ped_app_created *info)
{
	EVP_PKEY *hoc_key = NULL, *key = NULL;
	X509 *hoc = NULL, *cert = NULL;
	uint8_t scalar[PED_APP_SCALAR_LEN], *der = NULL, *msg = NULL;
	size_t der_len = 0, mlen = 0;
	char cn[64];
	int r;

	/* A second static key for the PED's side of 2e2s, certified by this HSM's HOC. */
	snprintf(cn, sizeof(cn), "RPV %s", pt->hs->h.serial);
	if ((r = ped_ec_priv_import(pt->hs->h.hoc_priv, HSM_SCALAR_LEN, &hoc_key)) != PED_OK ||
	    (r = ped_cert_from_der(pt->hs->h.hoc_cert, pt->hs->h.hoc_cert_len, &hoc)) != PED_OK ||
	    (r = ped_ec_generate(&key)) != PED_OK || (r = ped_ec_priv_export(key, scalar)) != PED_OK ||
	    (r = ped_cert_issue(hoc, hoc_key, key, cn, &cert)) != PED_OK ||
	    (r = ped_cert_to_der(cert, &der, &der_len)) != PED_OK ||
	    (r = ped_app_encode_rpv_key(scalar, der, der_len, pt->hs->h.hoc_cert, pt->hs->h.hoc_cert_len, &msg, &mlen)) != PED_OK)
		goto out;
	r = create_keyset(pt, o, 0, PED_KEY_RPV, "SETTING RPV...", "RPK / Remote", "ORANGE", 1, secret, info, msg, mlen);
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


void pedports_abort(struct pedports *pp)
{
	atomic_store(&pp->stopping, 1);
	for (int i = 0; i < pp->n; i++) {
		struct pedport *pt = &pp->port[i];
		pthread_mutex_lock(&pt->mu);
		if (pt->keying_fd >= 0)
			shutdown(pt->keying_fd, SHUT_RDWR);
		if (pt->attached && pt->busy)
			shutdown(ped_link_fd(&pt->link), SHUT_RDWR);
		pthread_cond_broadcast(&pt->cv);
		pthread_mutex_unlock(&pt->mu);
	}
}

int pedport_remote_busy(struct pedport *pt)
{
	int on;
	pthread_mutex_lock(&pt->mu);
	on = (pt->remote && pt->busy) || pt->remote_state == REMOTE_KEYING;
	pthread_mutex_unlock(&pt->mu);
	return on;
}

int pedport_remote_wait(struct pedport *pt, int ms)
{
	struct timespec until;
	int on;
	ped_cond_deadline(&until, ms);
	pthread_mutex_lock(&pt->mu);
	while ((on = (pt->remote && pt->busy) || pt->remote_state == REMOTE_KEYING) && !atomic_load(&pt->all->stopping))
		if (pthread_cond_timedwait(&pt->cv, &pt->mu, &until) != 0) {
			on = (pt->remote && pt->busy) || pt->remote_state == REMOTE_KEYING;
			break;
		}
	pthread_mutex_unlock(&pt->mu);
	return on;
}
