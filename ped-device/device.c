/* The PED's shared state: screen, event queue, key port, log, event log. */
#include "device.h"

#include "ped/error.h"
#include "ped/evloop.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct {
	int key;
	const char *name;
} key_names[] = {
	{DEV_KEY_YES, "yes"},     {DEV_KEY_NO, "no"},     {DEV_KEY_ENTER, "enter"},
	{DEV_KEY_CLEAR, "clear"}, {DEV_KEY_BACK, "<"},    {DEV_KEY_LOG, ">"},
	{'0', "0"}, {'1', "1"}, {'2', "2"}, {'3', "3"}, {'4', "4"},
	{'5', "5"}, {'6', "6"}, {'7', "7"}, {'8', "8"}, {'9', "9"},
};

const char *dev_key_name(int key)
{
	for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
		if (key_names[i].key == key)
			return key_names[i].name;
	return "?";
}

int dev_key_from_name(const char *name)
{
	if (!strcmp(name, "back"))
		return DEV_KEY_BACK;
	if (!strcmp(name, "log"))
		return DEV_KEY_LOG;
	for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++)
		if (!strcasecmp(key_names[i].name, name))
			return key_names[i].key;
	return -1;
}

static const char *const prompt_names[] = {
	"none", "menu", "idle", "reuse", "insert-read", "insert-write", "pin", "new-pin",
	"confirm-pin", "m", "n", "overwrite", "duplicate", "confirm", "ack", "password",
	"confirm-hsm", "share-rpk",
};

const char *dev_prompt_name(enum dev_prompt p)
{
	return (unsigned)p < sizeof(prompt_names) / sizeof(prompt_names[0]) ? prompt_names[p] : "?";
}

/* A handshake allocates and frees some hundreds of KiB in OpenSSL (keys,
 * contexts, certificates), and the session's channel, made last, sits above
 * them in the heap: free's own trimming only gives back the heap's top, so
 * those pages stayed resident for the whole idle session (about 0.3 MiB of
 * a PED's 1.3 MiB over the crypto floor, docs/performance.md). Once per
 * session, after its last handshake message, so no reply waits on it. */
void dev_return_freed_memory(void)
{
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
}

int dev_init(struct ped_device *d, const struct dev_config *cfg, const char *store_dir)
{
	int r;

	memset(d, 0, sizeof(*d));
	d->cfg = *cfg;
	if (d->cfg.pin_kdf.id == PED_PIN_KDF_NONE)
		ped_pin_kdf_default(&d->cfg.pin_kdf);
	d->slot.fd = -1;
	d->wake[0] = d->wake[1] = -1;
	d->ui_notify = -1;
	d->session_fd = -1;
	d->t0_ms = ped_now_ms();
	snprintf(d->holder, sizeof(d->holder), "ped-device:%ld", (long)getpid());
	snprintf(d->version, sizeof(d->version), "%s", PED_VERSION);
	if ((r = ikey_store_open(store_dir, &d->store)) != PED_OK)
		return r;
	if (pipe(d->wake) != 0)
		return PED_E_IO;
	for (int i = 0; i < 2; i++) {
		fcntl(d->wake[i], F_SETFD, FD_CLOEXEC);
		fcntl(d->wake[i], F_SETFL, O_NONBLOCK);
	}
	pthread_mutex_init(&d->mu, NULL);
	ped_cond_init_monotonic(&d->changed);
	return PED_OK;
}

void dev_free(struct ped_device *d)
{
	if (d->inserted)
		ikey_remove(&d->slot);
	for (int i = 0; i < 2; i++)
		if (d->wake[i] >= 0)
			close(d->wake[i]);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->changed);
}

int dev_start(struct ped_device *d)
{
	if (pthread_create(&d->fw, NULL, fw_main, d) != 0)
		return PED_E_GENERAL;
	d->fw_started = 1;
	return PED_OK;
}

void dev_stop(struct ped_device *d)
{
	if (!d->fw_started)
		return;
	dev_push(d, DEV_EV_QUIT, 0);
	pthread_join(d->fw, NULL);
	d->fw_started = 0;
}

