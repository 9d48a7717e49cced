/* The audit log's records and chain (hsm/audit.h): the line format both
 * ways, the evmask, and verification naming the first bad record for each
 * tampering (removed, reordered, altered, inserted, truncated). */
#include "unit.h"

#include "hsm/audit.h"
#include "ped/auditwire.h"
#include "ped/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NREC 6

static uint8_t key[HSM_AUDIT_SECRET_LEN];
static char lines[NREC][HSM_AUDIT_LINE_MAX];
static size_t lens[NREC];

/* A log of NREC records under key 0x42... (the fuzz seeds' key). */
static void make_log(void)
{
	struct hsm_audit_rec r;
	uint8_t prev[HSM_AUDIT_MAC_LEN];
	memset(key, 0x42, sizeof(key));
	/* the first record chains from the genesis value, as hsm-sim seals it */
	CU_ASSERT_EQUAL_FATAL(hsm_audit_genesis(key, "154438865288", 1, prev), PED_OK);
	for (int i = 0; i < NREC; i++) {
		memset(&r, 0, sizeof(r));
		r.seq = (uint64_t)i + 1;
		r.time = 1796000000 + i;
		snprintf(r.serial, sizeof(r.serial), "154438865288");
		r.cls = (uint8_t)(i % HSM_AUDIT_NCLASSES);
		r.failed = i == 3;
		snprintf(r.who, sizeof(r.who), "%s", i ? "so" : "-");
		r.slot = i == 0 ? -1 : i;
		r.object = (uint64_t)i * 7;
		r.rc = i == 3 ? 0xa0u : 0;
		snprintf(r.event, sizeof(r.event), "event%d", i);
		snprintf(r.msg, sizeof(r.msg), "message %d with a | bar", i);
		memcpy(r.prev, prev, sizeof(prev));
		CU_ASSERT_EQUAL_FATAL(hsm_audit_seal(key, &r, lines[i], sizeof(lines[i]), &lens[i]), PED_OK);
		memcpy(prev, r.mac, sizeof(prev));
	}
}

static size_t join(char *out, const int *order, int n)
{
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		memcpy(out + len, lines[order[i]], lens[order[i]]);
		len += lens[order[i]];
	}
	return len;
}

static int verify(const char *buf, size_t len, struct hsm_audit_verify *v)
{
	memset(v, 0, sizeof(*v));
	return hsm_audit_verify_buf(key, (const uint8_t *)buf, len, v, NULL, NULL);
}

static void seal_parse_round_trip(void)
{
	struct hsm_audit_rec r;
	size_t body;
	make_log();
	CU_ASSERT_EQUAL(hsm_audit_parse(lines[3], lens[3], &r, &body, NULL, 0), PED_OK);
	CU_ASSERT_EQUAL(r.seq, 4);
	CU_ASSERT_EQUAL(r.time, 1796000003);
	CU_ASSERT_STRING_EQUAL(r.serial, "154438865288");
	CU_ASSERT_EQUAL(r.cls, 3);
	CU_ASSERT_EQUAL(r.failed, 1);
	CU_ASSERT_EQUAL(r.slot, 3);
	CU_ASSERT_EQUAL(r.object, 21);
	CU_ASSERT_EQUAL(r.rc, 0xa0u);
	/* the separator cannot be smuggled into a field */
	CU_ASSERT_STRING_EQUAL(r.msg, "message 3 with a ? bar");
	CU_ASSERT_EQUAL(hsm_audit_check_mac(key, lines[3], body, &r), PED_OK);
	CU_ASSERT_EQUAL(hsm_audit_parse(lines[0], lens[0], &r, &body, NULL, 0), PED_OK);
	CU_ASSERT_EQUAL(r.slot, -1);
	CU_ASSERT(strstr(lines[3], "|usage|F|so|3|21|0x000000a0|event3|") != NULL);
}

