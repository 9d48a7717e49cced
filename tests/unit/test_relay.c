/* ped/relay.h: the relay control message, its one layout and its decoder's
 * bounds (truncation, trailing bytes, each field's limit, unprintable text). */
#include "unit.h"

#include "ped/error.h"
#include "ped/link.h"
#include "ped/relay.h"

#include <string.h>

static const size_t field_max[4] = {PED_RELAY_ID_MAX, PED_RELAY_VERSION_MAX, PED_RELAY_HOST_MAX,
				    PED_RELAY_INFO_MAX};

static char *field(struct ped_relay_msg *m, int i)
{
	char *const f[4] = {m->id, m->version, m->host, m->info};
	return f[i];
}

/* Every string field at its longest. */
static void fill_longest(struct ped_relay_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->role = PED_RELAY_ROLE_CLIENT;
	m->purpose = PED_RELAY_SESSION;
	m->auth = PED_RELAY_AUTH_OTP;
	m->flags = PED_RELAY_F_2E2S | PED_RELAY_F_BUSY;
	m->port = 0xfedc;
	m->code = 0xc0000500u;
	for (int i = 0; i < 4; i++) {
		memset(field(m, i), 'a' + i, field_max[i]);
		field(m, i)[field_max[i]] = '\0';
	}
}

/* A message by hand: the fixed part, then four lv8 strings. */
static size_t build(uint8_t *out, const char *const s[4])
{
	static const uint8_t fixed[10] = {1, 1, 0, 0, 0x05, 0xdf, 0x80, 0x00, 0x00, 0x2e};
	size_t n = sizeof(fixed);
	memcpy(out, fixed, n);
	for (int i = 0; i < 4; i++) {
		size_t l = strlen(s[i]);
		out[n++] = (uint8_t)l;
		memcpy(out + n, s[i], l);
		n += l;
	}
	return n;
}

static void layout_is_the_documented_one(void)
{
	static const char *const s[4] = {"PED1", "0.1.0", "", "x y"};
	uint8_t want[64], out[PED_RELAY_MSG_MAX];
	struct ped_relay_msg m;
	size_t n = build(want, s), len = 0;

	CU_ASSERT_EQUAL_FATAL(ped_relay_decode(want, n, &m), PED_OK);
	CU_ASSERT_EQUAL(m.role, PED_RELAY_ROLE_PED);
	CU_ASSERT_EQUAL(m.purpose, PED_RELAY_SESSION);
	CU_ASSERT_EQUAL(m.port, 1503);
	CU_ASSERT_EQUAL(m.code, 0x8000002eu);
	CU_ASSERT_STRING_EQUAL(m.id, "PED1");
	CU_ASSERT_STRING_EQUAL(m.version, "0.1.0");
	CU_ASSERT_STRING_EQUAL(m.host, "");
	CU_ASSERT_STRING_EQUAL(m.info, "x y");
	CU_ASSERT_EQUAL(ped_relay_encode(&m, out, sizeof(out), &len), PED_OK);
	CU_ASSERT_EQUAL(len, n);
	CU_ASSERT(!memcmp(out, want, n));
}

static void longest_message_round_trips(void)
{
	struct ped_relay_msg m, back;
	uint8_t out[PED_RELAY_MSG_MAX];
	size_t len = 0;

	fill_longest(&m);
	CU_ASSERT_EQUAL_FATAL(ped_relay_encode(&m, out, sizeof(out), &len), PED_OK);
	CU_ASSERT_EQUAL(len, 10 + 4 + PED_RELAY_ID_MAX + PED_RELAY_VERSION_MAX + PED_RELAY_HOST_MAX +
				     PED_RELAY_INFO_MAX);
	CU_ASSERT(len <= PED_RELAY_MSG_MAX);
	CU_ASSERT_EQUAL_FATAL(ped_relay_decode(out, len, &back), PED_OK);
	CU_ASSERT(!memcmp(&m, &back, sizeof(m)));
}

static void every_truncation_is_refused(void)
{
	struct ped_relay_msg m;
	uint8_t out[PED_RELAY_MSG_MAX];
	size_t len = 0;

	fill_longest(&m);
	CU_ASSERT_EQUAL_FATAL(ped_relay_encode(&m, out, sizeof(out), &len), PED_OK);
	for (size_t cut = 0; cut < len; cut++) {
		struct ped_relay_msg got;
		memset(&got, 0x55, sizeof(got));
		CU_ASSERT_EQUAL(ped_relay_decode(out, cut, &got), PED_E_INVALID);
		/* nothing half-decoded is left behind */
		CU_ASSERT_EQUAL(got.code, 0);
		CU_ASSERT_EQUAL(got.id[0], '\0');
	}
	/* the empty message too (no bytes to point at) */
	CU_ASSERT_EQUAL(ped_relay_decode(NULL, 0, &m), PED_E_INVALID);
}

