#include "unit.h"

#include "ped/daemon.h"
#include "ped/error.h"
#include "ped/pidfile.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void pidfile_live_refused_stale_replaced(void)
{
	char path[300], msg[256];
	struct ped_pidfile pf, pf2;
	pid_t pid = 0, child;
	int fds[2];

	snprintf(path, sizeof(path), "%s/d.pid", unit_tmpdir());
	/* a child holds the file: we must be refused, naming it */
	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	child = fork();
	if (child == 0) {
		if (ped_pidfile_create(path, &pf, msg, sizeof(msg)) != PED_OK)
			_exit(1);
		if (write(fds[1], "r", 1) != 1)
			_exit(2);
		pause(); /* hold the lock until killed */
		_exit(0);
	}
	char c;
	CU_ASSERT_EQUAL(read(fds[0], &c, 1), 1);
	CU_ASSERT_EQUAL(ped_pidfile_create(path, &pf2, msg, sizeof(msg)), PED_E_PIDFILE);
	char want[64];
	snprintf(want, sizeof(want), "already running as pid %ld", (long)child);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, want));
	CU_ASSERT_EQUAL(ped_pidfile_read(path, &pid), PED_OK);
	CU_ASSERT_EQUAL(pid, child);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(fds[0]);
	close(fds[1]);
	/* the dead child's file is stale: no live holder, and we take it over */
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	CU_ASSERT_EQUAL(ped_pidfile_read(path, &pid), PED_E_NOT_FOUND);
	CU_ASSERT_EQUAL(ped_pidfile_create(path, &pf, msg, sizeof(msg)), PED_OK);
	ped_pidfile_remove(&pf);
	CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);
}

/* Runs the daemon start in a forked test process so its exit doesn't end the runner. */
static int start_and_report(int child_behaviour, char *msg, size_t len)
{
	pid_t child;
	int r = ped_daemon_start(0, 2000, &child, msg, len);
	if (r == PED_DAEMON_CHILD) {
		if (child_behaviour == 0) {
			ped_daemon_ready(1);
			_exit(0);
		}
		if (child_behaviour == 1)
			ped_daemon_fail(PED_E_SOCKET, "cannot listen on port %d", 1503);
		if (child_behaviour == 2)
			abort();
		pause(); /* never ready */
		_exit(0);
	}
	if (r == PED_OK || r == PED_E_TIMED_OUT) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	return r;
}

static void daemonize_reports_ready_or_why_not(void)
{
	char msg[512];
	CU_ASSERT_EQUAL(start_and_report(0, msg, sizeof(msg)), PED_OK);
	CU_ASSERT_STRING_EQUAL(msg, "ready");
	CU_ASSERT_EQUAL(start_and_report(1, msg, sizeof(msg)), PED_E_SOCKET);
	CU_ASSERT_STRING_EQUAL(msg, "cannot listen on port 1503");
	CU_ASSERT_EQUAL(start_and_report(2, msg, sizeof(msg)), PED_E_DAEMON);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg, "signal 6"));
}

UNIT_SUITE(daemon, NULL, NULL, UNIT_TEST(pidfile_live_refused_stale_replaced),
	   UNIT_TEST(daemonize_reports_ready_or_why_not))
