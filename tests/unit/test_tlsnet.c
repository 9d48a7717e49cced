/* The network link's pieces in libped: certificate pinning (tlsnet.h) over
 * real loopback TCP, each refusal told to the side that was refused, and
 * the client's servers in the module's configuration (netcfg.h). */
#include "unit.h"

#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/net.h"
#include "ped/netcfg.h"
#include "ped/tls.h"
#include "ped/tlsnet.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[512];

/* cert and key paths of NAME in the suite's folder, made once */
static void ident(const char *name, long days, char *cert, char *key)
{
	snprintf(cert, 600, "%s/%s.pem", dir, name);
	snprintf(key, 600, "%s/%s.key", dir, name);
	if (access(cert, F_OK) != 0)
		CU_ASSERT_EQUAL_FATAL(ped_tls_make_cert(name, days, cert, key), PED_OK);
}

static int init(void)
{
	snprintf(dir, sizeof(dir), "%s/tlsnet", unit_tmpdir());
	return mkdir(dir, 0700) == 0 ? 0 : -1;
}

static void names_are_file_names(void)
{
	CU_ASSERT_TRUE(ped_tls_name_ok("ws1"));
	CU_ASSERT_TRUE(ped_tls_name_ok("host-2.example_x"));
	CU_ASSERT_FALSE(ped_tls_name_ok(""));
	CU_ASSERT_FALSE(ped_tls_name_ok(".hidden"));
	CU_ASSERT_FALSE(ped_tls_name_ok("-opt"));
	CU_ASSERT_FALSE(ped_tls_name_ok("../x"));
	CU_ASSERT_FALSE(ped_tls_name_ok("a/b"));
	CU_ASSERT_FALSE(ped_tls_name_ok("a b"));
	char longname[PED_TLS_NAME_MAX + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CU_ASSERT_FALSE(ped_tls_name_ok(longname));
	CU_ASSERT_TRUE(ped_netcfg_host_ok("10.0.0.2"));
	CU_ASSERT_TRUE(ped_netcfg_host_ok("fe80::1"));
	CU_ASSERT_FALSE(ped_netcfg_host_ok("-oProxyCommand=x"));
	CU_ASSERT_FALSE(ped_netcfg_host_ok("a;b"));
}

static void certificates_are_pinned_whole(void)
{
	char ca[600], ka[600], cb[600], kb[600], why[256], fpr[20];
	X509 *a = NULL, *b = NULL;
	struct ped_tls_pins pins = {0};
	struct stat st;

	ident("pin-a", 30, ca, ka);
	ident("pin-b", 30, cb, kb);
	CU_ASSERT_EQUAL(stat(ka, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL_FATAL(ped_tls_read_cert(ca, &a, why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_tls_read_cert(cb, &b, why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL(ped_tls_fingerprint(a, fpr), PED_OK);
	CU_ASSERT_EQUAL(strlen(fpr), 19);
	CU_ASSERT_EQUAL(ped_tls_pins_add(&pins, "a", a), PED_OK);
	CU_ASSERT_STRING_EQUAL(ped_tls_pins_find(&pins, a), "a");
	CU_ASSERT_PTR_NULL(ped_tls_pins_find(&pins, b));
	/* a key file is not a certificate */
	X509 *k = NULL;
	CU_ASSERT_NOT_EQUAL(ped_tls_read_cert(ka, &k, why, sizeof(why)), PED_OK);
	CU_ASSERT_PTR_NULL(k);
	CU_ASSERT_EQUAL(ped_tls_parse_cert((const uint8_t *)"x", 0, &k), PED_E_RANGE);
	CU_ASSERT_EQUAL(ped_tls_make_cert("x", 0, ca, ka), PED_E_RANGE);
	ped_tls_pins_free(&pins);
	X509_free(a);
	X509_free(b);
}

struct server {
	int listen_fd;
	const char *cert, *key, *client_cert; /* the client registered here */
	int r;
	char name[PED_TLS_NAME_MAX + 1], why[320];
	int plain;
};

static void *serve_one(void *arg)
{
	struct server *s = arg;
	struct ped_tls_pins pins = {0};
	SSL_CTX *ctx = NULL;
	X509 *c = NULL;
	int fd = -1;

	s->plain = -1;
	if (ped_tls_read_cert(s->client_cert, &c, s->why, sizeof(s->why)) != PED_OK ||
	    ped_tls_pins_add(&pins, "client", c) != PED_OK ||
	    ped_tls_pinned_context(1, s->cert, s->key, &pins, &ctx, s->why, sizeof(s->why)) != PED_OK) {
		s->r = PED_E_GENERAL;
		goto out;
	}
	for (int i = 0; i < 500 && ped_accept(s->listen_fd, &fd) != PED_OK; i++)
		usleep(10000);
	if (fd < 0) {
		s->r = PED_E_TIMED_OUT;
		goto out;
	}
	s->r = ped_tls_accept(ctx, &pins, fd, 5000, &s->plain, s->name, sizeof(s->name), s->why, sizeof(s->why));
	if (s->r == PED_OK) { /* echo one line back */
		char buf[64];
		ssize_t n = ped_read_full(s->plain, buf, 5, 5000) == PED_OK ? 5 : -1;
		if (n == 5)
			(void)ped_write_all(s->plain, buf, 5, 5000);
		ped_tls_proxy_close(s->plain, 2000);
	}
out:
	SSL_CTX_free(ctx);
	ped_tls_pins_free(&pins);
	X509_free(c);
	return NULL;
}

/* One link: the server registered server_pins_client, the client pinned
 * client_pins_server. The client's result, why in cwhy; the server's in *srv. */
static int link_once(const char *server_name, const char *client_name, const char *server_pins_client,
		     const char *client_pins_server, struct server *srv, char *cwhy, size_t cwhylen)
{
	char sc[600], sk[600], cc[600], ck[600], pin_c[600], pin_k[600], pin_s[600], pin_sk[600];
	struct ped_tls_pins pins = {0};
	SSL_CTX *ctx = NULL;
	X509 *ps = NULL;
	pthread_t th;
	uint16_t port = 0;
	int plain = -1, r;

	ident(server_name, 30, sc, sk);
	ident(client_name, strstr(client_name, "expired") ? -1 : 30, cc, ck);
	ident(server_pins_client, strstr(server_pins_client, "expired") ? -1 : 30, pin_c, pin_k);
	ident(client_pins_server, 30, pin_s, pin_sk);
	memset(srv, 0, sizeof(*srv));
	CU_ASSERT_EQUAL_FATAL(ped_tcp_listen("127.0.0.1", 0, &srv->listen_fd, &port), PED_OK);
	srv->cert = sc;
	srv->key = sk;
	srv->client_cert = pin_c;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, serve_one, srv), 0);
	CU_ASSERT_EQUAL_FATAL(ped_tls_read_cert(pin_s, &ps, cwhy, cwhylen), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_tls_pins_add(&pins, "server", ps), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_tls_pinned_context(0, cc, ck, &pins, &ctx, cwhy, cwhylen), PED_OK);
	r = ped_tls_dial(ctx, "127.0.0.1", port, 5000, &plain, NULL, cwhy, cwhylen);
	if (r == PED_OK) {
		char back[6] = "";
		CU_ASSERT_EQUAL(ped_write_all(plain, "hello", 5, 5000), PED_OK);
		CU_ASSERT_EQUAL(ped_read_full(plain, back, 5, 5000), PED_OK);
		CU_ASSERT_STRING_EQUAL(back, "hello");
		ped_tls_proxy_close(plain, 2000);
	}
	pthread_join(th, NULL);
	close(srv->listen_fd);
	SSL_CTX_free(ctx);
	ped_tls_pins_free(&pins);
	X509_free(ps);
	return r;
}

static void a_registered_pair_links(void)
{
	struct server s;
	char why[320] = "";
	CU_ASSERT_EQUAL(link_once("srv", "cli", "cli", "srv", &s, why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL(s.r, PED_OK);
	CU_ASSERT_STRING_EQUAL(s.name, "client");
}

static void an_unregistered_client_is_told(void)
{
	struct server s;
	char why[320] = "";
	CU_ASSERT_EQUAL(link_once("srv", "stranger", "cli", "srv", &s, why, sizeof(why)), PED_E_CERTIFICATE_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "refused our certificate: it is not registered there"));
	CU_ASSERT_NOT_EQUAL(s.r, PED_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(s.why, "client certificate not registered"));
}

static void another_server_is_refused(void)
{
	struct server s;
	char why[320] = "";
	/* the client pinned "other", the server presents "srv" */
	CU_ASSERT_EQUAL(link_once("srv", "cli", "cli", "other", &s, why, sizeof(why)), PED_E_CERTIFICATE_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "not the one registered for it"));
	CU_ASSERT_NOT_EQUAL(s.r, PED_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(s.why, "the client refused this server's certificate"));
}

static void an_expired_client_is_told(void)
{
	struct server s;
	char why[320] = "";
	CU_ASSERT_EQUAL(link_once("srv", "cli-expired", "cli-expired", "srv", &s, why, sizeof(why)),
			PED_E_CERTIFICATE_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "it has expired"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s.why, "certificate has expired"));
}

static void nobody_listening_is_a_socket_error(void)
{
	char cc[600], ck[600], why[320];
	struct ped_tls_pins pins = {0};
	SSL_CTX *ctx = NULL;
	uint16_t port = 0;
	int fd, plain;

	ident("cli", 30, cc, ck);
	CU_ASSERT_EQUAL_FATAL(ped_tcp_listen("127.0.0.1", 0, &fd, &port), PED_OK);
	close(fd); /* the port is free again: nothing answers */
	CU_ASSERT_EQUAL_FATAL(ped_tls_pinned_context(0, cc, ck, &pins, &ctx, why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL(ped_tls_dial(ctx, "127.0.0.1", port, 2000, &plain, NULL, why, sizeof(why)), PED_E_SOCKET);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "cannot reach 127.0.0.1 port"));
	SSL_CTX_free(ctx);
}

static void servers_keep_their_order_and_the_file_its_rest(void)
{
	char path[600], err[512];
	struct ped_net_client a, b;
	FILE *f;

	snprintf(path, sizeof(path), "%s/p11.conf", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("Module = { PEDTimeout1 = 1234; };\nNetwork = { ServerName02 = \"b.example\"; ServerCert02 = \"/b.pem\";\n"
	      "  ServerName00 = \"a.example\"; ServerPort00 = 1800; ServerCert00 = \"/a.pem\"; };\n",
	      f);
	fclose(f);
	CU_ASSERT_EQUAL_FATAL(ped_netcfg_load(&a, path, err, sizeof(err)), PED_OK);
	CU_ASSERT_EQUAL_FATAL(a.n, 2);
	CU_ASSERT_STRING_EQUAL(a.s[0].name, "a.example");
	CU_ASSERT_EQUAL(a.s[0].port, 1800);
	CU_ASSERT_STRING_EQUAL(a.s[1].name, "b.example");
	CU_ASSERT_EQUAL(a.s[1].port, PED_NET_DEFAULT_PORT);
	CU_ASSERT_EQUAL(ped_netcfg_find(&a, "b.example"), 1);
	CU_ASSERT_EQUAL(ped_netcfg_find(&a, "c.example"), -1);
	/* the first deleted: the second is renumbered 00, the rest kept */
	memmove(&a.s[0], &a.s[1], sizeof(a.s[0]));
	a.n = 1;
	CU_ASSERT_EQUAL_FATAL(ped_netcfg_save(&a, err, sizeof(err)), PED_OK);
	CU_ASSERT_EQUAL_FATAL(ped_netcfg_load(&b, path, err, sizeof(err)), PED_OK);
	CU_ASSERT_EQUAL(b.n, 1);
	CU_ASSERT_STRING_EQUAL(b.s[0].name, "b.example");
	char *text = NULL;
	size_t len = 0;
	f = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(getdelim(&text, &len, '\0', f) > 0, 1);
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "PEDTimeout1 = 1234"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "ServerName00 = \"b.example\""));
	CU_ASSERT_PTR_NULL(strstr(text, "ServerName02"));
	free(text);
	/* a server without its certificate, named in the error */
	f = fopen(path, "w");
	fputs("Network = { ServerName01 = \"x\"; };\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(ped_netcfg_load(&a, path, err, sizeof(err)), PED_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "ServerName01"));
	/* no file: no servers */
	snprintf(path, sizeof(path), "%s/none.conf", dir);
	CU_ASSERT_EQUAL(ped_netcfg_load(&a, path, err, sizeof(err)), PED_OK);
	CU_ASSERT_EQUAL(a.n, 0);
}

static int holds(const uint8_t *p, size_t n, const char *s)
{
	size_t k = strlen(s);
	for (size_t i = 0; i + k <= n; i++)
		if (!memcmp(p + i, s, k))
			return 1;
	return 0;
}

/* rbs's key: encrypted (PKCS#8, scrypt, AES-256) under its password, 0600;
 * the password opens it and serves a TLS context, another does not. */
static void an_encrypted_key_opens_with_its_password_only(void)
{
	char cert[600], key[600], why[320];
	struct ped_tls_pins pins = {0};
	EVP_PKEY *k = NULL;
	SSL_CTX *ctx = NULL;
	struct stat st;
	uint8_t *pem = NULL;
	size_t len = 0;

	snprintf(cert, sizeof(cert), "%s/enc.pem", dir);
	snprintf(key, sizeof(key), "%s/enc.key", dir);
	CU_ASSERT_EQUAL(ped_tls_make_cert_encrypted("enc", 30, cert, key, "", 0), PED_E_INVALID);
	CU_ASSERT_EQUAL_FATAL(ped_tls_make_cert_encrypted("enc", 30, cert, key, "correct horse", 13), PED_OK);
	CU_ASSERT_EQUAL_FATAL(stat(key, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL_FATAL(ped_file_read_bounded(key, 16384, &pem, &len), PED_OK);
	CU_ASSERT_TRUE(holds(pem, len, "BEGIN ENCRYPTED PRIVATE KEY"));
	CU_ASSERT_FALSE(holds(pem, len, "BEGIN PRIVATE KEY"));
	OPENSSL_clear_free(pem, len);
	/* a file loader without the password gets nothing */
	CU_ASSERT_NOT_EQUAL(ped_tls_pinned_context(1, cert, key, &pins, &ctx, why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL(ped_tls_read_key_encrypted(key, "wrong horse", 11, &k, why, sizeof(why)), PED_E_PIN_INCORRECT);
	CU_ASSERT_PTR_NULL(k);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "the password does not open"));
	CU_ASSERT_EQUAL(ped_tls_read_key_encrypted(key, "correct hors", 12, &k, why, sizeof(why)), PED_E_PIN_INCORRECT);
	CU_ASSERT_EQUAL_FATAL(ped_tls_read_key_encrypted(key, "correct horse", 13, &k, why, sizeof(why)), PED_OK);
	CU_ASSERT_EQUAL(ped_tls_pinned_context_pkey(1, cert, k, &pins, &ctx, why, sizeof(why)), PED_OK);
	SSL_CTX_free(ctx);
	ctx = NULL;
	/* a plain key file is not what this reads */
	char pc[600], pk[600];
	ident("plain", 30, pc, pk);
	EVP_PKEY *k2 = NULL;
	CU_ASSERT_EQUAL(ped_tls_read_key_encrypted(pk, "correct horse", 13, &k2, why, sizeof(why)), PED_E_FILE);
	/* nor another certificate's key */
	CU_ASSERT_NOT_EQUAL(ped_tls_pinned_context_pkey(1, pc, k, &pins, &ctx, why, sizeof(why)), PED_OK);
	SSL_CTX_free(ctx);
	EVP_PKEY_free(k);
}

/* The client registry hsm-sim -client and rbs --register share. */
static void the_registry_refuses_twice_and_expired(void)
{
	char reg[600], ca[600], ka[600], cb[600], kb[600], ce[600], ke[600], err[512];
	FILE *out = fopen("/dev/null", "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	snprintf(reg, sizeof(reg), "%s/registry", dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(reg, 0700), 0);
	ident("rega", 30, ca, ka);
	ident("regb", 30, cb, kb);
	ident("rege", -1, ce, ke);
	CU_ASSERT_EQUAL(ped_tls_registry_add(reg, "a", ca, out, err, sizeof(err)), PED_OK);
	CU_ASSERT_EQUAL(ped_tls_registry_add(reg, "a", cb, out, err, sizeof(err)), PED_E_EXISTS);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "registered already"));
	CU_ASSERT_EQUAL(ped_tls_registry_add(reg, "b", ca, out, err, sizeof(err)), PED_E_EXISTS);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "this certificate is registered already, as a"));
	CU_ASSERT_EQUAL(ped_tls_registry_add(reg, "e", ce, out, err, sizeof(err)), PED_E_CERTIFICATE_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "has expired"));
	CU_ASSERT_EQUAL(ped_tls_registry_add(reg, "../x", cb, out, err, sizeof(err)), PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_tls_registry_add(reg, "b", NULL, out, err, sizeof(err)), PED_E_INVALID);
	CU_ASSERT_EQUAL(ped_tls_registry_add(reg, "b", cb, out, err, sizeof(err)), PED_OK);
	struct ped_tls_pins pins = {0};
	CU_ASSERT_EQUAL(ped_tls_pins_load_dir(&pins, reg), PED_OK);
	CU_ASSERT_EQUAL(pins.n, 2);
	ped_tls_pins_free(&pins);
	CU_ASSERT_EQUAL(ped_tls_registry_remove(reg, "a", out, err, sizeof(err)), PED_OK);
	CU_ASSERT_EQUAL(ped_tls_registry_remove(reg, "a", out, err, sizeof(err)), PED_E_NOT_FOUND);
	CU_ASSERT_EQUAL(ped_tls_registry_list(reg, out), PED_OK);
	fclose(out);
}

UNIT_SUITE(tlsnet, init, NULL, UNIT_TEST(names_are_file_names), UNIT_TEST(certificates_are_pinned_whole),
	   UNIT_TEST(a_registered_pair_links), UNIT_TEST(an_unregistered_client_is_told),
	   UNIT_TEST(another_server_is_refused), UNIT_TEST(an_expired_client_is_told),
	   UNIT_TEST(nobody_listening_is_a_socket_error), UNIT_TEST(servers_keep_their_order_and_the_file_its_rest),
	   UNIT_TEST(an_encrypted_key_opens_with_its_password_only), UNIT_TEST(the_registry_refuses_twice_and_expired))
