/* Admin port: request line, text answer, result line, close. */
#define _GNU_SOURCE /* struct ucred */
#include "ped/admin.h"

#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/fileio.h"
#include "ped/net.h"

#include <openssl/crypto.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Connections served at once; a further one replaces the oldest, so local
 * clients that connect and say nothing cannot shut the port. */
#define ADMIN_CONNS 8

struct admin_conn {
	int fd; /* -1: free */
	int trusted; /* the daemon's own user or root, by the kernel's word */
	uint64_t since, deadline;
	char in[PED_ADMIN_LINE_MAX + 1];
	size_t have;
	char *out; /* the answer, once the request line is in */
	size_t out_len, out_off;
};

struct ped_admin_server {
	struct ped_evloop *loop;
	int lfd, ufd; /* the TCP port, the Unix admin socket (-1: none) */
	int group_trusted; /* the admin socket is in the system runtime directory: */
	gid_t group;       /* members of this group steer the system services too */
	ped_admin_fn fn;
	void *arg;
	int timeout_ms;
	struct ped_timer timer;
	struct admin_conn c[ADMIN_CONNS];
};

static void conn_close(struct ped_admin_server *a, struct admin_conn *c)
{
	if (c->fd < 0)
		return;
	ped_evloop_del_fd(a->loop, c->fd);
	close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void schedule(struct ped_admin_server *a)
{
	uint64_t due = 0;
	for (int i = 0; i < ADMIN_CONNS; i++)
		if (a->c[i].fd >= 0)
			ped_deadline_min(&due, a->c[i].deadline);
	ped_timer_at(a->loop, &a->timer, due);
}

static void on_deadline(struct ped_evloop *loop, struct ped_timer *t, void *arg)
{
	struct ped_admin_server *a = arg;
	uint64_t now = ped_now_ms();
	(void)loop;
	(void)t;
	for (int i = 0; i < ADMIN_CONNS; i++)
		if (a->c[i].fd >= 0 && now >= a->c[i].deadline)
			conn_close(a, &a->c[i]);
	schedule(a);
}

/* Sends what it can of the answer; closes once all of it is out. */
static void conn_flush(struct ped_admin_server *a, struct admin_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ped_evloop_mod_fd(a->loop, c->fd, PED_EV_WRITE);
			return;
		}
		if (n <= 0)
			break;
		c->out_off += (size_t)n;
	}
	conn_close(a, c);
}

static void conn_answer(struct ped_admin_server *a, struct admin_conn *c, size_t n)
{
	FILE *out;
	c->in[n] = '\0';
	if (n && c->in[n - 1] == '\r')
		c->in[n - 1] = '\0';
	if (!(out = open_memstream(&c->out, &c->out_len))) {
		conn_close(a, c);
		return;
	}
	int r = a->fn(a->arg, c->in, c->trusted, out);
	fprintf(out, "RESULT %d\n", r);
	fclose(out);
	conn_flush(a, c);
}

static void on_conn(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	struct ped_admin_server *a = arg;
	struct admin_conn *c = NULL;
	(void)loop;
	for (int i = 0; i < ADMIN_CONNS && !c; i++)
		if (a->c[i].fd == fd)
			c = &a->c[i];
	if (!c)
		return;
	if (c->out) {
		conn_flush(a, c);
		return;
	}
	if (events & PED_EV_ERROR && !(events & PED_EV_READ)) {
		conn_close(a, c);
		return;
	}
	ssize_t n = recv(fd, c->in + c->have, PED_ADMIN_LINE_MAX - c->have, 0);
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		conn_close(a, c);
		return;
	}
	char *nl = memchr(c->in + c->have, '\n', (size_t)n);
	c->have += (size_t)n;
	if (nl) /* anything after the line is not ours to read: dropped */
		conn_answer(a, c, (size_t)(nl - c->in));
	else if (c->have == PED_ADMIN_LINE_MAX)
		conn_close(a, c);
	schedule(a);
}

/* On the Unix socket the kernel tells who connected (SO_PEERCRED); on the
 * TCP port nobody is known, so no connection there is trusted. */
