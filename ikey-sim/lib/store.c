/* The key store: a directory of SERIAL.ikey files. */
#include "ikey/ikey.h"

#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SUFFIX ".ikey"

static int store_open(const char *dir, struct ikey_store *st, int create)
{
	const char *env = getenv("IKEY_STORE"), *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char why[1500];
	int n, r;

	if (dir && *dir)
		n = snprintf(st->dir, sizeof(st->dir), "%s", dir);
	else if (env && *env)
		n = snprintf(st->dir, sizeof(st->dir), "%s", env);
	else if (xdg && *xdg)
		n = snprintf(st->dir, sizeof(st->dir), "%s/openped/ikeys", xdg);
	else if (home && *home)
		n = snprintf(st->dir, sizeof(st->dir), "%s/.local/share/openped/ikeys", home);
	else {
		ped_error("no key store: give -store DIR or set IKEY_STORE, XDG_DATA_HOME or HOME");
		return PED_E_INVALID;
	}
	if (n < 0 || (size_t)n >= sizeof(st->dir))
		return PED_E_INVALID;
	/* Reading a store that is not there is a mistake (a mistyped -store),
	 * not an empty store: only a command that writes makes one. */
	if (!create && access(st->dir, F_OK) != 0 && errno == ENOENT)
		return PED_E_NOT_FOUND;
	/* A store another user made, or can change, lets them choose the files
	 * we write (lock files) and swap our keys: ours, 0700, or refused. */
	if ((r = ped_dir_private(st->dir, PED_DIR_SECRET, why, sizeof(why))) != PED_OK)
		ped_error("%s (chmod 700 a store of your own)", why);
	return r;
}

int ikey_store_open(const char *dir, struct ikey_store *st)
{
	return store_open(dir, st, 1);
}

int ikey_store_open_existing(const char *dir, struct ikey_store *st)
{
	return store_open(dir, st, 0);
}

int ikey_serial_normalise(const char *serial, char out[IKEY_SERIAL_LEN + 1])
{
	if (!serial || strlen(serial) != IKEY_SERIAL_LEN)
		return PED_E_INVALID;
	for (int i = 0; i < IKEY_SERIAL_LEN; i++) {
		if (!isxdigit((unsigned char)serial[i]))
			return PED_E_INVALID;
		out[i] = (char)toupper((unsigned char)serial[i]);
	}
	out[IKEY_SERIAL_LEN] = '\0';
	return PED_OK;
}

static void key_path(const struct ikey_store *st, const char *serial, char *path, size_t len)
{
	snprintf(path, len, "%s/%s" SUFFIX, st->dir, serial);
}

static int cmp_serial(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

int ikey_store_list(const struct ikey_store *st, char (**serials)[IKEY_SERIAL_LEN + 1], size_t *n)
{
	DIR *d = opendir(st->dir);
	struct dirent *e;
	char (*list)[IKEY_SERIAL_LEN + 1] = NULL;
	size_t count = 0, cap = 0;

	if (!d)
		return PED_E_FILE;
	while ((e = readdir(d)) != NULL) {
		char s[IKEY_SERIAL_LEN + 1];
		size_t l = strlen(e->d_name);
		/* SERIAL.ikey exactly: temporaries (SERIAL.ikey.tmp.*) and locks are not keys */
		if (l != IKEY_SERIAL_LEN + strlen(SUFFIX) || strcmp(e->d_name + IKEY_SERIAL_LEN, SUFFIX) != 0)
			continue;
		memcpy(s, e->d_name, IKEY_SERIAL_LEN);
		s[IKEY_SERIAL_LEN] = '\0';
		if (ikey_serial_normalise(s, s) != PED_OK)
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			void *nl = realloc(list, cap * sizeof(*list));
			if (!nl) {
				free(list);
				closedir(d);
				return PED_E_HOST_MEMORY;
			}
			list = nl;
		}
		memcpy(list[count++], s, sizeof(s));
	}
	closedir(d);
	if (count)
		qsort(list, count, sizeof(*list), cmp_serial);
	*serials = list;
	*n = count;
	return PED_OK;
}

int ikey_store_clean(const struct ikey_store *st, size_t *removed)
{
	return ped_file_remove_temps(st->dir, SUFFIX, removed);
}

