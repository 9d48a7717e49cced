/* The daemons' shared command line: options made from the settings table,
 * the configuration file under them, and the modes every daemon has. */
#include "ped/service.h"

#include "ped/admin.h"
#include "ped/daemon.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void ped_service_err(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void ped_service_fail(const char *what, int err)
{
	ped_service_err("%s : 0x%08x %s\n", what, ped_err_code(err), ped_err_name(err));
}

static void add_opt(struct ped_service *svc, size_t *n, const struct ped_opt *o)
{
	if (*n < PED_SERVICE_MAX_OPTS - 1)
		svc->opts[(*n)++] = *o;
}

/* The option of a setting: its kind from the setting's type. */
static struct ped_opt setting_opt(const struct ped_setting *s)
{
	struct ped_opt o = {.name = s->opt, .aliases = s->aliases, .arg = s->arg, .help = s->help};
	if (s->flags & PED_SET_FLAG_OPT) /* -ignoreidletimeout sets it, -ignoreidletimeout 0 clears it */
		o.kind = PED_OPT_FLAG01;
	else if (s->type == PED_CFG_INT) {
		o.kind = PED_OPT_INT;
		o.min = s->min;
		o.max = s->max;
	} else if (s->type == PED_CFG_BOOL) {
		o.kind = PED_OPT_BOOL01;
		o.arg = "0|1";
	} else
		o.kind = PED_OPT_STRING;
	return o;
}

/* The program's options, then its settings', then those of every daemon. */
static void build(struct ped_service *svc)
{
	size_t n = 0, k = 0;

	for (const struct ped_opt *o = svc->own; o && o->name; o++)
		add_opt(svc, &n, o);
	for (const struct ped_setting *s = svc->settings; s->name; s++) {
		struct ped_opt o = setting_opt(s);
		if (s->opt)
			add_opt(svc, &n, &o);
		if (k < PED_SERVICE_MAX_SETTINGS)
			svc->schema[k++] = (struct ped_cfg_setting){.name = s->name, .type = s->type, .min = s->min,
								    .max = s->max, .dflt = s->dflt, .sdflt = s->sdflt,
								    .help = s->help};
	}
	svc->schema[k] = (struct ped_cfg_setting){.name = NULL};
	snprintf(svc->configfile_help, sizeof(svc->configfile_help), "configuration file (conf/%s.conf)", svc->name);
	const struct ped_opt shared[] = {
		{.name = "configfile", .aliases = "c", .kind = PED_OPT_STRING, .arg = "FILE", .help = svc->configfile_help},
		{.name = "show", .kind = PED_OPT_FLAG, .help = "with -mode config: print the configuration"},
		{.name = "set", .kind = PED_OPT_FLAG, .help = "with -mode config: store the other options given"},
		{.name = "foreground", .kind = PED_OPT_FLAG, .help = "with -mode start: serve in this process (service managers)"},
		{.name = "version", .aliases = "v", .kind = PED_OPT_FLAG, .help = "print the version"},
	};
	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++)
		add_opt(svc, &n, &shared[i]);
	svc->opts[n] = (struct ped_opt){.name = NULL};
}

static const struct ped_setting *setting_named(const struct ped_service *svc, const char *name)
{
	for (const struct ped_setting *s = svc->settings; s->name; s++)
		if (!strcasecmp(s->name, name))
			return s;
	return NULL;
}

/* The words to parse: "pedserver mode start" (no dash, as the reference
 * prints it too) made "-mode start"; and after -set, "Setting value" pairs
 * named as in the file (the reference's troubleshooting writes "-mode
 * config -set LogFileName FILE") taken out, to be applied like options. A
 * word that names no setting is left to the parser, which reports it. */
