/* Chapter 8's login rules as libhsm applies them, called directly: counting
 * per role, the limits and their consequences, policy 20, count before
 * check, activation and auto-activation, challenges under policy 15. */
#include "unit.h"
#include "keys_fixture.h"

#include "hsm/hsm.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

/* A store that remembers what each save would have written. */
struct fake_store {
	struct hsm_role_state *watch; /* whose count a save sees */
	int saves, fail;
	uint32_t saved_failures;
};

static int fake_save(void *arg)
{
	struct fake_store *f = arg;
	f->saves++;
	if (f->watch)
		f->saved_failures = f->watch->failures;
	return f->fail ? PED_E_IO : PED_OK;
}

static struct hsm *h;
static struct fake_store fs;
static const struct hsm_store store = {fake_save, &fs, NULL};

/* Each role's credential: a 1-of-1 keyset, whose only split is the secret. */
struct cred {
	uint8_t secret[HSM_SECRET_LEN], id[16];
};

static int setup(void)
{
	h = OPENSSL_zalloc(sizeof(*h));
	return !h || hsm_create(h, "160001");
}

static int teardown(void)
{
	if (h)
		hsm_cleanse(h);
	OPENSSL_clear_free(h, sizeof(*h));
	return 0;
}

static void give(struct hsm_role_state *rs, struct cred *c)
{
	RAND_bytes(c->secret, sizeof(c->secret));
	RAND_bytes(c->id, sizeof(c->id));
	memset(rs, 0, sizeof(*rs));
	hsm_credential_set(&rs->cred, c->secret, sizeof(c->secret), 1, 1, c->id);
}

/* What the PED sends for a keyset: its one split (or a stranger's). */
static void splits_of(const struct cred *c, struct ped_app_splits *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->count = 1;
	sp->s[0].index = 1;
	sp->s[0].m = sp->s[0].n = 1;
	memcpy(sp->s[0].keyset_id, c->id, sizeof(c->id));
	memcpy(sp->s[0].share, c->secret, HSM_SECRET_LEN);
	sp->s[0].share_len = HSM_SECRET_LEN;
}

/* An initialized HSM with one initialized partition whose roles all have keysets. */
static struct hsm_partition *fresh(struct cred *so, struct cred *po, struct cred *co, struct cred *cu)
{
	struct hsm_partition *p = NULL;
	hsm_zeroize(h);
	h->initialized = 1;
	give(&h->so, so);
	CU_ASSERT_EQUAL_FATAL(hsm_partition_create(h, "par", &p), PED_OK);
	p->initialized = 1;
	give(&p->po, po);
	give(&p->co, co);
	give(&p->cu, cu);
	memset(&fs, 0, sizeof(fs));
	return p;
}

/* n logins of role with a stranger's keyset; the last result in res. */
static void fail_n(struct hsm_partition *p, enum hsm_role role, int n, struct hsm_login_result *res)
{
	struct cred stranger;
	struct ped_app_splits sp;
	give(&(struct hsm_role_state){0}, &stranger);
	splits_of(&stranger, &sp);
	for (int i = 0; i < n; i++)
		CU_ASSERT_EQUAL(hsm_ped_login(h, p, role, &sp, &store, res), res->err);
	OPENSSL_cleanse(&sp, sizeof(sp));
}

static int ped_login(struct hsm_partition *p, enum hsm_role role, const struct cred *c,
		     struct hsm_login_result *res)
{
	struct ped_app_splits sp;
	splits_of(c, &sp);
	int r = hsm_ped_login(h, p, role, &sp, &store, res);
	OPENSSL_cleanse(&sp, sizeof(sp));
	return r;
}

