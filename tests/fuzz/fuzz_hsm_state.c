/* libFuzzer target: HSM state files. The first byte chooses between the
 * input as it is and the input with a correct SHA-256 appended, so the
 * parser behind the checksum is explored too. */
#include "hsm/hsm.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hsm state;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[160];
	uint8_t *buf, *again = NULL;
	size_t n, len = 0;
	unsigned int hl = 0;

	if (size < 1 || size > 1u << 20)
		return 0;
	n = size - 1;
	if ((buf = malloc(n + 32)) == NULL)
		return 0;
	memcpy(buf, data + 1, n);
	if (data[0] & 1) {
		EVP_Digest(buf, n, buf + n, &hl, EVP_sha256(), NULL);
		n += 32;
	}
	if (hsm_decode(buf, n, &state, why, sizeof(why)) == PED_OK) {
		/* what loads must save to the same bytes; an older version saves
		 * as the current one, which must then load and save unchanged */
		if (hsm_encode(&state, &again, &len) != PED_OK)
			abort();
		if (buf[4] == HSM_STATE_VERSION && (len != n || memcmp(again, buf, n)))
			abort();
		hsm_cleanse(&state);
		if (buf[4] != HSM_STATE_VERSION) {
			uint8_t *third = NULL;
			size_t third_len = 0;
			if (hsm_decode(again, len, &state, why, sizeof(why)) != PED_OK ||
			    hsm_encode(&state, &third, &third_len) != PED_OK || third_len != len ||
			    memcmp(third, again, len))
				abort();
			OPENSSL_clear_free(third, third_len);
			hsm_cleanse(&state);
		}
		OPENSSL_clear_free(again, len);
	} else if (!why[0]) {
		abort();
	}
	free(buf);
	return 0;
}
