/* object create: just enough to have something to back up. */
#include "command.h"

#include "ped/error.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int cmd_object(struct cmd_ctx *c, int argc, char **argv)
{
	struct ped_opt o[] = {{.name = "label", .aliases = "l", .kind = PED_OPT_STRING, .help = "object label"},
			      {.name = "value", .kind = PED_OPT_STRING, .help = "object value (text)"},
			      {.name = NULL}};
	struct hsm_partition *p;
	int pi = 0, r;
	struct sim_hsm *hs = cmd_current(c, &p, &pi);

	if (!hs || !p) {
		cmd_out(c, "Error: select an application partition's slot first");
		return PED_E_ARGUMENTS_BAD;
	}
	if (argc < 2 || strcasecmp(argv[1], "create")) {
		cmd_out(c, "Usage: object create -label L [-value TEXT]");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
		return r;
	if ((r = auth_need(&c->who, sim_login(c->who.logins, hs), HSM_ROLE_CO, pi, "Crypto Officer")) != PED_OK)
		return r;
	char label[HSM_LABEL_MAX + 1];
	if ((r = cmd_label(c, ped_opts_str(o, "label", "object"), label, 0)) != PED_OK)
		return r;
	uint64_t handle = 1;
	for (uint32_t i = 0; i < p->nobjects; i++)
		if (p->objects[i].handle >= handle)
			handle = p->objects[i].handle + 1;
	struct hsm_object *ob;
	if ((r = hsm_object_add(p, &ob)) != PED_OK) {
		cmd_out(c, "Error: %s", r == PED_E_RANGE ? "the partition holds its maximum of objects" : ped_strerror(r));
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
		cmd_out(c, "Error: the object was not created: the HSM state could not be saved (%s)", ped_strerror(r));
		return r;
	}
	cmd_out(c, "Object created: handle %llu", (unsigned long long)handle);
	return PED_OK;
}

SIM_COMMAND(object, "object", NULL, NULL, 4, cmd_object)
