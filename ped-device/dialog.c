/* Dialogue primitives of the PED firmware. */
#include "dialog.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A keypad key from an event; insert and remove events come back as key 0. */
static int key_from(struct dev_event ev, int *key)
{
	*key = 0;
	switch (ev.type) {
	case DEV_EV_LINK:
		return PED_E_CLOSED;
	case DEV_EV_KEY:
		*key = ev.key;
		return PED_OK;
	case DEV_EV_TIMEOUT:
		return PED_E_TIMEOUT;
	case DEV_EV_RESET:
	case DEV_EV_QUIT:
		return PED_E_CANCEL;
	default:
		return PED_OK;
	}
}

static int next_key(struct ped_device *d, int *key, int timeout_ms)
{
	return key_from(fw_wait_operator(d, timeout_ms), key);
}

int dlg_yesno(struct ped_device *d, enum dev_prompt p, int type, const char *text)
{
	int key, r;
	fw_show(d, p, type, "%s", text);
	for (;;) {
		if ((r = next_key(d, &key, d->cfg.key_timeout_ms)) != PED_OK)
			return r;
		if (key == DEV_KEY_YES)
			return 1;
		if (key == DEV_KEY_NO)
			return 0;
	}
}

int dlg_confirm_exit(struct ped_device *d)
{
	int yes = dlg_yesno(d, DEV_P_CONFIRM, 0,
			    "\n** WARNING **\nExiting now will\ninvalidate the RPK.\nConfirm? YES/NO");
	if (yes == 1)
		return 1;
	return dev_quitting(d);
}

int dlg_enter(struct ped_device *d, enum dev_prompt p, int type, const char *text)
{
	int key, r;
	fw_show(d, p, type, "%s", text);
	for (;;) {
		if ((r = next_key(d, &key, d->cfg.key_timeout_ms)) != PED_OK)
			return r;
		if (key == DEV_KEY_ENTER)
			return PED_OK;
	}
}

int dlg_insert(struct ped_device *d, enum dev_prompt p, int type, const char *text, struct ikey *k)
{
	char serial[IKEY_SERIAL_LEN + 1], why[160], msg[256];
	int r;

	for (;;) {
		if ((r = dlg_enter(d, p, type, text)) != PED_OK)
			return r;
		fw_inserted(d, serial);
		if (!serial[0])
			continue; /* Enter with the port empty: the prompt stands */
		why[0] = '\0';
		r = ikey_load(&d->store, serial, k, why, sizeof(why));
		if (r == PED_OK)
			return PED_OK;
		snprintf(msg, sizeof(msg), "  ** ERROR **\nPED Key unreadable.\n%s\nPress ENTER.",
			 r == PED_E_CORRUPT ? "Data corrupt." : ped_strerror(r));
		fw_log(d, "Unreadable key");
		if ((r = dlg_enter(d, DEV_P_ACK, type, msg)) != PED_OK)
			return r;
	}
}

int dlg_number(struct ped_device *d, enum dev_prompt p, int type, const char *text, int min,
	       int max, int *val)
{
	char digits[3] = "";
	size_t n = 0;
	int key, r;

	for (;;) {
		/* chapter 5: "M value? (1-16)", a blank line, then ">03" */
		if (n)
			fw_show(d, p, type, "%s\n\n>%02d", text, atoi(digits));
		else
			fw_show(d, p, type, "%s\n\n>", text);
		if ((r = next_key(d, &key, d->cfg.key_timeout_ms)) != PED_OK)
			return r;
		if (key >= '0' && key <= '9' && n < 2) {
			digits[n++] = (char)key;
			digits[n] = '\0';
		} else if (key == DEV_KEY_BACK && n > 0) {
			digits[--n] = '\0';
		} else if (key == DEV_KEY_CLEAR) {
			n = 0;
			digits[0] = '\0';
		} else if (key == DEV_KEY_ENTER && n > 0) {
			int v = atoi(digits);
			if (v >= min && v <= max) {
				*val = v;
				return PED_OK;
			}
			n = 0;
			digits[0] = '\0';
		}
	}
}

int dlg_digits(struct ped_device *d, enum dev_prompt p, int type, const char *text, char *out,
	       size_t cap)
{
	char stars[DEV_COLS + 1];
	size_t n = 0;
	int key, r;

	out[0] = '\0';
	for (;;) {
		size_t shown = n > DEV_COLS ? DEV_COLS : n;
		memset(stars, '*', shown);
		stars[shown] = '\0';
		fw_show(d, p, type, "%s\n%s", text, stars);
		if ((r = next_key(d, &key, d->cfg.key_timeout_ms)) != PED_OK) {
			OPENSSL_cleanse(out, cap);
			return r;
		}
		if (key >= '0' && key <= '9' && n + 1 < cap) {
			out[n++] = (char)key;
			out[n] = '\0';
		} else if (key == DEV_KEY_BACK && n > 0) {
			out[--n] = '\0';
		} else if (key == DEV_KEY_CLEAR) {
			OPENSSL_cleanse(out, cap);
			n = 0;
		} else if (key == DEV_KEY_ENTER) {
			return PED_OK;
		}
	}
}

int dlg_menu(struct ped_device *d, const char *text, const char *allowed)
{
	int key, r;
	fw_show(d, DEV_P_MENU, 0, "%s", text);
	for (;;) {
		/* Clear held five seconds resets an operation; "there is no
		 * effect ... when a menu is open". */
		struct dev_event ev = fw_wait_operator(d, -1);
		if (ev.type == DEV_EV_RESET)
			continue;
		if ((r = key_from(ev, &key)) != PED_OK)
			return r;
		if (key == DEV_KEY_BACK || (key && strchr(allowed, key)))
			return key;
	}
}

void dlg_show_log(struct ped_device *d, int link_fd)
{
	char text[DEV_LINES * (DEV_COLS + 1) + 1] = "PED log";
	pthread_mutex_lock(&d->mu);
	unsigned from = d->nlog > DEV_LINES - 2 ? d->nlog - (DEV_LINES - 2) : 0;
	for (unsigned i = from; i < d->nlog; i++) {
		strcat(text, "\n");
		strcat(text, d->log[i]);
	}
	pthread_mutex_unlock(&d->mu);
	if (d->nlog == 0)
		strcat(text, "\n(empty)");
	strcat(text, "\nPress ENTER.");
	/* a request, a ping or the link's end takes the log down */
	d->session_fd = link_fd;
	(void)dlg_enter(d, DEV_P_ACK, 0, text);
	d->session_fd = -1;
}
