/* The crypto floor of one Remote PED handshake: both ends of the 2e2s
 * (Full Unified) handshake in one process with no I/O, so only the
 * cryptography is timed: the ephemeral key generations, the ECDH
 * operations, the certificate checks, the KDF and the MACs, as the real
 * handshake performs them. Prints the median and the 99th percentile.
 *
 *   bench_floor [RUNS]                    (default 200) */
#include "ped/cert.h"
#include "ped/chkeys.h"
#include "ped/ec.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/kas.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Feeds each side's output to the other until both are done. */
static int pump(struct ped_kas *v, struct ped_kas *u, struct ped_kas_out *out)
{
	struct ped_kas *to = u;
	for (int round = 0; round < 8 && (!ped_kas_done(u) || !ped_kas_done(v)); round++) {
		struct ped_kas_out next = {0};
		for (int i = 0; i < out->count; i++) {
			int r = ped_kas_input(to, out->msg[i], out->len[i], &next);
			if (r != PED_OK) {
				ped_kas_out_clear(&next);
				return r;
			}
		}
		ped_kas_out_clear(out);
		*out = next;
		to = to == u ? v : u;
	}
	return ped_kas_done(u) && ped_kas_done(v) ? PED_OK : PED_E_HANDSHAKE;
}

/* BENCH_SAMPLES=FILE appends every sample, so runs made in blocks can be
 * pooled (make bench alternates the floor and the handshake). */
static void save_samples(const double *t, int n)
{
	const char *path = getenv("BENCH_SAMPLES");
	FILE *f;
	if (!path || !(f = fopen(path, "a")))
		return;
	for (int i = 0; i < n; i++)
		fprintf(f, "%.6f\n", t[i]);
	fclose(f);
}

/* BENCH_RSS=FILE: this process's VmRSS in KiB once it has run the
 * handshakes, the memory floor of any program doing this cryptography with
 * this OpenSSL (its text pages, mapped as the kernel maps them). */
static void save_rss(void)
{
	const char *path = getenv("BENCH_RSS");
	char line[128];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r"), *o;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = atol(line + 6);
	if (f)
		fclose(f);
	if (path && kib >= 0 && (o = fopen(path, "w"))) {
		fprintf(o, "%ld\n", kib);
		fclose(o);
	}
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 200;
	EVP_PKEY *hoc_key = NULL, *hsm_key = NULL, *rpv_key = NULL;
	X509 *hoc = NULL, *hsm_cert = NULL, *rpv_cert = NULL;
	uint8_t rpv[32];
	double *t;

	if (runs < 1 || runs > 100000 || !(t = calloc((size_t)runs, sizeof(*t))))
		return 2;
	RAND_bytes(rpv, sizeof(rpv));
	if (ped_ec_generate(&hoc_key) || ped_cert_make_hoc(hoc_key, "1", &hoc) || ped_ec_generate(&hsm_key) ||
	    ped_cert_issue(hoc, hoc_key, hsm_key, "HSM 1 static", &hsm_cert) || ped_ec_generate(&rpv_key) ||
	    ped_cert_issue(hoc, hoc_key, rpv_key, "RPV 1", &rpv_cert)) {
		fprintf(stderr, "bench_floor: cannot make keys\n");
		return 1;
	}
	for (int i = 0; i < runs; i++) {
		struct ped_kas_params up = {PED_KAS_U, PED_KAS_2E2S, "PED:1", rpv_key, rpv_cert, hoc, rpv,
					    sizeof(rpv), NULL, NULL, NULL, NULL, 0, NULL};
		struct ped_kas_params vp = {PED_KAS_V, PED_KAS_2E2S, "HSM:1", hsm_key, hsm_cert, hoc, rpv,
					    sizeof(rpv), NULL, NULL, NULL, NULL, 0, NULL};
		struct ped_kas *u = NULL, *v = NULL;
		struct ped_kas_out out = {0};
		struct ped_channel_keys ku, kv;
		double t0 = now_ms();
		int r = ped_kas_new(&up, &u);
		if (r == PED_OK)
			r = ped_kas_new(&vp, &v);
		if (r == PED_OK)
			r = ped_kas_start(v, &out);
		if (r == PED_OK)
			r = pump(v, u, &out);
		if (r == PED_OK)
			r = ped_kas_take_keys(u, &ku);
		if (r == PED_OK)
			r = ped_kas_take_keys(v, &kv);
		t[i] = now_ms() - t0;
		ped_kas_out_clear(&out);
		ped_kas_free(u);
		ped_kas_free(v);
		if (r != PED_OK) {
			fprintf(stderr, "bench_floor: handshake failed: %s\n", ped_strerror(r));
			return 1;
		}
		ped_channel_keys_cleanse(&ku);
		ped_channel_keys_cleanse(&kv);
	}
	save_samples(t, runs);
	save_rss();
	qsort(t, (size_t)runs, sizeof(*t), cmp);
	printf("%.3f %.3f\n", t[runs / 2], t[(runs * 99) / 100 < runs ? (runs * 99) / 100 : runs - 1]);
	free(t);
	EVP_PKEY_free(hoc_key);
	EVP_PKEY_free(hsm_key);
	EVP_PKEY_free(rpv_key);
	X509_free(hoc);
	X509_free(hsm_cert);
	X509_free(rpv_cert);
	return 0;
}
