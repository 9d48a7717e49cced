/* partition create | init | changepolicy | showpolicies | contents (chapter 8;
 * partition archive is cmd_archive.c). */
#include "command.h"

#include "hsm/template.h"
#include "ped/error.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>

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
	/* a partition from before state version 8: its red key gives the cloning key */
	if ((r = cmd_cloning_key(c, hs, p)) != PED_OK)
		return r;
	hsm_part_obj_clear(p);
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

/* partition delete (the HSM SO, on the admin slot): the lost Partition SO
 * key procedure's "Have the HSM SO delete the partition" (chapter 5). The
 * partitions after it move down a slot, as the reference renumbers slots. */
static int delete_partition(struct cmd_ctx *c, struct sim_hsm *hs, struct hsm_partition *p, int argc, char **argv)
{
	struct ped_opt o[] = {{.name = "label", .aliases = "l partition par name", .kind = PED_OPT_STRING,
			       .help = "the partition's label (or name)"},
			      {.name = "slot", .aliases = "s", .kind = PED_OPT_INT, .min = 0, .max = 100000, .help = "its slot"},
			      {.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no confirmation"},
			      {.name = NULL}};
	struct hsm_partition *dp = NULL;
	char name[HSM_LABEL_MAX + 1];
	int r;

	if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
		return r == 1 ? PED_OK : r;
	if (p) {
		cmd_out(c, "Error: partition delete runs on the admin partition's slot");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = auth_need(&c->who, sim_login(c->who.logins, hs), HSM_ROLE_SO, 0, "HSM SO")) != PED_OK)
		return r;
	if (ped_opts_seen(o, "slot")) {
		int slot = (int)ped_opts_num(o, "slot", 0);
		if (slot == hs->base_slot || !sim_slot_resolve(hs, slot, &dp, NULL) || !dp) {
			cmd_out(c, "Error: slot %d is not an application partition of HSM %s", slot, hs->h.serial);
			return PED_E_ARGUMENTS_BAD;
		}
	} else if (ped_opts_seen(o, "label")) {
		const char *l = ped_opts_str(o, "label", "");
		for (uint32_t i = 0; i < hs->h.npartitions && !dp; i++)
			if (!strcmp(hs->h.partitions[i].label, l) || !strcmp(hs->h.partitions[i].name, l))
				dp = &hs->h.partitions[i];
		if (!dp) {
			cmd_out(c, "Error: HSM %s has no partition labelled %s", hs->h.serial, l);
			return PED_E_ARGUMENTS_BAD;
		}
	} else {
		cmd_out(c, "Error: give the partition: -label L or -slot N");
		return PED_E_ARGUMENTS_BAD;
	}
	memcpy(name, dp->name, sizeof(name));
	cmd_out(c, "You are about to delete partition %s and all its contents.", dp->label[0] ? dp->label : name);
	if ((r = cmd_confirm(c, ped_opts_seen(o, "force"), "partition delete")) != PED_OK)
		return r;
	/* the lock was given back while the operator answered: find it again */
	if (!(dp = hsm_partition_find(&hs->h, name))) {
		cmd_out(c, "Error: the partition is gone already");
		return PED_E_ARGUMENTS_BAD;
	}
	hsm_partition_delete(&hs->h, (uint32_t)(dp - hs->h.partitions));
	/* the partitions after it moved down a slot: no partition login may follow them */
	struct sim_login *lg = sim_login(c->who.logins, hs);
	memset(lg->po, 0, sizeof(lg->po));
	memset(lg->co, 0, sizeof(lg->co));
	memset(lg->cu, 0, sizeof(lg->cu));
	sim_logins_end(c->who.logins, hs, 1);
	if ((r = sim_save(hs)) != PED_OK)
		return r;
	cmd_out(c, "Partition %s deleted.", name);
	return PED_OK;
}

/* partition clone -slot N -objects LIST|all (chapter 3): the current
 * partition's CO clones objects into another partition of the same cloning
 * domain, presenting that partition's Crypto Officer key; objects the target
 * already holds are not cloned. The target's HSM's lock too, in index order. */