static int peer_is_trusted(int lfd, int fd, const struct ped_admin_server *a)
{
	struct ucred cred;
	gid_t groups[256];
	socklen_t len = sizeof(cred);
	if (lfd != a->ufd || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred))
		return 0;
	if (cred.uid == geteuid() || cred.uid == 0)
		return 1;
	/* A system service's: the members of its group, as the kernel saw
	 * them when they connected (SO_PEERGROUPS: supplementary groups too). */
	if (!a->group_trusted)
		return 0;
	if (cred.gid == a->group)
		return 1;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0)
		return 0;
	for (size_t i = 0; i < len / sizeof(groups[0]); i++)
		if (groups[i] == a->group)
			return 1;
	return 0;
}

/* The admin socket's directory is the system runtime directory: its
 * group's members use the services (docs/security.md). */
static void trust_group_of(struct ped_admin_server *a, int unix_fd)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	char dir[sizeof(sa.sun_path) + 1];

	memset(&sa, 0, sizeof(sa));
	if (getsockname(unix_fd, (struct sockaddr *)&sa, &len) != 0 || sa.sun_family != AF_UNIX || !sa.sun_path[0])
		return;
	memcpy(dir, sa.sun_path, sizeof(sa.sun_path));
	dir[sizeof(sa.sun_path)] = '\0';
	a->group_trusted = ped_dir_group_shared(dirname(dir), &a->group);
}

static void on_listen(struct ped_evloop *loop, int lfd, unsigned events, void *arg)
{
	struct ped_admin_server *a = arg;
	int fd;
	(void)loop;
	(void)events;
	while (ped_accept(lfd, &fd) == PED_OK) {
		/* a free slot, else the oldest, sparing the owner's own requests:
		 * silent TCP connections must not push out a stop or connect */
		struct admin_conn *c = &a->c[0];
		for (int i = 0; i < ADMIN_CONNS; i++) {
			if (a->c[i].fd < 0) {
				c = &a->c[i];
				break;
			}
			if (c->trusted > a->c[i].trusted ||
			    (c->trusted == a->c[i].trusted && a->c[i].since < c->since))
				c = &a->c[i];
		}
		conn_close(a, c);
		if (ped_set_nonblock(fd, 1) != PED_OK ||
		    ped_evloop_add_fd(a->loop, fd, PED_EV_READ, on_conn, a) != PED_OK) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->trusted = peer_is_trusted(lfd, fd, a);
		c->since = ped_now_ms();
		c->deadline = c->since + (uint64_t)a->timeout_ms;
	}
	schedule(a);
}

int ped_admin_server_new(struct ped_evloop *loop, int listen_fd, int unix_fd, ped_admin_fn fn, void *arg,
			 int timeout_ms, struct ped_admin_server **out)
{
	struct ped_admin_server *a = calloc(1, sizeof(*a));
	int r;
	if (!a)
		return PED_E_HOST_MEMORY;
	a->loop = loop;
	a->lfd = listen_fd;
	a->ufd = unix_fd;
	a->fn = fn;
	a->arg = arg;
	a->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
	for (int i = 0; i < ADMIN_CONNS; i++)
		a->c[i].fd = -1;
	ped_timer_init(&a->timer, on_deadline, a);
	if ((r = ped_evloop_add_fd(loop, listen_fd, PED_EV_READ, on_listen, a)) != PED_OK)
		goto fail;
	if (unix_fd >= 0)
		trust_group_of(a, unix_fd);
	if (unix_fd >= 0 && (r = ped_evloop_add_fd(loop, unix_fd, PED_EV_READ, on_listen, a)) != PED_OK) {
		ped_evloop_del_fd(loop, listen_fd);
		goto fail;
	}
	*out = a;
	return PED_OK;
fail:
	free(a);
	return r;
}

void ped_admin_server_free(struct ped_admin_server *a)
{
	if (!a)
		return;
	for (int i = 0; i < ADMIN_CONNS; i++)
		if (a->c[i].fd >= 0 && a->c[i].out)
			conn_flush(a, &a->c[i]); /* a "stop" answer still goes out */
	for (int i = 0; i < ADMIN_CONNS; i++)
		conn_close(a, &a->c[i]);
	ped_timer_stop(a->loop, &a->timer);
	ped_evloop_del_fd(a->loop, a->lfd);
	if (a->ufd >= 0)
		ped_evloop_del_fd(a->loop, a->ufd);
	free(a);
}

