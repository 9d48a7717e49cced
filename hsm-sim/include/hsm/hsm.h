/* The HSM simulator's state and the rules chapter 8 of the reference fixes:
 * roles authenticated by PED keysets, failed-login counting and its
 * consequences, partition policies, domains. No I/O and no PED here: the
 * ceremonies hand this code the secrets the PED produced.
 *
 * A credential is never stored: the HSM keeps the keyset's M, N and id and a
 * verifier, SHA-256("OPENPED-CREDENTIAL-v1" || secret), which is safe because
 * every credential is a 32-byte random secret the HSM itself generated. */
#ifndef HSM_HSM_H
#define HSM_HSM_H

#include "hsm/keypolicy.h"
#include "hsm/object.h"
#include "hsm/seal.h"
#include "ped/app.h"

#include <stddef.h>
#include <stdint.h>

#define HSM_SECRET_LEN 32
#define HSM_VERIFIER_LEN 32
#define HSM_LABEL_MAX 32
#define HSM_SERIAL_MAX 16
/* State files: 8 made objects PKCS#11 objects (hsm/object.h), sealed every
 * secret under the storage key (hsm/seal.h) and added the partitions' key
 * policies, destructive directions, cloning keys and next handle; 7 added HSM policies 7, 16, 21
 * and 55, the time of the last save, partition policies 25 and 26 and each
 * role's forced challenge change (policy 21); 6 partition policy 15, 5 HSM
 * policy 15, 4 the ped set defaults, 3 cached activation; versions 2 to 8
 * are read, and written as 8. An older file loads with the later settings
 * at their defaults, its objects (a label and a value) as data objects. */
#define HSM_STATE_VERSION 8
#define HSM_PED_HOST_MAX 63
#define HSM_MAX_PARTITIONS 16
/* A partition's token objects: at most HSM_MAX_OBJECTS of them, whose
 * values (hsm_obj_size) add up to at most HSM_PARTITION_BYTES; each object
 * is bounded by HSM_OBJ_MAX (64 KiB: a 4096-bit RSA key, a 16 KiB
 * certificate fit). */
#define HSM_MAX_OBJECTS 1024
#define HSM_PARTITION_BYTES (1024u * 1024u)
/* Token-object handles count up from 1 and stay below 2^62; handles with
 * this bit set are the session layer's (session objects, kept outside the
 * partition). */
#define HSM_HANDLE_SESSION_BIT (1ull << 62)
/* A policy change that erases the partition's objects (policy_erase). */
#define HSM_ERASE_OFF_TO_ON 1u
#define HSM_ERASE_ON_TO_OFF 2u
#define HSM_CERT_MAX 4096
#define HSM_SCALAR_LEN 66

/* Failed-login limits (chapter 8, "Failed Logins"). */
#define HSM_SO_MAX_FAILURES 3
#define HSM_PO_MAX_FAILURES 10
#define HSM_USER_MAX_FAILURES_DEFAULT 10
#define HSM_FAILURES_MAX 1000 /* bound of a saved failure count */

/* Partition policies we implement (chapter 7 numbering). */
#define HSM_POLICY_IGNORE_FAILED_CHALLENGES 15
#define HSM_POLICY_MAX_FAILED_USER_LOGINS 20
#define HSM_POLICY_ALLOW_ACTIVATION 22
#define HSM_POLICY_ALLOW_AUTO_ACTIVATION 23
#define HSM_POLICY_MIN_PIN_LENGTH 25 /* 255 minus the shortest challenge */
#define HSM_POLICY_MAX_PIN_LENGTH 26
#define HSM_PIN_MIN_ABSOLUTE 8       /* capability 25: 247 */
#define HSM_PIN_MAX_ABSOLUTE 255     /* capability 26 */

/* HSM policies we implement (the reference's numbering). */
#define HSM_HPOLICY_ALLOW_CLONING 7
#define HSM_HPOLICY_SO_RESETS_PARTITION_PIN 15
#define HSM_HPOLICY_NETWORK_REPLICATION 16
#define HSM_HPOLICY_FORCE_PIN_CHANGE 21
#define HSM_HPOLICY_RESTRICTED_RESTORE 55
/* not kept here: on a backup HSM changing it is CKR_CANCEL (chapter 12) */
#define HSM_HPOLICY_NON_FIPS 12

