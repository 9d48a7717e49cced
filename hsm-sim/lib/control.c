/* Where the control and PED sockets live; the restriction frame. */
#include "hsm/control.h"

#include "ped/error.h"
#include "ped/fileio.h"

#include <stdio.h>
#include <string.h>

static int serial_ok(const char *s, size_t n)
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
		if (!serial_ok(r->serial[i], n))
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
		if (n > len - at || !serial_ok((const char *)msg + at, n))
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
