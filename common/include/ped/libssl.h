/* libssl, loaded on first use. Most runs of the daemons never speak TLS
 * (it is for hsm-sim's network listener, archive peers and the
 * peer-to-peer Remote PED), yet linking libssl costs every process about
 * 250 KiB resident from the start: the loader reads its symbol tables and
 * binds every reference at load. Code that includes this header (ped/tls.h
 * and ped/tlsnet.h do) calls the same OpenSSL names as ever; they go
 * through a table filled by dlopen the first time a TLS context is made. */
#ifndef PED_LIBSSL_H
#define PED_LIBSSL_H

#include <openssl/ssl.h>
#include <stddef.h>

/* Every libssl function the suite calls (SSL_CTX_set_app_data and the
 * other macros expand to these). */
#define PED_LIBSSL_FUNCTIONS(X) \
	X(SSL_CTX_check_private_key) \
	X(SSL_CTX_ctrl) \
	X(SSL_CTX_free) \
	X(SSL_CTX_get_cert_store) \
	X(SSL_CTX_get_ex_data) \
	X(SSL_CTX_new) \
	X(SSL_CTX_sess_set_new_cb) \
	X(SSL_CTX_set_default_passwd_cb) \
	X(SSL_CTX_set_ex_data) \
	X(SSL_CTX_set_num_tickets) \
	X(SSL_CTX_set_verify) \
	X(SSL_CTX_use_PrivateKey) \
	X(SSL_CTX_use_PrivateKey_file) \
	X(SSL_CTX_use_certificate_file) \
	X(SSL_accept) \
	X(SSL_connect) \
	X(SSL_ctrl) \
	X(SSL_free) \
	X(SSL_get0_peer_certificate) \
	X(SSL_get_SSL_CTX) \
	X(SSL_get_error) \
	X(SSL_get_ex_data) \
	X(SSL_get_ex_data_X509_STORE_CTX_idx) \
	X(SSL_get_peer_cert_chain) \
	X(SSL_get_verify_result) \
	X(SSL_new) \
	X(SSL_peek) \
	X(SSL_pending) \
	X(SSL_read) \
	X(SSL_set_ex_data) \
	X(SSL_set_fd) \
	X(SSL_shutdown) \
	X(SSL_write) \
	X(TLS_client_method) \
	X(TLS_server_method)

struct ped_libssl {
#define PED_LIBSSL_FIELD(name) __typeof__(name) *name;
	PED_LIBSSL_FUNCTIONS(PED_LIBSSL_FIELD)
#undef PED_LIBSSL_FIELD
};

/* Loads libssl once; PED_OK, or PED_E_CRYPTO with why. Each function that
 * makes a TLS context calls it first, so a missing libssl is an error
 * there, and every other call works on an object made after it. */
int ped_libssl_load(char *why, size_t whylen);
/* The table (loaded if need be; the PKCS#11 module may neither print nor
 * abort, so a failed load is reported by ped_libssl_load alone). */
const struct ped_libssl *ped_libssl(void);
/* SSL_CTX_free and SSL_free: NULL is freed without loading libssl, as
 * daemons that never made a context do on their way out. */
void ped_libssl_SSL_CTX_free(SSL_CTX *ctx);
void ped_libssl_SSL_free(SSL *ssl);

#ifndef PED_LIBSSL_DIRECT
#define SSL_CTX_check_private_key (ped_libssl()->SSL_CTX_check_private_key)
#define SSL_CTX_ctrl (ped_libssl()->SSL_CTX_ctrl)
#define SSL_CTX_free ped_libssl_SSL_CTX_free
#define SSL_CTX_get_cert_store (ped_libssl()->SSL_CTX_get_cert_store)
#define SSL_CTX_get_ex_data (ped_libssl()->SSL_CTX_get_ex_data)
#define SSL_CTX_new (ped_libssl()->SSL_CTX_new)
#define SSL_CTX_sess_set_new_cb (ped_libssl()->SSL_CTX_sess_set_new_cb)
#define SSL_CTX_set_default_passwd_cb (ped_libssl()->SSL_CTX_set_default_passwd_cb)
#define SSL_CTX_set_ex_data (ped_libssl()->SSL_CTX_set_ex_data)
#define SSL_CTX_set_num_tickets (ped_libssl()->SSL_CTX_set_num_tickets)
#define SSL_CTX_set_verify (ped_libssl()->SSL_CTX_set_verify)
#define SSL_CTX_use_PrivateKey (ped_libssl()->SSL_CTX_use_PrivateKey)
#define SSL_CTX_use_PrivateKey_file (ped_libssl()->SSL_CTX_use_PrivateKey_file)
#define SSL_CTX_use_certificate_file (ped_libssl()->SSL_CTX_use_certificate_file)
#define SSL_accept (ped_libssl()->SSL_accept)
#define SSL_connect (ped_libssl()->SSL_connect)
#define SSL_ctrl (ped_libssl()->SSL_ctrl)
#define SSL_free ped_libssl_SSL_free
#define SSL_get0_peer_certificate (ped_libssl()->SSL_get0_peer_certificate)
#define SSL_get_SSL_CTX (ped_libssl()->SSL_get_SSL_CTX)
#define SSL_get_error (ped_libssl()->SSL_get_error)
#define SSL_get_ex_data (ped_libssl()->SSL_get_ex_data)
#define SSL_get_ex_data_X509_STORE_CTX_idx (ped_libssl()->SSL_get_ex_data_X509_STORE_CTX_idx)
#define SSL_get_peer_cert_chain (ped_libssl()->SSL_get_peer_cert_chain)
#define SSL_get_verify_result (ped_libssl()->SSL_get_verify_result)
#define SSL_new (ped_libssl()->SSL_new)
#define SSL_peek (ped_libssl()->SSL_peek)
#define SSL_pending (ped_libssl()->SSL_pending)
#define SSL_read (ped_libssl()->SSL_read)
#define SSL_set_ex_data (ped_libssl()->SSL_set_ex_data)
#define SSL_set_fd (ped_libssl()->SSL_set_fd)
#define SSL_shutdown (ped_libssl()->SSL_shutdown)
#define SSL_write (ped_libssl()->SSL_write)
#define TLS_client_method (ped_libssl()->TLS_client_method)
#define TLS_server_method (ped_libssl()->TLS_server_method)
#endif

#endif
