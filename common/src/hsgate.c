/* Places for a listener's TLS handshakes, the oldest cut when full (ped/hsgate.h). */
#include "ped/hsgate.h"

#include "ped/evloop.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

void ped_hsgate_init(struct ped_hsgate *g)
{
	pthread_mutex_init(&g->mu, NULL);
	for (size_t i = 0; i < sizeof(g->e) / sizeof(g->e[0]); i++)
		g->e[i].fd = -1;
}

int ped_hsgate_enter(struct ped_hsgate *g, int fd, const char *peer, char *cut_peer, size_t cutlen)
{
	int slot = -1, oldest = -1, waiting = 0;

	if (cut_peer && cutlen)
		cut_peer[0] = '\0';
	pthread_mutex_lock(&g->mu);
	for (int i = 0; i < (int)(sizeof(g->e) / sizeof(g->e[0])); i++) {
		if (g->e[i].fd < 0) {
			if (slot < 0)
				slot = i;
		} else if (!g->e[i].cut) {
			waiting++;
			if (oldest < 0 || g->e[i].since < g->e[oldest].since)
				oldest = i;
		}
	}
	/* A duplicate: the socket stays ours to shut down until leave, even
	 * after the handshake's thread has closed its own descriptor. */
	int copy = slot >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (copy < 0) {
		pthread_mutex_unlock(&g->mu);
		return -1;
	}
	if (waiting >= PED_HSGATE_MAX && oldest >= 0) {
		(void)shutdown(g->e[oldest].fd, SHUT_RDWR);
		g->e[oldest].cut = 1;
		if (cut_peer && cutlen)
			snprintf(cut_peer, cutlen, "%s", g->e[oldest].peer);
	}
	g->e[slot].fd = copy;
	g->e[slot].cut = 0;
	g->e[slot].since = ped_now_ms();
	snprintf(g->e[slot].peer, sizeof(g->e[slot].peer), "%s", peer ? peer : "?");
	pthread_mutex_unlock(&g->mu);
	return slot;
}

void ped_hsgate_leave(struct ped_hsgate *g, int slot)
{
	if (slot < 0 || slot >= (int)(sizeof(g->e) / sizeof(g->e[0])))
		return;
	pthread_mutex_lock(&g->mu);
	if (g->e[slot].fd >= 0)
		close(g->e[slot].fd);
	g->e[slot].fd = -1;
	g->e[slot].cut = 0;
	pthread_mutex_unlock(&g->mu);
}
