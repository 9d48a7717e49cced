/* Connections on hsm-sim's control socket, each served in a thread of its
 * own so that a command may wait on its PED without holding up the event
 * loop. The first frame's type decides what a connection speaks: hsmcm's
 * command protocol (hsm/control.h) or the PKCS#11 module's application
 * protocol (app.h, APP_HELLO); another protocol plugs into the table in
 * session.c. Each command (or application request) counts as an operation
 * in flight (sim_op_begin) until its result is sent, which shutdown waits
 * for. */
#ifndef HSM_SIM_SESSION_H
#define HSM_SIM_SESSION_H

#include "pedlink.h"
#include "sim.h"

/* An application's next request usually follows its last reply within
 * microseconds: looked for this long before the session's thread sleeps
 * (ped_framer.spin_us; hsm-sim.conf request_spin_us). */
#define SESSION_SPIN_US_DEFAULT 200

struct session_server {
	struct sim *sim;
	struct pedports *peds;
	unsigned spin_us; /* request_spin_us */
};

/* Serves the connection fd (non-blocking) until it ends; takes it over. */
void session_start(struct session_server *srv, int fd);
/* The same for a registered client over the network (netserve): its shell
 * administers application partitions only (cmd_ctx.network). */
void session_start_network(struct session_server *srv, int fd);
/* How many session threads are running (an operator's hsmcm, an
 * application's connection): at exit, any of them may still be using
 * OpenSSL, which exit() would tear down under it. */
unsigned session_live(void);

#endif
