/* Times hsm-sim commands from one control session, as hsmcm would send them:
 *
 *   bench_driver SOCKET [-setup CMD]... [-ready FILE -go FIFO] RUNS TIMED_CMD [UNTIMED_CMD]
 *
 * runs the setup commands once, then RUNS times the timed command (each
 * must succeed) followed by the untimed one, and prints the median and the
 * 99th percentile of the timed command in milliseconds. With -ready and -go
 * it creates FILE once set up and waits for one byte on FIFO before the
 * runs, so K drivers start together and their setup (a handshake each)
 * stays out of the measured time. */
#include "hsm/control.h"
#include "ped/buf.h"
#include "ped/error.h"
#include "ped/link.h"
#include "ped/net.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct ped_framer in;
static int fd = -1;

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

/* Sends a command and waits for its result; the output lines are dropped. */
static int run(const char *cmd)
{
	int r = ped_frame_send(fd, HSM_CTL_CMD, cmd, strlen(cmd), 30000);
	while (r == PED_OK) {
		uint8_t type, *msg = NULL;
		size_t len = 0;
		if ((r = ped_framer_recv(&in, &type, &msg, &len, 300000)) != PED_OK)
			break;
		if (type == HSM_CTL_RESULT && len == 4) {
			uint32_t code = ped_be32_get(msg);
			OPENSSL_free(msg);
			if (code)
				fprintf(stderr, "bench_driver: '%s': %s\n", cmd, ped_err_name(ped_err_from_code(code)));
			return code ? PED_E_GENERAL : PED_OK;
		}
		OPENSSL_free(msg);
	}
	fprintf(stderr, "bench_driver: '%s': %s\n", cmd, ped_strerror(r));
	return r;
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

int main(int argc, char **argv)
{
	int i = 2;
	if (argc < 4) {
		fprintf(stderr, "usage: bench_driver SOCKET [-setup CMD]... RUNS TIMED_CMD [UNTIMED_CMD]\n");
		return 2;
	}
	if (ped_unix_connect(argv[1], &fd) != PED_OK) {
		fprintf(stderr, "bench_driver: cannot reach %s\n", argv[1]);
		return 1;
	}
	ped_framer_init(&in, fd, PED_FRAME_MAX_PAYLOAD);
	for (; i + 1 < argc && !strcmp(argv[i], "-setup"); i += 2)
		if (run(argv[i + 1]) != PED_OK)
			return 1;
	const char *ready = NULL, *go = NULL;
	for (; i + 1 < argc && (!strcmp(argv[i], "-ready") || !strcmp(argv[i], "-go")); i += 2)
		*(!strcmp(argv[i], "-ready") ? &ready : &go) = argv[i + 1];
	if (i + 1 >= argc || !ready != !go)
		return 2;
	if (go) {
		char b;
		int g = open(go, O_RDONLY | O_CLOEXEC), rf = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		ssize_t n;
		if (g < 0 || rf < 0) {
			fprintf(stderr, "bench_driver: %s: %s\n", g < 0 ? go : ready, strerror(errno));
			return 1;
		}
		close(rf);
		while ((n = read(g, &b, 1)) < 0 && errno == EINTR)
			;
		close(g);
		if (n != 1) {
			fprintf(stderr, "bench_driver: no start signal on %s\n", go);
			return 1;
		}
	}
	int runs = atoi(argv[i]);
	const char *timed = argv[i + 1], *after = i + 2 < argc ? argv[i + 2] : NULL;
	double *t = calloc((size_t)(runs > 0 ? runs : 1), sizeof(*t));
	if (runs < 1 || !t)
		return 2;
	for (int k = 0; k < runs; k++) {
		double t0 = now_ms();
		if (run(timed) != PED_OK)
			return 1;
		t[k] = now_ms() - t0;
		if (after && run(after) != PED_OK)
			return 1;
	}
	save_samples(t, runs);
	qsort(t, (size_t)runs, sizeof(*t), cmp);
	int p99 = (runs * 99) / 100;
	printf("%.3f %.3f\n", t[runs / 2], t[p99 < runs ? p99 : runs - 1]);
	free(t);
	ped_framer_free(&in);
	close(fd);
	return 0;
}
