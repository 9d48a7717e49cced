/* Sessions on the control socket (session.h): the thread, the protocol the
 * first frame picks (hsmcm's shell protocol with its output, here; the
 * application protocol, app.c). */
#include "session.h"

#include "app.h"
#include "command.h"
#include "out.h"

#include "hsm/control.h"
#include "hsm/mech.h"
#include "hsm/result.h"
#include "ped/buf.h"
#include "ped/error.h"
#include "ped/frame.h"
#include "ped/log.h"
#include "ped/thread.h"

#include <malloc.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SESSION_IO_TIMEOUT_MS 10000

_Static_assert(HSM_CTL_LINE_MAX <= CMD_LINE_MAX, "a control frame's line fits a command line");
_Static_assert(HSM_CTL_LINE_MAX <= SIM_OUT_LINE_MAX, "an output line fits a control frame");
_Static_assert(HSM_CTL_SERIAL_MAX == HSM_SERIAL_MAX, "a restriction names any HSM serial");
_Static_assert(HSM_CTL_RESTRICT_LEN_MAX <= HSM_CTL_LINE_MAX, "a restriction fits the first frame");

/* Sessions whose threads are running (session_thread). */
static atomic_uint live_sessions;

struct session {
	struct session_server *srv;
	int fd;
	struct ped_framer in;
	int slot;                  /* the current slot (slot set) */
	int network;               /* a network client's: partitions only */
	int narrowed;              /* a relay's (HSM_CTL_RESTRICT): served HSMs only */
	struct hsm_ctl_restrict served;
	struct sim_logins logins;  /* what this session has logged in to */
};

/* A protocol: serves the session from its first frame on; the frame is the
 * caller's (wiped and freed after). Returns when the session ends. */
struct session_protocol {
	uint8_t first_type;
	const char *name;
	void (*serve)(struct session *s, uint8_t type, uint8_t *msg, size_t len);
};

/* ---- hsmcm's shell: HSM_CTL_CMD in, HSM_CTL_OUTPUT lines and a result out --- */

static void shell_line(void *arg, const char *text)
{
	struct session *s = arg;
	(void)ped_frame_send(s->fd, HSM_CTL_OUTPUT, text, strlen(text), SESSION_IO_TIMEOUT_MS);
}

/* A prompt for the operator at hsmcm's terminal, and their answer: the
 * session's next frame, within the PED timeout (a prompt waits on a person
 * as the PED does). */
static int shell_ask(void *arg, const char *prompt, int secret, char *answer, size_t size)
{
	struct session *s = arg;
	uint8_t head[1 + SIM_OUT_LINE_MAX], type, *msg = NULL;
	size_t pl = strnlen(prompt, SIM_OUT_LINE_MAX - 1), len = 0;
	int r;

	head[0] = secret ? HSM_CTL_PROMPT_SECRET : 0;
	memcpy(head + 1, prompt, pl);
	if ((r = ped_frame_send(s->fd, HSM_CTL_PROMPT, head, 1 + pl, SESSION_IO_TIMEOUT_MS)) != PED_OK)
		return r;
	if ((r = ped_framer_recv(&s->in, &type, &msg, &len, s->srv->peds->ped_timeout_ms)) != PED_OK)
		return r;
	if (type != HSM_CTL_ANSWER || len < 1 || memchr(msg + 1, '\0', len - 1))
		r = PED_E_FRAME_TYPE;
	else if (msg[0] != 0)
		r = PED_E_CANCEL;
	else if (len - 1 >= size)
		r = PED_E_INVALID;
	else {
		memcpy(answer, msg + 1, len - 1);
		answer[len - 1] = '\0';
	}
	OPENSSL_clear_free(msg, len ? len : 1);
	return r;
}

/* A file request to hsmcm and its reply (HSM_CTL_FILE_REPLY): PED_OK and
 * the reply's bytes after the status, or why hsmcm could not. */
