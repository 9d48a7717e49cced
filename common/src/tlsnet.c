/* TLS links between hosts with certificates pinned one by one (ped/tlsnet.h). */
#include "ped/tlsnet.h"

#include "ped/cert.h"
#include "ped/ec.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/fileio.h"
#include "ped/net.h"
#include "ped/tls.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int ped_tls_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > PED_TLS_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int ped_tls_parse_cert(const uint8_t *pem, size_t len, X509 **out)
{
	BIO *b;
	*out = NULL;
	if (len == 0 || len > PED_TLS_PEM_MAX)
		return PED_E_RANGE;
	if (!(b = BIO_new_mem_buf(pem, (int)len)))
		return PED_E_HOST_MEMORY;
	*out = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	ERR_clear_error();
	return *out ? PED_OK : PED_E_CERTIFICATE_INVALID;
}

int ped_tls_read_cert(const char *path, X509 **out, char *why, size_t whylen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = ped_file_read_bounded(path, PED_TLS_PEM_MAX, &buf, &len)) != PED_OK) {
		snprintf(why, whylen, "cannot read %s: %s", path, ped_strerror(r));
		goto out;
	}
	if ((r = ped_tls_parse_cert(buf, len, out)) != PED_OK)
		snprintf(why, whylen, "%s holds no PEM certificate", path);
out:
	free(buf);
	return r;
}

int ped_tls_pins_add(struct ped_tls_pins *p, const char *name, X509 *cert)
{
	X509 **c = realloc(p->cert, (p->n + 1) * sizeof(*c));
	if (!c)
		return PED_E_HOST_MEMORY;
	p->cert = c;
	char(*nm)[PED_TLS_NAME_MAX + 1] = realloc(p->name, (p->n + 1) * sizeof(*nm));
	if (!nm)
		return PED_E_HOST_MEMORY;
	p->name = nm;
	if (!X509_up_ref(cert))
		return PED_E_CRYPTO;
	p->cert[p->n] = cert;
	snprintf(p->name[p->n], sizeof(p->name[p->n]), "%s", name);
	p->n++;
	return PED_OK;
}

