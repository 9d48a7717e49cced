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
