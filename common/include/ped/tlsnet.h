/* Network links to a distant hsm-sim (vtl, hsmcm -server, the PKCS#11
 * module) and hsm-sim's TLS listener: TLS 1.3, both sides authenticated by
 * certificates pinned one by one. No CA: a peer is accepted only when the
 * certificate it presents is, byte for byte, one the operator registered,
 * and has not expired. Inside runs the same framed protocol as on the
 * control socket; ped_tls_proxy_start (ped/tls.h) gives the caller a plain
 * socket. */
#ifndef PED_TLSNET_H
#define PED_TLSNET_H

#include "ped/libssl.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* hsm-sim's documented port (the reference's NTLS port). */
#define PED_NET_DEFAULT_PORT 1792
#define PED_TLS_NAME_MAX 64
/* a certificate file is small: more is not one */
#define PED_TLS_PEM_MAX 16384

struct ped_tls_pins {
	size_t n;
	X509 **cert;
	char (*name)[PED_TLS_NAME_MAX + 1];
	char *dir; /* the registry they were loaded from (ped_tls_pins_load_dir), or NULL */
};

/* Names a client or a server may have: 1-64 of [A-Za-z0-9._-], not
 * starting with '.' or '-' (they become file names). */
int ped_tls_name_ok(const char *name);
/* The first certificate of a PEM file, bounded (PED_TLS_PEM_MAX). */
int ped_tls_read_cert(const char *path, X509 **out, char *why, size_t whylen);
/* The same from bytes (what the fuzz target drives). */
int ped_tls_parse_cert(const uint8_t *pem, size_t len, X509 **out);
/* Adds one pinned certificate under name. */
int ped_tls_pins_add(struct ped_tls_pins *p, const char *name, X509 *cert);
/* Every NAME.pem in dir (a missing dir pins nothing). ped_tls_accept then
 * keeps each link it accepts only while its client's file stays. */
int ped_tls_pins_load_dir(struct ped_tls_pins *p, const char *dir);
/* The name a certificate is pinned under, or NULL. */
const char *ped_tls_pins_find(const struct ped_tls_pins *p, X509 *cert);
void ped_tls_pins_free(struct ped_tls_pins *p);

/* A registry of the clients a server accepts (hsm-sim -client, rbs
 * --register): one DIR/NAME.pem per client. Adding refuses a bad name, an
 * expired certificate, a name or a certificate registered already (err
 * says which); what is kept is the certificate parsed and re-encoded,
 * written atomically. Each prints what it did on out. */
int ped_tls_registry_add(const char *dir, const char *name, const char *cert_file, FILE *out, char *err,
			 size_t errlen);
int ped_tls_registry_remove(const char *dir, const char *name, FILE *out, char *err, size_t errlen);
/* "N registered client(s)", then one line each by name. */
int ped_tls_registry_list(const char *dir, FILE *out);
/* One line: label, fingerprint, CN, the last day, "(expired)". */
void ped_tls_print_cert(FILE *out, const char *label, X509 *c);

/* A TLS 1.3 context with our certificate and key that accepts only a peer
 * presenting one of pins' certificates, unexpired (pins must outlive it). */
int ped_tls_pinned_context(int server, const char *cert, const char *key, const struct ped_tls_pins *pins,
			   SSL_CTX **out, char *why, size_t whylen);
/* The same with the key in memory (one a password unlocked: rbs). */
int ped_tls_pinned_context_pkey(int server, const char *cert, EVP_PKEY *key, const struct ped_tls_pins *pins,
				SSL_CTX **out, char *why, size_t whylen);

/* Client: TCP to host:port, the handshake, then a wait for the server's
 * word that it accepted our certificate (its session ticket, or its alert:
 * in TLS 1.3 a client's handshake ends before the server has checked the
 * client). On success *plain carries the cleartext (ped_tls_proxy_start;
 * with tid, on a thread the caller joins once it has closed *plain).
 * Errors, with why for people:
 *   PED_E_SOCKET               nothing answers at host:port
 *   PED_E_CERTIFICATE_INVALID  the server's certificate is not the registered
 *                              one, or the server refused ours (why says which)
 *   PED_E_TIMED_OUT            no answer within timeout_ms */
int ped_tls_dial(SSL_CTX *ctx, const char *host, uint16_t port, int timeout_ms, int *plain, pthread_t *tid,
		 char *why, size_t whylen);
/* Server: the handshake on an accepted socket (taken over), within
 * timeout_ms; *plain as above, name the client's registered name. */
int ped_tls_accept(SSL_CTX *ctx, const struct ped_tls_pins *pins, int fd, int timeout_ms, int *plain, char *name,
		   size_t namelen, char *why, size_t whylen);

/* A P-521 key and a self-signed certificate for cn valid for days from
 * now (negative: an expired one, for tests), key 0600, both atomic. */
int ped_tls_make_cert(const char *cn, long days, const char *cert_path, const char *key_path);
/* The same with the key encrypted under a password (PKCS#8, PBES2:
 * scrypt and AES-256-CBC), for a host whose key must be useless on its
 * own (rbs). An empty password is PED_E_INVALID. */
int ped_tls_make_cert_encrypted(const char *cn, long days, const char *cert_path, const char *key_path,
				const char *pass, size_t passlen);
/* The key of such a file (bounded, no link followed), decrypted: PED_E_PIN_INCORRECT
 * when the password does not open it, PED_E_FILE when the file cannot be
 * read or holds no encrypted key; why for people. */
int ped_tls_read_key_encrypted(const char *path, const char *pass, size_t passlen, EVP_PKEY **out, char *why,
			       size_t whylen);

/* A private key file that is ours and readable by nobody else (mode
 * 0600 or stricter, no link): PED_E_FILE with why otherwise. A key others
 * can read is a certificate anyone can present. */
int ped_tls_key_private(const char *path, char *why, size_t whylen);
/* "AB12 ..." : SHA-256 of the certificate's DER, first 8 bytes, as the HOC's. */
int ped_tls_fingerprint(X509 *cert, char out[20]);

#endif
