#include "unit.h"

#include <ctype.h>

#include "ikey_fixture.h"
#include "ped/error.h"
#include "ped/fileio.h"

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
	       !memcmp(&a->mask, &b->mask, sizeof(a->mask)) &&
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
	buf[4] = 3;
	CU_ASSERT_EQUAL(ikey_decode(buf, len, &back, why, sizeof(why)), PED_E_CORRUPT);
	CU_ASSERT_STRING_EQUAL(why, "format version 3 is newer than this version reads (1 and 2): a later version "
				    "wrote it, not damaged; read it with that version, do not erase it");
	buf[4] = 0;
	CU_ASSERT_EQUAL(ikey_decode(buf, len, &back, why, sizeof(why)), PED_E_CORRUPT);
	CU_ASSERT_STRING_EQUAL(why, "unsupported format version 0");
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

/* A key with a PIN names its mask and cost, and a reader bounds the cost
 * before any derivation: a hostile file must not make a PED allocate
 * gigabytes or spin for minutes when its PIN is typed. */
static void pin_mask_costs_are_bounded_when_read(void)
{
	struct ikey k, back;
	uint8_t *buf;
	size_t len;
	char why[160];
	unsigned int hl;
	fixture_imprint(&k, "0123456789ABCDEF", IKEY_SO, 1, 2, 1, 1);
	ped_pin_kdf_default(&k.s.mask);
	CU_ASSERT_EQUAL_FATAL(ikey_encode(&k, &buf, &len), PED_OK);
	CU_ASSERT_EQUAL(buf[4], IKEY_FORMAT);
	CU_ASSERT_EQUAL_FATAL(ikey_decode(buf, len, &back, why, sizeof(why)), PED_OK);
	CU_ASSERT(back.s.mask.id == PED_PIN_KDF_SCRYPT && back.s.mask.log2n == 16 && back.s.mask.r == 8 &&
		  back.s.mask.p == 1);
	CU_ASSERT_EQUAL(back.format, IKEY_FORMAT);
	ikey_clear(&back);
	/* the mask fields follow the PIN flag: type, keyset, M, N, index, PIN set */
	size_t at = 16 + 2 + strlen(k.label) + 1 + PED_KEYSET_ID_LEN + 4;
	CU_ASSERT_EQUAL_FATAL(buf[at - 1], 1);
	CU_ASSERT_EQUAL_FATAL(buf[at], PED_PIN_KDF_SCRYPT);
	CU_ASSERT_EQUAL_FATAL(buf[at + 1], 16);
	static const uint8_t hostile[][4] = {
		{PED_PIN_KDF_SCRYPT, 40, 8, 1},    /* N = 2^40 */
		{PED_PIN_KDF_SCRYPT, 20, 255, 1},  /* 32 GiB */
		{PED_PIN_KDF_SCRYPT, 18, 8, 1},    /* 256 MiB: over the cap */
		{PED_PIN_KDF_SCRYPT, 16, 8, 255},  /* time */
		{PED_PIN_KDF_SCRYPT, 16, 0, 1},    /* r = 0 */
		{PED_PIN_KDF_SCRYPT, 7, 8, 1},     /* under the cheapest a PED writes */
		{PED_PIN_KDF_HKDF, 16, 8, 1},
		{PED_PIN_KDF_NONE, 0, 0, 0},       /* a PIN without a mask */
		{7, 16, 8, 1},                     /* unknown */
	};
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		uint8_t saved[4];
		memcpy(saved, buf + at, 4);
		memcpy(buf + at, hostile[i], 4);
		EVP_Digest(buf, len - 32, buf + len - 32, &hl, EVP_sha256(), NULL);
		CU_ASSERT_EQUAL(ikey_decode(buf, len, &back, why, sizeof(why)), PED_E_CORRUPT);
		CU_ASSERT_STRING_EQUAL(why, "malformed contents");
		memcpy(buf + at, saved, 4);
	}
	OPENSSL_clear_free(buf, len);
	/* nor is such a cost ever written */
	k.s.mask.log2n = 18;
	CU_ASSERT_EQUAL(ikey_encode(&k, &buf, &len), PED_E_INVALID);
	k.s.pin_set = 0; /* a mask without a PIN */
	ped_pin_kdf_default(&k.s.mask);
	CU_ASSERT_EQUAL(ikey_encode(&k, &buf, &len), PED_E_INVALID);
	ikey_clear(&k);
}

