/* The PED port of each HSM: the local PED link (a PED attaches on the HSM's
 * socket), the link a Remote PED session replaces it with (remoteped.c),
 * and the ceremonies that ask the PED for keys over it (chapter 5's
 * application protocol, docs/protocol.md section 10).
 *
 * A port has its own lock (mu) over its state; the link itself is used
 * outside it by the one ceremony that owns it (busy). Nothing here takes
 * or gives an HSM's command lock: a caller that must not hold it while the
 * PED is read gives it back itself (sim_hold_release) around the call. */
#ifndef HSM_SIM_PEDLINK_H
#define HSM_SIM_PEDLINK_H

#include "out.h"
#include "sim.h"

#include "ped/app.h"
#include "ped/kas.h"
#include "ped/link.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct pedports;

/* REMOTE_DEFERRED: pedserver accepted the session, and it is keyed with
 * the first PED operation (take()), when the PED asks for the orange key. */
enum { REMOTE_NONE, REMOTE_KEYING, REMOTE_UP, REMOTE_FAILED, REMOTE_DEFERRED };

struct pedport {
	struct sim_hsm *hs;
	struct pedports *all;
	char path[1024]; /* the local PED link's socket */
	int listen_fd;
	pthread_mutex_t mu;
	struct ped_link link;
	int attached;
	int busy;            /* a ceremony owns the link */
	/* Remote PED through pedclient: while a remote session is open or
	 * being keyed, the local PED is ignored. */
	int remote;          /* link is the remote one */
	int remote_state;    /* REMOTE_* */
	int remote_err;      /* why keying failed */
	int keying_fd;       /* the socket being keyed, -1 when none */
	int keying_cancelled; /* ped disconnect came while keying */
	int keying_ended;    /* ... or the relays ended the session before it was keyed */
	int closing;         /* ped disconnect waits for a ceremony to give the link back */
	pthread_cond_t cv;   /* keying done, link given back */
	uint64_t remote_last_use;
	char remote_ped[72];     /* the PED's serial, as pedserver says */
	char remote_server[96];  /* host:port, or "PED id mapping" */
	char remote_host[64];    /* as ped connect gave it ("": the PED id mapping) */
	int remote_host_port;
	int remote_otp;          /* keyed with the one-time password, not the RPV */
	int remote_rpk_held;     /* pedserver's WELCOME: the PED holds this HSM's RPK */
	int remote_ped_id;       /* pedclient's WELCOME: the PED id mapping it dialed, or 100 */
	/* the HSM's identity as OpenSSL objects, made at first use, under mu */
	EVP_PKEY *id_key;
	X509 *id_cert, *id_hoc;
};

struct pedports {
	struct pedport port[SIM_MAX_HSMS];
	int n;
	int ped_timeout_ms;   /* how long a ceremony waits for the PED */
	int link_timeout_ms;  /* handshake and each send */
	int remote_idle_timeout_s;
	char pedclient_socket[1024];
	atomic_int stopping;  /* shutdown: no new PED wait */
	/* PED attach and keying threads still running (they use OpenSSL) */
	pthread_mutex_t helpers_mu;
	pthread_cond_t helpers_cv;
	int helpers;
};

/* One port per HSM of sim; the timeouts and pedclient's socket are set by the caller. */
void pedports_init(struct pedports *pp, struct sim *sim);
struct pedport *pedport_of(struct pedports *pp, const struct sim_hsm *hs);

/* A PED connected to the port's socket: the handshake runs in a thread of its own. */
void pedport_attach(struct pedport *pt, int fd);
/* One line on the PED this HSM listens to; 1 if it is a Remote PED.
 * *ped_id: the reference's PED id, 0 for the local PED, for a Remote PED
 * the id of the mapping pedclient dialed (100 when ped connect gave the
 * address, as the reference shows it). */
int pedport_describe(struct pedport *pt, char *out, size_t len, int *ped_id);

/* Ceremonies: each takes the link for one exchange, PED_E_PED_UNPLUGGED when
 * there is none, PED_E_BUSY while another ceremony has it. They read the
 * HSM's identity and serial, which never change. */
