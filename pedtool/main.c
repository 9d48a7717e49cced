/* pedtool: interoperability and diagnosis for the suite's cryptography. */
#include "command.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_COMMANDS 32

static const struct pedtool_command *commands[MAX_COMMANDS];
static size_t command_count;

void pedtool_register(const struct pedtool_command *cmd)
{
	if (command_count < MAX_COMMANDS)
		commands[command_count++] = cmd;
}

int pedtool_hex_parse(const char *hex, unsigned char **out, size_t *out_len)
{
	size_t n = strlen(hex), i;
	unsigned char *buf;

	if (n % 2)
		return -1;
	if ((buf = OPENSSL_malloc(n / 2 + 1)) == NULL)
		return -1;
	for (i = 0; i < n / 2; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)hex[2 * i]);
		int lo = OPENSSL_hexchar2int((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			OPENSSL_clear_free(buf, n / 2 + 1);
			return -1;
		}
		buf[i] = (unsigned char)(hi << 4 | lo);
	}
	*out = buf;
	*out_len = n / 2;
	return 0;
}

void pedtool_hex_print(FILE *f, const char *name, const unsigned char *buf, size_t len)
{
	if (name)
		fprintf(f, "%s: ", name);
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x", buf[i]);
	fputc('\n', f);
}

static int cmp_commands(const void *a, const void *b)
{
	return strcmp((*(const struct pedtool_command *const *)a)->name,
		      (*(const struct pedtool_command *const *)b)->name);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: pedtool COMMAND [options]\n\nCommands:\n");
	for (size_t i = 0; i < command_count; i++)
		fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\n  pedtool COMMAND -help   shows a command's options\n"
		   "  pedtool -version        prints the version\n");
}

int main(int argc, char **argv)
{
	qsort(commands, command_count, sizeof(commands[0]), cmp_commands);
	if (argc < 2) {
		usage(stderr);
		return PEDTOOL_EXIT_USAGE;
	}
	/* the words every program of the suite takes (-v is never verbose) */
	if (strcasecmp(argv[1], "-version") == 0 || strcasecmp(argv[1], "--version") == 0 ||
	    strcasecmp(argv[1], "-v") == 0) {
		printf("pedtool %s (%s)\n", PED_VERSION, OpenSSL_version(OPENSSL_VERSION));
		return 0;
	}
	if (strcasecmp(argv[1], "-help") == 0 || strcasecmp(argv[1], "--help") == 0 ||
	    strcasecmp(argv[1], "-h") == 0 || strcmp(argv[1], "-?") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < command_count; i++) {
		if (strcasecmp(argv[1], commands[i]->name) != 0)
			continue;
		if (argc > 2 && (strcasecmp(argv[2], "-help") == 0 || strcasecmp(argv[2], "--help") == 0 ||
				 strcasecmp(argv[2], "-h") == 0)) {
			printf("Usage: %s\n%s\n", commands[i]->usage, commands[i]->summary);
			return 0;
		}
		return commands[i]->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "pedtool: unknown command '%s' (pedtool -help lists them)\n", argv[1]);
	return PEDTOOL_EXIT_USAGE;
}
