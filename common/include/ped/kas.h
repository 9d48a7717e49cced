/* The secure channel handshake between the PED (party U, initiator) and the
 * HSM (party V, responder): NIST SP 800-56A rev. 3 ECC CDH on P-521 with key
 * confirmation, and SP 800-56C one-step KDF with SHA-512 (docs/protocol.md).
 *
 *   1e1s  C(1e, 1s), unilateral KC (V to U): local PED, and Remote PED before
 *         RPV initialization with a one-time password in the derivation.
 *   2e2s  Full Unified C(2e, 2s), bilateral KC: Remote PED with the RPV.
 *
 * No I/O here: messages are byte strings the caller carries in frames.
 * V calls ped_kas_start() for HELLO_V; each side feeds what it receives to
 * ped_kas_input() and sends whatever comes out, until ped_kas_done(). On an
 * error the output holds an ALERT for the peer, so both ends report it.
 * In 1e1s V has no proof that U derived the same keys: it must wait for U's
 * first authenticated record (READY) before it sends any CSP. */
#ifndef PED_KAS_H
#define PED_KAS_H

#include "ped/chkeys.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

enum ped_kas_scheme { PED_KAS_1E1S = 1, PED_KAS_2E2S = 2 };
enum ped_kas_role { PED_KAS_U = 0, PED_KAS_V = 1 };
enum ped_kas_msg_type {
	PED_KAS_HELLO_V = 1,
	PED_KAS_KEYSHARE_U = 2,
	PED_KAS_CONFIRM_U = 3,
	PED_KAS_CONFIRM_V = 4,
	PED_KAS_ALERT = 5,
};

#define PED_KAS_PROTO_VERSION 2
#define PED_KAS_ID_MAX 64
#define PED_KAS_NONCE_LEN 64
#define PED_KAS_TAG_LEN 64
#define PED_KAS_DKM_LEN 320
#define PED_KAS_SECRET_MAX 64
#define PED_KAS_MSG_MAX 10240
/* ALERT: its type byte and the sender's error code (u32, big-endian). */
#define PED_KAS_ALERT_LEN 5

typedef void (*ped_kas_trace_fn)(void *arg, const char *name, const uint8_t *val, size_t len);

struct ped_kas_params {
	enum ped_kas_role role;
	enum ped_kas_scheme scheme;
	const char *id;        /* own identity: "PED:<serial>" or "HSM:<serial>" */
	EVP_PKEY *static_key;  /* V: the HSM's static key; U in 2e2s: the RPV static key */
	X509 *static_cert;     /* its certificate, signed by the HOC */
	X509 *hoc;             /* V: own root (sent); U: trust anchor (required for 2e2s;
				* for 1e1s NULL accepts the root V sends, if self-consistent) */
	const uint8_t *secret; /* 2e2s: the RPV; 1e1s remote: the 8-digit password; else NULL */
	size_t secret_len;
	ped_kas_trace_fn trace; /* diagnostics only (pedtool -trace): sees every secret */
	void *trace_arg;
	/* U, may be NULL: the certificates ped_kas_hello_peek read from the
	 * HELLO_V this handshake will be given. Where that message carries the
	 * same DER they are taken as read rather than decoded again (decoding
	 * V's two P-521 certificates was a tenth of U's handshake CPU); any
	 * other bytes are decoded as always. */
	X509 *peeked_cert;
	X509 *peeked_hoc;
	/* U: KEYSHARE_U goes out as soon as it is made, before U derives, so V
	 * checks U's certificate and derives while U does (a tenth of the
	 * handshake's wall time on two cores). ped_kas_input() then gives
	 * KEYSHARE_U alone and ped_kas_pending() says so; once the caller has
	 * sent it, ped_kas_continue() derives and gives CONFIRM_U. The messages
	 * and their order on the wire are the same either way. */
	int keyshare_first;
	/* May be NULL: this end's ephemeral key (P-521, as ped_ec_generate
	 * makes it), made ahead while the other end was still on its way, used
	 * instead of one made mid-handshake (U: in both schemes; V: in 2e2s).
	 * The handshake keeps its own reference; the caller frees its own and
	 * gives the key to no other handshake (SP 800-56A: an ephemeral key
	 * serves one key agreement). */
	EVP_PKEY *ephemeral;
};

/* Up to two messages to send, in order; ped_kas_out_clear() frees them. */
struct ped_kas_out {
	uint8_t *msg[2];
	size_t len[2];
	int count;
};

struct ped_kas;

int ped_kas_new(const struct ped_kas_params *p, struct ped_kas **out);
int ped_kas_start(struct ped_kas *k, struct ped_kas_out *out);
int ped_kas_input(struct ped_kas *k, const uint8_t *msg, size_t len, struct ped_kas_out *out);
int ped_kas_done(const struct ped_kas *k);
/* U with keyshare_first: 1 when KEYSHARE_U is out and U has yet to derive. */
int ped_kas_pending(const struct ped_kas *k);
/* U with keyshare_first, after sending KEYSHARE_U: derives, and gives
 * CONFIRM_U (or an ALERT, as ped_kas_input() does). */
int ped_kas_continue(struct ped_kas *k, struct ped_kas_out *out);
/* The error the handshake failed with, or PED_OK. */
int ped_kas_error(const struct ped_kas *k);
/* Moves the channel keys out (once, after done); the handshake keeps none. */
int ped_kas_take_keys(struct ped_kas *k, struct ped_channel_keys *keys);
/* The peer's identity as it sent it (valid while k lives), or NULL. */
const char *ped_kas_peer_id(const struct ped_kas *k);
/* The peer's static certificate (V's for U, U's for V in 2e2s), or NULL. */
X509 *ped_kas_peer_cert(const struct ped_kas *k);
void ped_kas_free(struct ped_kas *k);
void ped_kas_out_clear(struct ped_kas_out *out);

/* What a HELLO_V says before the handshake runs: the scheme V chose, its
 * identity and its root. Nothing here is authenticated yet; the PED uses it
 * to decide what to ask its operator (which HSM, with which fingerprint)
 * and the handshake then binds the session to that root. *hoc, and *cert
 * (V's static certificate; cert may be NULL), are the caller's to free;
 * both can be passed on as peeked_hoc and peeked_cert. known_cert and
 * known_hoc (may be NULL): certificates an earlier HELLO_V gave, taken
 * rather than decoded again where this one carries the same DER (an HSM
 * sends the same two at every session). PED_E_HANDSHAKE for a malformed
 * message. */
int ped_kas_hello_peek(const uint8_t *msg, size_t len, X509 *known_cert, X509 *known_hoc,
		       enum ped_kas_scheme *scheme, char id[PED_KAS_ID_MAX + 1], X509 **cert, X509 **hoc);

/* An ALERT reporting err, for an end that has no handshake left to fail. */
void ped_kas_alert_encode(int err, uint8_t out[PED_KAS_ALERT_LEN]);
/* The error an ALERT (msg[0] == PED_KAS_ALERT) reports: the peer's, or
 * PED_E_HANDSHAKE when it is malformed or names no particular error (an
 * ALERT always ends the handshake, even one claiming success). */
int ped_kas_alert_error(const uint8_t *msg, size_t len);

#endif
