/* What an operator reads off the HSM's shell and carries to the PED: the
 * one-time password and the HSM's identity (serial and HOC fingerprint).
 * The headless answerer finds them in a transcript, a file that hsmcm's
 * output is written to, as a person would read them off the screen. */
#ifndef PED_DEVICE_TRANSCRIPT_H
#define PED_DEVICE_TRANSCRIPT_H

#include <stddef.h>

/* Only the transcript's last bytes are read: the newest lines matter. */
#define TRANSCRIPT_TAIL (256u * 1024u)
#define TRANSCRIPT_PASSWORDS 1024

/* The one-time password printed for HSM serial: the first password line
 * after the newest "HSM <serial> identity" line (ped connect prints the
 * identity, then the password), unless it is in used (nused entries).
 * PED_OK, PED_E_NOT_FOUND (none yet), or the error reading the file. A
 * password is typed once: a newer ped connect prints a new one. */
int transcript_password(const char *path, const char *serial, const char (*used)[9], size_t nused,
			char out[9]);

/* Every one-time password the transcript holds now, up to max, into out;
 * their number. What the HSM printed before the PED came on is stale: the
 * answerer never types it (the new line may not be written yet when the PED
 * asks, and the newest line then is an old one). */
size_t transcript_passwords(const char *path, char (*out)[9], size_t max);

/* Whether the transcript shows HSM serial with HOC fingerprint fpr (as
 * "HSM <serial> identity: HOC fingerprint <fpr>"): 1 if its newest line
 * for that serial says so, 0 if it names another fingerprint,
 * PED_E_NOT_FOUND if no line names the serial yet. */
int transcript_identity(const char *path, const char *serial, const char *fpr);

#endif