static int clone_partition(struct cmd_ctx *c, struct sim_hsm *hs, struct hsm_partition *p, int pi, int argc,
			   char **argv)
{
	struct ped_opt o[] = {{.name = "slot", .aliases = "s", .kind = PED_OPT_INT, .min = 0, .max = 100000, .help = "target slot"},
			      {.name = "objects", .aliases = "o", .kind = PED_OPT_STRING, .help = "handles (3,4,6), or 0 or all"},
			      {.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no prompting"},
			      {.name = NULL}};
	uint64_t handles[HSM_MAX_OBJECTS];
	size_t nhandles = 0;
	char name[HSM_LABEL_MAX + 1], what[HSM_LABEL_MAX + 1];
	struct hsm_partition *tp = NULL, *copy = NULL;
	int r, some = 0, tpi = 0;

	if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
		return r == 1 ? PED_OK : r;
	if (!ped_opts_seen(o, "slot") || !ped_opts_seen(o, "objects")) {
		cmd_out(c, "Error: give -slot (the target partition's slot) and -objects (handles, or all)");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = auth_need(&c->who, sim_login(c->who.logins, hs), HSM_ROLE_CO, pi, "Crypto Officer")) != PED_OK)
		return r;
	int slot = (int)ped_opts_num(o, "slot", 0);
	struct sim_hsm *ths = sim_hsm_of_slot(c->sim, slot);
	if (!ths) {
		cmd_out(c, "Error: no slot %d", slot);
		return PED_E_TOKEN_NOT_PRESENT;
	}
	/* both HSMs' locks, in index order: the source's may be given back and taken again */
	memcpy(name, p->name, sizeof(name));
	sim_hold(&c->hold, hs, ths);
	if (!sim_slot_resolve(hs, *c->slot, &p, &pi) || !p || strcmp(p->name, name)) {
		cmd_out(c, "Error: the partition changed meanwhile; nothing was cloned.");
		return PED_E_ARGUMENTS_BAD;
	}
	if (ths->h.is_backup || !sim_slot_resolve(ths, slot, &tp, &tpi) || !tp) {
		cmd_out(c, "Error: slot %d is not an application partition (backups: partition archive)", slot);
		return PED_E_ARGUMENTS_BAD;
	}
	if (tp == p) {
		cmd_out(c, "Error: slot %d is this partition", slot);
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = cmd_cloning_allowed(c, hs, 0)) != PED_OK || (r = cmd_cloning_allowed(c, ths, 0)) != PED_OK)
		return r;
	if ((r = cmd_handles(c, p, ped_opts_str(o, "objects", "all"), handles, &nhandles, &some)) != PED_OK)
		return r;
	if (!tp->initialized || !tp->co.cred.set) {
		cmd_out(c, "Error: the partition at slot %d has no Crypto Officer", slot);
		return PED_E_USER_NOT_LOGGED_IN;
	}
	if (!hsm_same_domain(&tp->domain, &p->domain)) {
		cmd_out(c, "Error: the partition at slot %d is in another cloning domain.", slot);
		return PED_E_CERTIFICATE_INVALID;
	}
	/* partitions from before state version 8: their red keys give the cloning keys */
	if ((r = cmd_cloning_key(c, hs, p)) != PED_OK || (r = cmd_cloning_key(c, ths, tp)) != PED_OK)
		return r;
	snprintf(what, sizeof(what), "%s", tp->label[0] ? tp->label : tp->name);
	/* "Present the target partition's Crypto Officer credential when prompted." */
	cmd_out(c, "Logging into the container %s on slot %d as the Crypto Officer.", what, slot);
	if ((r = auth_ped_login(&c->who, ths, tp, auth_role("co"), NULL)) != PED_OK)
		return r;
	if (!(copy = OPENSSL_zalloc(sizeof(*copy))) || hsm_partition_copy(copy, tp) != PED_OK) {
		OPENSSL_free(copy);
		return PED_E_HOST_MEMORY;
	}
	int n = cmd_clone_objects(c, ths, copy, hs, p, HSM_CLONE_MISSING, some ? handles : NULL, nhandles, what);
	if (n >= 0) {
		hsm_partition_move(tp, copy); /* all or nothing */
		if ((r = sim_save(ths)) == PED_OK)
			cmd_out(c, "Clone Complete. %d objects have been cloned to partition %s on slot %d.", n, what, slot);
	} else {
		r = n;
	}
	hsm_part_obj_clear(copy);
	OPENSSL_clear_free(copy, sizeof(*copy));
	return r;
}

