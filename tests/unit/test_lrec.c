/* The login record (hsm/lrec.h): two slots in turn, so a torn write of
 * either leaves the other; a bad MAC is no record; sequence numbers wrap;
 * a record goes with one state file only; a state file without one keeps
 * its own counts. */
#include "unit.h"

#include "hsm/hsm.h"
#include "hsm/lrec.h"
#include "ped/error.h"
#include "ped/fileio.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct hsm *h;
static char state[1024], lpath[1100];

static int setup(void)
{
	uint8_t secret[HSM_DEVICE_SECRET_LEN];
	h = OPENSSL_zalloc(sizeof(*h));
	if (!h || hsm_create(h, "170001") != PED_OK)
		return 1;
	RAND_bytes(secret, sizeof(secret));
	if (hsm_set_device_secret(h, secret) != PED_OK)
		return 1;
	OPENSSL_cleanse(secret, sizeof(secret));
	snprintf(state, sizeof(state), "%s/hsm-170001.state", unit_tmpdir());
	return hsm_lrec_path(state, lpath, sizeof(lpath)) != PED_OK;
}

static int teardown(void)
{
	if (h)
		hsm_cleanse(h);
	OPENSSL_clear_free(h, sizeof(*h));
	return 0;
}

static void fresh(struct hsm_lrec *rec)
{
	unlink(lpath);
	memset(rec, 0, sizeof(*rec));
	rec->slot = -1;
}

/* Writes n records, the k-th with SO failures k (1..n). */
static void write_n(struct hsm_lrec *rec, int n)
{
	for (int k = 1; k <= n; k++) {
		rec->failures[0] = (uint32_t)k;
		CU_ASSERT_EQUAL_FATAL(hsm_lrec_write(lpath, h, rec), PED_OK);
	}
}

static void scribble(int slot, size_t at, size_t len)
{
	int fd = open(lpath, O_WRONLY);
	uint8_t junk[HSM_LREC_LEN];
	CU_ASSERT_FATAL(fd >= 0);
	memset(junk, 0xa5, sizeof(junk));
	CU_ASSERT_EQUAL(pwrite(fd, junk, len, (off_t)slot * HSM_LREC_SLOT + (off_t)at), (ssize_t)len);
	close(fd);
}

static void read_back(struct hsm_lrec *got, int want_r)
{
	char why[300] = "";
	memset(got, 0, sizeof(*got));
	CU_ASSERT_EQUAL(hsm_lrec_read(lpath, h, got, why, sizeof(why)), want_r);
}

