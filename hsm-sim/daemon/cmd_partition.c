/* partition create | init | changepolicy | showpolicies | contents (chapter 8;
 * partition archive is cmd_archive.c). */
#include "command.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdio.h>

#include <string.h>
#include <strings.h>

/* Re-initializing an initialized partition (chapter 6): the objects and the
 * Crypto Officer and Crypto User go, the Partition SO's credential and the
 * cloning domain stay, and the PED asks for the current Partition SO key
 * (a login, counted as one) rather than writing new blue and red keys. */
static int reinit(struct cmd_ctx *c, struct sim_hsm *hs, struct hsm_partition *p, int pi, struct ped_opt *o)
{
	char label[HSM_LABEL_MAX + 1], name[HSM_LABEL_MAX + 1];
	int r;

	if (!ped_opts_seen(o, "label")) {
		cmd_out(c, "Error: give the partition's label (the same or a new one): -label L");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = cmd_label(c, ped_opts_str(o, "label", ""), label, 1)) != PED_OK)
		return r;
	memcpy(name, p->name, sizeof(name));
	cmd_out(c, "You are about to re-initialize partition %s. All its objects, and its Crypto Officer and "
		   "Crypto User, will be erased; its Partition SO and cloning domain stay.", p->label[0] ? p->label : name);
	if ((r = cmd_confirm(c, ped_opts_seen(o, "force"), "partition init")) != PED_OK)
		return r;
	/* the lock was given back while the operator answered: the slot again */
	struct sim_hsm *again = cmd_current(c, &p, &pi);
	if (again != hs || !p || strcmp(p->name, name) || !p->initialized) {
		cmd_out(c, "Error: the partition changed meanwhile; nothing was done.");
		return PED_E_ARGUMENTS_BAD;
	}
	/* "You are prompted for the current Partition SO credential." */
	if ((r = auth_ped_login(&c->who, hs, p, auth_role("po"), NULL)) != PED_OK)
		return r;
	if (!p->initialized) /* that login zeroized it: too many failures */
		return PED_E_PIN_INCORRECT;
	hsm_partition_clear_objects(p);
	OPENSSL_cleanse(&p->co, sizeof(p->co));
	OPENSSL_cleanse(&p->cu, sizeof(p->cu));
	snprintf(p->label, sizeof(p->label), "%s", label);
	struct sim_login *lg = sim_login(c->who.logins, hs);
	lg->co[pi] = lg->cu[pi] = 0;
	sim_logins_end(c->who.logins, hs, 1); /* whoever was the CO or CU elsewhere */
	if ((r = sim_save(hs)) != PED_OK)
		return r;
	cmd_out(c, "Partition re-initialized: the Partition SO and the cloning domain are kept.");
	return PED_OK;
}

