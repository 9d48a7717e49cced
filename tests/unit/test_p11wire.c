/* ped/p11wire.h: the application protocol's value forms, each encoded by
 * one end and decoded by the other, and every decoder's bounds; a
 * template's whole trip (module -> hsm-sim -> libhsm -> back) through the
 * real object layer. */
#include "unit.h"

#include "hsm/object.h"
#include "ped/error.h"
#include "ped/p11wire.h"

#include <openssl/crypto.h>
#include <string.h>

/* The bytes a writer holds, in a reader. */
static uint8_t *msg;
static size_t msg_len;

static void take(struct ped_wbuf *w, struct ped_rbuf *r)
{
	OPENSSL_clear_free(msg, msg_len);
	msg = NULL;
	msg_len = 0;
	CU_ASSERT_FATAL(ped_wbuf_take(w, &msg, &msg_len) == PED_OK);
	ped_rbuf_init(r, msg, msg_len);
}

static int cleanup(void)
{
	OPENSSL_clear_free(msg, msg_len);
	msg = NULL;
	msg_len = 0;
	return 0;
}

static void greeting_round_trip_and_bounds(void)
{
	struct p11w_hello h = {.version = P11W_VERSION, .pid = 4242, .probe_ms = 1500}, g;
	struct p11w_welcome wl = {.version = 1, .max_payload = P11W_PAYLOAD_MAX}, wg;
	struct ped_wbuf w;
	struct ped_rbuf r;

	memset(h.app_id, 0xa5, sizeof(h.app_id));
	strcpy(h.name, "pkcs11-tool");
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_hello(&w, &h), CKR_OK);
	take(&w, &r);
	/* u16 version, 16 bytes id, u32 pid, lv8 name, u32 probe timeout */
	CU_ASSERT_EQUAL(msg_len, 2 + 16 + 4 + 1 + strlen("pkcs11-tool") + 4);
	CU_ASSERT_EQUAL(p11w_get_hello(msg, msg_len, &g), CKR_OK);
	CU_ASSERT_EQUAL(g.version, P11W_VERSION);
	CU_ASSERT_EQUAL(g.pid, 4242);
	CU_ASSERT(!memcmp(g.app_id, h.app_id, sizeof(h.app_id)));
	CU_ASSERT_STRING_EQUAL(g.name, "pkcs11-tool");
	CU_ASSERT_EQUAL(g.probe_ms, 1500);
	/* an older module's hello (no probe timeout) is one without: 0 */
	CU_ASSERT_EQUAL(p11w_get_hello(msg, msg_len - 4, &g), CKR_OK);
	CU_ASSERT_EQUAL(g.probe_ms, 0);
	CU_ASSERT_STRING_EQUAL(g.name, "pkcs11-tool");
	/* every other truncation and a trailing byte are refused */
	for (size_t n = 0; n < msg_len; n++)
		if (n != msg_len - 4)
			CU_ASSERT_EQUAL(p11w_get_hello(msg, n, &g), CKR_ARGUMENTS_BAD);
	uint8_t longer[128];
	memcpy(longer, msg, msg_len);
	longer[msg_len] = 0;
	CU_ASSERT_EQUAL(p11w_get_hello(longer, msg_len + 1, &g), CKR_ARGUMENTS_BAD);
	/* a name that is not printable goes neither way */
	strcpy(h.name, "bad\nname");
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_hello(&w, &h), CKR_ARGUMENTS_BAD);
	ped_wbuf_free(&w);
	longer[22] = 3;
	memcpy(longer + 23, "a\tb", 3);
	CU_ASSERT_EQUAL(p11w_get_hello(longer, 26, &g), CKR_ARGUMENTS_BAD);

	strcpy(wl.name, "hsm-sim 0.1.0");
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_welcome(&w, &wl), CKR_OK);
	take(&w, &r);
	CU_ASSERT_EQUAL(p11w_get_welcome(msg, msg_len, &wg), CKR_OK);
	CU_ASSERT_EQUAL(wg.max_payload, P11W_PAYLOAD_MAX);
	CU_ASSERT_STRING_EQUAL(wg.name, "hsm-sim 0.1.0");
}

