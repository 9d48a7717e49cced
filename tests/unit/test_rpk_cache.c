/* The Remote PED's RPV cache: eviction keeps the newest, forgetting one HSM
 * keeps the others, and what is forgotten is wiped. */
#include "unit.h"

#include "../../ped-device/rpk_cache.h"

#include <stdio.h>
#include <string.h>

static void fill(struct rpk_cache *c, int from, int to)
{
	for (int i = from; i < to; i++) {
		char hsm[32];
		uint8_t rpv[32];
		struct cer_rpv_static st;
		memset(&st, 0, sizeof(st));
		memset(rpv, i + 1, sizeof(rpv));
		snprintf(hsm, sizeof(hsm), "HSM:%06d", i);
		CU_ASSERT(rpk_cache_remember(c, hsm, rpv, sizeof(rpv), &st) >= 0);
	}
}

static void a_ninth_hsm_evicts_only_the_oldest(void)
{
	struct rpk_cache c;
	memset(&c, 0, sizeof(c));
	fill(&c, 0, MAX_RPKS + 1);
	CU_ASSERT_EQUAL(c.n, MAX_RPKS);
	CU_ASSERT_EQUAL(rpk_cache_find(&c, "HSM:000000"), -1);
	for (int i = 1; i <= MAX_RPKS; i++) {
		char hsm[32];
		snprintf(hsm, sizeof(hsm), "HSM:%06d", i);
		int at = rpk_cache_find(&c, hsm);
		CU_ASSERT_EQUAL(at, i - 1); /* oldest first */
		if (at >= 0)
			CU_ASSERT_EQUAL(c.rpv[at][31], i + 1);
	}
	/* and the next one evicts HSM:000001, not the rest */
	fill(&c, MAX_RPKS + 1, MAX_RPKS + 2);
	CU_ASSERT_EQUAL(c.n, MAX_RPKS);
	CU_ASSERT_EQUAL(rpk_cache_find(&c, "HSM:000001"), -1);
	CU_ASSERT(rpk_cache_find(&c, "HSM:000002") >= 0);
	rpk_cache_forget(&c, NULL);
}

static void forgetting_one_keeps_the_others_and_wipes(void)
{
	static const uint8_t zero[PED_APP_SECRET_MAX];
	struct rpk_cache c;
	memset(&c, 0, sizeof(c));
	fill(&c, 0, 3);
	rpk_cache_forget(&c, "HSM:000001");
	CU_ASSERT_EQUAL(c.n, 2);
	CU_ASSERT_EQUAL(rpk_cache_find(&c, "HSM:000000"), 0);
	CU_ASSERT_EQUAL(rpk_cache_find(&c, "HSM:000002"), 1);
	CU_ASSERT_EQUAL(c.rpv[1][0], 3);
	CU_ASSERT(memcmp(c.rpv[2], zero, sizeof(zero)) == 0);
	/* remembering an HSM again replaces its entry */
	fill(&c, 0, 1);
	CU_ASSERT_EQUAL(c.n, 2);
	CU_ASSERT_EQUAL(rpk_cache_find(&c, "HSM:000000"), 1);
	rpk_cache_forget(&c, NULL);
	CU_ASSERT_EQUAL(c.n, 0);
	for (int i = 0; i < MAX_RPKS; i++)
		CU_ASSERT(memcmp(c.rpv[i], zero, sizeof(zero)) == 0);
}

UNIT_SUITE(rpk_cache, NULL, NULL, UNIT_TEST(a_ninth_hsm_evicts_only_the_oldest),
	   UNIT_TEST(forgetting_one_keeps_the_others_and_wipes))