int ikey_save(const struct ikey_store *st, const struct ikey *k)
{
	char path[2048], serial[IKEY_SERIAL_LEN + 1];
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = ikey_serial_normalise(k->serial, serial)) != PED_OK)
		return r;
	if ((r = ikey_encode(k, &buf, &len)) != PED_OK)
		return r;
	key_path(st, serial, path, sizeof(path));
	r = ped_file_write_atomic(path, buf, len, 0600);
	int saved = errno; /* the caller says why the write failed */
	OPENSSL_clear_free(buf, len);
	errno = saved;
	return r;
}

int ikey_load(const struct ikey_store *st, const char *serial, struct ikey *k, char *why,
	      size_t whylen)
{
	char path[2048], s[IKEY_SERIAL_LEN + 1], scratch[128];
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if (!why) {
		why = scratch;
		whylen = sizeof(scratch);
	}
	why[0] = '\0';
	memset(k, 0, sizeof(*k));
	if ((r = ikey_serial_normalise(serial, s)) != PED_OK) {
		snprintf(why, whylen, "not a serial number (16 hex digits)");
		return r;
	}
	key_path(st, s, path, sizeof(path));
	r = ped_file_read_nofollow(path, IKEY_FILE_MAX, &buf, &len);
	if (r == PED_E_NOT_FOUND) {
		snprintf(why, whylen, "no such key");
		return r;
	}
	if (r == PED_E_RANGE) {
		snprintf(why, whylen, "file too large");
		return PED_E_CORRUPT;
	}
	if (r != PED_OK) {
		snprintf(why, whylen, "cannot read: %s", strerror(errno));
		return r;
	}
	r = ikey_decode(buf, len, k, why, whylen);
	OPENSSL_clear_free(buf, len);
	if (r == PED_OK && strcmp(k->serial, s) != 0) {
		/* a file copied over another key's name is not that key */
		snprintf(why, whylen, "file holds key %s, not %s", k->serial, s);
		ikey_clear(k);
		return PED_E_CORRUPT;
	}
	return r;
}

int ikey_new_blank(const struct ikey_store *st, const char *label, char serial[IKEY_SERIAL_LEN + 1])
{
	struct ikey k;
	uint8_t rnd[8];
	char path[2048];

	if (label && strlen(label) > IKEY_LABEL_MAX)
		return PED_E_INVALID;
	for (int tries = 0; tries < 16; tries++) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return PED_E_CRYPTO;
		memset(&k, 0, sizeof(k));
		for (int i = 0; i < 8; i++)
			snprintf(k.serial + 2 * i, 3, "%02X", rnd[i]);
		key_path(st, k.serial, path, sizeof(path));
		if (access(path, F_OK) == 0)
			continue; /* serials are unique in a store */
		snprintf(k.label, sizeof(k.label), "%s", label ? label : "");
		k.s.type = IKEY_BLANK;
		int r = ikey_save(st, &k);
		if (r == PED_OK)
			memcpy(serial, k.serial, sizeof(k.serial));
		return r;
	}
	return PED_E_EXISTS;
}

int ikey_erase(const struct ikey_store *st, const char *serial)
{
	struct ikey k;
	char why[128];
	int r = ikey_load(st, serial, &k, why, sizeof(why));
	/* A damaged key may be erased too: that is how it is recovered. */
	if (r == PED_E_CORRUPT) {
		memset(&k, 0, sizeof(k));
		if (ikey_serial_normalise(serial, k.serial) != PED_OK)
			return PED_E_INVALID;
	} else if (r != PED_OK) {
		return r;
	}
	ikey_clear(&k);
	r = ikey_save(st, &k);
	return r;
}

int ikey_duplicate(const struct ikey_store *st, const char *src, const char *dst)
{
	struct ikey a, b;
	int r;

	if ((r = ikey_load(st, src, &a, NULL, 0)) != PED_OK)
		return r;
	if ((r = ikey_load(st, dst, &b, NULL, 0)) != PED_OK) {
		ikey_clear(&a);
		return r;
	}
	if (a.s.type == IKEY_BLANK) {
		r = PED_E_INVALID;
		goto out;
	}
	ikey_clear(&b);
	if ((r = ikey_secret_copy(&b.s, &a.s)) != PED_OK)
		goto out;
	r = ikey_save(st, &b);
out:
	ikey_clear(&a);
	ikey_clear(&b);
	return r;
}
