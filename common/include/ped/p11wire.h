/* The application protocol between the PKCS#11 module (libopenped-pkcs11.so)
 * and hsm-sim: docs/protocol.md, section 13, in code. Both ends use these
 * encoders and bounded decoders, so the module's and hsm-sim's idea of
 * every byte is the same function.
 *
 *   module -> hsm-sim   P11W_APP_HELLO     first frame of a connection
 *   hsm-sim -> module   P11W_APP_WELCOME
 *   module -> hsm-sim   P11W_APP_REQUEST   u32 call id, u16 function, arguments
 *   hsm-sim -> module   P11W_APP_REPLY     u32 call id, u32 CK_RV, results
 *
 * Values (all integers big-endian): a handle or a CK_ULONG is a u64
 * (CK_UNAVAILABLE_INFORMATION is all ones whatever the host's width), a
 * bool a u8 0 or 1, bytes lv32. Templates carry each value in a
 * host-independent form (p11w_attr_form): CK_ULONG attributes as u64,
 * CK_MECHANISM_TYPE arrays as u64 each, CK_BBOOL as one byte, everything
 * else as it is; every length on the wire counts bytes of that form (a
 * CKA_CLASS is 8 long on the wire, sizeof(CK_ULONG) in the host).
 *
 * Encoders write into a struct ped_wbuf (ped/buf.h) and check the caller's
 * PKCS#11 values (a CKA_CLASS of 3 bytes is CKR_ATTRIBUTE_VALUE_INVALID
 * before anything is sent). Decoders read a struct ped_rbuf and return
 * CKR_OK, CKR_ARGUMENTS_BAD for bytes that are not what this protocol
 * says (hsm-sim answers that; the module turns it into CKR_DEVICE_ERROR),
 * CKR_HOST_MEMORY, or the PKCS#11 code a value earns where the value, not
 * the message, is wrong. Decoders never read past the buffer, never
 * allocate more than the message justifies, and leave nothing to free on
 * failure. */
#ifndef PED_P11WIRE_H
#define PED_P11WIRE_H

#include "ped/buf.h"

#include <p11-kit/pkcs11.h>
#include <stddef.h>
#include <stdint.h>

#define P11W_VERSION 1

enum {
	P11W_APP_HELLO = 0x60,
	P11W_APP_WELCOME = 0x61,
	P11W_APP_REQUEST = 0x62,
	P11W_APP_REPLY = 0x63,
};

/* Bounds. A frame's payload is at most P11W_PAYLOAD_MAX (section 1's 64
 * KiB); the bytes of one call (data in, output out, an attribute's value)
 * at most P11W_DATA_MAX, which leaves room for the rest of the message. */
#define P11W_PAYLOAD_MAX (64u * 1024u)
#define P11W_DATA_MAX (P11W_PAYLOAD_MAX - 1024u)
#define P11W_APP_ID_LEN 16
#define P11W_NAME_MAX 64
#define P11W_TEMPLATE_MAX 128 /* attributes in one template */
#define P11W_VALUE_MAX 32768  /* bytes of one attribute value (libhsm's HSM_ATTR_MAX) */
#define P11W_SLOTS_MAX 1024   /* entries of a GetSlotList reply */
#define P11W_MECHS_MAX 1024   /* entries of a GetMechanismList reply */
#define P11W_FIND_MAX 4096    /* handles of one FindObjects reply */
#define P11W_PIN_MAX 256      /* bytes of a challenge secret */
#define P11W_SERIAL_MAX 16    /* a token's serial: CK_TOKEN_INFO's field */

/* The vendor user type of the Crypto User (the reference's CKU_CRYPTO_USER). */
#define P11W_CKU_CRYPTO_USER 0x80000001UL

