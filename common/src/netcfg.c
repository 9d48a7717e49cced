/* The client's network servers in the module's configuration (ped/netcfg.h). */
#include "ped/netcfg.h"

#include "ped/config.h"
#include "ped/error.h"
#include "ped/tlsnet.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Setting names are made at run time: a schema on the stack of each call. */
#define NC_FIXED 2
#define NC_SETTINGS (NC_FIXED + 3 * PED_NET_SERVERS_MAX + 1)

struct nc_schema {
	char names[3 * PED_NET_SERVERS_MAX][32];
	struct ped_cfg_setting s[NC_SETTINGS];
};

static void schema_make(struct nc_schema *sc)
{
	size_t k = 0;
	memset(sc, 0, sizeof(*sc));
	sc->s[k++] = (struct ped_cfg_setting){.name = "Network.ClientCertFile", .type = PED_CFG_STRING, .sdflt = "",
					      .help = "our certificate (vtl createCert)"};
	sc->s[k++] = (struct ped_cfg_setting){.name = "Network.ClientPrivKeyFile", .type = PED_CFG_STRING, .sdflt = "",
					      .help = "its key"};
	for (int i = 0; i < PED_NET_SERVERS_MAX; i++) {
		char *n = sc->names[3 * i], *p = sc->names[3 * i + 1], *c = sc->names[3 * i + 2];
		snprintf(n, 32, "Network.ServerName%02d", i);
		snprintf(p, 32, "Network.ServerPort%02d", i);
		snprintf(c, 32, "Network.ServerCert%02d", i);
		sc->s[k++] = (struct ped_cfg_setting){.name = n, .type = PED_CFG_STRING, .sdflt = "", .help = "server"};
		sc->s[k++] = (struct ped_cfg_setting){.name = p, .type = PED_CFG_INT, .min = 1, .max = 65535,
						      .dflt = PED_NET_DEFAULT_PORT, .help = "its port"};
		sc->s[k++] = (struct ped_cfg_setting){.name = c, .type = PED_CFG_STRING, .sdflt = "",
						      .help = "its certificate"};
	}
}

void ped_netcfg_path(const char *dflt, char *out, size_t len)
{
	const char *env = getenv(PED_NETCFG_ENV);
	snprintf(out, len, "%s", env && *env ? env : dflt);
}

int ped_netcfg_host_ok(const char *host)
{
	size_t n = host ? strlen(host) : 0;
	if (n == 0 || n > PED_NET_HOST_MAX || host[0] == '-' || host[0] == '.')
		return 0;
	return strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-:") == n;
}

int ped_netcfg_load(struct ped_net_client *nc, const char *path, char *err, size_t errlen)
{
	struct nc_schema sc;
	struct ped_config cfg;
	int r;

	memset(nc, 0, sizeof(*nc));
	snprintf(nc->path, sizeof(nc->path), "%s", path);
	schema_make(&sc);
	r = ped_config_load(&cfg, path, sc.s, err, errlen);
	if (r == PED_E_NOT_FOUND || r == PED_E_FILE) {
		r = PED_OK; /* no file: no servers yet */
		goto out;
	}
	if (r != PED_OK)
		goto out;
	snprintf(nc->cert, sizeof(nc->cert), "%s", ped_config_str(&cfg, "Network.ClientCertFile"));
	snprintf(nc->key, sizeof(nc->key), "%s", ped_config_str(&cfg, "Network.ClientPrivKeyFile"));
	for (int i = 0; i < PED_NET_SERVERS_MAX; i++) {
		const char *name = ped_config_str(&cfg, sc.names[3 * i]);
		const char *cert = ped_config_str(&cfg, sc.names[3 * i + 2]);
		if (!*name && !*cert)
			continue;
		if (!ped_netcfg_host_ok(name) || !*cert) {
			snprintf(err, errlen, "%s: %s needs a host name and %s a certificate file", path,
				 sc.names[3 * i] + 8, sc.names[3 * i + 2] + 8);
			r = PED_E_CONFIG;
			goto out;
		}
		struct ped_net_server *s = &nc->s[nc->n++];
		snprintf(s->name, sizeof(s->name), "%s", name);
		s->port = (uint16_t)ped_config_int(&cfg, sc.names[3 * i + 1]);
		snprintf(s->cert, sizeof(s->cert), "%s", cert);
	}
out:
	ped_config_free(&cfg);
	return r;
}

