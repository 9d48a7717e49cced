/* The output interface's one helper: a formatted line. */
#include "out.h"

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
