/* pedclient's background process: HSMs on this host ask, on a local socket,
 * for a Remote PED session; each session gets its own pedserver connection. */
#ifndef PEDCLIENT_CLIENT_H
#define PEDCLIENT_CLIENT_H

#include "ped/runtime.h"

#define PEDCLIENT_SOFTWARE_VERSION PED_VERSION " (100)"

struct client_settings {
	struct ped_daemon_conf d; /* every daemon's; config_path is re-read for PED id mappings at each request */
	int ignore_idle;
	char hsm_socket[1024];
	/* PED-initiated mode: a TLS 1.3 listener for pedservers that dial in */
	char listen_ip[64];
	int listen_port;        /* 0: any free port; -1: off */
	char cert[1024], key[1024]; /* our certificate, made at first start if missing */
	char trusted[1024];     /* directory of registered pedserver certificates (*.pem) */
};

int client_run(const struct client_settings *s);

/* PED id mappings (mappings.c), read from the configuration file. */
/* A mapping's pedserver: any DNS name (253 characters) or address. It is
 * pedclient that dials it, so the HSM's HELLO limit (PED_RELAY_HOST_MAX)
 * does not apply; setid refuses a longer or empty one rather than let a
 * mapping dial a truncated name. */
#define PED_MAPPING_HOST_MAX 253
struct ped_mapping {
	int id;
	char ip[PED_MAPPING_HOST_MAX + 1];
	int port;
	char serial[33]; /* the HSM it is assigned to, or "" */
};
#define MAX_MAPPINGS 64 /* setid refuses more: a mapping past them would never be found */
struct ped_config;
int mappings_load(struct ped_config *cfg, struct ped_mapping *m, int max);
/* The mapping assigned to an HSM serial; PED_E_NOT_FOUND if none. */
int mappings_for_serial(const char *config_path, const char *serial, struct ped_mapping *out);

#endif
