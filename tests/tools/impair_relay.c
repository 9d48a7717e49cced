/* A TCP relay that impairs what it carries, for tests/reliability/network.sh:
 *
 *   impair_relay [-listen IP:PORT] -target IP:PORT [-delay MS] [-stall SECONDS]
 *                [-stallprob P] [-split] [-dribble MS] [-off] [-seed N] [-portfile FILE]
 *
 * Accepts connections on -listen (default 127.0.0.1:0; the port it got is
 * written to -portfile) and joins each to a new connection to -target.
 * Impairments, each way:
 *   -delay MS      every chunk read is held MS milliseconds before it goes on
 *   -stall S       at random points (each chunk read starts one with
 *                  probability -stallprob, default 0.1) all data of the
 *                  connection, both ways, is held S seconds
 *   -split         data goes on one byte per write (TCP_NODELAY, one segment each)
 *   -dribble MS    from the target back only: one byte every MS milliseconds
 *                  (a peer that trickles, never finishing a frame in time)
 * SIGUSR1 turns every impairment off, SIGUSR2 back on; -off starts with them off. One poll loop, no
 * threads; a side that closes has its queued data delivered, then the
 * other side is shut down. Logs one line per connection and stall on stderr,
 * and `stall-at SECONDS` (wall clock) when each stall begins. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 16
#define MAX_CHUNKS 4096
#define CHUNK 4096

struct chunk {
	uint64_t due;
	size_t len, off;
	uint8_t *data;
};

struct dir { /* one way of a pair: read from `from`, written to `to` */
	struct chunk q[MAX_CHUNKS];
	int head, count;
	int eof;      /* `from` closed: shut `to` down once the queue drains */
	int shut;     /* done */
	unsigned long bytes, writes;
};

struct pair {
	uint64_t next_drip; /* -dribble: when the next byte back may go */
	int used;
	int fd[2]; /* 0 the accepted side, 1 the target side */
	struct dir d[2]; /* d[0]: fd[0] -> fd[1], d[1]: fd[1] -> fd[0] */
	uint64_t stall_until;
	int id;
};

static struct pair P[MAX_PAIRS];
static int delay_ms, stall_s, split, dribble_ms;
static double stall_prob = 0.1;
static volatile sig_atomic_t impaired = 1;

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void on_sig(int s)
{
	impaired = s == SIGUSR2;
}

static int parse_addr(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *c = strrchr(s, ':');
	if (!c || (size_t)(c - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(c - s));
	host[c - s] = 0;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(c + 1));
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void close_pair(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		close(p->fd[i]);
		struct dir *d = &p->d[i];
		for (int k = 0; k < d->count; k++)
			free(d->q[(d->head + k) % MAX_CHUNKS].data);
	}
	fprintf(stderr, "impair_relay: connection %d closed: %lu bytes in %lu writes to the target, %lu in %lu back\n",
		p->id, p->d[0].bytes, p->d[0].writes, p->d[1].bytes, p->d[1].writes);
	memset(p, 0, sizeof(*p));
}

/* Reads what fd[i] has into d[i]'s queue. */
static void pull(struct pair *p, int i)
{
	struct dir *d = &p->d[i];
	if (d->eof || d->count == MAX_CHUNKS)
		return;
	uint8_t buf[CHUNK];
	ssize_t n = read(p->fd[i], buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		d->eof = 1;
		return;
	}
	uint64_t t = now_ms();
	struct chunk *c = &d->q[(d->head + d->count) % MAX_CHUNKS];
	c->data = malloc((size_t)n);
	if (!c->data)
		abort();
	memcpy(c->data, buf, (size_t)n);
	c->len = (size_t)n;
	c->off = 0;
	c->due = t + (impaired ? (uint64_t)delay_ms : 0);
	d->count++;
	if (impaired && stall_s > 0 && p->stall_until <= t && (double)rand() / RAND_MAX < stall_prob) {
		p->stall_until = t + (uint64_t)stall_s * 1000;
		struct timespec w;
		clock_gettime(CLOCK_REALTIME, &w); /* for the tests: when, beside date +%s.%N */
		fprintf(stderr, "impair_relay: connection %d stalled %d s\nstall-at %lld.%03ld\n", p->id, stall_s,
			(long long)w.tv_sec, w.tv_nsec / 1000000);
	}
}

/* Writes what is due from d[i] to the other side; returns the ms until the
 * next chunk is due (-1: nothing waiting on time). */
static int push(struct pair *p, int i)
{
	struct dir *d = &p->d[i];
	int out = p->fd[!i];
	uint64_t t = now_ms();
	if (!impaired)
		p->stall_until = 0;
	if (d->shut) { /* the other side is gone: drop what it would have got */
		for (; d->count; d->count--, d->head = (d->head + 1) % MAX_CHUNKS)
			free(d->q[d->head].data);
		d->eof = 1;
		return -1;
	}
	while (d->count) {
		struct chunk *c = &d->q[d->head];
		uint64_t due = c->due > p->stall_until ? c->due : p->stall_until;
		if (!impaired)
			due = 0;
		if (due > t)
			return (int)(due - t);
		if (dribble_ms && impaired && i == 1) {
			if (p->next_drip > t)
				return (int)(p->next_drip - t);
			p->next_drip = t + (uint64_t)dribble_ms;
		}
		int one = (split || (dribble_ms && i == 1)) && impaired;
		size_t want = one ? 1 : c->len - c->off;
		ssize_t n = write(out, c->data + c->off, want);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				d->shut = 1;
			return -1;
		}
		c->off += (size_t)n;
		d->bytes += (unsigned long)n;
		d->writes++;
		if (c->off == c->len) {
			free(c->data);
			d->head = (d->head + 1) % MAX_CHUNKS;
			d->count--;
		}
		if (one)
			return dribble_ms && i == 1 ? dribble_ms : 0; /* one byte per poll round: each its own segment */
	}
	if (d->eof && !d->shut) {
		shutdown(out, SHUT_WR);
		d->shut = 1;
	}
	return -1;
}

