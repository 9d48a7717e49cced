/* Relay control messages: one fixed layout, bounded both ways. */
#include "ped/relay.h"

#include "ped/error.h"
#include "ped/link.h"

#include <string.h>

int ped_relay_is_control(uint8_t type)
{
	return type >= PED_RELAY_HELLO && type <= PED_RELAY_STATUS;
}

const char *ped_relay_type_name(uint8_t type)
{
	static const char *const names[] = {"HELLO", "WELCOME", "PING", "PONG", "BYE", "OPEN", "STATUS"};
	if (ped_relay_is_control(type))
		return names[type - PED_RELAY_HELLO];
	if (type == PED_LINK_KAS)
		return "KAS";
	if (type == PED_LINK_RECORD)
		return "RECORD";
	return "unknown";
}

static int put_lv8(uint8_t *out, size_t cap, size_t *pos, const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max || *pos + 1 + n > cap)
		return PED_E_INVALID;
	out[(*pos)++] = (uint8_t)n;
	memcpy(out + *pos, s, n);
	*pos += n;
	return PED_OK;
}

int ped_relay_encode(const struct ped_relay_msg *m, uint8_t *out, size_t cap, size_t *len)
{
	size_t pos = 0;
	if (cap < 10)
		return PED_E_INVALID;
	out[pos++] = m->role;
	out[pos++] = m->purpose;
	out[pos++] = m->auth;
	out[pos++] = m->flags;
	out[pos++] = (uint8_t)(m->port >> 8);
	out[pos++] = (uint8_t)m->port;
	for (int s = 24; s >= 0; s -= 8)
		out[pos++] = (uint8_t)(m->code >> s);
	if (put_lv8(out, cap, &pos, m->id, PED_RELAY_ID_MAX) != PED_OK ||
	    put_lv8(out, cap, &pos, m->version, PED_RELAY_VERSION_MAX) != PED_OK ||
	    put_lv8(out, cap, &pos, m->host, PED_RELAY_HOST_MAX) != PED_OK ||
	    put_lv8(out, cap, &pos, m->info, PED_RELAY_INFO_MAX) != PED_OK)
		return PED_E_INVALID;
	*len = pos;
	return PED_OK;
}

static int get_lv8(const uint8_t *p, size_t len, size_t *pos, char *out, size_t max)
{
	if (*pos >= len)
		return PED_E_INVALID;
	size_t n = p[(*pos)++];
	if (n > max || n > len - *pos)
		return PED_E_INVALID;
	for (size_t i = 0; i < n; i++)
		if (p[*pos + i] < 0x20 || p[*pos + i] > 0x7e)
			return PED_E_INVALID;
	memcpy(out, p + *pos, n);
	out[n] = '\0';
	*pos += n;
	return PED_OK;
}

int ped_relay_decode(const uint8_t *p, size_t len, struct ped_relay_msg *m)
{
	size_t pos = 10;
	memset(m, 0, sizeof(*m));
	if (len < 10 || len > PED_RELAY_MSG_MAX)
		return PED_E_INVALID;
	m->role = p[0];
	m->purpose = p[1];
	m->auth = p[2];
	m->flags = p[3];
	m->port = (uint16_t)(p[4] << 8 | p[5]);
	m->code = (uint32_t)p[6] << 24 | (uint32_t)p[7] << 16 | (uint32_t)p[8] << 8 | p[9];
	if (get_lv8(p, len, &pos, m->id, PED_RELAY_ID_MAX) != PED_OK ||
	    get_lv8(p, len, &pos, m->version, PED_RELAY_VERSION_MAX) != PED_OK ||
	    get_lv8(p, len, &pos, m->host, PED_RELAY_HOST_MAX) != PED_OK ||
	    get_lv8(p, len, &pos, m->info, PED_RELAY_INFO_MAX) != PED_OK || pos != len) {
		memset(m, 0, sizeof(*m));
		return PED_E_INVALID;
	}
	return PED_OK;
}

int ped_relay_send(int fd, uint8_t type, const struct ped_relay_msg *m, int timeout_ms)
{
	uint8_t buf[PED_RELAY_MSG_MAX];
	size_t len;
	int r = ped_relay_encode(m, buf, sizeof(buf), &len);
	return r == PED_OK ? ped_frame_send(fd, type, buf, len, timeout_ms) : r;
}

int ped_relay_send_code(int fd, uint8_t type, uint32_t code, int timeout_ms)
{
	struct ped_relay_msg m;
	memset(&m, 0, sizeof(m));
	m.code = code;
	return ped_relay_send(fd, type, &m, timeout_ms);
}
