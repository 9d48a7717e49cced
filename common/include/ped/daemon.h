/* Starting and stopping daemons the way the documented commands expect:
 * "-mode start" returns only once the background process serves, or prints
 * why it could not; "-mode stop" returns once it is gone.
 *
 *   r = ped_daemon_start(foreground, timeout_ms, &pid, msg, sizeof msg);
 *   if (r == PED_DAEMON_CHILD) { set up...; ped_daemon_ready(); run loop }
 *   else if (r == PED_OK) parent: the child (pid) serves
 *   else parent: r and msg say why it failed (child's own error, or timeout)
 */
#ifndef PED_DAEMON_H
#define PED_DAEMON_H

#include <stddef.h>
#include <sys/types.h>

#define PED_DAEMON_CHILD 1

/* First thing in main: opens /dev/null on whichever of fds 0-2 are closed. */
void ped_stdio_ensure(void);
/* For a program that holds keys (hsm-sim, the PED, rbs, pedclient,
 * pedserver): no core dump, whatever ulimit -c said. A core file, or one
 * kept by a crash handler (systemd-coredump, apport, which honour the
 * limit), would hold every key the process had in memory in clear (the
 * HSMs' storage keys, the splits a PED holds), beyond the reach of a
 * zeroization. Soft and hard limit 0. */
void ped_no_core_dumps(void);
struct ped_evloop;
/* SIGHUP reopens the log file (-logfile): an outside rotation (logrotate's
 * move, then HUP) goes on in a new file. Without this the signal's default
 * ended the daemon on the spot, no clean stop, its files left behind. */
void ped_daemon_hup_reopens_log(struct ped_evloop *loop);
/* foreground: no fork; returns PED_DAEMON_CHILD at once, and ready/fail only log.
 * A child that does not report within timeout_ms is stopped (and reaped). */
int ped_daemon_start(int foreground, int timeout_ms, pid_t *child, char *msg, size_t msglen);
/* In the child once it serves: tells the parent, and detaches stdio (stderr
 * too unless keep_stderr). */
void ped_daemon_ready(int keep_stderr);
/* In the child before ready: tells the parent err and the message, then exits 1. */
__attribute__((noreturn)) void ped_daemon_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* True in a background child that has not yet reported. */
int ped_daemon_pending(void);
/* Sends state ("READY=1", "STOPPING=1") to $NOTIFY_SOCKET if set (systemd's
 * notify protocol, no libsystemd); PED_OK when there is none. ped_daemon_ready
 * sends READY=1 itself. */
int ped_daemon_notify(const char *state);

/* Sends SIGTERM to the process holding pidfile and waits up to timeout_ms for
 * it to exit, then SIGKILL. *killed (if given) tells whether SIGKILL was needed.
 * PED_E_NOT_FOUND if no live process holds the file. */
int ped_daemon_stop(const char *pidfile, int timeout_ms, int *killed);
/* Waits up to timeout_ms for pid to exit (polling kill(pid, 0)). */
int ped_wait_pid_gone(pid_t pid, int timeout_ms);

#endif
