/* The PED's side of chapter 5's ceremonies, as dialogues on the device:
 * reading a keyset (login, and stage 1 "reuse an existing keyset") and
 * creating one (stages 2-4: M of N, writing each split with its PIN,
 * duplicate sets). No link here: modes.c carries the results to the HSM. */
#ifndef PED_DEVICE_CEREMONY_H
#define PED_DEVICE_CEREMONY_H

#include "device.h"
#include "ped/app.h"

/* What an orange key carries besides its RPV split, for the 2e2s channel:
 * the RPV static key the HSM made, its certificate, and the HSM's HOC. */
struct cer_rpv_static {
	int set;
	uint8_t scalar[IKEY_SCALAR_LEN];
	uint8_t cert[IKEY_CERT_MAX];
	size_t cert_len;
	uint8_t hoc[IKEY_CERT_MAX];
	size_t hoc_len;
};

struct cer_ask {
	int type;            /* enum ikey_type */
	const char *title;   /* "SO LOGIN...", "SETTING SO PIN..." */
	const char *prompt;  /* "SO / HSM Admin" */
	const char *colour;  /* "BLUE" */
	const struct cer_rpv_static *rpv_in; /* written onto each orange key, if set */
	struct cer_rpv_static *rpv_out;      /* read from the orange keys, if given */
};

/* Reads a quorum of splits, each unmasked with the PIN typed for it. A key of
 * the wrong type or a split already read is refused on screen and asked for
 * again. Splits are tallied by keyset: the first keyset to reach its quorum
 * is returned, whichever key came first; the others' splits never reach
 * the HSM. */
int cer_read_keyset(struct ped_device *d, const struct cer_ask *a, struct ped_app_splits *sp);

struct cer_created {
	struct ped_app_created info;
	uint8_t secret[PED_APP_SECRET_MAX]; /* the reused keyset's secret */
	size_t secret_len;                  /* 0 unless info.reused */
};

/* Creates a keyset for secret, or (allow_reuse and the operator says Yes)
 * reads an existing one and returns its secret instead. */
int cer_create_keyset(struct ped_device *d, const struct cer_ask *a, int allow_reuse,
		      const uint8_t *secret, size_t len, struct cer_created *out);

/* Writes one key (Admin mode's Duplicate uses it too): asks for a key,
 * warns once for a blank key and twice for a key holding a secret. With
 * with_pin, asks for a new PIN and masks s's share with it under s->mask,
 * the keyset's cost (s->share must be the unmasked split); without, writes
 * s as it is, mask and cost included, so a duplicate unmasks with the PIN
 * of its source. avoid lists serials that must not be written (count of
 * them in navoid). */
int cer_write_key(struct ped_device *d, const struct cer_ask *a, const char *insert_text,
		  struct ikey_secret *s, int with_pin, char (*avoid)[IKEY_SERIAL_LEN + 1],
		  size_t navoid, char written[IKEY_SERIAL_LEN + 1]);

#endif
