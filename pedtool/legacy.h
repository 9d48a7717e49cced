/* The legacy channel for HSM firmware 7.4.2 and older (chapter 5, "Secure
 * Communication Between the Remote PED and ... Firmware 7.4.2 and Older").
 * Off by default: its integrity is an unkeyed SHA-256 inside the OFB stream,
 * weaker than the records of ped/record.h. Only pedtool runs it today
 * (`pedtool handshake -scheme legacy`), so it lives here, not in libped.
 *
 *   V -> U  DH_V    V's finite-field DH public value (RFC 7919 ffdhe2048)
 *   U -> V  DH_U    U's public value; both compute Z and
 *                   Ke = SHA-256("OPENPED-LEGACY-DEK" || Z || RPV)
 *   V -> U  NONCE1  {R1 || pad}Ke                  (AES-256, one block)
 *   U -> V  NONCE2  {R2 || R1}Ke
 *   V -> U  NONCE3  {pad || R2}Ke                  V checked R1, U checks R2
 *
 * then an AES-256-OFB stream each way, its IV hashed from R1 and R2 with the
 * direction (docs/protocol.md, section 7). */
#ifndef PEDTOOL_LEGACY_H
#define PEDTOOL_LEGACY_H

#include "ped/kas.h"

#include <stddef.h>
#include <stdint.h>

enum ped_legacy_msg_type {
	PED_LEGACY_DH_V = 0x11,
	PED_LEGACY_DH_U = 0x12,
	PED_LEGACY_NONCE1 = 0x13,
	PED_LEGACY_NONCE2 = 0x14,
	PED_LEGACY_NONCE3 = 0x15,
	PED_LEGACY_ALERT = 0x16,
};

#define PED_LEGACY_DH_LEN 256
#define PED_LEGACY_OVERHEAD (8 + 4 + 32)

struct ped_legacy;

int ped_legacy_new(enum ped_kas_role role, const uint8_t *rpv, size_t rpv_len,
		   ped_kas_trace_fn trace, void *trace_arg, struct ped_legacy **out);
int ped_legacy_start(struct ped_legacy *l, struct ped_kas_out *out);
int ped_legacy_input(struct ped_legacy *l, const uint8_t *msg, size_t len, struct ped_kas_out *out);
int ped_legacy_done(const struct ped_legacy *l);
/* Records: u64 seq || u32 len || OFB(payload || SHA-256(seq || payload)). */
int ped_legacy_seal(struct ped_legacy *l, const uint8_t *pt, size_t len, uint8_t **rec,
		    size_t *rec_len);
int ped_legacy_open(struct ped_legacy *l, const uint8_t *rec, size_t len, uint8_t **pt,
		    size_t *pt_len);
void ped_legacy_free(struct ped_legacy *l);

#endif
