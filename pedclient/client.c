/* pedclient's background process: one poll loop. An HSM (hsm-sim) greets on
 * the local socket with the pedserver to use (or none: its assigned PED id
 * says); pedclient dials it without blocking the other sessions, relays the
 * link frames both ways untouched, pings the server, and ends the session
 * on a dead server, an idle timeout, or either side leaving. */
#include "client.h"
#include "auditlog.h"

#include "ped/hsgate.h"
#include "ped/admin.h"
#include "ped/auditwire.h"
#include "ped/config.h"
#include "ped/daemon.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/fileio.h"
#include "ped/json.h"
#include "ped/leg.h"
#include "ped/link.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/relay.h"
#include "ped/runtime.h"
#include "ped/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SESSIONS 128 /* one per HSM slot on this host */
#define MAX_PARKED 8
/* TLS handshakes in progress at once, each a thread: the port is open to
 * the network and a handshake is unauthenticated until it completes.
 * PED_HSGATE_MAX wait at once, the oldest cut for a newer one
 * (ped/hsgate.h); beyond twice that many threads a connection is closed. */
#define MAX_TLS_HANDSHAKES (2 * PED_HSGATE_MAX)

/* A pedserver that dialed in (PED-initiated mode), waiting for an HSM. */
struct parked {
	struct ped_leg leg;
	char cn[80];
	char ped[PED_RELAY_ID_MAX + 1];
	int greeted;
};

/* A TLS handshake with a pedserver that dialed in: a worker's job. */
struct tls_job {
	struct ped_work work;
	int fd; /* the accepted socket; then the link's plain end, or -1 and why */
	int slot; /* its place in C.gate */
	char cn[80], why[200], peer[96];
};

/* S_AWAIT_LINK: an HSM with no PED id waits for a pedserver to dial in again. */
/* S_LOG: an HSM handing over its audit records (auditlog.c). */
enum state { S_FREE, S_HELLO, S_AWAIT_LINK, S_DIALING, S_WELCOME, S_RELAY, S_LOG };

/* One HSM's session: its leg, and the leg to its pedserver, whose clocks
 * the ping and idle rules read. */
struct session {
	enum state st;
	struct ped_leg hsm, srv;
	int dial_fd;                /* S_DIALING: the connection being made */
	struct ped_relay_msg hello; /* the HSM's */
	char server[PED_MAPPING_HOST_MAX + 8]; /* host:port */
	char ped_serial[PED_RELAY_ID_MAX + 1];
	int ped_id; /* the PED id mapping dialed, -1: the HSM gave the address */
	uint64_t state_since;
	struct addrinfo *addrs, *next_addr; /* pedserver's addresses, the next to try */
	struct auditlog log;                /* S_LOG */
};

static struct {
	const struct client_settings *s;
	struct ped_runtime rt;
	struct ped_evloop *loop;
	int hsm_lfd;
	/* made when first needed and kept (free again when S_FREE): an idle
	 * pedclient holds none, where 128 written at start-up were 2.3 MiB */
	struct session *ss[MAX_SESSIONS];
	uint64_t started;
	struct ped_timer tick;
	struct ped_leg_policy keepalive; /* each session's pedserver: pings, idle timeout */
	int tls_lfd;
	uint16_t tls_port;
	struct parked pk[MAX_PARKED];
	int pk_seen; /* a pedserver has dialed in: it dials again after each session */
	struct ped_hsgate gate; /* the TLS port's handshakes */
	uint64_t stop_by;   /* stopping: the ShutdownTimeout deadline, shared by its goodbyes */
} C;

static void schedule(void);
static int use_parked(struct session *x);
static const struct ped_leg_dispatch hsm_table, server_table;

static int wtimeout(void)
{
	return ped_ms(C.s->d.write_timeout_s);
}

static void session_init(struct session *x)
{
	memset(x, 0, sizeof(*x));
	ped_leg_init(&x->hsm);
	ped_leg_init(&x->srv);
	x->dial_fd = -1;
	x->ped_id = -1;
	x->st = S_FREE;
}

static void set_state(struct session *x, enum state st)
{
	x->st = st;
	x->state_since = ped_now_ms();
	schedule(); /* this state's timeout */
}

static void end(struct session *x, int err, const char *why)
{
	if (x->st == S_FREE)
		return;
	ped_info("session for HSM %s with %s ended: %s", x->hello.id[0] ? x->hello.id : "?",
		 x->server[0] ? x->server : "no server", why);
	if (ped_leg_is_open(&x->hsm) && err != PED_OK)
		(void)ped_leg_send_code(&x->hsm, PED_RELAY_BYE, ped_err_code(err), ped_budget_ms(C.stop_by, 200));
	ped_leg_close(&x->hsm);
	if (x->st == S_LOG)
		auditlog_close(&x->log);
	if (x->dial_fd >= 0) {
		ped_evloop_del_fd(C.loop, x->dial_fd);
		close(x->dial_fd);
	}
	if (ped_leg_is_open(&x->srv) && (x->st == S_WELCOME || x->st == S_RELAY))
		(void)ped_leg_send_code(&x->srv, PED_RELAY_BYE, 0, ped_budget_ms(C.stop_by, 200));
	ped_leg_close(&x->srv);
	if (x->addrs)
		freeaddrinfo(x->addrs);
	session_init(x);
}

