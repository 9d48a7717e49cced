/* The PED firmware's top level: power-on, the mode menu, the attached modes
 * (Local PED-USB on an HSM's local PED link, Remote PED on pedserver's PED
 * port, the first HSM command choosing between them), and the requests the
 * HSM sends while attached. */
#include "ceremony.h"
#include "dialog.h"
#include "modes.h"
#include "rpk_cache.h"

#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/log.h"
#include "ped/net.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#define MAIN_MENU "Select Mode\n1 Local PED-SCP\n4 Admin\n7 Remote PED\n0 Local PED-USB\n\nPED V.%s"
#define RETRY_MS 500
/* pedserver refused this PED because another one is attached: try again, slowly */
#define BUSY_RETRY_MS 5000

/* Sends a reply to the HSM: an error as RESULT, else what the ceremony made. */
static int reply_result(struct ped_link *l, int err)
{
	uint8_t *m = NULL;
	size_t len = 0;
	int r = ped_app_encode_result(ped_err_code(err), &m, &len);
	if (r == PED_OK)
		r = ped_link_send(l, PED_REC_DATA, m, len);
	OPENSSL_free(m);
	return r;
}

/* The HSM says nothing while the PED asks its operator: input on the link
 * then is the session ending (pedserver's BYE, the HSM gone) or a frame
 * slipped in, and takes the prompts down (d->session_fd). The reply that
 * follows reads it first and ends with its name (ped_link_send). 1 when the
 * prompts may start: nothing is buffered already. */
static void ceremony_live(struct ped_device *d, int live)
{
	pthread_mutex_lock(&d->mu);
	d->ceremony_live = live; /* the ncurses PED asks before quitting meanwhile */
	pthread_mutex_unlock(&d->mu);
}

static int watch_link(struct ped_device *d, struct ped_link *l)
{
	ceremony_live(d, 1);
	d->session_fd = ped_link_fd(l);
	return !ped_framer_pending(&l->in);
}

/* What a password session may not carry: anything but one RPV keyset. A
 * fake HSM that learnt or cracked the password gets a refusal, and the
 * operator sees why. */
static int password_session_refuses(struct ped_device *d, const struct serve_ctx *ctx,
				    const struct ped_app_request *req)
{
	const char *why;
	char js[2 * PED_KAS_ID_MAX + 8];

	if (!ctx || !ctx->password)
		return 0;
	if (req->op == PED_APP_CREATE && req->key_type == PED_KEY_RPV && !ctx->rpv_made)
		return 0;
	why = req->op == PED_APP_CREATE && req->key_type == PED_KEY_RPV ? "a second RPV keyset"
	      : req->op == PED_APP_AUTH					   ? "a login"
	      : req->op == PED_APP_MESSAGE				   ? "text on the PED's screen"
									   : "a keyset other than the RPV";
	ped_warn("HSM %s asked for %s over a one-time password session: refused", ctx->hsm, why);
	fw_log(d, "Refused request");
	dev_event_log(d, "refused", "\"hsm\":\"%s\",\"why\":\"%s over a password session\"",
		      dev_json(ctx->hsm, js, sizeof(js)), why);
	fw_show(d, DEV_P_NONE, 0, "SLOT\nREFUSED.\nA password session\nonly writes the\norange RPV key.");
	return 1;
}

int mode_serve_request(struct ped_device *d, struct ped_link *l, const uint8_t *msg, size_t len,
		       struct serve_ctx *ctx)
{
	struct ped_app_request req;
	struct cer_ask ask;
	uint8_t *out = NULL, rt, *csp = NULL;
	size_t olen = 0, clen = 0;
	int r;

