/* libopenped-pkcs11.so inside: what its files share. The module is a thin
 * client of hsm-sim (docs/protocol.md, section 13): it holds no key and
 * decides no policy; it numbers slots, checks arguments, keeps the
 * connections and maps results. Nothing here is exported: only the C_
 * functions leave the shared object (exports.map). */
#ifndef P11_H
#define P11_H

#include "ped/netcfg.h"
#include "ped/p11wire.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The C_ functions: the only symbols the shared object exports. */
#define P11_EXPORT __attribute__((visibility("default")))

#define P11_MANUFACTURER "Open PED"
#define P11_DESCRIPTION "Open PED PKCS#11 module"
#define P11_CONF_ENV "OPENPED_PKCS11_CONF"
#define P11_LOG_ENV "OPENPED_PKCS11_LOG"
#define P11_USER_SLOTS_MAX 64
#define P11_IDLE_MAX 8 /* idle connections kept per endpoint; in-flight ones are not bounded */

/* Endpoints: 0 is hsm-sim's control socket on this host, 1..16 the network
 * servers in the order vtl registered them (Network.ServerName00 is 1).
 * A session handle the application holds carries its endpoint in its top
 * byte (0 for the local one: handles are hsm-sim's as they were), so each
 * call goes where its session lives. */
#define P11_EP_LOCAL 0
#define P11_EP_MAX (PED_NET_SERVERS_MAX + 1)
#define P11_EP_SHIFT (sizeof(CK_ULONG) * 8 - 8)
/* In the list handed to p11_slots_number, a network slot's hsm_index
 * carries its endpoint above bit 16 (its HSMs are not the local ones). */
#define P11_EP_INDEX(ep, index) (((uint32_t)(ep) << 16) | ((index) & 0xffffu))

/* ---- configuration (config.c) -------------------------------------------- */

struct p11_user_slot {
	CK_SLOT_ID slot;
	char serial[P11W_SERIAL_MAX + 1];
};

struct p11_config {
	int one_base;     /* Presentation.OneBaseSlotId: 0 or 1 */
	int show_admin;   /* Presentation.ShowAdminTokens */
	int show_empty;   /* Presentation.ShowEmptySlots */
	struct p11_user_slot user_slots[P11_USER_SLOTS_MAX]; /* Presentation.ShowUserSlots */
	size_t nuser_slots;
	long ped_timeout[3];  /* Module.PEDTimeout1..3, ms */
	long default_timeout; /* Module.DefaultTimeout, ms: any other call */
	/* Module.ProbeTimeout, ms (0: none): a crypto call gives up after it,
	 * CKR_DEVICE_ERROR, while its HSM (audit logging on) holds crypto for a
	 * Remote PED operation, as the reference client's ProbeTimeout lets HA
	 * fail over */
	long probe_timeout;
	long keygen_timeout;  /* Module.KeypairGenTimeout, ms */
	long reply_spin_us;   /* Module.ReplySpin: us a call looks for its reply before it sleeps */
	int vendor_codes;     /* Module.PedVendorCodes */
	char socket[1024];    /* Module.Socket: hsm-sim's control socket */
	char log[1024];       /* Module.LogFile, or P11_LOG_ENV: "" for none */
	struct ped_net_client net; /* Network: servers vtl registered (ped/netcfg.h) */
};

/* The defaults, then the file at path; a missing file leaves the
 * defaults. PED_OK, or PED_E_CONFIG with err naming file, line, setting. */
void p11_config_defaults(struct p11_config *c);
int p11_config_load(struct p11_config *c, const char *path, char *err, size_t errlen);
/* Where the configuration is: $OPENPED_PKCS11_CONF, else the default. */
void p11_config_path(char *out, size_t len);
/* hsm-sim's socket when none is configured: hsm-sim's and hsmcm's default
 * ($XDG_RUNTIME_DIR/openped/hsm-sim.sock, else /run/user/UID/openped/...),
 * worked out without creating anything. 0, or -1 when there is none. */
int p11_default_socket(char *out, size_t len);
/* "1(351970018022), 2(351970018021)": PED_OK or PED_E_CONFIG with why. */
int p11_parse_user_slots(const char *spec, struct p11_user_slot *out, size_t max, size_t *n,
			 char *err, size_t errlen);

/* ---- slots (slots.c) ----------------------------------------------------- */

