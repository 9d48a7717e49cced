/* What the application protocol's files share (app.c and the function
 * families app_token.c, app_session.c, app_objects.c, app_crypto.c): one
 * call's context and the steps every function takes. Not for other files. */
#ifndef HSM_SIM_APP_INT_H
#define HSM_SIM_APP_INT_H

#include "app.h"
#include "auth.h"
#include "out.h"

#include "hsm/keypolicy.h"
#include "ped/p11wire.h"

/* One request being served. */
struct app_call {
	struct sim *sim;
	struct pedports *peds;
	const struct app_scope *scope; /* never NULL: what the connection may reach */
	struct app *a;
	uint16_t fn;
	struct ped_rbuf *r; /* the arguments */
	struct ped_wbuf *w; /* the results (sent only where the CK_RV has them) */
	struct sim_out out; /* ceremonies' lines: to the log */
	/* app_use */
	struct app_session *s;
	int s_locked;          /* s->mu held */
	struct sim_hold hold;  /* the HSM's command lock, when taken */
	struct sim_hsm *hs;
	struct hsm_partition *p; /* the slot's partition (under hold), NULL for the admin slot */
	int pi;
	int a_locked; /* a->mu held: a session object is in use (app_obj_get) */
	int counted;  /* the request is in its session's count (app_use) */
	/* WithInit: the init, a moment ago in this request, found the user
	 * logged in to use its private key (the call need not look again) */
	int user_checked;
	/* what the call's audit record names (audit.h): the key an operation
	 * uses or a key made, its handle and OUID (0: none) */
	uint64_t audit_obj, audit_ouid;
};

typedef CK_RV (*app_fn)(struct app_call *c);

/* CKR_OK when every argument was read, and nothing is left over;
 * CKR_ARGUMENTS_BAD otherwise (a malformed request, answered as such). */
CK_RV app_args_end(struct app_call *c);

/* What app_use takes besides the session's reference. */
#define APP_USE_OPS 0x1 /* s->mu: the session's operations and find state */
#define APP_USE_HSM 0x2 /* the HSM's command lock, the partition resolved (c->p, c->pi) */
/* The application's open session h (CKR_SESSION_HANDLE_INVALID), with what
 * how asks; a session whose partition went (deleted, or another in its
 * slot) is closed and invalid. app_done gives back everything. */
CK_RV app_use(struct app_call *c, CK_SESSION_HANDLE h, unsigned how);
/* Whether the connection may see and reach hs (its scope). */
int app_hsm_in_scope(const struct app_call *c, const struct sim_hsm *hs);
/* The HSM of hsm-sim's slot, its lock taken, the slot resolved (c->p, c->pi):
 * CKR_SLOT_ID_INVALID for no such slot, CKR_TOKEN_NOT_PRESENT for a
 * partition slot no partition holds. */
CK_RV app_use_slot(struct app_call *c, CK_SLOT_ID slot);
/* Gives back what app_use and app_use_slot took; safe to call twice. */
void app_done(struct app_call *c);
/* The HSM's lock only (the session's stays): for a computation. */
void app_release_hsm(struct app_call *c);
/* The session's HSM lock again after app_release_hsm, its partition
 * checked as app_use checks it (CKR_SESSION_HANDLE_INVALID when it went). */
CK_RV app_hold(struct app_call *c);

/* Under the HSM's lock: the application's login on the session's slot.
 * The role (HSM_ROLE_PO, _CO, _CU; _SO on the admin slot) or -1 for none;
 * *must_change (may be NULL) when HSM policy 21 wants the role's
 * challenge changed before anything else. */
int app_role(struct app_call *c, int *must_change);
/* Under the HSM's lock: the role may see and use private objects (a CO or
 * CU logged in): CKR_OK, CKR_USER_NOT_LOGGED_IN, or CKR_PIN_EXPIRED
 * (policy 21). */
CK_RV app_need_user(struct app_call *c);
/* Under the HSM's lock: the Crypto Officer is logged in (it alone creates,
 * changes and destroys objects): CKR_OK, CKR_USER_NOT_LOGGED_IN (nobody),
 * CKR_PIN_EXPIRED, or CKR_ACTION_PROHIBITED (another role). */
