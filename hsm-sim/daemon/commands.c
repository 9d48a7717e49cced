/* The command table and what every command family shares (command.h). */
#include "command.h"

#include "audit.h"

#include "hsm/control.h"
#include "hsm/result.h"
#include "ped/error.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_COMMANDS 16

static const struct sim_command *commands[MAX_COMMANDS];
static size_t command_count;

void sim_command_register(const struct sim_command *cmd)
{
	if (command_count < MAX_COMMANDS)
		commands[command_count++] = cmd;
}

/* A word made for the command, among its words (NULL when they are full). */
__attribute__((format(printf, 2, 3))) static char *keep(struct cmd_ctx *c, const char *fmt, ...)
{
	size_t room = sizeof(c->words) - c->words_used;
	char *w = c->words + c->words_used;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(w, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		OPENSSL_cleanse(w, room);
		return NULL;
	}
	c->words_used += (size_t)n + 1;
	return w;
}

/* Whether word is one of the space-separated words of list (prefix: a
 * prefix of one); with out, which one. */
static int in_list(const char *list, const char *word, int prefix, const char **out, size_t *outlen)
{
	size_t wl = strlen(word);
	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, " ");
		if (n && (prefix ? wl && wl < n : wl == n) && !strncasecmp(p, word, wl)) {
			if (out) {
				*out = p;
				*outlen = n;
			}
			return 1;
		}
		p += n;
		p += strspn(p, " ");
	}
	return 0;
}

/* argv[i] made whole: an exact word of list stays, a unique prefix becomes
 * its word, an ambiguous one is an error (-1, told). */
static int whole_word(struct cmd_ctx *c, char **argv, int i, const char *list)
{
	const char *hit = NULL, *p;
	size_t hitlen = 0, n, matches = 0;
	char word[64];

	if (!list || in_list(list, argv[i], 0, NULL, NULL))
		return 0;
	for (p = list; *p;) {
		const char *one;
		size_t onelen;
		n = strcspn(p, " ");
		char w[64];
		snprintf(w, sizeof(w), "%.*s", (int)n, p);
		if (in_list(w, argv[i], 1, &one, &onelen)) {
			hit = p;
			hitlen = n;
			matches++;
		}
		p += n;
		p += strspn(p, " ");
	}
	if (matches == 1) {
		snprintf(word, sizeof(word), "%.*s", (int)hitlen, hit);
		char *w = keep(c, "%s", word);
		if (w)
			argv[i] = w;
	} else if (matches > 1) {
		cmd_out(c, "Error: '%s' is ambiguous (%s)", argv[i], list);
		return -1;
	}
	return 0;
}

static int named(const struct sim_command *cmd, const char *word)
{
	return !strcasecmp(word, cmd->name) || (cmd->alias && !strcasecmp(word, cmd->alias));
}

/* The command argv names, its words made whole; NULL and *err set when a
 * word is ambiguous (told), NULL alone when there is no such command. */
static const struct sim_command *lookup(struct cmd_ctx *c, int argc, char **argv, int *err)
{
	const struct sim_command *family = NULL, *hit = NULL;
	char verbs[512] = "";
	size_t used = 0, n = 0;

	*err = 0;
	/* the command's name: exact, or a unique prefix of one name */
	for (size_t i = 0; i < command_count && !hit; i++)
		if (named(commands[i], argv[0]))
			hit = commands[i];
	if (!hit) {
		for (size_t i = 0; i < command_count; i++) {
			const struct sim_command *cmd = commands[i];
			if (cmd->verb || strncasecmp(cmd->name, argv[0], strlen(argv[0])))
				continue;
			hit = cmd;
			n++;
		}
		if (n > 1) {
			cmd_out(c, "Error: '%s' is ambiguous", argv[0]);
			*err = 1;
			return NULL;
		}
		if (!hit)
			return NULL;
		char *whole = keep(c, "%s", hit->name);
		if (whole)
			argv[0] = whole;
	}
	/* the family's verbs, its own and its verb commands' */
	for (size_t i = 0; i < command_count; i++) {
		const struct sim_command *cmd = commands[i];
		if (!named(cmd, argv[0]) && strcasecmp(cmd->name, hit->name))
			continue;
		if (!cmd->verb)
			family = cmd;
		const char *add = cmd->verb ? cmd->verb : cmd->verbs;
		if (add && used < sizeof(verbs))
			used += (size_t)snprintf(verbs + used, sizeof(verbs) - used, "%s%s", used ? " " : "", add);
	}
	if (argc >= 2 && whole_word(c, argv, 1, verbs) < 0) {
		*err = 1;
		return NULL;
	}
	for (size_t i = 0; i < command_count; i++) {
		const struct sim_command *cmd = commands[i];
		if (cmd->verb && !strcasecmp(cmd->name, hit->name) && argc >= 2 && !strcasecmp(argv[1], cmd->verb)) {
			if (argc >= 3 && whole_word(c, argv, 2, cmd->verbs) < 0) {
				*err = 1;
				return NULL;
			}
			return cmd;
		}
	}
	return family;
}

