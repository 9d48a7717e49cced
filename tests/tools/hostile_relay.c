/* A hostile relay: a TCP proxy between pedclient and pedserver that reads
 * the link frames (docs/protocol.md, section 1) and, per case, tampers with
 * one of the secure channel's frames (KAS 0x10, RECORD 0x11) at a point
 * picked at random from a recorded good session. Everything else is relayed
 * untouched, so the relays' own checks (PING, BYE) still run.
 *
 *   hostile_relay -connect HOST:PORT [-listen PORT] [-portfile F] -case CASE
 *                 [-seed N] [-reference F] [-target c2s:N|s2c:N] [-record F] [-dump F]
 *
 * Cases: pass (relay only), record (relay and write every channel frame to
 * -record F, the reference of later cases), bitflip, truncate, duplicate,
 * replay (a frame of the recorded session instead of the live one), reorder
 * (two frames of one direction swapped), forge (a frame made up by the relay,
 * shaped like the real one, sent before it), retype (the frame's type byte
 * changed: the other channel type, a relay control type, an unknown one).
 *
 * The target is a channel frame of the reference session: direction (c2s:
 * pedclient to pedserver, the HSM's side to the PED; s2c the other way) and
 * index in that direction, no later than the PED's last frame (after it the
 * ceremony's outcome is decided; -late allows those too). -first-session
 * keeps the target in the first connection that carried the channel: a
 * ceremony that ends its session and keys another (ped vector init over the
 * one-time password session) has its outcome decided in the first. -seed picks it
 * (default: from the clock); -target names it instead (no reference needed,
 * but by replay), so that a suite can tamper with one known frame every run.
 * The choice is printed on stderr as "target: ..." and what was done as
 * "mutated: ...". -dump F appends every byte the relay read, both ways: what
 * a wire tap between the relays would see. */
#include "ped/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define HDR 8
#define MAX_PAYLOAD (64u * 1024u)
#define MAX_PAIRS 8
#define MAX_REF 4096
#define T_KAS 0x10
#define T_RECORD 0x11
#define HOLD_MS 3000

enum mcase { C_PASS, C_RECORD, C_BITFLIP, C_TRUNCATE, C_DUPLICATE, C_REPLAY, C_REORDER, C_FORGE, C_RETYPE };
static const char *const case_names[] = {"pass",   "record",  "bitflip", "truncate", "duplicate",
					 "replay", "reorder", "forge",   "retype",   NULL};

struct ref_frame {
	uint8_t dir, adjacent; /* adjacent: sent right after the previous frame of its direction */
	unsigned session;      /* which connection of the recording carried it, from 0 */
	uint32_t len;	       /* whole frame */
	uint8_t *bytes;
};

struct dirstate {
	uint8_t *buf; /* bytes read, not yet relayed */
	size_t have;
	int raw;      /* framing broken: pass bytes through as they come */
	uint8_t *held; /* reorder: the frame held back */
	size_t held_len;
	long long held_until;
	int holding;
};

struct pair {
	int fd[2]; /* 0: pedclient side, 1: pedserver side */
	unsigned seq; /* accept order */
	struct dirstate d[2]; /* 0: c2s, read from fd[0]; 1: s2c, read from fd[1] */
};

static enum mcase mcase = C_PASS;
static uint64_t rng;
static struct ref_frame ref[MAX_REF];
static size_t nref;
static FILE *record_f, *dump_f;
static int target_dir = -1;
static size_t target_idx;
static size_t chan_count[2]; /* channel frames seen per direction, all pairs */
static int done;	     /* the mutation has been made */
static int last_chan_dir = -1;
static struct pair pairs[MAX_PAIRS];
static unsigned accepted_pairs;
static unsigned cur_seq;           /* the pair being read */
static long long last_recorded_seq = -1;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
	fprintf(stderr, "hostile_relay: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the peer went away; its read side notices */
		p += w;
		n -= (size_t)w;
	}
}

static const char *dir_name(int d)
{
	return d ? "s2c" : "c2s";
}

static void load_reference(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t h[6];
	if (!f)
		die(path);
	while (nref < MAX_REF && fread(h, 1, 6, f) == 6) {
		struct ref_frame *r = &ref[nref];
		r->dir = h[0];
		r->adjacent = h[1] & 1;
		/* bit 1: the first channel frame of another connection */
		r->session = (nref ? ref[nref - 1].session : 0) + (nref && (h[1] & 2) ? 1 : 0);
		r->len = ped_be32_get(h + 2);
		if (r->len < HDR || r->len > HDR + MAX_PAYLOAD || !(r->bytes = malloc(r->len)) ||
		    fread(r->bytes, 1, r->len, f) != r->len) {
			fprintf(stderr, "hostile_relay: %s: damaged reference\n", path);
			exit(2);
		}
		nref++;
	}
	fclose(f);
}

