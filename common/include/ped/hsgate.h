/* The TLS handshakes a listener runs at once (hsm-sim -network, rbs). A
 * handshake waits for its client up to the listener's timeout, so a peer
 * that opens connections and says nothing could hold every place and keep
 * the port from every registered client. Here, when all places are taken,
 * the handshake waiting longest is cut short to make room: a stalled
 * connection lasts only until newer ones need its place, and a client that
 * completes its handshake in time is served. */
#ifndef PED_HSGATE_H
#define PED_HSGATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define PED_HSGATE_MAX 16

struct ped_hsgate {
	pthread_mutex_t mu;
	/* places for PED_HSGATE_MAX waiting, and as many cut and ending */
	struct {
		int fd; /* our duplicate of the socket, -1 when free */
		int cut;
		uint64_t since;
		char peer[96];
	} e[2 * PED_HSGATE_MAX];
};

void ped_hsgate_init(struct ped_hsgate *g);
/* A place for the handshake on fd (peer: for the log). When PED_HSGATE_MAX
 * are waiting, the oldest is cut (its socket shut down: its handshake
 * fails at once) and its peer copied into cut_peer. -1 when no place is
 * left even so (as many cut handshakes not yet ended). */
int ped_hsgate_enter(struct ped_hsgate *g, int fd, const char *peer, char *cut_peer, size_t cutlen);
/* The handshake of that place has ended (either way). */
void ped_hsgate_leave(struct ped_hsgate *g, int slot);

#endif
