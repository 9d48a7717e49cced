#ifndef TESTS_IKEY_FIXTURE_H
#define TESTS_IKEY_FIXTURE_H

#include "ikey/ikey.h"

/* An imprinted key of the given type with a random share (and for RPV keys,
 * a static key scalar and two fake DER blobs). */
void fixture_imprint(struct ikey *k, const char *serial, enum ikey_type type, uint8_t m, uint8_t n,
		     uint8_t index, int pin);

#endif
