/* Connections to hsm-sim: one call in flight per connection, so a C_Login
 * waiting on a PED holds up no other thread; idle ones kept for the next
 * call (at least one, so that hsm-sim keeps the application's sessions:
 * they end with its last connection). Every connection carries the
 * application's id in its APP_HELLO. A pool per endpoint: the local
 * control socket, and each network server over TLS (ped/netcfg.h), whose
 * proxy thread is joined when its connection closes, so that no thread of
 * ours runs once C_Finalize has returned and the module may be unloaded. */
#include "p11.h"

#include "ped/error.h"
#include "ped/frame.h"
#include "ped/link.h"
#include "ped/net.h"
#include "ped/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define GREETING_TIMEOUT_MS 10000
#define SEND_TIMEOUT_MS 10000

struct p11_conn {
	int fd;
	uint8_t ep;
	int tls;       /* a network server's: fd is a TLS proxy's plain end */
	pthread_t tid; /* that proxy's thread */
	long rcv_ms;   /* fd's receive timeout (SO_RCVTIMEO) once in.blocking */
	struct ped_framer in;
	struct p11_conn *next;
};

/* What the log calls an endpoint. */
static const char *ep_name(const struct p11_module *m, uint8_t ep)
{
	if (ep == P11_EP_LOCAL)
		return m->cfg.socket[0] ? m->cfg.socket : "(no socket)";
	return m->cfg.net.s[ep - 1].name;
}

void p11_log(const struct p11_module *m, const char *fmt, ...)
{
	char line[1024], when[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int fd, n;

	if (!m || !m->cfg.log[0])
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ openped-pkcs11[%ld] ", when, ts.tv_nsec / 1000000,
		     (long)getpid());
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* one append per line: lines of several threads and processes stay whole */
	fd = open(m->cfg.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	(void)!write(fd, line, (size_t)n);
	close(fd);
}

/* join 0: in a child after fork, where the proxy thread does not exist */
static void conn_free(struct p11_conn *c, int join)
{
	if (!c)
		return;
	ped_framer_free(&c->in);
	if (c->fd >= 0)
		close(c->fd); /* a proxy sees the end of its plain side and stops */
	if (c->tls && join)
		(void)pthread_join(c->tid, NULL);
	free(c);
}

static void conn_close(struct p11_conn *c)
{
	conn_free(c, 1);
}

/* A frame whole, never raising SIGPIPE in the application; header and
 * payload in one sendmsg, the payload not copied (a copy of a 4 KiB
 * C_Encrypt's data, wiped after, was a tenth of the module's time). */
static int send_frame(int fd, uint8_t type, const uint8_t *p, size_t len)
{
	uint8_t hdr[PED_FRAME_HEADER_LEN];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)p, len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};

	if (len > P11W_PAYLOAD_MAX)
		return PED_E_FRAME_OVERSIZE;
	ped_frame_header_encode(type, (uint32_t)len, hdr);
	while (mh.msg_iovlen) {
		/* never blocking in sendmsg, whatever the socket's mode: a
		 * peer that stops reading costs SEND_TIMEOUT_MS, no more */
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			size_t done = (size_t)n;
			while (mh.msg_iovlen && done >= mh.msg_iov->iov_len) {
				done -= mh.msg_iov->iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			}
			if (mh.msg_iovlen) {
				mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + done;
				mh.msg_iov->iov_len -= done;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pf = {.fd = fd, .events = POLLOUT};
			int pr = poll(&pf, 1, SEND_TIMEOUT_MS);
			if (pr > 0 || (pr < 0 && errno == EINTR))
				continue;
			return pr == 0 ? PED_E_TIMED_OUT : PED_E_SOCKET;
		}
		return PED_E_SOCKET;
	}
	return PED_OK;
}

static void program_name(char *out, size_t len)
{
	char buf[P11W_NAME_MAX + 1] = "";
	int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = '\0';
		else if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	snprintf(out, len, "%s", buf[0] ? buf : "application");
}

