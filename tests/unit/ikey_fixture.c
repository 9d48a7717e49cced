#include "ikey_fixture.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

void fixture_imprint(struct ikey *k, const char *serial, enum ikey_type type, uint8_t m, uint8_t n,
		     uint8_t index, int pin)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->serial, sizeof(k->serial), "%s", serial);
	snprintf(k->label, sizeof(k->label), "%s key %u of %u", ikey_type_colour(type), index, n);
	k->s.type = type;
	memset(k->s.keyset_id, 0xab, sizeof(k->s.keyset_id));
	k->s.m = m;
	k->s.n = n;
	k->s.index = index;
	k->s.pin_set = (uint8_t)pin;
	if (pin) /* the cheap test cost: these tests never derive a mask */
		ped_pin_kdf_scrypt(&k->s.mask, PED_SCRYPT_LOG2N_MIN, PED_SCRYPT_R_DEFAULT, PED_SCRYPT_P_DEFAULT);
	k->s.created = 1790000000u;
	k->s.share_len = 48;
	k->s.share = OPENSSL_malloc(48);
	RAND_bytes(k->s.share, 48);
	if (type == IKEY_RPV) {
		k->s.static_priv = OPENSSL_malloc(IKEY_SCALAR_LEN);
		RAND_bytes(k->s.static_priv, IKEY_SCALAR_LEN);
		k->s.static_cert_len = 300;
		k->s.static_cert = OPENSSL_malloc(300);
		memset(k->s.static_cert, 0x30, 300);
		k->s.hoc_cert_len = 280;
		k->s.hoc_cert = OPENSSL_malloc(280);
		memset(k->s.hoc_cert, 0x31, 280);
	}
}