/* The reference frame at (dir, idx), or NULL. */
static struct ref_frame *ref_at(int dir, size_t idx)
{
	size_t k = 0;
	for (size_t i = 0; i < nref; i++)
		if (ref[i].dir == dir && k++ == idx)
			return &ref[i];
	return NULL;
}

static int late; /* -late: targets after the PED's last frame too */
static int first_session; /* -first-session: targets in the first connection only */

static void pick_target(void)
{
	size_t cand[MAX_REF], nc = 0, cnt[2] = {0, 0}, last = nref;
	size_t idx_of[MAX_REF];
	/* After the PED's last channel frame the ceremony's outcome is decided (what
	 * follows is the HSM closing the session): by default no target there. */
	for (size_t i = 0; i < nref; i++)
		if (ref[i].dir == 1 && (!first_session || ref[i].session == 0))
			last = i;
	for (size_t i = 0; i < nref; i++) {
		if (first_session && ref[i].session != 0)
			break;
		if (!late && last < nref && i > last)
			break;
		/* A copy of the PED's last frame comes after the HSM acted on the
		 * original; one of the HSM's last request races the PED's answer
		 * (an operator takes seconds, the test's policy a millisecond). */
		if (!late && mcase == C_DUPLICATE && (i == last || (i + 1 == last && ref[i].dir == 0)))
			break;
		idx_of[i] = cnt[ref[i].dir]++;
		if (mcase != C_REORDER) {
			cand[nc++] = i;
			continue;
		}
		/* reorder: frame i and the next one of its direction, sent without waiting for an answer */
		for (size_t j = i + 1; j < nref; j++)
			if (ref[j].dir == ref[i].dir) {
				if (ref[j].adjacent)
					cand[nc++] = i;
				break;
			}
	}
	if (!nc) {
		fprintf(stderr, "hostile_relay: no frame of the reference fits case %s\n", case_names[mcase]);
		exit(2);
	}
	size_t g = cand[rnd_below(nc)];
	target_dir = ref[g].dir;
	target_idx = idx_of[g];
	fprintf(stderr, "target: case=%s frame %zu of %zu (%zu candidates): %s #%zu type 0x%02x len %u\n",
		case_names[mcase], g, nref, nc, dir_name(target_dir), target_idx, ref[g].bytes[3],
		ref[g].len - HDR);
}

/* -target DIR:N, DIR c2s or s2c: 0 when it names a frame. */
static int given_target(const char *v)
{
	char *end;
	unsigned long idx;
	if (strncmp(v, "c2s:", 4) && strncmp(v, "s2c:", 4))
		return -1;
	errno = 0;
	idx = strtoul(v + 4, &end, 10);
	if (errno || end == v + 4 || *end || idx >= MAX_REF)
		return -1;
	target_dir = v[0] == 's';
	target_idx = idx;
	fprintf(stderr, "target: case=%s given: %s #%zu\n", case_names[mcase], dir_name(target_dir), target_idx);
	return 0;
}

static void record_frame(int dir, const uint8_t *f, size_t len)
{
	uint8_t h[6];
	h[0] = (uint8_t)dir;
	h[1] = last_chan_dir == dir;
	if (last_recorded_seq >= 0 && (long long)cur_seq != last_recorded_seq)
		h[1] |= 2;
	last_recorded_seq = cur_seq;
	ped_be32_put(h + 2, (uint32_t)len);
	fwrite(h, 1, 6, record_f);
	fwrite(f, 1, len, record_f);
	fflush(record_f);
}

