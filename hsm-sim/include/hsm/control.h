/* The control channel between hsmcm and hsm-sim: a Unix stream socket
 * carrying frames (common/frame.h).
 *
 *   hsmcm -> hsm-sim   HSM_CTL_CMD     one command line, as typed
 *   hsm-sim -> hsmcm   HSM_CTL_OUTPUT  a line of output (any number, in order)
 *                      HSM_CTL_RESULT  u32 result code: the command is done
 *
 * One command at a time per connection; the connection is the session
 * (current slot, roles logged in), as a lunacm session is. */
#ifndef HSM_CONTROL_H
#define HSM_CONTROL_H

#include <stddef.h>
#include <stdint.h>

enum { HSM_CTL_CMD = 0x20, HSM_CTL_OUTPUT = 0x21, HSM_CTL_RESULT = 0x22 };

#define HSM_CTL_LINE_MAX 4096

/* Default control socket: $XDG_RUNTIME_DIR/openped/hsm-sim.sock (or /tmp/openped-UID/...). */
int hsm_ctl_default_socket(char *out, size_t len);
/* The local PED link of the HSM with this serial, beside the control socket. */
void hsm_ctl_ped_socket(const char *control_socket, const char *serial, char *out, size_t len);

#endif
