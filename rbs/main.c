/* rbs: the Remote Backup Service. Serves this host's Backup HSMs (those of
 * its hsm-sim) as slots to registered clients over TLS, as the reference's
 * RBS does (chapter 12, "Configuring a Remote Backup Server").
 *
 *   rbs --genkey [-force]                  the host's certificate, its key under the RBS password
 *   rbs --config                           which Backup HSMs to serve (by number, X to exit)
 *   rbs --register -name NAME -cert FILE   a client that may connect
 *   rbs --list-clients | --remove-client NAME
 *   rbs --daemon [-foreground] [-port N]   serve (asks for the RBS password)
 *   rbs --show                             the certificate clients register
 *
 * Any of them with -dir DIR (rbs's folder, rbs.h), -socket PATH (hsm-sim's
 * control socket). The password comes from the terminal, or from
 * -password-file FILE (ours, 0600) or -password-fd N. */
#include "rbs.h"

#include "ped/buf.h"
#include "ped/daemon.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/link.h"
#include "ped/net.h"
#include "ped/opts.h"
#include "ped/tlsnet.h"

#include "hsm/control.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define USAGE                                                                                      \
	"rbs --genkey [-force] [-password-file FILE | -password-fd N]\n"                            \
	"       rbs --config [-socket PATH]\n"                                                      \
	"       rbs --register -name NAME -cert FILE | --list-clients | --remove-client NAME\n"     \
	"       rbs --daemon [-foreground] [-port N] [-address A] [-socket PATH] [-pidfile FILE]\n" \
	"                    [-logfile FILE] [-timeout S] [-idle S] [-password-file FILE | -password-fd N]\n" \
	"       rbs --show\n"                                                                       \
	"       (any of them with -dir DIR: rbs's folder)"

/* The host's certificate and its key under the password: a key that
 * exists is replaced only with -force (clients pinned its certificate). */
static int genkey(const struct rbs_paths *p, int force, const char *pwfile, int pwfd, char *err, size_t errlen)
{
	char pass[RBS_PASSWORD_MAX + 2], cn[128], host[64] = "rbs", fpr[20] = "?";
	size_t plen = 0;
	X509 *c = NULL;
	int r;

	if (!force && (access(p->key, F_OK) == 0 || access(p->cert, F_OK) == 0)) {
		snprintf(err, errlen, "%s exists: clients registered its certificate; -force makes a new one (each "
				      "client then registers it again: vtl deleteServer, vtl addServer)", p->key);
		return PED_E_EXISTS;
	}
	if ((r = ped_dir_private(p->server_dir, PED_DIR_SECRET, err, errlen)) != PED_OK)
		return r;
	if ((r = rbs_password(pwfile, pwfd, 1, pass, sizeof(pass), &plen, err, errlen)) != PED_OK)
		return r;
	(void)gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(cn, sizeof(cn), "rbs %s", host);
	r = ped_tls_make_cert_encrypted(cn, 3650, p->cert, p->key, pass, plen);
	OPENSSL_cleanse(pass, sizeof(pass));
	if (r != PED_OK) {
		snprintf(err, errlen, "cannot make the certificate %s: %s", p->cert, ped_strerror(r));
		return r;
	}
	if (ped_tls_read_cert(p->cert, &c, err, errlen) == PED_OK)
		(void)ped_tls_fingerprint(c, fpr);
	X509_free(c);
	printf("Private key (encrypted under the RBS password) written to: %s\n", p->key);
	printf("Certificate written to: %s\n", p->cert);
	printf("Fingerprint: %s\n", fpr);
	printf("On each client: vtl addServer -n <this host> -c server.pem -p <rbs port>\n");
	return PED_OK;
}

/* One command on hsm-sim's control socket; each output line to scan. */
static int hsm_command(const char *socket_path, const char *line, struct rbs_slot_scan *scan, char *err,
		       size_t errlen)
{
	struct ped_framer in;
	uint8_t type, *msg = NULL;
	size_t len = 0;
	int fd = -1, r;

	if ((r = ped_unix_connect(socket_path, &fd)) != PED_OK) {
		snprintf(err, errlen, "cannot reach hsm-sim at %s: %s (is it running? -socket PATH)", socket_path,
			 strerror(errno));
		return r;
	}
	ped_framer_init(&in, fd, HSM_CTL_LINE_MAX);
	if ((r = ped_frame_send(fd, HSM_CTL_CMD, line, strlen(line), 10000)) != PED_OK)
		goto out;
	for (;;) {
		if ((r = ped_framer_recv(&in, &type, &msg, &len, 30000)) != PED_OK)
			break;
		if (type == HSM_CTL_OUTPUT && len <= HSM_CTL_LINE_MAX) {
			char text[HSM_CTL_LINE_MAX + 1];
			memcpy(text, msg, len);
			text[len] = '\0';
			rbs_scan_line(scan, text);
		} else if (type == HSM_CTL_RESULT) {
			r = len >= 4 && ped_be32_get(msg) == 0 ? PED_OK : PED_E_DEVICE_ERROR;
			break;
		}
		OPENSSL_clear_free(msg, len ? len : 1);
		msg = NULL;
		len = 0;
	}
	if (r != PED_OK)
		snprintf(err, errlen, "hsm-sim at %s did not list its slots: %s", socket_path, ped_strerror(r));
	rbs_scan_end(scan);
out:
	OPENSSL_clear_free(msg, len ? len : 1);
	ped_framer_free(&in);
	close(fd);
	return r;
}

