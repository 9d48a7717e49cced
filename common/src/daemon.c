/* pipe2() */
#define _GNU_SOURCE
#include "ped/daemon.h"

#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/log.h"
#include "ped/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The report the child sends on the pipe: a status and a message. */
struct report {
	int32_t err;
	char msg[480];
};

static int report_fd = -1;
static int foreground_mode;

int ped_daemon_pending(void)
{
	return report_fd >= 0;
}

static void send_report(int err, const char *msg)
{
	struct report rep;
	memset(&rep, 0, sizeof(rep));
	rep.err = err;
	snprintf(rep.msg, sizeof(rep.msg), "%s", msg ? msg : "");
	if (report_fd >= 0) {
		if (write(report_fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep)) {
			/* parent gone or timed out: nothing more to tell */
		}
		close(report_fd);
		report_fd = -1;
	}
}

static void detach_stdio(int keep_stderr)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	if (!keep_stderr)
		dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

void ped_no_core_dumps(void)
{
	struct rlimit none = {0, 0};
	(void)setrlimit(RLIMIT_CORE, &none);
}

static void on_hup(struct ped_evloop *loop, int signo, void *arg)
{
	(void)loop;
	(void)signo;
	(void)arg;
	if (ped_log_reopen() == PED_OK)
		ped_info("SIGHUP: the log file reopened");
}

void ped_daemon_hup_reopens_log(struct ped_evloop *loop)
{
	(void)ped_evloop_add_signal(loop, SIGHUP, on_hup, NULL);
}

void ped_stdio_ensure(void)
{
	int fd;
	/* Started with 0, 1 or 2 closed, our first files would take those
	 * numbers, and detaching stdio (dup2 of /dev/null) would close them:
	 * the report pipe (a start that never returns) or the log. */
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= STDERR_FILENO)
		;
	if (fd > STDERR_FILENO)
		close(fd);
}

/* Reaps pid if it ends within 2 s: 1, its status in *status; 0 if it lives on. */
static int reaped(pid_t pid, int *status)
{
	for (int i = 0; i < 200; i++) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return 1;
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* A child that will not report: it must not go on serving behind a start
 * that said it failed. SIGTERM, a moment to stop, then SIGKILL; reaped. */
static void stop_child(pid_t pid)
{
	int status;
	kill(pid, SIGTERM);
	if (reaped(pid, &status))
		return;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

int ped_daemon_start(int foreground, int timeout_ms, pid_t *child, char *msg, size_t msglen)
{
	struct report rep;
	struct pollfd p;
	int pfd[2], r;
	ssize_t n;
	pid_t pid;

	foreground_mode = foreground;
	if (foreground)
		return PED_DAEMON_CHILD;
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(msg, msglen, "pipe: %s", strerror(errno));
		return PED_E_DAEMON;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(msg, msglen, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return PED_E_DAEMON;
	}
	if (pid == 0) {
		close(pfd[0]);
		report_fd = pfd[1];
		/* A new session: no controlling terminal, and a terminal hangup or
		 * Ctrl-C in the starting shell no longer reaches the daemon. We open
		 * no terminal later, so a second fork is not needed. */
		setsid();
		return PED_DAEMON_CHILD;
	}
	close(pfd[1]);
	*child = pid;
	p.fd = pfd[0];
	p.events = POLLIN;
	do {
		r = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);
	} while (r < 0 && errno == EINTR);
	if (r == 0) {
		close(pfd[0]);
		stop_child(pid);
		snprintf(msg, msglen, "background process %ld did not report ready within %d ms (stopped)",
			 (long)pid, timeout_ms);
		return PED_E_TIMED_OUT;
	}
	n = read(pfd[0], &rep, sizeof(rep));
	close(pfd[0]);
	if (n != (ssize_t)sizeof(rep)) {
		int status = 0;
		/* The child died without a word (or closed the pipe and lives on:
		 * it is stopped): reap it and say how. */
		if (!reaped(pid, &status)) {
			stop_child(pid);
			snprintf(msg, msglen, "background process %ld closed its report pipe and was stopped",
				 (long)pid);
			return PED_E_DAEMON;
		}
		if (WIFSIGNALED(status))
			snprintf(msg, msglen, "background process died with signal %d",
				 WTERMSIG(status));
		else
			snprintf(msg, msglen, "background process exited before it was ready");
		return PED_E_DAEMON;
	}
	rep.msg[sizeof(rep.msg) - 1] = '\0';
	snprintf(msg, msglen, "%s", rep.msg);
	if (rep.err != PED_OK) {
		waitpid(pid, NULL, 0);
		return rep.err;
	}
	return PED_OK;
}

int ped_daemon_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	int fd, r = PED_OK;
	size_t len;

	if (!path || !*path)
		return PED_OK;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return PED_E_INVALID;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* an abstract socket */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return PED_E_SOCKET;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		r = PED_E_SOCKET;
	close(fd);
	return r;
}

void ped_daemon_ready(int keep_stderr)
{
	char state[64];
	/* systemd's Type=notify, without libsystemd: one datagram. */
	snprintf(state, sizeof(state), "READY=1\nMAINPID=%ld", (long)getpid());
	(void)ped_daemon_notify(state);
	if (foreground_mode || report_fd < 0)
		return;
	detach_stdio(keep_stderr);
	send_report(PED_OK, "ready");
}

void ped_daemon_fail(int err, const char *fmt, ...)
{
	char msg[480];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (report_fd >= 0)
		send_report(err ? err : PED_E_DAEMON, msg);
	else
		fprintf(stderr, "%s\n", msg);
	exit(1);
}

/* Exited, or a zombie that its parent (maybe a slow init) has not reaped yet. */
static int exited(pid_t pid)
{
	char path[64], buf[256];
	ssize_t n;
	int fd;
	char *paren;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] == 'Z';
}

int ped_wait_pid_gone(pid_t pid, int timeout_ms)
{
	uint64_t deadline = ped_now_ms() + (uint64_t)timeout_ms;
	struct timespec ts = {0, 5 * 1000 * 1000};
#ifdef SYS_pidfd_open
	/* A pidfd becomes readable when the process exits: wait for the event. */
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd >= 0) {
		struct pollfd p = {pfd, POLLIN, 0};
		int r;
		do {
			r = poll(&p, 1, timeout_ms);
		} while (r < 0 && errno == EINTR);
		close(pfd);
		(void)waitpid(pid, NULL, WNOHANG);
		return r > 0 ? PED_OK : PED_E_TIMED_OUT;
	}
#endif
	for (;;) {
		/* Reap it if it is our child, so kill(pid, 0) stops seeing a zombie. */
		(void)waitpid(pid, NULL, WNOHANG);
		if (exited(pid))
			return PED_OK;
		if (ped_now_ms() >= deadline)
			return PED_E_TIMED_OUT;
		nanosleep(&ts, NULL);
	}
}

int ped_daemon_stop(const char *pidfile, int timeout_ms, int *killed)
{
	pid_t pid;
	int r;

	if (killed)
		*killed = 0;
	if ((r = ped_pidfile_read(pidfile, &pid)) != PED_OK)
		return r;
	if (kill(pid, SIGTERM) != 0)
		return errno == ESRCH ? PED_OK : PED_E_INVALID;
	if (ped_wait_pid_gone(pid, timeout_ms) == PED_OK)
		return PED_OK;
	kill(pid, SIGKILL);
	if (killed)
		*killed = 1;
	return ped_wait_pid_gone(pid, 2000);
}
