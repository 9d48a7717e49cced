/* Where the control and PED sockets live. */
#include "hsm/control.h"

#include "ped/fileio.h"

#include <stdio.h>
#include <string.h>

int hsm_ctl_default_socket(char *out, size_t len)
{
	return ped_runtime_path("hsm-sim.sock", out, len);
}

void hsm_ctl_ped_socket(const char *control_socket, const char *serial, char *out, size_t len)
{
	const char *slash = strrchr(control_socket, '/');
	int dirlen = slash ? (int)(slash - control_socket) : 1;
	snprintf(out, len, "%.*s/ped-%s.sock", dirlen, slash ? control_socket : ".", serial);
}
