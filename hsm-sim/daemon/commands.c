/* The operator commands, in lunacm's syntax (chapter 5, 8 and 12). */
#include "sim.h"

#include "ped/cert.h"
#include "ped/error.h"
#include "ped/log.h"
#include "ped/opts.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 32

/* What the PED shows and which key it wants, per role. */
struct role_info {
	const char *name;
	enum hsm_role role;
	int key_type;
	const char *login_title, *set_title, *prompt, *colour;
};

static const struct role_info roles[] = {
	{"so", HSM_ROLE_SO, PED_KEY_SO, "SO LOGIN...", "SETTING SO PIN...", "SO / HSM Admin", "BLUE"},
	{"po", HSM_ROLE_PO, PED_KEY_SO, "PO LOGIN...", "SETTING PO PIN...", "Partition SO", "BLUE"},
	{"co", HSM_ROLE_CO, PED_KEY_USER, "CO LOGIN...", "SETTING CO PIN...", "Crypto Officer", "BLACK"},
	{"cu", HSM_ROLE_CU, PED_KEY_USER, "CU LOGIN...", "SETTING CU PIN...", "Crypto User", "BLACK"},
	{"au", HSM_ROLE_AU, PED_KEY_AUDIT, "AU LOGIN...", "SETTING AU PIN...", "Audit User", "WHITE"},
};

static const struct role_info *role_named(const char *name)
{
	static const struct {
		const char *alias, *name;
	} aliases[] = {{"crypto officer", "co"}, {"crypto user", "cu"}, {"partition so", "po"},
		       {"auditor", "au"}, {"audit", "au"}, {"admin", "so"}};
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (!strcasecmp(name, aliases[i].alias))
			name = aliases[i].name;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (!strcasecmp(name, roles[i].name))
			return &roles[i];
	return NULL;
}

/* Parses options after the command words; prints the error itself. */
static int parse(struct session *s, struct ped_opt *opts, int argc, char **argv, int first)
{
	char err[256];
	int r = ped_opts_parse(opts, argc, argv, first, NULL, 0, NULL, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		for (const struct ped_opt *o = opts; o->name; o++)
			sess_out(s, "  -%-12s %s", o->name, o->help ? o->help : "");
		return 1;
	}
	if (r != PED_OK) {
		sess_out(s, "Error: %s", err);
		return PED_E_ARGUMENTS_BAD;
	}
	return PED_OK;
}

/* Labels longer than 32 characters are cut to 32, as documented. */
static int take_label(struct session *s, const char *in, char out[HSM_LABEL_MAX + 1], int partition)
{
	snprintf(out, HSM_LABEL_MAX + 1, "%s", in);
	if (!hsm_label_valid(out) || (partition && strchr(out, '"'))) {
		sess_out(s, "Error: a label is 1-32 printable characters");
		return PED_E_ARGUMENTS_BAD;
	}
	return PED_OK;
}

static struct sim_hsm *current(struct session *s, struct hsm_partition **p, int *pi)
{
	return sim_slot(s->sim, s->slot, p, pi);
}

struct login *sim_login(struct session *s, struct sim_hsm *hs)
{
	struct login *lg = &s->login[sim_hsm_index(s->sim, hs)];
	if (lg->epoch != hs->epoch) {
		/* another session re-initialized or zeroized what these were for */
		OPENSSL_cleanse(lg, sizeof(*lg));
		lg->epoch = hs->epoch;
	}
	return lg;
}

void sim_logins_end(struct session *s, struct sim_hsm *hs, int keep_own)
{
	struct login *lg = sim_login(s, hs);
	if (!keep_own)
		memset(lg, 0, sizeof(*lg));
	hs->epoch++;
	lg->epoch = hs->epoch;
}

static int new_credential(struct session *s, struct sim_hsm *hs, int key_type, const char *title,
			  const char *prompt, const char *colour, struct hsm_credential *c)
{
	uint8_t secret[HSM_SECRET_LEN];
	struct ped_app_created info;
	int r = pedport_create(s, hs, key_type, title, prompt, colour, 1, secret, &info);
	if (r == PED_OK)
		hsm_credential_set(c, secret, HSM_SECRET_LEN, info.m, info.n, info.keyset_id);
	OPENSSL_cleanse(secret, sizeof(secret));
	return r;
}

/* ---- slot ---------------------------------------------------------------- */

static void print_slot(struct session *s, int slot, const char *label, const char *serial,
		       const char *desc)
{
	sess_out(s, "Slot Id ->              %d", slot);
	sess_out(s, "Label ->                %s", label);
	sess_out(s, "Serial Number ->        %s", serial);
	sess_out(s, "Model ->                OpenPED HSM simulator %s", PED_VERSION);
	sess_out(s, "Slot Description ->     %s", desc);
	sess_out(s, "%s", "");
}

static int cmd_slot(struct session *s, int argc, char **argv)
{
	if (argc >= 2 && !strcasecmp(argv[1], "list")) {
		for (int i = 0; i < s->sim->nhsms; i++) {
			struct sim_hsm *hs = &s->sim->hsms[i];
			print_slot(s, hs->base_slot, hs->h.label[0] ? hs->h.label : "(uninitialized)",
				   hs->h.serial, hs->h.is_backup ? "Backup HSM Admin Partition" : "Admin Partition");
			for (uint32_t j = 0; j < hs->h.npartitions; j++) {
				struct hsm_partition *p = &hs->h.partitions[j];
				print_slot(s, hs->base_slot + 1 + (int)j, p->label[0] ? p->label : p->name,
					   hs->h.serial, hs->h.is_backup ? "Backup Partition" : "User Token Slot");
			}
		}
		sess_out(s, "Current Slot Id: %d", s->slot);
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "set")) {
		struct ped_opt o[] = {{.name = "slot", .aliases = "s", .kind = PED_OPT_INT, .min = 0, .max = 100000, .help = "slot id"},
				      {.name = NULL}};
		int r = parse(s, o, argc, argv, 2);
		if (r != PED_OK)
			return r;
		if (!ped_opts_seen(o, "slot")) {
			sess_out(s, "Error: -slot is required");
			return PED_E_ARGUMENTS_BAD;
		}
		int slot = (int)ped_opts_num(o, "slot", 0);
		if (!sim_slot(s->sim, slot, NULL, NULL)) {
			sess_out(s, "Error: no slot %d", slot);
			return PED_E_TOKEN_NOT_PRESENT;
		}
		s->slot = slot;
		sess_out(s, "Current Slot Id: %d", slot);
		return PED_OK;
	}
	sess_out(s, "Usage: slot list | slot set -slot N");
	return PED_E_ARGUMENTS_BAD;
}

