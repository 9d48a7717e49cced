/* The background process every daemon has: what it holds is recorded as it
 * is made, so a failed start and a stop unwind the same list. */
#include "ped/runtime.h"

#include "ped/daemon.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/log.h"
#include "ped/tls.h"
#include "ped/net.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void keep_fd(struct ped_runtime *rt, int fd)
{
	if (rt->nfds < PED_RUNTIME_MAX_FDS)
		rt->fds[rt->nfds++] = fd;
}

static void keep_path(struct ped_runtime *rt, const char *path)
{
	if (rt->npaths < PED_RUNTIME_MAX_PATHS)
		snprintf(rt->paths[rt->npaths++], sizeof(rt->paths[0]), "%s", path);
}

/* Removes what others could see of us: socket files, the admin port file
 * and, last, the PID file that said we live. */
static void unwind(struct ped_runtime *rt)
{
	for (size_t i = 0; i < rt->npaths; i++)
		(void)unlink(rt->paths[i]);
	rt->npaths = 0;
	if (rt->published)
		ped_admin_port_unpublish(rt->name);
	rt->published = 0;
	ped_pidfile_remove(&rt->pf);
}

void ped_runtime_fail(struct ped_runtime *rt, int err, const char *fmt, ...)
{
	char msg[480];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	unwind(rt);
	ped_daemon_fail(err, "%s", msg);
}

void ped_runtime_begin(struct ped_runtime *rt, const char *name, const struct ped_daemon_conf *conf)
{
	char msg[512];
	int r;

	memset(rt, 0, sizeof(*rt));
	rt->name = name;
	rt->conf = conf;
	rt->pf.fd = -1; /* no PID file yet (fd 0 may be a real one) */
	rt->adm_fd = rt->adm_ufd = -1;
	rt->workers.pipe[0] = rt->workers.pipe[1] = -1;
	signal(SIGPIPE, SIG_IGN);
	if ((r = ped_pidfile_create(conf->pidfile, &rt->pf, msg, sizeof(msg))) != PED_OK)
		ped_daemon_fail(r, "%s", msg);
	if (!(rt->loop = ped_evloop_new()))
		ped_runtime_fail(rt, PED_E_HOST_MEMORY, "out of memory");
	if (ped_workers_init(&rt->workers, rt->loop) != PED_OK)
		ped_runtime_fail(rt, PED_E_GENERAL, "cannot make a pipe: %s", strerror(errno));
}

static void tcp_listen(struct ped_runtime *rt, const char *host, int port, int *fd, uint16_t *bound,
		       const char *what)
{
	int r = ped_tcp_listen(host, (uint16_t)port, fd, bound);
	if (r != PED_OK)
		ped_runtime_fail(rt, r, "cannot listen on %s %s:%d: %s", what, host, port, strerror(errno));
}

void ped_runtime_tcp_listen(struct ped_runtime *rt, const char *host, int port, int *fd, uint16_t *bound,
			    const char *what)
{
	tcp_listen(rt, host, port, fd, bound, what);
	keep_fd(rt, *fd);
}

static void unix_listen(struct ped_runtime *rt, const char *path, mode_t mode, int *fd, const char *what)
{
	int r = ped_unix_listen(path, mode, fd);
	if (r != PED_OK)
		ped_runtime_fail(rt, r, "cannot listen on %s %s: %s", what, path, strerror(errno));
	keep_path(rt, path);
}

void ped_runtime_unix_listen(struct ped_runtime *rt, const char *path, mode_t mode, int *fd, const char *what)
{
	(void)unlink(path); /* a live daemon of ours would hold the PID file, so this one is stale */
	unix_listen(rt, path, mode, fd, what);
	keep_fd(rt, *fd);
}

static int changes_state(const struct ped_runtime *rt, const char *line)
{
	if (!strcasecmp(line, "stop"))
		return 1;
	for (const char *const *c = rt->admin_changes; c && *c; c++)
		if (!strncasecmp(line, *c, strlen(*c)))
			return 1;
	return 0;
}

static int on_admin(void *arg, const char *line, int trusted, FILE *out)
{
	struct ped_runtime *rt = arg;
	if (changes_state(rt, line) && !trusted) {
		char cmd[16];
		snprintf(cmd, sizeof(cmd), "%.*s", (int)strcspn(line, " "), line);
		ped_warn("refused '%s' from the admin port: only %s's user or root (or, for a system service, a "
			 "member of group " PED_SYSTEM_GROUP ") may ask, on %s",
			 cmd, rt->name, rt->adm_upath);
		fprintf(out,
			"'%s' is taken only from %s's own user or root (or, for a system service, a member of group "
			PED_SYSTEM_GROUP "), on the admin socket %s\n",
			cmd, rt->name, rt->adm_upath);
		return PED_E_ACTION_PROHIBITED;
	}
	if (!strcasecmp(line, "stop")) {
		ped_info("stop requested on the admin port");
		ped_evloop_stop(rt->loop);
		return PED_OK;
	}
	return rt->admin_fn(rt->admin_arg, line, trusted, out);
}

