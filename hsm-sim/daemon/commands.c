/* The command table and what every command family shares (command.h). */
#include "command.h"

#include "hsm/control.h"
#include "hsm/result.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ARGS 32
#define MAX_COMMANDS 16

static const struct sim_command *commands[MAX_COMMANDS];
static size_t command_count;

void sim_command_register(const struct sim_command *cmd)
{
	if (command_count < MAX_COMMANDS)
		commands[command_count++] = cmd;
}

static int named(const struct sim_command *cmd, const char *word)
{
	return !strcasecmp(word, cmd->name) || (cmd->alias && !strcasecmp(word, cmd->alias));
}

static const struct sim_command *lookup(int argc, char **argv)
{
	const struct sim_command *family = NULL;
	for (size_t i = 0; i < command_count; i++) {
		const struct sim_command *cmd = commands[i];
		if (!named(cmd, argv[0]))
			continue;
		if (!cmd->verb)
			family = cmd;
		else if (argc >= 2 && !strcasecmp(argv[1], cmd->verb))
			return cmd;
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

int cmd_run(struct cmd_ctx *c, const char *line)
{
	char buf[CMD_LINE_MAX + 1];
	char *argv[MAX_ARGS];
	int argc, r = PED_OK;
	struct watch w = {c->who.out, 0};
	struct sim_out watched = {watch_line, &w};

	c->who.out = &watched;
	sim_hold_init(&c->hold, c->sim);
	snprintf(buf, sizeof(buf), "%s", line);
	argc = hsm_ctl_split_words(buf, argv, MAX_ARGS);
	if (argc < 0) {
		cmd_out(c, "Error: too many words");
		r = PED_E_ARGUMENTS_BAD;
	} else if (argc > 0) {
		const struct sim_command *cmd = lookup(argc, argv);
		if (cmd) {
			r = cmd->run(c, argc, argv);
		} else {
			unknown(c, argv[0]);
			r = PED_E_ARGUMENTS_BAD;
		}
	}
	sim_hold_drop(&c->hold);
	OPENSSL_cleanse(buf, sizeof(buf)); /* the line may carry -password or -challenge */
	/* The result code will be the reference's (hsm_result_code): a failure
	 * the command did not explain keeps its detail in a message line. */
	if (r != PED_OK && !w.errors && !hsm_result_is_reference(r))
		cmd_out(c, "Error: %s.", hsm_result_detail(r));
	c->who.out = w.inner;
	return r;
}

int cmd_parse(struct cmd_ctx *c, struct ped_opt *opts, int argc, char **argv, int first)
{
	char err[256];
	int r = ped_opts_parse(opts, argc, argv, first, NULL, 0, NULL, err, sizeof(err));
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