/* ---- hsm ----------------------------------------------------------------- */

/* HSM policy 15 at 0: "the partition SO cannot reset the CO's credential";
 * a lost black key leaves only partition re-initialization. */
static int may_replace_co(struct session *s, const struct sim_hsm *hs)
{
	if (hs->h.so_resets_partition_pin)
		return PED_OK;
	sess_out(s, "Error: HSM policy 15 (Enable SO reset of partition PIN) is 0: the Partition SO "
		    "cannot reset the Crypto Officer's credential.");
	return PED_E_ACTION_PROHIBITED;
}

static int need_login(struct session *s, struct login *lg, enum hsm_role role, int pi, const char *who);

static int cmd_hsm(struct session *s, int argc, char **argv)
{
	struct hsm_partition *p;
	struct sim_hsm *hs = current(s, &p, NULL);
	struct login *lg;
	int r;

	if (!hs)
		return PED_E_TOKEN_NOT_PRESENT;
	lg = sim_login(s, hs);
	if (argc >= 2 && !strcasecmp(argv[1], "init")) {
		struct ped_opt o[] = {{.name = "label", .aliases = "l", .kind = PED_OPT_STRING, .help = "HSM label"},
				      {.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no confirmation"},
				      {.name = NULL}};
		char label[HSM_LABEL_MAX + 1];
		struct hsm_credential so, dom;
		if ((r = parse(s, o, argc, argv, 2)) != PED_OK)
			return r;
		if (p) {
			sess_out(s, "Error: hsm init runs on the admin partition's slot");
			return PED_E_ARGUMENTS_BAD;
		}
		if (!ped_opts_seen(o, "label")) {
			sess_out(s, "Error: -label is required");
			return PED_E_ARGUMENTS_BAD;
		}
		if ((r = take_label(s, ped_opts_str(o, "label", ""), label, 0)) != PED_OK)
			return r;
		if (hs->h.initialized && !lg->so) {
			sess_out(s, "Error: the HSM is initialized; log in as HSM SO to re-initialize it");
			return PED_E_USER_NOT_LOGGED_IN;
		}
		memset(&so, 0, sizeof(so));
		memset(&dom, 0, sizeof(dom));
		sess_out(s, "Please attend to the PED.");
		if ((r = new_credential(s, hs, PED_KEY_SO, "SETTING SO PIN...", "SO / HSM Admin", "BLUE", &so)) != PED_OK)
			return r;
		if ((r = new_credential(s, hs, PED_KEY_DOMAIN, "SETTING DOMAIN...", "Domain", "RED", &dom)) != PED_OK)
			return r;
		if (hs->h.initialized)
			hsm_zeroize(&hs->h);
		hs->h.so.cred = so;
		hs->h.so.failures = 0;
		hs->h.domain = dom;
		snprintf(hs->h.label, sizeof(hs->h.label), "%s", label);
		hs->h.initialized = 1;
		sim_logins_end(s, hs, 0);
		if ((r = sim_save(hs)) != PED_OK)
			return r;
		sess_out(s, "Successfully initialized the HSM.");
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "zeroize")) {
		hsm_zeroize(&hs->h);
		sim_logins_end(s, hs, 0);
		if ((r = sim_save(hs)) != PED_OK)
			return r;
		sess_out(s, "The HSM was successfully zeroized.");
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "showinfo")) {
		sess_out(s, "Label -> %s", hs->h.label);
		sess_out(s, "Serial Number -> %s", hs->h.serial);
		sess_out(s, "HSM Initialized -> %s", hs->h.initialized ? "yes" : "no (zeroized)");
		sess_out(s, "SO failed logins -> %u of %u", hs->h.so.failures, HSM_SO_MAX_FAILURES);
		sess_out(s, "Remote PED vector -> %s", hs->h.rpv_set ? "initialized" : "not initialized");
		sess_out(s, "Partitions -> %u", hs->h.npartitions);
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "showpolicies")) {
		sess_out(s, "HSM policies:");
		sess_out(s, "  15: Enable SO reset of partition PIN -> %u", hs->h.so_resets_partition_pin);
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "changepolicy")) {
		struct ped_opt o[] = {{.name = "policy", .aliases = "p", .kind = PED_OPT_INT, .min = 0, .max = 255, .help = "policy number"},
				      {.name = "value", .aliases = "v", .kind = PED_OPT_INT, .min = 0, .max = 1, .help = "0 or 1"},
				      {.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no confirmation"},
				      {.name = NULL}};
		if ((r = parse(s, o, argc, argv, 2)) != PED_OK)
			return r;
		if (!ped_opts_seen(o, "policy") || !ped_opts_seen(o, "value")) {
			sess_out(s, "Error: give -policy N and -value 0|1");
			return PED_E_ARGUMENTS_BAD;
		}
		if (ped_opts_num(o, "policy", 0) != 15) {
			sess_out(s, "Error: HSM policy %ld is not one this HSM has (15: Enable SO reset of partition PIN)",
				 ped_opts_num(o, "policy", 0));
			return PED_E_ARGUMENTS_BAD;
		}
		if (p) {
			sess_out(s, "Error: HSM policies are changed on the admin partition's slot");
			return PED_E_ARGUMENTS_BAD;
		}
		if ((r = need_login(s, lg, HSM_ROLE_SO, 0, "HSM SO")) != PED_OK)
			return r;
		uint8_t v = (uint8_t)ped_opts_num(o, "value", 0);
		if (v == hs->h.so_resets_partition_pin) {
			sess_out(s, "HSM policy 15 is already %u.", v);
			return PED_OK;
		}
		/* "HSM policy 15 is destructive when turned on. All partitions on
		 * the HSM and their contents will be erased." */
		if (v && hs->h.npartitions) {
			if (!ped_opts_seen(o, "force")) {
				sess_out(s, "CAUTION: turning on HSM policy 15 erases all %u partitions of this HSM and "
					    "their contents. Give -force to proceed.", hs->h.npartitions);
				return PED_E_ARGUMENTS_BAD;
			}
			hsm_erase_partitions(&hs->h);
			memset(lg->po, 0, sizeof(lg->po));
			memset(lg->co, 0, sizeof(lg->co));
			memset(lg->cu, 0, sizeof(lg->cu));
			sim_logins_end(s, hs, 1);
			sess_out(s, "All partitions and their contents were erased.");
		}
		hs->h.so_resets_partition_pin = v;
		if ((r = sim_save(hs)) != PED_OK)
			return r;
		sess_out(s, "HSM policy 15 (Enable SO reset of partition PIN) is now %u.", v);
		return PED_OK;
	}
	sess_out(s, "Usage: hsm init -label L | hsm zeroize | hsm showinfo | hsm showpolicies | "
		    "hsm changepolicy -policy 15 -value 0|1 [-force]");
	return PED_E_ARGUMENTS_BAD;
}

