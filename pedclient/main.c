/* pedclient: the documented command line. start/stop/show manage the
 * background process (client.c); the id modes edit the mappings in the
 * configuration file, which the running daemon reads at each request. */
#include "client.h"

#include "ped/admin.h"
#include "ped/config.h"
#include "ped/daemon.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/link.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/opts.h"
#include "ped/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define USAGE "pedclient -mode assignid|config|deleteid|releaseid|setid|show|start|stop|testid [options]"

static const char *const modes[] = {"assignid", "config", "deleteid", "releaseid", "setid",
				    "show",     "start",  "stop",     "testid",    NULL};
enum { M_ASSIGNID, M_CONFIG, M_DELETEID, M_RELEASEID, M_SETID, M_SHOW, M_START, M_STOP, M_TESTID };

static struct ped_cfg_setting schema[] = {
	{.name = "AdminPort", .type = PED_CFG_INT, .min = 0, .max = 65535, .dflt = 1501, .help = "admin port (0: any free port)"},
	{.name = "ExternalAdmin", .type = PED_CFG_BOOL, .dflt = 0, .help = "admin port beyond localhost"},
	{.name = "IdleTimeout", .type = PED_CFG_INT, .min = 1, .max = 86400, .dflt = 1800, .help = "seconds before an idle Remote PED connection ends"},
	{.name = "IgnoreIdleTimeout", .type = PED_CFG_BOOL, .dflt = 0, .help = "never end a connection for being idle"},
	{.name = "SocketReadTimeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10, .help = "seconds"},
	{.name = "SocketWriteTimeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10, .help = "seconds"},
	{.name = "ShutdownTimeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10, .help = "seconds"},
	{.name = "PStartupTimeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10, .help = "seconds"},
	{.name = "PShutdownTimeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 20, .help = "seconds"},
	{.name = "LogFileName", .type = PED_CFG_STRING, .sdflt = "", .help = "log file (empty: pedclient.log in the user's data directory)"},
	{.name = "LogInfo", .type = PED_CFG_BOOL, .dflt = 1, .help = "log info messages"},
	{.name = "LogWarning", .type = PED_CFG_BOOL, .dflt = 1, .help = "log warnings"},
	{.name = "LogError", .type = PED_CFG_BOOL, .dflt = 1, .help = "log errors"},
	{.name = "LogTrace", .type = PED_CFG_BOOL, .dflt = 0, .help = "log traces"},
	{.name = "MaxLogFileSize", .type = PED_CFG_INT, .min = 1, .max = 1048576, .dflt = 4096, .help = "KB before the log rotates"},
	{.name = "PingInterval", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10, .help = "seconds between pings to pedserver"},
	{.name = "PingTimeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 20, .help = "seconds to wait for pedserver's answer"},
	{.name = "HsmSocket", .type = PED_CFG_STRING, .sdflt = "", .help = "where HSMs ask for Remote PED (empty: pedclient.sock in the runtime directory)"},
	{.name = "PidFile", .type = PED_CFG_STRING, .sdflt = "", .help = "PID file (empty: pedclient.pid in the runtime directory)"},
	{.name = "ListenIP", .type = PED_CFG_STRING, .sdflt = "0.0.0.0", .help = "PED-initiated mode: where pedservers dial in"},
	{.name = "ListenPort", .type = PED_CFG_INT, .min = -1, .max = 65535, .dflt = 9697, .help = "PED-initiated mode: TLS port (0: any free port, -1: off)"},
	{.name = "Certificate", .type = PED_CFG_STRING, .sdflt = "", .help = "PED-initiated mode: our certificate (empty: cert/pedclient/pedclient.pem in the data directory, made at first start)"},
	{.name = "PrivateKey", .type = PED_CFG_STRING, .sdflt = "", .help = "PED-initiated mode: its key"},
	{.name = "RegisteredPedServers", .type = PED_CFG_STRING, .sdflt = "", .help = "PED-initiated mode: directory of the pedserver certificates accepted (empty: cert/pedservers in the data directory)"},
	{.name = NULL},
};

static const struct {
	const char *opt, *setting;
} option_settings[] = {
	{"admin", "AdminPort"},
	{"eadmin", "ExternalAdmin"},
	{"idletimeout", "IdleTimeout"},
	{"socketreadtimeout", "SocketReadTimeout"},
	{"socketwritetimeout", "SocketWriteTimeout"},
	{"shutdowntimeout", "ShutdownTimeout"},
	{"pstartuptimeout", "PStartupTimeout"},
	{"pshutdowntimeout", "PShutdownTimeout"},
	{"logfilename", "LogFileName"},
	{"loginfo", "LogInfo"},
	{"logwarning", "LogWarning"},
	{"logerror", "LogError"},
	{"logtrace", "LogTrace"},
	{"maxlogfilesize", "MaxLogFileSize"},
	{"pinginterval", "PingInterval"},
	{"pingtimeout", "PingTimeout"},
	{"hsmsocket", "HsmSocket"},
	{"pidfile", "PidFile"},
	{"listenip", "ListenIP"},
	{"listenport", "ListenPort"},
};

static struct ped_opt opts[] = {
	{.name = "mode", .aliases = "m", .kind = PED_OPT_ENUM, .choices = modes, .arg = "MODE", .help = "what to do"},
	{.name = "id", .kind = PED_OPT_INT, .min = 0, .max = 65535, .arg = "PED_ID", .help = "PED id"},
	{.name = "id_ip", .kind = PED_OPT_STRING, .arg = "HOST", .help = "pedserver host of a PED id"},
	{.name = "id_port", .kind = PED_OPT_INT, .min = 1, .max = 65535, .arg = "PORT", .help = "pedserver port of a PED id"},
	{.name = "id_serialnumber", .kind = PED_OPT_STRING, .arg = "SERIAL", .help = "HSM serial number a PED id is assigned to"},
	{.name = "admin", .kind = PED_OPT_INT, .min = 0, .max = 65535, .arg = "PORT", .help = "admin port"},
	{.name = "eadmin", .kind = PED_OPT_BOOL01, .arg = "0|1", .help = "admin port beyond localhost"},
	{.name = "idletimeout", .kind = PED_OPT_INT, .min = 1, .max = 86400, .arg = "SECONDS", .help = "idle connection timeout"},
	{.name = "ignoreidletimeout", .kind = PED_OPT_FLAG, .help = "never end a connection for being idle"},
	{.name = "socketreadtimeout", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "socket read timeout"},
	{.name = "socketwritetimeout", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "socket write timeout"},
	{.name = "shutdowntimeout", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "shutdown timeout of internal services"},
	{.name = "pstartuptimeout", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "startup timeout of the background process"},
	{.name = "pshutdowntimeout", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "shutdown timeout of the background process"},
	{.name = "logfilename", .aliases = "logfile", .kind = PED_OPT_STRING, .arg = "FILE", .help = "log file"},
	{.name = "loginfo", .kind = PED_OPT_BOOL01, .arg = "0|1", .help = "log info messages"},
	{.name = "logwarning", .kind = PED_OPT_BOOL01, .arg = "0|1", .help = "log warnings"},
	{.name = "logerror", .kind = PED_OPT_BOOL01, .arg = "0|1", .help = "log errors"},
	{.name = "logtrace", .kind = PED_OPT_BOOL01, .arg = "0|1", .help = "log traces"},
	{.name = "maxlogfilesize", .kind = PED_OPT_INT, .min = 1, .max = 1048576, .arg = "KB", .help = "log size before rotation"},
	{.name = "locallogger", .kind = PED_OPT_FLAG, .help = "use the Remote PED logger (the only one here)"},
	{.name = "winservice", .kind = PED_OPT_FLAG, .help = "Windows only; refused here"},
	{.name = "pinginterval", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "time between pings"},
	{.name = "pingtimeout", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "ping answer timeout"},
	{.name = "configfile", .aliases = "c", .kind = PED_OPT_STRING, .arg = "FILE", .help = "configuration file (conf/pedclient.conf)"},
	{.name = "show", .kind = PED_OPT_FLAG, .help = "with -mode config: print the configuration"},
	{.name = "set", .kind = PED_OPT_FLAG, .help = "with -mode config: store the other options given"},
	{.name = "foreground", .kind = PED_OPT_FLAG, .help = "with -mode start: serve in this process (service managers)"},
	{.name = "hsmsocket", .kind = PED_OPT_STRING, .arg = "PATH", .help = "where HSMs ask for Remote PED"},
	{.name = "pidfile", .kind = PED_OPT_STRING, .arg = "FILE", .help = "PID file"},
	{.name = "listenip", .kind = PED_OPT_STRING, .arg = "ADDRESS", .help = "PED-initiated mode: listening address"},
	{.name = "listenport", .kind = PED_OPT_INT, .min = -1, .max = 65535, .arg = "PORT", .help = "PED-initiated mode: TLS port (-1: off)"},
	{.name = "version", .kind = PED_OPT_FLAG, .help = "print the version"},
	{.name = NULL},
};

static struct ped_config cfg;
static char cfg_err[1024];

static void fail_line(const char *what, int r)
{
	printf("%s : 0x%08x %s\n", what, ped_err_code(r), ped_err_name(r));
}

static int load_config(int may_create)
{
	char path[1024];
	const char *given = ped_opts_str(opts, "configfile", NULL);
	if (given)
		snprintf(path, sizeof(path), "%s", given);
	else if (ped_data_path("pedclient.conf", path, sizeof(path)) != PED_OK)
		path[0] = '\0';
	int r = ped_config_load(&cfg, path, schema, cfg_err, sizeof(cfg_err));
	if (r == PED_E_NOT_FOUND && (!given || may_create))
		return PED_OK;
	if (r != PED_OK)
		fail_line(cfg_err, r == PED_E_NOT_FOUND ? PED_E_FILE : r);
	return r;
}

static int apply_options(void)
{
	for (size_t i = 0; i < sizeof(option_settings) / sizeof(option_settings[0]); i++) {
		struct ped_opt *o = ped_opts_get(opts, option_settings[i].opt);
		if (!o || !o->seen)
			continue;
		if (ped_config_set(&cfg, option_settings[i].setting, o->value, cfg_err, sizeof(cfg_err)) != PED_OK) {
			printf("%s\n", cfg_err);
			return PED_E_CONFIG;
		}
	}
	if (ped_opts_seen(opts, "ignoreidletimeout") &&
	    ped_config_set(&cfg, "IgnoreIdleTimeout", "1", cfg_err, sizeof(cfg_err)) != PED_OK)
		return PED_E_CONFIG;
	return PED_OK;
}

/* A setting's path, else the file in the runtime or data directory, which
 * must be private. There is no fallback: a fixed /tmp name belonged to
 * whoever made it first, who thereby became our TLS identity and chose
 * the pedservers we trust. */
static int runtime_default(const char *setting, const char *file, char *out, size_t len)
{
	const char *v = setting ? ped_config_str(&cfg, setting) : NULL;
	if (v && *v) {
		snprintf(out, len, "%s", v);
		return PED_OK;
	}
	if (ped_runtime_path(file, out, len) == PED_OK)
		return PED_OK;
	printf("No private runtime directory for %s (set XDG_RUNTIME_DIR, or %s) : 0x%08x %s\n", file,
	       setting ? setting : "its setting", ped_err_code(PED_E_FILE), ped_err_name(PED_E_FILE));
	return PED_E_FILE;
}

/* rel is a file (.pem) or a directory under the data directory; the one
 * that holds it, or that it is, is made and checked: the private key's
 * lets no one else in, the registered certificates' no one else write. */
static int data_default(const char *setting, const char *rel, mode_t forbid, char *out, size_t len)
{
	const char *v = ped_config_str(&cfg, setting);
	char dir[1024], why[1600];
	if (v && *v) {
		snprintf(out, len, "%s", v);
		return PED_OK;
	}
	if (ped_data_path(rel, out, len) != PED_OK) {
		printf("No private data directory for %s (set XDG_DATA_HOME, or %s) : 0x%08x %s\n", rel, setting,
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
		printf("%s (or set %s) : 0x%08x %s\n", why, setting, ped_err_code(PED_E_FILE), ped_err_name(PED_E_FILE));
		return PED_E_FILE;
	}
	return PED_OK;
}

static int log_path(char *out, size_t len)
{
	const char *v = ped_config_str(&cfg, "LogFileName");
	if (v && *v) {
		snprintf(out, len, "%s", v);
		return PED_OK;
	}
	if (ped_data_path("pedclient.log", out, len) == PED_OK)
		return PED_OK;
	printf("No private data directory for pedclient.log (set XDG_DATA_HOME, or LogFileName) : 0x%08x %s\n",
	       ped_err_code(PED_E_FILE), ped_err_name(PED_E_FILE));
	return PED_E_FILE;
}

static int save(void)
{
	int r = ped_config_save(&cfg, cfg_err, sizeof(cfg_err));
	if (r != PED_OK)
		fail_line(cfg_err, r);
	return r;
}

static int mode_start(void)
{
	static struct client_settings s;
	static char logfile[1024];
	char msg[512], why[1200];
	pid_t child;
	int r, fd;

	if (ped_opts_seen(opts, "winservice")) {
		printf("-winservice: Windows services do not exist on this platform; use -mode start, or -mode start -foreground under a service manager.\n");
		return 2;
	}
	memset(&s, 0, sizeof(s));
	s.admin_port = (int)ped_config_int(&cfg, "AdminPort");
	s.eadmin = (int)ped_config_int(&cfg, "ExternalAdmin");
	s.idle_timeout_s = (int)ped_config_int(&cfg, "IdleTimeout");
	s.ignore_idle = (int)ped_config_int(&cfg, "IgnoreIdleTimeout");
	s.read_timeout_s = (int)ped_config_int(&cfg, "SocketReadTimeout");
	s.write_timeout_s = (int)ped_config_int(&cfg, "SocketWriteTimeout");
	s.shutdown_timeout_s = (int)ped_config_int(&cfg, "ShutdownTimeout");
	s.ping_interval_s = (int)ped_config_int(&cfg, "PingInterval");
	s.ping_timeout_s = (int)ped_config_int(&cfg, "PingTimeout");
	snprintf(s.config_path, sizeof(s.config_path), "%s", cfg.path);
	snprintf(s.listen_ip, sizeof(s.listen_ip), "%s", ped_config_str(&cfg, "ListenIP"));
	s.listen_port = (int)ped_config_int(&cfg, "ListenPort");
	s.foreground = ped_opts_seen(opts, "foreground");
	if (runtime_default("HsmSocket", "pedclient.sock", s.hsm_socket, sizeof(s.hsm_socket)) != PED_OK ||
	    runtime_default("PidFile", "pedclient.pid", s.pidfile, sizeof(s.pidfile)) != PED_OK ||
	    (s.listen_port >= 0 && /* PED-initiated mode's identity and trust */
	     (data_default("Certificate", "cert/pedclient/pedclient.pem", PED_DIR_SECRET, s.cert, sizeof(s.cert)) != PED_OK ||
	      data_default("PrivateKey", "cert/pedclient/pedclientKey.pem", PED_DIR_SECRET, s.key, sizeof(s.key)) != PED_OK ||
	      data_default("RegisteredPedServers", "cert/pedservers", PED_DIR_NOWRITE, s.trusted, sizeof(s.trusted)) !=
		      PED_OK)) ||
	    (!s.foreground && log_path(logfile, sizeof(logfile)) != PED_OK)) {
		fail_line("Startup failed.", PED_E_FILE);
		return 1;
	}
	if (!s.foreground) {
		/* created as the logger would: 0600, not through a link */
		if (ped_file_open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0600, &fd, why, sizeof(why)) != PED_OK) {
			printf("Cannot write the log file %s\n", why);
			fail_line("Startup failed.", PED_E_FILE);
			return 1;
		}
		close(fd);
	}
	fflush(stdout);
	r = ped_daemon_start(s.foreground, (int)ped_config_int(&cfg, "PStartupTimeout") * 1000, &child, msg,
			     sizeof(msg));
	if (r != PED_DAEMON_CHILD) {
		if (r != PED_OK) {
			printf("%s\n", msg);
			fail_line("Startup failed.", r);
			return 1;
		}
		printf("PED Client started (pid %ld), HSM socket %s\n", (long)child, s.hsm_socket);
		return 0;
	}
	unsigned mask = 0;
	mask |= ped_config_int(&cfg, "LogInfo") ? PED_LOG_INFO : 0;
	mask |= ped_config_int(&cfg, "LogWarning") ? PED_LOG_WARNING : 0;
	mask |= ped_config_int(&cfg, "LogError") ? PED_LOG_ERROR : 0;
	mask |= ped_config_int(&cfg, "LogTrace") ? PED_LOG_TRACE : 0;
	struct ped_log_config lc = {"pedclient", mask, s.foreground ? NULL : logfile,
				    (size_t)ped_config_int(&cfg, "MaxLogFileSize") * 1024u};
	ped_log_open(&lc);
	r = client_run(&s);
	ped_config_free(&cfg);
	ped_log_close();
	return r;
}

static int mode_stop(void)
{
	char pidfile[1024];
	int killed = 0, r;
	if (runtime_default("PidFile", "pedclient.pid", pidfile, sizeof(pidfile)) != PED_OK) {
		fail_line("Shutdown failed.", PED_E_FILE);
		return 1;
	}
	r = ped_daemon_stop(pidfile, (int)ped_config_int(&cfg, "PShutdownTimeout") * 1000, &killed);
	if (r == PED_E_NOT_FOUND) {
		printf("PED Client is not running.\n");
		return 0;
	}
	if (r != PED_OK) {
		fail_line("Shutdown failed.", r);
		return 1;
	}
	printf(killed ? "PED Client did not stop in time and was killed.\n" : "PED Client stopped.\n");
	return 0;
}

static int mode_show(void)
{
	char out[PED_ADMIN_REPLY_MAX];
	uint16_t port = 0;
	int r = PED_OK;
	if (ped_opts_seen(opts, "admin"))
		port = (uint16_t)ped_opts_num(opts, "admin", 1501);
	else if (ped_admin_port_lookup("pedclient", &port) != PED_OK)
		port = (uint16_t)ped_config_int(&cfg, "AdminPort");
	r = port ? ped_admin_query("127.0.0.1", port, "show", out, sizeof(out),
				   (int)ped_config_int(&cfg, "SocketReadTimeout") * 1000)
		 : PED_E_SOCKET;
	if (r != PED_OK) {
		if (r == PED_E_CLOSED)
			r = PED_E_SOCKET;
		fail_line("PED Client is not running", r);
		return 1;
	}
	fputs(out, stdout);
	printf("\nPED ID Mappings:\n");
	struct ped_mapping m[MAX_MAPPINGS];
	int n = mappings_load(&cfg, m, MAX_MAPPINGS);
	for (int i = 0; i < n; i++)
		printf("  PED id %d: %s:%d%s%s\n", m[i].id, m[i].ip, m[i].port, m[i].serial[0] ? ", HSM " : "",
		       m[i].serial);
	if (n == 0)
		printf("  (none)\n");
	return 0;
}

static int mode_config(void)
{
	if (!ped_opts_seen(opts, "show") && !ped_opts_seen(opts, "set")) {
		printf("Use -show to print the configuration or -set with the settings to change.\n");
		return 2;
	}
	if (ped_opts_seen(opts, "set")) {
		if (save() != PED_OK)
			return 1;
		printf("Configuration file %s updated.\n", cfg.path);
	}
	if (ped_opts_seen(opts, "show")) {
		printf("Configuration file: %s\n", cfg.path);
		ped_config_show(&cfg, stdout);
	}
	return 0;
}

static config_setting_t *peds(int create)
{
	config_setting_t *root = config_root_setting(&cfg.tree);
	config_setting_t *l = config_setting_get_member(root, "peds");
	if (!l && create)
		l = config_setting_add(root, "peds", CONFIG_TYPE_LIST);
	return l;
}

static int find_id(config_setting_t *l, int id)
{
	for (int i = 0; l && i < config_setting_length(l); i++) {
		int v;
		if (config_setting_lookup_int(config_setting_get_elem(l, (unsigned)i), "id", &v) && v == id)
			return i;
	}
	return -1;
}

static int need_id(const char *mode)
{
	if (!ped_opts_seen(opts, "id")) {
		printf("-mode %s needs -id <PED_ID>.\n", mode);
		return 0;
	}
	return 1;
}

static void set_string(config_setting_t *g, const char *name, const char *v)
{
	config_setting_t *s = config_setting_get_member(g, name);
	if (!s)
		s = config_setting_add(g, name, CONFIG_TYPE_STRING);
	config_setting_set_string(s, v);
}

static void set_int(config_setting_t *g, const char *name, int v)
{
	config_setting_t *s = config_setting_get_member(g, name);
	if (!s)
		s = config_setting_add(g, name, CONFIG_TYPE_INT);
	config_setting_set_int(s, v);
}

static int mode_ids(int mode)
{
	static const char *const names[] = {"assignid", "", "deleteid", "releaseid", "setid"};
	if (!need_id(names[mode]))
		return 2;
	int id = (int)ped_opts_num(opts, "id", 0);
	config_setting_t *l = peds(mode == M_SETID);
	int i = find_id(l, id);
	if (mode == M_SETID) {
		const char *ip = ped_opts_str(opts, "id_ip", NULL);
		if (!ip || !ped_opts_seen(opts, "id_port")) {
			printf("-mode setid needs -id_ip <hostname> and -id_port <port>.\n");
			return 2;
		}
		config_setting_t *g = i >= 0 ? config_setting_get_elem(l, (unsigned)i)
					     : config_setting_add(l, NULL, CONFIG_TYPE_GROUP);
		set_int(g, "id", id);
		set_string(g, "ip", ip);
		set_int(g, "port", (int)ped_opts_num(opts, "id_port", 1503));
		if (save() != PED_OK)
			return 1;
		printf("PED id %d maps to %s:%ld.\n", id, ip, ped_opts_num(opts, "id_port", 1503));
		return 0;
	}
	if (i < 0) {
		printf("PED id %d is not defined : 0x%08x %s\n", id, ped_err_code(PED_E_NOT_FOUND),
		       ped_err_name(PED_E_NOT_FOUND));
		return 1;
	}
	config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
	if (mode == M_DELETEID) {
		config_setting_remove_elem(l, (unsigned)i);
		if (save() != PED_OK)
			return 1;
		printf("PED id %d deleted.\n", id);
		return 0;
	}
	if (mode == M_RELEASEID) {
		set_string(g, "serial", "");
		if (save() != PED_OK)
			return 1;
		printf("PED id %d released.\n", id);
		return 0;
	}
	const char *serial = ped_opts_str(opts, "id_serialnumber", NULL);
	if (!serial || !*serial || strlen(serial) > 32) {
		printf("-mode assignid needs -id_serialnumber <serial>.\n");
		return 2;
	}
	/* One PED id per HSM: assigning moves it. */
	for (int k = 0; k < config_setting_length(l); k++) {
		const char *s = NULL;
		config_setting_t *o = config_setting_get_elem(l, (unsigned)k);
		if (k != i && config_setting_lookup_string(o, "serial", &s) && !strcmp(s, serial))
			set_string(o, "serial", "");
	}
	set_string(g, "serial", serial);
	if (save() != PED_OK)
		return 1;
	printf("PED id %d assigned to HSM %s.\n", id, serial);
	return 0;
}

static int mode_testid(void)
{
	if (!need_id("testid"))
		return 2;
	int id = (int)ped_opts_num(opts, "id", 0);
	struct ped_mapping m[MAX_MAPPINGS];
	int n = mappings_load(&cfg, m, MAX_MAPPINGS), k = -1;
	for (int i = 0; i < n; i++)
		if (m[i].id == id)
			k = i;
	if (k < 0) {
		printf("PED id %d is not defined : 0x%08x %s\n", id, ped_err_code(PED_E_NOT_FOUND),
		       ped_err_name(PED_E_NOT_FOUND));
		return 1;
	}
	int tmo = (int)ped_config_int(&cfg, "SocketReadTimeout") * 1000, fd, r;
	printf("Testing PED id %d: pedserver %s:%d\n", id, m[k].ip, m[k].port);
	if ((r = ped_tcp_connect(m[k].ip, (uint16_t)m[k].port, tmo, &fd)) != PED_OK) {
		fail_line("Cannot connect to pedserver", r);
		return 1;
	}
	struct ped_relay_msg h, st;
	struct ped_framer f;
	uint8_t type, *p = NULL;
	size_t len = 0;
	memset(&h, 0, sizeof(h));
	h.role = PED_RELAY_ROLE_CLIENT;
	h.purpose = PED_RELAY_QUERY;
	snprintf(h.version, sizeof(h.version), "%s", PEDCLIENT_SOFTWARE_VERSION);
	ped_framer_init(&f, fd, PED_FRAME_MAX_PAYLOAD);
	if ((r = ped_relay_send(fd, PED_RELAY_HELLO, &h, tmo)) == PED_OK &&
	    (r = ped_framer_recv(&f, &type, &p, &len, tmo)) == PED_OK)
		r = type == PED_RELAY_STATUS && ped_relay_decode(p, len, &st) == PED_OK ? PED_OK : PED_E_INVALID;
	if (p)
		OPENSSL_free(p);
	ped_framer_free(&f);
	close(fd);
	if (r != PED_OK) {
		fail_line("pedserver did not answer the test", r == PED_E_CLOSED ? PED_E_SOCKET : r);
		return 1;
	}
	printf("pedserver answers: %s\n", st.info);
	if (!(st.flags & PED_RELAY_F_PED_ATTACHED)) {
		printf("No PED is attached to it.\n");
		return 1;
	}
	printf("PED %s (firmware %s) is attached%s.\n", st.id, st.version,
	       st.flags & PED_RELAY_F_BUSY ? " and serving another HSM" : "");
	return 0;
}

int main(int argc, char **argv)
{
	char err[1024];
	int r, rc;

	ped_stdio_ensure();
	if (argc >= 2 && !strcasecmp(argv[1], "mode")) {
		static char dashed[] = "-mode";
		argv[1] = dashed;
	}
	r = ped_opts_parse(opts, argc, argv, 1, NULL, 0, NULL, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, USAGE, opts);
		return 0;
	}
	if (r != PED_OK) {
		printf("%s\n%s\n", err, USAGE);
		return 2;
	}
	if (ped_opts_seen(opts, "version")) {
		printf("PED Client Version %s\n", PEDCLIENT_SOFTWARE_VERSION);
		return 0;
	}
	if (!ped_opts_seen(opts, "mode")) {
		printf("%s\n", USAGE);
		return 2;
	}
	int mode = (int)ped_opts_num(opts, "mode", 0);
	int creates = mode == M_SETID || (mode == M_CONFIG && ped_opts_seen(opts, "set"));
	if (load_config(creates) != PED_OK)
		return 1;
	if (apply_options() != PED_OK)
		return 2;
	switch (mode) {
	case M_START: rc = mode_start(); break;
	case M_STOP: rc = mode_stop(); break;
	case M_SHOW: rc = mode_show(); break;
	case M_CONFIG: rc = mode_config(); break;
	case M_TESTID: rc = mode_testid(); break;
	default: rc = mode_ids(mode); break;
	}
	ped_config_free(&cfg);
	return rc;
}