static void failures_count_per_role_and_reset_on_success(void)
{
	struct cred so, po, co, cu;
	struct hsm_login_result res;
	struct hsm_partition *p = fresh(&so, &po, &co, &cu);

	fail_n(p, HSM_ROLE_CO, 2, &res);
	CU_ASSERT_EQUAL(res.err, PED_E_PIN_INCORRECT);
	CU_ASSERT_EQUAL(res.remaining, HSM_USER_MAX_FAILURES_DEFAULT - 2);
	fail_n(p, HSM_ROLE_CU, 1, &res);
	fail_n(NULL, HSM_ROLE_SO, 1, &res);
	CU_ASSERT_EQUAL(p->co.failures, 2);
	CU_ASSERT_EQUAL(p->cu.failures, 1);
	CU_ASSERT_EQUAL(p->po.failures, 0);
	CU_ASSERT_EQUAL(h->so.failures, 1);
	CU_ASSERT_EQUAL(res.remaining, HSM_SO_MAX_FAILURES - 1);
	/* each attempt saved its count before the check, and its outcome after */
	CU_ASSERT_EQUAL(fs.saves, 8);
	CU_ASSERT_EQUAL(ped_login(p, HSM_ROLE_CO, &co, &res), PED_OK);
	CU_ASSERT_EQUAL(p->co.failures, 0);
	CU_ASSERT_EQUAL(p->cu.failures, 1);
	/* a key of the right colour from another role's keyset is a wrong secret */
	CU_ASSERT_EQUAL(ped_login(p, HSM_ROLE_CU, &co, &res), PED_E_PIN_INCORRECT);
	CU_ASSERT_EQUAL(p->cu.failures, 2);
	CU_ASSERT_EQUAL(ped_login(NULL, HSM_ROLE_SO, &so, &res), PED_OK);
	CU_ASSERT_EQUAL(h->so.failures, 0);
	/* a partition role without its partition, an unset role: nothing to count */
	CU_ASSERT_EQUAL(ped_login(NULL, HSM_ROLE_CO, &co, &res), PED_E_USER_NOT_LOGGED_IN);
	CU_ASSERT_EQUAL(ped_login(NULL, HSM_ROLE_AU, &co, &res), PED_E_USER_NOT_LOGGED_IN);
}

static void so_zeroizes_the_hsm_at_three(void)
{
	struct cred so, po, co, cu;
	struct hsm_login_result res;
	struct hsm_partition *p = fresh(&so, &po, &co, &cu);

	fail_n(NULL, HSM_ROLE_SO, HSM_SO_MAX_FAILURES - 1, &res);
	CU_ASSERT_FALSE(res.hsm_zeroized);
	CU_ASSERT_EQUAL(res.remaining, 1);
	CU_ASSERT_TRUE(h->initialized);
	fail_n(NULL, HSM_ROLE_SO, 1, &res);
	CU_ASSERT_TRUE(res.hsm_zeroized);
	CU_ASSERT_EQUAL(res.remaining, 0);
	CU_ASSERT_FALSE(h->initialized);
	CU_ASSERT_FALSE(h->so.cred.set);
	CU_ASSERT_EQUAL(h->npartitions, 0);
	(void)p;
	/* the SO's right keyset no longer opens anything */
	CU_ASSERT_EQUAL(ped_login(NULL, HSM_ROLE_SO, &so, &res), PED_E_USER_NOT_LOGGED_IN);
}

static void po_zeroizes_its_partition_at_ten(void)
{
	struct cred so, po, co, cu;
	struct hsm_login_result res;
	struct hsm_partition *p = fresh(&so, &po, &co, &cu);

	CU_ASSERT_EQUAL_FATAL(hsm_part_obj_add(p, kf_data("k", "v", 1, 0)), PED_OK);
	fail_n(p, HSM_ROLE_PO, HSM_PO_MAX_FAILURES - 1, &res);
	CU_ASSERT_FALSE(res.partition_zeroized);
	CU_ASSERT_TRUE(p->initialized);
	fail_n(p, HSM_ROLE_PO, 1, &res);
	CU_ASSERT_TRUE(res.partition_zeroized);
	CU_ASSERT_FALSE(res.hsm_zeroized);
	CU_ASSERT_FALSE(p->initialized);
	CU_ASSERT_FALSE(p->co.cred.set);
	CU_ASSERT_EQUAL(p->nobjs, 0);
	CU_ASSERT_STRING_EQUAL(p->name, "par");
	/* the HSM and its SO stay */
	CU_ASSERT_TRUE(h->initialized);
	CU_ASSERT_EQUAL(ped_login(NULL, HSM_ROLE_SO, &so, &res), PED_OK);
}

