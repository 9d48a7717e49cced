/* Secure link over a socket: framing, handshake pump, records. */
#include "ped/link.h"

#include "ped/buf.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/relay.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void ped_framer_init(struct ped_framer *f, int fd, uint32_t max_payload)
{
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	ped_frame_decoder_init(&f->dec, max_payload);
}

void ped_framer_free(struct ped_framer *f)
{
	ped_frame_decoder_free(&f->dec);
	OPENSSL_cleanse(f->buf, sizeof(f->buf));
	f->pos = f->len = 0;
}

int ped_framer_pending(const struct ped_framer *f)
{
	return f->pos < f->len;
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = ped_now_ms();
	return now >= deadline ? 0 : (int)(deadline - now);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A sched_yield that took longer than this gave the CPU to another
 * thread: the CPUs are wanted, and looking again costs a context switch. */
#define SPIN_CONTENDED_US 20

/* f->spin_us: read's result (bytes, 0 at the end, -1 with errno), or -1
 * with EAGAIN when nothing came in that time. sched_yield between looks:
 * a thread the peer needs to run on this CPU runs, so the look costs only
 * CPU time nobody else wanted; once a yield shows that somebody did want
 * it, one last look and the wait sleeps. */
static ssize_t spin_read(struct ped_framer *f)
{
	uint64_t now = now_us(), until = now + f->spin_us;
	int last = 0;

	for (;;) {
		ssize_t n = recv(f->fd, f->buf, sizeof(f->buf), MSG_DONTWAIT);
		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			if (n < 0 && errno == ENOTSOCK) { /* a pipe: it waits as it always did */
				f->spin_us = 0;
				errno = EAGAIN;
			}
			return n;
		}
		if (last || now >= until) {
			errno = EAGAIN;
			return -1;
		}
		uint64_t before = now;
		sched_yield();
		now = now_us();
		last = now - before > SPIN_CONTENDED_US;
	}
}

int ped_framer_recv(struct ped_framer *f, uint8_t *type, uint8_t **payload, size_t *len,
		    int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : ped_now_ms() + (uint64_t)timeout_ms;
	struct ped_frame fr;
	size_t used;
	int r;
	/* f->blocking: the first read waits by itself (EAGAIN: its receive
	 * timeout passed, and the poll below says what is left) */
	int must_poll = !f->blocking;
	/* a wait shorter than the spin sleeps as asked */
	int spin = f->spin_us && (timeout_ms < 0 || (uint64_t)timeout_ms * 1000u >= f->spin_us);

	*payload = NULL;
	*len = 0;
	for (;;) {
		if (f->pos < f->len) {
			r = ped_frame_decoder_feed(&f->dec, f->buf + f->pos, f->len - f->pos, &used, &fr);
			f->pos += used;
			if (r < 0)
				return r;
			if (r == 1) {
				*type = fr.type;
				*payload = OPENSSL_malloc(fr.len ? fr.len : 1);
				if (!*payload)
					return PED_E_HOST_MEMORY;
				memcpy(*payload, fr.payload, fr.len);
				*len = fr.len;
				return PED_OK;
			}
		}
		ssize_t n = -1;
		int came = 0; /* bytes, the end or an error while spinning */
		if (spin) {
			spin = 0; /* a frame's first wait only: the rest is on its way */
			n = spin_read(f);
			came = n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
		}
		if (!came) {
			if (must_poll) {
				struct pollfd p = {.fd = f->fd, .events = POLLIN};
				int wait = timeout_ms < 0 ? -1 : remaining_ms(deadline);
				r = poll(&p, 1, wait);
				if (r < 0) {
					if (errno == EINTR)
						continue;
					return PED_E_SOCKET;
				}
				if (r == 0)
					return PED_E_TIMED_OUT;
			}
			n = read(f->fd, f->buf, sizeof(f->buf));
		}
		if (timeout_ms >= 0)
			must_poll = 1; /* the deadline rules the rest of the frame */
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				must_poll = 1;
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return errno == ECONNRESET ? PED_E_CLOSED : PED_E_SOCKET;
		}
		if (n == 0)
			return ped_frame_decoder_finish(&f->dec) ? PED_E_FRAME_TRUNCATED : PED_E_CLOSED;
		f->pos = 0;
		f->len = (size_t)n;
	}
}

