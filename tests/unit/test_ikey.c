#include "unit.h"

#include <ctype.h>

#include "ikey_fixture.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static struct ikey_store st;

static int setup(void)
{
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/ikeys", unit_tmpdir());
	return ikey_store_open(dir, &st);
}

static int same_secret(const struct ikey_secret *a, const struct ikey_secret *b)
{
	return a->type == b->type && !memcmp(a->keyset_id, b->keyset_id, sizeof(a->keyset_id)) &&
	       a->m == b->m && a->n == b->n && a->index == b->index && a->pin_set == b->pin_set &&
	       a->created == b->created && a->share_len == b->share_len &&
	       !memcmp(a->share, b->share, a->share_len) && !!a->static_priv == !!b->static_priv &&
	       (!a->static_priv || (!memcmp(a->static_priv, b->static_priv, IKEY_SCALAR_LEN) &&
				    a->static_cert_len == b->static_cert_len &&
				    !memcmp(a->static_cert, b->static_cert, a->static_cert_len) &&
				    a->hoc_cert_len == b->hoc_cert_len &&
				    !memcmp(a->hoc_cert, b->hoc_cert, a->hoc_cert_len)));
}

static void every_field_round_trips(void)
{
	enum ikey_type types[] = {IKEY_SO, IKEY_DOMAIN, IKEY_RPV, IKEY_USER, IKEY_AUDIT};
	char why[160];
	for (size_t t = 0; t < 5; t++)
		for (uint8_t n = 1; n <= 16; n += 5)
			for (uint8_t m = 1; m <= n; m += 3) {
				struct ikey k, back;
				uint8_t *buf;
				size_t len;
				fixture_imprint(&k, "00112233445566AA", types[t], m, n, n, (m + n) % 2);
				CU_ASSERT_EQUAL_FATAL(ikey_encode(&k, &buf, &len), PED_OK);
				CU_ASSERT_EQUAL(ikey_decode(buf, len, &back, why, sizeof(why)), PED_OK);
				CU_ASSERT_STRING_EQUAL(back.serial, k.serial);
				CU_ASSERT_STRING_EQUAL(back.label, k.label);
				CU_ASSERT(same_secret(&k.s, &back.s));
				OPENSSL_clear_free(buf, len);
				ikey_clear(&k);
				ikey_clear(&back);
			}
	/* out-of-range splits are refused at encoding */
	struct ikey k;
	uint8_t *buf;
	size_t len;
	fixture_imprint(&k, "00112233445566AA", IKEY_SO, 3, 2, 1, 0);
	CU_ASSERT_EQUAL(ikey_encode(&k, &buf, &len), PED_E_INVALID);
	k.s.m = 1;
	k.s.index = 3;
	CU_ASSERT_EQUAL(ikey_encode(&k, &buf, &len), PED_E_INVALID);
	k.s.index = 2;
	k.s.n = 17;
	CU_ASSERT_EQUAL(ikey_encode(&k, &buf, &len), PED_E_INVALID);
	ikey_clear(&k);
}

