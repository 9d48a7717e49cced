/* role init | login | logout | changepw | resetpw | createchallenge | deactivate
 * (chapter 8). */
#include "audit.h"
#include "command.h"

#include "hsm/control.h"
#include "hsm/result.h"
#include "ped/error.h"

#include <openssl/crypto.h>

#include <string.h>
#include <strings.h>

/* HSM policy 15 at 0: "the partition SO cannot reset the CO's credential";
 * a lost black key leaves only partition re-initialization. */
static int may_replace_co(struct cmd_ctx *c, const struct sim_hsm *hs)
{
	if (hs->h.so_resets_partition_pin)
		return PED_OK;
	cmd_out(c, "Error: HSM policy 15 (Enable SO reset of partition PIN) is 0: the Partition SO "
		    "cannot reset the Crypto Officer's credential.");
	return PED_E_ACTION_PROHIBITED;
}

static int role_target(struct cmd_ctx *c, const struct role_info *ri, struct sim_hsm **hsp,
		       struct hsm_partition **pp, int *pi)
{
	*hsp = cmd_current(c, pp, pi);
	if (!*hsp)
		return PED_E_TOKEN_NOT_PRESENT;
	int hsm_role = ri->role == HSM_ROLE_SO || ri->role == HSM_ROLE_AU;
	if (hsm_role && *pp) {
		cmd_out(c, "Error: role %s belongs to the admin partition's slot", ri->name);
		return PED_E_ARGUMENTS_BAD;
	}
	if (!hsm_role && !*pp) {
		cmd_out(c, "Error: role %s belongs to an application partition's slot", ri->name);
		return PED_E_ARGUMENTS_BAD;
	}
	return PED_OK;
}

/* After a login: what HSM policy 21 asks of the role, if anything. */
static void tell_must_change(struct cmd_ctx *c, struct sim_login *lg, const struct role_info *ri, int pi)
{
	if (*auth_login_flag(lg, ri->role, pi) == AUTH_MUST_CHANGE)
		cmd_out(c, "The %s's challenge secret was set by another role: change it now (role changepw -name %s "
			   "-oldpw OLD -newpw NEW); HSM policy 21 allows nothing else until then.", ri->prompt, ri->name);
}

