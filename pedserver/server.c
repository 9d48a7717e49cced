/* pedserver's background process. One poll loop: the PED attaches on a
 * local socket and may come and go at any time; one pedclient session at a
 * time is relayed to it; the admin port answers show and stop. The relay
 * passes link frames through as they are: it holds no key and could not
 * read them. */
#include "server.h"

#include "ped/admin.h"
#include "ped/daemon.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/link.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/pidfile.h"
#include "ped/relay.h"
#include "ped/thread.h"
#include "ped/tls.h"

#include "appliance.h"

#include <openssl/crypto.h>
#include <errno.h>
#include <poll.h>
#include <strings.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PENDING 16
#define MAX_OUTBOUND 8
#define DIAL_ATTEMPTS 20 /* the reference: "will try connecting to PEDclient 20 times" */
#define DIAL_PAUSE_MS 250

/* PED-initiated links: pedserver dials an appliance's pedclient over TLS. */
enum { OUT_NONE, OUT_DIALING, OUT_CONNECTED, OUT_FAILED };
struct outbound {
	char name[33];
	int wanted, state;
	int refused; /* links closed before the appliance confirmed them */
	char why[200];
};

struct dial_job {
	int idx;
	char ip[65];
	int port, timeout_ms, pause_first;
	SSL_CTX *ctx;
};

struct dial_result {
	int fd, idx;
	char why[200];
};

struct conn {
	int fd;
	struct ped_framer in;
	char peer[96];
	uint64_t since, last_rx, last_ping, last_data;
	struct ped_relay_msg hello;
	int outbound; /* 1 + index in S.out for a PED-initiated link, else 0 */
	int local;    /* came in on the PED socket or USB: the only way a PED attaches */
};

static struct {
	const struct server_settings *s;
	struct ped_evloop *loop;
	int srv_fd, adm_fd, dev_fd, adm_ufd;
	char adm_upath[1024]; /* the Unix admin socket */
	struct ped_admin_server *admin;
	uint16_t srv_port, adm_port;
	struct conn pending[MAX_PENDING];
	struct conn ped, client;
	char rpks[PED_RELAY_INFO_MAX + 1]; /* HSM serials whose RPV the PED holds */
	uint64_t started, idle_since, total_conn_ms, total_conn_idle_ms;
	struct ped_timer tick;
	struct outbound out[MAX_OUTBOUND];
	int dial_pipe[2];
	int stopping;
	uint64_t stop_by; /* stopping: the InternalShutdownTimeout deadline (0 before) */
} S;

static void redial(int idx);

static int ms(int seconds)
{
	return seconds * 1000;
}

static void conn_init(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static int conn_open(const struct conn *c)
{
	return c->fd >= 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd < 0)
		return;
	ped_evloop_del_fd(S.loop, c->fd);
	close(c->fd);
	ped_framer_free(&c->in);
	conn_init(c);
}

static int send_to(struct conn *c, uint8_t type, const uint8_t *p, size_t len)
{
	return ped_frame_send(c->fd, type, p, len, ms(S.s->write_timeout_s));
}

/* While stopping, goodbyes share the internal shutdown timeout: peers that
 * stopped reading must not hold the stop past -bgprocessshutdowntimeout
 * into a SIGKILL. */
static void bye(struct conn *c, int err)
{
	if (conn_open(c))
		(void)ped_relay_send_code(c->fd, PED_RELAY_BYE, ped_err_code(err),
					  ped_budget_ms(S.stop_by, ms(S.s->write_timeout_s)));
}

/* Ends the client's session; tells the PED so it returns to waiting. */
static void end_session(int err, const char *why)
{
	if (!conn_open(&S.client))
		return;
	uint64_t now = ped_now_ms();
	S.total_conn_ms += now - S.client.since;
	S.total_conn_idle_ms += now - S.client.last_data;
	ped_info("client %s (HSM %s) disconnected: %s", S.client.peer, S.client.hello.id, why);
	int outbound = S.client.outbound;
	bye(&S.client, err);
	conn_close(&S.client);
	bye(&S.ped, err);
	S.idle_since = now;
	if (outbound)
		redial(outbound - 1);
}

static void ped_gone(const char *why)
{
	if (!conn_open(&S.ped))
		return;
	ped_warn("PED %s disconnected: %s", S.ped.hello.id, why);
	conn_close(&S.ped);
	S.rpks[0] = '\0';
	end_session(PED_E_PED_UNPLUGGED, "the PED went away");
}

static void on_ped(struct ped_evloop *loop, int fd, unsigned events, void *arg);
static void on_client(struct ped_evloop *loop, int fd, unsigned events, void *arg);

static void schedule(void);

static void adopt(struct conn *to, struct conn *from, ped_io_cb cb)
{
	ped_evloop_del_fd(S.loop, from->fd);
	*to = *from;
	conn_init(from);
	ped_evloop_add_fd(S.loop, to->fd, PED_EV_READ, cb, to);
}

