#include "ped/buf.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <string.h>

void ped_wbuf_init(struct ped_wbuf *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max;
}

void ped_wbuf_init_fixed(struct ped_wbuf *w, uint8_t *mem, size_t cap)
{
	memset(w, 0, sizeof(*w));
	w->p = mem;
	w->cap = w->max = cap;
	w->fixed = 1;
}

static uint8_t *room(struct ped_wbuf *w, size_t n)
{
	size_t cap;
	uint8_t *np;

	if (w->err)
		return NULL;
	if (n > w->max - w->len) {
		w->err = PED_E_INVALID;
		return NULL;
	}
	/* a fixed writer has cap == max: it never gets here */
	if (w->len + n > w->cap) {
		cap = w->cap ? w->cap : 256;
		while (cap < w->len + n)
			cap *= 2;
		if (cap > w->max)
			cap = w->max;
		/* Not realloc: the old block may hold secrets and must be wiped. */
		if ((np = OPENSSL_malloc(cap)) == NULL) {
			w->err = PED_E_HOST_MEMORY;
			return NULL;
		}
		if (w->len)
			memcpy(np, w->p, w->len);
		/* only [0, len) was ever written (room counts a write before it
		 * is made): wiping the spare capacity too was most of the wipe */
		OPENSSL_clear_free(w->p, w->len);
		w->p = np;
		w->cap = cap;
	}
	w->len += n;
	return w->p + w->len - n;
}

uint8_t *ped_wbuf_room(struct ped_wbuf *w, size_t n)
{
	return room(w, n);
}

void ped_wbuf_u8(struct ped_wbuf *w, uint8_t v)
{
	uint8_t *p = room(w, 1);
	if (p)
		p[0] = v;
}

void ped_wbuf_u16(struct ped_wbuf *w, uint16_t v)
{
	uint8_t *p = room(w, 2);
	if (p)
		ped_be16_put(p, v);
}

void ped_wbuf_u32(struct ped_wbuf *w, uint32_t v)
{
	uint8_t *p = room(w, 4);
	if (p)
		ped_be32_put(p, v);
}

void ped_wbuf_u64(struct ped_wbuf *w, uint64_t v)
{
	uint8_t *p = room(w, 8);
	if (p)
		ped_be64_put(p, v);
}

void ped_wbuf_bytes(struct ped_wbuf *w, const void *b, size_t n)
{
	uint8_t *p = room(w, n);
	if (p && n)
		memcpy(p, b, n);
}

/* A length over its field's maximum is an error, never a truncated length. */
static int lv_fits(struct ped_wbuf *w, size_t n, uint32_t field_max)
{
	if (n > field_max) {
		w->err = w->err ? w->err : PED_E_INVALID;
		return 0;
	}
	return 1;
}

void ped_wbuf_lv8(struct ped_wbuf *w, const void *b, size_t n)
{
	if (!lv_fits(w, n, UINT8_MAX))
		return;
	ped_wbuf_u8(w, (uint8_t)n);
	ped_wbuf_bytes(w, b, n);
}

void ped_wbuf_lv16(struct ped_wbuf *w, const void *b, size_t n)
{
	if (!lv_fits(w, n, UINT16_MAX))
		return;
	ped_wbuf_u16(w, (uint16_t)n);
	ped_wbuf_bytes(w, b, n);
}

void ped_wbuf_lv32(struct ped_wbuf *w, const void *b, size_t n)
{
	if (!lv_fits(w, n, UINT32_MAX))
		return;
	ped_wbuf_u32(w, (uint32_t)n);
	ped_wbuf_bytes(w, b, n);
}

int ped_wbuf_take(struct ped_wbuf *w, uint8_t **p, size_t *len)
{
	int err = w->err;
	if (err) {
		ped_wbuf_free(w);
		return err;
	}
	*p = w->p;
	*len = w->len;
	if (w->fixed) {
		memset(w, 0, sizeof(*w));
		return PED_OK;
	}
	/* the caller frees with the length it was told: what it wipes is all
	 * that was written, and free needs no size */
	memset(w, 0, sizeof(*w));
	return PED_OK;
}

