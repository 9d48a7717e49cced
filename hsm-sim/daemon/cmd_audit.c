/* audit config | export | import | logmsg | status | time | verify: the
 * Auditor's commands, on the admin partition's slot (docs/audit.md). */
#include "audit.h"
#include "command.h"

#include "hsm/result.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const struct {
	const char *name;
	uint32_t s;
} intervals[] = {{"never", 0}, {"hourly", AUDIT_HOURLY}, {"daily", AUDIT_DAILY}, {"weekly", AUDIT_WEEKLY},
		 {"monthly", AUDIT_MONTHLY}};

static const char *interval_name(uint32_t s)
{
	for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++)
		if (intervals[i].s == s)
			return intervals[i].name;
	return "?";
}

/* 0, or N, Nk, Nm bytes: at least 16k, at most 4g (the reference's range
 * is its appliance's disk; ours the files pedclient writes) */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || s[0] == '-')
		return PED_E_ARGUMENTS_BAD;
	if (*end == 'k' || *end == 'K')
		v *= 1024, end++;
	else if (*end == 'm' || *end == 'M')
		v *= 1024 * 1024, end++;
	if (*end || (v && v < 16384) || v > (4ull << 30))
		return PED_E_ARGUMENTS_BAD;
	*out = v;
	return PED_OK;
}

static void show_config(struct cmd_ctx *c, const struct audit_status *st)
{
	char mask[160];
	hsm_audit_evmask_format(st->cfg.evmask, mask, sizeof(mask));
	cmd_out(c, "Current Logging Configuration");
	cmd_out(c, "-----------------------------");
	cmd_out(c, "event mask        : %s", mask);
	cmd_out(c, "rotation interval : %s", interval_name(st->cfg.interval));
	if (st->cfg.size)
		cmd_out(c, "rotation size     : %llu bytes", (unsigned long long)st->cfg.size);
	else
		cmd_out(c, "rotation size     : none");
	cmd_out(c, "path to log       : %s", st->cfg.dir[0] ? st->cfg.dir : "(pedclient's log directory)");
}

static int audit_config(struct cmd_ctx *c, struct sim_hsm *hs, int argc, char **argv)
{
	struct ped_opt o[] = {{.name = "get", .aliases = "g", .kind = PED_OPT_FLAG, .help = "show the configuration"},
			      {.name = "path", .aliases = "p", .kind = PED_OPT_STRING, .help = "where pedclient writes the log"},
			      {.name = "evmask", .aliases = "e", .kind = PED_OPT_STRING, .help = "events to log (a,m,k,u,r,x,g,s,f,l,n)"},
			      {.name = "interval", .aliases = "i", .kind = PED_OPT_STRING, .help = "rotation: hourly daily weekly monthly never"},
			      {.name = "size", .aliases = "s", .kind = PED_OPT_STRING, .help = "rotation size: N, Nk, Nm (0: none)"},
			      {.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no confirmation"},
			      {.name = NULL}};
	struct audit_status st;
	struct audit_config cfg;
	int r, change = 0;

	if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
		return r == 1 ? PED_OK : r;
	audit_get(hs, &st);
	cfg = st.cfg;
	if (ped_opts_seen(o, "evmask")) {
		if (hsm_audit_evmask_parse(ped_opts_str(o, "evmask", ""), &cfg.evmask) != PED_OK) {
			cmd_out(c, "Error: evmask is a comma-separated list of classes (access, manage, keymanage, usage, "
				   "first, external, logmanage, or their letters a m k u r x g) with s (success) and/or f "
				   "(failure); or all, or none");
			return PED_E_ARGUMENTS_BAD;
		}
		change = 1;
	}
	if (ped_opts_seen(o, "interval")) {
		const char *v = ped_opts_str(o, "interval", "");
		size_t i;
		for (i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++)
			if (!strcasecmp(v, intervals[i].name))
				break;
		if (i == sizeof(intervals) / sizeof(intervals[0])) {
			cmd_out(c, "Error: interval is hourly, daily, weekly, monthly or never");
			return PED_E_ARGUMENTS_BAD;
		}
		cfg.interval = intervals[i].s;
		change = 1;
	}
	if (ped_opts_seen(o, "size")) {
		if (parse_size(ped_opts_str(o, "size", ""), &cfg.size) != PED_OK) {
			cmd_out(c, "Error: size is 0 (none) or N, Nk, Nm bytes from 16k to 4096m");
			return PED_E_ARGUMENTS_BAD;
		}
		change = 1;
	}
	if (ped_opts_seen(o, "path")) {
		const char *p = ped_opts_str(o, "path", "");
		size_t n = strlen(p);
		/* a directory for pedclient to write to: printable, bounded, absolute */
		if (n == 0 || n > AUDIT_DIR_MAX || p[0] != '/' || strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
									   "qrstuvwxyz0123456789/._-+") != n) {
			cmd_out(c, "Error: path is an absolute directory of at most %d characters (letters, digits, / . _ - +)",
				AUDIT_DIR_MAX);
			return PED_E_ARGUMENTS_BAD;
		}
		snprintf(cfg.dir, sizeof(cfg.dir), "%s", p);
		change = 1;
	}
	if (change) {
		if (cfg.evmask == HSM_AUDIT_EV_ALL && !(st.cfg.evmask == HSM_AUDIT_EV_ALL))
			cmd_out(c, "Warning: logging every event, key usage included, makes a record per operation.");
		if ((r = audit_configure(hs, &cfg)) != PED_OK)
			return r;
		audit_get(hs, &st);
	}
	if (!change || ped_opts_seen(o, "get"))
		show_config(c, &st);
	return PED_OK;
}