int ped_tls_pins_load_dir(struct ped_tls_pins *p, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int r = PED_OK;

	free(p->dir);
	if (!(p->dir = strdup(dir))) {
		if (d)
			closedir(d);
		return PED_E_HOST_MEMORY;
	}
	if (!d)
		return PED_OK;
	while ((e = readdir(d)) != NULL) {
		char name[PED_TLS_NAME_MAX + 1], path[1400], why[256];
		size_t n = strlen(e->d_name);
		X509 *c = NULL;
		if (n <= 4 || n - 4 > PED_TLS_NAME_MAX || strcmp(e->d_name + n - 4, ".pem"))
			continue;
		memcpy(name, e->d_name, n - 4);
		name[n - 4] = '\0';
		if (!ped_tls_name_ok(name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (ped_tls_read_cert(path, &c, why, sizeof(why)) != PED_OK)
			continue; /* a damaged file pins nobody */
		r = ped_tls_pins_add(p, name, c);
		X509_free(c);
		if (r != PED_OK)
			break;
	}
	closedir(d);
	return r;
}

const char *ped_tls_pins_find(const struct ped_tls_pins *p, X509 *cert)
{
	for (size_t i = 0; cert && i < p->n; i++)
		if (X509_cmp(p->cert[i], cert) == 0)
			return p->name[i];
	return NULL;
}

void ped_tls_pins_free(struct ped_tls_pins *p)
{
	for (size_t i = 0; i < p->n; i++)
		X509_free(p->cert[i]);
	free(p->cert);
	free(p->name);
	free(p->dir);
	memset(p, 0, sizeof(*p));
}

void ped_tls_print_cert(FILE *out, const char *label, X509 *c)
{
	char fpr[20] = "?", cn[128] = "", until[64] = "?";
	const ASN1_TIME *na = X509_get0_notAfter(c);
	struct tm tm;

	(void)ped_tls_fingerprint(c, fpr);
	X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof(cn));
	if (ASN1_TIME_to_tm(na, &tm) == 1)
		strftime(until, sizeof(until), "%Y-%m-%d", &tm);
	fprintf(out, "%-20s %s  CN=%s  until %s%s\n", label, fpr, cn, until,
		X509_cmp_current_time(na) <= 0 ? " (expired)" : "");
}

int ped_tls_registry_add(const char *dir, const char *name, const char *cert_file, FILE *out, char *err,
			 size_t errlen)
{
	struct ped_tls_pins pins = {0};
	X509 *c = NULL;
	BIO *b = NULL;
	BUF_MEM *m = NULL;
	char path[1400];
	int r;

	if (!name || !ped_tls_name_ok(name)) {
		snprintf(err, errlen, "a client's name is 1-%d of A-Z a-z 0-9 . _ - (not starting with . or -)",
			 PED_TLS_NAME_MAX);
		return PED_E_INVALID;
	}
	if (!cert_file) {
		snprintf(err, errlen, "registering a client needs its name and its certificate file");
		return PED_E_INVALID;
	}
	if ((r = ped_tls_read_cert(cert_file, &c, err, errlen)) != PED_OK)
		goto out;
	if (X509_cmp_current_time(X509_get0_notAfter(c)) <= 0) {
		snprintf(err, errlen, "%s has expired: the client must make a new one (vtl createCert)", cert_file);
		r = PED_E_CERTIFICATE_INVALID;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	if (access(path, F_OK) == 0) {
		snprintf(err, errlen, "a client named %s is registered already (remove it first)", name);
		r = PED_E_EXISTS;
		goto out;
	}
	(void)ped_tls_pins_load_dir(&pins, dir);
	const char *other = ped_tls_pins_find(&pins, c);
	if (other) {
		snprintf(err, errlen, "this certificate is registered already, as %s", other);
		r = PED_E_EXISTS;
		goto out;
	}
	/* what we keep is what we parsed, re-encoded: no stray bytes around it */
	r = PED_E_CRYPTO;
	if (!(b = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509(b, c) || BIO_get_mem_ptr(b, &m) != 1 || !m)
		goto out;
	if ((r = ped_file_write_atomic(path, m->data, m->length, 0644)) != PED_OK) {
		snprintf(err, errlen, "cannot write %s: %s", path, ped_strerror(r));
		goto out;
	}
	ped_tls_print_cert(out, name, c);
	fprintf(out, "client %s registered\n", name);
out:
	ped_tls_pins_free(&pins);
	BIO_free(b);
	X509_free(c);
	ERR_clear_error();
	return r;
}

int ped_tls_registry_remove(const char *dir, const char *name, FILE *out, char *err, size_t errlen)
{
	char path[1400];

	if (!name || !ped_tls_name_ok(name)) {
		snprintf(err, errlen, "removing a client needs its name");
		return PED_E_INVALID;
	}
	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	if (unlink(path) != 0) {
		snprintf(err, errlen, "no client named %s", name);
		return PED_E_NOT_FOUND;
	}
	fprintf(out, "client %s removed\n", name);
	return PED_OK;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ped_tls_registry_list(const char *dir, FILE *out)
{
	struct ped_tls_pins pins = {0};
	char **order = NULL;

	(void)ped_tls_pins_load_dir(&pins, dir);
	if (pins.n && !(order = calloc(pins.n, sizeof(*order)))) {
		ped_tls_pins_free(&pins);
		return PED_E_HOST_MEMORY;
	}
	for (size_t i = 0; i < pins.n; i++)
		order[i] = pins.name[i];
	qsort(order, pins.n, sizeof(*order), name_cmp);
	fprintf(out, "%zu registered client(s)\n", pins.n);
	for (size_t i = 0; i < pins.n; i++)
		for (size_t j = 0; j < pins.n; j++)
			if (order[i] == pins.name[j])
				ped_tls_print_cert(out, pins.name[j], pins.cert[j]);
	free(order);
	ped_tls_pins_free(&pins);
	return PED_OK;
}

/* The peer's own certificate decides, and nothing else: pinned (X509_cmp
 * compares the whole DER), and not expired. A chain a pinned certificate
 * would sign is not enough, and no CA can vouch for anyone. */
static int pinned_verify_cb(int ok, X509_STORE_CTX *st)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(st, SSL_get_ex_data_X509_STORE_CTX_idx());
	const struct ped_tls_pins *pins = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
	X509 *leaf = X509_STORE_CTX_get0_cert(st);

	(void)ok;
	if (!pins || !leaf || !ped_tls_pins_find(pins, leaf)) {
		X509_STORE_CTX_set_error(st, X509_V_ERR_CERT_REJECTED);
		return 0;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0) {
		X509_STORE_CTX_set_error(st, X509_V_ERR_CERT_HAS_EXPIRED);
		return 0;
	}
	return 1;
}

static void ssl_why(char *why, size_t len, const char *what)
{
	char e[160] = "";
	unsigned long code = ERR_peek_last_error();
	if (code)
		ERR_error_string_n(code, e, sizeof(e));
	snprintf(why, len, "%s%s%s", what, e[0] ? ": " : "", e);
	ERR_clear_error();
}

static int ticket_cb(SSL *ssl, SSL_SESSION *sess)
{
	int *seen = SSL_get_app_data(ssl);
	(void)sess;
	if (seen)
		*seen = 1;
	return 0; /* not kept: every link makes a full handshake */
}

/* A key file that wants a password is refused, not asked about on
 * whatever terminal there is (OpenSSL's default). */
static int no_password_cb(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* Our certificate and key: from key_file, or key itself when given. */
static int pinned_context(int server, const char *cert, const char *key_file, EVP_PKEY *key,
			  const struct ped_tls_pins *pins, SSL_CTX **out, char *why, size_t whylen)
{
	SSL_CTX *ctx = NULL;

	*out = NULL;
	if (ped_libssl_load(why, whylen) != PED_OK)
		return PED_E_CRYPTO;
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
		ssl_why(why, whylen, "cannot make a TLS context");
		goto fail;
	}
	SSL_CTX_set_default_passwd_cb(ctx, no_password_cb);
	if (SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    (key ? SSL_CTX_use_PrivateKey(ctx, key) : SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM)) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_why(why, whylen, "cannot load our certificate and key");
		goto fail;
	}
	SSL_CTX_set_app_data(ctx, (void *)pins);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, pinned_verify_cb);
	if (server) {
		/* the ticket is the client's sign that we took its certificate */
		SSL_CTX_set_num_tickets(ctx, 1);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, ticket_cb);
	}
	*out = ctx;
	return PED_OK;
fail:
	SSL_CTX_free(ctx);
	return PED_E_CERTIFICATE_INVALID;
}