static char **words(struct ped_service *svc, int argc, char **argv, int *n)
{
	static char dashed[32];
	char **w = calloc((size_t)argc + 1, sizeof(*w));
	int i = 0, pairs = 0;

	if (!w)
		return NULL;
	*n = 0;
	while (i < argc) {
		const struct ped_setting *s;
		if (pairs && argv[i][0] != '-' && i + 1 < argc && svc->npairs < PED_SERVICE_MAX_PAIRS &&
		    (s = setting_named(svc, argv[i])) != NULL) {
			if (ped_opts_names_option(svc->opts, argv[i + 1])) {
				/* "-set LogFileName -show": the value is missing, not "-show" */
				snprintf(svc->err, sizeof(svc->err), "%s needs a value, not the option %s", s->name,
					 argv[i + 1]);
				free(w);
				return NULL;
			}
			svc->pairs[svc->npairs].s = s;
			svc->pairs[svc->npairs++].value = argv[i + 1];
			i += 2;
			continue;
		}
		pairs = !strcasecmp(argv[i], "-set"); /* they follow -set, and end at any other word */
		w[(*n)++] = argv[i++];
	}
	for (const char *const *b = svc->bare; b && *b && *n > 1 && w[1][0] != '-'; b++)
		if (!strcasecmp(w[1], *b)) {
			snprintf(dashed, sizeof(dashed), "-%s", *b);
			w[1] = dashed;
		}
	return w;
}

int ped_service_begin(struct ped_service *svc, int argc, char **argv)
{
	char **w;
	int n, r;

	ped_stdio_ensure();
	ped_no_core_dumps();
	build(svc);
	svc->npairs = 0;
	svc->err[0] = '\0';
	if (!(w = words(svc, argc, argv, &n))) {
		if (svc->err[0]) {
			ped_service_err("%s\n%s\n", svc->err, svc->usage);
			return 2;
		}
		ped_service_fail("out of memory", PED_E_HOST_MEMORY);
		return 1;
	}
	r = ped_opts_parse(svc->opts, n, w, 1, NULL, 0, NULL, svc->err, sizeof(svc->err));
	free(w);
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, svc->usage, svc->opts);
		return 0;
	}
	/* -json: standard output is the JSON document alone */
	if ((svc->narrate && !ped_opts_seen(svc->opts, "json")) || (r == PED_OK && ped_opts_seen(svc->opts, "version")))
		printf("%s Version %s\n", svc->title, svc->version);
	if (r == PED_OK && ped_opts_seen(svc->opts, "version"))
		return 0;
	if (r != PED_OK) {
		ped_service_err("%s\n%s\n", svc->err, svc->usage);
		return 2;
	}
	return -1;
}

/* The value an option gave its setting, or NULL if it was not given. */
static const char *given(struct ped_service *svc, const struct ped_setting *s)
{
	struct ped_opt *o = s->opt ? ped_opts_get(svc->opts, s->opt) : NULL;
	if (!o || !o->seen)
		return NULL;
	return (s->flags & PED_SET_FLAG_OPT) && !o->value ? "1" : o->value;
}

/* Each setting given on the command line, option or pair, through fn. */
static int each_given(struct ped_service *svc,
		      int (*fn)(struct ped_config *, const char *, const char *, char *, size_t))
{
	const char *v;
	for (const struct ped_setting *s = svc->settings; s->name; s++)
		if ((v = given(svc, s)) != NULL && fn(&svc->cfg, s->name, v, svc->err, sizeof(svc->err)) != PED_OK)
			return PED_E_CONFIG;
	for (size_t i = 0; i < svc->npairs; i++)
		if (fn(&svc->cfg, svc->pairs[i].s->name, svc->pairs[i].value, svc->err, sizeof(svc->err)) != PED_OK)
			return PED_E_CONFIG;
	return PED_OK;
}

