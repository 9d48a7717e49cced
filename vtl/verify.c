/* vtl verify: the slots a server shows to this client, asked as the
 * PKCS#11 module asks (APP_HELLO, GetSlotList, GetTokenInfo). */
#include "vtl.h"

#include "ped/buf.h"
#include "ped/error.h"
#include "ped/link.h"
#include "ped/p11wire.h"
#include "ped/tls.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>
#include <unistd.h>

struct vconn {
	int fd;
	struct ped_framer in;
	uint32_t call;
	uint8_t *reply;
	size_t reply_len;
};

/* One request, its reply in c->reply; rv the function's CK_RV. */
static int call(struct vconn *c, struct ped_wbuf *w, struct ped_rbuf *r, CK_RV *rv, int timeout_ms)
{
	uint8_t type;
	uint32_t id;
	int e;

	OPENSSL_clear_free(c->reply, c->reply_len ? c->reply_len : 1);
	c->reply = NULL;
	c->reply_len = 0;
	if (w->err)
		return PED_E_RANGE;
	if ((e = ped_frame_send(c->fd, P11W_APP_REQUEST, w->p, w->len, timeout_ms)) != PED_OK ||
	    (e = ped_framer_recv(&c->in, &type, &c->reply, &c->reply_len, timeout_ms)) != PED_OK)
		return e;
	ped_rbuf_init(r, c->reply, c->reply_len);
	if (type != P11W_APP_REPLY || p11w_get_reply_header(r, &id, rv) != CKR_OK || id != c->call)
		return PED_E_FRAME_TYPE;
	return PED_OK;
}

static void trim(char *s, size_t n)
{
	while (n > 0 && s[n - 1] == ' ')
		n--;
	s[n] = '\0';
}

int vtl_verify_server(const struct ped_net_client *nc, size_t i, int timeout_ms, unsigned *slot, FILE *out,
		      char *why, size_t whylen)
{
	struct vconn c = {.fd = -1};
	struct p11w_hello h = {.version = P11W_VERSION};
	struct p11w_welcome wl;
	struct p11w_slot *sl = NULL;
	struct ped_wbuf w;
	struct ped_rbuf r;
	uint32_t n = 0;
	uint8_t type, *msg = NULL;
	size_t len = 0;
	CK_RV rv;
	int e;

	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	if ((e = ped_netcfg_dial(nc, i, timeout_ms, &c.fd, NULL, why, whylen)) != PED_OK)
		goto out;
	ped_framer_init(&c.in, c.fd, P11W_PAYLOAD_MAX);
	/* the application id is a bearer secret: a fresh one, never shown */
	(void)RAND_bytes(h.app_id, sizeof(h.app_id));
	h.pid = (uint32_t)getpid();
	snprintf(h.name, sizeof(h.name), "vtl");
	(void)p11w_put_hello(&w, &h);
	OPENSSL_cleanse(h.app_id, sizeof(h.app_id));
	if ((e = ped_frame_send(c.fd, P11W_APP_HELLO, w.p, w.len, timeout_ms)) != PED_OK ||
	    (e = ped_framer_recv(&c.in, &type, &msg, &len, timeout_ms)) != PED_OK) {
		snprintf(why, whylen, "%s closed the link: %s", nc->s[i].name, ped_strerror(e));
		goto out;
	}
	if (type != P11W_APP_WELCOME || p11w_get_welcome(msg, len, &wl) != CKR_OK) {
		snprintf(why, whylen, "%s does not speak the application protocol", nc->s[i].name);
		e = PED_E_FRAME_TYPE;
		goto out;
	}
	ped_wbuf_free(&w);
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	p11w_put_request_header(&w, ++c.call, P11W_FN_GET_SLOT_LIST);
	if ((e = call(&c, &w, &r, &rv, timeout_ms)) != PED_OK || rv != CKR_OK ||
	    p11w_get_slot_list(&r, &sl, &n) != CKR_OK) {
		snprintf(why, whylen, "%s: no slot list (%s)", nc->s[i].name, e ? ped_strerror(e) : "bad reply");
		if (e == PED_OK)
			e = PED_E_FRAME_TYPE;
		goto out;
	}
	/* as from any client: the application partitions (chapter 13), then
	 * the Backup HSMs a Remote Backup Server serves (hsm-sim shows its
	 * own to no network client) */
	for (int backups = 0; backups < 2; backups++) {
		uint8_t kind = backups ? P11W_SLOT_BACKUP : P11W_SLOT_PARTITION;
		int any = 0, backup_hsms = 0;
		for (uint32_t k = 0; k < n; k++) {
			any |= sl[k].kind == kind && sl[k].token_present;
			backup_hsms |= sl[k].kind == P11W_SLOT_BACKUP && sl[k].token_present;
		}
		/* an RBS serves Backup HSMs alone: no empty table of partitions */
		if (!any && (backups || backup_hsms))
			continue;
		fprintf(out, "The following %s were found on %s:\n", backups ? "Backup HSMs" : "partitions",
			nc->s[i].name);
		fprintf(out, "  Slot  Serial #          Label\n");
		fprintf(out, "  ====  ================  ================================\n");
		for (uint32_t k = 0; k < n; k++) {
			CK_TOKEN_INFO ti;
			char label[sizeof(ti.label) + 1];
			if (sl[k].kind != kind || !sl[k].token_present)
				continue;
			ped_wbuf_free(&w);
			ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
			p11w_put_request_header(&w, ++c.call, P11W_FN_GET_TOKEN_INFO);
			p11w_put_ulong(&w, sl[k].slot);
			if ((e = call(&c, &w, &r, &rv, timeout_ms)) != PED_OK || rv != CKR_OK ||
			    p11w_get_token_info(&r, &ti) != CKR_OK) {
				snprintf(why, whylen, "%s: no token information for slot %lu", nc->s[i].name,
					 (unsigned long)sl[k].slot);
				if (e == PED_OK)
					e = PED_E_FRAME_TYPE;
				goto out;
			}
			memcpy(label, ti.label, sizeof(ti.label));
			trim(label, sizeof(ti.label));
			fprintf(out, "  %4u  %-16s  %s\n", (*slot)++, sl[k].serial, label);
		}
	}
	e = PED_OK;
out:
	OPENSSL_free(sl);
	OPENSSL_clear_free(c.reply, c.reply_len ? c.reply_len : 1);
	OPENSSL_clear_free(msg, len ? len : 1);
	ped_wbuf_free(&w);
	if (c.fd >= 0) {
		ped_framer_free(&c.in);
		ped_tls_proxy_close(c.fd, 2000);
	}
	return e;
}
