/* Link framing: every byte stream between our programs (TCP, Unix sockets,
 * USB bulk pipes) is a sequence of frames.
 *
 *   offset  size  field
 *   0       2     magic   0x50 0x44 ("PD")
 *   2       1     version PED_FRAME_VERSION
 *   3       1     type    meaning defined by the layer above
 *   4       4     length  payload length, big-endian, <= the decoder's limit
 *   8       len   payload
 *
 * The decoder never trusts a length: it checks magic, version and length
 * before it allocates or waits for a payload, so a peer cannot make it hold
 * more than its limit, and a bad header is reported at once rather than
 * after a long wait. */
#ifndef PED_FRAME_H
#define PED_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define PED_FRAME_MAGIC0 0x50
#define PED_FRAME_MAGIC1 0x44
#define PED_FRAME_VERSION 1
#define PED_FRAME_HEADER_LEN 8
/* Largest payload any layer sends: a handshake with two certificate chains
 * and 16 wrapped splits fits with room to spare. */
#define PED_FRAME_MAX_PAYLOAD (64u * 1024u)

struct ped_frame {
	uint8_t type;
	uint32_t len;
	const uint8_t *payload; /* valid until the next call on the decoder */
};

struct ped_frame_decoder {
	uint32_t max_payload;
	uint8_t header[PED_FRAME_HEADER_LEN];
	size_t header_have;
	uint8_t *buf; /* payload being assembled */
	size_t buf_cap;
	size_t payload_have;
	uint32_t payload_len;
	uint8_t type;
	int error; /* sticky: once a stream is bad it stays bad */
};

/* Writes the 8-byte header for a payload of len bytes. */
void ped_frame_header_encode(uint8_t type, uint32_t len, uint8_t out[PED_FRAME_HEADER_LEN]);

/* Writes header and payload into out (cap bytes); *out_len gets the total.
 * PED_E_FRAME_OVERSIZE if len exceeds PED_FRAME_MAX_PAYLOAD, PED_E_INVALID if
 * out is too small. */
int ped_frame_encode(uint8_t type, const void *payload, size_t len, uint8_t *out, size_t cap,
		     size_t *out_len);

/* Checks a header alone: PED_E_FRAME_MAGIC, _VERSION or _OVERSIZE, else 0. */
int ped_frame_header_check(const uint8_t header[PED_FRAME_HEADER_LEN], uint32_t max_payload,
			   uint8_t *type, uint32_t *len);

/* One-shot decoding of a complete buffer: returns 0 with *used bytes
 * consumed, PED_E_FRAME_TRUNCATED if the buffer ends inside the frame, or a
 * header error. */
int ped_frame_decode(const uint8_t *in, size_t in_len, uint32_t max_payload,
		     struct ped_frame *frame, size_t *used);

/* Incremental decoding from a stream delivered in arbitrary pieces. */
void ped_frame_decoder_init(struct ped_frame_decoder *d, uint32_t max_payload);
/* Consumes input up to the end of the next frame. Returns 1 when *frame is
 * complete, 0 when all input was consumed and more is needed, or a negative
 * error (sticky). *used is set in every case. */
int ped_frame_decoder_feed(struct ped_frame_decoder *d, const uint8_t *in, size_t in_len,
			   size_t *used, struct ped_frame *frame);
/* At end of stream: PED_E_FRAME_TRUNCATED if a frame was left incomplete. */
int ped_frame_decoder_finish(const struct ped_frame_decoder *d);
/* Forgets any partial frame and error; keeps the buffer. */
void ped_frame_decoder_reset(struct ped_frame_decoder *d);
/* Wipes and frees the buffer. */
void ped_frame_decoder_free(struct ped_frame_decoder *d);

#endif
