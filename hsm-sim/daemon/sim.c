/* The data model: HSMs and slots, saving, logins, command locks, and the
 * operations in flight that shutdown waits for (sim.h). */
#include "sim.h"

#include "audit.h"
#include "hsm/seal.h"

#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/fileio.h"
#include "ped/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void sim_init(struct sim *sim)
{
	pthread_mutex_init(&sim->mu, NULL);
	ped_cond_init_monotonic(&sim->idle_cv);
}

struct sim_hsm *sim_add(struct sim *sim, const char *serial, int base_slot, int backup)
{
	if (sim->nhsms >= SIM_MAX_HSMS)
		return NULL;
	struct sim_hsm *hs = &sim->hsms[sim->nhsms];
	hs->index = sim->nhsms++;
	snprintf(hs->h.serial, sizeof(hs->h.serial), "%s", serial);
	hs->base_slot = base_slot;
	hs->h.is_backup = (uint8_t)backup;
	hs->lrec.slot = -1;
	pthread_cond_init(&hs->free_cv, NULL);
	return hs;
}

/* Under sim->mu: what slot list shows of hs, from its state now. */
static void publish(struct sim_hsm *hs)
{
	struct sim_slot_view *v = &hs->view;
	memcpy(v->serial, hs->h.serial, sizeof(v->serial));
	v->backup = hs->h.is_backup;
	v->initialized = hs->h.initialized;
	memcpy(v->label, hs->h.label, sizeof(v->label));
	v->npartitions = hs->h.npartitions;
	for (uint32_t j = 0; j < hs->h.npartitions && j < HSM_MAX_PARTITIONS; j++) {
		const struct hsm_partition *p = &hs->h.partitions[j];
		memcpy(v->partition[j], p->label[0] ? p->label : p->name, sizeof(v->partition[j]));
		v->partition_initialized[j] = p->initialized;
	}
}

/* hsm-SERIAL.device.new: a device secret the state is not yet known to be
 * sealed under (a zeroization's, a new HSM's) */
#define DEV_NEW_PATH_MAX 1200
static void dev_new_path(const struct sim_hsm *hs, char np[DEV_NEW_PATH_MAX])
{
	snprintf(np, DEV_NEW_PATH_MAX, "%s.new", hs->dev_path);
}

/* The state is sealed under hsm-SERIAL.device.new: it becomes the HSM's
 * device secret. PED_E_IO (errno says why) if the rename or the
 * directory's sync failed. */
static int install_new_secret(const struct sim_hsm *hs)
{
	char np[DEV_NEW_PATH_MAX];

	dev_new_path(hs, np);
	if (rename(np, hs->dev_path) != 0 || ped_file_sync_dir_of(hs->dev_path) != PED_OK)
		return PED_E_IO;
	return PED_OK;
}

/* A zeroization replaces the device secret (sim_save): the new one is
 * written as hsm-SERIAL.device.new, the state sealed under it, then it is
 * renamed over hsm-SERIAL.device. A crash in between leaves both: the one
 * the state file opens under is the HSM's, the other goes. With the new
 * one, the login record (MAC'd under the old key, and stale: the state
 * file is newer) goes too, and the old storage key is kept for the audit
 * state until audit_open_all has sealed it again. */
