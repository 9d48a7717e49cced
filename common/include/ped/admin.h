/* The admin port of pedserver and pedclient: a request line in, a text
 * answer out, then the server closes. Bound to localhost unless the
 * operator asks otherwise (-eadmin 1). The bound port is also written to a
 * file in the runtime directory, so `-mode show` finds a daemon that
 * listens on an ephemeral port.
 *
 * Beside it, a Unix admin socket in the runtime directory: there the kernel
 * says who connected, and a connection from the daemon's own user or root
 * is "trusted"; so is one from a member of PED_SYSTEM_GROUP when the socket
 * is in a directory of that group (ped_dir_group_shared: the system
 * services' /run/openped, where the socket is 0660 and only the group may
 * connect). Commands that change what the daemon does (stop, connect,
 * disconnect) are taken only from trusted connections; anyone who reaches
 * the TCP port gets read-only answers (show, status). */
#ifndef PED_ADMIN_H
#define PED_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PED_ADMIN_LINE_MAX 256
#define PED_ADMIN_REPLY_MAX 16384

/* Writes the answer to line on out; returns PED_OK or an error, which the
 * client sees as the answer's last line "RESULT <code>". trusted: the line
 * came on the Unix admin socket from the daemon's user or root. */
typedef int (*ped_admin_fn)(void *arg, const char *line, int trusted, FILE *out);

struct ped_evloop;
struct ped_admin_server;
/* Serves the admin port listen_fd, and the Unix admin socket unix_fd (-1:
 * none), in loop: each connection's request line is read and its answer
 * written as the socket allows, never blocking the loop, within timeout_ms
 * overall; up to 8 at once, a ninth replacing the oldest. Free it (in the
 * loop's thread) before closing the listeners. */
int ped_admin_server_new(struct ped_evloop *loop, int listen_fd, int unix_fd, ped_admin_fn fn, void *arg,
			 int timeout_ms, struct ped_admin_server **out);
void ped_admin_server_free(struct ped_admin_server *a);
/* Sends line to host:port and collects the answer (without the RESULT line);
 * returns the server's result, or a socket error (RC_SOCKET_ERROR when nothing listens). */
int ped_admin_query(const char *host, uint16_t port, const char *line, char *out, size_t cap,
		    int timeout_ms);

/* <runtime dir>/<name>-admin.sock: the Unix admin socket; query_local
 * sends line there (PED_E_SOCKET when nothing listens). */
int ped_admin_socket_path(const char *name, char *path, size_t len);
int ped_admin_query_local(const char *name, const char *line, char *out, size_t cap, int timeout_ms);

/* <runtime dir>/<name>.admin holds the bound admin port (0600; 0640 in the
 * system runtime directory, for its group's -mode show). */
int ped_admin_port_publish(const char *name, uint16_t port);
int ped_admin_port_lookup(const char *name, uint16_t *port);
void ped_admin_port_unpublish(const char *name);

#endif
