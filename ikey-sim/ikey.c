/* ikey: the key store of simulated PED keys, for operators and CI.
 *
 *   ikey [-store DIR] new [-count N] [-label TEXT]
 *   ikey [-store DIR] list [-json]
 *   ikey [-store DIR] show SERIAL [-json]
 *   ikey [-store DIR] label SERIAL TEXT
 *   ikey [-store DIR] erase SERIAL [-force]
 *   ikey [-store DIR] verify
 *
 * Nothing here prints a share, a key or anything derived from a PIN. */
#include "ikey/ikey.h"

#include "ped/error.h"
#include "ped/opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SYNOPSIS                                                                                   \
	"ikey [-store DIR] COMMAND [options]\n\n"                                                  \
	"Commands:\n"                                                                              \
	"  new [-count N] [-label TEXT]   create blank keys, print their serials\n"               \
	"  list [-json]                   every key: serial, contents, split, PIN, where, label\n" \
	"  show SERIAL [-json]            one key in detail\n"                                     \
	"  label SERIAL TEXT              set the sticker label (the PED never sees it)\n"         \
	"  erase SERIAL [-force]          make a key blank (asks first unless -force)\n"           \
	"  verify                         check every key file; non-zero exit on any damage\n\n"   \
	"The store is -store DIR, else $IKEY_STORE, else $XDG_DATA_HOME/openped/ikeys."

static struct ped_opt options[] = {
	{.name = "store", .kind = PED_OPT_STRING, .arg = "DIR", .help = "key store directory"},
	{.name = "json", .kind = PED_OPT_FLAG, .help = "machine-readable output (list, show)"},
	{.name = "count", .kind = PED_OPT_INT, .min = 1, .max = 1000, .arg = "N",
	 .help = "how many blank keys (new)"},
	{.name = "label", .kind = PED_OPT_STRING, .arg = "TEXT", .help = "sticker label (new)"},
	{.name = "force", .kind = PED_OPT_FLAG, .help = "do not ask (erase)"},
	{.name = "version", .aliases = "v", .kind = PED_OPT_FLAG, .help = "print the version"},
	{.name = NULL},
};

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* A label (or a holder's name) for a terminal: it comes from a key file
 * and a lock file, anyone's, and was printed as it was, escape sequences
 * and all (a key could clear the screen, retitle the window, or write the
 * clipboard of whoever listed it). Control bytes, and C1 controls written
 * in UTF-8, become '?'; other UTF-8 stays. */
static const char *shown(const char *s, char *out, size_t len)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 1 < len; p++) {
		if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			out[o++] = '?';
			p++;
		} else {
			out[o++] = *p < 0x20 || *p == 0x7f ? '?' : (char)*p;
		}
	}
	out[o] = '\0';
	return out;
}

