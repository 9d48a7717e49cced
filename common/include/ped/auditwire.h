/* Audit delivery between an HSM and pedclient, its logging daemon
 * (docs/protocol.md, section 14): frames on pedclient's HSM socket.
 *
 *   hsm-sim -> pedclient  AUDIT_OPEN     version, HSM serial, log directory,
 *                                        rotation interval and size
 *   pedclient -> hsm-sim  AUDIT_READY    u64: the last record it holds
 *   hsm-sim -> pedclient  AUDIT_RECORDS  whole record lines, in order
 *   pedclient -> hsm-sim  AUDIT_ACK      u64: every record up to it is on
 *                                        disk (written and fsync'd)
 *
 * Records are the HSM's lines (hsm/audit.h); pedclient reads only their
 * numbers, drops those it already holds and refuses a gap, so each is
 * written once and in order whatever is resent. */
#ifndef PED_AUDITWIRE_H
#define PED_AUDITWIRE_H

#include <stddef.h>
#include <stdint.h>

enum { PED_AUDIT_OPEN = 0x38, PED_AUDIT_READY = 0x39, PED_AUDIT_RECORDS = 0x3a, PED_AUDIT_ACK = 0x3b };

#define PED_AUDIT_VERSION 1
#define PED_AUDIT_SERIAL_MAX 16
#define PED_AUDIT_DIR_MAX 255
/* The longest record line, its newline included (HSM_AUDIT_LINE_MAX). */
#define PED_AUDIT_LINE_MAX 800

struct ped_audit_open {
	uint8_t version;
	char serial[PED_AUDIT_SERIAL_MAX + 1]; /* digits */
	char dir[PED_AUDIT_DIR_MAX + 1];       /* absolute, or "": pedclient's own */
	uint32_t interval;                      /* rotation, seconds; 0 never */
	uint64_t size;                          /* rotation, bytes; 0 none */
};

/* A body of at most 512 bytes into *out (OPENSSL_malloc'd). */
int ped_audit_open_encode(const struct ped_audit_open *o, uint8_t **out, size_t *len);
/* PED_E_INVALID for anything out of its bounds, or bytes left over. */
int ped_audit_open_decode(const uint8_t *p, size_t len, struct ped_audit_open *o);
/* READY and ACK: exactly 8 bytes, big-endian. */
void ped_audit_seq_encode(uint64_t seq, uint8_t out[8]);
int ped_audit_seq_decode(const uint8_t *p, size_t len, uint64_t *seq);
/* The number a record line starts with ("17|..."): PED_OK, or
 * PED_E_INVALID when it does not start with one (1 to 20 digits, no
 * leading zero, then '|'). */
int ped_audit_line_seq(const char *line, size_t len, uint64_t *seq);

#endif