/* ---- role ---------------------------------------------------------------- */

static int role_target(struct session *s, const struct role_info *ri, struct sim_hsm **hsp,
		       struct hsm_partition **pp, int *pi)
{
	*hsp = current(s, pp, pi);
	if (!*hsp)
		return PED_E_TOKEN_NOT_PRESENT;
	int hsm_role = ri->role == HSM_ROLE_SO || ri->role == HSM_ROLE_AU;
	if (hsm_role && *pp) {
		sess_out(s, "Error: role %s belongs to the admin partition's slot", ri->name);
		return PED_E_ARGUMENTS_BAD;
	}
	if (!hsm_role && !*pp) {
		sess_out(s, "Error: role %s belongs to an application partition's slot", ri->name);
		return PED_E_ARGUMENTS_BAD;
	}
	return PED_OK;
}

static uint8_t *login_flag(struct login *lg, enum hsm_role role, int pi)
{
	switch (role) {
	case HSM_ROLE_SO: return &lg->so;
	case HSM_ROLE_AU: return &lg->au;
	case HSM_ROLE_PO: return &lg->po[pi];
	case HSM_ROLE_CO: return &lg->co[pi];
	case HSM_ROLE_CU: return &lg->cu[pi];
	}
	return &lg->so;
}

static int store_save(void *arg)
{
	return sim_save(arg);
}

/* The lock-step of count before check (hsm_attempt_record) goes through sim_save. */
static void store_of(struct sim_hsm *hs, struct hsm_store *st)
{
	st->save = store_save;
	st->arg = hs;
}

static void tell_unrecorded(struct session *s)
{
	sess_out(s, "Error: the HSM cannot save its state, so it cannot count this login attempt; "
		    "the attempt is refused.");
}

/* Asks the PED for the role's keys and applies chapter 8's rules. */
int sim_authenticate(struct session *s, struct sim_hsm *hs, struct hsm_partition *p,
		     const struct role_info *ri);
int sim_authenticate(struct session *s, struct sim_hsm *hs, struct hsm_partition *p,
		     const struct role_info *ri)
{
	struct hsm_role_state *rs = hsm_role_state_of(&hs->h, p, ri->role);
	struct ped_app_splits sp;
	struct hsm_login_result res;
	struct hsm_store st;
	int r;

	if (!rs || !rs->cred.set) {
		sess_out(s, "Error: role %s is not initialized", ri->name);
		return PED_E_USER_NOT_LOGGED_IN;
	}
	if (rs->locked)
		return PED_E_PIN_LOCKED;
	sess_out(s, "Please attend to the PED.");
	if (ri->role == HSM_ROLE_SO) {
		uint32_t left = HSM_SO_MAX_FAILURES - hs->h.so.failures;
		sess_out(s, "Caution: You have only %u so login attempts left. If you fail %u", left, left);
		sess_out(s, "more consecutive login attempts (i.e. with no successful");
		sess_out(s, "logins in between) the HSM will be ZEROIZED!!!");
	}
	memset(&sp, 0, sizeof(sp));
	char pname[HSM_LABEL_MAX + 1] = "";
	uint8_t keyset[16];
	if (p)
		memcpy(pname, p->name, sizeof(pname));
	memcpy(keyset, rs->cred.keyset_id, sizeof(keyset));
	if ((r = pedport_auth(s, hs, ri->key_type, ri->login_title, ri->prompt, ri->colour, &sp)) != PED_OK)
		goto out;
	/* The command lock may have been released while the PED was read. */
	if ((p && strcmp(pname, p->name)) || !rs->cred.set || memcmp(keyset, rs->cred.keyset_id, sizeof(keyset))) {
		sess_out(s, "Error: the role changed while the PED was being read; try again.");
		r = PED_E_CALLBACK_ERROR;
		goto out;
	}
	store_of(hs, &st);
	r = hsm_ped_login(&hs->h, p, ri->role, &sp, &st, &res);
	if (res.unrecorded)
		tell_unrecorded(s);
	if (res.hsm_zeroized)
		sess_out(s, "Too many failed HSM SO logins: the HSM has been ZEROIZED.");
	else if (res.partition_zeroized)
		sess_out(s, "Too many failed Partition SO logins: the partition has been ZEROIZED.");
	else if (res.locked)
		sess_out(s, "Too many failed logins: the role is locked.");
	if (res.partition_zeroized) {
		struct login *own = sim_login(s, hs);
		for (int i = 0; i < HSM_MAX_PARTITIONS; i++)
			if (&hs->h.partitions[i] == p) /* not a backup's partition still being made */
				own->po[i] = own->co[i] = own->cu[i] = 0;
	}
	if (res.hsm_zeroized || res.partition_zeroized)
		sim_logins_end(s, hs, !res.hsm_zeroized);
out:
	OPENSSL_cleanse(&sp, sizeof(sp));
	return r;
}