static int finish_rotation(struct sim_hsm *hs, int state_exists, char *err, size_t errlen)
{
	char np[DEV_NEW_PATH_MAX], why[400] = "";
	uint8_t secret[HSM_DEVICE_SECRET_LEN];
	struct hsm *probe;
	int opens = 0;

	dev_new_path(hs, np);
	if (access(np, F_OK) != 0)
		return PED_OK;
	if (state_exists && hsm_device_read(np, secret, why, sizeof(why)) == PED_OK &&
	    (probe = calloc(1, sizeof(*probe))) != NULL) {
		char pwhy[400] = "";
		memcpy(probe->serial, hs->h.serial, sizeof(probe->serial));
		opens = hsm_set_device_secret(probe, secret) == PED_OK &&
			hsm_load(hs->state_path, probe, pwhy, sizeof(pwhy)) == PED_OK;
		hsm_cleanse(probe);
		free(probe);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	if (!opens) {
		/* cut short before the state was sealed under it: never used */
		if (unlink(np) != 0 && errno != ENOENT) {
			snprintf(err, errlen, "cannot remove %s: %s", np, strerror(errno));
			return PED_E_IO;
		}
		ped_warn("HSM %s: %s was never used (a zeroization or the HSM's creation cut short before its "
			 "save); removed",
			 hs->h.serial, np);
		return PED_OK;
	}
	if (hsm_device_read(hs->dev_path, secret, why, sizeof(why)) == PED_OK) {
		if (hsm_storage_key(secret, hs->h.serial, hs->prev_kek) == PED_OK)
			hs->prev_kek_set = 1;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	if (install_new_secret(hs) != PED_OK) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", np, hs->dev_path, strerror(errno));
		return PED_E_IO;
	}
	if (unlink(hs->lrec_path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove the stale login record %s: %s", hs->lrec_path, strerror(errno));
		return PED_E_IO;
	}
	ped_warn("HSM %s: the device secret a zeroization made is now in %s (its replacement was cut short)",
		 hs->h.serial, hs->dev_path);
	return PED_OK;
}

/* The HSM's device secret (hsm-SERIAL.device): read, or made when the
 * HSM has no state sealed under one yet (a new HSM, or a state file of
 * version 7 or older, whose secrets are in clear until sim_open saves it).
 * Into hs's storage key. */
static int open_device(struct sim_hsm *hs, const char *state_dir, int state_exists, char *err, size_t errlen)
{
	char path[1100], why[400] = "";
	uint8_t secret[HSM_DEVICE_SECRET_LEN];
	int r;

	snprintf(path, sizeof(path), "%.990s/hsm-%s.device", state_dir, hs->h.serial);
	snprintf(hs->dev_path, sizeof(hs->dev_path), "%s", path);
	if ((r = finish_rotation(hs, state_exists, err, errlen)) != PED_OK)
		return r;
	r = hsm_device_read(path, secret, why, sizeof(why));
	if (r == PED_OK && !state_exists) {
		/* an HSM whose state is gone is not a new HSM: a wrong mount or a
		 * half-restored backup would otherwise become one, zeroized, and
		 * be initialized over before the state is found again */
		OPENSSL_cleanse(secret, sizeof(secret));
		snprintf(err, errlen, "%s: missing, but HSM %s's device secret %s is there: restore the state "
			 "file, or remove the device secret to start HSM %s anew (zeroized)",
			 hs->state_path, hs->h.serial, path, hs->h.serial);
		return PED_E_NOT_FOUND;
	}
	if (r == PED_E_NOT_FOUND && !state_exists) {
		/* a new HSM: its secret becomes hsm-SERIAL.device only once the
		 * state is sealed under it (creation_done), so that a start cut
		 * short leaves nothing the rule above would refuse */
		char np[DEV_NEW_PATH_MAX];
		dev_new_path(hs, np);
		if ((r = hsm_device_create(np, secret, why, sizeof(why))) != PED_OK) {
			snprintf(err, errlen, "cannot make the device secret of HSM %s: %s", hs->h.serial, why);
			return r;
		}
		goto set;
	}
	if (r == PED_E_NOT_FOUND && state_exists) {
		/* only a state file without sealed secrets may get a new device secret */
		struct hsm *probe = calloc(1, sizeof(*probe));
		char pwhy[400] = "";
		int pr = probe ? hsm_load(hs->state_path, probe, pwhy, sizeof(pwhy)) : PED_E_HOST_MEMORY;
		if (probe)
			hsm_cleanse(probe);
		free(probe);
		if (pr != PED_OK) {
			snprintf(err, errlen, "%s: %s; its device secret %s is missing, so it cannot be opened "
				 "(restore that file, or move the state file away to start a new HSM)",
				 hs->state_path, pwhy[0] ? pwhy : ped_strerror(pr), path);
			return PED_E_CORRUPT;
		}
	}
	if (r == PED_E_NOT_FOUND) {
		if ((r = hsm_device_create(path, secret, why, sizeof(why))) != PED_OK) {
			snprintf(err, errlen, "cannot make the device secret of HSM %s: %s", hs->h.serial, why);
			return r;
		}
		ped_info("HSM %s: device secret made in %s", hs->h.serial, path);
	} else if (r != PED_OK) {
		snprintf(err, errlen, "%s", why[0] ? why : ped_strerror(r));
		return r;
	}
set:
	r = hsm_set_device_secret(&hs->h, secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (r != PED_OK)
		snprintf(err, errlen, "HSM %s: cannot derive its storage key", hs->h.serial);
	return r;
}

/* A new HSM's state is on disk, sealed under hsm-SERIAL.device.new: that
 * is now its device secret (a crash before this rename is finished by the
 * next start's finish_rotation, which finds the state opening under it). */
static int creation_done(struct sim_hsm *hs, char *err, size_t errlen)
{
	if (install_new_secret(hs) != PED_OK) {
		snprintf(err, errlen, "cannot rename %s.new to %s: %s", hs->dev_path, hs->dev_path, strerror(errno));
		return PED_E_IO;
	}
	return PED_OK;
}

int sim_open(struct sim *sim, const char *state_dir, char *err, size_t errlen)
{
	for (int i = 0; i < sim->nhsms; i++) {
		struct sim_hsm *hs = &sim->hsms[i];
		char serial[HSM_SERIAL_MAX + 1], why[400];
		int backup = hs->h.is_backup, r, exists;
		uint8_t kek[HSM_KEY_LEN];
		memcpy(serial, hs->h.serial, sizeof(serial));
		snprintf(hs->state_path, sizeof(hs->state_path), "%.990s/hsm-%s.state", state_dir, serial);
		if (hsm_lrec_path(hs->state_path, hs->lrec_path, sizeof(hs->lrec_path)) != PED_OK) {
			snprintf(err, errlen, "%s: no room for its login record's name", hs->state_path);
			return PED_E_INVALID;
		}
		exists = access(hs->state_path, F_OK) == 0;
		if ((r = open_device(hs, state_dir, exists, err, errlen)) != PED_OK)
			return r;
		/* the counts of the last logins are in the login record */
		r = hsm_load_with_record(hs->state_path, hs->lrec_path, &hs->h, hs->state_sum, &hs->lrec, why,
					 sizeof(why));
		if (r == PED_OK) {
			if (strcmp(hs->h.serial, serial)) {
				snprintf(err, errlen, "%s holds HSM %s, not %s", hs->state_path, hs->h.serial, serial);
				return PED_E_CORRUPT;
			}
			/* power on: cached secrets survive only auto-activated, and a
			 * power-off of two hours at most (chapter 8) */
			unsigned dropped = hsm_power_on(&hs->h, (int64_t)time(NULL));
			if (dropped)
				ped_info("HSM %s: %u cached activation(s) dropped at power-on (no auto-activation, or "
					 "off for more than %d s)", serial, dropped, HSM_AUTO_ACTIVATION_WINDOW_S);
			hs->saved_initialized = hs->h.initialized;
			/* an older version's file holds its secrets in clear: sealed
			 * now, not at a next save that a crash or an HSM only logged
			 * in to may put off for good */
			int v = hsm_state_file_version(hs->state_path);
			if (v > 0 && v < HSM_STATE_VERSION) {
				if (sim_save(hs) == PED_OK)
					ped_info("HSM %s: state file of version %d saved as version %d, its secrets "
						 "sealed under %s", serial, v, HSM_STATE_VERSION, hs->dev_path);
				else
					ped_warn("HSM %s: its state file stays version %d (secrets in clear) until a "
						 "save succeeds", serial, v);
			}
			publish(hs);
			continue;
		}
		if (r != PED_E_NOT_FOUND && (exists || access(hs->state_path, F_OK) == 0)) {
			/* refuse, never half-load or overwrite a damaged state */
			if (!strncmp(why, hs->state_path, strlen(hs->state_path))) /* it names the file already */
				snprintf(err, errlen, "%s", why);
			else
				snprintf(err, errlen, "%s: %s", hs->state_path, why[0] ? why : ped_strerror(r));
			return r;
		}
		/* no state file: a new HSM, sealed under the device secret read above */
		memcpy(kek, hs->h.kek, sizeof(kek));
		if ((r = hsm_create(&hs->h, serial)) != PED_OK) {
			OPENSSL_cleanse(kek, sizeof(kek));
			snprintf(err, errlen, "cannot create HSM %s: %s", serial, ped_strerror(r));
			return r;
		}
		memcpy(hs->h.kek, kek, sizeof(kek));
		hs->h.kek_set = 1;
		OPENSSL_cleanse(kek, sizeof(kek));
		hs->h.is_backup = (uint8_t)backup;
		if ((r = sim_save(hs)) != PED_OK) {
			snprintf(err, errlen, "cannot write %s", hs->state_path);
			return r;
		}
		if ((r = creation_done(hs, err, errlen)) != PED_OK)
			return r;
		publish(hs);
		ped_info("HSM %s created (zeroized) in %s; its device secret in %s", serial, hs->state_path,
			 hs->dev_path);
	}
	return PED_OK;
}

/* A zeroization's save: a new device secret, so that no copy of the state
 * as it was (a backup of the file, one sent with a bug report, the file
 * itself put back) opens under the device secret the HSM keeps, as a real
 * HSM's zeroization destroys the key its storage was encrypted under.
 * Written as hsm-SERIAL.device.new and the storage key switched to it;
 * the caller saves, then rotation_done renames it (finish_rotation takes
 * over after a crash). */
static int rotation_begin(struct sim_hsm *hs, uint8_t old_kek[HSM_KEY_LEN])
{
	char np[DEV_NEW_PATH_MAX];
	uint8_t secret[HSM_DEVICE_SECRET_LEN];
	int r = PED_E_CRYPTO, e = 0;

	dev_new_path(hs, np);
	if (!hs->dev_path[0] || !hs->h.kek_set)
		return PED_E_INVALID;
	(void)unlink(np);
	if (RAND_priv_bytes(secret, sizeof(secret)) == 1) {
		r = ped_file_write_atomic(np, secret, sizeof(secret), 0600);
		e = errno;
	}
	if (r == PED_OK) {
		memcpy(old_kek, hs->h.kek, HSM_KEY_LEN);
		if ((r = hsm_set_device_secret(&hs->h, secret)) != PED_OK) {
			memcpy(hs->h.kek, old_kek, HSM_KEY_LEN);
			hs->h.kek_set = 1;
			(void)unlink(np);
		}
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	if (r != PED_OK)
		ped_error("HSM %s: cannot make a new device secret in %s: %s", hs->h.serial, np,
			  e ? strerror(e) : ped_strerror(r));
	errno = e;
	return r;
}

static void rotation_done(struct sim_hsm *hs)
{
	/* the login record is MAC'd under the old key (and stale) */
	if (unlink(hs->lrec_path) != 0 && errno != ENOENT)
		ped_error("HSM %s: cannot remove %s: %s", hs->h.serial, hs->lrec_path, strerror(errno));
	hs->lrec.slot = -1;
	hs->lrec.seq = 0;
	audit_resealed(hs);
	if (install_new_secret(hs) != PED_OK)
		ped_error("HSM %s: cannot rename %s.new to %s: %s (the next start does)", hs->h.serial, hs->dev_path,
			  hs->dev_path, strerror(errno));
	else
		ped_info("HSM %s zeroized: a new device secret in %s; no earlier copy of its state opens under it",
			 hs->h.serial, hs->dev_path);
}

int sim_save(struct sim_hsm *hs)
{
	uint8_t old_kek[HSM_KEY_LEN];
	int rotate = hs->saved_initialized && !hs->h.initialized;

	int r = PED_E_IO, e = 0;

	if (rotate && rotation_begin(hs, old_kek) != PED_OK) {
		/* nothing saved: the HSM goes back to the state last saved */
		e = errno;
		rotate = 0;
	} else {
		/* the wall clock, as the power-off time a restart measures from */
		hs->h.saved_at = (int64_t)time(NULL);
		r = hsm_save_sum(&hs->h, hs->state_path, hs->state_sum);
		e = errno;
	}
	if (r == PED_OK) {
		/* the state file holds the counts now: the record, older, is stale */
		hsm_lrec_take(&hs->h, &hs->lrec);
		memcpy(hs->lrec.state_sum, hs->state_sum, sizeof(hs->state_sum));
		hs->lrec.written_at = hs->h.saved_at;
		hs->saved_initialized = hs->h.initialized;
		if (rotate)
			rotation_done(hs);
		OPENSSL_cleanse(old_kek, sizeof(old_kek));
		return r;
	}
	if (rotate) {
		char np[DEV_NEW_PATH_MAX];
		dev_new_path(hs, np);
		memcpy(hs->h.kek, old_kek, sizeof(old_kek));
		hs->h.kek_set = 1;
		(void)unlink(np);
		OPENSSL_cleanse(old_kek, sizeof(old_kek));
	}
	ped_error("cannot save HSM %s to %s: %s (%s)", hs->h.serial, hs->state_path, ped_strerror(r), strerror(e));
	/* What is not on disk does not exist: the running HSM goes back to its
	 * last saved state, so it never shows or uses a change (a partition, a
	 * role, an init) that a restart would lose. */
	struct hsm *old = calloc(1, sizeof(*old));
	char why[400];
	if (old) {
		memcpy(old->kek, hs->h.kek, sizeof(old->kek));
		old->kek_set = hs->h.kek_set;
	}
	struct hsm_lrec rec;
	if (old && hsm_load_with_record(hs->state_path, hs->lrec_path, old, hs->state_sum, &rec, why, sizeof(why)) ==
		       PED_OK) {
		uint8_t backup = hs->h.is_backup;
		hs->lrec = rec;
		hsm_cleanse(&hs->h);
		memcpy(&hs->h, old, sizeof(*old));
		hs->h.is_backup = backup;
		OPENSSL_cleanse(old, sizeof(*old)); /* its objects now belong to hs->h */
		ped_warn("HSM %s: back to the state last saved", hs->h.serial);
	} else if (old) {
		ped_error("HSM %s: cannot read back the state last saved (%s): the change stays in memory, unsaved",
			  hs->h.serial, why);
		hsm_cleanse(old);
	}
	free(old);
	errno = e;
	return r;
}

int sim_save_counts(struct sim_hsm *hs)
{
	struct hsm_lrec now = hs->lrec;
	int r, e;

	hsm_lrec_take(&hs->h, &now);
	if (hsm_lrec_same(&now, &hs->lrec))
		return PED_OK; /* on disk already (a failure counted before the check) */
	now.written_at = (int64_t)time(NULL);
	memcpy(now.state_sum, hs->state_sum, sizeof(hs->state_sum));
	r = hsm_lrec_write(hs->lrec_path, &hs->h, &now);
	if (r == PED_OK) {
		hs->lrec = now;
		hs->h.saved_at = now.written_at; /* as a restart would read it */
		return r;
	}
	e = errno;
	ped_error("cannot save HSM %s's login counts to %s: %s (%s)", hs->h.serial, hs->lrec_path, ped_strerror(r),
		  strerror(e));
	/* what is not on disk does not exist: the counts the disk holds */
	hsm_lrec_give(&hs->h, &hs->lrec);
	errno = e;
	return r;
}

static int store_save(void *arg)
{
	return sim_save(arg);
}

static int store_save_counts(void *arg)
{
	return sim_save_counts(arg);
}

void sim_store(struct sim_hsm *hs, struct hsm_store *st)
{
	st->save = store_save;
	st->arg = hs;
	st->save_counts = store_save_counts;
}

void sim_power_off(struct sim *sim)
{
	for (int i = 0; i < sim->nhsms; i++)
		(void)sim_save(&sim->hsms[i]);
}

void sim_wipe(struct sim *sim)
{
	for (int i = 0; i < sim->nhsms; i++)
		hsm_cleanse(&sim->hsms[i].h);
}

/* ---- slots ---------------------------------------------------------------- */

struct sim_hsm *sim_hsm_of_slot(struct sim *sim, int slot)
{
	for (int i = 0; i < sim->nhsms; i++) {
		int k = slot - sim->hsms[i].base_slot;
		if (k >= 0 && k < SIM_SLOTS_PER_HSM)
			return &sim->hsms[i];
	}
	return NULL;
}

int sim_slot_resolve(struct sim_hsm *hs, int slot, struct hsm_partition **p, int *pi)
{
	int k = slot - hs->base_slot;
	if (p)
		*p = NULL;
	if (pi)
		*pi = 0;
	if (k == 0)
		return 1;
	if (k < 0 || k >= SIM_SLOTS_PER_HSM || (uint32_t)(k - 1) >= hs->h.npartitions)
		return 0;
	if (p)
		*p = &hs->h.partitions[k - 1];
	if (pi)
		*pi = k - 1;
	return 1;
}

int sim_slot_exists(struct sim *sim, int slot)
{
	struct sim_hsm *hs = sim_hsm_of_slot(sim, slot);
	int k = hs ? slot - hs->base_slot : -1;
	if (k < 0)
		return 0;
	pthread_mutex_lock(&sim->mu);
	int ok = k == 0 || (uint32_t)(k - 1) < hs->view.npartitions;
	pthread_mutex_unlock(&sim->mu);
	return ok;
}

void sim_partition_serial(const char *hsm_serial, uint32_t index, char *out, size_t len)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(hsm_serial, &end, 10);
	if (!errno && !*end && *hsm_serial && n < ULLONG_MAX - HSM_MAX_PARTITIONS)
		snprintf(out, len, "%llu", n + 1 + index);
	else
		snprintf(out, len, "%s-%u", hsm_serial, index + 1);
}

void sim_slot_view(struct sim *sim, int i, struct sim_slot_view *out)
{
	pthread_mutex_lock(&sim->mu);
	*out = sim->hsms[i].view;
	pthread_mutex_unlock(&sim->mu);
}

/* ---- logins --------------------------------------------------------------- */

struct sim_login *sim_login(struct sim_logins *t, struct sim_hsm *hs)
{
	struct sim_login *lg = &t->hsm[hs->index];
	if (lg->epoch != hs->epoch) {
		/* another session re-initialized or zeroized what these were for */
		OPENSSL_cleanse(lg, sizeof(*lg));
		lg->epoch = hs->epoch;
	}
	return lg;
}

void sim_logins_end(struct sim_logins *t, struct sim_hsm *hs, int keep_own)
{
	struct sim_login *lg = sim_login(t, hs);
	if (!keep_own)
		memset(lg, 0, sizeof(*lg));
	hs->epoch++;
	lg->epoch = hs->epoch;
}

void sim_logins_attach(struct sim *sim, struct sim_logins *t)
{
	pthread_mutex_lock(&sim->mu);
	t->next_attached = sim->attached;
	sim->attached = t;
	pthread_mutex_unlock(&sim->mu);
}

void sim_logins_detach(struct sim *sim, struct sim_logins *t)
{
	pthread_mutex_lock(&sim->mu);
	for (struct sim_logins **pp = &sim->attached; *pp; pp = &(*pp)->next_attached)
		if (*pp == t) {
			*pp = t->next_attached;
			break;
		}
	t->next_attached = NULL;
	pthread_mutex_unlock(&sim->mu);
}

void sim_role_logout(struct sim *sim, struct sim_hsm *hs, enum hsm_role role, int pi)
{
	if (pi < 0 || pi >= HSM_MAX_PARTITIONS)
		return;
	pthread_mutex_lock(&sim->mu);
	for (struct sim_logins *t = sim->attached; t; t = t->next_attached) {
		struct sim_login *lg = sim_login(t, hs);
		switch (role) {
		case HSM_ROLE_SO: lg->so = 0; break;
		case HSM_ROLE_AU: lg->au = 0; break;
		case HSM_ROLE_PO: lg->po[pi] = 0; break;
		case HSM_ROLE_CO: lg->co[pi] = 0; break;
		case HSM_ROLE_CU: lg->cu[pi] = 0; break;
		}
	}
	pthread_mutex_unlock(&sim->mu);
}

/* ---- command locks -------------------------------------------------------- */

/* Under sim->mu. */
static void lock_hsm(struct sim *sim, struct sim_hsm *hs)
{
	while (hs->held || sim->closed)
		pthread_cond_wait(&hs->free_cv, &sim->mu);
	hs->held = 1;
	sim->nheld++;
}

static void unlock_hsm(struct sim *sim, struct sim_hsm *hs)
{
	publish(hs); /* the holder's last word on it */
	hs->held = 0;
	sim->nheld--;
	pthread_cond_signal(&hs->free_cv);
	if (sim->stopping)
		pthread_cond_broadcast(&sim->idle_cv);
}

void sim_hold_init(struct sim_hold *k, struct sim *sim)
{
	memset(k, 0, sizeof(*k));
	k->sim = sim;
}

void sim_hold(struct sim_hold *k, struct sim_hsm *a, struct sim_hsm *b)
{
	struct sim_hsm *want[SIM_HOLD_MAX + 2];
	int n = 0, m = 0, held = k->released ? 0 : k->n, keep = 0;

	for (int i = 0; i < k->n; i++)
		want[n++] = k->hs[i];
	if (a)
		want[n++] = a;
	if (b)
		want[n++] = b;
	/* the set, in index order, each once */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && want[j]->index < want[j - 1]->index; j--) {
			struct sim_hsm *t = want[j];
			want[j] = want[j - 1];
			want[j - 1] = t;
		}
	for (int i = 0; i < n; i++)
		if (!m || want[m - 1] != want[i])
			want[m++] = want[i];
	if (m > SIM_HOLD_MAX)
		abort(); /* a command touches two HSMs at most */
	pthread_mutex_lock(&k->sim->mu);
	/* Locks held that a new one must come before are given back, and all
	 * are taken in order: never one after a later one. */
	while (keep < held && keep < m && k->hs[keep] == want[keep])
		keep++;
	for (int i = held - 1; i >= keep; i--)
		unlock_hsm(k->sim, k->hs[i]);
	for (int i = keep; i < m; i++)
		lock_hsm(k->sim, want[i]);
	pthread_mutex_unlock(&k->sim->mu);
	for (int i = 0; i < m; i++)
		k->hs[i] = want[i];
	k->n = m;
	k->released = 0;
}

void sim_hold_release(struct sim_hold *k)
{
	if (k->released || !k->n)
		return;
	pthread_mutex_lock(&k->sim->mu);
	for (int i = k->n - 1; i >= 0; i--)
		unlock_hsm(k->sim, k->hs[i]);
	pthread_mutex_unlock(&k->sim->mu);
	k->released = 1;
}

void sim_hold_retake(struct sim_hold *k)
{
	if (!k->released)
		return;
	pthread_mutex_lock(&k->sim->mu);
	for (int i = 0; i < k->n; i++)
		lock_hsm(k->sim, k->hs[i]);
	pthread_mutex_unlock(&k->sim->mu);
	k->released = 0;
}

void sim_hold_drop(struct sim_hold *k)
{
	sim_hold_release(k);
	k->n = 0;
	k->released = 0;
}

/* ---- operations in flight and shutdown ------------------------------------ */

int sim_op_begin(struct sim *sim)
{
	pthread_mutex_lock(&sim->mu);
	int ok = !sim->stopping;
	if (ok)
		sim->ops++;
	pthread_mutex_unlock(&sim->mu);
	return ok;
}

void sim_op_end(struct sim *sim)
{
	pthread_mutex_lock(&sim->mu);
	if (--sim->ops == 0)
		pthread_cond_broadcast(&sim->idle_cv);
	pthread_mutex_unlock(&sim->mu);
}

void sim_stop(struct sim *sim)
{
	pthread_mutex_lock(&sim->mu);
	sim->stopping = 1;
	pthread_mutex_unlock(&sim->mu);
}

int sim_quiesce(struct sim *sim, int timeout_ms, int *left)
{
	struct timespec until;
	int ok;

	pthread_mutex_lock(&sim->mu);
	sim->stopping = 1;
	ped_cond_deadline(&until, timeout_ms);
	while (sim->nheld > 0)
		if (pthread_cond_timedwait(&sim->idle_cv, &sim->mu, &until) != 0)
			break;
	if (sim->nheld == 0) {
		/* Commands still in flight end on their aborted PED wait, and may
		 * take their HSM's lock again to do so; each operator gets the
		 * result before we go. */
		ped_cond_deadline(&until, timeout_ms);
		while (sim->ops > 0)
			if (pthread_cond_timedwait(&sim->idle_cv, &sim->mu, &until) != 0)
				break;
	}
	ok = sim->nheld == 0;
	if (ok)
		sim->closed = 1; /* a straggler waits on its lock for good: the HSMs may go */
	*left = sim->ops;
	pthread_mutex_unlock(&sim->mu);
	return ok;
}