/* Auto-activation survives a power loss of up to two hours (chapter 8). */
#define HSM_AUTO_ACTIVATION_WINDOW_S 7200

enum hsm_role { HSM_ROLE_SO, HSM_ROLE_PO, HSM_ROLE_CO, HSM_ROLE_CU, HSM_ROLE_AU };

struct hsm_credential {
	uint8_t set;
	uint8_t m, n;
	uint8_t keyset_id[16];
	uint8_t verifier[HSM_VERIFIER_LEN];
};

struct hsm_role_state {
	struct hsm_credential cred;
	uint32_t failures; /* consecutive */
	uint8_t locked;
	uint8_t challenge_set;
	uint8_t challenge_verifier[HSM_VERIFIER_LEN];
	/* CO, CU: the PED secret is cached (activation, policy 22). It reaches
	 * the state file only with auto-activation (policy 23), and only once
	 * the role authenticated with policy 23 on (auto_activated: "takes
	 * effect ... the next time the role is authenticated"): without it a
	 * restart forgets it, as a power cycle does. */
	uint8_t activated;
	uint8_t auto_activated; /* in memory; the file's cached flag means both */
	/* HSM policy 21: the challenge secret was set by another role and must
	 * be changed by this one before it does anything else */
	uint8_t challenge_expired;
};

struct hsm_partition {
	char name[HSM_LABEL_MAX + 1];  /* fixed at creation */
	char label[HSM_LABEL_MAX + 1]; /* set by partition init */
	uint8_t initialized;
	struct hsm_credential domain;
	struct hsm_role_state po, co, cu;
	uint32_t max_failed_user_logins; /* policy 20 */
	uint8_t allow_activation;        /* policy 22 */
	uint8_t allow_auto_activation;   /* policy 23 */
	uint8_t ignore_failed_challenges; /* policy 15, default 1 */
	uint8_t min_pin_policy;          /* policy 25: 255 - the shortest challenge, default 247 */
	uint8_t max_pin_length;          /* policy 26, default 255 */
	struct hsm_key_policies kp;      /* the key policies (hsm/keypolicy.h), from hsm_kp_defaults */
	/* Which changes of each policy (by number) erase every object:
	 * HSM_ERASE_* bits, the table's directions unless a template said
	 * otherwise at partition init. */
	uint8_t policy_erase[HSM_KP_SLOTS];
	/* The cloning domain's key: HKDF-SHA-256 of the domain secret (info
	 * "OPENPED-DOMAIN-CLONE-v1"), made whenever the domain is set from the
	 * red key. Objects cloned travel sealed under it. A partition from a
	 * state file before version 8 has none (domain_key_set 0): cloning from
	 * or into it is refused until its domain is initialized again. */
	uint8_t domain_key_set;
	uint8_t domain_key[HSM_SECRET_LEN];
	/* Token objects, in the order they were added; the partition owns them
	 * (hsm_part_obj_*) and their array: copy with hsm_partition_copy, hand
	 * over with hsm_partition_move, never by assignment. */
	uint64_t next_handle; /* the handle the next object added gets: 1 up, below 2^62 */
	uint32_t nobjs, objs_cap;
	struct hsm_obj **objs;
};

