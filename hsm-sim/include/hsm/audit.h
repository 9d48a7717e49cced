/* The HSM's audit log (the white-key Auditor's log, docs/audit.md): one
 * text line per event, chained and authenticated with the log secret.
 *
 * A record is one line of printable ASCII, fields separated by '|':
 *
 *   SEQ|TIME|SERIAL|CLASS|S or F|WHO|SLOT|OBJECT|RC|EVENT|MESSAGE|PREV|MAC
 *
 * SEQ counts from 1 on each HSM and never repeats; TIME is UTC
 * (2026-12-03T16:40:01Z); SLOT is a slot number or '-', OBJECT a handle
 * (0: none), RC the command's 32-bit result (0x00000000), PREV the MAC of
 * the record before (128 hex digits; for the first record of a chain the
 * genesis value, hsm_audit_genesis), MAC HMAC-SHA-512 under the log secret
 * over every byte of the line before "|MAC". So each record is checked on
 * its own, and its link to the one before by PREV and SEQ: a record
 * removed, reordered, altered or inserted breaks the MAC, the link or the
 * count at that record. The first record too: the genesis value is bound
 * to the log secret, the serial and that record's SEQ, so the record after
 * a removed first record starts no chain. Records cut from the end leave a
 * well-formed chain: only a count kept elsewhere finds them (the HSM's own,
 * audit verify; pedtool audit-verify -last).
 *
 * The log secret is HKDF-SHA-256 of the Auditor's white-key secret (info
 * "OPENPED-AUDIT-LOG-v1"), so two HSMs whose Auditors were initialized
 * with the same white keyset have the same one and verify each other's
 * logs. Nothing secret goes into a record: the caller writes names,
 * numbers and results, never a key, PIN or secret. */
#ifndef HSM_AUDIT_H
#define HSM_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#define HSM_AUDIT_SECRET_LEN 32
#define HSM_AUDIT_MAC_LEN 64
#define HSM_AUDIT_SERIAL_MAX 16
#define HSM_AUDIT_WHO_MAX 8
#define HSM_AUDIT_EVENT_MAX 32
#define HSM_AUDIT_MSG_MAX 200
/* The longest line, its newline included: the decoder reads no more. */
#define HSM_AUDIT_LINE_MAX 800

/* The event classes of `audit config evmask` (lunacm's letters). */
enum hsm_audit_class {
	HSM_AUDIT_ACCESS,    /* a: logins, logouts */
	HSM_AUDIT_MANAGE,    /* m: HSM and partition management */
	HSM_AUDIT_KEYMANAGE, /* k: keys created, deleted */
	HSM_AUDIT_USAGE,     /* u: every use of a key */
	HSM_AUDIT_FIRST,     /* r: the first use of a key */
	HSM_AUDIT_EXTERNAL,  /* x: audit logmsg */
	HSM_AUDIT_LOGMANAGE, /* g: the log's own configuration */
	HSM_AUDIT_NCLASSES
};
/* evmask: a bit per class, and which results are logged. */
#define HSM_AUDIT_EV_SUCCESS (1u << 8)
#define HSM_AUDIT_EV_FAILURE (1u << 9)
#define HSM_AUDIT_EV_ALL (((1u << HSM_AUDIT_NCLASSES) - 1) | HSM_AUDIT_EV_SUCCESS | HSM_AUDIT_EV_FAILURE)

struct hsm_audit_rec {
	uint64_t seq;
	int64_t time; /* seconds since the epoch, UTC */
	char serial[HSM_AUDIT_SERIAL_MAX + 1];
	uint8_t cls;    /* enum hsm_audit_class */
	uint8_t failed; /* 0: S, 1: F */
	char who[HSM_AUDIT_WHO_MAX + 1]; /* so au po co cu app, or "-" */
	int32_t slot;                    /* -1: none */
	uint64_t object;                 /* 0: none */
	uint32_t rc;
	char event[HSM_AUDIT_EVENT_MAX + 1];
	char msg[HSM_AUDIT_MSG_MAX + 1];
	uint8_t prev[HSM_AUDIT_MAC_LEN];
	uint8_t mac[HSM_AUDIT_MAC_LEN];
};

/* The class's name ("access") and letter; -1 for a name that is none. */
const char *hsm_audit_class_name(unsigned cls);
int hsm_audit_class_by_name(const char *name);

/* evmask from lunacm's list ("a,m,s,f", "access,success", "all", "none"),
 * any case; PED_E_ARGUMENTS_BAD for a word that is none, or a class
 * without s or f (which logs nothing). */
int hsm_audit_evmask_parse(const char *list, uint32_t *mask);
/* The mask as a list of class names and results ("access,manage,success"). */
void hsm_audit_evmask_format(uint32_t mask, char *out, size_t size);
/* Whether a record of cls with that result is logged under mask. */
int hsm_audit_wanted(uint32_t mask, unsigned cls, int failed);

/* The log secret from the Auditor's white-key secret. */
int hsm_audit_secret(const uint8_t *white, size_t len, uint8_t out[HSM_AUDIT_SECRET_LEN]);

/* The PREV of a chain's first record: HMAC-SHA-512 under the log secret of
 * "OPENPED-AUDIT-GENESIS-v1", NUL, the serial, NUL, and SEQ as 8 bytes
 * big-endian. */
