/* Modes of the PED firmware (chapter 5, "Modes of Operation"). */
#ifndef PED_DEVICE_MODES_H
#define PED_DEVICE_MODES_H

#include "device.h"

/* Admin mode: PED Key (Login, Logout, List types, Duplicate), Backup
 * Devices, Software Update, Self Test. */
void mode_admin(struct ped_device *d);
/* Remote PED: attached to pedserver, serving the HSM sessions it opens. */
void mode_remote(struct ped_device *d);
struct rpk_cache;
/* Serves one request from the HSM (a DATA record's plaintext). In a Remote
 * PED session (cache and hsm given), an RPV keyset made or reused for that
 * HSM is remembered, so the session the HSM keys next with it needs no
 * orange key ("the HSM establishes a Remote PED connection using the
 * newly-created RPV"). */
int mode_serve_request(struct ped_device *d, struct ped_link *l, const uint8_t *msg, size_t len,
		       struct rpk_cache *cache, const char *hsm);

#endif
