/* A small daemon exercising the shared plumbing end to end: background start
 * that reports readiness, PID file, TCP on an ephemeral port, the event loop,
 * clean stop on SIGTERM. It answers "pong" to "ping" and echoes other lines.
 *
 *   testd [-ip ADDR] [-port N] [-pidfile F] [-portfile F] [-foreground]
 *   testd -client PORT [-ip ADDR] LINE     one request, prints the answer
 */
#include "ped/daemon.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_CLIENTS 64

struct client {
	int fd;
	char buf[256];
	size_t len;
};

static struct client clients[MAX_CLIENTS];
static int listen_fd = -1;

static void drop(struct ped_evloop *loop, struct client *c)
{
	ped_evloop_del_fd(loop, c->fd);
	close(c->fd);
	c->fd = -1;
}

static void on_client(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	struct client *c = arg;
	ssize_t n;
	char *nl;
	(void)fd;
	(void)events;

	n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		drop(loop, c);
		return;
	}
	c->len += (size_t)n;
	while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
		size_t line = (size_t)(nl - c->buf) + 1;
		if (line == 5 && memcmp(c->buf, "ping\n", 5) == 0)
			ped_write_all(c->fd, "pong\n", 5, 1000);
		else
			ped_write_all(c->fd, c->buf, line, 1000);
		memmove(c->buf, c->buf + line, c->len - line);
		c->len -= line;
	}
	if (c->len == sizeof(c->buf) - 1)
		drop(loop, c); /* a line longer than we accept */
}

static void on_accept(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	int cfd;
	(void)events;
	(void)arg;
	while (ped_accept(fd, &cfd) == PED_OK) {
		struct client *c = NULL;
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (clients[i].fd < 0) {
				c = &clients[i];
				break;
			}
		if (!c) {
			close(cfd);
			continue;
		}
		c->fd = cfd;
		c->len = 0;
		ped_evloop_add_fd(loop, cfd, PED_EV_READ, on_client, c);
	}
}

static void on_term(struct ped_evloop *loop, int signo, void *arg)
{
	(void)arg;
	ped_info("signal %d: stopping", signo);
	ped_evloop_stop(loop);
}

static int write_portfile(const char *path, unsigned port)
{
	char tmp[600], buf[16];
	int fd, n = snprintf(buf, sizeof(buf), "%u\n", port);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, (size_t)n) != n || close(fd) != 0)
		return -1;
	return rename(tmp, path);
}

static int client(const char *ip, const char *port, const char *line)
{
	char buf[300];
	int fd, r;
	size_t len = strlen(line);
	if ((r = ped_tcp_connect(ip, (uint16_t)atoi(port), 2000, &fd)) != PED_OK) {
		fprintf(stderr, "testd: connect: %s (%s)\n", ped_strerror(r), strerror(errno));
		return 1;
	}
	snprintf(buf, sizeof(buf), "%s\n", line);
	ped_write_all(fd, buf, len + 1, 2000);
	for (size_t i = 0; i < sizeof(buf) - 1; i++) {
		if ((r = ped_read_full(fd, buf + i, 1, 2000)) != PED_OK) {
			fprintf(stderr, "testd: read: %s\n", ped_strerror(r));
			return 1;
		}
		if (buf[i] == '\n') {
			fwrite(buf, 1, i + 1, stdout);
			break;
		}
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *ip = "127.0.0.1", *pidpath = NULL, *portfile = NULL, *client_port = NULL;
	struct ped_pidfile pf = {-1, ""};
	struct ped_evloop *loop;
	int foreground = 0, r;
	uint16_t port = 0, bound;
	char msg[512];
	pid_t child;

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcasecmp(o, "-foreground") == 0) {
			foreground = 1;
			continue;
		}
		if (!v) {
			if (client_port) {
				return client(ip, client_port, o);
			}
			fprintf(stderr, "testd: %s needs a value\n", o);
			return 2;
		}
		if (strcasecmp(o, "-ip") == 0)
			ip = v;
		else if (strcasecmp(o, "-port") == 0)
			port = (uint16_t)atoi(v);
		else if (strcasecmp(o, "-pidfile") == 0)
			pidpath = v;
		else if (strcasecmp(o, "-portfile") == 0)
			portfile = v;
		else if (strcasecmp(o, "-client") == 0)
			client_port = v;
		else if (client_port)
			return client(ip, client_port, o);
		else {
			fprintf(stderr, "testd: unknown option %s\n", o);
			return 2;
		}
		i++;
	}

	r = ped_daemon_start(foreground, 5000, &child, msg, sizeof(msg));
	if (r != PED_DAEMON_CHILD) {
		if (r != PED_OK) {
			fprintf(stderr, "testd: start failed: %s: %s\n", ped_err_name(r), msg);
			return 1;
		}
		printf("testd: started, pid %ld\n", (long)child);
		return 0;
	}
	struct ped_log_config lc = {"testd", PED_LOG_DEFAULT_MASK, NULL, 0};
	ped_log_open(&lc);
	if (pidpath && (r = ped_pidfile_create(pidpath, &pf, msg, sizeof(msg))) != PED_OK)
		ped_daemon_fail(r, "%s", msg);
	if ((r = ped_tcp_listen(ip, port, &listen_fd, &bound)) != PED_OK) {
		ped_pidfile_remove(&pf);
		ped_daemon_fail(r, "cannot listen on %s:%u: %s", ip, port, strerror(errno));
	}
	if (portfile && write_portfile(portfile, bound) != 0) {
		ped_pidfile_remove(&pf);
		ped_daemon_fail(PED_E_FILE, "cannot write %s: %s", portfile, strerror(errno));
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
	loop = ped_evloop_new();
	ped_evloop_add_fd(loop, listen_fd, PED_EV_READ, on_accept, NULL);
	ped_evloop_add_signal(loop, SIGTERM, on_term, NULL);
	ped_evloop_add_signal(loop, SIGINT, on_term, NULL);
	ped_info("listening on %s:%u", ip, bound);
	ped_daemon_ready(foreground);
	r = ped_evloop_run(loop);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			drop(loop, &clients[i]);
	ped_evloop_del_fd(loop, listen_fd);
	close(listen_fd);
	ped_evloop_free(loop);
	ped_pidfile_remove(&pf);
	ped_info("stopped");
	return r == PED_OK ? 0 : 1;
}