void ped_runtime_admin(struct ped_runtime *rt, ped_admin_fn fn, void *arg, const char *const *changes)
{
	int r;

	rt->admin_fn = fn;
	rt->admin_arg = arg;
	rt->admin_changes = changes;

	/* Whoever reaches the port may read; changes come on the socket. */
	rt->adm_ip = rt->conf->eadmin ? "0.0.0.0" : "127.0.0.1";
	tcp_listen(rt, rt->adm_ip, rt->conf->admin_port, &rt->adm_fd, &rt->adm_port, "admin port");
	if ((r = ped_admin_port_publish(rt->name, rt->adm_port)) != PED_OK)
		ped_runtime_fail(rt, r, "cannot publish the admin port in the runtime directory");
	rt->published = 1;
	/* Not removed first: another instance's (another PID file, the same
	 * runtime directory) would lose its socket; a stale one is replaced. */
	if ((r = ped_admin_socket_path(rt->name, rt->adm_upath, sizeof(rt->adm_upath))) != PED_OK)
		ped_runtime_fail(rt, r, "cannot listen on the admin socket %s: %s", rt->adm_upath, strerror(errno));
	unix_listen(rt, rt->adm_upath, 0600, &rt->adm_ufd, "the admin socket");
	if ((r = ped_admin_server_new(rt->loop, rt->adm_fd, rt->adm_ufd, on_admin, rt, ped_ms(rt->conf->read_timeout_s),
				      &rt->admin)) != PED_OK)
		ped_runtime_fail(rt, r, "cannot serve the admin port");
}

static void on_listener(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	struct ped_runtime_listener *l = arg;
	char peer[96];
	int cfd;
	(void)loop;
	(void)events;
	while (ped_accept(fd, &cfd) == PED_OK) {
		ped_sock_peer_name(cfd, peer, sizeof(peer));
		l->fn(cfd, peer, l->arg);
	}
}

void ped_runtime_serve(struct ped_runtime *rt, int fd, ped_accept_fn *fn, void *arg)
{
	struct ped_runtime_listener *l;
	if (rt->nlisteners == PED_RUNTIME_MAX_FDS)
		ped_runtime_fail(rt, PED_E_GENERAL, "too many listeners");
	l = &rt->listeners[rt->nlisteners++];
	*l = (struct ped_runtime_listener){fd, fn, arg};
	if (ped_evloop_add_fd(rt->loop, fd, PED_EV_READ, on_listener, l) != PED_OK)
		ped_runtime_fail(rt, PED_E_HOST_MEMORY, "out of memory");
}

static void on_term(struct ped_evloop *loop, int signo, void *arg)
{
	(void)arg;
	ped_info("signal %d: stopping", signo);
	(void)ped_daemon_notify("STOPPING=1");
	ped_evloop_stop(loop);
}

int ped_runtime_run(struct ped_runtime *rt)
{
	ped_evloop_add_signal(rt->loop, SIGTERM, on_term, NULL);
	ped_evloop_add_signal(rt->loop, SIGINT, on_term, NULL);
	ped_daemon_hup_reopens_log(rt->loop);
	ped_tls_log_to(ped_log_write); /* a link whose peer was unregistered is logged */
	ped_daemon_ready(rt->conf->foreground);
	return ped_evloop_run(rt->loop);
}

void ped_runtime_end(struct ped_runtime *rt)
{
	ped_admin_server_free(rt->admin);
	rt->admin = NULL;
	if (rt->adm_fd >= 0)
		close(rt->adm_fd);
	if (rt->adm_ufd >= 0)
		close(rt->adm_ufd);
	for (size_t i = 0; i < rt->nfds; i++)
		close(rt->fds[i]);
	rt->nfds = 0;
	ped_workers_free(&rt->workers);
	/* A worker still in its TLS handshake or dial, or a TLS proxy still
	 * relaying, runs in OpenSSL and reads the daemon's settings: exit()
	 * would run OpenSSL's atexit cleanup under it (its locks and stores
	 * freed while it uses them) and the caller would free the settings.
	 * The process ends here then, as hsm-sim and rbs do. */
	int busy = rt->workers.busy + ped_tls_proxies_live();
	ped_evloop_free(rt->loop);
	rt->loop = NULL;
	unwind(rt);
	ped_info("stopped");
	if (busy) {
		ped_log_close();
		_exit(0);
	}
}
