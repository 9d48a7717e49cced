/* slot list | slot set -slot N. */
#include "command.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <strings.h>

static void print_slot(struct cmd_ctx *c, int slot, const char *label, const char *serial,
		       const char *desc)
{
	cmd_out(c, "Slot Id ->              %d", slot);
	cmd_out(c, "Label ->                %s", label);
	cmd_out(c, "Serial Number ->        %s", serial);
	cmd_out(c, "Model ->                OpenPED HSM simulator %s", PED_VERSION);
	cmd_out(c, "Slot Description ->     %s", desc);
	cmd_out(c, "%s", "");
}

static int cmd_slot(struct cmd_ctx *c, int argc, char **argv)
{
	if (argc >= 2 && !strcasecmp(argv[1], "list")) {
		/* from the views: a ceremony holding an HSM does not hold up the list */
		struct sim_slot_view v;
		for (int i = 0; i < c->sim->nhsms; i++) {
			int base = c->sim->hsms[i].base_slot;
			sim_slot_view(c->sim, i, &v);
			print_slot(c, base, v.label[0] ? v.label : "(uninitialized)", v.serial,
				   v.backup ? "Backup HSM Admin Partition" : "Admin Partition");
			for (uint32_t j = 0; j < v.npartitions; j++)
				print_slot(c, base + 1 + (int)j, v.partition[j], v.serial,
					   v.backup ? "Backup Partition" : "User Token Slot");
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
		if (!sim_slot_exists(c->sim, slot)) {
			cmd_out(c, "Error: no slot %d", slot);
			return PED_E_TOKEN_NOT_PRESENT;
		}
		*c->slot = slot;
		cmd_out(c, "Current Slot Id: %d", slot);
		return PED_OK;
	}
	cmd_out(c, "Usage: slot list | slot set -slot N");
	return PED_E_ARGUMENTS_BAD;
}

SIM_COMMAND_VERBS(slot, "slot", NULL, NULL, 0, cmd_slot, "list set")
