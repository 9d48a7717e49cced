/* hsm-sim: hosts the HSMs of its configuration, each with its local PED
 * link, and serves hsmcm sessions on its control socket (and, with
 * -network, to registered clients over TLS: netserve.h).
 *
 *   hsm-sim [-configfile FILE] [-state DIR] [-socket PATH] [-daemon] [-pidfile FILE]
 *           [-network [-port N]]
 *   hsm-sim [-state DIR] -client register -name NAME -cert FILE | list | remove -name NAME | server
 */
#include "apps.h"
#include "audit.h"
#include "netserve.h"
#include "pedlink.h"
#include "session.h"
#include "sim.h"

#include "hsm/control.h"
#include "ped/config.h"
#include "ped/daemon.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/fileio.h"
#include "ped/log.h"
#include "ped/tls.h"
#include "ped/net.h"
#include "ped/opts.h"
#include "ped/pidfile.h"
#include "ped/thread.h"
#include "ped/tlsnet.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define USAGE                                                                                              \
	"hsm-sim [-configfile FILE] [-state DIR] [-socket PATH] [-daemon] [-pidfile FILE] [-logfile FILE]\n" \
	"        [-network [-port N]]\n"                                                                     \
	"hsm-sim [-state DIR] -client register -name NAME -cert FILE | list | remove -name NAME | server"

static struct ped_cfg_setting schema[] = {
	{.name = "ped_timeout", .type = PED_CFG_INT, .min = 1, .max = 86400, .dflt = 3600,
	 .help = "seconds a ceremony may wait for the PED"},
	{.name = "link_timeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10,
	 .help = "seconds for a PED handshake and each send"},
	{.name = "remote_idle_timeout", .type = PED_CFG_INT, .min = 1, .max = 86400, .dflt = 1800,
	 .help = "seconds before an idle remote PED connection ends"},
	{.name = "audit_spool_max", .type = PED_CFG_INT, .min = 65536, .max = 1073741824, .dflt = AUDIT_SPOOL_MAX_DEFAULT,
	 .help = "bytes of audit records an HSM keeps for pedclient; when full, audited work is refused"},
	{.name = "pedclient_socket", .type = PED_CFG_STRING, .sdflt = "",
	 .help = "where pedclient serves this host's HSMs (empty: pedclient.sock in the runtime directory)"},
	{.name = "network", .type = PED_CFG_BOOL, .dflt = 0,
	 .help = "serve the HSMs to registered clients over TLS (as -network)"},
	{.name = "network_port", .type = PED_CFG_INT, .min = 0, .max = 65535, .dflt = PED_NET_DEFAULT_PORT,
	 .help = "TCP port of the TLS listener (0: any, logged)"},
	{.name = "network_address", .type = PED_CFG_STRING, .sdflt = "",
	 .help = "address the TLS listener binds (empty: every address)"},
	{.name = "request_spin_us", .type = PED_CFG_INT, .min = 0, .max = 100000, .dflt = SESSION_SPIN_US_DEFAULT,
	 .help = "microseconds a session looks for its next request before it sleeps (0: sleeps at once)"},
	{.name = NULL},
};

static const char *const client_verbs[] = {"register", "list", "remove", "server", NULL};

static struct sim sim;
static struct pedports peds;
static struct session_server server = {&sim, &peds, SESSION_SPIN_US_DEFAULT};
static char socket_path[1024];
static int control_fd = -1;
static int state_lock_fd = -1; /* held until the process ends */

static void on_control(struct ped_evloop *loop, int fd, unsigned ev, void *arg)
{
	int cfd;
	(void)loop;
	(void)ev;
	(void)arg;
	while (ped_accept(fd, &cfd) == PED_OK) {
		ped_set_nonblock(cfd, 1);
		session_start(&server, cfd);
	}
}

static void on_ped(struct ped_evloop *loop, int fd, unsigned ev, void *arg)
{
	struct pedport *pt = arg;
	int cfd;
	(void)loop;
	(void)ev;
	while (ped_accept(fd, &cfd) == PED_OK)
		pedport_attach(pt, cfd);
}