static void status_reply(struct conn *c)
{
	struct ped_relay_msg m;
	memset(&m, 0, sizeof(m));
	m.role = PED_RELAY_ROLE_SERVER;
	m.flags = (uint8_t)((conn_open(&S.ped) ? PED_RELAY_F_PED_ATTACHED : 0) |
			    (conn_open(&S.client) ? PED_RELAY_F_BUSY : 0));
	if (conn_open(&S.ped)) {
		snprintf(m.id, sizeof(m.id), "%s", S.ped.hello.id);
		snprintf(m.version, sizeof(m.version), "%s", S.ped.hello.version);
	}
	snprintf(m.info, sizeof(m.info), "pedserver %s", PEDSERVER_SOFTWARE_VERSION);
	(void)ped_relay_send(c->fd, PED_RELAY_STATUS, &m, ms(S.s->write_timeout_s));
}

/* Whether the PED's last STATUS named serial among the RPKs it holds. */
static int rpk_held(const char *serial)
{
	size_t n = strlen(serial);
	for (const char *p = S.rpks; n && *p;) {
		size_t len = strcspn(p, ",");
		if (len == n && !memcmp(p, serial, n))
			return 1;
		p += len + (p[len] == ',');
	}
	return 0;
}

/* The first message on a new connection says who it is. */
static void greet(struct conn *c, const struct ped_relay_msg *h)
{
	c->hello = *h;
	if (h->role == PED_RELAY_ROLE_PED) {
		if (!c->local) {
			/* A PED on the network port could take the PED's place for
			 * the next HSM that connects, and see its keying. */
			ped_warn("refused %s: a PED attaches on the PED port or USB, not the network", c->peer);
			bye(c, PED_E_INVALID);
			conn_close(c);
			return;
		}
		if (conn_open(&S.ped)) {
			ped_warn("refused a second PED %s from %s: PED %s is attached", h->id, c->peer, S.ped.hello.id);
			bye(c, PED_E_BUSY);
			conn_close(c);
			return;
		}
		ped_info("PED %s (firmware %s) attached", h->id, h->version);
		adopt(&S.ped, c, on_ped);
		return;
	}
	if (h->role != PED_RELAY_ROLE_CLIENT) {
		ped_warn("refused %s: not a pedclient (role %u)", c->peer, h->role);
		bye(c, PED_E_INVALID);
		conn_close(c);
		return;
	}
	if (h->purpose == PED_RELAY_QUERY) {
		ped_info("status query from %s", c->peer);
		status_reply(c);
		conn_close(c);
		return;
	}
	if (conn_open(&S.client)) {
		/* A client that just hung up may not have been read yet: read it now. */
		struct pollfd pf = {.fd = S.client.fd, .events = POLLIN};
		if (poll(&pf, 1, 0) > 0)
			on_client(S.loop, S.client.fd, PED_EV_READ, &S.client);
	}
	/* after that read, which may have cost the PED (a failed write to it) */
	if (!conn_open(&S.ped)) {
		ped_warn("refused client %s (HSM %s): no PED attached", c->peer, h->id);
		bye(c, PED_E_PED_UNPLUGGED);
		conn_close(c);
		return;
	}
	if (conn_open(&S.client)) {
		ped_warn("refused client %s (HSM %s): serving %s (HSM %s)", c->peer, h->id, S.client.peer,
			 S.client.hello.id);
		bye(c, PED_E_BUSY);
		conn_close(c);
		return;
	}
	struct ped_relay_msg w, o;
	memset(&w, 0, sizeof(w));
	w.role = PED_RELAY_ROLE_SERVER;
	snprintf(w.id, sizeof(w.id), "%s", S.ped.hello.id);
	snprintf(w.version, sizeof(w.version), "%s", S.ped.hello.version);
	snprintf(w.info, sizeof(w.info), "pedserver %s", PEDSERVER_SOFTWARE_VERSION);
	if (rpk_held(h->id))
		w.flags |= PED_RELAY_F_RPK_HELD; /* the HSM need not ask for the orange key */
	memset(&o, 0, sizeof(o));
	o.role = PED_RELAY_ROLE_SERVER;
	o.auth = h->auth;
	o.flags = h->flags & PED_RELAY_F_2E2S;
	snprintf(o.id, sizeof(o.id), "%s", h->id);
	snprintf(o.host, sizeof(o.host), "%.64s", c->peer);
	if (ped_relay_send(c->fd, PED_RELAY_WELCOME, &w, ms(S.s->write_timeout_s)) != PED_OK) {
		ped_warn("client %s went away before its session began", c->peer);
		conn_close(c);
		return;
	}
	adopt(&S.client, c, on_client);
	uint64_t now = ped_now_ms();
	S.client.since = S.client.last_rx = S.client.last_ping = S.client.last_data = now;
	schedule(); /* pings and the idle timeout */
	ped_info("client %s (HSM %s) connected; PED %s serves it", S.client.peer, h->id, S.ped.hello.id);
	if (ped_relay_send(S.ped.fd, PED_RELAY_OPEN, &o, ms(S.s->write_timeout_s)) != PED_OK)
		ped_gone("write to the PED failed");
}