static void slots_alternate_and_newest_wins(void)
{
	struct hsm_lrec rec, got;
	struct stat st;
	fresh(&rec);
	read_back(&got, PED_E_NOT_FOUND);
	write_n(&rec, 1);
	CU_ASSERT_EQUAL(rec.slot, 0);
	CU_ASSERT_EQUAL(rec.seq, 1);
	CU_ASSERT_EQUAL(stat(lpath, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, HSM_LREC_FILE_LEN); /* both slots' room made at once */
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	write_n(&rec, 3); /* slots 1, 0, 1 */
	CU_ASSERT_EQUAL(rec.slot, 1);
	CU_ASSERT_EQUAL(rec.seq, 4);
}

static void torn_write_of_either_slot_leaves_the_other(void)
{
	struct hsm_lrec rec, got;
	for (int torn = 0; torn < 2; torn++) {
		fresh(&rec);
		write_n(&rec, torn ? 2 : 3); /* the newest in slot 0 (3 writes) or 1 (2) */
		CU_ASSERT_EQUAL(rec.slot, torn);
		read_back(&got, PED_OK);
		CU_ASSERT_EQUAL(got.failures[0], rec.failures[0]);
		/* the newest torn half way: the one before it */
		scribble(torn, HSM_LREC_LEN / 2, 40);
		read_back(&got, PED_OK);
		CU_ASSERT_EQUAL(got.slot, !torn);
		CU_ASSERT_EQUAL(got.seq, rec.seq - 1);
		CU_ASSERT_EQUAL(got.failures[0], rec.failures[0] - 1);
		/* and the next write goes to the torn slot, keeping the good one */
		rec = got;
		rec.failures[0] = 77;
		CU_ASSERT_EQUAL(hsm_lrec_write(lpath, h, &rec), PED_OK);
		CU_ASSERT_EQUAL(rec.slot, torn);
		read_back(&got, PED_OK);
		CU_ASSERT_EQUAL(got.failures[0], 77);
		/* the older slot torn instead: the newest stands */
		scribble(!torn, 0, 8);
		read_back(&got, PED_OK);
		CU_ASSERT_EQUAL(got.failures[0], 77);
		CU_ASSERT_EQUAL(got.slot, torn);
	}
}

static void a_bad_mac_is_no_record(void)
{
	struct hsm_lrec rec, got;
	struct hsm *other = OPENSSL_zalloc(sizeof(*other));
	uint8_t buf[HSM_LREC_LEN], secret[HSM_DEVICE_SECRET_LEN];
	char why[300] = "";

	fresh(&rec);
	write_n(&rec, 2);
	/* one bit of a count flipped: that slot is not valid */
	rec.failures[0] = 5;
	CU_ASSERT_EQUAL(hsm_lrec_encode(h, &rec, 9, buf), PED_OK);
	buf[4 + 1 + 4 + 8 + HSM_LREC_SUM_LEN + 1 + 3] ^= 1;
	CU_ASSERT_EQUAL(hsm_lrec_decode(h, buf, sizeof(buf), &got), PED_E_CORRUPT);
	buf[4 + 1 + 4 + 8 + HSM_LREC_SUM_LEN + 1 + 3] ^= 1;
	CU_ASSERT_EQUAL(hsm_lrec_decode(h, buf, sizeof(buf), &got), PED_OK);
	CU_ASSERT_EQUAL(got.seq, 9);
	/* another HSM's storage key: nothing it made is this one's record */
	CU_ASSERT_FATAL(other && hsm_create(other, "170001") == PED_OK);
	RAND_bytes(secret, sizeof(secret));
	CU_ASSERT_EQUAL(hsm_set_device_secret(other, secret), PED_OK);
	CU_ASSERT_EQUAL(hsm_lrec_decode(other, buf, sizeof(buf), &got), PED_E_CORRUPT);
	read_back(&got, PED_OK);
	CU_ASSERT_EQUAL(hsm_lrec_read(lpath, other, &got, why, sizeof(why)), PED_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "neither slot"));
	/* both slots damaged: refused, never taken for no record */
	scribble(0, HSM_LREC_LEN - 1, 1);
	scribble(1, 20, 1);
	read_back(&got, PED_E_CORRUPT);
	/* a count out of range, even MAC'd, is no record */
	rec.failures[3] = HSM_FAILURES_MAX + 1;
	CU_ASSERT_EQUAL(hsm_lrec_encode(h, &rec, 1, buf), PED_OK);
	CU_ASSERT_EQUAL(hsm_lrec_decode(h, buf, sizeof(buf), &got), PED_E_CORRUPT);
	hsm_cleanse(other);
	OPENSSL_free(other);
}

/* A record a later hsm-sim wrote (a downgrade) is named as such: told
 * "altered, or not this HSM's; moved away, the state file's own counts
 * apply", an operator moving it away would lose the failure counts it
 * holds. */
static void a_newer_version_is_named(void)
{
	struct hsm_lrec rec, got;
	char why[300] = "";
	int fd;
	uint8_t v = 2;

	fresh(&rec);
	write_n(&rec, 2);
	CU_ASSERT_FATAL((fd = open(lpath, O_WRONLY)) >= 0);
	CU_ASSERT_EQUAL(pwrite(fd, &v, 1, 4), 1);
	CU_ASSERT_EQUAL(pwrite(fd, &v, 1, HSM_LREC_SLOT + 4), 1);
	close(fd);
	memset(&got, 0, sizeof(got));
	CU_ASSERT_EQUAL(hsm_lrec_read(lpath, h, &got, why, sizeof(why)), PED_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "login record version 2 is newer than this hsm-sim reads (1)"));
	CU_ASSERT_PTR_NULL(strstr(why, "moved away"));
	unlink(lpath);
}

static void sequence_numbers_wrap(void)
{
	struct hsm_lrec rec, got;
	CU_ASSERT_TRUE(hsm_lrec_newer(0, 0xffffffffu));
	CU_ASSERT_FALSE(hsm_lrec_newer(0xffffffffu, 0));
	CU_ASSERT_TRUE(hsm_lrec_newer(5, 4));
	CU_ASSERT_FALSE(hsm_lrec_newer(4, 4));
	fresh(&rec);
	write_n(&rec, 1);
	rec.seq = 0xfffffffdu; /* as if written four billion times */
	write_n(&rec, 3);      /* 0xfffffffe, 0xffffffff, 0 */
	CU_ASSERT_EQUAL(rec.seq, 0);
	read_back(&got, PED_OK);
	CU_ASSERT_EQUAL(got.seq, 0);
	CU_ASSERT_EQUAL(got.slot, rec.slot);
	CU_ASSERT_EQUAL(got.failures[0], 3);
	/* the newest (seq 0) torn: 0xffffffff, the one before */
	scribble(rec.slot, 100, 4);
	read_back(&got, PED_OK);
	CU_ASSERT_EQUAL(got.seq, 0xffffffffu);
	CU_ASSERT_EQUAL(got.failures[0], 2);
}