/* A non-blocking connect, so one slow pedserver holds up no other session,
 * to the session's next address that takes one; the rest are kept for
 * on_dialed (a name may resolve to ::1 first while pedserver listens on
 * 0.0.0.0, as `-mode testid`, which tries them all, would not show). */
static int dial_next(struct session *x)
{
	while (x->next_addr) {
		struct addrinfo *a = x->next_addr;
		x->next_addr = a->ai_next;
		int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		int one = 1; /* frames are small and latency is the point */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
			close(fd);
			continue;
		}
		x->dial_fd = fd;
		return PED_OK;
	}
	return PED_E_SOCKET;
}

static int dial(struct session *x, const char *host, int port)
{
	struct addrinfo hints;
	char service[8];
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof(service), "%d", port);
	if (getaddrinfo(host, service, &hints, &x->addrs) != 0 || !x->addrs) {
		x->addrs = NULL;
		return PED_E_SOCKET;
	}
	x->next_addr = x->addrs;
	return dial_next(x);
}

/* Our HELLO to pedserver, for the HSM of x. */
static int hello_server(struct session *x)
{
	struct ped_relay_msg h;
	memset(&h, 0, sizeof(h));
	h.role = PED_RELAY_ROLE_CLIENT;
	h.purpose = PED_RELAY_SESSION;
	h.auth = x->hello.auth;
	h.flags = x->hello.flags & PED_RELAY_F_2E2S;
	snprintf(h.id, sizeof(h.id), "%s", x->hello.id);
	snprintf(h.version, sizeof(h.version), "%s", PEDCLIENT_SOFTWARE_VERSION);
	gethostname(h.info, sizeof(h.info) - 1);
	return ped_leg_send_msg(&x->srv, PED_RELAY_HELLO, &h, wtimeout());
}

static void on_dialed(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	struct session *x = arg;
	int err = 0;
	socklen_t el = sizeof(err);
	(void)events;
	ped_evloop_del_fd(loop, fd);
	x->dial_fd = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
		int e = err ? err : errno;
		close(fd);
		if (dial_next(x) == PED_OK) {
			ped_trace("pedserver %s: %s at one address, trying the next", x->server, strerror(e));
			ped_evloop_add_fd(loop, x->dial_fd, PED_EV_WRITE, on_dialed, x);
			return;
		}
		ped_warn("cannot reach pedserver %s: %s", x->server, strerror(e));
		end(x, PED_E_SOCKET, "pedserver unreachable");
		return;
	}
	freeaddrinfo(x->addrs);
	x->addrs = x->next_addr = NULL;
	/* The socket stays non-blocking: a pedserver that stops reading must
	 * cost this session its write timeout, not stall every session. */
	ped_leg_open(&x->srv, fd, x->server, loop, &server_table, x);
	if (hello_server(x) != PED_OK) {
		end(x, PED_E_SOCKET, "write to pedserver failed");
		return;
	}
	set_state(x, S_WELCOME);
}

/* ---- PED-initiated mode ---------------------------------------------------- */

static void parked_init(struct parked *k)
{
	memset(k, 0, sizeof(*k));
	ped_leg_init(&k->leg);
}

static void drop_parked(struct parked *k, const char *why)
{
	ped_info("PED-initiated link from %s closed: %s", k->cn, why);
	ped_leg_close(&k->leg);
	parked_init(k);
}

static void parked_unknown(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct parked *k = l->ctx;
	(void)p;
	(void)len;
	ped_warn("unexpected %s frame from PED-initiated link %s: ignored", ped_relay_type_name(type), k->cn);
}

static void parked_hello(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct parked *k = l->ctx;
	struct ped_relay_msg m;
	if (ped_relay_decode(p, len, &m) != PED_OK || m.role != PED_RELAY_ROLE_SERVER) {
		parked_unknown(l, type, p, len);
		return;
	}
	k->greeted = 1;
	C.pk_seen = 1;
	snprintf(k->ped, sizeof(k->ped), "%s", m.id);
	ped_info("pedserver %s dialed in (PED %s): ready for this host's HSMs", k->cn, m.id[0] ? m.id : "-");
	/* The HSM that waited longest takes it; k is the session's then. */
	struct session *w = NULL;
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (C.ss[i] && C.ss[i]->st == S_AWAIT_LINK && (!w || C.ss[i]->state_since < w->state_since))
			w = C.ss[i];
	if (w)
		(void)use_parked(w);
}

static void parked_ping(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	(void)p;
	(void)len;
	if (type == PED_RELAY_PING)
		(void)ped_leg_send_code(l, PED_RELAY_PONG, 0, wtimeout());
}

static void parked_ended(struct ped_leg *l, int err)
{
	drop_parked(l->ctx, err == PED_E_CLOSED ? "pedserver hung up" : ped_strerror(err));
}

