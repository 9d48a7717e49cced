/* The settings table and the daemon layer's command line (ped/settings.h,
 * ped/service.h): one table makes the schema, the options and the map
 * between them; options override the file for one run; -mode config -set
 * stores every shared setting, as an option or as "Setting value", in a
 * table shaped like each daemon's. */
#include "unit.h"

#include "ped/config.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <unistd.h>

static const char *const modes[] = {"start", "config", NULL};
static const struct ped_opt own[] = {
	{.name = "mode", .aliases = "m", .kind = PED_OPT_ENUM, .choices = modes, .arg = "MODE", .help = "what to do"},
	{.name = NULL},
};

/* Shaped like pedserver's and pedclient's: every shared group, under each
 * one's names for start and stop, and settings of their own. */
static const struct ped_setting server_like[] = {
	{.name = "ServerPort", .opt = "port", .aliases = "p", .type = PED_CFG_INT, .min = 0, .max = 65535, .dflt = 1503, .arg = "PORT", .help = "server port"},
	PED_SETTINGS_ADMIN(1502),
	PED_SETTINGS_TIMEOUTS,
	PED_SETTINGS_LIFECYCLE("InternalShutdownTimeout", "internalshutdowntimeout", "BgProcessStartupTimeout",
			       "bgprocessstartuptimeout", "BgProcessShutdownTimeout", "bgprocessshutdowntimeout"),
	PED_SETTINGS_LOGGING("server"),
	PED_SETTINGS_PING,
	PED_SETTINGS_PIDFILE("server"),
	{.name = "ClientKey", .type = PED_CFG_STRING, .sdflt = "", .help = "the file's only"},
	{.name = NULL},
};

static const struct ped_setting client_like[] = {
	PED_SETTINGS_DAEMON("client", 1501),
	PED_SETTINGS_LIFECYCLE("ShutdownTimeout", "shutdowntimeout", "PStartupTimeout", "pstartuptimeout",
			       "PShutdownTimeout", "pshutdowntimeout"),
	{.name = "IgnoreIdleTimeout", .opt = "ignoreidletimeout", .type = PED_CFG_BOOL, .dflt = 0, .help = "never idle", .flags = PED_SET_FLAG_OPT},
	{.name = NULL},
};

/* Every group's settings; the start/stop ones are found by role. */
static const struct ped_setting shared[] = {
	PED_SETTINGS_DAEMON("x", 1),
	PED_SETTINGS_LIFECYCLE("A", "a", "B", "b", "C", "c"),
	{.name = NULL},
};

static struct ped_service svc;
static char path[512];

static void service_for(const struct ped_setting *t, const char *name)
{
	memset(&svc, 0, sizeof(svc));
	svc.name = name;
	svc.title = name;
	svc.version = "0";
	svc.usage = "test -mode start|config";
	svc.settings = t;
	svc.own = own;
}

