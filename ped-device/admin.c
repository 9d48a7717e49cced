/* Admin mode (chapter 5, "Admin Mode Functions"): identify and duplicate
 * PED keys without an HSM, software update, self test. */
#include "ceremony.h"
#include "dialog.h"
#include "modes.h"

#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/log.h"
#include "ped/net.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ADMIN_MENU "Admin mode...\n1 PED Key\n5 Backup Devices\n7 Software Update\n9 Self Test\n\n< EXIT"
#define UPDATE_MAX (16u * 1024u * 1024u)

static void list_types(struct ped_device *d)
{
	char serial[IKEY_SERIAL_LEN + 1], why[128], text[160];
	struct ikey k;

	memset(&k, 0, sizeof(k));
	fw_inserted(d, serial);
	/* chapter 5: "Found keys: / Domain / (blank) / Press ENTER." */
	if (!serial[0])
		snprintf(text, sizeof(text), "PED Key mode\nFound keys:\nNone\n\nPress ENTER.");
	else if (ikey_load(&d->store, serial, &k, why, sizeof(why)) != PED_OK)
		snprintf(text, sizeof(text), "PED Key mode\nFound keys:\nUnreadable\n\nPress ENTER.");
	else
		snprintf(text, sizeof(text), "PED Key mode\nFound keys:\n%s\n\nPress ENTER.",
			 k.s.type == IKEY_BLANK ? "Blank" : ikey_type_name(k.s.type));
	fw_log(d, "List types");
	ikey_clear(&k);
	(void)dlg_enter(d, DEV_P_ACK, 0, text);
}

/* "Login" reads the inserted key into the PED, so it can be duplicated. */
static int login(struct ped_device *d, struct ikey *src)
{
	int r;

	ikey_clear(src);
	r = dlg_insert(d, DEV_P_INSERT_READ, 0, "PED Key mode\nInsert a PED Key\nto log in to.\nPress ENTER.", src);
	if (r != PED_OK)
		return r;
	if (src->s.type == IKEY_BLANK) {
		ikey_clear(src);
		(void)dlg_enter(d, DEV_P_ACK, 0, "PED Key mode\nThis PED Key is\nblank.\nPress ENTER.");
		return PED_E_INVALID;
	}
	if (src->s.pin_set) {
		/* The device logs in to a key with its PIN. This PED cannot check
		 * it: a key holds no PIN verifier (docs/pinmask.md), and Duplicate
		 * copies the masked share as it is, so the copy answers to the
		 * same PIN and the typed digits are needed for nothing else. */
		char pin[64];
		r = dlg_digits(d, DEV_P_PIN, src->s.type, "PED Key mode\nEnter PED PIN:", pin, sizeof(pin));
		OPENSSL_cleanse(pin, sizeof(pin));
		if (r != PED_OK) {
			ikey_clear(src);
			return r;
		}
	}
	fw_log(d, "Login %s key", ikey_type_name(src->s.type));
	char text[128];
	snprintf(text, sizeof(text), "PED Key mode\nLogged in.\nPED Key is for\n%s.\nPress ENTER.",
		 ikey_type_name(src->s.type));
	return dlg_enter(d, DEV_P_ACK, src->s.type, text);
}

static void duplicate(struct ped_device *d, struct ikey *src)
{
	struct cer_ask a = {src->s.type, "PED Key mode", "", "", NULL, NULL};
	char avoid[1][IKEY_SERIAL_LEN + 1], written[IKEY_SERIAL_LEN + 1];
	int r;

	memcpy(avoid[0], src->serial, sizeof(avoid[0]));
	for (;;) {
		r = cer_write_key(d, &a, "PED Key mode\nInsert a blank or\nreusable PED Key\nto duplicate onto.\nPress ENTER.",
				  &src->s, 0, avoid, 1, written);
		if (r != PED_OK)
			return;
		fw_log(d, "Duplicated %s key", ikey_type_name(src->s.type));
		if (dlg_yesno(d, DEV_P_DUPLICATE, src->s.type,
			      "PED Key mode\nDuplicate written.\nWould you like to\nmake another\nduplicate? (Y/N)") != 1)
			return;
	}
}