/* Reads what a connection has; calls fn for each frame. Returns PED_OK while
 * the connection lives, else why it ended (it is not closed here). */
static int pump(struct conn *c, void (*fn)(struct conn *c, uint8_t type, const uint8_t *p, size_t len))
{
	for (;;) {
		uint8_t type, *p = NULL;
		size_t len = 0;
		int fd = c->fd;
		int r = ped_framer_recv(&c->in, &type, &p, &len, 0);
		if (r == PED_E_TIMED_OUT)
			return PED_OK;
		if (r != PED_OK)
			return r;
		c->last_rx = ped_now_ms();
		/* headers only: payloads may be channel records */
		ped_trace("frame %s (0x%02x), %zu bytes, from %s", ped_relay_type_name(type), type, len, c->peer);
		fn(c, type, p, len);
		OPENSSL_clear_free(p, len ? len : 1);
		if (c->fd != fd) /* fn closed or moved it */
			return PED_OK;
	}
}

static void pending_frame(struct conn *c, uint8_t type, const uint8_t *p, size_t len)
{
	struct ped_relay_msg h;
	if (c->outbound && (type == PED_RELAY_PING || type == PED_RELAY_PONG)) {
		struct outbound *o = &S.out[c->outbound - 1];
		if (o->state != OUT_CONNECTED) {
			o->state = OUT_CONNECTED;
			o->refused = 0;
			o->why[0] = '\0';
			ped_info("connected to appliance %s over TLS", o->name);
		}
		if (type == PED_RELAY_PING)
			(void)ped_relay_send_code(c->fd, PED_RELAY_PONG, 0, ms(S.s->write_timeout_s));
		return;
	}
	if (type != PED_RELAY_HELLO || ped_relay_decode(p, len, &h) != PED_OK) {
		ped_warn("malformed greeting from %s (%s frame): closing", c->peer, ped_relay_type_name(type));
		conn_close(c);
		return;
	}
	greet(c, &h);
}

static void on_pending(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	struct conn *c = arg;
	(void)loop;
	(void)fd;
	(void)events;
	int outbound = c->outbound;
	int r = pump(c, pending_frame);
	if (r != PED_OK && conn_open(c)) {
		if (r != PED_E_CLOSED)
			ped_warn("malformed input from %s: %s", c->peer, ped_strerror(r));
		conn_close(c);
	}
	if (outbound && !conn_open(c) && !(conn_open(&S.client) && S.client.outbound == outbound))
		redial(outbound - 1);
}

static void ped_frame(struct conn *c, uint8_t type, const uint8_t *p, size_t len)
{
	(void)c;
	if (type == PED_LINK_KAS || type == PED_LINK_RECORD) {
		if (!conn_open(&S.client)) {
			ped_trace("dropped a %s frame from the PED: no session", ped_relay_type_name(type));
			return;
		}
		S.client.last_data = ped_now_ms();
		if (send_to(&S.client, type, p, len) != PED_OK)
			end_session(PED_E_SOCKET, "write to the client failed");
		return;
	}
	if (type == PED_RELAY_PING) {
		(void)ped_relay_send_code(S.ped.fd, PED_RELAY_PONG, 0, ms(S.s->write_timeout_s));
	} else if (type == PED_RELAY_STATUS) {
		struct ped_relay_msg m;
		if (ped_relay_decode(p, len, &m) == PED_OK)
			snprintf(S.rpks, sizeof(S.rpks), "%s", m.info);
	} else if (type == PED_RELAY_BYE) {
		/* The operator left Remote PED mode or cancelled the session key. */
		struct ped_relay_msg m;
		int err = ped_relay_decode(p, len, &m) == PED_OK ? ped_err_from_code(m.code) : PED_E_GENERAL;
		end_session(err == PED_OK ? PED_E_PED_UNPLUGGED : err, "the PED ended the session");
	} else if (type != PED_RELAY_PONG) {
		ped_warn("unexpected %s frame from the PED: ignored", ped_relay_type_name(type));
	}
}

static void on_ped(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	int r = pump(arg, ped_frame);
	if (r != PED_OK)
		ped_gone(r == PED_E_CLOSED ? "end of stream" : ped_strerror(r));
}

static void client_frame(struct conn *c, uint8_t type, const uint8_t *p, size_t len)
{
	(void)c;
	if (type == PED_LINK_KAS || type == PED_LINK_RECORD) {
		S.client.last_data = ped_now_ms();
		if (send_to(&S.ped, type, p, len) != PED_OK)
			ped_gone("write to the PED failed");
		return;
	}
	struct ped_relay_msg m;
	if ((type == PED_RELAY_PING || type == PED_RELAY_PONG) && ped_relay_decode(p, len, &m) != PED_OK) {
		/* a channel frame whose type byte was damaged into PING or PONG */
		ped_warn("malformed %s frame from client %s: ending the session", ped_relay_type_name(type),
			 S.client.peer);
		end_session(PED_E_FRAME_TYPE, "malformed frame from the client");
	} else if (type == PED_RELAY_PING) {
		(void)ped_relay_send_code(S.client.fd, PED_RELAY_PONG, 0, ms(S.s->write_timeout_s));
	} else if (type == PED_RELAY_BYE) {
		end_session(PED_OK, "the client ended it");
	} else if (type != PED_RELAY_PONG) {
		/* Dropping it would leave both ends of the channel waiting for a
		 * message that never comes (the HSM for its whole PED timeout): a
		 * frame the session has no use for means the link is not to be trusted. */
		ped_warn("unexpected %s frame from client %s: ending the session", ped_relay_type_name(type),
			 S.client.peer);
		end_session(PED_E_FRAME_TYPE, "unexpected frame from the client");
	}
}

