/* Registered appliances live in the configuration file's "appliances" list
 * (name, ip, port, certificate path, common name); their certificates are
 * copied next to it so a moved or deleted original does not break them. */
#include "appliance.h"

#include "ped/error.h"
#include "ped/ec.h"
#include "ped/fileio.h"
#include "ped/admin.h"
#include "ped/service.h"
#include "ped/tls.h"

#include <openssl/pem.h>
#include <sys/stat.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int valid_name(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > 32)
		return 0;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_' || *p == '.'))
			return 0;
	return 1;
}

static X509 *read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *c = NULL;
	if (!f)
		return NULL;
	c = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return c;
}

static void common_name(X509 *c, char *out, size_t len)
{
	out[0] = '\0';
	X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, out, (int)len);
}

static config_setting_t *list_of(struct ped_config *cfg, int create)
{
	config_setting_t *root = config_root_setting(&cfg->tree);
	config_setting_t *l = config_setting_get_member(root, "appliances");
	if (!l && create)
		l = config_setting_add(root, "appliances", CONFIG_TYPE_LIST);
	return l;
}

static int find(config_setting_t *l, const char *name)
{
	for (int i = 0; l && i < config_setting_length(l); i++) {
		const char *n = NULL;
		if (config_setting_lookup_string(config_setting_get_elem(l, (unsigned)i), "name", &n) &&
		    !strcasecmp(n, name))
			return i;
	}
	return -1;
}

static int save(struct ped_config *cfg)
{
	char err[512];
	int r = ped_config_save(cfg, err, sizeof(err));
	if (r != PED_OK)
		ped_service_err("%s : 0x%08x %s\n", err, ped_err_code(r), ped_err_name(r));
	return r;
}

/* Our private key (client) and the appliances we trust (server): no one
 * else may enter either. */
static int cert_dir(const char *sub, char *out, size_t len)
{
	char d[1024], why[1500];
	int r;
	snprintf(d, sizeof(d), "cert/%s", sub);
	if ((r = ped_data_path(d, out, len)) != PED_OK)
		return r;
	if ((r = ped_dir_private(out, PED_DIR_SECRET, why, sizeof(why))) != PED_OK)
		ped_service_err("%s\n", why);
	return r;
}

static int do_register(struct ped_config *cfg, const char *name, const char *cert, const char *ip, int port)
{
	char dir[1024], copy[1200], cn[128];
	uint8_t *pem = NULL;
	size_t len = 0;
	X509 *c = NULL;
	int r = 1;

	if (!name || !cert || !ip) {
		ped_service_err("-appliance register needs -name, -certificate and -ip.\n");
		return 2;
	}
	if (!valid_name(name)) {
		ped_service_err("Invalid appliance name '%s': 1-32 letters, digits, '-', '_' or '.'.\n", name);
		return 2;
	}
	if (port < 0 || port > 65525) {
		ped_service_err("-port: value %d out of range (0-65525)\n", port);
		return 2;
	}
	config_setting_t *l = list_of(cfg, 1);
	if (find(l, name) >= 0) {
		ped_service_err("An appliance named '%s' is already registered.\n", name);
		return 1;
	}
	if (!(c = read_cert(cert))) {
		ped_service_err("Cannot read a PEM certificate from %s : 0x%08x %s\n", cert, ped_err_code(PED_E_FILE),
		       ped_err_name(PED_E_FILE));
		return 1;
	}
	common_name(c, cn, sizeof(cn));
	if (cert_dir("server", dir, sizeof(dir)) != PED_OK ||
	    ped_file_read_bounded(cert, 65536, &pem, &len) != PED_OK) {
		ped_service_err("Cannot copy the certificate : 0x%08x %s\n", ped_err_code(PED_E_FILE), ped_err_name(PED_E_FILE));
		goto out;
	}
	snprintf(copy, sizeof(copy), "%s/%s.pem", dir, name);
	if (ped_file_write_atomic(copy, pem, len, 0600) != PED_OK) {
		ped_service_err("Cannot write %s : 0x%08x %s\n", copy, ped_err_code(PED_E_FILE), ped_err_name(PED_E_FILE));
		goto out;
	}
	config_setting_t *g = config_setting_add(l, NULL, CONFIG_TYPE_GROUP);
	config_setting_set_string(config_setting_add(g, "name", CONFIG_TYPE_STRING), name);
	config_setting_set_string(config_setting_add(g, "ip", CONFIG_TYPE_STRING), ip);
	config_setting_set_int(config_setting_add(g, "port", CONFIG_TYPE_INT), port);
	config_setting_set_string(config_setting_add(g, "certificate", CONFIG_TYPE_STRING), copy);
	config_setting_set_string(config_setting_add(g, "commonname", CONFIG_TYPE_STRING), cn);
	if (save(cfg) != PED_OK)
		goto out;
	printf("Appliance %s registered (%s:%d, certificate CN %s).\n", name, ip, port, cn);
	r = 0;
out:
	if (pem)
		OPENSSL_free(pem);
	X509_free(c);
	return r;
}

