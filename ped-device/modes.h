/* Modes of the PED firmware (chapter 5, "Modes of Operation"). */
#ifndef PED_DEVICE_MODES_H
#define PED_DEVICE_MODES_H

#include "device.h"

/* Admin mode: PED Key (Login, Logout, List types, Duplicate), Backup
 * Devices, Software Update, Self Test. 1 when a software update was saved:
 * the PED then boots it. */
int mode_admin(struct ped_device *d);
/* At power-on: the version of the saved software image, if any (admin.c). */
void admin_boot(struct ped_device *d);
/* Remote PED: attached to pedserver, serving the HSM sessions it opens. */
void mode_remote(struct ped_device *d);
struct rpk_cache;
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
