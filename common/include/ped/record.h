/* Records of the secure channel, after the handshake (docs/protocol.md):
 *
 *   u8 type || u64 seq || u32 ct_len || ciphertext || tag (64)
 *
 * AES-256-CTR with the counter block seq || 0^64, then HMAC-SHA-512 over
 * everything before the tag (encrypt-then-MAC). Sequence numbers start at 0
 * in each direction; a record must carry exactly the next one. The tag is
 * checked first, in constant time; any failure kills the channel for good.
 * CSPs are also wrapped with the direction's CWK (AES-256-KWP), so a CSP is
 * never in clear even in a record's plaintext buffer. */
#ifndef PED_RECORD_H
#define PED_RECORD_H

#include "ped/chkeys.h"
#include "ped/frame.h"

#include <stddef.h>
#include <stdint.h>

enum ped_record_type {
	PED_REC_DATA = 1,
	PED_REC_READY = 2,
	PED_REC_CLOSE = 3, /* body: u32 reason code */
	PED_REC_CSP = 4,   /* body: KWP-wrapped CSP */
};

#define PED_RECORD_HEADER_LEN 13
#define PED_RECORD_TAG_LEN 64
#define PED_RECORD_OVERHEAD (PED_RECORD_HEADER_LEN + PED_RECORD_TAG_LEN)
/* Leaves room in a frame for the relay's own header. */
#define PED_RECORD_MAX_PLAINTEXT (PED_FRAME_MAX_PAYLOAD - PED_RECORD_OVERHEAD - 256)

struct ped_channel;

/* Copies keys (the caller cleanses its own). */
int ped_channel_new(const struct ped_channel_keys *keys, struct ped_channel **out);
void ped_channel_free(struct ped_channel *ch);
/* 0 once any error, close or exhaustion has ended the channel. */
int ped_channel_alive(const struct ped_channel *ch);

/* Record bytes into an OPENSSL_malloc'd buffer (free with OPENSSL_free). */
int ped_channel_seal(struct ped_channel *ch, uint8_t type, const uint8_t *pt, size_t len,
		     uint8_t **rec, size_t *rec_len);
/* Plaintext into an OPENSSL_malloc'd buffer (free with OPENSSL_clear_free).
 * PED_E_BAD_RECORD (altered, truncated, malformed), PED_E_REPLAY (valid but
 * not the expected sequence number), PED_E_CHANNEL_CLOSED (dead channel). */
int ped_channel_open(struct ped_channel *ch, const uint8_t *rec, size_t len, uint8_t *type,
		     uint8_t **pt, size_t *pt_len);

/* CSP helpers: wrap with the tx CWK then seal as PED_REC_CSP; unwrap a CSP
 * record's plaintext with the rx CWK. */
int ped_channel_seal_csp(struct ped_channel *ch, const uint8_t *csp, size_t len, uint8_t **rec,
			 size_t *rec_len);
int ped_channel_unwrap_csp(struct ped_channel *ch, const uint8_t *pt, size_t len, uint8_t **csp,
			   size_t *csp_len);

/* For tests: the next sequence numbers. */
uint64_t ped_channel_tx_seq(const struct ped_channel *ch);
uint64_t ped_channel_rx_seq(const struct ped_channel *ch);

#endif