static const struct ped_leg_dispatch parked_table = {
	.on = {[PED_RELAY_HELLO] = parked_hello, [PED_RELAY_PING] = parked_ping, [PED_RELAY_PONG] = parked_ping},
	.unknown = parked_unknown,
	.gone = parked_ended,
};

/* An HSM with no PED id mapping takes a pedserver that dialed in. */
static int use_parked(struct session *x)
{
	for (int i = 0; i < MAX_PARKED; i++) {
		struct parked *k = &C.pk[i];
		if (!ped_leg_is_open(&k->leg) || !k->greeted)
			continue;
		snprintf(x->server, sizeof(x->server), "PED-initiated %.60s", k->cn);
		ped_leg_move(&x->srv, &k->leg, &server_table, x);
		snprintf(x->srv.peer, sizeof(x->srv.peer), "%.*s", (int)sizeof(x->srv.peer) - 1, x->server);
		parked_init(k);
		if (hello_server(x) != PED_OK) {
			end(x, PED_E_PED_UNPLUGGED, "the PED-initiated link broke");
			return 1;
		}
		set_state(x, S_WELCOME);
		ped_info("HSM %s: using %s", x->hello.id, x->server);
		return 1;
	}
	return 0;
}

static void tls_run(struct ped_work *w)
{
	struct tls_job *j = (struct tls_job *)w;
	SSL_CTX *ctx = NULL;
	int fd = j->fd;
	j->fd = -1;
	if (ped_tls_context(1, C.s->cert, C.s->key, C.s->trusted, &ctx, j->why, sizeof(j->why)) != PED_OK)
		close(fd);
	else if (ped_tls_proxy_trusted(ctx, fd, 1, ped_ms(C.s->d.read_timeout_s), C.s->trusted, &j->fd, j->cn,
				       sizeof(j->cn), j->why, sizeof(j->why)) != PED_OK)
		j->fd = -1;
	ped_hsgate_leave(&C.gate, j->slot);
	SSL_CTX_free(ctx);
}

static void tls_done(struct ped_work *w);

static void tls_drop(struct ped_work *w)
{
	struct tls_job *j = (struct tls_job *)w;
	if (j->fd >= 0)
		close(j->fd);
	free(j);
}

/* A pedserver dialing in: its TLS handshake runs on a worker. */
static void on_tls_port(int fd, const char *peer, void *arg)
{
	struct tls_job *j;
	(void)arg;
	if (C.rt.workers.busy >= MAX_TLS_HANDSHAKES) {
		ped_trace("refused a TLS connection from %s: %d handshakes in progress", peer, MAX_TLS_HANDSHAKES);
		close(fd);
		return;
	}
	if (!(j = calloc(1, sizeof(*j)))) {
		close(fd);
		return;
	}
	char cut[96];
	if ((j->slot = ped_hsgate_enter(&C.gate, fd, peer, cut, sizeof(cut))) < 0) {
		ped_trace("refused a TLS connection from %s: %d handshakes in progress", peer, PED_HSGATE_MAX);
		close(fd);
		free(j);
		return;
	}
	if (cut[0])
		ped_warn("cut short the TLS handshake of %s, the longest of %d waiting (for %s)", cut, PED_HSGATE_MAX,
			 peer);
	j->work = (struct ped_work){.run = tls_run, .done = tls_done, .drop = tls_drop};
	j->fd = fd;
	snprintf(j->peer, sizeof(j->peer), "%s", peer);
	(void)ped_set_nonblock(fd, 0);
	if (ped_work_start(&C.rt.workers, &j->work) != PED_OK) {
		ped_hsgate_leave(&C.gate, j->slot);
		close(fd);
		free(j);
	}
}

static void tls_done(struct ped_work *w)
{
	struct tls_job *res = (struct tls_job *)w;
	struct parked *k = NULL;
	if (res->fd < 0) {
		ped_warn("refused a PED-initiated connection from %s: %s", res->peer, res->why);
		free(res);
		return;
	}
	for (int i = 0; i < MAX_PARKED && !k; i++)
		if (!ped_leg_is_open(&C.pk[i].leg))
			k = &C.pk[i];
	if (!k) {
		ped_warn("refused a PED-initiated connection from %s: %d links already", res->peer, MAX_PARKED);
		close(res->fd);
		free(res);
		return;
	}
	parked_init(k);
	snprintf(k->cn, sizeof(k->cn), "%s", res->cn);
	ped_leg_open(&k->leg, res->fd, res->peer, C.loop, &parked_table, k);
	/* The first frame confirms to pedserver that its certificate was accepted. */
	(void)ped_leg_send_code(&k->leg, PED_RELAY_PING, 0, wtimeout());
	ped_info("PED-initiated link from %s (certificate %s) established", res->peer, res->cn);
	free(res);
}

/* ---- the HSM: its greeting, then channel frames and its goodbye ----------- */