/* Either login will do: one error, naming both, only when neither is held. */
static int need_either(struct session *s, struct login *lg, enum hsm_role a, enum hsm_role b, int pi,
		       const char *who)
{
	if (*login_flag(lg, a, pi) || *login_flag(lg, b, pi))
		return PED_OK;
	sess_out(s, "Error: log in as %s first", who);
	return PED_E_USER_NOT_LOGGED_IN;
}

static int need_login(struct session *s, struct login *lg, enum hsm_role role, int pi, const char *who)
{
	return need_either(s, lg, role, role, pi, who);
}

static int cmd_role(struct session *s, int argc, char **argv)
{
	struct ped_opt o[] = {{.name = "name", .aliases = "n", .kind = PED_OPT_STRING, .help = "role: so po co cu au"},
			      {.name = "password", .aliases = "pwd p", .kind = PED_OPT_OPTIONAL, .help = "challenge secret"},
			      {.name = "challenge", .aliases = "c challengesecret", .kind = PED_OPT_STRING,
			       .help = "new challenge secret"},
			      {.name = NULL}};
	const struct role_info *ri;
	struct sim_hsm *hs;
	struct hsm_partition *p;
	struct login *lg;
	int pi = 0, r;

	if (argc < 2) {
		sess_out(s, "Usage: role init|login|logout|changepw|resetpw|createchallenge|deactivate -name R");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = parse(s, o, argc, argv, 2)) != PED_OK)
		return r;
	const char *verb = argv[1];
	if (!strcasecmp(verb, "logout") && !ped_opts_seen(o, "name")) {
		hs = current(s, &p, &pi);
		if (hs)
			memset(sim_login(s, hs), 0, sizeof(struct login));
		return PED_OK;
	}
	if (!ped_opts_seen(o, "name") || !(ri = role_named(ped_opts_str(o, "name", "")))) {
		sess_out(s, "Error: -name must be so, po, co, cu or au");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = role_target(s, ri, &hs, &p, &pi)) != PED_OK)
		return r;
	lg = sim_login(s, hs);
	struct hsm_role_state *rs = hsm_role_state_of(&hs->h, p, ri->role);

	if (!strcasecmp(verb, "login")) {
		if (!hs->h.initialized || (p && !p->initialized)) {
			sess_out(s, "Error: not initialized");
			return PED_E_USER_NOT_LOGGED_IN;
		}
		/* Activation (policy 22) with a challenge secret: the PED secret is
		 * cached at the first login; later logins need only the challenge. */
		int activation = hsm_activation_applies(p, ri->role);
		if (activation) {
			const char *ch = ped_opts_str(o, "password", ped_opts_str(o, "challenge", NULL));
			struct hsm_login_result res;
			struct hsm_store st;
			if (!ch) {
				sess_out(s, "Option -password was not supplied.  It is required.");
				return PED_E_ARGUMENTS_BAD;
			}
			store_of(hs, &st);
			r = hsm_challenge_login(&hs->h, p, ri->role, ch, strlen(ch), &st, &res);
			if (res.unrecorded)
				tell_unrecorded(s);
			if (res.locked)
				sess_out(s, "Too many failed logins: the role is locked.");
			if (r == PED_OK) {
				sess_out(s, "User is activated, PED is not required.");
				*login_flag(lg, ri->role, pi) = 1;
				return sim_save(hs);
			}
			if (r != HSM_CHALLENGE_NEEDS_PED)
				return r;
		}
		s->release_lock = 1;
		r = sim_authenticate(s, hs, p, ri);
		s->release_lock = 0;
		if (r != PED_OK)
			return r;
		/* Another session may have changed the HSM while the PED was read:
		 * the login counts against the credentials as they are now (which
		 * sim_authenticate checked), and policy 22 as it is now. */
		lg = sim_login(s, hs);
		activation = activation && hsm_activation_applies(p, ri->role);
		*login_flag(lg, ri->role, pi) = 1;
		if (activation) {
			hsm_activate(p, ri->role);
			sess_out(s, "Role %s activated: the PED key secret is cached%s.", ri->name,
				 p->allow_auto_activation ? " and survives a restart (auto-activation)" : "");
			return sim_save(hs);
		}
		return PED_OK;
	}
	if (!strcasecmp(verb, "logout")) {
		*login_flag(lg, ri->role, pi) = 0;
		return PED_OK;
	}
	if (!strcasecmp(verb, "init")) {
		if (ri->role == HSM_ROLE_SO || ri->role == HSM_ROLE_PO) {
			sess_out(s, "Error: the %s is set by %s init", ri->name, p ? "partition" : "hsm");
			return PED_E_ARGUMENTS_BAD;
		}
		if (ri->role == HSM_ROLE_AU && (r = need_login(s, lg, HSM_ROLE_SO, 0, "HSM SO")) != PED_OK)
			return r;
		if (ri->role == HSM_ROLE_CO && (r = need_login(s, lg, HSM_ROLE_PO, pi, "Partition SO")) != PED_OK)
			return r;
		if (ri->role == HSM_ROLE_CU && (r = need_login(s, lg, HSM_ROLE_CO, pi, "Crypto Officer")) != PED_OK)
			return r;
		/* over an existing CO this is a reset of its credential */
		if (ri->role == HSM_ROLE_CO && rs->cred.set && (r = may_replace_co(s, hs)) != PED_OK)
			return r;
		struct hsm_credential c;
		sess_out(s, "Please attend to the PED.");
		if ((r = new_credential(s, hs, ri->key_type, ri->set_title, ri->prompt, ri->colour, &c)) != PED_OK)
			return r;
		if (rs->cred.set) { /* a new keyset for a role in use: its sessions end */
			*login_flag(lg, ri->role, pi) = 0;
			sim_logins_end(s, hs, 1);
		}
		memset(rs, 0, sizeof(*rs));
		rs->cred = c;
		return sim_save(hs);
	}
	if (!strcasecmp(verb, "changepw")) {
		if ((r = need_login(s, lg, ri->role, pi, ri->name)) != PED_OK)
			return r;
		/* the old keyset first, then the new one */
		if ((r = sim_authenticate(s, hs, p, ri)) != PED_OK) {
			*login_flag(lg, ri->role, pi) = 0;
			return r;
		}
		struct hsm_credential c;
		if ((r = new_credential(s, hs, ri->key_type, ri->set_title, ri->prompt, ri->colour, &c)) != PED_OK)
			return r;
		rs->cred = c;
		rs->failures = 0;
		rs->activated = 0; /* the cached secret is the old keyset's */
		return sim_save(hs);
	}
	if (!strcasecmp(verb, "resetpw")) {
		if (ri->role != HSM_ROLE_CO && ri->role != HSM_ROLE_CU) {
			sess_out(s, "Error: resetpw applies to co and cu");
			return PED_E_ARGUMENTS_BAD;
		}
		if ((r = need_login(s, lg, ri->role == HSM_ROLE_CO ? HSM_ROLE_PO : HSM_ROLE_CO, pi,
				    ri->role == HSM_ROLE_CO ? "Partition SO" : "Crypto Officer")) != PED_OK)
			return r;
		if (ri->role == HSM_ROLE_CO && (r = may_replace_co(s, hs)) != PED_OK)
			return r;
		struct hsm_credential c;
		sess_out(s, "Please attend to the PED.");
		if ((r = new_credential(s, hs, ri->key_type, ri->set_title, ri->prompt, ri->colour, &c)) != PED_OK)
			return r;
		rs->cred = c;
		rs->failures = 0;
		rs->locked = 0;
		/* the cached secret would let the old challenge in without a key */
		rs->activated = 0;
		*login_flag(lg, ri->role, pi) = 0;
		sim_logins_end(s, hs, 1); /* whoever held the lost keyset's login */
		return sim_save(hs);
	}
	if (!strcasecmp(verb, "createchallenge")) {
		const char *ch = ped_opts_str(o, "challenge", ped_opts_str(o, "password", NULL));
		if (!p || (ri->role != HSM_ROLE_CO && ri->role != HSM_ROLE_CU)) {
			sess_out(s, "Error: challenges are for co and cu on a partition");
			return PED_E_ARGUMENTS_BAD;
		}
		if ((r = need_either(s, lg, ri->role == HSM_ROLE_CO ? HSM_ROLE_PO : HSM_ROLE_CO, ri->role, pi,
				       ri->role == HSM_ROLE_CO ? "Partition SO or Crypto Officer"
							       : "Crypto Officer or Crypto User")) != PED_OK)
			return r;
		if (!ch || strlen(ch) < 8 || strlen(ch) > 255 || ch[0] == ' ') {
			sess_out(s, "Error: a challenge secret is 8-255 characters, not starting with a space (-challenge)");
			return PED_E_ARGUMENTS_BAD;
		}
		hsm_verifier((const uint8_t *)ch, strlen(ch), rs->challenge_verifier);
		rs->challenge_set = 1;
		/* Set by the Partition SO (or the CO for the CU), the challenge is
		 * known to someone else: the role's next login needs its PED key. */
		if (!*login_flag(lg, ri->role, pi) && rs->activated) {
			rs->activated = 0;
			sess_out(s, "Role %s deactivated: its next login needs its PED key.", ri->name);
		}
		return sim_save(hs);
	}
	if (!strcasecmp(verb, "deactivate")) {
		/* CO and CU may deactivate their own or each other's role; the Partition SO both. */
		if (!p || (ri->role != HSM_ROLE_CO && ri->role != HSM_ROLE_CU)) {
			sess_out(s, "Error: activation applies to co and cu on a partition");
			return PED_E_ARGUMENTS_BAD;
		}
		if (!*login_flag(lg, HSM_ROLE_CO, pi) && !*login_flag(lg, HSM_ROLE_CU, pi) &&
		    (r = need_login(s, lg, HSM_ROLE_PO, pi, "Partition SO, Crypto Officer or Crypto User")) != PED_OK)
			return r;
		rs->activated = 0;
		*login_flag(lg, ri->role, pi) = 0;
		sess_out(s, "Role %s deactivated: the cached PED key secret is deleted.", ri->name);
		return sim_save(hs);
	}
	sess_out(s, "Error: unknown role command '%s'", verb);
	return PED_E_ARGUMENTS_BAD;
}

