#include "ped/frame.h"

#include "ped/buf.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static uint32_t effective_limit(uint32_t max_payload)
{
	if (max_payload == 0 || max_payload > PED_FRAME_MAX_PAYLOAD)
		return PED_FRAME_MAX_PAYLOAD;
	return max_payload;
}

void ped_frame_header_encode(uint8_t type, uint32_t len, uint8_t out[PED_FRAME_HEADER_LEN])
{
	out[0] = PED_FRAME_MAGIC0;
	out[1] = PED_FRAME_MAGIC1;
	out[2] = PED_FRAME_VERSION;
	out[3] = type;
	ped_be32_put(out + 4, len);
}

int ped_frame_encode(uint8_t type, const void *payload, size_t len, uint8_t *out, size_t cap,
		     size_t *out_len)
{
	if (len > PED_FRAME_MAX_PAYLOAD)
		return PED_E_FRAME_OVERSIZE;
	if (cap < PED_FRAME_HEADER_LEN + len || (len && !payload))
		return PED_E_INVALID;
	ped_frame_header_encode(type, (uint32_t)len, out);
	if (len)
		memcpy(out + PED_FRAME_HEADER_LEN, payload, len);
	*out_len = PED_FRAME_HEADER_LEN + len;
	return PED_OK;
}

int ped_frame_header_check(const uint8_t header[PED_FRAME_HEADER_LEN], uint32_t max_payload,
			   uint8_t *type, uint32_t *len)
{
	uint32_t l = ped_be32_get(header + 4);

	if (header[0] != PED_FRAME_MAGIC0 || header[1] != PED_FRAME_MAGIC1)
		return PED_E_FRAME_MAGIC;
	if (header[2] != PED_FRAME_VERSION)
		return PED_E_FRAME_VERSION;
	if (l > effective_limit(max_payload))
		return PED_E_FRAME_OVERSIZE;
	*type = header[3];
	*len = l;
	return PED_OK;
}

/* A prefix of a header can already be wrong: say so before waiting for more
 * (a length byte that puts the length over the limit whatever follows, too). */
static int header_prefix_check(const uint8_t *h, size_t have, uint32_t max_payload)
{
	uint64_t least = 0;

	if ((have > 0 && h[0] != PED_FRAME_MAGIC0) || (have > 1 && h[1] != PED_FRAME_MAGIC1))
		return PED_E_FRAME_MAGIC;
	if (have > 2 && h[2] != PED_FRAME_VERSION)
		return PED_E_FRAME_VERSION;
	for (size_t i = 4; i < PED_FRAME_HEADER_LEN; i++)
		least = least << 8 | (i < have ? h[i] : 0);
	if (least > effective_limit(max_payload))
		return PED_E_FRAME_OVERSIZE;
	return PED_OK;
}

int ped_frame_decode(const uint8_t *in, size_t in_len, uint32_t max_payload,
		     struct ped_frame *frame, size_t *used)
{
	uint8_t type;
	uint32_t len;
	int r;

	*used = 0;
	if (in_len < PED_FRAME_HEADER_LEN) {
		r = header_prefix_check(in, in_len, max_payload);
		return r ? r : PED_E_FRAME_TRUNCATED;
	}
	if ((r = ped_frame_header_check(in, max_payload, &type, &len)) != PED_OK)
		return r;
	if (in_len - PED_FRAME_HEADER_LEN < len)
		return PED_E_FRAME_TRUNCATED;
	frame->type = type;
	frame->len = len;
	frame->payload = in + PED_FRAME_HEADER_LEN;
	*used = PED_FRAME_HEADER_LEN + len;
	return PED_OK;
}

void ped_frame_decoder_init(struct ped_frame_decoder *d, uint32_t max_payload)
{
	memset(d, 0, sizeof(*d));
	d->max_payload = effective_limit(max_payload);
}

void ped_frame_decoder_reset(struct ped_frame_decoder *d)
{
	d->header_have = 0;
	d->payload_have = 0;
	d->payload_len = 0;
	d->error = 0;
}

void ped_frame_decoder_free(struct ped_frame_decoder *d)
{
	OPENSSL_clear_free(d->buf, d->buf_cap);
	ped_frame_decoder_init(d, d->max_payload);
}

static int reserve(struct ped_frame_decoder *d, size_t need)
{
	size_t cap;
	uint8_t *nb;

	if (need <= d->buf_cap)
		return PED_OK;
	/* Grow geometrically but never past the limit the header was checked against. */
	cap = d->buf_cap ? d->buf_cap : 256;
	while (cap < need)
		cap *= 2;
	if (cap > d->max_payload)
		cap = d->max_payload;
	if ((nb = OPENSSL_malloc(cap)) == NULL)
		return PED_E_HOST_MEMORY;
	/* Old contents are not needed: a new payload starts at offset 0. */
	OPENSSL_clear_free(d->buf, d->buf_cap);
	d->buf = nb;
	d->buf_cap = cap;
	return PED_OK;
}

int ped_frame_decoder_feed(struct ped_frame_decoder *d, const uint8_t *in, size_t in_len,
			   size_t *used, struct ped_frame *frame)
{
	size_t off = 0, take;
	int r;

	*used = 0;
	if (d->error)
		return d->error;

	if (d->header_have == PED_FRAME_HEADER_LEN && d->payload_have == d->payload_len) {
		/* The previous call returned a complete frame: start the next one. */
		d->header_have = 0;
		d->payload_have = 0;
		d->payload_len = 0;
	}

	if (d->header_have < PED_FRAME_HEADER_LEN) {
		take = PED_FRAME_HEADER_LEN - d->header_have;
		if (take > in_len)
			take = in_len;
		memcpy(d->header + d->header_have, in, take);
		d->header_have += take;
		off += take;
		if (d->header_have < PED_FRAME_HEADER_LEN) {
			*used = off;
			if ((r = header_prefix_check(d->header, d->header_have, d->max_payload)) != PED_OK)
				return d->error = r;
			return 0;
		}
		if ((r = ped_frame_header_check(d->header, d->max_payload, &d->type,
						&d->payload_len)) != PED_OK) {
			*used = off;
			return d->error = r;
		}
		if ((r = reserve(d, d->payload_len)) != PED_OK) {
			*used = off;
			return d->error = r;
		}
	}

	take = d->payload_len - d->payload_have;
	if (take > in_len - off)
		take = in_len - off;
	if (take)
		memcpy(d->buf + d->payload_have, in + off, take);
	d->payload_have += take;
	off += take;
	*used = off;

	if (d->payload_have < d->payload_len)
		return 0;
	frame->type = d->type;
	frame->len = d->payload_len;
	frame->payload = d->payload_len ? d->buf : (const uint8_t *)"";
	return 1;
}

int ped_frame_decoder_finish(const struct ped_frame_decoder *d)
{
	if (d->error)
		return d->error;
	if (d->header_have == 0)
		return PED_OK;
	if (d->header_have == PED_FRAME_HEADER_LEN && d->payload_have == d->payload_len)
		return PED_OK;
	return PED_E_FRAME_TRUNCATED;
}
