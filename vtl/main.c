/* vtl: registers this client workstation with network HSMs, as the
 * reference client's vtl does.
 *
 *   vtl createCert -n NAME [-days N] [-force]
 *   vtl addServer -n HOST -c server.pem [-p PORT]
 *   vtl deleteServer -n HOST
 *   vtl listServers
 *   vtl verify
 *
 * The servers and our certificate are in the PKCS#11 module's
 * configuration file (ped/netcfg.h: $OPENPED_PKCS11_CONF, else the
 * installed one, or -conf); certificates under its folder's cert/. */
#include "vtl.h"

#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/opts.h"
#include "ped/tlsnet.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef VTL_DEFAULT_CONF
#define VTL_DEFAULT_CONF "/etc/openped/openped-pkcs11.conf"
#endif

#define USAGE                                                                  \
	"vtl createCert -n NAME [-days N] [-force]\n"                          \
	"       vtl addServer -n HOST -c server.pem [-p PORT]\n"               \
	"       vtl deleteServer -n HOST\n"                                    \
	"       vtl listServers\n"                                             \
	"       vtl verify [-timeout S]\n"                                     \
	"       (any of them with -conf FILE: the module's configuration file)"

static const char *const commands[] = {"createCert", "addServer", "deleteServer", "listServers", "verify", NULL};

/* FILE's folder's cert/SUB, made if missing (0755: certificates only;
 * the client's key file is 0600 itself). */
static int cert_dir(const char *conf, const char *sub, char *out, size_t len, char *err, size_t errlen)
{
	char dir[820];
	const char *slash = strrchr(conf, '/');
	int r;

	if (strlen(conf) >= 800) {
		snprintf(err, errlen, "%.100s...: too long a path", conf);
		return PED_E_RANGE;
	}
	if (slash)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - conf), conf);
	else
		snprintf(dir, sizeof(dir), ".");
	snprintf(out, len, "%s/cert/%s", dir[0] ? dir : "/", sub);
	errno = 0;
	if ((r = ped_mkdir_p(out, 0755)) != PED_OK) {
		int e = errno;
		/* the installed file is root's: a user says which file is theirs */
		if (e == EACCES || e == EPERM || e == EROFS)
			snprintf(err, errlen,
				 "cannot make %s: %s (the module's configuration %s is not yours to change: name one "
				 "of your own with -conf FILE or OPENPED_PKCS11_CONF)",
				 out, strerror(e), conf);
		else
			snprintf(err, errlen, "cannot make %s: %s", out, e ? strerror(e) : ped_strerror(r));
	}
	return r;
}

static int create_cert(struct ped_net_client *nc, const char *name, long days, int force, char *err, size_t errlen)
{
	char dir[900], cert[1000], key[1000];
	X509 *c = NULL;
	char fpr[20] = "?";
	int r;

	if (!name || !ped_tls_name_ok(name)) {
		snprintf(err, errlen, "createCert -n NAME: 1-%d of A-Z a-z 0-9 . _ -", PED_TLS_NAME_MAX);
		return PED_E_INVALID;
	}
	if ((r = cert_dir(nc->path, "client", dir, sizeof(dir), err, errlen)) != PED_OK)
		return r;
	snprintf(cert, sizeof(cert), "%s/%s.pem", dir, name);
	snprintf(key, sizeof(key), "%s/%sKey.pem", dir, name);
	if (!force && (access(cert, F_OK) == 0 || access(key, F_OK) == 0)) {
		snprintf(err, errlen, "%s exists: every server registered it; -force makes a new one (register it again)",
			 cert);
		return PED_E_EXISTS;
	}
	if ((r = ped_tls_make_cert(name, days, cert, key)) != PED_OK) {
		snprintf(err, errlen, "cannot make %s: %s", cert, ped_strerror(r));
		return r;
	}
	snprintf(nc->cert, sizeof(nc->cert), "%s", cert);
	snprintf(nc->key, sizeof(nc->key), "%s", key);
	if ((r = ped_netcfg_save(nc, err, errlen)) != PED_OK)
		return r;
	if (ped_tls_read_cert(cert, &c, err, errlen) == PED_OK)
		(void)ped_tls_fingerprint(c, fpr);
	X509_free(c);
	printf("Private Key created and written to: %s\n", key);
	printf("Certificate created and written to: %s\n", cert);
	printf("Fingerprint: %s\n", fpr);
	printf("Register it on each HSM host: hsm-sim -client register -name %s -cert %s.pem\n", name, name);
	return PED_OK;
}

