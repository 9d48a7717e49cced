/* Simulated iKeys (PED keys): one file per physical key in a key store.
 *
 * A key is blank or holds exactly one secret: what the PED sees (its type),
 * the keyset it belongs to, its split (index of N, quorum M), whether a PIN
 * masks it, the masked share, and for an orange key what the Remote PED
 * channel needs besides the RPV share (the RPV static key, its certificate
 * and the HSM's HOC). The sticker label is for people; the PED never sees it.
 *
 * Files are written atomically (temp, fsync, rename) with mode 0600 and carry
 * a SHA-256 check; a damaged file is reported by serial and never taken for a
 * blank key. docs/ikey-format.md has the byte layout. */
#ifndef IKEY_IKEY_H
#define IKEY_IKEY_H

#include "ped/pinmask.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define IKEY_SERIAL_LEN 16      /* hex digits */
#define IKEY_LABEL_MAX 128
#define IKEY_SHARE_MAX 256
#define IKEY_CERT_MAX 4096
#define IKEY_SCALAR_LEN 66
#define IKEY_FILE_MAX 16384
#define IKEY_MAX_SPLITS 16
/* Format 2 names the PIN mask and its cost; format 1 (HKDF masks) is still
 * read, and becomes format 2 only when the key is written again. */
#define IKEY_FORMAT 2

enum ikey_type {
	IKEY_BLANK = 0,
	IKEY_SO = 1,     /* blue: HSM SO, partition SO */
	IKEY_DOMAIN = 2, /* red: cloning domain */
	IKEY_RPV = 3,    /* orange: Remote PED vector */
	IKEY_USER = 4,   /* black (CO) or gray (CU, LCO): the PED sees one type */
	IKEY_AUDIT = 5,  /* white: auditor */
};

struct ikey_secret {
	enum ikey_type type;
	uint8_t keyset_id[PED_KEYSET_ID_LEN];
	uint8_t m, n, index; /* 1 <= m <= n <= 16, 1 <= index <= n */
	uint8_t pin_set;
	/* How the share is masked: scrypt and its cost for the whole keyset,
	 * HKDF for keys read from format 1 files, NONE without a PIN. A copy of
	 * the secret (a duplicate) carries it, so it unmasks with the same PIN. */
	struct ped_pin_kdf mask;
	uint64_t created; /* seconds since the epoch */
	uint8_t *share;   /* PIN-masked; OPENSSL_malloc'd */
	size_t share_len;
	/* orange keys only */
	uint8_t *static_priv; /* IKEY_SCALAR_LEN bytes, OPENSSL_malloc'd, or NULL */
	uint8_t *static_cert; /* DER */
	size_t static_cert_len;
	uint8_t *hoc_cert; /* DER */
	size_t hoc_cert_len;
};

struct ikey {
	uint8_t format; /* the version the file was read in; ikey_encode writes IKEY_FORMAT */
	char serial[IKEY_SERIAL_LEN + 1];
	char label[IKEY_LABEL_MAX + 1];
	struct ikey_secret s; /* s.type == IKEY_BLANK: blank key */
};

struct ikey_store {
	char dir[1024];
};

/* Names for people: "SO", "Domain", ...; colours: "blue", "red", ... */
const char *ikey_type_name(enum ikey_type t);
const char *ikey_type_colour(enum ikey_type t);

/* Store location: dir if given, else $IKEY_STORE, else $XDG_DATA_HOME/openped/ikeys,
 * else ~/.local/share/openped/ikeys. Created with mode 0700. */
int ikey_store_open(const char *dir, struct ikey_store *st);
/* The same for commands that only read: a store that does not exist is
 * PED_E_NOT_FOUND (st->dir names it), never made. */
int ikey_store_open_existing(const char *dir, struct ikey_store *st);
/* Serials of every key file in the store, sorted; free with free(). */
int ikey_store_list(const struct ikey_store *st, char (**serials)[IKEY_SERIAL_LEN + 1], size_t *n);
/* Removes temporary files left by writers that were killed mid-write. */
int ikey_store_clean(const struct ikey_store *st, size_t *removed);

/* A serial is 16 hex digits, either case: out gets the canonical upper-case
 * form; anything else (a path, say) is PED_E_INVALID. */
int ikey_serial_normalise(const char *serial, char out[IKEY_SERIAL_LEN + 1]);
/* Creates a blank key with a fresh random serial. */
int ikey_new_blank(const struct ikey_store *st, const char *label, char serial[IKEY_SERIAL_LEN + 1]);
/* Loads a key. A damaged file is PED_E_CORRUPT with why (if given) saying how. */
int ikey_load(const struct ikey_store *st, const char *serial, struct ikey *k, char *why,
	      size_t whylen);
int ikey_save(const struct ikey_store *st, const struct ikey *k);
/* Wipes and frees the secret's buffers; the struct may be reused. */
void ikey_clear(struct ikey *k);
/* Deep copy of a secret (for duplication and overwriting). */
int ikey_secret_copy(struct ikey_secret *dst, const struct ikey_secret *src);

/* File encoding (the parser is fuzzed). */
int ikey_encode(const struct ikey *k, uint8_t **buf, size_t *len);
int ikey_decode(const uint8_t *buf, size_t len, struct ikey *k, char *why, size_t whylen);

/* Insertion: a key sits in one PED at a time. The lock is released when the
 * slot is removed or when the holding process dies. */
struct ikey_slot {
	int fd;
	char serial[IKEY_SERIAL_LEN + 1];
};
/* PED_E_BUSY with holder_out naming who has it; PED_E_NOT_FOUND if no such key. */
int ikey_insert(const struct ikey_store *st, const char *serial, const char *holder,
		struct ikey_slot *slot, char *holder_out, size_t holder_len);
void ikey_remove(struct ikey_slot *slot);
/* 1 and who holds it if the key is inserted somewhere, 0 if not. */
int ikey_inserted_where(const struct ikey_store *st, const char *serial, char *who, size_t len);

/* Copies src's secret onto dst exactly (same split, same PIN); dst keeps its
 * serial and label. */
int ikey_duplicate(const struct ikey_store *st, const char *src, const char *dst);
/* Makes a key blank (keeps its label). */
int ikey_erase(const struct ikey_store *st, const char *serial);

/* Counting splits toward a quorum: the same split twice, or a duplicate of
 * one already presented, does not count twice. */
struct ikey_quorum {
	int started;
	enum ikey_type type;
	uint8_t keyset_id[PED_KEYSET_ID_LEN];
	uint8_t m, n;
	uint32_t seen; /* bit i: split index i presented */
	unsigned count;
};
void ikey_quorum_init(struct ikey_quorum *q);
/* PED_OK (counted), PED_E_SHARE_DUPLICATE (already counted), PED_E_INVALID
 * (another keyset, type or M/N than the first key). */
int ikey_quorum_add(struct ikey_quorum *q, const struct ikey_secret *s);
int ikey_quorum_complete(const struct ikey_quorum *q);

#endif