static void hsm_bad_greeting(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	(void)p;
	(void)len;
	ped_warn("malformed greeting (%s frame) on the HSM socket: closing", ped_relay_type_name(type));
	end(l->ctx, PED_E_INVALID, "malformed greeting");
}

static void hsm_hello(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct session *x = l->ctx;
	struct ped_relay_msg h;
	if (ped_relay_decode(p, len, &h) != PED_OK || h.role != PED_RELAY_ROLE_HSM || !h.id[0]) {
		hsm_bad_greeting(l, type, p, len);
		return;
	}
	x->hello = h;
	ped_leg_set_dispatch(l, &hsm_table);
	char host[PED_MAPPING_HOST_MAX + 1]; /* the HSM's (PED_RELAY_HOST_MAX) or a mapping's */
	int port = h.port;
	snprintf(host, sizeof(host), "%s", h.host);
	if (!host[0]) {
		struct ped_mapping m;
		if (mappings_for_serial(C.s->d.config_path, h.id, &m) != PED_OK) {
			if (use_parked(x))
				return;
			if (C.pk_seen) {
				/* a session just ended: its pedserver is dialing in again */
				set_state(x, S_AWAIT_LINK);
				ped_info("HSM %s: waiting for a pedserver to dial in", h.id);
				return;
			}
			ped_warn("HSM %s asked for its Remote PED, but no PED id is assigned to it", h.id);
			end(x, PED_E_NOT_FOUND, "no PED id assigned");
			return;
		}
		snprintf(host, sizeof(host), "%s", m.ip);
		port = m.port;
		x->ped_id = m.id;
		ped_info("HSM %s: PED id %d maps to %s:%d", h.id, m.id, host, port);
	}
	snprintf(x->server, sizeof(x->server), "%s:%d", host, port);
	if (dial(x, host, port) != PED_OK) {
		ped_warn("cannot reach pedserver %s for HSM %s", x->server, h.id);
		end(x, PED_E_SOCKET, "pedserver unreachable");
		return;
	}
	ped_evloop_add_fd(C.loop, x->dial_fd, PED_EV_WRITE, on_dialed, x);
	set_state(x, S_DIALING);
	ped_info("HSM %s: connecting to pedserver %s", h.id, x->server);
}

static void hsm_data(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct session *x = l->ctx;
	if (x->st != S_RELAY) {
		ped_warn("HSM %s sent a %s frame before its session began: closing", x->hello.id,
			 ped_relay_type_name(type));
		end(x, PED_E_INVALID, "out-of-order frame from the HSM");
		return;
	}
	x->srv.last_data = ped_now_ms();
	if (ped_leg_send(&x->srv, type, p, len, wtimeout()) != PED_OK)
		end(x, PED_E_PED_UNPLUGGED, "write to pedserver failed");
}

static void hsm_bye(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	(void)type;
	(void)p;
	(void)len;
	end(l->ctx, PED_OK, "the HSM ended it");
}

static void hsm_unknown(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct session *x = l->ctx;
	(void)p;
	(void)len;
	ped_warn("unexpected %s frame from HSM %s: ignored", ped_relay_type_name(type), x->hello.id);
}

static void hsm_ended(struct ped_leg *l, int err)
{
	end(l->ctx, PED_OK, err == PED_E_CLOSED ? "the HSM closed its end" : ped_strerror(err));
}

/* ---- an HSM's audit records (docs/protocol.md, section 14) ---------------- */

static const struct ped_leg_dispatch log_table;

/* Ends x's log session with an error pedclient logs and tells the HSM
 * (BYE with the code and why, which hsm-sim logs and audit status shows). */
