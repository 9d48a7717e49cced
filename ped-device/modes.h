/* Modes of the PED firmware (chapter 5, "Modes of Operation"). */
#ifndef PED_DEVICE_MODES_H
#define PED_DEVICE_MODES_H

#include "device.h"
#include "ped/frame.h"

/* Which mode the PED is in while attached: the screens' title, and what
 * leaving it invalidates. The first HSM command switches it. */
enum ped_mode { PED_MODE_LOCAL, PED_MODE_REMOTE };

/* Admin mode: PED Key (Login, Logout, List types, Duplicate), Backup
 * Devices, Software Update, Self Test. 1 when a software update was saved:
 * the PED then boots it. */
int mode_admin(struct ped_device *d);
/* At power-on: the version of the saved software image, if any (admin.c). */
void admin_boot(struct ped_device *d);

struct rpk_cache;
/* Whether the operator may leave the mode: asks "Exiting now will
 * invalidate the RPK" when an RPK is held, else 1 at once. */
int mode_leave_ok(struct ped_device *d, const struct rpk_cache *c);

/* Remote PED (remote.c). Attaches to pedserver's PED port and tells it the
 * RPKs the PED holds; PED_OK or why not. */
int remote_attach(struct ped_device *d, struct ped_framer *f, const struct rpk_cache *c);
/* Reads one frame from pedserver and acts on it: an OPEN switches *mode to
 * Remote PED and runs that HSM's session, a PING is answered. PED_OK while
 * the PED stays attached; PED_E_BUSY when pedserver serves another PED;
 * PED_E_CANCEL when the operator left the mode (or the PED is stopping)
 * during a session; another error when the attachment is lost. */
int remote_frame(struct ped_device *d, struct ped_framer *f, struct rpk_cache *c, int *mode);
/* Closes the attachment: PED_OK says goodbye (the operator left the mode),
 * an error logs why it was lost. */
void remote_detach(struct ped_device *d, struct ped_framer *f, int why);

/* A Remote PED session, as the requests it serves see it. */
struct serve_ctx {
	/* An RPV keyset made or reused for the HSM is remembered here, so the
	 * session the HSM keys next with it needs no orange key ("the HSM
	 * establishes a Remote PED connection using the newly-created RPV"). */
	struct rpk_cache *cache;
	const char *hsm;  /* the HSM's serial */
	/* Keyed with the one-time password: the PED itself serves such a
	 * session for one thing, writing the RPV keyset, and once. Its only
	 * secret is 8 digits; nothing else may cross it. */
	int password;
	int rpv_made;
};
/* Serves one request from the HSM (a DATA record's plaintext); ctx is NULL
 * for a local PED. */
int mode_serve_request(struct ped_device *d, struct ped_link *l, const uint8_t *msg, size_t len,
		       struct serve_ctx *ctx);

#endif
