/* Remote PED mode: the PED attaches to pedserver and waits. When pedserver
 * opens a session for an HSM, the PED computes the session key, with the
 * RPV from the orange key(s) or the one-time password the HSM printed, and
 * then serves that HSM's requests exactly as over a local cable. Between
 * sessions the PED stays attached; RPVs it has read stay in its memory
 * until the operator leaves Remote PED mode ("invalidate the RPK"). */
#include "ceremony.h"
#include "rpk_cache.h"
#include "dialog.h"
#include "modes.h"

#include "ped/cert.h"
#include "ped/ec.h"
#include "ped/error.h"
#include "ped/link.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/relay.h"
#include "ped/shamir.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RETRY_MS 500

/* Tells pedserver which HSMs' RPVs the PED holds (serials only). */
static void report_rpks(int fd, const struct rpk_cache *c, int timeout_ms)
{
	struct ped_relay_msg m;
	memset(&m, 0, sizeof(m));
	m.role = PED_RELAY_ROLE_PED;
	for (int i = 0; i < c->n; i++) {
		size_t used = strlen(m.info);
		snprintf(m.info + used, sizeof(m.info) - used, "%s%s", i ? "," : "", c->hsm[i]);
	}
	(void)ped_relay_send(fd, PED_RELAY_STATUS, &m, timeout_ms);
}

static int attach(struct ped_device *d, struct ped_framer *f)
{
	struct ped_relay_msg h;
	int fd, r;

	if ((r = ped_unix_connect(d->cfg.pedserver_socket, &fd)) != PED_OK)
		return r;
	memset(&h, 0, sizeof(h));
	h.role = PED_RELAY_ROLE_PED;
	h.purpose = PED_RELAY_SESSION;
	snprintf(h.id, sizeof(h.id), "%s", d->holder);
	snprintf(h.version, sizeof(h.version), "%s", PED_VERSION);
	if ((r = ped_relay_send(fd, PED_RELAY_HELLO, &h, d->cfg.link_timeout_ms)) != PED_OK) {
		close(fd);
		return r;
	}
	ped_framer_init(f, fd, PED_FRAME_MAX_PAYLOAD);
	ped_info("attached to pedserver at %s", d->cfg.pedserver_socket);
	fw_log(d, "pedserver attached");
	dev_event_log(d, "pedserver", "\"attached\":true");
	return PED_OK;
}

/* The session key's secret: the RPV (cached, or read and recombined from
 * the orange keys) or the one-time password. */
static int session_secret(struct ped_device *d, const struct ped_relay_msg *open, struct rpk_cache *c,
			  uint8_t *secret, size_t *len, int *from_cache, struct cer_rpv_static *st)
{
	int r;
	*from_cache = 0;
	if (open->auth == PED_RELAY_AUTH_OTP) {
		char pw[PED_APP_TEXT_MAX + 1];
		for (;;) {
			r = dlg_digits(d, DEV_P_PASSWORD, 0, "SLOT\nCOMPUTE SESSION KEY.\n\nEnter PED Password.\n",
				       pw, sizeof(pw));
			if (r != PED_OK)
				return r;
			if (strlen(pw) == 8)
				break;
			if ((r = dlg_enter(d, DEV_P_ACK, 0, "SLOT\nCOMPUTE SESSION KEY.\n\nThe password has\n8 digits.\nPress ENTER.")) != PED_OK)
				return r;
		}
		memcpy(secret, pw, 8);
		*len = 8;
		OPENSSL_cleanse(pw, sizeof(pw));
		return PED_OK;
	}
	int i = rpk_cache_find(c, open->id);
	if (i >= 0) {
		memcpy(secret, c->rpv[i], c->len[i]);
		*len = c->len[i];
		*st = c->st[i];
		*from_cache = 1;
		return PED_OK;
	}
	struct cer_ask ask = {IKEY_RPV, "COMPUTE SESSION KEY.", "RPK / Remote", "ORANGE", NULL, st};
	struct ped_app_splits sp;
	struct ped_share ps[PED_APP_MAX_SPLITS];
	if ((r = cer_read_keyset(d, &ask, &sp)) != PED_OK)
		return r;
	for (unsigned k = 0; k < sp.count; k++)
		ps[k] = (struct ped_share){sp.s[k].index, sp.s[k].share};
	*len = sp.s[0].share_len;
	r = ped_shamir_combine(ps, sp.count, sp.s[0].m, *len, secret);
	OPENSSL_cleanse(&sp, sizeof(sp));
	OPENSSL_cleanse(ps, sizeof(ps));
	return r;
}

