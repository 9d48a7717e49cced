/* Admin mode (chapter 5, "Admin Mode Functions"): identify and duplicate
 * PED keys without an HSM, software update check, self test. */
#include "ceremony.h"
#include "dialog.h"
#include "modes.h"

#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/net.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
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

/* The update image is FILE, its ECDSA-SHA-512 signature FILE.sig (DER),
 * checked against the update key the PED trusts. */
static int verify_update(const struct dev_config *cfg, char *why, size_t len)
{
	uint8_t *img = NULL, *sig = NULL;
	size_t ilen = 0, slen = 0;
	char sigpath[600];
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *ctx = NULL;
	FILE *f = NULL;
	int r = PED_E_CORRUPT;

	if (!cfg->update_file[0] || !cfg->update_key[0]) {
		snprintf(why, len, "No image.");
		return PED_E_NOT_FOUND;
	}
	snprintf(sigpath, sizeof(sigpath), "%s.sig", cfg->update_file);
	if (ped_file_read_bounded(cfg->update_file, UPDATE_MAX, &img, &ilen) != PED_OK ||
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
	    EVP_DigestVerify(ctx, sig, slen, img, ilen) != 1) {
		snprintf(why, len, "Bad signature.");
		goto out;
	}
	r = PED_OK;
out:
	if (f)
		fclose(f);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	free(img);
	free(sig);
	return r;
}

static void software_update(struct ped_device *d)
{
	char why[64] = "", text[160];
	if (dlg_yesno(d, DEV_P_CONFIRM, 0, "Software update\nUpload Image? YES/NO") != 1)
		return;
	fw_show(d, DEV_P_NONE, 0, "Software update\nVerifying image...");
	int r = verify_update(&d->cfg, why, sizeof(why));
	fw_log(d, "Update %s", r == PED_OK ? "verified" : "refused");
	if (r == PED_OK)
		snprintf(text, sizeof(text), "Software update\nSuccess\nImage verified.\nPress ENTER");
	else
		snprintf(text, sizeof(text), "Software update\nFailed\n%s\nPress ENTER", why);
	(void)dlg_enter(d, DEV_P_ACK, 0, text);
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
	snprintf(text, sizeof(text), "Self Test %s\nButtons:  %s\nDisplay:  %s\nCable:    %s\nKey read: %s\nPress ENTER.",
		 pass ? "PASS" : "FAIL", buttons, display, cable, keyread);
	(void)dlg_enter(d, DEV_P_ACK, 0, text);
}

void mode_admin(struct ped_device *d)
{
	for (;;) {
		int k = dlg_menu(d, ADMIN_MENU, "1579");
		if (k < 0 || k == DEV_KEY_BACK)
			return;
		switch (k) {
		case '1': pedkey_mode(d); break;
		case '5':
			(void)dlg_menu(d, "Backup Devices\nNot applicable to\nthis HSM generation.\n\n< EXIT", "");
			break;
		case '7': software_update(d); break;
		case '9': self_test(d); break;
		default: break;
		}
	}
}
