/* Where the control and PED sockets live; the restriction frame. */
#include "hsm/control.h"

#include "ped/error.h"
#include "ped/fileio.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int hsm_ctl_serial_ok(const char *s, size_t n)
{
	if (n == 0 || n > HSM_CTL_SERIAL_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int hsm_ctl_restrict_has(const struct hsm_ctl_restrict *r, const char *serial)
{
	for (size_t i = 0; r && serial && i < r->n; i++)
		if (!strcmp(r->serial[i], serial))
			return 1;
	return 0;
}

int hsm_ctl_restrict_encode(const struct hsm_ctl_restrict *r, uint8_t *out, size_t size, size_t *len)
{
	size_t at = 1;

	*len = 0;
	if (r->n == 0 || r->n > HSM_CTL_RESTRICT_MAX)
		return PED_E_INVALID;
	for (size_t i = 0; i < r->n; i++) {
		size_t n = strnlen(r->serial[i], HSM_CTL_SERIAL_MAX + 1);
		if (!hsm_ctl_serial_ok(r->serial[i], n))
			return PED_E_INVALID;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(r->serial[i], r->serial[j]))
				return PED_E_INVALID;
		if (at + 1 + n > size)
			return PED_E_RANGE;
		out[at++] = (uint8_t)n;
		memcpy(out + at, r->serial[i], n);
		at += n;
	}
	if (size < 1)
		return PED_E_RANGE;
	out[0] = (uint8_t)r->n;
	*len = at;
	return PED_OK;
}

int hsm_ctl_restrict_decode(const uint8_t *msg, size_t len, struct hsm_ctl_restrict *out)
{
	size_t at = 1, count;

	memset(out, 0, sizeof(*out));
	if (!msg || len < 1 || (count = msg[0]) == 0 || count > HSM_CTL_RESTRICT_MAX)
		return PED_E_INVALID;
	for (size_t i = 0; i < count; i++) {
		if (at >= len)
			goto bad;
		size_t n = msg[at++];
		if (n > len - at || !hsm_ctl_serial_ok((const char *)msg + at, n))
			goto bad;
		memcpy(out->serial[i], msg + at, n);
		out->serial[i][n] = '\0';
		at += n;
		if (hsm_ctl_restrict_has(out, out->serial[i])) /* out->n == i: the ones before */
			goto bad;
		out->n = i + 1;
	}
	if (at != len)
		goto bad;
	return PED_OK;
bad:
	memset(out, 0, sizeof(*out));
	return PED_E_INVALID;
}

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
