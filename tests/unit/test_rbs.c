/* rbs's own decoders (rbs/rbs.h): rbs.conf, and the Backup HSMs in
 * hsm-sim's slot list. */
#include "unit.h"

#include "../../rbs/rbs.h"
#include "ped/error.h"

#include <stdio.h>
#include <string.h>

static void the_conf_names_backup_hsms_by_serial(void)
{
	const char *text = "# rbs\n\n  backup 496771  \r\nbackup\t1234\n";
	struct hsm_ctl_restrict s;
	char err[256], out[RBS_CONF_MAX];
	size_t len;

	CU_ASSERT_EQUAL_FATAL(rbs_conf_parse(text, strlen(text), &s, err, sizeof(err)), PED_OK);
	CU_ASSERT_EQUAL(s.n, 2);
	CU_ASSERT_STRING_EQUAL(s.serial[0], "496771");
	CU_ASSERT_STRING_EQUAL(s.serial[1], "1234");
	/* what --config writes reads back the same */
	CU_ASSERT_EQUAL_FATAL(rbs_conf_format(&s, out, sizeof(out), &len), PED_OK);
	struct hsm_ctl_restrict t;
	CU_ASSERT_EQUAL_FATAL(rbs_conf_parse(out, len, &t, err, sizeof(err)), PED_OK);
	CU_ASSERT_EQUAL(t.n, 2);
	CU_ASSERT_STRING_EQUAL(t.serial[1], "1234");
	/* each error names its line, and serves nothing */
	static const char *const bad[] = {"backup\n", "backup 12a\n", "# ok\nbackupx 1\n", "slot 20\n",
					  "backup 1\nbackup 1\n", "backup 12345678901234567\n", "backup 1 2\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(rbs_conf_parse(bad[i], strlen(bad[i]), &t, err, sizeof(err)), PED_E_CONFIG);
		CU_ASSERT_EQUAL(t.n, 0);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "line "));
	}
	CU_ASSERT_EQUAL(rbs_conf_parse("backup 1\0x", 10, &t, err, sizeof(err)), PED_E_CONFIG);
	/* 17 Backup HSMs: one too many */
	char many[17 * 16];
	size_t at = 0;
	for (int i = 0; i < 17; i++)
		at += (size_t)snprintf(many + at, sizeof(many) - at, "backup %d\n", 100 + i);
	CU_ASSERT_EQUAL(rbs_conf_parse(many, at, &t, err, sizeof(err)), PED_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than 16"));
}

static void slot_list_gives_the_backup_hsms(void)
{
	static const char *const lines[] = {
		"Slot Id ->              1", "Label ->                p1", "Serial Number ->        1544388652881",
		"Slot Description ->     User Token Slot", "",
		"Slot Id ->              0", "Serial Number ->        154438865288",
		"Slot Description ->     Admin Token Slot", "",
		"Slot Id ->              20", "Label ->                backup", "Serial Number ->        496771",
		"Slot Description ->     Backup Device", "",
		"Slot Id ->              40", "Label ->                (uninitialized)", "Serial Number ->        x1",
		"Slot Description ->     Backup Device", "Current Slot Id: 0"};
	struct rbs_slot_scan s;

	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		rbs_scan_line(&s, lines[i]);
	rbs_scan_end(&s);
	/* a serial that is not one is no Backup HSM to serve */
	CU_ASSERT_EQUAL_FATAL(s.n, 1);
	CU_ASSERT_EQUAL(s.b[0].slot, 20);
	CU_ASSERT_STRING_EQUAL(s.b[0].serial, "496771");
	CU_ASSERT_STRING_EQUAL(s.b[0].label, "backup");
}

UNIT_SUITE(rbs, NULL, NULL, UNIT_TEST(the_conf_names_backup_hsms_by_serial), UNIT_TEST(slot_list_gives_the_backup_hsms))