static void pedkey_mode(struct ped_device *d)
{
	struct ikey src;
	int logged_in = 0;

	memset(&src, 0, sizeof(src));
	for (;;) {
		int k = logged_in
			? dlg_menu(d, "PED Key mode\n2 Logout\n3 List types\n7 Duplicate\n< EXIT", "237")
			: dlg_menu(d, "PED Key mode\n1 Login\n3 List types\n< EXIT", "13");
		if (k < 0 || k == DEV_KEY_BACK)
			break;
		if (k == '1')
			logged_in = login(d, &src) == PED_OK;
		else if (k == '2') {
			ikey_clear(&src);
			logged_in = 0;
			fw_log(d, "Logout");
		} else if (k == '3')
			list_types(d);
		else if (k == '7')
			duplicate(d, &src);
	}
	ikey_clear(&src);
}

/* A software image starts with the line "OPENPED-PED-IMAGE VERSION"; the
 * version (1 to DEV_VERSION_MAX of 0-9 A-Z a-z . -) is what the PED shows
 * once the image is saved. 0 and the version, or PED_E_CORRUPT. */
static int image_version(const uint8_t *img, size_t len, char out[DEV_VERSION_MAX + 1])
{
	static const char magic[] = "OPENPED-PED-IMAGE ";
	size_t m = sizeof(magic) - 1, n = 0;

	if (len < m || memcmp(img, magic, m))
		return PED_E_CORRUPT;
	while (m + n < len && img[m + n] != '\n' && n <= DEV_VERSION_MAX) {
		uint8_t c = img[m + n];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' ||
		      c == '-'))
			return PED_E_CORRUPT;
		n++;
	}
	if (n == 0 || n > DEV_VERSION_MAX || m + n >= len)
		return PED_E_CORRUPT;
	memcpy(out, img + m, n);
	out[n] = '\0';
	return PED_OK;
}

/* Where the saved image lives: firmware_file, else ped-firmware.img in the
 * data directory. To save (create), the data directory is made if need be
 * (ped_data_path); to read, a missing data directory, or one that is not
 * private, means no saved image: the PED runs the program's own version. */
static int image_path(const struct dev_config *cfg, int create, char *out, size_t len)
{
	const char *dh = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char dir[768];

	if (cfg->firmware_file[0]) {
		snprintf(out, len, "%s", cfg->firmware_file);
		return PED_OK;
	}
	if (create)
		return ped_data_path("ped-firmware.img", out, len);
	if (dh && *dh)
		snprintf(dir, sizeof(dir), "%s/openped", dh);
	else if (home && *home)
		snprintf(dir, sizeof(dir), "%s/.local/share/openped", home);
	else
		return PED_E_NOT_FOUND;
	if (access(dir, F_OK) != 0 || ped_dir_check_private(dir, PED_DIR_NOWRITE, NULL, 0) != PED_OK)
		return PED_E_NOT_FOUND;
	snprintf(out, len, "%s/ped-firmware.img", dir);
	return PED_OK;
}

void admin_boot(struct ped_device *d)
{
	char path[1024], v[DEV_VERSION_MAX + 1];
	uint8_t *img = NULL;
	size_t len = 0;
	int r;

	if (image_path(&d->cfg, 0, path, sizeof(path)) != PED_OK)
		return;
	r = ped_file_read_nofollow(path, UPDATE_MAX, &img, &len);
	if (r == PED_OK && (r = image_version(img, len, v)) == PED_OK) {
		pthread_mutex_lock(&d->mu);
		memcpy(d->version, v, sizeof(v));
		pthread_mutex_unlock(&d->mu);
		ped_info("running the saved software image %s, version %s", path, v);
	} else if (r != PED_E_NOT_FOUND) {
		ped_warn("the saved software image %s is unusable (%s): running version %s", path, ped_strerror(r),
			 PED_VERSION);
	}
	if (img)
		OPENSSL_clear_free(img, len);
}

/* The update image is FILE, its ECDSA-SHA-512 signature FILE.sig (DER),
 * checked against the update key the PED trusts. The "upload": the image
 * comes into the PED's memory, and only there, until it is saved. */