static void show_choices(const struct rbs_slot_scan *s, const struct hsm_ctl_restrict *served,
			 const struct hsm_ctl_restrict *absent)
{
	printf("\nBackup HSMs on this host:\n");
	printf("  No.  Slot  Serial #          Label                             Served\n");
	for (size_t i = 0; i < s->n; i++)
		printf("  %3zu  %4d  %-16s  %-32.32s  %s\n", i + 1, s->b[i].slot, s->b[i].serial, s->b[i].label,
		       hsm_ctl_restrict_has(served, s->b[i].serial) ? "yes" : "no");
	for (size_t i = 0; i < absent->n; i++)
		printf("  %3zu     -  %-16s  %-32s  yes\n", s->n + i + 1, absent->serial[i], "(not on this host now)");
	if (!s->n && !absent->n)
		printf("  (none: hsm-sim has no Backup HSM)\n");
}

static void toggle(struct hsm_ctl_restrict *set, const char *serial)
{
	for (size_t i = 0; i < set->n; i++)
		if (!strcmp(set->serial[i], serial)) {
			memmove(&set->serial[i], &set->serial[i + 1], (set->n - i - 1) * sizeof(set->serial[0]));
			set->n--;
			return;
		}
	if (set->n < HSM_CTL_RESTRICT_MAX)
		snprintf(set->serial[set->n++], sizeof(set->serial[0]), "%s", serial);
}

/* The operator picks the Backup HSMs to serve, by number (again: no
 * longer served); X saves and exits. From a terminal or a script. */
static int config(const struct rbs_paths *p, const char *socket_path, char *err, size_t errlen)
{
	struct rbs_slot_scan scan;
	struct hsm_ctl_restrict served, absent;
	char line[256];
	size_t len;
	int r;

	memset(&scan, 0, sizeof(scan));
	if ((r = rbs_conf_load(p->conf, &served, err, errlen)) != PED_OK)
		return r;
	if ((r = hsm_command(socket_path, "slot list", &scan, err, errlen)) != PED_OK)
		return r;
	for (;;) {
		/* served but not listed now: kept, shown, and may be dropped */
		memset(&absent, 0, sizeof(absent));
		for (size_t i = 0; i < served.n; i++) {
			int here = 0;
			for (size_t j = 0; j < scan.n; j++)
				here |= !strcmp(scan.b[j].serial, served.serial[i]);
			if (!here)
				snprintf(absent.serial[absent.n++], sizeof(absent.serial[0]), "%s", served.serial[i]);
		}
		show_choices(&scan, &served, &absent);
		printf("Enter the number of a Backup HSM to serve it (or to stop serving it), X to save and exit: ");
		fflush(stdout);
		r = hsm_ctl_read_line(stdin, line, sizeof(line), &len);
		if (r == PED_E_CLOSED) {
			printf("\n");
			snprintf(err, errlen, "the input ended before X: nothing was saved");
			return PED_E_CANCEL;
		}
		if (r != PED_OK) {
			printf("\nNot a choice.\n");
			continue;
		}
		char *w = hsm_ctl_trim(line);
		if (!strcasecmp(w, "x"))
			break;
		char *end;
		long k = strtol(w, &end, 10);
		if (!*w || *end || k < 1 || (size_t)k > scan.n + absent.n) {
			printf("\n'%s' is not a number of the list, nor X.\n", w);
			continue;
		}
		const char *serial = (size_t)k <= scan.n ? scan.b[k - 1].serial : absent.serial[k - 1 - scan.n];
		if (!hsm_ctl_restrict_has(&served, serial) && served.n == HSM_CTL_RESTRICT_MAX) {
			printf("\nrbs serves %d Backup HSMs at most.\n", HSM_CTL_RESTRICT_MAX);
			continue;
		}
		toggle(&served, serial);
	}
	if ((r = rbs_conf_save(p->conf, &served, err, errlen)) != PED_OK)
		return r;
	printf("\n%zu Backup HSM(s) served; saved in %s.\n", served.n, p->conf);
	for (size_t i = 0; i < served.n; i++)
		printf("  Backup HSM %s\n", served.serial[i]);
	return PED_OK;
}