static void headers_and_function_numbers(void)
{
	struct ped_wbuf w;
	struct ped_rbuf r;
	uint32_t id;
	uint16_t fn;
	CK_RV rv;

	/* the numbers are the protocol's: a change breaks every peer */
	CU_ASSERT_EQUAL(P11W_FN_LOGIN, 13);
	CU_ASSERT_EQUAL(P11W_FN_ENCRYPT_FINAL, 27);
	CU_ASSERT_EQUAL(P11W_FN_DECRYPT_INIT, 29);
	CU_ASSERT_EQUAL(P11W_FN_DIGEST_KEY, 36);
	CU_ASSERT_EQUAL(P11W_FN_VERIFY_FINAL, 45);
	CU_ASSERT_EQUAL(P11W_FN_GENERATE_RANDOM, 52);
	CU_ASSERT_STRING_EQUAL(p11w_fn_name(P11W_FN_GET_ATTRIBUTE_VALUE), "GetAttributeValue");
	CU_ASSERT_PTR_NULL(p11w_fn_name(28));
	CU_ASSERT_PTR_NULL(p11w_fn_name(0));
	CU_ASSERT_STRING_EQUAL(p11w_fn_name(P11W_FN_WITH_INIT), "WithInit");
	CU_ASSERT_PTR_NULL(p11w_fn_name(54));
	for (unsigned f = 1; f <= P11W_FN_MAX; f++)
		CU_ASSERT(f == 28 || p11w_fn_name(f) != NULL);

	ped_wbuf_init(&w, 64);
	p11w_put_request_header(&w, 0x01020304, P11W_FN_SIGN);
	take(&w, &r);
	CU_ASSERT_EQUAL(msg_len, 6);
	CU_ASSERT_EQUAL(p11w_get_request_header(&r, &id, &fn), CKR_OK);
	CU_ASSERT_EQUAL(id, 0x01020304);
	CU_ASSERT_EQUAL(fn, P11W_FN_SIGN);

	ped_wbuf_init(&w, 64);
	p11w_put_reply_header(&w, 7, 0x8000002eUL);
	take(&w, &r);
	CU_ASSERT_EQUAL(p11w_get_reply_header(&r, &id, &rv), CKR_OK);
	CU_ASSERT_EQUAL(id, 7);
	CU_ASSERT_EQUAL(rv, 0x8000002eUL);
	ped_rbuf_init(&r, msg, 7);
	CU_ASSERT_EQUAL(p11w_get_reply_header(&r, &id, &rv), CKR_ARGUMENTS_BAD);

	CU_ASSERT(p11w_reply_has_results(P11W_FN_SIGN, CKR_OK));
	CU_ASSERT(p11w_reply_has_results(P11W_FN_SIGN, CKR_BUFFER_TOO_SMALL));
	CU_ASSERT(!p11w_reply_has_results(P11W_FN_SIGN, CKR_KEY_HANDLE_INVALID));
	CU_ASSERT(!p11w_reply_has_results(P11W_FN_LOGIN, CKR_BUFFER_TOO_SMALL));
	CU_ASSERT(p11w_reply_has_results(P11W_FN_GET_ATTRIBUTE_VALUE, CKR_ATTRIBUTE_SENSITIVE));
	CU_ASSERT(p11w_reply_has_results(P11W_FN_GET_ATTRIBUTE_VALUE, CKR_ATTRIBUTE_TYPE_INVALID));
	CU_ASSERT(!p11w_reply_has_results(P11W_FN_GET_ATTRIBUTE_VALUE, CKR_OBJECT_HANDLE_INVALID));
}

static void scalars_pins_and_bytes(void)
{
	struct ped_wbuf w;
	struct ped_rbuf r;
	int present;
	size_t n;
	const uint8_t *p;

	ped_wbuf_init(&w, 256);
	p11w_put_ulong(&w, 5);
	p11w_put_ulong(&w, CK_UNAVAILABLE_INFORMATION);
	p11w_put_bool(&w, 7);
	p11w_put_pin(&w, NULL, 0);
	p11w_put_pin(&w, (const CK_UTF8CHAR *)"1234", 4);
	p11w_put_bytes(&w, "xyz", 3);
	p11w_put_bytes(&w, NULL, 0);
	take(&w, &r);
	CU_ASSERT_EQUAL(p11w_get_ulong(&r), 5);
	/* all ones on the wire, whatever the host's width */
	CU_ASSERT(!memcmp(msg + 8, "\xff\xff\xff\xff\xff\xff\xff\xff", 8));
	CU_ASSERT_EQUAL(p11w_get_ulong(&r), CK_UNAVAILABLE_INFORMATION);
	CU_ASSERT_EQUAL(p11w_get_bool(&r), 1);
	p = p11w_get_pin(&r, &present, &n);
	CU_ASSERT(p == NULL && !present && n == 0);
	p = p11w_get_pin(&r, &present, &n);
	CU_ASSERT(p != NULL && present && n == 4 && !memcmp(p, "1234", 4));
	p = p11w_get_bytes(&r, 3, &n);
	CU_ASSERT(p != NULL && n == 3 && !memcmp(p, "xyz", 3));
	CU_ASSERT_PTR_NULL(p11w_get_bytes(&r, 3, &n));
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(p11w_end(&r), CKR_OK);

	/* a bool of 2, an absent PIN with bytes, bytes over their bound */
	static const uint8_t two[] = {2};
	ped_rbuf_init(&r, two, 1);
	(void)p11w_get_bool(&r);
	CU_ASSERT_EQUAL(p11w_rbuf_rv(&r), CKR_ARGUMENTS_BAD);
	static const uint8_t ghost_pin[] = {0, 0, 0, 0, 1, 'x'};
	ped_rbuf_init(&r, ghost_pin, sizeof(ghost_pin));
	CU_ASSERT_PTR_NULL(p11w_get_pin(&r, &present, &n));
	CU_ASSERT_EQUAL(p11w_rbuf_rv(&r), CKR_ARGUMENTS_BAD);
	ped_wbuf_init(&w, 64);
	p11w_put_bytes(&w, "abcd", 4);
	take(&w, &r);
	CU_ASSERT_PTR_NULL(p11w_get_bytes(&r, 3, &n));
	CU_ASSERT_EQUAL(p11w_rbuf_rv(&r), CKR_ARGUMENTS_BAD);
	/* a PIN longer than the bound is not encoded */
	uint8_t big[P11W_PIN_MAX + 1];
	memset(big, 'a', sizeof(big));
	ped_wbuf_init(&w, 4096);
	p11w_put_pin(&w, big, sizeof(big));
	CU_ASSERT_EQUAL(p11w_wbuf_rv(&w), CKR_ARGUMENTS_BAD);
	ped_wbuf_free(&w);
}

