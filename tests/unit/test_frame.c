#include "unit.h"

#include "ped/error.h"
#include "ped/frame.h"

#include <stdlib.h>
#include <string.h>

static size_t make_frame(uint8_t type, size_t len, uint8_t *out, size_t cap)
{
	uint8_t payload[512];
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(i * 7 + type);
	CU_ASSERT_EQUAL_FATAL(ped_frame_encode(type, payload, len, out, cap, &n), PED_OK);
	return n;
}

static void encode_decode_round_trip(void)
{
	uint8_t buf[600];
	struct ped_frame f;
	size_t used;
	for (size_t len = 0; len <= 512; len += 37) {
		size_t n = make_frame(9, len, buf, sizeof(buf));
		CU_ASSERT_EQUAL(n, PED_FRAME_HEADER_LEN + len);
		CU_ASSERT_EQUAL(buf[0], 'P');
		CU_ASSERT_EQUAL(buf[1], 'D');
		CU_ASSERT_EQUAL(ped_frame_decode(buf, n, 0, &f, &used), PED_OK);
		CU_ASSERT_EQUAL(used, n);
		CU_ASSERT_EQUAL(f.type, 9);
		CU_ASSERT_EQUAL(f.len, len);
		for (size_t i = 0; i < len; i++)
			CU_ASSERT_EQUAL(f.payload[i], (uint8_t)(i * 7 + 9));
	}
}

static void every_truncation_is_reported(void)
{
	uint8_t buf[300];
	size_t n = make_frame(3, 200, buf, sizeof(buf));
	for (size_t cut = 0; cut < n; cut++) {
		struct ped_frame f;
		struct ped_frame_decoder d;
		size_t used;
		CU_ASSERT_EQUAL(ped_frame_decode(buf, cut, 0, &f, &used), PED_E_FRAME_TRUNCATED);
		ped_frame_decoder_init(&d, 0);
		CU_ASSERT_EQUAL(ped_frame_decoder_feed(&d, buf, cut, &used, &f), 0);
		CU_ASSERT_EQUAL(used, cut);
		CU_ASSERT_EQUAL(ped_frame_decoder_finish(&d), cut ? PED_E_FRAME_TRUNCATED : PED_OK);
		ped_frame_decoder_free(&d);
	}
}

static void bad_headers_are_named(void)
{
	uint8_t buf[64];
	struct ped_frame f;
	struct ped_frame_decoder d;
	size_t used;
	size_t n = make_frame(1, 10, buf, sizeof(buf));

	buf[0] = 'X';
	CU_ASSERT_EQUAL(ped_frame_decode(buf, n, 0, &f, &used), PED_E_FRAME_MAGIC);
	/* a decoder rejects a bad first byte without waiting for a whole header */
	ped_frame_decoder_init(&d, 0);
	CU_ASSERT_EQUAL(ped_frame_decoder_feed(&d, buf, 1, &used, &f), PED_E_FRAME_MAGIC);
	/* and the error sticks */
	buf[0] = 'P';
	CU_ASSERT_EQUAL(ped_frame_decoder_feed(&d, buf, n, &used, &f), PED_E_FRAME_MAGIC);
	ped_frame_decoder_free(&d);

	buf[2] = 2;
	CU_ASSERT_EQUAL(ped_frame_decode(buf, n, 0, &f, &used), PED_E_FRAME_VERSION);
	ped_frame_decoder_init(&d, 0);
	CU_ASSERT_EQUAL(ped_frame_decoder_feed(&d, buf, 3, &used, &f), PED_E_FRAME_VERSION);
	ped_frame_decoder_free(&d);
}