/* 2e2s: the PED's side is the RPV static key from the orange key, its
 * certificate, and the HSM's HOC as the trust anchor. */
static int full_channel_params(const struct cer_rpv_static *st, struct ped_kas_params *p, EVP_PKEY **key,
			       X509 **cert, X509 **hoc)
{
	*key = NULL;
	*cert = *hoc = NULL;
	if (!st->set)
		return PED_E_NOT_FOUND;
	if (ped_ec_priv_import(st->scalar, IKEY_SCALAR_LEN, key) != PED_OK ||
	    ped_cert_from_der(st->cert, st->cert_len, cert) != PED_OK ||
	    ped_cert_from_der(st->hoc, st->hoc_len, hoc) != PED_OK) {
		EVP_PKEY_free(*key);
		X509_free(*cert);
		*key = NULL;
		*cert = NULL;
		return PED_E_CORRUPT;
	}
	p->scheme = PED_KAS_2E2S;
	p->static_key = *key;
	p->static_cert = *cert;
	p->hoc = *hoc;
	return PED_OK;
}

/* A frame other than the handshake's (r: how reading it went) ended the
 * session before its key was computed: pedserver's BYE (the HSM went away,
 * a timeout), or one nothing allows here, which ends it for the HSM too.
 * PED_OK while the PED is still attached to pedserver, or the error that
 * cost the attachment. */
static int ended_before_key(struct ped_device *d, struct ped_framer *f, const char *hsm, int r, uint8_t type,
			    const uint8_t *p, size_t len)
{
	struct ped_relay_msg m;
	int why = r;

	if (r == PED_OK && type == PED_RELAY_BYE) {
		why = ped_relay_decode(p, len, &m) == PED_OK ? ped_err_from_code(m.code) : PED_E_GENERAL;
		if (why == PED_OK) /* code 0: the HSM's side asked to end it */
			why = PED_E_CLOSED;
	} else if (r == PED_OK || r == PED_E_TIMED_OUT) {
		why = r == PED_OK ? PED_E_FRAME_TYPE : r;
		if (r == PED_OK && type == PED_LINK_RECORD) /* a KAS frame damaged or retyped on the way */
			ped_warn("HSM %s sent a record before the session key: ending the session", hsm);
		else if (r == PED_OK)
			ped_warn("HSM %s: a %s frame before the session key: ending the session", hsm,
				 ped_relay_type_name(type));
		(void)ped_relay_send_code(f->fd, PED_RELAY_BYE, ped_err_code(why), d->cfg.link_timeout_ms);
		r = PED_OK;
	}
	ped_info("session with HSM %s ended before its key was computed: %s", hsm, ped_strerror(why));
	fw_log(d, "Session ended");
	dev_event_log(d, "detached", "\"why\":\"%s\"", ped_err_name(why));
	return r;
}

/* One HSM session. Returns PED_OK when it ended and the PED is still
 * attached to pedserver, or the error that cost the attachment. */
static int session(struct ped_device *d, struct ped_framer *f, const struct ped_relay_msg *open,
		   struct rpk_cache *c)
{
	uint8_t secret[PED_APP_SECRET_MAX];
	size_t slen = 0;
	int cached = 0, r;
	uint8_t type = 0, *hello = NULL;
	size_t hello_len = 0;
	char id[PED_KAS_ID_MAX];
	struct ped_kas_params p;
	struct ped_link link;
	struct cer_rpv_static *st = OPENSSL_secure_zalloc(sizeof(*st));
	EVP_PKEY *skey = NULL;
	X509 *scert = NULL, *shoc = NULL;

	if (!st)
		return PED_E_HOST_MEMORY;