static void output_buffers_follow_the_two_call_convention(void)
{
	struct ped_wbuf w;
	struct ped_rbuf r;
	struct p11w_out o, got;
	uint8_t dst[8];
	CK_ULONG len = 0;

	/* the module asks: present, capacity 8 */
	ped_wbuf_init(&w, 64);
	p11w_put_out(&w, dst, sizeof(dst));
	p11w_put_out(&w, NULL, 99); /* a NULL pointer carries no capacity */
	take(&w, &r);
	CU_ASSERT_EQUAL(p11w_get_out(&r, &o), CKR_OK);
	CU_ASSERT(o.present && o.capacity == 8);
	CU_ASSERT_EQUAL(p11w_get_out(&r, &got), CKR_OK);
	CU_ASSERT(!got.present && got.capacity == 0);

	/* it fits: length and bytes */
	ped_wbuf_init(&w, 64);
	p11w_put_out_result(&w, &o, "abcdef", 6);
	take(&w, &r);
	CU_ASSERT_EQUAL(msg_len, 8 + 4 + 6);
	memset(dst, 0, sizeof(dst));
	CU_ASSERT_EQUAL(p11w_get_out_result(&r, &o, dst, &len), CKR_OK);
	CU_ASSERT(len == 6 && !memcmp(dst, "abcdef", 6));

	/* too small: the length only (CKR_BUFFER_TOO_SMALL's result) */
	ped_wbuf_init(&w, 64);
	p11w_put_out_result(&w, &o, "0123456789", 10);
	take(&w, &r);
	CU_ASSERT_EQUAL(msg_len, 8);
	CU_ASSERT_EQUAL(p11w_get_out_result(&r, &o, dst, &len), CKR_OK);
	CU_ASSERT_EQUAL(len, 10);

	/* length query: no bytes */
	ped_wbuf_init(&w, 64);
	p11w_put_out_result(&w, &got, "abc", 3);
	take(&w, &r);
	CU_ASSERT_EQUAL(p11w_get_out_result(&r, &got, NULL, &len), CKR_OK);
	CU_ASSERT_EQUAL(len, 3);

	/* made in place (hsm-sim's replies): the same bytes as
	 * p11w_put_out_result, after what the reply already holds, the room
	 * left over wiped away */
	{
		struct ped_wbuf a, b;
		size_t at;
		uint8_t *room;
		ped_wbuf_init(&a, 64);
		ped_wbuf_init(&b, 64);
		ped_wbuf_u32(&a, 0x11223344);
		ped_wbuf_u32(&b, 0x11223344);
		p11w_put_out_result(&a, &o, "abcdef", 6);
		room = p11w_out_begin(&b, 8, &at);
		CU_ASSERT_PTR_NOT_NULL_FATAL(room);
		CU_ASSERT_EQUAL(at, 4);
		memcpy(room, "abcdefXY", 8);
		p11w_out_end(&b, at, 6, 1);
		CU_ASSERT(a.len == b.len && !memcmp(a.p, b.p, a.len));
		/* too small: the length alone */
		ped_wbuf_free(&a);
		ped_wbuf_free(&b);
		ped_wbuf_init(&a, 64);
		ped_wbuf_init(&b, 64);
		p11w_put_out_result(&a, &o, "0123456789", 10);
		CU_ASSERT_PTR_NOT_NULL(p11w_out_begin(&b, 8, &at));
		p11w_out_end(&b, at, 10, 0);
		CU_ASSERT(a.len == b.len && !memcmp(a.p, b.p, a.len));
		ped_wbuf_free(&a);
		ped_wbuf_free(&b);
		/* no room: the writer's error, which the reply turns into its rv */
		ped_wbuf_init(&b, 16);
		CU_ASSERT_PTR_NULL(p11w_out_begin(&b, 8, &at));
		CU_ASSERT(b.err != 0);
		p11w_out_end(&b, at, 8, 1);
		CU_ASSERT(b.err != 0);
		ped_wbuf_truncate(&b, 0);
		CU_ASSERT(b.err == 0 && b.len == 0);
		ped_wbuf_free(&b);
	}

	/* a server that sends bytes of another length than it says */
	static const uint8_t liar[] = {0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3, 'a', 'b', 'c'};
	ped_rbuf_init(&r, liar, sizeof(liar));
	CU_ASSERT_EQUAL(p11w_get_out_result(&r, &o, dst, &len), CKR_ARGUMENTS_BAD);
	/* a capacity without a buffer */
	static const uint8_t ghost[] = {0, 0, 0, 0, 0, 0, 0, 0, 9};
	ped_rbuf_init(&r, ghost, sizeof(ghost));
	CU_ASSERT_EQUAL(p11w_get_out(&r, &got), CKR_ARGUMENTS_BAD);
}

