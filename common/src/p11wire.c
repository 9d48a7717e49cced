/* The application protocol's value forms (ped/p11wire.h, docs/protocol.md
 * section 13): one encoder and one bounded decoder for each. */
#include "ped/p11wire.h"

#include "ped/error.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <string.h>

#define WIRE_UNAVAILABLE UINT64_MAX

static void bad(struct ped_rbuf *r)
{
	if (!r->err)
		r->err = PED_E_INVALID;
}

CK_RV p11w_wbuf_rv(const struct ped_wbuf *w)
{
	if (!w->err)
		return CKR_OK;
	return w->err == PED_E_HOST_MEMORY ? CKR_HOST_MEMORY : CKR_ARGUMENTS_BAD;
}

CK_RV p11w_rbuf_rv(const struct ped_rbuf *r)
{
	return r->err ? CKR_ARGUMENTS_BAD : CKR_OK;
}

CK_RV p11w_end(const struct ped_rbuf *r)
{
	return ped_rbuf_end(r) == PED_OK ? CKR_OK : CKR_ARGUMENTS_BAD;
}

static const char *const fn_names[P11W_FN_MAX + 1] = {
	[P11W_FN_GET_SLOT_LIST] = "GetSlotList",
	[P11W_FN_GET_SLOT_INFO] = "GetSlotInfo",
	[P11W_FN_GET_TOKEN_INFO] = "GetTokenInfo",
	[P11W_FN_GET_MECHANISM_LIST] = "GetMechanismList",
	[P11W_FN_GET_MECHANISM_INFO] = "GetMechanismInfo",
	[P11W_FN_INIT_TOKEN] = "InitToken",
	[P11W_FN_INIT_PIN] = "InitPIN",
	[P11W_FN_SET_PIN] = "SetPIN",
	[P11W_FN_OPEN_SESSION] = "OpenSession",
	[P11W_FN_CLOSE_SESSION] = "CloseSession",
	[P11W_FN_CLOSE_ALL_SESSIONS] = "CloseAllSessions",
	[P11W_FN_GET_SESSION_INFO] = "GetSessionInfo",
	[P11W_FN_LOGIN] = "Login",
	[P11W_FN_LOGOUT] = "Logout",
	[P11W_FN_CREATE_OBJECT] = "CreateObject",
	[P11W_FN_COPY_OBJECT] = "CopyObject",
	[P11W_FN_DESTROY_OBJECT] = "DestroyObject",
	[P11W_FN_GET_OBJECT_SIZE] = "GetObjectSize",
	[P11W_FN_GET_ATTRIBUTE_VALUE] = "GetAttributeValue",
	[P11W_FN_SET_ATTRIBUTE_VALUE] = "SetAttributeValue",
	[P11W_FN_FIND_OBJECTS_INIT] = "FindObjectsInit",
	[P11W_FN_FIND_OBJECTS] = "FindObjects",
	[P11W_FN_FIND_OBJECTS_FINAL] = "FindObjectsFinal",
	[P11W_FN_ENCRYPT_INIT] = "EncryptInit",
	[P11W_FN_ENCRYPT] = "Encrypt",
	[P11W_FN_ENCRYPT_UPDATE] = "EncryptUpdate",
	[P11W_FN_ENCRYPT_FINAL] = "EncryptFinal",
	[P11W_FN_DECRYPT_INIT] = "DecryptInit",
	[P11W_FN_DECRYPT] = "Decrypt",
	[P11W_FN_DECRYPT_UPDATE] = "DecryptUpdate",
	[P11W_FN_DECRYPT_FINAL] = "DecryptFinal",
	[P11W_FN_DIGEST_INIT] = "DigestInit",
	[P11W_FN_DIGEST] = "Digest",
	[P11W_FN_DIGEST_UPDATE] = "DigestUpdate",
	[P11W_FN_DIGEST_KEY] = "DigestKey",
	[P11W_FN_DIGEST_FINAL] = "DigestFinal",
	[P11W_FN_SIGN_INIT] = "SignInit",
	[P11W_FN_SIGN] = "Sign",
	[P11W_FN_SIGN_UPDATE] = "SignUpdate",
	[P11W_FN_SIGN_FINAL] = "SignFinal",
	[P11W_FN_VERIFY_INIT] = "VerifyInit",
	[P11W_FN_VERIFY] = "Verify",
	[P11W_FN_VERIFY_UPDATE] = "VerifyUpdate",
	[P11W_FN_VERIFY_FINAL] = "VerifyFinal",
	[P11W_FN_GENERATE_KEY] = "GenerateKey",
	[P11W_FN_GENERATE_KEY_PAIR] = "GenerateKeyPair",
	[P11W_FN_WRAP_KEY] = "WrapKey",
	[P11W_FN_UNWRAP_KEY] = "UnwrapKey",
	[P11W_FN_DERIVE_KEY] = "DeriveKey",
	[P11W_FN_SEED_RANDOM] = "SeedRandom",
	[P11W_FN_GENERATE_RANDOM] = "GenerateRandom",
	[P11W_FN_WITH_INIT] = "WithInit",
};

const char *p11w_fn_name(unsigned fn)
{
	return fn <= P11W_FN_MAX ? fn_names[fn] : NULL;
}

uint16_t p11w_op_init_fn(unsigned fn)
{
	static const uint16_t inits[] = {P11W_FN_ENCRYPT_INIT, P11W_FN_DECRYPT_INIT, P11W_FN_DIGEST_INIT,
					 P11W_FN_SIGN_INIT, P11W_FN_VERIFY_INIT};
	/* each operation's calls follow its init: three, four for a digest */
	for (size_t i = 0; i < sizeof(inits) / sizeof(inits[0]); i++) {
		unsigned calls = inits[i] == P11W_FN_DIGEST_INIT ? 4 : 3;
		if (fn > inits[i] && fn <= inits[i] + calls)
			return inits[i];
	}
	return 0;
}

void p11w_put_with_init(struct ped_wbuf *w, uint16_t init_fn, const uint8_t *init_args, size_t init_len,
			uint16_t fn)
{
	ped_wbuf_u16(w, init_fn);
	ped_wbuf_lv32(w, init_args, init_len);
	ped_wbuf_u16(w, fn);
}

CK_RV p11w_get_with_init(struct ped_rbuf *r, struct p11w_with_init *out)
{
	memset(out, 0, sizeof(*out));
	out->init_fn = ped_rbuf_u16(r);
	out->init_args = ped_rbuf_lv32(r, P11W_PAYLOAD_MAX, &out->init_len);
	out->fn = ped_rbuf_u16(r);
	/* an init's arguments start with its session's handle */
	if (p11w_rbuf_rv(r) != CKR_OK || !out->init_args || out->init_len < 8 || !out->init_fn ||
	    p11w_op_init_fn(out->fn) != out->init_fn)
		return CKR_ARGUMENTS_BAD;
	return CKR_OK;
}

/* ---- greeting ------------------------------------------------------------ */

