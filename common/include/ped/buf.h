/* Bounded byte buffers for building and parsing wire messages. A writer
 * grows on the OpenSSL heap and is wiped when freed (messages may hold
 * secrets); a reader never reads past its end. Both keep a sticky error, so
 * a message is built or parsed in a straight line and checked once. */
#ifndef PED_BUF_H
#define PED_BUF_H

#include <stddef.h>
#include <stdint.h>

struct ped_wbuf {
	uint8_t *p;
	size_t len, cap, max;
	int err;
};

struct ped_rbuf {
	const uint8_t *p;
	size_t len, off;
	int err;
};

void ped_wbuf_init(struct ped_wbuf *w, size_t max);
void ped_wbuf_u8(struct ped_wbuf *w, uint8_t v);
void ped_wbuf_u16(struct ped_wbuf *w, uint16_t v);
void ped_wbuf_u32(struct ped_wbuf *w, uint32_t v);
void ped_wbuf_u64(struct ped_wbuf *w, uint64_t v);
void ped_wbuf_bytes(struct ped_wbuf *w, const void *b, size_t n);
void ped_wbuf_lv16(struct ped_wbuf *w, const void *b, size_t n); /* u16 length || bytes */
void ped_wbuf_lv32(struct ped_wbuf *w, const void *b, size_t n); /* u32 length || bytes */
/* Hands the bytes to the caller (free with OPENSSL_clear_free(p, len)); PED_OK or the error. */
int ped_wbuf_take(struct ped_wbuf *w, uint8_t **p, size_t *len);
void ped_wbuf_free(struct ped_wbuf *w);

void ped_rbuf_init(struct ped_rbuf *r, const uint8_t *p, size_t len);
uint8_t ped_rbuf_u8(struct ped_rbuf *r);
uint16_t ped_rbuf_u16(struct ped_rbuf *r);
uint32_t ped_rbuf_u32(struct ped_rbuf *r);
uint64_t ped_rbuf_u64(struct ped_rbuf *r);
/* Points into the buffer; NULL (and the error set) if fewer than n bytes remain. */
const uint8_t *ped_rbuf_bytes(struct ped_rbuf *r, size_t n);
/* u16 length (at most max) then bytes. */
const uint8_t *ped_rbuf_lv16(struct ped_rbuf *r, size_t max, size_t *n);
/* PED_OK if no error and every byte was consumed. */
int ped_rbuf_end(const struct ped_rbuf *r);

#endif