void ped_wbuf_free(struct ped_wbuf *w)
{
	if (w->fixed) { /* the caller's memory may hold an earlier message: all of it */
		if (w->p)
			OPENSSL_cleanse(w->p, w->cap);
	} else {
		OPENSSL_clear_free(w->p, w->len);
	}
	memset(w, 0, sizeof(*w));
}

void ped_wbuf_truncate(struct ped_wbuf *w, size_t n)
{
	if (n > w->len)
		n = w->len;
	if (w->p && w->len > n)
		OPENSSL_cleanse(w->p + n, w->len - n);
	w->len = n;
	w->err = 0;
}

void ped_rbuf_init(struct ped_rbuf *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = 0;
}

const uint8_t *ped_rbuf_bytes(struct ped_rbuf *r, size_t n)
{
	if (r->err || n > r->len - r->off) {
		r->err = PED_E_INVALID;
		return NULL;
	}
	r->off += n;
	return r->p + r->off - n;
}

uint8_t ped_rbuf_u8(struct ped_rbuf *r)
{
	const uint8_t *p = ped_rbuf_bytes(r, 1);
	return p ? p[0] : 0;
}

uint16_t ped_rbuf_u16(struct ped_rbuf *r)
{
	const uint8_t *p = ped_rbuf_bytes(r, 2);
	return p ? ped_be16_get(p) : 0;
}

uint32_t ped_rbuf_u32(struct ped_rbuf *r)
{
	const uint8_t *p = ped_rbuf_bytes(r, 4);
	return p ? ped_be32_get(p) : 0;
}

uint64_t ped_rbuf_u64(struct ped_rbuf *r)
{
	const uint8_t *p = ped_rbuf_bytes(r, 8);
	return p ? ped_be64_get(p) : 0;
}

/* The bytes after a length already read (l), if it is at most max. */
static const uint8_t *lv_body(struct ped_rbuf *r, size_t l, size_t max, size_t *n)
{
	if (r->err || l > max) {
		r->err = PED_E_INVALID;
		return NULL;
	}
	*n = l;
	return ped_rbuf_bytes(r, l);
}

const uint8_t *ped_rbuf_lv8(struct ped_rbuf *r, size_t max, size_t *n)
{
	size_t l = ped_rbuf_u8(r);
	return lv_body(r, l, max, n);
}

const uint8_t *ped_rbuf_lv16(struct ped_rbuf *r, size_t max, size_t *n)
{
	size_t l = ped_rbuf_u16(r);
	return lv_body(r, l, max, n);
}

const uint8_t *ped_rbuf_lv32(struct ped_rbuf *r, size_t max, size_t *n)
{
	size_t l = ped_rbuf_u32(r);
	return lv_body(r, l, max, n);
}

static int text(struct ped_rbuf *r, const uint8_t *p, size_t n, char *out)
{
	out[0] = '\0';
	if (!p)
		return r->err;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e) {
			r->err = PED_E_INVALID;
			return r->err;
		}
	memcpy(out, p, n);
	out[n] = '\0';
	return PED_OK;
}

int ped_rbuf_text8(struct ped_rbuf *r, char *out, size_t max)
{
	size_t n = 0;
	const uint8_t *p = ped_rbuf_lv8(r, max, &n);
	return text(r, p, n, out);
}

int ped_rbuf_text16(struct ped_rbuf *r, char *out, size_t max)
{
	size_t n = 0;
	const uint8_t *p = ped_rbuf_lv16(r, max, &n);
	return text(r, p, n, out);
}

int ped_rbuf_end(const struct ped_rbuf *r)
{
	if (r->err)
		return r->err;
	return r->off == r->len ? PED_OK : PED_E_INVALID;
}