static void oversize_lengths_are_refused_before_allocation(void)
{
	uint8_t hdr[PED_FRAME_HEADER_LEN];
	struct ped_frame f;
	struct ped_frame_decoder d;
	size_t used;
	uint32_t lens[] = {PED_FRAME_MAX_PAYLOAD + 1, 0x7fffffffu, 0xffffffffu};

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		ped_frame_header_encode(4, lens[i], hdr);
		CU_ASSERT_EQUAL(ped_frame_decode(hdr, sizeof(hdr), 0, &f, &used), PED_E_FRAME_OVERSIZE);
		ped_frame_decoder_init(&d, 0);
		CU_ASSERT_EQUAL(ped_frame_decoder_feed(&d, hdr, sizeof(hdr), &used, &f),
				PED_E_FRAME_OVERSIZE);
		CU_ASSERT_PTR_NULL(d.buf);
		ped_frame_decoder_free(&d);
	}
	/* refused at the length byte that settles it, not after the whole
	 * header: a peer that sends 50 44 01 10 ff and stalls gets an error,
	 * not a timeout (protocol.md section 1) */
	ped_frame_header_encode(4, 0xff000000u, hdr);
	CU_ASSERT_EQUAL(ped_frame_decode(hdr, 5, 0, &f, &used), PED_E_FRAME_OVERSIZE);
	ped_frame_decoder_init(&d, 0);
	for (size_t i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(ped_frame_decoder_feed(&d, hdr + i, 1, &used, &f), 0);
	CU_ASSERT_EQUAL(ped_frame_decoder_feed(&d, hdr + 4, 1, &used, &f), PED_E_FRAME_OVERSIZE);
	ped_frame_decoder_free(&d);
	ped_frame_header_encode(4, 100, hdr); /* a small length waits for its last byte */
	CU_ASSERT_EQUAL(ped_frame_decode(hdr, 7, 0, &f, &used), PED_E_FRAME_TRUNCATED);
	/* a decoder's own lower limit applies too */
	ped_frame_header_encode(4, 101, hdr);
	ped_frame_decoder_init(&d, 100);
	CU_ASSERT_EQUAL(ped_frame_decoder_feed(&d, hdr, sizeof(hdr), &used, &f), PED_E_FRAME_OVERSIZE);
	ped_frame_decoder_free(&d);
	/* the encoder refuses what no decoder would take */
	static uint8_t big[PED_FRAME_MAX_PAYLOAD + PED_FRAME_HEADER_LEN + 1];
	size_t n;
	CU_ASSERT_EQUAL(ped_frame_encode(1, big, PED_FRAME_MAX_PAYLOAD + 1, big, sizeof(big), &n),
			PED_E_FRAME_OVERSIZE);
	CU_ASSERT_EQUAL(ped_frame_encode(1, big, 10, big, 17, &n), PED_E_INVALID);
}

/* Three frames fed in every chunk size from 1 byte to the whole stream. */
static void stream_in_any_chunking(void)
{
	uint8_t stream[1200];
	size_t total = 0;
	size_t lens[] = {0, 300, 17};
	for (size_t i = 0; i < 3; i++)
		total += make_frame((uint8_t)(i + 1), lens[i], stream + total, sizeof(stream) - total);

	for (size_t chunk = 1; chunk <= total; chunk++) {
		struct ped_frame_decoder d;
		struct ped_frame f;
		size_t pos = 0, seen = 0;
		ped_frame_decoder_init(&d, 0);
		while (pos < total) {
			size_t n = total - pos < chunk ? total - pos : chunk;
			size_t off = 0;
			while (off < n) {
				size_t used;
				int r = ped_frame_decoder_feed(&d, stream + pos + off, n - off, &used, &f);
				CU_ASSERT_FATAL(r >= 0);
				off += used;
				if (r == 1) {
					CU_ASSERT_EQUAL(f.type, seen + 1);
					CU_ASSERT_EQUAL(f.len, lens[seen]);
					if (f.len)
						CU_ASSERT_EQUAL(f.payload[f.len - 1],
								(uint8_t)((f.len - 1) * 7 + f.type));
					seen++;
				} else {
					CU_ASSERT_EQUAL(used, n - off + used);
				}
			}
			pos += n;
		}
		CU_ASSERT_EQUAL(seen, 3);
		CU_ASSERT_EQUAL(ped_frame_decoder_finish(&d), PED_OK);
		ped_frame_decoder_free(&d);
	}
}

static void random_bytes_never_crash(void)
{
	uint8_t buf[4096];
	srand(12345);
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)(rand() % (int)sizeof(buf));
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rand();
		/* half the rounds get a valid prefix, so payload paths run too */
		if (round % 2 && n >= PED_FRAME_HEADER_LEN)
			ped_frame_header_encode(buf[3], (uint32_t)(rand() % 5000), buf);
		struct ped_frame_decoder d;
		struct ped_frame f;
		size_t off = 0, used;
		int r = 0;
		ped_frame_decoder_init(&d, 0);
		while (off < n && r >= 0) {
			r = ped_frame_decoder_feed(&d, buf + off, n - off, &used, &f);
			CU_ASSERT(used <= n - off);
			off += used;
			if (r == 1)
				CU_ASSERT(f.len <= PED_FRAME_MAX_PAYLOAD);
		}
		CU_ASSERT(r >= 0 || r == PED_E_FRAME_MAGIC || r == PED_E_FRAME_VERSION ||
			  r == PED_E_FRAME_OVERSIZE);
		ped_frame_decoder_free(&d);
	}
}

UNIT_SUITE(frame, NULL, NULL, UNIT_TEST(encode_decode_round_trip),
	   UNIT_TEST(every_truncation_is_reported), UNIT_TEST(bad_headers_are_named),
	   UNIT_TEST(oversize_lengths_are_refused_before_allocation),
	   UNIT_TEST(stream_in_any_chunking), UNIT_TEST(random_bytes_never_crash))