struct hsm {
	char serial[HSM_SERIAL_MAX + 1];
	char label[HSM_LABEL_MAX + 1];
	uint8_t initialized;
	uint8_t is_backup; /* a backup HSM: holds archived partitions */
	struct hsm_role_state so, au;
	struct hsm_credential domain;
	uint8_t domain_key_set; /* the HSM's domain's cloning key, as a partition's */
	uint8_t domain_key[HSM_SECRET_LEN];
	/* the HSM's identity: its root (HOC) and static ECDH key, made once */
	uint8_t hoc_priv[HSM_SCALAR_LEN], static_priv[HSM_SCALAR_LEN];
	uint8_t hoc_cert[HSM_CERT_MAX], static_cert[HSM_CERT_MAX];
	size_t hoc_cert_len, static_cert_len;
	/* the RPV, once initialized: the HSM needs it to run the 2e2s channel */
	uint8_t rpv_set;
	uint8_t rpv[HSM_SECRET_LEN];
	uint8_t rpv_2e2s; /* the orange keys carry an RPV static key this HSM certified */
	/* ped set: where ped connect looks for pedserver by default ("", 0: unset) */
	char ped_ip[HSM_PED_HOST_MAX + 1];
	uint16_t ped_port;
	/* HSM policy 15, "Enable SO reset of partition PIN" (default 0): with it
	 * the Partition SO may reset the Crypto Officer's credential */
	uint8_t so_resets_partition_pin;
	uint8_t allow_cloning;             /* HSM policy 7, default 1 */
	uint8_t network_replication;       /* HSM policy 16, default 1 */
	uint8_t force_pin_change;          /* HSM policy 21, default 1 */
	uint8_t restricted_restore;        /* HSM policy 55 (backup HSMs), default 0 */
	/* The storage key: HKDF of the device secret (hsm/seal.h,
	 * hsm_set_device_secret), under which the state file's secrets are
	 * sealed. Never encoded; kept by hsm_decode. */
	uint8_t kek_set;
	uint8_t kek[HSM_KEY_LEN];
	/* when the state was last saved (seconds since the epoch, 0: unknown):
	 * the power-off time a restart measures auto-activation's window from */
	int64_t saved_at;
	uint32_t npartitions;
	struct hsm_partition partitions[HSM_MAX_PARTITIONS];
};

/* Makes a new, zeroized HSM with a fresh identity (HOC and static key) in h,
 * which holds nothing (zeroed, or released with hsm_cleanse). */
int hsm_create(struct hsm *h, const char *serial);
/* Zeroizes: every role, domain, RPV and partition goes, the policies return
 * to their defaults; the identity stays. */
void hsm_zeroize(struct hsm *h);
/* A soft re-initialization (hsm init over an initialized HSM): as
 * hsm_zeroize, but the Auditor stays, as on the reference, whose audit
 * trail the HSM SO cannot wipe by re-initializing. */
void hsm_reinit(struct hsm *h);
/* Erases every partition and its objects (HSM zeroization, HSM policy 15). */
void hsm_erase_partitions(struct hsm *h);
void hsm_zeroize_partition(struct hsm_partition *p);
/* A partition's policies as created: every place that makes one uses it. */
void hsm_partition_defaults(struct hsm_partition *p);
/* The destructive directions of the table (policy_erase), as a partition
 * created or initialized without a template has them. */
void hsm_partition_erase_defaults(struct hsm_partition *p);
/* Wipes everything and frees the objects: h is then empty, ready for reuse. */
void hsm_cleanse(struct hsm *h);

/* The partition's token objects (the object store).
 *
 * hsm_part_obj_add takes o (the partition owns it from then on, also on
 * failure, when it is freed) and gives it the next handle, and an OUID when
 * it has none. PED_E_RANGE when p holds HSM_MAX_OBJECTS, when o would take
 * its values over HSM_PARTITION_BYTES or when the handles ran out;
 * PED_E_EXISTS when p holds an object of that OUID; PED_E_HOST_MEMORY. */
int hsm_part_obj_add(struct hsm_partition *p, struct hsm_obj *o);
/* The object of p with handle h, or NULL. */
struct hsm_obj *hsm_part_obj_find(const struct hsm_partition *p, CK_OBJECT_HANDLE h);
/* The object of p with this OUID, or NULL. */
struct hsm_obj *hsm_part_obj_by_ouid(const struct hsm_partition *p, uint64_t ouid);
/* Takes the object of handle h out of p, wipes and frees it (nothing when
 * there is none). */
void hsm_part_obj_remove(struct hsm_partition *p, CK_OBJECT_HANDLE h);
/* Wipes and frees every object of p (its next handle stays: a handle is
 * never given twice in a partition's life, until it is zeroized). */
