/* One CUnit runner for every suite: each test file declares its suite with
 * UNIT_SUITE and is linked into build/tests/unit-tests; no list to maintain. */
#ifndef TESTS_UNIT_H
#define TESTS_UNIT_H

#include <CUnit/CUnit.h>
#include <stddef.h>

struct unit_test {
	const char *name;
	CU_TestFunc fn;
};

void unit_register(const char *suite, CU_InitializeFunc init, CU_CleanupFunc clean,
		   const struct unit_test *tests);

/* Directory of the build (for tests that run programs) and of the sources. */
const char *unit_build_dir(void);
const char *unit_source_dir(void);
/* A fresh private temporary directory, removed at exit. */
const char *unit_tmpdir(void);

#define UNIT_SUITE(sname, init, clean, ...)                                                \
	static const struct unit_test sname##_unit_tests[] = {__VA_ARGS__, {NULL, NULL}};   \
	__attribute__((constructor)) static void sname##_unit_register(void)                \
	{                                                                                    \
		unit_register(#sname, init, clean, sname##_unit_tests);                      \
	}

#define UNIT_TEST(fn) {#fn, fn}

#endif
