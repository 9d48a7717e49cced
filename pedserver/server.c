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
#include "ped/json.h"
#include "ped/leg.h"
#include "ped/link.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/relay.h"
#include "ped/runtime.h"
#include "ped/tls.h"

#include "appliance.h"

#include <openssl/crypto.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
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

/* Dialing an appliance, up to DIAL_ATTEMPTS times: a worker's job. */
struct dial_job {
	struct ped_work work;
	int idx;
	char ip[65];
	int port, timeout_ms, pause_first;
	SSL_CTX *ctx;
	int fd; /* the result: the TLS link's plain end, or -1 and why */
	char why[200];
};

/* A stream: waiting to greet (pending), the PED, or the one client. */
struct conn {
	struct ped_leg leg;
	struct ped_relay_msg hello;
	int outbound; /* 1 + index in S.out for a PED-initiated link, else 0 */
	int local;    /* came in on the PED socket or USB: the only way a PED attaches */
};

static struct {
	const struct server_settings *s;
	struct ped_runtime rt;
	struct ped_evloop *loop;
	int srv_fd, dev_fd;
	uint16_t srv_port;
	int srv_external; /* the server port is reachable beyond this host (not bound to loopback) */
	struct conn pending[MAX_PENDING];
	struct conn ped, client;
	char rpks[PED_RELAY_INFO_MAX + 1]; /* HSM serials whose RPV the PED holds */
	uint64_t started, idle_since, total_conn_ms, total_conn_idle_ms;
	struct ped_timer tick;
	struct ped_leg_policy keepalive; /* the client's pings and idle timeout */
	struct outbound out[MAX_OUTBOUND];
	int stopping;
	uint64_t stop_by; /* stopping: the InternalShutdownTimeout deadline (0 before) */
} S;

static void redial(int idx);
static void dial_done(struct ped_work *w);
static void dial_drop(struct ped_work *w);
static void schedule(void);

static void conn_init(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	ped_leg_init(&c->leg);
}

static int conn_open(const struct conn *c)
{
	return ped_leg_is_open(&c->leg);
}

static void conn_close(struct conn *c)
{
	ped_leg_close(&c->leg);
	conn_init(c);
}

static int wtimeout(void)
{
	return ped_ms(S.s->d.write_timeout_s);
}

/* While stopping, goodbyes share the internal shutdown timeout: peers that
 * stopped reading must not hold the stop past -bgprocessshutdowntimeout
 * into a SIGKILL. */
static void bye(struct conn *c, int err)
{
	if (conn_open(c))
		(void)ped_leg_send_code(&c->leg, PED_RELAY_BYE, ped_err_code(err), ped_budget_ms(S.stop_by, wtimeout()));
}

