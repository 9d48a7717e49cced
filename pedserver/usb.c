/* The PED on USB: libusb on the server's poll loop (its pollfds, no thread
 * of ours), hotplug callbacks where libusb has them and periodic enumeration
 * where it does not. One bulk IN transfer is always in flight and its bytes
 * go to the server's stream as they come (a frame may span transfers; the
 * server's framer reassembles). Frames from the server leave one per bulk
 * OUT transfer, with a zero-length packet when one ends on a packet
 * boundary, so the PED sees where each frame ends. */
#include "usb.h"

#include "ped/error.h"
#include "ped/frame.h"
#include "ped/log.h"
#include "ped/net.h"

#include <errno.h>
#include <libusb.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define IN_BUFFER (16u * 1024u) /* a multiple of every bulk wMaxPacketSize */
#define STOP_WAIT_MS 1000
#define MAX_STALL_RETRIES 3
#define OUT_QUEUE_MAX (256u * 1024u) /* frames waiting for the PED before the server is read no more */

struct out_frame {
	struct out_frame *next;
	size_t len;
	uint8_t data[]; /* header and payload */
};

static struct {
	struct ped_evloop *loop;
	struct usb_ped_settings set;
	usb_ped_attach_fn attach;
	libusb_context *ctx;
	int hotplug;
	libusb_hotplug_callback_handle hp;
	struct ped_timer scan, delay, timeouts;
	int arrived; /* hotplug: a matching device came; open it after the event round */
	int open_failing; /* the last attempt to open a present PED failed: retrying, quietly */
	int left;    /* hotplug: the open device went away */

	/* the open PED */
	libusb_device_handle *h;
	libusb_device *dev;
	int iface;
	uint8_t ep_in, ep_out;
	char name[64];
	int bridge; /* our end of the server's stream */
	struct libusb_transfer *in, *out;
	int in_busy, out_busy;
	uint8_t in_buf[IN_BUFFER];
	struct ped_frame_decoder dec;
	struct out_frame *q, **q_tail;
	size_t q_bytes;
	/* IN data the server has not taken yet: the next IN transfer waits for it */
	uint8_t *pend;
	size_t pend_len, pend_off;
	int stalls;
	int closing; /* waiting for the transfers to come back before closing */
	int stopping;
} U;

static void try_open(void);
static void submit_out(void);
static void in_done(struct libusb_transfer *t);
static void close_ped(const char *why);
static void finish_close(void);

static void schedule_scan(int ms)
{
	if (!U.stopping)
		ped_timer_start(U.loop, &U.scan, (uint64_t)ms, U.hotplug ? 0 : (uint64_t)U.set.scan_interval_ms);
}