static void unknown(struct cmd_ctx *c, const char *word)
{
	const struct sim_command *by_rank[MAX_COMMANDS];
	char names[256] = "";
	size_t n = 0, used = 0;

	for (size_t i = 0; i < command_count; i++)
		if (!commands[i]->verb)
			by_rank[n++] = commands[i];
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && by_rank[j]->rank < by_rank[j - 1]->rank; j--) {
			const struct sim_command *t = by_rank[j];
			by_rank[j] = by_rank[j - 1];
			by_rank[j - 1] = t;
		}
	for (size_t i = 0; i < n && used < sizeof(names); i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "", by_rank[i]->name);
	cmd_out(c, "Error: unknown command '%s' (%s)", word, names);
}

/* What a command printed: whether it said why it failed. */
struct watch {
	const struct sim_out *inner;
	int errors;
};

static void watch_line(void *arg, const char *text)
{
	struct watch *w = arg;
	if (!strncmp(text, "Error", 5))
		w->errors++;
	if (w->inner && w->inner->line)
		w->inner->line(w->inner->arg, text);
}

static int watch_ask(void *arg, const char *prompt, int secret, char *answer, size_t size)
{
	struct watch *w = arg;
	return w->inner->ask(w->inner->arg, prompt, secret, answer, size);
}

static int watch_get(void *arg, const char *path, size_t max, uint8_t **data, size_t *len, char *why, size_t whylen)
{
	struct watch *w = arg;
	return sim_file_get(w->inner, path, max, data, len, why, whylen);
}

static int watch_put(void *arg, const char *path, const void *data, size_t len, char *why, size_t whylen)
{
	struct watch *w = arg;
	return sim_file_put(w->inner, path, data, len, why, whylen);
}

static int watch_peer_put(void *arg, const uint8_t *msg, size_t len)
{
	struct watch *w = arg;
	return sim_peer_put(w->inner, msg, len);
}

static int watch_peer_get(void *arg, int timeout_ms, uint8_t **msg, size_t *len)
{
	struct watch *w = arg;
	return sim_peer_get(w->inner, timeout_ms, msg, len);
}


/* ---- the Auditor and the log ---------------------------------------------- */

static int word_is(int argc, char **argv, int i, const char *w)
{
	return argc > i && !strcasecmp(argv[i], w);
}

/* What a session logged in as the Auditor may run (the reference's
 * restriction): the audit commands, hsm showinfo, the ped commands but ped
 * vector, its own role's login, logout and changepw; slot list and set,
 * which touch no HSM. */
static int auditor_allowed(int argc, char **argv)
{
	if (word_is(argc, argv, 0, "audit") || word_is(argc, argv, 0, "slot"))
		return 1;
	if (word_is(argc, argv, 0, "hsm"))
		return word_is(argc, argv, 1, "showinfo");
	if (word_is(argc, argv, 0, "ped"))
		return !word_is(argc, argv, 1, "vector");
	if (word_is(argc, argv, 0, "role")) {
		if (word_is(argc, argv, 1, "login") || word_is(argc, argv, 1, "logout"))
			return 1;
		/* role init -name au reaches its own refusal ("log out first") */
		for (int i = 2; (word_is(argc, argv, 1, "changepw") || word_is(argc, argv, 1, "init")) && i < argc; i++)
			if (!strcasecmp(argv[i], "au") || !strcasecmp(argv[i], "auditor") || !strcasecmp(argv[i], "audit"))
				return 1;
	}
	return 0;
}

/* What a network client may run: as the reference's NTLS clients, it works
 * with application partitions (and a backup HSM named by -slot); the HSM's
 * administration (hsm, audit, ped vector, anything on an admin slot: an HSM
 * zeroize needs no login) stays on the HSM's own host. */