static void co_lock_locks_cu_and_cu_lock_only_cu(void)
{
	struct cred so, po, co, cu;
	struct hsm_login_result res;
	struct hsm_partition *p = fresh(&so, &po, &co, &cu);

	fail_n(p, HSM_ROLE_CU, HSM_USER_MAX_FAILURES_DEFAULT, &res);
	CU_ASSERT_TRUE(res.locked);
	CU_ASSERT_TRUE(p->cu.locked);
	CU_ASSERT_FALSE(p->co.locked);
	/* a locked role is refused before any secret is looked at */
	CU_ASSERT_EQUAL(ped_login(p, HSM_ROLE_CU, &cu, &res), PED_E_PIN_LOCKED);
	CU_ASSERT_EQUAL(ped_login(p, HSM_ROLE_CO, &co, &res), PED_OK);

	p = fresh(&so, &po, &co, &cu);
	fail_n(p, HSM_ROLE_CO, HSM_USER_MAX_FAILURES_DEFAULT - 1, &res);
	CU_ASSERT_FALSE(res.locked);
	fail_n(p, HSM_ROLE_CO, 1, &res);
	CU_ASSERT_TRUE(res.locked);
	CU_ASSERT_TRUE(p->co.locked);
	CU_ASSERT_TRUE(p->cu.locked);
	CU_ASSERT_EQUAL(ped_login(p, HSM_ROLE_CO, &co, &res), PED_E_PIN_LOCKED);
	CU_ASSERT_EQUAL(ped_login(p, HSM_ROLE_CU, &cu, &res), PED_E_PIN_LOCKED);
	CU_ASSERT_TRUE(p->initialized); /* a lock, not a zeroization */
}

static void policy_20_lowers_the_user_limit(void)
{
	struct cred so, po, co, cu;
	struct hsm_login_result res;
	struct hsm_partition *p = fresh(&so, &po, &co, &cu);

	/* the Partition SO may only lower it: 1 to 10 */
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, HSM_POLICY_MAX_FAILED_USER_LOGINS, 0), PED_E_RANGE);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, HSM_POLICY_MAX_FAILED_USER_LOGINS, 11), PED_E_RANGE);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, HSM_POLICY_MAX_FAILED_USER_LOGINS, 3), PED_OK);
	fail_n(p, HSM_ROLE_CU, 2, &res);
	CU_ASSERT_EQUAL(res.remaining, 1);
	CU_ASSERT_FALSE(p->cu.locked);
	fail_n(p, HSM_ROLE_CU, 1, &res);
	CU_ASSERT_TRUE(p->cu.locked);
	/* it does not touch the Partition SO's 10 */
	fail_n(p, HSM_ROLE_PO, 3, &res);
	CU_ASSERT_FALSE(res.partition_zeroized);
	CU_ASSERT_EQUAL(res.remaining, HSM_PO_MAX_FAILURES - 3);
}

/* Policy 20 lowered to a role's consecutive failures or under: the role is
 * locked then, as reaching the limit at a login would lock it, not left
 * showing "5 failed logins of 3" to refuse its right key as a wrong one. */
static void policy_20_lowered_under_the_count_locks_now(void)
{
	struct cred so, po, co, cu;
	struct hsm_login_result res;
	struct hsm_partition *p = fresh(&so, &po, &co, &cu);

	fail_n(p, HSM_ROLE_CU, 2, &res);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, HSM_POLICY_MAX_FAILED_USER_LOGINS, 3), PED_OK);
	CU_ASSERT_FALSE(p->cu.locked); /* under the new limit: nothing changes */
	CU_ASSERT_FALSE(p->co.locked);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, HSM_POLICY_MAX_FAILED_USER_LOGINS, 2), PED_OK);
	CU_ASSERT_TRUE(p->cu.locked);
	CU_ASSERT_FALSE(p->co.locked);
	CU_ASSERT_EQUAL(ped_login(p, HSM_ROLE_CU, &cu, &res), PED_E_PIN_LOCKED);
	CU_ASSERT_EQUAL(ped_login(p, HSM_ROLE_CO, &co, &res), PED_OK);

	/* the CO's count: the CO and the CU, as chapter 8's CO lockout */
	p = fresh(&so, &po, &co, &cu);
	fail_n(p, HSM_ROLE_CO, 5, &res);
	CU_ASSERT_FALSE(p->co.locked);
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, HSM_POLICY_MAX_FAILED_USER_LOGINS, 3), PED_OK);
	CU_ASSERT_TRUE(p->co.locked);
	CU_ASSERT_TRUE(p->cu.locked);
	CU_ASSERT_EQUAL(ped_login(p, HSM_ROLE_CO, &co, &res), PED_E_PIN_LOCKED);
	CU_ASSERT_EQUAL(ped_login(p, HSM_ROLE_CU, &cu, &res), PED_E_PIN_LOCKED);

	/* the same change, all or nothing through the list form */
	p = fresh(&so, &po, &co, &cu);
	fail_n(p, HSM_ROLE_CO, 4, &res);
	uint32_t pol[] = {HSM_POLICY_MAX_FAILED_USER_LOGINS}, val[] = {4};
	int erase = 0;
	CU_ASSERT_EQUAL(hsm_partition_set_policies(p, pol, val, 1, 1, &erase, NULL), PED_OK);
	CU_ASSERT_FALSE(p->co.locked); /* a dry run changes nothing */
	CU_ASSERT_EQUAL(hsm_partition_set_policies(p, pol, val, 1, 0, &erase, NULL), PED_OK);
	CU_ASSERT_TRUE(p->co.locked);
	CU_ASSERT_FALSE(erase);
}

