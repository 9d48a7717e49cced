/* The PED application protocol: what the HSM asks the PED to do, and what
 * the PED answers, inside the secure channel (docs/protocol.md, section 10).
 *
 * Requests and plain answers travel in DATA records; anything carrying a
 * secret (a new secret to split, splits read from keys, a reused secret)
 * travels in CSP records, whose plaintext is KWP-wrapped. Every message
 * starts with its op byte. */
#ifndef PED_APP_H
#define PED_APP_H

#include <stddef.h>
#include <stdint.h>

enum ped_app_op {
	/* HSM to PED */
	PED_APP_AUTH = 0x01,    /* read a keyset: title, key type, prompt */
	PED_APP_CREATE = 0x02,  /* make a keyset for the secret that follows in a CSP */
	PED_APP_MESSAGE = 0x03, /* show a line, no answer */
	/* PED to HSM */
	PED_APP_SPLITS = 0x81,  /* CSP: the splits read (each unmasked with its PIN) */
	PED_APP_CREATED = 0x82, /* keyset written: M, N, keyset id, reused or not */
	PED_APP_REUSED = 0x83,  /* CSP: the secret of an existing keyset the operator reused */
	PED_APP_RESULT = 0x8f,  /* the ceremony ended without keys: u32 error code */
	/* HSM to PED, in a CSP */
	PED_APP_SECRET = 0x41,  /* the new secret for CREATE */
	PED_APP_RPV_KEY = 0x42, /* after SECRET when creating orange keys: the RPV static key,
				 * its certificate and the HSM's HOC, for the 2e2s channel */
};

#define PED_APP_TEXT_MAX 64
#define PED_APP_SECRET_MAX 256
#define PED_APP_MAX_SPLITS 16

/* Key types as the PED sees them (the same numbers as enum ikey_type). */
enum ped_key_type { PED_KEY_SO = 1, PED_KEY_DOMAIN = 2, PED_KEY_RPV = 3, PED_KEY_USER = 4, PED_KEY_AUDIT = 5 };

struct ped_app_request {
	uint8_t op;
	uint8_t key_type;
	uint8_t allow_reuse;                /* CREATE */
	char title[PED_APP_TEXT_MAX + 1];   /* "SO LOGIN...", "SETTING SO PIN..." */
	char prompt[PED_APP_TEXT_MAX + 1];  /* "SO / HSM Admin" */
	char colour[PED_APP_TEXT_MAX + 1];  /* "BLUE" */
};

struct ped_app_split {
	uint8_t index, m, n;
	uint8_t keyset_id[16];
	uint8_t share[PED_APP_SECRET_MAX];
	size_t share_len;
};

struct ped_app_splits {
	uint8_t count;
	struct ped_app_split s[PED_APP_MAX_SPLITS];
};

struct ped_app_created {
	uint8_t m, n, reused;
	uint8_t keyset_id[16];
};

/* Encoders return an OPENSSL_malloc'd message (free with OPENSSL_clear_free). */
int ped_app_encode_request(const struct ped_app_request *req, uint8_t **out, size_t *len);
int ped_app_encode_secret(uint8_t op, const uint8_t *secret, size_t len, uint8_t **out, size_t *olen);
int ped_app_encode_splits(const struct ped_app_splits *sp, uint8_t **out, size_t *len);
int ped_app_encode_created(const struct ped_app_created *c, uint8_t **out, size_t *len);
int ped_app_encode_result(uint32_t code, uint8_t **out, size_t *len);
/* REUSED: the keyset's M, N and id, then the secret it holds. */
int ped_app_encode_reused(const struct ped_app_created *c, const uint8_t *secret, size_t len,
			  uint8_t **out, size_t *olen);

/* RPV_KEY: lv16 scalar (66 bytes), lv16 certificate DER, lv16 HOC DER. */
#define PED_APP_SCALAR_LEN 66
#define PED_APP_CERT_MAX 4096
int ped_app_encode_rpv_key(const uint8_t *scalar, const uint8_t *cert, size_t cert_len, const uint8_t *hoc,
			   size_t hoc_len, uint8_t **out, size_t *olen);
/* The three point into msg. */
int ped_app_decode_rpv_key(const uint8_t *msg, size_t len, const uint8_t **scalar, const uint8_t **cert,
			   size_t *cert_len, const uint8_t **hoc, size_t *hoc_len);
/* Decoders check every bound; PED_E_HANDSHAKE-free: malformed is PED_E_INVALID. */
int ped_app_decode_request(const uint8_t *msg, size_t len, struct ped_app_request *req);
/* secret points into msg */
int ped_app_decode_secret(const uint8_t *msg, size_t len, uint8_t op, const uint8_t **secret,
			  size_t *slen);
int ped_app_decode_splits(const uint8_t *msg, size_t len, struct ped_app_splits *sp);
int ped_app_decode_created(const uint8_t *msg, size_t len, struct ped_app_created *c);
int ped_app_decode_result(const uint8_t *msg, size_t len, uint32_t *code);
/* secret points into msg */
int ped_app_decode_reused(const uint8_t *msg, size_t len, struct ped_app_created *c,
			  const uint8_t **secret, size_t *slen);

#endif
