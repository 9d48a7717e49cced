/* Where an operation's output goes: lines for the person or program that
 * asked, whatever carries them. hsmcm's shell frames each line on the
 * control socket (session.c); another front end may collect them or drop
 * them. Nothing below the session layer knows which. */
#ifndef HSM_SIM_OUT_H
#define HSM_SIM_OUT_H

#include <stddef.h>
#include <stdint.h>

#define SIM_OUT_LINE_MAX 4096 /* a longer line is cut */

struct sim_out {
	void (*line)(void *arg, const char *text); /* NULL: the output is dropped */
	void *arg;
	/* Asks the operator and waits for the answer (NUL-terminated, at most
	 * size - 1 bytes), typed without echo when secret; NULL when no one can
	 * answer (hsmcm without a terminal): sim_ask is then PED_E_UNSUPPORTED. */
	int (*ask)(void *arg, const char *prompt, int secret, char *answer, size_t size);
	/* Files on the operator's side (hsmcm's): the file at path read into
	 * *data (OPENSSL_malloc'd, at most max bytes), or data written there;
	 * why says why not. NULL when the front end has no files. */
	int (*file_get)(void *arg, const char *path, size_t max, uint8_t **data, size_t *len, char *why, size_t whylen);
	int (*file_put)(void *arg, const char *path, const void *data, size_t len, char *why, size_t whylen);
	/* The other half of a cloning across two hsm-sims, through hsmcm
	 * (HSM_CTL_PEER_*): a message for it, and its next message (*msg
	 * OPENSSL_malloc'd) within timeout_ms. PED_E_CLOSED when it ended
	 * without one. NULL unless the session runs such a half. */
	int (*peer_put)(void *arg, const uint8_t *msg, size_t len);
	int (*peer_get)(void *arg, int timeout_ms, uint8_t **msg, size_t *len);
};

/* One line (no newline needed). */
void sim_outf(const struct sim_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The operator's answer to prompt: PED_OK, PED_E_UNSUPPORTED (no one can
 * answer), PED_E_CANCEL (they did not), or the transport's error. The
 * answer is wiped on failure; the caller wipes it after use. */
int sim_ask(const struct sim_out *o, const char *prompt, int secret, char *answer, size_t size);

/* The operator's files through o (PED_E_UNSUPPORTED when it has none). */
int sim_file_get(const struct sim_out *o, const char *path, size_t max, uint8_t **data, size_t *len, char *why,
		 size_t whylen);
int sim_file_put(const struct sim_out *o, const char *path, const void *data, size_t len, char *why, size_t whylen);

/* The peer half's messages through o (PED_E_UNSUPPORTED when o has no peer). */
int sim_peer_put(const struct sim_out *o, const uint8_t *msg, size_t len);
int sim_peer_get(const struct sim_out *o, int timeout_ms, uint8_t **msg, size_t *len);

#endif
