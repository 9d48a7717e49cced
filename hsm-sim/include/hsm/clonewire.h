/* The cloning protocol between two hsm-sim processes (a backup or restore
 * whose partition and Backup HSM live in different hsm-sims, hsmcm relaying:
 * docs/protocol.md, "Cloning across hsm-sims"). hsmcm and every link carry
 * opaque messages; only the two HSMs, which hold the partition's cloning
 * domain key (hsm.h, domain_key), can read or make them.
 *
 *   offer    (from the side ready first: the one without PED work to do)
 *     u8 HSM_CW_OFFER, u8 version, u8 purpose, u8 role (HSM_CW_SENDER or
 *     _RECEIVER), lv8 serial, lv8 partition name (the default backup's
 *     name derives from the source's), nonce[32], tag[32]
 *     tag = HMAC-SHA-256 under HKDF(domain key, "OPENPED-CLONE-OFFER-v1")
 *     over every byte before it: a partition of another domain is told at
 *     once (PED_E_CERTIFICATE_INVALID), as the single-process backup tells it.
 *   accept   (from the other side, the same fields)
 *     tag = HMAC-SHA-256 under the confirmation key of the transit keys
 *     over the offer and every byte of the accept before the tag: the
 *     offerer learns the accepter holds the domain now (its nonce is in).
 *   Transit keys: HKDF-SHA-256 (EVP_KDF) of the domain key, salt the offer's
 *     nonce then the accept's, info "OPENPED-CLONE-TRANSIT-v1" || the
 *     SHA-256 of the offer and the accept without its tag: 32 bytes for the
 *     objects, 32 for the confirmation. Fresh on both sides' nonces, bound to
 *     both serials, the purpose and the roles.
 *   object   u8 HSM_CW_OBJECT, u64 sequence (0, 1, ...), then AES-256-GCM
 *     (hsm_seal) of u64 OUID, u64 source handle, lv32 public part, lv32
 *     secret part; additional data "OPENPED-CLONE-OBJ-v1" || transcript
 *     hash || sequence. The public part rides inside the ciphertext too: the
 *     relay learns neither labels nor values.
 *   trailer  u8 HSM_CW_TRAILER, then AES-256-GCM of u64 count, SHA-256 of
 *     every object message in order; additional data
 *     "OPENPED-CLONE-END-v1" || transcript hash || count.
 *
 * A message dropped, reordered, replayed from another session, altered or
 * added fails (the receiver keeps nothing until the trailer verifies).
 * Every decoder is bounded: nothing is allocated from a length before it is
 * checked against the message. */
#ifndef HSM_CLONEWIRE_H
#define HSM_CLONEWIRE_H

#include "hsm/object.h"
#include "hsm/seal.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define HSM_CW_VERSION 1
#define HSM_CW_NONCE_LEN 32
#define HSM_CW_TAG_LEN 32
#define HSM_CW_HASH_LEN 32
#define HSM_CW_SERIAL_MAX 16
#define HSM_CW_NAME_MAX 32
/* A message's largest size: what one control frame carries. */
#define HSM_CW_MSG_MAX (60u * 1024u)

enum hsm_cw_kind { HSM_CW_OFFER = 1, HSM_CW_ACCEPT = 2, HSM_CW_OBJECT = 3, HSM_CW_TRAILER = 4 };
enum hsm_cw_purpose { HSM_CW_BACKUP = 1, HSM_CW_RESTORE = 2 };
enum hsm_cw_role { HSM_CW_SENDER = 1, HSM_CW_RECEIVER = 2 };

struct hsm_cw {
	uint8_t purpose, role;      /* ours */
	uint8_t domain_key[HSM_KEY_LEN];
	uint8_t *offer;             /* the offer as sent or received */
	size_t offerlen;
	char serial[HSM_CW_SERIAL_MAX + 1], peer_serial[HSM_CW_SERIAL_MAX + 1];
	char partition[HSM_CW_NAME_MAX + 1], peer_partition[HSM_CW_NAME_MAX + 1];
	uint8_t nonce[HSM_CW_NONCE_LEN];
	uint8_t k_obj[HSM_KEY_LEN], k_conf[HSM_KEY_LEN];
	uint8_t th[HSM_CW_HASH_LEN]; /* SHA-256 of the offer and the accept */
	int keyed;                   /* the transit keys are set and confirmed */
	uint64_t seq;                /* the next object's sequence number */
	EVP_MD_CTX *stream;          /* SHA-256 of the object messages so far */
	int ended;                   /* the trailer was made or verified */
};

/* A session for purpose in role, under the partition's cloning key, with
 * this HSM's serial and the partition's name ("" when it has none yet).
 * hsm_cw_clear wipes it. */
int hsm_cw_init(struct hsm_cw *s, uint8_t purpose, uint8_t role, const uint8_t domain_key[HSM_KEY_LEN],
		const char *serial, const char *partition);
void hsm_cw_clear(struct hsm_cw *s);
/* The first message, from the side ready first. */
int hsm_cw_offer(struct hsm_cw *s, uint8_t **msg, size_t *len);
/* The other side: checks the offer (PED_E_CERTIFICATE_INVALID: another
 * cloning domain; PED_E_CORRUPT: not an offer for this purpose and the
 * other role), keys the session and makes the accept. */
int hsm_cw_accept(struct hsm_cw *s, const uint8_t *offer, size_t offerlen, uint8_t **msg, size_t *len);
/* The offerer: keys the session from the accept and checks its tag
 * (PED_E_CERTIFICATE_INVALID: another domain, or not an answer to our offer). */
int hsm_cw_confirm(struct hsm_cw *s, const uint8_t *accept, size_t acceptlen);
/* The sender: one object's message, the next in sequence. */
int hsm_cw_seal_object(struct hsm_cw *s, const struct hsm_obj *o, uint8_t **msg, size_t *len);
/* The receiver: the next object (*src_handle its handle on the sender).
 * PED_E_REPLAY out of sequence, PED_E_BAD_RECORD altered or from another
 * session, PED_E_CORRUPT an object that does not decode. */
int hsm_cw_open_object(struct hsm_cw *s, const uint8_t *msg, size_t len, struct hsm_obj **out, uint64_t *src_handle);
/* The sender's last message / the receiver's check of it: PED_E_BAD_RECORD
 * altered or another session's, PED_E_REPLAY when the count or the digest
 * is not what arrived (an object dropped, added or swapped). */
int hsm_cw_trailer(struct hsm_cw *s, uint8_t **msg, size_t *len);
int hsm_cw_check_trailer(struct hsm_cw *s, const uint8_t *msg, size_t len);
/* A message's kind (its first byte), 0 for an empty one. */
uint8_t hsm_cw_kind(const uint8_t *msg, size_t len);
/* The serial and partition name an offer or accept names, decoded bounded
 * and not authenticated (the tag is checked by accept and confirm);
 * PED_E_CORRUPT if msg is not one. */
int hsm_cw_peek(const uint8_t *msg, size_t len, char serial[HSM_CW_SERIAL_MAX + 1],
		char partition[HSM_CW_NAME_MAX + 1]);

#endif
