#include "ped/app.h"

#include "ped/buf.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <string.h>

#define MSG_MAX 8192

static void put_text(struct ped_wbuf *w, const char *s)
{
	ped_wbuf_lv16(w, s, strlen(s));
}

static int get_text(struct ped_rbuf *r, char out[PED_APP_TEXT_MAX + 1])
{
	size_t n = 0;
	const uint8_t *p = ped_rbuf_lv16(r, PED_APP_TEXT_MAX, &n);
	if (!p || memchr(p, '\0', n))
		return PED_E_INVALID;
	for (size_t i = 0; i < n; i++)
		/* text for an 8-line display of ASCII: printable only. A byte
		 * above 0x7e reached the screens of ped-device -dump-screen and
		 * the ncurses PED as it came (0xc2 0x9b, a C1 CSI in UTF-8,
		 * was an escape sequence a hostile HSM wrote to a terminal) */
		if (p[i] < 0x20 || p[i] >= 0x7f)
			return PED_E_INVALID;
	memcpy(out, p, n);
	out[n] = '\0';
	return PED_OK;
}

static int valid_type(uint8_t t)
{
	return t >= PED_KEY_SO && t <= PED_KEY_AUDIT;
}

int ped_app_encode_request(const struct ped_app_request *req, uint8_t **out, size_t *len)
{
	struct ped_wbuf w;
	ped_wbuf_init(&w, MSG_MAX);
	ped_wbuf_u8(&w, req->op);
	switch (req->op) {
	case PED_APP_AUTH:
	case PED_APP_CREATE:
		ped_wbuf_u8(&w, req->key_type);
		ped_wbuf_u8(&w, req->op == PED_APP_CREATE ? req->allow_reuse : 0);
		put_text(&w, req->title);
		put_text(&w, req->prompt);
		put_text(&w, req->colour);
		break;
	case PED_APP_MESSAGE:
		put_text(&w, req->title);
		break;
	default:
		ped_wbuf_free(&w);
		return PED_E_INVALID;
	}
	return ped_wbuf_take(&w, out, len);
}

int ped_app_decode_request(const uint8_t *msg, size_t len, struct ped_app_request *req)
{
	struct ped_rbuf r;
	memset(req, 0, sizeof(*req));
	ped_rbuf_init(&r, msg, len);
	req->op = ped_rbuf_u8(&r);
	switch (req->op) {
	case PED_APP_AUTH:
	case PED_APP_CREATE:
		req->key_type = ped_rbuf_u8(&r);
		req->allow_reuse = ped_rbuf_u8(&r);
		if (!valid_type(req->key_type) || req->allow_reuse > 1 ||
		    (req->op == PED_APP_AUTH && req->allow_reuse) || get_text(&r, req->title) ||
		    get_text(&r, req->prompt) || get_text(&r, req->colour))
			return PED_E_INVALID;
		break;
	case PED_APP_MESSAGE:
		if (get_text(&r, req->title))
			return PED_E_INVALID;
		break;
	default:
		return PED_E_INVALID;
	}
	return ped_rbuf_end(&r) == PED_OK ? PED_OK : PED_E_INVALID;
}

int ped_app_encode_secret(uint8_t op, const uint8_t *secret, size_t len, uint8_t **out, size_t *olen)
{
	struct ped_wbuf w;
	if (len == 0 || len > PED_APP_SECRET_MAX)
		return PED_E_INVALID;
	ped_wbuf_init(&w, MSG_MAX);
	ped_wbuf_u8(&w, op);
	ped_wbuf_lv16(&w, secret, len);
	return ped_wbuf_take(&w, out, olen);
}

int ped_app_decode_secret(const uint8_t *msg, size_t len, uint8_t op, const uint8_t **secret,
			  size_t *slen)
{
	struct ped_rbuf r;
	ped_rbuf_init(&r, msg, len);
	if (ped_rbuf_u8(&r) != op)
		return PED_E_INVALID;
	*secret = ped_rbuf_lv16(&r, PED_APP_SECRET_MAX, slen);
	if (!*secret || *slen == 0 || ped_rbuf_end(&r) != PED_OK)
		return PED_E_INVALID;
	return PED_OK;
}

