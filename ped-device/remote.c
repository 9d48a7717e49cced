/* Remote PED: the PED attaches to pedserver and waits (modes.c watches the
 * attachment in Local and Remote PED mode alike). When pedserver opens a
 * session for an HSM, the PED waits for the HSM's first handshake message,
 * which an HSM keyed with the RPV sends with the first command that needs
 * the PED (docs/protocol.md, section 11); it then computes the session key,
 * with the RPV it holds or reads from the orange key(s), or with the
 * one-time password the HSM printed, and serves that HSM's requests exactly
 * as over a local cable. Between sessions the PED stays attached; RPVs it
 * has read stay in its memory until the operator leaves the mode ("invalidate
 * the RPK"). */
#include "ceremony.h"
#include "rpk_cache.h"
#include "dialog.h"
#include "modes.h"

#include "ped/cert.h"
#include "ped/ec.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/link.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/relay.h"
#include "ped/shamir.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

int remote_attach(struct ped_device *d, struct ped_framer *f, const struct rpk_cache *c)
{
	struct ped_relay_msg h;
	int fd, r;

	if ((r = ped_unix_connect(d->cfg.pedserver_socket, &fd)) != PED_OK)
		return r;
	memset(&h, 0, sizeof(h));
	h.role = PED_RELAY_ROLE_PED;
	h.purpose = PED_RELAY_SESSION;
	snprintf(h.id, sizeof(h.id), "%s", d->holder);
	fw_version(d, h.version); /* the firmware it runs: pedserver -mode show */
	if ((r = ped_relay_send(fd, PED_RELAY_HELLO, &h, d->cfg.link_timeout_ms)) != PED_OK) {
		close(fd);
		return r;
	}
	ped_framer_init(f, fd, PED_FRAME_MAX_PAYLOAD);
	ped_info("attached to pedserver at %s", d->cfg.pedserver_socket);
	fw_log(d, "pedserver attached");
	dev_event_log(d, "pedserver", "\"attached\":true");
	if (c->n)
		report_rpks(f->fd, c, d->cfg.link_timeout_ms); /* a new pedserver knows none of them */
	return PED_OK;
}

void remote_detach(struct ped_device *d, struct ped_framer *f, int why)
{
	if (f->fd < 0)
		return;
	if (why == PED_OK) /* the operator left the mode: say so */
		(void)ped_relay_send_code(f->fd, PED_RELAY_BYE, 0, 200);
	else {
		ped_info("pedserver link ended: %s", ped_strerror(why));
		fw_log(d, "pedserver lost");
		dev_event_log(d, "pedserver", "\"attached\":false,\"why\":\"%s\"", ped_err_name(why));
	}
	close(f->fd);
	ped_framer_free(f);
	f->fd = -1;
}

/* The one-time password the HSM printed, typed by the operator. */
static int ask_password(struct ped_device *d, uint8_t *secret, size_t *len)
{
	char pw[PED_APP_TEXT_MAX + 1];
	int r;

	for (;;) {
		r = dlg_digits(d, DEV_P_PASSWORD, 0, "SLOT\nCOMPUTE SESSION KEY.\n\nEnter PED Password.\n", pw,
			       sizeof(pw));
		if (r != PED_OK)
			break;
		if (strlen(pw) == 8) {
			memcpy(secret, pw, 8);
			*len = 8;
			break;
		}
		if ((r = dlg_enter(d, DEV_P_ACK, 0, "SLOT\nCOMPUTE SESSION KEY.\n\nThe password has\n8 digits.\nPress ENTER.")) !=
		    PED_OK)
			break;
	}
	OPENSSL_cleanse(pw, sizeof(pw));
	return r;
}

/* The RPV read and recombined from the orange key(s), with what the keys
 * carry for 2e2s (st). */