static void attribute_forms_table(void)
{
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_CLASS), P11W_FORM_ULONG);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_KEY_TYPE), P11W_FORM_ULONG);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_MODULUS_BITS), P11W_FORM_ULONG);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_VALUE_LEN), P11W_FORM_ULONG);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_KEY_GEN_MECHANISM), P11W_FORM_ULONG);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_CERTIFICATE_CATEGORY), P11W_FORM_ULONG);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_NAME_HASH_ALGORITHM), P11W_FORM_ULONG);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_JAVA_MIDP_SECURITY_DOMAIN), P11W_FORM_ULONG);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_TOKEN), P11W_FORM_BOOL);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_SENSITIVE), P11W_FORM_BOOL);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_ALWAYS_AUTHENTICATE), P11W_FORM_BOOL);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_ALLOWED_MECHANISMS), P11W_FORM_MECHS);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_WRAP_TEMPLATE), P11W_FORM_TEMPLATE);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_DERIVE_TEMPLATE), P11W_FORM_TEMPLATE);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_LABEL), P11W_FORM_BYTES);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_START_DATE), P11W_FORM_BYTES);
	CU_ASSERT_EQUAL(p11w_attr_form(CKA_VENDOR_DEFINED | 5), P11W_FORM_BYTES);
	/* lengths between host and wire */
	CU_ASSERT_EQUAL(p11w_len_to_wire(CKA_CLASS, sizeof(CK_ULONG)), 8);
	CU_ASSERT_EQUAL(p11w_len_to_wire(CKA_CLASS, sizeof(CK_ULONG) - 1), 0);
	CU_ASSERT_EQUAL(p11w_len_to_wire(CKA_ALLOWED_MECHANISMS, 3 * sizeof(CK_ULONG) + 1), 24);
	CU_ASSERT_EQUAL(p11w_len_to_wire(CKA_LABEL, 17), 17);
	CU_ASSERT_EQUAL(p11w_len_to_wire(CKA_LABEL, CK_UNAVAILABLE_INFORMATION), UINT64_MAX);
	CU_ASSERT_EQUAL(p11w_len_to_host(CKA_CLASS, 8), sizeof(CK_ULONG));
	CU_ASSERT_EQUAL(p11w_len_to_host(CKA_ALLOWED_MECHANISMS, 24), 3 * sizeof(CK_ULONG));
	CU_ASSERT_EQUAL(p11w_len_to_host(CKA_VALUE, UINT64_MAX), CK_UNAVAILABLE_INFORMATION);
}

static void template_values_round_trip(void)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_MECHANISM_TYPE mechs[2] = {CKM_AES_GCM, CKM_AES_CBC_PAD};
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_TOKEN, &yes, sizeof(yes)},
		{CKA_LABEL, "key one", 7},
		{CKA_ALLOWED_MECHANISMS, mechs, sizeof(mechs)},
		{CKA_ID, NULL, 0},
	};
	struct ped_wbuf w;
	struct ped_rbuf r;
	struct p11w_template d;

	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_template(&w, t, 5, P11W_TPL_VALUES), CKR_OK);
	take(&w, &r);
	/* CKA_CLASS: type, present, length 8, lv32 of the u64 */
	static const uint8_t first[] = {0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 8,
					0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 4};
	CU_ASSERT(!memcmp(msg, first, sizeof(first)));
	CU_ASSERT_EQUAL(p11w_get_template(&r, P11W_TPL_VALUES, &d), CKR_OK);
	CU_ASSERT_EQUAL(p11w_end(&r), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(d.count, 5);
	CU_ASSERT_EQUAL(d.attrs[0].ulValueLen, sizeof(CK_ULONG));
	CU_ASSERT_EQUAL(*(CK_ULONG *)d.attrs[0].pValue, CKO_SECRET_KEY);
	CU_ASSERT_EQUAL(*(CK_BBOOL *)d.attrs[1].pValue, CK_TRUE);
	CU_ASSERT(d.attrs[2].ulValueLen == 7 && !memcmp(d.attrs[2].pValue, "key one", 7));
	CU_ASSERT(d.attrs[3].ulValueLen == sizeof(mechs) && !memcmp(d.attrs[3].pValue, mechs, sizeof(mechs)));
	CU_ASSERT(d.attrs[4].pValue == NULL && d.attrs[4].ulValueLen == 0);
	p11w_template_free(&d);

	/* only empty values: nothing to store (the fuzz seed template-all-empty) */
	CK_ATTRIBUTE empty = {CKA_LABEL, "", 0};
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_template(&w, &empty, 1, P11W_TPL_VALUES), CKR_OK);
	take(&w, &r);
	CU_ASSERT_EQUAL_FATAL(p11w_get_template(&r, P11W_TPL_VALUES, &d), CKR_OK);
	CU_ASSERT(d.count == 1 && d.attrs[0].pValue == NULL && d.attrs[0].ulValueLen == 0);
	p11w_template_free(&d);
}

