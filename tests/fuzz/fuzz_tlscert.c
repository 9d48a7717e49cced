/* libFuzzer target: a certificate file from outside (a client's for
 * hsm-sim -client register, a server's for vtl addServer, the registry's
 * files at each connection), through ped_tls_parse_cert as they read it
 * (bounded at PED_TLS_PEM_MAX). What parses is pinned and must be found
 * again, by itself and by its re-encoding, and have a fingerprint. */
#include "ped/error.h"
#include "ped/tlsnet.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ped_tls_pins pins = {0};
	X509 *c = NULL, *again = NULL;
	BIO *b = NULL;
	BUF_MEM *m = NULL;
	char fpr[20];
	int r = ped_tls_parse_cert(data, size, &c);

	if (r != PED_OK) {
		if (c || (size > 0 && size <= PED_TLS_PEM_MAX && r != PED_E_CERTIFICATE_INVALID && r != PED_E_HOST_MEMORY))
			abort();
		goto out;
	}
	if (!c)
		abort();
	(void)ped_tls_fingerprint(c, fpr);
	if (ped_tls_pins_add(&pins, "fuzz", c) != PED_OK)
		goto out;
	if (!ped_tls_pins_find(&pins, c))
		abort();
	/* what hsm-sim and vtl keep is the re-encoding: it pins the same */
	if ((b = BIO_new(BIO_s_mem())) && PEM_write_bio_X509(b, c) && BIO_get_mem_ptr(b, &m) == 1 && m &&
	    m->length <= PED_TLS_PEM_MAX && ped_tls_parse_cert((const uint8_t *)m->data, m->length, &again) == PED_OK &&
	    !ped_tls_pins_find(&pins, again))
		abort();
out:
	ped_tls_pins_free(&pins);
	BIO_free(b);
	X509_free(again);
	X509_free(c);
	ERR_clear_error();
	return 0;
}