struct p11_slot {
	CK_SLOT_ID id;       /* the application's number */
	CK_SLOT_ID hsm_slot; /* hsm-sim's */
	uint8_t kind;        /* P11W_SLOT_* */
	uint8_t token_present;
	uint32_t hsm_index;
	uint8_t ep; /* the endpoint that serves it */
	char serial[P11W_SERIAL_MAX + 1];
};

struct p11_slot_table {
	struct p11_slot *s; /* sorted by id */
	size_t n;
};

/* Chapter 13's numbering of hsm-sim's slot list: per HSM its application
 * partitions, then its admin partition (or backup HSM); OneBaseSlotId,
 * ShowUserSlots, ShowAdminTokens and ShowEmptySlots as the reference
 * client reads them. Only the slots an application sees are in out. */
CK_RV p11_slots_number(const struct p11_config *c, const struct p11w_slot *in, uint32_t n,
		       struct p11_slot_table *out);
const struct p11_slot *p11_slots_find(const struct p11_slot_table *t, CK_SLOT_ID id);
const struct p11_slot *p11_slots_find_hsm(const struct p11_slot_table *t, uint8_t ep, CK_SLOT_ID hsm_slot);
void p11_slots_free(struct p11_slot_table *t);

/* ---- locks (lock.c) ------------------------------------------------------ */

/* The application's mutex callbacks, or the OS's (PKCS#11 2.40 section
 * 5.4: callbacks given without CKF_OS_LOCKING_OK must be used). */
struct p11_locking {
	CK_CREATEMUTEX create;
	CK_DESTROYMUTEX destroy;
	CK_LOCKMUTEX lock;
	CK_UNLOCKMUTEX unlock;
};
/* CKR_OK and *out from C_Initialize's argument (NULL: the OS's), or
 * CKR_ARGUMENTS_BAD (some callbacks but not all, pReserved set). */
CK_RV p11_locking_from_args(const CK_C_INITIALIZE_ARGS *a, struct p11_locking *out);
CK_RV p11_mutex_new(const struct p11_locking *l, void **m);
void p11_mutex_free(const struct p11_locking *l, void *m);
void p11_mutex_lock(const struct p11_locking *l, void *m);
void p11_mutex_unlock(const struct p11_locking *l, void *m);

/* ---- the module and its connections (main.c, conn.c) --------------------- */

struct p11_conn;
struct p11_defer;

struct p11_module {
	struct p11_config cfg;
	uint8_t app_id[P11W_APP_ID_LEN]; /* a bearer secret: never logged */
	pid_t pid;
	struct p11_locking locking;
	void *mu;                  /* over what follows: short holds, never across I/O */
	struct p11_conn *idle[P11_EP_MAX]; /* connections ready for a call, per endpoint */
	struct p11_conn *busy[P11_EP_MAX]; /* connections a call holds */
	size_t nidle[P11_EP_MAX];
	struct p11_slot_table slots;
	struct p11_defer *defer;   /* deferred inits (defer.c), under mu */
	atomic_uint call_id;
	atomic_int finalized; /* C_Finalize ran: calls in flight end */
	int refs;             /* under the module's global lock (main.c) */
};