static void template_values_are_checked_both_ways(void)
{
	CK_ULONG cls = CKO_DATA;
	uint8_t three[3] = {0};
	CK_BBOOL b = 1;
	CK_ATTRIBUTE t;
	struct ped_wbuf w;
	struct ped_rbuf r;
	struct p11w_template d;

	/* the module refuses before anything is sent */
	struct {
		CK_ATTRIBUTE a;
		CK_RV want;
	} cases[] = {
		{{CKA_CLASS, three, 3}, CKR_ATTRIBUTE_VALUE_INVALID},
		{{CKA_TOKEN, &cls, sizeof(cls)}, CKR_ATTRIBUTE_VALUE_INVALID},
		{{CKA_ALLOWED_MECHANISMS, three, 3}, CKR_ATTRIBUTE_VALUE_INVALID},
		{{CKA_LABEL, NULL, 4}, CKR_ATTRIBUTE_VALUE_INVALID},
		{{CKA_WRAP_TEMPLATE, &b, 1}, CKR_ATTRIBUTE_TYPE_INVALID},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
		CU_ASSERT_EQUAL(p11w_put_template(&w, &cases[i].a, 1, P11W_TPL_VALUES), cases[i].want);
		ped_wbuf_free(&w);
	}
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_template(&w, NULL, 1, P11W_TPL_VALUES), CKR_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(p11w_put_template(&w, NULL, 0, P11W_TPL_VALUES), CKR_OK);
	ped_wbuf_free(&w);
	CK_ATTRIBUTE many[P11W_TEMPLATE_MAX + 1];
	for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++)
		many[i] = (CK_ATTRIBUTE){CKA_TOKEN, &b, 1};
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_template(&w, many, P11W_TEMPLATE_MAX + 1, P11W_TPL_VALUES), CKR_ARGUMENTS_BAD);
	ped_wbuf_free(&w);

	/* hsm-sim refuses what a module that is not ours may send */
	t = (CK_ATTRIBUTE){CKA_LABEL, "abc", 3};
	ped_wbuf_init(&w, 256);
	CU_ASSERT_EQUAL(p11w_put_template(&w, &t, 1, P11W_TPL_VALUES), CKR_OK);
	take(&w, &r);
	/* its type made CKA_CLASS: 3 bytes are not a u64 */
	msg[11] = CKA_CLASS;
	CU_ASSERT_EQUAL(p11w_get_template(&r, P11W_TPL_VALUES, &d), CKR_ATTRIBUTE_VALUE_INVALID);
	/* its type made CKA_TOKEN with one byte of 2 */
	msg[11] = (uint8_t)CKA_TOKEN;
	msg[20] = 1;
	msg[24] = 1;
	msg[25] = 2;
	ped_rbuf_init(&r, msg, 26);
	CU_ASSERT_EQUAL(p11w_get_template(&r, P11W_TPL_VALUES, &d), CKR_ATTRIBUTE_VALUE_INVALID);
	/* the length field and the value's length disagree */
	msg[11] = (uint8_t)CKA_LABEL;
	msg[20] = 2;
	ped_rbuf_init(&r, msg, 26);
	CU_ASSERT_EQUAL(p11w_get_template(&r, P11W_TPL_VALUES, &d), CKR_ARGUMENTS_BAD);
	/* a count beyond the bound, and every truncation of a good template */
	static const uint8_t count[] = {0, 0, 0, P11W_TEMPLATE_MAX + 1};
	ped_rbuf_init(&r, count, sizeof(count));
	CU_ASSERT_EQUAL(p11w_get_template(&r, P11W_TPL_VALUES, &d), CKR_ARGUMENTS_BAD);
	t = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof(cls)};
	ped_wbuf_init(&w, 256);
	CU_ASSERT_EQUAL(p11w_put_template(&w, &t, 1, P11W_TPL_VALUES), CKR_OK);
	take(&w, &r);
	for (size_t n = 0; n < msg_len; n++) {
		ped_rbuf_init(&r, msg, n);
		CU_ASSERT_EQUAL(p11w_get_template(&r, P11W_TPL_VALUES, &d), CKR_ARGUMENTS_BAD);
		CU_ASSERT_PTR_NULL(d.attrs);
	}
}

/* The getter hsm-sim gives p11w_getattr_serve: libhsm's object. */
static CK_RV obj_get(void *ctx, CK_ATTRIBUTE *t, CK_ULONG n)
{
	return hsm_obj_get(ctx, t, n);
}

/* The whole trip of C_CreateObject and C_GetAttributeValue: the module's
 * template, hsm-sim's decoding into libhsm, the results back into the
 * caller's buffers, with 5.7's cases (a length query, a buffer too small,
 * an attribute the object does not have). */
static void get_attribute_value_end_to_end(void)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE create[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_TOKEN, &no, sizeof(no)},
		{CKA_LABEL, "a label", 7},
		{CKA_VALUE, "0123456789", 10},
	};
	struct ped_wbuf w;
	struct ped_rbuf r;
	struct p11w_template d;
	struct hsm_obj *o = NULL;
	CK_RV rv;

	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_template(&w, create, 4, P11W_TPL_VALUES), CKR_OK);
	take(&w, &r);
	CU_ASSERT_EQUAL_FATAL(p11w_get_template(&r, P11W_TPL_VALUES, &d), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(hsm_obj_create(NULL, d.attrs, d.count, &o), CKR_OK);
	p11w_template_free(&d);

	/* the caller: class with room, label with no buffer (length query),
	 * value with 4 bytes of room, modulus (not a data object's) */
	CK_ULONG got_class = 0;
	uint8_t small[4];
	CK_ATTRIBUTE q[] = {
		{CKA_CLASS, &got_class, sizeof(got_class)},
		{CKA_LABEL, NULL, 0},
		{CKA_VALUE, small, sizeof(small)},
		{CKA_MODULUS, NULL, 0},
	};
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_template(&w, q, 4, P11W_TPL_LENGTHS), CKR_OK);
	take(&w, &r);
	CU_ASSERT_EQUAL_FATAL(p11w_get_template(&r, P11W_TPL_LENGTHS, &d), CKR_OK);
	CU_ASSERT(d.req[0].present && d.req[0].capacity == sizeof(CK_ULONG));
	CU_ASSERT(!d.req[1].present);
	rv = p11w_getattr_serve(&d, obj_get, o);
	CU_ASSERT_EQUAL(rv, CKR_ATTRIBUTE_TYPE_INVALID); /* ranks above BUFFER_TOO_SMALL */
	CU_ASSERT(p11w_reply_has_results(P11W_FN_GET_ATTRIBUTE_VALUE, rv));
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_attr_results(&w, &d), CKR_OK);
	p11w_template_free(&d);
	take(&w, &r);
	CU_ASSERT_EQUAL(p11w_get_attr_results(&r, q, 4), CKR_OK);
	CU_ASSERT_EQUAL(p11w_end(&r), CKR_OK);
	CU_ASSERT_EQUAL(got_class, CKO_DATA);
	CU_ASSERT_EQUAL(q[0].ulValueLen, sizeof(CK_ULONG));
	CU_ASSERT_EQUAL(q[1].ulValueLen, 7);
	CU_ASSERT_EQUAL(q[2].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	CU_ASSERT_EQUAL(q[3].ulValueLen, CK_UNAVAILABLE_INFORMATION);

	/* the second call with room for everything it has */
	char label[7];
	uint8_t value[10];
	CK_ATTRIBUTE q2[] = {{CKA_LABEL, label, sizeof(label)}, {CKA_VALUE, value, sizeof(value)}};
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_template(&w, q2, 2, P11W_TPL_LENGTHS), CKR_OK);
	take(&w, &r);
	CU_ASSERT_EQUAL_FATAL(p11w_get_template(&r, P11W_TPL_LENGTHS, &d), CKR_OK);
	CU_ASSERT_EQUAL(p11w_getattr_serve(&d, obj_get, o), CKR_OK);
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_attr_results(&w, &d), CKR_OK);
	p11w_template_free(&d);
	take(&w, &r);
	CU_ASSERT_EQUAL(p11w_get_attr_results(&r, q2, 2), CKR_OK);
	CU_ASSERT(q2[0].ulValueLen == 7 && !memcmp(label, "a label", 7));
	CU_ASSERT(q2[1].ulValueLen == 10 && !memcmp(value, "0123456789", 10));

	/* results that do not match the template the module sent */
	static const uint8_t too_long[] = {0, 0, 0, 0, 0, 0, 0, 9};
	CK_ATTRIBUTE one = {CKA_LABEL, label, 4};
	ped_rbuf_init(&r, too_long, sizeof(too_long));
	CU_ASSERT_EQUAL(p11w_get_attr_results(&r, &one, 1), CKR_ARGUMENTS_BAD);
	hsm_obj_free(o);
}

