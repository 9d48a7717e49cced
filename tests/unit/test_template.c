/* Partition policy templates (hsm/template.h): the reference's format
 * parsed strictly and bounded, applied all or nothing with chapter 6's
 * rules, and written back in the same format. */
#include "unit.h"

#include "hsm/template.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

static const char example[] =
	"# Policy template FW Version 7.9.0\n"
	"# Field format - Policy ID:Policy Description:Policy Value:Off to on destructive:On to off destructive\n"
	"# Sourced from partition: myPartition1, SN: 154438865290\n"
	"\n"
	"0:\"Allow private key cloning\":1:1:0\n"
	"1:\"Allow private key wrapping\":0:1:0\n"
	"2:\"Allow private key unwrapping\":1:0:0\n"
	"4:\"Allow secret key cloning\":1:1:0\r\n"
	"  9:\"Allow DigestKey\":0:1:0  \n"
	"20:\"Max failed user logins allowed\":10:0:0\n"
	"#23:\"Allow auto-activation\":0:0:0\n"
	"25:\"Minimum pin length (inverted 255 - min)\":247:0:0\n"
	"39:\"Allow Start/End Date Attributes\":0:0:1";

static void parse(const char *text, int want, const char *why_has)
{
	struct hsm_ppt t;
	char why[256];
	int r = hsm_ppt_parse(text, strlen(text), &t, why, sizeof(why));
	CU_ASSERT_EQUAL(r, want);
	if (why_has && !strstr(why, why_has)) {
		fprintf(stderr, "'%s' does not say '%s'\n", why, why_has);
		CU_FAIL("why");
	}
}

static void the_reference_format(void)
{
	struct hsm_ppt t;
	char why[256];
	CU_ASSERT_EQUAL_FATAL(hsm_ppt_parse(example, strlen(example), &t, why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL(t.n, 8);
	CU_ASSERT_TRUE(t.e[0].number == 0 && t.e[0].value == 1 && t.e[0].erase == HSM_ERASE_OFF_TO_ON);
	CU_ASSERT_TRUE(t.e[4].number == 9 && t.e[4].value == 0);
	CU_ASSERT_TRUE(t.e[7].number == 39 && t.e[7].erase == HSM_ERASE_ON_TO_OFF);
	parse("", PED_OK, NULL);
	parse("# only a comment\n\n\t\n", PED_OK, NULL);
	parse("0:\"a description with: a colon\":0:1:0\n", PED_OK, NULL);
	/* refused, saying where */
	parse("0:\"Allow private key cloning\":1:1:0]\n", PED_E_INVALID, "line 1: more after");
	parse("\n\n3:\"Allow private key masking\":0:1:0\n", PED_E_INVALID, "line 3: policy 3 is not");
	parse("0:\"x\":1:1:0\n0:\"x\":0:1:0\n", PED_E_INVALID, "line 2: policy 0 is given twice");
	parse("0:x:1:1:0\n", PED_E_INVALID, "double quotes");
	parse("0:\"x:1:1:0\n", PED_E_INVALID, "double quotes");
	parse("0:\"x\":256:1:0\n", PED_E_INVALID, "0-255");
	parse("0:\"x\":-1:1:0\n", PED_E_INVALID, "0-255");
	parse("0:\"x\":1:2:0\n", PED_E_INVALID, "0 or 1");
	parse("0:\"x\":1:1\n", PED_E_INVALID, "0 or 1");
	parse("0000:\"x\":1:1:0\n", PED_E_INVALID, "line 1");
	parse("99:\"x\":1:1:0\n", PED_E_INVALID, "not a policy");
	parse("0:\"\x01\":1:1:0\n", PED_E_INVALID, "printable");
	char nul[] = "0:\"x\":1:1:0\n";
	nul[3] = '\0';
	CU_ASSERT_EQUAL(hsm_ppt_parse(nul, sizeof(nul) - 1, &t, why, sizeof(why)), PED_E_INVALID);
	/* bounded: a line, the file */
	static char big[HSM_PPT_MAX + 2];
	memset(big, '#', sizeof(big) - 1);
	CU_ASSERT_EQUAL(hsm_ppt_parse(big, HSM_PPT_LINE_MAX + 1, &t, why, sizeof(why)), PED_E_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "longer than"));
	CU_ASSERT_EQUAL(hsm_ppt_parse(big, sizeof(big) - 1, &t, why, sizeof(why)), PED_E_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "larger than"));
}

static int apply(const char *text, struct hsm_partition *p, char *why, size_t whylen)
{
	struct hsm_ppt t;
	int r;
	memset(p, 0, sizeof(*p));
	hsm_partition_defaults(p);
	if ((r = hsm_ppt_parse(text, strlen(text), &t, why, whylen)) != PED_OK)
		return r;
	return hsm_ppt_apply(p, &t, why, whylen);
}

