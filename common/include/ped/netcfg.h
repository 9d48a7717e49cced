/* The client side's network servers (vtl, hsmcm -server, the PKCS#11
 * module): the Network group of the module's configuration file
 * (openped-pkcs11.conf), as the reference client keeps them in its
 * "LunaSA Client" section:
 *
 *   Network = {
 *     ClientCertFile    = "/etc/openped/cert/client/ws1.pem";
 *     ClientPrivKeyFile = "/etc/openped/cert/client/ws1Key.pem";
 *     ServerName00 = "10.0.0.2";  ServerPort00 = 1792;
 *     ServerCert00 = "/etc/openped/cert/server/10.0.0.2.pem";
 *     ServerName01 = ...
 *   };
 *
 * Servers are numbered 00 to 15 in the order they were added: the order
 * their partitions come in (chapter 13). Every other setting of the file is
 * kept as it is when vtl writes it back. */
#ifndef PED_NETCFG_H
#define PED_NETCFG_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define PED_NET_SERVERS_MAX 16
#define PED_NET_HOST_MAX 253
#define PED_NETCFG_ENV "OPENPED_PKCS11_CONF"

struct ped_net_server {
	char name[PED_NET_HOST_MAX + 1]; /* host name or address */
	uint16_t port;
	char cert[1280]; /* the server's certificate, as registered */
};

struct ped_net_client {
	char path[1024];      /* the configuration file */
	char cert[1280];      /* Network.ClientCertFile */
	char key[1280];       /* Network.ClientPrivKeyFile */
	size_t n;
	struct ped_net_server s[PED_NET_SERVERS_MAX];
};

/* The configuration file: $OPENPED_PKCS11_CONF, else dflt (the module's). */
void ped_netcfg_path(const char *dflt, char *out, size_t len);
/* Loads the Network group from path (a missing file: no servers). A server
 * entry without its certificate, a port out of range or a host name that
 * is not one is PED_E_CONFIG naming the setting. */
int ped_netcfg_load(struct ped_net_client *nc, const char *path, char *err, size_t errlen);
/* Writes the Network group back (servers renumbered from 00), keeping the
 * rest of the file; atomically, mode 0600. */
int ped_netcfg_save(const struct ped_net_client *nc, char *err, size_t errlen);
/* The index of the server named name, or -1. */
int ped_netcfg_find(const struct ped_net_client *nc, const char *name);
/* A host name or address as a server's name may be. */
int ped_netcfg_host_ok(const char *host);
/* A TLS link to server i (ped_tls_dial): *plain carries the frames. */
int ped_netcfg_dial(const struct ped_net_client *nc, size_t i, int timeout_ms, int *plain, pthread_t *tid,
		    char *why, size_t whylen);

#endif