CK_RV app_need_co(struct app_call *c);
/* The key policies of the session's partition, as libhsm takes them. */
void app_key_env(struct app_call *c, struct hsm_key_env *env);

/* A PED error as the application sees it: PKCS#11 codes where it names
 * the case, the reference's vendor codes for the PED's own outcomes
 * (docs/protocol.md, section 13, "Logins through the PED"). */
CK_RV app_ck_of(int err);

/* The functions, by family. */
CK_RV app_get_slot_list(struct app_call *c);
CK_RV app_get_slot_info(struct app_call *c);
CK_RV app_get_token_info(struct app_call *c);
CK_RV app_get_mechanism_list(struct app_call *c);
CK_RV app_get_mechanism_info(struct app_call *c);
CK_RV app_init_token(struct app_call *c);
CK_RV app_init_pin(struct app_call *c);
CK_RV app_set_pin(struct app_call *c);
CK_RV app_seed_random(struct app_call *c);
CK_RV app_generate_random(struct app_call *c);

CK_RV app_open_session(struct app_call *c);
CK_RV app_close_session(struct app_call *c);
CK_RV app_close_all_sessions(struct app_call *c);
CK_RV app_get_session_info(struct app_call *c);
CK_RV app_login(struct app_call *c);
CK_RV app_logout(struct app_call *c);

CK_RV app_create_object(struct app_call *c);
CK_RV app_copy_object(struct app_call *c);
CK_RV app_destroy_object(struct app_call *c);
CK_RV app_get_object_size(struct app_call *c);
CK_RV app_get_attribute_value(struct app_call *c);
CK_RV app_set_attribute_value(struct app_call *c);
CK_RV app_find_objects_init(struct app_call *c);
CK_RV app_find_objects(struct app_call *c);
CK_RV app_find_objects_final(struct app_call *c);

CK_RV app_op_init(struct app_call *c);
CK_RV app_op_data(struct app_call *c);
CK_RV app_digest_key(struct app_call *c);
CK_RV app_verify(struct app_call *c);
CK_RV app_verify_final(struct app_call *c);
CK_RV app_generate_key(struct app_call *c);
CK_RV app_generate_key_pair(struct app_call *c);
CK_RV app_wrap_key(struct app_call *c);
CK_RV app_unwrap_key(struct app_call *c);
CK_RV app_derive_key(struct app_call *c);

/* Objects, for the crypto functions (app_objects.c). Under the HSM's lock
 * (app_use with APP_USE_HSM): the object h names for this session: CKR_OK
 * and *o, CKR_OBJECT_HANDLE_INVALID (CKR_KEY_HANDLE_INVALID with key set),
 * or for a private one without a CO or CU login CKR_USER_NOT_LOGGED_IN
 * (CKR_PIN_EXPIRED, policy 21). Takes the application's lock for a session
 * object and keeps it: app_obj_end gives it back. */
CK_RV app_obj_get(struct app_call *c, CK_OBJECT_HANDLE h, int key, struct hsm_obj **o);
void app_obj_end(struct app_call *c);
/* Whether *o is private (CKA_PRIVATE). */
int app_obj_private(const struct hsm_obj *o);
/* A new object made by the session: a session object of the application,
 * or a token object of the partition, saved (a save that fails leaves no
 * object). Takes o, whatever happens. Under the HSM's lock. */
CK_RV app_obj_keep(struct app_call *c, struct hsm_obj *o, CK_OBJECT_HANDLE *out);
/* Both of a key pair, or neither. */
CK_RV app_obj_keep_pair(struct app_call *c, struct hsm_obj *pub, struct hsm_obj *priv, CK_OBJECT_HANDLE out[2]);
/* What the session may make: token objects need a R/W session
 * (CKR_SESSION_READ_ONLY); the template's CKA_TOKEN says which. */
CK_RV app_may_make(struct app_call *c, const CK_ATTRIBUTE *t, CK_ULONG n);

#endif