/* fmt produces the rest of the object's members, already JSON. */
void dev_event_log(struct ped_device *d, const char *type, const char *fmt, ...)
{
	va_list ap;
	if (!d->events)
		return;
	pthread_mutex_lock(&d->mu);
	fprintf(d->events, "{\"ms\":%llu,\"event\":\"%s\"",
		(unsigned long long)(ped_now_ms() - d->t0_ms), type);
	if (fmt && *fmt) {
		fputc(',', d->events);
		va_start(ap, fmt);
		vfprintf(d->events, fmt, ap);
		va_end(ap);
	}
	fputs("}\n", d->events);
	fflush(d->events);
	pthread_mutex_unlock(&d->mu);
}

void dev_push(struct ped_device *d, enum dev_event_type type, int key)
{
	pthread_mutex_lock(&d->mu);
	if (d->qlen < DEV_QUEUE_MAX) {
		d->queue[(d->qhead + d->qlen) % DEV_QUEUE_MAX] = (struct dev_event){type, key};
		d->qlen++;
		if (type == DEV_EV_QUIT)
			d->quit = 1;
		(void)!write(d->wake[1], "e", 1);
	}
	pthread_mutex_unlock(&d->mu);
}

void dev_press(struct ped_device *d, int key)
{
	if (d->events) {
		/* The screen shows stars for a PIN or password: the log does too.
		 * A key typed ahead, while the firmware is not waiting on the
		 * operator (busy, "Token found") or has keys queued before it,
		 * goes to a prompt not shown yet, a PIN's for all the log can
		 * know: Enter at "Insert a PED Key" and the PIN typed at once
		 * had the PIN's digits logged. */
		pthread_mutex_lock(&d->mu);
		enum dev_prompt p = d->prompt;
		int ahead = !d->waiting || d->qlen > 0;
		pthread_mutex_unlock(&d->mu);
		int secret = key >= '0' && key <= '9' &&
			     (ahead || p == DEV_P_PIN || p == DEV_P_NEW_PIN || p == DEV_P_CONFIRM_PIN ||
			      p == DEV_P_PASSWORD);
		dev_event_log(d, "key", "\"key\":\"%s\"", secret ? "digit" : dev_key_name(key));
	}
	dev_push(d, DEV_EV_KEY, key);
}

void dev_type(struct ped_device *d, const char *digits)
{
	for (const char *p = digits; *p; p++)
		dev_press(d, *p == 'E' ? DEV_KEY_ENTER : *p);
}

int dev_quitting(struct ped_device *d)
{
	pthread_mutex_lock(&d->mu);
	int q = d->quit;
	pthread_mutex_unlock(&d->mu);
	return q;
}

