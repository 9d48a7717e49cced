/* hsm-sim's data model: the HSMs it hosts and their slots, saving them,
 * what a session has logged in to, and the locks that let commands on
 * different HSMs run side by side. No I/O to operators and no PED here:
 * any front end (hsmcm's shell, an application protocol) uses it.
 *
 * Locks. Each HSM has a command lock: whoever reads or changes an HSM (its
 * struct hsm, its epoch) holds it, through a struct sim_hold, for the whole
 * command. A command on two HSMs (a backup) takes both in the order of their
 * index, so two such commands cannot deadlock. A ceremony that waits on
 * people gives its locks back explicitly (sim_hold_release) and takes them
 * again (sim_hold_retake); the caller then checks again what it relies on.
 * sim->mu is a short lock over the bookkeeping only (who holds what, the
 * slot views, the operations in flight), never held across I/O. */
#ifndef HSM_SIM_SIM_H
#define HSM_SIM_SIM_H

#include "hsm/hsm.h"
#include "hsm/lrec.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* An HSM costs its memory only once configured (the tables below are
 * static, their pages untouched until used): 256 for issue #33's memory
 * row, an hsm-sim holding K = 256 HSMs. */
#define SIM_MAX_HSMS 256
#define SIM_SLOTS_PER_HSM 16 /* the admin partition, then up to 15 application partitions */

/* What slot list shows of an HSM, as it was when its lock was last given
 * back: read without waiting for a command on that HSM (under sim->mu). */
struct sim_slot_view {
	char serial[HSM_SERIAL_MAX + 1];
	int backup;
	int initialized;
	char label[HSM_LABEL_MAX + 1];
	uint32_t npartitions;
	char partition[HSM_MAX_PARTITIONS][HSM_LABEL_MAX + 1]; /* its label, or its name */
	uint8_t partition_initialized[HSM_MAX_PARTITIONS];
};

struct audit_log;

struct sim_hsm {
	struct hsm h;        /* under the command lock */
	struct audit_log *audit; /* its log (audit.h), with its own lock */
	int index;           /* in sim->hsms: the lock order */
	int base_slot;       /* the admin partition's slot; partition i is base_slot + 1 + i */
	char state_path[1024];
	char lrec_path[1040]; /* its login record (hsm/lrec.h) */
	char dev_path[1100];  /* its device secret, hsm-SERIAL.device */
	/* The state file on disk is of an initialized HSM: the save that
	 * zeroizes it replaces the device secret (sim_save). Under the
	 * command lock. */
	uint8_t saved_initialized;
	/* After a start that finished a replacement a crash cut short: the
	 * storage key before it, for an audit state not yet sealed again
	 * (audit_open_all); wiped once the audit state is read. */
	uint8_t prev_kek_set;
	uint8_t prev_kek[HSM_KEY_LEN];
	/* Under the command lock: the login record as the disk holds it, with
	 * the counts a restart would load (the record's, or the state file's
	 * when it is newer), and the state file's SHA-256. */
	struct hsm_lrec lrec;
	uint8_t state_sum[HSM_STATE_SUM_LEN];
	/* Bumps when credentials are wiped or replaced (hsm init or zeroize, a
	 * partition re-initialized or zeroized, a role re-initialized or reset):
	 * every other session's logins to this HSM end (sim_login). Under the
	 * command lock. */
	uint64_t epoch;
	/* under sim->mu */
	int held;
	pthread_cond_t free_cv; /* held went to 0 */
	struct sim_slot_view view;
};

struct sim {
	struct sim_hsm hsms[SIM_MAX_HSMS];
	int nhsms;
	pthread_mutex_t mu;
	pthread_cond_t idle_cv; /* a lock given back or an operation ended while stopping */
	int nheld;              /* HSM locks held */
	int ops;                /* operations in flight (sim_op_begin) */
	int stopping;           /* no operation begins */
	int closed;             /* no lock is given any more: the HSMs may be wiped */
	struct sim_logins *attached; /* logins that outlive a command (under mu) */
};

/* Before any other call. */
void sim_init(struct sim *sim);
/* Adds an HSM (slots base_slot to base_slot + 15); NULL when there are
 * SIM_MAX_HSMS already. Its state is read or made by sim_open. */
struct sim_hsm *sim_add(struct sim *sim, const char *serial, int base_slot, int backup);
/* Loads each HSM's state from state_dir, or creates a zeroized HSM; a
 * damaged or foreign state file is refused (err says why). */
int sim_open(struct sim *sim, const char *state_dir, char *err, size_t errlen);
/* Saves hs. On failure the HSM goes back to its last saved state: what is
 * not on disk does not exist. Under hs's command lock. */