static void keyset_hex(const struct ikey_secret *s, char out[33])
{
	for (int i = 0; i < PED_KEYSET_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", s->keyset_id[i]);
}

/* One key as a JSON object; damaged keys carry their error instead. */
static void json_key(const struct ikey_store *st, const char *serial, const struct ikey *k, int r,
		     const char *why)
{
	char where[256] = "", ks[33];
	int inserted = ikey_inserted_where(st, serial, where, sizeof(where));

	printf("{\"serial\":");
	json_string(serial);
	if (r != PED_OK) {
		printf(",\"status\":\"damaged\",\"error\":");
		json_string(why);
		printf("}");
		return;
	}
	printf(",\"status\":\"ok\",\"label\":");
	json_string(k->label);
	printf(",\"blank\":%s", k->s.type == IKEY_BLANK ? "true" : "false");
	if (k->s.type != IKEY_BLANK) {
		keyset_hex(&k->s, ks);
		printf(",\"type\":\"%s\",\"colour\":\"%s\",\"keyset\":\"%s\",\"m\":%u,\"n\":%u,"
		       "\"index\":%u,\"pin\":%s,\"created\":%llu",
		       ikey_type_name(k->s.type), ikey_type_colour(k->s.type), ks, k->s.m, k->s.n,
		       k->s.index, k->s.pin_set ? "true" : "false", (unsigned long long)k->s.created);
		if (k->s.pin_set && k->s.mask.id == PED_PIN_KDF_SCRYPT)
			printf(",\"pin_mask\":{\"kdf\":\"scrypt\",\"log2n\":%u,\"r\":%u,\"p\":%u}",
			       k->s.mask.log2n, k->s.mask.r, k->s.mask.p);
		else if (k->s.pin_set)
			printf(",\"pin_mask\":{\"kdf\":\"hkdf-sha512\"}");
		else
			printf(",\"pin_mask\":null");
		if (k->s.type == IKEY_RPV)
			printf(",\"rpv_static_key\":%s", k->s.static_priv ? "true" : "false");
	}
	printf(",\"format\":%u", k->format);
	printf(",\"inserted\":");
	if (inserted)
		json_string(where);
	else
		printf("null");
	printf("}");
}

/* A failed write says where and why: "RC_FILE_ERROR: file error" alone
 * left the operator to guess at the store's path and its permissions. */
static void write_failed(const struct ikey_store *st, const char *cmd, const char *what, int r)
{
	if (r == PED_E_FILE)
		fprintf(stderr, "ikey %s: cannot write %s in the store %s: %s\n", cmd, what, st->dir, strerror(errno));
	else
		fprintf(stderr, "ikey %s: %s: %s\n", cmd, what, ped_strerror(r));
}

static int cmd_new(const struct ikey_store *st)
{
	long count = ped_opts_num(options, "count", 1);
	const char *label = ped_opts_str(options, "label", "");
	char serial[IKEY_SERIAL_LEN + 1];
	int r;

	for (long i = 0; i < count; i++) {
		if ((r = ikey_new_blank(st, label, serial)) != PED_OK) {
			write_failed(st, "new", "a new key", r);
			return 1;
		}
		printf("%s\n", serial);
	}
	return 0;
}

static int cmd_list(const struct ikey_store *st)
{
	char (*serials)[IKEY_SERIAL_LEN + 1] = NULL;
	size_t n = 0;
	int json = ped_opts_seen(options, "json"), damaged = 0;

	if (ikey_store_list(st, &serials, &n) != PED_OK) {
		fprintf(stderr, "ikey list: cannot read the store %s: %s\n", st->dir, strerror(errno));
		return 1;
	}
	if (json)
		printf("{\"store\":"), json_string(st->dir), printf(",\"keys\":[");
	else
		printf("%-16s  %-15s  %-8s  %-12s  %-3s  %-22s  %s\n", "SERIAL", "CONTENTS", "KEYSET",
		       "SPLIT", "PIN", "INSERTED", "LABEL");
	for (size_t i = 0; i < n; i++) {
		struct ikey k;
		char why[160], where[256] = "", contents[32], split[32] = "-", ks[33];
		int r = ikey_load(st, serials[i], &k, why, sizeof(why));
		if (json) {
			if (i)
				putchar(',');
			json_key(st, serials[i], &k, r, why);
		} else if (r != PED_OK) {
			printf("%-16s  DAMAGED: %s\n", serials[i], why);
		} else {
			if (!ikey_inserted_where(st, serials[i], where, sizeof(where)))
				snprintf(where, sizeof(where), "-");
			if (k.s.type == IKEY_BLANK) {
				snprintf(contents, sizeof(contents), "blank");
				snprintf(ks, sizeof(ks), "-");
			} else {
				snprintf(contents, sizeof(contents), "%s (%s)", ikey_type_name(k.s.type),
					 ikey_type_colour(k.s.type));
				keyset_hex(&k.s, ks);
				ks[8] = '\0';
				snprintf(split, sizeof(split), "%u of %u (M=%u)", k.s.index, k.s.n, k.s.m);
			}
			char lb[sizeof(k.label)], wh[sizeof(where)];
			printf("%-16s  %-15s  %-8s  %-12s  %-3s  %-22.22s  %s\n", serials[i], contents, ks,
			       split, k.s.type == IKEY_BLANK ? "-" : k.s.pin_set ? "yes" : "no",
			       shown(where, wh, sizeof(wh)), shown(k.label, lb, sizeof(lb)));
		}
		damaged += r != PED_OK;
		if (r == PED_OK)
			ikey_clear(&k);
	}
	if (json)
		printf("]}\n");
	free(serials);
	return damaged ? 1 : 0;
}

static int cmd_show(const struct ikey_store *st, const char *serial)
{
	struct ikey k;
	char why[160], where[256] = "", ks[33];
	int r = ikey_load(st, serial, &k, why, sizeof(why));

	if (ped_opts_seen(options, "json")) {
		if (r == PED_E_NOT_FOUND || r == PED_E_INVALID) {
			fprintf(stderr, "ikey show: %s: %s\n", serial, why);
			return 1;
		}
		json_key(st, r == PED_OK ? k.serial : serial, &k, r, why);
		putchar('\n');
	} else if (r != PED_OK) {
		fprintf(stderr, "ikey show: key %s: %s\n", serial, why);
	} else {
		printf("Serial:    %s\n", k.serial);
		printf("Format:    %u%s\n", k.format,
		       k.format != IKEY_FORMAT ? " (rewritten in the current format at the next write)" : "");
		char lb[sizeof(k.label)], wh[sizeof(where)];
		printf("Label:     %s\n", k.label[0] ? shown(k.label, lb, sizeof(lb)) : "-");
		if (k.s.type == IKEY_BLANK) {
			printf("Contents:  blank\n");
		} else {
			time_t t = (time_t)k.s.created;
			char when[64];
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
			keyset_hex(&k.s, ks);
			printf("Contents:  %s secret (%s key)\n", ikey_type_name(k.s.type),
			       ikey_type_colour(k.s.type));
			printf("Keyset:    %s\n", ks);
			printf("Split:     %u of %u, quorum M = %u\n", k.s.index, k.s.n, k.s.m);
			printf("PIN:       %s\n", k.s.pin_set ? "yes" : "no");
			if (k.s.pin_set) {
				char cost[64];
				/* format 1's fast mask lets two keys of the set test PINs offline */
				printf("PIN mask:  %s%s\n", ped_pin_kdf_describe(&k.s.mask, cost, sizeof(cost)),
				       k.s.mask.id == PED_PIN_KDF_HKDF
					       ? ": fast, replace with a duplicate set (docs/pinmask.md)"
					       : "");
			}
			printf("Created:   %s\n", when);
			if (k.s.type == IKEY_RPV)
				printf("RPV key:   %s\n", k.s.static_priv ? "static key and certificates present"
									: "none (legacy RPV)");
		}
		printf("Inserted:  %s\n",
		       ikey_inserted_where(st, k.serial, where, sizeof(where)) ? shown(where, wh, sizeof(wh)) : "no");
	}
	if (r == PED_OK)
		ikey_clear(&k);
	return r == PED_OK ? 0 : 1;
}

static int cmd_label(const struct ikey_store *st, const char *serial, const char *text)
{
	struct ikey k;
	char why[160];
	int r = ikey_load(st, serial, &k, why, sizeof(why));

	if (r != PED_OK) {
		fprintf(stderr, "ikey label: key %s: %s\n", serial, why);
		return 1;
	}
	if (strlen(text) > IKEY_LABEL_MAX) {
		fprintf(stderr, "ikey label: at most %d characters\n", IKEY_LABEL_MAX);
		ikey_clear(&k);
		return 2;
	}
	snprintf(k.label, sizeof(k.label), "%s", text);
	r = ikey_save(st, &k);
	ikey_clear(&k);
	if (r != PED_OK) {
		char what[64];
		snprintf(what, sizeof(what), "key %s", serial);
		write_failed(st, "label", what, r);
		return 1;
	}
	return 0;
}

static int cmd_erase(const struct ikey_store *st, const char *serial)
{
	struct ikey k;
	char why[160], answer[16];
	int r = ikey_load(st, serial, &k, why, sizeof(why));

	if (r != PED_OK && r != PED_E_CORRUPT) {
		fprintf(stderr, "ikey erase: key %s: %s\n", serial, why);
		return 1;
	}
	if (!ped_opts_seen(options, "force")) {
		if (!isatty(STDIN_FILENO)) {
			fprintf(stderr, "ikey erase: no terminal to confirm on; use -force\n");
			if (r == PED_OK)
				ikey_clear(&k);
			return 1;
		}
		/* an unreadable key says why: one of a later format is not damaged */
		printf("Erase key %s (%s)? The secret on it is lost for good. [y/N] ", serial,
		       r == PED_OK ? ikey_type_name(k.s.type) : why);
		fflush(stdout);
		if (!fgets(answer, sizeof(answer), stdin) || (answer[0] != 'y' && answer[0] != 'Y')) {
			printf("Not erased.\n");
			if (r == PED_OK)
				ikey_clear(&k);
			return 1;
		}
	}
	if (r == PED_OK)
		ikey_clear(&k);
	if ((r = ikey_erase(st, serial)) != PED_OK) {
		char what[64];
		snprintf(what, sizeof(what), "key %s", serial);
		write_failed(st, "erase", what, r);
		return 1;
	}
	printf("Key %s is blank.\n", serial);
	return 0;
}

static int cmd_verify(const struct ikey_store *st)
{
	char (*serials)[IKEY_SERIAL_LEN + 1] = NULL;
	size_t n = 0, removed = 0, bad = 0;

	/* Temporaries from writers killed mid-write hold no key: remove them. */
	ikey_store_clean(st, &removed);
	if (ikey_store_list(st, &serials, &n) != PED_OK) {
		fprintf(stderr, "ikey verify: cannot read the store %s: %s\n", st->dir, strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct ikey k;
		char why[160];
		if (ikey_load(st, serials[i], &k, why, sizeof(why)) != PED_OK) {
			printf("key %s: %s\n", serials[i], why);
			bad++;
		} else {
			ikey_clear(&k);
		}
	}
	free(serials);
	printf("%zu keys checked, %zu damaged", n, bad);
	if (removed)
		printf(", %zu unfinished writes removed", removed);
	printf("\n");
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *pos[4];
	size_t npos = 0;
	struct ikey_store st;
	char err[256];
	int r;

	r = ped_opts_parse(options, argc, argv, 1, pos, 4, &npos, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, SYNOPSIS, options);
		return 0;
	}
	if (r != PED_OK) {
		fprintf(stderr, "ikey: %s\n", err);
		return 2;
	}
	if (ped_opts_seen(options, "version")) {
		printf("ikey %s\n", PED_VERSION);
		return 0;
	}
	if (npos == 0) {
		ped_opts_usage(stderr, SYNOPSIS, options);
		return 2;
	}
	static const char *const known[] = {"new", "list", "show", "label", "erase", "verify", NULL};
	int k = 0;
	while (known[k] && strcasecmp(pos[0], known[k]))
		k++;
	if (!known[k]) { /* said before any store is looked for */
		fprintf(stderr, "ikey: unknown command %s (ikey -help)\n", pos[0]);
		return 2;
	}
	/* only new makes a store: the others use keys that must be there */
	int makes = !strcasecmp(pos[0], "new");
	const char *dir = ped_opts_str(options, "store", NULL);
	if ((r = makes ? ikey_store_open(dir, &st) : ikey_store_open_existing(dir, &st)) != PED_OK) {
		if (r == PED_E_NOT_FOUND)
			fprintf(stderr, "ikey: no key store at %s (ikey new makes one)\n", st.dir);
		else
			fprintf(stderr, "ikey: cannot open the key store: %s\n", ped_strerror(r));
		return 1;
	}
	if (strcasecmp(pos[0], "new") == 0 && npos == 1)
		return cmd_new(&st);
	if (strcasecmp(pos[0], "list") == 0 && npos == 1)
		return cmd_list(&st);
	if (strcasecmp(pos[0], "show") == 0 && npos == 2)
		return cmd_show(&st, pos[1]);
	if (strcasecmp(pos[0], "label") == 0 && npos == 3)
		return cmd_label(&st, pos[1], pos[2]);
	if (strcasecmp(pos[0], "erase") == 0 && npos == 2)
		return cmd_erase(&st, pos[1]);
	if (strcasecmp(pos[0], "verify") == 0 && npos == 1)
		return cmd_verify(&st);
	fprintf(stderr, "ikey: unknown command or wrong arguments: %s (ikey -help)\n", pos[0]);
	return 2;
}
