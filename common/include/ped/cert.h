/* The HSM's certificates: its root ("HOC", self-signed, ECDSA P-521 with
 * SHA-512) and the certificates of its static ECDH keys, signed by the HOC.
 * A PED verifies an HSM's static key against the HOC it trusts; the HSM
 * verifies the RPV static key from an orange key against its own HOC. */
#ifndef PED_CERT_H
#define PED_CERT_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#define PED_CERT_MAX_DER 4096

/* Self-signed root for an HSM: CN "HOC <serial>", CA:TRUE, keyCertSign. */
int ped_cert_make_hoc(EVP_PKEY *hoc_key, const char *hsm_serial, X509 **out);
/* Certificate for an ECDH public key, signed by the HOC: CA:FALSE, keyAgreement. */
int ped_cert_issue(X509 *hoc, EVP_PKEY *hoc_key, EVP_PKEY *subject_pub, const char *cn,
		   X509 **out);
/* Verifies leaf against hoc as the only trust anchor, and that the leaf key is
 * a valid P-521 key allowed for key agreement. PED_E_CERTIFICATE_INVALID. */
int ped_cert_verify(X509 *leaf, X509 *hoc);
/* Checks that hoc is a self-signed CA certificate (a PED's first contact). */
int ped_cert_verify_root(X509 *hoc);
/* Verify callback for pinned trust (HOCs, registered TLS peers): a
 * certificate not valid yet is accepted, one that expired is not. */
int ped_cert_verify_cb(int ok, X509_STORE_CTX *ctx);

/* What an operator compares to tell one HSM from another: the first 8 bytes
 * of SHA-256 over the HOC's DER, as "3F2A 91C0 77DE 1B45". The HSM prints it
 * at ped connect -password and the PED shows it before the password is
 * typed; 64 bits, so making a HOC that shows the same costs 2^64 tries. */
#define PED_CERT_FPR_LEN 19
int ped_cert_fingerprint(const uint8_t *der, size_t len, char out[PED_CERT_FPR_LEN + 1]);
/* The HSM serial a HOC names (CN "HOC <serial>"), into out; PED_E_NOT_FOUND
 * if its CN has another form. */
int ped_cert_hoc_serial(X509 *hoc, char *out, size_t outlen);

/* DER encoding into an OPENSSL_malloc'd buffer; decoding with a bound. */
int ped_cert_to_der(X509 *cert, uint8_t **der, size_t *len);
int ped_cert_from_der(const uint8_t *der, size_t len, X509 **out);

#endif