int sim_save(struct sim_hsm *hs);
/* Saves only the roles' failure counts and locks, in the login record (one
 * small write and an fdatasync, hsm/lrec.h): all a login changes when it
 * zeroizes nothing. On error (logged) the counts in memory go back to what
 * the disk holds. */
int sim_save_counts(struct sim_hsm *hs);
/* The store the chapter 8 rules save through (sim_save on hs). */
void sim_store(struct sim_hsm *hs, struct hsm_store *st);
/* Shutdown, once sim_quiesce said no lock is held: saves every HSM, so that
 * its state file holds the power-off time (auto-activation's window). */
void sim_power_off(struct sim *sim);
/* Wipes every HSM's memory; once sim_quiesce said so. */
void sim_wipe(struct sim *sim);

/* Slots. The HSM a slot number belongs to never changes: no lock needed. */
struct sim_hsm *sim_hsm_of_slot(struct sim *sim, int slot);
/* Under hs's command lock: 1 if slot is hs's admin slot (*p NULL) or one of
 * its partitions (*p, *pi its index); 0 if there is no such slot now. */
int sim_slot_resolve(struct sim_hsm *hs, int slot, struct hsm_partition **p, int *pi);
/* Without any command lock, from the views: whether the slot exists. */
int sim_slot_exists(struct sim *sim, int slot);
/* A partition's serial number: the HSM's, plus the partition's place
 * after the admin partition (1 for the first), as the reference's serials
 * follow their HSM's; into out (at least 24 bytes). */
void sim_partition_serial(const char *hsm_serial, uint32_t index, char *out, size_t len);
/* A copy of HSM i's view. */
void sim_slot_view(struct sim *sim, int i, struct sim_slot_view *out);

/* What one session has logged in to, per HSM. */
struct sim_login {
	uint64_t epoch; /* the HSM's epoch when these were made */
	uint8_t so, au;
	uint8_t po[HSM_MAX_PARTITIONS], co[HSM_MAX_PARTITIONS], cu[HSM_MAX_PARTITIONS];
};
struct sim_logins {
	struct sim_login hsm[SIM_MAX_HSMS];
	struct sim_logins *next_attached; /* sim's list of attached tables */
};
/* Under hs's command lock: this session's logins to hs, none if hs's
 * credentials changed since they were made. */
struct sim_login *sim_login(struct sim_logins *t, struct sim_hsm *hs);
/* Credentials of hs were wiped or replaced: the other sessions' logins to
 * it end; this one's (t) too unless keep_own (it keeps what the caller
 * leaves in it). */
void sim_logins_end(struct sim_logins *t, struct sim_hsm *hs, int keep_own);
/* Logins that outlive a command: an application's (apps.c) for as long as
 * it runs. An operator's role logout reaches them (sim_role_logout), and
 * the epoch ends them as it ends every session's. */
void sim_logins_attach(struct sim *sim, struct sim_logins *t);
void sim_logins_detach(struct sim *sim, struct sim_logins *t);
/* Under hs's command lock: role's logins end in every attached table, on
 * partition pi for the partition's roles (PO, CO, CU), on the HSM for SO
 * and AU. */
void sim_role_logout(struct sim *sim, struct sim_hsm *hs, enum hsm_role role, int pi);

/* The command locks a command holds: two HSMs at most (a backup). */
#define SIM_HOLD_MAX 2
struct sim_hold {
	struct sim *sim;
	struct sim_hsm *hs[SIM_HOLD_MAX]; /* in index order */
	int n;
	int released; /* given back for a wait, to be taken again */
};
void sim_hold_init(struct sim_hold *k, struct sim *sim);
/* Takes the locks of a and b (either may be NULL or the same) besides those
 * k holds, all in index order: locks already held are given back first
 * when an earlier one must come before them. Blocks until they are free;
 * once the model is closed (shutdown), forever. */
void sim_hold(struct sim_hold *k, struct sim_hsm *a, struct sim_hsm *b);
/* A wait on people: gives every lock k holds back, and takes them again. */
void sim_hold_release(struct sim_hold *k);
void sim_hold_retake(struct sim_hold *k);
/* The command is done: gives back what k holds. */
void sim_hold_drop(struct sim_hold *k);

/* Operations in flight: one per command, from before it starts until its
 * result is delivered. 0 when stopping (the operation must not start). */
int sim_op_begin(struct sim *sim);
void sim_op_end(struct sim *sim);
/* Shutdown: no operation begins from now on. */
void sim_stop(struct sim *sim);
/* Shutdown: waits (up to timeout_ms) for the HSM locks to be free, then
 * (up to timeout_ms more) for the operations in flight to end, which may
 * take locks meanwhile. Returns 1 when no lock is held: the model is then
 * closed (no lock will be given again) and the HSMs may be wiped; 0 when a
 * command still holds one. *left: the operations still in flight. */
int sim_quiesce(struct sim *sim, int timeout_ms, int *left);

#endif