static void arm_timeouts(void)
{
	struct timeval tv;
	if (!U.ctx || libusb_pollfds_handle_timeouts(U.ctx))
		return;
	if (libusb_get_next_timeout(U.ctx, &tv) == 1)
		ped_timer_start(U.loop, &U.timeouts, (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000 + 1, 0);
}

static void handle_events(void)
{
	struct timeval zero = {0, 0};
	if (!U.ctx)
		return;
	libusb_handle_events_timeout_completed(U.ctx, &zero, NULL);
	if (U.left) {
		U.left = 0;
		close_ped("unplugged");
	}
	finish_close();
	if (U.arrived && !U.h) {
		U.arrived = 0;
		try_open();
	}
	arm_timeouts();
}

static void on_usb_fd(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	(void)arg;
	handle_events();
}

static void on_timeouts(struct ped_evloop *loop, struct ped_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	(void)arg;
	handle_events();
}

static unsigned poll_to_ev(short events)
{
	return (events & POLLIN ? PED_EV_READ : 0u) | (events & POLLOUT ? PED_EV_WRITE : 0u);
}

static void pollfd_added(int fd, short events, void *arg)
{
	(void)arg;
	if (ped_evloop_add_fd(U.loop, fd, poll_to_ev(events), on_usb_fd, NULL) != PED_OK)
		ped_evloop_mod_fd(U.loop, fd, poll_to_ev(events));
}

static void pollfd_removed(int fd, void *arg)
{
	(void)arg;
	ped_evloop_del_fd(U.loop, fd);
}

static void free_queue(void)
{
	while (U.q) {
		struct out_frame *f = U.q;
		U.q = f->next;
		OPENSSL_clear_free(f, sizeof(*f) + f->len);
	}
	U.q_tail = &U.q;
	U.q_bytes = 0;
}

/* Frees what the open PED held once no transfer is in flight. Never from a
 * transfer callback: libusb_close there deadlocks on libusb's event lock. */
static void finish_close(void)
{
	if (!U.closing || U.in_busy || U.out_busy)
		return;
	libusb_free_transfer(U.in);
	libusb_free_transfer(U.out);
	U.in = U.out = NULL;
	if (U.h) {
		libusb_release_interface(U.h, U.iface);
		libusb_close(U.h);
	}
	U.h = NULL;
	if (U.dev)
		libusb_unref_device(U.dev);
	U.dev = NULL;
	U.closing = 0;
	ped_frame_decoder_free(&U.dec);
	free_queue();
	OPENSSL_clear_free(U.pend, sizeof(U.in_buf));
	U.pend = NULL;
	U.pend_len = U.pend_off = 0;
	U.name[0] = '\0';
	ped_timer_stop(U.loop, &U.delay);
	/* still plugged in (an error, or the server let it go): look again later */
	schedule_scan(U.set.scan_interval_ms);
}

/* Ends the PED's stream: the server sees it go, and the device is let go
 * once its transfers are back. */
static void close_ped(const char *why)
{
	if (!U.h || U.closing)
		return;
	if (why)
		ped_warn("USB PED %s: %s", U.name, why);
	U.closing = 1;
	if (U.bridge >= 0) {
		ped_evloop_del_fd(U.loop, U.bridge);
		close(U.bridge);
		U.bridge = -1;
	}
	if (U.in_busy)
		libusb_cancel_transfer(U.in);
	if (U.out_busy)
		libusb_cancel_transfer(U.out);
	/* finish_close runs once both transfers are back, after the event round */
}

static void on_bridge(struct ped_evloop *loop, int fd, unsigned events, void *arg);

/* What the bridge waits for: the server's frames while the OUT queue has
 * room, and room to write while IN data waits. */
static void bridge_watch(void)
{
	if (U.bridge < 0)
		return;
	unsigned ev = (U.q_bytes < OUT_QUEUE_MAX ? PED_EV_READ : 0u) | (U.pend_len ? PED_EV_WRITE : 0u);
	ped_evloop_mod_fd(U.loop, U.bridge, ev);
}

/* Bytes from the PED to the server's stream, without blocking: what the
 * socket does not take now waits in U.pend, and the next IN transfer waits
 * for it (the PED is held back, nothing is dropped). 1: all written. */
static int flush_to_server(void)
{
	while (U.pend_off < U.pend_len) {
		ssize_t n = write(U.bridge, U.pend + U.pend_off, U.pend_len - U.pend_off);
		if (n > 0) {
			U.pend_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			bridge_watch();
			return 0;
		}
		return -1;
	}
	U.pend_len = U.pend_off = 0;
	bridge_watch();
	return 1;
}

static void submit_in(void)
{
	int r;
	if (U.closing || U.in_busy)
		return;
	libusb_fill_bulk_transfer(U.in, U.h, U.ep_in, U.in_buf, sizeof(U.in_buf), in_done, NULL, 0);
	if ((r = libusb_submit_transfer(U.in)) != 0) {
		close_ped(r == LIBUSB_ERROR_NO_DEVICE ? "unplugged" : libusb_strerror(r));
		return;
	}
	U.in_busy = 1;
}

static void in_done(struct libusb_transfer *t)
{
	U.in_busy = 0;
	if (U.closing)
		return;
	switch (t->status) {
	case LIBUSB_TRANSFER_COMPLETED:
		U.stalls = 0;
		if (t->actual_length > 0) {
			if (!U.pend && !(U.pend = OPENSSL_malloc(sizeof(U.in_buf)))) {
				close_ped("out of memory");
				return;
			}
			memcpy(U.pend, t->buffer, (size_t)t->actual_length);
			U.pend_len = (size_t)t->actual_length;
			U.pend_off = 0;
			OPENSSL_cleanse(t->buffer, (size_t)t->actual_length);
			int w = flush_to_server();
			if (w < 0) {
				close_ped("pedserver's end of the PED stream is gone");
				return;
			}
			if (w == 0)
				return; /* the next IN transfer once the server has read this */
		}
		submit_in();
		return;
	case LIBUSB_TRANSFER_STALL:
		if (++U.stalls > MAX_STALL_RETRIES) {
			close_ped("bulk IN endpoint stalls again and again: the PED needs a reset (unplug it)");
			return;
		}
		ped_warn("USB PED %s: bulk IN endpoint stalled: clearing the halt", U.name);
		libusb_clear_halt(U.h, U.ep_in);
		submit_in();
		return;
	case LIBUSB_TRANSFER_NO_DEVICE:
		close_ped("unplugged");
		return;
	case LIBUSB_TRANSFER_OVERFLOW:
		close_ped("the PED sent more than it was asked for (babble): disconnected");
		return;
	default:
		close_ped(t->status == LIBUSB_TRANSFER_TIMED_OUT ? "read timed out" : "read failed");
		return;
	}
}

static void out_done(struct libusb_transfer *t)
{
	U.out_busy = 0;
	if (U.closing)
		return;
	switch (t->status) {
	case LIBUSB_TRANSFER_COMPLETED:
		if (t->actual_length != t->length) {
			close_ped("the PED took part of a frame");
			return;
		}
		U.stalls = 0;
		struct out_frame *f = U.q;
		U.q = f->next;
		if (!U.q)
			U.q_tail = &U.q;
		U.q_bytes -= f->len;
		OPENSSL_clear_free(f, sizeof(*f) + f->len);
		bridge_watch();
		if (U.set.write_delay_us > 0 && U.q) {
			ped_timer_start(U.loop, &U.delay, (uint64_t)(U.set.write_delay_us + 999) / 1000, 0);
			return;
		}
		submit_out();
		return;
	case LIBUSB_TRANSFER_STALL:
		if (++U.stalls > MAX_STALL_RETRIES) {
			close_ped("bulk OUT endpoint stalls again and again: the PED needs a reset (unplug it)");
			return;
		}
		/* the PED refused the frame whole: send it again once the halt is cleared */
		ped_warn("USB PED %s: bulk OUT endpoint stalled: clearing the halt and sending the frame again", U.name);
		libusb_clear_halt(U.h, U.ep_out);
		submit_out();
		return;
	case LIBUSB_TRANSFER_NO_DEVICE:
		close_ped("unplugged");
		return;
	case LIBUSB_TRANSFER_TIMED_OUT:
		close_ped("the PED did not take a frame within the write timeout "
			  "(a slow PED may need -pedwritelay)");
		return;
	default:
		close_ped("write failed");
		return;
	}
}

static void submit_out(void)
{
	int r;
	if (U.closing || U.out_busy || !U.q || U.delay.active)
		return;
	libusb_fill_bulk_transfer(U.out, U.h, U.ep_out, U.q->data, (int)U.q->len, out_done, NULL,
				  (unsigned)U.set.write_timeout_ms);
	U.out->flags = LIBUSB_TRANSFER_ADD_ZERO_PACKET;
	if ((r = libusb_submit_transfer(U.out)) != 0) {
		close_ped(r == LIBUSB_ERROR_NO_DEVICE ? "unplugged" : libusb_strerror(r));
		return;
	}
	U.out_busy = 1;
}

static void on_delay(struct ped_evloop *loop, struct ped_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	(void)arg;
	submit_out();
}

/* The server's frames, cut at frame boundaries into the OUT queue. */
static void on_bridge(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	uint8_t buf[4096];
	(void)loop;
	(void)arg;
	if (events & PED_EV_WRITE) {
		int w = flush_to_server();
		if (w < 0) {
			close_ped("pedserver's end of the PED stream is gone");
			finish_close();
			return;
		}
		if (w == 1)
			submit_in();
	}
	if (!(events & (PED_EV_READ | PED_EV_ERROR)))
		return;
	while (U.q_bytes < OUT_QUEUE_MAX) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			if (n == 0)
				ped_info("USB PED %s released: pedserver closed its link", U.name);
			close_ped(n == 0 ? NULL : "reading pedserver's stream failed");
			finish_close();
			return;
		}
		size_t off = 0;
		while (off < (size_t)n) {
			struct ped_frame fr;
			size_t used = 0;
			int r = ped_frame_decoder_feed(&U.dec, buf + off, (size_t)n - off, &used, &fr);
			off += used;
			if (r < 0) {
				close_ped("pedserver sent a malformed frame");
				OPENSSL_cleanse(buf, sizeof(buf));
				return;
			}
			if (r == 0)
				break;
			struct out_frame *f = OPENSSL_malloc(sizeof(*f) + PED_FRAME_HEADER_LEN + fr.len);
			if (!f) {
				close_ped("out of memory");
				OPENSSL_cleanse(buf, sizeof(buf));
				return;
			}
			f->next = NULL;
			f->len = PED_FRAME_HEADER_LEN + fr.len;
			ped_frame_header_encode(fr.type, fr.len, f->data);
			if (fr.len)
				memcpy(f->data + PED_FRAME_HEADER_LEN, fr.payload, fr.len);
			*U.q_tail = f;
			U.q_tail = &f->next;
			U.q_bytes += f->len;
		}
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	bridge_watch();
	submit_out();
}

