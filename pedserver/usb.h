/* pedserver's USB transport: finds a PED by vendor and product id through
 * libusb, claims its vendor-specific interface and carries the link's frames
 * over its bulk endpoints (docs/protocol.md, "USB function"). The server
 * sees a USB PED exactly as one attached on the local PED port: it gets one
 * end of a socket pair; this file moves bytes between the other end and the
 * endpoints, on the server's event loop, one bulk OUT transfer per frame. */
#ifndef PEDSERVER_USB_H
#define PEDSERVER_USB_H

#include "ped/evloop.h"

#include <stddef.h>
#include <stdint.h>

#define USB_PED_VID_DEFAULT 0x1209 /* pid.codes, the open test vendor id */
#define USB_PED_PID_DEFAULT 0x0001

struct usb_ped_settings {
	int enabled;
	uint16_t vid, pid;
	int write_timeout_ms; /* one bulk OUT transfer */
	int write_delay_us;   /* -pedwritelay: pause between bulk OUT transfers */
	int scan_interval_ms; /* enumeration where libusb has no hotplug, and retries */
};

/* Called with the server's end of a new PED stream and a name for logs. */
typedef void (*usb_ped_attach_fn)(int fd, const char *name);

/* Starts watching; a platform without USB is logged, not an error. */
int usb_ped_start(struct ped_evloop *loop, const struct usb_ped_settings *s, usb_ped_attach_fn attach);
/* Releases the PED and libusb; waits briefly for transfers in flight. */
void usb_ped_stop(void);
/* "bus 1 device 4 (1209:0001)", or "" with no USB PED open. */
void usb_ped_describe(char *out, size_t len);

#endif