static void the_count_is_saved_before_the_check(void)
{
	struct cred so, po, co, cu;
	struct hsm_login_result res;
	struct hsm_partition *p = fresh(&so, &po, &co, &cu);

	/* the first save carries the failure the attempt would add, even a right one */
	fs.watch = &p->co;
	CU_ASSERT_EQUAL(hsm_attempt_record(&p->co, &store), PED_OK);
	CU_ASSERT_EQUAL(fs.saves, 1);
	CU_ASSERT_EQUAL(fs.saved_failures, 1);
	CU_ASSERT_EQUAL(p->co.failures, 0);
	fs.saves = 0;
	CU_ASSERT_EQUAL(ped_login(p, HSM_ROLE_CO, &co, &res), PED_OK);
	CU_ASSERT_EQUAL(fs.saves, 2);
	CU_ASSERT_EQUAL(fs.saved_failures, 0); /* the success, saved after */

	/* a count that cannot be saved: the attempt is not made, even with the right keys */
	fs.fail = 1;
	fs.saves = 0;
	CU_ASSERT_EQUAL(ped_login(p, HSM_ROLE_CO, &co, &res), PED_E_IO);
	CU_ASSERT_TRUE(res.unrecorded);
	CU_ASSERT_EQUAL(fs.saves, 1);
	/* no store rolled memory back here: the try stays spent */
	CU_ASSERT_EQUAL(p->co.failures, 1);
	fs.fail = 0;

	/* at the bound nothing more is counted, so nothing is saved first */
	p->cu.failures = HSM_FAILURES_MAX;
	fs.saves = 0;
	CU_ASSERT_EQUAL(hsm_attempt_record(&p->cu, &store), PED_OK);
	CU_ASSERT_EQUAL(fs.saves, 0);

	/* splits no PED sends (a repeated one) count nothing and save nothing */
	struct ped_app_splits sp;
	splits_of(&co, &sp);
	sp.s[1] = sp.s[0];
	sp.count = 2;
	fs.saves = 0;
	uint32_t before = p->co.failures;
	CU_ASSERT_EQUAL(hsm_ped_login(h, p, HSM_ROLE_CO, &sp, &store, &res), PED_E_CALLBACK_ERROR);
	CU_ASSERT_EQUAL(fs.saves, 0);
	CU_ASSERT_EQUAL(p->co.failures, before);
	OPENSSL_cleanse(&sp, sizeof(sp));
}

static void a_limit_whose_consequence_was_lost_applies_next(void)
{
	struct cred so, po, co, cu;
	struct hsm_login_result res;
	struct hsm_partition *p = fresh(&so, &po, &co, &cu);

	/* the third failure was saved first, but the zeroization after it was not */
	h->so.failures = HSM_SO_MAX_FAILURES;
	CU_ASSERT_EQUAL(ped_login(NULL, HSM_ROLE_SO, &so, &res), PED_E_PIN_INCORRECT);
	CU_ASSERT_TRUE(res.hsm_zeroized);
	CU_ASSERT_FALSE(h->initialized);
	(void)p;
}

