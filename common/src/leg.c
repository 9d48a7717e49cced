/* A relay's leg: framed input dispatched by type, the liveness rules. */
#include "ped/leg.h"

#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/log.h"

#include <openssl/crypto.h>
#include <string.h>
#include <unistd.h>

void ped_leg_init(struct ped_leg *l)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

static void on_readable(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	ped_leg_read(arg);
}

static int watch(struct ped_leg *l, struct ped_evloop *loop, const struct ped_leg_dispatch *d, void *ctx)
{
	l->loop = loop;
	l->d = d;
	l->ctx = ctx;
	return ped_evloop_add_fd(loop, l->fd, PED_EV_READ, on_readable, l);
}

int ped_leg_open(struct ped_leg *l, int fd, const char *peer, struct ped_evloop *loop,
		 const struct ped_leg_dispatch *d, void *ctx)
{
	ped_leg_init(l);
	l->fd = fd;
	snprintf(l->peer, sizeof(l->peer), "%s", peer);
	ped_framer_init(&l->in, fd, PED_FRAME_MAX_PAYLOAD);
	l->since = l->last_rx = ped_now_ms();
	return watch(l, loop, d, ctx);
}

void ped_leg_close(struct ped_leg *l)
{
	if (l->fd < 0)
		return;
	if (l->loop)
		ped_evloop_del_fd(l->loop, l->fd);
	close(l->fd);
	ped_framer_free(&l->in);
	ped_leg_init(l);
}

void ped_leg_move(struct ped_leg *to, struct ped_leg *from, const struct ped_leg_dispatch *d, void *ctx)
{
	struct ped_evloop *loop = from->loop;
	if (loop)
		ped_evloop_del_fd(loop, from->fd);
	if (to != from) {
		*to = *from;
		ped_leg_init(from);
	}
	if (loop)
		(void)watch(to, loop, d, ctx);
}

void ped_leg_set_dispatch(struct ped_leg *l, const struct ped_leg_dispatch *d)
{
	l->d = d;
}

int ped_leg_pump(struct ped_leg *l)
{
	for (;;) {
		uint8_t type, *p = NULL;
		size_t len = 0;
		int fd = l->fd;
		int r = ped_framer_recv(&l->in, &type, &p, &len, 0);
		if (r == PED_E_TIMED_OUT)
			return PED_OK;
		if (r != PED_OK)
			return r;
		l->last_rx = ped_now_ms();
		/* headers only: payloads may be channel records */
		ped_trace("frame %s (0x%02x), %zu bytes, from %s", ped_relay_type_name(type), type, len, l->peer);
		ped_leg_frame_fn *fn = l->d->on[type] ? l->d->on[type] : l->d->unknown;
		if (fn)
			fn(l, type, p, len);
		OPENSSL_clear_free(p, len ? len : 1);
		if (l->fd != fd) /* the handler closed or moved it */
			return PED_OK;
	}
}

void ped_leg_read(struct ped_leg *l)
{
	int r = ped_leg_pump(l);
	if (r != PED_OK && l->d->gone)
		l->d->gone(l, r);
}

int ped_leg_send(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len, int timeout_ms)
{
	return ped_frame_send(l->fd, type, p, len, timeout_ms);
}

int ped_leg_send_msg(struct ped_leg *l, uint8_t type, const struct ped_relay_msg *m, int timeout_ms)
{
	return ped_relay_send(l->fd, type, m, timeout_ms);
}

int ped_leg_send_code(struct ped_leg *l, uint8_t type, uint32_t code, int timeout_ms)
{
	return ped_relay_send_code(l->fd, type, code, timeout_ms);
}

int ped_leg_keepalive_frame(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len, int timeout_ms)
{
	struct ped_relay_msg m;
	if (ped_relay_decode(p, len, &m) != PED_OK)
		return PED_E_FRAME_TYPE;
	if (type == PED_RELAY_PING)
		(void)ped_leg_send_code(l, PED_RELAY_PONG, 0, timeout_ms);
	return PED_OK;
}

void ped_leg_session_start(struct ped_leg *l, uint64_t now)
{
	l->last_rx = l->last_ping = l->last_data = now;
}

void ped_leg_deadline(const struct ped_leg *l, const struct ped_leg_policy *p, uint64_t *due)
{
	ped_deadline_min(due, l->last_rx + (uint64_t)(p->ping_interval_ms + p->ping_timeout_ms) + 1);
	if (p->idle_ms)
		ped_deadline_min(due, l->last_data + (uint64_t)p->idle_ms + 1);
	ped_deadline_min(due, l->last_ping + (uint64_t)p->ping_interval_ms);
}

enum ped_leg_verdict ped_leg_keepalive(struct ped_leg *l, const struct ped_leg_policy *p, uint64_t now)
{
	if (now - l->last_rx > (uint64_t)(p->ping_interval_ms + p->ping_timeout_ms))
		return PED_LEG_PING_TIMEOUT;
	if (p->idle_ms && now - l->last_data > (uint64_t)p->idle_ms)
		return PED_LEG_IDLE_TIMEOUT;
	if (now - l->last_ping >= (uint64_t)p->ping_interval_ms) {
		l->last_ping = now;
		if (ped_leg_send_code(l, PED_RELAY_PING, 0, p->write_timeout_ms) != PED_OK)
			return PED_LEG_PING_FAILED;
	}
	return PED_LEG_ALIVE;
}