	pthread_mutex_lock(&d->mu);
	d->ceremony++;
	pthread_mutex_unlock(&d->mu);
	char js[2 * PED_KAS_ID_MAX + 8];
	dev_event_log(d, "session", "\"hsm\":\"%s\",\"auth\":\"%s\"", dev_json(open->id, js, sizeof(js)),
		      open->auth == PED_RELAY_AUTH_OTP ? "password" : "rpv");
	fw_log(d, "Session HSM %.12s", open->id);
	/* The HSM's HELLO_V first: after it nothing comes from the HSM until
	 * the PED answers, so input on the link while the operator is asked for
	 * the secret means the session ended (ped disconnect, a timeout), and
	 * the prompt goes rather than wait for an answer nobody will take. */
	r = ped_framer_recv(f, &type, &hello, &hello_len, d->cfg.link_timeout_ms);
	if (r != PED_OK || type != PED_LINK_KAS) {
		r = ended_before_key(d, f, open->id, r, type, hello, hello_len);
		goto out;
	}
	d->session_fd = f->fd;
	r = ped_framer_pending(f) ? PED_E_CLOSED : session_secret(d, open, c, secret, &slen, &cached, st);
	d->session_fd = -1;
	if (r == PED_E_CLOSED) {
		uint8_t *what = NULL;
		size_t len = 0;
		r = ped_framer_recv(f, &type, &what, &len, d->cfg.link_timeout_ms);
		r = ended_before_key(d, f, open->id, r, type, what, len);
		if (what)
			OPENSSL_clear_free(what, len ? len : 1);
		goto out;
	}
	if (r != PED_OK) {
		/* Nobody answered, or the operator reset: end the session for the HSM too. */
		ped_info("no session key for HSM %s: %s", open->id, ped_strerror(r));
		(void)ped_relay_send_code(f->fd, PED_RELAY_BYE, ped_err_code(r), d->cfg.link_timeout_ms);
		r = PED_OK;
		goto out;
	}
	fw_show(d, DEV_P_NONE, 0, "SLOT\nCOMPUTE SESSION KEY.\n\nPlease wait...");
	snprintf(id, sizeof(id), "PED:%.40s", d->holder);
	memset(&p, 0, sizeof(p));
	p.role = PED_KAS_U;
	p.scheme = PED_KAS_1E1S;
	p.id = id;
	p.secret = secret;
	p.secret_len = slen;
	int ci = cached ? rpk_cache_find(c, open->id) : -1;
	if ((open->flags & PED_RELAY_F_2E2S) && ci >= 0 && c->key[ci] && EVP_PKEY_up_ref(c->key[ci]) &&
	    X509_up_ref(c->cert[ci]) && X509_up_ref(c->hoc[ci])) {
		skey = c->key[ci];
		scert = c->cert[ci];
		shoc = c->hoc[ci];
		p.scheme = PED_KAS_2E2S;
		p.static_key = skey;
		p.static_cert = scert;
		p.hoc = shoc;
	} else if ((open->flags & PED_RELAY_F_2E2S) && full_channel_params(st, &p, &skey, &scert, &shoc) != PED_OK) {
		OPENSSL_cleanse(secret, sizeof(secret));
		ped_warn("HSM %s asks for the full channel; this RPK has no RPV static key", open->id);
		(void)ped_relay_send_code(f->fd, PED_RELAY_BYE, ped_err_code(PED_E_CERTIFICATE_INVALID),
					  d->cfg.link_timeout_ms);
		(void)dlg_enter(d, DEV_P_ACK, 0,
				"SLOT\nCOMPUTE SESSION KEY.\nThis RPK has no\nkey for 2e2s.\nPress ENTER.");
		r = PED_OK;
		goto out;
	}
	r = ped_link_handshake_after(&link, f, &p, hello, hello_len, d->cfg.link_timeout_ms);
	if (r != PED_OK) {
		OPENSSL_cleanse(secret, sizeof(secret));
		if (r == PED_E_KEY_CONFIRM || r == PED_E_HANDSHAKE) {
			if (cached)
				rpk_cache_forget(c, open->id);
			ped_warn("session key with HSM %s failed: %s", open->id, ped_strerror(r));
			fw_log(d, "Session key failed");
			dev_event_log(d, "session-failed", "\"why\":\"%s\"", ped_err_name(r));
			(void)ped_relay_send_code(f->fd, PED_RELAY_BYE, ped_err_code(r), d->cfg.link_timeout_ms);
			(void)dlg_enter(d, DEV_P_ACK, 0,
					open->auth == PED_RELAY_AUTH_OTP
						? "SLOT\nCOMPUTE SESSION KEY.\nFailed: wrong\npassword.\nPress ENTER."
						: "SLOT\nCOMPUTE SESSION KEY.\nFailed: wrong RPK\nfor this HSM.\nPress ENTER.");
			r = PED_OK;
			goto out;
		}
		if (r == PED_E_FRAME_TYPE && link.foreign == PED_LINK_RECORD) {
			/* A record before there is a key: a frame damaged or slipped in
			 * on the link. Unless pedserver hears it, the HSM waits for the
			 * handshake its whole PED timeout. */
			ped_warn("HSM %s sent a record before the session key: ending the session", open->id);
			(void)ped_relay_send_code(f->fd, PED_RELAY_BYE, ped_err_code(r), d->cfg.link_timeout_ms);
		}
		/* pedserver ended the session (a relay frame) or went away. */
		ped_info("session with HSM %s ended before its key was computed: %s", open->id, ped_strerror(r));
		dev_event_log(d, "detached", "\"why\":\"%s\"", ped_err_name(r));
		r = r == PED_E_FRAME_TYPE ? PED_OK : r;
		goto out;
	}
	if (open->auth == PED_RELAY_AUTH_RPV && !cached) {
		int at = rpk_cache_remember(c, open->id, secret, slen, st);
		if (at >= 0 && skey && EVP_PKEY_up_ref(skey) && X509_up_ref(scert) && X509_up_ref(shoc)) {
			c->key[at] = skey;
			c->cert[at] = scert;
			c->hoc[at] = shoc;
		}
		report_rpks(link.in.fd, c, d->cfg.link_timeout_ms);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	ped_info("session key computed with %s (%s)", link.peer_id, p.scheme == PED_KAS_2E2S ? "2e2s" : "1e1s");
	dev_event_log(d, "attached", "\"hsm\":\"%s\",\"remote\":true,\"scheme\":\"%s\"",
		      dev_json(link.peer_id, js, sizeof(js)),
		      p.scheme == PED_KAS_2E2S ? "2e2s" : "1e1s");
	fw_show(d, DEV_P_IDLE, 0, "Remote PED mode\nToken found");

	for (;;) {
		struct dev_event ev;
		if (ped_framer_pending(&link.in))
			ev.type = DEV_EV_LINK;
		else
			ev = fw_wait(d, ped_link_fd(&link), -1);
		if (ev.type == DEV_EV_QUIT) {
			r = PED_E_CANCEL;
			break;
		}
		if (ev.type == DEV_EV_KEY && ev.key == DEV_KEY_LOG) {
			dlg_show_log(d, ped_link_fd(&link));
			fw_show(d, DEV_P_IDLE, 0, "Remote PED mode\nToken found");
			continue;
		}
		if (ev.type == DEV_EV_KEY && ev.key == DEV_KEY_BACK) {
			if (dlg_confirm_exit(d)) {
				r = PED_E_CANCEL;
				break;
			}
			fw_show(d, DEV_P_IDLE, 0, "Remote PED mode\nToken found");
			continue;
		}
		if (ev.type != DEV_EV_LINK)
			continue;
		uint8_t rt, *msg = NULL;
		size_t len = 0;
		r = ped_link_recv(&link, &rt, &msg, &len, d->cfg.link_timeout_ms, NULL);
		unsigned gen = c->gen;
		if (r == PED_OK && rt == PED_REC_DATA)
			r = mode_serve_request(d, &link, msg, len, c, open->id);
		if (r == PED_OK && c->gen != gen) /* an RPV made or reused here: the PED holds it now */
			report_rpks(ped_link_fd(&link), c, d->cfg.link_timeout_ms);
		if (msg)
			OPENSSL_clear_free(msg, len ? len : 1);
		if (r == PED_OK || r == PED_E_INVALID) {
			fw_show(d, DEV_P_IDLE, 0, "Remote PED mode\nToken found");
			continue;
		}
		break;
	}
	/* A relay frame (pedserver's BYE) or the HSM's CLOSE ends just this session. */
	int ended_by_relay = r == PED_E_FRAME_TYPE || r == PED_E_CLOSED;
	/* a BYE says why the relays ended it, rather than its frame type */
	int why = r == PED_E_FRAME_TYPE && link.foreign == PED_RELAY_BYE
			  ? (link.foreign_err != PED_OK ? link.foreign_err : PED_E_CLOSED)
			  : r;
	ped_info("session with HSM %s ended: %s", open->id, ped_strerror(why));
	fw_log(d, "Session ended");
	dev_event_log(d, "detached", "\"why\":\"%s\"", ped_err_name(why));
	ped_link_release(&link, r == PED_E_CANCEL ? PED_E_PED_UNPLUGGED : PED_OK, f);
	r = ended_by_relay ? PED_OK : r;
out:
	EVP_PKEY_free(skey);
	X509_free(scert);
	X509_free(shoc);
	OPENSSL_secure_clear_free(st, sizeof(*st));
	if (hello)
		OPENSSL_clear_free(hello, hello_len ? hello_len : 1);
	return r;
}

void mode_remote(struct ped_device *d)
{
	struct ped_framer f;
	struct rpk_cache c;
	int attached = 0, r;

	fw_log_clear(d);
	memset(&c, 0, sizeof(c));
	memset(&f, 0, sizeof(f));
	f.fd = -1;
	for (;;) {
		if (!attached && d->cfg.pedserver_socket[0])
			attached = attach(d, &f) == PED_OK;
		fw_show(d, DEV_P_IDLE, 0, attached ? "Remote PED mode\nAwaiting command..."
						    : "Remote PED mode\nNo pedserver\nconnected.\n\n< EXIT");
		struct dev_event ev;
		if (attached && ped_framer_pending(&f))
			ev.type = DEV_EV_LINK;
		else
			ev = fw_wait(d, attached ? f.fd : -1, attached ? -1 : RETRY_MS);
		if (ev.type == DEV_EV_QUIT)
			break;
		if (ev.type == DEV_EV_KEY && ev.key == DEV_KEY_LOG) {
			dlg_show_log(d, attached ? f.fd : -1);
			continue;
		}
		if (ev.type == DEV_EV_KEY && ev.key == DEV_KEY_BACK) {
			if (dlg_confirm_exit(d))
				break;
			continue;
		}
		if (ev.type != DEV_EV_LINK)
			continue;
		uint8_t type, *p = NULL;
		size_t len = 0;
		struct ped_relay_msg m;
		r = ped_framer_recv(&f, &type, &p, &len, d->cfg.link_timeout_ms);
		if (r == PED_OK && type == PED_RELAY_OPEN && ped_relay_decode(p, len, &m) == PED_OK) {
			OPENSSL_free(p);
			p = NULL;
			r = session(d, &f, &m, &c);
		} else if (r == PED_OK && type == PED_RELAY_PING) {
			r = ped_relay_send_code(f.fd, PED_RELAY_PONG, 0, d->cfg.link_timeout_ms);
		} else if (r == PED_OK && type == PED_RELAY_BYE) {
			struct ped_relay_msg b;
			if (ped_relay_decode(p, len, &b) == PED_OK && ped_err_from_code(b.code) == PED_E_BUSY) {
				ped_warn("pedserver already serves another PED");
				r = PED_E_BUSY;
			}
		} else if (r == PED_OK) {
			ped_trace("ignored a %s frame from pedserver", ped_relay_type_name(type));
		}
		if (p)
			OPENSSL_clear_free(p, len ? len : 1);
		if (r != PED_OK) {
			ped_info("pedserver link ended: %s", ped_strerror(r));
			fw_log(d, "pedserver lost");
			dev_event_log(d, "pedserver", "\"attached\":false,\"why\":\"%s\"", ped_err_name(r));
			if (f.fd >= 0)
				close(f.fd);
			ped_framer_free(&f);
			f.fd = -1;
			attached = 0;
			if (r == PED_E_CANCEL)
				break;
		}
	}
	if (attached) {
		(void)ped_relay_send_code(f.fd, PED_RELAY_BYE, 0, 200);
		close(f.fd);
		ped_framer_free(&f);
	}
	/* Leaving Remote PED mode invalidates every RPK the PED held. */
	rpk_cache_forget(&c, NULL);
	OPENSSL_cleanse(&c, sizeof(c));
}
