/* hsm-sim's runtime: the HSMs it hosts, their PED ports, and the sessions
 * of hsmcm operators. Commands run one at a time (sim->mu), each in its
 * session's thread, so a ceremony may block on its PED without holding up
 * the event loop that accepts connections and signals. */
#ifndef HSM_SIM_SIM_H
#define HSM_SIM_SIM_H

#include "hsm/hsm.h"
#include "hsm/control.h"
#include "ped/link.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define SIM_MAX_HSMS 64
#define SIM_SLOTS_PER_HSM 16 /* the admin partition, then up to 15 application partitions */

struct sim_hsm {
	struct hsm h;
	int base_slot;       /* the admin partition's slot; partition i is base_slot + 1 + i */
	char state_path[1024];
	char ped_path[1024]; /* local PED link */
	int ped_listen_fd;
	/* the PED attached to this HSM: guarded by ped_mu */
	pthread_mutex_t ped_mu;
	struct ped_link ped;
	int ped_attached;
	int ped_busy;        /* a ceremony owns the link */
	/* Remote PED through pedclient (guarded by ped_mu): while a remote
	 * session is open or being keyed, the local PED is ignored. */
	int remote;          /* hs->ped is the remote link */
	int remote_state;    /* REMOTE_* */
	int remote_err;      /* why keying failed */
	int keying_fd;       /* the socket being keyed, -1 when none */
	int keying_cancelled; /* ped disconnect came while keying */
	int closing;         /* ped disconnect waits for a ceremony to give the link back */
	pthread_cond_t remote_cv;
	uint64_t remote_last_use;
	char remote_ped[72];     /* the PED's serial, as pedserver says */
	char remote_server[96];  /* host:port, or "PED id mapping" */
	char remote_host[64];    /* as ped connect gave it ("": the PED id mapping) */
	int remote_host_port;
	int remote_otp;          /* keyed with the one-time password, not the RPV */
	/* Bumps when credentials are wiped or replaced (hsm init or zeroize, a
	 * partition re-initialized or zeroized, a role re-initialized or reset):
	 * every other session's logins to this HSM end (sim_login). */
	uint64_t epoch;
	/* the identity as OpenSSL objects, made at first use (pedport.c), under ped_mu */
	EVP_PKEY *id_key;
	X509 *id_cert, *id_hoc;
};

enum { REMOTE_NONE, REMOTE_KEYING, REMOTE_UP, REMOTE_FAILED };

struct sim {
	pthread_mutex_t mu; /* one command at a time */
	struct sim_hsm hsms[SIM_MAX_HSMS];
	int nhsms;
	char socket_path[1024];
	char state_dir[1024];
	int ped_timeout_ms;   /* how long a ceremony waits for the PED */
	int link_timeout_ms;  /* handshake and each send */
	int remote_idle_timeout_s;
	char pedclient_socket[1024];
	atomic_int stopping;  /* set at SIGTERM: no new command starts */
	int in_flight;        /* commands running or replying (under mu) */
	atomic_int helpers;   /* PED attach and keying threads still running (they use OpenSSL) */
	pthread_cond_t idle_cv; /* in_flight dropped to 0 */
};

/* What a session has logged in to. */
struct login {
	uint64_t epoch; /* the HSM's epoch when these were made */
	uint8_t so, au;
	uint8_t po[HSM_MAX_PARTITIONS], co[HSM_MAX_PARTITIONS], cu[HSM_MAX_PARTITIONS];
};

struct session {
	struct sim *sim;
	int fd;
	int slot;
	int release_lock; /* a login: other sessions may run while this one waits on its PED */
	struct login login[SIM_MAX_HSMS];
};

/* This session's logins to hs; none if hs's credentials changed since. */
struct login *sim_login(struct session *s, struct sim_hsm *hs);
/* Credentials of hs were wiped or replaced: the other sessions' logins to
 * it end; this session's too unless keep_own (it keeps what the caller
 * leaves in its own). */
void sim_logins_end(struct session *s, struct sim_hsm *hs, int keep_own);

/* Output to the session's operator, one line (no newline needed). */
void sess_out(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs one command line; the result code (PED_OK or an error). */
int sim_command(struct session *s, const char *line);

/* Slot helpers. */
struct sim_hsm *sim_slot(struct sim *sim, int slot, struct hsm_partition **part, int *pindex);
int sim_hsm_index(struct sim *sim, const struct sim_hsm *hs);
int sim_save(struct sim_hsm *hs);

/* The PED port of an HSM (pedport.c). */
void pedport_attach(struct sim *sim, struct sim_hsm *hs, int fd);
int pedport_auth(struct session *s, struct sim_hsm *hs, int key_type, const char *title,
		 const char *prompt, const char *colour, struct ped_app_splits *sp);
/* Creates a keyset for a fresh random secret, or adopts the one the operator
 * chose to reuse; secret gets the credential's secret either way. */
int pedport_create(struct session *s, struct sim_hsm *hs, int key_type, const char *title,
		   const char *prompt, const char *colour, int allow_reuse, uint8_t secret[HSM_SECRET_LEN],
		   struct ped_app_created *info);
/* ped vector init: the RPV keyset, with a fresh RPV static key and its
 * certificate (signed by this HSM's HOC) written onto the orange keys. */
int pedport_create_rpv(struct session *s, struct sim_hsm *hs, uint8_t secret[HSM_SECRET_LEN],
		       struct ped_app_created *info);
/* One line on the PED this HSM listens to; 1 if it is a Remote PED. */
int pedport_describe(struct sim_hsm *hs, char *out, size_t len);
void pedport_detach(struct sim_hsm *hs);
/* Shutdown: ends the PED wait of a ceremony or keying in progress, so
 * that its command fails at once instead of after the PED timeout. */
void pedport_abort(struct sim_hsm *hs);
/* Asks pedclient for a Remote PED session to host:port (host "" lets
 * pedclient use the PED id assigned to this HSM) and starts keying it with
 * the RPV, or with otp (8 digits) to initialize the RPV remotely. Returns
 * once pedserver has accepted; the PED then computes the session key. */
int pedport_remote_connect(struct session *s, struct sim_hsm *hs, const char *host, int port, const char *otp);
int pedport_remote_disconnect(struct sim *sim, struct sim_hsm *hs);
/* Waits (up to the PED timeout) until the session key is computed; its error if that failed. */
int pedport_remote_wait(struct session *s, struct sim_hsm *hs);
/* After ped vector init: a Remote PED session keyed with the password or the
 * old RPV is closed and keyed again, with the new RPV, to the same pedserver.
 * PED_OK when there was none; an error (also told to the operator) leaves no
 * session. */
int pedport_remote_rekey(struct session *s, struct sim_hsm *hs);

/* Backup and restore (archive.c). */
int cmd_archive(struct session *s, int argc, char **argv);

#endif