static void activation_caches_the_ped_secret(void)
{
	struct cred so, po, co, cu;
	struct hsm_login_result res;
	struct hsm_partition *p = fresh(&so, &po, &co, &cu);
	const char *ch = "challenge-1";

	/* activation needs policy 22 and a challenge, and is for CO and CU only */
	CU_ASSERT_FALSE(hsm_activation_applies(p, HSM_ROLE_CO));
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, HSM_POLICY_ALLOW_ACTIVATION, 1), PED_OK);
	CU_ASSERT_FALSE(hsm_activation_applies(p, HSM_ROLE_CO));
	hsm_verifier((const uint8_t *)ch, strlen(ch), p->co.challenge_verifier);
	p->co.challenge_set = 1;
	p->po.challenge_set = 1;
	CU_ASSERT_TRUE(hsm_activation_applies(p, HSM_ROLE_CO));
	CU_ASSERT_FALSE(hsm_activation_applies(p, HSM_ROLE_CU));
	CU_ASSERT_FALSE(hsm_activation_applies(p, HSM_ROLE_PO));
	CU_ASSERT_FALSE(hsm_activation_applies(NULL, HSM_ROLE_CO));

	/* the first login with the right challenge still needs the PED */
	CU_ASSERT_EQUAL(hsm_challenge_login(h, p, HSM_ROLE_CO, ch, strlen(ch), &store, &res),
			HSM_CHALLENGE_NEEDS_PED);
	CU_ASSERT_EQUAL(ped_login(p, HSM_ROLE_CO, &co, &res), PED_OK);
	hsm_activate(p, HSM_ROLE_CO);
	CU_ASSERT_TRUE(p->co.activated);
	CU_ASSERT_FALSE(p->cu.activated);
	/* then the challenge alone, which also clears the count */
	p->co.failures = 4;
	CU_ASSERT_EQUAL(hsm_challenge_login(h, p, HSM_ROLE_CO, ch, strlen(ch), &store, &res), PED_OK);
	CU_ASSERT_EQUAL(p->co.failures, 0);
	/* a restart keeps the cached secret only with auto-activation (23) */
	CU_ASSERT_FALSE(hsm_activation_persists(p));
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, HSM_POLICY_ALLOW_AUTO_ACTIVATION, 1), PED_OK);
	CU_ASSERT_TRUE(hsm_activation_persists(p));
	/* turning 22 off deletes the cached secrets; 23 keeps its value */
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, HSM_POLICY_ALLOW_ACTIVATION, 0), PED_OK);
	CU_ASSERT_FALSE(p->co.activated);
	CU_ASSERT_FALSE(hsm_activation_persists(p));
	CU_ASSERT_TRUE(p->allow_auto_activation);
	CU_ASSERT_EQUAL(hsm_challenge_login(h, p, HSM_ROLE_CO, ch, strlen(ch), &store, &res),
			PED_E_USER_NOT_LOGGED_IN);
}

static void wrong_challenges_count_only_under_policy_15_off(void)
{
	struct cred so, po, co, cu;
	struct hsm_login_result res;
	struct hsm_partition *p = fresh(&so, &po, &co, &cu);
	const char *ch = "the-right-one", *bad = "the-wrong-one";

	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, HSM_POLICY_ALLOW_ACTIVATION, 1), PED_OK);
	hsm_verifier((const uint8_t *)ch, strlen(ch), p->cu.challenge_verifier);
	p->cu.challenge_set = 1;
	p->cu.activated = 1;
	fs.watch = &p->cu;

	/* policy 15 at 1, the default: refused, not counted, nothing saved */
	CU_ASSERT_TRUE(p->ignore_failed_challenges);
	for (int i = 0; i < 2 * HSM_USER_MAX_FAILURES_DEFAULT; i++)
		CU_ASSERT_EQUAL(hsm_challenge_login(h, p, HSM_ROLE_CU, bad, strlen(bad), &store, &res),
				PED_E_PIN_INCORRECT);
	CU_ASSERT_EQUAL(p->cu.failures, 0);
	CU_ASSERT_FALSE(p->cu.locked);
	CU_ASSERT_EQUAL(fs.saves, 0);

	/* at 0: each wrong challenge is saved before the check, then counted */
	CU_ASSERT_EQUAL(hsm_partition_set_policy(p, HSM_POLICY_IGNORE_FAILED_CHALLENGES, 0), PED_OK);
	CU_ASSERT_EQUAL(hsm_challenge_login(h, p, HSM_ROLE_CU, bad, strlen(bad), &store, &res), PED_E_PIN_INCORRECT);
	CU_ASSERT_EQUAL(fs.saves, 2);
	CU_ASSERT_EQUAL(p->cu.failures, 1);
	CU_ASSERT_EQUAL(fs.saved_failures, 1);
	/* a right one is counted first too, then clears the count */
	CU_ASSERT_EQUAL(hsm_challenge_login(h, p, HSM_ROLE_CU, ch, strlen(ch), &store, &res), PED_OK);
	CU_ASSERT_EQUAL(fs.saved_failures, 2);
	CU_ASSERT_EQUAL(p->cu.failures, 0);
	/* a count that cannot be saved refuses even the right challenge */
	fs.fail = 1;
	CU_ASSERT_EQUAL(hsm_challenge_login(h, p, HSM_ROLE_CU, ch, strlen(ch), &store, &res), PED_E_IO);
	CU_ASSERT_TRUE(res.unrecorded);
	fs.fail = 0;
	p->cu.failures = 0;
	/* the limit locks the role, and a locked role is refused before the check */
	for (int i = 0; i < HSM_USER_MAX_FAILURES_DEFAULT; i++)
		CU_ASSERT_EQUAL(hsm_challenge_login(h, p, HSM_ROLE_CU, bad, strlen(bad), &store, &res),
				PED_E_PIN_INCORRECT);
	CU_ASSERT_TRUE(res.locked);
	CU_ASSERT_TRUE(p->cu.locked);
	CU_ASSERT_FALSE(p->co.locked);
	CU_ASSERT_EQUAL(hsm_challenge_login(h, p, HSM_ROLE_CU, ch, strlen(ch), &store, &res), PED_E_PIN_LOCKED);
}