/* Empty values: an object's empty CKA_LABEL asked with a buffer comes
 * back empty (not unavailable), and nothing of the template is freed twice
 * (the fuzz seed getattr-empty-value found both). */
static CK_RV empty_get(void *ctx, CK_ATTRIBUTE *t, CK_ULONG n)
{
	(void)ctx;
	for (CK_ULONG i = 0; i < n; i++)
		t[i].ulValueLen = 0;
	return CKR_OK;
}

static void getattr_of_empty_values(void)
{
	char label[4];
	CK_ATTRIBUTE q[] = {{CKA_LABEL, label, sizeof(label)}, {CKA_ID, NULL, 0}};
	struct ped_wbuf w;
	struct ped_rbuf r;
	struct p11w_template d;

	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_template(&w, q, 2, P11W_TPL_LENGTHS), CKR_OK);
	take(&w, &r);
	CU_ASSERT_EQUAL_FATAL(p11w_get_template(&r, P11W_TPL_LENGTHS, &d), CKR_OK);
	CU_ASSERT_EQUAL(p11w_getattr_serve(&d, empty_get, NULL), CKR_OK);
	CU_ASSERT_PTR_NOT_NULL(d.attrs[0].pValue);
	CU_ASSERT_PTR_NULL(d.attrs[1].pValue);
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_attr_results(&w, &d), CKR_OK);
	p11w_template_free(&d);
	take(&w, &r);
	q[0].ulValueLen = sizeof(label);
	CU_ASSERT_EQUAL(p11w_get_attr_results(&r, q, 2), CKR_OK);
	CU_ASSERT_EQUAL(q[0].ulValueLen, 0);
	CU_ASSERT_EQUAL(q[1].ulValueLen, 0);
	CU_ASSERT_EQUAL(p11w_end(&r), CKR_OK);
}

