/* PIN masking of a share. A PIN never reaches the HSM and no key holds a PIN
 * verifier: the PIN masks the share stored on the key, so a wrong PIN yields
 * a wrong share and is found only when the HSM recombines the whole secret
 * (chapter 5: "PIN entry will appear to succeed"). With nothing to test a
 * guess against, a stolen key file gives no offline attack on its PIN; the
 * HSM's failed-login lockout is what protects it, so the derivation need not
 * be slow. See docs/pinmask.md for the construction and its cost.
 *
 *   mask   = HKDF-SHA-512(ikm = PIN digits, salt = keyset id || split index,
 *                         info = "OPENPED-PIN-MASK-v1", L = share length)
 *   masked = share XOR mask          (unmasking is the same operation) */
#ifndef PED_PINMASK_H
#define PED_PINMASK_H

#include <stddef.h>
#include <stdint.h>

#define PED_PIN_MIN 4
#define PED_PIN_MAX 48
#define PED_KEYSET_ID_LEN 16

/* PED_OK for "" (no PIN) or 4-48 digits not starting with 0; otherwise
 * PED_E_INVALID and *why (if given) says which rule. */
int ped_pin_validate(const char *pin, const char **why);
/* XORs buf (len bytes) with the mask for pin; "" or NULL leaves it unchanged. */
int ped_pin_mask(const char *pin, const uint8_t keyset_id[PED_KEYSET_ID_LEN], uint8_t split_index,
		 uint8_t *buf, size_t len);

#endif