int ped_app_encode_splits(const struct ped_app_splits *sp, uint8_t **out, size_t *len)
{
	struct ped_wbuf w;
	if (sp->count == 0 || sp->count > PED_APP_MAX_SPLITS)
		return PED_E_INVALID;
	ped_wbuf_init(&w, MSG_MAX);
	ped_wbuf_u8(&w, PED_APP_SPLITS);
	ped_wbuf_u8(&w, sp->count);
	for (unsigned i = 0; i < sp->count; i++) {
		const struct ped_app_split *s = &sp->s[i];
		ped_wbuf_u8(&w, s->index);
		ped_wbuf_u8(&w, s->m);
		ped_wbuf_u8(&w, s->n);
		ped_wbuf_bytes(&w, s->keyset_id, sizeof(s->keyset_id));
		ped_wbuf_lv16(&w, s->share, s->share_len);
	}
	return ped_wbuf_take(&w, out, len);
}

int ped_app_decode_splits(const uint8_t *msg, size_t len, struct ped_app_splits *sp)
{
	struct ped_rbuf r;
	ped_rbuf_init(&r, msg, len);
	memset(sp, 0, sizeof(*sp));
	if (ped_rbuf_u8(&r) != PED_APP_SPLITS)
		return PED_E_INVALID;
	sp->count = ped_rbuf_u8(&r);
	if (sp->count == 0 || sp->count > PED_APP_MAX_SPLITS)
		return PED_E_INVALID;
	for (unsigned i = 0; i < sp->count; i++) {
		struct ped_app_split *s = &sp->s[i];
		const uint8_t *p;
		s->index = ped_rbuf_u8(&r);
		s->m = ped_rbuf_u8(&r);
		s->n = ped_rbuf_u8(&r);
		if ((p = ped_rbuf_bytes(&r, sizeof(s->keyset_id))) != NULL)
			memcpy(s->keyset_id, p, sizeof(s->keyset_id));
		if ((p = ped_rbuf_lv16(&r, PED_APP_SECRET_MAX, &s->share_len)) != NULL)
			memcpy(s->share, p, s->share_len);
		if (r.err || s->index < 1 || s->m < 1 || s->m > s->n || s->n > PED_APP_MAX_SPLITS ||
		    s->index > s->n || s->share_len == 0 || (i && s->share_len != sp->s[0].share_len)) {
			OPENSSL_cleanse(sp, sizeof(*sp));
			return PED_E_INVALID;
		}
	}
	if (ped_rbuf_end(&r) != PED_OK) {
		OPENSSL_cleanse(sp, sizeof(*sp));
		return PED_E_INVALID;
	}
	return PED_OK;
}

int ped_app_encode_created(const struct ped_app_created *c, uint8_t **out, size_t *len)
{
	struct ped_wbuf w;
	ped_wbuf_init(&w, 64);
	ped_wbuf_u8(&w, PED_APP_CREATED);
	ped_wbuf_u8(&w, c->m);
	ped_wbuf_u8(&w, c->n);
	ped_wbuf_u8(&w, c->reused);
	ped_wbuf_bytes(&w, c->keyset_id, sizeof(c->keyset_id));
	return ped_wbuf_take(&w, out, len);
}

int ped_app_decode_created(const uint8_t *msg, size_t len, struct ped_app_created *c)
{
	struct ped_rbuf r;
	const uint8_t *p;
	ped_rbuf_init(&r, msg, len);
	if (ped_rbuf_u8(&r) != PED_APP_CREATED)
		return PED_E_INVALID;
	c->m = ped_rbuf_u8(&r);
	c->n = ped_rbuf_u8(&r);
	c->reused = ped_rbuf_u8(&r);
	if ((p = ped_rbuf_bytes(&r, sizeof(c->keyset_id))) != NULL)
		memcpy(c->keyset_id, p, sizeof(c->keyset_id));
	if (ped_rbuf_end(&r) != PED_OK || c->m < 1 || c->m > c->n || c->n > PED_APP_MAX_SPLITS ||
	    c->reused > 1)
		return PED_E_INVALID;
	return PED_OK;
}

int ped_app_encode_result(uint32_t code, uint8_t **out, size_t *len)
{
	struct ped_wbuf w;
	ped_wbuf_init(&w, 16);
	ped_wbuf_u8(&w, PED_APP_RESULT);
	ped_wbuf_u32(&w, code);
	return ped_wbuf_take(&w, out, len);
}