/* A store with both saves: which one each step uses. */
static int counts_saves;
static int fake_save_counts(void *arg)
{
	counts_saves++;
	return fake_save(arg);
}

static void counts_go_to_the_small_save_zeroizations_to_the_whole(void)
{
	struct cred so, po, co, cu, stranger;
	struct hsm_login_result res;
	struct ped_app_splits sp;
	const struct hsm_store both = {fake_save, &fs, fake_save_counts};
	struct hsm_partition *p = fresh(&so, &po, &co, &cu);

	give(&(struct hsm_role_state){0}, &stranger);
	/* a right login: the count before the check, the reset after */
	counts_saves = 0;
	splits_of(&co, &sp);
	CU_ASSERT_EQUAL(hsm_ped_login(h, p, HSM_ROLE_CO, &sp, &both, &res), PED_OK);
	CU_ASSERT_EQUAL(counts_saves, 2);
	CU_ASSERT_EQUAL(fs.saves, 2);
	/* a wrong one, and the one that locks: counts too */
	splits_of(&stranger, &sp);
	counts_saves = fs.saves = 0;
	p->max_failed_user_logins = 2;
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(hsm_ped_login(h, p, HSM_ROLE_CO, &sp, &both, &res), PED_E_PIN_INCORRECT);
	CU_ASSERT_TRUE(res.locked);
	CU_ASSERT_EQUAL(counts_saves, fs.saves);
	/* the SO's third: its count small, the zeroization a whole save */
	counts_saves = fs.saves = 0;
	fs.watch = &h->so;
	for (int i = 0; i < HSM_SO_MAX_FAILURES; i++)
		CU_ASSERT_EQUAL(hsm_ped_login(h, NULL, HSM_ROLE_SO, &sp, &both, &res), PED_E_PIN_INCORRECT);
	CU_ASSERT_TRUE(res.hsm_zeroized);
	CU_ASSERT_EQUAL(fs.saves - counts_saves, 1);
	CU_ASSERT_EQUAL(fs.saved_failures, 0); /* the whole save was the zeroized state's */
	fs.watch = NULL;
	OPENSSL_cleanse(&sp, sizeof(sp));
}

UNIT_SUITE(rules, setup, teardown, UNIT_TEST(failures_count_per_role_and_reset_on_success),
	   UNIT_TEST(so_zeroizes_the_hsm_at_three), UNIT_TEST(po_zeroizes_its_partition_at_ten),
	   UNIT_TEST(co_lock_locks_cu_and_cu_lock_only_cu), UNIT_TEST(policy_20_lowers_the_user_limit),
	   UNIT_TEST(policy_20_lowered_under_the_count_locks_now),
	   UNIT_TEST(the_count_is_saved_before_the_check),
	   UNIT_TEST(a_limit_whose_consequence_was_lost_applies_next),
	   UNIT_TEST(activation_caches_the_ped_secret),
	   UNIT_TEST(wrong_challenges_count_only_under_policy_15_off),
	   UNIT_TEST(counts_go_to_the_small_save_zeroizations_to_the_whole))