static void on_client(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	(void)loop;
	(void)fd;
	(void)events;
	int r = pump(arg, client_frame);
	if (r != PED_OK)
		end_session(PED_E_SOCKET, r == PED_E_CLOSED ? "end of stream" : ped_strerror(r));
}

/* A new stream waits for its greeting: a PED, a pedclient, or a query. */
static void add_pending(int fd, const char *peer, int local)
{
	struct conn *c = NULL, *oldest = NULL;
	for (int i = 0; i < MAX_PENDING && !c; i++) {
		struct conn *p = &S.pending[i];
		if (!conn_open(p))
			c = p;
		else if (!p->local && !p->outbound && (!oldest || p->since < oldest->since))
			oldest = p;
	}
	/* Full: the network peer that has waited longest to greet makes room,
	 * so idle connections from the network (the server port is open to
	 * all by default) cannot lock out the PED or a pedclient that greets. */
	if (!c && oldest) {
		ped_trace("%s has not greeted in %llu ms: dropped for %s", oldest->peer,
			 (unsigned long long)(ped_now_ms() - oldest->since), peer);
		conn_close(oldest);
		c = oldest;
	}
	if (!c) {
		ped_warn("refused %s: too many connections waiting to greet", peer);
		close(fd);
		return;
	}
	conn_init(c);
	c->fd = fd;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->local = local;
	ped_framer_init(&c->in, fd, PED_FRAME_MAX_PAYLOAD);
	c->since = c->last_rx = ped_now_ms();
	ped_trace("connection from %s", peer);
	ped_evloop_add_fd(S.loop, fd, PED_EV_READ, on_pending, c);
	schedule(); /* its greeting timeout */
}

static void on_accept(struct ped_evloop *loop, int lfd, unsigned events, void *arg)
{
	int fd;
	(void)loop;
	(void)events;
	(void)arg;
	while (ped_accept(lfd, &fd) == PED_OK) {
		char peer[96];
		ped_sock_peer_name(fd, peer, sizeof(peer));
		if (lfd == S.dev_fd)
			snprintf(peer, sizeof(peer), "local PED port");
		add_pending(fd, peer, lfd == S.dev_fd);
	}
}

static void on_usb_ped(int fd, const char *name)
{
	char peer[96];
	snprintf(peer, sizeof(peer), "USB %s", name);
	add_pending(fd, peer, 1);
}

static const char *yes_no(int v)
{
	return v ? "Yes" : "No";
}

static unsigned pct(uint64_t part, uint64_t whole)
{
	return whole ? (unsigned)(part * 100 / whole) : 100;
}

