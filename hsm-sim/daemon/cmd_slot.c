/* slot list | slot set -slot N. */
#include "command.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <strings.h>

/* One slot, with the lines the reference's slot list gives each (001,
 * lines 60-80; chapter 13). */
static void print_slot(struct cmd_ctx *c, int slot, const char *label, const char *serial, const char *config,
		       const char *desc, const char *status)
{
	cmd_out(c, "Slot Id ->              %d", slot);
	cmd_out(c, "Label ->                %s", label);
	cmd_out(c, "Serial Number ->        %s", serial);
	cmd_out(c, "Model ->                OpenPED HSM simulator %s", PED_VERSION);
	cmd_out(c, "Firmware Version ->     %s", PED_VERSION);
	cmd_out(c, "Configuration ->        %s", config);
	cmd_out(c, "Slot Description ->     %s", desc);
	cmd_out(c, "HSM Status ->           %s", status);
	cmd_out(c, "%s", "");
}

/* The slots of HSM i in chapter 13's order: its application partitions,
 * then its admin partition; a backup HSM is one slot, its backups being
 * seen with partition archive list. */
static void list_hsm(struct cmd_ctx *c, int i, const struct sim_slot_view *v)
{
	int base = c->sim->hsms[i].base_slot;
	if (v->backup) {
		print_slot(c, base, v->label[0] ? v->label : "(uninitialized)", v->serial,
			   "Remote Backup HSM (PED) Backup Device", "Backup Device", v->initialized ? "OK" : "Zeroized");
		return;
	}
	for (uint32_t j = 0; j < v->npartitions; j++) {
		char serial[32];
		sim_partition_serial(v->serial, j, serial, sizeof(serial));
		print_slot(c, base + 1 + (int)j, v->partition[j], serial,
			   "OpenPED User Partition With SO (PED) Signing With Cloning Mode", "User Token Slot",
			   v->partition_initialized[j] ? "OK" : "Not initialized");
	}
	print_slot(c, base, v->label[0] ? v->label : "(uninitialized)", v->serial,
		   "OpenPED HSM Admin Partition (PED) Signing With Cloning Mode", "Admin Token Slot",
		   v->initialized ? "OK" : "Zeroized");
}

static int cmd_slot(struct cmd_ctx *c, int argc, char **argv)
{
	if (argc >= 2 && !strcasecmp(argv[1], "list")) {
		/* from the views: a ceremony holding an HSM does not hold up the list */
		struct sim_slot_view v;
		for (int backups = 0; backups < 2; backups++)
			for (int i = 0; i < c->sim->nhsms; i++) {
				if (!cmd_hsm_served(c, &c->sim->hsms[i]))
					continue;
				sim_slot_view(c->sim, i, &v);
				if (v.backup == backups)
					list_hsm(c, i, &v);
			}
		OPENSSL_cleanse(&v, sizeof(v));
		cmd_out(c, "Current Slot Id: %d", *c->slot);
		return PED_OK;
	}
	if (argc >= 2 && !strcasecmp(argv[1], "set")) {
		struct ped_opt o[] = {{.name = "slot", .aliases = "s", .kind = PED_OPT_INT, .min = 0, .max = 100000, .help = "slot id"},
				      {.name = NULL}};
		int r = cmd_parse(c, o, argc, argv, 2);
		if (r != PED_OK)
			return r;
		if (!ped_opts_seen(o, "slot")) {
			cmd_out(c, "Error: -slot is required");
			return PED_E_ARGUMENTS_BAD;
		}
		int slot = (int)ped_opts_num(o, "slot", 0);
		if (!sim_slot_exists(c->sim, slot) || !cmd_hsm_served(c, sim_hsm_of_slot(c->sim, slot))) {
			cmd_out(c, "Error: no slot %d", slot);
			return PED_E_TOKEN_NOT_PRESENT;
		}
		*c->slot = slot;
		struct sim_hsm *hs = sim_hsm_of_slot(c->sim, slot);
		cmd_out(c, "Current Slot Id: %d     (OpenPED %s Slot %s (PED) Signing With Cloning Mode)", slot,
			hs && slot != hs->base_slot ? "User" : hs && hs->h.is_backup ? "Backup" : "Admin", PED_VERSION);
		return PED_OK;
	}
	cmd_out(c, "Usage: slot list | slot set -slot N");
	return PED_E_ARGUMENTS_BAD;
}

SIM_COMMAND_VERBS(slot, "slot", NULL, NULL, 0, cmd_slot, "list set")