/* Sends line on fd (closed here) and collects the answer. */
static int query_fd(int fd, const char *line, char *out, size_t cap, int timeout_ms)
{
	char req[PED_ADMIN_LINE_MAX + 2];
	size_t have = 0;
	int r;

	snprintf(req, sizeof(req), "%s\n", line);
	if ((r = ped_write_all(fd, req, strlen(req), timeout_ms)) != PED_OK)
		goto out;
	for (;;) {
		char c;
		r = ped_read_full(fd, &c, 1, timeout_ms);
		if (r == PED_E_CLOSED)
			break;
		if (r != PED_OK)
			goto out;
		if (have + 1 >= cap) {
			r = PED_E_RANGE;
			goto out;
		}
		out[have++] = c;
	}
	out[have] = '\0';
	/* The last line is "RESULT <code>". */
	char *last = have >= 2 ? out + have - 2 : out;
	while (last > out && last[-1] != '\n')
		last--;
	if (strncmp(last, "RESULT ", 7) != 0) {
		r = PED_E_CLOSED;
		goto out;
	}
	r = atoi(last + 7);
	*last = '\0';
out:
	close(fd);
	return r;
}

int ped_admin_query(const char *host, uint16_t port, const char *line, char *out, size_t cap,
		    int timeout_ms)
{
	int fd, r;

	if (cap == 0 || strlen(line) > PED_ADMIN_LINE_MAX)
		return PED_E_INVALID;
	out[0] = '\0';
	if ((r = ped_tcp_connect(host, port, timeout_ms, &fd)) != PED_OK)
		return r;
	return query_fd(fd, line, out, cap, timeout_ms);
}

int ped_admin_socket_path(const char *name, char *path, size_t len)
{
	char file[128];
	snprintf(file, sizeof(file), "%s-admin.sock", name);
	return ped_runtime_path(file, path, len);
}

int ped_admin_query_local(const char *name, const char *line, char *out, size_t cap, int timeout_ms)
{
	char path[1024];
	int fd, r;

	if (cap == 0 || strlen(line) > PED_ADMIN_LINE_MAX)
		return PED_E_INVALID;
	out[0] = '\0';
	if ((r = ped_admin_socket_path(name, path, sizeof(path))) != PED_OK)
		return r;
	if ((r = ped_unix_connect(path, &fd)) != PED_OK)
		return r;
	return query_fd(fd, line, out, cap, timeout_ms);
}

static int port_file(const char *name, char *path, size_t len)
{
	char file[128];
	snprintf(file, sizeof(file), "%s.admin", name);
	return ped_runtime_path(file, path, len);
}

int ped_admin_port_publish(const char *name, uint16_t port)
{
	char path[1024], buf[16];
	int r, n = snprintf(buf, sizeof(buf), "%u\n", port);
	if ((r = port_file(name, path, sizeof(path))) != PED_OK)
		return r;
	/* the system services': their group's members' -mode show reads it */
	char dir[sizeof(path)];
	memcpy(dir, path, sizeof(path));
	return ped_file_write_atomic(path, buf, (size_t)n, ped_dir_group_shared(dirname(dir), NULL) ? 0640 : 0600);
}

int ped_admin_port_lookup(const char *name, uint16_t *port)
{
	char path[1024];
	uint8_t *data = NULL;
	size_t len = 0;
	int r;
	if ((r = port_file(name, path, sizeof(path))) != PED_OK ||
	    (r = ped_file_read_nofollow(path, 16, &data, &len)) != PED_OK)
		return r;
	char buf[17];
	memcpy(buf, data, len);
	buf[len] = '\0';
	OPENSSL_free(data);
	long v = strtol(buf, NULL, 10);
	if (v <= 0 || v > 65535)
		return PED_E_CORRUPT;
	*port = (uint16_t)v;
	return PED_OK;
}

void ped_admin_port_unpublish(const char *name)
{
	char path[1024];
	if (port_file(name, path, sizeof(path)) == PED_OK)
		(void)unlink(path);
}