/* The PED's interface: vendor-specific, one bulk IN and one bulk OUT. */
static int find_interface(libusb_device *dev, int *iface, uint8_t *in, uint8_t *out)
{
	struct libusb_config_descriptor *cfg;
	int found = 0;
	if (libusb_get_active_config_descriptor(dev, &cfg) != 0 &&
	    libusb_get_config_descriptor(dev, 0, &cfg) != 0)
		return 0;
	for (int i = 0; i < cfg->bNumInterfaces && !found; i++) {
		for (int a = 0; a < cfg->interface[i].num_altsetting && !found; a++) {
			const struct libusb_interface_descriptor *d = &cfg->interface[i].altsetting[a];
			uint8_t ei = 0, eo = 0;
			if (d->bInterfaceClass != LIBUSB_CLASS_VENDOR_SPEC)
				continue;
			for (int e = 0; e < d->bNumEndpoints; e++) {
				const struct libusb_endpoint_descriptor *ep = &d->endpoint[e];
				if ((ep->bmAttributes & LIBUSB_TRANSFER_TYPE_MASK) != LIBUSB_TRANSFER_TYPE_BULK)
					continue;
				if (ep->bEndpointAddress & LIBUSB_ENDPOINT_IN)
					ei = ei ? ei : ep->bEndpointAddress;
				else
					eo = eo ? eo : ep->bEndpointAddress;
			}
			if (ei && eo) {
				*iface = d->bInterfaceNumber;
				*in = ei;
				*out = eo;
				found = 1;
			}
		}
	}
	libusb_free_config_descriptor(cfg);
	return found;
}

