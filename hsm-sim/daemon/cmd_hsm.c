/* hsm init | zeroize | showinfo | showpolicies | changepolicy (chapter 8). */
#include "command.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The HSM policies this HSM has (the reference's numbers and names). */
static const struct {
	uint32_t number;
	const char *name;
} hsm_policies[] = {
	{HSM_HPOLICY_ALLOW_CLONING, "Allow cloning"},
	{HSM_HPOLICY_SO_RESETS_PARTITION_PIN, "Enable SO reset of partition PIN"},
	{HSM_HPOLICY_NETWORK_REPLICATION, "Allow network replication"},
	{HSM_HPOLICY_FORCE_PIN_CHANGE, "Force user PIN change after set/reset"},
	{HSM_HPOLICY_RESTRICTED_RESTORE, "Enable Restricted Restore"},
};

static const char *policy_name(uint32_t number)
{
	for (size_t i = 0; i < sizeof(hsm_policies) / sizeof(hsm_policies[0]); i++)
		if (hsm_policies[i].number == number)
			return hsm_policies[i].name;
	return NULL;
}

static int cmd_hsm(struct cmd_ctx *c, int argc, char **argv)
{
	struct hsm_partition *p;
	struct sim_hsm *hs = cmd_current(c, &p, NULL);
	struct sim_login *lg;
	int r;

	if (!hs)
		return PED_E_TOKEN_NOT_PRESENT;
	lg = sim_login(c->who.logins, hs);
	if (argc >= 2 && !strcasecmp(argv[1], "init")) {
		struct ped_opt o[] = {{.name = "label", .aliases = "l", .kind = PED_OPT_STRING, .help = "HSM label"},
				      {.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no confirmation"},
				      /* the reference's ways to ask for a PED: ours always uses one */
				      {.name = "iped", .kind = PED_OPT_FLAG, .help = "initialize with the PED (always)"},
				      {.name = "initwithped", .kind = PED_OPT_FLAG, .help = "the same as -iped"},
				      {.name = NULL}};
		char label[HSM_LABEL_MAX + 1];
		struct hsm_credential so, dom;
		if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
			return r;
		if (p) {
			cmd_out(c, "Error: hsm init runs on the admin partition's slot");
			return PED_E_ARGUMENTS_BAD;
		}
		if (!ped_opts_seen(o, "label")) {
			cmd_out(c, "Error: -label is required");
			return PED_E_ARGUMENTS_BAD;
		}
		if ((r = cmd_label(c, ped_opts_str(o, "label", ""), label, 0)) != PED_OK)
			return r;
		if (hs->h.initialized && !lg->so) {
			cmd_out(c, "Error: the HSM is initialized; log in as HSM SO to re-initialize it");
			return PED_E_USER_NOT_LOGGED_IN;
		}
		if (hs->h.initialized && (r = cmd_save_before_keys(c, hs)) != PED_OK)
			return r;
		memset(&so, 0, sizeof(so));
		memset(&dom, 0, sizeof(dom));
		cmd_out(c, "Please attend to the PED.");
		if ((r = auth_new_credential(&c->who, hs, PED_KEY_SO, "SETTING SO PIN...", "SO / HSM Admin", "BLUE", &so)) != PED_OK)
			return r;
		uint8_t dkey[HSM_KEY_LEN];
		if ((r = auth_new_domain(&c->who, hs, &dom, dkey)) != PED_OK) {
			/* The blue keys already hold the new SO keyset, often written
			 * over the SO's own: an initialized HSM keeping its old SO
			 * secret would leave no key that opens the role (and no way
			 * back but hsm zeroize). It takes the new SO keyset, as role
			 * changepw would, and nothing else changes. */
			if (hs->h.initialized) {
				hs->h.so.cred = so;
				hs->h.so.failures = 0;
				int sr = sim_save(hs);
				cmd_out(c, "Error: the domain was not set: the HSM is not re-initialized. %s",
					sr == PED_OK ? "The SO logs in with the new blue keyset of this init from now on."
						     : "The SO's new keyset could not be saved.");
			}
			OPENSSL_cleanse(&so, sizeof(so));
			return r;
		}
		/* a soft init: the Auditor and its log stay (hsm zeroize takes them) */
		if (hs->h.initialized)
			hsm_reinit(&hs->h);
		hs->h.so.cred = so;
		hs->h.so.failures = 0;
		hs->h.domain = dom;
		memcpy(hs->h.domain_key, dkey, sizeof(dkey));
		hs->h.domain_key_set = 1;
		OPENSSL_cleanse(dkey, sizeof(dkey));
		snprintf(hs->h.label, sizeof(hs->h.label), "%s", label);
		hs->h.initialized = 1;
		sim_logins_end(c->who.logins, hs, 0);
		if ((r = sim_save(hs)) != PED_OK)
			return r;
		cmd_out(c, "Successfully initialized the HSM.");
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "zeroize")) {
		/* As the reference: no login (whoever reaches the HSM can destroy
		 * its contents, never read them; a lost SO key must not keep the
		 * HSM from being zeroized), a confirmation unless -force. */
		struct ped_opt o[] = {{.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no confirmation"},
				      {.name = NULL}};
		if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
			return r == 1 ? PED_OK : r;
		cmd_out(c, "You are about to zeroize HSM %s. All partitions and their contents, the HSM SO, the "
			   "Auditor and the audit log secret, the domain and the Remote PED vector will be erased; "
			   "the policies return to their defaults.",
			hs->h.serial);
		if ((r = cmd_confirm(c, ped_opts_seen(o, "force"), "hsm zeroize")) != PED_OK)
			return r;
		/* the lock was given back while the operator answered: the HSM is
		 * still the slot's (an HSM never leaves its slots) */
		hsm_zeroize(&hs->h);
		sim_logins_end(c->who.logins, hs, 0);
		if ((r = sim_save(hs)) != PED_OK)
			return r;
		cmd_out(c, "The HSM was successfully zeroized.");
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "showinfo")) {
		/* the reference's lines, then ours (scripts read both) */
		cmd_out(c, "HSM Label -> %s", hs->h.label[0] ? hs->h.label : "(uninitialized)");
		cmd_out(c, "HSM Manufacturer -> OpenPED");
		cmd_out(c, "HSM Model -> OpenPED HSM simulator %s%s", PED_VERSION, hs->h.is_backup ? " (backup HSM)" : "");
		cmd_out(c, "HSM Firmware Version -> %s", PED_VERSION);
		cmd_out(c, "HSM Status -> %s", hs->h.initialized ? "OK" : "Zeroized");
		cmd_out(c, "Slot Id -> %d", hs->base_slot);
		cmd_out(c, "Role Status -> %s", lg->so ? "HSM SO logged in" : "none logged in");
		cmd_out(c, "RPV Initialized -> %s", hs->h.rpv_set ? "Yes" : "No");
		cmd_out(c, "Audit Role Initialized -> %s", hs->h.au.cred.set ? "Yes" : "No");
		cmd_out(c, "Label -> %s", hs->h.label);
		cmd_out(c, "Serial Number -> %s", hs->h.serial);
		cmd_out(c, "HSM Initialized -> %s", hs->h.initialized ? "yes" : "no (zeroized)");
		cmd_out(c, "SO failed logins -> %u of %u", hs->h.so.failures, HSM_SO_MAX_FAILURES);
		cmd_out(c, "Remote PED vector -> %s", hs->h.rpv_set ? "initialized" : "not initialized");
		cmd_out(c, "Partitions -> %u", hs->h.npartitions);
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "showpolicies")) {
		cmd_out(c, "HSM policies:");
		for (size_t i = 0; i < sizeof(hsm_policies) / sizeof(hsm_policies[0]); i++) {
			int v = hsm_policy_value(&hs->h, hsm_policies[i].number);
			if (v >= 0)
				cmd_out(c, "  %u: %s -> %d", hsm_policies[i].number, hsm_policies[i].name, v);
		}
		return PED_OK;
	}
	/* changehsmpolicy: lunacm's name (chapter 12); changepolicy: lunash's */
	if (argc >= 2 && (!strcasecmp(argv[1], "changepolicy") || !strcasecmp(argv[1], "changehsmpolicy"))) {
		struct ped_opt o[] = {{.name = "policy", .aliases = "p", .kind = PED_OPT_INT, .min = 0, .max = 255, .help = "policy number"},
				      {.name = "value", .aliases = "v", .kind = PED_OPT_INT, .min = 0, .max = 1, .help = "0 or 1"},
				      {.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no confirmation"},
				      {.name = NULL}};
		if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
			return r == 1 ? PED_OK : r;
		if (!ped_opts_seen(o, "policy") || !ped_opts_seen(o, "value")) {
			cmd_out(c, "Error: give -policy N and -value 0|1");
			return PED_E_ARGUMENTS_BAD;
		}
		uint32_t num = (uint32_t)ped_opts_num(o, "policy", 0), v = (uint32_t)ped_opts_num(o, "value", 0);
		const char *name = policy_name(num);
		/* chapter 12: policy 12 "does not apply to the Luna Backup HSM 7.
		 * Attempts to change this policy will fail with the error CKR_CANCEL" */
		int not_on_backup = num == HSM_HPOLICY_NON_FIPS && hs->h.is_backup;
		if (!name && !not_on_backup) {
			cmd_out(c, "Error: HSM policy %u is not one this HSM has (7, 15, 16, 21, and 55 on a backup HSM)", num);
			return PED_E_ARGUMENTS_BAD;
		}
		if (p) {
			cmd_out(c, "Error: HSM policies are changed on the admin partition's slot");
			return PED_E_ARGUMENTS_BAD;
		}
		if ((r = auth_need(&c->who, lg, HSM_ROLE_SO, 0, "HSM SO")) != PED_OK)
			return r;
		if (not_on_backup) {
			cmd_out(c, "Error: HSM policy %u (Allow non-FIPS algorithms) does not apply to a backup HSM.", num);
			return PED_E_CANCEL;
		}
		if (hsm_policy_value(&hs->h, num) < 0) {
			/* the reference: a policy that does not apply "will fail with the error CKR_CANCEL" */
			cmd_out(c, "Error: HSM policy %u (%s) applies to backup HSMs only.", num, name);
			return PED_E_CANCEL;
		}
		if ((uint32_t)hsm_policy_value(&hs->h, num) == v) {
			cmd_out(c, "HSM policy %u is already %u.", num, v);
			return PED_OK;
		}
		/* Destructive: "All partitions on the HSM and their contents will be erased." */
		if (hsm_policy_erases(&hs->h, num, v)) {
			if (!ped_opts_seen(o, "force")) {
				cmd_out(c, "CAUTION: turning %s HSM policy %u erases all %u partitions of this HSM and "
					    "their contents. Give -force to proceed.", v ? "on" : "off", num, hs->h.npartitions);
				return PED_E_ARGUMENTS_BAD;
			}
			memset(lg->po, 0, sizeof(lg->po));
			memset(lg->co, 0, sizeof(lg->co));
			memset(lg->cu, 0, sizeof(lg->cu));
			sim_logins_end(c->who.logins, hs, 1);
			cmd_out(c, "All partitions and their contents were erased.");
		}
		if ((r = hsm_set_policy(&hs->h, num, v)) != PED_OK)
			return r;
		if ((r = sim_save(hs)) != PED_OK)
			return r;
		cmd_out(c, "HSM policy %u (%s) is now %u.", num, name, v);
		return PED_OK;
	}
	cmd_out(c, "Usage: hsm init -label L | hsm zeroize [-force] | hsm showinfo | hsm showpolicies | "
		    "hsm changehsmpolicy -policy N -value 0|1 [-force]");
	return PED_E_ARGUMENTS_BAD;
}


SIM_COMMAND_VERBS(hsm, "hsm", NULL, NULL, 1, cmd_hsm, "init zeroize showinfo showpolicies changepolicy changehsmpolicy")