/* Function numbers: this protocol's, not PKCS#11's. */
enum p11w_fn {
	P11W_FN_GET_SLOT_LIST = 1,
	P11W_FN_GET_SLOT_INFO = 2,
	P11W_FN_GET_TOKEN_INFO = 3,
	P11W_FN_GET_MECHANISM_LIST = 4,
	P11W_FN_GET_MECHANISM_INFO = 5,
	P11W_FN_INIT_TOKEN = 6,
	P11W_FN_INIT_PIN = 7,
	P11W_FN_SET_PIN = 8,
	P11W_FN_OPEN_SESSION = 9,
	P11W_FN_CLOSE_SESSION = 10,
	P11W_FN_CLOSE_ALL_SESSIONS = 11,
	P11W_FN_GET_SESSION_INFO = 12,
	P11W_FN_LOGIN = 13,
	P11W_FN_LOGOUT = 14,
	P11W_FN_CREATE_OBJECT = 15,
	P11W_FN_COPY_OBJECT = 16,
	P11W_FN_DESTROY_OBJECT = 17,
	P11W_FN_GET_OBJECT_SIZE = 18,
	P11W_FN_GET_ATTRIBUTE_VALUE = 19,
	P11W_FN_SET_ATTRIBUTE_VALUE = 20,
	P11W_FN_FIND_OBJECTS_INIT = 21,
	P11W_FN_FIND_OBJECTS = 22,
	P11W_FN_FIND_OBJECTS_FINAL = 23,
	P11W_FN_ENCRYPT_INIT = 24,
	P11W_FN_ENCRYPT = 25,
	P11W_FN_ENCRYPT_UPDATE = 26,
	P11W_FN_ENCRYPT_FINAL = 27,
	/* 28 reserved */
	P11W_FN_DECRYPT_INIT = 29,
	P11W_FN_DECRYPT = 30,
	P11W_FN_DECRYPT_UPDATE = 31,
	P11W_FN_DECRYPT_FINAL = 32,
	P11W_FN_DIGEST_INIT = 33,
	P11W_FN_DIGEST = 34,
	P11W_FN_DIGEST_UPDATE = 35,
	P11W_FN_DIGEST_KEY = 36,
	P11W_FN_DIGEST_FINAL = 37,
	P11W_FN_SIGN_INIT = 38,
	P11W_FN_SIGN = 39,
	P11W_FN_SIGN_UPDATE = 40,
	P11W_FN_SIGN_FINAL = 41,
	P11W_FN_VERIFY_INIT = 42,
	P11W_FN_VERIFY = 43,
	P11W_FN_VERIFY_UPDATE = 44,
	P11W_FN_VERIFY_FINAL = 45,
	P11W_FN_GENERATE_KEY = 46,
	P11W_FN_GENERATE_KEY_PAIR = 47,
	P11W_FN_WRAP_KEY = 48,
	P11W_FN_UNWRAP_KEY = 49,
	P11W_FN_DERIVE_KEY = 50,
	P11W_FN_SEED_RANDOM = 51,
	P11W_FN_GENERATE_RANDOM = 52,
	/* An operation's init and its first call in one request (section 13,
	 * "An init sent with the call"): p11w_put_with_init */
	P11W_FN_WITH_INIT = 53,
	P11W_FN_MAX = 53,
};

/* "GetSlotList", or NULL for a number this protocol does not define. */
const char *p11w_fn_name(unsigned fn);
/* The init function of an operation's call: EncryptInit for Encrypt,
 * EncryptUpdate and EncryptFinal, DigestInit for DigestKey too, ...; 0
 * for any other function (an init itself among them). */
uint16_t p11w_op_init_fn(unsigned fn);

/* WithInit's arguments: the init's function and its arguments (what an
 * init request carries after its header), then the call's function; the
 * call's arguments follow (the rest of the request). Both name the same
 * session. */
struct p11w_with_init {
	uint16_t init_fn;
	const uint8_t *init_args; /* into the request */
	size_t init_len;
	uint16_t fn;
};
void p11w_put_with_init(struct ped_wbuf *w, uint16_t init_fn, const uint8_t *init_args, size_t init_len,
			uint16_t fn);
/* CKR_OK with r at the call's arguments; CKR_ARGUMENTS_BAD for a
 * truncated request, an init_fn that is no init or a fn that is not one
 * of its operation's calls (p11w_op_init_fn). */
CK_RV p11w_get_with_init(struct ped_rbuf *r, struct p11w_with_init *out);

/* ---- greeting ------------------------------------------------------------ */

