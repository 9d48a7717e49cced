/* The PED's dialogue primitives: each shows a screen and waits for the
 * answer on the keypad or the key port, within the key-action timeout.
 * They return PED_OK, PED_E_TIMEOUT (nobody answered in time), PED_E_CANCEL
 * (Clear held five seconds, or the device is shutting down) or PED_E_CLOSED
 * (input on d->session_fd: the session being served ended). */
#ifndef PED_DEVICE_DIALOG_H
#define PED_DEVICE_DIALOG_H

#include "device.h"

#include <stddef.h>

/* 1 for Yes, 0 for No, or a negative error. */
int dlg_yesno(struct ped_device *d, enum dev_prompt p, int type, const char *text);
/* The "Exiting now will invalidate the RPK" warning: 1 to leave the mode,
 * on Yes or when the PED is shutting down; No, no answer before the key
 * timeout, Clear or link input keep it. */
int dlg_confirm_exit(struct ped_device *d);
/* Waits for Enter. */
int dlg_enter(struct ped_device *d, enum dev_prompt p, int type, const char *text);
/* Shows text, waits for Enter with a key inserted, and loads it into k
 * (unreadable keys are reported and asked for again). */
int dlg_insert(struct ped_device *d, enum dev_prompt p, int type, const char *text, struct ikey *k);
/* A number with up to two digits shown as ">03" on its own line, after a
 * blank one; re-asked until min..max. */
int dlg_number(struct ped_device *d, enum dev_prompt p, int type, const char *text, int min,
	       int max, int *val);
/* Digits shown as stars under text; '<' erases one, Clear erases all. */
int dlg_digits(struct ped_device *d, enum dev_prompt p, int type, const char *text, char *out,
	       size_t cap);
/* A menu: returns the digit chosen among allowed, or '<'. */
int dlg_menu(struct ped_device *d, const char *text, const char *allowed);
/* The > key: the PED log (since entering Local or Remote mode) until Enter,
 * or until input on link_fd (>= 0) needs the firmware. */
void dlg_show_log(struct ped_device *d, int link_fd);

#endif