static int do_list(struct ped_config *cfg)
{
	config_setting_t *l = list_of(cfg, 0);
	printf("%-16s%-20s%-14s%s\n", "Server Name", "IP Address", "Port Number", "Certificate Common Name");
	printf("%-16s%-20s%-14s%s\n", "-------------", "------------", "-------------", "----------------------------");
	for (int i = 0; l && i < config_setting_length(l); i++) {
		config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		const char *n = "", *ip = "", *cn = "";
		int port = 0;
		config_setting_lookup_string(g, "name", &n);
		config_setting_lookup_string(g, "ip", &ip);
		config_setting_lookup_int(g, "port", &port);
		config_setting_lookup_string(g, "commonname", &cn);
		printf("%-16s%-20s%-14d%s\n", n, ip, port, cn);
	}
	return 0;
}

static int do_delete(struct ped_config *cfg, const char *name)
{
	if (!name) {
		ped_service_err("-appliance delete needs -name.\n");
		return 2;
	}
	config_setting_t *l = list_of(cfg, 0);
	int i = find(l, name);
	if (i < 0) {
		ped_service_err("No appliance named '%s' is registered : 0x%08x %s\n", name, ped_err_code(PED_E_NOT_FOUND),
		       ped_err_name(PED_E_NOT_FOUND));
		return 1;
	}
	const char *path = NULL;
	char copy[1200] = "";
	if (config_setting_lookup_string(config_setting_get_elem(l, (unsigned)i), "certificate", &path))
		snprintf(copy, sizeof(copy), "%s", path);
	config_setting_remove_elem(l, (unsigned)i);
	if (save(cfg) != PED_OK)
		return 1;
	if (copy[0])
		unlink(copy);
	printf("Appliance %s deleted.\n", name);
	return 0;
}

int appliance_command(int op, struct ped_config *cfg, const char *name, const char *cert, const char *ip,
		      int port)
{
	switch (op) {
	case APPLIANCE_REGISTER: return do_register(cfg, name, cert, ip, port);
	case APPLIANCE_LIST: return do_list(cfg);
	default: return do_delete(cfg, name);
	}
}

int appliance_regen(struct ped_config *cfg, const char *cn, int force)
{
	char dir[1024], keypath[1200], certpath[1200];
	int r;

	if (!cn || !*cn || strlen(cn) > 64 || strchr(cn, '/')) {
		ped_service_err("-regen needs -commonname (1-64 characters, no '/').\n");
		return 2;
	}
	if (cert_dir("client", dir, sizeof(dir)) != PED_OK) {
		ped_service_err("Cannot create the certificate directory : 0x%08x %s\n", ped_err_code(PED_E_FILE),
		       ped_err_name(PED_E_FILE));
		return 1;
	}
	snprintf(keypath, sizeof(keypath), "%s/%sKey.pem", dir, cn);
	snprintf(certpath, sizeof(certpath), "%s/%s.pem", dir, cn);
	if (!force && access(certpath, F_OK) == 0) {
		ped_service_err("%s exists; existing links keep working until they end. Use -force to replace it.\n", certpath);
		return 1;
	}
	if ((r = ped_tls_make_identity(cn, certpath, keypath)) != PED_OK) {
		ped_service_err("Cannot make the client certificate : 0x%08x %s\n", ped_err_code(r), ped_err_name(r));
		return 1;
	}
	/* -mode connect presents this certificate. */
	char err[512];
	if (cfg->path[0] && (ped_config_set(cfg, "ClientCertificate", certpath, err, sizeof(err)) != PED_OK ||
			     ped_config_set(cfg, "ClientKey", keypath, err, sizeof(err)) != PED_OK ||
			     ped_config_save(cfg, err, sizeof(err)) != PED_OK)) {
		ped_service_err("%s\n", err);
		return 1;
	}
	printf("Private Key created and written to: %s\n", keypath);
	printf("Certificate created and written to: %s\n", certpath);
	printf("Successfully regenerated the client certificate.\n");
	return 0;
}