int main(int argc, char **argv)
{
	const char *listen_at = "127.0.0.1:0", *target = NULL, *portfile = NULL;
	unsigned seed = (unsigned)time(NULL);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-split"))
			split = 1;
		else if (!strcmp(a, "-off"))
			impaired = 0;
		else if (!v)
			goto usage;
		else if (!strcmp(a, "-listen"))
			listen_at = v, i++;
		else if (!strcmp(a, "-target"))
			target = v, i++;
		else if (!strcmp(a, "-dribble"))
			dribble_ms = atoi(v), i++;
		else if (!strcmp(a, "-delay"))
			delay_ms = atoi(v), i++;
		else if (!strcmp(a, "-stall"))
			stall_s = atoi(v), i++;
		else if (!strcmp(a, "-stallprob"))
			stall_prob = atof(v), i++;
		else if (!strcmp(a, "-seed"))
			seed = (unsigned)strtoul(v, NULL, 0), i++;
		else if (!strcmp(a, "-portfile"))
			portfile = v, i++;
		else
			goto usage;
	}
	struct sockaddr_in la, ta;
	if (!target || parse_addr(listen_at, &la) || parse_addr(target, &ta))
		goto usage;
	srand(seed);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_sig};
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);

	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&la, sizeof(la)) || listen(lfd, 8)) {
		perror("impair_relay: listen");
		return 1;
	}
	socklen_t sl = sizeof(la);
	getsockname(lfd, (struct sockaddr *)&la, &sl);
	if (portfile) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", ntohs(la.sin_port)) < 0 || fclose(f) || rename(tmp, portfile)) {
			perror("impair_relay: portfile");
			return 1;
		}
	}
	fprintf(stderr, "impair_relay: %s -> %s delay %d ms, stall %d s (p %.2f), split %d, seed %u\n", listen_at,
		target, delay_ms, stall_s, stall_prob, split, seed);
	int next_id = 1;
	for (;;) {
		struct pollfd pf[1 + 2 * MAX_PAIRS];
		int who[1 + 2 * MAX_PAIRS], n = 0, timeout = -1;
		pf[n] = (struct pollfd){.fd = lfd, .events = POLLIN};
		who[n++] = -1;
		for (int k = 0; k < MAX_PAIRS; k++) {
			struct pair *p = &P[k];
			if (!p->used)
				continue;
			for (int i = 0; i < 2; i++) {
				int w = push(p, i);
				if (w >= 0 && (timeout < 0 || w < timeout))
					timeout = w;
			}
			if (p->d[0].shut && p->d[1].shut) {
				close_pair(p);
				continue;
			}
			for (int i = 0; i < 2; i++) {
				short ev = 0;
				if (!p->d[i].eof && p->d[i].count < MAX_CHUNKS)
					ev |= POLLIN;
				/* the other way's queue has data due for this fd */
				struct dir *o = &p->d[!i];
				if (o->count && !o->shut) {
					uint64_t due = o->q[o->head].due > p->stall_until ? o->q[o->head].due : p->stall_until;
					if (impaired && dribble_ms && i == 0 && p->next_drip > due)
						due = p->next_drip;
					if (!impaired || due <= now_ms())
						ev |= POLLOUT;
				}
				pf[n] = (struct pollfd){.fd = p->fd[i], .events = ev};
				who[n++] = k * 2 + i;
			}
		}
		if (poll(pf, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			perror("impair_relay: poll");
			return 1;
		}
		for (int j = 0; j < n; j++) {
			if (!pf[j].revents)
				continue;
			if (who[j] < 0) {
				int c = accept(lfd, NULL, NULL);
				if (c < 0)
					continue;
				int slot = -1;
				for (int k = 0; k < MAX_PAIRS && slot < 0; k++)
					if (!P[k].used)
						slot = k;
				int t = slot < 0 ? -1 : socket(AF_INET, SOCK_STREAM, 0);
				/* a blocking connect: the target is near, and the relay serves tests */
				if (t < 0 || connect(t, (struct sockaddr *)&ta, sizeof(ta))) {
					fprintf(stderr, "impair_relay: cannot reach %s: %s\n", target, strerror(errno));
					if (t >= 0)
						close(t);
					close(c);
					continue;
				}
				nonblock(c);
				nonblock(t);
				P[slot] = (struct pair){.used = 1, .fd = {c, t}, .id = next_id++};
				fprintf(stderr, "impair_relay: connection %d\n", P[slot].id);
				continue;
			}
			struct pair *p = &P[who[j] / 2];
			int i = who[j] % 2;
			if (!p->used)
				continue;
			if (pf[j].revents & (POLLIN | POLLHUP | POLLERR))
				pull(p, i);
			if ((pf[j].revents & POLLERR) && p->d[!i].count) /* nothing can be written there any more */
				p->d[!i].shut = 1;
		}
	}
usage:
	fprintf(stderr, "usage: impair_relay [-listen IP:PORT] -target IP:PORT [-delay MS] [-stall SECONDS] "
			"[-stallprob P] [-split] [-dribble MS] [-off] [-seed N] [-portfile FILE]\n");
	return 2;
}
