#include "unit.h"

#include "ped/json.h"

#include <stdlib.h>
#include <string.h>

/* What a -json output holds comes from peers and files (a PED's version, a
 * label): every byte must leave the string a valid JSON string. */
static void strings_are_escaped(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	int n = 0;
	fputc('{', f);
	ped_json_str(f, &n, "a\"b", "q\"\\\n\x01\x7f" "end");
	ped_json_num(f, &n, "n", -5);
	ped_json_bool(f, &n, "t", 1);
	ped_json_key(f, &n, "x");
	fputs("null}", f);
	fclose(f);
	CU_ASSERT_STRING_EQUAL(buf, "{\"a\\\"b\":\"q\\\"\\\\\\u000a\\u0001\\u007fend\",\"n\":-5,\"t\":true,\"x\":null}");
	free(buf);
}

UNIT_SUITE(json, NULL, NULL, UNIT_TEST(strings_are_escaped))
