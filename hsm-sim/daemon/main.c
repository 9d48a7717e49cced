/* hsm-sim: hosts the HSMs of its configuration, each with its local PED
 * link, and serves hsmcm sessions on its control socket.
 *
 *   hsm-sim [-configfile FILE] [-state DIR] [-socket PATH] [-daemon] [-pidfile FILE]
 */
#include "sim.h"

#include "hsm/control.h"
#include "ped/config.h"
#include "ped/daemon.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/fileio.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/opts.h"
#include "ped/pidfile.h"
#include "ped/thread.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USAGE "hsm-sim [-configfile FILE] [-state DIR] [-socket PATH] [-daemon] [-pidfile FILE] [-logfile FILE]"
#define SESSION_IO_TIMEOUT_MS 10000

static struct ped_cfg_setting schema[] = {
	{.name = "ped_timeout", .type = PED_CFG_INT, .min = 1, .max = 86400, .dflt = 3600,
	 .help = "seconds a ceremony may wait for the PED"},
	{.name = "link_timeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10,
	 .help = "seconds for a PED handshake and each send"},
	{.name = "remote_idle_timeout", .type = PED_CFG_INT, .min = 1, .max = 86400, .dflt = 1800,
	 .help = "seconds before an idle remote PED connection ends"},
	{.name = "pedclient_socket", .type = PED_CFG_STRING, .sdflt = "",
	 .help = "where pedclient serves this host's HSMs (empty: pedclient.sock in the runtime directory)"},
	{.name = NULL},
};

static struct sim sim;
static int control_fd = -1;

