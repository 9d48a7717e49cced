/* The admin port of pedserver and pedclient: a request line in, a text
 * answer out, then the server closes. Bound to localhost unless the
 * operator asks otherwise (-eadmin 1). The bound port is also written to a
 * file in the runtime directory, so `-mode show` finds a daemon that
 * listens on an ephemeral port. */
#ifndef PED_ADMIN_H
#define PED_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PED_ADMIN_LINE_MAX 256
#define PED_ADMIN_REPLY_MAX 16384

/* Writes the answer to line on out; returns PED_OK or an error, which the
 * client sees as the answer's last line "RESULT <code>". */
typedef int (*ped_admin_fn)(void *arg, const char *line, FILE *out);

/* Reads one line from a freshly accepted fd (bounded by timeout_ms), answers, closes fd. */
void ped_admin_serve(int fd, ped_admin_fn fn, void *arg, int timeout_ms);
/* Sends line to host:port and collects the answer (without the RESULT line);
 * returns the server's result, or a socket error (RC_SOCKET_ERROR when nothing listens). */
int ped_admin_query(const char *host, uint16_t port, const char *line, char *out, size_t cap,
		    int timeout_ms);

/* <runtime dir>/<name>.admin holds the bound admin port. */
int ped_admin_port_publish(const char *name, uint16_t port);
int ped_admin_port_lookup(const char *name, uint16_t *port);
void ped_admin_port_unpublish(const char *name);

#endif
