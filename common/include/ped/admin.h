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

struct ped_evloop;
struct ped_admin_server;
/* Serves the admin port listen_fd in loop: each connection's request line is
 * read and its answer written as the socket allows, never blocking the
 * loop, within timeout_ms overall; up to 8 at once, a ninth replacing the
 * oldest. Free it (in the loop's thread) before closing listen_fd. */
int ped_admin_server_new(struct ped_evloop *loop, int listen_fd, ped_admin_fn fn, void *arg, int timeout_ms,
			 struct ped_admin_server **out);
void ped_admin_server_free(struct ped_admin_server *a);
/* Sends line to host:port and collects the answer (without the RESULT line);
 * returns the server's result, or a socket error (RC_SOCKET_ERROR when nothing listens). */
int ped_admin_query(const char *host, uint16_t port, const char *line, char *out, size_t cap,
		    int timeout_ms);

/* <runtime dir>/<name>.admin holds the bound admin port. */
int ped_admin_port_publish(const char *name, uint16_t port);
int ped_admin_port_lookup(const char *name, uint16_t *port);
void ped_admin_port_unpublish(const char *name);

#endif
