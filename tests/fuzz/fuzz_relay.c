/* libFuzzer target: relay control messages. A decoded message re-encodes
 * to exactly the bytes it came from (the layout has one encoding). */
#include "ped/error.h"
#include "ped/relay.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ped_relay_msg m;
	uint8_t out[PED_RELAY_MSG_MAX];
	size_t len;

	if (ped_relay_decode(data, size, &m) != PED_OK)
		return 0;
	if (ped_relay_encode(&m, out, sizeof(out), &len) != PED_OK || len != size || memcmp(out, data, size))
		abort();
	return 0;
}