/* Format 1 files (tests/vectors/ikey-v1: a 1-of-2 SO keyset, PIN 73519246,
 * secret 00 01 .. 1f, written by the code of 9415ae8) still read and unmask
 * with HKDF; reading never rewrites them; a duplicate copies the HKDF mask
 * with the share, so it unmasks with the same PIN; a new write is format 2. */
static void format_1_keys_still_unmask_and_duplicate(void)
{
	static const char *serials[2] = {"0F1E2D3C4B5A6978", "8796A5B4C3D2E1F0"};
	char src[1200], dst[1200], cmd[2600], why[160], blank[17];
	uint8_t *before = NULL, *after = NULL;
	size_t blen = 0, alen = 0;
	struct ikey k, dup;

	for (int i = 0; i < 2; i++) {
		snprintf(src, sizeof(src), "%s/tests/vectors/ikey-v1/%s.ikey", unit_source_dir(), serials[i]);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s/'", src, st.dir);
		CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
		CU_ASSERT_EQUAL_FATAL(ikey_load(&st, serials[i], &k, why, sizeof(why)), PED_OK);
		CU_ASSERT_EQUAL(k.format, 1);
		CU_ASSERT_EQUAL(k.s.pin_set, 1);
		CU_ASSERT_EQUAL(k.s.mask.id, PED_PIN_KDF_HKDF);
		CU_ASSERT_EQUAL(k.s.index, i + 1);
		CU_ASSERT_EQUAL_FATAL(k.s.share_len, 32);
		uint8_t share[32];
		memcpy(share, k.s.share, 32);
		CU_ASSERT_EQUAL(ped_pin_mask("73519246", &k.s.mask, k.s.keyset_id, k.s.index, share, 32), PED_OK);
		for (int j = 0; j < 32; j++)
			CU_ASSERT_EQUAL(share[j], j);
		ikey_clear(&k);
	}
	snprintf(dst, sizeof(dst), "%s/%s.ikey", st.dir, serials[0]);
	CU_ASSERT_EQUAL_FATAL(ped_file_read_bounded(dst, IKEY_FILE_MAX, &before, &blen), PED_OK);

	CU_ASSERT_EQUAL_FATAL(ikey_new_blank(&st, "copy of a format 1 key", blank), PED_OK);
	CU_ASSERT_EQUAL(ikey_duplicate(&st, serials[0], blank), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ikey_load(&st, blank, &dup, why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL(dup.format, IKEY_FORMAT);
	CU_ASSERT_EQUAL(dup.s.mask.id, PED_PIN_KDF_HKDF);
	CU_ASSERT_EQUAL(ped_pin_mask("73519246", &dup.s.mask, dup.s.keyset_id, dup.s.index, dup.s.share,
				     dup.s.share_len),
			PED_OK);
	for (int j = 0; j < 32; j++)
		CU_ASSERT_EQUAL(dup.s.share[j], j);
	ikey_clear(&dup);

	/* the source, only read, is the same file byte for byte */
	CU_ASSERT_EQUAL_FATAL(ped_file_read_bounded(dst, IKEY_FILE_MAX, &after, &alen), PED_OK);
	CU_ASSERT(alen == blen && memcmp(after, before, blen) == 0);
	CU_ASSERT_EQUAL(after[4], 1);
	OPENSSL_free(before);
	OPENSSL_free(after);
}

UNIT_SUITE(ikey, setup, NULL, UNIT_TEST(pin_mask_costs_are_bounded_when_read),
	   UNIT_TEST(format_1_keys_still_unmask_and_duplicate), UNIT_TEST(non_canonical_files_are_refused), UNIT_TEST(every_field_round_trips),
	   UNIT_TEST(every_damaged_byte_is_detected),
	   UNIT_TEST(store_files_are_private_and_named_by_serial),
	   UNIT_TEST(duplicate_is_exact_and_counts_once), UNIT_TEST(killed_writer_leaves_old_or_new),
	   UNIT_TEST(one_ped_at_a_time))