static int network_allowed(struct cmd_ctx *c, int argc, char **argv)
{
	struct sim_hsm *hs;
	int at = 0, slot = 0;
	if (word_is(argc, argv, 0, "slot"))
		return 1;
	/* a Backup HSM this hsm-sim serves, named by -slot: the archive
	 * commands and its Remote PED (a backup relayed by hsmcm, as RBS serves one) */
	if ((word_is(argc, argv, 0, "partition") || word_is(argc, argv, 0, "par") || word_is(argc, argv, 0, "ped")) &&
	    hsm_ctl_slot_option(argc, argv, &at, &slot) && (hs = sim_hsm_of_slot(c->sim, slot)) != NULL &&
	    hs->h.is_backup && slot == hs->base_slot && !(word_is(argc, argv, 1, "vector")))
		return word_is(argc, argv, 0, "ped") || (argc > 1 && !strncasecmp(argv[1], "archive", strlen(argv[1])) &&
							  strlen(argv[1]) >= 2);
	if (word_is(argc, argv, 0, "hsm"))
		return word_is(argc, argv, 1, "showinfo");
	if (word_is(argc, argv, 0, "audit") || (word_is(argc, argv, 0, "ped") && word_is(argc, argv, 1, "vector")))
		return 0;
	hs = sim_hsm_of_slot(c->sim, *c->slot);
	return hs && *c->slot != hs->base_slot;
}

int cmd_hsm_served(const struct cmd_ctx *c, const struct sim_hsm *hs)
{
	/* a serial never changes once the HSM is added: no lock */
	return hs && (!c->served || hsm_ctl_restrict_has(c->served, hs->h.serial));
}

/* What a session narrowed to some HSMs (rbs serving its Backup HSMs) may
 * run: what a remote backup needs and no more. slot list and slot set
 * (which show and take served HSMs only), hsm showinfo and the partition
 * archive commands on the current slot's HSM, which is a served one
 * (archive's -slot is checked by the command). The HSM's other
 * administration stays with its own host. A command of the cloning
 * protocol's backup half belongs here too. */
static const struct served_command {
	const char *name, *verb; /* verb NULL: any */
} served_commands[] = {{"slot", NULL}, {"hsm", "showinfo"}, {"partition", "archive"}};

/* cmd is what lookup found (its name whole, whatever alias was typed);
 * argv[1] is the verb made whole. */
static int served_allowed(struct cmd_ctx *c, const struct sim_command *cmd, int argc, char **argv)
{
	const struct served_command *hit = NULL;
	for (size_t i = 0; i < sizeof(served_commands) / sizeof(served_commands[0]) && !hit; i++) {
		const struct served_command *sc = &served_commands[i];
		if (strcasecmp(cmd->name, sc->name))
			continue;
		if (!sc->verb || (cmd->verb ? !strcasecmp(cmd->verb, sc->verb) : word_is(argc, argv, 1, sc->verb)))
			hit = sc;
	}
	if (!hit)
		return 0;
	/* slot list and set touch no HSM; the rest works on the current slot's */
	return !strcasecmp(hit->name, "slot") || cmd_hsm_served(c, sim_hsm_of_slot(c->sim, *c->slot));
}

/* The Auditor's own login and logout run on a full log: someone has to be
 * able to look at it (their records cannot be kept then: hsm-sim's log
 * says so). */
static int auditor_login(int argc, char **argv)
{
	const char *name = NULL;
	const struct role_info *ri;
	if (!word_is(argc, argv, 0, "role") || !(word_is(argc, argv, 1, "login") || word_is(argc, argv, 1, "logout")))
		return 0;
	for (int i = 2; i + 1 < argc; i++)
		if (!strcasecmp(argv[i] + (argv[i][0] == '-'), "name"))
			name = argv[i + 1];
	return name && (ri = auth_role(name)) && ri->role == HSM_ROLE_AU;
}

/* Commands that change nothing make no record (and run when the log is
 * full); the audit commands record their own events. */
static int read_only(int argc, char **argv)
{
	static const char *const verbs[] = {"showinfo", "showpolicies", "contents", "list", "get", "show"};
	if (word_is(argc, argv, 0, "slot") || word_is(argc, argv, 0, "application") || word_is(argc, argv, 0, "audit"))
		return 1;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (word_is(argc, argv, 1, verbs[i]) ||
		    (word_is(argc, argv, 1, "archive") && word_is(argc, argv, 2, verbs[i])))
			return 1;
	return 0;
}

static const char *option_value(int argc, char **argv, const char *name)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcasecmp(argv[i] + (argv[i][0] == '-'), name))
			return argv[i + 1];
	return NULL;
}

/* Who did it: the role a role command names, else the session's login on
 * the slot (under hs's lock). */
