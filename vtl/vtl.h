/* vtl's files: what main.c and verify.c share. */
#ifndef VTL_H
#define VTL_H

#include "ped/netcfg.h"

#include <stdio.h>

/* Lists the application partitions server i shows, numbered from *slot
 * (advanced past them: network partitions are numbered first, server by
 * server). PED_OK or an error with why. */
int vtl_verify_server(const struct ped_net_client *nc, size_t i, int timeout_ms, unsigned *slot, FILE *out,
		      char *why, size_t whylen);

#endif
