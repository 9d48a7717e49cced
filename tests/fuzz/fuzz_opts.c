/* libFuzzer target: the option parser on arbitrary command lines (words split
 * at whitespace or NUL), against a table with every kind of option. */
#include "ped/error.h"
#include "ped/opts.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const modes[] = {"start", "stop", "show", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ped_opt table[] = {
		{.name = "mode", .aliases = "m", .kind = PED_OPT_ENUM, .choices = modes},
		{.name = "port", .aliases = "p", .kind = PED_OPT_INT, .min = 0, .max = 65535},
		{.name = "pinginterval", .kind = PED_OPT_INT, .min = 1, .max = 3600},
		{.name = "pingtimeout", .kind = PED_OPT_INT, .min = 1, .max = 3600},
		{.name = "logfilename", .aliases = "logfile lf", .kind = PED_OPT_STRING},
		{.name = "loginfo", .kind = PED_OPT_BOOL01},
		{.name = "force", .kind = PED_OPT_FLAG},
		{.name = "password", .kind = PED_OPT_OPTIONAL},
		{.name = NULL},
	};
	char *argv[64], *buf, err[256];
	const char *pos[4];
	size_t npos;
	int argc = 1;

	if (size > 4096)
		return 0;
	buf = malloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = "fuzz";
	for (size_t i = 0; i < size && argc < 63;) {
		while (i < size && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\0'))
			buf[i++] = '\0';
		if (i < size)
			argv[argc++] = buf + i;
		while (i < size && buf[i] != ' ' && buf[i] != '\n' && buf[i] != '\0')
			i++;
	}
	argv[argc] = NULL;
	int r = ped_opts_parse(table, argc, argv, 1, pos, 4, &npos, err, sizeof(err));
	if (r != PED_OK && r != PED_OPTS_HELP && r != PED_E_OPTION && r != PED_E_RANGE)
		abort();
	if (r != PED_OK && r != PED_OPTS_HELP && err[0] == '\0')
		abort(); /* every error explains itself */
	(void)ped_opts_peek(argc, argv, "mode", "m");
	free(buf);
	return 0;
}