/* A PED that is present but cannot be opened (udev not done with its
 * permissions, another program holding it, a device still settling after a
 * re-plug) is retried every scan interval; the first failure is an error,
 * the repeats are traced so a stuck device does not flood the log. */
#define open_failed(fmt, ...)                                                                         \
	do {                                                                                          \
		if (U.open_failing)                                                                   \
			ped_trace("USB PED %s: " fmt " (retrying)", U.name, __VA_ARGS__);            \
		else                                                                                  \
			ped_error("USB PED %s: " fmt " (retrying every %d ms)", U.name, __VA_ARGS__, \
				  U.set.scan_interval_ms);                                            \
	} while (0)

/* 1: opened; 0: not a PED; -1: a PED that cannot be opened now (retried). */
static int open_device(libusb_device *dev)
{
	struct libusb_device_descriptor dd;
	int sv[2] = {-1, -1}, r;

	if (libusb_get_device_descriptor(dev, &dd) != 0 || dd.idVendor != U.set.vid || dd.idProduct != U.set.pid)
		return 0;
	snprintf(U.name, sizeof(U.name), "bus %u device %u (%04x:%04x)", libusb_get_bus_number(dev),
		 libusb_get_device_address(dev), dd.idVendor, dd.idProduct);
	if (!find_interface(dev, &U.iface, &U.ep_in, &U.ep_out)) {
		ped_warn("USB device %s has no vendor-specific interface with bulk IN and OUT: not a PED", U.name);
		return 0;
	}
	if ((r = libusb_open(dev, &U.h)) != 0) {
		open_failed("cannot open: %s", libusb_strerror(r));
		U.h = NULL;
		return -1;
	}
	libusb_set_auto_detach_kernel_driver(U.h, 1);
	if ((r = libusb_claim_interface(U.h, U.iface)) != 0) {
		open_failed("cannot claim interface %d: %s", U.iface, libusb_strerror(r));
		goto fail;
	}
	if (!(U.in = libusb_alloc_transfer(0)) || !(U.out = libusb_alloc_transfer(0)) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		ped_error("USB PED %s: out of resources", U.name);
		libusb_release_interface(U.h, U.iface);
		goto fail;
	}
	ped_set_nonblock(sv[0], 1);
	ped_set_nonblock(sv[1], 1);
	U.dev = libusb_ref_device(dev);
	U.bridge = sv[0];
	U.stalls = 0;
	U.q = NULL;
	U.q_tail = &U.q;
	U.q_bytes = 0;
	U.pend_len = U.pend_off = 0;
	ped_frame_decoder_init(&U.dec, PED_FRAME_MAX_PAYLOAD);
	ped_evloop_add_fd(U.loop, U.bridge, PED_EV_READ, on_bridge, NULL);
	ped_info("USB PED %s: interface %d, bulk IN 0x%02x, bulk OUT 0x%02x", U.name, U.iface, U.ep_in, U.ep_out);
	U.open_failing = 0;
	U.attach(sv[1], U.name);
	ped_timer_stop(U.loop, &U.scan);
	submit_in();
	return 1;
fail:
	libusb_free_transfer(U.in);
	libusb_free_transfer(U.out);
	U.in = U.out = NULL;
	libusb_close(U.h);
	U.h = NULL;
	return -1;
}

