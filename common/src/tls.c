/* TLS 1.3 for PED-initiated mode: contexts that trust only registered
 * certificates, and a proxy thread per connection. */
#include "ped/tls.h"

#include "ped/ec.h"
#include "ped/cert.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/fileio.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/thread.h"
#include "ped/tlsnet.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void ssl_why(char *why, size_t len, const char *what)
{
	char e[160] = "";
	unsigned long code = ERR_peek_last_error();
	if (code)
		ERR_error_string_n(code, e, sizeof(e));
	snprintf(why, len, "%s%s%s", what, e[0] ? ": " : "", e);
	ERR_clear_error();
}

static int add_trusted_file(X509_STORE *st, const char *path, int *count)
{
	FILE *f = fopen(path, "r");
	X509 *c;
	if (!f)
		return PED_E_FILE;
	while ((c = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(st, c) == 1)
			(*count)++;
		X509_free(c);
	}
	ERR_clear_error(); /* the end of the file reads as an error */
	fclose(f);
	return PED_OK;
}

static int load_trusted(X509_STORE *st, const char *trusted);

int ped_tls_context(int server, const char *cert, const char *key, const char *trusted, SSL_CTX **out,
		    char *why, size_t whylen)
{
	SSL_CTX *ctx = NULL;
	int count;

	*out = NULL;
	if (ped_libssl_load(why, whylen) != PED_OK)
		return PED_E_CRYPTO;
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
		ssl_why(why, whylen, "cannot make a TLS context");
		goto fail;
	}
	if (SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		ssl_why(why, whylen, "cannot load our certificate and key");
		goto fail;
	}
	if ((count = load_trusted(SSL_CTX_get_cert_store(ctx), trusted)) == 0) {
		snprintf(why, whylen, "no trusted peer certificate in %s", trusted);
		goto fail;
	}
	/* Registered certificates are self-signed: trusting exactly them is the policy. */
	X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx), X509_V_FLAG_PARTIAL_CHAIN);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, ped_cert_verify_cb);
	*out = ctx;
	return PED_OK;
fail:
	SSL_CTX_free(ctx);
	return PED_E_CERTIFICATE_INVALID;
}

/* Every certificate of trusted (a PEM file, or each *.pem of a directory)
 * into st; how many. With sig, a digest of what was read (the files'
 * identities, sizes and times), to tell later whether anything changed. */
static int load_trusted_sig(X509_STORE *st, const char *trusted, uint64_t *sig)
{
	struct stat sb;
	int count = 0;
	uint64_t h = 1469598103934665603ULL;
#define MIX(v) (h = (h ^ (uint64_t)(v)) * 1099511628211ULL)
#define MIXST(s) (MIX((s).st_dev), MIX((s).st_ino), MIX((s).st_size), MIX((s).st_mtim.tv_sec), \
		  MIX((s).st_mtim.tv_nsec), MIX((s).st_ctim.tv_sec), MIX((s).st_ctim.tv_nsec))

	if (stat(trusted, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		DIR *d = opendir(trusted);
		struct dirent *e;
		MIXST(sb);
		while (d && (e = readdir(d)) != NULL) {
			size_t n = strlen(e->d_name);
			if (n > 4 && !strcmp(e->d_name + n - 4, ".pem")) {
				char p[1200];
				struct stat fs;
				snprintf(p, sizeof(p), "%s/%s", trusted, e->d_name);
				if (stat(p, &fs) == 0)
					MIXST(fs);
				if (st)
					(void)add_trusted_file(st, p, &count);
			}
		}
		if (d)
			closedir(d);
	} else {
		if (stat(trusted, &sb) == 0)
			MIXST(sb);
		if (st)
			(void)add_trusted_file(st, trusted, &count);
	}
#undef MIXST
#undef MIX
	if (sig)
		*sig = h;
	return count;
}

static int load_trusted(X509_STORE *st, const char *trusted)
{
	return load_trusted_sig(st, trusted, NULL);
}

/* A client's registration, as a server's proxy last found it holding the
 * certificate the client presented (ped_tls_proxy_start_watched). */
struct proxy_watch {
	char path[1400], name[PED_TLS_NAME_MAX + 1];
	X509 *cert;
	struct stat st;
	int known;
	/* or, for a PED-initiated link (ped_tls_proxy_trusted): the trusted
	 * file or folder (path) the peer's chain must still verify against,
	 * and a digest of it as last read */
	int trusted;
	STACK_OF(X509) *chain;
	uint64_t sig;
};

