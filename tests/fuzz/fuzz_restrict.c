/* libFuzzer target: HSM_CTL_RESTRICT, the first frame a relay (rbs) sends
 * hsm-sim to narrow a session to some HSMs, through hsm_ctl_restrict_decode
 * as hsm-sim's session reads it. What decodes names 1 to 16 distinct
 * serials of 1 to 16 digits, encodes back to the same bytes, and is found
 * by hsm_ctl_restrict_has; what does not decode names nothing. */
#include "hsm/control.h"
#include "ped/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsm_ctl_restrict r;
	uint8_t again[HSM_CTL_RESTRICT_LEN_MAX];
	size_t len = 0;

	if (hsm_ctl_restrict_decode(data, size, &r) != PED_OK) {
		if (r.n != 0)
			abort();
		return 0;
	}
	if (r.n < 1 || r.n > HSM_CTL_RESTRICT_MAX || size > HSM_CTL_RESTRICT_LEN_MAX)
		abort();
	for (size_t i = 0; i < r.n; i++) {
		size_t n = strnlen(r.serial[i], sizeof(r.serial[i]));
		if (n < 1 || n > HSM_CTL_SERIAL_MAX || strspn(r.serial[i], "0123456789") != n ||
		    !hsm_ctl_restrict_has(&r, r.serial[i]))
			abort();
		for (size_t j = 0; j < i; j++)
			if (!strcmp(r.serial[i], r.serial[j]))
				abort();
	}
	if (hsm_ctl_restrict_encode(&r, again, sizeof(again), &len) != PED_OK || len != size ||
	    memcmp(again, data, size))
		abort();
	return 0;
}