static void role_line(struct cmd_ctx *c, const char *who, const struct hsm_role_state *rs, uint32_t limit, int chal)
{
	if (!rs->cred.set) {
		cmd_out(c, "%s -> not initialized", who);
		return;
	}
	cmd_out(c, "%s -> initialized (%u of %u keys), %u failed logins of %u%s%s%s%s", who, rs->cred.m, rs->cred.n,
		rs->failures, limit, rs->locked ? ", locked" : "", chal && rs->challenge_set ? ", challenge set" : "",
		chal && rs->challenge_expired ? " (to be changed: HSM policy 21)" : "",
		chal && rs->activated ? ", activated" : "");
}

/* partition showinfo: the partition as the reference shows it, with its
 * roles and its storage. Needs no login. */
static int showinfo(struct cmd_ctx *c, struct sim_hsm *hs, struct hsm_partition *p, int pi)
{
	struct sim_login *lg = sim_login(c->who.logins, hs);
	char serial[32];
	size_t used = hsm_part_obj_bytes(p);
	sim_partition_serial(hs->h.serial, (uint32_t)pi, serial, sizeof(serial));
	cmd_out(c, "Partition Label -> %s", p->label[0] ? p->label : "(not initialized)");
	cmd_out(c, "Partition Name -> %s", p->name);
	cmd_out(c, "Partition Manufacturer -> OpenPED");
	cmd_out(c, "Partition Model -> OpenPED HSM simulator %s", PED_VERSION);
	cmd_out(c, "Partition Serial Number -> %s", serial);
	cmd_out(c, "Partition Status -> %s", p->initialized ? "OK" : "Not initialized");
	cmd_out(c, "HSM Serial Number -> %s", hs->h.serial);
	cmd_out(c, "Slot Id -> %d", hs->base_slot + 1 + pi);
	cmd_out(c, "Role Status -> %s", lg->co[pi] ? "Crypto Officer logged in" : lg->cu[pi] ? "Crypto User logged in"
					 : lg->po[pi] ? "Partition SO logged in" : "none logged in");
	role_line(c, "Partition SO", &p->po, HSM_PO_MAX_FAILURES, 0);
	role_line(c, "Crypto Officer", &p->co, p->max_failed_user_logins, 1);
	role_line(c, "Crypto User", &p->cu, p->max_failed_user_logins, 1);
	cmd_out(c, "Partition Storage:");
	cmd_out(c, "    Total Storage Space: %u", HSM_PARTITION_BYTES);
	cmd_out(c, "    Used Storage Space: %zu", used);
	cmd_out(c, "    Free Storage Space: %zu", (size_t)HSM_PARTITION_BYTES - used);
	cmd_out(c, "    Object Count: %u", p->nobjs);
	cmd_out(c, "    Overhead: 0");
	return PED_OK;
}

/* "33,37,40": numbers separated by commas into out (at most max); how many,
 * or -1 (told). */
static int number_list(struct cmd_ctx *c, const char *what, const char *list, uint32_t *out, int max)
{
	int n = 0;
	const char *q = list;
	while (*q) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(q, &end, 10);
		if (end == q || errno || v > 1000000 || (*end && *end != ',') || *q == '-' || *q == '+') {
			cmd_out(c, "Error: -%s takes numbers separated by commas (33,37,40)", what);
			return -1;
		}
		if (n == max) {
			cmd_out(c, "Error: more than %d policies at once", max);
			return -1;
		}
		out[n++] = (uint32_t)v;
		q = *end ? end + 1 : end;
	}
	if (!n)
		cmd_out(c, "Error: -%s names nothing", what);
	return n ? n : -1;
}

/* A policy template from hsmcm's side: read, parsed and tried on a new
 * partition's defaults, or told why not. */
static int read_template(struct cmd_ctx *c, const char *path, struct hsm_ppt *t)
{
	struct hsm_partition *x = OPENSSL_zalloc(sizeof(*x));
	uint8_t *text = NULL;
	size_t len = 0;
	char why[512];
	int r;

	if (!x)
		return PED_E_HOST_MEMORY;
	if ((r = sim_file_get(c->who.out, path, HSM_PPT_MAX, &text, &len, why, sizeof(why))) != PED_OK) {
		cmd_out(c, "Error: cannot read the policy template: %s", why);
		r = r == PED_E_RANGE || r == PED_E_UNSUPPORTED ? PED_E_ARGUMENTS_BAD : PED_E_FILE;
	} else if ((r = hsm_ppt_parse((const char *)text, len, t, why, sizeof(why))) != PED_OK) {
		cmd_out(c, "Error: policy template %s: %s", path, why);
		r = PED_E_ARGUMENTS_BAD;
	} else {
		hsm_partition_defaults(x);
		if ((r = hsm_ppt_apply(x, t, why, sizeof(why))) != PED_OK) {
			cmd_out(c, "Error: policy template %s: %s; the partition is not initialized.", path, why);
			if (r != PED_E_ACTION_PROHIBITED)
				r = PED_E_ARGUMENTS_BAD;
		}
	}
	OPENSSL_clear_free(text, len);
	OPENSSL_clear_free(x, sizeof(*x));
	return r;
}