static int add_server(struct ped_net_client *nc, const char *host, const char *file, long port, char *err,
		      size_t errlen)
{
	char dir[900], path[1200], fpr[20] = "?";
	X509 *c = NULL;
	BIO *b = NULL;
	BUF_MEM *m = NULL;
	int r;

	if (!host || !ped_netcfg_host_ok(host) || !file) {
		snprintf(err, errlen, "addServer -n HOST -c server.pem [-p PORT]");
		return PED_E_INVALID;
	}
	if (ped_netcfg_find(nc, host) >= 0) {
		snprintf(err, errlen, "%s is registered already (deleteServer -n %s first)", host, host);
		return PED_E_EXISTS;
	}
	if (nc->n == PED_NET_SERVERS_MAX) {
		snprintf(err, errlen, "%d servers are registered already, the most there may be", PED_NET_SERVERS_MAX);
		return PED_E_RANGE;
	}
	if ((r = ped_tls_read_cert(file, &c, err, errlen)) != PED_OK)
		goto out;
	if (X509_cmp_current_time(X509_get0_notAfter(c)) <= 0) {
		snprintf(err, errlen, "%s has expired", file);
		r = PED_E_CERTIFICATE_INVALID;
		goto out;
	}
	if ((r = cert_dir(nc->path, "server", dir, sizeof(dir), err, errlen)) != PED_OK)
		goto out;
	snprintf(path, sizeof(path), "%s/%s.pem", dir, host);
	r = PED_E_CRYPTO;
	if (!(b = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509(b, c) || BIO_get_mem_ptr(b, &m) != 1 || !m)
		goto out;
	if ((r = ped_file_write_atomic(path, m->data, m->length, 0644)) != PED_OK) {
		snprintf(err, errlen, "cannot write %s: %s", path, ped_strerror(r));
		goto out;
	}
	struct ped_net_server *s = &nc->s[nc->n++];
	snprintf(s->name, sizeof(s->name), "%s", host);
	s->port = (uint16_t)port;
	snprintf(s->cert, sizeof(s->cert), "%s", path);
	if ((r = ped_netcfg_save(nc, err, errlen)) != PED_OK)
		goto out;
	(void)ped_tls_fingerprint(c, fpr);
	printf("New server %s successfully added to server list (port %ld, certificate %s).\n", host, port, fpr);
out:
	BIO_free(b);
	X509_free(c);
	ERR_clear_error();
	return r;
}

static int delete_server(struct ped_net_client *nc, const char *host, char *err, size_t errlen)
{
	int i = host ? ped_netcfg_find(nc, host) : -1, r;

	if (i < 0) {
		snprintf(err, errlen, "no server %s is registered", host ? host : "(-n HOST)");
		return PED_E_NOT_FOUND;
	}
	char cert[sizeof(nc->s[0].cert)];
	snprintf(cert, sizeof(cert), "%s", nc->s[i].cert);
	memmove(&nc->s[i], &nc->s[i + 1], (nc->n - (size_t)i - 1) * sizeof(nc->s[0]));
	nc->n--;
	if ((r = ped_netcfg_save(nc, err, errlen)) != PED_OK)
		return r;
	(void)unlink(cert); /* no longer trusted: gone from the file */
	printf("Server %s successfully removed from server list.\n", host);
	return PED_OK;
}

static void list_servers(const struct ped_net_client *nc)
{
	printf("Server List:\n");
	printf("  Server                                   Port   Certificate\n");
	for (size_t i = 0; i < nc->n; i++) {
		char fpr[20] = "(unreadable)", why[256];
		X509 *c = NULL;
		if (ped_tls_read_cert(nc->s[i].cert, &c, why, sizeof(why)) == PED_OK)
			(void)ped_tls_fingerprint(c, fpr);
		X509_free(c);
		printf("  %-40s %-6u %s\n", nc->s[i].name, (unsigned)nc->s[i].port, fpr);
	}
	printf("%zu server(s)\n", nc->n);
}

int main(int argc, char **argv)
{
	struct ped_opt opts[] = {
		{.name = "n", .aliases = "name", .kind = PED_OPT_STRING, .arg = "NAME", .help = "the client's or server's name"},
		{.name = "c", .aliases = "cert", .kind = PED_OPT_STRING, .arg = "FILE", .help = "the server's certificate (addServer)"},
		{.name = "p", .aliases = "port", .kind = PED_OPT_INT, .min = 1, .max = 65535, .arg = "PORT",
		 .help = "the server's port (default 1792)"},
		{.name = "days", .kind = PED_OPT_INT, .min = -36500, .max = 36500, .arg = "N",
		 .help = "createCert: valid for N days (3650; negative: expired, for tests)"},
		{.name = "force", .kind = PED_OPT_FLAG, .help = "createCert: replace the certificate we have"},
		{.name = "timeout", .kind = PED_OPT_INT, .min = 1, .max = 3600, .arg = "S", .help = "verify: seconds per server (10)"},
		{.name = "conf", .kind = PED_OPT_STRING, .arg = "FILE", .help = "the module's configuration file"},
		{.name = "version", .kind = PED_OPT_FLAG, .help = "print the version"},
		{.name = NULL},
	};
	struct ped_net_client nc;
	const char *pos[1] = {NULL};
	size_t npos = 0;
	char err[3072], path[1024];
	int r, cmd = -1;

	signal(SIGPIPE, SIG_IGN); /* a server that drops the link is an error to print */
	r = ped_opts_parse(opts, argc, argv, 1, pos, 1, &npos, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, USAGE, opts);
		return 0;
	}
	if (r != PED_OK) {
		fprintf(stderr, "vtl: %s\nusage: %s\n", err, USAGE);
		return 2;
	}
	if (ped_opts_seen(opts, "version")) {
		printf("vtl %s\n", PED_VERSION);
		return 0;
	}
	for (int i = 0; npos && commands[i]; i++)
		if (!strcasecmp(pos[0], commands[i]))
			cmd = i;
	if (cmd < 0) {
		fprintf(stderr, "vtl: %s\nusage: %s\n", npos ? "unknown command" : "which command?", USAGE);
		return 2;
	}
	if (ped_opts_seen(opts, "conf"))
		snprintf(path, sizeof(path), "%s", ped_opts_str(opts, "conf", ""));
	else
		ped_netcfg_path(VTL_DEFAULT_CONF, path, sizeof(path));
	if ((r = ped_netcfg_load(&nc, path, err, sizeof(err))) != PED_OK) {
		fprintf(stderr, "vtl: %s\n", err);
		return 1;
	}
	switch (cmd) {
	case 0:
		r = create_cert(&nc, ped_opts_str(opts, "n", NULL), ped_opts_num(opts, "days", 3650),
				ped_opts_seen(opts, "force"), err, sizeof(err));
		break;
	case 1:
		r = add_server(&nc, ped_opts_str(opts, "n", NULL), ped_opts_str(opts, "c", NULL),
			       ped_opts_num(opts, "p", PED_NET_DEFAULT_PORT), err, sizeof(err));
		break;
	case 2:
		r = delete_server(&nc, ped_opts_str(opts, "n", NULL), err, sizeof(err));
		break;
	case 3:
		list_servers(&nc);
		r = PED_OK;
		break;
	default: {
		unsigned slot = 0;
		int bad = 0;
		if (nc.n == 0) {
			printf("No server is registered (vtl addServer).\n");
			return 1;
		}
		for (size_t i = 0; i < nc.n; i++) {
			if (vtl_verify_server(&nc, i, (int)ped_opts_num(opts, "timeout", 10) * 1000, &slot, stdout, err,
					      sizeof(err)) != PED_OK) {
				printf("Error: %s port %u: %s\n", nc.s[i].name, (unsigned)nc.s[i].port, err);
				bad = 1;
			}
		}
		return bad;
	}
	}
	if (r != PED_OK) {
		fprintf(stderr, "vtl: %s\n", err);
		return 1;
	}
	return 0;
}