int pedport_auth(struct pedport *pt, const struct sim_out *o, int key_type, const char *title,
		 const char *prompt, const char *colour, struct ped_app_splits *sp);
/* The same for an application's request, which has its own timeout: with
 * wait_ms > 0, a PED busy with another ceremony is waited for (they take
 * turns), and the whole wait is bounded by wait_ms when that is less than
 * ped_timeout. Running out of time on the PED is PED_E_TIMEOUT, and the
 * link is dropped (the PED attaches again). */
int pedport_auth_within(struct pedport *pt, const struct sim_out *o, int wait_ms, int key_type, const char *title,
			const char *prompt, const char *colour, struct ped_app_splits *sp);
/* Creates a keyset for a fresh random secret, or adopts the one the operator
 * chose to reuse; secret gets the credential's secret either way. */
int pedport_create(struct pedport *pt, const struct sim_out *o, int key_type, const char *title,
		   const char *prompt, const char *colour, int allow_reuse, uint8_t secret[HSM_SECRET_LEN],
		   struct ped_app_created *info);
int pedport_create_within(struct pedport *pt, const struct sim_out *o, int wait_ms, int key_type, const char *title,
			  const char *prompt, const char *colour, int allow_reuse, uint8_t secret[HSM_SECRET_LEN],
			  struct ped_app_created *info);
/* ped vector init: the RPV keyset, with a fresh RPV static key and its
 * certificate (signed by this HSM's HOC) written onto the orange keys.
 * Under the HSM's command lock (it reads the HOC's key). */
int pedport_create_rpv(struct pedport *pt, const struct sim_out *o, uint8_t secret[HSM_SECRET_LEN],
		       struct ped_app_created *info);

/* Shutdown: no new PED wait, and the ones in progress (a ceremony, a
 * keying) end at once, so that their commands fail now. */
void pedports_abort(struct pedports *pp);
/* Shutdown: waits up to timeout_ms for the attach and keying threads; the
 * number still running. */
int pedports_wait_helpers(struct pedports *pp, int timeout_ms);
/* Frees the identities; once no thread uses them. */
void pedports_free(struct pedports *pp);

/* For the Remote PED keying (remoteped.c). */
/* The HSM's side of a handshake (the verifier, C(1e, 1s) unless the caller
 * changes it) with the HSM's identity: its static key and certificates, a
 * reference each, made once per port (importing a P-521 scalar costs a tenth
 * of a handshake). pedport_kas_end frees them, also after a failed begin. */
struct pedport_kas {
	struct ped_kas_params p;
	char id[PED_KAS_ID_MAX];
	EVP_PKEY *key;
	X509 *cert, *hoc;
};
int pedport_kas_begin(struct pedport *pt, struct pedport_kas *k);
void pedport_kas_end(struct pedport_kas *k);
void pedports_helper_begin(struct pedports *pp);
void pedports_helper_end(struct pedports *pp);
/* Under mu: a Remote PED session the relays ended while no PED operation
 * used it (pedserver's idle timeout, a pedserver or pedclient restart:
 * pedclient's BYE, or its socket closed) is closed here too, so that ped
 * get and ped connect need no failed operation to learn it. A deferred
 * session's keying thread is waited for (mu is given up meanwhile). 1 if
 * the session had ended. */
int pedport_remote_ended(struct pedport *pt);
/* Why the relays ended a Remote PED session, from the BYE that came in the
 * channel's place. */
const char *pedport_bye_reason(const struct ped_link *l);

/* A Remote PED operation in progress on pt: a ceremony owns the remote link,
 * or it is being keyed. With audit logging on, applications' crypto waits
 * while one is (docs/pkcs11.md): this waits up to ms for it to end (or
 * hsm-sim to stop); 1 if one is still in progress, 0 if none. */
int pedport_remote_wait(struct pedport *pt, int ms);
/* Whether one is in progress now, without waiting. */
int pedport_remote_busy(struct pedport *pt);

#endif