static void on_term(struct ped_evloop *loop, int signo, void *arg)
{
	(void)ped_daemon_notify("STOPPING=1");
	(void)signo;
	(void)arg;
	ped_info("stopping");
	ped_evloop_stop(loop);
}

/* The pid holding an flock on the file st describes (from /proc/locks:
 * "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"), or 0. */
static pid_t flock_holder(const struct stat *st)
{
	FILE *f = fopen("/proc/locks", "re");
	char line[256];
	pid_t found = 0;
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		char kind[16];
		long pid;
		unsigned maj, min;
		unsigned long long ino;
		const char *p = strchr(line, ':');
		if (p && sscanf(p + 1, "%15s %*s %*s %ld %x:%x:%llu", kind, &pid, &maj, &min, &ino) == 5 &&
		    !strcmp(kind, "FLOCK") && ino == (unsigned long long)st->st_ino && maj == major(st->st_dev) &&
		    min == minor(st->st_dev))
			found = (pid_t)pid;
	}
	fclose(f);
	return found;
}

/* An flock on the state directory itself, held until the process ends (a
 * killed hsm-sim's goes with it). The directory, not a file in it: a file
 * held open for writing would keep the state's file system from being
 * remounted read-only, and a file would be left behind. */
static int lock_state_dir(const char *dir, char *msg, size_t msglen)
{
	struct stat st;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(msg, msglen, "cannot open the state directory %s: %s", dir, strerror(errno));
		return PED_E_FILE;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		if (e != EWOULDBLOCK) { /* a file system without locks: run as before */
			ped_warn("cannot lock the state directory %s (%s): nothing stops a second hsm-sim using it",
				 dir, strerror(e));
			close(fd);
			return PED_OK;
		}
		pid_t holder = fstat(fd, &st) == 0 ? flock_holder(&st) : 0;
		close(fd);
		if (holder > 0)
			snprintf(msg, msglen, "the state directory %s is in use by another hsm-sim (pid %ld)", dir,
				 (long)holder);
		else
			snprintf(msg, msglen, "the state directory %s is in use by another hsm-sim", dir);
		return PED_E_EXISTS;
	}
	state_lock_fd = fd;
	return PED_OK;
}

/* hsms = ( { serial = "..."; slot = N; type = "hsm" | "backup"; }, ... ); */
static int load_hsms(struct ped_config *cfg, const char *state_dir, char *err, size_t errlen)
{
	config_setting_t *list = config_lookup(&cfg->tree, "hsms");
	int n = list ? config_setting_length(list) : 0;

	if (!list) {
		/* the default: one HSM and a backup HSM */
		(void)sim_add(&sim, "154438865288", 0, 0);
		(void)sim_add(&sim, "496771", 20, 1);
	} else if (n < 1 || n > SIM_MAX_HSMS) {
		snprintf(err, errlen, "%s: hsms must list 1 to %d HSMs", cfg->path, SIM_MAX_HSMS);
		return PED_E_CONFIG;
	}
	for (int i = 0; list && i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const char *serial = NULL, *type = "hsm";
		int slot = i * 20;
		if (!config_setting_lookup_string(e, "serial", &serial) || !*serial ||
		    strlen(serial) > HSM_SERIAL_MAX || strspn(serial, "0123456789") != strlen(serial)) {
			snprintf(err, errlen, "%s:%d: hsms[%d].serial must be 1-%d digits", cfg->path,
				 config_setting_source_line(e), i, HSM_SERIAL_MAX);
			return PED_E_CONFIG;
		}
		config_setting_lookup_int(e, "slot", &slot);
		config_setting_lookup_string(e, "type", &type);
		if (slot < 0 || slot > 10000 || (strcmp(type, "hsm") && strcmp(type, "backup"))) {
			snprintf(err, errlen, "%s:%d: hsms[%d]: slot 0-10000 and type \"hsm\" or \"backup\"",
				 cfg->path, config_setting_source_line(e), i);
			return PED_E_CONFIG;
		}
		for (int j = 0; j < sim.nhsms; j++)
			if (abs(sim.hsms[j].base_slot - slot) < SIM_SLOTS_PER_HSM ||
			    !strcmp(sim.hsms[j].h.serial, serial)) {
				snprintf(err, errlen, "%s:%d: hsms[%d] overlaps another HSM's serial or slots (%d apart at least)",
					 cfg->path, config_setting_source_line(e), i, SIM_SLOTS_PER_HSM);
				return PED_E_CONFIG;
			}
		(void)sim_add(&sim, serial, slot, !strcmp(type, "backup"));
	}
	int r = sim_open(&sim, state_dir, err, errlen);
	if (r == PED_OK)
		r = audit_open_all(&sim, (uint64_t)ped_config_int(cfg, "audit_spool_max"), err, errlen);
	return r;
}

