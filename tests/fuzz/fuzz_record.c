/* libFuzzer target: record decoding on a channel with fixed keys, after a
 * few genuine records, and CSP unwrapping of whatever opens. */
#include "ped/buf.h"
#include "ped/error.h"
#include "ped/record.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ped_channel_keys k;
	struct ped_channel *ch = NULL;
	size_t off = 0;

	/* Fixed keys: both directions the same, so sealed seeds open here. */
	memset(&k, 0x5a, sizeof(k));
	k.rx = k.tx;
	if (ped_channel_new(&k, &ch) != PED_OK)
		abort();
	/* Records as u16 length || bytes, opened in order until one fails. */
	while (off + 2 <= size && ped_channel_alive(ch)) {
		size_t l = ped_be16_get(data + off);
		uint8_t *pt = NULL, *csp = NULL, type = 0;
		size_t pl = 0, cl = 0;
		off += 2;
		if (l > size - off)
			l = size - off;
		int r = ped_channel_open(ch, data + off, l, &type, &pt, &pl);
		if (r == PED_OK) {
			if (pl != l - PED_RECORD_OVERHEAD)
				abort();
			if (type == PED_REC_CSP && ped_channel_unwrap_csp(ch, pt, pl, &csp, &cl) == PED_OK)
				OPENSSL_clear_free(csp, cl);
			OPENSSL_clear_free(pt, pl ? pl : 1);
		} else if (ped_channel_alive(ch) && r != PED_E_HOST_MEMORY) {
			abort(); /* every failure must end the channel */
		}
		off += l;
	}
	ped_channel_free(ch);
	return 0;
}