static void trailing_bytes_are_refused(void)
{
	static const char *const s[4] = {"a", "b", "c", "d"};
	uint8_t msg[PED_RELAY_MSG_MAX + 8];
	struct ped_relay_msg m;
	size_t n = build(msg, s);

	msg[n] = 0;
	CU_ASSERT_EQUAL(ped_relay_decode(msg, n, &m), PED_OK);
	CU_ASSERT_EQUAL(ped_relay_decode(msg, n + 1, &m), PED_E_INVALID);
	/* a message over the maximum, whatever it holds */
	memset(msg, 0, sizeof(msg));
	CU_ASSERT_EQUAL(ped_relay_decode(msg, PED_RELAY_MSG_MAX, &m), PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_relay_decode(msg, PED_RELAY_MSG_MAX + 1, &m), PED_E_INVALID);
}

/* Each string at its limit decodes, one byte over does not (the other
 * fields short, so the message stays under PED_RELAY_MSG_MAX). */
static void each_field_has_its_limit(void)
{
	static char longer[PED_RELAY_INFO_MAX + 2];
	uint8_t msg[PED_RELAY_MSG_MAX + 8];
	struct ped_relay_msg m;

	for (int i = 0; i < 4; i++) {
		const char *s[4] = {"i", "v", "h", "n"};
		memset(longer, 'z', field_max[i]);
		longer[field_max[i]] = '\0';
		s[i] = longer;
		size_t n = build(msg, s);
		CU_ASSERT_EQUAL(ped_relay_decode(msg, n, &m), PED_OK);
		CU_ASSERT_EQUAL(strlen(field(&m, i)), field_max[i]);

		longer[field_max[i]] = 'z';
		longer[field_max[i] + 1] = '\0';
		n = build(msg, s);
		CU_ASSERT_EQUAL(ped_relay_decode(msg, n, &m), PED_E_INVALID);
	}
}

static void unprintable_text_is_refused(void)
{
	static const uint8_t bad[] = {0x00, 0x09, 0x1f, 0x7f, 0x80, 0xff};
	uint8_t msg[PED_RELAY_MSG_MAX];
	struct ped_relay_msg m;

	for (int i = 0; i < 4; i++)
		for (size_t b = 0; b < sizeof(bad); b++) {
			const char *s[4] = {"id", "ver", "host", "info"};
			size_t n = build(msg, s), off = 10;
			for (int j = 0; j < i; j++)
				off += 1 + strlen(s[j]);
			msg[off + 2] = bad[b]; /* the field's second character */
			CU_ASSERT_EQUAL(ped_relay_decode(msg, n, &m), PED_E_INVALID);
			CU_ASSERT_EQUAL(m.id[0], '\0');
		}
	/* the printable range's ends are text */
	const char *s[4] = {" ~", "~ ", " ", "~"};
	size_t n = build(msg, s);
	CU_ASSERT_EQUAL(ped_relay_decode(msg, n, &m), PED_OK);
	CU_ASSERT_STRING_EQUAL(m.id, " ~");
}

static void encoder_stays_in_its_buffer(void)
{
	struct ped_relay_msg m;
	uint8_t out[PED_RELAY_MSG_MAX + 1];
	size_t len = 0, need = 0;

	fill_longest(&m);
	CU_ASSERT_EQUAL_FATAL(ped_relay_encode(&m, out, sizeof(out), &need), PED_OK);
	for (size_t cap = 0; cap < need; cap++) {
		memset(out, 0xee, sizeof(out));
		len = 12345;
		CU_ASSERT_EQUAL(ped_relay_encode(&m, out, cap, &len), PED_E_INVALID);
		CU_ASSERT_EQUAL(len, 12345);
		CU_ASSERT_EQUAL(out[cap], 0xee);
	}
	CU_ASSERT_EQUAL(ped_relay_encode(&m, out, need, &len), PED_OK);
	CU_ASSERT_EQUAL(len, need);
}

static void control_types_are_named(void)
{
	CU_ASSERT(ped_relay_is_control(PED_RELAY_HELLO));
	CU_ASSERT(ped_relay_is_control(PED_RELAY_STATUS));
	CU_ASSERT(!ped_relay_is_control(PED_RELAY_HELLO - 1));
	CU_ASSERT(!ped_relay_is_control(PED_RELAY_STATUS + 1));
	CU_ASSERT_STRING_EQUAL(ped_relay_type_name(PED_RELAY_BYE), "BYE");
	CU_ASSERT_STRING_EQUAL(ped_relay_type_name(PED_RELAY_STATUS), "STATUS");
	CU_ASSERT_STRING_EQUAL(ped_relay_type_name(PED_LINK_KAS), "KAS");
	CU_ASSERT_STRING_EQUAL(ped_relay_type_name(PED_LINK_RECORD), "RECORD");
	CU_ASSERT_STRING_EQUAL(ped_relay_type_name(0xff), "unknown");
}

UNIT_SUITE(relay, NULL, NULL, UNIT_TEST(layout_is_the_documented_one), UNIT_TEST(longest_message_round_trips),
	   UNIT_TEST(every_truncation_is_refused), UNIT_TEST(trailing_bytes_are_refused),
	   UNIT_TEST(each_field_has_its_limit), UNIT_TEST(unprintable_text_is_refused),
	   UNIT_TEST(encoder_stays_in_its_buffer), UNIT_TEST(control_types_are_named))