static void every_damaged_byte_is_detected(void)
{
	struct ikey k, back;
	uint8_t *buf;
	size_t len;
	char why[160];
	fixture_imprint(&k, "0123456789ABCDEF", IKEY_RPV, 2, 3, 2, 1);
	CU_ASSERT_EQUAL_FATAL(ikey_encode(&k, &buf, &len), PED_OK);
	for (size_t i = 0; i < len; i++)
		for (int bit = 0; bit < 8; bit += 3) {
			buf[i] ^= (uint8_t)(1u << bit);
			int r = ikey_decode(buf, len, &back, why, sizeof(why));
			CU_ASSERT_EQUAL(r, PED_E_CORRUPT);
			if (r == PED_OK)
				ikey_clear(&back);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	for (size_t cut = 0; cut < len; cut++) {
		int r = ikey_decode(buf, cut, &back, why, sizeof(why));
		CU_ASSERT_EQUAL(r, PED_E_CORRUPT);
	}
	CU_ASSERT_EQUAL(ikey_decode(buf, len, &back, why, sizeof(why)), PED_OK);
	ikey_clear(&back);
	/* foreign files and future versions are named as such */
	CU_ASSERT_EQUAL(ikey_decode((const uint8_t *)"PK\003\004 a zip file", 18, &back, why, sizeof(why)),
			PED_E_CORRUPT);
	CU_ASSERT_STRING_EQUAL(why, "not an iKey file (bad magic)");
	buf[4] = 2;
	CU_ASSERT_EQUAL(ikey_decode(buf, len, &back, why, sizeof(why)), PED_E_CORRUPT);
	CU_ASSERT_STRING_EQUAL(why, "unsupported format version 2");
	OPENSSL_clear_free(buf, len);
	ikey_clear(&k);
}

static void store_files_are_private_and_named_by_serial(void)
{
	char serial[IKEY_SERIAL_LEN + 1], path[2048], why[160], lower[17];
	struct stat sb;
	struct ikey k;
	CU_ASSERT_EQUAL_FATAL(ikey_new_blank(&st, "white audit", serial), PED_OK);
	snprintf(path, sizeof(path), "%s/%s.ikey", st.dir, serial);
	CU_ASSERT_EQUAL(stat(path, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL(stat(st.dir, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0700);
	for (int i = 0; i < 17; i++)
		lower[i] = (char)(serial[i] >= 'A' && serial[i] <= 'F' ? serial[i] + 32 : serial[i]);
	CU_ASSERT_EQUAL(ikey_load(&st, lower, &k, why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL(k.s.type, IKEY_BLANK);
	CU_ASSERT_STRING_EQUAL(k.label, "white audit");
	CU_ASSERT_EQUAL(ikey_load(&st, "FFFFFFFFFFFFFFFF", &k, why, sizeof(why)), PED_E_NOT_FOUND);
	CU_ASSERT_EQUAL(ikey_load(&st, "xyz", &k, why, sizeof(why)), PED_E_INVALID);
	/* a file copied over another key's name is not that key */
	char other[IKEY_SERIAL_LEN + 1], opath[2048], cmd[4200];
	CU_ASSERT_EQUAL(ikey_new_blank(&st, "", other), PED_OK);
	snprintf(opath, sizeof(opath), "%s/%s.ikey", st.dir, other);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", path, opath);
	CU_ASSERT_EQUAL(system(cmd), 0);
	CU_ASSERT_EQUAL(ikey_load(&st, other, &k, why, sizeof(why)), PED_E_CORRUPT);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "file holds key"));
	CU_ASSERT_EQUAL(ikey_erase(&st, other), PED_OK); /* erasing recovers it */
	CU_ASSERT_EQUAL(ikey_load(&st, other, &k, why, sizeof(why)), PED_OK);
}

static void duplicate_is_exact_and_counts_once(void)
{
	char a[17], b[17], why[160];
	struct ikey k, ka, kb;
	struct ikey_quorum q;
	CU_ASSERT_EQUAL(ikey_new_blank(&st, "", a), PED_OK);
	CU_ASSERT_EQUAL(ikey_new_blank(&st, "copy", b), PED_OK);
	fixture_imprint(&k, a, IKEY_SO, 2, 3, 1, 1);
	CU_ASSERT_EQUAL(ikey_save(&st, &k), PED_OK);
	ikey_clear(&k);
	CU_ASSERT_EQUAL(ikey_duplicate(&st, a, b), PED_OK);
	CU_ASSERT_EQUAL(ikey_load(&st, a, &ka, why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL(ikey_load(&st, b, &kb, why, sizeof(why)), PED_OK);
	CU_ASSERT(same_secret(&ka.s, &kb.s));
	CU_ASSERT_STRING_EQUAL(kb.label, "copy"); /* the sticker stays with the key */
	ikey_quorum_init(&q);
	CU_ASSERT_EQUAL(ikey_quorum_add(&q, &ka.s), PED_OK);
	CU_ASSERT_FALSE(ikey_quorum_complete(&q));
	CU_ASSERT_EQUAL(ikey_quorum_add(&q, &kb.s), PED_E_SHARE_DUPLICATE);
	CU_ASSERT_EQUAL(ikey_quorum_add(&q, &ka.s), PED_E_SHARE_DUPLICATE);
	CU_ASSERT_FALSE(ikey_quorum_complete(&q));
	struct ikey other;
	fixture_imprint(&other, a, IKEY_SO, 2, 3, 2, 0);
	CU_ASSERT_EQUAL(ikey_quorum_add(&q, &other.s), PED_OK);
	CU_ASSERT_TRUE(ikey_quorum_complete(&q));
	other.s.keyset_id[0] ^= 1;
	other.s.index = 3;
	CU_ASSERT_EQUAL(ikey_quorum_add(&q, &other.s), PED_E_INVALID); /* another keyset */
	ikey_clear(&other);
	ikey_clear(&ka);
	ikey_clear(&kb);
	/* a blank source cannot be duplicated */
	char c[17];
	CU_ASSERT_EQUAL(ikey_new_blank(&st, "", c), PED_OK);
	CU_ASSERT_EQUAL(ikey_duplicate(&st, c, b), PED_E_INVALID);
}

/* Writers killed at random points leave the old or the new key, never a broken one. */
static void killed_writer_leaves_old_or_new(void)
{
	char serial[17], why[160];
	struct ikey a, b, k;
	CU_ASSERT_EQUAL_FATAL(ikey_new_blank(&st, "", serial), PED_OK);
	fixture_imprint(&a, serial, IKEY_SO, 1, 1, 1, 0);
	fixture_imprint(&b, serial, IKEY_RPV, 2, 2, 2, 1);
	CU_ASSERT_EQUAL(ikey_save(&st, &a), PED_OK);
	srand(99);
	int olds = 0, news = 0;
	for (int round = 0; round < 60; round++) {
		pid_t child = fork();
		if (child == 0) {
			for (;;) {
				ikey_save(&st, &b);
				ikey_save(&st, &a);
			}
		}
		usleep((useconds_t)(rand() % 3000));
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		int r = ikey_load(&st, serial, &k, why, sizeof(why));
		CU_ASSERT_EQUAL(r, PED_OK);
		if (r == PED_OK) {
			if (same_secret(&k.s, &a.s))
				olds++;
			else if (same_secret(&k.s, &b.s))
				news++;
			else
				CU_FAIL("key is neither the old nor the new content");
			ikey_clear(&k);
		}
	}
	CU_ASSERT_EQUAL(olds + news, 60);
	size_t removed;
	CU_ASSERT_EQUAL(ikey_store_clean(&st, &removed), PED_OK);
	ikey_clear(&a);
	ikey_clear(&b);
}

static void one_ped_at_a_time(void)
{
	char serial[17], who[256];
	struct ikey_slot s1, s2;
	int fds[2];
	CU_ASSERT_EQUAL_FATAL(ikey_new_blank(&st, "", serial), PED_OK);
	CU_ASSERT_EQUAL(ikey_insert(&st, serial, "ped-device pid 1 (PED A)", &s1, who, sizeof(who)), PED_OK);
	CU_ASSERT_EQUAL(ikey_inserted_where(&st, serial, who, sizeof(who)), 1);
	CU_ASSERT_STRING_EQUAL(who, "ped-device pid 1 (PED A)");
	/* another process is refused and told where the key is */
	pid_t child = fork();
	if (child == 0) {
		struct ikey_slot s;
		char w[256];
		int r = ikey_insert(&st, serial, "PED B", &s, w, sizeof(w));
		_exit(r == PED_E_BUSY && strcmp(w, "ped-device pid 1 (PED A)") == 0 ? 0 : 1);
	}
	int status;
	waitpid(child, &status, 0);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ikey_remove(&s1);
	CU_ASSERT_EQUAL(ikey_inserted_where(&st, serial, who, sizeof(who)), 0);
	CU_ASSERT_EQUAL(ikey_insert(&st, "0000000000000000", "x", &s2, who, sizeof(who)), PED_E_NOT_FOUND);

	/* a PED that dies with the key in it releases it */
	CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
	child = fork();
	if (child == 0) {
		struct ikey_slot s;
		char w[64];
		if (ikey_insert(&st, serial, "doomed PED", &s, w, sizeof(w)) == PED_OK)
			(void)!write(fds[1], "i", 1);
		pause();
		_exit(0);
	}
	char c;
	CU_ASSERT_EQUAL(read(fds[0], &c, 1), 1);
	CU_ASSERT_EQUAL(ikey_insert(&st, serial, "me", &s2, who, sizeof(who)), PED_E_BUSY);
	CU_ASSERT_STRING_EQUAL(who, "doomed PED");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	CU_ASSERT_EQUAL(ikey_insert(&st, serial, "me", &s2, who, sizeof(who)), PED_OK);
	ikey_remove(&s2);
	close(fds[0]);
	close(fds[1]);

	/* A serial is 16 hex digits: a 16-character path is refused before any
	 * file is touched (with a key file planted outside the store, it took a
	 * lock file there), and a lower-case serial names the same key. */
	char outside[sizeof(st.dir) + 32], planted[sizeof(st.dir) + 32], lower[17];
	snprintf(planted, sizeof(planted), "%s/../escaped123456.ikey", st.dir);
	snprintf(outside, sizeof(outside), "%s/../escaped123456.lock", st.dir);
	FILE *pf = fopen(planted, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	fclose(pf);
	unlink(outside);
	CU_ASSERT_EQUAL(ikey_insert(&st, "../escaped123456", "x", &s2, who, sizeof(who)), PED_E_INVALID);
	CU_ASSERT_EQUAL(ikey_insert(&st, "../../../tmp/abc", "x", &s2, who, sizeof(who)), PED_E_INVALID);
	CU_ASSERT_NOT_EQUAL(access(outside, F_OK), 0);
	unlink(planted);
	unlink(outside);
	for (int i = 0; i < 17; i++)
		lower[i] = (char)tolower((unsigned char)serial[i]);
	CU_ASSERT_EQUAL(ikey_insert(&st, lower, "me", &s2, who, sizeof(who)), PED_OK);
	CU_ASSERT_STRING_EQUAL(s2.serial, serial);
	CU_ASSERT_EQUAL(ikey_inserted_where(&st, lower, who, sizeof(who)), 1);
	ikey_remove(&s2);

	/* two processes racing: exactly one wins */
	for (int round = 0; round < 20; round++) {
		int res[2], p[2];
		pid_t kids[2];
		CU_ASSERT_EQUAL_FATAL(pipe(res), 0);
		CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
		for (int i = 0; i < 2; i++) {
			if ((kids[i] = fork()) == 0) {
				struct ikey_slot s;
				char w[64], go;
				close(p[1]);
				if (read(p[0], &go, 1) != 1)
					_exit(2);
				char out = ikey_insert(&st, serial, "racer", &s, w, sizeof(w)) == PED_OK ? 'W' : 'L';
				(void)!write(res[1], &out, 1);
				pause();
				_exit(0);
			}
		}
		close(p[0]);
		(void)!write(p[1], "gg", 2);
		char r1 = 0, r2 = 0;
		CU_ASSERT_EQUAL(read(res[0], &r1, 1), 1);
		CU_ASSERT_EQUAL(read(res[0], &r2, 1), 1);
		CU_ASSERT((r1 == 'W') + (r2 == 'W') == 1);
		for (int i = 0; i < 2; i++) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
		close(p[1]);
		close(res[0]);
		close(res[1]);
	}
}

/* Found by fuzzing: fields with one meaning must have one encoding. */
static void non_canonical_files_are_refused(void)
{
	struct ikey k, back;
	uint8_t *buf;
	size_t len;
	char why[160];
	unsigned int hl;
	fixture_imprint(&k, "0123456789ABCDEF", IKEY_SO, 1, 1, 1, 0);
	CU_ASSERT_EQUAL_FATAL(ikey_encode(&k, &buf, &len), PED_OK);
	/* reserved bytes, a NUL in the label, the static-key flag = 2; each with a fixed-up checksum */
	size_t label_at = 18, flag_at = len - 32 - 1;
	size_t where[3] = {6, label_at + 2, flag_at};
	uint8_t value[3] = {1, 0, 2};
	for (int i = 0; i < 3; i++) {
		uint8_t saved = buf[where[i]];
		buf[where[i]] = value[i];
		EVP_Digest(buf, len - 32, buf + len - 32, &hl, EVP_sha256(), NULL);
		CU_ASSERT_EQUAL(ikey_decode(buf, len, &back, why, sizeof(why)), PED_E_CORRUPT);
		CU_ASSERT_STRING_EQUAL(why, "malformed contents");
		buf[where[i]] = saved;
	}
	EVP_Digest(buf, len - 32, buf + len - 32, &hl, EVP_sha256(), NULL);
	CU_ASSERT_EQUAL(ikey_decode(buf, len, &back, why, sizeof(why)), PED_OK);
	ikey_clear(&back);
	OPENSSL_clear_free(buf, len);
	ikey_clear(&k);
}

UNIT_SUITE(ikey, setup, NULL, UNIT_TEST(non_canonical_files_are_refused), UNIT_TEST(every_field_round_trips),
	   UNIT_TEST(every_damaged_byte_is_detected),
	   UNIT_TEST(store_files_are_private_and_named_by_serial),
	   UNIT_TEST(duplicate_is_exact_and_counts_once), UNIT_TEST(killed_writer_leaves_old_or_new),
	   UNIT_TEST(one_ped_at_a_time))
