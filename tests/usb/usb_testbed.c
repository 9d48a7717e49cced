/* A USB PED with no hardware and no root: a umockdev test bed that presents
 * the PED's USB device (descriptors in sysfs, a usbfs node) and answers
 * usbfs ioctls for processes run under umockdev's preload, forwarding bulk
 * data to and from a running ped-device, which attaches to this program's
 * socket exactly as it would to pedserver's local PED port.
 *
 * The device behaves as the PED's USB function (docs/protocol.md): each
 * frame the PED sends ends an IN transfer (a short or zero-length packet);
 * each OUT transfer carries one frame. A control socket plugs and unplugs
 * the device and injects faults:
 *   unplug | plug | stall-in | stall-out | short on|off | busy N | stats
 *
 * Usage: LD_PRELOAD=libumockdev-preload.so.0 usb_testbed -ped PATH -control PATH -env FILE [-vid ID -pid ID]
 * (under the preload itself, as umockdev-wrapper would run it: its uevents
 * find the device in the test bed's sysfs). FILE receives UMOCKDEV_DIR=...;
 * run the host under the same preload with that variable. */
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib.h>
#include <linux/ioctl.h>
#include <linux/usbdevice_fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <umockdev.h>
#include <unistd.h>

#define EP_IN 0x81
#define EP_OUT 0x01
#define MPS 512
#define SHORT_CHUNK 7
#define REAP_HOLD_MS 10 /* a usbfs node under umockdev always polls ready: hold empty reaps briefly */

struct urb {
	UMockdevIoctlData *urb, *buf;
	unsigned long addr; /* the client's URB address: DISCARDURB names it */
};

static struct {
	UMockdevTestbed *tb;
	UMockdevIoctlBase *handler;
	char *syspath;
	char devnode[64];
	unsigned vid, pid;
	int plugged;
	int ped_lfd, ped_fd, ctl_lfd;
	guint ped_lwatch, ped_watch;
	GByteArray *from_ped; /* bytes from the PED not yet sent IN */
	size_t frame_left;    /* bytes of the current frame left to send; 0: at a frame start */
	GQueue in_pending;    /* IN URBs waiting for data */
	GQueue done;          /* URBs to reap */
	GQueue held;          /* REAPURBNDELAY clients waiting briefly */
	int stall_in, stall_out, short_reads;
	int busy_claims; /* claims to refuse with EBUSY, as when another program holds the PED */
	unsigned long n_in, n_out, n_zlp_out, n_zlp_missing, n_stalls, n_clear_halt, n_claims, n_releases;
} B;

/* umockdev answers ioctls on its own worker thread while the PED's socket and
 * the control socket are served on the main loop: every touch of B's state
 * holds this lock. umockdev's testbed calls (add, remove, uevent) are made
 * without it, as they may wait for that worker. */
static GRecMutex B_lock;
#define LOCKED(stmt)                         \
	do {                                 \
		g_rec_mutex_lock(&B_lock);   \
		stmt;                        \
		g_rec_mutex_unlock(&B_lock); \
	} while (0)

static void urb_free(struct urb *u)
{
	if (u->buf)
		umockdev_ioctl_data_unref(u->buf);
	umockdev_ioctl_data_unref(u->urb);
	g_free(u);
}

static void set_result(struct urb *u, int status, int actual)
{
	struct usbdevfs_urb *x = (struct usbdevfs_urb *)u->urb->data;
	x->status = status;
	x->actual_length = actual;
}

static void reap_ready(void);

/* Size of the next frame from its header, once the header is there. */
static size_t frame_size(const guint8 *p, size_t have)
{
	if (have < 8)
		return 0;
	return 8 + ((size_t)p[4] << 24 | (size_t)p[5] << 16 | (size_t)p[6] << 8 | p[7]);
}

/* Fills waiting IN URBs: each completes with the rest of one frame (the
 * device ends every frame with a short or zero-length packet), the buffer
 * full, or with short reads on, a few bytes. */
