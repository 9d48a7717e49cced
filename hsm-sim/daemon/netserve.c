/* hsm-sim's TLS listener and its registry of clients (netserve.h). */
#include "netserve.h"

#include "ped/cert.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/hsgate.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/thread.h"
#include "ped/tls.h"
#include "ped/tlsnet.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A flood of half-open handshakes costs a thread each: beyond
 * PED_HSGATE_MAX waiting at once the oldest is cut (ped/hsgate.h), so
 * connections that never finish their handshake keep no registered client
 * out; beyond twice that many threads, a connection is closed at once. */

struct net_paths {
	char dir[1100], clients[1200], cert[1200], key[1200];
};

static struct {
	struct session_server *srv;
	struct net_paths p;
	int listen_fd;
	int timeout_ms;
	atomic_int handshakes;
	struct ped_hsgate gate;
} net = {.listen_fd = -1};

static void paths(const char *state_dir, struct net_paths *p)
{
	snprintf(p->dir, sizeof(p->dir), "%s/network", state_dir);
	snprintf(p->clients, sizeof(p->clients), "%s/clients", p->dir);
	snprintf(p->cert, sizeof(p->cert), "%s/server.pem", p->dir);
	snprintf(p->key, sizeof(p->key), "%s/server.key", p->dir);
}

/* The server's certificate and key, made the first time: a key that
 * exists is never replaced (clients have pinned its certificate). */
static int ensure_identity(const struct net_paths *p, char *err, size_t errlen)
{
	char cn[128], host[64] = "hsm-sim";
	int r;

	if ((r = ped_dir_private(p->dir, PED_DIR_SECRET, err, errlen)) != PED_OK)
		return r;
	if ((r = ped_dir_private(p->clients, PED_DIR_NOWRITE, err, errlen)) != PED_OK)
		return r;
	if (access(p->cert, F_OK) == 0 && access(p->key, F_OK) == 0)
		return ped_tls_key_private(p->key, err, errlen);
	(void)gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(cn, sizeof(cn), "hsm-sim %s", host);
	if ((r = ped_tls_make_cert(cn, 3650, p->cert, p->key)) != PED_OK) {
		snprintf(err, errlen, "cannot make the server certificate %s: %s", p->cert, ped_strerror(r));
		return r;
	}
	ped_info("made the server certificate %s", p->cert);
	return PED_OK;
}

int netserve_admin(const char *state_dir, const char *verb, const char *name, const char *cert, FILE *out,
		   char *err, size_t errlen)
{
	struct net_paths p;
	X509 *c = NULL;
	int r;

	paths(state_dir, &p);
	if ((r = ensure_identity(&p, err, errlen)) != PED_OK)
		return r;
	if (!strcmp(verb, "register")) {
		if (!cert) {
			snprintf(err, errlen, "-client register needs -name NAME -cert FILE");
			return PED_E_INVALID;
		}
		return ped_tls_registry_add(p.clients, name, cert, out, err, errlen);
	}
	if (!strcmp(verb, "server")) {
		if ((r = ped_tls_read_cert(p.cert, &c, err, errlen)) == PED_OK) {
			ped_tls_print_cert(out, "server", c);
			fprintf(out, "certificate: %s\n", p.cert);
		}
		X509_free(c);
		return r;
	}
	if (!strcmp(verb, "remove")) {
		if (!name || !ped_tls_name_ok(name)) {
			snprintf(err, errlen, "-client remove needs -name NAME");
			return PED_E_INVALID;
		}
		return ped_tls_registry_remove(p.clients, name, out, err, errlen);
	}
	if (!strcmp(verb, "list"))
		return ped_tls_registry_list(p.clients, out);
	snprintf(err, errlen, "-client takes register, list, remove or server, not '%s'", verb);
	return PED_E_INVALID;
}

struct handshake {
	int fd, slot;
	char peer[96];
};