int ped_netcfg_save(const struct ped_net_client *nc, char *err, size_t errlen)
{
	struct nc_schema sc;
	struct ped_config cfg;
	char num[16];
	int r;

	schema_make(&sc);
	r = ped_config_load(&cfg, nc->path, sc.s, err, errlen);
	if (r != PED_OK && r != PED_E_NOT_FOUND && r != PED_E_FILE)
		goto out;
	/* the old numbering goes whole: a deleted server leaves no gap */
	config_setting_t *g = config_lookup(&cfg.tree, "Network");
	for (int i = 0; g && i < PED_NET_SERVERS_MAX; i++)
		for (int k = 0; k < 3; k++)
			while (config_setting_get_member(g, sc.names[3 * i + k] + 8))
				config_setting_remove(g, sc.names[3 * i + k] + 8);
	if ((r = ped_config_set(&cfg, "Network.ClientCertFile", nc->cert, err, errlen)) != PED_OK ||
	    (r = ped_config_set(&cfg, "Network.ClientPrivKeyFile", nc->key, err, errlen)) != PED_OK)
		goto out;
	for (size_t i = 0; i < nc->n; i++) {
		snprintf(num, sizeof(num), "%u", (unsigned)nc->s[i].port);
		if ((r = ped_config_set(&cfg, sc.names[3 * i], nc->s[i].name, err, errlen)) != PED_OK ||
		    (r = ped_config_set(&cfg, sc.names[3 * i + 1], num, err, errlen)) != PED_OK ||
		    (r = ped_config_set(&cfg, sc.names[3 * i + 2], nc->s[i].cert, err, errlen)) != PED_OK)
			goto out;
	}
	r = ped_config_save(&cfg, err, errlen);
out:
	ped_config_free(&cfg);
	return r;
}

int ped_netcfg_find(const struct ped_net_client *nc, const char *name)
{
	for (size_t i = 0; i < nc->n; i++)
		if (!strcmp(nc->s[i].name, name))
			return (int)i;
	return -1;
}

/* A pinned certificate is what the client trusts: a file, and its folder,
 * that only we or root can change. Anyone else who could rewrite it could
 * pin their own server (and read every command and challenge secret). */
static int pin_unchangeable(const char *path, char *why, size_t whylen)
{
	char real[PATH_MAX], *slash;
	struct stat st;

	if (!realpath(path, real) || stat(real, &st) != 0) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
		return PED_E_FILE;
	}
	if (!S_ISREG(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & 022)) {
		snprintf(why, whylen, "%s (the server's registered certificate) must be a file of ours or root's "
				      "that no one else can change (chmod 644)", path);
		return PED_E_FILE;
	}
	if ((slash = strrchr(real, '/')) != NULL)
		*(slash == real ? slash + 1 : slash) = '\0';
	if (stat(real, &st) != 0 || (st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & 022)) {
		snprintf(why, whylen, "%s (the folder of the server's registered certificate) must be ours or root's "
				      "and writable by no one else (chmod 755)", real);
		return PED_E_FILE;
	}
	return PED_OK;
}

int ped_netcfg_dial(const struct ped_net_client *nc, size_t i, int timeout_ms, int *plain, pthread_t *tid,
		    char *why, size_t whylen)
{
	struct ped_tls_pins pins = {0};
	SSL_CTX *ctx = NULL;
	X509 *c = NULL;
	int r;

	*plain = -1;
	if (i >= nc->n)
		return PED_E_INVALID;
	if (!nc->cert[0] || !nc->key[0]) {
		snprintf(why, whylen, "no client certificate in %s: make one with vtl createCert", nc->path);
		return PED_E_CERTIFICATE_INVALID;
	}
	if ((r = ped_tls_key_private(nc->key, why, whylen)) != PED_OK ||
	    (r = pin_unchangeable(nc->s[i].cert, why, whylen)) != PED_OK ||
	    (r = ped_tls_read_cert(nc->s[i].cert, &c, why, whylen)) != PED_OK ||
	    (r = ped_tls_pins_add(&pins, nc->s[i].name, c)) != PED_OK)
		goto out;
	if ((r = ped_tls_pinned_context(0, nc->cert, nc->key, &pins, &ctx, why, whylen)) != PED_OK)
		goto out;
	r = ped_tls_dial(ctx, nc->s[i].name, nc->s[i].port, timeout_ms, plain, tid, why, whylen);
	SSL_CTX_set_app_data(ctx, NULL); /* the handshake is over: the pins go */
out:
	SSL_CTX_free(ctx);
	ped_tls_pins_free(&pins);
	X509_free(c);
	ERR_clear_error();
	return r;
}