/* ---- partition ----------------------------------------------------------- */

static int cmd_partition(struct session *s, int argc, char **argv)
{
	struct hsm_partition *p;
	int pi = 0, r;
	struct sim_hsm *hs = current(s, &p, &pi);

	if (!hs)
		return PED_E_TOKEN_NOT_PRESENT;
	struct login *lg = sim_login(s, hs);
	if (argc >= 2 && !strcasecmp(argv[1], "archive"))
		return cmd_archive(s, argc, argv);
	if (argc >= 2 && !strcasecmp(argv[1], "create")) {
		struct ped_opt o[] = {{.name = "label", .aliases = "l partition par", .kind = PED_OPT_STRING, .help = "partition name"},
				      {.name = NULL}};
		char label[HSM_LABEL_MAX + 1];
		struct hsm_partition *np;
		if ((r = parse(s, o, argc, argv, 2)) != PED_OK)
			return r;
		if (p) {
			sess_out(s, "Error: partition create runs on the admin partition's slot");
			return PED_E_ARGUMENTS_BAD;
		}
		if ((r = need_login(s, lg, HSM_ROLE_SO, 0, "HSM SO")) != PED_OK)
			return r;
		if ((r = take_label(s, ped_opts_str(o, "label", "partition"), label, 1)) != PED_OK)
			return r;
		if ((r = hsm_partition_create(&hs->h, label, &np)) != PED_OK) {
			sess_out(s, "Error: %s", r == PED_E_EXISTS ? "a partition with that name exists" : "no room for another partition");
			return r;
		}
		if ((r = sim_save(hs)) != PED_OK)
			return r;
		sess_out(s, "New partition created in slot %d.", hs->base_slot + (int)hs->h.npartitions);
		return PED_OK;
	}
	if (!p) {
		sess_out(s, "Error: select an application partition's slot first");
		return PED_E_ARGUMENTS_BAD;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "init")) {
		struct ped_opt o[] = {{.name = "label", .aliases = "l", .kind = PED_OPT_STRING, .help = "partition label"},
				      {.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no confirmation"},
				      {.name = NULL}};
		char label[HSM_LABEL_MAX + 1];
		struct hsm_credential po, dom;
		if ((r = parse(s, o, argc, argv, 2)) != PED_OK)
			return r;
		if ((r = take_label(s, ped_opts_str(o, "label", p->name), label, 1)) != PED_OK)
			return r;
		if (p->initialized && (r = need_login(s, lg, HSM_ROLE_PO, pi, "Partition SO")) != PED_OK)
			return r;
		sess_out(s, "Please attend to the PED.");
		if ((r = new_credential(s, hs, PED_KEY_SO, "SETTING PO PIN...", "Partition SO", "BLUE", &po)) != PED_OK ||
		    (r = new_credential(s, hs, PED_KEY_DOMAIN, "SETTING DOMAIN...", "Domain", "RED", &dom)) != PED_OK)
			return r;
		char name[HSM_LABEL_MAX + 1];
		memcpy(name, p->name, sizeof(name));
		hsm_zeroize_partition(p);
		memcpy(p->name, name, sizeof(name));
		p->po.cred = po;
		p->domain = dom;
		snprintf(p->label, sizeof(p->label), "%s", label);
		p->initialized = 1;
		lg->po[pi] = lg->co[pi] = lg->cu[pi] = 0;
		sim_logins_end(s, hs, 1);
		if ((r = sim_save(hs)) != PED_OK)
			return r;
		sess_out(s, "Partition initialized.");
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "changepolicy")) {
		struct ped_opt o[] = {{.name = "policy", .kind = PED_OPT_INT, .min = 0, .max = 1000, .help = "policy number"},
				      {.name = "value", .kind = PED_OPT_INT, .min = 0, .max = 1000000, .help = "new value"},
				      {.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no confirmation"},
				      {.name = NULL}};
		if ((r = parse(s, o, argc, argv, 2)) != PED_OK)
			return r;
		if (!ped_opts_seen(o, "policy") || !ped_opts_seen(o, "value")) {
			sess_out(s, "Error: -policy and -value are required");
			return PED_E_ARGUMENTS_BAD;
		}
		if ((r = need_login(s, lg, HSM_ROLE_PO, pi, "Partition SO")) != PED_OK)
			return r;
		uint32_t policy = (uint32_t)ped_opts_num(o, "policy", 0), value = (uint32_t)ped_opts_num(o, "value", 0);
		uint32_t erased = hsm_partition_policy_erases(p, policy, value);
		if (erased && !ped_opts_seen(o, "force")) {
			sess_out(s, "CAUTION: turning on partition policy 15 erases all %u objects of this partition. "
				    "Give -force to proceed.", erased);
			return PED_E_ARGUMENTS_BAD;
		}
		r = hsm_partition_set_policy(p, policy, value);
		if (r != PED_OK) {
			sess_out(s, "Error: %s", r == PED_E_RANGE ? "value out of range for this policy" : "no such policy (15, 20, 22, 23)");
			return PED_E_ARGUMENTS_BAD;
		}
		if ((r = sim_save(hs)) != PED_OK)
			return r;
		if (erased)
			sess_out(s, "All %u objects of the partition were erased.", erased);
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "showpolicies")) {
		sess_out(s, "15: Ignore failed challenge responses : %u", p->ignore_failed_challenges);
		sess_out(s, "20: Max failed user logins allowed : %u", p->max_failed_user_logins);
		sess_out(s, "22: Allow activation : %u", p->allow_activation);
		sess_out(s, "23: Allow auto-activation : %u", p->allow_auto_activation);
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "contents")) {
		if ((r = need_either(s, lg, HSM_ROLE_CO, HSM_ROLE_CU, pi, "Crypto Officer or Crypto User")) != PED_OK)
			return r;
		sess_out(s, "The '%s' is currently logged in. Looking for objects accessible to them.",
			 *login_flag(lg, HSM_ROLE_CO, pi) ? "Crypto Officer" : "Crypto User");
		for (uint32_t i = 0; i < p->nobjects; i++)
			sess_out(s, "Object Label: %s  Handle: %llu", p->objects[i].label,
				 (unsigned long long)p->objects[i].handle);
		sess_out(s, "Number of objects: %u", p->nobjects);
		return PED_OK;
	}
	sess_out(s, "Usage: partition create|init|changepolicy|showpolicies|contents|archive ...");
	return PED_E_ARGUMENTS_BAD;
}