	if ((r = ped_app_decode_request(msg, len, &req)) != PED_OK) {
		ped_warn("malformed request from the HSM");
		return reply_result(l, PED_E_INVALID);
	}
	if (req.op == PED_APP_MESSAGE && !(ctx && ctx->password)) {
		fw_show(d, DEV_P_IDLE, 0, "%s", req.title);
		return PED_OK;
	}
	if (password_session_refuses(d, ctx, &req)) {
		if (req.op == PED_APP_MESSAGE)
			return PED_OK; /* a MESSAGE has no reply: not shown, that is all */
		/* A CREATE's secret follows in a CSP: it is read and dropped, so
		 * the HSM's next request is not taken for it. */
		if (req.op == PED_APP_CREATE) {
			for (int n = req.key_type == PED_KEY_RPV ? 2 : 1; n > 0; n--) {
				if ((r = ped_link_recv(l, &rt, &csp, &clen, d->cfg.link_timeout_ms, NULL)) != PED_OK)
					return r;
				OPENSSL_clear_free(csp, clen ? clen : 1);
				csp = NULL;
			}
		}
		return reply_result(l, PED_E_ACTION_PROHIBITED);
	}
	/* chapter 5: "The PED briefly displays the following message before
	 * prompting you for the appropriate PED key: Remote PED mode / Token found" */
	fw_show(d, DEV_P_NONE, 0, "%s PED mode\nToken found", ctx ? "Remote" : "Local");
	if (d->cfg.token_found_ms > 0)
		fw_pause(d, d->cfg.token_found_ms);
	pthread_mutex_lock(&d->mu);
	d->ceremony++;
	pthread_mutex_unlock(&d->mu);
	ask = (struct cer_ask){req.key_type, req.title, req.prompt, req.colour, NULL, NULL};
	char js[2 * PED_APP_TEXT_MAX + 8];
	dev_event_log(d, "request", "\"op\":\"%s\",\"key_type\":\"%s\",\"title\":\"%s\"",
		      req.op == PED_APP_AUTH ? "auth" : "create",
		      ikey_type_name((enum ikey_type)req.key_type), dev_json(req.title, js, sizeof(js)));
	if (req.op == PED_APP_AUTH) {
		struct ped_app_splits sp;
		r = watch_link(d, l) ? cer_read_keyset(d, &ask, &sp) : PED_E_CLOSED;
		d->session_fd = -1;
		ceremony_live(d, 0);
		if (r == PED_OK && (r = ped_app_encode_splits(&sp, &out, &olen)) == PED_OK)
			r = ped_link_send_csp(l, out, olen);
		else if (r != PED_OK)
			r = reply_result(l, r);
		OPENSSL_cleanse(&sp, sizeof(sp));
		goto out;
	}
	/* CREATE: the secret to split follows in a CSP. */
	const uint8_t *secret;
	size_t slen;
	if ((r = ped_link_recv(l, &rt, &csp, &clen, d->cfg.link_timeout_ms, NULL)) != PED_OK)
		goto out;
	if (rt != PED_REC_CSP || ped_app_decode_secret(csp, clen, PED_APP_SECRET, &secret, &slen) != PED_OK) {
		r = reply_result(l, PED_E_INVALID);
		goto out;
	}
	/* Orange keys also carry the RPV static key, its certificate and the HOC. */
	struct cer_rpv_static *st = NULL;
	if (req.key_type == PED_KEY_RPV) {
		uint8_t rt2, *csp2 = NULL;
		size_t clen2 = 0, cl = 0, hl = 0;
		const uint8_t *sc, *ce, *ho;
		if ((r = ped_link_recv(l, &rt2, &csp2, &clen2, d->cfg.link_timeout_ms, NULL)) != PED_OK)
			goto out;
		if (rt2 != PED_REC_CSP || ped_app_decode_rpv_key(csp2, clen2, &sc, &ce, &cl, &ho, &hl) != PED_OK ||
		    cl > IKEY_CERT_MAX || hl > IKEY_CERT_MAX || !(st = OPENSSL_secure_zalloc(sizeof(*st)))) {
			if (csp2)
				OPENSSL_clear_free(csp2, clen2 ? clen2 : 1);
			r = reply_result(l, PED_E_INVALID);
			goto out;
		}
		memcpy(st->scalar, sc, IKEY_SCALAR_LEN);
		memcpy(st->cert, ce, cl);
		st->cert_len = cl;
		memcpy(st->hoc, ho, hl);
		st->hoc_len = hl;
		st->set = 1;
		OPENSSL_clear_free(csp2, clen2);
		ask.rpv_in = st;
	}
	struct cer_created c;
	/* Reusing a keyset sends its whole secret to the HSM: not over a channel
	 * whose only secret is 8 digits; the password session writes a new RPV. */
	int reuse = req.allow_reuse && !(ctx && ctx->password);
	r = watch_link(d, l) ? cer_create_keyset(d, &ask, reuse, secret, slen, &c) : PED_E_CLOSED;
	d->session_fd = -1;
	ceremony_live(d, 0);
	if (r != PED_OK)
		r = reply_result(l, r);
	else if (c.info.reused) {
		if ((r = ped_app_encode_reused(&c.info, c.secret, c.secret_len, &out, &olen)) == PED_OK)
			r = ped_link_send_csp(l, out, olen);
	} else if ((r = ped_app_encode_created(&c.info, &out, &olen)) == PED_OK) {
		r = ped_link_send(l, PED_REC_DATA, out, olen);
	}
	if (r == PED_OK && ctx && req.key_type == PED_KEY_RPV) {
		/* A reused keyset is another HSM's RPV, without this HSM's static key: 1e1s then. */
		static const struct cer_rpv_static none;
		ctx->rpv_made = 1;
		if (c.info.reused)
			(void)rpk_cache_remember(ctx->cache, ctx->hsm, c.secret, c.secret_len, &none);
		else
			(void)rpk_cache_remember(ctx->cache, ctx->hsm, secret, slen, st ? st : &none);
	}
	if (st)
		OPENSSL_secure_clear_free(st, sizeof(*st));
	OPENSSL_cleanse(&c, sizeof(c));
out:
	if (out)
		OPENSSL_clear_free(out, olen);
	if (csp)
		OPENSSL_clear_free(csp, clen ? clen : 1);
	dev_event_log(d, "reply", "\"result\":\"%s\"", ped_err_name(r));
	return r;
}

