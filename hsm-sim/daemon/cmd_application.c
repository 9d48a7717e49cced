/* application list: the applications of the PKCS#11 module hsm-sim serves
 * (docs/protocol.md, section 13), their sessions and logins. Read-only and
 * for anyone on the control socket, as slot list is; an application's id
 * (a bearer secret) is never shown, only a number. */
#include "apps.h"
#include "command.h"

#include "ped/error.h"

#include <strings.h>

static int cmd_application(struct cmd_ctx *c, int argc, char **argv)
{
	if (argc >= 2 && !strcasecmp(argv[1], "list")) {
		apps_list(c->sim, c->who.out);
		return PED_OK;
	}
	cmd_out(c, "Usage: application list");
	return PED_E_ARGUMENTS_BAD;
}

SIM_COMMAND_VERBS(application, "application", "app", NULL, 6, cmd_application, "list")