int ped_service_configure(struct ped_service *svc, int may_create)
{
	char path[1024];
	const char *file = ped_opts_str(svc->opts, "configfile", NULL);
	char name[64];
	int r;

	snprintf(name, sizeof(name), "%s.conf", svc->name);
	if (file)
		snprintf(path, sizeof(path), "%s", file);
	else /* the user's, else the system's (make install's) */
		(void)ped_config_default_path(name, path, sizeof(path), NULL);
	r = ped_config_load_strict(&svc->cfg, path, svc->schema, svc->groups, svc->err, sizeof(svc->err));
	/* Defaults until a saving command creates the file. */
	if (r == PED_E_NOT_FOUND && (!file || may_create))
		r = PED_OK;
	if (r != PED_OK) {
		ped_service_fail(svc->err, r == PED_E_NOT_FOUND ? PED_E_FILE : r);
		ped_config_free(&svc->cfg);
		return 1;
	}
	/* For this run only: a save writes what the file had and what was set. */
	if (each_given(svc, ped_config_override) != PED_OK) {
		fprintf(stderr, "%s\n", svc->err);
		ped_config_free(&svc->cfg);
		return 2;
	}
	return -1;
}

void ped_service_end(struct ped_service *svc)
{
	ped_config_free(&svc->cfg);
	ped_log_close();
}

const struct ped_setting *ped_service_role(const struct ped_service *svc, unsigned flag)
{
	for (const struct ped_setting *s = svc->settings; s->name; s++)
		if (s->flags & flag)
			return s;
	return NULL;
}

long ped_service_int(struct ped_service *svc, const char *setting)
{
	return ped_config_int(&svc->cfg, setting);
}

const char *ped_service_str(struct ped_service *svc, const char *setting)
{
	return ped_config_str(&svc->cfg, setting);
}

static int role_ms(struct ped_service *svc, unsigned flag)
{
	const struct ped_setting *s = ped_service_role(svc, flag);
	return s ? ped_ms((int)ped_service_int(svc, s->name)) : 10000;
}

int ped_service_runtime_path(struct ped_service *svc, const char *setting, const char *file, char *out,
			     size_t len)
{
	const char *v = ped_service_str(svc, setting);
	if (v && *v) {
		snprintf(out, len, "%s", v);
		return PED_OK;
	}
	if (ped_runtime_path(file, out, len) == PED_OK)
		return PED_OK;
	ped_service_err("No private runtime directory for %s (set XDG_RUNTIME_DIR, or %s) : 0x%08x %s\n", file, setting,
	       ped_err_code(PED_E_FILE), ped_err_name(PED_E_FILE));
	return PED_E_FILE;
}

/* rel is a file (.pem) or a directory under the data directory; the one
 * that holds it, or that it is, is made and checked: a private key's lets
 * no one else in, registered certificates' no one else write. */
int ped_service_data_path(struct ped_service *svc, const char *setting, const char *rel, mode_t forbid,
			  char *out, size_t len)
{
	const char *v = ped_service_str(svc, setting);
	char dir[1024], why[1600];
	if (v && *v) {
		snprintf(out, len, "%s", v);
		return PED_OK;
	}
	if (ped_data_path(rel, out, len) != PED_OK) {
		ped_service_err("No private data directory for %s (set XDG_DATA_HOME, or %s) : 0x%08x %s\n", rel, setting,
		       ped_err_code(PED_E_FILE), ped_err_name(PED_E_FILE));
		return PED_E_FILE;
	}
	snprintf(dir, sizeof(dir), "%s", out);
	if (strstr(rel, ".pem")) {
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
	}
	if (ped_dir_private(dir, forbid, why, sizeof(why)) != PED_OK) {
		ped_service_err("%s (or set %s) : 0x%08x %s\n", why, setting, ped_err_code(PED_E_FILE), ped_err_name(PED_E_FILE));
		return PED_E_FILE;
	}
	return PED_OK;
}

/* The documented non-root pitfall: never log into the current directory. */
static int log_path(struct ped_service *svc, char *out, size_t len)
{
	char file[64];
	const char *v = ped_service_str(svc, "LogFileName");
	if (v && *v) {
		snprintf(out, len, "%s", v);
		return PED_OK;
	}
	snprintf(file, sizeof(file), "%s.log", svc->name);
	if (ped_data_path(file, out, len) == PED_OK)
		return PED_OK;
	ped_service_err("No private data directory for %s (set XDG_DATA_HOME, or LogFileName) : 0x%08x %s\n", file,
	       ped_err_code(PED_E_FILE), ped_err_name(PED_E_FILE));
	return PED_E_FILE;
}