static int attach(struct ped_device *d, struct ped_link *l)
{
	struct ped_kas_params p;
	char id[PED_KAS_ID_MAX];
	int fd, r;

	if ((r = ped_unix_connect(d->cfg.hsm_socket, &fd)) != PED_OK)
		return r;
	snprintf(id, sizeof(id), "PED:%.40s", d->holder);
	memset(&p, 0, sizeof(p));
	p.role = PED_KAS_U;
	p.scheme = PED_KAS_1E1S;
	p.id = id;
	if ((r = ped_link_handshake(l, fd, &p, d->cfg.link_timeout_ms)) != PED_OK) {
		ped_warn("handshake with the HSM at %s failed: %s", d->cfg.hsm_socket, ped_strerror(r));
		return r;
	}
	ped_info("attached to %s", l->peer_id);
	fw_log(d, "Attached %s", l->peer_id);
	char js[2 * PED_KAS_ID_MAX + 8];
	dev_event_log(d, "attached", "\"hsm\":\"%s\"", dev_json(l->peer_id, js, sizeof(js)));
	dev_return_freed_memory();
	return PED_OK;
}

int mode_leave_ok(struct ped_device *d, const struct rpk_cache *c)
{
	return c->n ? dlg_confirm_exit(d) : 1;
}

/* The idle screen of a mode, and whether anything can send it a command. */
static void show_idle(struct ped_device *d, int mode, int local_up, int remote_up)
{
	if (mode == PED_MODE_REMOTE)
		fw_show(d, DEV_P_IDLE, 0, remote_up ? "Remote PED mode\nAwaiting command..."
						    : "Remote PED mode\nNo pedserver\nconnected.\n\n< EXIT");
	else
		fw_show(d, DEV_P_IDLE, 0, local_up || remote_up ? "Local PED mode\nAwaiting command..."
								: "Local PED mode\nNo HSM connected.\n\n< EXIT");
}

/* Local PED-USB and Remote PED. The PED watches both of its cables, the
 * HSM's local PED link (hsm_socket) and pedserver's PED port, and "switches
 * to the appropriate mode upon receiving the first command from the HSM"
 * (chapter 5): a request on the local link makes it Local PED mode, a
 * session pedserver opens Remote PED mode. It serves one HSM at a time: a
 * command on the other cable waits while a ceremony or a Remote PED session
 * (ped connect to ped disconnect) is under way. A PED cabled to an HSM
 * watches pedserver too when its socket was given, or in Remote PED mode.
 * The RPKs read stay until the operator leaves with <. */
