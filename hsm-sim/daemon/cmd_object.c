/* object create: a token data object (CKO_DATA), to have something to back up. */
#include "command.h"

#include "hsm/result.h"
#include "ped/error.h"

#include <openssl/crypto.h>
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
	/* a token data object, private to the partition's users */
	const char *v = ped_opts_str(o, "value", NULL);
	uint8_t rnd[32];
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	if (!v && RAND_bytes(rnd, sizeof(rnd)) != 1)
		return PED_E_CRYPTO;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_TOKEN, &yes, sizeof(yes)},
			    {CKA_PRIVATE, &yes, sizeof(yes)},
			    {CKA_LABEL, label, strlen(label)},
			    {CKA_VALUE, v ? (void *)v : rnd, v ? strlen(v) : sizeof(rnd)}};
	struct hsm_key_env env;
	struct hsm_obj *ob = NULL;
	hsm_partition_key_env(&hs->h, p, &env);
	CK_RV rv = hsm_obj_create(&env, t, sizeof(t) / sizeof(t[0]), &ob);
	OPENSSL_cleanse(rnd, sizeof(rnd));
	if (rv != CKR_OK) {
		cmd_out(c, "Error: the object was not created: %s (%s)", hsm_ck_why(), hsm_ck_name(rv));
		return hsm_result_from_ck((uint32_t)rv);
	}
	if ((r = hsm_part_obj_add(p, ob)) != PED_OK) {
		cmd_out(c, "Error: %s", r == PED_E_RANGE ? "the partition holds its maximum of objects" : ped_strerror(r));
		return r;
	}
	uint64_t handle = ob->handle;
	if ((r = sim_save(hs)) != PED_OK) {
		/* sim_save went back to the saved state: the object is gone */
		cmd_out(c, "Error: the object was not created: the HSM state could not be saved (%s)", ped_strerror(r));
		return r;
	}
	cmd_out(c, "Object created: handle %llu", (unsigned long long)handle);
	return PED_OK;
}

SIM_COMMAND(object, "object", NULL, NULL, 4, cmd_object)