/* The words of a policy's destructive directions (chapter 6's). */
static const char *destructive_words(uint8_t bits)
{
	switch (bits & (HSM_ERASE_OFF_TO_ON | HSM_ERASE_ON_TO_OFF)) {
	case HSM_ERASE_OFF_TO_ON: return "Destructive OFF-to-ON";
	case HSM_ERASE_ON_TO_OFF: return "Destructive ON-to-OFF";
	case HSM_ERASE_OFF_TO_ON | HSM_ERASE_ON_TO_OFF: return "Destructive ON-to-OFF and OFF-to-ON";
	}
	return "Not destructive";
}

#define MAX_CHANGES 32

/* partition changepolicy -policy N[,N...] -value V[,V...] [-force]
 * (chapter 6): the Partition SO changes policies, all or nothing; a change
 * that erases the partition's objects (its direction in the partition's
 * destructive settings) asks for confirmation unless -force. */
static int changepolicy(struct cmd_ctx *c, struct sim_hsm *hs, struct hsm_partition *p, int pi, int argc, char **argv)
{
	struct ped_opt o[] = {{.name = "policy", .aliases = "p", .kind = PED_OPT_STRING, .help = "policy number(s): 33 or 33,37,40"},
			      {.name = "value", .aliases = "v", .kind = PED_OPT_STRING, .help = "new value(s): 0 or 0,1,1"},
			      {.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no confirmation"},
			      {.name = NULL}};
	uint32_t pol[MAX_CHANGES], val[MAX_CHANGES];
	char name[HSM_LABEL_MAX + 1];
	size_t bad = 0;
	int r, n, nv, erase = 0;

	if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
		return r == 1 ? PED_OK : r;
	if (!ped_opts_seen(o, "policy") || !ped_opts_seen(o, "value")) {
		cmd_out(c, "Error: -policy and -value are required");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((n = number_list(c, "policy", ped_opts_str(o, "policy", ""), pol, MAX_CHANGES)) < 0 ||
	    (nv = number_list(c, "value", ped_opts_str(o, "value", ""), val, MAX_CHANGES)) < 0)
		return PED_E_ARGUMENTS_BAD;
	if (n != nv) {
		cmd_out(c, "Error: %d policies and %d values: give one value per policy", n, nv);
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = auth_need(&c->who, sim_login(c->who.logins, hs), HSM_ROLE_PO, pi, "Partition SO")) != PED_OK)
		return r;
	if ((r = hsm_partition_set_policies(p, pol, val, (size_t)n, 1, &erase, &bad)) != PED_OK) {
		struct hsm_ppolicy d;
		if (r == PED_E_NOT_FOUND)
			cmd_out(c, "Error: partition policy %u is not one this HSM has (partition showpolicies lists them)",
				pol[bad]);
		else if (r == PED_E_ACTION_PROHIBITED)
			cmd_out(c, "Error: partition policies 0 (Allow private key cloning) and 1 (Allow private key "
				   "wrapping) may not be on at the same time.");
		else if (hsm_partition_policy(pol[bad], &d))
			cmd_out(c, "Error: %u is out of range for partition policy %u (%s)", val[bad], pol[bad], d.name);
		return r == PED_E_ACTION_PROHIBITED ? r : PED_E_ARGUMENTS_BAD;
	}
	if (erase && p->nobjs) {
		for (int i = 0; i < n; i++)
			if (hsm_partition_policy_destructive(p, pol[i], val[i]))
				cmd_out(c, "CAUTION: turning %s partition policy %u erases all %u objects of this partition.",
					val[i] ? "on" : "off", pol[i], p->nobjs);
		memcpy(name, p->name, sizeof(name));
		if ((r = cmd_confirm(c, ped_opts_seen(o, "force"), "partition changepolicy")) != PED_OK)
			return r;
		/* the lock was given back while the operator answered */
		struct sim_hsm *again = cmd_current(c, &p, &pi);
		if (again != hs || !p || strcmp(p->name, name)) {
			cmd_out(c, "Error: the partition changed meanwhile; nothing was done.");
			return PED_E_ARGUMENTS_BAD;
		}
	}
	uint32_t before = p->nobjs;
	int co_was = p->co.locked, cu_was = p->cu.locked;
	if ((r = hsm_partition_set_policies(p, pol, val, (size_t)n, 0, &erase, &bad)) != PED_OK)
		return r == PED_E_ACTION_PROHIBITED ? r : PED_E_ARGUMENTS_BAD;
	if ((r = sim_save(hs)) != PED_OK)
		return r;
	if (erase && before)
		cmd_out(c, "All %u objects of the partition were erased.", before);
	if (p->co.locked && !co_was)
		cmd_out(c, "The Crypto Officer's %u consecutive failed logins reach the new limit of %u: the Crypto "
			   "Officer and the Crypto User are locked.", p->co.failures, p->max_failed_user_logins);
	else if (p->cu.locked && !cu_was)
		cmd_out(c, "The Crypto User's %u consecutive failed logins reach the new limit of %u: the Crypto User "
			   "is locked.", p->cu.failures, p->max_failed_user_logins);
	return PED_OK;
}

/* partition showpolicies [-verbose] [-exporttemplate FILE]: every partition
 * policy this HSM has, with its value; -verbose adds which changes erase the
 * objects. No login needed. */
static int showpolicies(struct cmd_ctx *c, struct sim_hsm *hs, struct hsm_partition *p, int pi, int argc, char **argv)
{
	struct ped_opt o[] = {{.name = "verbose", .aliases = "v", .kind = PED_OPT_FLAG, .help = "the destructive directions too"},
			      {.name = "exporttemplate", .aliases = "exportpolicies export", .kind = PED_OPT_STRING,
			       .help = "write the policies as a template file (on hsmcm's side)"},
			      {.name = NULL}};
	unsigned nums[HSM_KP_SLOTS];
	size_t n = hsm_partition_policies(nums, HSM_KP_SLOTS);
	int r, verbose;

	if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
		return r == 1 ? PED_OK : r;
	verbose = ped_opts_seen(o, "verbose");
	if (ped_opts_seen(o, "exporttemplate")) {
		const char *path = ped_opts_str(o, "exporttemplate", "");
		char serial[32], why[512], *text = NULL;
		size_t len = 0;
		sim_partition_serial(hs->h.serial, (uint32_t)pi, serial, sizeof(serial));
		if ((r = hsm_ppt_export(p, serial, &text, &len)) != PED_OK)
			return r;
		r = sim_file_put(c->who.out, path, text, len, why, sizeof(why));
		OPENSSL_free(text);
		if (r != PED_OK) {
			cmd_out(c, "Error: the template was not written: %s", why);
			return r == PED_E_UNSUPPORTED ? PED_E_ARGUMENTS_BAD : PED_E_FILE;
		}
		cmd_out(c, "Partition policies for Partition: %s written to %s", p->label[0] ? p->label : p->name, path);
		return PED_OK;
	}
	cmd_out(c, "Partition policies for partition %s:", p->label[0] ? p->label : p->name);
	for (size_t i = 0; i < n; i++) {
		struct hsm_ppolicy d;
		hsm_partition_policy(nums[i], &d);
		int v = hsm_partition_policy_value(p, nums[i]);
		if (verbose)
			cmd_out(c, "%u: %s : %d : %s (default %u)", nums[i], d.name, v,
				destructive_words(p->policy_erase[nums[i]]), d.def);
		else
			cmd_out(c, "%u: %s : %d", nums[i], d.name, v);
	}
	/* the capability the HSM SO allows: HSM policy 7 over 0 and 4 */
	if (!hs->h.allow_cloning)
		cmd_out(c, "HSM policy 7 (Allow cloning) is 0: nothing is cloned into or out of this partition, "
			   "whatever policies 0 and 4 say.");
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
	if (argc >= 2 && !strcasecmp(argv[1], "delete"))
		return delete_partition(c, hs, p, argc, argv);
	if (!p) {
		cmd_out(c, "Error: select an application partition's slot first");
		return PED_E_ARGUMENTS_BAD;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "clone"))
		return clone_partition(c, hs, p, pi, argc, argv);
	if (argc >= 2 && !strcasecmp(argv[1], "showinfo"))
		return showinfo(c, hs, p, pi);
	if (argc >= 2 && !strcasecmp(argv[1], "init")) {
		struct ped_opt o[] = {{.name = "label", .aliases = "l", .kind = PED_OPT_STRING, .help = "partition label"},
				      {.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no confirmation"},
				      {.name = "applytemplate", .aliases = "apply", .kind = PED_OPT_STRING,
				       .help = "a partition policy template file (on hsmcm's side)"},
				      {.name = NULL}};
		char label[HSM_LABEL_MAX + 1], name[HSM_LABEL_MAX + 1];
		struct hsm_credential po, dom;
		struct hsm_ppt ppt;
		int have_ppt;
		if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
			return r == 1 ? PED_OK : r;
		have_ppt = ped_opts_seen(o, "applytemplate");
		if (p->initialized && have_ppt) {
			/* chapter 6: "Policy templates cannot be used to alter settings for an initialized partition" */
			cmd_out(c, "Error: a policy template applies when a partition is first initialized (or once it "
				   "is zeroized), not to an initialized partition: change its policies with partition "
				   "changepolicy.");
			return PED_E_ARGUMENTS_BAD;
		}
		if (p->initialized)
			return reinit(c, hs, p, pi, o);
		if ((r = cmd_label(c, ped_opts_str(o, "label", p->name), label, 1)) != PED_OK)
			return r;
		/* the template is read and checked before the PED writes any key */
		if (have_ppt && (r = read_template(c, ped_opts_str(o, "applytemplate", ""), &ppt)) != PED_OK)
			return r;
		cmd_out(c, "Please attend to the PED.");
		uint8_t dkey[HSM_KEY_LEN];
		if ((r = auth_new_credential(&c->who, hs, PED_KEY_SO, "SETTING PO PIN...", "Partition SO", "BLUE", &po)) != PED_OK ||
		    (r = auth_new_domain(&c->who, hs, &dom, dkey)) != PED_OK)
			return r;
		memcpy(name, p->name, sizeof(name));
		hsm_zeroize_partition(p);
		memcpy(p->name, name, sizeof(name));
		if (have_ppt) {
			char why[256];
			if ((r = hsm_ppt_apply(p, &ppt, why, sizeof(why))) != PED_OK) {
				cmd_out(c, "Error: the policy template: %s", why); /* checked before: not reached */
				return r;
			}
		}
		p->po.cred = po;
		p->domain = dom;
		memcpy(p->domain_key, dkey, sizeof(dkey));
		p->domain_key_set = 1;
		OPENSSL_cleanse(dkey, sizeof(dkey));
		snprintf(p->label, sizeof(p->label), "%s", label);
		p->initialized = 1;
		lg->po[pi] = lg->co[pi] = lg->cu[pi] = 0;
		sim_logins_end(c->who.logins, hs, 1);
		if ((r = sim_save(hs)) != PED_OK)
			return r;
		cmd_out(c, "Partition initialized.");
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "changepolicy"))
		return changepolicy(c, hs, p, pi, argc, argv);
	if (argc >= 2 && !strcasecmp(argv[1], "showpolicies"))
		return showpolicies(c, hs, p, pi, argc, argv);
	if (argc >= 2 && !strcasecmp(argv[1], "contents")) {
		if ((r = auth_need_either(&c->who, lg, HSM_ROLE_CO, HSM_ROLE_CU, pi, "Crypto Officer or Crypto User")) != PED_OK)
			return r;
		cmd_out(c, "The '%s' is currently logged in. Looking for objects accessible to them.",
			 *auth_login_flag(lg, HSM_ROLE_CO, pi) == AUTH_LOGGED_IN ? "Crypto Officer" : "Crypto User");
		cmd_list_objects(c, p);
		return PED_OK;
	}
	cmd_out(c, "Usage: partition create|init|delete|clone|showinfo|changepolicy|showpolicies|contents|archive ...");
	return PED_E_ARGUMENTS_BAD;
}

SIM_COMMAND_VERBS(partition, "partition", "par", NULL, 3, cmd_partition,
		  "create init delete clone showinfo changepolicy showpolicies contents")