void hsm_part_obj_clear(struct hsm_partition *p);
/* What the key library needs of p and its HSM for a call (hsm/keypolicy.h):
 * p's key policies, HSM policy 7; not the Partition SO, the clock. */
void hsm_partition_key_env(const struct hsm *h, const struct hsm_partition *p, struct hsm_key_env *env);
/* The values of p's objects added up (hsm_obj_size). */
size_t hsm_part_obj_bytes(const struct hsm_partition *p);
/* dst (holding no objects) becomes a deep copy of src. */
int hsm_partition_copy(struct hsm_partition *dst, const struct hsm_partition *src);
/* dst's objects are wiped and dst takes src's contents; src is left empty. */
void hsm_partition_move(struct hsm_partition *dst, struct hsm_partition *src);
/* Deletes the partition at index i, its objects wiped, the later ones moving down. */
void hsm_partition_delete(struct hsm *h, uint32_t i);

/* Cloning (lib/clone.c): the one way objects move between partitions,
 * for backup, restore and partition clone alike, so that what an object is
 * changes in one place. Which objects of src move: */
enum hsm_clone_mode {
	HSM_CLONE_ALL,               /* every one, each with a new handle in dst */
	HSM_CLONE_MISSING,           /* those whose OUID dst does not hold */
	HSM_CLONE_MISSING_OR_CHANGED /* those, and those dst holds in another version (overwritten) */
};
/* How many objects hsm_clone_objects would add to dst. */
uint32_t hsm_clone_room(struct hsm_partition *dst, const struct hsm_partition *src, enum hsm_clone_mode mode,
			const uint64_t *handles, size_t nhandles);
/* What a cloning is told and tells. */
struct hsm_clone_ctx {
	/* the policies of each end (hsm_partition_key_env; NULL: defaults):
	 * an object is cloned only if both allow it (HSM policy 7, partition
	 * policies 0 and 4: hsm_kp_check HSM_KP_DO_CLONE) */
	const struct hsm_key_env *src_env, *dst_env;
	/* each object cloned, by its handle in src and in dst */
	void (*cloned)(void *arg, uint64_t from, uint64_t to);
	/* an object a policy keeps from cloning (rv: why): skipped */
	void (*refused)(void *arg, const struct hsm_obj *o, CK_RV rv);
	void *arg;
};
/* Clones src's objects into dst within one cloning domain. Each object
 * travels as its public part and its secret part sealed (AES-256-GCM) under
 * src's cloning key, the public part and OUID as additional data, and is
 * opened under dst's: the verifiers are compared first, and a partition of
 * another domain fails to open the first object. With handles, only src's
 * objects of those handles. An object either end's policies keep from
 * cloning (hsm_kp_check HSM_KP_DO_CLONE) is told to ctx->refused and
 * skipped, the others cloned, as the reference skips private keys when
 * private key cloning is off. Returns the number cloned, or:
 *   PED_E_CERTIFICATE_INVALID  another domain (verifier or authentication);
 *   PED_E_UNSUPPORTED          src or dst has no cloning key (a partition
 *                              from before state version 8: partition init);
 *   PED_E_NOT_FOUND            a handle src does not hold;
 *   PED_E_RANGE                no room in dst for them all (nothing cloned).
 * A failure part way leaves dst part done: callers clone into a copy and
 * keep it only whole. Cloning into a partition is not creation: policy 28
 * does not apply. */
int hsm_clone_objects(struct hsm_partition *dst, const struct hsm_partition *src, enum hsm_clone_mode mode,
		      const uint64_t *handles, size_t nhandles, const struct hsm_clone_ctx *ctx);
/* The receiving end of a cloning across two hsm-sims (hsm/clonewire.h):
 * one object that arrived, placed in dst as hsm_clone_objects places it
 * under mode (a new object, another version overwritten with its handle
 * kept, or nothing when dst holds it already). Takes n over. 1 with
 * *placed its handle in dst, 0 when nothing changed, or an error. */
