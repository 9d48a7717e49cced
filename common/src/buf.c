#include "ped/buf.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <string.h>

void ped_wbuf_init(struct ped_wbuf *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max;
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
		OPENSSL_clear_free(w->p, w->cap);
		w->p = np;
		w->cap = cap;
	}
	w->len += n;
	return w->p + w->len - n;
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
	if (p) {
		p[0] = (uint8_t)(v >> 8);
		p[1] = (uint8_t)v;
	}
}

void ped_wbuf_u32(struct ped_wbuf *w, uint32_t v)
{
	uint8_t *p = room(w, 4);
	if (p)
		for (int i = 0; i < 4; i++)
			p[i] = (uint8_t)(v >> (24 - 8 * i));
}

void ped_wbuf_u64(struct ped_wbuf *w, uint64_t v)
{
	uint8_t *p = room(w, 8);
	if (p)
		for (int i = 0; i < 8; i++)
			p[i] = (uint8_t)(v >> (56 - 8 * i));
}

void ped_wbuf_bytes(struct ped_wbuf *w, const void *b, size_t n)
{
	uint8_t *p = room(w, n);
	if (p && n)
		memcpy(p, b, n);
}

void ped_wbuf_lv16(struct ped_wbuf *w, const void *b, size_t n)
{
	if (n > 0xffff) {
		w->err = w->err ? w->err : PED_E_INVALID;
		return;
	}
	ped_wbuf_u16(w, (uint16_t)n);
	ped_wbuf_bytes(w, b, n);
}

void ped_wbuf_lv32(struct ped_wbuf *w, const void *b, size_t n)
{
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
	/* the caller frees with the length it was told; keep no spare capacity */
	if (w->cap > w->len && w->len) {
		uint8_t *exact = OPENSSL_malloc(w->len);
		if (!exact) {
			ped_wbuf_free(w);
			return PED_E_HOST_MEMORY;
		}
		memcpy(exact, w->p, w->len);
		OPENSSL_clear_free(w->p, w->cap);
		*p = exact;
	}
	memset(w, 0, sizeof(*w));
	return PED_OK;
}

void ped_wbuf_free(struct ped_wbuf *w)
{
	OPENSSL_clear_free(w->p, w->cap);
	memset(w, 0, sizeof(*w));
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
	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t ped_rbuf_u32(struct ped_rbuf *r)
{
	const uint8_t *p = ped_rbuf_bytes(r, 4);
	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

uint64_t ped_rbuf_u64(struct ped_rbuf *r)
{
	const uint8_t *p = ped_rbuf_bytes(r, 8);
	uint64_t v = 0;
	if (p)
		for (int i = 0; i < 8; i++)
			v = v << 8 | p[i];
	return v;
}

const uint8_t *ped_rbuf_lv16(struct ped_rbuf *r, size_t max, size_t *n)
{
	size_t l = ped_rbuf_u16(r);
	if (r->err || l > max) {
		r->err = PED_E_INVALID;
		return NULL;
	}
	*n = l;
	return ped_rbuf_bytes(r, l);
}

int ped_rbuf_end(const struct ped_rbuf *r)
{
	if (r->err)
		return r->err;
	return r->off == r->len ? PED_OK : PED_E_INVALID;
}