/* A new connection, greeted. CKR_DEVICE_REMOVED when hsm-sim is not there
 * or does not speak this protocol (today's hsm-sim closes on APP_HELLO). */
static CK_RV conn_open(struct p11_module *m, uint8_t ep, struct p11_conn **out)
{
	struct p11w_hello h;
	struct p11w_welcome wl;
	struct ped_wbuf w;
	struct p11_conn *c;
	uint8_t type, *msg = NULL;
	size_t len = 0;
	CK_RV rv = CKR_DEVICE_REMOVED;
	int r;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return CKR_HOST_MEMORY;
	c->fd = -1;
	c->ep = ep;
	if (ep != P11_EP_LOCAL) {
		char why[512];
		if (ep > m->cfg.net.n ||
		    ped_netcfg_dial(&m->cfg.net, ep - 1u, GREETING_TIMEOUT_MS, &c->fd, &c->tid, why, sizeof(why)) != PED_OK) {
			p11_log(m, "cannot reach network server %s: %s", ep <= m->cfg.net.n ? ep_name(m, ep) : "?",
				ep <= m->cfg.net.n ? why : "no such server");
			free(c);
			return CKR_DEVICE_REMOVED;
		}
		c->tls = 1;
	} else if (!m->cfg.socket[0]) {
		/* hsm-sim's default socket is in the runtime directory, which this
		 * process has none of (su, sudo, a container) */
		p11_log(m, "cannot reach hsm-sim: no socket (XDG_RUNTIME_DIR is not set and /run/user/%ld is not "
			   "there): set XDG_RUNTIME_DIR as hsm-sim's, or Module.Socket",
			(long)geteuid());
		free(c);
		return CKR_DEVICE_REMOVED;
	} else if (ped_unix_connect(m->cfg.socket, &c->fd) != PED_OK) {
		p11_log(m, "cannot reach hsm-sim at %s: %s", m->cfg.socket, strerror(errno));
		free(c);
		return CKR_DEVICE_REMOVED;
	}
	ped_framer_init(&c->in, c->fd, P11W_PAYLOAD_MAX);
	c->in.spin_us = (unsigned)m->cfg.reply_spin_us;
	memset(&h, 0, sizeof(h));
	h.version = P11W_VERSION;
	memcpy(h.app_id, m->app_id, sizeof(h.app_id));
	h.pid = (uint32_t)m->pid;
	h.probe_ms = (uint32_t)m->cfg.probe_timeout;
	program_name(h.name, sizeof(h.name));
	ped_wbuf_init(&w, 256);
	if ((rv = p11w_put_hello(&w, &h)) != CKR_OK)
		goto out;
	r = send_frame(c->fd, P11W_APP_HELLO, w.p, w.len);
	rv = CKR_DEVICE_REMOVED;
	if (r != PED_OK)
		goto out;
	r = ped_framer_recv(&c->in, &type, &msg, &len, GREETING_TIMEOUT_MS);
	if (r != PED_OK) {
		p11_log(m, "hsm-sim at %s does not serve the application protocol (%s)", ep_name(m, ep),
			ped_strerror(r));
		goto out;
	}
	if (type != P11W_APP_WELCOME || p11w_get_welcome(msg, len, &wl) != CKR_OK) {
		p11_log(m, "hsm-sim at %s: no APP_WELCOME", ep_name(m, ep));
		goto out;
	}
	if (wl.version != P11W_VERSION) {
		p11_log(m, "hsm-sim at %s speaks version %u of the application protocol, not %u", ep_name(m, ep),
			wl.version, P11W_VERSION);
		goto out;
	}
	*out = c;
	c = NULL;
	rv = CKR_OK;
out:
	OPENSSL_cleanse(&h, sizeof(h));
	ped_wbuf_free(&w);
	if (msg)
		OPENSSL_clear_free(msg, len ? len : 1);
	conn_close(c);
	return rv;
}

/* A reply awaited within timeout_ms waits in read itself, the socket
 * blocking with that receive timeout (ped_framer's blocking): one system
 * call less per call than a poll before the read. The timeout is set
 * again only when a call waits longer or shorter than the last; if it
 * cannot be, the connection keeps polling. */