/* Applies the case to the target frame f (len bytes, a whole frame) going out on fd. */
static void mutate(struct dirstate *ds, int dir, int out, uint8_t *f, size_t len)
{
	uint32_t plen = (uint32_t)(len - HDR);
	uint8_t *copy;
	done = 1;
	switch (mcase) {
	case C_BITFLIP: {
		int nbits = 1 + (int)rnd_below(3);
		size_t flipped[3];
		fprintf(stderr, "mutated: bitflip %s #%zu:", dir_name(dir), target_idx);
		for (int i = 0; i < nbits; i++) {
			/* mostly the payload, now and then the header */
			size_t pos = (plen && rnd_below(8)) ? HDR + rnd_below(plen) : rnd_below(HDR);
			int bit = (int)rnd_below(8), again = 0;
			/* the same bit twice would put it back: the frame must change */
			for (int j = 0; j < i; j++)
				again |= flipped[j] == pos * 8 + (size_t)bit;
			if (again) {
				i--;
				continue;
			}
			flipped[i] = pos * 8 + (size_t)bit;
			f[pos] ^= (uint8_t)(1u << bit);
			fprintf(stderr, " byte %zu bit %d", pos, bit);
		}
		fprintf(stderr, "\n");
		write_all(out, f, len);
		break;
	}
	case C_TRUNCATE: {
		uint32_t keep = plen ? (uint32_t)rnd_below(plen) : 0;
		if (rnd_below(2)) {
			/* a well-formed frame holding a cut message */
			ped_be32_put(f + 4, keep);
			write_all(out, f, HDR + keep);
			fprintf(stderr, "mutated: truncate %s #%zu to %u of %u bytes, length rewritten\n",
				dir_name(dir), target_idx, keep, plen);
		} else {
			/* the stream ends inside the frame */
			write_all(out, f, HDR + keep);
			shutdown(out, SHUT_WR);
			ds->raw = 2; /* drop everything after */
			fprintf(stderr, "mutated: truncate %s #%zu to %u of %u bytes, stream ended\n",
				dir_name(dir), target_idx, keep, plen);
		}
		break;
	}
	case C_DUPLICATE:
		write_all(out, f, len);
		write_all(out, f, len);
		fprintf(stderr, "mutated: duplicate %s #%zu\n", dir_name(dir), target_idx);
		break;
	case C_REPLAY: {
		struct ref_frame *r = ref_at(dir, target_idx);
		int same = r && r->len == len && !memcmp(r->bytes, f, len);
		if (!r) {
			write_all(out, f, len);
			fprintf(stderr, "mutated: nothing, no recorded frame %s #%zu\n", dir_name(dir), target_idx);
			break;
		}
		write_all(out, r->bytes, r->len);
		fprintf(stderr, "mutated: replay %s #%zu: recorded frame (%u bytes) sent instead of the live one%s\n",
			dir_name(dir), target_idx, r->len, same ? " (identical: no change)" : "");
		break;
	}
	case C_REORDER:
		if ((copy = malloc(len)) == NULL)
			die("malloc");
		memcpy(copy, f, len);
		ds->held = copy;
		ds->held_len = len;
		ds->holding = 1;
		ds->held_until = now_ms() + HOLD_MS;
		done = 0; /* finished when the next frame comes */
		break;
	case C_FORGE: {
		if ((copy = malloc(len)) == NULL)
			die("malloc");
		memcpy(copy, f, len);
		size_t keep = 1; /* the message or content type */
		if (f[3] == T_RECORD && plen >= 13) {
			keep = 13; /* content type, sequence number, length: the next record, as far as they go */
			copy[HDR] = (uint8_t)(1 + rnd_below(4));
		}
		for (size_t i = HDR + keep; i < len; i++)
			copy[i] = (uint8_t)rnd();
		write_all(out, copy, len);
		write_all(out, f, len);
		fprintf(stderr, "mutated: forge %s #%zu: made-up frame type 0x%02x (first byte 0x%02x), %u bytes, sent before the real one\n",
			dir_name(dir), target_idx, f[3], plen ? copy[HDR] : 0, plen);
		free(copy);
		break;
	}
	case C_RETYPE: {
		/* the other channel type, each relay control type, unknown ones */
		static const uint8_t types[] = {0x00, 0x12, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x7f};
		uint8_t was = f[3], t;
		size_t k = rnd_below(sizeof(types) + 2);
		t = k < sizeof(types) ? types[k] : k == sizeof(types) ? (uint8_t)(was ^ 0x01) : (uint8_t)(was ^ 0x80);
		f[3] = t;
		write_all(out, f, len);
		fprintf(stderr, "mutated: retype %s #%zu: frame type 0x%02x sent as 0x%02x\n", dir_name(dir), target_idx,
			was, t);
		break;
	}
	default:
		write_all(out, f, len);
	}
}