/* ---- object (just enough to have something to back up) ------------------- */

static int cmd_object(struct session *s, int argc, char **argv)
{
	struct ped_opt o[] = {{.name = "label", .aliases = "l", .kind = PED_OPT_STRING, .help = "object label"},
			      {.name = "value", .kind = PED_OPT_STRING, .help = "object value (text)"},
			      {.name = NULL}};
	struct hsm_partition *p;
	int pi = 0, r;
	struct sim_hsm *hs = current(s, &p, &pi);

	if (!hs || !p) {
		sess_out(s, "Error: select an application partition's slot first");
		return PED_E_ARGUMENTS_BAD;
	}
	if (argc < 2 || strcasecmp(argv[1], "create")) {
		sess_out(s, "Usage: object create -label L [-value TEXT]");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = parse(s, o, argc, argv, 2)) != PED_OK)
		return r;
	if ((r = need_login(s, sim_login(s, hs), HSM_ROLE_CO, pi, "Crypto Officer")) != PED_OK)
		return r;
	char label[HSM_LABEL_MAX + 1];
	if ((r = take_label(s, ped_opts_str(o, "label", "object"), label, 0)) != PED_OK)
		return r;
	uint64_t handle = 1;
	for (uint32_t i = 0; i < p->nobjects; i++)
		if (p->objects[i].handle >= handle)
			handle = p->objects[i].handle + 1;
	struct hsm_object *ob;
	if ((r = hsm_object_add(p, &ob)) != PED_OK) {
		sess_out(s, "Error: %s", r == PED_E_RANGE ? "the partition holds its maximum of objects" : ped_strerror(r));
		return r;
	}
	ob->handle = handle;
	RAND_bytes((uint8_t *)&ob->ouid, sizeof(ob->ouid));
	snprintf(ob->label, sizeof(ob->label), "%s", label);
	const char *v = ped_opts_str(o, "value", NULL);
	if (v) {
		ob->len = strlen(v) > HSM_OBJECT_MAX ? HSM_OBJECT_MAX : strlen(v);
		memcpy(ob->value, v, ob->len);
	} else {
		ob->len = 32;
		RAND_bytes(ob->value, 32);
	}
	if ((r = sim_save(hs)) != PED_OK) {
		/* sim_save went back to the saved state: the object is gone */
		sess_out(s, "Error: the object was not created: the HSM state could not be saved (%s)", ped_strerror(r));
		return r;
	}
	sess_out(s, "Object created: handle %llu", (unsigned long long)handle);
	return PED_OK;
}

