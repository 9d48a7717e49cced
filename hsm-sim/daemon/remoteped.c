/* Remote PED through pedclient: ped connect asks pedclient for a session,
 * a thread keys it, and the keyed link takes the local PED's place in the
 * HSM's port (remoteped.h). */
#include "remoteped.h"

#include "hsm/result.h"
#include "ped/ec.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/frame.h"
#include "ped/kas.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/relay.h"
#include "ped/thread.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct keying_job {
	struct pedport *pt;
	struct ped_framer in;
	uint8_t secret[HSM_SECRET_LEN];
	size_t secret_len;
	int full; /* 2e2s with the RPV static key on the orange key */
	EVP_PKEY *eph; /* 2e2s: our ephemeral key, made while pedclient reached the PED */
};

static void *keying_thread(void *arg)
{
	struct keying_job *j = arg;
	struct pedport *pt = j->pt;
	struct pedport_kas k;
	struct ped_link l;
	int r;

	memset(&k, 0, sizeof(k));
	/* A deferred session is keyed when the first PED operation asks for it
	 * (take()), or not at all: ped disconnect, hsm-sim stopping. */
	pthread_mutex_lock(&pt->mu);
	while (pt->remote_state == REMOTE_DEFERRED && !pt->keying_cancelled && !atomic_load(&pt->all->stopping))
		pthread_cond_wait(&pt->cv, &pt->mu);
	r = pt->remote_state == REMOTE_KEYING && !pt->keying_cancelled ? PED_OK : PED_E_CANCEL;
	pthread_mutex_unlock(&pt->mu);
	if (r == PED_OK && (r = pedport_kas_begin(pt, &k)) == PED_OK) {
		k.p.scheme = j->full ? PED_KAS_2E2S : PED_KAS_1E1S;
		k.p.secret = j->secret;
		k.p.secret_len = j->secret_len;
		k.p.ephemeral = j->eph;
		/* The operator has the PED's whole key timeout to present the orange key or type the password. */
		r = ped_link_handshake_on(&l, &j->in, &k.p, pt->all->ped_timeout_ms);
	}
	/* Used, or never to be: it goes with its handshake, not with this
	 * thread, which may yet wait the PED timeout for a local ceremony. */
	EVP_PKEY_free(j->eph);
	j->eph = NULL;
	pthread_mutex_lock(&pt->mu);
	/* ped disconnect shuts the socket down while keying_fd names it: the
	 * descriptor is closed only after it is withdrawn, under mu, so the
	 * operator's shutdown can never reach a socket that reused the number. */
	pt->keying_fd = -1;
	if (r != PED_OK) {
		ped_framer_free(&j->in);
		close(j->in.fd);
	}
	if (r == PED_OK && pt->busy) {
		/* A ceremony on the local PED uses the link outside mu: the
		 * Remote PED takes its place only once it is given back. */
		struct timespec until;
		ped_cond_deadline(&until, pt->all->ped_timeout_ms);
		while (pt->busy && !pt->keying_cancelled)
			if (pthread_cond_timedwait(&pt->cv, &pt->mu, &until) != 0)
				break;
		if (pt->busy && !pt->keying_cancelled) {
			ped_link_close(&l, PED_E_BUSY);
			r = PED_E_BUSY;
		}
	}
	if (pt->keying_cancelled) {
		if (r == PED_OK)
			ped_link_close(&l, PED_OK);
		pt->remote_state = REMOTE_NONE;
		if (pt->keying_ended)
			ped_warn("HSM %s: the Remote PED session ended before it was keyed: pedclient closed it "
				 "(pedserver's idle timeout, or a relay restarted)", pt->hs->h.serial);
		else
			ped_info("HSM %s: Remote PED %s session closed by the operator before it was keyed",
				 pt->hs->h.serial, pt->remote_ped);
	} else if (r == PED_OK) {
		if (pt->attached)
			ped_link_close(&pt->link, PED_E_PED_UNPLUGGED); /* the local PED is ignored now */
		pt->link = l;
		pt->link.timeout_ms = pt->all->link_timeout_ms;
		pt->attached = 1;
		pt->remote = 1;
		pt->remote_state = REMOTE_UP;
		pt->remote_last_use = ped_now_ms();
		ped_info("HSM %s: Remote PED %s session keyed (%s)", pt->hs->h.serial, pt->remote_ped,
			 j->full ? "2e2s" : "1e1s");
	} else {
		pt->remote_state = REMOTE_FAILED;
		pt->remote_err =
			r == PED_E_KEY_CONFIRM || r == PED_E_HANDSHAKE || r == PED_E_BUSY ? r : PED_E_PED_UNPLUGGED;
		if (r == PED_E_FRAME_TYPE && l.foreign == PED_RELAY_BYE)
			ped_warn("HSM %s: Remote PED session key not computed: the session ended: %s", pt->hs->h.serial,
				 pedport_bye_reason(&l));
		else
			ped_warn("HSM %s: Remote PED session key not computed: %s", pt->hs->h.serial, ped_strerror(r));
	}
	pthread_cond_broadcast(&pt->cv);
	pthread_mutex_unlock(&pt->mu);
	pedport_kas_end(&k);
	OPENSSL_cleanse(j->secret, sizeof(j->secret));
	free(j);
	pedports_helper_end(pt->all);
	return NULL;
}