int ped_tls_pinned_context(int server, const char *cert, const char *key, const struct ped_tls_pins *pins,
			   SSL_CTX **out, char *why, size_t whylen)
{
	return pinned_context(server, cert, key, NULL, pins, out, why, whylen);
}

int ped_tls_pinned_context_pkey(int server, const char *cert, EVP_PKEY *key, const struct ped_tls_pins *pins,
				SSL_CTX **out, char *why, size_t whylen)
{
	if (!key) {
		*out = NULL;
		snprintf(why, whylen, "no private key");
		return PED_E_INVALID;
	}
	return pinned_context(server, cert, NULL, key, pins, out, why, whylen);
}

/* A link cut while a session waits (a command on the PED, an idle pool
 * connection) shows up within about 25 s on either side, as the
 * reference client's TCPKeepAlive = 1 does, instead of never. */
static void keepalive(int fd)
{
	int on = 1, idle = 10, intvl = 5, cnt = 3;
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* SSL_connect or SSL_accept, or (step 2) reading until the server's
 * ticket, within the deadline. 1 done, 0 failed, -1 timed out. */
static int drive(SSL *ssl, int fd, int step, const int *ticket, uint64_t deadline)
{
	for (;;) {
		int r, e;
		if (step == 2) {
			uint8_t b;
			if (*ticket)
				return 1;
			r = SSL_peek(ssl, &b, 1);
			if (r > 0 || *ticket)
				return 1; /* data comes after the ticket */
		} else {
			r = step ? SSL_accept(ssl) : SSL_connect(ssl);
			if (r == 1)
				return 1;
		}
		e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return 0;
		uint64_t now = ped_now_ms();
		if (now >= deadline)
			return -1;
		struct pollfd pf = {.fd = fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
		(void)poll(&pf, 1, (int)(deadline - now));
	}
}

int ped_tls_dial(SSL_CTX *ctx, const char *host, uint16_t port, int timeout_ms, int *plain, pthread_t *tid,
		 char *why, size_t whylen)
{
	SSL *ssl = NULL;
	int fd = -1, ticket = 0, d, r;
	uint64_t deadline = ped_now_ms() + (uint64_t)timeout_ms;

	*plain = -1;
	if (ped_tcp_connect(host, port, timeout_ms, &fd) != PED_OK) {
		snprintf(why, whylen, "cannot reach %s port %u", host, (unsigned)port);
		return PED_E_SOCKET;
	}
	keepalive(fd);
	if (!(ssl = SSL_new(ctx)) || SSL_set_fd(ssl, fd) != 1) {
		ssl_why(why, whylen, "cannot start TLS");
		r = PED_E_CRYPTO;
		goto fail;
	}
	SSL_set_app_data(ssl, &ticket);
	(void)ped_set_nonblock(fd, 1);
	if ((d = drive(ssl, fd, 0, &ticket, deadline)) != 1) {
		long v = SSL_get_verify_result(ssl);
		r = PED_E_CERTIFICATE_INVALID;
		if (d < 0) {
			snprintf(why, whylen, "TLS handshake with %s timed out", host);
			r = PED_E_TIMED_OUT;
		} else if (v == X509_V_ERR_CERT_HAS_EXPIRED) {
			snprintf(why, whylen, "%s presented the certificate registered for it, but it has expired", host);
		} else if (v != X509_V_OK) {
			snprintf(why, whylen, "%s presented a certificate that is not the one registered for it (%s)",
				 host, X509_verify_cert_error_string(v));
		} else {
			ssl_why(why, whylen, "TLS handshake failed");
		}
		goto fail;
	}
	if ((d = drive(ssl, fd, 2, &ticket, deadline)) != 1) {
		char e[160] = "";
		unsigned long code = ERR_peek_last_error();
		if (code)
			ERR_error_string_n(code, e, sizeof(e));
		ERR_clear_error();
		r = d < 0 ? PED_E_TIMED_OUT : PED_E_CERTIFICATE_INVALID;
		if (d < 0)
			snprintf(why, whylen, "%s did not confirm the link in time", host);
		else if (ERR_GET_REASON(code) == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED)
			snprintf(why, whylen, "%s refused our certificate: it has expired (make a new one, "
					      "vtl createCert -force, and register it there again)", host);
		else if (ERR_GET_REASON(code) == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE)
			snprintf(why, whylen, "%s refused our certificate: it is not registered there "
					      "(hsm-sim -client register)", host);
		else
			snprintf(why, whylen, "%s ended the link before accepting it%s%s", host, e[0] ? ": " : "", e);
		goto fail;
	}
	SSL_set_app_data(ssl, NULL);
	return ped_tls_proxy_start_tid(ssl, fd, plain, tid, why, whylen);
fail:
	SSL_free(ssl);
	close(fd);
	ERR_clear_error();
	return r;
}

int ped_tls_accept(SSL_CTX *ctx, const struct ped_tls_pins *pins, int fd, int timeout_ms, int *plain, char *name,
		   size_t namelen, char *why, size_t whylen)
{
	SSL *ssl = NULL;
	int d, r = PED_E_CERTIFICATE_INVALID;
	uint64_t deadline = ped_now_ms() + (uint64_t)timeout_ms;

	*plain = -1;
	if (name && namelen)
		name[0] = '\0';
	keepalive(fd);
	if (!(ssl = SSL_new(ctx)) || SSL_set_fd(ssl, fd) != 1) {
		ssl_why(why, whylen, "cannot start TLS");
		r = PED_E_CRYPTO;
		goto fail;
	}
	(void)ped_set_nonblock(fd, 1);
	if ((d = drive(ssl, fd, 1, NULL, deadline)) != 1) {
		long v = SSL_get_verify_result(ssl);
		if (d < 0) {
			snprintf(why, whylen, "TLS handshake timed out");
			r = PED_E_TIMED_OUT;
		} else if (v == X509_V_ERR_CERT_REJECTED) {
			snprintf(why, whylen, "client certificate not registered");
		} else if (v != X509_V_OK) {
			snprintf(why, whylen, "client certificate refused (%s)", X509_verify_cert_error_string(v));
		} else if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
			   ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED) {
			/* the client's alert: our certificate is not what it pinned */
			ssl_why(why, whylen, "the client refused this server's certificate (it registered "
					     "another for this host, or ours expired)");
		} else {
			ssl_why(why, whylen, "TLS handshake failed");
		}
		goto fail;
	}
	const char *who = ped_tls_pins_find(pins, SSL_get0_peer_certificate(ssl));
	if (!who) { /* the callback let nobody else through: belt and braces */
		snprintf(why, whylen, "client certificate not registered");
		goto fail;
	}
	if (name && namelen)
		snprintf(name, namelen, "%s", who);
	if (pins->dir) /* a registry: its client's link lasts as long as its registration */
		return ped_tls_proxy_start_watched(ssl, fd, plain, pins->dir, who, why, whylen);
	return ped_tls_proxy_start(ssl, fd, plain, why, whylen);
fail:
	SSL_free(ssl);
	close(fd);
	ERR_clear_error();
	return r;
}

int ped_tls_key_private(const char *path, char *why, size_t whylen)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
		return PED_E_FILE;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		snprintf(why, whylen, "%s must be a file of ours that no one else can read (chmod 600)", path);
		return PED_E_FILE;
	}
	return PED_OK;
}