static int cmd_role(struct cmd_ctx *c, int argc, char **argv)
{
	struct ped_opt o[] = {{.name = "name", .aliases = "n", .kind = PED_OPT_STRING, .help = "role: so po co cu au"},
			      {.name = "password", .aliases = "pwd p", .kind = PED_OPT_OPTIONAL, .help = "challenge secret"},
			      {.name = "challenge", .aliases = "c challengesecret", .kind = PED_OPT_STRING,
			       .help = "new challenge secret"},
			      {.name = "oldpw", .kind = PED_OPT_STRING, .help = "changepw: the current challenge secret"},
			      {.name = "newpw", .kind = PED_OPT_STRING, .help = "changepw: the new challenge secret"},
			      {.name = NULL}};
	const struct role_info *ri;
	struct sim_hsm *hs;
	struct hsm_partition *p;
	struct sim_login *lg;
	int pi = 0, r;

	if (argc < 2) {
		cmd_out(c, "Usage: role init|login|logout|changepw|resetpw|createchallenge|deactivate -name R");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
		return r;
	const char *verb = argv[1];
	if (!strcasecmp(verb, "logout") && !ped_opts_seen(o, "name")) {
		hs = cmd_current(c, &p, &pi);
		if (hs) {
			memset(sim_login(c->who.logins, hs), 0, sizeof(struct sim_login));
			/* the slot's roles end for the applications too, as on the device */
			static const enum hsm_role hsm_roles[] = {HSM_ROLE_SO, HSM_ROLE_AU},
						   partition_roles[] = {HSM_ROLE_PO, HSM_ROLE_CO, HSM_ROLE_CU};
			for (size_t i = 0; !p && i < sizeof(hsm_roles) / sizeof(hsm_roles[0]); i++)
				sim_role_logout(c->sim, hs, hsm_roles[i], 0);
			for (size_t i = 0; p && i < sizeof(partition_roles) / sizeof(partition_roles[0]); i++)
				sim_role_logout(c->sim, hs, partition_roles[i], pi);
		}
		return PED_OK;
	}
	if (!ped_opts_seen(o, "name") || !(ri = auth_role(ped_opts_str(o, "name", "")))) {
		cmd_out(c, "Error: -name must be so, po, co, cu or au");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = role_target(c, ri, &hs, &p, &pi)) != PED_OK)
		return r;
	lg = sim_login(c->who.logins, hs);
	struct hsm_role_state *rs = hsm_role_state_of(&hs->h, p, ri->role);

	if (!strcasecmp(verb, "login")) {
		char asked[HSM_CTL_ANSWER_MAX] = "";
		if (!hs->h.initialized || (p && !p->initialized)) {
			cmd_out(c, "Error: not initialized");
			return PED_E_USER_NOT_LOGGED_IN;
		}
		/* Activation (policy 22) with a challenge secret: the PED secret is
		 * cached at the first login; later logins need only the challenge. */
		int activation = hsm_activation_applies(p, ri->role);
		const char *ch = ped_opts_str(o, "password", ped_opts_str(o, "challenge", NULL));
		if (activation && !ch) {
			/* as lunacm: asked for, without echo, when a terminal is there */
			cmd_out(c, "Option -password was not supplied.  It is required.");
			if (!cmd_can_ask(c))
				return PED_E_ARGUMENTS_BAD;
			r = cmd_ask(c, "Enter the password:", 1, asked, sizeof(asked));
			/* the locks were given back while the operator typed: look again */
			if (r == PED_OK)
				r = role_target(c, ri, &hs, &p, &pi);
			if (r == PED_OK && (!hs->h.initialized || (p && !p->initialized))) {
				cmd_out(c, "Error: not initialized");
				r = PED_E_USER_NOT_LOGGED_IN;
			}
			if (r != PED_OK) {
				OPENSSL_cleanse(asked, sizeof(asked));
				return r;
			}
			activation = hsm_activation_applies(p, ri->role);
			ch = asked;
		}
		if (activation) {
			r = auth_challenge_login(&c->who, hs, p, pi, ri, ch);
			OPENSSL_cleanse(asked, sizeof(asked));
			if (r == PED_OK)
				tell_must_change(c, sim_login(c->who.logins, hs), ri, pi);
			if (r != HSM_CHALLENGE_NEEDS_PED)
				return r;
		}
		OPENSSL_cleanse(asked, sizeof(asked));
		/* The PED is read with this HSM's lock given back: the login waits
		 * on people, and other sessions' commands run meanwhile. */
		if ((r = auth_ped_login(&c->who, hs, p, ri, &c->hold)) != PED_OK)
			return r;
		/* Another session may have changed the HSM while the PED was read:
		 * the login counts against the credentials as they are now (which
		 * auth_ped_login checked), and policy 22 as it is now. */
		lg = sim_login(c->who.logins, hs);
		activation = activation && hsm_activation_applies(p, ri->role);
		*auth_login_flag(lg, ri->role, pi) = auth_login_value(hs, p, ri->role);
		tell_must_change(c, lg, ri, pi);
		if (activation) {
			hsm_activate(p, ri->role);
			cmd_out(c, "Role %s activated: the PED key secret is cached%s.", ri->name,
				 p->allow_auto_activation ? " and survives a restart (auto-activation)" : "");
			return sim_save(hs);
		}
		return PED_OK;
	}
	if (!strcasecmp(verb, "logout")) {
		*auth_login_flag(lg, ri->role, pi) = 0;
		/* an operator's logout ends the role's logins of applications too
		 * (the PKCS#11 module's): their next call is not logged in */
		sim_role_logout(c->sim, hs, ri->role, pi);
		return PED_OK;
	}
	if (!strcasecmp(verb, "init")) {
		if (ri->role == HSM_ROLE_SO || ri->role == HSM_ROLE_PO) {
			cmd_out(c, "Error: the %s is set by %s init", ri->name, p ? "partition" : "hsm");
			return PED_E_ARGUMENTS_BAD;
		}
		/* As the reference: "The Auditor role cannot be initialized by
		 * another role", so nobody is logged in on the admin partition; the
		 * PED ceremony (a new white keyset) is what it takes. */
		if (ri->role == HSM_ROLE_AU && !hs->h.initialized) {
			cmd_out(c, "Error: the HSM is not initialized (hsm init first)");
			return PED_E_USER_NOT_LOGGED_IN;
		}
		if (ri->role == HSM_ROLE_AU && (lg->so || lg->au)) {
			cmd_out(c, "Error: the Auditor cannot be initialized by another role, and the %s is logged in: "
				   "log out first (role logout), then run role init -name au",
				lg->so ? "HSM SO" : "Auditor");
			return HSM_E_USER_ALREADY_LOGGED_IN;
		}
		if (ri->role == HSM_ROLE_CO && (r = auth_need(&c->who, lg, HSM_ROLE_PO, pi, "Partition SO")) != PED_OK)
			return r;
		if (ri->role == HSM_ROLE_CU && (r = auth_need(&c->who, lg, HSM_ROLE_CO, pi, "Crypto Officer")) != PED_OK)
			return r;
		/* over an existing CO this is a reset of its credential */
		if (ri->role == HSM_ROLE_CO && rs->cred.set && (r = may_replace_co(c, hs)) != PED_OK)
			return r;
		if (rs->cred.set && (r = cmd_save_before_keys(c, hs)) != PED_OK)
			return r;
		struct hsm_credential cred;
		uint8_t white[HSM_SECRET_LEN];
		cmd_out(c, "Please attend to the PED.");
		if ((r = auth_new_credential_secret(&c->who, hs, ri->key_type, ri->set_title, ri->prompt, ri->colour, &cred,
						    white)) != PED_OK)
			return r;
		if (rs->cred.set) { /* a new keyset for a role in use: its sessions end */
			*auth_login_flag(lg, ri->role, pi) = 0;
			sim_logins_end(c->who.logins, hs, 1);
		}
		memset(rs, 0, sizeof(*rs));
		rs->cred = cred;
		r = sim_save(hs);
		/* the Auditor's white key makes the log secret: the same keyset on
		 * two HSMs, the same secret, so each verifies the other's logs */
		if (r == PED_OK && ri->role == HSM_ROLE_AU && (r = audit_set_white(hs, white, sizeof(white))) != PED_OK)
			cmd_out(c, "Error: the Auditor is set but its log secret could not be saved.");
		OPENSSL_cleanse(white, sizeof(white));
		return r;
	}
	if (!strcasecmp(verb, "changepw") && (ped_opts_seen(o, "oldpw") || ped_opts_seen(o, "newpw")))
		/* the role changes its own challenge secret (HSM policy 21's
		 * "change the credential"); no PED */
		return auth_change_challenge(&c->who, hs, p, pi, ri, ped_opts_str(o, "oldpw", NULL),
					     ped_opts_str(o, "newpw", NULL));
	if (!strcasecmp(verb, "changepw")) {
		if ((r = auth_need(&c->who, lg, ri->role, pi, ri->name)) != PED_OK)
			return r;
		/* the old keyset first, then the new one */
		if ((r = auth_ped_login(&c->who, hs, p, ri, NULL)) != PED_OK) {
			*auth_login_flag(lg, ri->role, pi) = 0;
			return r;
		}
		struct hsm_credential cred;
		if ((r = cmd_save_before_keys(c, hs)) != PED_OK)
			return r;
		if ((r = auth_new_credential(&c->who, hs, ri->key_type, ri->set_title, ri->prompt, ri->colour, &cred)) != PED_OK)
			return r;
		rs->cred = cred;
		rs->failures = 0;
		rs->activated = 0; /* the cached secret is the old keyset's */
		return sim_save(hs);
	}
	if (!strcasecmp(verb, "resetpw")) {
		if (ri->role != HSM_ROLE_CO && ri->role != HSM_ROLE_CU) {
			cmd_out(c, "Error: resetpw applies to co and cu");
			return PED_E_ARGUMENTS_BAD;
		}
		if ((r = auth_need(&c->who, lg, ri->role == HSM_ROLE_CO ? HSM_ROLE_PO : HSM_ROLE_CO, pi,
				    ri->role == HSM_ROLE_CO ? "Partition SO" : "Crypto Officer")) != PED_OK)
			return r;
		if (ri->role == HSM_ROLE_CO && (r = may_replace_co(c, hs)) != PED_OK)
			return r;
		if ((r = cmd_save_before_keys(c, hs)) != PED_OK)
			return r;
		struct hsm_credential cred;
		cmd_out(c, "Please attend to the PED.");
		if ((r = auth_new_credential(&c->who, hs, ri->key_type, ri->set_title, ri->prompt, ri->colour, &cred)) != PED_OK)
			return r;
		rs->cred = cred;
		rs->failures = 0;
		rs->locked = 0;
		/* the cached secret would let the old challenge in without a key */
		rs->activated = 0;
		*auth_login_flag(lg, ri->role, pi) = 0;
		sim_logins_end(c->who.logins, hs, 1); /* whoever held the lost keyset's login */
		return sim_save(hs);
	}
	if (!strcasecmp(verb, "createchallenge")) {
		char asked[HSM_CTL_ANSWER_MAX] = "", again[HSM_CTL_ANSWER_MAX] = "";
		const char *ch = ped_opts_str(o, "challenge", ped_opts_str(o, "password", NULL));
		if (!p || (ri->role != HSM_ROLE_CO && ri->role != HSM_ROLE_CU)) {
			cmd_out(c, "Error: challenges are for co and cu on a partition");
			return PED_E_ARGUMENTS_BAD;
		}
		/* the role itself may set its own challenge: that is the change policy 21 wants */
		if (*auth_login_flag(lg, ri->role, pi) != AUTH_MUST_CHANGE &&
		    (r = auth_need_either(&c->who, lg, ri->role == HSM_ROLE_CO ? HSM_ROLE_PO : HSM_ROLE_CO, ri->role, pi,
				       ri->role == HSM_ROLE_CO ? "Partition SO or Crypto Officer"
							       : "Crypto Officer or Crypto User")) != PED_OK)
			return r;
		if (!ch && cmd_can_ask(c)) {
			/* lunacm asks for the secret (chapter 8), twice, without echo */
			r = cmd_ask(c, "Enter the challenge secret:", 1, asked, sizeof(asked));
			if (r == PED_OK)
				r = cmd_ask(c, "Re-enter the challenge secret:", 1, again, sizeof(again));
			if (r == PED_OK && strcmp(asked, again)) {
				cmd_out(c, "Error: the two entries differ; the challenge secret was not set.");
				r = PED_E_ARGUMENTS_BAD;
			}
			OPENSSL_cleanse(again, sizeof(again));
			/* the locks were given back while the operator typed: look again */
			if (r == PED_OK && (r = role_target(c, ri, &hs, &p, &pi)) == PED_OK) {
				lg = sim_login(c->who.logins, hs);
				rs = hsm_role_state_of(&hs->h, p, ri->role);
				if (*auth_login_flag(lg, ri->role, pi) != AUTH_MUST_CHANGE)
					r = auth_need_either(&c->who, lg, ri->role == HSM_ROLE_CO ? HSM_ROLE_PO : HSM_ROLE_CO,
							     ri->role, pi,
							     ri->role == HSM_ROLE_CO ? "Partition SO or Crypto Officer"
										     : "Crypto Officer or Crypto User");
			}
			if (r != PED_OK) {
				OPENSSL_cleanse(asked, sizeof(asked));
				return r;
			}
			ch = asked;
		}
		int by_self = *auth_login_flag(lg, ri->role, pi) != 0;
		r = auth_set_challenge(&c->who, hs, p, pi, ri, ch, by_self);
		OPENSSL_cleanse(asked, sizeof(asked));
		return r;
	}
	if (!strcasecmp(verb, "deactivate")) {
		/* CO and CU may deactivate their own or each other's role; the Partition SO both. */
		if (!p || (ri->role != HSM_ROLE_CO && ri->role != HSM_ROLE_CU)) {
			cmd_out(c, "Error: activation applies to co and cu on a partition");
			return PED_E_ARGUMENTS_BAD;
		}
		if (!*auth_login_flag(lg, HSM_ROLE_CO, pi) && !*auth_login_flag(lg, HSM_ROLE_CU, pi) &&
		    (r = auth_need(&c->who, lg, HSM_ROLE_PO, pi, "Partition SO, Crypto Officer or Crypto User")) != PED_OK)
			return r;
		rs->activated = 0;
		*auth_login_flag(lg, ri->role, pi) = 0;
		cmd_out(c, "Role %s deactivated: the cached PED key secret is deleted.", ri->name);
		return sim_save(hs);
	}
	cmd_out(c, "Error: unknown role command '%s'", verb);
	return PED_E_ARGUMENTS_BAD;
}

SIM_COMMAND_VERBS(role, "role", NULL, NULL, 2, cmd_role, "init login logout changepw resetpw createchallenge deactivate")