static int open_log(struct ped_service *svc, const char *file)
{
	unsigned mask = 0;
	mask |= ped_service_int(svc, "LogInfo") ? PED_LOG_INFO : 0;
	mask |= ped_service_int(svc, "LogWarning") ? PED_LOG_WARNING : 0;
	mask |= ped_service_int(svc, "LogError") ? PED_LOG_ERROR : 0;
	mask |= ped_service_int(svc, "LogTrace") ? PED_LOG_TRACE : 0;
	struct ped_log_config lc = {svc->name, mask, file, (size_t)ped_service_int(svc, "MaxLogFileSize") * 1024u};
	return ped_log_open(&lc);
}

int ped_service_daemon_conf(struct ped_service *svc, struct ped_daemon_conf *d)
{
	char file[64];
	const struct ped_setting *shutdown = ped_service_role(svc, PED_SET_SHUTDOWN);

	memset(d, 0, sizeof(*d));
	snprintf(file, sizeof(file), "%s.pid", svc->name);
	if (ped_service_runtime_path(svc, "PidFile", file, d->pidfile, sizeof(d->pidfile)) != PED_OK)
		return PED_E_FILE;
	d->admin_port = (int)ped_service_int(svc, "AdminPort");
	d->eadmin = (int)ped_service_int(svc, "ExternalAdmin");
	d->idle_timeout_s = (int)ped_service_int(svc, "IdleTimeout");
	d->read_timeout_s = (int)ped_service_int(svc, "SocketReadTimeout");
	d->write_timeout_s = (int)ped_service_int(svc, "SocketWriteTimeout");
	d->shutdown_timeout_s = shutdown ? (int)ped_service_int(svc, shutdown->name) : 10;
	d->ping_interval_s = (int)ped_service_int(svc, "PingInterval");
	d->ping_timeout_s = (int)ped_service_int(svc, "PingTimeout");
	snprintf(d->config_path, sizeof(d->config_path), "%s", svc->cfg.path);
	d->foreground = ped_opts_seen(svc->opts, "foreground");
	return PED_OK;
}

void ped_service_announce(struct ped_service *svc, const char *mode)
{
	if (svc->narrate && !ped_opts_seen(svc->opts, "json"))
		printf("%s launched in %s mode.\n", svc->title, mode);
}

int ped_service_start(struct ped_service *svc, const struct ped_daemon_conf *d, const char *serving)
{
	static char logfile[1024];
	char msg[512], why[1200];
	pid_t child;
	int r, fd;

	/* In the foreground (a service manager) the log is stderr, the
	 * journal, unless a file is asked for; in the background a file,
	 * LogFileName or the data directory's. */
	const char *named = ped_service_str(svc, "LogFileName");
	int to_file = !d->foreground || (named && *named);
	if (to_file) {
		if (log_path(svc, logfile, sizeof(logfile)) != PED_OK) {
			ped_service_fail("Startup failed.", PED_E_FILE);
			return 1;
		}
		/* Say now if the log cannot be written, not after the fork; and
		 * create it as the logger would (0600, not through a link). */
		if (ped_file_open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0600, &fd, why, sizeof(why)) != PED_OK) {
			ped_service_err("Cannot write the log file %s\n", why);
			ped_service_fail("Startup failed.", PED_E_FILE);
			return 1;
		}
		close(fd);
	}
	if (!d->foreground && svc->narrate)
		printf("Starting background process\n");
	fflush(stdout);
	r = ped_daemon_start(d->foreground, role_ms(svc, PED_SET_STARTUP), &child, msg, sizeof(msg));
	if (r == PED_DAEMON_CHILD) {
		/* changed since the check (a race, or a full disk): no start
		 * with a log that goes nowhere */
		if (open_log(svc, to_file ? logfile : NULL) != PED_OK)
			ped_daemon_fail(PED_E_FILE, "Cannot write the log file %s: %s", logfile, strerror(errno));
		return -1;
	}
	if (r != PED_OK) {
		ped_service_err("%s\n", msg);
		if (svc->narrate)
			ped_service_fail("Background process failed to start", r);
		ped_service_fail("Startup failed.", r);
		return 1;
	}
	if (svc->narrate)
		printf("Background process started\n%s Process created, exiting this process.\n", svc->title);
	else
		printf("%s started (pid %ld)%s%s\n", svc->title, (long)child, serving ? ", " : "", serving ? serving : "");
	return 0;
}

