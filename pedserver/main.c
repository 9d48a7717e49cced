/* pedserver: the documented command line. Each -mode runs here; -mode start
 * forks the background process (server.c) and returns once it serves. */
#include "appliance.h"
#include "server.h"

#include "ped/admin.h"
#include "ped/error.h"
#include "ped/json.h"
#include "ped/service.h"

#include <stdio.h>
#include <string.h>

#define USAGE                                                                                       \
	"pedserver -mode start|stop|show|config|connect|disconnect [options]\n"                     \
	"       pedserver -appliance register|list|delete [options]\n"                              \
	"       pedserver -regen -commonname CN [-force]"

static const char *const modes[] = {"start", "stop", "show", "config", "connect", "disconnect", NULL};
static const char *const appliance_ops[] = {"register", "list", "delete", NULL};
enum { M_START, M_STOP, M_SHOW, M_CONFIG, M_CONNECT, M_DISCONNECT };

/* pedserver's own settings, and every daemon's (ped/settings.h). */
static const struct ped_setting settings[] = {
	{.name = "ServerIP", .opt = "ip", .type = PED_CFG_STRING, .sdflt = "", .arg = "ADDRESS", .help = "server listening address, or the appliance's address"},
	{.name = "ServerPort", .opt = "port", .aliases = "p", .type = PED_CFG_INT, .min = 0, .max = 65535, .dflt = 1503, .arg = "PORT", .help = "server port (appliance port with -appliance register)"},
	{.name = "ExternalServer", .opt = "eserverport", .type = PED_CFG_BOOL, .dflt = 1, .help = "server port beyond localhost"},
	PED_SETTINGS_ADMIN(1502),
	PED_SETTINGS_TIMEOUTS,
	PED_SETTINGS_LIFECYCLE("InternalShutdownTimeout", "internalshutdowntimeout", "BgProcessStartupTimeout",
			       "bgprocessstartuptimeout", "BgProcessShutdownTimeout", "bgprocessshutdowntimeout"),
	PED_SETTINGS_LOGGING("pedserver"),
	{.name = "PedWriteDelay", .opt = "pedwritelay", .type = PED_CFG_INT, .min = 0, .max = 10000, .dflt = 0, .arg = "MICROSECONDS", .help = "delay between writes to the PED"},
	PED_SETTINGS_PING,
	{.name = "UsbPed", .opt = "usb", .type = PED_CFG_BOOL, .dflt = 1, .help = "look for a PED on USB"},
	{.name = "UsbVendorId", .opt = "usbvid", .type = PED_CFG_INT, .min = 0, .max = 0xffff, .dflt = 0x1209, .arg = "ID", .help = "the USB PED's vendor id (0x1209)"},
	{.name = "UsbProductId", .opt = "usbpid", .type = PED_CFG_INT, .min = 0, .max = 0xffff, .dflt = 0x0001, .arg = "ID", .help = "the USB PED's product id (0x0001)"},
	{.name = "UsbScanInterval", .opt = "usbscaninterval", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 2, .arg = "SECONDS", .help = "USB enumeration interval without hotplug"},
	{.name = "PedSocket", .opt = "pedsocket", .type = PED_CFG_STRING, .sdflt = "", .arg = "PATH", .help = "where the PED attaches (empty: pedserver-ped.sock in the runtime directory)"},
	PED_SETTINGS_PIDFILE("pedserver"),
	{.name = "ClientCertificate", .type = PED_CFG_STRING, .sdflt = "", .help = "PED-initiated mode: our certificate (set by -regen)"},
	{.name = "ClientKey", .type = PED_CFG_STRING, .sdflt = "", .help = "PED-initiated mode: our private key (set by -regen)"},
	{.name = NULL},
};

static const struct ped_opt own[] = {
	{.name = "mode", .aliases = "m", .kind = PED_OPT_ENUM, .choices = modes, .arg = "MODE", .help = "start, stop, show, config, connect or disconnect"},
	{.name = "appliance", .aliases = "a", .kind = PED_OPT_ENUM, .choices = appliance_ops, .arg = "OP", .help = "register, list or delete an appliance (PED-initiated mode)"},
	{.name = "regen", .kind = PED_OPT_FLAG, .help = "regenerate the client key and certificate"},
	{.name = "name", .aliases = "n", .kind = PED_OPT_STRING, .arg = "NAME", .help = "registered appliance name"},
	{.name = "certificate", .aliases = "cert", .kind = PED_OPT_STRING, .arg = "FILE", .help = "appliance certificate file (PEM)"},
	{.name = "commonname", .aliases = "cn", .kind = PED_OPT_STRING, .arg = "CN", .help = "client certificate common name"},
	{.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "suppress prompts"},
	{.name = "json", .kind = PED_OPT_FLAG, .help = "with -mode show: the status as one JSON object"},
	{.name = NULL},
};

static const char *const bare[] = {"mode", "appliance", "regen", NULL};
static const char *const groups[] = {"appliances", NULL};