static int upload_image(const struct dev_config *cfg, uint8_t **img, size_t *ilen, char *why, size_t len)
{
	uint8_t *sig = NULL;
	size_t slen = 0;
	char sigpath[600];
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *ctx = NULL;
	FILE *f = NULL;
	int r = PED_E_CORRUPT;

	*img = NULL;
	*ilen = 0;
	if (!cfg->update_file[0] || !cfg->update_key[0]) {
		snprintf(why, len, "No image.");
		return PED_E_NOT_FOUND;
	}
	snprintf(sigpath, sizeof(sigpath), "%s.sig", cfg->update_file);
	if (ped_file_read_bounded(cfg->update_file, UPDATE_MAX, img, ilen) != PED_OK ||
	    ped_file_read_bounded(sigpath, 1024, &sig, &slen) != PED_OK) {
		snprintf(why, len, "Image unreadable.");
		r = PED_E_FILE;
		goto out;
	}
	if (!(f = fopen(cfg->update_key, "r")) || !(key = PEM_read_PUBKEY(f, NULL, NULL, NULL))) {
		snprintf(why, len, "No update key.");
		r = PED_E_FILE;
		goto out;
	}
	if (!(ctx = EVP_MD_CTX_new()) ||
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha512(), NULL, key) != 1 ||
	    EVP_DigestVerify(ctx, sig, slen, *img, *ilen) != 1) {
		snprintf(why, len, "Bad signature.");
		goto out;
	}
	char v[DEV_VERSION_MAX + 1];
	if (image_version(*img, *ilen, v) != PED_OK) {
		snprintf(why, len, "Not a PED image.");
		goto out;
	}
	r = PED_OK;
out:
	if (f)
		fclose(f);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	if (r != PED_OK && *img) {
		OPENSSL_free(*img);
		*img = NULL;
		*ilen = 0;
	}
	OPENSSL_free(sig);
	return r;
}

/* Chapter 5's sequence: "Upload Image? YES/NO", "Uploading image", the
 * power-failure warning and "Save Image? YES/NO", "Success". Nothing is
 * written before Yes to Save: a refusal, a failed check or a PED stopped
 * before then keeps the image it runs; the save itself is atomic
 * (ped_file_write_atomic), so a PED stopped during it runs the old image
 * or the new one, never a mix. 1 when the new image is saved: the PED
 * boots it. */
static int software_update(struct ped_device *d)
{
	char why[64] = "", text[160], path[1024], v[DEV_VERSION_MAX + 1];
	uint8_t *img = NULL;
	size_t ilen = 0;
	int r, saved = 0;

	if (dlg_yesno(d, DEV_P_CONFIRM, 0, "Software update\nUpload Image? YES/NO") != 1)
		return 0;
	fw_show(d, DEV_P_NONE, 0, "Software update\nUploading image");
	dev_event_log(d, "update", "\"stage\":\"upload\"");
	r = upload_image(&d->cfg, &img, &ilen, why, sizeof(why));
	if (r == PED_OK && image_path(&d->cfg, 1, path, sizeof(path)) != PED_OK) {
		snprintf(why, sizeof(why), "Nowhere to save.");
		r = PED_E_FILE;
	}
	if (r != PED_OK) {
		fw_log(d, "Update refused");
		dev_event_log(d, "update", "\"stage\":\"refused\"");
		snprintf(text, sizeof(text), "Software update\nFailure (VERIFY)\n%s\nPress ENTER", why);
		(void)dlg_enter(d, DEV_P_ACK, 0, text);
		goto out;
	}
	(void)image_version(img, ilen, v);
	if (dlg_yesno(d, DEV_P_CONFIRM, 0,
		      "Software update\n** WARNING **\nA power failure\nduring save is\nunsupported!\nSave Image? YES/NO") != 1) {
		fw_log(d, "Update not saved");
		dev_event_log(d, "update", "\"stage\":\"not-saved\"");
		goto out;
	}
	fw_show(d, DEV_P_NONE, 0, "Software update\nSaving image");
	if ((r = ped_file_write_atomic(path, img, ilen, 0600)) != PED_OK) {
		ped_warn("software update: cannot save %s: %s", path, ped_strerror(r));
		fw_log(d, "Update save failed");
		(void)dlg_enter(d, DEV_P_ACK, 0, "Software update\nFailure (SAVE)\nPress ENTER");
		goto out;
	}
	saved = 1;
	ped_info("software update: image version %s saved to %s", v, path);
	fw_log(d, "Update saved %s", v);
	dev_event_log(d, "update", "\"stage\":\"saved\",\"version\":\"%s\"", v);
	(void)dlg_enter(d, DEV_P_ACK, 0, "Software update\nSuccess\nPress ENTER");
out:
	if (img)
		OPENSSL_free(img);
	return saved;
}