int ped_service_stop(struct ped_service *svc)
{
	char pidfile[1024], file[64];
	int killed = 0, r;

	snprintf(file, sizeof(file), "%s.pid", svc->name);
	if (ped_service_runtime_path(svc, "PidFile", file, pidfile, sizeof(pidfile)) != PED_OK) {
		ped_service_fail("Shutdown failed.", PED_E_FILE);
		return 1;
	}
	r = ped_daemon_stop(pidfile, role_ms(svc, PED_SET_STOP), &killed);
	if (r == PED_E_NOT_FOUND) {
		printf("%s is not running.\n", svc->title);
		return 0;
	}
	if (r != PED_OK) {
		ped_service_fail("Shutdown failed.", r);
		return 1;
	}
	printf(killed ? "%s did not stop in time and was killed.\n" : "%s stopped.\n", svc->title);
	if (svc->narrate)
		printf("Shutdown passed.\n");
	return 0;
}

int ped_service_config(struct ped_service *svc)
{
	int r;
	if (!ped_opts_seen(svc->opts, "show") && !ped_opts_seen(svc->opts, "set")) {
		ped_service_err("Use -show to print the configuration or -set with the settings to change.\n");
		return 2;
	}
	if (ped_opts_seen(svc->opts, "set")) {
		if (!svc->cfg.path[0]) {
			ped_service_err("No configuration file: give -configfile FILE\n");
			return 1;
		}
		/* The settings given, and only those, join what the file had. */
		if (each_given(svc, ped_config_set) != PED_OK) {
			fprintf(stderr, "%s\n", svc->err);
			return 2;
		}
		if ((r = ped_config_save(&svc->cfg, svc->err, sizeof(svc->err))) != PED_OK) {
			ped_service_fail(svc->err, r);
			return 1;
		}
		printf("Configuration file %s updated.\n", svc->cfg.path);
	}
	if (ped_opts_seen(svc->opts, "show")) {
		printf("Configuration file: %s\n", svc->cfg.path[0] ? svc->cfg.path : "(none: defaults)");
		ped_config_show(&svc->cfg, stdout);
	}
	return 0;
}

int ped_service_admin_port(struct ped_service *svc, uint16_t *port)
{
	if (ped_opts_seen(svc->opts, "admin")) {
		*port = (uint16_t)ped_opts_num(svc->opts, "admin", 0);
		return PED_OK;
	}
	if (ped_admin_port_lookup(svc->name, port) == PED_OK)
		return PED_OK;
	*port = (uint16_t)ped_service_int(svc, "AdminPort");
	return *port ? PED_OK : PED_E_NOT_FOUND;
}

int ped_service_query(struct ped_service *svc, const char *line, char *out, size_t cap)
{
	uint16_t port;
	int r = ped_service_admin_port(svc, &port);
	if (r == PED_OK)
		r = ped_admin_query("127.0.0.1", port, line, out, cap,
				    ped_ms((int)ped_service_int(svc, "SocketReadTimeout")));
	/* nothing listens: the reference's socket error */
	return r == PED_E_NOT_FOUND || r == PED_E_CLOSED ? PED_E_SOCKET : r;
}
