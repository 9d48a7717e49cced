/* libFuzzer target: configuration files, through ped_config_load as the
 * programs call it (it reads a file, so the input goes to a scratch file).
 * The programs' schemas are static in their main.c; this one has every kind
 * they use: numbers with negative, hex and wide ranges, booleans, strings,
 * and a dotted path into a group. What loads must obey the schema; then
 * "-mode config -set" is played on every setting with the file's "probe"
 * string as the value, and what is saved must load back to the same values.
 * A save that changes nothing leaves the file as it was, byte for byte; the
 * text edit on any input is bounded, and on a file libconfig reads it keeps
 * the file readable with the edit made. The strict loader names a line. */
#include "ped/config.h"
#include "ped/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct ped_cfg_setting tmpl[] = {
	{.name = "ServerPort", .type = PED_CFG_INT, .min = 0, .max = 65535, .dflt = 1503},
	{.name = "ListenPort", .type = PED_CFG_INT, .min = -1, .max = 65535, .dflt = 9697},
	{.name = "UsbVendorId", .type = PED_CFG_INT, .min = 0, .max = 0xffff, .dflt = 0x1209},
	{.name = "key_timeout", .type = PED_CFG_INT, .min = 1, .max = 86400, .dflt = 200},
	{.name = "logging.maxsize", .type = PED_CFG_INT, .min = 1, .max = 1048576, .dflt = 4096},
	{.name = "ExternalServer", .type = PED_CFG_BOOL, .dflt = 1},
	{.name = "LogTrace", .type = PED_CFG_BOOL, .dflt = 0},
	{.name = "LogFileName", .type = PED_CFG_STRING, .sdflt = ""},
	{.name = "ListenIP", .type = PED_CFG_STRING, .sdflt = "0.0.0.0"},
	{.name = "logging.file", .type = PED_CFG_STRING, .sdflt = "x"},
	{.name = "probe", .type = PED_CFG_STRING, .sdflt = "1"},
	{.name = NULL},
};
#define NSET (sizeof(tmpl) / sizeof(tmpl[0]) - 1)

static char dir[256], path[300];

static void remove_scratch(void)
{
	unlink(path);
	rmdir(dir);
}

static int scratch(void)
{
	const char *base = getenv("TMPDIR");
	if (dir[0])
		return 0;
	/* tmpfs if we may: every save fsyncs, which costs a disk most executions */
	if (!base || !*base)
		base = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof(dir), "%s/ped-fuzz-config.XXXXXX", base);
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/fuzz.conf", dir);
	atexit(remove_scratch);
	return 0;
}

/* The edit on the raw input: never out of bounds; on text libconfig
 * parses, the result parses too, with probe set to 1 or gone. */
static void check_edit(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *out = NULL;
	size_t olen = 0;
	config_t t;
	int parsed, val = 0;

	if (!text)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	config_init(&t);
	parsed = strlen(text) == size && config_read_string(&t, text) == CONFIG_TRUE;
	config_destroy(&t);
	for (int removal = 0; removal < 2; removal++) {
		if (ped_config_edit(text, size, "probe", removal ? NULL : "1", removal ? 0 : 1, &out, &olen) != PED_OK)
			continue;
		char *z = malloc(olen + 1);
		if (!z)
			abort();
		memcpy(z, out, olen);
		z[olen] = '\0';
		config_init(&t);
		if (parsed && config_read_string(&t, z) != CONFIG_TRUE)
			abort();
		if (parsed && !removal && (config_lookup_int(&t, "probe", &val) != CONFIG_TRUE || val != 1))
			abort();
		if (parsed && removal && config_lookup(&t, "probe"))
			abort();
		config_destroy(&t);
		free(z);
		free(out);
	}
	free(text);
}

static int same_as_file(const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "rb");
	int same = 1, ch;
	size_t i = 0;
	if (!f)
		return 0;
	while ((ch = fgetc(f)) != EOF)
		if (i >= size || data[i++] != (uint8_t)ch)
			same = 0;
	fclose(f);
	return same && i == size;
}

static void check_schema(const struct ped_cfg_setting *s)
{
	for (; s->name; s++) {
		if (s->type == PED_CFG_INT && (s->num < s->min || s->num > s->max))
			abort();
		if (s->type == PED_CFG_BOOL && s->num != 0 && s->num != 1)
			abort();
		if (s->type == PED_CFG_STRING && !s->str)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ped_cfg_setting a[NSET + 1], b[NSET + 1];
	struct ped_config ca, cb;
	char err[512], probe[256];
	FILE *f;
	int r;

	if (size > 64 * 1024 || scratch() != 0)
		return 0;
	check_edit(data, size);
	if ((f = fopen(path, "wb")) == NULL)
		return 0;
	if (fwrite(data, 1, size, f) != size) {
		fclose(f);
		return 0;
	}
	if (fclose(f) != 0)
		return 0;

	memcpy(a, tmpl, sizeof(a));
	err[0] = '\0';
	r = ped_config_load(&ca, path, a, err, sizeof(err));
	if (r != PED_OK) {
		if (r != PED_E_CONFIG || !err[0])
			abort(); /* a bad file is a config error that says why */
		goto out;
	}
	check_schema(a);
	snprintf(probe, sizeof(probe), "%s", ped_config_str(&ca, "probe"));
	/* nothing changed: the save works and the operator's file stays as
	 * written (the check that a save loads back must not refuse it) */
	if (ped_config_save(&ca, err, sizeof(err)) != PED_OK || !same_as_file(data, size))
		abort();
	{
		struct ped_config cs;
		static const char *const groups[] = {"list", NULL};
		memcpy(b, tmpl, sizeof(b));
		err[0] = '\0';
		if (ped_config_load_strict(&cs, path, b, groups, err, sizeof(err)) != PED_OK &&
		    (!err[0] || !strstr(err, "unknown setting")))
			abort();
		ped_config_free(&cs);
	}

	for (size_t i = 0; i < NSET; i++) {
		err[0] = '\0';
		if (ped_config_set(&ca, a[i].name, probe, err, sizeof(err)) != PED_OK && !err[0])
			abort();
	}
	err[0] = '\0';
	if (ped_config_set(&ca, probe, "1", err, sizeof(err)) != PED_OK && !err[0])
		abort();
	check_schema(a);
	if (ped_config_save(&ca, err, sizeof(err)) != PED_OK)
		goto out;

	/* what was set and saved is what the program reads at its next start */
	memcpy(b, tmpl, sizeof(b));
	if (ped_config_load(&cb, path, b, err, sizeof(err)) != PED_OK)
		abort();
	for (size_t i = 0; i < NSET; i++) {
		if (a[i].type == PED_CFG_STRING ? strcmp(a[i].str, b[i].str) != 0 : a[i].num != b[i].num) {
			fprintf(stderr, "fuzz_config: %s changed across save and load\n", a[i].name);
			abort();
		}
	}
	ped_config_free(&cb);
out:
	ped_config_free(&ca);
	return 0;
}