static int audit_status(struct cmd_ctx *c, struct sim_hsm *hs)
{
	struct audit_status st;
	audit_get(hs, &st);
	cmd_out(c, "HSM Logging Status : %s", !st.secret_set ? "no Auditor (no log secret)"
					   : st.full ? "FULL: audited work is refused until pedclient takes the records"
					   : (st.cfg.evmask & ((1u << HSM_AUDIT_NCLASSES) - 1)) ? "OK"
											      : "off (evmask none)");
	cmd_out(c, "Records written    : %llu", (unsigned long long)(st.next_seq - 1));
	cmd_out(c, "Delivered          : up to record %llu", (unsigned long long)st.delivered);
	cmd_out(c, "Waiting for pedclient : %llu record(s), %llu of %llu bytes", (unsigned long long)st.spooled,
		(unsigned long long)st.spool_bytes, (unsigned long long)st.spool_max);
	cmd_out(c, "pedclient          : %s", st.connected ? "connected" : "not connected");
	if (!st.connected && st.refused[0])
		cmd_out(c, "Last delivery      : %s", st.refused);
	return PED_OK;
}

static int audit_time_cmd(struct cmd_ctx *c, struct sim_hsm *hs, int argc, char **argv)
{
	char when[64];
	struct tm tm;
	time_t t;
	int r;
	if (argc < 3 || (strcasecmp(argv[2], "get") && strcasecmp(argv[2], "sync"))) {
		cmd_out(c, "Usage: audit time get|sync");
		return PED_E_ARGUMENTS_BAD;
	}
	if (!strcasecmp(argv[2], "sync")) {
		if ((r = audit_time_sync(hs)) != PED_OK)
			return r;
		cmd_out(c, "The HSM's time was synchronized to the host's.");
	}
	t = (time_t)audit_time(hs);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%a %b %d %H:%M:%S %Y UTC", &tm);
	cmd_out(c, "HSM time is: %s", when);
	return PED_OK;
}

static int audit_logmsg(struct cmd_ctx *c, struct sim_hsm *hs, int argc, char **argv)
{
	struct ped_opt o[] = {{.name = "message", .aliases = "m msg", .kind = PED_OPT_STRING, .help = "the text"},
			      {.name = NULL}};
	int r;
	if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
		return r == 1 ? PED_OK : r;
	if (!ped_opts_seen(o, "message")) {
		cmd_out(c, "Usage: audit logmsg -message TEXT");
		return PED_E_ARGUMENTS_BAD;
	}
	if (!audit_on(hs)) {
		cmd_out(c, "Error: the log is off (audit config evmask)");
		return PED_E_ACTION_PROHIBITED;
	}
	/* an operator's message is always written: it is what they asked for */
	return audit_event(hs, HSM_AUDIT_EXTERNAL, PED_OK, "au", -1, 0, "audit logmsg", "%s",
			   ped_opts_str(o, "message", ""));
}

static int audit_verify_cmd(struct cmd_ctx *c, struct sim_hsm *hs, int argc, char **argv)
{
	struct ped_opt o[] = {{.name = "file", .aliases = "f", .kind = PED_OPT_STRING, .help = "a log file, or a directory of them"},
			      {.name = "external", .aliases = "ex", .kind = PED_OPT_FLAG, .help = "with the imported log secret"},
			      {.name = NULL}};
	int r;
	if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
		return r == 1 ? PED_OK : r;
	if (!ped_opts_seen(o, "file")) {
		cmd_out(c, "Usage: audit verify -file FILE [-external]");
		return PED_E_ARGUMENTS_BAD;
	}
	return audit_verify(hs, ped_opts_str(o, "file", ""), ped_opts_seen(o, "external"), c->who.out);
}

/* The password that wraps the exported secret: given, or asked twice. */
static int wrap_password(struct cmd_ctx *c, struct ped_opt *o, int twice, char *pw, size_t size)
{
	char again[128] = "";
	int r = PED_OK;
	if (ped_opts_seen(o, "password")) {
		snprintf(pw, size, "%s", ped_opts_str(o, "password", ""));
	} else if (!cmd_can_ask(c)) {
		cmd_out(c, "Option -password was not supplied.  It is required.");
		return PED_E_ARGUMENTS_BAD;
	} else if ((r = cmd_ask(c, "Enter the log secret's password:", 1, pw, size)) == PED_OK && twice &&
		   (r = cmd_ask(c, "Re-enter the password:", 1, again, sizeof(again))) == PED_OK && strcmp(pw, again)) {
		cmd_out(c, "Error: the two entries differ.");
		r = PED_E_ARGUMENTS_BAD;
	}
	OPENSSL_cleanse(again, sizeof(again));
	if (r == PED_OK && strlen(pw) < 8) {
		cmd_out(c, "Error: the password wraps the log secret: at least 8 characters.");
		r = PED_E_ARGUMENTS_BAD;
	}
	return r;
}