const char *dev_json(const char *s, char *out, size_t n)
{
	size_t o = 0;
	for (; *s && o + 7 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, n - o, "\\%c", c);
		else if (c == '\n')
			o += (size_t)snprintf(out + o, n - o, "\\n");
		else if (c < 0x20 || c > 0x7e)
			o += (size_t)snprintf(out + o, n - o, "\\u%04x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

/* The front end draws the key port too: a key inserted or removed through
 * the control socket, at a prompt that does not change the screen, left
 * the ncurses PED showing the port as it was. Under d->mu. */
static void notify_ui(struct ped_device *d)
{
	if (d->ui_notify >= 0)
		(void)!write(d->ui_notify, "k", 1);
}

int dev_insert(struct ped_device *d, const char *serial, char *why, size_t whylen)
{
	char who[128] = "";
	int r;

	pthread_mutex_lock(&d->mu);
	if (d->inserted) {
		ikey_remove(&d->slot);
		d->inserted = 0;
	}
	errno = 0;
	r = ikey_insert(&d->store, serial, d->holder, &d->slot, who, sizeof(who));
	int e = errno;
	if (r == PED_OK)
		d->inserted = 1;
	notify_ui(d);
	pthread_mutex_unlock(&d->mu);
	if (r == PED_E_BUSY)
		snprintf(why, whylen, "key %s is inserted in %s", serial, who);
	else if (r == PED_E_NOT_FOUND)
		snprintf(why, whylen, "no key %s in the store", serial);
	else if (r != PED_OK)
		snprintf(why, whylen, "cannot insert key %s: %s%s%s", serial, ped_strerror(r), e ? ": " : "",
			 e ? strerror(e) : ""); /* "No space left on device", "Read-only file system" */
	if (r == PED_OK) {
		dev_event_log(d, "insert", "\"serial\":\"%s\"", serial); /* 16 hex digits by now */
		dev_push(d, DEV_EV_INSERT, 0);
	}
	return r;
}

void dev_remove(struct ped_device *d)
{
	int had;
	pthread_mutex_lock(&d->mu);
	had = d->inserted;
	if (had) {
		ikey_remove(&d->slot);
		d->inserted = 0;
		notify_ui(d);
	}
	pthread_mutex_unlock(&d->mu);
	if (had) {
		dev_event_log(d, "remove", NULL);
		dev_push(d, DEV_EV_REMOVE, 0);
	}
}

uint64_t dev_screen_text(struct ped_device *d, char *out, size_t len)
{
	size_t off = 0;
	uint64_t gen;
	pthread_mutex_lock(&d->mu);
	for (int i = 0; i < DEV_LINES && off < len; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%s", d->screen[i],
					i + 1 < DEV_LINES ? "\n" : "");
	gen = d->screen_gen;
	pthread_mutex_unlock(&d->mu);
	return gen;
}

uint64_t dev_wait_change(struct ped_device *d, uint64_t gen, int timeout_ms)
{
	struct timespec ts;
	uint64_t now;
	ped_cond_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&d->mu);
	while (d->screen_gen == gen && !d->quit)
		if (pthread_cond_timedwait(&d->changed, &d->mu, &ts) == ETIMEDOUT)
			break;
	now = d->screen_gen;
	pthread_mutex_unlock(&d->mu);
	return now;
}

void fw_show(struct ped_device *d, enum dev_prompt prompt, int prompt_type, const char *fmt, ...)
{
	char text[DEV_LINES * (DEV_COLS + 8) + 64];
	va_list ap;
	const char *p;
	int line = 0;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&d->mu);
	memset(d->screen, 0, sizeof(d->screen));
	p = text;
	while (line < DEV_LINES) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		memcpy(d->screen[line], p, n > DEV_COLS ? DEV_COLS : n);
		line++;
		if (!nl)
			break;
		p = nl + 1;
	}
	d->prompt = prompt;
	d->prompt_type = prompt_type;
	d->screen_gen++;
	pthread_cond_broadcast(&d->changed);
	if (d->ui_notify >= 0)
		(void)!write(d->ui_notify, "s", 1);
	pthread_mutex_unlock(&d->mu);
	if (d->events) {
		char joined[DEV_LINES * (DEV_COLS + 1) + 8], esc[6 * sizeof(joined) + 8];
		dev_screen_text(d, joined, sizeof(joined));
		pthread_mutex_lock(&d->mu);
		fprintf(d->events, "{\"ms\":%llu,\"event\":\"screen\",\"prompt\":\"%s\",\"key_type\":\"%s\",\"text\":\"%s\"}\n",
			(unsigned long long)(ped_now_ms() - d->t0_ms), dev_prompt_name(prompt),
			prompt_type ? ikey_type_name((enum ikey_type)prompt_type) : "", dev_json(joined, esc, sizeof(esc)));
		fflush(d->events);
		pthread_mutex_unlock(&d->mu);
	}
}

void fw_log(struct ped_device *d, const char *fmt, ...)
{
	char line[DEV_COLS + 1];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&d->mu);
	if (d->nlog == DEV_LOG_MAX) {
		memmove(d->log[0], d->log[1], sizeof(d->log[0]) * (DEV_LOG_MAX - 1));
		d->nlog--;
	}
	memcpy(d->log[d->nlog++], line, sizeof(line));
	pthread_mutex_unlock(&d->mu);
}

void fw_log_clear(struct ped_device *d)
{
	pthread_mutex_lock(&d->mu);
	memset(d->log, 0, sizeof(d->log));
	d->nlog = 0;
	pthread_mutex_unlock(&d->mu);
}

int fw_save_inserted(struct ped_device *d, const struct ikey *k)
{
	int r = PED_E_TOKEN_NOT_PRESENT;
	pthread_mutex_lock(&d->mu);
	if (d->inserted && !strcmp(d->slot.serial, k->serial))
		r = ikey_save(&d->store, k);
	pthread_mutex_unlock(&d->mu);
	return r;
}

