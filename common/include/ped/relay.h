/* Relay control: the messages pedclient, pedserver and the PED exchange
 * around the secure channel they carry (docs/protocol.md, section 11).
 *
 * Link frames (PED_LINK_KAS, PED_LINK_RECORD) pass through the relays
 * untouched; these frame types are the relays' own. Every control message
 * has the same small body, so one bounded decoder serves them all:
 *
 *   u8 role, u8 purpose, u8 auth, u8 flags, u16 port, u32 code,
 *   lv8 id, lv8 version, lv8 host, lv8 info        (lv8: u8 length, bytes)
 *
 * Strings are printable ASCII. Nothing secret ever travels in them. */
#ifndef PED_RELAY_H
#define PED_RELAY_H

#include <stddef.h>
#include <stdint.h>

enum ped_relay_type {
	PED_RELAY_HELLO = 0x30,   /* first message on a connection: who, why */
	PED_RELAY_WELCOME = 0x31, /* session accepted; id is the PED's serial */
	PED_RELAY_PING = 0x32,
	PED_RELAY_PONG = 0x33,
	PED_RELAY_BYE = 0x34,     /* the session ends; code says why (0: asked to) */
	PED_RELAY_OPEN = 0x35,    /* pedserver to the PED: an HSM session begins */
	PED_RELAY_STATUS = 0x36,  /* answer to a QUERY hello */
};

enum ped_relay_role {
	PED_RELAY_ROLE_PED = 1,    /* ped-device, attached to pedserver */
	PED_RELAY_ROLE_SERVER = 2, /* pedserver */
	PED_RELAY_ROLE_CLIENT = 3, /* pedclient */
	PED_RELAY_ROLE_HSM = 4,    /* hsm-sim, to pedclient */
};

enum ped_relay_purpose { PED_RELAY_SESSION = 1, PED_RELAY_QUERY = 2 };

/* How the PED authenticates the session: with the RPV from its orange key,
 * or with the one-time password the HSM printed (RPV initialization). */
enum ped_relay_auth { PED_RELAY_AUTH_NONE = 0, PED_RELAY_AUTH_RPV = 1, PED_RELAY_AUTH_OTP = 2 };

/* STATUS flags */
#define PED_RELAY_F_PED_ATTACHED 0x01u
#define PED_RELAY_F_BUSY 0x02u
/* STATUS flag, with BUSY: the HSM served is the one the query's HELLO
 * names (pedclient -mode testid names the HSM the PED id is assigned to).
 * Only a yes or no: the query is unauthenticated, and names no one else. */
#define PED_RELAY_F_SERVING_NAMED 0x10u
/* WELCOME flag, as pedclient relays it to the HSM: port is the PED id of
 * the mapping pedclient dialed (the HSM gave no address), which ped get
 * names; without it the HSM gave the address (the reference's PED id 100) */
#define PED_RELAY_F_PED_ID 0x20u
/* HELLO (HSM, pedclient) and OPEN flag: key the session with the Full
 * Unified 2e2s scheme, the RPV static key from the orange key */
#define PED_RELAY_F_2E2S 0x04u
/* WELCOME flag: the PED holds the RPK of the HSM named in the HELLO (its
 * last STATUS said so): keying the session asks its operator for nothing */
#define PED_RELAY_F_RPK_HELD 0x08u

#define PED_RELAY_ID_MAX 64
#define PED_RELAY_VERSION_MAX 32
#define PED_RELAY_HOST_MAX 64
#define PED_RELAY_INFO_MAX 128
#define PED_RELAY_MSG_MAX (12 + 4 + PED_RELAY_ID_MAX + PED_RELAY_VERSION_MAX + PED_RELAY_HOST_MAX + PED_RELAY_INFO_MAX)

struct ped_relay_msg {
	uint8_t role, purpose, auth, flags;
	uint16_t port;
	uint32_t code;
	char id[PED_RELAY_ID_MAX + 1];
	char version[PED_RELAY_VERSION_MAX + 1];
	char host[PED_RELAY_HOST_MAX + 1];
	char info[PED_RELAY_INFO_MAX + 1];
};

/* 1 for the relays' own frame types. */
int ped_relay_is_control(uint8_t type);
const char *ped_relay_type_name(uint8_t type);

int ped_relay_encode(const struct ped_relay_msg *m, uint8_t *out, size_t cap, size_t *len);
/* PED_E_INVALID for anything out of bounds, trailing bytes or unprintable text. */
int ped_relay_decode(const uint8_t *p, size_t len, struct ped_relay_msg *m);
int ped_relay_send(int fd, uint8_t type, const struct ped_relay_msg *m, int timeout_ms);
/* A control message with only a code (BYE, PING, PONG). */
int ped_relay_send_code(int fd, uint8_t type, uint32_t code, int timeout_ms);

#endif