static void mechanisms_of_every_kind(void)
{
	uint8_t iv[12] = {1, 2, 3}, cbc_iv[16] = {1, 2, 3}, aad[5] = "head", pub[65] = {4};
	CK_GCM_PARAMS gcm = {.pIv = iv, .ulIvLen = sizeof(iv), .ulIvBits = 96, .pAAD = aad, .ulAADLen = 4, .ulTagBits = 128};
	CK_AES_CTR_PARAMS ctr = {.ulCounterBits = 32, .cb = {9}};
	CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, "label", 5};
	CK_ECDH1_DERIVE_PARAMS ecdh = {CKD_NULL, 0, NULL, sizeof(pub), pub};
	CK_MECHANISM ms[] = {
		{CKM_SHA256, NULL, 0},
		{CKM_AES_CBC_PAD, cbc_iv, 16},
		{CKM_AES_GCM, &gcm, sizeof(gcm)},
		{CKM_AES_CTR, &ctr, sizeof(ctr)},
		{CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof(pss)},
		{CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)},
		{CKM_ECDH1_DERIVE, &ecdh, sizeof(ecdh)},
	};
	static const uint8_t kinds[] = {P11W_PARAM_NONE, P11W_PARAM_RAW, P11W_PARAM_GCM, P11W_PARAM_CTR,
					P11W_PARAM_PSS, P11W_PARAM_OAEP, P11W_PARAM_ECDH1};
	struct ped_wbuf w;
	struct ped_rbuf r;
	struct p11w_mech d;

	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
		CU_ASSERT_EQUAL(p11w_put_mechanism(&w, &ms[i]), CKR_OK);
		take(&w, &r);
		CU_ASSERT_EQUAL(msg[8], kinds[i]);
		CU_ASSERT_EQUAL_FATAL(p11w_get_mechanism(&r, &d), CKR_OK);
		CU_ASSERT_EQUAL(p11w_end(&r), CKR_OK);
		CU_ASSERT_EQUAL(d.m.mechanism, ms[i].mechanism);
		CU_ASSERT_EQUAL(d.m.ulParameterLen, ms[i].ulParameterLen);
		switch (kinds[i]) {
		case P11W_PARAM_RAW:
			CU_ASSERT(!memcmp(d.m.pParameter, cbc_iv, 16));
			break;
		case P11W_PARAM_GCM:
			CU_ASSERT(d.u.gcm.ulIvLen == 12 && !memcmp(d.u.gcm.pIv, iv, 12));
			CU_ASSERT(d.u.gcm.ulAADLen == 4 && !memcmp(d.u.gcm.pAAD, "head", 4));
			CU_ASSERT(d.u.gcm.ulTagBits == 128 && d.u.gcm.ulIvBits == 96);
			break;
		case P11W_PARAM_CTR:
			CU_ASSERT(d.u.ctr.ulCounterBits == 32 && d.u.ctr.cb[0] == 9);
			break;
		case P11W_PARAM_PSS:
			CU_ASSERT(d.u.pss.hashAlg == CKM_SHA256 && d.u.pss.mgf == CKG_MGF1_SHA256 && d.u.pss.sLen == 32);
			break;
		case P11W_PARAM_OAEP:
			CU_ASSERT(d.u.oaep.source == CKZ_DATA_SPECIFIED && d.u.oaep.ulSourceDataLen == 5 &&
				  !memcmp(d.u.oaep.pSourceData, "label", 5));
			break;
		case P11W_PARAM_ECDH1:
			CU_ASSERT(d.u.ecdh1.kdf == CKD_NULL && d.u.ecdh1.pSharedData == NULL &&
				  d.u.ecdh1.ulPublicDataLen == 65 && d.u.ecdh1.pPublicData[0] == 4);
			break;
		}
		p11w_mech_free(&d);
	}

	/* 3.0's CK_GCM_PARAMS (no ulIvBits) travels the same */
	struct {
		CK_BYTE_PTR pIv;
		CK_ULONG ulIvLen;
		CK_BYTE_PTR pAAD;
		CK_ULONG ulAADLen;
		CK_ULONG ulTagBits;
	} gcm30 = {iv, 12, NULL, 0, 96};
	CK_MECHANISM m30 = {CKM_AES_GCM, &gcm30, sizeof(gcm30)};
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_mechanism(&w, &m30), CKR_OK);
	take(&w, &r);
	CU_ASSERT_EQUAL_FATAL(p11w_get_mechanism(&r, &d), CKR_OK);
	CU_ASSERT(d.u.gcm.ulIvLen == 12 && d.u.gcm.ulTagBits == 96 && d.u.gcm.pAAD == NULL);
	p11w_mech_free(&d);

	/* a structure of the wrong size, a pointer missing */
	CK_MECHANISM wrong = {CKM_RSA_PKCS_PSS, &pss, sizeof(pss) - 1};
	CK_MECHANISM nullp = {CKM_AES_CBC, NULL, 16};
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_mechanism(&w, &wrong), CKR_MECHANISM_PARAM_INVALID);
	CU_ASSERT_EQUAL(p11w_put_mechanism(&w, &nullp), CKR_MECHANISM_PARAM_INVALID);
	CU_ASSERT_EQUAL(p11w_put_mechanism(&w, NULL), CKR_ARGUMENTS_BAD);
	ped_wbuf_free(&w);
	/* an unknown kind and every truncation of a GCM mechanism */
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	CU_ASSERT_EQUAL(p11w_put_mechanism(&w, &ms[2]), CKR_OK);
	take(&w, &r);
	for (size_t n = 0; n < msg_len; n++) {
		ped_rbuf_init(&r, msg, n);
		CU_ASSERT_EQUAL(p11w_get_mechanism(&r, &d), CKR_ARGUMENTS_BAD);
		CU_ASSERT_PTR_NULL(d.store);
	}
	msg[8] = 7;
	ped_rbuf_init(&r, msg, msg_len);
	CU_ASSERT_EQUAL(p11w_get_mechanism(&r, &d), CKR_ARGUMENTS_BAD);
	/* raw bytes for AES-GCM (the fuzz seed gcm-as-raw) */
	static const uint8_t gcm_raw[] = {0, 0, 0, 0, 0, 0, 0x10, 0x87, 1, 0, 0, 0, 2, 0xaa, 0xbb};
	ped_rbuf_init(&r, gcm_raw, sizeof(gcm_raw));
	CU_ASSERT_EQUAL(p11w_get_mechanism(&r, &d), CKR_MECHANISM_PARAM_INVALID);
	CU_ASSERT_PTR_NULL(d.store);
}

/* The slot list hsm-sim sends a network client for an HSM with no
 * partition yet: its admin slot, then fifteen partition slots without a
 * token, each 15 bytes on the wire (no serial). The decoder's "a count
 * beyond what is left" bound took 16 bytes an entry, refused this list,
 * and pkcs11-tool -L and vtl verify failed on a fresh network HSM. */
