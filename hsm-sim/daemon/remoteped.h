/* Remote PED keying: a session through pedclient and pedserver to a PED
 * elsewhere, keyed with the RPV (or the one-time password of a zeroized
 * HSM) and then used as the HSM's PED link (pedlink.h). Waits on people
 * happen in remoteped_wait only: a caller gives its HSM's command lock back
 * around it. */
#ifndef HSM_SIM_REMOTEPED_H
#define HSM_SIM_REMOTEPED_H

#include "out.h"
#include "pedlink.h"

/* remoteped_connect's flags */
#define REMOTEPED_KEY_NOW 1u /* key the session now, not at the first PED operation */
#define REMOTEPED_QUIET 2u   /* say nothing of the orange key: the PED holds it */
/* Asks pedclient for a Remote PED session to host:port (host "" lets
 * pedclient use the PED id assigned to this HSM) and keys it with the RPV,
 * or with otp (8 digits) to initialize the RPV remotely. Returns once
 * pedserver has accepted. A password session, or one whose RPK the PED
 * holds, or with REMOTEPED_KEY_NOW, is keyed at once (the PED computes the
 * session key); otherwise at the first PED operation (REMOTE_DEFERRED),
 * when the PED asks for the orange key. Under the HSM's command lock (it
 * reads the RPV). */
int remoteped_connect(struct pedport *pt, const struct sim_out *o, const char *host, int port, const char *otp,
		      unsigned flags);
/* Waits (up to the PED timeout) until the session key is computed, keying
 * a deferred session now; its error if that failed. Needs no command lock. */
int remoteped_wait(struct pedport *pt);
/* ped disconnect: ends the session (or its keying); PED_E_PED_UNPLUGGED
 * when there is none, PED_E_BUSY when a ceremony would not give it back.
 * *had_ended: the relays had ended it already (PED_OK). */
int remoteped_disconnect(struct pedport *pt, int *had_ended);
/* After ped vector init, under the command lock: a Remote PED session keyed
 * with the password or the old RPV is closed and keyed again, with the new
 * RPV, to the same pedserver. PED_E_NOT_FOUND when there was none (nothing
 * to do); PED_OK when keying started (remoteped_wait, then
 * remoteped_rekey_end); an error (also told) leaves no session. */
int remoteped_rekey_begin(struct pedport *pt, const struct sim_out *o);
/* Tells the operator how the re-keying ended. */
void remoteped_rekey_end(struct pedport *pt, const struct sim_out *o, int r);

#endif
