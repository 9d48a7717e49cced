/* libFuzzer target: HSM state files. The first byte chooses between the
 * input as it is and the input with a correct SHA-256 appended, so the
 * parser behind the checksum is explored too. Version 8 files are sealed
 * under a storage key: the target's HSMs all have FUZZ_DEVICE_SECRET as
 * their device secret (tests/tools/hsm_seeds writes the seeds with it), the
 * key derived for the serial the input names.
 *
 * What loads must save and load again to the same state: the bytes differ
 * (every seal has its own nonce), the state compared by value
 * (hsm_same_state); an older version saves as the current one. */
#include "hsm/hsm.h"
#include "ped/buf.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_DEVICE_SECRET "openped fuzz device secret 32 b"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hsm state, again;

/* The serial the input names (its header), for the storage key. */
static void key_for(struct hsm *h, const uint8_t *buf, size_t n)
{
	struct ped_rbuf r;
	size_t len = 0;
	const uint8_t *p;
	ped_rbuf_init(&r, buf, n);
	ped_rbuf_bytes(&r, 5);
	p = ped_rbuf_lv16(&r, HSM_SERIAL_MAX, &len);
	memset(h->serial, 0, sizeof(h->serial));
	if (p && !memchr(p, 0, len))
		memcpy(h->serial, p, len);
	if (hsm_set_device_secret(h, (const uint8_t *)FUZZ_DEVICE_SECRET) != PED_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[400];
	uint8_t *buf, *enc = NULL;
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
	key_for(&state, buf, n);
	if (hsm_decode(buf, n, &state, why, sizeof(why)) == PED_OK) {
		if (hsm_encode(&state, &enc, &len) != PED_OK || enc[4] != HSM_STATE_VERSION)
			abort();
		key_for(&again, enc, len);
		if (hsm_decode(enc, len, &again, why, sizeof(why)) != PED_OK || !hsm_same_state(&state, &again))
			abort();
		/* and another storage key opens nothing */
		hsm_cleanse(&again);
		key_for(&again, enc, len);
		again.kek[0] ^= 1;
		if (hsm_decode(enc, len, &again, why, sizeof(why)) != PED_E_CORRUPT)
			abort();
		hsm_cleanse(&again);
		hsm_cleanse(&state);
		OPENSSL_clear_free(enc, len);
	} else if (!why[0]) {
		abort();
	}
	hsm_cleanse(&state);
	free(buf);
	return 0;
}
