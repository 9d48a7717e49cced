/* The command line every daemon shares (pedserver, pedclient), as swtpm's
 * common.c serves its front ends: a program describes itself (names, its
 * settings table, its own options and modes) and this layer makes the
 * options from the settings, parses, loads the configuration file, applies
 * the options given for this run, and runs the modes every daemon has:
 * start, stop, config. The program's main.c keeps only its own modes.
 *
 *   static struct ped_service svc = {.name = "pedclient", .title = "PED Client", ...};
 *   if ((rc = ped_service_begin(&svc, argc, argv)) >= 0) return rc;   help, version, bad options
 *   if ((rc = ped_service_configure(&svc, creates)) >= 0) return rc;  file, then the options
 *   ... the program's mode, with svc.opts and svc.cfg ...
 *   ped_service_end(&svc);
 *
 * Errors go out as the reference prints them: "what : 0x%08x NAME". */
#ifndef PED_SERVICE_H
#define PED_SERVICE_H

#include "ped/config.h"
#include "ped/opts.h"
#include "ped/runtime.h"
#include "ped/settings.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PED_SERVICE_MAX_OPTS 64
#define PED_SERVICE_MAX_SETTINGS 48
#define PED_SERVICE_MAX_PAIRS 16

struct ped_service {
	/* the program */
	const char *name;                   /* "pedserver": its files, its log lines */
	const char *title;                  /* "Ped Server": its messages */
	const char *version;
	const char *usage;
	const struct ped_setting *settings; /* its table, ending with a NULL name */
	const struct ped_opt *own;          /* its modes and other options, ending with a NULL name */
	const char *const *bare;            /* words taken as options in first place ("pedserver mode start") */
	const char *const *groups;          /* the file's lists the program reads itself ("appliances") */
	int narrate;                        /* the reference's pedserver: a banner, and each step of start and stop */

	/* made from them */
	struct ped_opt opts[PED_SERVICE_MAX_OPTS];
	struct ped_cfg_setting schema[PED_SERVICE_MAX_SETTINGS + 1];
	struct ped_config cfg;
	struct {
		const struct ped_setting *s;
		const char *value;
	} pairs[PED_SERVICE_MAX_PAIRS]; /* "-set Setting value" */
	size_t npairs;
	char configfile_help[96];
	char err[1024];
};

/* "what : 0x%08x NAME", the reference's form of a failure, on standard
 * error. */
void ped_service_fail(const char *what, int err);
/* An error or a usage message: on standard error, after what standard
 * output holds so far, so that the two read in order when they share a
 * terminal or a file. Results and narration stay on standard output. */
void ped_service_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Builds the options and the schema, then parses argv. Returns an exit
 * status when the program is done (help or version printed: 0; a bad
 * option: 2, with the message and the usage), else -1 to go on. */
int ped_service_begin(struct ped_service *svc, int argc, char **argv);
/* Loads the configuration file (-configfile, else NAME.conf in the data
 * directory, else in the system's, ped_config_default_path; one that is
 * missing is the defaults, an error where it was named unless may_create),
 * then applies the options given for this run.
 * The exit status on failure, else -1. */
int ped_service_configure(struct ped_service *svc, int may_create);
void ped_service_end(struct ped_service *svc);

/* The setting with one of the PED_SET_STARTUP/STOP/SHUTDOWN flags, or NULL. */
const struct ped_setting *ped_service_role(const struct ped_service *svc, unsigned flag);
/* Seconds as the setting holds them. */
long ped_service_int(struct ped_service *svc, const char *setting);
const char *ped_service_str(struct ped_service *svc, const char *setting);

/* A setting's path, else file in the runtime directory (data: rel in the
 * data directory, whose directory is made and checked with forbid). There
 * is no fallback: a fixed /tmp name belongs to whoever made it first. */
int ped_service_runtime_path(struct ped_service *svc, const char *setting, const char *file, char *out,
			     size_t len);
int ped_service_data_path(struct ped_service *svc, const char *setting, const char *rel, mode_t forbid,
			  char *out, size_t len);

/* What every background process takes from the settings; PED_E_FILE (said)
 * when the PID file has no private directory. */
int ped_service_daemon_conf(struct ped_service *svc, struct ped_daemon_conf *d);

/* "Ped Server launched in startup mode." where the program narrates. */
void ped_service_announce(struct ped_service *svc, const char *mode);
/* -mode start up to the fork: the log checked, the background process
 * started and waited for. In the parent the exit status (0 once the child
 * serves; serving, if given, is said in the success line); in the
 * background process (or with -foreground) -1, with the log open. */
int ped_service_start(struct ped_service *svc, const struct ped_daemon_conf *d, const char *serving);
/* -mode stop: SIGTERM to the PID file's process, SIGKILL after the stop
 * timeout. PED_OK (stopped), PED_E_NOT_FOUND (was not running) or the
 * error, each said; the exit status is 0 for the first two. */
int ped_service_stop(struct ped_service *svc);
/* -mode config: -set stores the settings given (options or "Setting value"
 * pairs) in the file, -show prints every setting. The exit status. */
int ped_service_config(struct ped_service *svc);
/* The running daemon's admin port: -admin, else the one it published in the
 * runtime directory, else AdminPort. PED_E_NOT_FOUND if none is known. */
int ped_service_admin_port(struct ped_service *svc, uint16_t *port);
/* Sends line to the running daemon's admin port; its answer in out.
 * PED_E_SOCKET (RC_SOCKET_ERROR) when nothing listens. */
int ped_service_query(struct ped_service *svc, const char *line, char *out, size_t cap);

#endif