static const char *who_of(struct cmd_ctx *c, struct sim_hsm *hs, int argc, char **argv)
{
	struct hsm_partition *p = NULL;
	const struct role_info *ri;
	const char *name;
	int pi = 0;
	if (word_is(argc, argv, 0, "role") && (name = option_value(argc, argv, "name")) && (ri = auth_role(name)))
		return ri->name;
	if (!sim_slot_resolve(hs, *c->slot, &p, &pi))
		return "-";
	struct sim_login *lg = sim_login(c->who.logins, hs);
	if (!p)
		return lg->so ? "so" : lg->au ? "au" : "-";
	/* the HSM SO works on a partition's slot too (partition init) */
	return lg->po[pi] ? "po" : lg->co[pi] ? "co" : lg->cu[pi] ? "cu" : lg->so ? "so" : "-";
}

/* The record of a command that ran: its family and verb, the options that
 * name what it acted on (never a secret: no password, challenge or PIN). */
static void record_command(struct cmd_ctx *c, struct sim_hsm *hs, int argc, char **argv, int r, const char *before)
{
	static const char *const named[] = {"name", "label", "partition", "slot", "objects", "policy", "value"};
	char event[HSM_AUDIT_EVENT_MAX + 1], msg[HSM_AUDIT_MSG_MAX + 1];
	size_t used = 0;
	int verbs = word_is(argc, argv, 1, "archive") ? 3 : 2;
	unsigned cls = HSM_AUDIT_MANAGE;

	if (word_is(argc, argv, 0, "role") &&
	    (word_is(argc, argv, 1, "login") || word_is(argc, argv, 1, "logout") || word_is(argc, argv, 1, "deactivate")))
		cls = HSM_AUDIT_ACCESS;
	else if (word_is(argc, argv, 0, "object"))
		cls = HSM_AUDIT_KEYMANAGE;
	snprintf(event, sizeof(event), "%s%s%s%s%s", argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "",
		 verbs == 3 && argc > 2 ? " " : "", verbs == 3 && argc > 2 ? argv[2] : "");
	/* object create's -value is the object itself, for the HSM's eyes only
	 * (hsmcm keeps it out of its history): the log, read by the Auditor and
	 * kept on pedclient's host, names the object by its label. A policy's
	 * -value is recorded. A command may be a prefix ("obj create"). */
	size_t l0 = strlen(argv[0]);
	int object = l0 >= 1 && !strncasecmp(argv[0], "object", l0);
	msg[0] = 0;
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (object && !strcmp(named[i], "value"))
			continue;
		const char *v = option_value(argc, argv, named[i]);
		if (v && used < sizeof(msg))
			used += (size_t)snprintf(msg + used, sizeof(msg) - used, "%s-%s %s", used ? " " : "", named[i], v);
	}
	sim_hold(&c->hold, hs, NULL);
	const char *who = who_of(c, hs, argc, argv);
	/* a logout leaves no login behind: who it was comes from before */
	audit_event(hs, cls, r, strcmp(who, "-") ? who : before, *c->slot, 0, event, "%s", msg[0] ? msg : "-");
}

