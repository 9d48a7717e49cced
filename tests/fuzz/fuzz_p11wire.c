/* libFuzzer target: every decoder of the application protocol
 * (ped/p11wire.h), on both ends. The first byte picks the decoder; what
 * decodes is encoded again and must decode to the same thing. */
#include "ped/p11wire.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void template_round_trip(const struct p11w_template *t, enum p11w_tpl_mode mode)
{
	struct ped_wbuf w;
	struct ped_rbuf r;
	struct p11w_template u;
	uint8_t *p = NULL;
	size_t len = 0;

	if (mode == P11W_TPL_LENGTHS)
		return;
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX * 4);
	if (p11w_put_template(&w, t->attrs, t->count, mode) != CKR_OK || ped_wbuf_take(&w, &p, &len) != 0)
		abort();
	ped_rbuf_init(&r, p, len);
	if (p11w_get_template(&r, mode, &u) != CKR_OK || p11w_end(&r) != CKR_OK || u.count != t->count)
		abort();
	for (CK_ULONG i = 0; i < u.count; i++)
		if (u.attrs[i].type != t->attrs[i].type || u.attrs[i].ulValueLen != t->attrs[i].ulValueLen ||
		    (u.attrs[i].ulValueLen &&
		     memcmp(u.attrs[i].pValue, t->attrs[i].pValue, u.attrs[i].ulValueLen)))
			abort();
	p11w_template_free(&u);
	OPENSSL_clear_free(p, len);
}

/* A getter that answers from the fuzzed template itself: each attribute's
 * value is its own type's low byte repeated (type & 0xff) times. */
static CK_RV fake_get(void *ctx, CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_RV rv = CKR_OK;
	(void)ctx;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_ULONG l = t[i].type & 0xff;
		if (t[i].type & 0x100) {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_TYPE_INVALID;
			continue;
		}
		if (p11w_attr_form(t[i].type) == P11W_FORM_ULONG)
			l = sizeof(CK_ULONG);
		else if (p11w_attr_form(t[i].type) == P11W_FORM_BOOL)
			l = 1;
		else if (p11w_attr_form(t[i].type) == P11W_FORM_MECHS)
			l = (l % 4) * sizeof(CK_ULONG);
		if (t[i].pValue) {
			if (t[i].ulValueLen < l) {
				t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
				rv = CKR_BUFFER_TOO_SMALL;
				continue;
			}
			memset(t[i].pValue, 0, l);
		}
		t[i].ulValueLen = l;
	}
	return rv;
}

static void serve_getattr(struct p11w_template *t)
{
	struct ped_wbuf w;
	CK_RV rv = p11w_getattr_serve(t, fake_get, NULL);
	if (!p11w_reply_has_results(P11W_FN_GET_ATTRIBUTE_VALUE, rv))
		return;
	ped_wbuf_init(&w, P11W_PAYLOAD_MAX);
	(void)p11w_put_attr_results(&w, t);
	ped_wbuf_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ped_rbuf r;
	struct p11w_hello h;
	struct p11w_welcome wl;
	struct p11w_template t;
	struct p11w_mech m;
	struct p11w_out o;
	struct p11w_slot *slots;
	CK_TOKEN_INFO ti;
	CK_SLOT_INFO si;
	CK_SESSION_INFO ss;
	CK_MECHANISM_INFO mi;
	CK_ULONG list[64], len;
	uint8_t out[256];
	uint32_t n, call;
	uint16_t fn;
	CK_RV rv;

	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	ped_rbuf_init(&r, data, size);
	switch (mode % 13) {
	case 0:
		(void)p11w_get_hello(data, size, &h);
		break;
	case 1:
		(void)p11w_get_welcome(data, size, &wl);
		break;
	case 2:
	case 3: {
		enum p11w_tpl_mode tm = mode % 13 == 2 ? P11W_TPL_VALUES : P11W_TPL_LENGTHS;
		if (p11w_get_request_header(&r, &call, &fn) != CKR_OK)
			break;
		if (p11w_get_template(&r, tm, &t) == CKR_OK) {
			template_round_trip(&t, tm);
			if (tm == P11W_TPL_LENGTHS)
				serve_getattr(&t);
			p11w_template_free(&t);
		}
		break;
	}
	case 4:
		if (p11w_get_mechanism(&r, &m) == CKR_OK) {
			struct ped_wbuf w;
			ped_wbuf_init(&w, P11W_PAYLOAD_MAX * 2);
			/* a decoded mechanism encodes again */
			if (p11w_put_mechanism(&w, &m.m) != CKR_OK)
				abort();
			ped_wbuf_free(&w);
			p11w_mech_free(&m);
		}
		break;
	case 5:
		/* the module's request as the first 9 bytes, the reply's result after */
		if (p11w_get_out(&r, &o) != CKR_OK)
			break;
		if (o.capacity > sizeof(out))
			o.capacity = sizeof(out);
		if (p11w_get_out_result(&r, &o, out, &len) == CKR_OK && o.present && len <= o.capacity &&
		    len > sizeof(out))
			abort();
		break;
	case 6: {
		/* results for a template the module sent: types and buffers from the input */
		CK_ATTRIBUTE a[4];
		uint8_t bufs[4][64];
		uint32_t call_id;
		if (p11w_get_reply_header(&r, &call_id, &rv) != CKR_OK)
			break;
		for (int i = 0; i < 4; i++) {
			a[i].type = (CK_ATTRIBUTE_TYPE)(call_id >> (8 * i) & 0xff);
			a[i].pValue = (call_id >> (8 * i)) & 1 ? bufs[i] : NULL;
			a[i].ulValueLen = a[i].pValue ? (CK_ULONG)(call_id >> (8 * i + 1) & 0x3f) : 0;
		}
		(void)p11w_get_attr_results(&r, a, 4);
		break;
	}
	case 7:
		if (p11w_get_slot_list(&r, &slots, &n) == CKR_OK)
			OPENSSL_free(slots);
		break;
	case 8:
		(void)p11w_get_token_info(&r, &ti);
		break;
	case 9:
		(void)p11w_get_slot_info(&r, &si);
		(void)p11w_get_session_info(&r, &ss);
		(void)p11w_get_mechanism_info(&r, &mi);
		break;
	case 10:
		(void)p11w_get_ulong_list(&r, P11W_MECHS_MAX, list, 64, &n);
		break;
	case 12: {
		/* WithInit, after the request's header: the init's arguments
		 * inside the request, an init's own (a session, a mechanism) */
		struct p11w_with_init wi;
		struct ped_rbuf ir;
		if (p11w_get_request_header(&r, &call, &fn) != CKR_OK || p11w_get_with_init(&r, &wi) != CKR_OK)
			break;
		if (wi.init_args < data || wi.init_args + wi.init_len > data + size ||
		    p11w_op_init_fn(wi.fn) != wi.init_fn)
			abort();
		ped_rbuf_init(&ir, wi.init_args, wi.init_len);
		(void)p11w_get_ulong(&ir);
		if (p11w_get_mechanism(&ir, &m) == CKR_OK)
			p11w_mech_free(&m);
		(void)p11w_get_ulong(&r);
		break;
	}
	case 11: {
		int present;
		size_t pl;
		const uint8_t *pin = p11w_get_pin(&r, &present, &pl);
		if (pin && (pin < data || pin + pl > data + size))
			abort();
		(void)p11w_get_bytes(&r, P11W_DATA_MAX, &pl);
		(void)p11w_get_ulong(&r);
		(void)p11w_get_bool(&r);
		break;
	}
	}
	return 0;
}