int ped_tls_fingerprint(X509 *cert, char out[20])
{
	uint8_t *der = NULL;
	size_t len = 0;
	int r;

	if ((r = ped_cert_to_der(cert, &der, &len)) != PED_OK)
		return r;
	r = ped_cert_fingerprint(der, len, out);
	OPENSSL_free(der);
	return r;
}

/* scrypt's cost for an encrypted key: N = 2^14, r = 8, p = 1 (16 MiB, a
 * tenth of a second; within OpenSSL's default memory bound for reading it
 * back). */
#define KEY_SCRYPT_N 16384
#define KEY_SCRYPT_R 8
#define KEY_SCRYPT_P 1

/* key as an encrypted PKCS#8 PEM into b: PBES2, scrypt, AES-256-CBC. */
static int write_encrypted_key(BIO *b, EVP_PKEY *key, const char *pass, size_t passlen)
{
	X509_ALGOR *pbe = NULL;
	PKCS8_PRIV_KEY_INFO *p8inf = NULL;
	X509_SIG *p8 = NULL;
	int ok = 0;

	if (passlen > INT_MAX)
		return 0;
	if (!(pbe = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), NULL, 0, NULL, KEY_SCRYPT_N, KEY_SCRYPT_R,
					  KEY_SCRYPT_P)) ||
	    !(p8inf = EVP_PKEY2PKCS8(key)))
		goto out;
	if (!(p8 = PKCS8_set0_pbe(pass, (int)passlen, p8inf, pbe)))
		goto out;
	pbe = NULL; /* p8 has it */
	ok = PEM_write_bio_PKCS8(b, p8) == 1;
