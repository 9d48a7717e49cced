/* What the headless operator reads off hsmcm's output: the password printed
 * for the HSM the PED names, each typed once, and that HSM's identity. */
#include "unit.h"

#include "../../ped-device/headless.h"
#include "../../ped-device/transcript.h"
#include "ped/error.h"

#include <stdio.h>
#include <string.h>

static char path[1024];

static void write_transcript(const char *text, const char *mode)
{
	FILE *f = fopen(path, mode);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

#define ID_A "\tHSM 154438865288 identity: HOC fingerprint 5947 15B4 626C E6AD\n"
#define ID_B "\tHSM 496771 identity: HOC fingerprint 0000 1111 2222 3333\n"
#define PW(n) "\tPlease attend to the PED and enter following password: " n "\n"

static void the_password_follows_its_hsms_identity(void)
{
	char pw[9];
	char used[2][9] = {"", ""};

	snprintf(path, sizeof(path), "%s/transcript", unit_tmpdir());
	CU_ASSERT_EQUAL(transcript_password(path, "154438865288", NULL, 0, pw), PED_E_NOT_FOUND); /* no file yet */
	write_transcript("hsmcm:> ped connect -password\n" ID_A, "w");
	CU_ASSERT_EQUAL(transcript_password(path, "154438865288", NULL, 0, pw), PED_E_NOT_FOUND); /* not printed yet */
	write_transcript(PW("04488248") "\nCommand Result : No Error\n" ID_B PW("11112222"), "a");
	CU_ASSERT_EQUAL(transcript_password(path, "154438865288", NULL, 0, pw), PED_OK);
	CU_ASSERT_STRING_EQUAL(pw, "04488248");
	CU_ASSERT_EQUAL(transcript_password(path, "496771", NULL, 0, pw), PED_OK);
	CU_ASSERT_STRING_EQUAL(pw, "11112222");
	/* typed once: until ped connect prints a new one, there is none */
	strcpy(used[0], "04488248");
	CU_ASSERT_EQUAL(transcript_password(path, "154438865288", (const char (*)[9])used, 1, pw), PED_E_NOT_FOUND);
	write_transcript(ID_A PW("55556666"), "a");
	CU_ASSERT_EQUAL(transcript_password(path, "154438865288", (const char (*)[9])used, 1, pw), PED_OK);
	CU_ASSERT_STRING_EQUAL(pw, "55556666");
	/* what a PED coming on finds is stale: every password so far */
	char stale[8][9];
	CU_ASSERT_EQUAL(transcript_passwords(path, stale, 8), 3);
	CU_ASSERT_STRING_EQUAL(stale[0], "04488248");
	CU_ASSERT_STRING_EQUAL(stale[2], "55556666");
	CU_ASSERT_EQUAL(transcript_passwords(path, stale, 2), 2);
	CU_ASSERT_EQUAL(transcript_password(path, "154438865288", (const char (*)[9])stale, 3, pw), PED_E_NOT_FOUND);
	/* not an 8-digit password: nothing */
	write_transcript(ID_A PW("123456789") ID_B PW("1234"), "a");
	CU_ASSERT_EQUAL(transcript_password(path, "154438865288", NULL, 0, pw), PED_E_NOT_FOUND);
	CU_ASSERT_EQUAL(transcript_password(path, "496771", NULL, 0, pw), PED_E_NOT_FOUND);
	/* another serial's line is not this one's */
	CU_ASSERT_EQUAL(transcript_password(path, "15443886528", NULL, 0, pw), PED_E_NOT_FOUND);
}

static void the_identity_is_the_newest_line_for_the_serial(void)
{
	snprintf(path, sizeof(path), "%s/identity", unit_tmpdir());
	CU_ASSERT_EQUAL(transcript_identity(path, "154438865288", "5947 15B4 626C E6AD"), PED_E_NOT_FOUND);
	write_transcript(ID_A ID_B, "w");
	CU_ASSERT_EQUAL(transcript_identity(path, "154438865288", "5947 15B4 626C E6AD"), 1);
	CU_ASSERT_EQUAL(transcript_identity(path, "154438865288", "5947 15B4 626C E6AE"), 0);
	CU_ASSERT_EQUAL(transcript_identity(path, "154438865288", "5947 15B4 626C"), 0);
	CU_ASSERT_EQUAL(transcript_identity(path, "496771", "5947 15B4 626C E6AD"), 0);
	CU_ASSERT_EQUAL(transcript_identity(path, "999", "5947 15B4 626C E6AD"), PED_E_NOT_FOUND);
	/* a file of another kind (a directory) is no transcript */
	CU_ASSERT_EQUAL(transcript_identity(unit_tmpdir(), "154438865288", "5947 15B4 626C E6AD"), PED_E_FILE);
}

static void policy_rules_for_the_operator(void)
{
	static const char *const good[] = {
		"password 12345678\n",
		"password /tmp/hsmcm.out\nidentity /tmp/hsmcm.out\n",
		"identity 154438865288 \"5947 15B4 626C E6AD\"\n",
		"identity 496771 000011112222333f\nshare-rpk yes\n",
	};
	static const char *const bad[] = {
		"password 1234567\n",            /* 7 digits, and no path */
		"password relative.txt\n",      /* a file must be named with a / */
		"identity 154438865288\n",      /* no fingerprint */
		"identity 154438865288 5947\n", /* too short */
		"identity 154438865288 \"5947 15B4 626C E6AD 0\"\n", /* too long */
		"identity 154438865288 5947X5B4626CE6AD\n",          /* not hex */
		"identity 12345678901234567 5947A5B4626CE6AD\n",     /* serial too long */
		"share-rpk maybe\n",
	};
	struct policy *p = NULL;
	char err[160];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CU_ASSERT_EQUAL(policy_parse(good[i], strlen(good[i]), &p, err, sizeof(err)), PED_OK);
		policy_free(p);
		p = NULL;
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(policy_parse(bad[i], strlen(bad[i]), &p, err, sizeof(err)), PED_E_CONFIG);
		CU_ASSERT_PTR_NULL(p);
	}
}

UNIT_SUITE(transcript, NULL, NULL, UNIT_TEST(the_password_follows_its_hsms_identity),
	   UNIT_TEST(the_identity_is_the_newest_line_for_the_serial), UNIT_TEST(policy_rules_for_the_operator))
