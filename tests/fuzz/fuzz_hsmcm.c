/* libFuzzer target: the hsmcm command syntax end to end, short of a live
 * HSM: a script (hsmcm -c/-f, or a line typed at the prompt) cut into
 * commands as hsmcm does, each command cut into words as hsm-sim does
 * (hsm/control.h), then the words after the command pair parsed against the
 * options hsm-sim's commands take. Input: the script text; -c stops at a NUL
 * as a C string does. */
#include "hsm/control.h"
#include "ped/error.h"
#include "ped/opts.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		{.name = "challenge", .aliases = "c", .kind = PED_OPT_STRING},
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

static int command(void *arg, char *c)
{
	struct seen *x = arg;
	char buf[4096], *argv[MAX_ARGS + 1];
	size_t n = strlen(c);
	int argc;

	if (c < x->text || c + n > x->text + x->len || n == 0)
		abort();
	if (strchr(c, ';') || strchr(c, '\n') || c[0] == ' ' || c[0] == '\t' || c[n - 1] == ' ' ||
	    c[n - 1] == '\t' || c[n - 1] == '\r')
		abort(); /* commands come cut and trimmed */
	x->commands++;

	/* hsm-sim's sim_command: a bounded copy, then words */
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
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen x = {0};
	char *text, line[HSM_CTL_LINE_MAX];
	size_t n = 0;

	if (size > 1u << 20)
		return 0;
	while (n < size && data[n])
		n++;
	if ((text = malloc(n + 1)) == NULL)
		return 0;
	memcpy(text, data, n);
	text[n] = '\0';

	/* the prompt reads a line of at most HSM_CTL_LINE_MAX - 1 bytes */
	snprintf(line, sizeof(line), "%s", text);
	char *nl = strchr(line, '\n');
	if (nl)
		nl[1] = '\0';
	char *t = hsm_ctl_trim(line);
	if (*t == ' ' || *t == '\t' || *t == '\r')
		abort();

	x.text = text;
	x.len = n;
	if (hsm_ctl_script_each(text, command, &x) != 0)
		abort();
	free(text);
	return 0;
}