int main(int argc, char **argv)
{
	struct ped_opt opts[] = {
		{.name = "genkey", .kind = PED_OPT_FLAG, .help = "make the host's certificate and its key under the RBS password"},
		{.name = "config", .kind = PED_OPT_FLAG, .help = "choose the Backup HSMs served"},
		{.name = "daemon", .kind = PED_OPT_FLAG, .help = "serve the Backup HSMs chosen to registered clients"},
		{.name = "register", .kind = PED_OPT_FLAG, .help = "register a client (-name, -cert)"},
		{.name = "list-clients", .kind = PED_OPT_FLAG, .help = "list the registered clients"},
		{.name = "remove-client", .kind = PED_OPT_STRING, .arg = "NAME", .help = "remove a registered client"},
		{.name = "show", .kind = PED_OPT_FLAG, .help = "the host's certificate, as clients register it"},
		{.name = "name", .kind = PED_OPT_STRING, .arg = "NAME", .help = "the client's name (--register)"},
		{.name = "cert", .kind = PED_OPT_STRING, .arg = "FILE", .help = "the client's certificate (--register)"},
		{.name = "force", .kind = PED_OPT_FLAG, .help = "--genkey: replace the certificate and key there are"},
		{.name = "dir", .kind = PED_OPT_STRING, .arg = "DIR", .help = "rbs's folder (default DATA/rbs)"},
		{.name = "socket", .kind = PED_OPT_STRING, .arg = "PATH", .help = "hsm-sim's control socket"},
		{.name = "port", .kind = PED_OPT_INT, .min = 0, .max = 65535, .arg = "N",
		 .help = "the TLS port (default 1792; 0: any, logged)"},
		{.name = "address", .kind = PED_OPT_STRING, .arg = "A", .help = "listen on this address only"},
		{.name = "foreground", .kind = PED_OPT_FLAG, .help = "--daemon: stay in the foreground (service managers)"},
		{.name = "pidfile", .kind = PED_OPT_STRING, .arg = "FILE", .help = "PID file"},
		{.name = "logfile", .kind = PED_OPT_STRING, .arg = "FILE",
		 .help = "log file (default: stderr in the foreground, rbs.log in rbs's folder otherwise)"},
		{.name = "timeout", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "S",
		 .help = "a client's TLS handshake, and hsm-sim's first answer (10)"},
		{.name = "idle", .kind = PED_OPT_INT, .min = 0, .max = 86400, .arg = "S",
		 .help = "a session with no traffic ends (3600; 0: never)"},
		{.name = "password-file", .kind = PED_OPT_STRING, .arg = "FILE",
		 .help = "the RBS password's file (ours, mode 0600)"},
		{.name = "password-fd", .kind = PED_OPT_INT, .min = 0, .max = 65535, .arg = "N",
		 .help = "read the RBS password from this file descriptor"},
		{.name = "verbose", .kind = PED_OPT_FLAG, .help = "trace logging"},
		{.name = "version", .kind = PED_OPT_FLAG, .help = "print the version"},
		{.name = NULL},
	};
	static const char *const modes[] = {"genkey", "config", "daemon", "register", "list-clients", "remove-client",
					    "show", NULL};
	struct rbs_paths paths;
	char err[2048], dir[1024], socket_path[1024], logfile[1100];
	const char *mode = NULL;
	int r, nmodes = 0;

	ped_stdio_ensure();
	ped_no_core_dumps();
	signal(SIGPIPE, SIG_IGN); /* a peer that leaves is an error to handle */
	r = ped_opts_parse(opts, argc, argv, 1, NULL, 0, NULL, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, USAGE, opts);
		return 0;
	}
	if (r != PED_OK) {
		fprintf(stderr, "rbs: %s\nusage: %s\n", err, USAGE);
		return 2;
	}
	if (ped_opts_seen(opts, "version")) {
		printf("rbs %s\n", PED_VERSION);
		return 0;
	}
	for (int i = 0; modes[i]; i++)
		if (ped_opts_seen(opts, modes[i])) {
			mode = modes[i];
			nmodes++;
		}
	if (nmodes != 1) {
		fprintf(stderr, "rbs: %s\nusage: %s\n", nmodes ? "one of --genkey, --config, --daemon, ... at a time"
							       : "what to do? (--genkey, --config, --daemon, ...)",
			USAGE);
		return 2;
	}
	if (ped_opts_seen(opts, "dir"))
		snprintf(dir, sizeof(dir), "%s", ped_opts_str(opts, "dir", ""));
	else if (ped_data_path("rbs", dir, sizeof(dir)) != PED_OK) {
		fprintf(stderr, "rbs: no data directory for rbs's folder (set XDG_DATA_HOME or give -dir DIR)\n");
		return 1;
	}
	/* the key, the clients trusted, the HSMs served: no one else may change them */
	if (ped_dir_private(dir, PED_DIR_SECRET, err, sizeof(err)) != PED_OK) {
		fprintf(stderr, "rbs: %s (give -dir a directory of your own, mode 0700)\n", err);
		return 1;
	}
	rbs_paths(dir, &paths);
	if (ped_opts_seen(opts, "socket"))
		snprintf(socket_path, sizeof(socket_path), "%s", ped_opts_str(opts, "socket", ""));
	else if (hsm_ctl_default_socket(socket_path, sizeof(socket_path)) != PED_OK)
		socket_path[0] = '\0';
	const char *pwfile = ped_opts_str(opts, "password-file", NULL);
	int pwfd = ped_opts_seen(opts, "password-fd") ? (int)ped_opts_num(opts, "password-fd", 0) : -1;

	if (!strcmp(mode, "genkey")) {
		r = genkey(&paths, ped_opts_seen(opts, "force"), pwfile, pwfd, err, sizeof(err));
	} else if (!strcmp(mode, "config")) {
		if (!socket_path[0]) {
			fprintf(stderr, "rbs: no runtime directory for hsm-sim's socket (give -socket PATH)\n");
			return 1;
		}
		r = config(&paths, socket_path, err, sizeof(err));
	} else if (!strcmp(mode, "register")) {
		if ((r = ped_dir_private(paths.clients, PED_DIR_SECRET, err, sizeof(err))) == PED_OK) {
			if (!ped_opts_seen(opts, "name") || !ped_opts_seen(opts, "cert")) {
				snprintf(err, sizeof(err), "--register needs -name NAME -cert FILE");
				r = PED_E_INVALID;
			} else {
				r = ped_tls_registry_add(paths.clients, ped_opts_str(opts, "name", NULL),
							 ped_opts_str(opts, "cert", NULL), stdout, err, sizeof(err));
			}
		}
	} else if (!strcmp(mode, "list-clients")) {
		r = ped_tls_registry_list(paths.clients, stdout);
	} else if (!strcmp(mode, "remove-client")) {
		r = ped_tls_registry_remove(paths.clients, ped_opts_str(opts, "remove-client", NULL), stdout, err,
					    sizeof(err));
	} else if (!strcmp(mode, "show")) {
		X509 *c = NULL;
		if ((r = ped_tls_read_cert(paths.cert, &c, err, sizeof(err))) == PED_OK) {
			ped_tls_print_cert(stdout, "server", c);
			printf("certificate: %s\n", paths.cert);
		}
		X509_free(c);
	} else {
		struct rbs_daemon_conf dc = {
			.paths = &paths,
			.hsm_socket = socket_path,
			.address = ped_opts_str(opts, "address", NULL),
			.port = (int)ped_opts_num(opts, "port", RBS_DEFAULT_PORT),
			.foreground = ped_opts_seen(opts, "foreground"),
			.pidfile = ped_opts_str(opts, "pidfile", NULL),
			.handshake_timeout_ms = (int)ped_opts_num(opts, "timeout", 10) * 1000,
			.idle_timeout_ms = (int)ped_opts_num(opts, "idle", 3600) * 1000,
			.verbose = ped_opts_seen(opts, "verbose"),
		};
		char pass[RBS_PASSWORD_MAX + 2];
		size_t plen = 0;
		if (!socket_path[0]) {
			fprintf(stderr, "rbs: no runtime directory for hsm-sim's socket (give -socket PATH)\n");
			return 1;
		}
		/* the log: -logfile; else stderr in the foreground, rbs.log in
		 * rbs's folder in the background, whose stderr goes nowhere */
		if (ped_opts_seen(opts, "logfile"))
			snprintf(logfile, sizeof(logfile), "%s", ped_opts_str(opts, "logfile", ""));
		else if (!dc.foreground)
			snprintf(logfile, sizeof(logfile), "%s/rbs.log", paths.dir);
		else
			logfile[0] = '\0';
		dc.logfile = logfile[0] ? logfile : NULL;
		/* no password asked for a key that is not there */
		if (ped_tls_key_private(paths.key, err, sizeof(err)) != PED_OK) {
			fprintf(stderr, "rbs: %s (rbs --genkey makes it)\n", err);
			return 1;
		}
		if ((r = rbs_password(pwfile, pwfd, 0, pass, sizeof(pass), &plen, err, sizeof(err))) != PED_OK) {
			fprintf(stderr, "rbs: %s\n", err);
			return 1;
		}
		r = rbs_daemon(&dc, pass, plen);
		OPENSSL_cleanse(pass, sizeof(pass));
		return r;
	}
	if (r != PED_OK) {
		fprintf(stderr, "rbs: %s\n", err);
		return 1;
	}
	return 0;
}