static void log_refuse(struct session *x, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void log_refuse(struct session *x, int err, const char *fmt, ...)
{
	struct ped_relay_msg m;
	va_list ap;
	memset(&m, 0, sizeof(m));
	m.code = ped_err_code(err);
	va_start(ap, fmt);
	vsnprintf(m.info, sizeof(m.info), fmt, ap);
	va_end(ap);
	ped_error("HSM %s: audit records refused: %s", x->hello.id, m.info);
	if (ped_leg_is_open(&x->hsm))
		(void)ped_relay_send(x->hsm.fd, PED_RELAY_BYE, &m, ped_budget_ms(C.stop_by, 200));
	end(x, PED_OK, "audit records refused");
}

static void log_records(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct session *x = l->ctx;
	uint8_t ack[8];
	uint64_t last = 0;
	(void)type;
	int r = auditlog_write(&x->log, p, len, &last);
	/* what is on disk is acknowledged even when the rest was refused: the
	 * HSM resends from there */
	ped_audit_seq_encode(last, ack);
	if (ped_leg_send(l, PED_AUDIT_ACK, ack, sizeof(ack), wtimeout()) != PED_OK)
		end(x, PED_E_SOCKET, "write to the HSM failed");
	else if (r != PED_OK && x->log.why[0])
		log_refuse(x, r, "%s", x->log.why);
	else if (r != PED_OK)
		end(x, r, "audit records refused");
}

/* Whether leg's peer is gone (its end closed, unread): a session whose HSM
 * reconnects before pedclient has seen the old connection's end. */
static int leg_gone(const struct ped_leg *leg)
{
	char c;
	ssize_t n;
	if (!ped_leg_is_open(leg))
		return 1;
	n = recv(leg->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Another session writing serial's log in the directory of lg, or NULL. */
static struct session *log_writer(const struct session *self, const struct auditlog *lg)
{
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct session *o = C.ss[i];
		if (o && o != self && o->st == S_LOG && !strcmp(o->log.serial, lg->serial) && o->log.dev == lg->dev &&
		    o->log.ino == lg->ino)
			return o;
	}
	return NULL;
}

static void hsm_audit_open(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct session *x = l->ctx, *other;
	struct ped_audit_open o;
	char dir[512];
	uint8_t ready[PED_AUDIT_READY_LEN];
	if (ped_audit_open_decode(p, len, &o) != PED_OK) {
		hsm_bad_greeting(l, type, p, len);
		return;
	}
	if (o.dir[0])
		snprintf(dir, sizeof(dir), "%s", o.dir);
	else if (ped_data_path("audit", dir, sizeof(dir)) != PED_OK) {
		end(x, PED_E_FILE, "no log directory");
		return;
	}
	snprintf(x->hello.id, sizeof(x->hello.id), "%s", o.serial);
	if (auditlog_open(&x->log, dir, o.serial, o.interval, o.size) != PED_OK) {
		auditlog_close(&x->log);
		if (x->log.why[0])
			log_refuse(x, PED_E_FILE, "%s", x->log.why);
		else
			end(x, PED_E_FILE, "cannot open the audit log");
		return;
	}
	/* One writer per HSM log: two HSMs given one serial would write each
	 * other's numbers (and each take the other's records for its own). A
	 * session whose HSM has gone is ended first. */
	if ((other = log_writer(x, &x->log)) != NULL && leg_gone(&other->hsm)) {
		end(other, PED_OK, "the HSM closed its end");
		other = NULL;
	}
	if (other) {
		auditlog_close(&x->log);
		log_refuse(x, PED_E_EXISTS, "another HSM with serial %s is logging into that directory now", o.serial);
		return;
	}
	set_state(x, S_LOG);
	ped_leg_set_dispatch(l, &log_table);
	ped_audit_ready_encode(x->log.last, x->log.last_mac, ready);
	ped_info("HSM %s: audit log in %s, %llu record(s) held", o.serial, dir, (unsigned long long)x->log.last);
	if (ped_leg_send(l, PED_AUDIT_READY, ready, sizeof(ready), wtimeout()) != PED_OK)
		end(x, PED_E_SOCKET, "write to the HSM failed");
}

/* The HSM ends its delivery; with a reason when it refuses the log it
 * found (not its own, or records missing from it). */
static void log_bye(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct session *x = l->ctx;
	struct ped_relay_msg m;
	if (ped_relay_decode(p, len, &m) == PED_OK && m.code && m.info[0]) {
		ped_error("HSM %s refuses its audit log in %s: %s", x->hello.id, x->log.dir, m.info);
		end(x, PED_OK, "the HSM refused the log");
		return;
	}
	hsm_bye(l, type, p, len);
}

static const struct ped_leg_dispatch log_table = {
	.on = {[PED_AUDIT_RECORDS] = log_records, [PED_RELAY_BYE] = log_bye},
	.unknown = hsm_unknown,
	.gone = hsm_ended,
};

static const struct ped_leg_dispatch hsm_greeting_table = {
	.on = {[PED_RELAY_HELLO] = hsm_hello, [PED_AUDIT_OPEN] = hsm_audit_open},
	.unknown = hsm_bad_greeting,
	.gone = hsm_ended,
};

static const struct ped_leg_dispatch hsm_table = {
	.on = {[PED_LINK_KAS] = hsm_data, [PED_LINK_RECORD] = hsm_data, [PED_RELAY_BYE] = hsm_bye},
	.unknown = hsm_unknown,
	.gone = hsm_ended,
};

/* ---- pedserver: its welcome, channel frames, pings, its goodbye ----------- */

static void server_data(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct session *x = l->ctx;
	if (x->st != S_RELAY) {
		ped_warn("pedserver %s sent a %s frame before welcoming: closing", x->server, ped_relay_type_name(type));
		end(x, PED_E_PED_UNPLUGGED, "out-of-order frame from pedserver");
		return;
	}
	l->last_data = ped_now_ms();
	if (ped_leg_send(&x->hsm, type, p, len, wtimeout()) != PED_OK)
		end(x, PED_OK, "write to the HSM failed");
}

static void server_welcome(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct session *x = l->ctx;
	struct ped_relay_msg m;
	(void)type;
	if (x->st != S_WELCOME || ped_relay_decode(p, len, &m) != PED_OK) {
		end(x, PED_E_PED_UNPLUGGED, "malformed welcome from pedserver");
		return;
	}
	snprintf(x->ped_serial, sizeof(x->ped_serial), "%s", m.id);
	/* the HSM's ped get names the PED id it is served through */
	m.flags = (uint8_t)(m.flags & ~PED_RELAY_F_PED_ID);
	m.port = 0;
	if (x->ped_id >= 0) {
		m.flags |= PED_RELAY_F_PED_ID;
		m.port = (uint16_t)x->ped_id;
	}
	if (ped_leg_send_msg(&x->hsm, PED_RELAY_WELCOME, &m, wtimeout()) != PED_OK) {
		end(x, PED_OK, "the HSM went away");
		return;
	}
	set_state(x, S_RELAY);
	ped_leg_session_start(l, ped_now_ms());
	ped_info("HSM %s: Remote PED %s via pedserver %s", x->hello.id, m.id, x->server);
}

static void server_bye(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct session *x = l->ctx;
	struct ped_relay_msg m;
	(void)type;
	int err = ped_relay_decode(p, len, &m) == PED_OK ? ped_err_from_code(m.code) : PED_E_PED_UNPLUGGED;
	if (err == PED_OK)
		err = PED_E_PED_UNPLUGGED;
	ped_warn("pedserver %s ended the session for HSM %s: %s", x->server, x->hello.id, ped_err_name(err));
	end(x, err, "pedserver ended it");
}

static void server_keepalive(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct session *x = l->ctx;
	if (ped_leg_keepalive_frame(l, type, p, len, wtimeout()) != PED_OK) {
		/* a channel frame whose type byte was damaged into PING or PONG */
		ped_warn("malformed %s frame from pedserver %s: ending the session", ped_relay_type_name(type),
			 x->server);
		end(x, PED_E_FRAME_TYPE, "malformed frame from pedserver");
	}
}

/* Ignoring it would leave the HSM waiting, for its whole PED timeout, for a
 * message that this frame may have been: end the session. */
static void server_unknown(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct session *x = l->ctx;
	(void)p;
	(void)len;
	ped_warn("unexpected %s frame from pedserver %s: ending the session", ped_relay_type_name(type), x->server);
	end(x, PED_E_FRAME_TYPE, "unexpected frame from pedserver");
}

/* The pump marks pedserver alive per whole frame: bytes that trickle in
 * without ever making one do not keep the session alive. */
static void server_ended(struct ped_leg *l, int err)
{
	end(l->ctx, PED_E_PED_UNPLUGGED, err == PED_E_CLOSED ? "pedserver closed the connection" : ped_strerror(err));
}

static const struct ped_leg_dispatch server_table = {
	.on = {[PED_LINK_KAS] = server_data, [PED_LINK_RECORD] = server_data, [PED_RELAY_WELCOME] = server_welcome,
	       [PED_RELAY_BYE] = server_bye, [PED_RELAY_PING] = server_keepalive, [PED_RELAY_PONG] = server_keepalive},
	.unknown = server_unknown,
	.gone = server_ended,
};

/* An HSM asking for a session. */
static void on_hsm_socket(int fd, const char *peer, void *arg)
{
	struct session *x = NULL;
	(void)peer;
	(void)arg;
	for (int i = 0; i < MAX_SESSIONS && !x; i++)
		if (C.ss[i] && C.ss[i]->st == S_FREE)
			x = C.ss[i];
	for (int i = 0; i < MAX_SESSIONS && !x; i++)
		if (!C.ss[i] && (C.ss[i] = malloc(sizeof(*C.ss[i]))) != NULL)
			x = C.ss[i];
	if (!x) {
		ped_warn("refused an HSM connection: %d sessions already, or no memory", MAX_SESSIONS);
		(void)ped_relay_send_code(fd, PED_RELAY_BYE, ped_err_code(PED_E_BUSY), 200);
		close(fd);
		return;
	}
	session_init(x);
	ped_leg_open(&x->hsm, fd, "the HSM", C.loop, &hsm_greeting_table, x);
	set_state(x, S_HELLO);
}

static const char *state_name(enum state st)
{
	static const char *const n[] = {
		[S_FREE] = "free",
		[S_HELLO] = "greeting",
		[S_AWAIT_LINK] = "waiting for a pedserver to dial in",
		[S_DIALING] = "connecting",
		[S_WELCOME] = "waiting for pedserver",
		[S_RELAY] = "connected",
		[S_LOG] = "audit log",
	};
	return n[st];
}

/* -mode show -json: what the status block says, for scripts. The PED id
 * mappings, from the file, the command line adds. Ends without its '}'. */
static void show_json(FILE *o)
{
	uint64_t now = ped_now_ms();
	char host[256] = "";
	int n = 0, m;
	gethostname(host, sizeof(host) - 1);
	fputc('{', o);
	ped_json_str(o, &n, "hostname", host);
	ped_json_str(o, &n, "software_version", PEDCLIENT_SOFTWARE_VERSION);
	ped_json_str(o, &n, "hsm_socket", C.s->hsm_socket);
	ped_json_num(o, &n, "admin_port", C.rt.adm_port);
	ped_json_bool(o, &n, "external_admin", C.s->d.eadmin);
	ped_json_num(o, &n, "up_secs", (long long)((now - C.started) / 1000));
	ped_json_num(o, &n, "idle_timeout_secs", C.s->d.idle_timeout_s);
	ped_json_bool(o, &n, "ignore_idle_timeout", C.s->ignore_idle);
	ped_json_key(o, &n, "ped_initiated_port");
	if (C.tls_lfd >= 0)
		fprintf(o, "%u", C.tls_port);
	else
		fputs("null", o);
	ped_json_key(o, &n, "ped_initiated_links");
	fputc('[', o);
	for (int i = 0, k = 0; i < MAX_PARKED; i++)
		if (ped_leg_is_open(&C.pk[i].leg)) {
			m = 0;
			fputs(k++ ? ",{" : "{", o);
			ped_json_str(o, &m, "cn", C.pk[i].cn);
			ped_json_str(o, &m, "ped", C.pk[i].ped);
			ped_json_bool(o, &m, "ready", C.pk[i].greeted);
			fputc('}', o);
		}
	fputc(']', o);
	ped_json_key(o, &n, "sessions");
	fputc('[', o);
	for (int i = 0, k = 0; i < MAX_SESSIONS; i++) {
		struct session *x = C.ss[i];
		if (!x || x->st == S_FREE)
			continue;
		m = 0;
		fputs(k++ ? ",{" : "{", o);
		ped_json_str(o, &m, "hsm_serial", x->hello.id);
		ped_json_str(o, &m, "pedserver", x->server);
		ped_json_str(o, &m, "ped_serial", x->ped_serial);
		ped_json_str(o, &m, "state", state_name(x->st));
		ped_json_num(o, &m, "secs", (long long)((now - x->hsm.since) / 1000));
		ped_json_num(o, &m, "idle_secs",
			     (long long)(x->st == S_RELAY ? (now - x->srv.last_data) / 1000 : 0));
		fputc('}', o);
	}
	fputs("]\n", o);
}

static int on_admin_request(void *arg, const char *line, int trusted, FILE *o)
{
	(void)arg;
	(void)trusted;
	if (!strcasecmp(line, "show json")) {
		show_json(o);
		return PED_OK;
	}
	if (strcasecmp(line, "show") != 0) {
		fprintf(o, "unknown request\n");
		return PED_E_INVALID;
	}
	uint64_t now = ped_now_ms();
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	int n = 0;
	for (int i = 0; i < MAX_SESSIONS; i++)
		n += C.ss[i] && C.ss[i]->st != S_FREE;
	fprintf(o, "Client Information:\n");
	fprintf(o, "  Hostname:                 %s\n", host);
	fprintf(o, "  Software Version:         %s\n", PEDCLIENT_SOFTWARE_VERSION);
	fprintf(o, "  HSM Socket:               %s\n", C.s->hsm_socket);
	fprintf(o, "  Admin Port:               %u\n", C.rt.adm_port);
	fprintf(o, "  External Admin Interface: %s\n", C.s->d.eadmin ? "Yes" : "No");
	fprintf(o, "  Up Time:                  %llu (secs)\n", (unsigned long long)((now - C.started) / 1000));
	fprintf(o, "  Idle Timeout Value:       %d (secs)%s\n", C.s->d.idle_timeout_s,
		C.s->ignore_idle ? " (ignored)" : "");
	if (C.tls_lfd >= 0)
		fprintf(o, "  PED-initiated Port:       %u (TLS 1.3, certificates in %s)\n", C.tls_port, C.s->trusted);
	else
		fprintf(o, "  PED-initiated Port:       off\n");
	for (int i = 0; i < MAX_PARKED; i++)
		if (ped_leg_is_open(&C.pk[i].leg))
			fprintf(o, "  PED-initiated link:       %s, PED %s, %s\n", C.pk[i].cn, C.pk[i].ped[0] ? C.pk[i].ped : "-",
				C.pk[i].greeted ? "ready" : "greeting");
	fprintf(o, "\nRemote PED Sessions:        %d\n", n);
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct session *x = C.ss[i];
		if (!x || x->st == S_FREE)
			continue;
		fprintf(o, "  HSM %s -> pedserver %s, PED %s: %s, %llu (secs), idle %llu (secs)\n",
			x->hello.id[0] ? x->hello.id : "?", x->server[0] ? x->server : "-",
			x->ped_serial[0] ? x->ped_serial : "-", state_name(x->st),
			(unsigned long long)((now - x->hsm.since) / 1000),
			(unsigned long long)(x->st == S_RELAY ? (now - x->srv.last_data) / 1000 : 0));
	}
	return PED_OK;
}

/* The timer runs only when something is due for a session (a timeout, the
 * next ping): with no session pedclient does not wake at all. */
static void schedule(void)
{
	uint64_t due = 0;
	for (int i = 0; i < MAX_SESSIONS; i++) {
		const struct session *x = C.ss[i];
		if (!x || x->st == S_FREE || x->st == S_LOG) /* a log link waits on its HSM as long as it likes */
			continue;
		if (x->st != S_RELAY)
			ped_deadline_min(&due, x->state_since + (uint64_t)ped_ms(C.s->d.read_timeout_s) + 1);
		else
			ped_leg_deadline(&x->srv, &C.keepalive, &due);
	}
	ped_timer_at(C.loop, &C.tick, due);
}

static void check_session(struct session *x, uint64_t now)
{
	if (x->st == S_LOG)
		return;
	if (x->st == S_AWAIT_LINK) {
		if (now - x->state_since > (uint64_t)ped_ms(C.s->d.read_timeout_s)) {
			ped_warn("HSM %s asked for its Remote PED: no PED id is assigned to it and no pedserver "
				 "dialed in within %d s", x->hello.id, C.s->d.read_timeout_s);
			end(x, PED_E_NOT_FOUND, "no PED id assigned, no PED-initiated link");
		}
		return;
	}
	if (x->st != S_RELAY) {
		if (now - x->state_since > (uint64_t)ped_ms(C.s->d.read_timeout_s))
			end(x, x->st == S_HELLO ? PED_E_TIMED_OUT : PED_E_PED_UNPLUGGED,
			    x->st == S_HELLO ? "no greeting from the HSM" : "pedserver did not answer in time");
		return;
	}
	switch (ped_leg_keepalive(&x->srv, &C.keepalive, now)) {
	case PED_LEG_PING_TIMEOUT:
		ped_warn("pedserver %s stopped answering pings", x->server);
		end(x, PED_E_PED_UNPLUGGED, "ping timeout");
		break;
	case PED_LEG_IDLE_TIMEOUT: end(x, PED_E_PED_UNPLUGGED, "idle timeout"); break;
	case PED_LEG_PING_FAILED: end(x, PED_E_PED_UNPLUGGED, "write to pedserver failed"); break;
	case PED_LEG_ALIVE: break;
	}
}

static void on_tick(struct ped_evloop *loop, struct ped_timer *t, void *arg)
{
	uint64_t now = ped_now_ms();
	(void)loop;
	(void)t;
	(void)arg;
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (C.ss[i] && C.ss[i]->st != S_FREE)
			check_session(C.ss[i], now);
	schedule();
}

int client_run(const struct client_settings *s)
{
	int r;

	memset(&C, 0, sizeof(C));
	C.s = s;
	C.keepalive = (struct ped_leg_policy){ped_ms(s->d.ping_interval_s), ped_ms(s->d.ping_timeout_s),
					      s->ignore_idle ? 0 : ped_ms(s->d.idle_timeout_s), ped_ms(s->d.write_timeout_s)};
	for (int i = 0; i < MAX_PARKED; i++)
		parked_init(&C.pk[i]);
	C.tls_lfd = C.hsm_lfd = -1;
	ped_hsgate_init(&C.gate);

	ped_runtime_begin(&C.rt, "pedclient", &s->d);
	ped_runtime_unix_listen(&C.rt, s->hsm_socket, 0660, &C.hsm_lfd, "the HSM socket");
	ped_runtime_admin(&C.rt, on_admin_request, NULL, NULL);
	if (s->listen_port >= 0) {
		if (access(s->cert, R_OK) != 0 && (r = ped_tls_make_identity("pedclient", s->cert, s->key)) != PED_OK)
			ped_runtime_fail(&C.rt, r, "cannot make the PED-initiated certificate %s", s->cert);
		ped_runtime_tcp_listen(&C.rt, s->listen_ip, s->listen_port, &C.tls_lfd, &C.tls_port,
				       "the PED-initiated port");
	}
	C.loop = C.rt.loop;
	if (C.tls_lfd >= 0) {
		ped_runtime_serve(&C.rt, C.tls_lfd, on_tls_port, NULL);
		ped_info("PED-initiated mode: TLS on %s:%u, certificate %s, registered pedservers in %s", s->listen_ip,
			 C.tls_port, s->cert, s->trusted);
	}
	ped_runtime_serve(&C.rt, C.hsm_lfd, on_hsm_socket, NULL);
	ped_timer_init(&C.tick, on_tick, NULL);
	C.started = ped_now_ms();
	ped_info("serving HSMs on %s, admin %s:%u", s->hsm_socket, C.rt.adm_ip, C.rt.adm_port);
	ped_runtime_run(&C.rt);

	C.stop_by = ped_now_ms() + (uint64_t)ped_ms(s->d.shutdown_timeout_s);
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (C.ss[i])
			end(C.ss[i], PED_E_PED_CLIENT_NOT_RUNNING, "pedclient is stopping");
	for (int i = 0; i < MAX_PARKED; i++)
		if (ped_leg_is_open(&C.pk[i].leg))
			drop_parked(&C.pk[i], "pedclient is stopping");
	ped_timer_stop(C.loop, &C.tick);
	ped_runtime_end(&C.rt);
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (C.ss[i]) {
			OPENSSL_cleanse(C.ss[i], sizeof(*C.ss[i]));
			free(C.ss[i]);
			C.ss[i] = NULL;
		}
	return 0;
}
