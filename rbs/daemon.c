/* rbs --daemon: the TLS listener for registered clients, and for each of
 * them a session on this host's hsm-sim narrowed to the Backup HSMs served
 * (HSM_CTL_RESTRICT), bytes relayed both ways. rbs parses no command: what
 * a client may do there, hsm-sim decides (docs/security.md). */
#include "rbs.h"

#include "ped/daemon.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/fileio.h"
#include "ped/hsgate.h"
#include "ped/link.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/pidfile.h"
#include "ped/thread.h"
#include "ped/tls.h"
#include "ped/tlsnet.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Half-open handshakes cost a thread each: beyond PED_HSGATE_MAX waiting
 * the oldest is cut (ped/hsgate.h); beyond twice that many threads a
 * connection is closed at once (and logged). */
/* Sessions relayed at once. */
#define RBS_SESSIONS_MAX 64
#define RELAY_CHUNK 16384

static struct {
	const struct rbs_daemon_conf *dc;
	EVP_PKEY *key;
	int listen_fd;
	atomic_int handshakes;
	struct ped_hsgate gate;
	pthread_mutex_t mu;
	int stopping;                    /* under mu */
	int fds[RBS_SESSIONS_MAX][2];    /* under mu: each session's two ends */
	int nsessions;                   /* under mu */
	pthread_cond_t gone;             /* a session ended */
} rbs = {.listen_fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER, .gone = PTHREAD_COND_INITIALIZER};

struct conn {
	int fd, slot;
	char peer[96];
};

/* A session's two ends join the list shutdown closes; -1 when stopping or
 * full. */
static int session_add(int a, int b)
{
	int slot = -1;
	pthread_mutex_lock(&rbs.mu);
	if (!rbs.stopping)
		for (int i = 0; i < RBS_SESSIONS_MAX; i++)
			if (rbs.fds[i][0] < 0) {
				rbs.fds[i][0] = a;
				rbs.fds[i][1] = b;
				rbs.nsessions++;
				slot = i;
				break;
			}
	pthread_mutex_unlock(&rbs.mu);
	return slot;
}

static void session_del(int slot)
{
	pthread_mutex_lock(&rbs.mu);
	rbs.fds[slot][0] = rbs.fds[slot][1] = -1;
	rbs.nsessions--;
	pthread_cond_broadcast(&rbs.gone);
	pthread_mutex_unlock(&rbs.mu);
}

/* Everything len bytes of buf, within the session's idle timeout. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t k = write(fd, buf, len);
		if (k > 0) {
			buf += k;
			len -= (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pf = {.fd = fd, .events = POLLOUT};
			int t = rbs.dc->idle_timeout_ms > 0 ? rbs.dc->idle_timeout_ms : -1;
			if (poll(&pf, 1, t) <= 0)
				return PED_E_TIMED_OUT;
			continue;
		}
		return PED_E_IO;
	}
	return PED_OK;
}

/* Bytes both ways until either side ends, or nothing moves for the idle
 * timeout. */
static void relay(int client, int hsm, const char *name)
{
	uint8_t *buf = OPENSSL_malloc(RELAY_CHUNK);
	const char *why = "the client left";

	if (!buf)
		return;
	for (;;) {
		struct pollfd pf[2] = {{.fd = client, .events = POLLIN}, {.fd = hsm, .events = POLLIN}};
		int n = poll(pf, 2, rbs.dc->idle_timeout_ms > 0 ? rbs.dc->idle_timeout_ms : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			why = "idle timeout";
			break;
		}
		if (n < 0) {
			why = strerror(errno);
			break;
		}
		int ended = 0;
		for (int i = 0; i < 2 && !ended; i++) {
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t k = read(pf[i].fd, buf, RELAY_CHUNK);
			if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
				continue;
			if (k <= 0) {
				why = i ? "hsm-sim ended the session" : "the client left";
				ended = 1;
			} else if (write_all(pf[1 - i].fd, buf, (size_t)k) != PED_OK) {
				why = i ? "the client does not read" : "hsm-sim does not read";
				ended = 1;
			}
		}
		if (ended)
			break;
	}
	OPENSSL_clear_free(buf, RELAY_CHUNK); /* it carried the session's bytes */
	ped_info("client %s: session ended (%s)", name, why);
}

