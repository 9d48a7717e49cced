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
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	o->line(o->arg, line);
	OPENSSL_cleanse(line, sizeof(line)); /* a one-time password is told this way */
}