int ped_frame_send(int fd, uint8_t type, const void *payload, size_t len, int timeout_ms)
{
	uint8_t hdr[PED_FRAME_HEADER_LEN];

	if (len > PED_FRAME_MAX_PAYLOAD)
		return PED_E_FRAME_OVERSIZE;
	ped_frame_header_encode(type, (uint32_t)len, hdr);
	/* One writev for header and payload: a header sent alone waits for the
	 * peer's delayed ACK (Nagle), 40 ms a message on TCP; and the payload,
	 * often a record or a reply with secrets, is not copied to be wiped. */
	return ped_write2_all(fd, hdr, sizeof(hdr), payload, len, timeout_ms);
}

static int send_out(int fd, struct ped_kas_out *out, int timeout_ms)
{
	int r = PED_OK;
	for (int i = 0; i < out->count && r == PED_OK; i++)
		r = ped_frame_send(fd, PED_LINK_KAS, out->msg[i], out->len[i], timeout_ms);
	ped_kas_out_clear(out);
	return r;
}

int ped_link_handshake(struct ped_link *l, int fd, const struct ped_kas_params *p, int timeout_ms)
{
	struct ped_framer f;
	int r;

	ped_framer_init(&f, fd, PED_FRAME_MAX_PAYLOAD);
	if ((r = ped_link_handshake_on(l, &f, p, timeout_ms)) != PED_OK) {
		ped_framer_free(&f);
		close(fd);
	}
	return r;
}

/* A relay's frame in the channel's place ends the receive; a BYE says why
 * the relays ended the session (a ping timeout, the PED gone), which the
 * caller reports instead of a bare "unexpected frame". */
static void note_foreign(struct ped_link *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct ped_relay_msg m;
	l->foreign = type;
	l->foreign_err = PED_OK;
	if (type == PED_RELAY_BYE && ped_relay_decode(p, len, &m) == PED_OK)
		l->foreign_err = ped_err_from_code(m.code);
}

/* One handshake message in, and whatever it calls for out. */
static int kas_step(struct ped_kas *k, int fd, const uint8_t *msg, size_t len, int timeout_ms)
{
	struct ped_kas_out out = {0};
	int r = ped_kas_input(k, msg, len, &out);
	/* An error still leaves an ALERT in out for the peer. */
	int r2 = send_out(fd, &out, timeout_ms);
	if (r == PED_OK && r2 == PED_OK && ped_kas_pending(k)) {
		/* KEYSHARE_U is on its way: V works on it while U derives */
		r = ped_kas_continue(k, &out);
		r2 = send_out(fd, &out, timeout_ms);
	}
	return r != PED_OK ? r : r2;
}