int cmd_run(struct cmd_ctx *c, const char *line)
{
	char buf[CMD_LINE_MAX + 1];
	char **argv = c->argv;
	int argc, r = PED_OK, bad = 0;
	struct watch w = {c->who.out, 0};
	int peer = c->who.out && c->who.out->peer_put && c->who.out->peer_get;
	struct sim_out watched = {watch_line, &w, c->who.out && c->who.out->ask ? watch_ask : NULL, watch_get, watch_put,
				  peer ? watch_peer_put : NULL, peer ? watch_peer_get : NULL};

	c->who.out = &watched;
	sim_hold_init(&c->hold, c->sim);
	snprintf(buf, sizeof(buf), "%s", line);
	c->words_used = 0;
	argc = hsm_ctl_split_words(buf, argv, CMD_MAX_ARGS);
	if (argc < 0) {
		cmd_out(c, "Error: too many words");
		r = PED_E_ARGUMENTS_BAD;
	} else if (argc > 0 && c->network && !network_allowed(c, argc, argv)) {
		cmd_out(c, "Error: a network client administers application partitions only (slot set -slot N "
			   "first); the HSM's administration is on its own host");
		r = PED_E_ACTION_PROHIBITED;
	} else if (argc > 0) {
		const struct sim_command *cmd = lookup(c, argc, argv, &bad);
		if (cmd && c->served && !served_allowed(c, cmd, argc, argv)) {
			cmd_out(c, "Error: this session reaches only the Backup HSMs the Remote Backup Service serves "
				   "(slot list, slot set, hsm showinfo, partition archive)");
			r = PED_E_ACTION_PROHIBITED;
			cmd = NULL;
		}
		struct sim_hsm *hs = cmd && !word_is(argc, argv, 0, "slot") ? sim_hsm_of_slot(c->sim, *c->slot) : NULL;
		int ro = cmd ? read_only(argc, argv) : 1, au_set = 0;
		const char *before = "-";
		if (hs) {
			/* the Auditor's restriction, and a full log, before anything runs */
			sim_hold(&c->hold, hs, NULL);
			au_set = hs->h.au.cred.set;
			before = who_of(c, hs, 1, argv);
			if (sim_login(c->who.logins, hs)->au && !auditor_allowed(argc, argv)) {
				cmd_out(c, "Error: the Auditor may run only the audit commands, hsm showinfo and the ped "
					   "commands but ped vector (role logout first)");
				r = PED_E_ACTION_PROHIBITED;
				cmd = NULL;
				sim_hold_drop(&c->hold);
				record_command(c, hs, argc, argv, r, before);
			} else if (!ro && audit_full(hs) && !auditor_login(argc, argv)) {
				cmd_out(c, "Error: the HSM's audit log is full: nothing that is logged runs until pedclient "
					   "takes the records (audit status)");
				r = HSM_E_DEVICE_MEMORY;
				cmd = NULL;
			}
			sim_hold_drop(&c->hold);
			if (!cmd)
				hs = NULL;
		}
		if (cmd) {
			r = cmd->run(c, argc, argv);
			if (hs) {
				if (!ro)
					record_command(c, hs, argc, argv, r, before);
				sim_hold(&c->hold, hs, NULL);
				/* a zeroization took the Auditor, and its log secret with it */
				if (au_set && !hs->h.au.cred.set)
					audit_forget(hs);
			}
		} else if (r != PED_OK) {
		} else if (bad) {
			r = PED_E_ARGUMENTS_BAD;
		} else {
			unknown(c, argv[0]);
			r = PED_E_ARGUMENTS_BAD;
		}
	}
	sim_hold_drop(&c->hold);
	OPENSSL_cleanse(buf, sizeof(buf)); /* the line may carry -password or -challenge */
	OPENSSL_cleanse(c->words, sizeof(c->words));
	OPENSSL_cleanse(c->argv, sizeof(c->argv));
	/* The result code will be the reference's (hsm_result_code): a failure
	 * the command did not explain keeps its detail in a message line. */
	if (r != PED_OK && !w.errors && !hsm_result_is_reference(r))
		cmd_out(c, "Error: %s.", hsm_result_detail(r));
	c->who.out = w.inner;
	return r;
}

/* The option word w (dashes gone) names, as ped_opts finds it: a name or
 * alias, else a unique prefix of one. */
static struct ped_opt *option_of(struct ped_opt *opts, const char *w)
{
	struct ped_opt *found = NULL;
	int n = 0;
	for (struct ped_opt *o = opts; o->name; o++)
		if (!strcasecmp(o->name, w) || in_list(o->aliases, w, 0, NULL, NULL))
			return o;
	for (struct ped_opt *o = opts; o->name; o++)
		if ((strlen(w) < strlen(o->name) && !strncasecmp(o->name, w, strlen(w))) ||
		    in_list(o->aliases, w, 1, NULL, NULL)) {
			found = o;
			n++;
		}
	return n == 1 ? found : NULL;
}

/* An option named without its dash: its exact name or alias only. */
static struct ped_opt *bare_option(struct ped_opt *opts, const char *w)
{
	for (struct ped_opt *o = opts; o->name; o++)
		if (!strcasecmp(o->name, w) || in_list(o->aliases, w, 0, NULL, NULL))
			return o;
	return NULL;
}

/* Whether o takes the word after it (argv[i + 1]) as its value. */
static int takes_value(struct ped_opt *opts, const struct ped_opt *o, int argc, char **argv, int i)
{
	if (o->kind == PED_OPT_FLAG)
		return 0;
	if (o->kind == PED_OPT_OPTIONAL)
		return i + 1 < argc && argv[i + 1][0] != '-' && !bare_option(opts, argv[i + 1]);
	return 1;
}