static void relay_frame(struct dirstate *ds, int dir, int out, uint8_t *f, size_t len)
{
	int chan = f[3] == T_KAS || f[3] == T_RECORD;
	if (!chan) {
		write_all(out, f, len);
		return;
	}
	size_t idx = chan_count[dir]++;
	if (record_f)
		record_frame(dir, f, len);
	last_chan_dir = dir;
	if (ds->holding) {
		/* reorder: this frame first, then the one held back */
		write_all(out, f, len);
		write_all(out, ds->held, ds->held_len);
		fprintf(stderr, "mutated: reorder %s #%zu and #%zu swapped\n", dir_name(dir), target_idx, idx);
		free(ds->held);
		ds->held = NULL;
		ds->holding = 0;
		done = 1;
		return;
	}
	if (!done && mcase >= C_BITFLIP && dir == target_dir && idx == target_idx) {
		mutate(ds, dir, out, f, len);
		return;
	}
	write_all(out, f, len);
}

static void release_held(struct dirstate *ds, int out, int dir)
{
	if (!ds->holding)
		return;
	write_all(out, ds->held, ds->held_len);
	fprintf(stderr, "mutated: reorder %s #%zu: no next frame in %d ms, sent late\n", dir_name(dir),
		target_idx, HOLD_MS);
	free(ds->held);
	ds->held = NULL;
	ds->holding = 0;
	done = 1;
}

static void close_pair(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		release_held(&p->d[i], p->fd[!i], i);
		close(p->fd[i]);
		p->fd[i] = -1;
		free(p->d[i].buf);
		p->d[i].buf = NULL;
		p->d[i].have = 0;
		p->d[i].raw = 0;
	}
	fprintf(stderr, "hostile_relay: connection closed\n");
}

/* Reads from side i of p and relays what makes whole frames; 0 when the side closed. */
static int on_read(struct pair *p, int i)
{
	struct dirstate *ds = &p->d[i];
	int out = p->fd[!i];
	size_t cap = HDR + MAX_PAYLOAD + 4096;
	cur_seq = p->seq;
	ssize_t n;
	if (!ds->buf && (ds->buf = malloc(cap)) == NULL)
		die("malloc");
	n = read(p->fd[i], ds->buf + ds->have, cap - ds->have);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0)
		return 0;
	if (dump_f) {
		fwrite(ds->buf + ds->have, 1, (size_t)n, dump_f);
		fflush(dump_f);
	}
	ds->have += (size_t)n;
	for (;;) {
		if (ds->raw) {
			if (ds->raw == 1)
				write_all(out, ds->buf, ds->have);
			ds->have = 0;
			return 1;
		}
		if (ds->have < HDR)
			return 1;
		uint32_t len = ped_be32_get(ds->buf + 4);
		if (ds->buf[0] != 0x50 || ds->buf[1] != 0x44 || ds->buf[2] != 1 || len > MAX_PAYLOAD) {
			fprintf(stderr, "hostile_relay: %s: bad frame header, passing bytes through\n", dir_name(i));
			ds->raw = 1;
			continue;
		}
		if (ds->have < HDR + len)
			return 1;
		relay_frame(ds, i, out, ds->buf, HDR + len);
		if (ds->raw == 2) {
			ds->have = 0;
			return 1;
		}
		memmove(ds->buf, ds->buf + HDR + len, ds->have - HDR - len);
		ds->have -= HDR + len;
	}
}

