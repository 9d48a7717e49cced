/* pedclient: the documented command line. start/stop/show manage the
 * background process (client.c); the id modes edit the mappings in the
 * configuration file, which the running daemon reads at each request. */
#include "client.h"

#include "ped/admin.h"
#include "ped/error.h"
#include "ped/json.h"
#include "ped/fileio.h"
#include "ped/link.h"
#include "ped/net.h"
#include "ped/relay.h"
#include "ped/service.h"

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

/* pedclient's own settings, and every daemon's (ped/settings.h). */
static const struct ped_setting settings[] = {
	PED_SETTINGS_ADMIN(1501),
	PED_SETTINGS_TIMEOUTS,
	{.name = "IgnoreIdleTimeout", .opt = "ignoreidletimeout", .type = PED_CFG_BOOL, .dflt = 0, .help = "never end a connection for being idle", .flags = PED_SET_FLAG_OPT},
	PED_SETTINGS_LIFECYCLE("ShutdownTimeout", "shutdowntimeout", "PStartupTimeout", "pstartuptimeout",
			       "PShutdownTimeout", "pshutdowntimeout"),
	PED_SETTINGS_LOGGING("pedclient"),
	PED_SETTINGS_PING,
	{.name = "HsmSocket", .opt = "hsmsocket", .type = PED_CFG_STRING, .sdflt = "", .arg = "PATH", .help = "where HSMs ask for Remote PED (empty: pedclient.sock in the runtime directory)"},
	PED_SETTINGS_PIDFILE("pedclient"),
	{.name = "ListenIP", .opt = "listenip", .type = PED_CFG_STRING, .sdflt = "0.0.0.0", .arg = "ADDRESS", .help = "PED-initiated mode: listening address"},
	{.name = "ListenPort", .opt = "listenport", .type = PED_CFG_INT, .min = -1, .max = 65535, .dflt = 9697, .arg = "PORT", .help = "PED-initiated mode: TLS port (0: any free port, -1: off)"},
	{.name = "Certificate", .type = PED_CFG_STRING, .sdflt = "", .help = "PED-initiated mode: our certificate (empty: cert/pedclient/pedclient.pem in the data directory, made at first start)"},
	{.name = "PrivateKey", .type = PED_CFG_STRING, .sdflt = "", .help = "PED-initiated mode: its key"},
	{.name = "RegisteredPedServers", .type = PED_CFG_STRING, .sdflt = "", .help = "PED-initiated mode: directory of the pedserver certificates accepted (empty: cert/pedservers in the data directory)"},
	{.name = NULL},
};

static const struct ped_opt own[] = {
	{.name = "mode", .aliases = "m", .kind = PED_OPT_ENUM, .choices = modes, .arg = "MODE", .help = "what to do"},
	{.name = "id", .kind = PED_OPT_INT, .min = 0, .max = 65535, .arg = "PED_ID", .help = "PED id"},
	{.name = "id_ip", .kind = PED_OPT_STRING, .arg = "HOST", .help = "pedserver host of a PED id"},
	{.name = "id_port", .kind = PED_OPT_INT, .min = 1, .max = 65535, .arg = "PORT", .help = "pedserver port of a PED id"},
	{.name = "id_serialnumber", .kind = PED_OPT_STRING, .arg = "SERIAL", .help = "HSM serial number a PED id is assigned to"},
	{.name = "locallogger", .kind = PED_OPT_FLAG, .help = "use the Remote PED logger (the only one here)"},
	{.name = "winservice", .kind = PED_OPT_FLAG, .help = "Windows only; refused here"},
	{.name = "json", .kind = PED_OPT_FLAG, .help = "with -mode show: the status and the PED id mappings as one JSON object"},
	{.name = NULL},
};

static const char *const bare[] = {"mode", NULL};
static const char *const groups[] = {"peds", NULL};
static struct ped_service svc = {.name = "pedclient", .title = "PED Client", .version = PEDCLIENT_SOFTWARE_VERSION,
				 .usage = USAGE, .settings = settings, .own = own, .bare = bare, .groups = groups};