int cmd_parse(struct cmd_ctx *c, struct ped_opt *opts, int argc, char **argv, int first)
{
	char err[256], *w2[CMD_MAX_ARGS];
	int n = 0, joinable = -1, r;

	/* lunacm's forms rewritten into ped_opts' */
	for (int i = 0; i < argc && n < CMD_MAX_ARGS; i++) {
		char *w = argv[i];
		struct ped_opt *o;
		if (c->words_used + 2 * strlen(w) + 4 > sizeof(c->words)) {
			cmd_out(c, "Error: the command line is too long");
			OPENSSL_cleanse(w2, sizeof(w2));
			return PED_E_ARGUMENTS_BAD;
		}
		if (i < first) {
			w2[n++] = w;
			continue;
		}
		if (w[0] == '-' && w[1]) {
			w2[n++] = w;
			joinable = -1;
			o = option_of(opts, w + ((w[1] == '-' && w[2]) ? 2 : 1));
			if (o && takes_value(opts, o, argc, argv, i) && i + 1 < argc) {
				w2[n++] = argv[++i];
				joinable = o->kind == PED_OPT_STRING ? n - 1 : -1;
			}
			continue;
		}
		if ((o = bare_option(opts, w)) != NULL) { /* "slot set slot 1" */
			char *d = keep(c, "-%s", w);
			if (!d)
				break;
			w2[n++] = d;
			joinable = -1;
			if (takes_value(opts, o, argc, argv, i) && i + 1 < argc) {
				w2[n++] = argv[++i];
				joinable = o->kind == PED_OPT_STRING ? n - 1 : -1;
			}
			continue;
		}
		if (joinable >= 0) { /* "-name Crypto Officer" */
			char *j = keep(c, "%s %s", w2[joinable], w);
			if (j) {
				w2[joinable] = j;
				continue;
			}
		}
		w2[n++] = w;
	}
	r = ped_opts_parse(opts, n, w2, first, NULL, 0, NULL, err, sizeof(err));
	OPENSSL_cleanse(w2, sizeof(w2));
	if (r == PED_OPTS_HELP) {
		for (const struct ped_opt *o = opts; o->name; o++)
			cmd_out(c, "  -%-12s %s", o->name, o->help ? o->help : "");
		return 1;
	}
	if (r != PED_OK) {
		cmd_out(c, "Error: %s", err);
		return PED_E_ARGUMENTS_BAD;
	}
	return PED_OK;
}

int cmd_handles(struct cmd_ctx *c, const struct hsm_partition *p, const char *list, uint64_t *out, size_t *n,
		int *some)
{
	const char *q = list;

	*n = 0;
	*some = 0;
	if (!strcasecmp(list, "all") || !strcmp(list, "0"))
		return PED_OK;
	while (*q) {
		char *end;
		errno = 0;
		unsigned long long h = strtoull(q, &end, 10);
		if (end == q || errno || (*end && *end != ',') || !h) {
			cmd_out(c, "Error: -objects takes object handles separated by commas (3,4,6), or 0 or all");
			return PED_E_ARGUMENTS_BAD;
		}
		if (!hsm_part_obj_find(p, h)) {
			cmd_out(c, "Error: no object with handle %llu in this partition", h);
			return PED_E_ARGUMENTS_BAD;
		}
		if (*n == HSM_MAX_OBJECTS) {
			cmd_out(c, "Error: more than %d handles", HSM_MAX_OBJECTS);
			return PED_E_ARGUMENTS_BAD;
		}
		int dup = 0;
		for (size_t i = 0; i < *n; i++)
			dup |= out[i] == h;
		if (!dup)
			out[(*n)++] = h;
		q = *end ? end + 1 : end;
	}
	if (!*n) {
		cmd_out(c, "Error: -objects names no object");
		return PED_E_ARGUMENTS_BAD;
	}
	*some = 1;
	return PED_OK;
}

int cmd_ask(struct cmd_ctx *c, const char *prompt, int secret, char *answer, size_t size)
{
	/* a prompt waits on a person: other sessions' commands run meanwhile */
	sim_hold_release(&c->hold);
	int r = sim_ask(c->who.out, prompt, secret, answer, size);
	sim_hold_retake(&c->hold);
	if (r == PED_E_INVALID)
		cmd_out(c, "Error: the answer is longer than %zu characters", size - 1);
	else if (r == PED_E_CANCEL)
		cmd_out(c, "Error: no answer was given.");
	else if (r == PED_E_TIMED_OUT)
		cmd_out(c, "Error: no answer came in time.");
	return r;
}

int cmd_can_ask(const struct cmd_ctx *c)
{
	return c->who.out && c->who.out->ask;
}

