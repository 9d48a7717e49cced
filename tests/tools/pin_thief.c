/* The offline PIN search a thief runs on stolen key files (docs/pinmask.md).
 * Given more than M splits of one keyset masked under one PIN (two keys of a
 * 1-of-2 keyset, say), each guess unmasks M + 1 of them and checks that the
 * first M interpolate to the last: the right PIN is the one for which they
 * agree. Reports the guesses tried, the CPU time they took (this process's,
 * one thread: core-seconds, not wall time) and the rate.
 *
 *   pin_thief [-candidates FILE | -range LO HI] [-max N] KEYFILE KEYFILE...
 *
 * Candidates, one per line, from FILE ("-": stdin), or every number LO..HI.
 * Prints, last, one line: "pin_thief: found=PIN|none tried=N cpu_s=S
 * guesses_per_core_s=R mask=..." and exits 0 if found, 1 if not, 2 on
 * errors. A test tool: it never writes a key. */
#include "ikey/ikey.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/pinmask.h"
#include "ped/shamir.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_FILES (IKEY_MAX_SPLITS + 1)

static double cpu_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int load(const char *path, struct ikey *k)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char why[160] = "";
	int r = ped_file_read_bounded(path, IKEY_FILE_MAX, &buf, &len);
	if (r == PED_OK)
		r = ikey_decode(buf, len, k, why, sizeof(why));
	OPENSSL_clear_free(buf, len);
	if (r != PED_OK)
		fprintf(stderr, "pin_thief: %s: %s\n", path, why[0] ? why : ped_strerror(r));
	return r;
}

/* One guess: unmask splits 0..m (in copies) and check that 0..m-1 give the
 * m-th. -1 on an error, 1 if they agree, 0 if not. */
static int try_pin(const char *pin, struct ikey *k, unsigned m, uint8_t (*work)[IKEY_SHARE_MAX],
		   uint8_t *expect)
{
	struct ped_share ps[IKEY_MAX_SPLITS];
	size_t len = k[0].s.share_len;

	for (unsigned i = 0; i <= m; i++) {
		memcpy(work[i], k[i].s.share, len);
		if (ped_pin_mask(pin, &k[i].s.mask, k[i].s.keyset_id, k[i].s.index, work[i], len) != PED_OK)
			return -1;
		if (i < m)
			ps[i] = (struct ped_share){k[i].s.index, work[i]};
	}
	if (ped_shamir_eval(ps, m, m, len, k[m].s.index, expect) != PED_OK)
		return -1;
	return CRYPTO_memcmp(expect, work[m], len) == 0;
}

int main(int argc, char **argv)
{
	struct ikey k[MAX_FILES];
	uint8_t work[MAX_FILES][IKEY_SHARE_MAX], expect[IKEY_SHARE_MAX];
	const char *cand = NULL;
	long long lo = -1, hi = -1, max = -1, tried = 0;
	int nk = 0, a = 1, rc = 2, found = 0, distinct = 0;
	unsigned m;
	uint32_t seen = 0;
	double t0, cpu;
	char pin[PED_PIN_MAX + 2], hit[PED_PIN_MAX + 2] = "", cost[64];
	FILE *in = NULL;

	memset(k, 0, sizeof(k));
	for (; a < argc && argv[a][0] == '-'; a++) {
		if (!strcmp(argv[a], "-candidates") && a + 1 < argc)
			cand = argv[++a];
		else if (!strcmp(argv[a], "-range") && a + 2 < argc) {
			lo = atoll(argv[++a]);
			hi = atoll(argv[++a]);
		} else if (!strcmp(argv[a], "-max") && a + 1 < argc)
			max = atoll(argv[++a]);
		else
			break;
	}
	if (argc - a < 2 || argc - a > MAX_FILES || (!cand && lo < 0) || (cand && lo >= 0)) {
		fprintf(stderr, "usage: pin_thief [-candidates FILE | -range LO HI] [-max N] KEYFILE KEYFILE...\n");
		return 2;
	}
	for (; a < argc; a++, nk++)
		if (load(argv[a], &k[nk]) != PED_OK)
			goto out;
	/* M + 1 distinct splits of one keyset, each with a PIN */
	m = k[0].s.m;
	for (int i = 0; i < nk; i++) {
		const struct ikey_secret *s = &k[i].s;
		if (s->type == IKEY_BLANK || !s->pin_set || s->type != k[0].s.type || s->m != m ||
		    s->n != k[0].s.n || s->share_len != k[0].s.share_len ||
		    memcmp(s->keyset_id, k[0].s.keyset_id, PED_KEYSET_ID_LEN) != 0) {
			fprintf(stderr, "pin_thief: %s is not a split with a PIN of the first key's keyset\n",
				k[i].serial);
			goto out;
		}
		if (seen & (1u << s->index)) {
			fprintf(stderr, "pin_thief: %s repeats split %u (a duplicate tests nothing)\n", k[i].serial,
				s->index);
			goto out;
		}
		seen |= 1u << s->index;
		distinct++;
	}
	if (distinct < (int)m + 1) {
		fprintf(stderr, "pin_thief: %d splits of a %u-of-%u keyset: M + 1 = %u are needed for a test\n",
			distinct, m, k[0].s.n, m + 1);
		goto out;
	}
	ped_pin_kdf_describe(&k[0].s.mask, cost, sizeof(cost));
	printf("pin_thief: %s keyset, %u of %u, %d splits (format %u); mask %s; %u derivations a guess\n",
	       ikey_type_name(k[0].s.type), m, k[0].s.n, distinct, k[0].format, cost, m + 1);
	if (cand && !(in = strcmp(cand, "-") ? fopen(cand, "r") : stdin)) {
		fprintf(stderr, "pin_thief: cannot read %s\n", cand);
		goto out;
	}
	t0 = cpu_seconds();
	for (long long x = lo; max < 0 || tried < max; x++) {
		if (in) {
			if (!fgets(pin, sizeof(pin), in))
				break;
			pin[strcspn(pin, "\r\n")] = '\0';
		} else {
			if (x > hi)
				break;
			snprintf(pin, sizeof(pin), "%lld", x);
		}
		if (ped_pin_validate(pin, NULL) != PED_OK || !pin[0])
			continue; /* the PED would never have accepted it */
		tried++;
		int ok = try_pin(pin, k, m, work, expect);
		if (ok < 0) {
			fprintf(stderr, "pin_thief: derivation failed\n");
			goto out;
		}
		if (ok) {
			snprintf(hit, sizeof(hit), "%s", pin);
			found = 1;
			break;
		}
	}
	cpu = cpu_seconds() - t0;
	printf("pin_thief: found=%s tried=%lld cpu_s=%.3f guesses_per_core_s=%.2f mask=\"%s\"\n",
	       found ? hit : "none", tried, cpu, cpu > 0 ? (double)tried / cpu : 0.0, cost);
	rc = found ? 0 : 1;
out:
	if (in && in != stdin)
		fclose(in);
	OPENSSL_cleanse(work, sizeof(work));
	OPENSSL_cleanse(expect, sizeof(expect));
	OPENSSL_cleanse(pin, sizeof(pin));
	for (int i = 0; i < nk; i++)
		ikey_clear(&k[i]);
	return rc;
}