static int shell_file(struct session *s, uint8_t type, const uint8_t *req, size_t reqlen, uint8_t **data, size_t *len,
		      size_t max, char *why, size_t whylen)
{
	uint8_t rtype, *msg = NULL;
	size_t mlen = 0;
	int r;

	*data = NULL;
	*len = 0;
	if ((r = ped_frame_send(s->fd, type, req, reqlen, SESSION_IO_TIMEOUT_MS)) != PED_OK ||
	    (r = ped_framer_recv(&s->in, &rtype, &msg, &mlen, SESSION_IO_TIMEOUT_MS)) != PED_OK) {
		snprintf(why, whylen, "hsmcm did not answer: %s", ped_strerror(r));
		return r;
	}
	if (rtype != HSM_CTL_FILE_REPLY || mlen < 1) {
		snprintf(why, whylen, "hsmcm answered something else");
		r = PED_E_FRAME_TYPE;
	} else if (msg[0] != 0) {
		/* hsmcm's words: printable only */
		size_t n = mlen - 1 < whylen - 1 ? mlen - 1 : whylen - 1;
		for (size_t i = 0; i < n; i++)
			why[i] = msg[1 + i] >= 0x20 && msg[1 + i] < 0x7f ? (char)msg[1 + i] : '?';
		why[n] = '\0';
		r = PED_E_FILE;
	} else if (mlen - 1 > max) {
		snprintf(why, whylen, "larger than %zu bytes", max);
		r = PED_E_RANGE;
	} else if (mlen > 1) {
		if (!(*data = OPENSSL_memdup(msg + 1, mlen - 1)))
			r = PED_E_HOST_MEMORY;
		else
			*len = mlen - 1;
	}
	OPENSSL_clear_free(msg, mlen ? mlen : 1);
	return r;
}

static int shell_file_get(void *arg, const char *path, size_t max, uint8_t **data, size_t *len, char *why,
			  size_t whylen)
{
	return shell_file(arg, HSM_CTL_FILE_GET, (const uint8_t *)path, strnlen(path, HSM_CTL_LINE_MAX), data, len,
			  max < HSM_CTL_FILE_MAX ? max : HSM_CTL_FILE_MAX, why, whylen);
}

static int shell_file_put(void *arg, const char *path, const void *data, size_t len, char *why, size_t whylen)
{
	size_t pl = strnlen(path, HSM_CTL_LINE_MAX);
	uint8_t *req, *got = NULL;
	size_t glen = 0;
	int r;

	if (len > HSM_CTL_FILE_MAX) {
		snprintf(why, whylen, "larger than %u bytes", HSM_CTL_FILE_MAX);
		return PED_E_RANGE;
	}
	if (!(req = OPENSSL_malloc(2 + pl + len)))
		return PED_E_HOST_MEMORY;
	ped_be16_put(req, (uint16_t)pl);
	memcpy(req + 2, path, pl);
	memcpy(req + 2 + pl, data, len);
	r = shell_file(arg, HSM_CTL_FILE_PUT, req, 2 + pl + len, &got, &glen, 0, why, whylen);
	OPENSSL_free(req);
	OPENSSL_clear_free(got, glen);
	return r;
}

static int shell_peer_put(void *arg, const uint8_t *msg, size_t len)
{
	struct session *s = arg;
	if (len > HSM_CTL_PEER_MAX)
		return PED_E_RANGE;
	return ped_frame_send(s->fd, HSM_CTL_PEER_PUT, msg, len, SESSION_IO_TIMEOUT_MS);
}

/* The other half's next message, relayed by hsmcm: the one frame a session
 * takes larger than a command line, for as long as it waits for it. */
