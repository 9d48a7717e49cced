/* PED-initiated (peer-to-peer) mode: pedserver dials pedclient over TLS 1.3
 * with both certificates verified against the ones the operators registered.
 * The relay code stays plain: ped_tls_proxy() runs the TLS session in a
 * thread and hands back one end of a socket pair carrying the cleartext. */
#ifndef PED_TLS_H
#define PED_TLS_H

#include "ped/libssl.h"
#include "ped/log.h"

#include <pthread.h>
#include <stddef.h>

/* Where tls.c logs (ped_log_write, set by the daemons; unset, it logs
 * nothing, as in the PKCS#11 module, which prints nothing): a watched
 * link closed because its peer's registration went. */
void ped_tls_log_to(void (*fn)(enum ped_log_level, const char *, const char *, ...));

/* A TLS 1.3 context with our certificate and key (PEM files) that accepts
 * only a peer presenting one of the certificates in trusted (a PEM file, or
 * a directory of them). */
int ped_tls_context(int server, const char *cert, const char *key, const char *trusted, SSL_CTX **out,
		    char *why, size_t whylen);
/* Runs the handshake on a connected socket within timeout_ms; then starts
 * the proxy thread and returns the plain end in *plain (fd is the thread's).
 * On failure fd is closed and why says what went wrong. *peer_cn gets the
 * peer certificate's common name. */
int ped_tls_proxy(SSL_CTX *ctx, int fd, int server, int timeout_ms, int *plain, char *peer_cn, size_t cnlen,
		  char *why, size_t whylen);

/* The same, and then the link lasts only as long as the peer's certificate
 * still verifies against trusted (checked before passing on anything the
 * peer sends; nothing is read again while trusted is unchanged): removing
 * a registration cuts the links it let in. */
int ped_tls_proxy_trusted(SSL_CTX *ctx, int fd, int server, int timeout_ms, const char *trusted, int *plain,
			  char *peer_cn, size_t cnlen, char *why, size_t whylen);

/* The proxy thread of ped_tls_proxy for a session whose handshake is done
 * (ped/tlsnet.h): takes ssl and fd over, even on failure. */
int ped_tls_proxy_start(SSL *ssl, int fd, int *plain, char *why, size_t whylen);
/* The same with a joinable thread (*tid), for a shared object. */
int ped_tls_proxy_start_tid(SSL *ssl, int fd, int *plain, pthread_t *tid, char *why, size_t whylen);
/* The same for a server whose client registered as dir/name.pem (ped/tlsnet.h
 * registries): before passing on anything the client sends, the proxy
 * checks that the file still holds the certificate the client presented
 * (one stat while the file is unchanged) and ends the link otherwise, so
 * removing a registration cuts the client's live links too. */
int ped_tls_proxy_start_watched(SSL *ssl, int fd, int *plain, const char *dir, const char *name, char *why,
				size_t whylen);
/* Closes the plain end of a proxy and waits (up to timeout_ms) until its
 * thread is done with OpenSSL: what a client program does before exit(). */
void ped_tls_proxy_close(int plain, int timeout_ms);
/* Proxy threads still running: a daemon that would exit() under one of
 * them (OpenSSL's cleanup) ends with _exit instead. */
int ped_tls_proxies_live(void);

/* A self-signed P-521 certificate for cn, written as PEM (the key mode 0600, atomically). */
int ped_tls_make_identity(const char *cn, const char *cert_path, const char *key_path);

#endif