static int cmd_partition(struct cmd_ctx *c, int argc, char **argv)
{
	struct hsm_partition *p;
	int pi = 0, r;
	struct sim_hsm *hs = cmd_current(c, &p, &pi);

	if (!hs)
		return PED_E_TOKEN_NOT_PRESENT;
	struct sim_login *lg = sim_login(c->who.logins, hs);
	if (argc >= 2 && !strcasecmp(argv[1], "create")) {
		struct ped_opt o[] = {{.name = "label", .aliases = "l partition par", .kind = PED_OPT_STRING, .help = "partition name"},
				      {.name = NULL}};
		char label[HSM_LABEL_MAX + 1];
		struct hsm_partition *np;
		if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
			return r;
		if (p) {
			cmd_out(c, "Error: partition create runs on the admin partition's slot");
			return PED_E_ARGUMENTS_BAD;
		}
		if ((r = auth_need(&c->who, lg, HSM_ROLE_SO, 0, "HSM SO")) != PED_OK)
			return r;
		if ((r = cmd_label(c, ped_opts_str(o, "label", "partition"), label, 1)) != PED_OK)
			return r;
		if ((r = hsm_partition_create(&hs->h, label, &np)) != PED_OK) {
			cmd_out(c, "Error: %s", r == PED_E_EXISTS ? "a partition with that name exists" : "no room for another partition");
			return r;
		}
		if ((r = sim_save(hs)) != PED_OK)
			return r;
		cmd_out(c, "New partition created in slot %d.", hs->base_slot + (int)hs->h.npartitions);
		return PED_OK;
	}
	if (!p) {
		cmd_out(c, "Error: select an application partition's slot first");
		return PED_E_ARGUMENTS_BAD;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "init")) {
		struct ped_opt o[] = {{.name = "label", .aliases = "l", .kind = PED_OPT_STRING, .help = "partition label"},
				      {.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no confirmation"},
				      {.name = NULL}};
		char label[HSM_LABEL_MAX + 1], name[HSM_LABEL_MAX + 1];
		struct hsm_credential po, dom;
		if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
			return r == 1 ? PED_OK : r;
		if (p->initialized)
			return reinit(c, hs, p, pi, o);
		if ((r = cmd_label(c, ped_opts_str(o, "label", p->name), label, 1)) != PED_OK)
			return r;
		cmd_out(c, "Please attend to the PED.");
		if ((r = auth_new_credential(&c->who, hs, PED_KEY_SO, "SETTING PO PIN...", "Partition SO", "BLUE", &po)) != PED_OK ||
		    (r = auth_new_credential(&c->who, hs, PED_KEY_DOMAIN, "SETTING DOMAIN...", "Domain", "RED", &dom)) != PED_OK)
			return r;
		memcpy(name, p->name, sizeof(name));
		hsm_zeroize_partition(p);
		memcpy(p->name, name, sizeof(name));
		p->po.cred = po;
		p->domain = dom;
		snprintf(p->label, sizeof(p->label), "%s", label);
		p->initialized = 1;
		lg->po[pi] = lg->co[pi] = lg->cu[pi] = 0;
		sim_logins_end(c->who.logins, hs, 1);
		if ((r = sim_save(hs)) != PED_OK)
			return r;
		cmd_out(c, "Partition initialized.");
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "changepolicy")) {
		struct ped_opt o[] = {{.name = "policy", .kind = PED_OPT_INT, .min = 0, .max = 1000, .help = "policy number"},
				      {.name = "value", .kind = PED_OPT_INT, .min = 0, .max = 1000000, .help = "new value"},
				      {.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no confirmation"},
				      {.name = NULL}};
		if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
			return r;
		if (!ped_opts_seen(o, "policy") || !ped_opts_seen(o, "value")) {
			cmd_out(c, "Error: -policy and -value are required");
			return PED_E_ARGUMENTS_BAD;
		}
		if ((r = auth_need(&c->who, lg, HSM_ROLE_PO, pi, "Partition SO")) != PED_OK)
			return r;
		uint32_t policy = (uint32_t)ped_opts_num(o, "policy", 0), value = (uint32_t)ped_opts_num(o, "value", 0);
		uint32_t erased = hsm_partition_policy_erases(p, policy, value);
		if (erased && !ped_opts_seen(o, "force")) {
			cmd_out(c, "CAUTION: turning on partition policy 15 erases all %u objects of this partition. "
				    "Give -force to proceed.", erased);
			return PED_E_ARGUMENTS_BAD;
		}
		r = hsm_partition_set_policy(p, policy, value);
		if (r != PED_OK) {
			cmd_out(c, "Error: %s", r == PED_E_RANGE ? "value out of range for this policy" : "no such policy (15, 20, 22, 23, 25, 26)");
			return PED_E_ARGUMENTS_BAD;
		}
		if ((r = sim_save(hs)) != PED_OK)
			return r;
		if (erased)
			cmd_out(c, "All %u objects of the partition were erased.", erased);
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "showpolicies")) {
		cmd_out(c, "15: Ignore failed challenge responses : %u", p->ignore_failed_challenges);
		cmd_out(c, "20: Max failed user logins allowed : %u", p->max_failed_user_logins);
		cmd_out(c, "22: Allow activation : %u", p->allow_activation);
		cmd_out(c, "23: Allow auto-activation : %u", p->allow_auto_activation);
		cmd_out(c, "25: Minimum PIN length (inverted: 255 minus min length) : %u", p->min_pin_policy);
		cmd_out(c, "26: Maximum PIN length : %u", p->max_pin_length);
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "contents")) {
		if ((r = auth_need_either(&c->who, lg, HSM_ROLE_CO, HSM_ROLE_CU, pi, "Crypto Officer or Crypto User")) != PED_OK)
			return r;
		cmd_out(c, "The '%s' is currently logged in. Looking for objects accessible to them.",
			 *auth_login_flag(lg, HSM_ROLE_CO, pi) == AUTH_LOGGED_IN ? "Crypto Officer" : "Crypto User");
		for (uint32_t i = 0; i < p->nobjects; i++)
			cmd_out(c, "Object Label: %s  Handle: %llu", p->objects[i].label,
				 (unsigned long long)p->objects[i].handle);
		cmd_out(c, "Number of objects: %u", p->nobjects);
		return PED_OK;
	}
	cmd_out(c, "Usage: partition create|init|changepolicy|showpolicies|contents|archive ...");
	return PED_E_ARGUMENTS_BAD;
}

SIM_COMMAND_VERBS(partition, "partition", "par", NULL, 3, cmd_partition, "create init changepolicy showpolicies contents")