static void show(FILE *o)
{
	uint64_t now = ped_now_ms();
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	uint64_t up = (now - S.started) / 1000;
	uint64_t idle = conn_open(&S.client) ? 0 : (now - S.idle_since) / 1000;
	uint64_t cur = conn_open(&S.client) ? now - S.client.since : 0;
	uint64_t cur_idle = conn_open(&S.client) ? now - S.client.last_data : 0;
	uint64_t total = S.total_conn_ms + cur, total_idle = S.total_conn_idle_ms + cur_idle;

	fprintf(o, "Server Information:\n");
	fprintf(o, "  Hostname:                %s\n", host);
	fprintf(o, "  IP:                      %s\n", S.s->ip[0] ? S.s->ip : S.s->eserver ? "0.0.0.0" : "127.0.0.1");
	fprintf(o, "  Firmware Version:        %s\n", conn_open(&S.ped) ? S.ped.hello.version : "Not Available");
	fprintf(o, "  PedII Protocol Version:   %s\n", PEDSERVER_PROTOCOL_VERSION);
	fprintf(o, "  Software Version:         %s\n", PEDSERVER_SOFTWARE_VERSION);
	fprintf(o, "\n");
	fprintf(o, "  Ped2 Connection Status:   %s\n", conn_open(&S.ped) ? "Connected" : "Disconnected");
	if (conn_open(&S.ped))
		fprintf(o, "  Ped2 Attached On:         %s\n", S.ped.peer);
	unsigned count = 0;
	for (const char *p = S.rpks; *p; p++)
		if (p == S.rpks || p[-1] == ',')
			count++;
	fprintf(o, "  Ped2 RPK Count            %u\n", count);
	fprintf(o, "  Ped2 RPK Serial Numbers   (%s)\n", count ? S.rpks : "none");
	fprintf(o, "\n");
	if (conn_open(&S.client)) {
		fprintf(o, "Client Information:\n");
		fprintf(o, "  Client Address:           %s\n", S.client.peer);
		fprintf(o, "  HSM Serial Number:        %s\n", S.client.hello.id);
		fprintf(o, "  Client Software:          %s\n", S.client.hello.version);
	} else {
		fprintf(o, "Client Information:         Not Available\n");
	}
	fprintf(o, "\n");
	fprintf(o, "Operating Information:\n");
	fprintf(o, "  Server Port:              %u\n", S.srv_port);
	fprintf(o, "  External Server Interface: %s\n", yes_no(S.s->eserver));
	fprintf(o, "  Admin Port:               %u\n", S.adm_port);
	fprintf(o, "  External Admin Interface: %s\n", yes_no(S.s->eadmin));
	fprintf(o, "\n");
	fprintf(o, "  Server Up Time:           %llu (secs)\n", (unsigned long long)up);
	fprintf(o, "  Server Idle Time:         %llu (secs) (%u%%)\n", (unsigned long long)idle,
		up ? (unsigned)(idle * 100 / up) : (conn_open(&S.client) ? 0 : 100));
	fprintf(o, "  Idle Timeout Value:       %d (secs)\n", S.s->idle_timeout_s);
	fprintf(o, "\n");
	fprintf(o, "  Current Connection Time:   %llu (secs)\n", (unsigned long long)(cur / 1000));
	fprintf(o, "  Current Connection Idle Time: %llu (secs)\n", (unsigned long long)(cur_idle / 1000));
	fprintf(o, "  Current Connection Total Idle Time: %llu (secs) (%u%%)\n",
		(unsigned long long)(cur_idle / 1000), pct(cur_idle, cur));
	fprintf(o, "  Total Connection Time:     %llu (secs)\n", (unsigned long long)(total / 1000));
	fprintf(o, "  Total Connection Idle Time: %llu (secs) (%u%%)\n", (unsigned long long)(total_idle / 1000),
		pct(total_idle, total));
}

/* ---- PED-initiated mode ---------------------------------------------------- */

static void *dial_thread(void *arg)
{
	struct dial_job *j = arg;
	struct dial_result res = {-1, j->idx, ""};
	for (int i = 0; i < DIAL_ATTEMPTS && res.fd < 0; i++) {
		int fd, plain;
		char cn[80];
		if (i || j->pause_first)
			usleep(DIAL_PAUSE_MS * 1000);
		if (ped_tcp_connect(j->ip, (uint16_t)j->port, 2000, &fd) != PED_OK) {
			snprintf(res.why, sizeof(res.why), "cannot reach %s:%d: %s", j->ip, j->port, strerror(errno));
			continue;
		}
		if (ped_tls_proxy(j->ctx, fd, 0, j->timeout_ms, &plain, cn, sizeof(cn), res.why, sizeof(res.why)) == PED_OK)
			res.fd = plain;
	}
	SSL_CTX_free(j->ctx);
	free(j);
	(void)!write(S.dial_pipe[1], &res, sizeof(res));
	return NULL;
}

static int find_out(const char *name, int create)
{
	for (int i = 0; i < MAX_OUTBOUND; i++)
		if (S.out[i].name[0] && !strcasecmp(S.out[i].name, name))
			return i;
	for (int i = 0; create && i < MAX_OUTBOUND; i++)
		if (!S.out[i].name[0]) {
			snprintf(S.out[i].name, sizeof(S.out[i].name), "%s", name);
			return i;
		}
	return -1;
}

/* Reads the appliance and our certificate from the configuration file and
 * starts dialing; the reference's "-mode connect". */
static int start_dial(int idx, char *why, size_t whylen)
{
	static struct ped_cfg_setting none[] = {{.name = NULL}};
	struct ped_config cfg;
	char err[512], ip[65], cert[1024];
	const char *mine = NULL, *key = NULL;
	int port, r;
	struct dial_job *j = NULL;
	SSL_CTX *ctx = NULL;

	if ((r = ped_config_load(&cfg, S.s->config_path, none, err, sizeof(err))) != PED_OK) {
		snprintf(why, whylen, "%.190s", err);
		return r;
	}
	if ((r = appliance_lookup(&cfg, S.out[idx].name, ip, sizeof(ip), &port, cert, sizeof(cert))) != PED_OK) {
		snprintf(why, whylen, "no appliance named %s is registered", S.out[idx].name);
		goto out;
	}
	if (!config_lookup_string(&cfg.tree, "ClientCertificate", &mine) || !*mine ||
	    !config_lookup_string(&cfg.tree, "ClientKey", &key) || !*key) {
		snprintf(why, whylen, "no client certificate: run pedserver -regen -commonname CN first");
		r = PED_E_NOT_FOUND;
		goto out;
	}
	if ((r = ped_tls_context(0, mine, key, cert, &ctx, why, whylen)) != PED_OK)
		goto out;
	if (!(j = calloc(1, sizeof(*j)))) {
		r = PED_E_HOST_MEMORY;
		goto out;
	}
	*j = (struct dial_job){idx, "", port, ms(S.s->read_timeout_s), S.out[idx].refused > 0, ctx};
	snprintf(j->ip, sizeof(j->ip), "%s", ip);
	if (ped_thread_spawn(dial_thread, j) != PED_OK) {
		free(j);
		r = PED_E_HOST_MEMORY;
	} else {
		ctx = NULL;
		S.out[idx].state = OUT_DIALING;
		ped_info("dialing appliance %s at %s:%d (up to %d attempts)", S.out[idx].name, ip, port, DIAL_ATTEMPTS);
	}
out:
	SSL_CTX_free(ctx);
	ped_config_free(&cfg);
	return r;
}

