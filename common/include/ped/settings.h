/* A daemon's settings, one line each: its name in the configuration file,
 * the option that overrides it for one run, type, range, default and help.
 * From a program's table ped_service (service.h) makes the libconfig
 * schema, the options and the map between them; nothing is declared twice.
 *
 *   static const struct ped_setting settings[] = {
 *           {.name = "ServerPort", .opt = "port", .type = PED_CFG_INT, .min = 0, .max = 65535,
 *            .dflt = 1503, .arg = "PORT", .help = "server port"},
 *           PED_SETTINGS_ADMIN(1502),
 *           PED_SETTINGS_LOGGING("pedserver"),
 *           {.name = NULL},
 *   };
 *
 * The groups below are every daemon's; a setting added to a group is one
 * line here and appears in every daemon, its file, options and -help. */
#ifndef PED_SETTINGS_H
#define PED_SETTINGS_H

#include "ped/config.h"

/* flags */
#define PED_SET_FLAG_OPT 0x01u /* the option alone sets the boolean (-ignoreidletimeout), 0 after it clears it */
/* What the daemon layer needs of settings whose names differ by daemon (the
 * reference names pedserver's BgProcessStartupTimeout, pedclient's
 * PStartupTimeout): how long -mode start waits for the background process,
 * how long -mode stop waits for it to go, and the background process's own
 * goodbyes at a stop. */
#define PED_SET_STARTUP 0x10u
#define PED_SET_STOP 0x20u
#define PED_SET_SHUTDOWN 0x40u

struct ped_setting {
	const char *name;     /* in the file: "PingInterval" */
	const char *opt;      /* the option that overrides it: "pinginterval"; NULL: the file's only */
	const char *aliases;  /* the option's other names, space-separated */
	enum ped_cfg_type type;
	long min, max;        /* PED_CFG_INT */
	long dflt;            /* PED_CFG_INT, PED_CFG_BOOL */
	const char *sdflt;    /* PED_CFG_STRING */
	const char *arg;      /* the option's value in -help ("SECONDS"); 0|1 for a boolean */
	const char *help;
	unsigned flags;       /* PED_SET_* */
};

/* The admin port (its number is the daemon's own) and whether it listens
 * beyond localhost. */
#define PED_SETTINGS_ADMIN(port)                                                                                     \
	{.name = "AdminPort", .opt = "admin", .type = PED_CFG_INT, .min = 0, .max = 65535, .dflt = (port),          \
	 .arg = "PORT", .help = "admin port (0: any free port)"},                                                    \
	{.name = "ExternalAdmin", .opt = "eadmin", .type = PED_CFG_BOOL, .dflt = 0,                                   \
	 .help = "admin port beyond localhost"}

/* Bounds on a session and on every read and write. */
#define PED_SETTINGS_TIMEOUTS                                                                                        \
	{.name = "IdleTimeout", .opt = "idletimeout", .type = PED_CFG_INT, .min = 1, .max = 86400, .dflt = 1800,    \
	 .arg = "SECONDS", .help = "idle connection timeout"},                                                       \
	{.name = "SocketReadTimeout", .opt = "socketreadtimeout", .type = PED_CFG_INT, .min = 1, .max = 3600,        \
	 .dflt = 10, .arg = "SECONDS", .help = "socket read timeout"},                                               \
	{.name = "SocketWriteTimeout", .opt = "socketwritetimeout", .type = PED_CFG_INT, .min = 1, .max = 3600,      \
	 .dflt = 10, .arg = "SECONDS", .help = "socket write timeout"}

/* Start and stop, under each daemon's documented names: the background
 * process's goodbyes at a stop, how long -mode start waits for it to serve,
 * how long -mode stop waits for it to go. */
#define PED_SETTINGS_LIFECYCLE(shutdown, shutdown_opt, startup, startup_opt, stop, stop_opt)                        \
	{.name = shutdown, .opt = shutdown_opt, .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10,              \
	 .arg = "SECONDS", .help = "shutdown timeout of internal services", .flags = PED_SET_SHUTDOWN},             \
	{.name = startup, .opt = startup_opt, .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10,                \
	 .arg = "SECONDS", .help = "startup timeout of the background process", .flags = PED_SET_STARTUP},          \
	{.name = stop, .opt = stop_opt, .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 20, .arg = "SECONDS",   \
	 .help = "shutdown timeout of the background process", .flags = PED_SET_STOP}

/* The log: its file and level switches (-loginfo ...), rotated at a size. */
#define PED_SETTINGS_LOGGING(prog)                                                                                   \
	{.name = "LogFileName", .opt = "logfile", .aliases = "logfilename", .type = PED_CFG_STRING, .sdflt = "",      \
	 .arg = "FILE",                                                                                              \
	 .help = "log file (empty: stderr with -foreground, else " prog ".log in the user's data directory)"},          \
	{.name = "LogInfo", .opt = "loginfo", .type = PED_CFG_BOOL, .dflt = 1, .help = "log info messages"},          \
	{.name = "LogWarning", .opt = "logwarning", .type = PED_CFG_BOOL, .dflt = 1, .help = "log warnings"},         \
	{.name = "LogError", .opt = "logerror", .type = PED_CFG_BOOL, .dflt = 1, .help = "log errors"},               \
	{.name = "LogTrace", .opt = "logtrace", .type = PED_CFG_BOOL, .dflt = 0, .help = "log traces"},               \
	{.name = "MaxLogFileSize", .opt = "maxlogfilesize", .type = PED_CFG_INT, .min = 1, .max = 1048576,           \
	 .dflt = 4096, .arg = "KB", .help = "log size before rotation"}

/* Liveness of the relay peer (docs/protocol.md, section 11). */
#define PED_SETTINGS_PING                                                                                            \
	{.name = "PingInterval", .opt = "pinginterval", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 10,     \
	 .arg = "SECONDS", .help = "time between pings"},                                                            \
	{.name = "PingTimeout", .opt = "pingtimeout", .type = PED_CFG_INT, .min = 1, .max = 3600, .dflt = 20,        \
	 .arg = "SECONDS", .help = "ping answer timeout"}

/* The PID file, in the runtime directory unless set. */
#define PED_SETTINGS_PIDFILE(prog)                                                                                   \
	{.name = "PidFile", .opt = "pidfile", .type = PED_CFG_STRING, .sdflt = "", .arg = "FILE",                    \
	 .help = "PID file (empty: " prog ".pid in the runtime directory)"}

/* Every group, in the order the daemons list them. */
#define PED_SETTINGS_DAEMON(prog, admin_port)                                                                        \
	PED_SETTINGS_ADMIN(admin_port), PED_SETTINGS_TIMEOUTS, PED_SETTINGS_LOGGING(prog), PED_SETTINGS_PING,        \
		PED_SETTINGS_PIDFILE(prog)

#endif
