/* pedtool sub-commands register themselves, so each lives in its own file
 * and main.c needs no list: PEDTOOL_COMMAND(name, fn, usage, summary). */
#ifndef PEDTOOL_COMMAND_H
#define PEDTOOL_COMMAND_H

#include <stdio.h>

struct pedtool_command {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the command name */
	const char *usage;                 /* "pedtool sskdf -z HEX -info HEX -len N" */
	const char *summary;
};

void pedtool_register(const struct pedtool_command *cmd);

#define PEDTOOL_COMMAND(cname, fn, usage_text, summary_text)                                   \
	static const struct pedtool_command cname##_pedtool_cmd = {#cname, fn, usage_text,     \
								   summary_text};                \
	__attribute__((constructor)) static void cname##_pedtool_register(void)                \
	{                                                                                        \
		pedtool_register(&cname##_pedtool_cmd);                                          \
	}

/* Exit codes: 0 success, 1 the operation failed (bad tag, wrong share...),
 * 2 usage error. Errors go to stderr as "pedtool CMD: message". */
#define PEDTOOL_EXIT_FAIL 1
#define PEDTOOL_EXIT_USAGE 2

/* Hex helpers shared by the commands: parse allocates with OPENSSL_malloc
 * (free with OPENSSL_clear_free, the bytes may be secret); print writes
 * lowercase hex and a newline. */
int pedtool_hex_parse(const char *hex, unsigned char **out, size_t *out_len);
void pedtool_hex_print(FILE *f, const char *name, const unsigned char *buf, size_t len);

#endif