static struct ped_opt *const opts = svc.opts;
static struct ped_config *const cfg = &svc.cfg;

static int save(void)
{
	int r = ped_config_save(cfg, svc.err, sizeof(svc.err));
	if (r != PED_OK)
		ped_service_fail(svc.err, r);
	return r;
}

static int mode_start(void)
{
	static struct client_settings s;
	char serving[1100];
	int r;

	if (ped_opts_seen(opts, "winservice")) {
		ped_service_err("-winservice: Windows services do not exist on this platform; use -mode start, or -mode start -foreground under a service manager.\n");
		return 2;
	}
	memset(&s, 0, sizeof(s));
	s.ignore_idle = (int)ped_config_int(cfg, "IgnoreIdleTimeout");
	snprintf(s.listen_ip, sizeof(s.listen_ip), "%s", ped_config_str(cfg, "ListenIP"));
	s.listen_port = (int)ped_config_int(cfg, "ListenPort");
	if (ped_service_runtime_path(&svc, "HsmSocket", "pedclient.sock", s.hsm_socket, sizeof(s.hsm_socket)) != PED_OK ||
	    ped_service_daemon_conf(&svc, &s.d) != PED_OK ||
	    (s.listen_port >= 0 && /* PED-initiated mode's identity and trust */
	     (ped_service_data_path(&svc, "Certificate", "cert/pedclient/pedclient.pem", PED_DIR_SECRET, s.cert,
				    sizeof(s.cert)) != PED_OK ||
	      ped_service_data_path(&svc, "PrivateKey", "cert/pedclient/pedclientKey.pem", PED_DIR_SECRET, s.key,
				    sizeof(s.key)) != PED_OK ||
	      ped_service_data_path(&svc, "RegisteredPedServers", "cert/pedservers", PED_DIR_NOWRITE, s.trusted,
				    sizeof(s.trusted)) != PED_OK))) {
		ped_service_fail("Startup failed.", PED_E_FILE);
		return 1;
	}
	snprintf(serving, sizeof(serving), "HSM socket %s", s.hsm_socket);
	if ((r = ped_service_start(&svc, &s.d, serving)) >= 0)
		return r;
	r = client_run(&s);
	ped_service_end(&svc);
	return r;
}

static int mode_show(void)
{
	char out[PED_ADMIN_REPLY_MAX];
	int json = ped_opts_seen(opts, "json");
	int r = ped_service_query(&svc, json ? "show json" : "show", out, sizeof(out));
	if (r != PED_OK) {
		ped_service_fail("PED Client is not running", r);
		return 1;
	}
	if (json) {
		/* the daemon's members, then the mappings of the file */
		struct ped_mapping m[MAX_MAPPINGS];
		int n = mappings_load(cfg, m, MAX_MAPPINGS), k = 1;
		out[strcspn(out, "\n")] = '\0';
		fputs(out, stdout);
		ped_json_key(stdout, &k, "mappings");
		putchar('[');
		for (int i = 0; i < n; i++) {
			int f = 0;
			fputs(i ? ",{" : "{", stdout);
			ped_json_num(stdout, &f, "id", m[i].id);
			ped_json_str(stdout, &f, "ip", m[i].ip);
			ped_json_num(stdout, &f, "port", m[i].port);
			ped_json_key(stdout, &f, "hsm_serial");
			if (m[i].serial[0])
				ped_json_string(stdout, m[i].serial);
			else
				fputs("null", stdout);
			putchar('}');
		}
		printf("]}\n");
		return 0;
	}
	fputs(out, stdout);
	printf("\nPED ID Mappings:\n");
	struct ped_mapping m[MAX_MAPPINGS];
	int n = mappings_load(cfg, m, MAX_MAPPINGS);
	for (int i = 0; i < n; i++)
		printf("  PED id %d: %s:%d%s%s\n", m[i].id, m[i].ip, m[i].port, m[i].serial[0] ? ", HSM " : "",
		       m[i].serial);
	if (n == 0)
		printf("  (none)\n");
	return 0;
}