/* hsm-sim's control socket, the session narrowed to the Backup HSMs
 * served before the client says a word. */
static int open_hsm_session(const char *name, int *fd)
{
	struct hsm_ctl_restrict served;
	uint8_t msg[HSM_CTL_RESTRICT_LEN_MAX];
	char err[1400];
	size_t len;
	int r;

	*fd = -1;
	/* read again at each connection: rbs --config takes effect without a restart */
	if ((r = rbs_conf_load(rbs.dc->paths->conf, &served, err, sizeof(err))) != PED_OK) {
		ped_error("client %s: %s", name, err);
		return r;
	}
	if (served.n == 0) {
		ped_warn("client %s: no Backup HSM is served (rbs --config): session closed", name);
		return PED_E_NOT_FOUND;
	}
	if ((r = hsm_ctl_restrict_encode(&served, msg, sizeof(msg), &len)) != PED_OK)
		return r;
	if ((r = ped_unix_connect(rbs.dc->hsm_socket, fd)) != PED_OK) {
		ped_error("client %s: cannot reach hsm-sim at %s: %s", name, rbs.dc->hsm_socket, strerror(errno));
		return r;
	}
	if ((r = ped_frame_send(*fd, HSM_CTL_RESTRICT, msg, len, rbs.dc->handshake_timeout_ms)) != PED_OK) {
		ped_error("client %s: hsm-sim took no restriction: %s", name, ped_strerror(r));
		close(*fd);
		*fd = -1;
		return r;
	}
	(void)ped_set_nonblock(*fd, 1);
	ped_info("client %s: session on %s, narrowed to %zu Backup HSM(s)", name, rbs.dc->hsm_socket, served.n);
	return PED_OK;
}

static void *conn_thread(void *arg)
{
	struct conn *h = arg;
	struct ped_tls_pins pins = {0};
	SSL_CTX *ctx = NULL;
	char why[320], name[PED_TLS_NAME_MAX + 1];
	int plain = -1, hsm = -1, slot = -1, r;

	/* the registry is read at each connection: a client registered counts
	 * from its next one; one removed also loses the links it has open
	 * (ped_tls_proxy_start_watched) */
	(void)ped_tls_pins_load_dir(&pins, rbs.dc->paths->clients);
	if ((r = ped_tls_pinned_context_pkey(1, rbs.dc->paths->cert, rbs.key, &pins, &ctx, why, sizeof(why))) !=
	    PED_OK) {
		ped_error("client %s: %s", h->peer, why);
		close(h->fd);
		ped_hsgate_leave(&rbs.gate, h->slot);
		atomic_fetch_sub(&rbs.handshakes, 1);
		goto out;
	}
	r = ped_tls_accept(ctx, &pins, h->fd, rbs.dc->handshake_timeout_ms, &plain, name, sizeof(name), why,
			   sizeof(why));
	ped_hsgate_leave(&rbs.gate, h->slot);
	atomic_fetch_sub(&rbs.handshakes, 1);
	if (r != PED_OK) {
		ped_warn("client %s refused: %s", h->peer, why);
		goto out;
	}
	ped_info("client %s connected from %s", name, h->peer);
	if (open_hsm_session(name, &hsm) != PED_OK)
		goto out;
	(void)ped_set_nonblock(plain, 1);
	if ((slot = session_add(plain, hsm)) < 0) {
		ped_warn("client %s: %s: closed", name, rbs.stopping ? "stopping" : "too many sessions");
		goto out;
	}
	relay(plain, hsm, name);
	session_del(slot);
out:
	if (hsm >= 0)
		close(hsm);
	if (plain >= 0)
		ped_tls_proxy_close(plain, 2000); /* the TLS thread ends with it */
	if (ctx)
		SSL_CTX_set_app_data(ctx, NULL); /* pins go; the session's SSL keeps the context */
	SSL_CTX_free(ctx);
	ped_tls_pins_free(&pins);
	free(h);
	ERR_clear_error();
	return NULL;
}