static int shell_peer_get(void *arg, int timeout_ms, uint8_t **out, size_t *outlen)
{
	struct session *s = arg;
	uint8_t type, *msg = NULL;
	size_t len = 0;
	int r;

	if ((r = ped_frame_send(s->fd, HSM_CTL_PEER_GET, NULL, 0, SESSION_IO_TIMEOUT_MS)) != PED_OK)
		return r;
	s->in.dec.max_payload = 1 + HSM_CTL_PEER_MAX;
	r = ped_framer_recv(&s->in, &type, &msg, &len, timeout_ms);
	s->in.dec.max_payload = HSM_CTL_LINE_MAX;
	if (r != PED_OK)
		return r;
	if (type != HSM_CTL_PEER_REPLY || len < 1)
		r = PED_E_FRAME_TYPE;
	else if (msg[0] != 0)
		r = PED_E_CLOSED;
	else if (!(*out = OPENSSL_memdup(msg + 1, len - 1 ? len - 1 : 1)))
		r = PED_E_HOST_MEMORY;
	else
		*outlen = len - 1;
	OPENSSL_clear_free(msg, len ? len : 1);
	return r;
}

/* One command: its output, then its result. PED_OK while the session goes on.
 * tty: hsmcm can answer prompts; peer: one half of a relayed cloning. */
static int shell_command(struct session *s, const uint8_t *msg, size_t len, int tty, int peer)
{
	struct sim *sim = s->srv->sim;
	struct sim_out out = {shell_line, s, tty ? shell_ask : NULL, shell_file_get, shell_file_put,
			      peer ? shell_peer_put : NULL, peer ? shell_peer_get : NULL};
	struct cmd_ctx c;
	char line[HSM_CTL_LINE_MAX + 1];
	int r, counted = 0;

	memcpy(line, msg, len);
	line[len] = '\0';
	memset(&c, 0, sizeof(c));
	c.sim = sim;
	c.who = (struct auth_ctx){&out, &s->logins, s->srv->peds, 0};
	c.slot = &s->slot;
	c.network = s->network;
	c.served = s->narrowed ? &s->served : NULL;
	if (!sim_op_begin(sim)) {
		sim_outf(&out, "Error: hsm-sim is shutting down.");
		r = PED_E_DEVICE_ERROR;
	} else {
		counted = 1;
		r = cmd_run(&c, line);
	}
	OPENSSL_cleanse(line, sizeof(line));
	uint8_t b[5];
	ped_be32_put(b, hsm_result_code(r)); /* the reference's codes only */
	b[4] = HSM_CTL_RESULT_SUCCESS;
	int sent = ped_frame_send(s->fd, HSM_CTL_RESULT, b, r == PED_OK && c.success_style ? 5 : 4,
				  SESSION_IO_TIMEOUT_MS);
	if (counted)
		sim_op_end(sim); /* shutdown waits until the operator has this command's result */
	return sent;
}

static int shell_frame_ok(uint8_t type, const uint8_t *msg, size_t len)
{
	return (type == HSM_CTL_CMD || type == HSM_CTL_CMD_TTY || type == HSM_CTL_CMD_PEER) && len <= HSM_CTL_LINE_MAX &&
	       !memchr(msg, '\0', len);
}

static void shell_serve(struct session *s, uint8_t type, uint8_t *msg, size_t len)
{
	int more = shell_frame_ok(type, msg, len) &&
		   shell_command(s, msg, len, type == HSM_CTL_CMD_TTY, type == HSM_CTL_CMD_PEER) == PED_OK;
	while (more) {
		if (ped_framer_recv(&s->in, &type, &msg, &len, -1) != PED_OK)
			break;
		more = shell_frame_ok(type, msg, len) &&
		       shell_command(s, msg, len, type == HSM_CTL_CMD_TTY, type == HSM_CTL_CMD_PEER) == PED_OK;
		OPENSSL_clear_free(msg, len ? len : 1);
	}
}

/* ---- applications (the PKCS#11 module): APP_HELLO, then requests ---------- */

static void app_proto(struct session *s, uint8_t type, uint8_t *msg, size_t len)
{
	struct app_scope scope = {s->network, s->narrowed ? &s->served : NULL};
	(void)type;
	app_serve(s->srv->sim, s->srv->peds, &scope, s->fd, &s->in, msg, len);
}