static void write_conf(const char *text)
{
	snprintf(path, sizeof(path), "%s/settings.conf", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(ped_file_write_atomic(path, text, strlen(text), 0600), PED_OK);
}

/* What the layer prints (stdout, stderr) goes to /dev/null while it runs. */
static int saved[2] = {-1, -1};

static void quiet(void)
{
	int null = open("/dev/null", O_WRONLY);
	fflush(stdout);
	fflush(stderr);
	for (int fd = 0; fd < 2; fd++) {
		saved[fd] = dup(STDOUT_FILENO + fd);
		dup2(null, STDOUT_FILENO + fd);
	}
	close(null);
}

static void loud(void)
{
	fflush(stdout);
	fflush(stderr);
	for (int fd = 0; fd < 2; fd++) {
		dup2(saved[fd], STDOUT_FILENO + fd);
		close(saved[fd]);
	}
}

/* Runs the layer on a command line (words separated by spaces) up to the
 * mode: the status begin or configure ended with, or -1 to go on. */
static int run(const char *line)
{
	static char buf[1024];
	char *argv[32];
	int argc = 0, r;
	snprintf(buf, sizeof(buf), "test %s -configfile %s", line, path);
	for (char *w = strtok(buf, " "); w && argc < 31; w = strtok(NULL, " "))
		argv[argc++] = w;
	argv[argc] = NULL;
	quiet();
	if ((r = ped_service_begin(&svc, argc, argv)) < 0)
		r = ped_service_configure(&svc, 1);
	loud();
	return r;
}

static int config_mode(void)
{
	quiet();
	int r = ped_service_config(&svc);
	loud();
	return r;
}

static const struct ped_cfg_setting *schema_entry(const char *name)
{
	for (const struct ped_cfg_setting *s = svc.schema; s->name; s++)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

static void one_table_makes_schema_and_options(void)
{
	const struct ped_setting *tables[] = {server_like, client_like};
	for (size_t t = 0; t < 2; t++) {
		service_for(tables[t], t ? "client" : "server");
		write_conf("");
		CU_ASSERT_EQUAL_FATAL(run("-mode start"), -1);
		size_t n = 0;
		for (const struct ped_setting *s = tables[t]; s->name; s++, n++) {
			const struct ped_cfg_setting *c = schema_entry(s->name);
			CU_ASSERT_PTR_NOT_NULL_FATAL(c);
			CU_ASSERT_EQUAL(c->type, s->type);
			CU_ASSERT_EQUAL(c->min, s->min);
			CU_ASSERT_EQUAL(c->max, s->max);
			CU_ASSERT_EQUAL(c->num, s->dflt); /* loaded: the default */
			struct ped_opt *o = s->opt ? ped_opts_get(svc.opts, s->opt) : NULL;
			if (!s->opt)
				continue;
			CU_ASSERT_PTR_NOT_NULL_FATAL(o);
			CU_ASSERT_EQUAL(o->kind, (s->flags & PED_SET_FLAG_OPT) ? PED_OPT_FLAG01
						 : s->type == PED_CFG_INT  ? PED_OPT_INT
						 : s->type == PED_CFG_BOOL ? PED_OPT_BOOL01
									   : PED_OPT_STRING);
			if (s->type == PED_CFG_INT) {
				CU_ASSERT_EQUAL(o->min, s->min);
				CU_ASSERT_EQUAL(o->max, s->max);
			}
			CU_ASSERT_PTR_EQUAL(o->help, s->help);
		}
		CU_ASSERT_PTR_NULL(svc.schema[n].name);
		/* the program's own options and every daemon's are there too */
		for (const char *const *w = (const char *const[]){"mode", "configfile", "show", "set", "foreground",
								   "version", NULL};
		     *w; w++)
			CU_ASSERT_PTR_NOT_NULL(ped_opts_get(svc.opts, *w));
		CU_ASSERT_PTR_NULL(ped_opts_get(svc.opts, "clientkey")); /* the file's only: no option */
		ped_service_end(&svc);
	}
	/* the admin port is each daemon's own */
	service_for(server_like, "server");
	write_conf("");
	CU_ASSERT_EQUAL(run("-mode start"), -1);
	CU_ASSERT_EQUAL(ped_service_int(&svc, "AdminPort"), 1502);
	ped_service_end(&svc);
}

static void roles_name_each_daemons_lifecycle_settings(void)
{
	service_for(server_like, "server");
	CU_ASSERT_STRING_EQUAL(ped_service_role(&svc, PED_SET_STARTUP)->name, "BgProcessStartupTimeout");
	CU_ASSERT_STRING_EQUAL(ped_service_role(&svc, PED_SET_STOP)->name, "BgProcessShutdownTimeout");
	CU_ASSERT_STRING_EQUAL(ped_service_role(&svc, PED_SET_SHUTDOWN)->name, "InternalShutdownTimeout");
	service_for(client_like, "client");
	CU_ASSERT_STRING_EQUAL(ped_service_role(&svc, PED_SET_STARTUP)->name, "PStartupTimeout");
	CU_ASSERT_STRING_EQUAL(ped_service_role(&svc, PED_SET_STOP)->name, "PShutdownTimeout");
	CU_ASSERT_STRING_EQUAL(ped_service_role(&svc, PED_SET_SHUTDOWN)->name, "ShutdownTimeout");
}

static void options_override_the_file_for_one_run(void)
{
	struct ped_daemon_conf d;
	service_for(client_like, "client");
	write_conf("PingInterval = 3;\n# kept\n");
	CU_ASSERT_EQUAL_FATAL(run("-mode start -pinginterval 7 -ignoreidletimeout -logfile /x/y.log -pidfile /x/y.pid"),
			      -1);
	CU_ASSERT_EQUAL(ped_service_int(&svc, "PingInterval"), 7);
	CU_ASSERT_EQUAL(ped_service_int(&svc, "IgnoreIdleTimeout"), 1);
	CU_ASSERT_STRING_EQUAL(ped_service_str(&svc, "LogFileName"), "/x/y.log");
	CU_ASSERT_EQUAL(ped_service_daemon_conf(&svc, &d), PED_OK);
	CU_ASSERT_EQUAL(d.ping_interval_s, 7);
	CU_ASSERT_EQUAL(d.admin_port, 1501);
	CU_ASSERT_STRING_EQUAL(d.pidfile, "/x/y.pid");
	CU_ASSERT_STRING_EQUAL(d.config_path, path);
	/* another command's save writes the file, not this run's options */
	CU_ASSERT_EQUAL(ped_config_save(&svc.cfg, svc.err, sizeof(svc.err)), PED_OK);
	ped_service_end(&svc);
	service_for(client_like, "client");
	CU_ASSERT_EQUAL_FATAL(run("-mode start"), -1);
	CU_ASSERT_EQUAL(ped_service_int(&svc, "PingInterval"), 3);
	CU_ASSERT_EQUAL(ped_service_int(&svc, "IgnoreIdleTimeout"), 0);
	CU_ASSERT_STRING_EQUAL(ped_service_str(&svc, "LogFileName"), "");
	ped_service_end(&svc);
}

/* A value in range and not the default, as the command line writes it. */
static void some_value(const struct ped_setting *s, char *out, size_t len)
{
	if (s->type == PED_CFG_STRING)
		snprintf(out, len, "/var/lib/%s.x", s->name);
	else if (s->type == PED_CFG_BOOL)
		snprintf(out, len, "%d", !s->dflt);
	else
		snprintf(out, len, "%ld", s->dflt < s->max ? s->dflt + 1 : s->dflt - 1);
}

/* -mode config -set, both ways, for every shared setting on both tables. */
static void set_stores_every_shared_setting(void)
{
	const struct ped_setting *tables[] = {server_like, client_like};
	char value[128], line[512];
	for (size_t t = 0; t < 2; t++)
		for (const struct ped_setting *g = shared; g->name; g++)
			for (int pair = 0; pair < 2; pair++) {
				const char *name = g->name;
				const struct ped_setting *s = NULL;
				if (g->flags) /* the start/stop ones, under this daemon's name */
					for (s = tables[t]; s->name && !(s->flags & g->flags); s++)
						;
				else
					for (s = tables[t]; s->name && strcmp(s->name, name); s++)
						;
				CU_ASSERT_PTR_NOT_NULL_FATAL(s->name);
				service_for(tables[t], t ? "client" : "server");
				write_conf("# kept\n");
				some_value(s, value, sizeof(value));
				if (pair)
					snprintf(line, sizeof(line), "-mode config -set %s %s", s->name, value);
				else
					snprintf(line, sizeof(line), "-mode config -set -%s %s", s->opt, value);
				CU_ASSERT_EQUAL_FATAL(run(line), -1);
				CU_ASSERT_EQUAL(config_mode(), 0);
				ped_service_end(&svc);
				/* read back as the daemon would */
				service_for(tables[t], t ? "client" : "server");
				CU_ASSERT_EQUAL_FATAL(run("-mode config -show"), -1);
				if (s->type == PED_CFG_STRING) {
					CU_ASSERT_STRING_EQUAL(ped_service_str(&svc, s->name), value);
				} else {
					CU_ASSERT_EQUAL(ped_service_int(&svc, s->name), strtol(value, NULL, 10));
				}
				CU_ASSERT_STRING_EQUAL(ped_service_str(&svc, "LogFileName"),
						       !strcmp(s->name, "LogFileName") ? value : "");
				ped_service_end(&svc);
			}
}

static void set_pairs_end_at_a_word_that_names_no_setting(void)
{
	service_for(client_like, "client");
	write_conf("");
	/* two pairs, any case, then a word the parser reports */
	CU_ASSERT_EQUAL(run("-mode config -set pinginterval 5 IgnoreIdleTimeout 1 NoSuchSetting 1"), 2);
	CU_ASSERT_STRING_EQUAL(svc.err, "unexpected argument 'NoSuchSetting'");
	/* a value out of range is refused, not stored */
	service_for(client_like, "client");
	CU_ASSERT_EQUAL(run("-mode config -set PingInterval 0"), 2);
	CU_ASSERT(strstr(svc.err, "PingInterval") != NULL);
	/* "Setting value" pairs come only after -set */
	service_for(client_like, "client");
	CU_ASSERT_EQUAL(run("-mode config PingInterval 5"), 2);
	/* "mode config" without the dash, when the program takes it so */
	static const char *const bare[] = {"mode", NULL};
	service_for(client_like, "client");
	svc.bare = bare;
	CU_ASSERT_EQUAL(run("mode config -set PingInterval 6"), -1);
	CU_ASSERT_EQUAL(ped_opts_num(svc.opts, "mode", -1), 1);
	CU_ASSERT_EQUAL(ped_service_int(&svc, "PingInterval"), 6);
	ped_service_end(&svc);
}

UNIT_SUITE(settings, NULL, NULL, UNIT_TEST(one_table_makes_schema_and_options),
	   UNIT_TEST(roles_name_each_daemons_lifecycle_settings), UNIT_TEST(options_override_the_file_for_one_run),
	   UNIT_TEST(set_stores_every_shared_setting), UNIT_TEST(set_pairs_end_at_a_word_that_names_no_setting))
