/* Who the admin server trusts: only a connection on its Unix socket whose
 * peer (SO_PEERCRED) is the daemon's own user or root; never one on the
 * TCP port. */
#include "unit.h"

#include "ped/admin.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/net.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int seen_trusted = -1;

static int record(void *arg, const char *line, int trusted, FILE *out)
{
	(void)line;
	seen_trusted = trusted;
	fprintf(out, "ok\n");
	ped_evloop_stop(arg);
	return PED_OK;
}

/* Serves one request from a child process running as uid (0: stay as we
 * are) on the Unix socket, or on the TCP port; returns what the server
 * decided about it. */
static int trusted_as(uid_t uid, int on_tcp)
{
	char dir[400], path[500], out[256];
	struct ped_evloop *loop = ped_evloop_new();
	struct ped_admin_server *a = NULL;
	uint16_t port = 0;
	int tfd = -1, ufd = -1;
	snprintf(dir, sizeof(dir), "%s/admin-%ld-%d", unit_tmpdir(), (long)uid, on_tcp);
	snprintf(path, sizeof(path), "%s/x-admin.sock", dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	CU_ASSERT_EQUAL_FATAL(ped_tcp_listen("127.0.0.1", 0, &tfd, &port), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_unix_listen(path, 0600, &ufd), PED_OK);
	/* let the other uid reach it, as a looser directory would */
	chmod(dir, 0711);
	chmod(path, 0666);
	chmod(unit_tmpdir(), 0711);
	CU_ASSERT_EQUAL_FATAL(ped_admin_server_new(loop, tfd, ufd, record, loop, 5000, &a), PED_OK);
	seen_trusted = -1;
	pid_t child = fork();
	if (child == 0) {
		int fd;
		if (uid && (setgid(uid) != 0 || setuid(uid) != 0))
			_exit(2);
		if (on_tcp)
			_exit(ped_admin_query("127.0.0.1", port, "stop", out, sizeof(out), 5000) == PED_OK ? 0 : 1);
		if (ped_unix_connect(path, &fd) != PED_OK || ped_set_nonblock(fd, 0) != PED_OK || write(fd, "stop\n", 5) != 5 ||
		    read(fd, out, sizeof(out)) <= 0)
			_exit(1);
		_exit(0);
	}
	alarm(10);
	ped_evloop_run(loop);
	alarm(0);
	ped_admin_server_free(a);
	int status;
	waitpid(child, &status, 0);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(tfd);
	close(ufd);
	unlink(path);
	ped_evloop_free(loop);
	chmod(unit_tmpdir(), 0700);
	return seen_trusted;
}

static void only_the_owner_on_the_unix_socket_is_trusted(void)
{
	CU_ASSERT_EQUAL(trusted_as(0, 0), 1);
	CU_ASSERT_EQUAL(trusted_as(0, 1), 0);
	if (geteuid() != 0)
		return; /* another uid needs root */
	CU_ASSERT_EQUAL(trusted_as(65534, 0), 0);
	CU_ASSERT_EQUAL(trusted_as(65534, 1), 0);
}

UNIT_SUITE(admin, NULL, NULL, UNIT_TEST(only_the_owner_on_the_unix_socket_is_trusted))