void fw_inserted(struct ped_device *d, char serial[IKEY_SERIAL_LEN + 1])
{
	pthread_mutex_lock(&d->mu);
	if (d->inserted)
		memcpy(serial, d->slot.serial, IKEY_SERIAL_LEN + 1);
	else
		serial[0] = '\0';
	pthread_mutex_unlock(&d->mu);
}

static int pop(struct ped_device *d, struct dev_event *ev)
{
	int got = 0;
	char b[64];
	pthread_mutex_lock(&d->mu);
	if (d->qlen) {
		*ev = d->queue[d->qhead];
		d->qhead = (d->qhead + 1) % DEV_QUEUE_MAX;
		d->qlen--;
		got = 1;
	}
	if (!d->qlen)
		while (read(d->wake[0], b, sizeof(b)) > 0)
			;
	pthread_mutex_unlock(&d->mu);
	return got;
}

static struct dev_event wait_event(struct ped_device *d, const int *fds, int n, int timeout_ms, int on_operator)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : ped_now_ms() + (uint64_t)timeout_ms;
	struct dev_event ev = {DEV_EV_NONE, 0};

	for (;;) {
		if (pop(d, &ev))
			break;
		pthread_mutex_lock(&d->mu);
		int quitting = d->quit;
		pthread_mutex_unlock(&d->mu);
		if (quitting) {
			ev.type = DEV_EV_QUIT;
			break;
		}
		/* poll skips descriptors below 0 */
		struct pollfd p[1 + DEV_LINKS_MAX] = {{.fd = d->wake[0], .events = POLLIN}};
		for (int i = 0; i < n; i++)
			p[1 + i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
		uint64_t now = ped_now_ms();
		int wait = timeout_ms < 0 ? -1 : now >= deadline ? 0 : (int)(deadline - now);
		pthread_mutex_lock(&d->mu);
		d->waiting = on_operator;
		pthread_cond_broadcast(&d->changed);
		pthread_mutex_unlock(&d->mu);
		int r = poll(p, (nfds_t)(1 + n), wait);
		pthread_mutex_lock(&d->mu);
		d->waiting = 0;
		pthread_mutex_unlock(&d->mu);
		if (r < 0 && errno != EINTR) {
			ev.type = DEV_EV_QUIT;
			break;
		}
		if (r == 0) {
			ev.type = DEV_EV_TIMEOUT;
			break;
		}
		int ready = -1;
		for (int i = 0; i < n && ready < 0; i++)
			if (fds[i] >= 0 && (p[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
				ready = i;
		if (ready >= 0) {
			ev.type = DEV_EV_LINK;
			ev.key = ready;
			break;
		}
	}
	if (ev.type == DEV_EV_QUIT) {
		pthread_mutex_lock(&d->mu);
		d->quit = 1;
		pthread_mutex_unlock(&d->mu);
	}
	return ev;
}

struct dev_event fw_wait(struct ped_device *d, int link_fd, int timeout_ms)
{
	return wait_event(d, &link_fd, 1, timeout_ms, link_fd < 0);
}

struct dev_event fw_wait_links(struct ped_device *d, const int *fds, int n, int timeout_ms)
{
	int any = 0;
	if (n > DEV_LINKS_MAX)
		n = DEV_LINKS_MAX;
	for (int i = 0; i < n; i++)
		any |= fds[i] >= 0;
	return wait_event(d, fds, n, timeout_ms, !any);
}

void fw_pause(struct ped_device *d, int ms)
{
	struct timespec until;
	ped_cond_deadline(&until, ms);
	pthread_mutex_lock(&d->mu);
	while (!d->quit)
		if (pthread_cond_timedwait(&d->changed, &d->mu, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&d->mu);
}

void fw_version(struct ped_device *d, char out[DEV_VERSION_MAX + 1])
{
	pthread_mutex_lock(&d->mu);
	memcpy(out, d->version, DEV_VERSION_MAX + 1);
	pthread_mutex_unlock(&d->mu);
}

struct dev_event fw_wait_operator(struct ped_device *d, int timeout_ms)
{
	return wait_event(d, &d->session_fd, 1, timeout_ms, 1);
}
