/* libFuzzer target: the iKey file parser. The first byte chooses between the
 * input as it is and the input with a correct SHA-256 appended, so the body
 * parser behind the checksum is explored too. A file of the current format
 * that parses must encode back to the same bytes (the format has one
 * encoding per key); a format 1 file encodes as the current format, which
 * must parse to the same key and encode to the same bytes again. A PIN mask
 * cost that parses is within the bounds a PED derives with. */
#include "ikey/ikey.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ikey k;
	char why[160];
	uint8_t *again = NULL, *buf;
	size_t len = 0, n;
	unsigned int hl = 0;

	if (size < 1 || size > IKEY_FILE_MAX + 64)
		return 0;
	n = size - 1;
	if ((buf = malloc(n + 32)) == NULL)
		return 0;
	memcpy(buf, data + 1, n);
	if (data[0] & 1) {
		EVP_Digest(buf, n, buf + n, &hl, EVP_sha256(), NULL);
		n += 32;
	}
	if (ikey_decode(buf, n, &k, why, sizeof(why)) != PED_OK) {
		if (!why[0])
			abort(); /* every rejection says why */
		free(buf);
		return 0;
	}
	if (k.s.type != IKEY_BLANK && ped_pin_kdf_check(&k.s.mask, NULL) != PED_OK)
		abort();
	if (ikey_encode(&k, &again, &len) != PED_OK)
		abort();
	if (k.format == IKEY_FORMAT && (len != n || memcmp(again, buf, n) != 0))
		abort();
	if (k.format != IKEY_FORMAT) {
		struct ikey k2;
		uint8_t *third = NULL;
		size_t len3 = 0;
		if (again[4] != IKEY_FORMAT || ikey_decode(again, len, &k2, why, sizeof(why)) != PED_OK)
			abort();
		if (k2.s.mask.id != k.s.mask.id || k2.s.share_len != k.s.share_len ||
		    (k.s.share_len && memcmp(k2.s.share, k.s.share, k.s.share_len) != 0) ||
		    ikey_encode(&k2, &third, &len3) != PED_OK || len3 != len || memcmp(third, again, len) != 0)
			abort();
		OPENSSL_clear_free(third, len3);
		ikey_clear(&k2);
	}
	OPENSSL_clear_free(again, len);
	ikey_clear(&k);
	free(buf);
	return 0;
}