static void serve_in(void)
{
	while (B.plugged && !g_queue_is_empty(&B.in_pending)) {
		struct urb *u = g_queue_peek_head(&B.in_pending);
		struct usbdevfs_urb *x = (struct usbdevfs_urb *)u->urb->data;
		if (B.stall_in) {
			B.stall_in = 0;
			B.n_stalls++;
			g_queue_pop_head(&B.in_pending);
			set_result(u, -EPIPE, 0);
			g_queue_push_tail(&B.done, u);
			continue;
		}
		if (B.frame_left == 0) {
			size_t fs = frame_size(B.from_ped->data, B.from_ped->len);
			if (!fs)
				break;
			B.frame_left = fs;
		}
		size_t n = B.frame_left < B.from_ped->len ? B.frame_left : B.from_ped->len;
		if (n > (size_t)x->buffer_length)
			n = (size_t)x->buffer_length;
		if (B.short_reads && n > SHORT_CHUNK)
			n = SHORT_CHUNK;
		/* a frame not yet whole in our buffer: send what fills the URB only
		 * when it would be full anyway; else wait for the rest */
		if (n < B.frame_left && n < (size_t)x->buffer_length && !B.short_reads)
			break;
		if (n == 0)
			break;
		memcpy(u->buf->data, B.from_ped->data, n);
		g_byte_array_remove_range(B.from_ped, 0, (guint)n);
		B.frame_left -= n;
		g_queue_pop_head(&B.in_pending);
		set_result(u, 0, (int)n);
		B.n_in++;
		g_queue_push_tail(&B.done, u);
	}
	reap_ready();
}

static gboolean on_ped_accept(gint fd, GIOCondition cond, gpointer arg);

/* The PED's connection is taken while the device is plugged and has none. */
static void watch_ped_listen(void)
{
	int want = B.plugged && B.ped_fd < 0;
	if (want && !B.ped_lwatch)
		B.ped_lwatch = g_unix_fd_add(B.ped_lfd, G_IO_IN, on_ped_accept, NULL);
	else if (!want && B.ped_lwatch) {
		g_source_remove(B.ped_lwatch);
		B.ped_lwatch = 0;
	}
}

static void ped_close(void)
{
	if (B.ped_watch)
		g_source_remove(B.ped_watch);
	B.ped_watch = 0;
	if (B.ped_fd >= 0)
		close(B.ped_fd);
	B.ped_fd = -1;
	g_byte_array_set_size(B.from_ped, 0);
	B.frame_left = 0;
	watch_ped_listen();
}

static gboolean ped_readable(gint fd)
{
	guint8 buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n <= 0) {
		if (n < 0 && errno == EINTR)
			return G_SOURCE_CONTINUE;
		B.ped_watch = 0;
		close(B.ped_fd);
		B.ped_fd = -1;
		watch_ped_listen();
		return G_SOURCE_REMOVE;
	}
	g_byte_array_append(B.from_ped, buf, (guint)n);
	serve_in();
	return G_SOURCE_CONTINUE;
}

static gboolean on_ped(gint fd, GIOCondition cond, gpointer arg)
{
	gboolean r;
	(void)cond;
	(void)arg;
	LOCKED(r = ped_readable(fd));
	return r;
}

/* The PED powers up with the plug: its connection is taken only then. */
static gboolean on_ped_accept(gint fd, GIOCondition cond, gpointer arg)
{
	(void)cond;
	(void)arg;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return G_SOURCE_CONTINUE;
	g_rec_mutex_lock(&B_lock);
	B.ped_fd = c;
	B.ped_watch = g_unix_fd_add(c, G_IO_IN | G_IO_HUP | G_IO_ERR, on_ped, NULL);
	B.ped_lwatch = 0;
	g_rec_mutex_unlock(&B_lock);
	return G_SOURCE_REMOVE;
}