static int handshake(struct ped_link *l, struct ped_framer *f, const struct ped_kas_params *p,
		     const uint8_t *first, size_t first_len, int timeout_ms)
{
	struct ped_kas *k = NULL;
	struct ped_kas_out out = {0};
	struct ped_channel_keys keys;
	uint8_t type, *msg = NULL;
	size_t len = 0;
	int fd = f->fd, r;

	memset(l, 0, sizeof(*l));
	memset(&keys, 0, sizeof(keys));
	l->in = *f;
	l->timeout_ms = timeout_ms;
	struct ped_kas_params kp = *p;
	kp.keyshare_first = 1;
	if ((r = ped_kas_new(&kp, &k)) != PED_OK)
		goto out;
	if (p->role == PED_KAS_V) {
		if ((r = ped_kas_start(k, &out)) != PED_OK || (r = send_out(fd, &out, timeout_ms)) != PED_OK)
			goto out;
	}
	if (first && (r = kas_step(k, fd, first, first_len, timeout_ms)) != PED_OK)
		goto out;
	while (!ped_kas_done(k)) {
		if ((r = ped_framer_recv(&l->in, &type, &msg, &len, timeout_ms)) != PED_OK)
			goto out;
		if (type != PED_LINK_KAS) {
			note_foreign(l, type, msg, len);
			OPENSSL_clear_free(msg, len ? len : 1);
			msg = NULL;
			r = PED_E_FRAME_TYPE;
			goto out;
		}
		r = kas_step(k, fd, msg, len, timeout_ms);
		OPENSSL_clear_free(msg, len ? len : 1);
		msg = NULL;
		if (r != PED_OK)
			goto out;
	}
	snprintf(l->peer_id, sizeof(l->peer_id), "%s", ped_kas_peer_id(k) ? ped_kas_peer_id(k) : "");
	if (ped_kas_peer_cert(k)) {
		l->peer_cert = ped_kas_peer_cert(k);
		X509_up_ref(l->peer_cert);
	}
	if ((r = ped_kas_take_keys(k, &keys)) != PED_OK || (r = ped_channel_new(&keys, &l->ch)) != PED_OK)
		goto out;
	if (p->role == PED_KAS_U) {
		if ((r = ped_link_send(l, PED_REC_READY, NULL, 0)) != PED_OK) {
			/* V waits for READY (as long as an operator may take): an ALERT
			 * tells it at once that none will come (best effort) */
			uint8_t a[PED_KAS_ALERT_LEN];
			ped_kas_alert_encode(r, a);
			(void)ped_frame_send(fd, PED_LINK_KAS, a, sizeof(a), 200);
		}
	} else {
		uint8_t rt;
		uint8_t *pt = NULL;
		size_t pl = 0;
		r = ped_link_recv(l, &rt, &pt, &pl, timeout_ms, NULL);
		if (pt)
			OPENSSL_clear_free(pt, pl ? pl : 1);
		if (r == PED_OK && rt != PED_REC_READY)
			r = PED_E_HANDSHAKE;
	}
	l->up = r == PED_OK;
out:
	ped_channel_keys_cleanse(&keys);
	ped_kas_out_clear(&out);
	ped_kas_free(k);
	if (r != PED_OK) {
		ped_channel_free(l->ch);
		l->ch = NULL;
		X509_free(l->peer_cert);
		l->peer_cert = NULL;
		*f = l->in; /* the caller's again, with whatever is buffered */
		l->in.fd = -1;
	}
	return r;
}

int ped_link_handshake_on(struct ped_link *l, struct ped_framer *f, const struct ped_kas_params *p,
			  int timeout_ms)
{
	return handshake(l, f, p, NULL, 0, timeout_ms);
}

int ped_link_handshake_after(struct ped_link *l, struct ped_framer *f, const struct ped_kas_params *p,
			     const uint8_t *hello_v, size_t len, int timeout_ms)
{
	if (p->role != PED_KAS_U)
		return PED_E_ARGUMENTS_BAD;
	return handshake(l, f, p, hello_v, len, timeout_ms);
}

int ped_link_fd(const struct ped_link *l)
{
	return l->in.fd;
}

static int send_record(struct ped_link *l, uint8_t *rec, size_t rl)
{
	int r = ped_frame_send(l->in.fd, PED_LINK_RECORD, rec, rl, l->timeout_ms);
	OPENSSL_free(rec);
	return r;
}

/* The application is turn by turn: an end point sends when it is its turn
 * to speak, and the peer has nothing to say until it has been answered.
 * Whatever is already waiting on the link then (a duplicated, replayed or
 * forged record, a CLOSE, a relay's BYE) is read first and, whatever it is,
 * ends the channel before anything leaves: no CSP, and no answer that makes
 * the other end act on one (CREATED), goes out on a link with evidence of
 * tampering already in hand. A frame only partly arrived is left for the
 * next receive. */
static int quiet_before_send(struct ped_link *l)
{
	struct pollfd pf = {.fd = l->in.fd, .events = POLLIN};
	uint8_t rt, *pt = NULL;
	size_t len = 0;
	int r;

	if (!ped_framer_pending(&l->in) && poll(&pf, 1, 0) <= 0)
		return PED_OK;
	r = ped_link_recv(l, &rt, &pt, &len, 0, NULL);
	if (pt)
		OPENSSL_clear_free(pt, len ? len : 1);
	if (r == PED_E_TIMED_OUT)
		return PED_OK;
	if (r == PED_OK) {
		/* authentic, but sent out of turn */
		ped_warn("a record arrived out of turn: ending the channel");
		r = PED_E_BAD_RECORD;
	}
	return r;
}