out:
	X509_ALGOR_free(pbe);
	PKCS8_PRIV_KEY_INFO_free(p8inf);
	X509_SIG_free(p8);
	return ok;
}

/* Through ped_file_write_atomic: the key is 0600 from its first byte;
 * encrypted under pass when there is one. */
static int write_pem(const char *path, EVP_PKEY *key, X509 *c, const char *pass, size_t passlen)
{
	BIO *b = BIO_new(BIO_s_secmem()); /* wiped when freed */
	BUF_MEM *m = NULL;
	int r = PED_E_CRYPTO, ok;

	if (!b)
		return r;
	if (key && pass)
		ok = write_encrypted_key(b, key, pass, passlen);
	else
		ok = key ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_X509(b, c);
	if (ok && BIO_get_mem_ptr(b, &m) == 1 && m)
		r = ped_file_write_atomic(path, m->data, m->length, key ? 0600 : 0644);
	BIO_free(b);
	return r;
}

static int make_cert(const char *cn, long days, const char *cert_path, const char *key_path, const char *pass,
		     size_t passlen)
{
	EVP_PKEY *key = NULL;
	X509 *c = NULL;
	BIGNUM *bn = NULL;
	uint8_t serial[16];
	int r = PED_E_CRYPTO;
	/* an expired one (days < 0) began a year before it ended */
	long from = days < 0 ? (days - 365) * 86400 : -3600;

	if (days == 0 || days > 36500 || days < -36500)
		return PED_E_RANGE;
	if (ped_ec_generate(&key) != PED_OK || !(c = X509_new()) || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	X509_NAME *nm = X509_get_subject_name(c);
	if (!(bn = BN_bin2bn(serial, sizeof(serial), NULL)) || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) ||
	    !X509_set_version(c, 2) || !X509_gmtime_adj(X509_getm_notBefore(c), from) ||
	    !X509_gmtime_adj(X509_getm_notAfter(c), days * 86400) || !X509_set_pubkey(c, key) ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(c, nm) || !X509_sign(c, key, EVP_sha512()))
		goto out;
	if ((r = write_pem(key_path, key, NULL, pass, passlen)) == PED_OK)
		r = write_pem(cert_path, NULL, c, NULL, 0);
out:
	BN_free(bn);
	EVP_PKEY_free(key);
	X509_free(c);
	ERR_clear_error();
	return r;
}