static int printable(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

CK_RV p11w_put_hello(struct ped_wbuf *w, const struct p11w_hello *h)
{
	if (!printable(h->name, P11W_NAME_MAX))
		return CKR_ARGUMENTS_BAD;
	ped_wbuf_u16(w, h->version);
	ped_wbuf_bytes(w, h->app_id, sizeof(h->app_id));
	ped_wbuf_u32(w, h->pid);
	ped_wbuf_lv8(w, h->name, strlen(h->name));
	ped_wbuf_u32(w, h->probe_ms);
	return p11w_wbuf_rv(w);
}

CK_RV p11w_get_hello(const uint8_t *p, size_t len, struct p11w_hello *h)
{
	struct ped_rbuf r;
	const uint8_t *id;

	memset(h, 0, sizeof(*h));
	ped_rbuf_init(&r, p, len);
	h->version = ped_rbuf_u16(&r);
	if ((id = ped_rbuf_bytes(&r, sizeof(h->app_id))) != NULL)
		memcpy(h->app_id, id, sizeof(h->app_id));
	h->pid = ped_rbuf_u32(&r);
	(void)ped_rbuf_text8(&r, h->name, P11W_NAME_MAX);
	/* an older module's hello ends here */
	if (!r.err && r.off < r.len)
		h->probe_ms = ped_rbuf_u32(&r);
	if (p11w_end(&r) != CKR_OK) {
		OPENSSL_cleanse(h, sizeof(*h));
		return CKR_ARGUMENTS_BAD;
	}
	return CKR_OK;
}

CK_RV p11w_put_welcome(struct ped_wbuf *w, const struct p11w_welcome *wl)
{
	if (!printable(wl->name, P11W_NAME_MAX))
		return CKR_ARGUMENTS_BAD;
	ped_wbuf_u16(w, wl->version);
	ped_wbuf_u32(w, wl->max_payload);
	ped_wbuf_lv8(w, wl->name, strlen(wl->name));
	return p11w_wbuf_rv(w);
}

CK_RV p11w_get_welcome(const uint8_t *p, size_t len, struct p11w_welcome *wl)
{
	struct ped_rbuf r;

	memset(wl, 0, sizeof(*wl));
	ped_rbuf_init(&r, p, len);
	wl->version = ped_rbuf_u16(&r);
	wl->max_payload = ped_rbuf_u32(&r);
	(void)ped_rbuf_text8(&r, wl->name, P11W_NAME_MAX);
	return p11w_end(&r);
}

/* ---- headers ------------------------------------------------------------- */

void p11w_put_request_header(struct ped_wbuf *w, uint32_t call_id, uint16_t fn)
{
	ped_wbuf_u32(w, call_id);
	ped_wbuf_u16(w, fn);
}

CK_RV p11w_get_request_header(struct ped_rbuf *r, uint32_t *call_id, uint16_t *fn)
{
	*call_id = ped_rbuf_u32(r);
	*fn = ped_rbuf_u16(r);
	return p11w_rbuf_rv(r);
}

void p11w_set_reply_header(uint8_t *at, uint32_t call_id, CK_RV rv)
{
	ped_be32_put(at, call_id);
	ped_be32_put(at + 4, (uint32_t)rv);
}

void p11w_put_reply_header(struct ped_wbuf *w, uint32_t call_id, CK_RV rv)
{
	uint8_t *at = ped_wbuf_room(w, P11W_REPLY_HEADER_LEN);
	if (at)
		p11w_set_reply_header(at, call_id, rv);
}

CK_RV p11w_get_reply_header(struct ped_rbuf *r, uint32_t *call_id, CK_RV *rv)
{
	*call_id = ped_rbuf_u32(r);
	*rv = ped_rbuf_u32(r);
	return p11w_rbuf_rv(r);
}

int p11w_reply_has_results(unsigned fn, CK_RV rv)
{
	if (rv == CKR_OK)
		return 1;
	switch (fn) {
	case P11W_FN_GET_ATTRIBUTE_VALUE:
		return rv == CKR_ATTRIBUTE_SENSITIVE || rv == CKR_ATTRIBUTE_TYPE_INVALID ||
		       rv == CKR_BUFFER_TOO_SMALL;
	case P11W_FN_ENCRYPT:
	case P11W_FN_ENCRYPT_UPDATE:
	case P11W_FN_ENCRYPT_FINAL:
	case P11W_FN_DECRYPT:
	case P11W_FN_DECRYPT_UPDATE:
	case P11W_FN_DECRYPT_FINAL:
	case P11W_FN_DIGEST:
	case P11W_FN_DIGEST_FINAL:
	case P11W_FN_SIGN:
	case P11W_FN_SIGN_FINAL:
	case P11W_FN_WRAP_KEY:
		return rv == CKR_BUFFER_TOO_SMALL;
	default:
		return 0;
	}
}

/* ---- scalars ------------------------------------------------------------- */

void p11w_put_ulong(struct ped_wbuf *w, CK_ULONG v)
{
	ped_wbuf_u64(w, v == CK_UNAVAILABLE_INFORMATION ? WIRE_UNAVAILABLE : (uint64_t)v);
}

static int wire_to_ulong(uint64_t v, CK_ULONG *out)
{
	if (v == WIRE_UNAVAILABLE) {
		*out = CK_UNAVAILABLE_INFORMATION;
		return 1;
	}
	if (v > (uint64_t)ULONG_MAX || (CK_ULONG)v == CK_UNAVAILABLE_INFORMATION)
		return 0;
	*out = (CK_ULONG)v;
	return 1;
}

CK_ULONG p11w_get_ulong(struct ped_rbuf *r)
{
	CK_ULONG v = 0;
	uint64_t x = ped_rbuf_u64(r);
	if (!r->err && !wire_to_ulong(x, &v)) {
		bad(r);
		v = 0;
	}
	return v;
}

void p11w_put_bool(struct ped_wbuf *w, int v)
{
	ped_wbuf_u8(w, v ? 1 : 0);
}

int p11w_get_bool(struct ped_rbuf *r)
{
	uint8_t v = ped_rbuf_u8(r);
	if (v > 1) {
		bad(r);
		return 0;
	}
	return v;
}

void p11w_put_bytes(struct ped_wbuf *w, const void *p, size_t n)
{
	ped_wbuf_lv32(w, p, n);
}

const uint8_t *p11w_get_bytes(struct ped_rbuf *r, size_t max, size_t *n)
{
	const uint8_t *p = ped_rbuf_lv32(r, max, n);
	if (!p || *n == 0) {
		*n = 0;
		return NULL;
	}
	return p;
}

void p11w_put_pin(struct ped_wbuf *w, const CK_UTF8CHAR *pin, CK_ULONG len)
{
	ped_wbuf_u8(w, pin ? 1 : 0);
	if (pin && len > P11W_PIN_MAX) {
		w->err = w->err ? w->err : PED_E_INVALID;
		return;
	}
	ped_wbuf_lv32(w, pin, pin ? len : 0);
}

const uint8_t *p11w_get_pin(struct ped_rbuf *r, int *present, size_t *len)
{
	const uint8_t *p;

	*present = p11w_get_bool(r);
	p = ped_rbuf_lv32(r, P11W_PIN_MAX, len);
	if (!p || r->err || (!*present && *len)) {
		bad(r);
		*present = 0;
		*len = 0;
		return NULL;
	}
	return *present ? p : NULL;
}

/* ---- output buffers ------------------------------------------------------ */

void p11w_put_out(struct ped_wbuf *w, const void *p, CK_ULONG capacity)
{
	ped_wbuf_u8(w, p ? 1 : 0);
	ped_wbuf_u64(w, p ? (uint64_t)capacity : 0);
}

CK_RV p11w_get_out(struct ped_rbuf *r, struct p11w_out *o)
{
	o->present = (uint8_t)p11w_get_bool(r);
	o->capacity = ped_rbuf_u64(r);
	if (!r->err && !o->present && o->capacity)
		bad(r);
	return p11w_rbuf_rv(r);
}

void p11w_put_out_result(struct ped_wbuf *w, const struct p11w_out *o, const void *data, CK_ULONG len)
{
	p11w_put_ulong(w, len);
	if (o->present && len != CK_UNAVAILABLE_INFORMATION && (uint64_t)len <= o->capacity)
		ped_wbuf_lv32(w, data, len);
}

/* An output result's head: its u64 length, then the bytes' u32 length. */
#define OUT_HEAD_LEN 12

uint8_t *p11w_out_begin(struct ped_wbuf *w, CK_ULONG cap, size_t *at)
{
	*at = w->len;
	p11w_put_ulong(w, 0);
	ped_wbuf_u32(w, 0);
	return ped_wbuf_room(w, cap);
}

void p11w_out_end(struct ped_wbuf *w, size_t at, CK_ULONG len, int written)
{
	struct ped_wbuf head;

	if (w->err || at + OUT_HEAD_LEN > w->len)
		return;
	if (!written || len > w->len - at - OUT_HEAD_LEN) {
		ped_wbuf_truncate(w, at);
		p11w_put_ulong(w, len);
		return;
	}
	ped_wbuf_truncate(w, at + OUT_HEAD_LEN + len);
	ped_wbuf_init_fixed(&head, w->p + at, OUT_HEAD_LEN);
	p11w_put_ulong(&head, len);
	ped_wbuf_u32(&head, (uint32_t)len);
}

CK_RV p11w_get_out_result(struct ped_rbuf *r, const struct p11w_out *o, void *dst, CK_ULONG *len)
{
	uint64_t l = ped_rbuf_u64(r);
	size_t n = 0;
	const uint8_t *p;

	if (r->err || l == WIRE_UNAVAILABLE || l > (uint64_t)ULONG_MAX)
		goto bad;
	if (o->present && l <= o->capacity) {
		if ((p = ped_rbuf_lv32(r, P11W_DATA_MAX, &n)) == NULL || n != l)
			goto bad;
		if (n)
			memcpy(dst, p, n);
	}
	*len = (CK_ULONG)l;
	return CKR_OK;
bad:
	bad(r);
	return CKR_ARGUMENTS_BAD;
}

/* ---- templates ----------------------------------------------------------- */

enum p11w_form p11w_attr_form(CK_ATTRIBUTE_TYPE type)
{
	switch (type) {
	case CKA_CLASS:
	case CKA_KEY_TYPE:
	case CKA_CERTIFICATE_TYPE:
	case CKA_MODULUS_BITS:
	case CKA_VALUE_LEN:
	case CKA_VALUE_BITS:
	case CKA_PRIME_BITS:
	case CKA_SUB_PRIME_BITS:
	case CKA_KEY_GEN_MECHANISM:
	case CKA_CERTIFICATE_CATEGORY:
	case CKA_NAME_HASH_ALGORITHM:
	case CKA_MECHANISM_TYPE:
	case CKA_JAVA_MIDP_SECURITY_DOMAIN:
	case CKA_HW_FEATURE_TYPE:
	case CKA_OTP_FORMAT:
	case CKA_OTP_LENGTH:
	case CKA_OTP_TIME_INTERVAL:
	case CKA_OTP_CHALLENGE_REQUIREMENT:
	case CKA_OTP_TIME_REQUIREMENT:
	case CKA_OTP_COUNTER_REQUIREMENT:
	case CKA_OTP_PIN_REQUIREMENT:
		return P11W_FORM_ULONG;
	case CKA_TOKEN:
	case CKA_PRIVATE:
	case CKA_MODIFIABLE:
	case CKA_COPYABLE:
	case CKA_DESTROYABLE:
	case CKA_TRUSTED:
	case CKA_SENSITIVE:
	case CKA_ENCRYPT:
	case CKA_DECRYPT:
	case CKA_WRAP:
	case CKA_UNWRAP:
	case CKA_SIGN:
	case CKA_SIGN_RECOVER:
	case CKA_VERIFY:
	case CKA_VERIFY_RECOVER:
	case CKA_DERIVE:
	case CKA_EXTRACTABLE:
	case CKA_LOCAL:
	case CKA_NEVER_EXTRACTABLE:
	case CKA_ALWAYS_SENSITIVE:
	case CKA_WRAP_WITH_TRUSTED:
	case CKA_ALWAYS_AUTHENTICATE:
	case CKA_RESET_ON_INIT:
	case CKA_HAS_RESET:
	case CKA_OTP_USER_FRIENDLY_MODE:
		return P11W_FORM_BOOL;
	case CKA_ALLOWED_MECHANISMS:
		return P11W_FORM_MECHS;
	case CKA_WRAP_TEMPLATE:
	case CKA_UNWRAP_TEMPLATE:
	case CKA_DERIVE_TEMPLATE:
		return P11W_FORM_TEMPLATE;
	default:
		return P11W_FORM_BYTES;
	}
}

uint64_t p11w_len_to_wire(CK_ATTRIBUTE_TYPE type, CK_ULONG host_len)
{
	if (host_len == CK_UNAVAILABLE_INFORMATION)
		return WIRE_UNAVAILABLE;
	switch (p11w_attr_form(type)) {
	case P11W_FORM_ULONG:
		return host_len >= sizeof(CK_ULONG) ? 8 : 0;
	case P11W_FORM_MECHS:
		return (uint64_t)(host_len / sizeof(CK_ULONG)) * 8;
	default:
		return host_len;
	}
}

CK_ULONG p11w_len_to_host(CK_ATTRIBUTE_TYPE type, uint64_t wire_len)
{
	uint64_t n;

	if (wire_len == WIRE_UNAVAILABLE)
		return CK_UNAVAILABLE_INFORMATION;
	switch (p11w_attr_form(type)) {
	case P11W_FORM_ULONG:
		return wire_len >= 8 ? sizeof(CK_ULONG) : 0;
	case P11W_FORM_MECHS:
		n = wire_len / 8;
		if (n > (uint64_t)(ULONG_MAX / sizeof(CK_ULONG)))
			return CK_UNAVAILABLE_INFORMATION;
		return (CK_ULONG)n * sizeof(CK_ULONG);
	default:
		return wire_len >= (uint64_t)ULONG_MAX ? CK_UNAVAILABLE_INFORMATION : (CK_ULONG)wire_len;
	}
}

/* A host value's check against its form: CKR_OK or the code it earns. */
static CK_RV host_value_ok(const CK_ATTRIBUTE *a)
{
	if (!a->pValue)
		return a->ulValueLen ? CKR_ATTRIBUTE_VALUE_INVALID : CKR_OK;
	switch (p11w_attr_form(a->type)) {
	case P11W_FORM_ULONG:
		return a->ulValueLen == sizeof(CK_ULONG) ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
	case P11W_FORM_BOOL:
		return a->ulValueLen == sizeof(CK_BBOOL) ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
	case P11W_FORM_MECHS:
		if (a->ulValueLen % sizeof(CK_ULONG) ||
		    a->ulValueLen / sizeof(CK_ULONG) * 8 > P11W_VALUE_MAX)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		return CKR_OK;
	case P11W_FORM_TEMPLATE:
		return CKR_ATTRIBUTE_TYPE_INVALID;
	default:
		return a->ulValueLen <= P11W_VALUE_MAX ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
	}
}

/* A host value in its wire form (checked by host_value_ok). */
static void put_value(struct ped_wbuf *w, CK_ATTRIBUTE_TYPE type, const void *v, CK_ULONG len)
{
	CK_ULONG x;

	switch (p11w_attr_form(type)) {
	case P11W_FORM_ULONG:
		memcpy(&x, v, sizeof(x));
		ped_wbuf_u32(w, 8);
		p11w_put_ulong(w, x);
		break;
	case P11W_FORM_MECHS:
		ped_wbuf_u32(w, (uint32_t)(len / sizeof(CK_ULONG) * 8));
		for (CK_ULONG i = 0; i < len / sizeof(CK_ULONG); i++) {
			memcpy(&x, (const uint8_t *)v + i * sizeof(CK_ULONG), sizeof(x));
			p11w_put_ulong(w, x);
		}
		break;
	default:
		ped_wbuf_lv32(w, v, len);
		break;
	}
}

CK_RV p11w_put_template(struct ped_wbuf *w, const CK_ATTRIBUTE *t, CK_ULONG n, enum p11w_tpl_mode mode)
{
	CK_RV rv;

	if ((!t && n) || n > P11W_TEMPLATE_MAX)
		return CKR_ARGUMENTS_BAD;
	if (mode == P11W_TPL_VALUES)
		for (CK_ULONG i = 0; i < n; i++)
			if ((rv = host_value_ok(&t[i])) != CKR_OK)
				return rv;
	ped_wbuf_u32(w, (uint32_t)n);
	for (CK_ULONG i = 0; i < n; i++) {
		ped_wbuf_u64(w, t[i].type);
		ped_wbuf_u8(w, t[i].pValue ? 1 : 0);
		if (mode == P11W_TPL_LENGTHS) {
			ped_wbuf_u64(w, t[i].pValue ? p11w_len_to_wire(t[i].type, t[i].ulValueLen) : 0);
			continue;
		}
		ped_wbuf_u64(w, p11w_len_to_wire(t[i].type, t[i].ulValueLen));
		if (t[i].pValue)
			put_value(w, t[i].type, t[i].pValue, t[i].ulValueLen);
	}
	return p11w_wbuf_rv(w);
}

void p11w_template_free(struct p11w_template *t)
{
	if (!t)
		return;
	OPENSSL_clear_free(t->store, t->store_len);
	OPENSSL_free(t->attrs);
	OPENSSL_free(t->req);
	memset(t, 0, sizeof(*t));
}

/* The host length of a wire value of that form and wire length, or 0 with
 * *rv set when the length is not one the form has. */
static CK_RV wire_value_len(CK_ATTRIBUTE_TYPE type, uint64_t wl, size_t *host)
{
	switch (p11w_attr_form(type)) {
	case P11W_FORM_ULONG:
		*host = sizeof(CK_ULONG);
		return wl == 8 ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
	case P11W_FORM_BOOL:
		*host = 1;
		return wl == 1 ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
	case P11W_FORM_MECHS:
		*host = (size_t)(wl / 8) * sizeof(CK_ULONG);
		return wl % 8 ? CKR_ATTRIBUTE_VALUE_INVALID : CKR_OK;
	case P11W_FORM_TEMPLATE:
		*host = 0;
		return CKR_ATTRIBUTE_TYPE_INVALID;
	default:
		*host = (size_t)wl;
		return CKR_OK;
	}
}

/* A wire value (wl bytes at p, wl checked) into its host form at dst. */
static CK_RV value_to_host(CK_ATTRIBUTE_TYPE type, const uint8_t *p, size_t wl, uint8_t *dst)
{
	CK_ULONG x;

	switch (p11w_attr_form(type)) {
	case P11W_FORM_ULONG:
	case P11W_FORM_MECHS:
		for (size_t i = 0; i < wl / 8; i++) {
			if (!wire_to_ulong(ped_be64_get(p + 8 * i), &x))
				return CKR_ATTRIBUTE_VALUE_INVALID;
			memcpy(dst + i * sizeof(CK_ULONG), &x, sizeof(x));
		}
		return CKR_OK;
	case P11W_FORM_BOOL:
		if (p[0] > 1)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		dst[0] = p[0];
		return CKR_OK;
	default:
		if (wl)
			memcpy(dst, p, wl);
		return CKR_OK;
	}
}

CK_RV p11w_get_template(struct ped_rbuf *r, enum p11w_tpl_mode mode, struct p11w_template *t)
{
	struct ped_rbuf scan;
	uint32_t n;
	size_t need = 0, off = 0, hl, wl;
	const uint8_t *v;
	CK_RV rv = CKR_ARGUMENTS_BAD, vrv = CKR_OK;

	memset(t, 0, sizeof(*t));
	n = ped_rbuf_u32(r);
	if (r->err || n > P11W_TEMPLATE_MAX)
		goto out;
	/* Pass 1 on a copy: check the shape and add up the host bytes, so the
	 * store is allocated once, at the size the message justifies. */
	scan = *r;
	for (uint32_t i = 0; i < n; i++) {
		CK_ATTRIBUTE_TYPE type = (CK_ATTRIBUTE_TYPE)ped_rbuf_u64(&scan);
		int present = p11w_get_bool(&scan);
		uint64_t len = ped_rbuf_u64(&scan);
		if (scan.err)
			goto out;
		if (mode == P11W_TPL_LENGTHS)
			continue;
		if (!present) {
			if (len)
				goto out;
			continue;
		}
		if ((v = ped_rbuf_lv32(&scan, P11W_VALUE_MAX, &wl)) == NULL || wl != len)
			goto out;
		CK_RV e = wire_value_len(type, wl, &hl);
		if (e != CKR_OK && vrv == CKR_OK)
			vrv = e;
		need += hl;
	}
	if (mode == P11W_TPL_VALUES && vrv != CKR_OK) {
		rv = vrv;
		goto out;
	}
	rv = CKR_HOST_MEMORY;
	if (n && (t->attrs = OPENSSL_zalloc(n * sizeof(*t->attrs))) == NULL)
		goto out;
	if (mode == P11W_TPL_LENGTHS && n && (t->req = OPENSSL_zalloc(n * sizeof(*t->req))) == NULL)
		goto out;
	if (need && (t->store = OPENSSL_zalloc(need)) == NULL)
		goto out;
	t->store_len = need;
	t->count = n;
	/* Pass 2: the same bytes, now trusted in shape. */
	for (uint32_t i = 0; i < n; i++) {
		CK_ATTRIBUTE *a = &t->attrs[i];
		a->type = (CK_ATTRIBUTE_TYPE)ped_rbuf_u64(r);
		int present = p11w_get_bool(r);
		uint64_t len = ped_rbuf_u64(r);
		if (mode == P11W_TPL_LENGTHS) {
			t->req[i].present = (uint8_t)present;
			t->req[i].capacity = present ? p11w_len_to_host(a->type, len) : 0;
			continue;
		}
		if (!present)
			continue;
		v = ped_rbuf_lv32(r, P11W_VALUE_MAX, &wl);
		(void)wire_value_len(a->type, wl, &hl);
		/* an empty value is (NULL, 0), and then the store may be NULL */
		uint8_t *dst = hl ? t->store + off : NULL;
		if ((rv = value_to_host(a->type, v, wl, dst)) != CKR_OK)
			goto out;
		a->pValue = dst;
		a->ulValueLen = (CK_ULONG)hl;
		off += hl;
	}
	rv = p11w_rbuf_rv(r);
out:
	if (rv != CKR_OK) {
		if (rv == CKR_ARGUMENTS_BAD)
			bad(r);
		p11w_template_free(t);
	}
	return rv;
}

static int rv_rank(CK_RV rv)
{
	switch (rv) {
	case CKR_ATTRIBUTE_SENSITIVE:
		return 3;
	case CKR_ATTRIBUTE_TYPE_INVALID:
		return 2;
	case CKR_BUFFER_TOO_SMALL:
		return 1;
	default:
		return 0;
	}
}

/* Where an empty value with a buffer points: nothing is ever written. */
static uint8_t empty_value[1];

CK_RV p11w_getattr_serve(struct p11w_template *t, p11w_getattr_fn get, void *ctx)
{
	CK_RV rv, worst = CKR_OK;
	size_t need = 0, off = 0;
	int too_small = 0;

	if ((!t->req && t->count) || t->count > P11W_TEMPLATE_MAX)
		return CKR_ARGUMENTS_BAD;
	for (CK_ULONG i = 0; i < t->count; i++) {
		t->attrs[i].pValue = NULL;
		t->attrs[i].ulValueLen = 0;
	}
	rv = get(ctx, t->attrs, t->count);
	if (rv != CKR_OK && !rv_rank(rv))
		return rv;
	for (CK_ULONG i = 0; i < t->count; i++) {
		CK_ULONG l = t->attrs[i].ulValueLen;
		if (!t->req[i].present || l == CK_UNAVAILABLE_INFORMATION)
			continue;
		if (l > t->req[i].capacity || l > P11W_DATA_MAX)
			too_small = 1;
		else
			need += l;
	}
	if (need > P11W_DATA_MAX)
		return CKR_DEVICE_MEMORY; /* the values would not fit one reply */
	OPENSSL_clear_free(t->store, t->store_len);
	t->store = NULL;
	t->store_len = 0;
	if (need && (t->store = OPENSSL_zalloc(need)) == NULL)
		return CKR_HOST_MEMORY;
	t->store_len = need;
	/* Ask again: with a buffer of its length for each attribute that fits. */
	CK_ULONG first[P11W_TEMPLATE_MAX];
	for (CK_ULONG i = 0; i < t->count; i++) {
		CK_ULONG l = first[i] = t->attrs[i].ulValueLen;
		if (t->req[i].present && l != CK_UNAVAILABLE_INFORMATION && l <= t->req[i].capacity &&
		    l <= P11W_DATA_MAX) {
			/* an empty value still has a buffer: the caller gave one */
			t->attrs[i].pValue = l ? t->store + off : (void *)empty_value;
			off += l;
		} else {
			t->attrs[i].pValue = NULL;
		}
		t->attrs[i].ulValueLen = t->attrs[i].pValue ? l : 0;
	}
	rv = get(ctx, t->attrs, t->count);
	if (rv != CKR_OK && !rv_rank(rv))
		return rv;
	worst = rv;
	for (CK_ULONG i = 0; i < t->count; i++) {
		if (t->req[i].present && !t->attrs[i].pValue && first[i] != CK_UNAVAILABLE_INFORMATION) {
			t->attrs[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
		} else if (t->attrs[i].pValue && t->attrs[i].ulValueLen == CK_UNAVAILABLE_INFORMATION) {
			t->attrs[i].pValue = NULL; /* changed between the two asks */
			too_small = 1;
		}
	}
	if (too_small && rv_rank(CKR_BUFFER_TOO_SMALL) > rv_rank(worst))
		worst = CKR_BUFFER_TOO_SMALL;
	return worst;
}

CK_RV p11w_put_attr_results(struct ped_wbuf *w, const struct p11w_template *t)
{
	for (CK_ULONG i = 0; i < t->count; i++) {
		const CK_ATTRIBUTE *a = &t->attrs[i];
		ped_wbuf_u64(w, p11w_len_to_wire(a->type, a->ulValueLen));
		if (a->pValue && a->ulValueLen != CK_UNAVAILABLE_INFORMATION) {
			CK_ATTRIBUTE c = *a;
			if (host_value_ok(&c) != CKR_OK) {
				w->err = w->err ? w->err : PED_E_INVALID;
				break;
			}
			put_value(w, a->type, a->pValue, a->ulValueLen);
		}
	}
	return p11w_wbuf_rv(w);
}

CK_RV p11w_get_attr_results(struct ped_rbuf *r, CK_ATTRIBUTE *t, CK_ULONG n)
{
	for (CK_ULONG i = 0; i < n; i++) {
		uint64_t wl = ped_rbuf_u64(r);
		CK_ULONG hl;
		size_t vl, need;
		const uint8_t *v;

		if (r->err)
			goto bad;
		if (wl == WIRE_UNAVAILABLE) {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			continue;
		}
		if ((hl = p11w_len_to_host(t[i].type, wl)) == CK_UNAVAILABLE_INFORMATION)
			goto bad;
		if (!t[i].pValue) {
			t[i].ulValueLen = hl;
			continue;
		}
		/* a buffer was given: the value comes if it fits, else unavailable */
		if (hl > t[i].ulValueLen)
			goto bad;
		if ((v = ped_rbuf_lv32(r, P11W_VALUE_MAX, &vl)) == NULL || vl != wl)
			goto bad;
		if (wire_value_len(t[i].type, wl, &need) != CKR_OK || need != hl)
			goto bad;
		if (value_to_host(t[i].type, v, vl, t[i].pValue) != CKR_OK)
			goto bad;
		t[i].ulValueLen = hl;
	}
	return p11w_rbuf_rv(r);
bad:
	bad(r);
	return CKR_ARGUMENTS_BAD;
}

/* ---- mechanisms ---------------------------------------------------------- */

/* CK_GCM_PARAMS as PKCS#11 3.0 lays it out (no ulIvBits): the layout many
 * 3.0 clients pass. p11-kit's 2.40 header has only the other one. */
struct gcm_params_30 {
	CK_BYTE_PTR pIv;
	CK_ULONG ulIvLen;
	CK_BYTE_PTR pAAD;
	CK_ULONG ulAADLen;
	CK_ULONG ulTagBits;
};

enum p11w_param_kind p11w_mech_param_kind(CK_MECHANISM_TYPE type)
{
	switch (type) {
	case CKM_AES_GCM:
		return P11W_PARAM_GCM;
	case CKM_AES_CTR:
		return P11W_PARAM_CTR;
	case CKM_RSA_PKCS_PSS:
	case CKM_SHA1_RSA_PKCS_PSS:
	case CKM_SHA224_RSA_PKCS_PSS:
	case CKM_SHA256_RSA_PKCS_PSS:
	case CKM_SHA384_RSA_PKCS_PSS:
	case CKM_SHA512_RSA_PKCS_PSS:
		return P11W_PARAM_PSS;
	case CKM_RSA_PKCS_OAEP:
		return P11W_PARAM_OAEP;
	case CKM_ECDH1_DERIVE:
	case CKM_ECDH1_COFACTOR_DERIVE:
		return P11W_PARAM_ECDH1;
	default:
		return P11W_PARAM_RAW;
	}
}

/* bytes of a parameter structure: a NULL pointer only with length 0 */
static int param_bytes_ok(const void *p, CK_ULONG len)
{
	return (p || !len) && len <= P11W_VALUE_MAX;
}

CK_RV p11w_put_mechanism(struct ped_wbuf *w, const CK_MECHANISM *m)
{
	enum p11w_param_kind kind;

	if (!m)
		return CKR_ARGUMENTS_BAD;
	if (!m->pParameter && m->ulParameterLen)
		return CKR_MECHANISM_PARAM_INVALID;
	kind = m->pParameter ? p11w_mech_param_kind(m->mechanism) : P11W_PARAM_NONE;
	ped_wbuf_u64(w, m->mechanism);
	ped_wbuf_u8(w, (uint8_t)kind);
	switch (kind) {
	case P11W_PARAM_NONE:
		break;
	case P11W_PARAM_RAW:
		if (m->ulParameterLen > P11W_VALUE_MAX)
			return CKR_MECHANISM_PARAM_INVALID;
		ped_wbuf_lv32(w, m->pParameter, m->ulParameterLen);
		break;
	case P11W_PARAM_GCM:
		if (m->ulParameterLen == sizeof(CK_GCM_PARAMS)) {
			const CK_GCM_PARAMS *g = m->pParameter;
			if (!param_bytes_ok(g->pIv, g->ulIvLen) || !param_bytes_ok(g->pAAD, g->ulAADLen))
				return CKR_MECHANISM_PARAM_INVALID;
			ped_wbuf_lv32(w, g->pIv, g->ulIvLen);
			ped_wbuf_lv32(w, g->pAAD, g->ulAADLen);
			p11w_put_ulong(w, g->ulTagBits);
		} else if (m->ulParameterLen == sizeof(struct gcm_params_30)) {
			const struct gcm_params_30 *g = m->pParameter;
			if (!param_bytes_ok(g->pIv, g->ulIvLen) || !param_bytes_ok(g->pAAD, g->ulAADLen))
				return CKR_MECHANISM_PARAM_INVALID;
			ped_wbuf_lv32(w, g->pIv, g->ulIvLen);
			ped_wbuf_lv32(w, g->pAAD, g->ulAADLen);
			p11w_put_ulong(w, g->ulTagBits);
		} else {
			return CKR_MECHANISM_PARAM_INVALID;
		}
		break;
	case P11W_PARAM_CTR: {
		const CK_AES_CTR_PARAMS *c = m->pParameter;
		if (m->ulParameterLen != sizeof(*c))
			return CKR_MECHANISM_PARAM_INVALID;
		p11w_put_ulong(w, c->ulCounterBits);
		ped_wbuf_bytes(w, c->cb, sizeof(c->cb));
		break;
	}
	case P11W_PARAM_PSS: {
		const CK_RSA_PKCS_PSS_PARAMS *s = m->pParameter;
		if (m->ulParameterLen != sizeof(*s))
			return CKR_MECHANISM_PARAM_INVALID;
		p11w_put_ulong(w, s->hashAlg);
		p11w_put_ulong(w, s->mgf);
		p11w_put_ulong(w, s->sLen);
		break;
	}
	case P11W_PARAM_OAEP: {
		const CK_RSA_PKCS_OAEP_PARAMS *o = m->pParameter;
		if (m->ulParameterLen != sizeof(*o) || !param_bytes_ok(o->pSourceData, o->ulSourceDataLen))
			return CKR_MECHANISM_PARAM_INVALID;
		p11w_put_ulong(w, o->hashAlg);
		p11w_put_ulong(w, o->mgf);
		p11w_put_ulong(w, o->source);
		ped_wbuf_lv32(w, o->pSourceData, o->ulSourceDataLen);
		break;
	}
	case P11W_PARAM_ECDH1: {
		const CK_ECDH1_DERIVE_PARAMS *e = m->pParameter;
		if (m->ulParameterLen != sizeof(*e) || !param_bytes_ok(e->pSharedData, e->ulSharedDataLen) ||
		    !param_bytes_ok(e->pPublicData, e->ulPublicDataLen))
			return CKR_MECHANISM_PARAM_INVALID;
		p11w_put_ulong(w, e->kdf);
		ped_wbuf_lv32(w, e->pSharedData, e->ulSharedDataLen);
		ped_wbuf_lv32(w, e->pPublicData, e->ulPublicDataLen);
		break;
	}
	}
	return p11w_wbuf_rv(w);
}

void p11w_mech_free(struct p11w_mech *m)
{
	if (!m)
		return;
	OPENSSL_clear_free(m->store, m->store_len);
	OPENSSL_cleanse(m, sizeof(*m));
}

/* Byte strings of a parameter, copied into one store; NULL for empty. */
struct mech_copy {
	const uint8_t *p[2];
	size_t n[2];
	int count;
};

static CK_RV copy_strings(struct p11w_mech *out, struct mech_copy *c, uint8_t **dst)
{
	size_t need = 0, off = 0;
	for (int i = 0; i < c->count; i++)
		need += c->n[i];
	if (need && (out->store = OPENSSL_malloc(need)) == NULL)
		return CKR_HOST_MEMORY;
	out->store_len = need;
	for (int i = 0; i < c->count; i++) {
		dst[i] = c->n[i] ? out->store + off : NULL;
		if (c->n[i])
			memcpy(out->store + off, c->p[i], c->n[i]);
		off += c->n[i];
	}
	return CKR_OK;
}

CK_RV p11w_get_mechanism(struct ped_rbuf *r, struct p11w_mech *out)
{
	struct mech_copy c = {.count = 0};
	uint8_t *d[2] = {NULL, NULL};
	const uint8_t *p;
	CK_RV rv = CKR_ARGUMENTS_BAD;
	uint8_t kind;

	memset(out, 0, sizeof(*out));
	out->m.mechanism = (CK_MECHANISM_TYPE)ped_rbuf_u64(r);
	kind = ped_rbuf_u8(r);
	if (r->err)
		goto out;
	/* a well-formed parameter of another kind than its mechanism takes
	 * (raw bytes for AES-GCM) is the caller's mistake, not the message's */
	if (kind != P11W_PARAM_NONE && kind <= P11W_PARAM_ECDH1 && kind != p11w_mech_param_kind(out->m.mechanism)) {
		rv = CKR_MECHANISM_PARAM_INVALID;
		goto out;
	}
	switch (kind) {
	case P11W_PARAM_NONE:
		break;
	case P11W_PARAM_RAW:
		c.p[0] = ped_rbuf_lv32(r, P11W_VALUE_MAX, &c.n[0]);
		c.count = 1;
		if (r->err || (rv = copy_strings(out, &c, d)) != CKR_OK)
			goto out;
		out->m.pParameter = d[0];
		out->m.ulParameterLen = (CK_ULONG)c.n[0];
		break;
	case P11W_PARAM_GCM:
		c.p[0] = ped_rbuf_lv32(r, P11W_VALUE_MAX, &c.n[0]);
		c.p[1] = ped_rbuf_lv32(r, P11W_VALUE_MAX, &c.n[1]);
		c.count = 2;
		out->u.gcm.ulTagBits = p11w_get_ulong(r);
		if (r->err || (rv = copy_strings(out, &c, d)) != CKR_OK)
			goto out;
		out->u.gcm.pIv = d[0];
		out->u.gcm.ulIvLen = (CK_ULONG)c.n[0];
		out->u.gcm.ulIvBits = (CK_ULONG)c.n[0] * 8;
		out->u.gcm.pAAD = d[1];
		out->u.gcm.ulAADLen = (CK_ULONG)c.n[1];
		out->m.pParameter = &out->u.gcm;
		out->m.ulParameterLen = sizeof(out->u.gcm);
		break;
	case P11W_PARAM_CTR:
		out->u.ctr.ulCounterBits = p11w_get_ulong(r);
		if ((p = ped_rbuf_bytes(r, sizeof(out->u.ctr.cb))) == NULL)
			goto out;
		memcpy(out->u.ctr.cb, p, sizeof(out->u.ctr.cb));
		out->m.pParameter = &out->u.ctr;
		out->m.ulParameterLen = sizeof(out->u.ctr);
		break;
	case P11W_PARAM_PSS:
		out->u.pss.hashAlg = p11w_get_ulong(r);
		out->u.pss.mgf = p11w_get_ulong(r);
		out->u.pss.sLen = p11w_get_ulong(r);
		out->m.pParameter = &out->u.pss;
		out->m.ulParameterLen = sizeof(out->u.pss);
		break;
	case P11W_PARAM_OAEP:
		out->u.oaep.hashAlg = p11w_get_ulong(r);
		out->u.oaep.mgf = p11w_get_ulong(r);
		out->u.oaep.source = p11w_get_ulong(r);
		c.p[0] = ped_rbuf_lv32(r, P11W_VALUE_MAX, &c.n[0]);
		c.count = 1;
		if (r->err || (rv = copy_strings(out, &c, d)) != CKR_OK)
			goto out;
		out->u.oaep.pSourceData = d[0];
		out->u.oaep.ulSourceDataLen = (CK_ULONG)c.n[0];
		out->m.pParameter = &out->u.oaep;
		out->m.ulParameterLen = sizeof(out->u.oaep);
		break;
	case P11W_PARAM_ECDH1:
		out->u.ecdh1.kdf = p11w_get_ulong(r);
		c.p[0] = ped_rbuf_lv32(r, P11W_VALUE_MAX, &c.n[0]);
		c.p[1] = ped_rbuf_lv32(r, P11W_VALUE_MAX, &c.n[1]);
		c.count = 2;
		if (r->err || (rv = copy_strings(out, &c, d)) != CKR_OK)
			goto out;
		out->u.ecdh1.pSharedData = d[0];
		out->u.ecdh1.ulSharedDataLen = (CK_ULONG)c.n[0];
		out->u.ecdh1.pPublicData = d[1];
		out->u.ecdh1.ulPublicDataLen = (CK_ULONG)c.n[1];
		out->m.pParameter = &out->u.ecdh1;
		out->m.ulParameterLen = sizeof(out->u.ecdh1);
		break;
	default:
		goto out;
	}
	rv = p11w_rbuf_rv(r);
out:
	if (rv != CKR_OK) {
		if (rv == CKR_ARGUMENTS_BAD)
			bad(r);
		p11w_mech_free(out);
	}
	return rv;
}

/* ---- results that describe the HSM --------------------------------------- */

void p11w_put_slot_list(struct ped_wbuf *w, const struct p11w_slot *s, uint32_t n)
{
	ped_wbuf_u32(w, n);
	for (uint32_t i = 0; i < n; i++) {
		p11w_put_ulong(w, s[i].slot);
		p11w_put_bool(w, s[i].token_present);
		ped_wbuf_u8(w, s[i].kind);
		ped_wbuf_u32(w, s[i].hsm_index);
		ped_wbuf_lv8(w, s[i].serial, strnlen(s[i].serial, P11W_SERIAL_MAX));
	}
}

CK_RV p11w_get_slot_list(struct ped_rbuf *r, struct p11w_slot **out, uint32_t *n)
{
	struct p11w_slot *s = NULL;
	uint32_t count;

	*out = NULL;
	*n = 0;
	count = ped_rbuf_u32(r);
	/* each entry takes at least 15 bytes (a slot without a token: no
	 * serial): a count beyond what is left is a lie */
	if (r->err || count > P11W_SLOTS_MAX || count > (r->len - r->off) / 15)
		goto bad;
	if (count && (s = OPENSSL_zalloc(count * sizeof(*s))) == NULL)
		return CKR_HOST_MEMORY;
	for (uint32_t i = 0; i < count; i++) {
		s[i].slot = p11w_get_ulong(r);
		s[i].token_present = (uint8_t)p11w_get_bool(r);
		s[i].kind = ped_rbuf_u8(r);
		s[i].hsm_index = ped_rbuf_u32(r);
		(void)ped_rbuf_text8(r, s[i].serial, P11W_SERIAL_MAX);
		if (!r->err && (s[i].kind < P11W_SLOT_PARTITION || s[i].kind > P11W_SLOT_BACKUP))
			bad(r);
	}
	if (r->err)
		goto bad;
	*out = s;
	*n = count;
	return CKR_OK;
bad:
	OPENSSL_free(s);
	bad(r);
	return CKR_ARGUMENTS_BAD;
}

/* A blank-padded text field of CK_*_INFO: bytes as they are but no control
 * characters (UTF-8 labels pass), no more than the field. */
static void put_field(struct ped_wbuf *w, const unsigned char *f, size_t size)
{
	size_t n = size;
	while (n && f[n - 1] == ' ')
		n--;
	ped_wbuf_lv8(w, f, n);
}

static void get_field(struct ped_rbuf *r, unsigned char *f, size_t size)
{
	size_t n = 0;
	const uint8_t *p = ped_rbuf_lv8(r, size, &n);

	memset(f, ' ', size);
	if (!p)
		return;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f) {
			bad(r);
			return;
		}
	memcpy(f, p, n);
}

static void put_version(struct ped_wbuf *w, CK_VERSION v)
{
	ped_wbuf_u8(w, v.major);
	ped_wbuf_u8(w, v.minor);
}

static CK_VERSION get_version(struct ped_rbuf *r)
{
	CK_VERSION v;
	v.major = ped_rbuf_u8(r);
	v.minor = ped_rbuf_u8(r);
	return v;
}

void p11w_put_slot_info(struct ped_wbuf *w, const CK_SLOT_INFO *i)
{
	put_field(w, i->slotDescription, sizeof(i->slotDescription));
	put_field(w, i->manufacturerID, sizeof(i->manufacturerID));
	p11w_put_ulong(w, i->flags);
	put_version(w, i->hardwareVersion);
	put_version(w, i->firmwareVersion);
}

CK_RV p11w_get_slot_info(struct ped_rbuf *r, CK_SLOT_INFO *i)
{
	memset(i, 0, sizeof(*i));
	get_field(r, i->slotDescription, sizeof(i->slotDescription));
	get_field(r, i->manufacturerID, sizeof(i->manufacturerID));
	i->flags = p11w_get_ulong(r);
	i->hardwareVersion = get_version(r);
	i->firmwareVersion = get_version(r);
	return p11w_rbuf_rv(r);
}

void p11w_put_token_info(struct ped_wbuf *w, const CK_TOKEN_INFO *i)
{
	put_field(w, i->label, sizeof(i->label));
	put_field(w, i->manufacturerID, sizeof(i->manufacturerID));
	put_field(w, i->model, sizeof(i->model));
	put_field(w, i->serialNumber, sizeof(i->serialNumber));
	p11w_put_ulong(w, i->flags);
	p11w_put_ulong(w, i->ulMaxSessionCount);
	p11w_put_ulong(w, i->ulSessionCount);
	p11w_put_ulong(w, i->ulMaxRwSessionCount);
	p11w_put_ulong(w, i->ulRwSessionCount);
	p11w_put_ulong(w, i->ulMaxPinLen);
	p11w_put_ulong(w, i->ulMinPinLen);
	p11w_put_ulong(w, i->ulTotalPublicMemory);
	p11w_put_ulong(w, i->ulFreePublicMemory);
	p11w_put_ulong(w, i->ulTotalPrivateMemory);
	p11w_put_ulong(w, i->ulFreePrivateMemory);
	put_version(w, i->hardwareVersion);
	put_version(w, i->firmwareVersion);
	ped_wbuf_bytes(w, i->utcTime, sizeof(i->utcTime));
}

CK_RV p11w_get_token_info(struct ped_rbuf *r, CK_TOKEN_INFO *i)
{
	const uint8_t *t;

	memset(i, 0, sizeof(*i));
	get_field(r, i->label, sizeof(i->label));
	get_field(r, i->manufacturerID, sizeof(i->manufacturerID));
	get_field(r, i->model, sizeof(i->model));
	get_field(r, i->serialNumber, sizeof(i->serialNumber));
	i->flags = p11w_get_ulong(r);
	i->ulMaxSessionCount = p11w_get_ulong(r);
	i->ulSessionCount = p11w_get_ulong(r);
	i->ulMaxRwSessionCount = p11w_get_ulong(r);
	i->ulRwSessionCount = p11w_get_ulong(r);
	i->ulMaxPinLen = p11w_get_ulong(r);
	i->ulMinPinLen = p11w_get_ulong(r);
	i->ulTotalPublicMemory = p11w_get_ulong(r);
	i->ulFreePublicMemory = p11w_get_ulong(r);
	i->ulTotalPrivateMemory = p11w_get_ulong(r);
	i->ulFreePrivateMemory = p11w_get_ulong(r);
	i->hardwareVersion = get_version(r);
	i->firmwareVersion = get_version(r);
	if ((t = ped_rbuf_bytes(r, sizeof(i->utcTime))) != NULL)
		memcpy(i->utcTime, t, sizeof(i->utcTime));
	return p11w_rbuf_rv(r);
}

void p11w_put_session_info(struct ped_wbuf *w, const CK_SESSION_INFO *i)
{
	p11w_put_ulong(w, i->slotID);
	p11w_put_ulong(w, i->state);
	p11w_put_ulong(w, i->flags);
	p11w_put_ulong(w, i->ulDeviceError);
}

CK_RV p11w_get_session_info(struct ped_rbuf *r, CK_SESSION_INFO *i)
{
	i->slotID = p11w_get_ulong(r);
	i->state = p11w_get_ulong(r);
	i->flags = p11w_get_ulong(r);
	i->ulDeviceError = p11w_get_ulong(r);
	return p11w_rbuf_rv(r);
}

void p11w_put_mechanism_info(struct ped_wbuf *w, const CK_MECHANISM_INFO *i)
{
	p11w_put_ulong(w, i->ulMinKeySize);
	p11w_put_ulong(w, i->ulMaxKeySize);
	p11w_put_ulong(w, i->flags);
}

CK_RV p11w_get_mechanism_info(struct ped_rbuf *r, CK_MECHANISM_INFO *i)
{
	i->ulMinKeySize = p11w_get_ulong(r);
	i->ulMaxKeySize = p11w_get_ulong(r);
	i->flags = p11w_get_ulong(r);
	return p11w_rbuf_rv(r);
}

void p11w_put_ulong_list(struct ped_wbuf *w, const CK_ULONG *v, uint32_t n)
{
	ped_wbuf_u32(w, n);
	for (uint32_t i = 0; i < n; i++)
		p11w_put_ulong(w, v[i]);
}

CK_RV p11w_get_ulong_list(struct ped_rbuf *r, uint32_t max, CK_ULONG *out, uint32_t cap, uint32_t *n)
{
	uint32_t count = ped_rbuf_u32(r);

	*n = 0;
	if (r->err || count > max || count > cap || count > (r->len - r->off) / 8) {
		bad(r);
		return CKR_ARGUMENTS_BAD;
	}
	for (uint32_t i = 0; i < count; i++)
		out[i] = p11w_get_ulong(r);
	if (r->err)
		return CKR_ARGUMENTS_BAD;
	*n = count;
	return CKR_OK;
}
