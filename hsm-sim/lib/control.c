/* Where the control and PED sockets live. */
#include "hsm/control.h"

#include "ped/fileio.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int hsm_ctl_default_socket(char *out, size_t len)
{
	return ped_runtime_path("hsm-sim.sock", out, len);
}

void hsm_ctl_ped_socket(const char *control_socket, const char *serial, char *out, size_t len)
{
	const char *slash = strrchr(control_socket, '/');
	int dirlen = slash ? (int)(slash - control_socket) : 1;
	snprintf(out, len, "%.*s/ped-%s.sock", dirlen, slash ? control_socket : ".", serial);
}

#define SLOT_MAX 100000

/* The number after "slot" at in[i], in its forms; its offset in *num and
 * its length in *numlen. */
static int slot_number_at(const char *in, size_t i, size_t *num, size_t *numlen)
{
	size_t j = i + 4;
	if (strncasecmp(in + i, "slot", 4) != 0 || (i > 0 && isalnum((unsigned char)in[i - 1])))
		return 0;
	if (!strncasecmp(in + j, " id", 3))
		j += 3;
	while (in[j] == ' ' || in[j] == '\t')
		j++;
	if (in[j] == ':')
		j++;
	else if (in[j] == '-' && in[j + 1] == '>')
		j += 2;
	while (in[j] == ' ' || in[j] == '\t')
		j++;
	size_t n = strspn(in + j, "0123456789");
	/* a slot number, not a version ("Slot 0.1.0") or a word */
	if (n == 0 || n > 6 || isalnum((unsigned char)in[j + n]) ||
	    (in[j + n] == '.' && isdigit((unsigned char)in[j + n + 1])))
		return 0;
	*num = j;
	*numlen = n;
	return 1;
}

int hsm_ctl_slot_shift(const char *in, int offset, char *out, size_t outlen)
{
	size_t i = 0, o = 0, num = 0, numlen = 0;
	int shifted = 0;

	if (!outlen)
		return 0;
	while (in[i] && o + 1 < outlen) {
		if (offset && slot_number_at(in, i, &num, &numlen)) {
			char digits[16];
			long v = strtol(in + num, NULL, 10) + offset;
			int dl = snprintf(digits, sizeof(digits), "%ld", v);
			size_t head = num - i;
			if (o + head + (size_t)dl >= outlen)
				break;
			memcpy(out + o, in + i, head);
			memcpy(out + o + head, digits, (size_t)dl);
			o += head + (size_t)dl;
			i = num + numlen;
			shifted++;
			continue;
		}
		out[o++] = in[i++];
	}
	out[o] = '\0';
	return shifted;
}

/* -slot, its prefixes and alias -s; without a dash only the whole word (lunacm's "slot set slot 1") */
static int names_slot(const char *w)
{
	size_t n;
	if (w[0] != '-')
		return !strcasecmp(w, "slot");
	while (*w == '-')
		w++;
	n = strcspn(w, "=");
	return (n == 1 && (w[0] == 's' || w[0] == 'S')) || (n >= 2 && n <= 4 && !strncasecmp(w, "slot", n));
}

int hsm_ctl_slot_option(int argc, char **argv, int *at, int *slot)
{
	for (int i = 1; i < argc; i++) {
		const char *w = argv[i], *v = NULL, *eq = strchr(w, '=');
		int where = i;
		if (!names_slot(w))
			continue;
		if (eq && w[0] == '-')
			v = eq + 1;
		else if (!eq && i + 1 < argc)
			v = argv[where = i + 1];
		if (!v || !*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 6)
			continue;
		long n = strtol(v, NULL, 10);
		if (n > SLOT_MAX)
			continue;
		*at = where;
		*slot = (int)n;
		return 1;
	}
	return 0;
}