static void applied_with_chapter_6_rules(void)
{
	struct hsm_partition p;
	char why[256];
	CU_ASSERT_EQUAL(apply(example, &p, why, sizeof(why)), PED_OK);
	/* the order does not matter: 1 on after 0 off, or before */
	CU_ASSERT_EQUAL(apply("1:\"w\":1:1:0\n0:\"c\":0:1:0\n", &p, why, sizeof(why)), PED_OK);
	CU_ASSERT_TRUE(p.kp.v[0] == 0 && p.kp.v[1] == 1);
	CU_ASSERT_EQUAL(apply("1:\"w\":1:1:0\n", &p, why, sizeof(why)), PED_E_ACTION_PROHIBITED); /* 0 is 1 by default */
	CU_ASSERT_EQUAL(apply("0:\"c\":1:1:0\n1:\"w\":1:1:0\n", &p, why, sizeof(why)), PED_E_ACTION_PROHIBITED);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "may not both be 1"));
	CU_ASSERT_EQUAL(p.kp.v[1], 0); /* refused: nothing taken */
	CU_ASSERT_EQUAL(apply("1:\"w\":0:0:0\n", &p, why, sizeof(why)), PED_E_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "must be destructive Off to on"));
	CU_ASSERT_EQUAL(apply("20:\"m\":11:0:0\n", &p, why, sizeof(why)), PED_E_INVALID);
	CU_ASSERT_EQUAL(apply("20:\"m\":0:0:0\n", &p, why, sizeof(why)), PED_E_INVALID);
	CU_ASSERT_EQUAL(apply("43:\"f\":2:1:0\n", &p, why, sizeof(why)), PED_E_INVALID);
	CU_ASSERT_EQUAL(apply("25:\"p\":248:0:0\n", &p, why, sizeof(why)), PED_E_INVALID); /* 7 characters */
	CU_ASSERT_EQUAL(apply("25:\"p\":235:0:0\n26:\"p\":19:0:0\n", &p, why, sizeof(why)), PED_E_INVALID);
	CU_ASSERT_EQUAL(apply("26:\"p\":20:0:0\n25:\"p\":235:0:0\n", &p, why, sizeof(why)), PED_OK);
	CU_ASSERT_TRUE(p.min_pin_policy == 235 && p.max_pin_length == 20);
	/* the directions: the template's, the defaults' where it says nothing */
	CU_ASSERT_EQUAL(apply("17:\"s\":1:1:1\n43:\"f\":1:0:0\n", &p, why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL(p.policy_erase[17], HSM_ERASE_OFF_TO_ON | HSM_ERASE_ON_TO_OFF);
	CU_ASSERT_EQUAL(p.policy_erase[43], 0);
	CU_ASSERT_EQUAL(p.policy_erase[0], HSM_ERASE_OFF_TO_ON);
}

static void exported_and_read_back(void)
{
	struct hsm_partition p = {0}, q = {0};
	struct hsm_ppt t;
	char *text = NULL, why[256];
	size_t len = 0;
	hsm_partition_defaults(&p);
	CU_ASSERT_EQUAL_FATAL(hsm_ppt_export(&p, "154438865290", &text, &len), PED_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "# Field format - Policy ID:Policy Description:Policy Value:Off to on "
					   "destructive:On to off destructive\n# Sourced from partition: \n\n0:\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n0:\"Allow private key cloning\":1:1:0\n1:\"Allow private key wrapping\":0:1:0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n39:\"Allow Start/End Date Attributes\":0:0:1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n15:\"Ignore failed challenge responses\":1:1:0\n"));
	OPENSSL_free(text);
	snprintf(p.label, sizeof(p.label), "myPartition1");
	p.initialized = 1;
	p.kp.v[0] = 0;
	p.kp.v[1] = 1;
	p.max_failed_user_logins = 3;
	p.policy_erase[43] = HSM_ERASE_ON_TO_OFF;
	CU_ASSERT_EQUAL_FATAL(hsm_ppt_export(&p, "154438865290", &text, &len), PED_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "# Sourced from partition: myPartition1, SN: 154438865290\n"));
	CU_ASSERT_EQUAL_FATAL(hsm_ppt_parse(text, len, &t, why, sizeof(why)), PED_OK);
	hsm_partition_defaults(&q);
	CU_ASSERT_EQUAL(hsm_ppt_apply(&q, &t, why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL(memcmp(&q.kp, &p.kp, sizeof(p.kp)), 0);
	CU_ASSERT_EQUAL(memcmp(q.policy_erase, p.policy_erase, sizeof(p.policy_erase)), 0);
	CU_ASSERT_EQUAL(q.max_failed_user_logins, 3);
	OPENSSL_free(text);
}

UNIT_SUITE(template, NULL, NULL, UNIT_TEST(the_reference_format), UNIT_TEST(applied_with_chapter_6_rules),
	   UNIT_TEST(exported_and_read_back))