/* The reference's pedserver narrates each step of its start and stop. */
static struct ped_service svc = {.name = "pedserver", .title = "Ped Server", .version = PEDSERVER_SOFTWARE_VERSION,
				 .usage = USAGE, .settings = settings, .own = own, .bare = bare, .groups = groups,
				 .narrate = 1};
static struct ped_opt *const opts = svc.opts;
static struct ped_config *const cfg = &svc.cfg;

/* -name: a registered appliance (PED-initiated mode), or a message and 0. */
static int named_appliance(const char *cmd, char *ip, size_t iplen, int *port, char *cert, size_t certlen)
{
	const char *name = ped_opts_str(opts, "name", NULL);
	if (appliance_lookup(cfg, name, ip, iplen, port, cert, certlen) == PED_OK)
		return 1;
	ped_service_err("No appliance named '%s' is registered : 0x%08x %s\n", name, ped_err_code(PED_E_NOT_FOUND),
	       ped_err_name(PED_E_NOT_FOUND));
	ped_service_err("%s command failed.\n", cmd);
	return 0;
}

static int mode_start(void)
{
	struct server_settings s;
	int r;

	memset(&s, 0, sizeof(s));
	ped_service_announce(&svc, "startup");
	/* -name: serve, then dial that registered appliance (PED-initiated mode) */
	const char *name = ped_opts_str(opts, "name", NULL);
	char app_ip[256], cert[1024];
	int app_port;
	if (name && !named_appliance("Startup", app_ip, sizeof(app_ip), &app_port, cert, sizeof(cert)))
		return 1;
	if (name && ped_opts_seen(opts, "foreground")) {
		ped_service_err("-name dials the appliance once the background process serves; with -foreground, use "
		       "-mode connect -name %s.\n", name);
		return 2;
	}
	if (ped_service_runtime_path(&svc, "PedSocket", "pedserver-ped.sock", s.ped_socket, sizeof(s.ped_socket)) !=
		    PED_OK ||
	    ped_service_daemon_conf(&svc, &s.d) != PED_OK) {
		ped_service_fail("Startup failed.", PED_E_FILE);
		return 1;
	}
	snprintf(s.ip, sizeof(s.ip), "%s", ped_config_str(cfg, "ServerIP"));
	s.port = (int)ped_config_int(cfg, "ServerPort");
	s.eserver = (int)ped_config_int(cfg, "ExternalServer");
	s.ped_write_delay_us = (int)ped_config_int(cfg, "PedWriteDelay");
	s.usb.enabled = (int)ped_config_int(cfg, "UsbPed");
	s.usb.vid = (uint16_t)ped_config_int(cfg, "UsbVendorId");
	s.usb.pid = (uint16_t)ped_config_int(cfg, "UsbProductId");
	s.usb.scan_interval_ms = (int)ped_config_int(cfg, "UsbScanInterval") * 1000;
	s.usb.write_timeout_ms = s.d.write_timeout_s * 1000;
	s.usb.write_delay_us = s.ped_write_delay_us;
	if ((r = ped_service_start(&svc, &s.d, NULL)) >= 0)
		return r == 0 && name ? appliance_connect(cfg, 1, name, (int)ped_config_int(cfg, "SocketReadTimeout") * 1000)
				      : r;
	r = server_run(&s);
	ped_service_end(&svc);
	return r;
}

static int mode_show(void)
{
	char out[PED_ADMIN_REPLY_MAX], ip[256] = "", cert[1024], line[160], link[256] = "";
	const char *name = ped_opts_str(opts, "name", NULL);
	int r, app_port = 0, json = ped_opts_seen(opts, "json");
	ped_service_announce(&svc, "status");
	if (name && !named_appliance("Show", ip, sizeof(ip), &app_port, cert, sizeof(cert)))
		return 1;
	r = ped_service_query(&svc, json ? "show json" : "show", out, sizeof(out));
	if (r == PED_OK && name) {
		snprintf(line, sizeof(line), "status %s", name);
		r = ped_service_query(&svc, line, link, sizeof(link));
		link[strcspn(link, "\n")] = '\0';
	}
	if (r != PED_OK) {
		ped_service_err("Failed to recv query response command: %s %08x\n", ped_err_name(r), ped_err_code(r));
		ped_service_err("Show command failed: Ped Server is not running.\n");
		return 1;
	}
	if (json) {
		/* the daemon's object, and the appliance -name asked about */
		size_t len = strcspn(out, "\n");
		if (len < 2 || out[len - 1] != '}') {
			ped_service_fail("Show command failed: a malformed answer", PED_E_INVALID);
			return 1;
		}
		out[len - 1] = '\0';
		fputs(out, stdout);
		if (name) {
			int n = 1, m = 0; /* n: the daemon's members came before */
			ped_json_key(stdout, &n, "appliance");
			putchar('{');
			ped_json_str(stdout, &m, "name", name);
			ped_json_str(stdout, &m, "ip", ip);
			ped_json_num(stdout, &m, "port", app_port);
			ped_json_str(stdout, &m, "link_status", link);
			putchar('}');
		}
		printf("}\n");
		return 0;
	}
	fputs(out, stdout);
	if (name)
		printf("\nAppliance Information:\n  Name:                     %s\n  Address:                  %s:%d\n"
		       "  Link Status:              %s\n",
		       name, ip, app_port, link);
	printf("\nShow command passed.\n");
	return 0;
}

