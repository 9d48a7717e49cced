/* ped-device: the PIN Entry Device emulator.
 *
 *   ped-device [-mode menu|usb|admin|remote] [-hsm SOCKET] [-store DIR]       ncurses PED
 *   ped-device -headless [-script FILE] [-policy FILE] [-events FILE]   for CI
 *   ped-device -dump-screen | -send "press 4" [-control PATH]          drive a running PED
 *
 * See docs/ped-device.md. */
#include "control.h"
#include "device.h"
#include "headless.h"
#include "tui.h"

#include "ped/config.h"
#include "ped/daemon.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/log.h"
#include "ped/opts.h"
#include "ped/pinmask.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "The PED briefly displays ... Token found" before each ceremony's prompt */
#define TOKEN_FOUND_MS 400

#define USAGE "ped-device [-headless [-script FILE] [-policy FILE] [-events FILE]] [-mode menu|usb|admin|remote]\n" \
	      "           [-hsm SOCKET] [-pedserver SOCKET] [-store DIR] [-control PATH] [-configfile FILE] [-keytimeout S]\n" \
	      "           [-pinmaskcost LOG2N]\n" \
	      "       ped-device -dump-screen | -send REQUEST [-control PATH]"

static struct ped_cfg_setting schema[] = {
	{.name = "key_timeout", .type = PED_CFG_INT, .min = 1, .max = 86400, .dflt = 200,
	 .help = "seconds a key action may wait for the operator"},
	{.name = "link_timeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 30,
	 .help = "seconds for each exchange with the HSM"},
	{.name = "hsm_socket", .type = PED_CFG_STRING, .sdflt = "", .help = "the HSM's local PED link (Local PED-USB)"},
	{.name = "pedserver_socket", .type = PED_CFG_STRING, .sdflt = "", .help = "pedserver's PED port (Remote PED; empty: pedserver-ped.sock in the runtime directory)"},
	{.name = "store", .type = PED_CFG_STRING, .sdflt = "", .help = "iKey store directory"},
	{.name = "update_key", .type = PED_CFG_STRING, .sdflt = "", .help = "PEM public key for software updates"},
	{.name = "update_file", .type = PED_CFG_STRING, .sdflt = "", .help = "software update image"},
	{.name = "firmware_file", .type = PED_CFG_STRING, .sdflt = "",
	 .help = "where Software Update saves the image the PED runs (empty: ped-firmware.img in the data directory)"},
	{.name = "pin_mask_log2n", .type = PED_CFG_INT, .min = PED_SCRYPT_LOG2N_MIN, .max = PED_SCRYPT_LOG2N_MAX,
	 .dflt = PED_SCRYPT_LOG2N_DEFAULT,
	 .help = "scrypt cost of new keysets' PIN masks, log2 N (8 only for test keysets)"},
	{.name = "pin_mask_r", .type = PED_CFG_INT, .min = 1, .max = PED_SCRYPT_R_MAX, .dflt = PED_SCRYPT_R_DEFAULT,
	 .help = "scrypt block size r of new keysets' PIN masks"},
	{.name = "pin_mask_p", .type = PED_CFG_INT, .min = 1, .max = PED_SCRYPT_P_MAX, .dflt = PED_SCRYPT_P_DEFAULT,
	 .help = "scrypt parallelism p of new keysets' PIN masks"},
	{.name = NULL},
};

/* Headless: SIGTERM and SIGINT are blocked in every thread and taken here
 * with sigwait, so ending the PED runs ordinary code under the device lock
 * (a handler could neither take the lock nor signal the condition safely). */
static void *signal_thread(void *arg)
{
	struct ped_device *d = arg;
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigwait(&set, &sig) == 0) {
		pthread_mutex_lock(&d->mu);
		d->quit = 1;
		(void)!write(d->wake[1], "q", 1);
		pthread_cond_broadcast(&d->changed);
		pthread_mutex_unlock(&d->mu);
	}
	return NULL;
}

