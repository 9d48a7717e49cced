/* A daemon's background process, the part every daemon has: its PID file,
 * event loop, listeners and their socket files, the admin port and admin
 * socket, worker threads, SIGTERM and SIGINT, readiness, and the unwinding
 * of all of it, on a failed start as at a stop.
 *
 *   ped_runtime_begin(&rt, "pedserver", &s->d);                  PID file, loop, workers
 *   ped_runtime_tcp_listen(&rt, ip, port, &fd, &bound, "server port");
 *   ped_runtime_admin(&rt, on_admin_request, NULL);
 *   ... the daemon's own watchers ...
 *   ped_runtime_run(&rt);                                        ready, then until a stop
 *   ... the daemon's goodbyes ...
 *   ped_runtime_end(&rt);
 *
 * Each set-up step that fails unwinds what the steps before it made (socket
 * files, the published admin port, the PID file) and reports the failure to
 * the starting command (ped_daemon_fail): it does not return. */
#ifndef PED_RUNTIME_H
#define PED_RUNTIME_H

#include "ped/admin.h"
#include "ped/evloop.h"
#include "ped/pidfile.h"
#include "ped/worker.h"

#include <stdint.h>
#include <sys/types.h>

/* What every daemon's background process takes from its settings. */
struct ped_daemon_conf {
	int admin_port, eadmin;
	int idle_timeout_s;
	int read_timeout_s, write_timeout_s, shutdown_timeout_s;
	int ping_interval_s, ping_timeout_s;
	char pidfile[1024];
	char config_path[1024];
	int foreground;
};

static inline int ped_ms(int seconds)
{
	return seconds * 1000;
}

#define PED_RUNTIME_MAX_FDS 8
#define PED_RUNTIME_MAX_PATHS 4

/* A connection accepted on a listener: non-blocking, close-on-exec, and
 * the peer's name for logs ("10.0.0.5:4711", "unix"). */
typedef void ped_accept_fn(int fd, const char *peer, void *arg);

struct ped_runtime {
	const char *name; /* "pedserver": the admin socket's and port file's name */
	const struct ped_daemon_conf *conf;
	struct ped_evloop *loop;
	struct ped_workers workers;
	struct ped_pidfile pf;
	struct ped_admin_server *admin;
	ped_admin_fn admin_fn;
	void *admin_arg;
	const char *const *admin_changes;
	int adm_fd, adm_ufd;
	uint16_t adm_port;
	const char *adm_ip;
	char adm_upath[1024]; /* the Unix admin socket */
	int published;        /* the admin port file is ours to remove */
	int fds[PED_RUNTIME_MAX_FDS];
	size_t nfds;
	char paths[PED_RUNTIME_MAX_PATHS][1024]; /* socket files to remove */
	size_t npaths;
	struct ped_runtime_listener {
		int fd;
		ped_accept_fn *fn;
		void *arg;
	} listeners[PED_RUNTIME_MAX_FDS];
	size_t nlisteners;
};

void ped_runtime_begin(struct ped_runtime *rt, const char *name, const struct ped_daemon_conf *conf);
/* A listener on host:port (0: any free port, *bound the one taken): "cannot
 * listen on WHAT HOST:PORT" if it cannot be. */
void ped_runtime_tcp_listen(struct ped_runtime *rt, const char *host, int port, int *fd, uint16_t *bound,
			    const char *what);
/* A Unix listener at path, mode; an old socket file there is removed first
 * (the PID file is ours, so no live daemon of ours uses it). */
void ped_runtime_unix_listen(struct ped_runtime *rt, const char *path, mode_t mode, int *fd, const char *what);
/* The admin port (localhost unless ExternalAdmin), its number published in
 * the runtime directory, and the admin socket beside it. "stop" is served
 * here; fn serves the rest. Requests that change what the daemon does,
 * "stop" and those starting with one of changes (NULL-terminated, "connect
 * "), are taken only on the admin socket from the daemon's own user or
 * root: anyone who reaches the port may read, not steer. */
void ped_runtime_admin(struct ped_runtime *rt, ped_admin_fn fn, void *arg, const char *const *changes);
/* Accepts every connection that comes to the listener fd, in the loop, and
 * hands each to fn. */
void ped_runtime_serve(struct ped_runtime *rt, int fd, ped_accept_fn *fn, void *arg);
/* Unwinds what was set up and reports err and the message to the starting command. */
__attribute__((noreturn)) void ped_runtime_fail(struct ped_runtime *rt, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Stops on SIGTERM or SIGINT (or ped_evloop_stop); says it is ready first. */
int ped_runtime_run(struct ped_runtime *rt);
/* After the daemon's own goodbyes: closes and removes everything, logs
 * "stopped". With a worker or a TLS proxy thread still running it does
 * not return: the process ends (_exit(0)), so that no exit handler frees
 * OpenSSL's state or the caller its settings under that thread. */
void ped_runtime_end(struct ped_runtime *rt);

#endif