static void parse_refuses_malformed(void)
{
	struct hsm_audit_rec r;
	char l[HSM_AUDIT_LINE_MAX + 8], why[96];
	size_t body;
	make_log();
	const char *bad[] = {
		"",
		"1|2026-12-03T16:40:01Z|1|access|S|so|0|0|0x00000000|e|m|00|00",
		"01|2026-12-03T16:40:01Z|1|access|S|so|0|0|0x00000000|e|m",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(hsm_audit_parse(bad[i], strlen(bad[i]), &r, &body, why, sizeof(why)), PED_E_CORRUPT);
	/* each field's form: seq with a leading zero, a 31 February, an unknown class */
	snprintf(l, sizeof(l), "0%s", lines[1]);
	CU_ASSERT_EQUAL(hsm_audit_parse(l, strlen(l), &r, &body, why, sizeof(why)), PED_E_CORRUPT);
	memcpy(l, lines[1], lens[1] + 1);
	memcpy(strchr(l, '|') + 1 + 5, "02-31", 5);
	CU_ASSERT_EQUAL(hsm_audit_parse(l, strlen(l), &r, &body, why, sizeof(why)), PED_E_CORRUPT);
	CU_ASSERT_STRING_EQUAL(why, "bad time");
	memcpy(l, lines[1], lens[1] + 1);
	char *cls = strstr(l, "|manage|");
	CU_ASSERT_PTR_NOT_NULL_FATAL(cls);
	cls[1] = 'X';
	CU_ASSERT_EQUAL(hsm_audit_parse(l, strlen(l), &r, &body, why, sizeof(why)), PED_E_CORRUPT);
	/* too long */
	memset(l, '1', sizeof(l));
	CU_ASSERT_EQUAL(hsm_audit_parse(l, HSM_AUDIT_LINE_MAX, &r, &body, why, sizeof(why)), PED_E_CORRUPT);
}

static void verify_whole_log(void)
{
	static char buf[NREC * HSM_AUDIT_LINE_MAX];
	struct hsm_audit_verify v;
	int all[NREC] = {0, 1, 2, 3, 4, 5};
	make_log();
	size_t len = join(buf, all, NREC);
	CU_ASSERT_EQUAL(verify(buf, len, &v), PED_OK);
	CU_ASSERT_EQUAL(v.records, NREC);
	CU_ASSERT_EQUAL(v.first_seq, 1);
	CU_ASSERT_EQUAL(v.last_seq, NREC);
	/* in two files, in order: the link crosses the boundary */
	size_t half = join(buf, all, 3);
	memset(&v, 0, sizeof(v));
	CU_ASSERT_EQUAL(hsm_audit_verify_buf(key, (uint8_t *)buf, half, &v, NULL, NULL), PED_OK);
	CU_ASSERT_EQUAL(hsm_audit_verify_buf(key, (uint8_t *)buf + half, len - half, &v, NULL, NULL), PED_OK);
	CU_ASSERT_EQUAL(v.records, NREC);
	/* a file that starts mid-log does not verify on its own: nothing shows
	 * that the records before it are not gone ... */
	CU_ASSERT_EQUAL(verify(buf + half, len - half, &v), PED_E_INVALID);
	CU_ASSERT_EQUAL(v.bad_seq, 4);
	CU_ASSERT(strstr(v.why, "not the first record of the log") != NULL);
	/* ... but it does linked to the last record of the file before it */
	memset(&v, 0, sizeof(v));
	CU_ASSERT_EQUAL(hsm_audit_verify_link(key, (uint8_t *)buf, half, &v), PED_OK);
	CU_ASSERT_EQUAL(v.last_seq, 3);
	CU_ASSERT_EQUAL(v.records, 0);
	CU_ASSERT_EQUAL(hsm_audit_verify_buf(key, (uint8_t *)buf + half, len - half, &v, NULL, NULL), PED_OK);
	CU_ASSERT_EQUAL(v.first_seq, 4);
	CU_ASSERT_EQUAL(v.records, 3);
	/* and not to another file: the link is checked */
	memset(&v, 0, sizeof(v));
	CU_ASSERT_EQUAL(hsm_audit_verify_link(key, (uint8_t *)buf, lens[0] + lens[1], &v), PED_OK);
	CU_ASSERT_EQUAL(hsm_audit_verify_buf(key, (uint8_t *)buf + half, len - half, &v, NULL, NULL), PED_E_INVALID);
	CU_ASSERT_EQUAL(v.bad_seq, 4);
	/* a previous file whose last record is cut or forged links to nothing */
	memset(&v, 0, sizeof(v));
	CU_ASSERT_EQUAL(hsm_audit_verify_link(key, (uint8_t *)buf, half - 1, &v), PED_E_CORRUPT);
	buf[half - 3] = buf[half - 3] == '0' ? '1' : '0'; /* another hex digit of the MAC: still a record */
	CU_ASSERT_EQUAL(hsm_audit_verify_link(key, (uint8_t *)buf, half, &v), PED_E_BAD_RECORD);
	CU_ASSERT_EQUAL(v.have_last, 0);
}

/* Issue 29: the first record's removal (which left a chain that verified
 * from record 2 on) and a genesis value that is another HSM's, another
 * secret's or another number's. */
static void verify_catches_the_first_record_removed(void)
{
	static char buf[NREC * HSM_AUDIT_LINE_MAX];
	struct hsm_audit_verify v;
	uint8_t g1[HSM_AUDIT_MAC_LEN], g2[HSM_AUDIT_MAC_LEN];
	make_log();
	int first_gone[] = {1, 2, 3, 4, 5};
	size_t len = join(buf, first_gone, 5);
	CU_ASSERT_EQUAL(verify(buf, len, &v), PED_E_INVALID);
	CU_ASSERT_EQUAL(v.bad_seq, 2);
	CU_ASSERT_EQUAL(v.bad_line, 1);
	CU_ASSERT_EQUAL(v.records, 0);
	/* the first two gone, and the first swapped with the second */
	int two_gone[] = {2, 3, 4, 5};
	len = join(buf, two_gone, 4);
	CU_ASSERT_EQUAL(verify(buf, len, &v), PED_E_INVALID);
	CU_ASSERT_EQUAL(v.bad_seq, 3);
	int swapped[] = {1, 0, 2, 3, 4, 5};
	len = join(buf, swapped, NREC);
	CU_ASSERT_EQUAL(verify(buf, len, &v), PED_E_INVALID);
	CU_ASSERT_EQUAL(v.bad_seq, 2);
	/* the genesis value is bound to the secret, the serial and the number */
	CU_ASSERT_EQUAL(hsm_audit_genesis(key, "154438865288", 1, g1), PED_OK);
	CU_ASSERT_EQUAL(hsm_audit_genesis(key, "154438865288", 2, g2), PED_OK);
	CU_ASSERT(memcmp(g1, g2, sizeof(g1)) != 0);
	CU_ASSERT_EQUAL(hsm_audit_genesis(key, "154438865289", 1, g2), PED_OK);
	CU_ASSERT(memcmp(g1, g2, sizeof(g1)) != 0);
	key[0] ^= 1;
	CU_ASSERT_EQUAL(hsm_audit_genesis(key, "154438865288", 1, g2), PED_OK);
	key[0] ^= 1;
	CU_ASSERT(memcmp(g1, g2, sizeof(g1)) != 0);
	CU_ASSERT_EQUAL(hsm_audit_genesis(key, "12345678901234567", 1, g2), PED_E_INVALID);
	/* a record that still chains from zeros, the old start, starts nothing */
	struct hsm_audit_rec r;
	char line[HSM_AUDIT_LINE_MAX];
	size_t n;
	memset(&r, 0, sizeof(r));
	r.seq = 1;
	r.time = 1796000000;
	snprintf(r.serial, sizeof(r.serial), "154438865288");
	snprintf(r.who, sizeof(r.who), "-");
	snprintf(r.event, sizeof(r.event), "e");
	snprintf(r.msg, sizeof(r.msg), "m");
	CU_ASSERT_EQUAL_FATAL(hsm_audit_seal(key, &r, line, sizeof(line), &n), PED_OK);
	CU_ASSERT_EQUAL(verify(line, n, &v), PED_E_INVALID);
	/* a gap names the records missing */
	int gap[] = {0, 1, 4, 5};
	len = join(buf, gap, 4);
	CU_ASSERT_EQUAL(verify(buf, len, &v), PED_E_INVALID);
	CU_ASSERT_EQUAL(v.bad_seq, 5);
	CU_ASSERT(strstr(v.why, "records 3 to 4 missing") != NULL);
}

static void touch(const char *dir, const char *name)
{
	char p[600];
	FILE *o;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if ((o = fopen(p, "w")) != NULL)
		fclose(o);
}

/* Which files a path means, the file before a single one and whether it is
 * the newest (the end that the HSM's count checks). */
static void log_files_of_a_path(void)
{
	char dir[512], p[600];
	struct hsm_audit_files f;
	snprintf(dir, sizeof(dir), "%s/auditfiles", unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	touch(dir, "hsm_154438865288_00000000000000000031.log");
	touch(dir, "hsm_154438865288_00000000000000000001.log");
	touch(dir, "hsm_154438865288_00000000000000000017.log");
	touch(dir, "hsm_496771_00000000000000000001.log");
	touch(dir, "notes.txt");
	/* a directory: that HSM's files in log order, the last the newest */
	CU_ASSERT_EQUAL_FATAL(hsm_audit_files(dir, "154438865288", &f), PED_OK);
	CU_ASSERT_EQUAL(f.n, 3);
	CU_ASSERT(strstr(f.files[0], "_00000000000000000001.log") != NULL);
	CU_ASSERT(strstr(f.files[2], "_00000000000000000031.log") != NULL);
	CU_ASSERT_PTR_NULL(f.prev);
	CU_ASSERT_EQUAL(f.newest, 1);
	hsm_audit_files_free(&f);
	/* no serial: every .log */
	CU_ASSERT_EQUAL(hsm_audit_files(dir, NULL, &f), PED_OK);
	CU_ASSERT_EQUAL(f.n, 4);
	hsm_audit_files_free(&f);
	CU_ASSERT_EQUAL(hsm_audit_files(dir, "999", &f), PED_E_NOT_FOUND);
	hsm_audit_files_free(&f);
	/* a middle file: the one before it, not the newest */
	snprintf(p, sizeof(p), "%s/hsm_154438865288_00000000000000000017.log", dir);
	CU_ASSERT_EQUAL_FATAL(hsm_audit_files(p, "154438865288", &f), PED_OK);
	CU_ASSERT_EQUAL(f.n, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f.prev);
	CU_ASSERT(strstr(f.prev, "_00000000000000000001.log") != NULL);
	CU_ASSERT_EQUAL(f.newest, 0);
	hsm_audit_files_free(&f);
	/* the last: the newest; the first: nothing before it */
	snprintf(p, sizeof(p), "%s/hsm_154438865288_00000000000000000031.log", dir);
	CU_ASSERT_EQUAL_FATAL(hsm_audit_files(p, "154438865288", &f), PED_OK);
	CU_ASSERT(f.prev && strstr(f.prev, "_00000000000000000017.log") != NULL);
	CU_ASSERT_EQUAL(f.newest, 1);
	hsm_audit_files_free(&f);
	snprintf(p, sizeof(p), "%s/hsm_154438865288_00000000000000000001.log", dir);
	CU_ASSERT_EQUAL_FATAL(hsm_audit_files(p, "154438865288", &f), PED_OK);
	CU_ASSERT_PTR_NULL(f.prev);
	CU_ASSERT_EQUAL(f.newest, 0);
	hsm_audit_files_free(&f);
	/* a file not named as pedclient names them: alone */
	snprintf(p, sizeof(p), "%s/notes.txt", dir);
	CU_ASSERT_EQUAL_FATAL(hsm_audit_files(p, "154438865288", &f), PED_OK);
	CU_ASSERT_PTR_NULL(f.prev);
	CU_ASSERT_EQUAL(f.newest, 0);
	hsm_audit_files_free(&f);
}

static void verify_names_the_first_bad_record(void)
{
	static char buf[NREC * HSM_AUDIT_LINE_MAX];
	struct hsm_audit_verify v;
	make_log();
	/* removed */
	int removed[] = {0, 1, 3, 4, 5};
	size_t len = join(buf, removed, 5);
	CU_ASSERT_EQUAL(verify(buf, len, &v), PED_E_INVALID);
	CU_ASSERT_EQUAL(v.bad_seq, 4);
	CU_ASSERT_EQUAL(v.bad_line, 3);
	CU_ASSERT_EQUAL(v.records, 2);
	/* reordered (swapped) */
	int swapped[] = {0, 2, 1, 3, 4, 5};
	len = join(buf, swapped, NREC);
	CU_ASSERT_EQUAL(verify(buf, len, &v), PED_E_INVALID);
	CU_ASSERT_EQUAL(v.bad_seq, 3);
	/* inserted: a copy of an earlier record */
	int inserted[] = {0, 1, 2, 1, 3, 4, 5};
	len = join(buf, inserted, 7);
	CU_ASSERT_EQUAL(verify(buf, len, &v), PED_E_INVALID);
	CU_ASSERT_EQUAL(v.bad_seq, 2);
	CU_ASSERT_EQUAL(v.bad_line, 4);
	/* altered: one byte of the message */
	int all[] = {0, 1, 2, 3, 4, 5};
	len = join(buf, all, NREC);
	char *m = strstr(buf, "message 4");
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	m[0] = 'M';
	CU_ASSERT_EQUAL(verify(buf, len, &v), PED_E_BAD_RECORD);
	CU_ASSERT_EQUAL(v.bad_seq, 5);
	CU_ASSERT(strstr(v.why, "record 5") != NULL);
	/* altered so that it is no record any more */
	len = join(buf, all, NREC);
	m = strstr(buf, "|keymanage|");
	m[1] = 'X';
	CU_ASSERT_EQUAL(verify(buf, len, &v), PED_E_CORRUPT);
	CU_ASSERT_EQUAL(v.bad_line, 3);
	CU_ASSERT_EQUAL(v.bad_seq, 3); /* named by the number it starts with */
	/* truncated in the middle of the last record */
	len = join(buf, all, NREC);
	CU_ASSERT_EQUAL(verify(buf, len - 40, &v), PED_E_CORRUPT);
	CU_ASSERT_EQUAL(v.bad_line, 6);
	CU_ASSERT_EQUAL(v.bad_seq, 6);
	CU_ASSERT_EQUAL(v.records, 5);
	/* another log secret: the first record already fails */
	uint8_t saved = key[0];
	key[0] ^= 1;
	CU_ASSERT_EQUAL(verify(buf, len, &v), PED_E_BAD_RECORD);
	CU_ASSERT_EQUAL(v.bad_seq, 1);
	key[0] = saved;
}

static void evmask_lunacm_syntax(void)
{
	uint32_t m = 0;
	char s[128];
	CU_ASSERT_EQUAL(hsm_audit_evmask_parse("a,m,s,f", &m), PED_OK);
	CU_ASSERT_EQUAL(m, (1u << HSM_AUDIT_ACCESS) | (1u << HSM_AUDIT_MANAGE) | HSM_AUDIT_EV_SUCCESS | HSM_AUDIT_EV_FAILURE);
	CU_ASSERT(hsm_audit_wanted(m, HSM_AUDIT_ACCESS, 1));
	CU_ASSERT(!hsm_audit_wanted(m, HSM_AUDIT_USAGE, 0));
	CU_ASSERT_EQUAL(hsm_audit_evmask_parse("keymanage,success", &m), PED_OK);
	CU_ASSERT(hsm_audit_wanted(m, HSM_AUDIT_KEYMANAGE, 0));
	CU_ASSERT(!hsm_audit_wanted(m, HSM_AUDIT_KEYMANAGE, 1));
	hsm_audit_evmask_format(m, s, sizeof(s));
	CU_ASSERT_STRING_EQUAL(s, "keymanage,success");
	CU_ASSERT_EQUAL(hsm_audit_evmask_parse("all", &m), PED_OK);
	CU_ASSERT_EQUAL(m, HSM_AUDIT_EV_ALL);
	CU_ASSERT_EQUAL(hsm_audit_evmask_parse("none", &m), PED_OK);
	CU_ASSERT_EQUAL(m, 0);
	hsm_audit_evmask_format(m, s, sizeof(s));
	CU_ASSERT_STRING_EQUAL(s, "none");
	/* a class without s or f, a result without a class, none with more, a word that is none */
	CU_ASSERT_EQUAL(hsm_audit_evmask_parse("a,m", &m), PED_E_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(hsm_audit_evmask_parse("s,f", &m), PED_E_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(hsm_audit_evmask_parse("none,a,s", &m), PED_E_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(hsm_audit_evmask_parse("a,,s", &m), PED_E_ARGUMENTS_BAD);
	CU_ASSERT_EQUAL(hsm_audit_evmask_parse("q,s", &m), PED_E_ARGUMENTS_BAD);
}

static void same_white_key_same_log_secret(void)
{
	uint8_t w1[32], w2[32], s1[32], s2[32], s3[32];
	memset(w1, 7, sizeof(w1));
	memcpy(w2, w1, sizeof(w2));
	CU_ASSERT_EQUAL(hsm_audit_secret(w1, sizeof(w1), s1), PED_OK);
	CU_ASSERT_EQUAL(hsm_audit_secret(w2, sizeof(w2), s2), PED_OK);
	CU_ASSERT(memcmp(s1, s2, 32) == 0);
	w2[0] ^= 1;
	CU_ASSERT_EQUAL(hsm_audit_secret(w2, sizeof(w2), s3), PED_OK);
	CU_ASSERT(memcmp(s1, s3, 32) != 0);
	/* the log secret is not the white secret */
	CU_ASSERT(memcmp(s1, w1, 32) != 0);
}

static void lws_wrap_unwrap(void)
{
	uint8_t secret[32], back[32], *f = NULL;
	size_t flen = 0, hdr;
	uint32_t iter;
	char serial[HSM_AUDIT_SERIAL_MAX + 1];
	memset(secret, 0x42, sizeof(secret));
	CU_ASSERT_EQUAL_FATAL(hsm_audit_lws_wrap(secret, "154438865288", "correct horse", &f, &flen), PED_OK);
	CU_ASSERT(flen <= HSM_AUDIT_LWS_MAX);
	CU_ASSERT_EQUAL(hsm_audit_lws_header(f, flen, &hdr, &iter, serial), PED_OK);
	CU_ASSERT_EQUAL(iter, HSM_AUDIT_PBKDF2_ITER);
	CU_ASSERT_EQUAL(hsm_audit_lws_unwrap(f, flen, "correct horse", back, serial), PED_OK);
	CU_ASSERT(memcmp(back, secret, 32) == 0);
	CU_ASSERT_STRING_EQUAL(serial, "154438865288");
	/* the secret is not in the file */
	for (size_t i = 0; i + 32 <= flen; i++)
		CU_ASSERT(memcmp(f + i, secret, 32) != 0);
	CU_ASSERT_EQUAL(hsm_audit_lws_unwrap(f, flen, "wrong", back, serial), PED_E_BAD_RECORD);
	/* the serial is authenticated */
	f[29] ^= 1;
	CU_ASSERT_EQUAL(hsm_audit_lws_unwrap(f, flen, "correct horse", back, serial), PED_E_BAD_RECORD);
	f[29] ^= 1;
	CU_ASSERT_EQUAL(hsm_audit_lws_unwrap(f, flen - 1, "correct horse", back, serial), PED_E_CORRUPT);
	if (getenv("PED_WRITE_AUDIT_SEEDS")) { /* tests/fuzz/corpus/audit: regenerate by hand */
		char p[512];
		static char buf[NREC * HSM_AUDIT_LINE_MAX];
		int all[] = {0, 1, 2, 3, 4, 5};
		make_log();
		size_t len = join(buf, all, NREC);
		const char *dir = getenv("PED_WRITE_AUDIT_SEEDS");
		FILE *o;
		snprintf(p, sizeof(p), "%s/log-six-records", dir);
		if ((o = fopen(p, "w"))) { fwrite(buf, 1, len, o); fclose(o); }
		snprintf(p, sizeof(p), "%s/one-record", dir);
		if ((o = fopen(p, "w"))) { fwrite(lines[2], 1, lens[2], o); fclose(o); }
		snprintf(p, sizeof(p), "%s/lws", dir);
		if ((o = fopen(p, "w"))) { fwrite(f, 1, flen, o); fclose(o); }
	}
	free(f);
}

/* pedclient reads a record's number and MAC without the key
 * (ped/auditwire.h): the MAC it reports in AUDIT_READY is the one sealed. */
static void wire_reads_the_sealed_mac(void)
{
	struct hsm_audit_rec r;
	size_t body;
	uint8_t mac[PED_AUDIT_MAC_LEN], zero[PED_AUDIT_MAC_LEN] = {0}, ready[PED_AUDIT_READY_LEN];
	uint64_t seq = 0;
	char bad[HSM_AUDIT_LINE_MAX];
	make_log();
	CU_ASSERT_EQUAL(PED_AUDIT_MAC_LEN, HSM_AUDIT_MAC_LEN);
	CU_ASSERT_EQUAL_FATAL(hsm_audit_parse(lines[2], lens[2], &r, &body, NULL, 0), PED_OK);
	CU_ASSERT_EQUAL(ped_audit_line_mac(lines[2], lens[2], mac), PED_OK);
	CU_ASSERT(memcmp(mac, r.mac, sizeof(mac)) == 0);
	CU_ASSERT_EQUAL(ped_audit_line_mac(lines[2], lens[2] - 1, mac), PED_OK); /* without its newline */
	CU_ASSERT(memcmp(mac, r.mac, sizeof(mac)) == 0);
	/* not a MAC: a digit short, a non-hex digit, no bar before it */
	CU_ASSERT_EQUAL(ped_audit_line_mac(lines[2], lens[2] - 2, mac), PED_E_INVALID);
	memcpy(bad, lines[2], lens[2]);
	bad[lens[2] - 2] = 'g';
	CU_ASSERT_EQUAL(ped_audit_line_mac(bad, lens[2], mac), PED_E_INVALID);
	memcpy(bad, lines[2], lens[2]);
	bad[lens[2] - 2 - 2 * PED_AUDIT_MAC_LEN] = 'x';
	CU_ASSERT_EQUAL(ped_audit_line_mac(bad, lens[2], mac), PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_audit_line_mac("1|ab\n", 5, mac), PED_E_INVALID);
	/* READY: exactly the number and the MAC */
	ped_audit_ready_encode(3, r.mac, ready);
	memset(mac, 0, sizeof(mac));
	CU_ASSERT_EQUAL(ped_audit_ready_decode(ready, sizeof(ready), &seq, mac), PED_OK);
	CU_ASSERT_EQUAL(seq, 3);
	CU_ASSERT(memcmp(mac, r.mac, sizeof(mac)) == 0);
	CU_ASSERT_EQUAL(ped_audit_ready_decode(ready, 8, &seq, mac), PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_audit_ready_decode(ready, sizeof(ready) - 1, &seq, mac), PED_E_INVALID);
	ped_audit_ready_encode(0, zero, ready);
	CU_ASSERT_EQUAL(ped_audit_ready_decode(ready, sizeof(ready), &seq, mac), PED_OK);
	CU_ASSERT_EQUAL(seq, 0);
}

UNIT_SUITE(audit, NULL, NULL, UNIT_TEST(wire_reads_the_sealed_mac), UNIT_TEST(seal_parse_round_trip), UNIT_TEST(parse_refuses_malformed),
	   UNIT_TEST(verify_whole_log), UNIT_TEST(verify_names_the_first_bad_record),
	   UNIT_TEST(verify_catches_the_first_record_removed), UNIT_TEST(log_files_of_a_path), UNIT_TEST(evmask_lunacm_syntax),
	   UNIT_TEST(same_white_key_same_log_secret), UNIT_TEST(lws_wrap_unwrap))
