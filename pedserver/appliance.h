/* PED-initiated (peer-to-peer) mode: registered appliances, the client
 * certificate, and the connect/disconnect commands. */
#ifndef PEDSERVER_APPLIANCE_H
#define PEDSERVER_APPLIANCE_H

#include "ped/config.h"

enum { APPLIANCE_REGISTER, APPLIANCE_LIST, APPLIANCE_DELETE };

int appliance_command(int op, struct ped_config *cfg, const char *name, const char *cert, const char *ip,
		      int port);
int appliance_regen(struct ped_config *cfg, const char *cn, int force);
int appliance_connect(struct ped_config *cfg, int connect, const char *name);

#endif