static void redial(int idx)
{
	char why[200];
	if (idx < 0 || idx >= MAX_OUTBOUND || !S.out[idx].wanted || S.stopping)
		return;
	/* In TLS 1.3 the appliance checks our certificate after our handshake
	 * is done: a link it closes before confirming it was refused. */
	if (S.out[idx].state == OUT_DIALING && ++S.out[idx].refused >= DIAL_ATTEMPTS) {
		S.out[idx].state = OUT_FAILED;
		snprintf(S.out[idx].why, sizeof(S.out[idx].why),
			 "the appliance closed the link %d times before accepting it: is this pedserver's certificate registered there?",
			 DIAL_ATTEMPTS);
		ped_warn("appliance %s: %s", S.out[idx].name, S.out[idx].why);
		return;
	}
	if (start_dial(idx, why, sizeof(why)) != PED_OK) {
		S.out[idx].state = OUT_FAILED;
		snprintf(S.out[idx].why, sizeof(S.out[idx].why), "%s", why);
		ped_warn("appliance %s: %s", S.out[idx].name, why);
	}
}

static void on_dialed(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	struct dial_result res;
	(void)events;
	(void)arg;
	if (read(fd, &res, sizeof(res)) != (ssize_t)sizeof(res) || res.idx < 0 || res.idx >= MAX_OUTBOUND)
		return;
	struct outbound *o = &S.out[res.idx];
	if (res.fd < 0) {
		o->state = OUT_FAILED;
		snprintf(o->why, sizeof(o->why), "%s", res.why);
		ped_warn("appliance %s: gave up after %d attempts: %s", o->name, DIAL_ATTEMPTS, res.why);
		return;
	}
	struct conn *c = NULL;
	for (int i = 0; i < MAX_PENDING && !c; i++)
		if (!conn_open(&S.pending[i]))
			c = &S.pending[i];
	if (!o->wanted || !c) {
		close(res.fd);
		return;
	}
	conn_init(c);
	c->fd = res.fd;
	c->outbound = res.idx + 1;
	snprintf(c->peer, sizeof(c->peer), "appliance %s", o->name);
	ped_framer_init(&c->in, res.fd, PED_FRAME_MAX_PAYLOAD);
	c->since = c->last_rx = ped_now_ms();
	ped_evloop_add_fd(loop, res.fd, PED_EV_READ, on_pending, c);
	/* Announce ourselves; the appliance's pedclient keeps the link for its HSMs. */
	struct ped_relay_msg h;
	memset(&h, 0, sizeof(h));
	h.role = PED_RELAY_ROLE_SERVER;
	h.purpose = PED_RELAY_SESSION;
	if (conn_open(&S.ped))
		snprintf(h.id, sizeof(h.id), "%s", S.ped.hello.id);
	snprintf(h.version, sizeof(h.version), "%s", PEDSERVER_SOFTWARE_VERSION);
	gethostname(h.info, sizeof(h.info) - 1);
	if (ped_relay_send(res.fd, PED_RELAY_HELLO, &h, ms(S.s->write_timeout_s)) != PED_OK) {
		conn_close(c);
		redial(res.idx);
		return;
	}
	/* Connected once the appliance confirms (its first PING). */
	ped_info("TLS link to appliance %s up; waiting for it to confirm", o->name);
}

static int outbound_request(const char *line, FILE *out)
{
	const char *name = strchr(line, ' ') + 1;
	char why[200];
	if (!strncasecmp(line, "status ", 7)) {
		int i = find_out(name, 0);
		if (i < 0 || S.out[i].state == OUT_NONE)
			fprintf(out, "not connected\n");
		else if (S.out[i].state == OUT_CONNECTED)
			fprintf(out, "connected\n");
		else if (S.out[i].state == OUT_DIALING)
			fprintf(out, "dialing\n");
		else
			fprintf(out, "failed %s\n", S.out[i].why);
		return PED_OK;
	}
	int connect = !strncasecmp(line, "connect ", 8);
	int i = find_out(name, connect);
	if (i < 0) {
		fprintf(out, connect ? "too many appliances\n" : "not connected\n");
		return connect ? PED_E_BUSY : PED_OK;
	}
	struct outbound *o = &S.out[i];
	if (!connect) {
		o->wanted = 0;
		o->state = OUT_NONE;
		if (conn_open(&S.client) && S.client.outbound == i + 1)
			end_session(PED_E_PED_UNPLUGGED, "pedserver -mode disconnect");
		for (int k = 0; k < MAX_PENDING; k++)
			if (S.pending[k].outbound == i + 1)
				conn_close(&S.pending[k]);
		ped_info("appliance %s disconnected by the operator", o->name);
		return PED_OK;
	}
	if (o->wanted && (o->state == OUT_DIALING || o->state == OUT_CONNECTED))
		return PED_OK;
	o->wanted = 1;
	o->refused = 0;
	o->why[0] = '\0';
	if (start_dial(i, why, sizeof(why)) != PED_OK) {
		o->state = OUT_FAILED;
		snprintf(o->why, sizeof(o->why), "%s", why);
	}
	return PED_OK;
}

