/* hsm-sim's application protocol (docs/protocol.md, section 13): the
 * PKCS#11 module's connections. session.c hands a connection whose first
 * frame is APP_HELLO to app_serve; each request is decoded, run by the
 * function it names (app_token.c, app_session.c, app_objects.c,
 * app_crypto.c) for the connection's application (apps.h) and answered.
 * Everything the module asks, the HSM decides here: sessions, who is
 * logged in and what each role may do, object visibility, the key
 * policies and attribute rules of libhsm. */
#ifndef HSM_SIM_APP_H
#define HSM_SIM_APP_H

#include "apps.h"
#include "pedlink.h"
#include "sim.h"

#include "ped/buf.h"
#include "ped/link.h"

#include "hsm/control.h"

#include <stddef.h>
#include <stdint.h>

/* Serves the connection fd after its first frame, hello (APP_HELLO's
 * payload), read through in; returns when the connection ends. */
/* What a connection may reach: a registered network client (netserve)
 * sees application partitions only; a session a relay narrowed
 * (HSM_CTL_RESTRICT: rbs) sees the HSMs it names only, and asks only for
 * the slot list and a slot's or token's information. NULL: everything. */
struct app_scope {
	int network;
	const struct hsm_ctl_restrict *served; /* NULL: not narrowed */
};

void app_serve(struct sim *sim, struct pedports *peds, const struct app_scope *scope, int fd, struct ped_framer *in,
	       const uint8_t *hello, size_t len);

/* One APP_REQUEST payload of application a: the APP_REPLY payload into
 * reply (a writer of P11W_PAYLOAD_MAX, empty: app_serve reuses one, emptied
 * with ped_wbuf_truncate). What app_serve does per frame; the fuzz target
 * calls it with a made-up application. */
void app_request(struct sim *sim, struct pedports *peds, const struct app_scope *scope, struct app *a,
		 const uint8_t *req, size_t len, struct ped_wbuf *reply);

#endif