int ped_tls_make_cert(const char *cn, long days, const char *cert_path, const char *key_path)
{
	return make_cert(cn, days, cert_path, key_path, NULL, 0);
}

int ped_tls_make_cert_encrypted(const char *cn, long days, const char *cert_path, const char *key_path,
				const char *pass, size_t passlen)
{
	if (!pass || passlen == 0)
		return PED_E_INVALID;
	return make_cert(cn, days, cert_path, key_path, pass, passlen);
}

/* A key file is small: more is not one. */
#define KEY_PEM_MAX 16384

int ped_tls_read_key_encrypted(const char *path, const char *pass, size_t passlen, EVP_PKEY **out, char *why,
			       size_t whylen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *b = NULL;
	X509_SIG *p8 = NULL;
	PKCS8_PRIV_KEY_INFO *p8inf = NULL;
	int r;

	*out = NULL;
	if (!pass || passlen == 0 || passlen > INT_MAX) {
		snprintf(why, whylen, "no password");
		return PED_E_INVALID;
	}
	if ((r = ped_file_read_nofollow(path, KEY_PEM_MAX, &buf, &len)) != PED_OK) {
		snprintf(why, whylen, "cannot read %s: %s", path, ped_strerror(r));
		r = PED_E_FILE;
		goto out;
	}
	r = PED_E_FILE;
	if (len > INT_MAX || !(b = BIO_new_mem_buf(buf, (int)len)) ||
	    !(p8 = PEM_read_bio_PKCS8(b, NULL, NULL, NULL))) {
		snprintf(why, whylen, "%s holds no encrypted private key", path);
		goto out;
	}
	if (!(p8inf = PKCS8_decrypt(p8, pass, (int)passlen))) {
		snprintf(why, whylen, "the password does not open %s", path);
		r = PED_E_PIN_INCORRECT;
		goto out;
	}
	if (!(*out = EVP_PKCS82PKEY(p8inf))) {
		snprintf(why, whylen, "%s holds no usable private key", path);
		goto out;
	}
	r = PED_OK;
out:
	PKCS8_PRIV_KEY_INFO_free(p8inf);
	X509_SIG_free(p8);
	BIO_free(b);
	OPENSSL_clear_free(buf, len ? len : 1);
	ERR_clear_error();
	return r;
}