int remoteped_connect(struct pedport *pt, const struct sim_out *o, const char *host, int port, const char *otp,
		      unsigned flags)
{
	struct keying_job *j = NULL;
	struct ped_relay_msg h, w;
	uint8_t type, *msg = NULL;
	size_t len = 0;
	int fd = -1, r;

	pthread_mutex_lock(&pt->mu);
	/* one the relays ended is no longer open: chapter 5's recovery is ped connect */
	pedport_remote_ended(pt);
	int open_already = pt->remote_state == REMOTE_KEYING || pt->remote_state == REMOTE_UP ||
			   pt->remote_state == REMOTE_DEFERRED;
	pthread_mutex_unlock(&pt->mu);
	if (open_already) {
		sim_outf(o, "Error: a Remote PED session is already open for HSM %s (%s); ped disconnect first.",
			 pt->hs->h.serial, pt->remote_server);
		return PED_E_BUSY;
	}
	if (!(j = calloc(1, sizeof(*j))))
		return PED_E_HOST_MEMORY;
	j->pt = pt;
	if (otp) {
		memcpy(j->secret, otp, 8);
		j->secret_len = 8;
	} else {
		memcpy(j->secret, pt->hs->h.rpv, HSM_SECRET_LEN);
		j->secret_len = HSM_SECRET_LEN;
		j->full = pt->hs->h.rpv_2e2s;
	}
	if (ped_unix_connect(pt->all->pedclient_socket, &fd) != PED_OK) {
		sim_outf(o, "Error: pedclient is not running beside this HSM (%s).", pt->all->pedclient_socket);
		r = PED_E_PED_CLIENT_NOT_RUNNING;
		goto fail;
	}
	memset(&h, 0, sizeof(h));
	h.role = PED_RELAY_ROLE_HSM;
	h.purpose = PED_RELAY_SESSION;
	h.auth = otp ? PED_RELAY_AUTH_OTP : PED_RELAY_AUTH_RPV;
	h.flags = j->full ? PED_RELAY_F_2E2S : 0;
	h.port = (uint16_t)port;
	snprintf(h.id, sizeof(h.id), "%s", pt->hs->h.serial);
	snprintf(h.version, sizeof(h.version), "hsm-sim %s", PED_VERSION);
	snprintf(h.host, sizeof(h.host), "%s", host);
	ped_framer_init(&j->in, fd, PED_FRAME_MAX_PAYLOAD);
	/* pedclient's own read timeout bounds the dial; allow it and a little more. */
	r = ped_relay_send(fd, PED_RELAY_HELLO, &h, pt->all->link_timeout_ms);
	/* The handshake's ephemeral key is made while pedclient dials: it is
	 * then off the path from ped connect to the session key. Failing here,
	 * the handshake makes one itself. */
	if (r == PED_OK && j->full)
		(void)ped_ec_generate(&j->eph);
	if (r != PED_OK || (r = ped_framer_recv(&j->in, &type, &msg, &len, pt->all->link_timeout_ms + 5000)) != PED_OK) {
		sim_outf(o, "Error: no answer from pedclient: %s", hsm_result_detail(r));
		r = r == PED_E_TIMED_OUT ? PED_E_TIMED_OUT : PED_E_PED_UNPLUGGED;
		goto fail_fd;
	}
	if (type == PED_RELAY_BYE) {
		struct ped_relay_msg b;
		r = ped_relay_decode(msg, len, &b) == PED_OK ? ped_err_from_code(b.code) : PED_E_PED_UNPLUGGED;
		if (r == PED_OK || r == PED_E_GENERAL)
			r = PED_E_PED_UNPLUGGED;
		if (r == PED_E_NOT_FOUND)
			sim_outf(o, "Error: no PED id is assigned to HSM %s (pedclient -mode assignid), and no -ip given.",
				 pt->hs->h.serial);
		else if (r == PED_E_BUSY)
			sim_outf(o, "Error: the PED is serving another HSM.");
		else if (r == PED_E_SOCKET)
			sim_outf(o, "Error: pedserver %s%s%d cannot be reached.", host, *host ? ":" : "port ", port);
		else
			sim_outf(o, "Error: the Remote PED is not available: %s", hsm_result_detail(r));
		goto fail_fd;
	}
	if (type != PED_RELAY_WELCOME || ped_relay_decode(msg, len, &w) != PED_OK) {
		sim_outf(o, "Error: unexpected answer from pedclient");
		r = PED_E_PED_UNPLUGGED;
		goto fail_fd;
	}
	OPENSSL_free(msg);
	msg = NULL;
	/* A session keyed with the RPV waits for the first PED operation, where
	 * the PED asks for the orange key (docs/protocol.md, section 11), unless
	 * the PED holds the RPK already (nobody is asked) or the caller wants
	 * the key now (ped connect -wait, the re-keying after ped vector init).
	 * A password session is keyed at once: the operator types the password
	 * ped connect printed. */
	int held = (w.flags & PED_RELAY_F_RPK_HELD) != 0;
	int defer = !otp && !held && !(flags & REMOTEPED_KEY_NOW);
	if (defer) {
		/* the session may wait hours for its first PED operation: the
		 * handshake makes its ephemeral key then, not now */
		EVP_PKEY_free(j->eph);
		j->eph = NULL;
	}
	pthread_mutex_lock(&pt->mu);
	pt->remote_state = defer ? REMOTE_DEFERRED : REMOTE_KEYING;
	pt->remote_rpk_held = held;
	pt->remote_ped_id = (w.flags & PED_RELAY_F_PED_ID) ? w.port : 100;
	pt->keying_fd = fd;
	pt->keying_cancelled = pt->keying_ended = 0;
	snprintf(pt->remote_ped, sizeof(pt->remote_ped), "%s", w.id);
	snprintf(pt->remote_host, sizeof(pt->remote_host), "%s", host);
	pt->remote_host_port = port;
	pt->remote_otp = otp != NULL;
	if (*host)
		snprintf(pt->remote_server, sizeof(pt->remote_server), "%.64s:%d", host, port);
	else
		snprintf(pt->remote_server, sizeof(pt->remote_server), "of PED id %d", pt->remote_ped_id);
	pthread_mutex_unlock(&pt->mu);

	pedports_helper_begin(pt->all);
	if (ped_thread_spawn(keying_thread, j) != PED_OK) {
		pedports_helper_end(pt->all);
		pthread_mutex_lock(&pt->mu);
		pt->remote_state = REMOTE_NONE;
		pt->keying_fd = -1;
		pthread_mutex_unlock(&pt->mu);
		r = PED_E_HOST_MEMORY;
		goto fail_fd;
	}
	if (defer) {
		ped_info("HSM %s: Remote PED %s accepted by pedserver; the session key is computed at the first PED "
			 "operation", pt->hs->h.serial, w.id);
	} else {
		ped_info("HSM %s: Remote PED %s accepted by pedserver; computing the session key", pt->hs->h.serial, w.id);
		if (!otp && !held && !(flags & REMOTEPED_QUIET))
			sim_outf(o, "Please attend to the PED: present the orange RPK to compute the session key.");
	}
	return PED_OK;

fail_fd:
	if (msg)
		OPENSSL_free(msg);
	ped_framer_free(&j->in);
	close(fd);
fail:
	EVP_PKEY_free(j->eph);
	OPENSSL_cleanse(j->secret, sizeof(j->secret));
	free(j);
	return r;
}

