/* Relay control messages: one fixed layout, bounded both ways. */
#include "ped/relay.h"

#include "ped/buf.h"
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

int ped_relay_encode(const struct ped_relay_msg *m, uint8_t *out, size_t cap, size_t *len)
{
	struct ped_wbuf w;
	uint8_t *p;

	if (strlen(m->id) > PED_RELAY_ID_MAX || strlen(m->version) > PED_RELAY_VERSION_MAX ||
	    strlen(m->host) > PED_RELAY_HOST_MAX || strlen(m->info) > PED_RELAY_INFO_MAX)
		return PED_E_INVALID;
	ped_wbuf_init_fixed(&w, out, cap);
	ped_wbuf_u8(&w, m->role);
	ped_wbuf_u8(&w, m->purpose);
	ped_wbuf_u8(&w, m->auth);
	ped_wbuf_u8(&w, m->flags);
	ped_wbuf_u16(&w, m->port);
	ped_wbuf_u32(&w, m->code);
	ped_wbuf_lv8(&w, m->id, strlen(m->id));
	ped_wbuf_lv8(&w, m->version, strlen(m->version));
	ped_wbuf_lv8(&w, m->host, strlen(m->host));
	ped_wbuf_lv8(&w, m->info, strlen(m->info));
	return ped_wbuf_take(&w, &p, len);
}

int ped_relay_decode(const uint8_t *p, size_t len, struct ped_relay_msg *m)
{
	struct ped_rbuf r;

	memset(m, 0, sizeof(*m));
	if (len > PED_RELAY_MSG_MAX)
		return PED_E_INVALID;
	ped_rbuf_init(&r, p, len);
	m->role = ped_rbuf_u8(&r);
	m->purpose = ped_rbuf_u8(&r);
	m->auth = ped_rbuf_u8(&r);
	m->flags = ped_rbuf_u8(&r);
	m->port = ped_rbuf_u16(&r);
	m->code = ped_rbuf_u32(&r);
	ped_rbuf_text8(&r, m->id, PED_RELAY_ID_MAX);
	ped_rbuf_text8(&r, m->version, PED_RELAY_VERSION_MAX);
	ped_rbuf_text8(&r, m->host, PED_RELAY_HOST_MAX);
	ped_rbuf_text8(&r, m->info, PED_RELAY_INFO_MAX);
	if (ped_rbuf_end(&r) != PED_OK) {
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