static const struct session_protocol protocols[] = {
	{HSM_CTL_CMD, "hsmcm", shell_serve},
	{HSM_CTL_CMD_TTY, "hsmcm", shell_serve},
	{HSM_CTL_CMD_PEER, "hsmcm", shell_serve},
	{P11W_APP_HELLO, "application", app_proto},
};

/* ---- the thread ---------------------------------------------------------- */

/* A relay's HSM_CTL_RESTRICT: the session reaches the HSMs it names only,
 * from its first command on (its slot: the first of them this hsm-sim has).
 * PED_OK, or the session ends (logged). */
static int narrow(struct session *s, const uint8_t *msg, size_t len)
{
	struct sim *sim = s->srv->sim;

	if (s->narrowed || hsm_ctl_restrict_decode(msg, len, &s->served) != PED_OK) {
		ped_warn("a session's restriction is malformed or comes twice: closed");
		return PED_E_FRAME_TYPE;
	}
	s->narrowed = 1;
	s->slot = -1; /* no slot until one served is found */
	for (int i = 0; i < sim->nhsms; i++)
		if (hsm_ctl_restrict_has(&s->served, sim->hsms[i].h.serial)) {
			s->slot = sim->hsms[i].base_slot;
			break;
		}
	ped_info("a session narrowed to %zu HSM(s)%s", s->served.n, s->slot < 0 ? ", none of them here" : "");
	return PED_OK;
}

static void *session_thread(void *arg)
{
	struct session *s = arg;
	uint8_t type, *msg = NULL;
	size_t len = 0;

	ped_framer_init(&s->in, s->fd, HSM_CTL_LINE_MAX);
	s->in.spin_us = s->srv->spin_us;
	int r = ped_framer_recv(&s->in, &type, &msg, &len, -1);
	if (r == PED_OK && type == HSM_CTL_RESTRICT) {
		r = narrow(s, msg, len);
		OPENSSL_clear_free(msg, len ? len : 1);
		msg = NULL;
		len = 0;
		if (r == PED_OK)
			r = ped_framer_recv(&s->in, &type, &msg, &len, -1);
		if (r == PED_OK && type == HSM_CTL_RESTRICT) { /* never widened, never narrowed twice */
			ped_warn("a session's restriction came twice: closed");
			OPENSSL_clear_free(msg, len ? len : 1);
			r = PED_E_FRAME_TYPE;
		}
	}
	if (r == PED_OK) {
		for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
			if (protocols[i].first_type == type) {
				protocols[i].serve(s, type, msg, len);
				break;
			}
		OPENSSL_clear_free(msg, len ? len : 1);
	}
	ped_framer_free(&s->in);
	close(s->fd);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
	/* This thread's OpenSSL state (its DRBGs, its error queue, its kept
	 * context) goes now, not after we return, and behind the exit gate
	 * (exit may be tearing OpenSSL down); and when no session is left,
	 * what the bursts of them freed goes back to the system, a thread's
	 * arena included: an idle hsm-sim holds what its HSMs need, not what
	 * its busiest minute did (docs/performance.md, "Memory"). */
	ped_thread_release_openssl(hsm_op_thread_end);
	if (atomic_fetch_sub(&live_sessions, 1) == 1)
		(void)malloc_trim(0);
	return NULL;
}

unsigned session_live(void)
{
	return atomic_load(&live_sessions);
}

static void start(struct session_server *srv, int fd, int network)
{
	struct session *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return;
	}
	s->srv = srv;
	s->fd = fd;
	s->network = network;
	s->slot = srv->sim->hsms[0].base_slot;
	atomic_fetch_add(&live_sessions, 1);
	if (ped_thread_spawn(session_thread, s) != PED_OK) {
		atomic_fetch_sub(&live_sessions, 1);
		ped_error("cannot start a thread for a session");
		close(fd);
		free(s);
	}
}

void session_start(struct session_server *srv, int fd)
{
	start(srv, fd, 0);
}

void session_start_network(struct session_server *srv, int fd)
{
	start(srv, fd, 1);
}