int appliance_update(struct ped_config *cfg, const char *name, const char *ip, int port)
{
	config_setting_t *l = list_of(cfg, 0), *g, *s;
	int i = find(l, name);
	if (i < 0) {
		ped_service_err("No appliance named '%s' is registered : 0x%08x %s\n", name, ped_err_code(PED_E_NOT_FOUND),
		       ped_err_name(PED_E_NOT_FOUND));
		return 1;
	}
	if (port > 65525) {
		ped_service_err("-port: value %d out of range (0-65525)\n", port);
		return 2;
	}
	g = config_setting_get_elem(l, (unsigned)i);
	if (ip) {
		if (!(s = config_setting_get_member(g, "ip")))
			s = config_setting_add(g, "ip", CONFIG_TYPE_STRING);
		config_setting_set_string(s, ip);
	}
	if (port >= 0) {
		if (!(s = config_setting_get_member(g, "port")))
			s = config_setting_add(g, "port", CONFIG_TYPE_INT);
		config_setting_set_int(s, port);
	}
	return save(cfg) == PED_OK ? 0 : 1;
}

int appliance_lookup(struct ped_config *cfg, const char *name, char *ip, size_t iplen, int *port, char *cert,
		     size_t certlen)
{
	config_setting_t *l = list_of(cfg, 0);
	int i = find(l, name);
	const char *v = NULL;
	if (i < 0)
		return PED_E_NOT_FOUND;
	config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
	if (!config_setting_lookup_string(g, "ip", &v))
		return PED_E_CONFIG;
	snprintf(ip, iplen, "%s", v);
	if (!config_setting_lookup_int(g, "port", port))
		*port = 9697;
	if (!config_setting_lookup_string(g, "certificate", &v))
		return PED_E_CONFIG;
	snprintf(cert, certlen, "%s", v);
	return PED_OK;
}

/* On the admin socket, where pedserver knows the asker is its own user or
 * root: the TCP admin port, open to every local user, takes no connect. */
int appliance_connect(struct ped_config *cfg, int connect, const char *name, int timeout_ms)
{
	char line[128], out[1024];
	int r;
	if (!name) {
		ped_service_err("-mode %s needs -name.\n", connect ? "connect" : "disconnect");
		return 2;
	}
	if (find(list_of(cfg, 0), name) < 0) {
		ped_service_err("No appliance named '%s' is registered : 0x%08x %s\n", name, ped_err_code(PED_E_NOT_FOUND),
		       ped_err_name(PED_E_NOT_FOUND));
		return 1;
	}
	snprintf(line, sizeof(line), "%s %s", connect ? "connect" : "disconnect", name);
	if (connect)
		printf("Connecting to Luna SA. Please wait....\n");
	fflush(stdout);
	if ((r = ped_admin_query_local("pedserver", line, out, sizeof(out), timeout_ms)) != PED_OK) {
		if (r == PED_E_CLOSED || r == PED_E_SOCKET || r == PED_E_NOT_FOUND || r == PED_E_FILE)
			ped_service_err("Ped Server is not running : 0x%08x %s\n", ped_err_code(PED_E_SOCKET), ped_err_name(PED_E_SOCKET));
		else
			ped_service_err("%s", out);
		return 1;
	}
	if (!connect) {
		printf("Connection to Luna SA terminated.\n");
		return 0;
	}
	/* The daemon dials up to 20 times; follow it until it has an answer. */
	snprintf(line, sizeof(line), "status %s", name);
	for (int i = 0; i < 600; i++) {
		if ((r = ped_admin_query_local("pedserver", line, out, sizeof(out), timeout_ms)) != PED_OK)
			break;
		if (!strncmp(out, "connected", 9)) {
			printf("Successfully connected to Luna SA.\n");
			return 0;
		}
		if (!strncmp(out, "failed", 6)) {
			ped_service_err("Failed to connect to Luna SA: %s", out + 6);
			return 1;
		}
		usleep(100000);
	}
	ped_service_err("Failed to connect to Luna SA : 0x%08x %s\n", ped_err_code(PED_E_TIMED_OUT), ped_err_name(PED_E_TIMED_OUT));
	return 1;
}