int cmd_confirm(struct cmd_ctx *c, int force, const char *what)
{
	char a[HSM_CTL_ANSWER_MAX];
	int r;

	if (force)
		return PED_OK;
	if (!cmd_can_ask(c)) {
		cmd_out(c, "Error: %s asks for confirmation and no terminal can answer: give -force.", what);
		return PED_E_ARGUMENTS_BAD;
	}
	cmd_out(c, "Are you sure you wish to continue?");
	if ((r = cmd_ask(c, "Type 'proceed' to continue, or 'quit' to quit now ->", 0, a, sizeof(a))) != PED_OK)
		return r;
	r = strcasecmp(hsm_ctl_trim(a), "proceed") ? PED_E_CANCEL : PED_OK;
	if (r != PED_OK)
		cmd_out(c, "Command aborted: %s was not confirmed.", what);
	OPENSSL_cleanse(a, sizeof(a));
	return r;
}

struct cloned_ctx {
	struct cmd_ctx *c;
	const char *to;
};

void cmd_tell_cloned(struct cmd_ctx *c, uint64_t from, uint64_t to, const char *what)
{
	cmd_out(c, "Cloned object %llu to partition %s (new handle %llu).", (unsigned long long)from, what,
		(unsigned long long)to);
}

void cmd_tell_refused(struct cmd_ctx *c, const struct hsm_obj *o, uint64_t handle, CK_RV rv)
{
	char label[HSM_LABEL_LEN_MAX + 1];
	cmd_obj_label(o, label, sizeof(label));
	cmd_out(c, "Object %llu (\"%s\", %s) skipped: %s (%s).", (unsigned long long)handle, label, cmd_class_name(o),
		rv == CKR_OK ? "" : hsm_ck_why(), hsm_ck_name(rv));
}

static void tell_cloned(void *arg, uint64_t from, uint64_t to)
{
	struct cloned_ctx *x = arg;
	cmd_tell_cloned(x->c, from, to, x->to);
}

static void tell_refused(void *arg, const struct hsm_obj *o, CK_RV rv)
{
	struct cloned_ctx *x = arg;
	cmd_tell_refused(x->c, o, o->handle, rv);
}

int cmd_clone_objects(struct cmd_ctx *c, struct sim_hsm *dst_hs, struct hsm_partition *dst, struct sim_hsm *src_hs,
		      const struct hsm_partition *src, enum hsm_clone_mode mode, const uint64_t *handles,
		      size_t nhandles, const char *what)
{
	struct cloned_ctx x = {c, what};
	struct hsm_key_env se, de;
	hsm_partition_key_env(&src_hs->h, src, &se);
	hsm_partition_key_env(&dst_hs->h, dst, &de);
	struct hsm_clone_ctx ctx = {&se, &de, tell_cloned, tell_refused, &x};
	int n = hsm_clone_objects(dst, src, mode, handles, nhandles, &ctx);
	if (n == PED_E_RANGE)
		cmd_out(c, "Error: not enough room in %s for %u objects", what,
			hsm_clone_room(dst, src, mode, handles, nhandles));
	else if (n == PED_E_CERTIFICATE_INVALID)
		cmd_out(c, "Error: %s is in another cloning domain.", what);
	else if (n == PED_E_UNSUPPORTED) {
		cmd_out(c, "Error: %s has no cloning key (a partition from before state version 8, whose red "
			   "domain key was not presented).",
			!src->domain_key_set ? "the source partition" : what);
		n = PED_E_CERTIFICATE_INVALID;
	}
	return n;
}

void cmd_obj_label(const struct hsm_obj *o, char *out, size_t size)
{
	const struct hsm_attr *l = hsm_obj_attr(o, CKA_LABEL);
	size_t n = 0;
	/* what a client put there, shown printable */
	for (size_t i = 0; l && i < l->len && n + 1 < size; i++)
		out[n++] = l->val[i] >= 0x20 && l->val[i] < 0x7f ? (char)l->val[i] : '?';
	out[n] = '\0';
}

const char *cmd_class_name(const struct hsm_obj *o)
{
	switch (o->cls) {
	case CKO_DATA: return "Data";
	case CKO_CERTIFICATE: return "Certificate";
	case CKO_PUBLIC_KEY: return "Public Key";
	case CKO_PRIVATE_KEY: return "Private Key";
	case CKO_SECRET_KEY: return "Symmetric Key";
	}
	return "Object";
}