struct p11w_hello {
	uint16_t version;
	uint8_t app_id[P11W_APP_ID_LEN]; /* a bearer secret: never log it */
	uint32_t pid;
	char name[P11W_NAME_MAX + 1]; /* printable */
	/* the module's ProbeTimeout, ms (0: none): how long hsm-sim may hold
	 * this application's crypto for a Remote PED operation before it
	 * answers CKR_DEVICE_ERROR (docs/pkcs11.md). Optional on the wire: a
	 * hello without it means 0. */
	uint32_t probe_ms;
};

struct p11w_welcome {
	uint16_t version;
	uint32_t max_payload;
	char name[P11W_NAME_MAX + 1];
};

CK_RV p11w_put_hello(struct ped_wbuf *w, const struct p11w_hello *h);
CK_RV p11w_get_hello(const uint8_t *p, size_t len, struct p11w_hello *h);
CK_RV p11w_put_welcome(struct ped_wbuf *w, const struct p11w_welcome *wl);
CK_RV p11w_get_welcome(const uint8_t *p, size_t len, struct p11w_welcome *wl);

/* ---- headers ------------------------------------------------------------- */

void p11w_put_request_header(struct ped_wbuf *w, uint32_t call_id, uint16_t fn);
/* Reads the header; r then holds the arguments. */
CK_RV p11w_get_request_header(struct ped_rbuf *r, uint32_t *call_id, uint16_t *fn);
/* rv travels as a u32: every PKCS#11 and vendor code fits. */
void p11w_put_reply_header(struct ped_wbuf *w, uint32_t call_id, CK_RV rv);
/* A reply's header, its call's id and CK_RV: written first, filled in last
 * (p11w_set_reply_header, at the header's first byte). */
#define P11W_REPLY_HEADER_LEN 8
void p11w_set_reply_header(uint8_t *at, uint32_t call_id, CK_RV rv);
CK_RV p11w_get_reply_header(struct ped_rbuf *r, uint32_t *call_id, CK_RV *rv);
/* Whether a reply with this rv carries fn's results (section 13:
 * CKR_OK; CKR_BUFFER_TOO_SMALL where fn reports a length; and for
 * GetAttributeValue also CKR_ATTRIBUTE_SENSITIVE and
 * CKR_ATTRIBUTE_TYPE_INVALID, with which PKCS#11 fills the template). */
int p11w_reply_has_results(unsigned fn, CK_RV rv);
/* The encoders' and decoders' own sticky error, PED_OK or not: CKR_OK,
 * CKR_HOST_MEMORY, or CKR_ARGUMENTS_BAD (too long, malformed). */
CK_RV p11w_wbuf_rv(const struct ped_wbuf *w);
CK_RV p11w_rbuf_rv(const struct ped_rbuf *r);
/* CKR_OK when r was read to its very end without an error. */
CK_RV p11w_end(const struct ped_rbuf *r);

/* ---- scalars ------------------------------------------------------------- */

/* CK_ULONG and handles as u64; CK_UNAVAILABLE_INFORMATION <-> all ones. */
void p11w_put_ulong(struct ped_wbuf *w, CK_ULONG v);
/* A value this host's CK_ULONG cannot hold sets the error. */
CK_ULONG p11w_get_ulong(struct ped_rbuf *r);
void p11w_put_bool(struct ped_wbuf *w, int v);
/* 0 or 1; any other byte sets the error. */
int p11w_get_bool(struct ped_rbuf *r);
/* bytes: lv32; NULL with n 0 is the empty string. */
void p11w_put_bytes(struct ped_wbuf *w, const void *p, size_t n);
/* Points into r; at most max bytes. NULL (and *n 0) for an empty string. */
const uint8_t *p11w_get_bytes(struct ped_rbuf *r, size_t max, size_t *n);

/* A PIN argument: u8 present, lv32 bytes (absent: NULL_PTR, the PED). */
void p11w_put_pin(struct ped_wbuf *w, const CK_UTF8CHAR *pin, CK_ULONG len);
const uint8_t *p11w_get_pin(struct ped_rbuf *r, int *present, size_t *len);

/* ---- output buffers and their results ------------------------------------ */