static int dial(const char *host, const char *port)
{
	struct addrinfo hints = {0}, *ai, *a;
	int fd = -1;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	for (a = ai; a; a = a->ai_next) {
		if ((fd = socket(a->ai_family, a->ai_socktype, 0)) < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd >= 0) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return fd;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static _Noreturn void usage(void)
{
	fprintf(stderr, "usage: hostile_relay -connect HOST:PORT [-listen PORT] [-portfile F] -case "
			"pass|record|bitflip|truncate|duplicate|replay|reorder|forge|retype [-seed N] [-reference F] "
			"[-target c2s:N|s2c:N] [-record F] [-dump F] [-late] [-first-session]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *connect_to = NULL, *portfile = NULL, *reference = NULL, *record = NULL, *dump = NULL;
	const char *target = NULL;
	char host[256], *colon = NULL;
	int listen_port = 0, lfd, one = 1;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	struct sockaddr_in sin = {0};
	socklen_t sl = sizeof(sin);

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
		if (!strcmp(a, "-connect"))
			connect_to = v;
		else if (!strcmp(a, "-listen"))
			listen_port = atoi(v);
		else if (!strcmp(a, "-portfile"))
			portfile = v;
		else if (!strcmp(a, "-reference"))
			reference = v;
		else if (!strcmp(a, "-target"))
			target = v;
		else if (!strcmp(a, "-record"))
			record = v;
		else if (!strcmp(a, "-dump"))
			dump = v;
		else if (!strcmp(a, "-late")) {
			late = 1;
			continue;
		} else if (!strcmp(a, "-first-session")) {
			first_session = 1;
			continue;
		} else if (!strcmp(a, "-seed"))
			seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "-case")) {
			int k;
			for (k = 0; case_names[k] && strcmp(case_names[k], v); k++)
				;
			if (!case_names[k])
				usage();
			mcase = (enum mcase)k;
		} else
			usage();
		i++;
	}
	if (!connect_to || !(colon = strrchr(connect_to, ':')) || (size_t)(colon - connect_to) >= sizeof(host))
		usage();
	memcpy(host, connect_to, (size_t)(colon - connect_to));
	host[colon - connect_to] = 0;
	rng = seed ? seed : 1;
	for (int i = 0; i < 4; i++)
		rnd();
	fprintf(stderr, "hostile_relay: case %s seed %llu\n", case_names[mcase], (unsigned long long)seed);
	if (mcase >= C_BITFLIP) {
		/* a replay sends the recorded frame: it needs the recording either way */
		if (!reference && (!target || mcase == C_REPLAY))
			usage();
		if (reference)
			load_reference(reference);
		if (target && given_target(target))
			usage();
		if (!target)
			pick_target();
	}
	if (record && (record_f = fopen(record, "wb")) == NULL)
		die(record);
	if (dump && (dump_f = fopen(dump, "ab")) == NULL)
		die(dump);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)listen_port);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) || listen(lfd, 8) ||
	    getsockname(lfd, (struct sockaddr *)&sin, &sl))
		die("listen");
	if (portfile) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
		FILE *f = fopen(tmp, "w");
		if (!f)
			die(tmp);
		fprintf(f, "%u\n", ntohs(sin.sin_port));
		fclose(f);
		if (rename(tmp, portfile))
			die(portfile);
	}
	for (int i = 0; i < MAX_PAIRS; i++)
		pairs[i].fd[0] = pairs[i].fd[1] = -1;

	while (!stop) {
		struct pollfd pfd[1 + 2 * MAX_PAIRS];
		int map[1 + 2 * MAX_PAIRS], np = 0, timeout = -1;
		long long now = now_ms();
		pfd[np].fd = lfd;
		pfd[np].events = POLLIN;
		map[np++] = -1;
		for (int i = 0; i < MAX_PAIRS; i++) {
			if (pairs[i].fd[0] < 0)
				continue;
			for (int s = 0; s < 2; s++) {
				struct dirstate *ds = &pairs[i].d[s];
				if (ds->holding) {
					if (ds->held_until <= now)
						release_held(ds, pairs[i].fd[!s], s);
					else if (timeout < 0 || ds->held_until - now < timeout)
						timeout = (int)(ds->held_until - now);
				}
				pfd[np].fd = pairs[i].fd[s];
				pfd[np].events = POLLIN;
				map[np++] = i * 2 + s;
			}
		}
		if (poll(pfd, (nfds_t)np, timeout) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (pfd[0].revents & POLLIN) {
			int cfd = accept(lfd, NULL, NULL), slot;
			for (slot = 0; slot < MAX_PAIRS && pairs[slot].fd[0] >= 0; slot++)
				;
			if (cfd >= 0 && slot == MAX_PAIRS) {
				close(cfd);
			} else if (cfd >= 0) {
				int sfd = dial(host, colon + 1);
				if (sfd < 0) {
					fprintf(stderr, "hostile_relay: cannot reach %s\n", connect_to);
					close(cfd);
				} else {
					setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					memset(&pairs[slot], 0, sizeof(pairs[slot]));
					pairs[slot].fd[0] = cfd;
					pairs[slot].fd[1] = sfd;
					pairs[slot].seq = accepted_pairs++;
					fprintf(stderr, "hostile_relay: connection accepted\n");
				}
			}
		}
		for (int k = 1; k < np; k++) {
			struct pair *p = &pairs[map[k] / 2];
			if (!pfd[k].revents || p->fd[0] < 0)
				continue;
			if (!on_read(p, map[k] % 2))
				close_pair(p);
		}
	}
	for (int i = 0; i < MAX_PAIRS; i++)
		if (pairs[i].fd[0] >= 0)
			close_pair(&pairs[i]);
	fprintf(stderr, "hostile_relay: channel frames c2s %zu s2c %zu%s\n", chan_count[0], chan_count[1],
		mcase >= C_BITFLIP && !done ? ", target not reached" : "");
	if (record_f)
		fclose(record_f);
	if (dump_f)
		fclose(dump_f);
	return 0;
}