/* Self test: every button, the display, the HSM cable (link), key reading. */
static void self_test(struct ped_device *d)
{
	static const int keys[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9', '0',
				   DEV_KEY_YES, DEV_KEY_NO, DEV_KEY_ENTER, DEV_KEY_CLEAR,
				   DEV_KEY_BACK, DEV_KEY_LOG};
	const char *buttons = "PASS", *display = "PASS", *cable = "SKIP", *keyread = "SKIP";
	char text[256];
	int fd;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct dev_event ev;
		snprintf(text, sizeof(text), "Self Test\nButtons\nPress %s", dev_key_name(keys[i]));
		fw_show(d, DEV_P_CONFIRM, 0, "%s", text);
		do
			ev = fw_wait(d, -1, d->cfg.key_timeout_ms);
		while (ev.type == DEV_EV_INSERT || ev.type == DEV_EV_REMOVE);
		if (ev.type != DEV_EV_KEY || ev.key != keys[i]) {
			buttons = "FAIL";
			if (ev.type != DEV_EV_KEY)
				return;
			break;
		}
	}
	int yes = dlg_yesno(d, DEV_P_CONFIRM, 0,
			    "Self Test\n####################\n####################\nAll segments lit?\nYES/NO");
	if (yes < 0)
		return;
	display = yes ? "PASS" : "FAIL";
	if (d->cfg.hsm_socket[0]) {
		cable = ped_unix_connect(d->cfg.hsm_socket, &fd) == PED_OK ? "PASS" : "FAIL";
		if (!strcmp(cable, "PASS"))
			close(fd);
	}
	if (dlg_yesno(d, DEV_P_CONFIRM, 0, "Self Test\nTest key reading?\nYES/NO") == 1) {
		struct ikey k;
		memset(&k, 0, sizeof(k));
		if (dlg_insert(d, DEV_P_INSERT_READ, 0, "Self Test\nInsert a PED Key\nPress ENTER.", &k) == PED_OK)
			keyread = "PASS";
		else
			keyread = "FAIL";
		ikey_clear(&k);
	}
	int pass = strcmp(buttons, "FAIL") && strcmp(display, "FAIL") && strcmp(cable, "FAIL") &&
		   strcmp(keyread, "FAIL");
	fw_log(d, "Self test %s", pass ? "PASS" : "FAIL");
	char v[DEV_VERSION_MAX + 1];
	fw_version(d, v);
	snprintf(text, sizeof(text),
		 "Self Test %s\nButtons:  %s\nDisplay:  %s\nCable:    %s\nKey read: %s\nPED V.%s\nPress ENTER.",
		 pass ? "PASS" : "FAIL", buttons, display, cable, keyread, v);
	(void)dlg_enter(d, DEV_P_ACK, 0, text);
}

int mode_admin(struct ped_device *d)
{
	for (;;) {
		int k = dlg_menu(d, ADMIN_MENU, "1579");
		if (k < 0 || k == DEV_KEY_BACK)
			return 0;
		switch (k) {
		case '1': pedkey_mode(d); break;
		case '5':
			(void)dlg_menu(d, "Backup Devices\nNot applicable to\nthis HSM generation.\n\n< EXIT", "");
			break;
		case '7':
			if (software_update(d))
				return 1;
			break;
		case '9': self_test(d); break;
		default: break;
		}
	}
}
