/* The applications of hsm-sim's application protocol (docs/protocol.md,
 * section 13): one record per application id, shared by every connection
 * that carries it (the PKCS#11 module pools them), holding what PKCS#11
 * scopes to the application: its sessions (with their find and crypto
 * operations), its session objects and its logins. The record goes,
 * wiping all of it, when the application's last connection closes: a
 * client that dies mid-call leaves nothing behind. No protocol here
 * (app.c) and no PED: the bookkeeping the application functions and
 * hsmcm's application list share.
 *
 * Locks, in the order they are taken (never one after a later one):
 *   1. a session's own lock (s->mu), held by the call that uses the
 *      session's operations or find state, so that two calls on one
 *      session take turns whatever the client does;
 *   2. the HSM's command lock (sim_hold);
 *   3. the registry's lock (short);
 *   4. the application's lock (a->mu, short: its sessions and session
 *      objects);
 *   5. the model's bookkeeping lock (sim->mu).
 * An application's logins (a->logins) are the HSM's, as hsmcm's are: read
 * and changed under that HSM's command lock only, and attached to the
 * model so that an operator's role logout and the HSM's epoch end them. */
#ifndef HSM_SIM_APPS_H
#define HSM_SIM_APPS_H

#include "out.h"
#include "sim.h"

#include "hsm/mech.h"
#include "hsm/object.h"
#include "ped/p11wire.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define APP_SESSIONS_MAX 4096 /* sessions of one application */
#define APP_OBJECTS_MAX 4096  /* session objects of one application */
/* Session objects' handles have bit 62 set; token objects' stay below 2^62. */
#define APP_OBJ_SESSION_BIT (UINT64_C(1) << 62)

/* The operations a session may have going, one of each. */
enum app_op { APP_OP_ENCRYPT, APP_OP_DECRYPT, APP_OP_DIGEST, APP_OP_SIGN, APP_OP_VERIFY, APP_OPS };

struct app_session {
	CK_SESSION_HANDLE handle;
	int slot;                      /* hsm-sim's slot */
	struct sim_hsm *hs;            /* the HSM of that slot */
	int pi;                        /* the partition's index, -1 for the admin slot */
	char pname[HSM_LABEL_MAX + 1]; /* its name when the session opened */
	CK_FLAGS flags;                /* CKF_SERIAL_SESSION, CKF_RW_SESSION */
	atomic_ulong requests;         /* that used it, a WithInit as one (application list) */
	/* under mu */
	pthread_mutex_t mu;
	struct hsm_op *op[APP_OPS];
	uint8_t op_private[APP_OPS]; /* its key is private: each call checks the login */
	int finding;                 /* FindObjectsInit .. FindObjectsFinal */
	CK_OBJECT_HANDLE *found;
	size_t nfound, next_found;
	/* under the application's lock */
	int refs;   /* calls using it */
	int closed; /* out of the list; freed by the last call */
	struct app_session *next;
};

/* A session object: the application's, on the partition of the session
 * that made it, until that session closes. */
struct app_obj {
	CK_OBJECT_HANDLE handle;
	CK_SESSION_HANDLE session;
	int slot;
	struct hsm_obj *o;
	struct app_obj *next;
};

struct app {
	uint8_t id[P11W_APP_ID_LEN]; /* a bearer secret: never logged nor shown */
	uint32_t pid;
	char name[P11W_NAME_MAX + 1];
	uint32_t probe_ms; /* its module's ProbeTimeout (0: none) */
	unsigned no; /* what listings and the log call it */
	struct sim *sim;
	/* under the registry's lock */
	int conns, refs, gone;
	struct app *next_app;
	/* under mu */
	pthread_mutex_t mu;
	struct app_session *sessions;
	size_t nsessions;
	CK_SESSION_HANDLE next_session;
	struct app_obj *objs;
	size_t nobjs;
	uint64_t next_obj;
	/* under each HSM's command lock */
	struct sim_logins logins;
};

/* The record of h's application id with one more connection (made, and
 * its logins attached to sim, when new); NULL when out of memory. */
struct app *apps_connect(struct sim *sim, const struct p11w_hello *h);
/* A connection ended; the last one ends the application: sessions closed,
 * operations and session objects wiped, logins dropped. */
void apps_disconnect(struct app *a);

/* Sessions (each takes a->mu itself). */
CK_RV apps_session_open(struct app *a, int slot, struct sim_hsm *hs, int pi, const char *pname, CK_FLAGS flags,
			CK_SESSION_HANDLE *out);
/* The open session h with a reference (apps_session_put), or NULL. */
struct app_session *apps_session_get(struct app *a, CK_SESSION_HANDLE h);
void apps_session_put(struct app *a, struct app_session *s);
/* Closes h (CKR_SESSION_HANDLE_INVALID if none): its session objects go
 * at once, its operations with its last call. */
CK_RV apps_session_close(struct app *a, CK_SESSION_HANDLE h);
/* Every session of a on slot. */
void apps_session_close_slot(struct app *a, int slot);
/* Whether a has a read-only session on slot, any session there (each
 * takes a->mu itself). */
int apps_has_ro_session(struct app *a, int slot);
int apps_has_session(struct app *a, int slot);
/* Ends the session's find and operations (under s->mu). */
void apps_session_reset(struct app_session *s);
/* Ends the session's find only (under s->mu). */
void apps_session_reset_find(struct app_session *s);

/* Every application's sessions on hs's slot: how many, and how many R/W. */
void apps_slot_sessions(const struct sim_hsm *hs, int slot, unsigned long *all, unsigned long *rw);
/* a's own sessions on slot (GetTokenInfo's counts: PKCS#11's "sessions
 * that this application currently has open with the token"); takes a->mu. */
void apps_own_sessions(struct app *a, int slot, unsigned long *all, unsigned long *rw);

/* Session objects, under a->mu. */
CK_RV apps_obj_add(struct app *a, CK_SESSION_HANDLE session, int slot, struct hsm_obj *o, CK_OBJECT_HANDLE *out);
struct app_obj *apps_obj_find(struct app *a, CK_OBJECT_HANDLE h);
/* Frees the object (wiped). */
void apps_obj_remove(struct app *a, CK_OBJECT_HANDLE h);
/* C_Logout: the private session objects of a's sessions on slot go
 * (wiped). */
void apps_obj_drop_private(struct app *a, int slot);

/* hsmcm's application list: each application (name, pid, connections),
 * its sessions, who it is logged in as and the requests each session
 * served. Takes the locks it needs. */
void apps_list(struct sim *sim, const struct sim_out *out);
/* Shutdown, once no command runs: wipes what the applications hold. */
void apps_wipe(void);

#endif
