/* accept4() */
#define _GNU_SOURCE
#include "ped/net.h"

#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/fileio.h"
#include "ped/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <unistd.h>

int ped_set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return PED_E_SOCKET;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl) == 0 ? PED_OK : PED_E_SOCKET;
}

static void set_nodelay(int fd)
{
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int resolve(const char *host, uint16_t port, int passive, struct addrinfo **res)
{
	struct addrinfo hints;
	char service[8];

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	snprintf(service, sizeof(service), "%u", port);
	if (host && (!*host || strcmp(host, "0.0.0.0") == 0)) {
		host = "0.0.0.0";
		hints.ai_family = AF_INET;
	}
	if (getaddrinfo(host, service, &hints, res) != 0) {
		errno = EHOSTUNREACH;
		return PED_E_SOCKET;
	}
	return PED_OK;
}

int ped_tcp_listen(const char *host, uint16_t port, int *fd_out, uint16_t *bound_port)
{
	struct addrinfo *res = NULL, *ai;
	int fd = -1, one = 1, r = PED_E_SOCKET, saved = 0;

	if ((r = resolve(host ? host : "0.0.0.0", port, 1, &res)) != PED_OK)
		return r;
	r = PED_E_SOCKET;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		errno = saved;
		return PED_E_SOCKET;
	}
	if (bound_port && ped_sock_local_port(fd, bound_port) != PED_OK) {
		saved = errno;
		close(fd);
		errno = saved;
		return PED_E_SOCKET;
	}
	*fd_out = fd;
	return PED_OK;
}

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = {fd, events, 0};
	int r;
	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return PED_E_SOCKET;
	if (r == 0) {
		errno = ETIMEDOUT;
		return PED_E_TIMED_OUT;
	}
	return PED_OK;
}

int ped_tcp_connect(const char *host, uint16_t port, int timeout_ms, int *fd_out)
{
	struct addrinfo *res = NULL, *ai;
	int fd = -1, r = PED_E_SOCKET, saved = ECONNREFUSED;

	if ((r = resolve(host, port, 0, &res)) != PED_OK)
		return r;
	r = PED_E_SOCKET;
	for (ai = res; ai; ai = ai->ai_next) {
		int err = 0;
		socklen_t len = sizeof(err);
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			r = PED_OK;
			break;
		}
		if (errno != EINPROGRESS) {
			saved = errno;
			r = PED_E_SOCKET;
		} else if ((r = wait_fd(fd, POLLOUT, timeout_ms > 0 ? timeout_ms : -1)) != PED_OK) {
			saved = errno;
		} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
			saved = err ? err : errno;
			r = PED_E_SOCKET;
		} else {
			break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		errno = saved;
		return r == PED_OK ? PED_E_SOCKET : r;
	}
	set_nodelay(fd);
	*fd_out = fd;
	return PED_OK;
}

/* Out of descriptors, accept() fails with EMFILE and the listener stays
 * readable: every daemon's loop, which polls it level-triggered, would wake
 * at once, fail again and spin at 100% CPU for as long as the peers keep
 * their connections. So the descriptor kept in reserve (ped/fileio.h) is
 * given up to accept the waiting connection and close it at once (the
 * peer sees it end), then taken again. */
static int shed(int listen_fd, int err)
{
	static uint64_t last_warned;
	int shed_one = 0;

	if (ped_fd_spare_give()) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			shed_one = 1;
		}
		ped_fd_spare_take();
	}
	uint64_t now = ped_now_ms(), then = __atomic_load_n(&last_warned, __ATOMIC_RELAXED);
	if ((!then || now - then >= 10000) &&
	    __atomic_compare_exchange_n(&last_warned, &then, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		ped_warn("cannot accept a connection: %s; %s", strerror(err),
			 shed_one ? "it was closed (raise the limit of open files, ulimit -n)"
				  : "no descriptor in reserve to refuse it");
	}
	errno = err;
	return PED_E_BUSY;
}

int ped_accept(int listen_fd, int *fd_out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	ped_fd_spare_take();
	fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE))
		return shed(listen_fd, errno);
	if (fd < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? PED_E_BUSY
										   : PED_E_SOCKET;
	if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
		set_nodelay(fd);
	*fd_out = fd;
	return PED_OK;
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		errno = ENAMETOOLONG;
		return PED_E_SOCKET;
	}
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return PED_OK;
}

int ped_unix_connect(const char *path, int *fd_out)
{
	struct sockaddr_un sa;
	int fd, saved;

	if (unix_addr(path, &sa) != PED_OK)
		return PED_E_SOCKET;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return PED_E_SOCKET;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return PED_E_SOCKET;
	}
	ped_set_nonblock(fd, 1);
	*fd_out = fd;
	return PED_OK;
}

