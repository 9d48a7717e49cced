/* One leg of a relay: a framed stream to a peer (pedserver's PED and
 * client, pedclient's HSM and pedserver), what is known of it, and the
 * clocks the relay's liveness rules read (docs/protocol.md, section 11).
 *
 * Frames are dispatched as OpenSSH's dispatch.c does: a table with one
 * handler per frame type, a handler for the types the table does not name,
 * and one for the stream's end. A relay swaps a leg's table as its session
 * moves on (greeting, then relaying), so no handler asks what state it is in.
 *
 *   static const struct ped_leg_dispatch client_table = {
 *           .on = {[PED_LINK_KAS] = relay, [PED_LINK_RECORD] = relay, [PED_RELAY_BYE] = bye},
 *           .unknown = refuse, .gone = dropped};
 *   ped_leg_open(&c->leg, fd, "10.0.0.5:4711", loop, &client_table, c);
 *
 * The ping and idle rules are here once: ped_leg_deadline says when a leg
 * next needs looking at, ped_leg_keepalive looks (and pings). */
#ifndef PED_LEG_H
#define PED_LEG_H

#include "ped/link.h"
#include "ped/relay.h"

#include <stddef.h>
#include <stdint.h>

struct ped_evloop;
struct ped_leg;

/* A frame's handler. The payload is wiped and freed after it returns. It
 * may close the leg, or move it (ped_leg_move): the pump then stops. */
typedef void ped_leg_frame_fn(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len);
/* The stream ended (PED_E_CLOSED) or broke (a frame error); the leg is still open. */
typedef void ped_leg_gone_fn(struct ped_leg *l, int err);

struct ped_leg_dispatch {
	ped_leg_frame_fn *on[256]; /* by frame type */
	ped_leg_frame_fn *unknown; /* every type on[] leaves NULL */
	ped_leg_gone_fn *gone;
};

struct ped_leg {
	int fd; /* -1: closed */
	struct ped_framer in;
	char peer[96]; /* for logs: "10.0.0.5:4711", "the HSM" */
	/* ped_now_ms() times: opened, last whole frame in, last ping out, last
	 * channel frame relayed either way */
	uint64_t since, last_rx, last_ping, last_data;
	const struct ped_leg_dispatch *d;
	void *ctx; /* the relay's: its session or connection */
	struct ped_evloop *loop;
};

void ped_leg_init(struct ped_leg *l);
static inline int ped_leg_is_open(const struct ped_leg *l)
{
	return l->fd >= 0;
}
/* Takes fd (a connected stream), names the peer, and watches it on loop
 * with table d; since and last_rx start now. */
int ped_leg_open(struct ped_leg *l, int fd, const char *peer, struct ped_evloop *loop,
		 const struct ped_leg_dispatch *d, void *ctx);
/* Stops watching, closes and wipes; a closed leg is left as it is. */
void ped_leg_close(struct ped_leg *l);
/* Moves an open leg, with what it has read, to another place (another
 * table and owner): from is left closed without closing the stream. */
void ped_leg_move(struct ped_leg *to, struct ped_leg *from, const struct ped_leg_dispatch *d, void *ctx);
/* The table for the frames from now on (the next frame of this pump too). */
void ped_leg_set_dispatch(struct ped_leg *l, const struct ped_leg_dispatch *d);

/* Reads what the leg has and hands each whole frame to its handler. PED_OK
 * while the leg lives (or once a handler closed or moved it), else why its
 * stream ended; the leg is not closed here. */
int ped_leg_pump(struct ped_leg *l);
/* ped_leg_pump, then the table's gone() if the stream ended: what the
 * loop does when the leg is readable, for a caller that must read now. */
void ped_leg_read(struct ped_leg *l);

/* Frames out, each within timeout_ms. */
int ped_leg_send(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len, int timeout_ms);
int ped_leg_send_msg(struct ped_leg *l, uint8_t type, const struct ped_relay_msg *m, int timeout_ms);
int ped_leg_send_code(struct ped_leg *l, uint8_t type, uint32_t code, int timeout_ms);

/* PING and PONG in a session: a PING is answered with a PONG; a body that is
 * no relay message (a channel frame whose type byte was damaged into PING
 * or PONG) is PED_E_FRAME_TYPE, which ends a session. */
int ped_leg_keepalive_frame(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len, int timeout_ms);

/* The liveness rules of a session leg: no whole frame for interval + timeout
 * is a dead peer; no channel frame for idle_ms (0: never) an idle session;
 * a PING every interval. */
struct ped_leg_policy {
	int ping_interval_ms, ping_timeout_ms;
	int idle_ms;
	int write_timeout_ms;
};

enum ped_leg_verdict {
	PED_LEG_ALIVE,
	PED_LEG_PING_TIMEOUT, /* the peer stopped answering */
	PED_LEG_IDLE_TIMEOUT,
	PED_LEG_PING_FAILED, /* the ping could not be written */
};

/* A session begins on l: its clocks start at now. */
void ped_leg_session_start(struct ped_leg *l, uint64_t now);
/* Keeps in *due (ped_deadline_min) when the rules next have work on l. */
void ped_leg_deadline(const struct ped_leg *l, const struct ped_leg_policy *p, uint64_t *due);
/* At now: the verdict on l, having sent the PING that was due. */
enum ped_leg_verdict ped_leg_keepalive(struct ped_leg *l, const struct ped_leg_policy *p, uint64_t now);

#endif