/* ---- ped ----------------------------------------------------------------- */

static int cmd_ped(struct session *s, int argc, char **argv)
{
	struct ped_opt o[] = {{.name = "ip", .aliases = "i", .kind = PED_OPT_STRING, .help = "pedserver address"},
			      {.name = "port", .aliases = "p", .kind = PED_OPT_INT, .min = 1, .max = 65535, .help = "pedserver port"},
			      {.name = "slot", .aliases = "s", .kind = PED_OPT_INT, .min = 0, .max = 100000, .help = "slot"},
			      {.name = "password", .aliases = "pwd", .kind = PED_OPT_OPTIONAL, .help = "one-time password"},
			      {.name = "wait", .kind = PED_OPT_FLAG, .help = "return once the session key is computed"},
			      {.name = NULL}};
	int r, first = argc >= 3 && !strcasecmp(argv[1], "vector") ? 3 : 2;
	if (argc < 2) {
		sess_out(s, "Usage: ped connect|disconnect|get|set|vector init");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = parse(s, o, argc, argv, first)) != PED_OK)
		return r;
	int slot = ped_opts_seen(o, "slot") ? (int)ped_opts_num(o, "slot", 0) : s->slot;
	struct hsm_partition *p;
	struct sim_hsm *hs = sim_slot(s->sim, slot, &p, NULL);
	if (!hs) {
		sess_out(s, "Error: no slot %d", slot);
		return PED_E_TOKEN_NOT_PRESENT;
	}
	if (!strcasecmp(argv[1], "get")) {
		char what[160];
		int remote = pedport_describe(hs, what, sizeof(what));
		/* the reference's words: PED id 0 is the local PED, 100 the Remote PED */
		sess_out(s, "HSM slot %d listening to %s PED (PED id=%d).", slot, remote ? "remote" : "local",
			 remote ? 100 : 0);
		sess_out(s, "%s", what);
		if (hs->h.ped_ip[0] || hs->h.ped_port)
			sess_out(s, "Default Remote PED server (ped set): %s:%d", hs->h.ped_ip[0] ? hs->h.ped_ip : "(PED id)",
				 hs->h.ped_port ? hs->h.ped_port : 1503);
		return PED_OK;
	}
	if (!strcasecmp(argv[1], "set")) {
		/* Defaults for ped connect, kept in the HSM's state across restarts. */
		const char *ip = ped_opts_str(o, "ip", "");
		if (!ped_opts_seen(o, "ip") && !ped_opts_seen(o, "port")) {
			sess_out(s, "Error: give -ip and/or -port");
			return PED_E_ARGUMENTS_BAD;
		}
		if (ped_opts_seen(o, "ip") && strlen(ip) > HSM_PED_HOST_MAX) {
			sess_out(s, "Error: the address is longer than %d characters", HSM_PED_HOST_MAX);
			return PED_E_ARGUMENTS_BAD;
		}
		if (ped_opts_seen(o, "ip"))
			snprintf(hs->h.ped_ip, sizeof(hs->h.ped_ip), "%s", ip);
		if (ped_opts_seen(o, "port"))
			hs->h.ped_port = (uint16_t)ped_opts_num(o, "port", 1503);
		return sim_save(hs); /* on failure the HSM is back to its saved state */
	}
	if (!strcasecmp(argv[1], "vector") && first == 3 && !strcasecmp(argv[2], "init")) {
		/* A zeroized HSM has no SO yet: remote RPV initialization happens then. */
		if (hs->h.initialized && (r = need_login(s, sim_login(s, hs), HSM_ROLE_SO, 0, "HSM SO")) != PED_OK)
			return r;
		struct hsm_credential c;
		uint8_t secret[HSM_SECRET_LEN];
		struct ped_app_created info;
		sess_out(s, "Please attend to the PED.");
		r = pedport_create_rpv(s, hs, secret, &info);
		if (r == PED_OK) {
			hsm_credential_set(&c, secret, sizeof(secret), info.m, info.n, info.keyset_id);
			memcpy(hs->h.rpv, secret, sizeof(secret));
			hs->h.rpv_set = 1;
			/* A reused orange keyset carries another HSM's RPV static key: 1e1s then. */
			hs->h.rpv_2e2s = !info.reused;
			r = sim_save(hs);
		}
		OPENSSL_cleanse(secret, sizeof(secret));
		/* "the HSM establishes a Remote PED connection using the newly-created RPV".
		 * The RPV is saved either way: a session that cannot be keyed again
		 * is the next PED operation's error (CKR_PED_UNPLUGGED), not this one's. */
		if (r == PED_OK)
			(void)pedport_remote_rekey(s, hs);
		return r;
	}
	if (!strcasecmp(argv[1], "connect")) {
		char pw[9] = "";
		const char *otp = NULL;
		if (ped_opts_seen(o, "password")) {
			/* The one-time password keys the session that initializes the RPV remotely. */
			if (hs->h.initialized || hs->h.rpv_set) {
				sess_out(s, "Error: -password is only for initializing the RPV of a zeroized HSM; "
					    "HSM %s %s.", hs->h.serial,
					 hs->h.rpv_set ? "already has an RPV: connect without -password"
						       : "is initialized");
				return PED_E_ARGUMENTS_BAD;
			}
			/* The HSM makes every password itself, a new one for each
			 * connect, good for one keying: an operator-chosen or reused
			 * one would be a secret someone may already know. */
			if (ped_opts_str(o, "password", NULL)) {
				sess_out(s, "Error: the HSM makes the one-time password itself, a new one for each "
					    "ped connect: give -password alone.");
				return PED_E_ARGUMENTS_BAD;
			}
			uint8_t rnd;
			/* bytes of 250 and over are drawn again: rnd % 10 is then uniform */
			for (int i = 0; i < 8;) {
				if (RAND_priv_bytes(&rnd, 1) != 1) {
					OPENSSL_cleanse(pw, sizeof(pw));
					return PED_E_CRYPTO;
				}
				if (rnd < 250)
					pw[i++] = (char)('0' + rnd % 10);
			}
			OPENSSL_cleanse(&rnd, sizeof(rnd));
			otp = pw;
		} else if (!hs->h.rpv_set) {
			sess_out(s, "Error: the Remote PED vector of HSM %s is not initialized. Initialize it with a "
				    "local PED (ped vector init), or connect with -password while the HSM is zeroized.",
				 hs->h.serial);
			return PED_E_ARGUMENTS_BAD;
		}
		const char *host = ped_opts_seen(o, "ip") ? ped_opts_str(o, "ip", "") : hs->h.ped_ip;
		int port = ped_opts_seen(o, "port") ? (int)ped_opts_num(o, "port", 1503)
			   : hs->h.ped_port ? hs->h.ped_port : 1503;
		if (otp) {
			/* What the operator checks on the PED before typing the
			 * password (a fake HSM cannot show this fingerprint), then the
			 * password, both before the PED asks: a failed connect has
			 * used its password up, and the next one prints a new one. */
			char fpr[PED_CERT_FPR_LEN + 1];
			if ((r = ped_cert_fingerprint(hs->h.hoc_cert, hs->h.hoc_cert_len, fpr)) != PED_OK) {
				OPENSSL_cleanse(pw, sizeof(pw));
				return r;
			}
			sess_out(s, "The PED shows the HSM's serial and HOC fingerprint: confirm them there, then type "
				    "the password.");
			sess_out(s, "HSM %s identity: HOC fingerprint %s", hs->h.serial, fpr);
			sess_out(s, "Please attend to the PED and enter following password: %s", pw);
		}
		r = pedport_remote_connect(s, hs, host, port, otp);
		if (r == PED_OK && !otp)
			sess_out(s, "Please attend to the PED: present the orange RPK to compute the session key.");
		OPENSSL_cleanse(pw, sizeof(pw));
		/* -wait (ours): scripts and benchmarks return once the channel is up */
		if (r == PED_OK && ped_opts_seen(o, "wait"))
			r = pedport_remote_wait(s, hs);
		return r;
	}
	if (!strcasecmp(argv[1], "disconnect")) {
		r = pedport_remote_disconnect(s->sim, hs);
		if (r == PED_E_PED_UNPLUGGED)
			sess_out(s, "Error: no Remote PED is connected to slot %d.", slot);
		else if (r == PED_E_BUSY)
			sess_out(s, "Error: the Remote PED is in use; try again when the operation ends.");
		else
			sess_out(s, "Remote PED connection closed.");
		return r;
	}
	sess_out(s, "Error: unknown ped command '%s'", argv[1]);
	return PED_E_ARGUMENTS_BAD;
}