static void on_accept(struct ped_evloop *loop, int fd, unsigned ev, void *arg)
{
	int cfd;
	(void)loop;
	(void)ev;
	(void)arg;
	while (ped_accept(fd, &cfd) == PED_OK) {
		struct conn *h = calloc(1, sizeof(*h));
		char peer[96], cut[96];
		int slot;
		ped_sock_peer_name(cfd, peer, sizeof(peer));
		if (!h || (slot = ped_hsgate_enter(&rbs.gate, cfd, peer, cut, sizeof(cut))) < 0) {
			ped_warn("client %s refused: %d handshakes in progress already", peer, PED_HSGATE_MAX);
			free(h);
			close(cfd);
			continue;
		}
		if (cut[0])
			ped_warn("client %s: handshake cut short, the longest of %d waiting (for %s)", cut,
				 PED_HSGATE_MAX, peer);
		atomic_fetch_add(&rbs.handshakes, 1);
		h->fd = cfd;
		h->slot = slot;
		snprintf(h->peer, sizeof(h->peer), "%s", peer);
		if (ped_thread_spawn(conn_thread, h) != PED_OK) {
			ped_error("cannot start a thread for client %s", peer);
			ped_hsgate_leave(&rbs.gate, slot);
			atomic_fetch_sub(&rbs.handshakes, 1);
			close(cfd);
			free(h);
		}
	}
}

static void on_term(struct ped_evloop *loop, int signo, void *arg)
{
	(void)signo;
	(void)arg;
	(void)ped_daemon_notify("STOPPING=1");
	ped_info("stopping");
	ped_evloop_stop(loop);
}

/* Shutdown: every session's ends are shut, so their threads end; waits for
 * them up to timeout_ms. The sessions still running. */
static int end_sessions(int timeout_ms)
{
	struct timespec until;
	int left;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&rbs.mu);
	rbs.stopping = 1;
	for (int i = 0; i < RBS_SESSIONS_MAX; i++)
		if (rbs.fds[i][0] >= 0) {
			(void)shutdown(rbs.fds[i][0], SHUT_RDWR);
			(void)shutdown(rbs.fds[i][1], SHUT_RDWR);
		}
	while (rbs.nsessions > 0)
		if (pthread_cond_timedwait(&rbs.gone, &rbs.mu, &until) == ETIMEDOUT)
			break;
	left = rbs.nsessions;
	pthread_mutex_unlock(&rbs.mu);
	return left;
}

