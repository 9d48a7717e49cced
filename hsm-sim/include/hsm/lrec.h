/* The login record (hsm-SERIAL.logins, beside the state file): what a login
 * changes, kept apart from the big sealed state file so that counting an
 * attempt is one small in-place write and one fdatasync, not a new state
 * file, its fsync, a rename and a directory fsync.
 *
 * It holds every role's failure count and lock (SO, AU, and each
 * partition's PO, CO and CU), the time it was written (the power-off time
 * a restart measures auto-activation's window from, as the state file's
 * saved_at) and the SHA-256 the state file it goes with ends with. The
 * file is two slots of HSM_LREC_SLOT bytes, written in turn: each write
 * goes to the slot that does not hold the newest record, with the next
 * sequence number, so a write torn by a crash leaves the other slot, the
 * last record written whole, valid. A slot is
 *
 *   "OPLR" version:u8 seq:u32 written_at:u64 state_sum:32 nroles:u8
 *   (failures:u32 locked:u8)*nroles HMAC-SHA-256
 *
 * big-endian, its MAC under a key derived from the HSM's storage key (info
 * "OPENPED-LOGIN-RECORD-v1"), so only this HSM makes a record it reads.
 * The newest valid slot counts (sequence numbers compared modulo 2^32, so
 * they wrap); it applies to the state only when its state_sum is the state
 * file's: a state file saved after it (which holds the counts as they
 * were then, and may number the partitions otherwise) makes it stale. A
 * state file without a record (before this file existed, or never logged
 * in to) keeps its own counts: nothing to migrate. */
#ifndef HSM_LREC_H
#define HSM_LREC_H

#include "hsm/hsm.h"

#include <stdint.h>

#define HSM_LREC_ROLES (2 + 3 * HSM_MAX_PARTITIONS)
/* A slot per page: a torn write of one never reaches the other. */
#define HSM_LREC_SLOT 4096
#define HSM_LREC_FILE_LEN (2 * HSM_LREC_SLOT)
#define HSM_LREC_SUM_LEN 32
#define HSM_LREC_LEN (4 + 1 + 4 + 8 + HSM_LREC_SUM_LEN + 1 + 5 * HSM_LREC_ROLES + 32)

struct hsm_lrec {
	uint32_t seq;  /* the newest valid slot's sequence number */
	int slot;      /* the slot holding it; -1: no file (the next write makes it) */
	int64_t written_at;
	uint8_t state_sum[HSM_LREC_SUM_LEN];
	uint32_t failures[HSM_LREC_ROLES]; /* 0 so, 1 au, 2 + 3 i + 0/1/2: partition i's po/co/cu */
	uint8_t locked[HSM_LREC_ROLES];
};

/* h's counts and locks into rec (the rest of rec untouched); those of
 * partitions h does not have are 0. */
void hsm_lrec_take(const struct hsm *h, struct hsm_lrec *rec);
/* rec's counts and locks into h's roles (its partitions only). */
void hsm_lrec_give(struct hsm *h, const struct hsm_lrec *rec);
/* Whether a and b hold the same counts and locks. */
int hsm_lrec_same(const struct hsm_lrec *a, const struct hsm_lrec *b);

/* One slot's bytes (HSM_LREC_LEN) of rec with sequence number seq, MAC'd
 * under h's storage key (PED_E_INVALID without one). */
int hsm_lrec_encode(const struct hsm *h, const struct hsm_lrec *rec, uint32_t seq, uint8_t out[HSM_LREC_LEN]);
/* A slot's bytes: PED_OK and rec's seq, counts, time and sum; or
 * PED_E_CORRUPT (torn, not this HSM's, altered, out of range). */
int hsm_lrec_decode(const struct hsm *h, const uint8_t *buf, size_t len, struct hsm_lrec *rec);
/* Of two sequence numbers, whether a is after b (modulo 2^32). */
int hsm_lrec_newer(uint32_t a, uint32_t b);

/* Reads the record at path: PED_OK with rec its newest valid slot;
 * PED_E_NOT_FOUND when there is no file; PED_E_CORRUPT (with why) when
 * neither slot is valid, which no crash makes (the file is made whole, its
 * slots written in turn). */
int hsm_lrec_read(const char *path, const struct hsm *h, struct hsm_lrec *rec, char *why, size_t whylen);
/* Writes rec (its counts, time and state_sum) as the next record after
 * rec->seq, into the slot that is not rec->slot, and syncs it (fdatasync);
 * without a file (rec->slot -1) makes one, atomically, mode 0600. On
 * PED_OK rec->seq and rec->slot are the new record's; on an error (errno
 * kept) the file holds what it held. */
int hsm_lrec_write(const char *path, const struct hsm *h, struct hsm_lrec *rec);

/* The record's path for a state file's (hsm-SERIAL.state ->
 * hsm-SERIAL.logins): PED_E_INVALID for another name or too long. */
int hsm_lrec_path(const char *state_path, char *out, size_t len);

/* A state file as loaded, with its record applied: hsm_load, then the
 * record beside it when it goes with this state file (its counts, locks,
 * and its time if later than the state's). sum: the state file's
 * (may be NULL); rec (may be NULL): the record as read, or, when it does
 * not apply, the state's counts with the record's seq and slot. A record
 * neither slot of which is valid refuses the load (PED_E_CORRUPT, why). */
int hsm_load_with_record(const char *path, const char *rec_path, struct hsm *h, uint8_t sum[HSM_LREC_SUM_LEN],
			 struct hsm_lrec *rec, char *why, size_t whylen);

#endif