int hsm_clone_place(struct hsm_partition *dst, struct hsm_obj *n, enum hsm_clone_mode mode, uint64_t *placed);
/* Whether o is among handles (nhandles of them); every object when handles is NULL. */
int hsm_clone_selected(const struct hsm_obj *o, const uint64_t *handles, size_t nhandles);
/* How many of objs hsm_clone_place would add to dst. */
uint32_t hsm_clone_room_for(const struct hsm_partition *dst, struct hsm_obj *const *objs, size_t n,
			    enum hsm_clone_mode mode);

/* Credentials */
void hsm_verifier(const uint8_t *secret, size_t len, uint8_t out[HSM_VERIFIER_LEN]);
void hsm_credential_set(struct hsm_credential *c, const uint8_t *secret, size_t len, uint8_t m,
			uint8_t n, const uint8_t keyset_id[16]);
/* Recombines the splits the PED read into secret (HSM_SECRET_LEN bytes).
 * Splits of another keyset than the credential's, or too few, are a wrong
 * secret: PED_E_PIN_INCORRECT. A repeated split is a protocol error. */
int hsm_combine(const struct hsm_credential *c, const struct ped_app_splits *sp,
		uint8_t secret[HSM_SECRET_LEN]);

/* The outcome of presenting a secret for a role. */
struct hsm_login_result {
	int err;             /* PED_OK, PED_E_PIN_INCORRECT, PED_E_PIN_LOCKED, ... */
	uint32_t remaining;  /* attempts left before the consequence */
	int hsm_zeroized;    /* the SO limit was reached */
	int partition_zeroized;
	int locked;          /* CO/CU locked by this failure */
	int unrecorded;      /* the attempt's count could not be saved: it was not made */
};
/* Applies chapter 8's rules: a right-type key with a wrong secret or PIN counts
 * one failure; success resets the count. p is NULL for HSM roles (SO, AU). */
void hsm_login(struct hsm *h, struct hsm_partition *p, enum hsm_role role, const uint8_t *secret,
	       size_t len, struct hsm_login_result *res);

/* The role's state: h->so, h->au, or p's PO, CO or CU (NULL without p). */
struct hsm_role_state *hsm_role_state_of(struct hsm *h, struct hsm_partition *p, enum hsm_role role);

/* Where the rules below put a count before they act on it: save writes the
 * HSM's state and returns PED_OK, or an error after which the HSM in memory
 * is back to its last saved state (or, if even that could not be read, left
 * as it was: a count made stays made). */
struct hsm_store {
	int (*save)(void *arg);
	void *arg;
	/* Saves only the roles' failure counts and locks (a login record,
	 * hsm/lrec.h), as durably, the same way back on error; what a login
	 * that zeroizes nothing changes. NULL: save. */
	int (*save_counts)(void *arg);
};

/* Count before check: the failure an attempt would add is saved before the
 * secret is checked, as a smart card spends a try before verifying, so a
 * failed save after a wrong secret can neither give the guess back nor undo
 * a zeroization. PED_OK: the attempt may be made (the count in memory is as
 * before; the check adds the failure if it is one). Otherwise the store's
 * error: the attempt is not made. A count at HSM_FAILURES_MAX is not saved. */
int hsm_attempt_record(struct hsm_role_state *rs, const struct hsm_store *st);

/* A login with the splits a PED read for the role (chapter 8): splits the
 * PED cannot have sent are PED_E_CALLBACK_ERROR and count nothing; otherwise
 * the attempt is counted before the check (hsm_attempt_record: on its error
 * res->unrecorded is set and nothing else happens), another keyset's or too
 * few splits are a wrong secret, hsm_login applies the limits, and the
 * result is saved: the counts alone (st->save_counts) unless it zeroized,
 * then the whole HSM. Returns res->err, or the save's error after a right
 * secret. */
int hsm_ped_login(struct hsm *h, struct hsm_partition *p, enum hsm_role role, const struct ped_app_splits *sp,
		  const struct hsm_store *st, struct hsm_login_result *res);

/* Activation (partition policy 22): the CO or CU of a partition that allows
 * it, once given a challenge secret, logs in with the challenge; the first
 * login after activation also needs the PED keys, and caches their secret. */
int hsm_activation_applies(const struct hsm_partition *p, enum hsm_role role);
/* Auto-activation (policy 23, with 22): a cached secret survives a restart. */
int hsm_activation_persists(const struct hsm_partition *p);
/* The PED login of an activating role succeeded: its secret is now cached,
 * and auto-activated if policy 23 is on. */