int hsm_audit_genesis(const uint8_t key[HSM_AUDIT_SECRET_LEN], const char *serial, uint64_t seq,
		      uint8_t out[HSM_AUDIT_MAC_LEN]);

/* Makes r's line: r->prev is the previous record's MAC (the genesis value
 * to start a chain); r->mac is computed under key. Text fields are made printable
 * ('|' and control characters become '?'). *len is the line's length, its
 * newline included; PED_E_RANGE if it does not fit size. */
int hsm_audit_seal(const uint8_t key[HSM_AUDIT_SECRET_LEN], struct hsm_audit_rec *r, char *line, size_t size,
		   size_t *len);
/* Reads one line (without or with its newline, at most HSM_AUDIT_LINE_MAX
 * bytes) into r, checking every field's form and bound; *bodylen is the
 * length the MAC covers. PED_E_CORRUPT with why (may be NULL) when it is not
 * a record. No key needed. */
int hsm_audit_parse(const char *line, size_t len, struct hsm_audit_rec *r, size_t *bodylen, char *why,
		    size_t whylen);
/* Whether r (parsed from line) carries its MAC under key: PED_OK or
 * PED_E_BAD_RECORD. */
int hsm_audit_check_mac(const uint8_t key[HSM_AUDIT_SECRET_LEN], const char *line, size_t bodylen,
			const struct hsm_audit_rec *r);

/* Verification, over one or several files in their order: zero v, then
 * call hsm_audit_verify_buf for each file's bytes. It stops at the first
 * bad record: PED_E_CORRUPT (not a record, a partial last line),
 * PED_E_BAD_RECORD (its MAC is not the log secret's: altered, or another
 * HSM's secret), or PED_E_INVALID (SEQ or PREV does not follow the record
 * before: one removed, reordered or inserted; or the first record verified
 * neither starts a chain nor follows the record v was primed with), with
 * v->bad_seq, v->bad_line (1-based, in this buffer) and v->why set. each,
 * when set, is told every good record.
 *
 * A file that does not start the log is verified after priming v with the
 * record before it (have_last, last_seq, last_mac: hsm_audit_verify_link on
 * the previous file), else its first record is refused: nothing shows that
 * the records before it were not removed. */
struct hsm_audit_verify {
	uint64_t records;   /* good records so far */
	uint64_t first_seq, last_seq;
	int have_last;      /* last_seq and last_mac hold a record (verified, or primed) */
	uint8_t last_mac[HSM_AUDIT_MAC_LEN];
	uint64_t bad_seq;   /* the bad record's SEQ as written (0: unreadable) */
	uint64_t bad_line;
	char why[256];
};
int hsm_audit_verify_buf(const uint8_t key[HSM_AUDIT_SECRET_LEN], const uint8_t *buf, size_t len,
			 struct hsm_audit_verify *v, void (*each)(void *arg, const struct hsm_audit_rec *r),
			 void *arg);
/* Primes v with the last record of buf (the file before the one to
 * verify), its MAC checked under key: PED_OK, or PED_E_CORRUPT /
 * PED_E_BAD_RECORD with v->why. */
int hsm_audit_verify_link(const uint8_t key[HSM_AUDIT_SECRET_LEN], const uint8_t *buf, size_t len,
			  struct hsm_audit_verify *v);

/* The log files to verify at path: a directory's NAME.log files (with
 * serial, only pedclient's hsm_SERIAL_*.log of that HSM), in name order,
 * which pedclient makes log order; or the file path. For a file named as
 * pedclient names them, *prev is the one before it in its directory (NULL:
 * none) and *newest whether none comes after it; a directory's last file is
 * its newest. PED_E_NOT_FOUND when there is nothing at path. Free with
 * hsm_audit_files_free. */
struct hsm_audit_files {
	char **files;
	size_t n;
	char *prev;
	int newest;
};
int hsm_audit_files(const char *path, const char *serial, struct hsm_audit_files *f);
void hsm_audit_files_free(struct hsm_audit_files *f);

/* The wrapped log secret (audit export, audit import, pedtool audit-verify):
 * the secret sealed (AES-256-GCM, hsm/seal.h) under a key PBKDF2-HMAC-
 * SHA-512 derives from a password the Auditor chooses, with the source
 * HSM's serial in the additional data. A file of at most
 * HSM_AUDIT_LWS_MAX bytes. */
#define HSM_AUDIT_LWS_MAX 256
#define HSM_AUDIT_PBKDF2_ITER 100000
int hsm_audit_lws_wrap(const uint8_t secret[HSM_AUDIT_SECRET_LEN], const char *serial, const char *password,
		       uint8_t **out, size_t *outlen);
/* PED_E_CORRUPT for a file that is not one, PED_E_BAD_RECORD for a wrong
 * password or a damaged file; serial (HSM_AUDIT_SERIAL_MAX + 1) is the
 * source HSM's. */
/* The header alone (no key derived): PED_OK, *hdr_len (the additional
 * data's length), *iter and serial, or PED_E_CORRUPT. */
int hsm_audit_lws_header(const uint8_t *in, size_t inlen, size_t *hdr_len, uint32_t *iter, char *serial);
int hsm_audit_lws_unwrap(const uint8_t *in, size_t inlen, const char *password,
			 uint8_t secret[HSM_AUDIT_SECRET_LEN], char *serial);

#endif
