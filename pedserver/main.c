/* pedserver: the documented command line. Each -mode runs here; -mode start
 * forks the background process (server.c) and returns once it serves. */
#include "appliance.h"
#include "server.h"

#include "ped/admin.h"
#include "ped/config.h"
#include "ped/daemon.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/log.h"
#include "ped/opts.h"
#include "ped/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define USAGE                                                                                       \
	"pedserver -mode start|stop|show|config|connect|disconnect [options]\n"                     \
	"       pedserver -appliance register|list|delete [options]\n"                              \
	"       pedserver -regen -commonname CN [-force]"

static const char *const modes[] = {"start", "stop", "show", "config", "connect", "disconnect", NULL};
static const char *const appliance_ops[] = {"register", "list", "delete", NULL};
enum { M_START, M_STOP, M_SHOW, M_CONFIG, M_CONNECT, M_DISCONNECT };

/* Settings in the configuration file, and the option that overrides each. */
static struct ped_cfg_setting schema[] = {
	{.name = "ServerIP", .type = PED_CFG_STRING, .sdflt = "", .help = "server port interface (empty: all, or localhost with ExternalServer 0)"},
	{.name = "ServerPort", .type = PED_CFG_INT, .min = 0, .max = 65535, .dflt = 1503, .help = "server port (0: any free port)"},
	{.name = "AdminPort", .type = PED_CFG_INT, .min = 0, .max = 65535, .dflt = 1502, .help = "admin port (0: any free port)"},
	{.name = "ExternalServer", .type = PED_CFG_BOOL, .dflt = 1, .help = "server port on every interface, not only localhost"},
	{.name = "ExternalAdmin", .type = PED_CFG_BOOL, .dflt = 0, .help = "admin port beyond localhost"},
	{.name = "IdleTimeout", .type = PED_CFG_INT, .min = 1, .max = 86400, .dflt = 1800, .help = "seconds before an idle client connection ends"},
	{.name = "SocketReadTimeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10, .help = "seconds"},
	{.name = "SocketWriteTimeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10, .help = "seconds"},
	{.name = "InternalShutdownTimeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10, .help = "seconds"},
	{.name = "BgProcessStartupTimeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10, .help = "seconds"},
	{.name = "BgProcessShutdownTimeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 20, .help = "seconds"},
	{.name = "LogFileName", .type = PED_CFG_STRING, .sdflt = "", .help = "log file (empty: pedserver.log in the user's data directory)"},
	{.name = "LogInfo", .type = PED_CFG_BOOL, .dflt = 1, .help = "log info messages"},
	{.name = "LogWarning", .type = PED_CFG_BOOL, .dflt = 1, .help = "log warnings"},
	{.name = "LogError", .type = PED_CFG_BOOL, .dflt = 1, .help = "log errors"},
	{.name = "LogTrace", .type = PED_CFG_BOOL, .dflt = 0, .help = "log traces"},
	{.name = "MaxLogFileSize", .type = PED_CFG_INT, .min = 1, .max = 1048576, .dflt = 4096, .help = "KB before the log rotates"},
	{.name = "PedWriteDelay", .type = PED_CFG_INT, .min = 0, .max = 10000, .dflt = 0, .help = "microseconds between writes to the PED"},
	{.name = "PingInterval", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10, .help = "seconds between pings"},
	{.name = "PingTimeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 20, .help = "seconds to wait for a ping's answer"},
	{.name = "UsbPed", .type = PED_CFG_BOOL, .dflt = 1, .help = "look for a PED on USB"},
	{.name = "UsbVendorId", .type = PED_CFG_INT, .min = 0, .max = 0xffff, .dflt = 0x1209, .help = "the USB PED's vendor id"},
	{.name = "UsbProductId", .type = PED_CFG_INT, .min = 0, .max = 0xffff, .dflt = 0x0001, .help = "the USB PED's product id"},
	{.name = "UsbScanInterval", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 2, .help = "seconds between USB enumerations where hotplug is missing, and between retries"},
	{.name = "PedSocket", .type = PED_CFG_STRING, .sdflt = "", .help = "where the PED attaches (empty: pedserver-ped.sock in the runtime directory)"},
	{.name = "PidFile", .type = PED_CFG_STRING, .sdflt = "", .help = "PID file (empty: pedserver.pid in the runtime directory)"},
	{.name = "ClientCertificate", .type = PED_CFG_STRING, .sdflt = "", .help = "PED-initiated mode: our certificate (set by -regen)"},
	{.name = "ClientKey", .type = PED_CFG_STRING, .sdflt = "", .help = "PED-initiated mode: our private key (set by -regen)"},
	{.name = NULL},
};

static const struct {
	const char *opt, *setting;
} option_settings[] = {
	{"ip", "ServerIP"},
	{"port", "ServerPort"},
	{"admin", "AdminPort"},
	{"eserverport", "ExternalServer"},
	{"eadmin", "ExternalAdmin"},
	{"idletimeout", "IdleTimeout"},
	{"socketreadtimeout", "SocketReadTimeout"},
	{"socketwritetimeout", "SocketWriteTimeout"},
	{"internalshutdowntimeout", "InternalShutdownTimeout"},
	{"bgprocessstartuptimeout", "BgProcessStartupTimeout"},
	{"bgprocessshutdowntimeout", "BgProcessShutdownTimeout"},
	{"logfile", "LogFileName"},
	{"loginfo", "LogInfo"},
	{"logwarning", "LogWarning"},
	{"logerror", "LogError"},
	{"logtrace", "LogTrace"},
	{"maxlogfilesize", "MaxLogFileSize"},
	{"pedwritelay", "PedWriteDelay"},
	{"pinginterval", "PingInterval"},
	{"pingtimeout", "PingTimeout"},
	{"usb", "UsbPed"},
	{"usbvid", "UsbVendorId"},
	{"usbpid", "UsbProductId"},
	{"usbscaninterval", "UsbScanInterval"},
	{"pedsocket", "PedSocket"},
	{"pidfile", "PidFile"},
};

static struct ped_opt opts[] = {
	{.name = "mode", .aliases = "m", .kind = PED_OPT_ENUM, .choices = modes, .arg = "MODE", .help = "start, stop, show, config, connect or disconnect"},
	{.name = "appliance", .aliases = "a", .kind = PED_OPT_ENUM, .choices = appliance_ops, .arg = "OP", .help = "register, list or delete an appliance (PED-initiated mode)"},
	{.name = "regen", .kind = PED_OPT_FLAG, .help = "regenerate the client key and certificate"},
	{.name = "name", .aliases = "n", .kind = PED_OPT_STRING, .arg = "NAME", .help = "registered appliance name"},
	{.name = "certificate", .aliases = "cert", .kind = PED_OPT_STRING, .arg = "FILE", .help = "appliance certificate file (PEM)"},
	{.name = "commonname", .aliases = "cn", .kind = PED_OPT_STRING, .arg = "CN", .help = "client certificate common name"},
	{.name = "ip", .kind = PED_OPT_STRING, .arg = "ADDRESS", .help = "server listening address, or the appliance's address"},
	{.name = "port", .aliases = "p", .kind = PED_OPT_INT, .min = 0, .max = 65535, .arg = "PORT", .help = "server port (appliance port with -appliance register)"},
	{.name = "admin", .kind = PED_OPT_INT, .min = 0, .max = 65535, .arg = "PORT", .help = "admin port"},
	{.name = "eserverport", .kind = PED_OPT_BOOL01, .arg = "0|1", .help = "server port beyond localhost"},
	{.name = "eadmin", .kind = PED_OPT_BOOL01, .arg = "0|1", .help = "admin port beyond localhost"},
	{.name = "idletimeout", .kind = PED_OPT_INT, .min = 1, .max = 86400, .arg = "SECONDS", .help = "idle connection timeout"},
	{.name = "socketreadtimeout", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "socket read timeout"},
	{.name = "socketwritetimeout", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "socket write timeout"},
	{.name = "internalshutdowntimeout", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "shutdown timeout of internal services"},
	{.name = "bgprocessstartuptimeout", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "startup timeout of the background process"},
	{.name = "bgprocessshutdowntimeout", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "shutdown timeout of the background process"},
	{.name = "logfile", .aliases = "logfilename", .kind = PED_OPT_STRING, .arg = "FILE", .help = "log file"},
	{.name = "loginfo", .kind = PED_OPT_BOOL01, .arg = "0|1", .help = "log info messages"},
	{.name = "logwarning", .kind = PED_OPT_BOOL01, .arg = "0|1", .help = "log warnings"},
	{.name = "logerror", .kind = PED_OPT_BOOL01, .arg = "0|1", .help = "log errors"},
	{.name = "logtrace", .kind = PED_OPT_BOOL01, .arg = "0|1", .help = "log traces"},
	{.name = "maxlogfilesize", .kind = PED_OPT_INT, .min = 1, .max = 1048576, .arg = "KB", .help = "log size before rotation"},
	{.name = "pedwritelay", .kind = PED_OPT_INT, .min = 0, .max = 10000, .arg = "MICROSECONDS", .help = "delay between writes to the PED"},
	{.name = "pinginterval", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "time between pings"},
	{.name = "pingtimeout", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "ping answer timeout"},
	{.name = "configfile", .aliases = "c", .kind = PED_OPT_STRING, .arg = "FILE", .help = "configuration file (conf/pedserver.conf)"},
	{.name = "show", .kind = PED_OPT_FLAG, .help = "with -mode config: print the configuration"},
	{.name = "set", .kind = PED_OPT_FLAG, .help = "with -mode config: store the other options given"},
	{.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "suppress prompts"},
	{.name = "foreground", .kind = PED_OPT_FLAG, .help = "with -mode start: serve in this process (service managers)"},
	{.name = "pedsocket", .kind = PED_OPT_STRING, .arg = "PATH", .help = "where the PED attaches"},
	{.name = "usb", .kind = PED_OPT_BOOL01, .arg = "0|1", .help = "look for a PED on USB"},
	{.name = "usbvid", .kind = PED_OPT_INT, .min = 0, .max = 0xffff, .arg = "ID", .help = "the USB PED's vendor id (0x1209)"},
	{.name = "usbpid", .kind = PED_OPT_INT, .min = 0, .max = 0xffff, .arg = "ID", .help = "the USB PED's product id (0x0001)"},
	{.name = "usbscaninterval", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "SECONDS", .help = "USB enumeration interval without hotplug"},
	{.name = "pidfile", .kind = PED_OPT_STRING, .arg = "FILE", .help = "PID file"},
	{.name = "version", .kind = PED_OPT_FLAG, .help = "print the version"},
	{.name = NULL},
};

static struct ped_config cfg;
static char cfg_err[1024];

static int load_config(void)
{
	char path[1024];
	const char *given = ped_opts_str(opts, "configfile", NULL);
	if (given)
		snprintf(path, sizeof(path), "%s", given);
	else if (ped_data_path("pedserver.conf", path, sizeof(path)) != PED_OK)
		path[0] = '\0';
	int r = ped_config_load(&cfg, path, schema, cfg_err, sizeof(cfg_err));
	/* Defaults until -mode config -set or -appliance register creates it. */
	if (r == PED_E_NOT_FOUND && (!given || ped_opts_seen(opts, "set") || ped_opts_seen(opts, "appliance")))
		return PED_OK;
	if (r == PED_E_NOT_FOUND)
		r = PED_E_FILE;
	if (r != PED_OK)
		printf("%s : 0x%08x %s\n", cfg_err, ped_err_code(r), ped_err_name(r));
	return r;
}

/* Options given on the command line override the file for this run. */
static int apply_options(void)
{
	for (size_t i = 0; i < sizeof(option_settings) / sizeof(option_settings[0]); i++) {
		struct ped_opt *o = ped_opts_get(opts, option_settings[i].opt);
		if (!o || !o->seen)
			continue;
		if (ped_config_set(&cfg, option_settings[i].setting, o->value, cfg_err, sizeof(cfg_err)) != PED_OK) {
			fprintf(stderr, "%s\n", cfg_err);
			return PED_E_CONFIG;
		}
	}
	return PED_OK;
}

/* A setting's path, else the file in the runtime directory. There is no
 * fallback: a fixed /tmp name would belong to whoever made it first. */
static int runtime_default(const char *setting, const char *file, char *out, size_t len)
{
	const char *v = ped_config_str(&cfg, setting);
	if (v && *v) {
		snprintf(out, len, "%s", v);
		return PED_OK;
	}
	if (ped_runtime_path(file, out, len) == PED_OK)
		return PED_OK;
	printf("No private runtime directory for %s (set XDG_RUNTIME_DIR, or %s) : 0x%08x %s\n", file, setting,
	       ped_err_code(PED_E_FILE), ped_err_name(PED_E_FILE));
	return PED_E_FILE;
}

/* The documented non-root pitfall: never log into the current directory. */
static int log_path(char *out, size_t len)
{
	const char *v = ped_config_str(&cfg, "LogFileName");
	if (v && *v) {
		snprintf(out, len, "%s", v);
		return PED_OK;
	}
	if (ped_data_path("pedserver.log", out, len) == PED_OK)
		return PED_OK;
	printf("No private data directory for pedserver.log (set XDG_DATA_HOME, or LogFileName) : 0x%08x %s\n",
	       ped_err_code(PED_E_FILE), ped_err_name(PED_E_FILE));
	return PED_E_FILE;
}

static void open_log(int to_stderr, const char *path)
{
	unsigned mask = 0;
	mask |= ped_config_int(&cfg, "LogInfo") ? PED_LOG_INFO : 0;
	mask |= ped_config_int(&cfg, "LogWarning") ? PED_LOG_WARNING : 0;
	mask |= ped_config_int(&cfg, "LogError") ? PED_LOG_ERROR : 0;
	mask |= ped_config_int(&cfg, "LogTrace") ? PED_LOG_TRACE : 0;
	struct ped_log_config lc = {"pedserver", mask, to_stderr ? NULL : path,
				    (size_t)ped_config_int(&cfg, "MaxLogFileSize") * 1024u};
	ped_log_open(&lc);
}

static void fail_line(const char *what, int r)
{
	printf("%s : 0x%08x %s\n", what, ped_err_code(r), ped_err_name(r));
}

static int mode_start(void)
{
	struct server_settings s;
	static char logfile[1024];
	char msg[512], why[1200];
	pid_t child;
	int r, fd;

	memset(&s, 0, sizeof(s));
	snprintf(s.ip, sizeof(s.ip), "%s", ped_config_str(&cfg, "ServerIP"));
	s.port = (int)ped_config_int(&cfg, "ServerPort");
	s.admin_port = (int)ped_config_int(&cfg, "AdminPort");
	s.eserver = (int)ped_config_int(&cfg, "ExternalServer");
	s.eadmin = (int)ped_config_int(&cfg, "ExternalAdmin");
	s.idle_timeout_s = (int)ped_config_int(&cfg, "IdleTimeout");
	s.read_timeout_s = (int)ped_config_int(&cfg, "SocketReadTimeout");
	s.write_timeout_s = (int)ped_config_int(&cfg, "SocketWriteTimeout");
	s.shutdown_timeout_s = (int)ped_config_int(&cfg, "InternalShutdownTimeout");
	s.ping_interval_s = (int)ped_config_int(&cfg, "PingInterval");
	s.ping_timeout_s = (int)ped_config_int(&cfg, "PingTimeout");
	s.ped_write_delay_us = (int)ped_config_int(&cfg, "PedWriteDelay");
	s.usb.enabled = (int)ped_config_int(&cfg, "UsbPed");
	s.usb.vid = (uint16_t)ped_config_int(&cfg, "UsbVendorId");
	s.usb.pid = (uint16_t)ped_config_int(&cfg, "UsbProductId");
	s.usb.scan_interval_ms = (int)ped_config_int(&cfg, "UsbScanInterval") * 1000;
	s.usb.write_timeout_ms = s.write_timeout_s * 1000;
	s.usb.write_delay_us = s.ped_write_delay_us;
	s.foreground = ped_opts_seen(opts, "foreground");
	snprintf(s.config_path, sizeof(s.config_path), "%s", cfg.path);

	printf("Ped Server launched in startup mode.\n");
	if (runtime_default("PedSocket", "pedserver-ped.sock", s.ped_socket, sizeof(s.ped_socket)) != PED_OK ||
	    runtime_default("PidFile", "pedserver.pid", s.pidfile, sizeof(s.pidfile)) != PED_OK ||
	    (!s.foreground && log_path(logfile, sizeof(logfile)) != PED_OK)) {
		fail_line("Startup failed.", PED_E_FILE);
		return 1;
	}
	if (!s.foreground) {
		/* Say now if the log cannot be written, not after the fork; and
		 * create it as the logger would (0600, not through a link). */
		if (ped_file_open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0600, &fd, why, sizeof(why)) != PED_OK) {
			printf("Cannot write the log file %s\n", why);
			fail_line("Startup failed.", PED_E_FILE);
			return 1;
		}
		close(fd);
		printf("Starting background process\n");
	}
	fflush(stdout);
	r = ped_daemon_start(s.foreground, (int)ped_config_int(&cfg, "BgProcessStartupTimeout") * 1000, &child,
			     msg, sizeof(msg));
	if (r != PED_DAEMON_CHILD) {
		if (r != PED_OK) {
			printf("%s\n", msg);
			fail_line("Background process failed to start", r);
			fail_line("Startup failed.", r);
			return 1;
		}
		printf("Background process started\n");
		printf("Ped Server Process created, exiting this process.\n");
		return 0;
	}
	open_log(s.foreground, logfile);
	r = server_run(&s);
	ped_config_free(&cfg);
	ped_log_close();
	return r;
}

static int mode_stop(void)
{
	char pidfile[1024];
	int killed = 0, r;
	printf("Ped Server launched in shutdown mode.\n");
	if (runtime_default("PidFile", "pedserver.pid", pidfile, sizeof(pidfile)) != PED_OK) {
		fail_line("Shutdown failed.", PED_E_FILE);
		return 1;
	}
	r = ped_daemon_stop(pidfile, (int)ped_config_int(&cfg, "BgProcessShutdownTimeout") * 1000, &killed);
	if (r == PED_E_NOT_FOUND) {
		printf("Ped Server is not running.\n");
		return 0;
	}
	if (r != PED_OK) {
		fail_line("Shutdown failed.", r);
		return 1;
	}
	printf(killed ? "Ped Server did not stop in time and was killed.\n" : "Ped Server stopped.\n");
	printf("Shutdown passed.\n");
	return 0;
}

static int admin_port(uint16_t *port)
{
	if (ped_opts_seen(opts, "admin")) {
		*port = (uint16_t)ped_opts_num(opts, "admin", 1502);
		return PED_OK;
	}
	if (ped_admin_port_lookup("pedserver", port) == PED_OK)
		return PED_OK;
	*port = (uint16_t)ped_config_int(&cfg, "AdminPort");
	return *port ? PED_OK : PED_E_NOT_FOUND;
}

/* -name: a registered appliance (PED-initiated mode), or a message and 0. */
static int named_appliance(const char *cmd, char *ip, size_t iplen, int *port, char *cert, size_t certlen)
{
	const char *name = ped_opts_str(opts, "name", NULL);
	if (appliance_lookup(&cfg, name, ip, iplen, port, cert, certlen) == PED_OK)
		return 1;
	printf("No appliance named '%s' is registered : 0x%08x %s\n", name, ped_err_code(PED_E_NOT_FOUND),
	       ped_err_name(PED_E_NOT_FOUND));
	printf("%s command failed.\n", cmd);
	return 0;
}

static int mode_show(void)
{
	char out[PED_ADMIN_REPLY_MAX], ip[256] = "", cert[1024], line[160], link[256] = "";
	const char *name = ped_opts_str(opts, "name", NULL);
	uint16_t port;
	int r, app_port = 0, timeout_ms = (int)ped_config_int(&cfg, "SocketReadTimeout") * 1000;
	printf("Ped Server launched in status mode.\n");
	if (name && !named_appliance("Show", ip, sizeof(ip), &app_port, cert, sizeof(cert)))
		return 1;
	if ((r = admin_port(&port)) == PED_OK)
		r = ped_admin_query("127.0.0.1", port, "show", out, sizeof(out), timeout_ms);
	if (r == PED_OK && name) {
		snprintf(line, sizeof(line), "status %s", name);
		r = ped_admin_query("127.0.0.1", port, line, link, sizeof(link), timeout_ms);
		link[strcspn(link, "\n")] = '\0';
	}
	if (r != PED_OK) {
		if (r == PED_E_NOT_FOUND || r == PED_E_CLOSED)
			r = PED_E_SOCKET;
		printf("Failed to recv query response command: %s %08x\n", ped_err_name(r), ped_err_code(r));
		printf("Show command failed: Ped Server is not running.\n");
		return 1;
	}
	fputs(out, stdout);
	if (name)
		printf("\nAppliance Information:\n  Name:                     %s\n  Address:                  %s:%d\n"
		       "  Link Status:              %s\n",
		       name, ip, app_port, link);
	printf("\nShow command passed.\n");
	return 0;
}

static int mode_config(void)
{
	int r;
	if (!ped_opts_seen(opts, "show") && !ped_opts_seen(opts, "set")) {
		printf("Use -show to print the configuration or -set with the settings to change.\n");
		return 2;
	}
	if (ped_opts_seen(opts, "set")) {
		if (!cfg.path[0]) {
			printf("No configuration file: give -configfile FILE\n");
			return 1;
		}
		if ((r = ped_config_save(&cfg, cfg_err, sizeof(cfg_err))) != PED_OK) {
			printf("%s : 0x%08x %s\n", cfg_err, ped_err_code(r), ped_err_name(r));
			return 1;
		}
		printf("Configuration file %s updated.\n", cfg.path);
	}
	if (ped_opts_seen(opts, "show")) {
		char ip[256], cert[1024];
		int app_port;
		if (ped_opts_seen(opts, "name") &&
		    !named_appliance("Config", ip, sizeof(ip), &app_port, cert, sizeof(cert)))
			return 1;
		printf("Configuration file: %s\n", cfg.path[0] ? cfg.path : "(none: defaults)");
		ped_config_show(&cfg, stdout);
		if (ped_opts_seen(opts, "name"))
			printf("Appliance %s: %s:%d, certificate %s\n", ped_opts_str(opts, "name", ""), ip, app_port,
			       cert);
	}
	printf("Config command passed.\n");
	return 0;
}

/* "pedserver mode start" (no dash) is printed in the reference too. */
static void normalize(int argc, char **argv)
{
	static char dashed[3][16];
	static const char *const words[] = {"mode", "appliance", "regen"};
	if (argc < 2 || argv[1][0] == '-')
		return;
	for (int i = 0; i < 3; i++)
		if (!strcasecmp(argv[1], words[i])) {
			snprintf(dashed[i], sizeof(dashed[i]), "-%s", words[i]);
			argv[1] = dashed[i];
		}
}

/* The reference's troubleshooting writes "-mode config -set LogFileName
 * FILE": after -set, "Setting value" pairs named as in the file are taken
 * as the options that set them. */
static void settings_as_options(int argc, char **argv)
{
	static char dashed[16][32];
	int n = 0, i = 1;
	while (i < argc && strcasecmp(argv[i], "-set") != 0)
		i++;
	for (i++; i + 1 < argc && n < 16 && argv[i][0] != '-'; i += 2) {
		size_t k, nk = sizeof(option_settings) / sizeof(option_settings[0]);
		for (k = 0; k < nk && strcasecmp(argv[i], option_settings[k].setting) != 0; k++)
			;
		if (k == nk)
			return; /* not a setting: the parser reports the stray word */
		snprintf(dashed[n], sizeof(dashed[n]), "-%s", option_settings[k].opt);
		argv[i] = dashed[n++];
	}
}

int main(int argc, char **argv)
{
	char err[1024];
	int r, rc;

	ped_stdio_ensure();
	normalize(argc, argv);
	settings_as_options(argc, argv);
	r = ped_opts_parse(opts, argc, argv, 1, NULL, 0, NULL, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, USAGE, opts);
		return 0;
	}
	printf("Ped Server Version %s\n", PEDSERVER_SOFTWARE_VERSION);
	if (r == PED_OK && ped_opts_seen(opts, "version"))
		return 0;
	if (r != PED_OK) {
		printf("%s\n%s\n", err, USAGE);
		return 2;
	}
	int nsel = ped_opts_seen(opts, "mode") + ped_opts_seen(opts, "appliance") + ped_opts_seen(opts, "regen");
	if (nsel != 1) {
		printf("Give exactly one of -mode, -appliance or -regen.\n%s\n", USAGE);
		return 2;
	}
	if (load_config() != PED_OK)
		return 1;
	if (apply_options() != PED_OK)
		return 2;
	if (ped_opts_seen(opts, "regen")) {
		rc = appliance_regen(&cfg, ped_opts_str(opts, "commonname", NULL), ped_opts_seen(opts, "force"));
	} else if (ped_opts_seen(opts, "appliance")) {
		rc = appliance_command((int)ped_opts_num(opts, "appliance", 0), &cfg, ped_opts_str(opts, "name", NULL),
				       ped_opts_str(opts, "certificate", NULL), ped_opts_str(opts, "ip", NULL),
				       ped_opts_seen(opts, "port") ? (int)ped_opts_num(opts, "port", 9697) : 9697);
	} else {
		switch (ped_opts_num(opts, "mode", 0)) {
		case M_START: rc = mode_start(); break;
		case M_STOP: rc = mode_stop(); break;
		case M_SHOW: rc = mode_show(); break;
		case M_CONFIG: rc = mode_config(); break;
		default:
			rc = appliance_connect(&cfg, ped_opts_num(opts, "mode", 0) == M_CONNECT,
					       ped_opts_str(opts, "name", NULL),
					       (int)ped_config_int(&cfg, "SocketReadTimeout") * 1000);
			break;
		}
	}
	ped_config_free(&cfg);
	return rc;
}
