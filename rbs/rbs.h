/* rbs, the Remote Backup Service: what its files share. Its folder (-dir,
 * else DATA/rbs, DATA being $XDG_DATA_HOME/openped as for hsm-sim's state)
 * holds
 *
 *   server/server.pem   the RBS host's certificate, which clients register
 *                       (vtl addServer -n HOST -c server.pem)
 *   server/server.key   its P-521 key, PKCS#8 encrypted under the RBS password
 *   clients/NAME.pem    the registered clients (rbs --register)
 *   rbs.conf            the Backup HSMs served, by serial (rbs --config)
 *
 * The folder is private (0700); the key and rbs.conf are 0600, each
 * written atomically. */
#ifndef RBS_H
#define RBS_H

#include "hsm/control.h"

#include <stddef.h>
#include <stdint.h>

/* The port rbs listens on when none is named: the reference's RBS port. */
#define RBS_DEFAULT_PORT 1792
/* rbs.conf is small: more is not one */
#define RBS_CONF_MAX 4096
/* an RBS password: 8 to RBS_PASSWORD_MAX bytes, no NUL nor newline */
#define RBS_PASSWORD_MIN 8
#define RBS_PASSWORD_MAX 255

struct rbs_paths {
	char dir[1024];
	char server_dir[1100], cert[1200], key[1200];
	char clients[1200];
	char conf[1200];
};

void rbs_paths(const char *dir, struct rbs_paths *p);

/* rbs.conf: comment lines ('#') and blank lines, and one line per Backup
 * HSM served, "backup SERIAL" (1-16 digits, each once, 16 at most).
 * Parses text (len bytes, bounded by RBS_CONF_MAX) into out: PED_OK, or
 * PED_E_CONFIG with err naming the line. */
int rbs_conf_parse(const char *text, size_t len, struct hsm_ctl_restrict *out, char *err, size_t errlen);
/* The file's text for served (into out, size bytes): PED_OK, PED_E_RANGE
 * when it does not fit, PED_E_INVALID for a serial that is not one. */
int rbs_conf_format(const struct hsm_ctl_restrict *served, char *out, size_t size, size_t *len);
/* Loads path (a missing file serves nothing) / saves it, 0600, atomically. */
int rbs_conf_load(const char *path, struct hsm_ctl_restrict *out, char *err, size_t errlen);
int rbs_conf_save(const char *path, const struct hsm_ctl_restrict *served, char *err, size_t errlen);

/* A Backup HSM as hsm-sim's slot list shows it. */
struct rbs_backup {
	int slot;
	char serial[HSM_CTL_SERIAL_MAX + 1];
	char label[64];
};
#define RBS_BACKUPS_MAX 64
/* The Backup HSMs in the output of slot list (the lines hsm-sim prints,
 * one at a time): a slot is one when its Slot Description is "Backup
 * Device". */
struct rbs_slot_scan {
	struct rbs_backup cur;
	int cur_backup, have;
	size_t n;
	struct rbs_backup b[RBS_BACKUPS_MAX];
};
void rbs_scan_line(struct rbs_slot_scan *s, const char *line);
void rbs_scan_end(struct rbs_slot_scan *s);

/* The RBS password: from file (ours, 0600 or stricter), from fd, or
 * asked (twice when confirm) on the terminal without echo; from standard
 * input, a line each, when that is not a terminal. PED_OK, or an error
 * with err for people. */
int rbs_password(const char *file, int fd, int confirm, char *out, size_t size, size_t *len, char *err,
		 size_t errlen);

/* The daemon (daemon.c). */
struct rbs_daemon_conf {
	const struct rbs_paths *paths;
	const char *hsm_socket;
	const char *address; /* NULL: every interface */
	int port;            /* 0: any free port, logged */
	int foreground;
	const char *pidfile, *logfile;
	int handshake_timeout_ms;
	int idle_timeout_ms; /* a session with no traffic either way ends (0: never) */
	int verbose;
};
/* Unlocks the key with pass (wiped then), then serves until SIGTERM; the
 * exit status. */
int rbs_daemon(const struct rbs_daemon_conf *dc, char *pass, size_t passlen);

#endif
