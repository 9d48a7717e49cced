/* The HSM's audit log (docs/audit.md): its configuration and log secret
 * (hsm-SERIAL.audit beside the state file, the secret sealed under the
 * storage key), the records each event makes (hsm/audit.h), and the
 * records not yet delivered to pedclient (the spool, hsm-SERIAL.auditq),
 * which pedclient's delivery takes in order and acknowledges.
 *
 * Each HSM's log has its own short lock: records come from commands (under
 * the HSM's command lock) and from applications' calls (outside it). It is
 * held only while a record is sealed and appended, never while anything
 * waits on a person or a peer. */
#ifndef HSM_SIM_AUDIT_H
#define HSM_SIM_AUDIT_H

#include "sim.h"

#include "hsm/audit.h"

#include <stddef.h>
#include <stdint.h>

/* The spool's bound by default; hsm-sim -auditspool sets it. */
#define AUDIT_SPOOL_MAX_DEFAULT (4u * 1024 * 1024)
#define AUDIT_DIR_MAX 255
/* Why the delivery stopped, as audit status shows it. */
#define AUDIT_REFUSED_MAX 640

/* Rotation intervals of audit config interval (seconds; 0: never). */
#define AUDIT_HOURLY 3600u
#define AUDIT_DAILY 86400u
#define AUDIT_WEEKLY (7u * 86400u)
#define AUDIT_MONTHLY (30u * 86400u)

struct audit_config {
	uint32_t evmask;
	uint32_t interval;  /* rotation, seconds; 0 never */
	uint64_t size;      /* rotation, bytes; 0 none */
	char dir[AUDIT_DIR_MAX + 1]; /* where pedclient writes ("": its own log directory) */
};

struct audit_status {
	struct audit_config cfg;
	int secret_set;
	uint64_t next_seq;     /* the number the next record gets */
	uint64_t delivered;    /* the last SEQ pedclient acknowledged */
	uint64_t spooled;      /* records waiting for pedclient */
	uint64_t spool_bytes, spool_max;
	int full;              /* the spool is full: audited work is refused */
	int connected;         /* pedclient takes the records now */
	int64_t time_offset;
	char refused[AUDIT_REFUSED_MAX]; /* why the delivery stopped, last time ("": it did not) */
};

/* Each HSM's log, read (or made empty) from beside its state file. After
 * sim_open, before any command. */
int audit_open_all(struct sim *sim, uint64_t spool_max, char *err, size_t errlen);
void audit_close_all(struct sim *sim);

/* Whether hs's log is on: an Auditor's log secret and an event mask. */
int audit_on(struct sim_hsm *hs);
/* Whether its spool has no room: audited commands and calls are refused
 * (HSM_E_DEVICE_MEMORY) until pedclient takes the records. */
int audit_full(struct sim_hsm *hs);

/* One event: a record when the mask wants it (cls, result: PED_OK or the
 * error), sealed, appended to the spool and handed to the delivery. who:
 * so, au, po, co, cu, app, or NULL; slot -1 for none; object 0 for none.
 * The message is never a secret. PED_OK, or why the record could not be
 * kept (the spool full, a write failed). */
int audit_event(struct sim_hsm *hs, unsigned cls, int result, const char *who, int slot, uint64_t object,
		const char *event, const char *fmt, ...) __attribute__((format(printf, 8, 9)));
/* The first use of a key (class first): a record only the first time this
 * object (by OUID) is used since hsm-sim started. */
int audit_key_used(struct sim_hsm *hs, int result, const char *who, int slot, uint64_t handle, uint64_t ouid,
		   const char *what);

/* The Auditor's white-key secret, at role init -name au: the log secret
 * derived from it, kept sealed. */
int audit_set_white(struct sim_hsm *hs, const uint8_t *white, size_t len);
/* The HSM was zeroized: the Auditor and with it the log secret are gone
 * (the records written stay, and verify with an exported secret). */
void audit_forget(struct sim_hsm *hs);
/* The HSM's storage key was replaced (a zeroization, sim_save): the audit
 * state, if there is one, is sealed again under the new one. */
void audit_resealed(struct sim_hsm *hs);

int audit_get(struct sim_hsm *hs, struct audit_status *st);
int audit_configure(struct sim_hsm *hs, const struct audit_config *cfg);
int audit_time_sync(struct sim_hsm *hs);
int64_t audit_time(struct sim_hsm *hs);

/* Verification with hs's log secret (or an imported one): a file, or the
 * files of a directory in name order. each lines go to out. */
struct sim_out;
int audit_verify(struct sim_hsm *hs, const char *path, int external, const struct sim_out *out);
/* The wrapped log secret (hsm/audit.h), and one imported for verifying
 * another HSM's logs (kept in memory until hsm-sim stops). */
int audit_export(struct sim_hsm *hs, const char *password, uint8_t **out, size_t *outlen);
int audit_import(struct sim_hsm *hs, const uint8_t *in, size_t inlen, const char *password, char *serial);

/* Delivery to pedclient (audit_link.c). The records after SEQ after, up to
 * max bytes of lines, in order: *n lines in *buf (malloc'd), 0 when none. */
int audit_spool_read(struct sim_hsm *hs, uint64_t after, size_t max, char **buf, size_t *len, uint64_t *last);
/* pedclient wrote every record up to seq: they leave the spool. */
int audit_acked(struct sim_hsm *hs, uint64_t seq);
void audit_set_connected(struct sim_hsm *hs, int on);
/* Why pedclient does not take the records (audit status shows it), or
 * NULL once it does. */
void audit_set_refused(struct sim_hsm *hs, const char *why);
/* The MAC of this HSM's record seq, when it knows it (the newest record, or
 * one its spool holds or follows): 1, else 0. */
int audit_own_mac(struct sim_hsm *hs, uint64_t seq, uint8_t mac[HSM_AUDIT_MAC_LEN]);
/* Waits (up to ms; ms < 0: until one comes or shutdown) for a record after
 * SEQ after; 1 if there is one. */
int audit_wait(struct sim_hsm *hs, uint64_t after, int ms);
/* Wakes every waiter (shutdown). */
void audit_wake_all(struct sim *sim);
/* Whether this HSM's log was stopped (audit_wake_all). */
int audit_stopping(struct sim_hsm *hs);

/* The delivery (audit_link.c): a thread per HSM hands its spooled records
 * to pedclient at socket, in order, and takes them out of the spool once
 * pedclient says they are on disk; with pedclient down it tries again every
 * second, the records waiting in the spool. io_ms bounds each exchange.
 * audit_link_stop after audit_wake_all, before the HSMs are wiped. */
int audit_link_start(struct sim *sim, const char *socket, int io_ms);
void audit_link_stop(struct sim *sim);

#endif
