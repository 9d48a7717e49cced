/* The CUnit runner: registers every UNIT_SUITE, runs all (or those named on
 * the command line), prints CUnit's summary and exits non-zero on a failure. */
#include "unit.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SUITES 128

struct suite_entry {
	const char *name;
	CU_InitializeFunc init;
	CU_CleanupFunc clean;
	const struct unit_test *tests;
};

static struct suite_entry suites[MAX_SUITES];
static size_t suite_count;
static char tmpdir[256];
static pid_t tmpdir_owner; /* forked test children must not remove it */

void unit_register(const char *suite, CU_InitializeFunc init, CU_CleanupFunc clean,
		   const struct unit_test *tests)
{
	if (suite_count == MAX_SUITES) {
		fprintf(stderr, "unit: too many suites (raise MAX_SUITES)\n");
		abort();
	}
	suites[suite_count++] = (struct suite_entry){suite, init, clean, tests};
}

const char *unit_build_dir(void)
{
	const char *b = getenv("PED_BUILD");
	return b ? b : "build";
}

const char *unit_source_dir(void)
{
	const char *s = getenv("PED_SRCDIR");
	return s ? s : ".";
}

static void remove_tmpdir(void)
{
	if (tmpdir[0] && getpid() == tmpdir_owner) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "unit: could not remove %s\n", tmpdir);
	}
}

const char *unit_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(tmpdir, sizeof(tmpdir), "%s/ped-unit.XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			abort();
		}
		tmpdir_owner = getpid();
		atexit(remove_tmpdir);
	}
	return tmpdir;
}

static int wanted(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	for (size_t i = 0; i < suite_count; i++) {
		if (!wanted(suites[i].name, argc, argv))
			continue;
		CU_pSuite s = CU_add_suite(suites[i].name, suites[i].init, suites[i].clean);
		if (!s)
			return 2;
		for (const struct unit_test *t = suites[i].tests; t->name; t++)
			if (!CU_add_test(s, t->name, t->fn))
				return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned run = CU_get_number_of_tests_run();
	unsigned failed = CU_get_number_of_tests_failed();
	unsigned suites_failed = CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	const char *counts = getenv("UNIT_COUNTS");
	if (counts) {
		FILE *f = fopen(counts, "w");
		if (f) {
			fprintf(f, "%u %u\n", run - failed, failed + suites_failed);
			fclose(f);
		}
	}
	return (failed || suites_failed) ? 1 : 0;
}