int remoteped_disconnect(struct pedport *pt, int *had_ended)
{
	int r = PED_OK;
	pthread_mutex_lock(&pt->mu);
	/* a session the relays ended is closed now; what the operator asked for is done */
	if ((*had_ended = pedport_remote_ended(pt)) != 0) {
		pthread_mutex_unlock(&pt->mu);
		return PED_OK;
	}
	if (pt->remote_state == REMOTE_KEYING || pt->remote_state == REMOTE_DEFERRED) {
		/* The operator need not wait out the key timeout for an orange key
		 * nobody will present, or a link that went quiet: ending the
		 * socket fails the handshake at once, and the keying thread closes
		 * it. It is waited for, so that ped connect may follow at once. */
		struct timespec until;
		pt->keying_cancelled = 1;
		if (pt->keying_fd >= 0)
			shutdown(pt->keying_fd, SHUT_RDWR);
		pthread_cond_broadcast(&pt->cv); /* a keyed session waiting for the local PED */
		ped_cond_deadline(&until, pt->all->link_timeout_ms);
		while (pt->remote_state == REMOTE_KEYING || pt->remote_state == REMOTE_DEFERRED)
			if (pthread_cond_timedwait(&pt->cv, &pt->mu, &until) != 0)
				break;
		r = pt->remote_state == REMOTE_KEYING || pt->remote_state == REMOTE_DEFERRED ? PED_E_BUSY : PED_OK;
		pthread_mutex_unlock(&pt->mu);
		return r;
	}
	if (pt->remote_state == REMOTE_UP && pt->remote && pt->attached && pt->busy) {
		/* A ceremony waits on the PED (for as long as the PED timeout):
		 * ending the socket ends that wait at once, and give() closes
		 * the link when the ceremony hands it back. */
		struct timespec until;
		pt->closing = 1;
		shutdown(ped_link_fd(&pt->link), SHUT_RDWR);
		ped_cond_deadline(&until, pt->all->link_timeout_ms);
		while (pt->busy)
			if (pthread_cond_timedwait(&pt->cv, &pt->mu, &until) != 0)
				break;
		pt->closing = 0;
		if (pt->busy) {
			pthread_mutex_unlock(&pt->mu);
			return PED_E_BUSY;
		}
		if (!pt->attached) { /* give() closed it */
			pthread_mutex_unlock(&pt->mu);
			return PED_OK;
		}
		/* the ceremony ended just before: the socket is shut down, close it below */
	}
	if (pt->remote_state == REMOTE_UP && pt->remote && pt->attached && !pt->busy) {
		ped_link_close(&pt->link, PED_OK);
		pt->attached = pt->remote = 0;
		pt->remote_state = REMOTE_NONE;
		ped_info("HSM %s: Remote PED session closed by the operator", pt->hs->h.serial);
	} else if (pt->remote_state == REMOTE_FAILED) {
		pt->remote_state = REMOTE_NONE;
	} else if (pt->busy) {
		r = PED_E_BUSY;
	} else {
		r = PED_E_PED_UNPLUGGED;
	}
	pthread_mutex_unlock(&pt->mu);
	return r;
}