static int read_rpv(struct ped_device *d, uint8_t *secret, size_t *len, struct cer_rpv_static *st)
{
	struct cer_ask ask = {IKEY_RPV, "COMPUTE SESSION KEY.", "RPK / Remote", "ORANGE", NULL, st};
	struct ped_app_splits sp;
	struct ped_share ps[PED_APP_MAX_SPLITS];
	int r;

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

/* A password session: before any password is typed, the operator compares
 * the HSM's serial and HOC fingerprint with what the HSM printed at ped
 * connect. A fake HSM shows another fingerprint, so the operator's No ends
 * it before the PED has sent anything it could test passwords against; and
 * the handshake then binds the session to that HOC. 1 for Yes. */
static int confirm_hsm(struct ped_device *d, const char *serial, X509 *hoc)
{
	uint8_t *der = NULL;
	size_t len = 0;
	char fpr[PED_CERT_FPR_LEN + 1], text[160];

	if (ped_cert_to_der(hoc, &der, &len) != PED_OK)
		return PED_E_CRYPTO;
	int r = ped_cert_fingerprint(der, len, fpr);
	OPENSSL_free(der);
	if (r != PED_OK)
		return r;
	snprintf(text, sizeof(text), "SLOT\nCOMPUTE SESSION KEY.\nHSM %.16s\nHOC fingerprint:\n%s\nIs this the HSM?\nYES/NO",
		 serial, fpr);
	return dlg_yesno(d, DEV_P_CONFIRM_HSM, 0, text);
}

/* An orange key made for HSM owner, presented for HSM serial: a keyset
 * reused across HSMs, or someone claiming another serial to get the 1e1s
 * channel that a copy of the key would open. The operator decides. */
static int confirm_shared_rpk(struct ped_device *d, const char *owner, const char *serial)
{
	char text[160];
	snprintf(text, sizeof(text), "SLOT\nCOMPUTE SESSION KEY.\nRPK of HSM\n%.16s\nUse for HSM\n%.16s?\nYES/NO", owner,
		 serial);
	return dlg_yesno(d, DEV_P_SHARE_RPK, 0, text);
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

/* 2e2s: the PED's side is the RPV static key from the orange key, its
 * certificate, and the HSM's HOC as the trust anchor. */
static int full_channel_params(const struct cer_rpv_static *st, EVP_PKEY **key, X509 **cert, X509 **hoc)
{
	*key = NULL;
	*cert = *hoc = NULL;
	if (ped_ec_priv_import(st->scalar, IKEY_SCALAR_LEN, key) != PED_OK ||
	    ped_cert_from_der(st->cert, st->cert_len, cert) != PED_OK ||
	    ped_cert_from_der(st->hoc, st->hoc_len, hoc) != PED_OK) {
		EVP_PKEY_free(*key);
		X509_free(*cert);
		*key = NULL;
		*cert = NULL;
		return PED_E_CORRUPT;
	}
	return PED_OK;
}

/* The secure channel's own verdict on a record: forged or damaged (it fails
 * authentication), replayed, out of turn, or the channel already ended by
 * one of those. The frame carrying it came whole from pedserver, whose link
 * is in step: only the session is lost, not the attachment. */
static int channel_verdict(int r)
{
	return r == PED_E_BAD_RECORD || r == PED_E_REPLAY || r == PED_E_CHANNEL_CLOSED;
}

/* Ends a session on the channel's verdict. The channel is dead, so no CLOSE
 * can carry it: the BYE has pedserver end the session for the HSM at once
 * (CKR_PED_UNPLUGGED there). Dropping the pedserver link instead left
 * pedserver with no PED until the PED attached again, and the HSM's next
 * ped connect in that half second was refused. */
static int end_on_channel_verdict(struct ped_device *d, struct ped_framer *f, int why)
{
	return ped_relay_send_code(f->fd, PED_RELAY_BYE, ped_err_code(why), d->cfg.link_timeout_ms);
}

/* Ends a session before its key: tells the HSM's side why (BYE), and the
 * operator, who presses Enter. PED_OK: the PED stays attached. */
static int refuse_session(struct ped_device *d, struct ped_framer *f, EVP_PKEY **eph, const char *hsm, int why,
			  const char *log, const char *screen)
{
	char js[2 * PED_KAS_ID_MAX + 8];
	/* no handshake follows, and the screen below waits for its operator */
	EVP_PKEY_free(*eph);
	*eph = NULL;
	ped_warn("session with HSM %s refused: %s", hsm, log);
	fw_log(d, "Session refused");
	dev_event_log(d, "session-refused", "\"hsm\":\"%s\",\"why\":\"%s\"", dev_json(hsm, js, sizeof(js)), log);
	(void)ped_relay_send_code(f->fd, PED_RELAY_BYE, ped_err_code(why), d->cfg.link_timeout_ms);
	if (screen)
		(void)dlg_enter(d, DEV_P_ACK, 0, screen);
	return PED_OK;
}

/* One HSM session. Returns PED_OK when it ended and the PED is still
 * attached to pedserver, or the error that cost the attachment.
 *
 * What the HSM must prove comes from what this PED holds for the serial it
 * names, never from what the HSM (or pedserver) asks for: with the HSM's
 * HOC in the cache or on the orange key, only the Full Unified 2e2s scheme
 * runs, so a copy of the RPV alone impersonates nobody; a password session
 * runs only after the operator confirmed the HSM's identity, and serves
 * only the RPV keyset. */
static int session(struct ped_device *d, struct ped_framer *f, const struct ped_relay_msg *open,
		   struct rpk_cache *c)
{
	uint8_t secret[PED_APP_SECRET_MAX];
	size_t slen = 0;
	int cached = 0, need_full = 0, r;
	uint8_t type = 0, *hello = NULL;
	size_t hello_len = 0;
	char id[PED_KAS_ID_MAX], hello_id[PED_KAS_ID_MAX + 1], want_id[PED_KAS_ID_MAX + 8];
	char hoc_serial[PED_KAS_ID_MAX + 1];
	enum ped_kas_scheme offered = PED_KAS_1E1S;
	struct ped_kas_params p;
	struct ped_link link;
	struct cer_rpv_static *st = OPENSSL_secure_zalloc(sizeof(*st));
	EVP_PKEY *skey = NULL, *eph = NULL;
	X509 *scert = NULL, *shoc = NULL, *offered_hoc = NULL, *offered_cert = NULL;
	int password = open->auth == PED_RELAY_AUTH_OTP;

	if (!st)
		return PED_E_HOST_MEMORY;
	/* Our ephemeral key for this session's handshake, made while the HSM
	 * makes its HELLO_V (failing, the handshake makes one itself). Only
	 * when the HSM keys the session at once, which it does when this PED
	 * holds its RPK: a deferred session can wait hours for its first
	 * command, and an ephemeral key lives no longer than its handshake
	 * needs. A password session waits for the operator anyway. That the
	 * HSM keys at once is only likely: it decides by WELCOME's flag, which
	 * the relays set from what this PED last reported, and anyone who
	 * reaches pedserver can open a session and never key it. So the key
	 * goes if HELLO_V has not come within one exchange's time. */
	uint64_t eph_until = 0;
	if (!password && rpk_cache_find(c, open->id) >= 0 && ped_ec_generate(&eph) == PED_OK)
		eph_until = ped_now_ms() + (uint64_t)d->cfg.link_timeout_ms;

	pthread_mutex_lock(&d->mu);
	d->ceremony++;
	pthread_mutex_unlock(&d->mu);
	char js[2 * PED_KAS_ID_MAX + 8];
	dev_event_log(d, "session", "\"hsm\":\"%s\",\"auth\":\"%s\"", dev_json(open->id, js, sizeof(js)),
		      password ? "password" : "rpv");
	fw_log(d, "Session HSM %.12s", open->id);
	/* The HSM's HELLO_V first. An HSM keyed with the RPV sends it with the
	 * first command that needs the PED, so the orange key is asked for then
	 * (chapter 5: "Issue the first command ... The Luna PED prompts for an
	 * orange PED key"); until then the PED awaits a command. After HELLO_V
	 * nothing comes from the HSM until the PED answers, so input on the link
	 * while the operator is asked for the secret means the session ended
	 * (ped disconnect, a timeout), and the prompt goes rather than wait for
	 * an answer nobody will take. */
	while (!ped_framer_pending(f)) {
		int wait = -1;
		if (eph) {
			uint64_t now = ped_now_ms();
			if (now >= eph_until) {
				/* the HSM waits for a command: the handshake makes its own key then */
				EVP_PKEY_free(eph);
				eph = NULL;
			} else {
				wait = (int)(eph_until - now);
			}
		}
		fw_show(d, DEV_P_IDLE, 0, "Remote PED mode\nAwaiting command...");
		struct dev_event ev = fw_wait(d, f->fd, wait);
		if (ev.type == DEV_EV_QUIT) {
			r = PED_E_CANCEL;
			goto out;
		}
		if (ev.type == DEV_EV_KEY && ev.key == DEV_KEY_LOG)
			dlg_show_log(d, f->fd);
		else if (ev.type == DEV_EV_KEY && ev.key == DEV_KEY_BACK && mode_leave_ok(d, c)) {
			/* leaving the mode ends the session: the HSM is told why */
			ped_info("session with HSM %s ended before its key: the operator left the mode", open->id);
			dev_event_log(d, "detached", "\"why\":\"%s\"", ped_err_name(PED_E_CANCEL));
			(void)ped_relay_send_code(f->fd, PED_RELAY_BYE, ped_err_code(PED_E_PED_UNPLUGGED),
						  d->cfg.link_timeout_ms);
			r = PED_E_CANCEL;
			goto out;
		} else if (ev.type == DEV_EV_LINK)
			break;
	}
	r = ped_framer_recv(f, &type, &hello, &hello_len, d->cfg.link_timeout_ms);
	if (r != PED_OK || type != PED_LINK_KAS) {
		r = ended_before_key(d, f, open->id, r, type, hello, hello_len);
		goto out;
	}
	/* The serial pedserver was given, the one the HSM says it is, and the
	 * one its HOC names must agree: the cache and the operator's checks
	 * are by serial. */
	snprintf(want_id, sizeof(want_id), "HSM:%s", open->id);
	if (ped_kas_hello_peek(hello, hello_len, c->hello_cert, c->hello_hoc, &offered, hello_id, &offered_cert,
			       &offered_hoc) != PED_OK ||
	    ped_cert_hoc_serial(offered_hoc, hoc_serial, sizeof(hoc_serial)) != PED_OK || strcmp(hello_id, want_id) ||
	    strcmp(hoc_serial, open->id)) {
		r = refuse_session(d, f, &eph, open->id, PED_E_CERTIFICATE_INVALID, "its identity does not hold together",
				   "SLOT\nCOMPUTE SESSION KEY.\nRefused: the HSM's\nidentity is not\nconsistent.\nPress ENTER.");
		goto out;
	}
	/* the next session's HELLO_V most likely carries these same two */
	if (offered_cert != c->hello_cert && X509_up_ref(offered_cert)) {
		X509_free(c->hello_cert);
		c->hello_cert = offered_cert;
	}
	if (offered_hoc != c->hello_hoc && X509_up_ref(offered_hoc)) {
		X509_free(c->hello_hoc);
		c->hello_hoc = offered_hoc;
	}
	int ci = rpk_cache_find(c, open->id);
	d->session_fd = f->fd;
	if (ped_framer_pending(f)) {
		r = PED_E_CLOSED;
	} else if (password) {
		r = confirm_hsm(d, open->id, offered_hoc);
		if (r == 1)
			r = ask_password(d, secret, &slen);
		else if (r == 0)
			r = PED_E_CANCEL;
	} else if (ci >= 0) {
		memcpy(secret, c->rpv[ci], c->len[ci]);
		slen = c->len[ci];
		cached = 1;
		/* an RPV written in this visit: its static key as OpenSSL objects, made once */
		if (!c->key[ci] && c->st[ci].set) {
			EVP_PKEY *k;
			X509 *ce, *h;
			if ((r = full_channel_params(&c->st[ci], &k, &ce, &h)) == PED_OK) {
				X509_free(c->hoc[ci]);
				c->key[ci] = k;
				c->cert[ci] = ce;
				c->hoc[ci] = h;
			}
		}
		need_full = c->key[ci] != NULL;
	} else if ((r = read_rpv(d, secret, &slen, st)) == PED_OK && st->set) {
		if ((r = full_channel_params(st, &skey, &scert, &shoc)) == PED_OK &&
		    (r = ped_cert_hoc_serial(shoc, hoc_serial, sizeof(hoc_serial))) == PED_OK) {
			if (!strcmp(hoc_serial, open->id)) {
				need_full = 1;
			} else {
				r = confirm_shared_rpk(d, hoc_serial, open->id);
				r = r == 1 ? PED_OK : r == 0 ? PED_E_CANCEL : r;
			}
		} else {
			r = PED_E_CORRUPT;
		}
	}
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
		/* Nobody answered, the operator said No or reset: end the session for the HSM too. */
		ped_info("no session key for HSM %s: %s", open->id, ped_strerror(r));
		dev_event_log(d, "session-refused", "\"hsm\":\"%s\",\"why\":\"%s\"", dev_json(open->id, js, sizeof(js)),
			      ped_err_name(r));
		(void)ped_relay_send_code(f->fd, PED_RELAY_BYE, ped_err_code(r), d->cfg.link_timeout_ms);
		r = PED_OK;
		goto out;
	}
	if (need_full && offered != PED_KAS_2E2S) {
		r = refuse_session(d, f, &eph, open->id, PED_E_CERTIFICATE_INVALID,
				   "it offered 1e1s; this PED holds its HOC, so it must prove its key (2e2s)",
				   "SLOT\nCOMPUTE SESSION KEY.\nRefused: the HSM\ndid not prove its\nkey.\nPress ENTER.");
		goto out;
	}
	if (!need_full && offered == PED_KAS_2E2S) {
		r = refuse_session(d, f, &eph, open->id, PED_E_CERTIFICATE_INVALID, "it asks for 2e2s; this RPK has no key for it",
				   "SLOT\nCOMPUTE SESSION KEY.\nThis RPK has no\nkey for 2e2s.\nPress ENTER.");
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
	p.peeked_cert = offered_cert;
	p.peeked_hoc = offered_hoc;
	p.ephemeral = eph;
	if (need_full && cached) {
		if (!EVP_PKEY_up_ref(c->key[ci]) || !X509_up_ref(c->cert[ci]) || !X509_up_ref(c->hoc[ci])) {
			r = PED_E_CRYPTO;
			goto out;
		}
		skey = c->key[ci];
		scert = c->cert[ci];
		shoc = c->hoc[ci];
	}
	if (need_full) {
		p.scheme = PED_KAS_2E2S;
		p.static_key = skey;
		p.static_cert = scert;
		p.hoc = shoc;
	} else if (password) {
		/* The root the operator confirmed; or, if this PED already holds
		 * one for the serial (a zeroized HSM keeps its identity), that. */
		p.hoc = ci >= 0 && c->hoc[ci] ? c->hoc[ci] : offered_hoc;
	} else {
		/* 1e1s with the RPV of a keyset shared between HSMs, or of an
		 * orange key without a static key: the first session in this visit
		 * is authenticated by the RPV alone (docs/security.md); its root is
		 * pinned for the later ones. */
		p.hoc = ci >= 0 ? c->hoc[ci] : NULL;
	}
	r = ped_link_handshake_after(&link, f, &p, hello, hello_len, d->cfg.link_timeout_ms);
	EVP_PKEY_free(eph); /* used, or not to be used again */
	eph = NULL;
	if (r != PED_OK) {
		OPENSSL_cleanse(secret, sizeof(secret));
		if (r == PED_E_KEY_CONFIRM || r == PED_E_HANDSHAKE || r == PED_E_CERTIFICATE_INVALID) {
			/* A cached RPK stays: a failed or hostile session must not make
			 * the operator present the orange key again. */
			ped_warn("session key with HSM %s failed: %s", open->id, ped_strerror(r));
			fw_log(d, "Session key failed");
			dev_event_log(d, "session-failed", "\"why\":\"%s\"", ped_err_name(r));
			(void)ped_relay_send_code(f->fd, PED_RELAY_BYE, ped_err_code(r), d->cfg.link_timeout_ms);
			(void)dlg_enter(d, DEV_P_ACK, 0,
					password ? "SLOT\nCOMPUTE SESSION KEY.\nFailed: wrong\npassword.\nPress ENTER."
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
		/* pedserver ended the session (a relay frame) or went away; or a
		 * record came before READY left (a forged or copied one). */
		ped_info("session with HSM %s ended before its key was computed: %s", open->id, ped_strerror(r));
		dev_event_log(d, "detached", "\"why\":\"%s\"", ped_err_name(r));
		if (channel_verdict(r))
			r = end_on_channel_verdict(d, f, r);
		r = r == PED_E_FRAME_TYPE ? PED_OK : r;
		goto out;
	}
	if (!password) {
		static const struct cer_rpv_static none;
		int at = cached ? ci : rpk_cache_remember(c, open->id, secret, slen, need_full ? st : &none);
		if (at >= 0 && !cached && need_full && EVP_PKEY_up_ref(skey) && X509_up_ref(scert) &&
		    X509_up_ref(shoc)) {
			c->key[at] = skey;
			c->cert[at] = scert;
			c->hoc[at] = shoc;
		} else if (at >= 0 && !need_full && !c->hoc[at] && X509_up_ref(offered_hoc)) {
			c->hoc[at] = offered_hoc;
		}
		if (!cached)
			report_rpks(link.in.fd, c, d->cfg.link_timeout_ms);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	ped_info("session key computed with %s (%s)", link.peer_id, p.scheme == PED_KAS_2E2S ? "2e2s" : "1e1s");
	dev_event_log(d, "attached", "\"hsm\":\"%s\",\"remote\":true,\"scheme\":\"%s\"",
		      dev_json(link.peer_id, js, sizeof(js)),
		      p.scheme == PED_KAS_2E2S ? "2e2s" : "1e1s");
	fw_show(d, DEV_P_IDLE, 0, "Remote PED mode\nAwaiting command...");
	dev_return_freed_memory();

	struct serve_ctx ctx = {c, open->id, password, 0};
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
			fw_show(d, DEV_P_IDLE, 0, "Remote PED mode\nAwaiting command...");
			continue;
		}
		if (ev.type == DEV_EV_KEY && ev.key == DEV_KEY_BACK) {
			if (mode_leave_ok(d, c)) {
				r = PED_E_CANCEL;
				break;
			}
			fw_show(d, DEV_P_IDLE, 0, "Remote PED mode\nAwaiting command...");
			continue;
		}
		if (ev.type != DEV_EV_LINK)
			continue;
		uint8_t rt, *msg = NULL;
		size_t len = 0;
		r = ped_link_recv(&link, &rt, &msg, &len, d->cfg.link_timeout_ms, NULL);
		unsigned gen = c->gen;
		if (r == PED_OK && rt == PED_REC_DATA)
			r = mode_serve_request(d, &link, msg, len, &ctx);
		if (r == PED_OK && c->gen != gen) /* an RPV made or reused here: the PED holds it now */
			report_rpks(ped_link_fd(&link), c, d->cfg.link_timeout_ms);
		if (msg)
			OPENSSL_clear_free(msg, len ? len : 1);
		if (r == PED_OK || r == PED_E_INVALID) {
			fw_show(d, DEV_P_IDLE, 0, "Remote PED mode\nAwaiting command...");
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
	if (channel_verdict(r))
		r = end_on_channel_verdict(d, f, r);
	r = ended_by_relay ? PED_OK : r;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	EVP_PKEY_free(skey);
	EVP_PKEY_free(eph);
	X509_free(scert);
	X509_free(shoc);
	X509_free(offered_hoc);
	X509_free(offered_cert);
	OPENSSL_secure_clear_free(st, sizeof(*st));
	if (hello)
		OPENSSL_clear_free(hello, hello_len ? hello_len : 1);
	return r;
}

int remote_frame(struct ped_device *d, struct ped_framer *f, struct rpk_cache *c, int *mode)
{
	uint8_t type, *p = NULL;
	size_t len = 0;
	struct ped_relay_msg m;
	int r = ped_framer_recv(f, &type, &p, &len, d->cfg.link_timeout_ms);

	if (r == PED_OK && type == PED_RELAY_OPEN && ped_relay_decode(p, len, &m) == PED_OK) {
		OPENSSL_free(p);
		p = NULL;
		if (*mode != PED_MODE_REMOTE) {
			/* the first command came from a Remote PED session */
			*mode = PED_MODE_REMOTE;
			fw_log_clear(d);
			dev_event_log(d, "mode", "\"mode\":\"remote\"");
		}
		pthread_mutex_lock(&d->mu);
		d->session_live = 1; /* the ncurses PED asks before quitting now */
		pthread_mutex_unlock(&d->mu);
		r = session(d, f, &m, c);
		pthread_mutex_lock(&d->mu);
		d->session_live = 0;
		pthread_mutex_unlock(&d->mu);
	} else if (r == PED_OK && type == PED_RELAY_PING) {
		r = ped_relay_send_code(f->fd, PED_RELAY_PONG, 0, d->cfg.link_timeout_ms);
	} else if (r == PED_OK && type == PED_RELAY_BYE) {
		struct ped_relay_msg b;
		if (ped_relay_decode(p, len, &b) == PED_OK && ped_err_from_code(b.code) == PED_E_BUSY)
			r = PED_E_BUSY;
	} else if (r == PED_OK) {
		ped_trace("ignored a %s frame from pedserver", ped_relay_type_name(type));
	}
	if (p)
		OPENSSL_clear_free(p, len ? len : 1);
	return r;
}
