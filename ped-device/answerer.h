/* The answerer of a headless PED: it answers each prompt the device shows
 * (insert a key, its PIN, M and N, yes or no, a one-time password, the HSM's
 * identity) as a policy says, until the device quits. */
#ifndef PED_DEVICE_ANSWERER_H
#define PED_DEVICE_ANSWERER_H

#include "device.h"
#include "policy.h"

void answerer_run(struct ped_device *d, const struct policy *p);

#endif
