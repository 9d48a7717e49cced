/* pedserver's background process: the PED's port, the server port where one
 * pedclient at a time is served, and the admin port. */
#ifndef PEDSERVER_SERVER_H
#define PEDSERVER_SERVER_H

#include "usb.h"

#include "ped/runtime.h"

#include <stdint.h>

#define PEDSERVER_SOFTWARE_VERSION PED_VERSION " (100)"
#define PEDSERVER_PROTOCOL_VERSION "1.0.0-0"

struct server_settings {
	struct ped_daemon_conf d; /* every daemon's; config_path: PED-initiated mode reads appliances and certificates there */
	char ip[64];           /* server port interface; "" with eserver: all */
	int port;              /* 0: ephemeral */
	int eserver;           /* listen beyond localhost */
	int ped_write_delay_us;  /* between bulk OUT transfers to a USB PED */
	struct usb_ped_settings usb;
	char ped_socket[1024]; /* where the PED attaches */
};

/* Runs in the process that serves; returns the exit status. */
int server_run(const struct server_settings *s);

#endif