void hsm_activate(struct hsm_partition *p, enum hsm_role role);
/* The HSM powers on at now (seconds since the epoch) after a power-off at
 * h->saved_at: a cached secret survives only with auto-activation, and only
 * if the power was off for at most HSM_AUTO_ACTIVATION_WINDOW_S (an unknown
 * or future power-off time counts as longer). Returns how many it dropped. */
unsigned hsm_power_on(struct hsm *h, int64_t now);

/* hsm_challenge_login: the challenge was right but the PED secret is not
 * cached, so the PED keys are needed as well. */
#define HSM_CHALLENGE_NEEDS_PED 1
/* A login with the challenge secret, where hsm_activation_applies. A locked
 * role is PED_E_PIN_LOCKED. Partition policy 15 at 1 (the default): a wrong
 * challenge is refused but not counted; at 0 it is counted before the check
 * (as hsm_attempt_record, res->unrecorded on the store's error), counts as a
 * failed login (res->locked when it locks the roles) and is saved. A right
 * challenge of an activated role logs in without the PED: PED_OK, its count
 * reset in memory (the caller saves with the login); of one not activated,
 * HSM_CHALLENGE_NEEDS_PED. */
int hsm_challenge_login(struct hsm *h, struct hsm_partition *p, enum hsm_role role, const char *challenge,
			size_t len, const struct hsm_store *st, struct hsm_login_result *res);

struct hsm_partition *hsm_partition_find(struct hsm *h, const char *name);
int hsm_partition_create(struct hsm *h, const char *name, struct hsm_partition **out);
/* Labels: 1-32 printable characters (chapter 8, "Name, Label, and Password Requirements"). */
int hsm_label_valid(const char *label);
/* Partition policies (chapter 6): the key policies (hsm/keypolicy.h) and
 * 15, 20, 22, 23, 25, 26, each with its number, the reference's name, its
 * default and its largest value. */
struct hsm_ppolicy {
	unsigned number;
	const char *name;
	unsigned def, max;
};
/* Whether this HSM's partitions have that policy; *out (may be NULL) it. */
int hsm_partition_policy(unsigned number, struct hsm_ppolicy *out);
/* Their numbers in order into numbers (at most max); how many. */
size_t hsm_partition_policies(unsigned *numbers, size_t max);
/* p's value of the policy, -1 when there is no such policy. */
int hsm_partition_policy_value(const struct hsm_partition *p, unsigned number);
/* Whether changing it to value erases every object of p: its direction
 * (OFF-to-ON from 0, ON-to-OFF to 0) is in p->policy_erase. */
int hsm_partition_policy_destructive(const struct hsm_partition *p, unsigned number, unsigned value);
/* Policy change with range checks: 15, 22 and 23 (0-1), 20 (1-10), 25
 * (255 minus a shortest length of 8 to policy 26's value), 26 (policy 25's
 * length to 255), the key policies through hsm_kp_set (0-1, never 0 and 1
 * on together: PED_E_ACTION_PROHIBITED). A destructive change erases p's
 * objects. Policy 20 lowered to a user role's consecutive failures or
 * under locks it as a login reaching the limit would (CO: CO and CU).
 * PED_E_NOT_FOUND for a number that is no policy here. */
int hsm_partition_set_policy(struct hsm_partition *p, uint32_t policy, uint32_t value);
/* Several changes, in order, all or nothing (lunacm's "-policy 33,37,40
 * -value 0,1,1"): each checked as hsm_partition_set_policy on the values
 * the earlier ones leave. On failure *bad is the change refused and p is
 * untouched; *destructive says whether they erase the objects (erased then
 * unless dry_run, which changes nothing). */
int hsm_partition_set_policies(struct hsm_partition *p, const uint32_t *policy, const uint32_t *value, size_t n,
			       int dry_run, int *destructive, size_t *bad);
