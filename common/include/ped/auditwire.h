/* Audit delivery between an HSM and pedclient, its logging daemon
 * (docs/protocol.md, section 14): frames on pedclient's HSM socket.
 *
 *   hsm-sim -> pedclient  AUDIT_OPEN     version, HSM serial, log directory,
 *                                        rotation interval and size
 *   pedclient -> hsm-sim  AUDIT_READY    u64: the last record it holds, and
 *                                        that record's MAC (the HSM checks
 *                                        it is its own before it believes
 *                                        the number)
 *   hsm-sim -> pedclient  AUDIT_RECORDS  whole record lines, in order
 *   pedclient -> hsm-sim  AUDIT_ACK      u64: every record up to it is on
 *                                        disk (written and fsync'd)
 *
 * Records are the HSM's lines (hsm/audit.h); pedclient reads only their
 * numbers and MACs, takes a record resent only if it is the one it holds,
 * and refuses a gap, so each is written once and in order whatever is
 * resent. */
#ifndef PED_AUDITWIRE_H
#define PED_AUDITWIRE_H

#include <stddef.h>
#include <stdint.h>

enum { PED_AUDIT_OPEN = 0x38, PED_AUDIT_READY = 0x39, PED_AUDIT_RECORDS = 0x3a, PED_AUDIT_ACK = 0x3b };

#define PED_AUDIT_VERSION 2
#define PED_AUDIT_SERIAL_MAX 16
#define PED_AUDIT_DIR_MAX 255
/* The longest record line, its newline included (HSM_AUDIT_LINE_MAX). */
#define PED_AUDIT_LINE_MAX 800
/* A record's MAC (HSM_AUDIT_MAC_LEN): its last field, in hex. */
#define PED_AUDIT_MAC_LEN 64
/* AUDIT_READY's body. */
#define PED_AUDIT_READY_LEN (8 + PED_AUDIT_MAC_LEN)

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
/* ACK: exactly 8 bytes, big-endian. */
void ped_audit_seq_encode(uint64_t seq, uint8_t out[8]);
int ped_audit_seq_decode(const uint8_t *p, size_t len, uint64_t *seq);
/* READY: the sequence number, then the MAC of that record (zeros when the
 * number is 0); exactly PED_AUDIT_READY_LEN bytes. */
void ped_audit_ready_encode(uint64_t seq, const uint8_t mac[PED_AUDIT_MAC_LEN], uint8_t out[PED_AUDIT_READY_LEN]);
int ped_audit_ready_decode(const uint8_t *p, size_t len, uint64_t *seq, uint8_t mac[PED_AUDIT_MAC_LEN]);
/* The number a record line starts with ("17|..."): PED_OK, or
 * PED_E_INVALID when it does not start with one (1 to 20 digits, no
 * leading zero, then '|'). */
int ped_audit_line_seq(const char *line, size_t len, uint64_t *seq);
/* The MAC a record line ends with ("...|<128 hex digits>", a newline after
 * it or not): PED_OK, or PED_E_INVALID. */
int ped_audit_line_mac(const char *line, size_t len, uint8_t mac[PED_AUDIT_MAC_LEN]);

#endif
