/* hsm-sim across the network: a TLS 1.3 listener whose clients are the
 * certificates an operator registered (hsm-sim -client register), each
 * pinned; a registered client's connection is then served exactly as one
 * on the control socket (session_start), the same frames inside. The
 * server's own certificate and key are made at the first start, under the
 * state directory:
 *
 *   STATE/network/server.pem, server.key (0600)   what vtl addServer takes
 *   STATE/network/clients/NAME.pem                 the registered clients
 *
 * The registry is read again at each connection: a client registered or
 * removed while hsm-sim runs counts from its next connection. */
#ifndef HSM_SIM_NETSERVE_H
#define HSM_SIM_NETSERVE_H

#include "session.h"

#include "ped/evloop.h"

#include <stdint.h>
#include <stdio.h>

/* hsm-sim -client VERB: "register" (name, cert), "list", "remove" (name),
 * "server" (the server's certificate: made if missing, path and
 * fingerprint printed). Output to out; 0 or a negative code with err. */
int netserve_admin(const char *state_dir, const char *verb, const char *name, const char *cert, FILE *out,
		   char *err, size_t errlen);

/* The server's identity (made at the first start) and the listener on
 * addr:port (addr "" for every address, port 0 for any: *bound says
 * which), watched by loop; each connection's handshake runs in a thread
 * of its own within timeout_ms. */
int netserve_start(struct ped_evloop *loop, struct session_server *srv, const char *state_dir, const char *addr,
		   uint16_t port, int timeout_ms, uint16_t *bound, char *err, size_t errlen);
/* No new connection. How many handshakes and sessions' TLS threads are
 * still running: a daemon with any ends with _exit, not exit() (which
 * would run OpenSSL's cleanup under them). */
int netserve_stop(struct ped_evloop *loop);

#endif
