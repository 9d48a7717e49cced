/* The output interface's one helper: a formatted line. */
#include "out.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>

void sim_outf(const struct sim_out *o, const char *fmt, ...)
{
	char line[SIM_OUT_LINE_MAX];
	va_list ap;

	if (!o || !o->line)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	o->line(o->arg, line);
	/* a one-time password is told this way: wipe what was written */
	OPENSSL_cleanse(line, (size_t)n < sizeof(line) ? (size_t)n + 1 : sizeof(line));
}

int sim_ask(const struct sim_out *o, const char *prompt, int secret, char *answer, size_t size)
{
	if (!size)
		return PED_E_INVALID;
	answer[0] = '\0';
	if (!o || !o->ask)
		return PED_E_UNSUPPORTED;
	int r = o->ask(o->arg, prompt, secret, answer, size);
	if (r != PED_OK)
		OPENSSL_cleanse(answer, size);
	return r;
}

int sim_file_get(const struct sim_out *o, const char *path, size_t max, uint8_t **data, size_t *len, char *why,
		 size_t whylen)
{
	*data = NULL;
	*len = 0;
	if (!o || !o->file_get) {
		snprintf(why, whylen, "this session cannot read files on the operator's side");
		return PED_E_UNSUPPORTED;
	}
	return o->file_get(o->arg, path, max, data, len, why, whylen);
}

int sim_file_put(const struct sim_out *o, const char *path, const void *data, size_t len, char *why, size_t whylen)
{
	if (!o || !o->file_put) {
		snprintf(why, whylen, "this session cannot write files on the operator's side");
		return PED_E_UNSUPPORTED;
	}
	return o->file_put(o->arg, path, data, len, why, whylen);
}

int sim_peer_put(const struct sim_out *o, const uint8_t *msg, size_t len)
{
	return o && o->peer_put ? o->peer_put(o->arg, msg, len) : PED_E_UNSUPPORTED;
}

int sim_peer_get(const struct sim_out *o, int timeout_ms, uint8_t **msg, size_t *len)
{
	*msg = NULL;
	*len = 0;
	return o && o->peer_get ? o->peer_get(o->arg, timeout_ms, msg, len) : PED_E_UNSUPPORTED;
}
