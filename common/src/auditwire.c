/* Audit delivery frames (ped/auditwire.h). */
#include "ped/auditwire.h"

#include "ped/buf.h"
#include "ped/error.h"

#include <string.h>

int ped_audit_open_encode(const struct ped_audit_open *o, uint8_t **out, size_t *len)
{
	struct ped_wbuf w;
	int r;
	ped_wbuf_init(&w, 512);
	ped_wbuf_u8(&w, o->version);
	ped_wbuf_lv8(&w, o->serial, strlen(o->serial));
	ped_wbuf_lv16(&w, o->dir, strlen(o->dir));
	ped_wbuf_u32(&w, o->interval);
	ped_wbuf_u64(&w, o->size);
	r = ped_wbuf_take(&w, out, len);
	ped_wbuf_free(&w);
	return r;
}

int ped_audit_open_decode(const uint8_t *p, size_t len, struct ped_audit_open *o)
{
	struct ped_rbuf r;
	const uint8_t *dir;
	size_t dlen = 0;

	memset(o, 0, sizeof(*o));
	ped_rbuf_init(&r, p, len);
	o->version = ped_rbuf_u8(&r);
	if (ped_rbuf_text8(&r, o->serial, PED_AUDIT_SERIAL_MAX) != PED_OK)
		return PED_E_INVALID;
	dir = ped_rbuf_lv16(&r, PED_AUDIT_DIR_MAX, &dlen);
	o->interval = ped_rbuf_u32(&r);
	o->size = ped_rbuf_u64(&r);
	if (!dir || ped_rbuf_end(&r) != PED_OK || o->version != PED_AUDIT_VERSION || !o->serial[0] ||
	    strspn(o->serial, "0123456789") != strlen(o->serial))
		return PED_E_INVALID;
	/* a directory name: absolute, no "..", printable without spaces */
	for (size_t i = 0; i < dlen; i++)
		if (dir[i] <= 0x20 || dir[i] > 0x7e)
			return PED_E_INVALID;
	memcpy(o->dir, dir, dlen);
	o->dir[dlen] = 0;
	if (dlen && (o->dir[0] != '/' || strstr(o->dir, "/../") || (dlen >= 3 && !strcmp(o->dir + dlen - 3, "/.."))))
		return PED_E_INVALID;
	return PED_OK;
}

void ped_audit_seq_encode(uint64_t seq, uint8_t out[8])
{
	ped_be64_put(out, seq);
}

int ped_audit_seq_decode(const uint8_t *p, size_t len, uint64_t *seq)
{
	if (len != 8)
		return PED_E_INVALID;
	*seq = ped_be64_get(p);
	return PED_OK;
}

void ped_audit_ready_encode(uint64_t seq, const uint8_t mac[PED_AUDIT_MAC_LEN], uint8_t out[PED_AUDIT_READY_LEN])
{
	ped_be64_put(out, seq);
	memcpy(out + 8, mac, PED_AUDIT_MAC_LEN);
}

int ped_audit_ready_decode(const uint8_t *p, size_t len, uint64_t *seq, uint8_t mac[PED_AUDIT_MAC_LEN])
{
	if (len != PED_AUDIT_READY_LEN)
		return PED_E_INVALID;
	*seq = ped_be64_get(p);
	memcpy(mac, p + 8, PED_AUDIT_MAC_LEN);
	return PED_OK;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ped_audit_line_mac(const char *line, size_t len, uint8_t mac[PED_AUDIT_MAC_LEN])
{
	const size_t hex = 2 * PED_AUDIT_MAC_LEN;
	if (len && line[len - 1] == '\n')
		len--;
	if (len < hex + 1 || line[len - hex - 1] != '|')
		return PED_E_INVALID;
	line += len - hex;
	for (size_t i = 0; i < PED_AUDIT_MAC_LEN; i++) {
		int hi = hexval(line[2 * i]), lo = hexval(line[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return PED_E_INVALID;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return PED_OK;
}

int ped_audit_line_seq(const char *line, size_t len, uint64_t *seq)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; i < len && i < 20 && line[i] >= '0' && line[i] <= '9'; i++) {
		uint64_t d = (uint64_t)(line[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return PED_E_INVALID;
		v = v * 10 + d;
	}
	if (i == 0 || i >= len || line[i] != '|' || (i > 1 && line[0] == '0') || v == 0)
		return PED_E_INVALID;
	*seq = v;
	return PED_OK;
}