static void try_open(void)
{
	libusb_device **list;
	ssize_t n;
	if (U.h || U.stopping)
		return;
	if ((n = libusb_get_device_list(U.ctx, &list)) < 0) {
		ped_warn("USB: cannot list devices: %s", libusb_strerror((int)n));
		return;
	}
	int failed = 0;
	for (ssize_t i = 0; i < n && !U.h; i++)
		failed |= open_device(list[i]) < 0;
	libusb_free_device_list(list, 1);
	if (!U.h && failed) {
		U.open_failing = 1;
		/* with hotplug no event comes again for a device already there */
		if (U.hotplug)
			schedule_scan(U.set.scan_interval_ms);
	}
}

static void on_scan(struct ped_evloop *loop, struct ped_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	(void)arg;
	try_open();
}

static int LIBUSB_CALL on_hotplug(libusb_context *ctx, libusb_device *dev, libusb_hotplug_event ev, void *arg)
{
	(void)ctx;
	(void)arg;
	if (ev == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED)
		U.arrived = 1; /* opened after this event round: libusb_open is not for callbacks */
	else if (ev == LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT && dev == U.dev)
		U.left = 1;
	return 0;
}

int usb_ped_start(struct ped_evloop *loop, const struct usb_ped_settings *s, usb_ped_attach_fn attach)
{
	const struct libusb_pollfd **fds;
	int r;

	memset(&U, 0, sizeof(U));
	U.loop = loop;
	U.set = *s;
	U.attach = attach;
	U.bridge = -1;
	U.q_tail = &U.q;
	ped_timer_init(&U.scan, on_scan, NULL);
	ped_timer_init(&U.delay, on_delay, NULL);
	ped_timer_init(&U.timeouts, on_timeouts, NULL);
	if (!s->enabled)
		return PED_OK;
	if ((r = libusb_init(&U.ctx)) != 0) {
		ped_warn("USB: libusb cannot start (%s): only PEDs on the local PED port will be served",
			 libusb_strerror(r));
		U.ctx = NULL;
		return PED_OK;
	}
	libusb_set_pollfd_notifiers(U.ctx, pollfd_added, pollfd_removed, NULL);
	if ((fds = libusb_get_pollfds(U.ctx)) != NULL) {
		for (int i = 0; fds[i]; i++)
			pollfd_added(fds[i]->fd, fds[i]->events, NULL);
		libusb_free_pollfds(fds);
	}
	U.hotplug = libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG) &&
		    libusb_hotplug_register_callback(U.ctx,
						     LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
						     0, s->vid, s->pid, LIBUSB_HOTPLUG_MATCH_ANY, on_hotplug, NULL,
						     &U.hp) == LIBUSB_SUCCESS;
	ped_info("USB: looking for PEDs %04x:%04x (%s)", s->vid, s->pid,
		 U.hotplug ? "hotplug" : "periodic enumeration");
	try_open();
	if (!U.h)
		schedule_scan(s->scan_interval_ms);
	return PED_OK;
}

void usb_ped_stop(void)
{
	if (!U.ctx)
		return;
	U.stopping = 1;
	ped_timer_stop(U.loop, &U.scan);
	ped_timer_stop(U.loop, &U.timeouts);
	close_ped(NULL);
	uint64_t until = ped_now_ms() + STOP_WAIT_MS;
	while ((U.in_busy || U.out_busy) && ped_now_ms() < until) {
		struct timeval tv = {0, 50000};
		libusb_handle_events_timeout_completed(U.ctx, &tv, NULL);
	}
	if (U.in_busy || U.out_busy)
		ped_warn("USB PED %s: transfers still in flight at exit", U.name);
	else
		finish_close();
	ped_timer_stop(U.loop, &U.scan);
	if (U.hotplug)
		libusb_hotplug_deregister_callback(U.ctx, U.hp);
	libusb_set_pollfd_notifiers(U.ctx, NULL, NULL, NULL);
	const struct libusb_pollfd **fds = libusb_get_pollfds(U.ctx);
	if (fds) {
		for (int i = 0; fds[i]; i++)
			ped_evloop_del_fd(U.loop, fds[i]->fd);
		libusb_free_pollfds(fds);
	}
	libusb_exit(U.ctx);
	U.ctx = NULL;
}

void usb_ped_describe(char *out, size_t len)
{
	snprintf(out, len, "%s", U.h && !U.closing ? U.name : "");
}
