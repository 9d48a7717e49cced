/* Roles and authentication: what the PED shows and which keys it wants per
 * role, what a session has logged in to, and the PED login that feeds
 * chapter 8's rules (libhsm). Above the PED port and the model; below the
 * commands. Everything here runs under the HSM's command lock. */
#ifndef HSM_SIM_AUTH_H
#define HSM_SIM_AUTH_H

#include "out.h"
#include "pedlink.h"
#include "sim.h"

/* Who acts: where their output goes, their logins, the PED ports, and how
 * long their ceremonies may wait on the PED (0: the port's ped_timeout; an
 * application's request brings its own, docs/protocol.md section 13). */
struct auth_ctx {
	const struct sim_out *out;
	struct sim_logins *logins;
	struct pedports *peds;
	int ped_wait_ms;
};

/* What the PED shows and which key it wants, per role. */
struct role_info {
	const char *name;
	enum hsm_role role;
	int key_type;
	const char *login_title, *set_title, *prompt, *colour;
};

/* A session's login flag for a role: not logged in (0), logged in, or
 * logged in with a challenge secret another role set, which HSM policy 21
 * makes it change before anything else (AUTH_MUST_CHANGE). */
#define AUTH_LOGGED_IN 1
#define AUTH_MUST_CHANGE 2

/* so, po, co, cu, au, or one of their long names (any case); NULL if none. */
const struct role_info *auth_role(const char *name);
/* The session's flag for role (of partition pi). */
uint8_t *auth_login_flag(struct sim_login *lg, enum hsm_role role, int pi);
/* PED_OK when either login is held; else one error naming who to log in as
 * (HSM_E_PIN_EXPIRED, told, when one is held but must change its challenge). */
int auth_need_either(const struct auth_ctx *a, struct sim_login *lg, enum hsm_role r1, enum hsm_role r2, int pi,
		     const char *who);
int auth_need(const struct auth_ctx *a, struct sim_login *lg, enum hsm_role role, int pi, const char *who);

/* The flag a login of role gives now: AUTH_MUST_CHANGE when its challenge
 * was set by another role and HSM policy 21 is on, else AUTH_LOGGED_IN. */
uint8_t auth_login_value(const struct sim_hsm *hs, const struct hsm_partition *p, enum hsm_role role);

/* Asks the PED for the role's keys and applies chapter 8's rules to them
 * (hsm_ped_login), then tells what happened and ends the logins a
 * zeroization took. With release, the command gives its HSM locks back
 * while the PED is read (another session's command may then run) and takes
 * them again after; a role that changed meanwhile is refused
 * (PED_E_CALLBACK_ERROR). Without it, the locks stay held throughout. */
int auth_ped_login(const struct auth_ctx *a, struct sim_hsm *hs, struct hsm_partition *p,
		   const struct role_info *ri, struct sim_hold *release);
/* A login with the challenge secret where activation applies
 * (hsm_challenge_login): PED_OK when logged in without the PED (the login
 * is recorded and saved), HSM_CHALLENGE_NEEDS_PED, or an error. */
int auth_challenge_login(const struct auth_ctx *a, struct sim_hsm *hs, struct hsm_partition *p, int pi,
			 const struct role_info *ri, const char *challenge);
/* A challenge secret as the partition's policies 25 and 26 allow it:
 * PED_OK, PED_E_ARGUMENTS_BAD (none, or starting with a space) or
 * HSM_E_PIN_LEN_RANGE, told. */
int auth_challenge_ok(const struct auth_ctx *a, const struct hsm_partition *p, const char *ch);
/* role createchallenge: the CO's or CU's challenge secret set to ch (checked
 * with auth_challenge_ok), by the role itself (by_self: the change HSM
 * policy 21 asks for) or by another (the Partition SO for the CO, the CO
 * for the CU): then the role's cached PED secret goes and, with policy 21,
 * the role must change the challenge. Saved. */
int auth_set_challenge(const struct auth_ctx *a, struct sim_hsm *hs, struct hsm_partition *p, int pi,
		       const struct role_info *ri, const char *ch, int by_self);
/* role changepw -oldpw -newpw: a logged-in CO or CU changes its own
 * challenge secret (old must be it). Saved. */
int auth_change_challenge(const struct auth_ctx *a, struct sim_hsm *hs, struct hsm_partition *p, int pi,
			  const struct role_info *ri, const char *old, const char *nw);
/* A new credential: a keyset the PED writes for a fresh secret (or one the
 * operator reuses). The locks stay held. */
int auth_new_credential(const struct auth_ctx *a, struct sim_hsm *hs, int key_type, const char *title,
			const char *prompt, const char *colour, struct hsm_credential *c);
/* The same, with the keyset's secret in secret for the caller to use and
 * wipe: the Auditor's, from which the log secret is derived (audit.h). */
int auth_new_credential_secret(const struct auth_ctx *a, struct sim_hsm *hs, int key_type, const char *title,
			       const char *prompt, const char *colour, struct hsm_credential *c,
			       uint8_t secret[HSM_SECRET_LEN]);
/* A new cloning domain (the red key): its credential and the cloning key
 * derived from its secret (hsm_domain_key). */
int auth_new_domain(const struct auth_ctx *a, struct sim_hsm *hs, struct hsm_credential *c,
		    uint8_t key[HSM_KEY_LEN]);

#endif