static int audit_export_import(struct cmd_ctx *c, struct sim_hsm **hsp, int argc, char **argv, int import)
{
	struct ped_opt o[] = {{.name = "file", .aliases = "f", .kind = PED_OPT_STRING, .help = "the wrapped log secret's file"},
			      {.name = "password", .aliases = "pwd p", .kind = PED_OPT_STRING, .help = "what wraps it"},
			      {.name = NULL}};
	char pw[128] = "", path[1024], why[200] = "", serial[HSM_AUDIT_SERIAL_MAX + 1] = "";
	uint8_t *data = NULL;
	size_t len = 0;
	struct hsm_partition *p;
	int r, pi;

	if ((r = cmd_parse(c, o, argc, argv, 2)) != PED_OK)
		return r == 1 ? PED_OK : r;
	if (import && !ped_opts_seen(o, "file")) {
		cmd_out(c, "Usage: audit import -file FILE [-password P]");
		return PED_E_ARGUMENTS_BAD;
	}
	if (ped_opts_seen(o, "file"))
		snprintf(path, sizeof(path), "%s", ped_opts_str(o, "file", ""));
	else
		snprintf(path, sizeof(path), "LogSecret_%s.lws", (*hsp)->h.serial);
	if ((r = wrap_password(c, o, !import, pw, sizeof(pw))) != PED_OK)
		goto out;
	/* asking gave the locks back: the slot is looked up again */
	if (!(*hsp = cmd_current(c, &p, &pi)) || p) {
		r = PED_E_TOKEN_NOT_PRESENT;
		goto out;
	}
	if (import) {
		if ((r = sim_file_get(c->who.out, path, HSM_AUDIT_LWS_MAX, &data, &len, why, sizeof(why))) != PED_OK) {
			cmd_out(c, "Error: cannot read %s: %s", path, why);
			goto out;
		}
		if ((r = audit_import(*hsp, data, len, pw, serial)) != PED_OK) {
			cmd_out(c, "Error: %s is not a log secret this password opens.", path);
			goto out;
		}
		cmd_out(c, "Successfully imported the log secret of HSM %s from '%s'.", serial, path);
		cmd_out(c, "Verify its logs with: audit verify -file FILE -external");
	} else {
		if ((r = audit_export(*hsp, pw, &data, &len)) != PED_OK) {
			cmd_out(c, "Error: no log secret to export (role init -name au)");
			goto out;
		}
		if ((r = sim_file_put(c->who.out, path, data, len, why, sizeof(why))) != PED_OK) {
			cmd_out(c, "Error: cannot write %s: %s", path, why);
			goto out;
		}
		cmd_out(c, "Successfully exported wrapped log secret to file '%s'.", path);
	}
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	if (data)
		OPENSSL_clear_free(data, len);
	return r;
}

static int cmd_audit(struct cmd_ctx *c, int argc, char **argv)
{
	struct hsm_partition *p;
	struct sim_hsm *hs;
	int pi, r;

	if (argc < 2) {
		cmd_out(c, "Usage: audit config|export|import|logmsg|status|time|verify");
		return PED_E_ARGUMENTS_BAD;
	}
	if (!(hs = cmd_current(c, &p, &pi)))
		return PED_E_TOKEN_NOT_PRESENT;
	if (p) {
		cmd_out(c, "Error: the audit commands belong to the admin partition's slot");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = auth_need(&c->who, sim_login(c->who.logins, hs), HSM_ROLE_AU, 0, "Auditor (role login -name au)")) !=
	    PED_OK)
		return r;
	const char *verb = argv[1];
	if (!strcasecmp(verb, "config"))
		return audit_config(c, hs, argc, argv);
	if (!strcasecmp(verb, "status"))
		return audit_status(c, hs);
	if (!strcasecmp(verb, "time"))
		return audit_time_cmd(c, hs, argc, argv);
	if (!strcasecmp(verb, "logmsg"))
		return audit_logmsg(c, hs, argc, argv);
	if (!strcasecmp(verb, "verify"))
		return audit_verify_cmd(c, hs, argc, argv);
	if (!strcasecmp(verb, "export") || !strcasecmp(verb, "import"))
		return audit_export_import(c, &hs, argc, argv, !strcasecmp(verb, "import"));
	cmd_out(c, "Error: unknown audit command '%s'", verb);
	return PED_E_ARGUMENTS_BAD;
}

SIM_COMMAND_VERBS(audit, "audit", NULL, NULL, 7, cmd_audit, "config export import logmsg status time verify")