/* Stopping pedserver, or making it dial an appliance, is more than the
 * denial of service the admin port was documented to allow: any local user
 * could point the PED at a registered appliance of their choosing. */
static int changes_state(const char *line)
{
	return !strcasecmp(line, "stop") || !strncasecmp(line, "connect ", 8) || !strncasecmp(line, "disconnect ", 11);
}

static int on_admin_request(void *arg, const char *line, int trusted, FILE *out)
{
	(void)arg;
	if (!strcasecmp(line, "show")) {
		show(out);
		return PED_OK;
	}
	if (changes_state(line) && !trusted) {
		char cmd[16];
		snprintf(cmd, sizeof(cmd), "%.*s", (int)strcspn(line, " "), line);
		ped_warn("refused '%s' from the admin port: only pedserver's user or root may ask, on %s", cmd,
			 S.adm_upath);
		fprintf(out, "'%s' is taken only from pedserver's own user or root, on the admin socket %s\n", cmd,
			S.adm_upath);
		return PED_E_ACTION_PROHIBITED;
	}
	if (!strcasecmp(line, "stop")) {
		ped_info("stop requested on the admin port");
		ped_evloop_stop(S.loop);
		return PED_OK;
	}
	if (!strncasecmp(line, "connect ", 8) || !strncasecmp(line, "disconnect ", 11) ||
	    !strncasecmp(line, "status ", 7))
		return outbound_request(line, out);
	fprintf(out, "unknown request\n");
	return PED_E_INVALID;
}

/* The timer runs only when something is due: a greeting's, a ping's or the
 * idle timeout, or the next ping; an idle pedserver does not wake at all. */
static void schedule(void)
{
	uint64_t due = 0;
	for (int i = 0; i < MAX_PENDING; i++)
		if (conn_open(&S.pending[i]) && !S.pending[i].outbound)
			ped_deadline_min(&due, S.pending[i].since + (uint64_t)ms(S.s->read_timeout_s) + 1);
	if (conn_open(&S.client)) {
		ped_deadline_min(&due, S.client.last_rx + (uint64_t)ms(S.s->ping_interval_s + S.s->ping_timeout_s) + 1);
		ped_deadline_min(&due, S.client.last_data + (uint64_t)ms(S.s->idle_timeout_s) + 1);
		ped_deadline_min(&due, S.client.last_ping + (uint64_t)ms(S.s->ping_interval_s));
	}
	ped_timer_at(S.loop, &S.tick, due);
}

static void check_timeouts(uint64_t now)
{
	for (int i = 0; i < MAX_PENDING; i++) {
		struct conn *c = &S.pending[i];
		if (conn_open(c) && !c->outbound && now - c->since > (uint64_t)ms(S.s->read_timeout_s)) {
			ped_warn("%s sent no greeting in %d s: closing", c->peer, S.s->read_timeout_s);
			conn_close(c);
		}
	}
	if (!conn_open(&S.client))
		return;
	if (now - S.client.last_rx > (uint64_t)ms(S.s->ping_interval_s + S.s->ping_timeout_s)) {
		end_session(PED_E_TIMED_OUT, "ping timeout");
		return;
	}
	if (now - S.client.last_data > (uint64_t)ms(S.s->idle_timeout_s)) {
		end_session(PED_E_TIMED_OUT, "idle timeout");
		return;
	}
	if (now - S.client.last_ping >= (uint64_t)ms(S.s->ping_interval_s)) {
		S.client.last_ping = now;
		if (ped_relay_send_code(S.client.fd, PED_RELAY_PING, 0, ms(S.s->write_timeout_s)) != PED_OK)
			end_session(PED_E_SOCKET, "write to the client failed");
	}
}

static void on_tick(struct ped_evloop *loop, struct ped_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	(void)arg;
	check_timeouts(ped_now_ms());
	schedule();
}

static void on_term(struct ped_evloop *loop, int signo, void *arg)
{
	(void)arg;
	ped_info("signal %d: stopping", signo);
	(void)ped_daemon_notify("STOPPING=1");
	ped_evloop_stop(loop);
}