static void conn_wait_in_read(struct p11_conn *c, long timeout_ms)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

	if (c->in.blocking && c->rcv_ms == timeout_ms)
		return;
	/* a blocking socket stays so: calls with two timeouts in turn (a key
	 * pair's, then its destruction's) cost one setsockopt, not also the
	 * fcntl pair that clears O_NONBLOCK */
	if (timeout_ms <= 0 || setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    (!c->in.blocking && ped_set_nonblock(c->fd, 0) != PED_OK)) {
		(void)ped_set_nonblock(c->fd, 1);
		c->in.blocking = 0;
		return;
	}
	c->rcv_ms = timeout_ms;
	c->in.blocking = 1;
}

/* A connection for one call: an idle one (*reused 1) or a new one. */
static CK_RV pool_get(struct p11_module *m, uint8_t ep, struct p11_conn **out, int *reused)
{
	struct p11_conn *c;
	CK_RV rv;

	if (ep >= P11_EP_MAX)
		return CKR_DEVICE_REMOVED;
	p11_mutex_lock(&m->locking, m->mu);
	if ((c = m->idle[ep]) != NULL) {
		m->idle[ep] = c->next;
		m->nidle[ep]--;
	}
	p11_mutex_unlock(&m->locking, m->mu);
	*reused = c != NULL;
	if (!c && (rv = conn_open(m, ep, &c)) != CKR_OK)
		return rv;
	p11_mutex_lock(&m->locking, m->mu);
	if (atomic_load(&m->finalized)) {
		p11_mutex_unlock(&m->locking, m->mu);
		conn_close(c);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	c->next = m->busy[ep];
	m->busy[ep] = c;
	p11_mutex_unlock(&m->locking, m->mu);
	*out = c;
	return CKR_OK;
}

static void unlink_busy(struct p11_module *m, struct p11_conn *c)
{
	for (struct p11_conn **p = &m->busy[c->ep]; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
}

/* The call is done with c: idle again when keep (and room), else closed. */
static void pool_put(struct p11_module *m, struct p11_conn *c, int keep)
{
	p11_mutex_lock(&m->locking, m->mu);
	unlink_busy(m, c);
	if (keep && !atomic_load(&m->finalized) && m->nidle[c->ep] < P11_IDLE_MAX) {
		c->next = m->idle[c->ep];
		m->idle[c->ep] = c;
		m->nidle[c->ep]++;
		c = NULL;
	}
	p11_mutex_unlock(&m->locking, m->mu);
	conn_close(c);
}

void p11_pool_shutdown(struct p11_module *m)
{
	for (int ep = 0; ep < P11_EP_MAX; ep++) {
		struct p11_conn *idle;

		p11_mutex_lock(&m->locking, m->mu);
		/* a call waiting on hsm-sim (a PED) returns now; its owner closes it */
		for (struct p11_conn *c = m->busy[ep]; c; c = c->next)
			shutdown(c->fd, SHUT_RDWR);
		idle = m->idle[ep];
		m->idle[ep] = NULL;
		m->nidle[ep] = 0;
		p11_mutex_unlock(&m->locking, m->mu);
		while (idle) {
			struct p11_conn *next = idle->next;
			conn_close(idle);
			idle = next;
		}
	}
}

void p11_pool_forget(struct p11_module *m)
{
	/* no lock: in the child, the threads that held it are gone */
	for (int ep = 0; ep < P11_EP_MAX; ep++) {
		struct p11_conn *lists[2] = {m->idle[ep], m->busy[ep]};
		for (int i = 0; i < 2; i++)
			while (lists[i]) {
				struct p11_conn *next = lists[i]->next;
				/* close, never shutdown: the parent's socket lives on (and
				 * its TLS thread, which is the parent's, is not joined) */
				conn_free(lists[i], 0);
				lists[i] = next;
			}
		m->idle[ep] = m->busy[ep] = NULL;
		m->nidle[ep] = 0;
	}
}

void p11_call_begin(struct p11_module *m, struct p11_call *c, uint16_t fn)
{
	memset(c, 0, sizeof(*c));
	c->fn = fn;
	ped_wbuf_init(&c->w, P11W_PAYLOAD_MAX);
	p11w_put_request_header(&c->w, atomic_fetch_add(&m->call_id, 1) + 1, fn);
}

static int idempotent(uint16_t fn)
{
	return fn >= P11W_FN_GET_SLOT_LIST && fn <= P11W_FN_GET_MECHANISM_INFO;
}

/* The calls an HSM holds while a Remote PED operation runs with its audit
 * log on (hsm-sim's app.c, crypto_fn): what ProbeTimeout bounds. */
static int crypto_call(uint16_t fn)
{
	return (fn >= P11W_FN_ENCRYPT_INIT && fn <= P11W_FN_DECRYPT_FINAL) || fn == P11W_FN_DIGEST_KEY ||
	       (fn >= P11W_FN_SIGN_INIT && fn <= P11W_FN_GENERATE_RANDOM);
}

CK_RV p11_call_run(struct p11_module *m, struct p11_call *c, long timeout_ms)
{
	struct p11_conn *conn = NULL;
	uint8_t type;
	uint32_t id, want;
	int reused, r, tries = 0;
	CK_RV rv;

	if ((rv = p11w_wbuf_rv(&c->w)) != CKR_OK)
		return rv == CKR_HOST_MEMORY ? rv : CKR_DATA_LEN_RANGE; /* more than one frame holds */
	want = ped_be32_get(c->w.p); /* the call id p11_call_begin wrote */
	if (timeout_ms > 24L * 3600 * 1000)
		timeout_ms = 24L * 3600 * 1000;
	/* hsm-sim answers CKR_DEVICE_ERROR itself at ProbeTimeout (it has it
	 * from the hello), keeping this connection and the application's
	 * sessions; the module gives up only if that answer does not come */
	if (m->cfg.probe_timeout > 0 && crypto_call(c->fn) &&
	    m->cfg.probe_timeout + m->cfg.ped_timeout[2] < timeout_ms)
		timeout_ms = m->cfg.probe_timeout + m->cfg.ped_timeout[2];
again:
	if ((rv = pool_get(m, c->ep, &conn, &reused)) != CKR_OK) {
		p11_defer_forget(m);
		return rv;
	}
	conn_wait_in_read(conn, timeout_ms);
	r = send_frame(conn->fd, P11W_APP_REQUEST, c->w.p, c->w.len);
	if (r == PED_OK)
		r = ped_framer_recv(&conn->in, &type, &c->reply, &c->reply_len, (int)timeout_ms);
	if (r != PED_OK) {
		pool_put(m, conn, 0);
		/* what hsm-sim holds for the application is no longer known:
		 * no init is answered here until the HSM has again */
		p11_defer_forget(m);
		if (atomic_load(&m->finalized))
			return CKR_CRYPTOKI_NOT_INITIALIZED;
		/* an idle connection hsm-sim dropped (restarted): once more, afresh */
		if (reused && idempotent(c->fn) && tries++ == 0 && r != PED_E_TIMED_OUT)
			goto again;
		p11_log(m, "%s: %s", p11w_fn_name(c->fn), ped_strerror(r));
		return CKR_DEVICE_ERROR;
	}
	ped_rbuf_init(&c->r, c->reply, c->reply_len);
	if (type != P11W_APP_REPLY || p11w_get_reply_header(&c->r, &id, &c->rv) != CKR_OK || id != want) {
		p11_log(m, "%s: a reply that is not this call's", p11w_fn_name(c->fn));
		pool_put(m, conn, 0);
		p11_defer_forget(m);
		return CKR_DEVICE_ERROR;
	}
	pool_put(m, conn, 1);
	return CKR_OK;
}

void p11_call_end(struct p11_call *c)
{
	ped_wbuf_free(&c->w);
	if (c->reply)
		OPENSSL_clear_free(c->reply, c->reply_len ? c->reply_len : 1);
	memset(c, 0, sizeof(*c));
}
