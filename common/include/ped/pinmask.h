/* PIN masking of a share. A PIN never reaches the HSM and no key holds a PIN
 * verifier: the PIN masks the share stored on the key, so a wrong PIN yields
 * a wrong share and is found only when the HSM recombines the whole secret
 * (chapter 5: "PIN entry will appear to succeed").
 *
 * That alone does not stop an offline search: a thief holding more than M
 * splits of one keyset under one PIN (two keys of a 1-of-2 set) unmasks them
 * with each guess and checks that they interpolate to one secret. The only
 * defence left is the price of a guess, so the mask is derived with scrypt,
 * slow and memory-hard, at a cost stored per keyset on its keys
 * (docs/pinmask.md has the construction, the figures and what remains):
 *
 *   mask   = scrypt(password = PIN digits,
 *                   salt = "OPENPED-PIN-MASK-v2" || keyset id || split index,
 *                   N = 2^log2n, r, p, dkLen = share length)
 *   masked = share XOR mask          (unmasking is the same operation)
 *
 * Key files of format 1 carry the earlier fast mask, HKDF-SHA-512 (ikm = PIN,
 * salt = keyset id || split index, info = "OPENPED-PIN-MASK-v1"); it is kept
 * so that they still unmask, and is never chosen for a new keyset. */
#ifndef PED_PINMASK_H
#define PED_PINMASK_H

#include <stddef.h>
#include <stdint.h>

#define PED_PIN_MIN 4
#define PED_PIN_MAX 48
#define PED_KEYSET_ID_LEN 16

enum ped_pin_kdf_id {
	PED_PIN_KDF_NONE = 0,   /* no PIN */
	PED_PIN_KDF_HKDF = 1,   /* format 1 keys only: fast, read but never written for a new keyset */
	PED_PIN_KDF_SCRYPT = 2,
};

/* How a keyset's shares are masked. Every split and duplicate of a keyset
 * carries the same; for HKDF and NONE the cost fields are 0. */
struct ped_pin_kdf {
	uint8_t id; /* enum ped_pin_kdf_id */
	uint8_t log2n, r, p;
};

/* The default: N = 2^16, r = 8, p = 1, 64 MiB and about a quarter of a
 * second of one core per derivation (docs/pinmask.md says why). */
#define PED_SCRYPT_LOG2N_DEFAULT 16
#define PED_SCRYPT_R_DEFAULT 8
#define PED_SCRYPT_P_DEFAULT 1
/* The cheapest cost a PED writes: for test and CI keysets chosen on purpose
 * (about 1/300 of the default's time). */
#define PED_SCRYPT_LOG2N_MIN 8
/* What a key file may ask of a PED that reads it: N*r bounds the memory
 * (128 * N * r bytes: 128 MiB, twice the default) and N*r*p the time (four
 * times the default). Anything beyond is refused before any derivation. */
#define PED_SCRYPT_LOG2N_MAX 20
#define PED_SCRYPT_R_MAX 64
#define PED_SCRYPT_P_MAX 16
#define PED_SCRYPT_NR_MAX (UINT64_C(1) << 20)
#define PED_SCRYPT_NRP_MAX (UINT64_C(1) << 21)

/* PED_OK for "" (no PIN) or 4-48 digits not starting with 0; otherwise
 * PED_E_INVALID and *why (if given) says which rule. */
int ped_pin_validate(const char *pin, const char **why);

/* The default cost, and the cheap test cost with r and p of the default. */
void ped_pin_kdf_default(struct ped_pin_kdf *k);
void ped_pin_kdf_scrypt(struct ped_pin_kdf *k, unsigned log2n, unsigned r, unsigned p);
/* PED_OK if k names a mask and a cost a PED may write or read: scrypt within
 * the bounds above (and OpenSSL's N < 2^(16 r)), HKDF with zero cost fields,
 * NONE with zero cost fields. Otherwise PED_E_RANGE and *why (if given). */
int ped_pin_kdf_check(const struct ped_pin_kdf *k, const char **why);
/* "scrypt N=2^16 r=8 p=1", "HKDF-SHA-512 (format 1)", "none" */
const char *ped_pin_kdf_describe(const struct ped_pin_kdf *k, char *out, size_t len);

/* XORs buf (len bytes, at most 256) with the mask for pin under kdf; "" or
 * NULL leaves it unchanged. PED_E_INVALID for a PIN that breaks the rules or
 * a PIN with kdf NONE, PED_E_RANGE for a cost outside the bounds. */
int ped_pin_mask(const char *pin, const struct ped_pin_kdf *kdf,
		 const uint8_t keyset_id[PED_KEYSET_ID_LEN], uint8_t split_index, uint8_t *buf,
		 size_t len);

#endif