/* The caller's (pointer, *length) of a call with output: u8 present, u64
 * capacity. */
struct p11w_out {
	uint8_t present;   /* the caller's pointer was not NULL */
	uint64_t capacity; /* *pulLen as the caller gave it (0 when not present) */
};

void p11w_put_out(struct ped_wbuf *w, const void *p, CK_ULONG capacity);
CK_RV p11w_get_out(struct ped_rbuf *r, struct p11w_out *o);
/* The result: u64 length, then lv32 bytes when o is present and the length
 * fits its capacity (the HSM applied the two-call convention with it). */
/* p11w_put_out_result with the output made in place, where the reply
 * carries it (no copy of a 4 KiB encryption): p11w_out_begin makes room
 * for up to cap bytes at *at and says where to write them (NULL when they
 * do not fit: the writer's error is set); p11w_out_end then tells the
 * length: with written, the first len (at most cap) bytes written are the
 * output; without, the length alone, as for CKR_BUFFER_TOO_SMALL. For a
 * caller's buffer that is present (p11w_out.present). */
uint8_t *p11w_out_begin(struct ped_wbuf *w, CK_ULONG cap, size_t *at);
void p11w_out_end(struct ped_wbuf *w, size_t at, CK_ULONG len, int written);
void p11w_put_out_result(struct ped_wbuf *w, const struct p11w_out *o, const void *data, CK_ULONG len);
/* Copies the bytes into dst (o's capacity) and sets *len; bytes that do not
 * match the length, or come when none may, are CKR_ARGUMENTS_BAD. */
CK_RV p11w_get_out_result(struct ped_rbuf *r, const struct p11w_out *o, void *dst, CK_ULONG *len);

/* ---- templates ----------------------------------------------------------- */

enum p11w_form {
	P11W_FORM_BYTES,    /* as they are (byte strings, CK_DATE, UTF-8) */
	P11W_FORM_ULONG,    /* one CK_ULONG: u64 */
	P11W_FORM_BOOL,     /* CK_BBOOL: one byte */
	P11W_FORM_MECHS,    /* CK_MECHANISM_TYPE array: u64 each */
	P11W_FORM_TEMPLATE, /* CK_ATTRIBUTE array: not carried (CKR_ATTRIBUTE_TYPE_INVALID) */
};

/* The one table of which attribute has which form; anything not named is
 * bytes. */
enum p11w_form p11w_attr_form(CK_ATTRIBUTE_TYPE type);
/* Lengths between the host and the wire for an attribute of that form: a
 * capacity in host bytes becomes the wire bytes it can hold and back
 * (CK_UNAVAILABLE_INFORMATION stays). */
uint64_t p11w_len_to_wire(CK_ATTRIBUTE_TYPE type, CK_ULONG host_len);
CK_ULONG p11w_len_to_host(CK_ATTRIBUTE_TYPE type, uint64_t wire_len);

/* How a template travels:
 *   P11W_TPL_VALUES   with its values (create, copy, set, find, generate,
 *                     unwrap, derive): present is pValue != NULL;
 *   P11W_TPL_LENGTHS  without values (GetAttributeValue's request): present
 *                     is pValue != NULL and length the caller's capacity. */
enum p11w_tpl_mode { P11W_TPL_VALUES, P11W_TPL_LENGTHS };

/* Checks each attribute's value against its form and writes it: CKR_OK,
 * CKR_ATTRIBUTE_VALUE_INVALID (a CK_ULONG attribute not sizeof(CK_ULONG)
 * long, a bool not one byte, a mechanism array not whole, a value over
 * P11W_VALUE_MAX, pValue NULL with a length), CKR_ATTRIBUTE_TYPE_INVALID
 * (a template attribute with a value), CKR_ARGUMENTS_BAD (more than
 * P11W_TEMPLATE_MAX attributes, t NULL with n not 0). n 0 is fine. */
CK_RV p11w_put_template(struct ped_wbuf *w, const CK_ATTRIBUTE *t, CK_ULONG n, enum p11w_tpl_mode mode);