static config_setting_t *peds(int create)
{
	config_setting_t *root = config_root_setting(&cfg->tree);
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
		ped_service_err("-mode %s needs -id <PED_ID>.\n", mode);
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
			ped_service_err("-mode setid needs -id_ip <hostname> and -id_port <port>.\n");
			return 2;
		}
		if (!*ip || strlen(ip) > PED_MAPPING_HOST_MAX) {
			ped_service_err("-id_ip: a host name or address of 1 to %d characters.\n", PED_MAPPING_HOST_MAX);
			return 2;
		}
		if (i < 0 && l && config_setting_length(l) >= MAX_MAPPINGS) {
			ped_service_err("At most %d PED ids can be mapped: delete one first (-mode deleteid) : 0x%08x %s\n",
					MAX_MAPPINGS, ped_err_code(PED_E_RANGE), ped_err_name(PED_E_RANGE));
			return 1;
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
		ped_service_err("PED id %d is not defined : 0x%08x %s\n", id, ped_err_code(PED_E_NOT_FOUND),
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
		ped_service_err("-mode assignid needs -id_serialnumber <serial>.\n");
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
	int n = mappings_load(cfg, m, MAX_MAPPINGS), k = -1;
	for (int i = 0; i < n; i++)
		if (m[i].id == id)
			k = i;
	if (k < 0) {
		ped_service_err("PED id %d is not defined : 0x%08x %s\n", id, ped_err_code(PED_E_NOT_FOUND),
		       ped_err_name(PED_E_NOT_FOUND));
		return 1;
	}
	int tmo = (int)ped_config_int(cfg, "SocketReadTimeout") * 1000, fd, r;
	printf("Testing PED id %d: pedserver %s:%d\n", id, m[k].ip, m[k].port);
	if ((r = ped_tcp_connect(m[k].ip, (uint16_t)m[k].port, tmo, &fd)) != PED_OK) {
		ped_service_fail("Cannot connect to pedserver", r);
		return 1;
	}
	struct ped_relay_msg h, st;
	struct ped_framer f;
	uint8_t type, *p = NULL;
	size_t len = 0;
	memset(&h, 0, sizeof(h));
	h.role = PED_RELAY_ROLE_CLIENT;
	h.purpose = PED_RELAY_QUERY;
	/* pedserver says whether it serves this HSM, not whom it serves */
	snprintf(h.id, sizeof(h.id), "%s", m[k].serial);
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
		ped_service_fail("pedserver did not answer the test", r == PED_E_CLOSED ? PED_E_SOCKET : r);
		return 1;
	}
	printf("pedserver answers: %s\n", st.info);
	if (!(st.flags & PED_RELAY_F_PED_ATTACHED)) {
		printf("No PED is attached to it.\n");
		return 1;
	}
	if (!(st.flags & PED_RELAY_F_BUSY))
		printf("PED %s (firmware %s) is attached.\n", st.id, st.version);
	else if (st.flags & PED_RELAY_F_SERVING_NAMED)
		printf("PED %s (firmware %s) is attached and serving HSM %s, the HSM PED id %d is assigned to.\n",
		       st.id, st.version, m[k].serial, id);
	else
		printf("PED %s (firmware %s) is attached and serving another HSM.\n", st.id, st.version);
	return 0;
}

int main(int argc, char **argv)
{
	int rc;

	if ((rc = ped_service_begin(&svc, argc, argv)) >= 0)
		return rc;
	if (!ped_opts_seen(opts, "mode")) {
		ped_service_err("%s\n", USAGE);
		return 2;
	}
	int mode = (int)ped_opts_num(opts, "mode", 0);
	int creates = mode == M_SETID || (mode == M_CONFIG && ped_opts_seen(opts, "set"));
	if ((rc = ped_service_configure(&svc, creates)) >= 0)
		return rc;
	switch (mode) {
	case M_START: rc = mode_start(); break;
	case M_STOP: rc = ped_service_stop(&svc); break;
	case M_SHOW: rc = mode_show(); break;
	case M_CONFIG: rc = ped_service_config(&svc); break;
	case M_TESTID: rc = mode_testid(); break;
	default: rc = mode_ids(mode); break;
	}
	ped_service_end(&svc);
	return rc;
}
