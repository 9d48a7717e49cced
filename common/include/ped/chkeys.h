/* The keys a handshake hands to the record layer, seen from one end point:
 * tx protects what this end sends, rx what it receives. The handshake derives
 * them from one SSKDF output (docs/protocol.md, "Key schedule"); the record
 * layer never sees Z, the MAC key or the RPV. */
#ifndef PED_CHKEYS_H
#define PED_CHKEYS_H

#include <stdint.h>

#define PED_DEK_LEN 32    /* AES-256-CTR data encryption key */
#define PED_DMK_LEN 64    /* HMAC-SHA-512 data MAC key */
#define PED_CWK_LEN 32    /* AES-256-KWP CSP wrapping key */
#define PED_MACKEY_LEN 64 /* HMAC-SHA-512 key-confirmation key */

struct ped_direction_keys {
	uint8_t dek[PED_DEK_LEN];
	uint8_t dmk[PED_DMK_LEN];
	uint8_t cwk[PED_CWK_LEN];
};

struct ped_channel_keys {
	struct ped_direction_keys tx;
	struct ped_direction_keys rx;
};

/* OPENSSL_cleanse of the whole struct. */
void ped_channel_keys_cleanse(struct ped_channel_keys *k);

#endif