void cmd_list_objects(struct cmd_ctx *c, const struct hsm_partition *p)
{
	for (uint32_t i = 0; i < p->nobjs; i++) {
		const struct hsm_obj *o = p->objs[i];
		const struct hsm_attr *id = hsm_obj_attr(o, CKA_ID);
		char label[HSM_LABEL_LEN_MAX + 1], hex[2 * 64 + 4] = "";
		const char *kt = cmd_key_type_name(o);
		size_t n = id ? id->len : 0;
		cmd_obj_label(o, label, sizeof(label));
		for (size_t j = 0; j < n && j < 64; j++)
			snprintf(hex + 2 * j, sizeof(hex) - 2 * j, "%02x", id->val[j]);
		if (n > 64)
			snprintf(hex + 128, sizeof(hex) - 128, "...");
		cmd_out(c, "Object Label: %s  Handle: %llu  Object Type: %s%s%s  ID: %s  Object UID: %016llx", label,
			(unsigned long long)o->handle, cmd_class_name(o), *kt ? "  Key Type: " : "", kt, n ? hex : "(none)",
			(unsigned long long)o->ouid);
	}
	cmd_out(c, "Number of objects: %u", p->nobjs);
}

const char *cmd_key_type_name(const struct hsm_obj *o)
{
	switch (o->key_type) {
	case CKK_RSA: return "RSA";
	case CKK_EC: return "EC";
	case CKK_AES: return "AES";
	case CKK_GENERIC_SECRET: return "Generic";
	}
	return "";
}

/* HSM policy 7 ("Allow cloning") on either end of a cloning, and 16 ("Allow
 * network replication") on the HSM of the user partition backed up or
 * restored; the reference lists both as backup and restore prerequisites. */
int cmd_cloning_allowed(struct cmd_ctx *c, const struct sim_hsm *hs, int user_partition)
{
	if (!hs->h.allow_cloning) {
		cmd_out(c, "Error: HSM policy 7 (Allow cloning) is 0 on HSM %s: nothing is cloned into or out of it.",
			hs->h.serial);
		return PED_E_ACTION_PROHIBITED;
	}
	if (user_partition && !hs->h.network_replication) {
		cmd_out(c, "Error: HSM policy 16 (Allow network replication) is 0 on HSM %s: its partitions are not "
			   "backed up or restored.", hs->h.serial);
		return PED_E_ACTION_PROHIBITED;
	}
	return PED_OK;
}

int cmd_cloning_key(struct cmd_ctx *c, struct sim_hsm *hs, struct hsm_partition *p)
{
	struct hsm_credential dom;
	uint8_t dkey[HSM_KEY_LEN];
	const char *what = p->label[0] ? p->label : p->name;
	int r;

	if (p->domain_key_set)
		return PED_OK;
	if (!p->domain.set) {
		cmd_out(c, "Error: partition %s of HSM %s has no cloning domain.", what, hs->h.serial);
		return PED_E_CERTIFICATE_INVALID;
	}
	cmd_out(c, "Partition %s of HSM %s has no cloning key yet (it predates state version 8): present its red "
		   "domain key at that HSM's PED, answering Yes to reuse it. Its objects stay.", what, hs->h.serial);
	memset(&dom, 0, sizeof(dom));
	if ((r = auth_new_domain(&c->who, hs, &dom, dkey)) != PED_OK)
		return r;
	if (!hsm_same_domain(&dom, &p->domain)) {
		OPENSSL_cleanse(dkey, sizeof(dkey));
		cmd_out(c, "Error: the red key presented is not the domain of partition %s; nothing was done.", what);
		return PED_E_CERTIFICATE_INVALID;
	}
	memcpy(p->domain_key, dkey, sizeof(dkey));
	p->domain_key_set = 1;
	OPENSSL_cleanse(dkey, sizeof(dkey));
	return sim_save(hs);
}

int cmd_save_before_keys(struct cmd_ctx *c, struct sim_hsm *hs)
{
	int r = sim_save(hs);
	if (r != PED_OK)
		cmd_out(c, "Error: the HSM's state cannot be saved: no key was written (make room, then try again)");
	return r;
}

int cmd_label(struct cmd_ctx *c, const char *in, char out[HSM_LABEL_MAX + 1], int partition)
{
	snprintf(out, HSM_LABEL_MAX + 1, "%s", in);
	if (!hsm_label_valid(out) || (partition && strchr(out, '"'))) {
		cmd_out(c, "Error: a label is 1-32 printable characters");
		return PED_E_ARGUMENTS_BAD;
	}
	return PED_OK;
}

struct sim_hsm *cmd_current(struct cmd_ctx *c, struct hsm_partition **p, int *pi)
{
	struct sim_hsm *hs = sim_hsm_of_slot(c->sim, *c->slot);
	if (!hs)
		return NULL;
	sim_hold(&c->hold, hs, NULL);
	return sim_slot_resolve(hs, *c->slot, p, pi) ? hs : NULL;
}

struct pedport *cmd_ped(struct cmd_ctx *c, const struct sim_hsm *hs)
{
	return pedport_of(c->who.peds, hs);
}