int remoteped_wait(struct pedport *pt)
{
	struct timespec until;
	int r = PED_OK;
	ped_cond_deadline(&until, pt->all->ped_timeout_ms);
	pthread_mutex_lock(&pt->mu);
	if (pt->remote_state == REMOTE_DEFERRED) { /* the caller wants the key now */
		pt->remote_state = REMOTE_KEYING;
		pthread_cond_broadcast(&pt->cv);
	}
	while (pt->remote_state == REMOTE_KEYING)
		if (pthread_cond_timedwait(&pt->cv, &pt->mu, &until) != 0)
			break;
	if (pt->remote_state == REMOTE_FAILED) {
		r = pt->remote_err;
		pt->remote_state = REMOTE_NONE;
	} else if (pt->remote_state != REMOTE_UP) {
		r = PED_E_PED_UNPLUGGED;
	}
	pthread_mutex_unlock(&pt->mu);
	return r;
}

int remoteped_rekey_begin(struct pedport *pt, const struct sim_out *o)
{
	char host[64];
	int port;

	pthread_mutex_lock(&pt->mu);
	if (!(pt->remote && pt->attached && pt->remote_state == REMOTE_UP) || pt->busy) {
		pthread_mutex_unlock(&pt->mu);
		return PED_E_NOT_FOUND;
	}
	memcpy(host, pt->remote_host, sizeof(host));
	port = pt->remote_host_port;
	ped_link_close(&pt->link, PED_OK);
	pt->attached = pt->remote = 0;
	pt->remote_state = REMOTE_NONE;
	pthread_mutex_unlock(&pt->mu);
	ped_info("HSM %s: RPV initialized: keying the Remote PED session again with it", pt->hs->h.serial);
	sim_outf(o, "Re-establishing the Remote PED connection with the new RPV...");
	/* the PED wrote the new RPV and holds it: it asks for no orange key */
	return remoteped_connect(pt, o, host, port, NULL, REMOTEPED_KEY_NOW | REMOTEPED_QUIET);
}

void remoteped_rekey_end(struct pedport *pt, const struct sim_out *o, int r)
{
	if (r == PED_OK)
		sim_outf(o, "Remote PED connection re-established (%s).",
			 pt->hs->h.rpv_2e2s ? "full secure channel, 2e2s" : "RPV, 1e1s");
	else
		sim_outf(o, "Warning: the Remote PED connection was not re-established: %s. "
			    "The RPV is initialized; ped connect keys a new session with it.", hsm_result_detail(r));
}