int ped_unix_listen(const char *path, mode_t mode, int *fd_out)
{
	struct sockaddr_un sa;
	char dir[sizeof(sa.sun_path)], why[1024];
	int fd = -1, probe, saved;

	if (unix_addr(path, &sa) != PED_OK)
		return PED_E_SOCKET;
	/* Only in a directory no one else can write to: elsewhere another user
	 * could put their own socket at the path, or a link that our chmod
	 * below would follow. (No one can connect between bind and chmod:
	 * connect is refused until listen.) */
	memcpy(dir, path, strlen(path) + 1);
	const char *parent = dirname(dir);
	if (ped_dir_check_private(parent, PED_DIR_NOWRITE, why, sizeof(why)) != PED_OK) {
		ped_error("%s: %s", path, why);
		errno = EPERM;
		return PED_E_SOCKET;
	}
	/* In the system runtime directory (PED_SYSTEM_GROUP's) the group's
	 * members use the services: the socket is the group's and lets it in
	 * too (0600 becomes 0660); others are kept out by its mode. */
	gid_t group;
	int shared = ped_dir_group_shared(parent, &group);
	/* Someone listening? Then the path is in use; otherwise it is stale. */
	if (ped_unix_connect(path, &probe) == PED_OK) {
		close(probe);
		errno = EADDRINUSE;
		return PED_E_EXISTS;
	}
	(void)unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return PED_E_SOCKET;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		/* The services' user makes it the group's already (its primary
		 * group): no chown then, which their units' system call filter
		 * (~@privileged) refuses. */
		struct stat st;
		if (shared && ((lstat(path, &st) == 0 && st.st_gid == group) || lchown(path, (uid_t)-1, group) == 0))
			mode |= (mode & 0600) >> 3;
		if (chmod(path, mode) == 0 && listen(fd, 64) == 0) {
			*fd_out = fd;
			return PED_OK;
		}
	}
	saved = errno;
	close(fd);
	errno = saved;
	return PED_E_SOCKET;
}

int ped_unix_listener_pid(const char *path, pid_t *pid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd, r = PED_E_NOT_FOUND;

	if (ped_unix_connect(path, &fd) != PED_OK)
		return PED_E_NOT_FOUND;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof(cred) && cred.pid > 0) {
		*pid = cred.pid;
		r = PED_OK;
	}
	close(fd);
	return r;
}

int ped_sock_local_port(int fd, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return PED_E_SOCKET;
	if (ss.ss_family == AF_INET)
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		return PED_E_INVALID;
	return PED_OK;
}

static void format_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else if (ss->ss_family == AF_UNIX) {
		snprintf(buf, len, "unix");
	} else {
		snprintf(buf, len, "?");
	}
}

void ped_sock_peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		ss.ss_family = AF_UNSPEC;
	format_addr(&ss, buf, len);
}

void ped_sock_local_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		ss.ss_family = AF_UNSPEC;
	format_addr(&ss, buf, len);
}

static int remaining(uint64_t deadline, int timeout_ms)
{
	uint64_t now;
	if (timeout_ms < 0)
		return -1;
	now = ped_now_ms();
	return now >= deadline ? 0 : (int)(deadline - now);
}

int ped_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	const unsigned char *p = buf;
	uint64_t deadline = ped_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	int r;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return PED_E_SOCKET;
		if ((r = wait_fd(fd, POLLOUT, remaining(deadline, timeout_ms))) != PED_OK)
			return r;
	}
	return PED_OK;
}

int ped_write2_all(int fd, const void *a, size_t alen, const void *b, size_t blen, int timeout_ms)
{
	struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
	struct iovec *v = iov;
	int nv = blen ? 2 : 1;
	uint64_t deadline = ped_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	int r;

	while (nv) {
		ssize_t n = writev(fd, v, nv);
		if (n > 0) {
			size_t done = (size_t)n;
			while (nv && done >= v->iov_len) {
				done -= v->iov_len;
				v++;
				nv--;
			}
			if (nv) {
				v->iov_base = (unsigned char *)v->iov_base + done;
				v->iov_len -= done;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return PED_E_SOCKET;
		if ((r = wait_fd(fd, POLLOUT, remaining(deadline, timeout_ms))) != PED_OK)
			return r;
	}
	return PED_OK;
}

int ped_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	unsigned char *p = buf;
	uint64_t deadline = ped_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	int r;

	while (len) {
		ssize_t n = read(fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return PED_E_CLOSED;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return PED_E_SOCKET;
		if ((r = wait_fd(fd, POLLIN, remaining(deadline, timeout_ms))) != PED_OK)
			return r;
	}
	return PED_OK;
}