/* A decoded template in the host's layout: attrs[i].pValue points into
 * store (or is NULL); in LENGTHS mode every pValue is NULL and req[i]
 * says what the caller offered. Owns everything; free with
 * p11w_template_free, which wipes the values. */
struct p11w_attr_req {
	uint8_t present;
	CK_ULONG capacity; /* host bytes */
};
struct p11w_template {
	CK_ATTRIBUTE *attrs;
	CK_ULONG count;
	struct p11w_attr_req *req; /* LENGTHS mode only */
	uint8_t *store;
	size_t store_len;
};

/* CKR_OK, CKR_ARGUMENTS_BAD (malformed, over a bound, a length that is not
 * its value's), CKR_ATTRIBUTE_VALUE_INVALID (a value of the wrong length
 * for its form, a bool not 0 or 1, a CK_ULONG this host cannot hold),
 * CKR_ATTRIBUTE_TYPE_INVALID (a template attribute), CKR_HOST_MEMORY. */
CK_RV p11w_get_template(struct ped_rbuf *r, enum p11w_tpl_mode mode, struct p11w_template *t);
void p11w_template_free(struct p11w_template *t);

/* GetAttributeValue on hsm-sim's side, PKCS#11 2.40 section 5.7 exactly:
 * get answers a template in the host's layout (hsm_obj_get); this asks it
 * for the lengths, gives each attribute the caller offered room for a
 * buffer of its exact length (so memory follows the object, never the
 * caller's claims), asks again and marks the attributes that did not fit
 * CK_UNAVAILABLE_INFORMATION. Returns the call's CK_RV (precedence
 * SENSITIVE, TYPE_INVALID, BUFFER_TOO_SMALL); t then holds the results
 * for p11w_put_attr_results. */
typedef CK_RV (*p11w_getattr_fn)(void *ctx, CK_ATTRIBUTE *t, CK_ULONG n);
CK_RV p11w_getattr_serve(struct p11w_template *t, p11w_getattr_fn get, void *ctx);
/* Per attribute u64 length (wire bytes; all ones for unavailable), then
 * lv32 value in its wire form when the caller gave a buffer and it fit. */
CK_RV p11w_put_attr_results(struct ped_wbuf *w, const struct p11w_template *t);
/* The module's side: fills the caller's template t (as sent with
 * P11W_TPL_LENGTHS) from the results, values converted to the host's
 * form. CKR_ARGUMENTS_BAD for results that do not match t. */
CK_RV p11w_get_attr_results(struct ped_rbuf *r, CK_ATTRIBUTE *t, CK_ULONG n);

/* ---- mechanisms ---------------------------------------------------------- */

enum p11w_param_kind {
	P11W_PARAM_NONE = 0,
	P11W_PARAM_RAW = 1,   /* lv32 (CBC IVs) */
	P11W_PARAM_GCM = 2,   /* lv32 iv, lv32 aad, u64 tag bits */
	P11W_PARAM_CTR = 3,   /* u64 counter bits, 16 bytes counter block */
	P11W_PARAM_PSS = 4,   /* u64 hash, u64 mgf, u64 salt length */
	P11W_PARAM_OAEP = 5,  /* u64 hash, u64 mgf, u64 source, lv32 source data */
	P11W_PARAM_ECDH1 = 6, /* u64 kdf, lv32 shared data, lv32 public data */
};

/* The parameter kind a mechanism type takes (P11W_PARAM_RAW for any type
 * not named: its bytes go as they are). */
enum p11w_param_kind p11w_mech_param_kind(CK_MECHANISM_TYPE type);
/* Flattens m's parameter by its type's kind: a structure of another size
 * than PKCS#11's is CKR_MECHANISM_PARAM_INVALID (CK_GCM_PARAMS is taken in
 * 2.40's layout, with ulIvBits, and in 3.0's, without); no parameter
 * (NULL, 0) travels as kind none whatever the type. m NULL is
 * CKR_ARGUMENTS_BAD. */
CK_RV p11w_put_mechanism(struct ped_wbuf *w, const CK_MECHANISM *m);

/* A decoded mechanism: m.pParameter points at the structure in u (the 2.40
 * layouts of p11-kit's header) or at raw bytes in store; the structure's
 * pointers point into store. Free with p11w_mech_free (wipes). */