static int write_all(int fd, const guint8 *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void complete_reap(UMockdevIoctlClient *client, struct urb *u)
{
	UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(client);
	UMockdevIoctlData *ptr = umockdev_ioctl_data_resolve(arg, 0, sizeof(gpointer), NULL);
	/* the URB (and the buffer resolved inside it) go back with the result */
	umockdev_ioctl_data_set_ptr(ptr, 0, u->urb);
	umockdev_ioctl_client_complete(client, 0, 0);
	umockdev_ioctl_data_unref(ptr);
	urb_free(u);
}

struct held {
	UMockdevIoctlClient *client;
	guint timer;
};

/* Completes reaps held while nothing was ready. */
static void reap_ready(void)
{
	while (!g_queue_is_empty(&B.held) && !g_queue_is_empty(&B.done)) {
		struct held *h = g_queue_pop_head(&B.held);
		g_source_remove(h->timer);
		complete_reap(h->client, g_queue_pop_head(&B.done));
		g_object_unref(h->client);
		g_free(h);
	}
}

static gboolean on_hold_expired(gpointer arg)
{
	struct held *h = arg;
	g_rec_mutex_lock(&B_lock);
	/* reap_ready may have taken it between the timer firing and the lock */
	if (g_queue_remove(&B.held, h)) {
		umockdev_ioctl_client_complete(h->client, -1, B.plugged ? EAGAIN : ENODEV);
		g_object_unref(h->client);
		g_free(h);
	}
	g_rec_mutex_unlock(&B_lock);
	return G_SOURCE_REMOVE;
}

static gboolean handle_ioctl(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, gpointer arg)
{
	UMockdevIoctlData *ioarg = umockdev_ioctl_client_get_arg(client);
	gulong req = umockdev_ioctl_client_get_request(client);
	(void)handler;
	(void)arg;

	if (!B.plugged && req != USBDEVFS_REAPURB && req != USBDEVFS_REAPURBNDELAY &&
	    req != USBDEVFS_DISCARDURB && req != USBDEVFS_RELEASEINTERFACE) {
		umockdev_ioctl_client_complete(client, -1, ENODEV);
		return TRUE;
	}
	switch (req) {
	case USBDEVFS_GET_CAPABILITIES: {
		UMockdevIoctlData *d = umockdev_ioctl_data_resolve(ioarg, 0, sizeof(guint32), NULL);
		*(guint32 *)d->data = USBDEVFS_CAP_BULK_CONTINUATION | USBDEVFS_CAP_NO_PACKET_SIZE_LIM |
				      USBDEVFS_CAP_REAP_AFTER_DISCONNECT | USBDEVFS_CAP_ZERO_PACKET;
		umockdev_ioctl_data_unref(d);
		umockdev_ioctl_client_complete(client, 0, 0);
		return TRUE;
	}
	case USBDEVFS_GETDRIVER: /* no kernel driver holds the PED's interface */
		umockdev_ioctl_client_complete(client, -1, ENODATA);
		return TRUE;
	case USBDEVFS_CLAIMINTERFACE:
	case USBDEVFS_DISCONNECT_CLAIM:
		if (B.busy_claims > 0) {
			B.busy_claims--;
			umockdev_ioctl_client_complete(client, -1, EBUSY);
			return TRUE;
		}
		B.n_claims++;
		umockdev_ioctl_client_complete(client, 0, 0);
		return TRUE;
	case USBDEVFS_RELEASEINTERFACE:
		/* the host let the PED go: the PED notices, as on a pedserver restart */
		B.n_releases++;
		ped_close();
		umockdev_ioctl_client_complete(client, 0, 0);
		return TRUE;
	case USBDEVFS_CLEAR_HALT:
		B.n_clear_halt++;
		umockdev_ioctl_client_complete(client, 0, 0);
		return TRUE;
	case USBDEVFS_RESET:
	case USBDEVFS_RESETEP:
	case USBDEVFS_SETINTERFACE:
	case USBDEVFS_SETCONFIGURATION:
		umockdev_ioctl_client_complete(client, 0, 0);
		return TRUE;
	case USBDEVFS_SUBMITURB: {
		struct urb *u = g_new0(struct urb, 1);
		u->urb = umockdev_ioctl_data_resolve(ioarg, 0, sizeof(struct usbdevfs_urb), NULL);
		struct usbdevfs_urb *x = (struct usbdevfs_urb *)u->urb->data;
		u->addr = u->urb->client_addr;
		if (x->type != USBDEVFS_URB_TYPE_BULK || (x->endpoint != EP_IN && x->endpoint != EP_OUT) ||
		    x->buffer_length < 0) {
			umockdev_ioctl_data_unref(u->urb);
			g_free(u);
			umockdev_ioctl_client_complete(client, -1, EINVAL);
			return TRUE;
		}
		u->buf = umockdev_ioctl_data_resolve(u->urb, G_STRUCT_OFFSET(struct usbdevfs_urb, buffer),
						     (gsize)x->buffer_length, NULL);
		umockdev_ioctl_client_complete(client, 0, 0);
		if (x->endpoint == EP_IN) {
			g_queue_push_tail(&B.in_pending, u);
			serve_in();
			return TRUE;
		}
		if (B.stall_out) {
			B.stall_out = 0;
			B.n_stalls++;
			set_result(u, -EPIPE, 0); /* refused whole: the host sends it again */
		} else {
			int len = x->buffer_length;
			if (len % MPS == 0 && len > 0)
				(x->flags & USBDEVFS_URB_ZERO_PACKET) ? B.n_zlp_out++ : B.n_zlp_missing++;
			if (B.ped_fd >= 0 && len > 0 && write_all(B.ped_fd, u->buf->data, (size_t)len) != 0)
				ped_close();
			set_result(u, 0, len);
			B.n_out++;
		}
		g_queue_push_tail(&B.done, u);
		reap_ready();
		return TRUE;
	}
	case USBDEVFS_REAPURB:
	case USBDEVFS_REAPURBNDELAY: {
		if (!g_queue_is_empty(&B.done)) {
			complete_reap(client, g_queue_pop_head(&B.done));
			return TRUE;
		}
		struct held *h = g_new0(struct held, 1);
		h->client = g_object_ref(client);
		h->timer = g_timeout_add(REAP_HOLD_MS, on_hold_expired, h);
		g_queue_push_tail(&B.held, h);
		return TRUE;
	}
	case USBDEVFS_DISCARDURB: {
		unsigned long addr = *(unsigned long *)ioarg->data;
		for (GList *l = B.in_pending.head; l; l = l->next) {
			struct urb *u = l->data;
			if (u->addr == addr) {
				g_queue_delete_link(&B.in_pending, l);
				set_result(u, -ENOENT, 0);
				g_queue_push_tail(&B.done, u);
				umockdev_ioctl_client_complete(client, 0, 0);
				reap_ready();
				return TRUE;
			}
		}
		umockdev_ioctl_client_complete(client, -1, EINVAL);
		return TRUE;
	}
	default:
		fprintf(stderr, "usb_testbed: ioctl 0x%lx not emulated\n", req);
		umockdev_ioctl_client_complete(client, -1, ENOTTY);
		return TRUE;
	}
}

static gboolean on_ioctl(UMockdevIoctlBase *handler, UMockdevIoctlClient *client, gpointer arg)
{
	gboolean r;
	LOCKED(r = handle_ioctl(handler, client, arg));
	return r;
}

static void plug(void)
{
	char desc[2048];
	if (B.plugged)
		return;
	/* device (18), configuration (9), interface 0 vendor-specific (9), bulk IN 0x81 and OUT 0x01 of 512 */
	const unsigned char d[] = {
		/* device: USB 2.0, class per interface, EP0 64, ids, bcdDevice 1.00, no strings, 1 configuration */
		18, 1, 0x00, 0x02, 0, 0, 0, 64, B.vid & 0xff, B.vid >> 8, B.pid & 0xff, B.pid >> 8, 0x00, 0x01, 0, 0, 0, 1,
		/* configuration 1: 32 bytes in all, 1 interface, bus powered, 100 mA */
		9, 2, 32, 0, 1, 1, 0, 0x80, 50,
		/* interface 0: vendor-specific, 2 endpoints */
		9, 4, 0, 0, 2, 0xff, 0, 0, 0,
		/* bulk IN and bulk OUT, wMaxPacketSize 512 (high speed) */
		7, 5, EP_IN, 2, MPS & 0xff, MPS >> 8, 0,
		7, 5, EP_OUT, 2, MPS & 0xff, MPS >> 8, 0,
	};
	char hex[2 * sizeof(d) + 1];
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	snprintf(desc, sizeof(desc),
		 "P: /devices/pci0000:00/usb1/1-1\n"
		 "N: bus/usb/001/002\n"
		 "E: SUBSYSTEM=usb\nE: DRIVER=usb\nE: BUSNUM=001\nE: DEVNUM=002\n"
		 "E: DEVNAME=/dev/bus/usb/001/002\nE: DEVTYPE=usb_device\n"
		 "E: PRODUCT=%x/%x/100\n"
		 "A: bConfigurationValue=1\\n\nA: busnum=1\\n\nA: devnum=2\\n\nA: speed=480\\n\n"
		 "A: idVendor=%04x\\n\nA: idProduct=%04x\\n\n"
		 "H: descriptors=%s\n",
		 B.vid, B.pid, B.vid, B.pid, hex);
	GError *err = NULL;
	/* the handler first, so the node answers ioctls when the "add" uevent
	 * reaches the host; removing the device took the old one away */
	umockdev_testbed_detach_ioctl(B.tb, "/dev/bus/usb/001/002", NULL);
	if (!umockdev_testbed_attach_ioctl(B.tb, "/dev/bus/usb/001/002", B.handler, &err)) {
		fprintf(stderr, "usb_testbed: cannot attach the ioctl handler: %s\n", err ? err->message : "?");
		g_clear_error(&err);
		return;
	}
	/* plugged before the node appears: a host quick to open it (an "add"
	 * uevent sent by the testbed itself) must not be told ENODEV */
	LOCKED(B.plugged = 1);
	if (!umockdev_testbed_add_from_string(B.tb, desc, &err)) {
		fprintf(stderr, "usb_testbed: cannot add the device: %s\n", err ? err->message : "?");
		g_clear_error(&err);
		LOCKED(B.plugged = 0);
		return;
	}
	g_rec_mutex_lock(&B_lock);
	g_free(B.syspath);
	B.syspath = g_strdup("/sys/devices/pci0000:00/usb1/1-1");
	watch_ped_listen();
	g_rec_mutex_unlock(&B_lock);
	umockdev_testbed_uevent(B.tb, B.syspath, "add");
}

static void unplug(void)
{
	g_rec_mutex_lock(&B_lock);
	if (!B.plugged) {
		g_rec_mutex_unlock(&B_lock);
		return;
	}
	B.plugged = 0;
	/* what was in flight ends as on a real unplug */
	while (!g_queue_is_empty(&B.in_pending)) {
		struct urb *u = g_queue_pop_head(&B.in_pending);
		set_result(u, -ENODEV, 0);
		g_queue_push_tail(&B.done, u);
	}
	reap_ready();
	ped_close();
	g_rec_mutex_unlock(&B_lock);
	umockdev_testbed_uevent(B.tb, B.syspath, "remove");
	umockdev_testbed_remove_device(B.tb, B.syspath);
}

static gboolean on_control(gint lfd, GIOCondition cond, gpointer arg)
{
	char line[128] = "", reply[512];
	(void)cond;
	(void)arg;
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return G_SOURCE_CONTINUE;
	ssize_t n = read(c, line, sizeof(line) - 1);
	line[n > 0 ? n : 0] = '\0';
	g_strstrip(line);
	snprintf(reply, sizeof(reply), "ok\n");
	if (!strcmp(line, "unplug"))
		unplug();
	else if (!strcmp(line, "plug"))
		plug();
	else if (!strcmp(line, "stall-in"))
		LOCKED(B.stall_in = 1; serve_in());
	else if (!strcmp(line, "stall-out"))
		LOCKED(B.stall_out = 1);
	else if (!strncmp(line, "busy ", 5))
		LOCKED(B.busy_claims = atoi(line + 5));
	else if (!strcmp(line, "short on"))
		LOCKED(B.short_reads = 1);
	else if (!strcmp(line, "short off"))
		LOCKED(B.short_reads = 0);
	else if (!strcmp(line, "stats"))
		LOCKED(snprintf(reply, sizeof(reply),
			 "plugged=%d ped=%d in=%lu out=%lu zlp_out=%lu zlp_missing=%lu stalls=%lu clear_halt=%lu "
			 "claims=%lu releases=%lu\n",
			 B.plugged, B.ped_fd >= 0, B.n_in, B.n_out, B.n_zlp_out, B.n_zlp_missing, B.n_stalls,
			 B.n_clear_halt, B.n_claims, B.n_releases));
	else
		snprintf(reply, sizeof(reply), "unknown command\n");
	if (write_all(c, (const guint8 *)reply, strlen(reply)) != 0)
		fprintf(stderr, "usb_testbed: control reply lost\n");
	close(c);
	return G_SOURCE_CONTINUE;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || strlen(path) >= sizeof(a.sun_path))
		return -1;
	strcpy(a.sun_path, path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 4) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static gboolean on_term(gpointer loop)
{
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

/* A crash of the test bed is a test failure to explain: its stack, on stderr. */
static void on_crash(int signo)
{
	void *frames[64];
	int n = backtrace(frames, 64);
	static const char msg[] = "usb_testbed: crashed; stack:\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	backtrace_symbols_fd(frames, n, 2);
	signal(signo, SIG_DFL);
	raise(signo);
}

int main(int argc, char **argv)
{
	signal(SIGSEGV, on_crash);
	signal(SIGBUS, on_crash);
	signal(SIGABRT, on_crash);
	const char *ped = NULL, *ctl = NULL, *env = NULL;
	B.vid = 0x1209;
	B.pid = 0x0001;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "-ped"))
			ped = argv[i + 1];
		else if (!strcmp(argv[i], "-control"))
			ctl = argv[i + 1];
		else if (!strcmp(argv[i], "-env"))
			env = argv[i + 1];
		else if (!strcmp(argv[i], "-vid"))
			B.vid = (unsigned)strtoul(argv[i + 1], NULL, 16);
		else if (!strcmp(argv[i], "-pid"))
			B.pid = (unsigned)strtoul(argv[i + 1], NULL, 16);
	}
	if (!ped || !ctl || !env) {
		fprintf(stderr, "usage: usb_testbed -ped PATH -control PATH -env FILE [-vid HEX -pid HEX]\n");
		return 2;
	}
	B.ped_fd = -1;
	B.from_ped = g_byte_array_new();
	g_queue_init(&B.in_pending);
	g_queue_init(&B.done);
	g_queue_init(&B.held);
	B.tb = umockdev_testbed_new();
	B.handler = umockdev_ioctl_base_new();
	g_signal_connect(B.handler, "handle-ioctl", G_CALLBACK(on_ioctl), NULL);
	if ((B.ped_lfd = listen_unix(ped)) < 0 || (B.ctl_lfd = listen_unix(ctl)) < 0) {
		fprintf(stderr, "usb_testbed: cannot listen: %s\n", strerror(errno));
		return 1;
	}
	plug();
	if (!B.plugged)
		return 1;
	GMainLoop *loop = g_main_loop_new(NULL, FALSE);
	watch_ped_listen();
	g_unix_fd_add(B.ctl_lfd, G_IO_IN, on_control, NULL);
	g_unix_signal_add(SIGTERM, on_term, loop);
	g_unix_signal_add(SIGINT, on_term, loop);
	/* the environment last: whoever waits for it finds the test bed ready */
	char *root = umockdev_testbed_get_root_dir(B.tb);
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", env);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "UMOCKDEV_DIR=%s\n", root) < 0 || fclose(f) != 0 || rename(tmp, env) != 0) {
		fprintf(stderr, "usb_testbed: cannot write %s\n", env);
		return 1;
	}
	g_free(root);
	g_main_loop_run(loop);
	unplug();
	unlink(ped);
	unlink(ctl);
	g_main_loop_unref(loop);
	g_object_unref(B.handler);
	g_object_unref(B.tb);
	return 0;
}
