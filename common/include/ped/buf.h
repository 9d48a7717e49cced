/* Bounded byte buffers for building and parsing wire messages. A writer
 * grows on the OpenSSL heap and is wiped when freed (messages may hold
 * secrets); a reader never reads past its end. Both keep a sticky error, so
 * a message is built or parsed in a straight line and checked once.
 *
 * Every integer on the wire is big-endian. Fixed headers that are read or
 * written in place use ped_be16/32/64_get/put; everything else goes through
 * a writer or a reader. lvN is an N-bit length, then that many bytes. */
#ifndef PED_BUF_H
#define PED_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Big-endian integers in place (like OpenSSH's PEEK_U32/POKE_U32): p must
 * hold the 2, 4 or 8 bytes; the caller has checked the length. */
static inline uint16_t ped_be16_get(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t ped_be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t ped_be64_get(const uint8_t *p)
{
	return (uint64_t)ped_be32_get(p) << 32 | ped_be32_get(p + 4);
}

static inline void ped_be16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void ped_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void ped_be64_put(uint8_t *p, uint64_t v)
{
	ped_be32_put(p, (uint32_t)(v >> 32));
	ped_be32_put(p + 4, (uint32_t)v);
}

struct ped_wbuf {
	uint8_t *p;
	size_t len, cap, max;
	int err;
	int fixed; /* p is the caller's memory: never grown, never freed */
};

struct ped_rbuf {
	const uint8_t *p;
	size_t len, off;
	int err;
};

/* A writer of at most max bytes on the heap. */
void ped_wbuf_init(struct ped_wbuf *w, size_t max);
/* A writer into the caller's mem, at most cap bytes (a message built on the
 * stack); ped_wbuf_take hands back mem itself. */
void ped_wbuf_init_fixed(struct ped_wbuf *w, uint8_t *mem, size_t cap);
void ped_wbuf_u8(struct ped_wbuf *w, uint8_t v);
void ped_wbuf_u16(struct ped_wbuf *w, uint16_t v);
void ped_wbuf_u32(struct ped_wbuf *w, uint32_t v);
void ped_wbuf_u64(struct ped_wbuf *w, uint64_t v);
void ped_wbuf_bytes(struct ped_wbuf *w, const void *b, size_t n);
/* n bytes at the end for the caller to fill in now (they count as
 * written: what it does not fill, it truncates away); NULL, and the error
 * set, if they do not fit. */
uint8_t *ped_wbuf_room(struct ped_wbuf *w, size_t n);
/* Length then bytes; a length that does not fit its field is an error. */
void ped_wbuf_lv8(struct ped_wbuf *w, const void *b, size_t n);
void ped_wbuf_lv16(struct ped_wbuf *w, const void *b, size_t n);
void ped_wbuf_lv32(struct ped_wbuf *w, const void *b, size_t n);
/* Hands the bytes to the caller (free with OPENSSL_clear_free(p, len), but
 * not from a fixed writer); PED_OK or the error. */
int ped_wbuf_take(struct ped_wbuf *w, uint8_t **p, size_t *len);
/* Wipes what was written; frees it unless the writer is fixed. */
void ped_wbuf_free(struct ped_wbuf *w);
/* Keeps the first n bytes written (n at most the length) and wipes the
 * rest; a write that did not fit is forgotten. The block stays, for the
 * next message: a server's reply writer, reused (ped_wbuf_truncate(w, 0)). */
void ped_wbuf_truncate(struct ped_wbuf *w, size_t n);

void ped_rbuf_init(struct ped_rbuf *r, const uint8_t *p, size_t len);
uint8_t ped_rbuf_u8(struct ped_rbuf *r);
uint16_t ped_rbuf_u16(struct ped_rbuf *r);
uint32_t ped_rbuf_u32(struct ped_rbuf *r);
uint64_t ped_rbuf_u64(struct ped_rbuf *r);
/* Points into the buffer; NULL (and the error set) if fewer than n bytes remain. */
const uint8_t *ped_rbuf_bytes(struct ped_rbuf *r, size_t n);
/* Length (at most max) then bytes, pointed into; NULL and the error set if
 * the length is over max or runs past the end. */
const uint8_t *ped_rbuf_lv8(struct ped_rbuf *r, size_t max, size_t *n);
const uint8_t *ped_rbuf_lv16(struct ped_rbuf *r, size_t max, size_t *n);
const uint8_t *ped_rbuf_lv32(struct ped_rbuf *r, size_t max, size_t *n);
/* lv8 or lv16 text of printable ASCII (0x20-0x7e), at most max bytes, copied
 * into out (max + 1 bytes) and NUL-terminated: PED_OK, or the error set and
 * out "". */
int ped_rbuf_text8(struct ped_rbuf *r, char *out, size_t max);
int ped_rbuf_text16(struct ped_rbuf *r, char *out, size_t max);
/* PED_OK if no error and every byte was consumed. */
int ped_rbuf_end(const struct ped_rbuf *r);

#endif