/* Whether a challenge secret of len characters is within policies 25 and 26. */
int hsm_pin_length_ok(const struct hsm_partition *p, size_t len);
/* HSM policies 7, 15, 16, 21 and 55 (0 or 1): PED_E_NOT_FOUND for another
 * number, PED_E_CANCEL for 55 on an HSM that is not a backup HSM (the
 * reference's answer to a policy that does not apply), PED_E_RANGE for a
 * value over 1. A destructive change (7 either way, 15 OFF-to-ON) erases
 * the partitions: hsm_policy_erases says whether it would. */
int hsm_set_policy(struct hsm *h, uint32_t policy, uint32_t value);
int hsm_policy_erases(const struct hsm *h, uint32_t policy, uint32_t value);
/* The value of HSM policy policy, or -1 if the HSM has no such policy. */
int hsm_policy_value(const struct hsm *h, uint32_t policy);
/* How many objects that change would erase (hsm_partition_policy_destructive). */
uint32_t hsm_partition_policy_erases(const struct hsm_partition *p, uint32_t policy, uint32_t value);
/* Whether two domains are the same cloning domain. */
int hsm_same_domain(const struct hsm_credential *a, const struct hsm_credential *b);

/* The storage key of h from its device secret and h->serial: set it before
 * hsm_encode (which needs it) and hsm_decode (which keeps it). */
int hsm_set_device_secret(struct hsm *h, const uint8_t secret[HSM_DEVICE_SECRET_LEN]);

/* Domains: the credential (its verifier) and the cloning key derived from
 * the secret the red key carries (hsm_domain_key), set together. */
int hsm_partition_set_domain(struct hsm_partition *p, const uint8_t *secret, size_t len, uint8_t m, uint8_t n,
			     const uint8_t keyset_id[16]);
int hsm_set_domain(struct hsm *h, const uint8_t *secret, size_t len, uint8_t m, uint8_t n,
		   const uint8_t keyset_id[16]);

/* Whether a and b hold the same state, objects compared by value (handle,
 * OUID, attributes): what a state file keeps. The storage key is not
 * compared. */
int hsm_same_state(const struct hsm *a, const struct hsm *b);

/* State files: versioned, SHA-256 checked, written atomically with mode 0600;
 * a damaged file is refused whole (PED_E_CORRUPT with why), never half-loaded.
 * Version 8 seals every secret with AES-256-GCM under h's storage key: each
 * object's secret part (additional data: the serial, the partition's name,
 * the object's public part), each partition's cloning key, and the HSM's
 * own secrets (HOC and static private keys, RPV, domain key), whose
 * additional data is every byte of the file before them, so that the whole
 * file is authenticated under the storage key. hsm_encode needs the key
 * (PED_E_INVALID without); hsm_decode refuses a version 8 file without it or
 * with another HSM's (PED_E_CORRUPT, why names the device secret).
 * Decoding and loading fill an empty h (zeroed, or released with
 * hsm_cleanse) but for its storage key, which they keep; a refused file
 * leaves h empty, the key gone too. */
int hsm_encode(const struct hsm *h, uint8_t **buf, size_t *len);
int hsm_decode(const uint8_t *buf, size_t len, struct hsm *h, char *why, size_t whylen);
int hsm_save(const struct hsm *h, const char *path);
int hsm_load(const char *path, struct hsm *h, char *why, size_t whylen);
/* The same, giving the SHA-256 the file ends with (its checksum over all
 * before it): which state file this is, for the login record (hsm/lrec.h). */
#define HSM_STATE_SUM_LEN 32
int hsm_save_sum(const struct hsm *h, const char *path, uint8_t sum[HSM_STATE_SUM_LEN]);
int hsm_load_sum(const char *path, struct hsm *h, uint8_t sum[HSM_STATE_SUM_LEN], char *why, size_t whylen);
/* hsm_load with the device secret beside the file (hsm-SERIAL.device for
 * hsm-SERIAL.state): what whoever holds the whole state directory can do. */
int hsm_load_beside(const char *path, struct hsm *h, char *why, size_t whylen);
/* The format version of the state file at path (its byte after "OPHS"),
 * or -1 when it cannot be read or is not a state file. */
int hsm_state_file_version(const char *path);

#endif
