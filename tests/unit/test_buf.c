/* ped/buf.h: big-endian integers in place, the writer and the reader
 * (bounds, truncation, trailing bytes, every length field's limit). */
#include "unit.h"

#include "ped/buf.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <string.h>

static void be_integers_in_place(void)
{
	static const uint8_t b[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
	uint8_t out[9];

	CU_ASSERT_EQUAL(ped_be16_get(b), 0x0123);
	CU_ASSERT_EQUAL(ped_be32_get(b), 0x01234567u);
	CU_ASSERT_EQUAL(ped_be64_get(b), 0x0123456789abcdefull);
	/* the top bit survives every width (no sign extension) */
	memset(out, 0xff, sizeof(out));
	CU_ASSERT_EQUAL(ped_be16_get(out), 0xffff);
	CU_ASSERT_EQUAL(ped_be32_get(out), 0xffffffffu);
	CU_ASSERT_EQUAL(ped_be64_get(out), UINT64_MAX);

	/* a put writes its width and not a byte more */
	memset(out, 0xee, sizeof(out));
	ped_be16_put(out, 0x0123);
	CU_ASSERT(!memcmp(out, b, 2) && out[2] == 0xee);
	memset(out, 0xee, sizeof(out));
	ped_be32_put(out, 0x01234567u);
	CU_ASSERT(!memcmp(out, b, 4) && out[4] == 0xee);
	memset(out, 0xee, sizeof(out));
	ped_be64_put(out, 0x0123456789abcdefull);
	CU_ASSERT(!memcmp(out, b, 8) && out[8] == 0xee);
}

static void writer_lays_out_big_endian(void)
{
	static const uint8_t want[] = {0x7f, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 1, 0,
				       0x02, 'h', 'i', 0x00, 0x01, 'x', 0, 0, 0, 0};
	struct ped_wbuf w;
	uint8_t *p = NULL;
	size_t len = 0;

	ped_wbuf_init(&w, 64);
	ped_wbuf_u8(&w, 0x7f);
	ped_wbuf_u16(&w, 0x1234);
	ped_wbuf_u32(&w, 0xdeadbeefu);
	ped_wbuf_u64(&w, 0x100);
	ped_wbuf_lv8(&w, "hi", 2);
	ped_wbuf_lv16(&w, "x", 1);
	ped_wbuf_lv32(&w, NULL, 0);
	CU_ASSERT_EQUAL_FATAL(ped_wbuf_take(&w, &p, &len), PED_OK);
	CU_ASSERT_EQUAL(len, sizeof(want));
	CU_ASSERT(!memcmp(p, want, sizeof(want)));
	OPENSSL_clear_free(p, len);
}

static void writer_stops_at_its_maximum(void)
{
	struct ped_wbuf w;
	uint8_t *p = NULL;
	size_t len = 0;

	/* exactly max bytes is fine, in several growths */
	ped_wbuf_init(&w, 1000);
	for (int i = 0; i < 250; i++)
		ped_wbuf_u32(&w, (uint32_t)i);
	CU_ASSERT_EQUAL_FATAL(ped_wbuf_take(&w, &p, &len), PED_OK);
	CU_ASSERT_EQUAL(len, 1000);
	CU_ASSERT_EQUAL(ped_be32_get(p + 996), 249);
	OPENSSL_clear_free(p, len);

	/* one byte more is an error, and the error sticks */
	ped_wbuf_init(&w, 3);
	ped_wbuf_u16(&w, 1);
	ped_wbuf_u16(&w, 2);
	CU_ASSERT_EQUAL(w.err, PED_E_INVALID);
	ped_wbuf_u8(&w, 3); /* would fit, but the message is already bad */
	CU_ASSERT_EQUAL(w.len, 2);
	p = (uint8_t *)"untouched";
	CU_ASSERT_EQUAL(ped_wbuf_take(&w, &p, &len), PED_E_INVALID);
	CU_ASSERT_STRING_EQUAL((const char *)p, "untouched");
	CU_ASSERT_PTR_NULL(w.p); /* freed */
}

static void writer_lengths_must_fit_their_field(void)
{
	static uint8_t big[65536];
	struct ped_wbuf w;

	ped_wbuf_init(&w, sizeof(big) + 8);
	ped_wbuf_lv8(&w, big, 255);
	CU_ASSERT_EQUAL(w.err, 0);
	CU_ASSERT_EQUAL(w.len, 256);
	ped_wbuf_lv8(&w, big, 256); /* never a truncated length */
	CU_ASSERT_EQUAL(w.err, PED_E_INVALID);
	CU_ASSERT_EQUAL(w.len, 256);
	ped_wbuf_free(&w);

	ped_wbuf_init(&w, sizeof(big) + 8);
	ped_wbuf_lv16(&w, big, 65535);
	CU_ASSERT_EQUAL(w.err, 0);
	ped_wbuf_free(&w);
	ped_wbuf_init(&w, sizeof(big) + 8);
	ped_wbuf_lv16(&w, big, 65536);
	CU_ASSERT_EQUAL(w.err, PED_E_INVALID);
	CU_ASSERT_EQUAL(w.len, 0);
	ped_wbuf_free(&w);

	ped_wbuf_init(&w, sizeof(big) + 8);
	ped_wbuf_lv32(&w, big, sizeof(big));
	CU_ASSERT_EQUAL(w.err, 0);
	CU_ASSERT_EQUAL(w.len, 4 + sizeof(big));
	ped_wbuf_free(&w);
	CU_ASSERT_PTR_NULL(w.p);
	CU_ASSERT_EQUAL(w.len, 0);
}

static void fixed_writer_uses_the_callers_memory(void)
{
	uint8_t mem[6], *p = NULL;
	struct ped_wbuf w;
	size_t len = 0;

	memset(mem, 0xee, sizeof(mem));
	ped_wbuf_init_fixed(&w, mem, sizeof(mem));
	ped_wbuf_u16(&w, 0xabcd);
	ped_wbuf_lv8(&w, "xyz", 3);
	CU_ASSERT_EQUAL_FATAL(ped_wbuf_take(&w, &p, &len), PED_OK);
	CU_ASSERT_PTR_EQUAL(p, mem);
	CU_ASSERT_EQUAL(len, 6);
	CU_ASSERT(!memcmp(mem, "\xab\xcd\x03xyz", 6));

	/* it never grows past the caller's memory; a failed message is wiped */
	ped_wbuf_init_fixed(&w, mem, sizeof(mem));
	ped_wbuf_u32(&w, 0x01020304);
	ped_wbuf_u32(&w, 0x05060708);
	CU_ASSERT_EQUAL(w.err, PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_wbuf_take(&w, &p, &len), PED_E_INVALID);
	for (size_t i = 0; i < sizeof(mem); i++)
		CU_ASSERT_EQUAL(mem[i], 0);

	/* free wipes without freeing */
	ped_wbuf_init_fixed(&w, mem, sizeof(mem));
	ped_wbuf_bytes(&w, "secret", 6);
	ped_wbuf_free(&w);
	for (size_t i = 0; i < sizeof(mem); i++)
		CU_ASSERT_EQUAL(mem[i], 0);

	/* a zero-sized one takes nothing */
	ped_wbuf_init_fixed(&w, mem, 0);
	ped_wbuf_u8(&w, 1);
	CU_ASSERT_EQUAL(ped_wbuf_take(&w, &p, &len), PED_E_INVALID);
}

static void reader_reads_what_the_writer_wrote(void)
{
	struct ped_wbuf w;
	struct ped_rbuf r;
	uint8_t *p = NULL;
	const uint8_t *b;
	size_t len = 0, n = 0;
	char txt[9];

	ped_wbuf_init(&w, 256);
	ped_wbuf_u8(&w, 0x80);
	ped_wbuf_u16(&w, 0x8001);
	ped_wbuf_u32(&w, 0x80000001u);
	ped_wbuf_u64(&w, 0x8000000000000001ull);
	ped_wbuf_lv8(&w, "abc", 3);
	ped_wbuf_lv16(&w, "defg", 4);
	ped_wbuf_lv32(&w, "h", 1);
	ped_wbuf_lv8(&w, "text 8", 6);
	ped_wbuf_lv16(&w, "text 16!", 8);
	CU_ASSERT_EQUAL_FATAL(ped_wbuf_take(&w, &p, &len), PED_OK);

	ped_rbuf_init(&r, p, len);
	CU_ASSERT_EQUAL(ped_rbuf_u8(&r), 0x80);
	CU_ASSERT_EQUAL(ped_rbuf_u16(&r), 0x8001);
	CU_ASSERT_EQUAL(ped_rbuf_u32(&r), 0x80000001u);
	CU_ASSERT_EQUAL(ped_rbuf_u64(&r), 0x8000000000000001ull);
	b = ped_rbuf_lv8(&r, 3, &n);
	CU_ASSERT(b && n == 3 && !memcmp(b, "abc", 3));
	b = ped_rbuf_lv16(&r, 4, &n);
	CU_ASSERT(b && n == 4 && !memcmp(b, "defg", 4));
	b = ped_rbuf_lv32(&r, 1, &n);
	CU_ASSERT(b && n == 1 && b[0] == 'h');
	CU_ASSERT_EQUAL(ped_rbuf_text8(&r, txt, 6), PED_OK);
	CU_ASSERT_STRING_EQUAL(txt, "text 8");
	CU_ASSERT_EQUAL(ped_rbuf_text16(&r, txt, 8), PED_OK);
	CU_ASSERT_STRING_EQUAL(txt, "text 16!");
	CU_ASSERT_EQUAL(ped_rbuf_end(&r), PED_OK);
	OPENSSL_clear_free(p, len);
}

static void reader_refuses_every_truncation(void)
{
	static const uint8_t msg[] = {1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4, 2, 'a', 'b'};
	for (size_t cut = 0; cut < sizeof(msg); cut++) {
		struct ped_rbuf r;
		size_t n = 99;
		ped_rbuf_init(&r, msg, cut);
		(void)ped_rbuf_u8(&r);
		(void)ped_rbuf_u16(&r);
		(void)ped_rbuf_u32(&r);
		(void)ped_rbuf_u64(&r);
		const uint8_t *b = ped_rbuf_lv8(&r, 2, &n);
		CU_ASSERT_PTR_NULL(b);
		CU_ASSERT_EQUAL(r.err, PED_E_INVALID);
		CU_ASSERT_EQUAL(ped_rbuf_end(&r), PED_E_INVALID);
		CU_ASSERT(r.off <= cut);
	}
	/* a short integer reads as 0 and sets the error; later reads stay 0 */
	struct ped_rbuf r;
	ped_rbuf_init(&r, msg + 1, 3);
	CU_ASSERT_EQUAL(ped_rbuf_u32(&r), 0);
	CU_ASSERT_EQUAL(r.err, PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_rbuf_u8(&r), 0);
	CU_ASSERT_EQUAL(ped_rbuf_u16(&r), 0);
	CU_ASSERT_PTR_NULL(ped_rbuf_bytes(&r, 0));
	/* nothing at all */
	ped_rbuf_init(&r, NULL, 0);
	CU_ASSERT_EQUAL(ped_rbuf_end(&r), PED_OK);
	CU_ASSERT_EQUAL(ped_rbuf_u64(&r), 0);
	CU_ASSERT_EQUAL(ped_rbuf_end(&r), PED_E_INVALID);
}

static void reader_refuses_trailing_bytes(void)
{
	static const uint8_t msg[] = {0, 1, 'x', 0};
	struct ped_rbuf r;
	size_t n = 0;
	ped_rbuf_init(&r, msg, sizeof(msg));
	CU_ASSERT_PTR_NOT_NULL(ped_rbuf_lv16(&r, 8, &n));
	CU_ASSERT_EQUAL(r.err, 0);
	CU_ASSERT_EQUAL(ped_rbuf_end(&r), PED_E_INVALID);
	(void)ped_rbuf_u8(&r);
	CU_ASSERT_EQUAL(ped_rbuf_end(&r), PED_OK);
}

/* Each length field: at its max, one over, and one that runs past the end. */
static void reader_lengths_have_limits(void)
{
	static uint8_t msg[4 + 300];
	struct ped_rbuf r;
	size_t n = 0;

	memset(msg, 'a', sizeof(msg));
	msg[0] = 200;
	ped_rbuf_init(&r, msg, 1 + 200);
	CU_ASSERT_PTR_NOT_NULL(ped_rbuf_lv8(&r, 200, &n));
	CU_ASSERT_EQUAL(n, 200);
	CU_ASSERT_EQUAL(ped_rbuf_end(&r), PED_OK);
	ped_rbuf_init(&r, msg, 1 + 200);
	CU_ASSERT_PTR_NULL(ped_rbuf_lv8(&r, 199, &n));
	CU_ASSERT_EQUAL(r.err, PED_E_INVALID);
	ped_rbuf_init(&r, msg, 200);
	CU_ASSERT_PTR_NULL(ped_rbuf_lv8(&r, 255, &n));
	CU_ASSERT_EQUAL(r.err, PED_E_INVALID);

	ped_be16_put(msg, 300);
	ped_rbuf_init(&r, msg, 2 + 300);
	CU_ASSERT_PTR_NOT_NULL(ped_rbuf_lv16(&r, 300, &n));
	CU_ASSERT_EQUAL(n, 300);
	ped_rbuf_init(&r, msg, 2 + 300);
	CU_ASSERT_PTR_NULL(ped_rbuf_lv16(&r, 299, &n));
	ped_rbuf_init(&r, msg, 2 + 299);
	CU_ASSERT_PTR_NULL(ped_rbuf_lv16(&r, 65535, &n));

	ped_be32_put(msg, 300);
	ped_rbuf_init(&r, msg, 4 + 300);
	CU_ASSERT_PTR_NOT_NULL(ped_rbuf_lv32(&r, 300, &n));
	CU_ASSERT_EQUAL(ped_rbuf_end(&r), PED_OK);
	ped_rbuf_init(&r, msg, 4 + 300);
	CU_ASSERT_PTR_NULL(ped_rbuf_lv32(&r, 299, &n));
	/* a huge length is refused by its max, not by an overflowing sum */
	ped_be32_put(msg, 0xffffffffu);
	ped_rbuf_init(&r, msg, sizeof(msg));
	CU_ASSERT_PTR_NULL(ped_rbuf_lv32(&r, SIZE_MAX, &n));
	CU_ASSERT_EQUAL(r.err, PED_E_INVALID);
}

static void text_is_printable_ascii_within_max(void)
{
	uint8_t msg[8];
	char out[6];
	struct ped_rbuf r;

	/* the printable range's edges, at the max */
	memcpy(msg, "\x05 ~AZ~", 6);
	ped_rbuf_init(&r, msg, 6);
	CU_ASSERT_EQUAL(ped_rbuf_text8(&r, out, 5), PED_OK);
	CU_ASSERT_STRING_EQUAL(out, " ~AZ~");
	/* one over the max */
	ped_rbuf_init(&r, msg, 6);
	CU_ASSERT_EQUAL(ped_rbuf_text8(&r, out, 4), PED_E_INVALID);
	CU_ASSERT_STRING_EQUAL(out, "");
	/* empty text is text */
	msg[0] = 0;
	ped_rbuf_init(&r, msg, 1);
	CU_ASSERT_EQUAL(ped_rbuf_text8(&r, out, 5), PED_OK);
	CU_ASSERT_STRING_EQUAL(out, "");
	/* control, DEL, 8-bit, NUL */
	static const uint8_t bad[] = {0x00, 0x1f, 0x7f, 0x80, 0xff, '\n'};
	for (size_t i = 0; i < sizeof(bad); i++) {
		memcpy(msg, "\x00\x03" "abc", 5);
		msg[3] = bad[i];
		ped_rbuf_init(&r, msg, 5);
		CU_ASSERT_EQUAL(ped_rbuf_text16(&r, out, 5), PED_E_INVALID);
		CU_ASSERT_STRING_EQUAL(out, "");
		CU_ASSERT_EQUAL(ped_rbuf_end(&r), PED_E_INVALID);
	}
	/* truncated */
	ped_rbuf_init(&r, msg, 4);
	CU_ASSERT_EQUAL(ped_rbuf_text16(&r, out, 5), PED_E_INVALID);
	CU_ASSERT_STRING_EQUAL(out, "");
}

UNIT_SUITE(buf, NULL, NULL, UNIT_TEST(be_integers_in_place), UNIT_TEST(writer_lays_out_big_endian),
	   UNIT_TEST(writer_stops_at_its_maximum), UNIT_TEST(writer_lengths_must_fit_their_field),
	   UNIT_TEST(fixed_writer_uses_the_callers_memory), UNIT_TEST(reader_reads_what_the_writer_wrote),
	   UNIT_TEST(reader_refuses_every_truncation), UNIT_TEST(reader_refuses_trailing_bytes),
	   UNIT_TEST(reader_lengths_have_limits), UNIT_TEST(text_is_printable_ascii_within_max))