static void mode_attached(struct ped_device *d, int mode)
{
	struct ped_link link;
	struct ped_framer f;
	struct rpk_cache c;
	int local_up = 0, remote_up = 0, busy_told = 0, r;
	uint64_t local_at = 0, remote_at = 0;
	int use_local = d->cfg.hsm_socket[0] != '\0';
	int use_remote = d->cfg.pedserver_socket[0] && (d->cfg.pedserver_explicit || mode == PED_MODE_REMOTE || !use_local);

	fw_log_clear(d);
	memset(&link, 0, sizeof(link));
	link.in.fd = -1;
	memset(&f, 0, sizeof(f));
	f.fd = -1;
	memset(&c, 0, sizeof(c));
	dev_event_log(d, "mode", "\"mode\":\"%s\"", mode == PED_MODE_REMOTE ? "remote" : "local");
	for (;;) {
		/* After a lost link, wait a retry interval: an HSM that takes
		 * the handshake and drops the PED (a Remote PED session is open)
		 * would otherwise be redialled in a tight loop. */
		uint64_t now = ped_now_ms();
		if (use_local && !local_up && now >= local_at) {
			local_up = attach(d, &link) == PED_OK;
			local_at = now + RETRY_MS;
		}
		if (use_remote && !remote_up && now >= remote_at) {
			remote_up = remote_attach(d, &f, &c) == PED_OK;
			remote_at = now + RETRY_MS;
		}
		show_idle(d, mode, local_up, remote_up);
		struct dev_event ev;
		int fds[DEV_LINKS_MAX] = {local_up ? ped_link_fd(&link) : -1, remote_up ? f.fd : -1};
		if (local_up && ped_framer_pending(&link.in))
			ev = (struct dev_event){DEV_EV_LINK, 0};
		else if (remote_up && ped_framer_pending(&f))
			ev = (struct dev_event){DEV_EV_LINK, 1};
		else {
			uint64_t next = UINT64_MAX;
			if (use_local && !local_up)
				next = local_at;
			if (use_remote && !remote_up && remote_at < next)
				next = remote_at;
			now = ped_now_ms();
			ev = fw_wait_links(d, fds, DEV_LINKS_MAX,
					   next == UINT64_MAX ? -1 : next > now ? (int)(next - now) : 0);
		}
		if (ev.type == DEV_EV_QUIT)
			break;
		if (ev.type == DEV_EV_KEY && ev.key == DEV_KEY_LOG) {
			/* a command on either cable takes the log down */
			dlg_show_log(d, fds[0] >= 0 ? fds[0] : fds[1]);
		} else if (ev.type == DEV_EV_KEY && ev.key == DEV_KEY_BACK) {
			if (mode_leave_ok(d, &c))
				break;
		} else if (ev.type == DEV_EV_LINK && ev.key == 0) {
			uint8_t rt, *msg = NULL;
			size_t len = 0;
			r = ped_link_recv(&link, &rt, &msg, &len, d->cfg.link_timeout_ms, NULL);
			if (r == PED_OK && rt == PED_REC_DATA) {
				if (mode != PED_MODE_LOCAL) {
					/* the first command came from the local link */
					mode = PED_MODE_LOCAL;
					fw_log_clear(d);
					dev_event_log(d, "mode", "\"mode\":\"local\"");
				}
				r = mode_serve_request(d, &link, msg, len, NULL);
			}
			if (msg)
				OPENSSL_clear_free(msg, len ? len : 1);
			if (r != PED_OK && r != PED_E_INVALID) {
				ped_info("link to the HSM ended: %s", ped_strerror(r));
				fw_log(d, "Link lost");
				dev_event_log(d, "detached", "\"why\":\"%s\"", ped_err_name(r));
				ped_link_close(&link, r);
				local_up = 0;
				local_at = ped_now_ms() + RETRY_MS;
			}
		} else if (ev.type == DEV_EV_LINK && ev.key == 1) {
			r = remote_frame(d, &f, &c, &mode);
			if (r == PED_E_BUSY) {
				/* another PED is attached to that pedserver: say it once */
				if (!busy_told)
					ped_warn("pedserver already serves another PED");
				busy_told = 1;
			} else if (r == PED_OK) {
				busy_told = 0;
			}
			if (r != PED_OK) {
				remote_detach(d, &f, r);
				remote_up = 0;
				remote_at = ped_now_ms() + (r == PED_E_BUSY ? BUSY_RETRY_MS : RETRY_MS);
				if (r == PED_E_CANCEL)
					break;
			}
		}
	}
	if (local_up)
		ped_link_close(&link, PED_OK);
	if (remote_up)
		remote_detach(d, &f, PED_OK);
	/* Leaving the mode invalidates every RPK the PED held. */
	rpk_cache_forget(&c, NULL);
	OPENSSL_cleanse(&c, sizeof(c));
}

static void mode_scp(struct ped_device *d)
{
	(void)dlg_menu(d, "Local PED-SCP\nNot supported for\nthis HSM generation.\nUse Local PED-USB.\n\n< EXIT", "");
}

/* Power-on: "BOOT V..., loading PED..." (the boot loader is this program;
 * the PED's version is that of the image it runs), then "Local PED mode /
 * Awaiting command...". */
static void boot(struct ped_device *d)
{
	admin_boot(d);
	fw_show(d, DEV_P_NONE, 0, "BOOT V.%s\nloading PED...", PED_VERSION);
}

void *fw_main(void *arg)
{
	struct ped_device *d = arg;
	const char *start = d->cfg.start_mode;
	/* -mode: the operator chose that mode (from the menu) */
	int k = !strcmp(start, "menu") ? 'M' : !strcmp(start, "admin") ? '4' : !strcmp(start, "remote") ? '7' : '0';

	boot(d);
	for (;;) {
		if (dev_quitting(d))
			break;
		if (k == 'M') {
			char v[DEV_VERSION_MAX + 1], text[160];
			fw_version(d, v);
			snprintf(text, sizeof(text), MAIN_MENU, v);
			if ((k = dlg_menu(d, text, "1470")) < 0)
				break;
		}
		switch (k) {
		case '1': mode_scp(d); break;
		case '4':
			if (mode_admin(d)) {
				/* a software update was saved: the PED restarts with it */
				boot(d);
				k = '0';
				continue;
			}
			break;
		case '7': mode_attached(d, PED_MODE_REMOTE); break;
		case '0': mode_attached(d, PED_MODE_LOCAL); break;
		default: break;
		}
		k = 'M';
	}
	fw_show(d, DEV_P_NONE, 0, "PED off");
	return NULL;
}