static int read_text(const char *path, char **out, size_t *len, const char *what)
{
	uint8_t *buf = NULL;
	int r = ped_file_read_bounded(path, SCRIPT_MAX_BYTES, &buf, len);
	if (r != PED_OK) {
		fprintf(stderr, "ped-device: cannot read %s %s: %s\n", what, path, ped_strerror(r));
		return r;
	}
	*out = (char *)buf;
	return PED_OK;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = {"menu", "usb", "admin", "remote", NULL};
	struct ped_opt opts[] = {
		{.name = "headless", .kind = PED_OPT_FLAG, .help = "no terminal: run a script and/or the answerer"},
		{.name = "script", .kind = PED_OPT_STRING, .arg = "FILE", .help = "headless script"},
		{.name = "policy", .kind = PED_OPT_STRING, .arg = "FILE", .help = "answerer policy"},
		{.name = "events", .kind = PED_OPT_STRING, .arg = "FILE", .help = "JSON-lines event log"},
		{.name = "notes", .kind = PED_OPT_STRING, .arg = "FILE", .help = "show the last lines of FILE (the HSM shell's output) under the keys"},
		{.name = "mode", .kind = PED_OPT_ENUM, .choices = modes,
		 .help = "start in this mode (default: Local PED mode, the first HSM command choosing)"},
		{.name = "hsm", .kind = PED_OPT_STRING, .arg = "SOCKET", .help = "HSM local PED link"},
		{.name = "pedserver", .kind = PED_OPT_STRING, .arg = "SOCKET", .help = "pedserver's PED port (Remote PED)"},
		{.name = "store", .kind = PED_OPT_STRING, .arg = "DIR", .help = "iKey store"},
		{.name = "control", .kind = PED_OPT_STRING, .arg = "PATH", .help = "control socket"},
		{.name = "configfile", .aliases = "c", .kind = PED_OPT_STRING, .arg = "FILE", .help = "configuration file"},
		{.name = "keytimeout", .kind = PED_OPT_INT, .min = 1, .max = 86400, .arg = "S", .help = "key action timeout"},
		{.name = "pinmaskcost", .kind = PED_OPT_INT, .min = PED_SCRYPT_LOG2N_MIN, .max = PED_SCRYPT_LOG2N_MAX,
		 .arg = "LOG2N", .help = "scrypt cost (log2 N) of new keysets' PIN masks (default 16; 8 for test keysets)"},
		{.name = "expecttimeout", .kind = PED_OPT_INT, .min = 1, .max = 86400, .arg = "S", .help = "script expect timeout (default 30)"},
		{.name = "logfile", .kind = PED_OPT_STRING, .arg = "FILE", .help = "log file"},
		{.name = "verbose", .kind = PED_OPT_FLAG, .help = "trace logging"},
		{.name = "dump-screen", .kind = PED_OPT_FLAG, .help = "print a running PED's screen"},
		{.name = "send", .kind = PED_OPT_STRING, .arg = "REQUEST", .help = "send a control request"},
		{.name = "version", .aliases = "v", .kind = PED_OPT_FLAG, .help = "print the version"},
		{.name = NULL},
	};
	struct ped_config cfg = {0};
	struct dev_config dc;
	struct ped_device dev;
	struct script script = {0};
	struct policy *policy = NULL;
	struct control *ctl = NULL;
	char err[512], control_path[512];
	char *text = NULL;
	size_t tlen = 0;
	int r, rc = 1, headless;

	/* A pedserver or HSM that goes away (or a USB PED unplugged) is a link
	 * error to report, not a signal that kills the PED. */
	signal(SIGPIPE, SIG_IGN);
#ifdef __GLIBC__
	/* One malloc arena for the PED's few threads (firmware, control,
	 * signals, the front end), which never allocate hard at once: with an
	 * arena each, what the firmware thread frees after a handshake (its
	 * OpenSSL temporaries) cannot serve the others and stays resident in
	 * its own 64 MiB reservation, about 0.25 MiB idle. */
	(void)mallopt(M_ARENA_MAX, 1);
#endif
	ped_no_core_dumps(); /* the splits and PINs the PED holds */
	r = ped_opts_parse(opts, argc, argv, 1, NULL, 0, NULL, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, USAGE, opts);
		return 0;
	}
	if (r != PED_OK) {
		fprintf(stderr, "ped-device: %s\n%s\n", err, USAGE);
		return 2;
	}
	if (ped_opts_seen(opts, "version")) {
		printf("ped-device %s (PED V.%s)\n", PED_VERSION, PED_VERSION);
		return 0;
	}
	if (ped_opts_seen(opts, "control"))
		snprintf(control_path, sizeof(control_path), "%s", ped_opts_str(opts, "control", ""));
	else if (ped_runtime_path("ped-device.sock", control_path, sizeof(control_path)) != PED_OK) {
		fprintf(stderr, "ped-device: no runtime directory for the control socket\n");
		return 1;
	}
	if (ped_opts_seen(opts, "dump-screen"))
		return control_request(control_path, "screen");
	if (ped_opts_seen(opts, "send"))
		return control_request(control_path, ped_opts_str(opts, "send", ""));

	headless = ped_opts_seen(opts, "headless");
	/* ncurses on no terminal waits for keys that never come: say what to do */
	if (!headless && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		fprintf(stderr, "ped-device: standard %s is not a terminal: the ncurses PED needs one; without a "
				"terminal use -headless (with -policy, -script or -control to answer)\n",
			isatty(STDIN_FILENO) ? "output" : "input");
		return 2;
	}
	if (!headless && !tui_terminal_usable(err, sizeof(err))) {
		fprintf(stderr, "ped-device: %s: the ncurses PED needs a full-screen terminal (80x24, such as "
				"xterm or screen); without one use -headless (with -policy, -script or -control to answer)\n",
			err);
		return 2;
	}
	struct ped_log_config lc = {"ped-device", PED_LOG_DEFAULT_MASK, ped_opts_str(opts, "logfile", NULL), 1 << 20};
	if (ped_opts_seen(opts, "verbose"))
		lc.mask |= PED_LOG_TRACE;
	if (!headless && !lc.file)
		lc.mask = 0; /* stderr is the screen */
	if (ped_log_open(&lc) != PED_OK) {
		fprintf(stderr, "ped-device: cannot write the log file %s: %s\n", lc.file, strerror(errno));
		return 1;
	}

	const char *cpath = ped_opts_str(opts, "configfile", NULL);
	char dpath[1024] = "";
	if (!cpath) /* the user's ped-device.conf, else the system's */
		(void)ped_config_default_path("ped-device.conf", dpath, sizeof(dpath), NULL);
	r = ped_config_load_strict(&cfg, cpath ? cpath : dpath, schema, NULL, err, sizeof(err));
	if (r != PED_OK && (cpath || (r != PED_E_NOT_FOUND && r != PED_E_FILE))) {
		fprintf(stderr, "ped-device: %s\n", err);
		goto out;
	}
	memset(&dc, 0, sizeof(dc));
	dc.key_timeout_ms = (int)ped_opts_num(opts, "keytimeout", ped_config_int(&cfg, "key_timeout")) * 1000;
	dc.link_timeout_ms = (int)ped_config_int(&cfg, "link_timeout") * 1000;
	dc.token_found_ms = headless ? 0 : TOKEN_FOUND_MS;
	snprintf(dc.hsm_socket, sizeof(dc.hsm_socket), "%s",
		 ped_opts_str(opts, "hsm", ped_config_str(&cfg, "hsm_socket")));
	const char *pss = ped_opts_str(opts, "pedserver", ped_config_str(&cfg, "pedserver_socket"));
	if (pss && *pss)
		snprintf(dc.pedserver_socket, sizeof(dc.pedserver_socket), "%s", pss);
	else if (ped_runtime_path("pedserver-ped.sock", dc.pedserver_socket, sizeof(dc.pedserver_socket)) != PED_OK)
		dc.pedserver_socket[0] = '\0';
	dc.pedserver_explicit = pss && *pss;
	/* power-on: "Local PED mode / Awaiting command...", the first HSM command choosing the mode */
	snprintf(dc.start_mode, sizeof(dc.start_mode), "%s", modes[ped_opts_num(opts, "mode", 1)]);
	snprintf(dc.update_key, sizeof(dc.update_key), "%s", ped_config_str(&cfg, "update_key"));
	snprintf(dc.update_file, sizeof(dc.update_file), "%s", ped_config_str(&cfg, "update_file"));
	snprintf(dc.firmware_file, sizeof(dc.firmware_file), "%s", ped_config_str(&cfg, "firmware_file"));
	ped_pin_kdf_scrypt(&dc.pin_kdf,
			   (unsigned)ped_opts_num(opts, "pinmaskcost", ped_config_int(&cfg, "pin_mask_log2n")),
			   (unsigned)ped_config_int(&cfg, "pin_mask_r"), (unsigned)ped_config_int(&cfg, "pin_mask_p"));
	const char *cost_why = NULL;
	char cost[64];
	if (ped_pin_kdf_check(&dc.pin_kdf, &cost_why) != PED_OK) {
		fprintf(stderr, "ped-device: PIN mask cost: %s\n", cost_why);
		rc = 2;
		goto out;
	}
	ped_pin_kdf_describe(&dc.pin_kdf, cost, sizeof(cost));
	/* a cheap cost is a choice for test keysets: say so wherever the log goes */
	if ((uint64_t)dc.pin_kdf.r * dc.pin_kdf.p << dc.pin_kdf.log2n <
	    (uint64_t)PED_SCRYPT_R_DEFAULT * PED_SCRYPT_P_DEFAULT << PED_SCRYPT_LOG2N_DEFAULT)
		ped_warn("PIN masks of new keysets: %s, cheaper than the default: for test keysets only", cost);
	else
		ped_info("PIN masks of new keysets: %s", cost);

	if (ped_opts_seen(opts, "script")) {
		if (read_text(ped_opts_str(opts, "script", ""), &text, &tlen, "script") != PED_OK)
			goto out;
		r = script_parse(text, tlen, &script, err, sizeof(err));
		OPENSSL_cleanse(text, tlen); /* pin lines */
		free(text);
		text = NULL;
		if (r != PED_OK) {
			fprintf(stderr, "ped-device: %s:%s\n", ped_opts_str(opts, "script", ""), err);
			goto out;
		}
	}
	if (ped_opts_seen(opts, "policy")) {
		if (read_text(ped_opts_str(opts, "policy", ""), &text, &tlen, "policy") != PED_OK)
			goto out;
		r = policy_parse(text, tlen, &policy, err, sizeof(err));
		OPENSSL_cleanse(text, tlen);
		free(text);
		text = NULL;
		if (r != PED_OK) {
			fprintf(stderr, "ped-device: %s:%s\n", ped_opts_str(opts, "policy", ""), err);
			goto out;
		}
	}
	const char *store = ped_opts_str(opts, "store", ped_config_str(&cfg, "store"));
	if ((r = dev_init(&dev, &dc, store && *store ? store : NULL)) != PED_OK) {
		fprintf(stderr, "ped-device: cannot open the key store: %s\n", ped_strerror(r));
		goto out;
	}
	if (ped_opts_seen(opts, "events")) {
		/* 0600: it records what the PED shows and which keys are used */
		const char *ev = ped_opts_str(opts, "events", "");
		char why[1100];
		int efd = -1;
		if (ped_file_open(ev, O_WRONLY | O_CREAT | O_APPEND, 0600, &efd, why, sizeof(why)) != PED_OK ||
		    !(dev.events = fdopen(efd, "a"))) {
			if (efd >= 0)
				snprintf(why, sizeof(why), "%s: %s", ev, strerror(errno));
			fprintf(stderr, "ped-device: cannot open the event log %s\n", why);
			if (efd >= 0)
				close(efd);
			goto out_dev;
		}
	}
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	if (headless) /* before any thread starts, so that all inherit it */
		pthread_sigmask(SIG_BLOCK, &term, NULL);
	/* A member of the services' group, whose runtime directory is theirs
	 * (/run/openped, where only the services write): no control socket. */
	struct stat cst;
	size_t sysdir = strlen(PED_SYSTEM_RUNTIME_DIR "/");
	if (!ped_opts_seen(opts, "control") && !strncmp(control_path, PED_SYSTEM_RUNTIME_DIR "/", sysdir) &&
	    stat(PED_SYSTEM_RUNTIME_DIR, &cst) == 0 && cst.st_uid != geteuid())
		ped_info("no control socket: %s is the services' (give -control PATH for one)", PED_SYSTEM_RUNTIME_DIR);
	else if ((r = control_start(&dev, control_path, &ctl)) != PED_OK) {
		fprintf(stderr, "ped-device: control socket %s: %s\n", control_path, ped_strerror(r));
		goto out_dev;
	}
	pthread_t sig_thr;
	int have_sig_thr = headless && pthread_create(&sig_thr, NULL, signal_thread, &dev) == 0;
	if (dev_start(&dev) != PED_OK)
		goto out_ctl;
	dev_event_log(&dev, "start", "\"mode\":\"%s\",\"headless\":%s", dc.start_mode, headless ? "true" : "false");
	if (headless) {
		rc = headless_run(&dev, ped_opts_seen(opts, "script") ? &script : NULL, policy,
				  (int)ped_opts_num(opts, "expecttimeout", 30) * 1000);
		if (!policy && !ped_opts_seen(opts, "script")) {
			/* no script, no answerer: a PED driven through the control socket */
			pthread_mutex_lock(&dev.mu);
			while (!dev.quit)
				pthread_cond_wait(&dev.changed, &dev.mu);
			pthread_mutex_unlock(&dev.mu);
		}
	} else {
		rc = tui_run(&dev, ped_opts_seen(opts, "notes") ? ped_opts_str(opts, "notes", NULL) : NULL);
	}
	dev_stop(&dev);
out_ctl:
	control_stop(ctl);
	if (have_sig_thr) {
		pthread_kill(sig_thr, SIGTERM); /* blocked: sigwait takes it */
		pthread_join(sig_thr, NULL);
	}
out_dev:
	if (dev.events)
		fclose(dev.events);
	dev_free(&dev);
out:
	script_free(&script);
	policy_free(policy);
	ped_config_free(&cfg);
	ped_log_close();
	return rc;
}