struct p11w_mech {
	CK_MECHANISM m;
	union {
		CK_GCM_PARAMS gcm;
		CK_AES_CTR_PARAMS ctr;
		CK_RSA_PKCS_PSS_PARAMS pss;
		CK_RSA_PKCS_OAEP_PARAMS oaep;
		CK_ECDH1_DERIVE_PARAMS ecdh1;
	} u;
	uint8_t *store;
	size_t store_len;
};
/* CKR_OK, CKR_ARGUMENTS_BAD (malformed, an unknown kind),
 * CKR_MECHANISM_PARAM_INVALID (a parameter of another kind than the
 * mechanism's: p11w_mech_param_kind), CKR_HOST_MEMORY. */
CK_RV p11w_get_mechanism(struct ped_rbuf *r, struct p11w_mech *out);
void p11w_mech_free(struct p11w_mech *m);

/* ---- results of the functions that describe the HSM ---------------------- */

/* GetSlotList: u32 count, per slot: handle slot, u8 token present, u8 kind,
 * u32 hsm index, lv8 serial (the token's, empty without one). */
enum p11w_slot_kind { P11W_SLOT_PARTITION = 1, P11W_SLOT_ADMIN = 2, P11W_SLOT_BACKUP = 3 };
struct p11w_slot {
	CK_SLOT_ID slot; /* hsm-sim's slot number */
	uint8_t token_present;
	uint8_t kind;
	uint32_t hsm_index;
	char serial[P11W_SERIAL_MAX + 1];
};
void p11w_put_slot_list(struct ped_wbuf *w, const struct p11w_slot *s, uint32_t n);
/* *out is OPENSSL_malloc'd (free with OPENSSL_free), NULL when n is 0. */
CK_RV p11w_get_slot_list(struct ped_rbuf *r, struct p11w_slot **out, uint32_t *n);

/* GetSlotInfo: lv8 description, lv8 manufacturer, ulong flags, u8 hardware
 * major, minor, firmware major, minor. Text fields travel unpadded; the
 * decoders pad them with blanks as CK_SLOT_INFO wants (and refuse text
 * longer than its field or not printable). */
void p11w_put_slot_info(struct ped_wbuf *w, const CK_SLOT_INFO *i);
CK_RV p11w_get_slot_info(struct ped_rbuf *r, CK_SLOT_INFO *i);

/* GetTokenInfo: lv8 label, lv8 manufacturer, lv8 model, lv8 serial,
 * ulong flags, ulong max sessions, sessions, max RW sessions, RW sessions,
 * max PIN length, min PIN length, total public memory, free public memory,
 * total private memory, free private memory, u8 hardware major, minor,
 * firmware major, minor, 16 bytes UTC time. */
void p11w_put_token_info(struct ped_wbuf *w, const CK_TOKEN_INFO *i);
CK_RV p11w_get_token_info(struct ped_rbuf *r, CK_TOKEN_INFO *i);

/* GetSessionInfo: handle slot (hsm-sim's number: the module numbers it),
 * ulong state, ulong flags, ulong device error. */
void p11w_put_session_info(struct ped_wbuf *w, const CK_SESSION_INFO *i);
CK_RV p11w_get_session_info(struct ped_rbuf *r, CK_SESSION_INFO *i);

/* GetMechanismInfo: ulong min, ulong max, ulong flags. */
void p11w_put_mechanism_info(struct ped_wbuf *w, const CK_MECHANISM_INFO *i);
CK_RV p11w_get_mechanism_info(struct ped_rbuf *r, CK_MECHANISM_INFO *i);

/* Lists of ulongs (GetMechanismList) and handles (FindObjects): u32 count
 * (at most max), u64 each. The decoder writes at most cap entries into out
 * (CKR_ARGUMENTS_BAD beyond) and sets *n. */
void p11w_put_ulong_list(struct ped_wbuf *w, const CK_ULONG *v, uint32_t n);
CK_RV p11w_get_ulong_list(struct ped_rbuf *r, uint32_t max, CK_ULONG *out, uint32_t cap, uint32_t *n);

#endif
