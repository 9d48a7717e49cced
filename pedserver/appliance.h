/* PED-initiated (peer-to-peer) mode: registered appliances, the client
 * certificate, and the connect/disconnect commands. */
#ifndef PEDSERVER_APPLIANCE_H
#define PEDSERVER_APPLIANCE_H

#include "ped/config.h"

#include <stddef.h>
#include <stdint.h>

enum { APPLIANCE_REGISTER, APPLIANCE_LIST, APPLIANCE_DELETE };

int appliance_command(int op, struct ped_config *cfg, const char *name, const char *cert, const char *ip,
		      int port);
int appliance_regen(struct ped_config *cfg, const char *cn, int force);
/* Asks the running daemon (on its admin socket) to dial the appliance, or to end
 * the link, and reports as the reference prints it. */
int appliance_connect(struct ped_config *cfg, int connect, const char *name, int timeout_ms);
/* -mode config -name N -set: the appliance's address (ip NULL: unchanged)
 * and port (-1: unchanged), saved. The exit status, said. */
int appliance_update(struct ped_config *cfg, const char *name, const char *ip, int port);
/* A registered appliance's address and the path of its certificate. */
int appliance_lookup(struct ped_config *cfg, const char *name, char *ip, size_t iplen, int *port, char *cert,
		     size_t certlen);

#endif
