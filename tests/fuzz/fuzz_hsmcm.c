/* libFuzzer target: the hsmcm command syntax end to end, short of a live
 * HSM: the input read line by line as hsmcm's prompt reads it, and as a
 * script (hsmcm -c/-f) cut into commands as hsmcm does; each command cut
 * into words as hsm-sim does (hsm/control.h), then the words after the
 * command pair parsed against the options hsm-sim's commands take. Each
 * command goes through the history's secret check too, which must keep out
 * every line in which a command's own option table finds a secret option.
 * Input: the text typed at the prompt; as a script, -c stops at a NUL as a
 * C string does. */
#include "hsm/control.h"
#include "ped/error.h"
#include "ped/opts.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 32 /* hsm-sim's commands.c */

struct seen {
	const char *text; /* the script, to check commands lie inside it */
	size_t len;
	unsigned commands;
};

/* The options of role, partition, ped, hsm and archive, in one table. */
static void parse_options(int argc, char **argv)
{
	struct ped_opt o[] = {
		{.name = "slot", .aliases = "s", .kind = PED_OPT_INT, .min = 0, .max = 100000},
		{.name = "label", .aliases = "l partition par", .kind = PED_OPT_STRING},
		{.name = "force", .aliases = "f", .kind = PED_OPT_FLAG},
		{.name = "name", .aliases = "n", .kind = PED_OPT_STRING},
		{.name = "password", .aliases = "pwd p", .kind = PED_OPT_OPTIONAL},
		{.name = "challenge", .aliases = "c challengesecret", .kind = PED_OPT_STRING},
		{.name = "policy", .kind = PED_OPT_INT, .min = 0, .max = 1000},
		{.name = "value", .kind = PED_OPT_INT, .min = 0, .max = 1000000},
		{.name = "ip", .aliases = "i", .kind = PED_OPT_STRING},
		{.name = "port", .kind = PED_OPT_INT, .min = 1, .max = 65535},
		{.name = "wait", .kind = PED_OPT_FLAG},
		{.name = "replace", .aliases = "rep r", .kind = PED_OPT_FLAG},
		{.name = NULL},
	};
	char err[256];
	int first = argc < 2 ? argc : 2;

	err[0] = '\0';
	int r = ped_opts_parse(o, argc, argv, first, NULL, 0, NULL, err, sizeof(err));
	if (r != PED_OK && r != PED_OPTS_HELP && !err[0])
		abort(); /* the operator is told what was wrong */
}

/* The secret-bearing options as hsm-sim's own tables have them
 * (commands.c: cmd_role, cmd_ped, cmd_object), prefixes resolved against
 * their neighbours as there: whatever one of them takes as a secret option,
 * the history's check must refuse. */
static void secrets_stay_out(const char *line, int argc, char **argv)
{
	struct ped_opt role[] = {
		{.name = "name", .aliases = "n", .kind = PED_OPT_STRING},
		{.name = "password", .aliases = "pwd p", .kind = PED_OPT_OPTIONAL},
		{.name = "challenge", .aliases = "c challengesecret", .kind = PED_OPT_STRING},
		{.name = NULL},
	};
	struct ped_opt ped[] = {
		{.name = "ip", .aliases = "i", .kind = PED_OPT_STRING},
		{.name = "port", .aliases = "p", .kind = PED_OPT_INT, .min = 1, .max = 65535},
		{.name = "slot", .aliases = "s", .kind = PED_OPT_INT, .min = 0, .max = 100000},
		{.name = "password", .aliases = "pwd", .kind = PED_OPT_OPTIONAL},
		{.name = "wait", .kind = PED_OPT_FLAG},
		{.name = NULL},
	};
	struct ped_opt object[] = {
		{.name = "label", .aliases = "l", .kind = PED_OPT_STRING},
		{.name = "value", .kind = PED_OPT_STRING},
		{.name = NULL},
	};
	struct ped_opt *o = NULL;
	const char *secret = "password";
	char err[256];
	int first = 2;

	if (argc < 2)
		return;
	if (!strcasecmp(argv[0], "role")) {
		o = role;
	} else if (!strcasecmp(argv[0], "ped")) {
		o = ped;
		first = argc >= 3 && !strcasecmp(argv[1], "vector") ? 3 : 2;
	} else if (!strcasecmp(argv[0], "object")) {
		o = object;
		secret = "value";
	} else {
		return;
	}
	/* an option found before a later error was typed all the same */
	(void)ped_opts_parse(o, argc, argv, first, NULL, 0, NULL, err, sizeof(err));
	if ((ped_opts_seen(o, secret) || (o == role && ped_opts_seen(o, "challenge"))) &&
	    !hsm_ctl_line_has_secret(line))
		abort(); /* a secret would go to hsmcm_history */
}