int ped_link_send(struct ped_link *l, uint8_t rectype, const uint8_t *pt, size_t len)
{
	uint8_t *rec = NULL;
	size_t rl = 0;
	int r;

	if (!l->ch)
		return PED_E_CHANNEL_CLOSED;
	if (rectype != PED_REC_CLOSE && (r = quiet_before_send(l)) != PED_OK) {
		ped_warn("record not sent: %s", ped_strerror(r));
		return r;
	}
	if ((r = ped_channel_seal(l->ch, rectype, pt, len, &rec, &rl)) != PED_OK)
		return r;
	return send_record(l, rec, rl);
}

int ped_link_send_csp(struct ped_link *l, const uint8_t *csp, size_t len)
{
	uint8_t *rec = NULL;
	size_t rl = 0;
	int r;

	if (!l->ch)
		return PED_E_CHANNEL_CLOSED;
	if ((r = quiet_before_send(l)) != PED_OK) {
		ped_warn("CSP not sent: %s", ped_strerror(r));
		return r;
	}
	if ((r = ped_channel_seal_csp(l->ch, csp, len, &rec, &rl)) != PED_OK)
		return r;
	return send_record(l, rec, rl);
}

int ped_link_recv(struct ped_link *l, uint8_t *rectype, uint8_t **pt, size_t *len, int timeout_ms,
		  uint32_t *close_code)
{
	uint8_t type, *frame = NULL, *plain = NULL;
	size_t flen = 0, plen = 0;
	int r;

	*pt = NULL;
	*len = 0;
	if (!l->ch)
		return PED_E_CHANNEL_CLOSED;
	if ((r = ped_framer_recv(&l->in, &type, &frame, &flen, timeout_ms)) != PED_OK)
		return r;
	if (!l->up && type == PED_LINK_KAS && flen == PED_KAS_ALERT_LEN && frame[0] == PED_KAS_ALERT) {
		/* In 1e1s U may refuse V's key confirmation after V is done. */
		r = ped_kas_alert_error(frame, flen);
		goto out;
	}
	if (type != PED_LINK_RECORD) {
		/* Anything but a record once the channel is up, an ALERT too
		 * (unauthenticated: its code is anyone's choice), is one error
		 * that ends the session, never a code read from the wire. The
		 * channel stays usable for the CLOSE that tells the peer. */
		note_foreign(l, type, frame, flen);
		r = PED_E_FRAME_TYPE;
		goto out;
	}
	if ((r = ped_channel_open(l->ch, frame, flen, rectype, &plain, &plen)) != PED_OK)
		goto out;
	if (*rectype == PED_REC_CLOSE) {
		if (close_code)
			*close_code = plen >= 4 ? ped_be32_get(plain) : 0;
		r = PED_E_CLOSED;
		goto out;
	}
	if (*rectype == PED_REC_CSP) {
		r = ped_channel_unwrap_csp(l->ch, plain, plen, pt, len);
		goto out;
	}
	*pt = plain;
	*len = plen;
	plain = NULL;
out:
	if (frame)
		OPENSSL_clear_free(frame, flen ? flen : 1);
	if (plain)
		OPENSSL_clear_free(plain, plen ? plen : 1);
	return r;
}

static void end_channel(struct ped_link *l, int reason)
{
	if (l->ch && l->in.fd >= 0 && ped_channel_alive(l->ch)) {
		uint8_t b[4];
		ped_be32_put(b, ped_err_code(reason));
		int saved = l->timeout_ms;
		l->timeout_ms = 200;
		(void)ped_link_send(l, PED_REC_CLOSE, b, sizeof(b));
		l->timeout_ms = saved;
	}
	ped_channel_free(l->ch);
	l->ch = NULL;
	X509_free(l->peer_cert);
	l->peer_cert = NULL;
}

void ped_link_release(struct ped_link *l, int reason, struct ped_framer *f)
{
	end_channel(l, reason);
	*f = l->in;
	memset(&l->in, 0, sizeof(l->in));
	l->in.fd = -1;
}

void ped_link_close(struct ped_link *l, int reason)
{
	end_channel(l, reason);
	if (l->in.fd >= 0)
		close(l->in.fd);
	ped_framer_free(&l->in);
	l->in.fd = -1;
}