int ped_app_decode_result(const uint8_t *msg, size_t len, uint32_t *code)
{
	struct ped_rbuf r;
	ped_rbuf_init(&r, msg, len);
	if (ped_rbuf_u8(&r) != PED_APP_RESULT)
		return PED_E_INVALID;
	*code = ped_rbuf_u32(&r);
	return ped_rbuf_end(&r) == PED_OK ? PED_OK : PED_E_INVALID;
}

int ped_app_encode_reused(const struct ped_app_created *c, const uint8_t *secret, size_t len,
			  uint8_t **out, size_t *olen)
{
	struct ped_wbuf w;
	if (len == 0 || len > PED_APP_SECRET_MAX || c->m < 1 || c->m > c->n ||
	    c->n > PED_APP_MAX_SPLITS)
		return PED_E_INVALID;
	ped_wbuf_init(&w, MSG_MAX);
	ped_wbuf_u8(&w, PED_APP_REUSED);
	ped_wbuf_u8(&w, c->m);
	ped_wbuf_u8(&w, c->n);
	ped_wbuf_bytes(&w, c->keyset_id, sizeof(c->keyset_id));
	ped_wbuf_lv16(&w, secret, len);
	return ped_wbuf_take(&w, out, olen);
}

int ped_app_decode_reused(const uint8_t *msg, size_t len, struct ped_app_created *c,
			  const uint8_t **secret, size_t *slen)
{
	struct ped_rbuf r;
	const uint8_t *p;
	ped_rbuf_init(&r, msg, len);
	memset(c, 0, sizeof(*c));
	if (ped_rbuf_u8(&r) != PED_APP_REUSED)
		return PED_E_INVALID;
	c->m = ped_rbuf_u8(&r);
	c->n = ped_rbuf_u8(&r);
	c->reused = 1;
	if ((p = ped_rbuf_bytes(&r, sizeof(c->keyset_id))) != NULL)
		memcpy(c->keyset_id, p, sizeof(c->keyset_id));
	*secret = ped_rbuf_lv16(&r, PED_APP_SECRET_MAX, slen);
	if (!*secret || *slen == 0 || ped_rbuf_end(&r) != PED_OK || c->m < 1 || c->m > c->n ||
	    c->n > PED_APP_MAX_SPLITS)
		return PED_E_INVALID;
	return PED_OK;
}

int ped_app_encode_rpv_key(const uint8_t *scalar, const uint8_t *cert, size_t cert_len, const uint8_t *hoc,
			   size_t hoc_len, uint8_t **out, size_t *olen)
{
	struct ped_wbuf w;
	if (!cert_len || cert_len > PED_APP_CERT_MAX || !hoc_len || hoc_len > PED_APP_CERT_MAX)
		return PED_E_INVALID;
	ped_wbuf_init(&w, 3 * 2 + 1 + PED_APP_SCALAR_LEN + 2 * PED_APP_CERT_MAX);
	ped_wbuf_u8(&w, PED_APP_RPV_KEY);
	ped_wbuf_lv16(&w, scalar, PED_APP_SCALAR_LEN);
	ped_wbuf_lv16(&w, cert, cert_len);
	ped_wbuf_lv16(&w, hoc, hoc_len);
	return ped_wbuf_take(&w, out, olen);
}

int ped_app_decode_rpv_key(const uint8_t *msg, size_t len, const uint8_t **scalar, const uint8_t **cert,
			   size_t *cert_len, const uint8_t **hoc, size_t *hoc_len)
{
	struct ped_rbuf r;
	size_t sl = 0;
	ped_rbuf_init(&r, msg, len);
	if (ped_rbuf_u8(&r) != PED_APP_RPV_KEY)
		return PED_E_INVALID;
	*scalar = ped_rbuf_lv16(&r, PED_APP_SCALAR_LEN, &sl);
	*cert = ped_rbuf_lv16(&r, PED_APP_CERT_MAX, cert_len);
	*hoc = ped_rbuf_lv16(&r, PED_APP_CERT_MAX, hoc_len);
	if (!*scalar || sl != PED_APP_SCALAR_LEN || !*cert || !*cert_len || !*hoc || !*hoc_len ||
	    ped_rbuf_end(&r) != PED_OK)
		return PED_E_INVALID;
	return PED_OK;
}
