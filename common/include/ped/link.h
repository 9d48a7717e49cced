/* A secure link over a connected stream socket: the handshake carried in
 * frames, then records. Both end points (ped-device and hsm-sim) use it with
 * blocking calls, each bounded by a timeout, from the one thread that owns
 * the link at the time.
 *
 * Frames on a link (docs/protocol.md, section 8):
 *   PED_LINK_KAS     a handshake message (HELLO_V, KEYSHARE_U, CONFIRM_*, ALERT)
 *   PED_LINK_RECORD  a record of the channel
 *
 * After the handshake U sends READY; V returns from ped_link_handshake() only
 * once READY has arrived, so in 1e1s V has its proof before it sends a CSP. */
#ifndef PED_LINK_H
#define PED_LINK_H

#include "ped/frame.h"
#include "ped/kas.h"
#include "ped/record.h"

#include <stddef.h>
#include <stdint.h>

enum { PED_LINK_KAS = 0x10, PED_LINK_RECORD = 0x11 };

/* A frame reader with its own buffer, so bytes after a frame are kept.
 * The buffer holds a PKCS#11 call's 4 KiB of data with its header in one
 * read: at 4096 such a frame took two reads, and two polls, each way. */
#define PED_FRAMER_BUF 8192
struct ped_framer {
	int fd;
	struct ped_frame_decoder dec;
	uint8_t buf[PED_FRAMER_BUF];
	size_t pos, len;
	/* Set by the owner when fd is a blocking socket whose receive timeout
	 * (SO_RCVTIMEO, if any) is no longer than the waits it asks for: a
	 * frame's first read then waits in read itself rather than in a poll
	 * before it, one system call less per frame; the rest of a frame
	 * waits in poll, by the deadline. */
	int blocking;
	/* Set by the owner: microseconds a frame's first wait looks for bytes
	 * without sleeping, giving the CPU to anything runnable between looks,
	 * before it sleeps in poll or read (0: it sleeps at once). A sleeping
	 * thread woken by the peer's write costs 40-50 us on a virtual machine
	 * whose idle CPU halts (bench_wakeup, docs/performance.md): more than
	 * the request it waited for. */
	unsigned spin_us;
};

void ped_framer_init(struct ped_framer *f, int fd, uint32_t max_payload);
void ped_framer_free(struct ped_framer *f);
/* Waits up to timeout_ms (< 0: forever) for one frame; *payload is an
 * OPENSSL_malloc'd copy (free with OPENSSL_clear_free(p, len ? len : 1)).
 * PED_E_CLOSED at a clean end of stream, PED_E_TIMED_OUT, or a frame error. */
int ped_framer_recv(struct ped_framer *f, uint8_t *type, uint8_t **payload, size_t *len,
		    int timeout_ms);
/* 1 if a whole frame or more is already buffered (poll would not show it). */
int ped_framer_pending(const struct ped_framer *f);
int ped_frame_send(int fd, uint8_t type, const void *payload, size_t len, int timeout_ms);

struct ped_link {
	struct ped_framer in;
	struct ped_channel *ch;
	char peer_id[PED_KAS_ID_MAX + 1];
	X509 *peer_cert; /* V's static certificate as U saw it, or U's in 2e2s */
	int timeout_ms;  /* for each send */
	uint8_t foreign; /* a relay's frame that ended the last receive (PED_E_FRAME_TYPE) */
	int foreign_err; /* when that frame was a BYE: its reason (PED_OK: asked to, or unreadable) */
	uint8_t up;      /* READY sent or received: an ALERT is no longer a peer's word */
};

/* Takes fd (closed by ped_link_close even on failure). */
int ped_link_handshake(struct ped_link *l, int fd, const struct ped_kas_params *p, int timeout_ms);
/* The same on a framer that may already hold bytes read after relay
 * messages. The link takes it over; on failure it is back in *f, socket open,
 * so a PED attached to pedserver stays attached. */
int ped_link_handshake_on(struct ped_link *l, struct ped_framer *f, const struct ped_kas_params *p,
			  int timeout_ms);
/* U only: the same when V's first message (HELLO_V) was already read from
 * f. The PED reads it before it asks the operator for the secret, so that
 * anything else on the link while it asks means the session has ended. */
int ped_link_handshake_after(struct ped_link *l, struct ped_framer *f, const struct ped_kas_params *p,
			     const uint8_t *hello_v, size_t len, int timeout_ms);
/* Ends the channel (CLOSE to the peer) but hands the socket and whatever is
 * buffered back in *f: the PED keeps its pedserver connection between sessions. */
void ped_link_release(struct ped_link *l, int reason, struct ped_framer *f);
int ped_link_send(struct ped_link *l, uint8_t rectype, const uint8_t *pt, size_t len);
int ped_link_send_csp(struct ped_link *l, const uint8_t *csp, size_t len);
/* One record; a CSP record's plaintext comes back unwrapped. PED_E_CLOSED
 * when the peer sent CLOSE (*close_code if given gets its reason). */
int ped_link_recv(struct ped_link *l, uint8_t *rectype, uint8_t **pt, size_t *len, int timeout_ms,
		  uint32_t *close_code);
int ped_link_fd(const struct ped_link *l);
/* Sends CLOSE with reason (best effort), closes the socket, frees everything. */
void ped_link_close(struct ped_link *l, int reason);

#endif