/* One command as hsm-sim's sim_command reads it, and as the history's check
 * reads it. */
static void run_words(const char *c)
{
	char buf[HSM_CTL_LINE_MAX], *argv[MAX_ARGS + 1];
	int argc;

	/* a bounded copy, then words */
	snprintf(buf, sizeof(buf), "%s", c);
	argc = hsm_ctl_split_words(buf, argv, MAX_ARGS);
	if (argc < -1 || argc > MAX_ARGS)
		abort();
	for (int i = 0; i < argc; i++) {
		if (argv[i] < buf || argv[i] >= buf + sizeof(buf))
			abort();
		if (i && argv[i] <= argv[i - 1])
			abort();
		/* unquoted words never hold white space */
		if (argv[i] == buf || argv[i][-1] != '"')
			for (const char *p = argv[i]; *p; p++)
				if (isspace((unsigned char)*p))
					abort();
	}
	if (argc > 0) {
		argv[argc] = NULL;
		parse_options(argc, argv);
		/* the parser leaves argv as it was: the words once more */
		secrets_stay_out(c, argc, argv);
	} else {
		(void)hsm_ctl_line_has_secret(c);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
}

static int command(void *arg, char *c)
{
	struct seen *x = arg;
	size_t n = strlen(c);

	if (c < x->text || c + n > x->text + x->len || n == 0)
		abort();
	if (strchr(c, ';') || strchr(c, '\n') || c[0] == ' ' || c[0] == '\t' || c[n - 1] == ' ' ||
	    c[n - 1] == '\t' || c[n - 1] == '\r')
		abort(); /* commands come cut and trimmed */
	x->commands++;
	run_words(c);
	return 0;
}

/* hsmcm's prompt: every line whole or refused whole, and the lines read
 * and refused add up to the input, so none is cut in two or lost. */
static void prompt_lines(const uint8_t *data, size_t size)
{
	char line[HSM_CTL_LINE_MAX];
	size_t len, consumed = 0;
	uint8_t *copy;
	FILE *f;
	int r;

	if (size == 0 || (copy = malloc(size)) == NULL)
		return;
	memcpy(copy, data, size);
	if ((f = fmemopen(copy, size, "r")) == NULL) {
		free(copy);
		return;
	}
	while ((r = hsm_ctl_read_line(f, line, sizeof(line), &len)) != PED_E_CLOSED) {
		consumed += len + 1;
		if (consumed > size + 1)
			abort();
		if (r == PED_E_RANGE && len < sizeof(line))
			abort();
		if (r == PED_E_INVALID && (len >= sizeof(line) || !memchr(data + consumed - len - 1, '\0', len)))
			abort();
		if (r != PED_OK) {
			if (r != PED_E_RANGE && r != PED_E_INVALID)
				abort();
			if (line[0])
				abort(); /* nothing of a refused line is kept */
			continue;
		}
		if (strlen(line) != len || len >= sizeof(line) || memchr(line, '\n', len) ||
		    memcmp(line, data + consumed - len - 1, len) != 0)
			abort();
		char *t = hsm_ctl_trim(line);
		if (*t == ' ' || *t == '\t' || *t == '\r')
			abort();
		run_words(t);
	}
	/* the last line may lack its newline */
	if (consumed != size && consumed != size + 1)
		abort();
	fclose(f);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen x = {0};
	char *text;
	size_t n = 0;

	if (size > 1u << 20)
		return 0;
	while (n < size && data[n])
		n++;
	if ((text = malloc(n + 1)) == NULL)
		return 0;
	memcpy(text, data, n);
	text[n] = '\0';

	prompt_lines(data, size);

	x.text = text;
	x.len = n;
	if (hsm_ctl_script_each(text, command, &x) != 0)
		abort();
	free(text);
	return 0;
}
