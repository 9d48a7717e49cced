/* libFuzzer target: the decoders of the cloning protocol between two
 * hsm-sims (hsm/clonewire.h), each fed what a hostile relay could send.
 * The first byte picks the decoder, the rest is the message:
 *   0  an offer, as the Backup HSM's half takes it (hsm_cw_accept)
 *   1  an accept, as the offerer takes it (hsm_cw_confirm)
 *   2  an object, then 3 a trailer, as a keyed receiver takes them
 *   4  the names an offer or accept carries (hsm_cw_peek)
 * Nothing may be accepted: every tag is made under a key the input cannot
 * know. */
#include "hsm/clonewire.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t domain[HSM_KEY_LEN] = {7, 7, 7};

/* A receiver keyed against a sender of our own, as after a handshake. */
static int keyed_receiver(struct hsm_cw *r)
{
	struct hsm_cw s;
	uint8_t *offer = NULL, *acc = NULL;
	size_t ol = 0, al = 0;
	int rc = hsm_cw_init(&s, HSM_CW_BACKUP, HSM_CW_SENDER, domain, "1", "p");
	if (rc == PED_OK)
		rc = hsm_cw_init(r, HSM_CW_BACKUP, HSM_CW_RECEIVER, domain, "2", "b");
	if (rc == PED_OK)
		rc = hsm_cw_offer(&s, &offer, &ol);
	if (rc == PED_OK)
		rc = hsm_cw_accept(r, offer, ol, &acc, &al);
	OPENSSL_free(offer);
	OPENSSL_free(acc);
	hsm_cw_clear(&s);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsm_cw a;
	uint8_t *out = NULL;
	size_t outlen = 0;
	char serial[HSM_CW_SERIAL_MAX + 1], name[HSM_CW_NAME_MAX + 1];

	if (size < 1)
		return 0;
	const uint8_t *m = data + 1;
	size_t n = size - 1;
	memset(&a, 0, sizeof(a));
	switch (data[0] % 5) {
	case 0:
		if (hsm_cw_init(&a, HSM_CW_BACKUP, HSM_CW_RECEIVER, domain, "2", "b") == PED_OK &&
		    hsm_cw_accept(&a, m, n, &out, &outlen) == PED_OK)
			abort(); /* an offer no one made verified */
		break;
	case 1:
		if (hsm_cw_init(&a, HSM_CW_BACKUP, HSM_CW_SENDER, domain, "1", "p") == PED_OK &&
		    hsm_cw_offer(&a, &out, &outlen) == PED_OK && hsm_cw_confirm(&a, m, n) == PED_OK)
			abort();
		break;
	case 2:
	case 3:
		if (keyed_receiver(&a) == PED_OK) {
			struct hsm_obj *o = NULL;
			uint64_t from = 0;
			if (data[0] % 5 == 2 && hsm_cw_open_object(&a, m, n, &o, &from) == PED_OK)
				abort();
			if (data[0] % 5 == 3 && hsm_cw_check_trailer(&a, m, n) == PED_OK)
				abort();
		}
		break;
	default:
		if (hsm_cw_peek(m, n, serial, name) == PED_OK && (strlen(serial) > HSM_CW_SERIAL_MAX || strlen(name) > HSM_CW_NAME_MAX))
			abort();
	}
	OPENSSL_free(out);
	hsm_cw_clear(&a);
	return 0;
}
