/* Sockets for the daemons and tools: TCP (IPv4/IPv6, port 0 for an ephemeral
 * port whose real number is reported) and Unix stream sockets. Every socket is
 * close-on-exec; listeners and accepted sockets are non-blocking; TCP sockets
 * get TCP_NODELAY because every message here is small and latency-bound.
 * Errors are PED_E_SOCKET (RC_SOCKET_ERROR) or PED_E_TIMED_OUT with errno set. */
#ifndef PED_NET_H
#define PED_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Listens on host (NULL or "0.0.0.0": all IPv4; "::": all IPv6) and port. */
int ped_tcp_listen(const char *host, uint16_t port, int *fd_out, uint16_t *bound_port);
/* Connects within timeout_ms (<= 0: the system's own timeout); the socket is
 * returned non-blocking. */
int ped_tcp_connect(const char *host, uint16_t port, int timeout_ms, int *fd_out);
/* Accepts one connection, non-blocking and close-on-exec; PED_E_BUSY if none is waiting. */
int ped_accept(int listen_fd, int *fd_out);

/* Unix stream listener at path with the given mode, in a directory of ours
 * no one else may write to. In one shared with PED_SYSTEM_GROUP
 * (ped_dir_group_shared: the system runtime directory) the group gets the
 * owner's rights too (0600 becomes 0660). A stale socket file is replaced
 * only when nobody listens on it; a live one is PED_E_EXISTS. */
int ped_unix_listen(const char *path, mode_t mode, int *fd_out);
int ped_unix_connect(const char *path, int *fd_out);
/* The process listening on the Unix socket at path (SO_PEERCRED): what
 * "already running as pid N" names when ped_unix_listen found the path in
 * use. PED_E_NOT_FOUND when nobody listens there. */
int ped_unix_listener_pid(const char *path, pid_t *pid);

int ped_set_nonblock(int fd, int on);
int ped_sock_local_port(int fd, uint16_t *port);
/* "1.2.3.4:5678", "[::1]:5678" or "unix"; never fails (writes "?" on error). */
void ped_sock_peer_name(int fd, char *buf, size_t len);
void ped_sock_local_name(int fd, char *buf, size_t len);

/* Blocking helpers for small control exchanges on non-blocking sockets:
 * each waits at most timeout_ms in total (< 0: forever). read_full returns
 * PED_E_CLOSED on end of stream before len bytes. */
int ped_write_all(int fd, const void *buf, size_t len, int timeout_ms);
/* a, then b, as one writev where the kernel takes both: a frame's header
 * and payload leave together (no Nagle wait between them on TCP) with no
 * copy of the payload to make and wipe. */
int ped_write2_all(int fd, const void *a, size_t alen, const void *b, size_t blen, int timeout_ms);
int ped_read_full(int fd, void *buf, size_t len, int timeout_ms);

#endif