static void *handshake_thread(void *arg)
{
	struct handshake *h = arg;
	struct ped_tls_pins pins = {0};
	SSL_CTX *ctx = NULL;
	char why[320], name[PED_TLS_NAME_MAX + 1];
	int plain = -1, r;

	(void)ped_tls_pins_load_dir(&pins, net.p.clients);
	if ((r = ped_tls_pinned_context(1, net.p.cert, net.p.key, &pins, &ctx, why, sizeof(why))) != PED_OK) {
		ped_error("network client %s: %s", h->peer, why);
		close(h->fd);
		goto out;
	}
	r = ped_tls_accept(ctx, &pins, h->fd, net.timeout_ms, &plain, name, sizeof(name), why, sizeof(why));
	if (r != PED_OK) {
		ped_warn("network client %s refused: %s", h->peer, why);
		goto out;
	}
	ped_info("network client %s connected from %s", name, h->peer);
	session_start_network(net.srv, plain);
out:
	ped_hsgate_leave(&net.gate, h->slot);
	if (ctx)
		SSL_CTX_set_app_data(ctx, NULL); /* pins go; each session's SSL keeps the context */
	SSL_CTX_free(ctx);
	ped_tls_pins_free(&pins);
	free(h);
	ERR_clear_error();
	atomic_fetch_sub(&net.handshakes, 1);
	return NULL;
}

static void on_accept(struct ped_evloop *loop, int fd, unsigned ev, void *arg)
{
	int cfd;
	(void)loop;
	(void)ev;
	(void)arg;
	while (ped_accept(fd, &cfd) == PED_OK) {
		struct handshake *h = calloc(1, sizeof(*h));
		char peer[96], cut[96];
		int slot;
		ped_sock_peer_name(cfd, peer, sizeof(peer));
		if (!h || (slot = ped_hsgate_enter(&net.gate, cfd, peer, cut, sizeof(cut))) < 0) {
			ped_warn("network client %s refused: %d handshakes in progress already", peer,
				 PED_HSGATE_MAX);
			free(h);
			close(cfd);
			continue;
		}
		if (cut[0])
			ped_warn("network client %s: handshake cut short, the longest of %d waiting (for %s)", cut,
				 PED_HSGATE_MAX, peer);
		atomic_fetch_add(&net.handshakes, 1);
		h->fd = cfd;
		h->slot = slot;
		snprintf(h->peer, sizeof(h->peer), "%s", peer);
		if (ped_thread_spawn(handshake_thread, h) != PED_OK) {
			ped_error("cannot start a thread for network client %s", peer);
			ped_hsgate_leave(&net.gate, slot);
			atomic_fetch_sub(&net.handshakes, 1);
			close(cfd);
			free(h);
		}
	}
}

int netserve_start(struct ped_evloop *loop, struct session_server *srv, const char *state_dir, const char *addr,
		   uint16_t port, int timeout_ms, uint16_t *bound, char *err, size_t errlen)
{
	X509 *c = NULL;
	char fpr[20] = "?";
	int r;

	net.srv = srv;
	net.timeout_ms = timeout_ms;
	ped_hsgate_init(&net.gate);
	paths(state_dir, &net.p);
	if ((r = ensure_identity(&net.p, err, errlen)) != PED_OK)
		return r;
	if ((r = ped_tcp_listen(addr && *addr ? addr : NULL, port, &net.listen_fd, bound)) != PED_OK) {
		snprintf(err, errlen, "cannot listen on %s port %u: %s", addr && *addr ? addr : "*", (unsigned)port,
			 strerror(errno));
		return r;
	}
	ped_set_nonblock(net.listen_fd, 1);
	ped_evloop_add_fd(loop, net.listen_fd, PED_EV_READ, on_accept, NULL);
	if (ped_tls_read_cert(net.p.cert, &c, err, errlen) == PED_OK)
		(void)ped_tls_fingerprint(c, fpr);
	X509_free(c);
	ped_info("serving TLS on %s port %u (server certificate %s, %s)", addr && *addr ? addr : "*",
		 (unsigned)*bound, net.p.cert, fpr);
	return PED_OK;
}

int netserve_stop(struct ped_evloop *loop)
{
	if (net.listen_fd >= 0) {
		ped_evloop_del_fd(loop, net.listen_fd);
		close(net.listen_fd);
		net.listen_fd = -1;
	}
	/* A session's TLS thread ends when its client goes, which may be never:
	 * no point waiting for it, only in knowing it is there. */
	return atomic_load(&net.handshakes) + ped_tls_proxies_live();
}