int main(int argc, char **argv)
{
	struct ped_opt opts[] = {
		{.name = "configfile", .aliases = "c", .kind = PED_OPT_STRING, .arg = "FILE", .help = "configuration (conf/hsm-sim.conf)"},
		{.name = "state", .kind = PED_OPT_STRING, .arg = "DIR", .help = "state directory"},
		{.name = "socket", .kind = PED_OPT_STRING, .arg = "PATH", .help = "control socket for hsmcm"},
		{.name = "daemon", .kind = PED_OPT_FLAG, .help = "run in the background"},
		{.name = "pidfile", .kind = PED_OPT_STRING, .arg = "FILE", .help = "PID file"},
		{.name = "logfile", .kind = PED_OPT_STRING, .arg = "FILE", .help = "log file (default: stderr; with -daemon hsm-sim.log in the data directory)"},
		{.name = "verbose", .kind = PED_OPT_FLAG, .help = "trace logging"},
		{.name = "version", .aliases = "v", .kind = PED_OPT_FLAG, .help = "print the version"},
		{.name = "network", .kind = PED_OPT_FLAG, .help = "serve registered clients over TLS"},
		{.name = "port", .kind = PED_OPT_INT, .min = 0, .max = 65535, .arg = "N",
		 .help = "the TLS listener's port (default 1792; 0: any)"},
		{.name = "client", .kind = PED_OPT_ENUM, .choices = client_verbs, .arg = "VERB",
		 .help = "register, list or remove a network client; server: our certificate"},
		{.name = "name", .kind = PED_OPT_STRING, .arg = "NAME", .help = "the client's name (-client)"},
		{.name = "cert", .kind = PED_OPT_STRING, .arg = "FILE", .help = "the client's certificate (-client register)"},
		{.name = NULL},
	};
	struct ped_config cfg = {0};
	uint16_t net_port = 0;
	struct ped_pidfile pf;
	struct ped_evloop *loop = NULL;
	char err[2048], msg[256], state_dir[1024];
	pid_t child;
	int r, foreground;

	ped_stdio_ensure();
	ped_no_core_dumps();
	memset(&pf, 0, sizeof(pf));
	pf.fd = -1; /* no PID file yet (fd 0 may be a real one) */
	r = ped_opts_parse(opts, argc, argv, 1, NULL, 0, NULL, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, USAGE, opts);
		return 0;
	}
	if (r != PED_OK) {
		fprintf(stderr, "hsm-sim: %s\n%s\n", err, USAGE);
		return 2;
	}
	if (ped_opts_seen(opts, "version")) {
		printf("hsm-sim %s\n", PED_VERSION);
		return 0;
	}
	const char *cpath = ped_opts_str(opts, "configfile", NULL);
	char dpath[1024] = "";
	if (!cpath) /* the user's hsm-sim.conf, else the system's */
		(void)ped_config_default_path("hsm-sim.conf", dpath, sizeof(dpath), NULL);
	static const char *const groups[] = {"hsms", NULL};
	r = ped_config_load_strict(&cfg, cpath ? cpath : dpath, schema, groups, err, sizeof(err));
	if (r != PED_OK && (cpath || (r != PED_E_NOT_FOUND && r != PED_E_FILE))) {
		fprintf(stderr, "hsm-sim: %s\n", err);
		ped_config_free(&cfg);
		return 1;
	}
	if (ped_opts_seen(opts, "socket"))
		snprintf(socket_path, sizeof(socket_path), "%s", ped_opts_str(opts, "socket", ""));
	else if (hsm_ctl_default_socket(socket_path, sizeof(socket_path)) != PED_OK) {
		fprintf(stderr, "hsm-sim: no runtime directory for the control socket\n");
		ped_config_free(&cfg);
		return 1;
	}
	if (ped_opts_seen(opts, "state"))
		snprintf(state_dir, sizeof(state_dir), "%s", ped_opts_str(opts, "state", ""));
	else if (ped_data_path("hsm-sim", state_dir, sizeof(state_dir)) != PED_OK) {
		fprintf(stderr, "hsm-sim: no data directory for the state\n");
		ped_config_free(&cfg);
		return 1;
	}
	/* The HSM's verifiers and failure counters: a directory someone else
	 * can change would let them roll the HSM back or swap its state. */
	if (ped_dir_private(state_dir, PED_DIR_SECRET, err, sizeof(err)) != PED_OK) {
		fprintf(stderr, "hsm-sim: %s (give -state a directory of your own, mode 0700)\n", err);
		ped_config_free(&cfg);
		return 1;
	}
	if (ped_opts_seen(opts, "client")) {
		/* the registry is files under the state: no daemon needed, and a
		 * running one reads it again at its next connection */
		r = netserve_admin(state_dir, client_verbs[ped_opts_num(opts, "client", 0)],
				   ped_opts_str(opts, "name", NULL), ped_opts_str(opts, "cert", NULL), stdout, err,
				   sizeof(err));
		if (r != PED_OK)
			fprintf(stderr, "hsm-sim: %s\n", err);
		ped_config_free(&cfg);
		return r == PED_OK ? 0 : 1;
	}
	int network = ped_opts_seen(opts, "network") || ped_config_int(&cfg, "network");
	net_port = (uint16_t)(ped_opts_seen(opts, "port") ? ped_opts_num(opts, "port", 0)
							   : ped_config_int(&cfg, "network_port"));
	server.spin_us = (unsigned)ped_config_int(&cfg, "request_spin_us");
	peds.ped_timeout_ms = (int)ped_config_int(&cfg, "ped_timeout") * 1000;
	peds.link_timeout_ms = (int)ped_config_int(&cfg, "link_timeout") * 1000;
	peds.remote_idle_timeout_s = (int)ped_config_int(&cfg, "remote_idle_timeout");
	const char *pcs = ped_config_str(&cfg, "pedclient_socket");
	if (pcs && *pcs)
		snprintf(peds.pedclient_socket, sizeof(peds.pedclient_socket), "%s", pcs);
	else if (ped_runtime_path("pedclient.sock", peds.pedclient_socket, sizeof(peds.pedclient_socket)) != PED_OK) {
		/* no Remote PED rather than a /tmp name another user could own */
		peds.pedclient_socket[0] = '\0';
		fprintf(stderr, "hsm-sim: no runtime directory for pedclient's socket: Remote PED is off (set "
				"pedclient_socket or XDG_RUNTIME_DIR)\n");
	}
	sim_init(&sim);

	foreground = !ped_opts_seen(opts, "daemon");
	/* The log: -logfile; else stderr in the foreground (a terminal, or a
	 * service manager's journal), hsm-sim.log in the data directory with
	 * -daemon, whose stderr goes nowhere. A log that cannot be written
	 * stops the start, before the fork, with a reason. */
	static char logfile[1024];
	if (ped_opts_seen(opts, "logfile"))
		snprintf(logfile, sizeof(logfile), "%s", ped_opts_str(opts, "logfile", ""));
	else if (!foreground && ped_data_path("hsm-sim.log", logfile, sizeof(logfile)) != PED_OK) {
		fprintf(stderr, "hsm-sim: no data directory for the log (give -logfile FILE)\n");
		ped_config_free(&cfg);
		return 1;
	}
	if (logfile[0]) {
		int lfd;
		if (ped_file_open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0600, &lfd, err, sizeof(err)) != PED_OK) {
			fprintf(stderr, "hsm-sim: cannot write the log file %s\n", err);
			ped_config_free(&cfg);
			return 1;
		}
		close(lfd);
	}
	r = ped_daemon_start(foreground, 10000, &child, msg, sizeof(msg));
	if (r != PED_DAEMON_CHILD) {
		ped_config_free(&cfg); /* the parent's copy: the child serves */
		if (r != PED_OK) {
			fprintf(stderr, "hsm-sim: cannot start: %s\n", msg);
			return 1;
		}
		printf("hsm-sim started (pid %ld), control socket %s, log %s\n", (long)child, socket_path, logfile);
		return 0;
	}
	struct ped_log_config lc = {"hsm-sim", PED_LOG_DEFAULT_MASK, logfile[0] ? logfile : NULL, 4u << 20};
	if (ped_opts_seen(opts, "verbose"))
		lc.mask |= PED_LOG_TRACE;
	if (ped_log_open(&lc) != PED_OK)
		ped_daemon_fail(PED_E_FILE, "cannot write the log file %s: %s", logfile, strerror(errno));
	if (ped_opts_seen(opts, "pidfile") &&
	    (r = ped_pidfile_create(ped_opts_str(opts, "pidfile", ""), &pf, msg, sizeof(msg))) != PED_OK)
		ped_daemon_fail(r, "%s", msg);
	/* One hsm-sim per state directory: each keeps its HSMs in memory and
	 * saves them whole, so a second one on the same files would write over
	 * the first's acknowledged changes (and its failure counts). */
	if ((r = lock_state_dir(state_dir, err, sizeof(err))) != PED_OK) {
		ped_pidfile_remove(&pf);
		ped_daemon_fail(r, "%s", err);
	}
	/* under the lock no one else writes here: a temporary file is a save
	 * killed before its rename, and may hold a device secret a zeroization
	 * has since replaced */
	size_t strays = 0;
	if (state_lock_fd >= 0 && ped_file_remove_temps(state_dir, "", &strays) == PED_OK && strays)
		ped_info("removed %zu temporary file(s) of saves cut short from %s", strays, state_dir);
	if ((r = load_hsms(&cfg, state_dir, err, sizeof(err))) != PED_OK) {
		ped_pidfile_remove(&pf);
		ped_daemon_fail(r, "%s", err);
	}
	if ((r = ped_unix_listen(socket_path, 0600, &control_fd)) != PED_OK) {
		pid_t holder;
		ped_pidfile_remove(&pf);
		/* as pedserver says it: who holds the socket, not only EADDRINUSE */
		if (r == PED_E_EXISTS && ped_unix_listener_pid(socket_path, &holder) == PED_OK)
			ped_daemon_fail(r, "already running as pid %ld (socket %s)", (long)holder, socket_path);
		ped_daemon_fail(r, "cannot listen on %s: %s", socket_path, strerror(errno));
	}
	loop = ped_evloop_new(); /* after the listen: a failed start leaves no loop behind */
	ped_evloop_add_fd(loop, control_fd, PED_EV_READ, on_control, NULL);
	pedports_init(&peds, &sim);
	for (int i = 0; i < peds.n; i++) {
		struct pedport *pt = &peds.port[i];
		struct sim_hsm *hs = pt->hs;
		hsm_ctl_ped_socket(socket_path, hs->h.serial, pt->path, sizeof(pt->path));
		if ((r = ped_unix_listen(pt->path, 0600, &pt->listen_fd)) != PED_OK) {
			unlink(socket_path);
			ped_pidfile_remove(&pf);
			ped_daemon_fail(r, "cannot listen on %s: %s", pt->path, strerror(errno));
		}
		ped_evloop_add_fd(loop, pt->listen_fd, PED_EV_READ, on_ped, pt);
		ped_info("HSM %s (slot %d%s): local PED link %s", hs->h.serial, hs->base_slot,
			 hs->h.is_backup ? ", backup HSM" : "", pt->path);
	}
	if ((r = audit_link_start(&sim, peds.pedclient_socket, peds.link_timeout_ms)) != PED_OK) {
		unlink(socket_path);
		ped_pidfile_remove(&pf);
		ped_daemon_fail(r, "cannot start the audit log's delivery");
	}
	if (network && (r = netserve_start(loop, &server, state_dir, ped_config_str(&cfg, "network_address"), net_port,
					    peds.link_timeout_ms, &net_port, err, sizeof(err))) != PED_OK) {
		unlink(socket_path);
		for (int i = 0; i < peds.n; i++)
			unlink(peds.port[i].path);
		ped_pidfile_remove(&pf);
		ped_daemon_fail(r, "%s", err);
	}
	ped_evloop_add_signal(loop, SIGTERM, on_term, NULL);
	ped_evloop_add_signal(loop, SIGINT, on_term, NULL);
	ped_daemon_hup_reopens_log(loop);
	ped_tls_log_to(ped_log_write); /* a link whose peer was unregistered is logged */
	ped_info("serving on %s", socket_path);
	ped_daemon_ready(foreground);
	ped_evloop_run(loop);

	/* A ceremony may wait minutes on its PED: end those waits so the
	 * command in progress fails now, then let it reach a consistent state.
	 * State files are only ever replaced whole, so what is on disk is good
	 * either way; but an HSM is wiped only once no command can touch it. */
	sim_stop(&sim);
	audit_wake_all(&sim);
	audit_link_stop(&sim); /* each exchange ends within link_timeout */
	int net_left = network ? netserve_stop(loop) : 0;
	for (int i = 0; i < peds.n; i++) {
		close(peds.port[i].listen_fd); /* no new PED attaches */
		peds.port[i].listen_fd = -1;
	}
	pedports_abort(&peds);
	/* Commands still in flight end on their aborted PED wait; each operator
	 * gets the result before we go. Once quiet, no command can take an
	 * HSM's lock again, so the HSMs may be wiped under any straggler. */
	int left = 0, locked = sim_quiesce(&sim, peds.link_timeout_ms, &left);
	if (!locked)
		ped_warn("a command is still running after %d ms: exiting without wiping the HSMs' memory",
			 peds.link_timeout_ms);
	else if (left > 0)
		ped_warn("%d command(s) did not finish within %d ms", left, peds.link_timeout_ms);
	/* A PED attach or keying thread runs a handshake in OpenSSL: exit()
	 * would free OpenSSL's globals under it. Such a handshake ends within
	 * link_timeout; one still running then is left to _exit. */
	int helpers_left = pedports_wait_helpers(&peds, peds.link_timeout_ms);
	unlink(socket_path);
	for (int i = 0; i < peds.n; i++)
		unlink(peds.port[i].path);
	if (locked)
		sim_power_off(&sim); /* no command holds an HSM, and none will */
	if (locked && !helpers_left) {
		pedports_free(&peds);
		sim_wipe(&sim);
		audit_close_all(&sim);
		apps_wipe(); /* the applications' session objects and operations */
	}
	close(control_fd);
	ped_evloop_free(loop);
	ped_pidfile_remove(&pf);
	ped_config_free(&cfg);
	if (helpers_left)
		ped_warn("%d PED handshake(s) still running after %d ms: exiting without cleanup", helpers_left,
			 peds.link_timeout_ms);
	ped_info("stopped");
	ped_log_close();
	/* an application still connected has its session thread, which frees
	 * its objects and keys when its client goes, maybe during exit() */
	if (helpers_left || !locked || net_left || session_live())
		_exit(0); /* exit() would run OpenSSL's cleanup under threads still in it */
	return 0;
}