/* -mode config -name N: the registered appliance is what is configured
 * (chapter 5: "the name of the registered appliance to be configured"):
 * -set changes its -ip and -port, and nothing of the server's own. */
static int mode_config_named(const char *name)
{
	char ip[256], cert[1024];
	int app_port, rc;
	if (!named_appliance("Config", ip, sizeof(ip), &app_port, cert, sizeof(cert)))
		return 1;
	if (ped_opts_seen(opts, "set")) {
		for (const struct ped_setting *s = settings; s->name; s++)
			if (s->opt && strcmp(s->opt, "ip") && strcmp(s->opt, "port") && ped_opts_seen(opts, s->opt)) {
				ped_service_err("With -name, -set changes the appliance's -ip and -port only; -%s is the server's "
				       "own setting: give it without -name.\n", s->opt);
				return 2;
			}
		if (svc.npairs || (!ped_opts_seen(opts, "ip") && !ped_opts_seen(opts, "port"))) {
			ped_service_err("With -name, -set takes the appliance's -ip and/or -port.\n");
			return 2;
		}
		rc = appliance_update(cfg, name, ped_opts_str(opts, "ip", NULL),
				      ped_opts_seen(opts, "port") ? (int)ped_opts_num(opts, "port", 0) : -1);
		if (rc != 0)
			return rc;
		named_appliance("Config", ip, sizeof(ip), &app_port, cert, sizeof(cert));
		printf("Appliance %s updated in %s.\n", name, cfg->path);
	}
	if (ped_opts_seen(opts, "show")) {
		printf("Configuration file: %s\n", cfg->path[0] ? cfg->path : "(none: defaults)");
		ped_config_show(cfg, stdout);
	}
	if (!ped_opts_seen(opts, "show") && !ped_opts_seen(opts, "set")) {
		ped_service_err("Use -show to print the configuration or -set with the settings to change.\n");
		return 2;
	}
	printf("Appliance %s: %s:%d, certificate %s\n", name, ip, app_port, cert);
	printf("Config command passed.\n");
	return 0;
}

static int mode_config(void)
{
	int rc;
	const char *name = ped_opts_str(opts, "name", NULL);
	if (name)
		return mode_config_named(name);
	if ((rc = ped_service_config(&svc)) != 0)
		return rc;
	printf("Config command passed.\n");
	return 0;
}

int main(int argc, char **argv)
{
	int rc;

	if ((rc = ped_service_begin(&svc, argc, argv)) >= 0)
		return rc;
	int nsel = ped_opts_seen(opts, "mode") + ped_opts_seen(opts, "appliance") + ped_opts_seen(opts, "regen");
	if (nsel != 1) {
		ped_service_err("Give exactly one of -mode, -appliance or -regen.\n%s\n", USAGE);
		return 2;
	}
	/* Defaults until -mode config -set or -appliance register creates the file. */
	int creates = ped_opts_seen(opts, "appliance") ||
		      (ped_opts_seen(opts, "mode") && ped_opts_num(opts, "mode", 0) == M_CONFIG && ped_opts_seen(opts, "set"));
	if ((rc = ped_service_configure(&svc, creates)) >= 0)
		return rc;
	if (ped_opts_seen(opts, "regen")) {
		rc = appliance_regen(cfg, ped_opts_str(opts, "commonname", NULL), ped_opts_seen(opts, "force"));
	} else if (ped_opts_seen(opts, "appliance")) {
		rc = appliance_command((int)ped_opts_num(opts, "appliance", 0), cfg, ped_opts_str(opts, "name", NULL),
				       ped_opts_str(opts, "certificate", NULL), ped_opts_str(opts, "ip", NULL),
				       ped_opts_seen(opts, "port") ? (int)ped_opts_num(opts, "port", 9697) : 9697);
	} else {
		switch (ped_opts_num(opts, "mode", 0)) {
		case M_START: rc = mode_start(); break;
		case M_STOP: ped_service_announce(&svc, "shutdown"); rc = ped_service_stop(&svc); break;
		case M_SHOW: rc = mode_show(); break;
		case M_CONFIG: rc = mode_config(); break;
		default:
			rc = appliance_connect(cfg, ped_opts_num(opts, "mode", 0) == M_CONNECT,
					       ped_opts_str(opts, "name", NULL),
					       (int)ped_config_int(cfg, "SocketReadTimeout") * 1000);
			break;
		}
	}
	ped_service_end(&svc);
	return rc;
}