int rbs_daemon(const struct rbs_daemon_conf *dc, char *pass, size_t passlen)
{
	struct ped_pidfile pf;
	struct ped_evloop *loop = NULL;
	X509 *c = NULL;
	char err[1600], msg[256], fpr[20] = "?";
	uint16_t bound = 0;
	pid_t child;
	int r;

	memset(&pf, 0, sizeof(pf));
	pf.fd = -1;
	rbs.dc = dc;
	for (int i = 0; i < RBS_SESSIONS_MAX; i++)
		rbs.fds[i][0] = rbs.fds[i][1] = -1;
	ped_hsgate_init(&rbs.gate);
	/* before the fork: a wrong password is the starting command's error */
	if ((r = ped_tls_key_private(dc->paths->key, err, sizeof(err))) != PED_OK ||
	    (r = ped_tls_read_cert(dc->paths->cert, &c, err, sizeof(err))) != PED_OK) {
		fprintf(stderr, "rbs: %s (rbs --genkey makes them)\n", err);
		return 1;
	}
	(void)ped_tls_fingerprint(c, fpr);
	X509_free(c);
	r = ped_tls_read_key_encrypted(dc->paths->key, pass, passlen, &rbs.key, err, sizeof(err));
	OPENSSL_cleanse(pass, passlen); /* the key is open: the daemon keeps no password */
	if (r != PED_OK) {
		if (r == PED_E_PIN_INCORRECT)
			fprintf(stderr, "rbs: wrong RBS password: %s\n", err);
		else
			fprintf(stderr, "rbs: %s\n", err);
		return 1;
	}
	struct hsm_ctl_restrict served;
	if ((r = rbs_conf_load(dc->paths->conf, &served, err, sizeof(err))) != PED_OK || served.n == 0) {
		fprintf(stderr, "rbs: %s\n", r != PED_OK ? err : "no Backup HSM is served: choose them with rbs --config");
		EVP_PKEY_free(rbs.key);
		return 1;
	}
	if (dc->logfile) {
		int lfd;
		if (ped_file_open(dc->logfile, O_WRONLY | O_CREAT | O_APPEND, 0600, &lfd, err, sizeof(err)) != PED_OK) {
			fprintf(stderr, "rbs: cannot write the log file %s\n", err);
			EVP_PKEY_free(rbs.key);
			return 1;
		}
		close(lfd);
	}
	r = ped_daemon_start(dc->foreground, 10000, &child, msg, sizeof(msg));
	if (r != PED_DAEMON_CHILD) {
		EVP_PKEY_free(rbs.key); /* the parent's copy: the child serves */
		if (r != PED_OK) {
			fprintf(stderr, "rbs: cannot start: %s\n", msg);
			return 1;
		}
		printf("rbs started (pid %ld), log %s\n", (long)child, dc->logfile ? dc->logfile : "(none)");
		return 0;
	}
	struct ped_log_config lc = {"rbs", PED_LOG_DEFAULT_MASK, dc->logfile, 4u << 20};
	if (dc->verbose)
		lc.mask |= PED_LOG_TRACE;
	if (ped_log_open(&lc) != PED_OK)
		ped_daemon_fail(PED_E_FILE, "cannot write the log file %s: %s", dc->logfile, strerror(errno));
	if (dc->pidfile && (r = ped_pidfile_create(dc->pidfile, &pf, msg, sizeof(msg))) != PED_OK)
		ped_daemon_fail(r, "%s", msg);
	if ((r = ped_tcp_listen(dc->address, (uint16_t)dc->port, &rbs.listen_fd, &bound)) != PED_OK) {
		ped_pidfile_remove(&pf);
		ped_daemon_fail(r, "cannot listen on %s port %d: %s", dc->address ? dc->address : "*", dc->port,
				strerror(errno));
	}
	ped_set_nonblock(rbs.listen_fd, 1);
	loop = ped_evloop_new();
	ped_evloop_add_fd(loop, rbs.listen_fd, PED_EV_READ, on_accept, NULL);
	ped_evloop_add_signal(loop, SIGTERM, on_term, NULL);
	ped_evloop_add_signal(loop, SIGINT, on_term, NULL);
	ped_daemon_hup_reopens_log(loop);
	ped_tls_log_to(ped_log_write); /* a link whose peer was unregistered is logged */
	ped_info("serving TLS on %s port %u (server certificate %s, %s), %zu Backup HSM(s) of hsm-sim at %s",
		 dc->address ? dc->address : "*", (unsigned)bound, dc->paths->cert, fpr, served.n, dc->hsm_socket);
	ped_daemon_ready(dc->foreground);
	ped_evloop_run(loop);

	ped_evloop_del_fd(loop, rbs.listen_fd);
	close(rbs.listen_fd);
	rbs.listen_fd = -1;
	int left = end_sessions(dc->handshake_timeout_ms);
	if (left)
		ped_warn("%d session(s) still running after %d ms", left, dc->handshake_timeout_ms);
	/* A TLS thread or a handshake still in OpenSSL: exit() would free
	 * OpenSSL's globals under it. */
	int busy = left + atomic_load(&rbs.handshakes) + ped_tls_proxies_live();
	ped_evloop_free(loop);
	ped_pidfile_remove(&pf);
	ped_info("stopped");
	ped_log_close();
	if (busy)
		_exit(0);
	EVP_PKEY_free(rbs.key); /* OpenSSL wipes a private key it frees */
	return 0;
}
