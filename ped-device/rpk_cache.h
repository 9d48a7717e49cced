/* The RPVs a PED in Remote PED mode has read, by HSM serial, so an HSM that
 * connects again in the same visit needs no orange key. Holds secrets: the
 * whole cache is wiped when the PED leaves Remote PED mode. */
#ifndef PED_DEVICE_RPK_CACHE_H
#define PED_DEVICE_RPK_CACHE_H

#include "ceremony.h"
#include "ped/app.h"
#include "ped/relay.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#define MAX_RPKS 8

struct rpk_cache {
	char hsm[MAX_RPKS][PED_RELAY_ID_MAX + 1];
	uint8_t rpv[MAX_RPKS][PED_APP_SECRET_MAX];
	size_t len[MAX_RPKS];
	struct cer_rpv_static st[MAX_RPKS]; /* the RPV static key and certificates, for 2e2s */
	/* ... and as OpenSSL objects, made once: importing a scalar costs a point multiplication */
	EVP_PKEY *key[MAX_RPKS];
	X509 *cert[MAX_RPKS], *hoc[MAX_RPKS];
	/* The certificates of the last HELLO_V (public), as decoded: an HSM
	 * sends the same two at every session, and decoding them was a tenth of
	 * the PED's CPU per handshake. Freed with the whole cache. */
	X509 *hello_cert, *hello_hoc;
	int n; /* entries 0..n-1, oldest first */
	unsigned gen; /* changes with every change of the entries */
};

/* hsm's index, or -1. */
int rpk_cache_find(const struct rpk_cache *c, const char *hsm);
/* Forgets and wipes hsm's entry, or every entry for NULL; hsm may point
 * into the cache itself. */
void rpk_cache_forget(struct rpk_cache *c, const char *hsm);
/* Adds (or replaces) hsm's entry, last; the oldest goes when the cache is
 * full. The entry's index, or -1 for an RPV too long to hold. */
int rpk_cache_remember(struct rpk_cache *c, const char *hsm, const uint8_t *rpv, size_t len,
			const struct cer_rpv_static *st);

#endif