void sess_out(struct session *s, const char *fmt, ...)
{
	char line[HSM_CTL_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(void)ped_frame_send(s->fd, HSM_CTL_OUTPUT, line, strlen(line), SESSION_IO_TIMEOUT_MS);
}

struct sim_hsm *sim_slot(struct sim *sm, int slot, struct hsm_partition **part, int *pindex)
{
	for (int i = 0; i < sm->nhsms; i++) {
		struct sim_hsm *hs = &sm->hsms[i];
		int k = slot - hs->base_slot;
		if (k < 0 || k >= SIM_SLOTS_PER_HSM)
			continue;
		if (k == 0) {
			if (part)
				*part = NULL;
			if (pindex)
				*pindex = 0;
			return hs;
		}
		if ((uint32_t)(k - 1) < hs->h.npartitions) {
			if (part)
				*part = &hs->h.partitions[k - 1];
			if (pindex)
				*pindex = k - 1;
			return hs;
		}
	}
	return NULL;
}

int sim_hsm_index(struct sim *sm, const struct sim_hsm *hs)
{
	return (int)(hs - sm->hsms);
}

int sim_save(struct sim_hsm *hs)
{
	int r = hsm_save(&hs->h, hs->state_path), e = errno;
	if (r == PED_OK)
		return r;
	ped_error("cannot save HSM %s to %s: %s (%s)", hs->h.serial, hs->state_path, ped_strerror(r), strerror(e));
	/* What is not on disk does not exist: the running HSM goes back to its
	 * last saved state, so it never shows or uses a change (a partition, a
	 * role, an init) that a restart would lose. */
	struct hsm *old = calloc(1, sizeof(*old));
	char why[160];
	if (old && hsm_load(hs->state_path, old, why, sizeof(why)) == PED_OK) {
		uint8_t backup = hs->h.is_backup;
		hsm_cleanse(&hs->h);
		memcpy(&hs->h, old, sizeof(*old));
		hs->h.is_backup = backup;
		OPENSSL_cleanse(old, sizeof(*old)); /* its objects now belong to hs->h */
		ped_warn("HSM %s: back to the state last saved", hs->h.serial);
	} else if (old) {
		hsm_cleanse(old);
	}
	free(old);
	errno = e;
	return r;
}

static void *session_thread(void *arg)
{
	struct session *s = arg;
	struct ped_framer in;
	uint8_t type, *msg = NULL;
	size_t len = 0;

	ped_framer_init(&in, s->fd, HSM_CTL_LINE_MAX);
	for (;;) {
		if (ped_framer_recv(&in, &type, &msg, &len, -1) != PED_OK)
			break;
		if (type != HSM_CTL_CMD || memchr(msg, '\0', len)) {
			OPENSSL_clear_free(msg, len ? len : 1);
			break;
		}
		char line[HSM_CTL_LINE_MAX + 1];
		memcpy(line, msg, len);
		line[len] = '\0';
		OPENSSL_clear_free(msg, len ? len : 1);
		int r, counted = 0;
		pthread_mutex_lock(&sim.mu);
		if (sim.stopping) {
			sess_out(s, "Error: hsm-sim is shutting down.");
			r = PED_E_DEVICE_ERROR;
		} else {
			counted = 1;
			sim.in_flight++;
			r = sim_command(s, line);
		}
		pthread_mutex_unlock(&sim.mu);
		OPENSSL_cleanse(line, sizeof(line));
		uint32_t c = ped_err_code(r);
		uint8_t b[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
		int sent = ped_frame_send(s->fd, HSM_CTL_RESULT, b, 4, SESSION_IO_TIMEOUT_MS);
		if (counted) {
			/* shutdown waits until the operator has this command's result */
			pthread_mutex_lock(&sim.mu);
			if (--sim.in_flight == 0)
				pthread_cond_broadcast(&sim.idle_cv);
			pthread_mutex_unlock(&sim.mu);
		}
		if (sent != PED_OK)
			break;
	}
	ped_framer_free(&in);
	close(s->fd);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
	return NULL;
}

static void on_control(struct ped_evloop *loop, int fd, unsigned ev, void *arg)
{
	int cfd;
	(void)loop;
	(void)ev;
	(void)arg;
	while (ped_accept(fd, &cfd) == PED_OK) {
		struct session *s = calloc(1, sizeof(*s));
		if (!s) {
			close(cfd);
			continue;
		}
		ped_set_nonblock(cfd, 1);
		s->sim = &sim;
		s->fd = cfd;
		s->slot = sim.hsms[0].base_slot;
		if (ped_thread_spawn(session_thread, s) != PED_OK) {
			ped_error("cannot start a thread for a session");
			close(cfd);
			free(s);
		}
	}
}

static void on_ped(struct ped_evloop *loop, int fd, unsigned ev, void *arg)
{
	struct sim_hsm *hs = arg;
	int cfd;
	(void)loop;
	(void)ev;
	while (ped_accept(fd, &cfd) == PED_OK)
		pedport_attach(&sim, hs, cfd);
}

/* Shutdown only: polls done every 20 ms, for at most limit_ms. */
static int wait_until(int (*done)(void), int limit_ms)
{
	for (int waited = 0; !done(); waited += 20) {
		if (waited >= limit_ms)
			return 0;
		usleep(20000);
	}
	return 1;
}

static int took_command_lock(void)
{
	return pthread_mutex_trylock(&sim.mu) == 0;
}

static int helpers_done(void)
{
	return atomic_load(&sim.helpers) == 0;
}

static void on_term(struct ped_evloop *loop, int signo, void *arg)
{
	(void)ped_daemon_notify("STOPPING=1");
	(void)signo;
	(void)arg;
	ped_info("stopping");
	ped_evloop_stop(loop);
}

/* hsms = ( { serial = "..."; slot = N; type = "hsm" | "backup"; }, ... ); */
static int load_hsms(struct ped_config *cfg, const char *state_dir, char *err, size_t errlen)
{
	config_setting_t *list = config_lookup(&cfg->tree, "hsms");
	int n = list ? config_setting_length(list) : 0;

	if (!list) {
		/* the default: one HSM and a backup HSM */
		static const struct {
			const char *serial;
			int slot, backup;
		} dflt[] = {{"154438865288", 0, 0}, {"496771", 20, 1}};
		for (size_t i = 0; i < 2; i++) {
			struct sim_hsm *hs = &sim.hsms[sim.nhsms++];
			snprintf(hs->h.serial, sizeof(hs->h.serial), "%s", dflt[i].serial);
			hs->base_slot = dflt[i].slot;
			hs->h.is_backup = (uint8_t)dflt[i].backup;
		}
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
		struct sim_hsm *hs = &sim.hsms[sim.nhsms++];
		snprintf(hs->h.serial, sizeof(hs->h.serial), "%s", serial);
		hs->base_slot = slot;
		hs->h.is_backup = !strcmp(type, "backup");
	}
	for (int i = 0; i < sim.nhsms; i++) {
		struct sim_hsm *hs = &sim.hsms[i];
		char serial[HSM_SERIAL_MAX + 1], why[160];
		int backup = hs->h.is_backup, r;
		memcpy(serial, hs->h.serial, sizeof(serial));
		snprintf(hs->state_path, sizeof(hs->state_path), "%.990s/hsm-%s.state", state_dir, serial);
		pthread_mutex_init(&hs->ped_mu, NULL);
		ped_cond_init_monotonic(&hs->remote_cv);
		hs->ped.in.fd = -1;
		hs->keying_fd = -1;
		r = hsm_load(hs->state_path, &hs->h, why, sizeof(why));
		if (r == PED_OK) {
			if (strcmp(hs->h.serial, serial)) {
				snprintf(err, errlen, "%s holds HSM %s, not %s", hs->state_path, hs->h.serial, serial);
				return PED_E_CORRUPT;
			}
			continue;
		}
		if (r != PED_E_NOT_FOUND && access(hs->state_path, F_OK) == 0) {
			/* refuse, never half-load or overwrite a damaged state */
			snprintf(err, errlen, "%s: %s", hs->state_path, why[0] ? why : ped_strerror(r));
			return r;
		}
		if ((r = hsm_create(&hs->h, serial)) != PED_OK) {
			snprintf(err, errlen, "cannot create HSM %s: %s", serial, ped_strerror(r));
			return r;
		}
		hs->h.is_backup = (uint8_t)backup;
		if ((r = sim_save(hs)) != PED_OK) {
			snprintf(err, errlen, "cannot write %s", hs->state_path);
			return r;
		}
		ped_info("HSM %s created (zeroized) in %s", serial, hs->state_path);
	}
	return PED_OK;
}

int main(int argc, char **argv)
{
	struct ped_opt opts[] = {
		{.name = "configfile", .aliases = "c", .kind = PED_OPT_STRING, .arg = "FILE", .help = "configuration (conf/hsm-sim.conf)"},
		{.name = "state", .kind = PED_OPT_STRING, .arg = "DIR", .help = "state directory"},
		{.name = "socket", .kind = PED_OPT_STRING, .arg = "PATH", .help = "control socket for hsmcm"},
		{.name = "daemon", .kind = PED_OPT_FLAG, .help = "run in the background"},
		{.name = "pidfile", .kind = PED_OPT_STRING, .arg = "FILE", .help = "PID file"},
		{.name = "logfile", .kind = PED_OPT_STRING, .arg = "FILE", .help = "log file (default stderr)"},
		{.name = "verbose", .aliases = "v", .kind = PED_OPT_FLAG, .help = "trace logging"},
		{.name = "version", .kind = PED_OPT_FLAG, .help = "print the version"},
		{.name = NULL},
	};
	struct ped_config cfg = {0};
	struct ped_pidfile pf;
	struct ped_evloop *loop = NULL;
	char err[2048], msg[256], state_dir[1024];
	pid_t child;
	int r, foreground;

	ped_stdio_ensure();
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
	r = ped_config_load(&cfg, cpath ? cpath : "", schema, err, sizeof(err));
	if (r != PED_OK && (cpath || (r != PED_E_NOT_FOUND && r != PED_E_FILE))) {
		fprintf(stderr, "hsm-sim: %s\n", err);
		return 1;
	}
	if (ped_opts_seen(opts, "socket"))
		snprintf(sim.socket_path, sizeof(sim.socket_path), "%s", ped_opts_str(opts, "socket", ""));
	else if (hsm_ctl_default_socket(sim.socket_path, sizeof(sim.socket_path)) != PED_OK) {
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
	snprintf(sim.state_dir, sizeof(sim.state_dir), "%s", state_dir);
	sim.ped_timeout_ms = (int)ped_config_int(&cfg, "ped_timeout") * 1000;
	sim.link_timeout_ms = (int)ped_config_int(&cfg, "link_timeout") * 1000;
	sim.remote_idle_timeout_s = (int)ped_config_int(&cfg, "remote_idle_timeout");
	const char *pcs = ped_config_str(&cfg, "pedclient_socket");
	if (pcs && *pcs)
		snprintf(sim.pedclient_socket, sizeof(sim.pedclient_socket), "%s", pcs);
	else if (ped_runtime_path("pedclient.sock", sim.pedclient_socket, sizeof(sim.pedclient_socket)) != PED_OK) {
		/* no Remote PED rather than a /tmp name another user could own */
		sim.pedclient_socket[0] = '\0';
		fprintf(stderr, "hsm-sim: no runtime directory for pedclient's socket: Remote PED is off (set "
				"pedclient_socket or XDG_RUNTIME_DIR)\n");
	}
	pthread_mutex_init(&sim.mu, NULL);
	ped_cond_init_monotonic(&sim.idle_cv);

	foreground = !ped_opts_seen(opts, "daemon");
	r = ped_daemon_start(foreground, 10000, &child, msg, sizeof(msg));
	if (r != PED_DAEMON_CHILD) {
		if (r != PED_OK) {
			fprintf(stderr, "hsm-sim: cannot start: %s\n", msg);
			return 1;
		}
		printf("hsm-sim started (pid %ld), control socket %s\n", (long)child, sim.socket_path);
		return 0;
	}
	struct ped_log_config lc = {"hsm-sim", PED_LOG_DEFAULT_MASK, ped_opts_str(opts, "logfile", NULL), 4u << 20};
	if (ped_opts_seen(opts, "verbose"))
		lc.mask |= PED_LOG_TRACE;
	ped_log_open(&lc);
	if (ped_opts_seen(opts, "pidfile") &&
	    (r = ped_pidfile_create(ped_opts_str(opts, "pidfile", ""), &pf, msg, sizeof(msg))) != PED_OK)
		ped_daemon_fail(r, "%s", msg);
	if ((r = load_hsms(&cfg, state_dir, err, sizeof(err))) != PED_OK) {
		ped_pidfile_remove(&pf);
		ped_daemon_fail(r, "%s", err);
	}
	loop = ped_evloop_new();
	if ((r = ped_unix_listen(sim.socket_path, 0600, &control_fd)) != PED_OK) {
		ped_pidfile_remove(&pf);
		ped_daemon_fail(r, "cannot listen on %s: %s", sim.socket_path, strerror(errno));
	}
	ped_evloop_add_fd(loop, control_fd, PED_EV_READ, on_control, NULL);
	for (int i = 0; i < sim.nhsms; i++) {
		struct sim_hsm *hs = &sim.hsms[i];
		hsm_ctl_ped_socket(sim.socket_path, hs->h.serial, hs->ped_path, sizeof(hs->ped_path));
		if ((r = ped_unix_listen(hs->ped_path, 0600, &hs->ped_listen_fd)) != PED_OK) {
			unlink(sim.socket_path);
			ped_pidfile_remove(&pf);
			ped_daemon_fail(r, "cannot listen on %s: %s", hs->ped_path, strerror(errno));
		}
		ped_evloop_add_fd(loop, hs->ped_listen_fd, PED_EV_READ, on_ped, hs);
		ped_info("HSM %s (slot %d%s): local PED link %s", hs->h.serial, hs->base_slot,
			 hs->h.is_backup ? ", backup HSM" : "", hs->ped_path);
	}
	ped_evloop_add_signal(loop, SIGTERM, on_term, NULL);
	ped_evloop_add_signal(loop, SIGINT, on_term, NULL);
	ped_info("serving on %s", sim.socket_path);
	ped_daemon_ready(foreground);
	ped_evloop_run(loop);

	/* A ceremony may wait minutes on its PED: end those waits so the
	 * command in progress fails now, then let it reach a consistent state.
	 * State files are only ever replaced whole, so what is on disk is good
	 * either way; but an HSM is wiped only once no command can touch it. */
	sim.stopping = 1;
	for (int i = 0; i < sim.nhsms; i++) {
		close(sim.hsms[i].ped_listen_fd); /* no new PED attaches */
		sim.hsms[i].ped_listen_fd = -1;
		pedport_abort(&sim.hsms[i]);
	}
	int locked = wait_until(took_command_lock, sim.link_timeout_ms);
	if (locked) {
		/* Commands still in flight end on their aborted PED wait; each
		 * operator gets the result before we go. Holding mu after this
		 * keeps any straggler off the HSMs while they are wiped. */
		struct timespec until;
		ped_cond_deadline(&until, sim.link_timeout_ms);
		while (sim.in_flight > 0)
			if (pthread_cond_timedwait(&sim.idle_cv, &sim.mu, &until) != 0)
				break;
		if (sim.in_flight > 0)
			ped_warn("%d command(s) did not finish within %d ms", sim.in_flight, sim.link_timeout_ms);
	} else {
		ped_warn("a command is still running after %d ms: exiting without wiping the HSMs' memory",
			 sim.link_timeout_ms);
	}
	/* A PED attach or keying thread runs a handshake in OpenSSL: exit()
	 * would free OpenSSL's globals under it. Such a handshake ends within
	 * link_timeout; one still running then is left to _exit. */
	(void)wait_until(helpers_done, sim.link_timeout_ms);
	int helpers_left = atomic_load(&sim.helpers);
	unlink(sim.socket_path);
	for (int i = 0; i < sim.nhsms; i++) {
		unlink(sim.hsms[i].ped_path);
		if (!locked || helpers_left)
			continue;
		EVP_PKEY_free(sim.hsms[i].id_key);
		X509_free(sim.hsms[i].id_cert);
		X509_free(sim.hsms[i].id_hoc);
		hsm_cleanse(&sim.hsms[i].h);
	}
	close(control_fd);
	ped_evloop_free(loop);
	ped_pidfile_remove(&pf);
	ped_config_free(&cfg);
	if (helpers_left)
		ped_warn("%d PED handshake(s) still running after %d ms: exiting without cleanup", helpers_left,
			 sim.link_timeout_ms);
	ped_info("stopped");
	ped_log_close();
	if (helpers_left || !locked)
		_exit(0); /* exit() would run OpenSSL's cleanup under threads still in it */
	return 0;
}
