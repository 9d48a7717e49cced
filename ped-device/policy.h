/* A parsed policy (policy_parse, headless.h): what the answerer does at
 * each prompt, by key type, overridden for screens by their title. The
 * language is in docs/ped-device.md. */
#ifndef PED_DEVICE_POLICY_H
#define PED_DEVICE_POLICY_H

#include "device.h"

#include "ped/cert.h"

#include <stddef.h>
#include <stdint.h>

#define POL_MAX_KEYS 64
#define POL_TYPES 6
#define POL_MAX_IDS 8

struct pol_type {
	int m, n, dups;
	uint8_t reuse[16]; /* answers to successive reuse questions; the last repeats */
	size_t nreuse;
	int reuse_rule;    /* which rule set reuse (for counting its questions) */
	char use[POL_MAX_KEYS][IKEY_SERIAL_LEN + 1];
	uint8_t use_group[POL_MAX_KEYS]; /* "use T A B / C": A B for the first ceremony, C after */
	size_t nuse;
	int ngroups, use_rule;
	char write[POL_MAX_KEYS][IKEY_SERIAL_LEN + 1];
	size_t nwrite;
	char newpin[POL_MAX_KEYS][49];
	size_t nnewpin;
};

struct pol_pin {
	char serial[IKEY_SERIAL_LEN + 1];
	char pin[49];
};

/* A rule for screens whose title (the second line) starts with title:
 * it overrides the key type's rule for the fields it sets. */
#define POL_MAX_TITLED 32
enum { SET_MOFN = 1, SET_REUSE = 2, SET_DUPS = 4, SET_USE = 8, SET_WRITE = 16, SET_NEWPIN = 32 };
struct pol_titled {
	char title[DEV_COLS + 1];
	unsigned set;
	struct pol_type v;
};

struct policy {
	struct pol_type t[POL_TYPES];
	struct pol_titled titled[POL_MAX_TITLED];
	size_t ntitled;
	struct pol_pin pins[POL_MAX_KEYS];
	size_t npins;
	char password[9]; /* Remote PED one-time password, "" if none */
	char password_file[512]; /* ... or the transcript the operator reads it from */
	/* HSMs whose identity the operator was shown (serial and HOC
	 * fingerprint), or the transcript that shows them: a password
	 * session with any other HSM is refused */
	struct pol_identity {
		char serial[17];
		char fpr[PED_CERT_FPR_LEN + 1];
	} ids[POL_MAX_IDS];
	size_t nids;
	char identity_file[512];
	int share_rpk; /* use one HSM's orange key for another */
};

/* The rule for a screen whose title (its second line) is title, for a key
 * of type: the key type's, overridden by every title rule title starts with. */
void policy_rule(const struct policy *p, int type, const char *title, struct pol_type *out);
/* The PIN the policy gives key serial, "" if none. */
const char *policy_pin(const struct policy *p, const char *serial);

#endif