/* The module the calls use, with a reference, or CKR_CRYPTOKI_NOT_INITIALIZED. */
CK_RV p11_module_get(struct p11_module **m);
void p11_module_put(struct p11_module *m);
/* Lines to the configured log file (never stdout, never a secret). */
void p11_log(const struct p11_module *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One call to hsm-sim: build the arguments in w after p11_call_begin,
 * p11_call_run sends them and waits for the reply, whose results are
 * then in r (the HSM's code in rv). p11_call_end wipes both. */
struct p11_call {
	uint16_t fn;
	uint8_t ep; /* where it goes: P11_EP_LOCAL unless a slot or session says */
	struct ped_wbuf w;
	uint8_t *reply;
	size_t reply_len;
	struct ped_rbuf r;
	CK_RV rv;
};

void p11_call_begin(struct p11_module *m, struct p11_call *c, uint16_t fn);
/* CKR_OK (c->rv is the HSM's answer), or the module's own failure:
 * CKR_DEVICE_REMOVED (hsm-sim unreachable or not serving this protocol),
 * CKR_DEVICE_ERROR (connection lost, malformed or late reply),
 * CKR_CRYPTOKI_NOT_INITIALIZED (C_Finalize meanwhile), CKR_HOST_MEMORY,
 * or the encoding's error. timeout_ms bounds the wait for the reply. */
CK_RV p11_call_run(struct p11_module *m, struct p11_call *c, long timeout_ms);
void p11_call_end(struct p11_call *c);
/* C_Finalize: every connection shut, so calls blocked on hsm-sim return. */
void p11_pool_shutdown(struct p11_module *m);
/* In a child after fork: the inherited sockets closed without a word to
 * hsm-sim (the parent's stay open), memory freed. */
void p11_pool_forget(struct p11_module *m);

/* ---- deferred inits (defer.c) -------------------------------------------- */

/* An operation's init that the HSM already accepted on this session (the
 * same key, mechanism type and parameter shape) is answered by the module
 * and sent with the operation's first call (WithInit): one round trip per
 * operation (docs/pkcs11.md, "One round trip per operation"). */
#define P11_OPS 5 /* encrypt, decrypt, digest, sign, verify */

/* An init on its way with a call. */
struct p11_deferred {
	uint16_t init_fn;
	CK_OBJECT_HANDLE key;
	uint64_t shape[6];
	uint8_t *args; /* the init's arguments; NULL: none carried */
	size_t len;
};

/* C_OpenSession made h on hsm-sim's slot hsm_slot (no operation),
 * C_CloseSession ended it (and the session objects it made, whichever
 * session used them), C_CloseAllSessions every session of endpoint ep's
 * slot hsm_slot. */
void p11_defer_opened(struct p11_module *m, CK_SESSION_HANDLE h, CK_SLOT_ID hsm_slot);
void p11_defer_closed(struct p11_module *m, CK_SESSION_HANDLE h);
void p11_defer_closed_slot(struct p11_module *m, uint8_t ep, CK_SLOT_ID hsm_slot);
/* The sessions the module keeps what it knows of (the unit tests'). */
size_t p11_defer_sessions(struct p11_module *m);
/* The inits it holds back, not yet sent (the unit tests'). */
size_t p11_defer_pending(struct p11_module *m);
/* Everything the HSM accepted is forgotten (C_Logout, C_CloseAllSessions,
 * the token's ceremonies, a lost connection), or what it accepted for key
 * (C_DestroyObject, C_SetAttributeValue). */
void p11_defer_forget(struct p11_module *m);
void p11_defer_forget_key(struct p11_module *m, CK_OBJECT_HANDLE key);
void p11_defer_free(struct p11_module *m);
/* C_xInit (init_fn), its request's arguments in args: 1 and *rv when the
 * module answers (CKR_OK: deferred, args kept; CKR_OPERATION_ACTIVE: one
 * is pending), 0 when the init must go to the HSM, which
 * p11_defer_init_done is then told the answer of. */
int p11_defer_init(struct p11_module *m, CK_SESSION_HANDLE h, uint16_t init_fn, const CK_MECHANISM *mech,
		   CK_OBJECT_HANDLE key, const uint8_t *args, size_t len, CK_RV *rv);
void p11_defer_init_done(struct p11_module *m, CK_SESSION_HANDLE h, uint16_t init_fn, const CK_MECHANISM *mech,
			 CK_OBJECT_HANDLE key, CK_RV rv);
/* An operation's call fn: 1 and *out when a deferred init goes with it. */
int p11_defer_take(struct p11_module *m, CK_SESSION_HANDLE h, uint16_t fn, struct p11_deferred *out);
/* fn's answer (answered 0: none came), rv the HSM's; length_only: the
 * call asked a length. Frees what *carried holds. */
void p11_defer_call_done(struct p11_module *m, CK_SESSION_HANDLE h, uint16_t fn, struct p11_deferred *carried,
			 int answered, CK_RV rv, int length_only);

/* ---- results (rv.c) ------------------------------------------------------ */

/* What the application sees of the HSM's code: the reference's vendor
 * codes for PED outcomes as the standard ones (CKR_TIMEOUT and CKR_CANCEL
 * as CKR_FUNCTION_CANCELED, CKR_PED_UNPLUGGED and
 * CKR_PED_CLIENT_NOT_RUNNING as CKR_DEVICE_REMOVED, any other vendor code
 * as CKR_DEVICE_ERROR) unless PedVendorCodes is set; and the reverse for
 * a standard CKR_DEVICE_REMOVED of a PED call (ped 1) when it is. */
CK_RV p11_rv_present(const struct p11_config *c, CK_RV rv, int ped);

#endif