/* Ends the client's session; tells the PED so it returns to waiting. */
static void end_session(int err, const char *why)
{
	if (!conn_open(&S.client))
		return;
	uint64_t now = ped_now_ms();
	S.total_conn_ms += now - S.client.leg.since;
	S.total_conn_idle_ms += now - S.client.leg.last_data;
	ped_info("client %s (HSM %s) disconnected: %s", S.client.leg.peer, S.client.hello.id, why);
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

/* A stream that leaves the pending ones without becoming the PED or the
 * client; a PED-initiated link is dialed again. */
static void pending_drop(struct conn *c)
{
	int outbound = c->outbound;
	conn_close(c);
	if (outbound)
		redial(outbound - 1);
}

static void refuse(struct conn *c, int err)
{
	bye(c, err);
	pending_drop(c);
}

static void adopt(struct conn *to, struct conn *from, const struct ped_leg_dispatch *d)
{
	*to = *from;
	ped_leg_move(&to->leg, &from->leg, d, to);
	conn_init(from);
}

/* -mode show's "External Server Interface" says where the port listens,
 * not what ExternalServer asked: -ip 127.0.0.1 overrides it. */
static int bound_beyond_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) != 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		return !IN6_IS_ADDR_LOOPBACK(a) && !(IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

static void status_reply(struct conn *c)
{
	struct ped_relay_msg m;
	memset(&m, 0, sizeof(m));
	m.role = PED_RELAY_ROLE_SERVER;
	m.flags = (uint8_t)((conn_open(&S.ped) ? PED_RELAY_F_PED_ATTACHED : 0) |
			    (conn_open(&S.client) ? PED_RELAY_F_BUSY : 0));
	if (conn_open(&S.client) && c->hello.id[0] && !strcmp(c->hello.id, S.client.hello.id))
		m.flags |= PED_RELAY_F_SERVING_NAMED;
	if (conn_open(&S.ped)) {
		snprintf(m.id, sizeof(m.id), "%s", S.ped.hello.id);
		snprintf(m.version, sizeof(m.version), "%s", S.ped.hello.version);
	}
	snprintf(m.info, sizeof(m.info), "pedserver %s", PEDSERVER_SOFTWARE_VERSION);
	(void)ped_leg_send_msg(&c->leg, PED_RELAY_STATUS, &m, wtimeout());
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

/* ---- the PED: channel frames to the client, its status, its goodbye ------ */

static void ped_data(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	(void)l;
	if (!conn_open(&S.client)) {
		ped_trace("dropped a %s frame from the PED: no session", ped_relay_type_name(type));
		return;
	}
	S.client.leg.last_data = ped_now_ms();
	if (ped_leg_send(&S.client.leg, type, p, len, wtimeout()) != PED_OK)
		end_session(PED_E_SOCKET, "write to the client failed");
}

static void ped_ping(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	(void)p;
	(void)len;
	if (type == PED_RELAY_PING)
		(void)ped_leg_send_code(l, PED_RELAY_PONG, 0, wtimeout());
}

static void ped_status(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct ped_relay_msg m;
	(void)l;
	(void)type;
	if (ped_relay_decode(p, len, &m) == PED_OK)
		snprintf(S.rpks, sizeof(S.rpks), "%s", m.info);
}

/* The operator left Remote PED mode or cancelled the session key. */
static void ped_bye(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct ped_relay_msg m;
	(void)l;
	(void)type;
	int err = ped_relay_decode(p, len, &m) == PED_OK ? ped_err_from_code(m.code) : PED_E_GENERAL;
	end_session(err == PED_OK ? PED_E_PED_UNPLUGGED : err, "the PED ended the session");
}

static void ped_unknown(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	(void)l;
	(void)p;
	(void)len;
	ped_warn("unexpected %s frame from the PED: ignored", ped_relay_type_name(type));
}

static void ped_ended(struct ped_leg *l, int err)
{
	(void)l;
	ped_gone(err == PED_E_CLOSED ? "end of stream" : ped_strerror(err));
}

static const struct ped_leg_dispatch ped_table = {
	.on = {[PED_LINK_KAS] = ped_data, [PED_LINK_RECORD] = ped_data, [PED_RELAY_PING] = ped_ping,
	       [PED_RELAY_PONG] = ped_ping, [PED_RELAY_STATUS] = ped_status, [PED_RELAY_BYE] = ped_bye},
	.unknown = ped_unknown,
	.gone = ped_ended,
};

/* ---- the client: channel frames to the PED, pings, its goodbye ----------- */

static void client_data(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	l->last_data = ped_now_ms();
	if (ped_leg_send(&S.ped.leg, type, p, len, wtimeout()) != PED_OK)
		ped_gone("write to the PED failed");
}

static void client_keepalive(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	if (ped_leg_keepalive_frame(l, type, p, len, wtimeout()) != PED_OK) {
		/* a channel frame whose type byte was damaged into PING or PONG */
		ped_warn("malformed %s frame from client %s: ending the session", ped_relay_type_name(type), l->peer);
		end_session(PED_E_FRAME_TYPE, "malformed frame from the client");
	}
}

static void client_bye(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	(void)l;
	(void)type;
	(void)p;
	(void)len;
	end_session(PED_OK, "the client ended it");
}

/* Dropping it would leave both ends of the channel waiting for a message
 * that never comes (the HSM for its whole PED timeout): a frame the session
 * has no use for means the link is not to be trusted. */
static void client_unknown(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	(void)p;
	(void)len;
	ped_warn("unexpected %s frame from client %s: ending the session", ped_relay_type_name(type), l->peer);
	end_session(PED_E_FRAME_TYPE, "unexpected frame from the client");
}

static void client_ended(struct ped_leg *l, int err)
{
	(void)l;
	end_session(PED_E_SOCKET, err == PED_E_CLOSED ? "end of stream" : ped_strerror(err));
}

static const struct ped_leg_dispatch client_table = {
	.on = {[PED_LINK_KAS] = client_data, [PED_LINK_RECORD] = client_data, [PED_RELAY_PING] = client_keepalive,
	       [PED_RELAY_PONG] = client_keepalive, [PED_RELAY_BYE] = client_bye},
	.unknown = client_unknown,
	.gone = client_ended,
};

/* ---- a new stream: its greeting says who it is --------------------------- */

static void greet_ped(struct conn *c, const struct ped_relay_msg *h)
{
	if (!c->local) {
		/* A PED on the network port could take the PED's place for the
		 * next HSM that connects, and see its keying. */
		ped_warn("refused %s: a PED attaches on the PED port or USB, not the network", c->leg.peer);
		refuse(c, PED_E_INVALID);
		return;
	}
	if (conn_open(&S.ped)) {
		ped_warn("refused a second PED %s from %s: PED %s is attached", h->id, c->leg.peer, S.ped.hello.id);
		refuse(c, PED_E_BUSY);
		return;
	}
	ped_info("PED %s (firmware %s) attached", h->id, h->version);
	adopt(&S.ped, c, &ped_table);
}

static void greet_client(struct conn *c, const struct ped_relay_msg *h)
{
	/* A client that just hung up may not have been read yet: read it now. */
	if (conn_open(&S.client)) {
		struct pollfd pf = {.fd = S.client.leg.fd, .events = POLLIN};
		if (poll(&pf, 1, 0) > 0)
			ped_leg_read(&S.client.leg);
	}
	/* after that read, which may have cost the PED (a failed write to it) */
	if (!conn_open(&S.ped)) {
		ped_warn("refused client %s (HSM %s): no PED attached", c->leg.peer, h->id);
		refuse(c, PED_E_PED_UNPLUGGED);
		return;
	}
	if (conn_open(&S.client)) {
		ped_warn("refused client %s (HSM %s): serving %s (HSM %s)", c->leg.peer, h->id, S.client.leg.peer,
			 S.client.hello.id);
		refuse(c, PED_E_BUSY);
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
	snprintf(o.host, sizeof(o.host), "%.64s", c->leg.peer);
	if (ped_leg_send_msg(&c->leg, PED_RELAY_WELCOME, &w, wtimeout()) != PED_OK) {
		ped_warn("client %s went away before its session began", c->leg.peer);
		pending_drop(c);
		return;
	}
	adopt(&S.client, c, &client_table);
	uint64_t now = ped_now_ms();
	S.client.leg.since = now;
	ped_leg_session_start(&S.client.leg, now);
	schedule(); /* pings and the idle timeout */
	ped_info("client %s (HSM %s) connected; PED %s serves it", S.client.leg.peer, h->id, S.ped.hello.id);
	if (ped_leg_send_msg(&S.ped.leg, PED_RELAY_OPEN, &o, wtimeout()) != PED_OK)
		ped_gone("write to the PED failed");
}

static void pending_hello(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct conn *c = l->ctx;
	struct ped_relay_msg h;
	if (ped_relay_decode(p, len, &h) != PED_OK) {
		ped_warn("malformed greeting from %s (%s frame): closing", l->peer, ped_relay_type_name(type));
		pending_drop(c);
		return;
	}
	c->hello = h;
	if (h.role == PED_RELAY_ROLE_PED) {
		greet_ped(c, &h);
	} else if (h.role != PED_RELAY_ROLE_CLIENT) {
		ped_warn("refused %s: not a pedclient (role %u)", l->peer, h.role);
		refuse(c, PED_E_INVALID);
	} else if (h.purpose == PED_RELAY_QUERY) {
		ped_info("status query from %s", l->peer);
		status_reply(c);
		pending_drop(c);
	} else {
		greet_client(c, &h);
	}
}

static void pending_unknown(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	(void)p;
	(void)len;
	ped_warn("malformed greeting from %s (%s frame): closing", l->peer, ped_relay_type_name(type));
	pending_drop(l->ctx);
}

/* A PED-initiated link is confirmed by the appliance's first PING. */
static void pending_ping(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	struct conn *c = l->ctx;
	if (!c->outbound) {
		pending_unknown(l, type, p, len);
		return;
	}
	struct outbound *o = &S.out[c->outbound - 1];
	if (o->state != OUT_CONNECTED) {
		o->state = OUT_CONNECTED;
		o->refused = 0;
		o->why[0] = '\0';
		ped_info("connected to appliance %s over TLS", o->name);
	}
	if (type == PED_RELAY_PING)
		(void)ped_leg_send_code(l, PED_RELAY_PONG, 0, wtimeout());
}

static void pending_ended(struct ped_leg *l, int err)
{
	if (err != PED_E_CLOSED)
		ped_warn("malformed input from %s: %s", l->peer, ped_strerror(err));
	pending_drop(l->ctx);
}

static const struct ped_leg_dispatch pending_table = {
	.on = {[PED_RELAY_HELLO] = pending_hello, [PED_RELAY_PING] = pending_ping, [PED_RELAY_PONG] = pending_ping},
	.unknown = pending_unknown,
	.gone = pending_ended,
};

/* A new stream waits for its greeting: a PED, a pedclient, or a query. */
static struct conn *add_pending(int fd, const char *peer, int local)
{
	struct conn *c = NULL, *oldest = NULL;
	for (int i = 0; i < MAX_PENDING && !c; i++) {
		struct conn *p = &S.pending[i];
		if (!conn_open(p))
			c = p;
		else if (!p->local && !p->outbound && (!oldest || p->leg.since < oldest->leg.since))
			oldest = p;
	}
	/* Full: the network peer that has waited longest to greet makes room,
	 * so idle connections from the network (the server port is open to
	 * all by default) cannot lock out the PED or a pedclient that greets. */
	if (!c && oldest) {
		ped_trace("%s has not greeted in %llu ms: dropped for %s", oldest->leg.peer,
			  (unsigned long long)(ped_now_ms() - oldest->leg.since), peer);
		conn_close(oldest);
		c = oldest;
	}
	if (!c) {
		ped_warn("refused %s: too many connections waiting to greet", peer);
		close(fd);
		return NULL;
	}
	conn_init(c);
	c->local = local;
	ped_trace("connection from %s", peer);
	ped_leg_open(&c->leg, fd, peer, S.loop, &pending_table, c);
	schedule(); /* its greeting timeout */
	return c;
}

static void on_server_port(int fd, const char *peer, void *arg)
{
	(void)arg;
	add_pending(fd, peer, 0);
}

static void on_ped_port(int fd, const char *peer, void *arg)
{
	(void)peer;
	(void)arg;
	add_pending(fd, "local PED port", 1);
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
	uint64_t cur = conn_open(&S.client) ? now - S.client.leg.since : 0;
	uint64_t cur_idle = conn_open(&S.client) ? now - S.client.leg.last_data : 0;
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
		fprintf(o, "  Ped2 Attached On:         %s\n", S.ped.leg.peer);
	unsigned count = 0;
	for (const char *p = S.rpks; *p; p++)
		if (p == S.rpks || p[-1] == ',')
			count++;
	fprintf(o, "  Ped2 RPK Count            %u\n", count);
	fprintf(o, "  Ped2 RPK Serial Numbers   (%s)\n", count ? S.rpks : "none");
	fprintf(o, "\n");
	if (conn_open(&S.client)) {
		fprintf(o, "Client Information:\n");
		fprintf(o, "  Client Address:           %s\n", S.client.leg.peer);
		fprintf(o, "  HSM Serial Number:        %s\n", S.client.hello.id);
		fprintf(o, "  Client Software:          %s\n", S.client.hello.version);
	} else {
		fprintf(o, "Client Information:         Not Available\n");
	}
	fprintf(o, "\n");
	fprintf(o, "Operating Information:\n");
	fprintf(o, "  Server Port:              %u\n", S.srv_port);
	fprintf(o, "  External Server Interface: %s\n", yes_no(S.srv_external));
	fprintf(o, "  Admin Port:               %u\n", S.rt.adm_port);
	fprintf(o, "  External Admin Interface: %s\n", yes_no(S.s->d.eadmin));
	fprintf(o, "\n");
	fprintf(o, "  Server Up Time:           %llu (secs)\n", (unsigned long long)up);
	fprintf(o, "  Server Idle Time:         %llu (secs) (%u%%)\n", (unsigned long long)idle,
		up ? (unsigned)(idle * 100 / up) : (conn_open(&S.client) ? 0 : 100));
	fprintf(o, "  Idle Timeout Value:       %d (secs)\n", S.s->d.idle_timeout_s);
	fprintf(o, "\n");
	fprintf(o, "  Current Connection Time:   %llu (secs)\n", (unsigned long long)(cur / 1000));
	fprintf(o, "  Current Connection Idle Time: %llu (secs)\n", (unsigned long long)(cur_idle / 1000));
	fprintf(o, "  Current Connection Total Idle Time: %llu (secs) (%u%%)\n",
		(unsigned long long)(cur_idle / 1000), pct(cur_idle, cur));
	fprintf(o, "  Total Connection Time:     %llu (secs)\n", (unsigned long long)(total / 1000));
	fprintf(o, "  Total Connection Idle Time: %llu (secs) (%u%%)\n", (unsigned long long)(total_idle / 1000),
		pct(total_idle, total));
}

/* -mode show -json: the same facts as show(), for scripts; times in
 * seconds, the RPK serials as a list. */
static void show_json(FILE *o)
{
	uint64_t now = ped_now_ms();
	char host[256] = "";
	int n = 0, m;
	gethostname(host, sizeof(host) - 1);
	uint64_t up = (now - S.started) / 1000;
	uint64_t idle = conn_open(&S.client) ? 0 : (now - S.idle_since) / 1000;
	uint64_t cur = conn_open(&S.client) ? now - S.client.leg.since : 0;
	uint64_t cur_idle = conn_open(&S.client) ? now - S.client.leg.last_data : 0;

	fputc('{', o);
	ped_json_str(o, &n, "hostname", host);
	ped_json_str(o, &n, "ip", S.s->ip[0] ? S.s->ip : S.s->eserver ? "0.0.0.0" : "127.0.0.1");
	ped_json_str(o, &n, "software_version", PEDSERVER_SOFTWARE_VERSION);
	ped_json_str(o, &n, "protocol_version", PEDSERVER_PROTOCOL_VERSION);
	ped_json_key(o, &n, "ped");
	m = 0;
	fputc('{', o);
	ped_json_bool(o, &m, "connected", conn_open(&S.ped));
	if (conn_open(&S.ped)) {
		ped_json_str(o, &m, "serial", S.ped.hello.id);
		ped_json_str(o, &m, "firmware_version", S.ped.hello.version);
		ped_json_str(o, &m, "attached_on", S.ped.leg.peer);
	}
	ped_json_key(o, &m, "rpk_serials");
	fputc('[', o);
	for (const char *p = S.rpks; *p;) {
		char serial[PED_RELAY_INFO_MAX + 1];
		size_t len = strcspn(p, ",");
		snprintf(serial, sizeof(serial), "%.*s", (int)len, p);
		if (p != S.rpks)
			fputc(',', o);
		ped_json_string(o, serial);
		p += len + (p[len] == ',');
	}
	fputs("]}", o);
	ped_json_key(o, &n, "client");
	if (conn_open(&S.client)) {
		m = 0;
		fputc('{', o);
		ped_json_str(o, &m, "address", S.client.leg.peer);
		ped_json_str(o, &m, "hsm_serial", S.client.hello.id);
		ped_json_str(o, &m, "software", S.client.hello.version);
		ped_json_num(o, &m, "connection_secs", (long long)(cur / 1000));
		ped_json_num(o, &m, "idle_secs", (long long)(cur_idle / 1000));
		fputc('}', o);
	} else {
		fputs("null", o);
	}
	ped_json_num(o, &n, "server_port", S.srv_port);
	ped_json_bool(o, &n, "external_server", S.srv_external);
	ped_json_num(o, &n, "admin_port", S.rt.adm_port);
	ped_json_bool(o, &n, "external_admin", S.s->d.eadmin);
	ped_json_num(o, &n, "up_secs", (long long)up);
	ped_json_num(o, &n, "idle_secs", (long long)idle);
	ped_json_num(o, &n, "idle_timeout_secs", S.s->d.idle_timeout_s);
	ped_json_num(o, &n, "total_connection_secs", (long long)((S.total_conn_ms + cur) / 1000));
	ped_json_num(o, &n, "total_connection_idle_secs", (long long)((S.total_conn_idle_ms + cur_idle) / 1000));
	fputs("}\n", o);
}

/* ---- PED-initiated mode ---------------------------------------------------- */

static void dial_run(struct ped_work *w)
{
	struct dial_job *j = (struct dial_job *)w;
	for (int i = 0; i < DIAL_ATTEMPTS && j->fd < 0; i++) {
		int fd, plain;
		char cn[80];
		if (i || j->pause_first)
			usleep(DIAL_PAUSE_MS * 1000);
		if (ped_tcp_connect(j->ip, (uint16_t)j->port, 2000, &fd) != PED_OK) {
			snprintf(j->why, sizeof(j->why), "cannot reach %s:%d: %s", j->ip, j->port, strerror(errno));
			continue;
		}
		if (ped_tls_proxy(j->ctx, fd, 0, j->timeout_ms, &plain, cn, sizeof(cn), j->why, sizeof(j->why)) == PED_OK)
			j->fd = plain;
	}
	SSL_CTX_free(j->ctx);
	j->ctx = NULL;
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

	if ((r = ped_config_load(&cfg, S.s->d.config_path, none, err, sizeof(err))) != PED_OK) {
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
	*j = (struct dial_job){.work = {.run = dial_run, .done = dial_done, .drop = dial_drop},
			       .idx = idx,
			       .port = port,
			       .timeout_ms = ped_ms(S.s->d.read_timeout_s),
			       .pause_first = S.out[idx].refused > 0,
			       .ctx = ctx,
			       .fd = -1};
	snprintf(j->ip, sizeof(j->ip), "%s", ip);
	if (ped_work_start(&S.rt.workers, &j->work) != PED_OK) {
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

static void dial_drop(struct ped_work *w)
{
	struct dial_job *j = (struct dial_job *)w;
	if (j->fd >= 0)
		close(j->fd);
	SSL_CTX_free(j->ctx);
	free(j);
}

static void dial_done(struct ped_work *w)
{
	struct dial_job *res = (struct dial_job *)w;
	struct outbound *o = &S.out[res->idx];
	char peer[96];
	int fd = res->fd, idx = res->idx;

	if (fd < 0) {
		o->state = OUT_FAILED;
		snprintf(o->why, sizeof(o->why), "%s", res->why);
		ped_warn("appliance %s: gave up after %d attempts: %s", o->name, DIAL_ATTEMPTS, res->why);
		free(res);
		return;
	}
	free(res);
	struct conn *c = NULL;
	for (int i = 0; i < MAX_PENDING && !c; i++)
		if (!conn_open(&S.pending[i]))
			c = &S.pending[i];
	if (!o->wanted || !c) {
		close(fd);
		return;
	}
	conn_init(c);
	c->outbound = idx + 1;
	snprintf(peer, sizeof(peer), "appliance %s", o->name);
	ped_leg_open(&c->leg, fd, peer, S.loop, &pending_table, c);
	/* Announce ourselves; the appliance's pedclient keeps the link for its HSMs. */
	struct ped_relay_msg h;
	memset(&h, 0, sizeof(h));
	h.role = PED_RELAY_ROLE_SERVER;
	h.purpose = PED_RELAY_SESSION;
	if (conn_open(&S.ped))
		snprintf(h.id, sizeof(h.id), "%s", S.ped.hello.id);
	snprintf(h.version, sizeof(h.version), "%s", PEDSERVER_SOFTWARE_VERSION);
	gethostname(h.info, sizeof(h.info) - 1);
	if (ped_leg_send_msg(&c->leg, PED_RELAY_HELLO, &h, wtimeout()) != PED_OK) {
		conn_close(c);
		redial(idx);
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

static int on_admin_request(void *arg, const char *line, int trusted, FILE *out)
{
	(void)arg;
	(void)trusted;
	if (!strcasecmp(line, "show")) {
		show(out);
		return PED_OK;
	}
	if (!strcasecmp(line, "show json")) {
		show_json(out);
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
			ped_deadline_min(&due, S.pending[i].leg.since + (uint64_t)ped_ms(S.s->d.read_timeout_s) + 1);
	if (conn_open(&S.client))
		ped_leg_deadline(&S.client.leg, &S.keepalive, &due);
	ped_timer_at(S.loop, &S.tick, due);
}

static void check_timeouts(uint64_t now)
{
	for (int i = 0; i < MAX_PENDING; i++) {
		struct conn *c = &S.pending[i];
		if (conn_open(c) && !c->outbound && now - c->leg.since > (uint64_t)ped_ms(S.s->d.read_timeout_s)) {
			ped_warn("%s sent no greeting in %d s: closing", c->leg.peer, S.s->d.read_timeout_s);
			conn_close(c);
		}
	}
	if (!conn_open(&S.client))
		return;
	switch (ped_leg_keepalive(&S.client.leg, &S.keepalive, now)) {
	case PED_LEG_PING_TIMEOUT: end_session(PED_E_TIMED_OUT, "ping timeout"); break;
	case PED_LEG_IDLE_TIMEOUT: end_session(PED_E_TIMED_OUT, "idle timeout"); break;
	case PED_LEG_PING_FAILED: end_session(PED_E_SOCKET, "write to the client failed"); break;
	case PED_LEG_ALIVE: break;
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

int server_run(const struct server_settings *s)
{
	const char *srv_ip = s->ip[0] ? s->ip : s->eserver ? "0.0.0.0" : "127.0.0.1";

	memset(&S, 0, sizeof(S));
	S.s = s;
	S.keepalive = (struct ped_leg_policy){ped_ms(s->d.ping_interval_s), ped_ms(s->d.ping_timeout_s),
					      ped_ms(s->d.idle_timeout_s), ped_ms(s->d.write_timeout_s)};
	S.srv_fd = S.dev_fd = -1;
	conn_init(&S.ped);
	conn_init(&S.client);
	for (int i = 0; i < MAX_PENDING; i++)
		conn_init(&S.pending[i]);

	ped_runtime_begin(&S.rt, "pedserver", &s->d);
	ped_runtime_tcp_listen(&S.rt, srv_ip, s->port, &S.srv_fd, &S.srv_port, "server port");
	S.srv_external = bound_beyond_loopback(S.srv_fd);
	/* Making pedserver dial an appliance is more than the denial of service
	 * the admin port was documented to allow: any local user could point
	 * the PED at a registered appliance of their choosing. */
	static const char *const changes[] = {"connect ", "disconnect ", NULL};
	ped_runtime_admin(&S.rt, on_admin_request, NULL, changes);
	ped_runtime_unix_listen(&S.rt, s->ped_socket, 0600, &S.dev_fd, "the PED port");
	S.loop = S.rt.loop;
	ped_runtime_serve(&S.rt, S.srv_fd, on_server_port, NULL);
	ped_runtime_serve(&S.rt, S.dev_fd, on_ped_port, NULL);
	ped_timer_init(&S.tick, on_tick, NULL);
	usb_ped_start(S.loop, &s->usb, on_usb_ped);
	S.started = S.idle_since = ped_now_ms();
	ped_info("serving on %s:%u, admin %s:%u and %s, PED port %s", srv_ip, S.srv_port, S.rt.adm_ip, S.rt.adm_port,
		 S.rt.adm_upath, s->ped_socket);
	ped_runtime_run(&S.rt);

	S.stopping = 1;
	S.stop_by = ped_now_ms() + (uint64_t)ped_ms(s->d.shutdown_timeout_s);
	end_session(PED_E_PED_UNPLUGGED, "pedserver is stopping");
	bye(&S.ped, PED_OK);
	conn_close(&S.ped);
	for (int i = 0; i < MAX_PENDING; i++)
		conn_close(&S.pending[i]);
	ped_timer_stop(S.loop, &S.tick);
	usb_ped_stop();
	ped_runtime_end(&S.rt);
	return 0;
}