struct proxy {
	SSL *ssl;
	int net, plain;
	struct proxy_watch *watch; /* NULL: nothing to check */
};

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Whether the registration still stands: the file unchanged since it was
 * last read (one stat), or read again and holding the very certificate the
 * peer presented. A registration removed or replaced ends the link at the
 * peer's next word, not at its next connection, which an application's
 * pooled link may never make. */
static int still_registered(struct proxy_watch *w)
{
	struct stat st;
	X509 *c = NULL;
	char why[1600];
	int ok;

	if (stat(w->path, &st) != 0)
		return 0;
	if (w->known && same_file(&st, &w->st))
		return 1;
	ok = ped_tls_read_cert(w->path, &c, why, sizeof(why)) == PED_OK && X509_cmp(c, w->cert) == 0;
	X509_free(c);
	ERR_clear_error();
	w->st = st; /* read after this stat: a change since is seen next time */
	w->known = ok;
	return ok;
}

/* The same for a trusted file or folder: the peer's certificate must still
 * verify as it did in the handshake (nothing read while nothing changed). */
static int still_trusted(struct proxy_watch *w)
{
	X509_STORE *st = NULL;
	X509_STORE_CTX *ctx = NULL;
	uint64_t sig;
	int ok = 0;

	(void)load_trusted_sig(NULL, w->path, &sig);
	if (w->known && sig == w->sig)
		return 1;
	if ((st = X509_STORE_new()) && (ctx = X509_STORE_CTX_new()) && load_trusted(st, w->path) > 0 &&
	    X509_STORE_CTX_init(ctx, st, w->cert, w->chain) == 1) {
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
		X509_STORE_CTX_set_verify_cb(ctx, ped_cert_verify_cb);
		ok = X509_verify_cert(ctx) == 1;
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ERR_clear_error();
	w->sig = sig; /* taken before the read: a change since is seen next time */
	w->known = ok;
	return ok;
}

static int watch_ok(struct proxy_watch *w)
{
	return w->trusted ? still_trusted(w) : still_registered(w);
}

static void watch_free(struct proxy_watch *w)
{
	if (w) {
		X509_free(w->cert);
		sk_X509_pop_free(w->chain, X509_free);
		free(w);
	}
}

static void (*tls_log)(enum ped_log_level, const char *, const char *, ...);

void ped_tls_log_to(void (*fn)(enum ped_log_level, const char *, const char *, ...))
{
	tls_log = fn;
}

/* what a process that exits must not pull OpenSSL from under */
static atomic_int proxies_live;

static int ssl_write_all(SSL *ssl, int fd, const uint8_t *buf, int n)
{
	for (;;) {
		int r = SSL_write(ssl, buf, n);
		if (r == n)
			return 1;
		int e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
			return 0;
		struct pollfd pf = {.fd = fd, .events = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
		if (poll(&pf, 1, 30000) <= 0)
			return 0;
	}
}

/* Shuttles bytes until either side ends; then closes both. The TLS socket
 * is non-blocking: a record that carries no data (a TLS 1.3 session ticket)
 * must not leave the thread blocked in SSL_read while the other way waits. */
static void *proxy_thread(void *arg)
{
	struct proxy *p = arg;
	uint8_t buf[16384];
	(void)ped_set_nonblock(p->net, 1);
	(void)ped_set_nonblock(p->plain, 1); /* so the 30 s limit below holds */
	SSL_clear_mode(p->ssl, SSL_MODE_AUTO_RETRY);
	/* A write to a link the peer reset raises SIGPIPE in the writing
	 * thread: blocked here, it is an EPIPE, whatever the program (the
	 * PKCS#11 module runs in applications that never ignore it). */
	sigset_t pipe;
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	(void)pthread_sigmask(SIG_BLOCK, &pipe, NULL);
	for (;;) {
		struct pollfd f[2] = {{.fd = p->net, .events = POLLIN}, {.fd = p->plain, .events = POLLIN}};
		if (!SSL_pending(p->ssl) && poll(f, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (SSL_pending(p->ssl) || (f[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			int n = SSL_read(p->ssl, buf, sizeof(buf));
			if (n > 0 && p->watch && !watch_ok(p->watch)) {
				if (tls_log)
					tls_log(PED_LOG_WARNING, __func__,
						"%s %s: its registration was removed or replaced: link closed",
						p->watch->trusted ? "PED-initiated peer" : "network client",
						p->watch->name);
				break;
			}
			if (n > 0) {
				if (ped_write_all(p->plain, buf, (size_t)n, 30000) != PED_OK)
					break;
			} else {
				int e = SSL_get_error(p->ssl, n);
				if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
					break;
			}
		}
		if (f[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(p->plain, buf, sizeof(buf));
			if (n <= 0 || !ssl_write_all(p->ssl, p->net, buf, (int)n))
				break;
		}
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	(void)SSL_shutdown(p->ssl);
	SSL_free(p->ssl);
	close(p->net);
	int plain = p->plain;
	watch_free(p->watch);
	free(p);
	ERR_clear_error();
	atomic_fetch_sub(&proxies_live, 1);
	/* last: ped_tls_proxy_close waits for this end of file, after which
	 * the thread is done with OpenSSL and a process may exit */
	close(plain);
	return NULL;
}

static int proxy_start(SSL *ssl, int fd, int *plain, pthread_t *tid, struct proxy_watch *w, char *why,
		       size_t whylen);

int ped_tls_proxy(SSL_CTX *ctx, int fd, int server, int timeout_ms, int *plain, char *peer_cn, size_t cnlen,
		  char *why, size_t whylen)
{
	return ped_tls_proxy_trusted(ctx, fd, server, timeout_ms, NULL, plain, peer_cn, cnlen, why, whylen);
}

int ped_tls_proxy_trusted(SSL_CTX *ctx, int fd, int server, int timeout_ms, const char *trusted, int *plain,
			  char *peer_cn, size_t cnlen, char *why, size_t whylen)
{
	SSL *ssl = NULL;
	int r;
	uint64_t deadline = ped_now_ms() + (uint64_t)timeout_ms;

	if (peer_cn && cnlen)
		peer_cn[0] = '\0';
	if (!(ssl = SSL_new(ctx)) || SSL_set_fd(ssl, fd) != 1) {
		ssl_why(why, whylen, "cannot start TLS");
		goto fail;
	}
	(void)ped_set_nonblock(fd, 1);
	for (;;) {
		r = server ? SSL_accept(ssl) : SSL_connect(ssl);
		if (r == 1)
			break;
		int e = SSL_get_error(ssl, r);
		uint64_t now = ped_now_ms();
		if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || now >= deadline) {
			long v = SSL_get_verify_result(ssl);
			if (v != X509_V_OK)
				snprintf(why, whylen, "TLS handshake failed: peer certificate not registered (%s)",
					 X509_verify_cert_error_string(v));
			else
				ssl_why(why, whylen, now >= deadline ? "TLS handshake timed out" : "TLS handshake failed");
			goto fail;
		}
		struct pollfd pf = {.fd = fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
		(void)poll(&pf, 1, (int)(deadline - now));
	}
	(void)ped_set_nonblock(fd, 0);
	X509 *pc = SSL_get0_peer_certificate(ssl);
	if (!pc || SSL_get_verify_result(ssl) != X509_V_OK) {
		snprintf(why, whylen, "TLS peer presented no registered certificate");
		goto fail;
	}
	if (peer_cn && cnlen)
		X509_NAME_get_text_by_NID(X509_get_subject_name(pc), NID_commonName, peer_cn, (int)cnlen);
	if (!trusted)
		return ped_tls_proxy_start(ssl, fd, plain, why, whylen);
	/* the link lasts as long as the peer's certificate stays trusted there */
	struct proxy_watch *w = calloc(1, sizeof(*w));
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	if (!w || !X509_up_ref(pc) || (w->cert = pc, chain && !(w->chain = X509_chain_up_ref(chain)))) {
		snprintf(why, whylen, "out of resources");
		watch_free(w);
		goto fail;
	}
	w->trusted = 1;
	snprintf(w->path, sizeof(w->path), "%s", trusted);
	X509_NAME_get_text_by_NID(X509_get_subject_name(pc), NID_commonName, w->name, (int)sizeof(w->name));
	if (!still_trusted(w)) {
		snprintf(why, whylen, "TLS peer's certificate no longer registered (removed during the handshake)");
		watch_free(w);
		goto fail;
	}
	return proxy_start(ssl, fd, plain, NULL, w, why, whylen);
fail:
	SSL_free(ssl);
	close(fd);
	ERR_clear_error();
	return PED_E_CERTIFICATE_INVALID;
}

int ped_tls_proxy_start(SSL *ssl, int fd, int *plain, char *why, size_t whylen)
{
	return ped_tls_proxy_start_tid(ssl, fd, plain, NULL, why, whylen);
}

int ped_tls_proxy_start_tid(SSL *ssl, int fd, int *plain, pthread_t *tid, char *why, size_t whylen)
{
	return proxy_start(ssl, fd, plain, tid, NULL, why, whylen);
}

int ped_tls_proxy_start_watched(SSL *ssl, int fd, int *plain, const char *dir, const char *name, char *why,
				size_t whylen)
{
	struct proxy_watch *w = calloc(1, sizeof(*w));
	X509 *peer = SSL_get0_peer_certificate(ssl);

	if (!w || !peer || !X509_up_ref(peer)) {
		free(w);
		snprintf(why, whylen, "out of resources");
		SSL_free(ssl);
		close(fd);
		ERR_clear_error();
		return PED_E_CERTIFICATE_INVALID;
	}
	w->cert = peer;
	snprintf(w->path, sizeof(w->path), "%s/%s.pem", dir, name);
	snprintf(w->name, sizeof(w->name), "%s", name);
	/* removed or replaced while the handshake ran: as if at the next word */
	if (!still_registered(w)) {
		snprintf(why, whylen, "client certificate no longer registered (removed during the handshake)");
		watch_free(w);
		SSL_free(ssl);
		close(fd);
		ERR_clear_error();
		return PED_E_CERTIFICATE_INVALID;
	}
	return proxy_start(ssl, fd, plain, NULL, w, why, whylen);
}

static int proxy_start(SSL *ssl, int fd, int *plain, pthread_t *tid, struct proxy_watch *w, char *why,
		       size_t whylen)
{
	struct proxy *p = NULL;
	int sp[2] = {-1, -1};

	(void)ped_set_nonblock(fd, 0);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0 || !(p = malloc(sizeof(*p)))) {
		snprintf(why, whylen, "out of resources");
		goto fail;
	}
	*p = (struct proxy){ssl, fd, sp[1], w};
	w = NULL; /* p's */
	atomic_fetch_add(&proxies_live, 1);
	if ((tid ? ped_thread_spawn_joinable(proxy_thread, p, tid) : ped_thread_spawn(proxy_thread, p)) != PED_OK) {
		atomic_fetch_sub(&proxies_live, 1);
		snprintf(why, whylen, "cannot start the TLS thread");
		w = p->watch;
		free(p);
		goto fail;
	}
	/* for the caller's event loop: a write that cannot go on waits its timeout */
	(void)ped_set_nonblock(sp[0], 1);
	*plain = sp[0];
	return PED_OK;
fail:
	watch_free(w);
	SSL_free(ssl);
	close(fd);
	if (sp[0] >= 0) {
		close(sp[0]);
		close(sp[1]);
	}
	ERR_clear_error();
	return PED_E_CERTIFICATE_INVALID;
}

int ped_tls_proxies_live(void)
{
	return atomic_load(&proxies_live);
}

/* Through ped_file_write_atomic: the key is 0600 from its first byte, a
 * crash leaves the old pair or the new one, never a torn or world-readable one. */
static int write_pem(const char *path, int is_key, EVP_PKEY *key, X509 *c)
{
	BIO *b = BIO_new(BIO_s_secmem()); /* wiped when freed */
	BUF_MEM *m = NULL;
	int r = PED_E_CRYPTO;

	if (b && (is_key ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_X509(b, c)) &&
	    BIO_get_mem_ptr(b, &m) == 1 && m)
		r = ped_file_write_atomic(path, m->data, m->length, is_key ? 0600 : 0644);
	BIO_free(b);
	return r;
}

int ped_tls_make_identity(const char *cn, const char *cert_path, const char *key_path)
{
	EVP_PKEY *key = NULL;
	X509 *c = NULL;
	BIGNUM *bn = NULL;
	uint8_t serial[16];
	int r = PED_E_CRYPTO;

	if (ped_ec_generate(&key) != PED_OK || !(c = X509_new()) || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	X509_NAME *nm = X509_get_subject_name(c);
	if (!(bn = BN_bin2bn(serial, sizeof(serial), NULL)) || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) ||
	    !X509_set_version(c, 2) || !X509_gmtime_adj(X509_getm_notBefore(c), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(c), 3650L * 86400) || !X509_set_pubkey(c, key) ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(c, nm) || !X509_sign(c, key, EVP_sha512()))
		goto out;
	if ((r = write_pem(key_path, 1, key, NULL)) == PED_OK)
		r = write_pem(cert_path, 0, NULL, c);
out:
	BN_free(bn);
	EVP_PKEY_free(key);
	X509_free(c);
	ERR_clear_error();
	return r;
}

void ped_tls_proxy_close(int plain, int timeout_ms)
{
	uint64_t until = ped_now_ms() + (uint64_t)timeout_ms;
	uint8_t buf[512];

	if (plain < 0)
		return;
	(void)shutdown(plain, SHUT_WR);
	for (;;) {
		uint64_t now = ped_now_ms();
		struct pollfd pf = {.fd = plain, .events = POLLIN};
		if (now >= until || poll(&pf, 1, (int)(until - now)) <= 0)
			break;
		ssize_t n = read(plain, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	close(plain);
}