int server_run(const struct server_settings *s)
{
	struct ped_pidfile pf;
	char msg[512];
	const char *srv_ip = s->ip[0] ? s->ip : s->eserver ? "0.0.0.0" : "127.0.0.1";
	const char *adm_ip = s->eadmin ? "0.0.0.0" : "127.0.0.1";
	int r;

	memset(&S, 0, sizeof(S));
	memset(&pf, 0, sizeof(pf));
	pf.fd = -1; /* no PID file yet (fd 0 may be a real one) */
	S.s = s;
	S.srv_fd = S.adm_fd = S.dev_fd = S.adm_ufd = -1;
	conn_init(&S.ped);
	conn_init(&S.client);
	for (int i = 0; i < MAX_PENDING; i++)
		conn_init(&S.pending[i]);
	signal(SIGPIPE, SIG_IGN);

	if ((r = ped_pidfile_create(s->pidfile, &pf, msg, sizeof(msg))) != PED_OK)
		ped_daemon_fail(r, "%s", msg);
	if ((r = ped_tcp_listen(srv_ip, (uint16_t)s->port, &S.srv_fd, &S.srv_port)) != PED_OK) {
		ped_pidfile_remove(&pf);
		ped_daemon_fail(r, "cannot listen on server port %s:%d: %s", srv_ip, s->port, strerror(errno));
	}
	if ((r = ped_tcp_listen(adm_ip, (uint16_t)s->admin_port, &S.adm_fd, &S.adm_port)) != PED_OK) {
		ped_pidfile_remove(&pf);
		ped_daemon_fail(r, "cannot listen on admin port %s:%d: %s", adm_ip, s->admin_port, strerror(errno));
	}
	unlink(s->ped_socket); /* a live pedserver holds the PID file, so this one is stale */
	if ((r = ped_unix_listen(s->ped_socket, 0600, &S.dev_fd)) != PED_OK) {
		ped_pidfile_remove(&pf);
		ped_daemon_fail(r, "cannot listen on the PED port %s: %s", s->ped_socket, strerror(errno));
	}
	if ((r = ped_admin_port_publish("pedserver", S.adm_port)) != PED_OK) {
		unlink(s->ped_socket);
		ped_pidfile_remove(&pf);
		ped_daemon_fail(r, "cannot publish the admin port in the runtime directory");
	}
	if ((r = ped_admin_socket_path("pedserver", S.adm_upath, sizeof(S.adm_upath))) != PED_OK ||
	    (r = ped_unix_listen(S.adm_upath, 0600, &S.adm_ufd)) != PED_OK) {
		unlink(s->ped_socket);
		ped_admin_port_unpublish("pedserver");
		ped_pidfile_remove(&pf);
		ped_daemon_fail(r, "cannot listen on the admin socket %s: %s", S.adm_upath, strerror(errno));
	}
	if (pipe(S.dial_pipe) != 0) {
		unlink(s->ped_socket);
		ped_pidfile_remove(&pf);
		ped_daemon_fail(PED_E_GENERAL, "cannot make a pipe: %s", strerror(errno));
	}
	S.loop = ped_evloop_new();
	ped_evloop_add_fd(S.loop, S.dial_pipe[0], PED_EV_READ, on_dialed, NULL);
	ped_evloop_add_fd(S.loop, S.srv_fd, PED_EV_READ, on_accept, NULL);
	ped_evloop_add_fd(S.loop, S.dev_fd, PED_EV_READ, on_accept, NULL);
	if ((r = ped_admin_server_new(S.loop, S.adm_fd, S.adm_ufd, on_admin_request, NULL, ms(S.s->read_timeout_s),
				      &S.admin)) != PED_OK)
		ped_daemon_fail(r, "cannot serve the admin port");
	ped_evloop_add_signal(S.loop, SIGTERM, on_term, NULL);
	ped_evloop_add_signal(S.loop, SIGINT, on_term, NULL);
	ped_timer_init(&S.tick, on_tick, NULL);
	usb_ped_start(S.loop, &s->usb, on_usb_ped);
	S.started = S.idle_since = ped_now_ms();
	ped_info("serving on %s:%u, admin %s:%u and %s, PED port %s", srv_ip, S.srv_port, adm_ip, S.adm_port,
		 S.adm_upath, s->ped_socket);
	ped_daemon_ready(s->foreground);
	ped_evloop_run(S.loop);

	S.stopping = 1;
	S.stop_by = ped_now_ms() + (uint64_t)ms(s->shutdown_timeout_s);
	end_session(PED_E_PED_UNPLUGGED, "pedserver is stopping");
	bye(&S.ped, PED_OK);
	conn_close(&S.ped);
	for (int i = 0; i < MAX_PENDING; i++)
		conn_close(&S.pending[i]);
	ped_timer_stop(S.loop, &S.tick);
	usb_ped_stop();
	close(S.srv_fd);
	ped_admin_server_free(S.admin);
	close(S.adm_fd);
	close(S.adm_ufd);
	unlink(S.adm_upath);
	close(S.dev_fd);
	unlink(s->ped_socket);
	ped_admin_port_unpublish("pedserver");
	ped_evloop_free(S.loop);
	ped_pidfile_remove(&pf);
	ped_info("stopped");
	return 0;
}