static int dispatch(struct session *s, int argc, char **argv)
{
	if (argc == 0)
		return PED_OK;
	if (!strcasecmp(argv[0], "slot"))
		return cmd_slot(s, argc, argv);
	if (!strcasecmp(argv[0], "hsm"))
		return cmd_hsm(s, argc, argv);
	if (!strcasecmp(argv[0], "role"))
		return cmd_role(s, argc, argv);
	if (!strcasecmp(argv[0], "partition") || !strcasecmp(argv[0], "par"))
		return cmd_partition(s, argc, argv);
	if (!strcasecmp(argv[0], "object"))
		return cmd_object(s, argc, argv);
	if (!strcasecmp(argv[0], "ped"))
		return cmd_ped(s, argc, argv);
	sess_out(s, "Error: unknown command '%s' (slot, hsm, role, partition, object, ped)", argv[0]);
	return PED_E_ARGUMENTS_BAD;
}

int sim_command(struct session *s, const char *line)
{
	char buf[HSM_CTL_LINE_MAX + 1];
	char *argv[MAX_ARGS];
	int argc, r;

	snprintf(buf, sizeof(buf), "%s", line);
	argc = hsm_ctl_split_words(buf, argv, MAX_ARGS);
	if (argc < 0) {
		sess_out(s, "Error: too many words");
		r = PED_E_ARGUMENTS_BAD;
	} else {
		r = dispatch(s, argc, argv);
	}
	OPENSSL_cleanse(buf, sizeof(buf)); /* the line may carry -password or -challenge */
	return r;
}

const struct role_info *sim_role(const char *name);
const struct role_info *sim_role(const char *name)
{
	return role_named(name);
}
