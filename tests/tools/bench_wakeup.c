/* make bench: what a round trip between two threads costs on this machine,
 * the floor under any operation an application sends to hsm-sim.
 *
 *   bench_wakeup PAIRS SPIN_US SECONDS
 *
 * PAIRS pairs of threads, each pair a client and a server on a Unix
 * socketpair, exchange 4 KiB requests and 4 KiB replies (an AES-GCM
 * encryption's sizes) through ped_framer and ped_frame_send, as the module
 * and hsm-sim do; SPIN_US is both ends' ped_framer.spin_us (0: each wait
 * sleeps at once). Prints "round_trips_per_s CPU_us_per_round_trip" (the
 * process's CPU, both ends, over the round trips). */
#include "ped/error.h"
#include "ped/link.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 4096
#define PAIRS_MAX 64

static atomic_int stop;
static unsigned spin_us;

struct pair {
	int fd[2];
	pthread_t client, server;
	long trips;
};

static void *server_main(void *arg)
{
	struct pair *p = arg;
	struct ped_framer f;
	uint8_t type, *msg;
	size_t len;

	ped_framer_init(&f, p->fd[1], 2 * MSG);
	f.spin_us = spin_us;
	while (ped_framer_recv(&f, &type, &msg, &len, -1) == PED_OK) {
		int r = ped_frame_send(p->fd[1], type, msg, len, 10000);
		OPENSSL_free(msg);
		if (r != PED_OK)
			break;
	}
	ped_framer_free(&f);
	return NULL;
}

static void *client_main(void *arg)
{
	struct pair *p = arg;
	static const uint8_t req[MSG];
	struct ped_framer f;
	uint8_t type, *msg;
	size_t len;

	ped_framer_init(&f, p->fd[0], 2 * MSG);
	f.spin_us = spin_us;
	while (!atomic_load(&stop)) {
		if (ped_frame_send(p->fd[0], 1, req, sizeof(req), 10000) != PED_OK ||
		    ped_framer_recv(&f, &type, &msg, &len, 10000) != PED_OK)
			break;
		OPENSSL_free(msg);
		p->trips++;
	}
	ped_framer_free(&f);
	shutdown(p->fd[0], SHUT_RDWR); /* the server's recv ends */
	return NULL;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static struct pair pairs[PAIRS_MAX];
	int n = argc == 4 ? atoi(argv[1]) : 0;
	double seconds = argc == 4 ? atof(argv[3]) : 0, t0, c0, t1, c1;
	long trips = 0;

	if (n < 1 || n > PAIRS_MAX || seconds <= 0) {
		fprintf(stderr, "usage: bench_wakeup PAIRS(1-%d) SPIN_US SECONDS\n", PAIRS_MAX);
		return 2;
	}
	spin_us = (unsigned)atoi(argv[2]);
	for (int i = 0; i < n; i++)
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, pairs[i].fd) != 0 ||
		    pthread_create(&pairs[i].server, NULL, server_main, &pairs[i]) != 0) {
			perror("bench_wakeup");
			return 1;
		}
	t0 = now_s();
	c0 = cpu_s();
	for (int i = 0; i < n; i++)
		if (pthread_create(&pairs[i].client, NULL, client_main, &pairs[i]) != 0) {
			perror("bench_wakeup");
			return 1;
		}
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&stop, 1);
	for (int i = 0; i < n; i++) {
		pthread_join(pairs[i].client, NULL);
		pthread_join(pairs[i].server, NULL);
		trips += pairs[i].trips;
	}
	t1 = now_s();
	c1 = cpu_s();
	if (trips == 0) {
		fprintf(stderr, "bench_wakeup: no round trip\n");
		return 1;
	}
	printf("%.0f %.2f\n", trips / (t1 - t0), (c1 - c0) * 1e6 / trips);
	return 0;
}