static void a_record_goes_with_its_state_file(void)
{
	struct hsm_partition *p = NULL;
	struct hsm_lrec rec, got;
	uint8_t sum[HSM_STATE_SUM_LEN], sum2[HSM_STATE_SUM_LEN];
	struct hsm *back = OPENSSL_zalloc(sizeof(*back));
	char why[300] = "";

	CU_ASSERT_FATAL(back != NULL);
	unlink(lpath);
	CU_ASSERT_EQUAL_FATAL(hsm_partition_create(h, "p1", &p), PED_OK);
	h->so.failures = 2;
	p->co.failures = 4;
	CU_ASSERT_EQUAL_FATAL(hsm_save_sum(h, state, sum), PED_OK);
	/* migration: a state file without a record keeps its own counts */
#define LOAD(r_want)                                                                                               \
	do {                                                                                                       \
		hsm_cleanse(back);                                                                                 \
		memcpy(back->kek, h->kek, sizeof(back->kek));                                                      \
		back->kek_set = 1;                                                                                 \
		CU_ASSERT_EQUAL_FATAL(hsm_load_with_record(state, lpath, back, sum2, &got, why, sizeof(why)), r_want); \
	} while (0)
	LOAD(PED_OK);
	CU_ASSERT_EQUAL(memcmp(sum, sum2, sizeof(sum)), 0);
	CU_ASSERT_EQUAL(back->so.failures, 2);
	CU_ASSERT_EQUAL(back->partitions[0].co.failures, 4);
	CU_ASSERT_EQUAL(got.slot, -1);
	CU_ASSERT_EQUAL(got.failures[2 + 1], 4);
	/* a record for this state file: its counts and locks win */
	rec = got;
	rec.failures[0] = 3;
	rec.failures[2 + 2] = 7;
	rec.locked[2 + 2] = 1;
	rec.written_at = back->saved_at + 100;
	CU_ASSERT_EQUAL(hsm_lrec_write(lpath, h, &rec), PED_OK);
	LOAD(PED_OK);
	CU_ASSERT_EQUAL(back->so.failures, 3);
	CU_ASSERT_EQUAL(back->partitions[0].co.failures, 4);
	CU_ASSERT_EQUAL(back->partitions[0].cu.failures, 7);
	CU_ASSERT_EQUAL(back->partitions[0].cu.locked, 1);
	CU_ASSERT_EQUAL(back->saved_at, rec.written_at);
	CU_ASSERT_EQUAL(got.seq, rec.seq);
	/* a state file saved since: the record is stale, the state's counts hold */
	h->so.failures = 1;
	CU_ASSERT_EQUAL_FATAL(hsm_save_sum(h, state, sum), PED_OK);
	LOAD(PED_OK);
	CU_ASSERT_EQUAL(back->so.failures, 1);
	CU_ASSERT_EQUAL(back->partitions[0].cu.locked, 0);
	CU_ASSERT_EQUAL(got.seq, rec.seq); /* the next write goes on from it */
	CU_ASSERT_EQUAL(got.slot, rec.slot);
	CU_ASSERT_EQUAL(got.failures[0], 1);
	/* a record neither slot of which is valid refuses the load */
	scribble(0, 0, 4);
	scribble(1, 0, 4);
	LOAD(PED_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "login record"));
#undef LOAD
	hsm_cleanse(back);
	OPENSSL_free(back);
	h->so.failures = 0;
	hsm_erase_partitions(h);
	unlink(lpath);
	unlink(state);
}

UNIT_SUITE(lrec, setup, teardown, UNIT_TEST(slots_alternate_and_newest_wins),
	   UNIT_TEST(torn_write_of_either_slot_leaves_the_other), UNIT_TEST(a_bad_mac_is_no_record), UNIT_TEST(a_newer_version_is_named),
	   UNIT_TEST(sequence_numbers_wrap), UNIT_TEST(a_record_goes_with_its_state_file))