static void slot_list_of_empty_slots(void)
{
	struct p11w_slot s[16] = {{.slot = 0, .token_present = 1, .kind = P11W_SLOT_ADMIN, .serial = "154438865288"}};
	struct p11w_slot *gs = NULL;
	struct ped_wbuf w;
	struct ped_rbuf r;
	uint32_t n = 0;

	for (int k = 1; k < 16; k++)
		s[k] = (struct p11w_slot){.slot = (CK_SLOT_ID)k, .token_present = 0, .kind = P11W_SLOT_PARTITION};
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	p11w_put_slot_list(&w, s, 16);
	take(&w, &r);
	CU_ASSERT_EQUAL_FATAL(p11w_get_slot_list(&r, &gs, &n), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(n, 16);
	CU_ASSERT(gs[15].slot == 15 && !gs[15].token_present && gs[15].serial[0] == '\0');
	OPENSSL_free(gs);
	/* one entry fewer than the count says is still refused */
	ped_rbuf_init(&r, msg, msg_len - 15);
	CU_ASSERT_EQUAL(p11w_get_slot_list(&r, &gs, &n), CKR_ARGUMENTS_BAD);
	CU_ASSERT_PTR_NULL(gs);
}

static void infos_and_lists(void)
{
	struct p11w_slot s[2] = {{.slot = 1, .token_present = 1, .kind = P11W_SLOT_PARTITION, .hsm_index = 0, .serial = "154438865288001"},
				 {.slot = 0, .token_present = 1, .kind = P11W_SLOT_ADMIN, .hsm_index = 0, .serial = "154438865288"}};
	struct p11w_slot *gs;
	uint32_t n;
	CK_TOKEN_INFO ti, gt;
	CK_SESSION_INFO si = {20, CKS_RW_USER_FUNCTIONS, CKF_RW_SESSION | CKF_SERIAL_SESSION, 0}, gsi;
	CK_MECHANISM_INFO mi = {2048, 4096, CKF_SIGN | CKF_VERIFY}, gmi;
	CK_ULONG list[3] = {CKM_SHA256, CKM_AES_GCM, CKM_ECDSA}, glist[3];
	struct ped_wbuf w;
	struct ped_rbuf r;

	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	p11w_put_slot_list(&w, s, 2);
	take(&w, &r);
	CU_ASSERT_EQUAL_FATAL(p11w_get_slot_list(&r, &gs, &n), CKR_OK);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT(gs[0].slot == 1 && gs[0].kind == P11W_SLOT_PARTITION && !strcmp(gs[0].serial, "154438865288001"));
	CU_ASSERT(gs[1].kind == P11W_SLOT_ADMIN && !strcmp(gs[1].serial, "154438865288"));
	OPENSSL_free(gs);
	msg[4 + 9] = 9; /* a kind the protocol has not */
	ped_rbuf_init(&r, msg, msg_len);
	CU_ASSERT_EQUAL(p11w_get_slot_list(&r, &gs, &n), CKR_ARGUMENTS_BAD);
	CU_ASSERT_PTR_NULL(gs);
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
	ped_rbuf_init(&r, huge, sizeof(huge));
	CU_ASSERT_EQUAL(p11w_get_slot_list(&r, &gs, &n), CKR_ARGUMENTS_BAD);

	memset(&ti, 0, sizeof(ti));
	memset(ti.label, ' ', sizeof(ti.label));
	memcpy(ti.label, "payments", 8);
	memset(ti.manufacturerID, ' ', sizeof(ti.manufacturerID));
	memset(ti.model, ' ', sizeof(ti.model));
	memset(ti.serialNumber, ' ', sizeof(ti.serialNumber));
	memcpy(ti.serialNumber, "154438865288001", 15);
	ti.flags = CKF_PROTECTED_AUTHENTICATION_PATH | CKF_LOGIN_REQUIRED;
	ti.ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	ti.ulMaxPinLen = 256;
	ti.firmwareVersion.major = 7;
	memcpy(ti.utcTime, "2026120315000000", 16);
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	p11w_put_token_info(&w, &ti);
	p11w_put_session_info(&w, &si);
	p11w_put_mechanism_info(&w, &mi);
	p11w_put_ulong_list(&w, list, 3);
	take(&w, &r);
	CU_ASSERT_EQUAL(p11w_get_token_info(&r, &gt), CKR_OK);
	CU_ASSERT(!memcmp(&gt, &ti, sizeof(ti)));
	CU_ASSERT_EQUAL(p11w_get_session_info(&r, &gsi), CKR_OK);
	CU_ASSERT(!memcmp(&gsi, &si, sizeof(si)));
	CU_ASSERT_EQUAL(p11w_get_mechanism_info(&r, &gmi), CKR_OK);
	CU_ASSERT(!memcmp(&gmi, &mi, sizeof(mi)));
	CU_ASSERT_EQUAL(p11w_get_ulong_list(&r, P11W_MECHS_MAX, glist, 3, &n), CKR_OK);
	CU_ASSERT(n == 3 && !memcmp(glist, list, sizeof(list)));
	CU_ASSERT_EQUAL(p11w_end(&r), CKR_OK);
	/* a list longer than the caller's room */
	ped_wbuf_init(&w, 256);
	p11w_put_ulong_list(&w, list, 3);
	take(&w, &r);
	CU_ASSERT_EQUAL(p11w_get_ulong_list(&r, P11W_MECHS_MAX, glist, 2, &n), CKR_ARGUMENTS_BAD);
	/* a label with a control character */
	ti.label[3] = '\n';
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	p11w_put_token_info(&w, &ti);
	take(&w, &r);
	CU_ASSERT_EQUAL(p11w_get_token_info(&r, &gt), CKR_ARGUMENTS_BAD);
}

UNIT_SUITE(p11wire, NULL, cleanup, UNIT_TEST(greeting_round_trip_and_bounds), UNIT_TEST(headers_and_function_numbers),
	   UNIT_TEST(scalars_pins_and_bytes), UNIT_TEST(output_buffers_follow_the_two_call_convention),
	   UNIT_TEST(attribute_forms_table), UNIT_TEST(template_values_round_trip),
	   UNIT_TEST(template_values_are_checked_both_ways), UNIT_TEST(get_attribute_value_end_to_end), UNIT_TEST(getattr_of_empty_values),
	   UNIT_TEST(mechanisms_of_every_kind), UNIT_TEST(infos_and_lists),
	   UNIT_TEST(slot_list_of_empty_slots))
