/* Admin port: request line, text answer, result line, close. */
#include "ped/admin.h"

#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/net.h"

#include <openssl/crypto.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ped_admin_serve(int fd, ped_admin_fn fn, void *arg, int timeout_ms)
{
	char line[PED_ADMIN_LINE_MAX + 1];
	char *text = NULL;
	size_t len = 0, n = 0;
	FILE *out = NULL;
	int r;

	(void)ped_set_nonblock(fd, 1);
	/* One byte at a time: the request is short and we must not read past it. */
	while (n < PED_ADMIN_LINE_MAX) {
		if (ped_read_full(fd, line + n, 1, timeout_ms) != PED_OK)
			goto out;
		if (line[n] == '\n')
			break;
		n++;
	}
	if (n == PED_ADMIN_LINE_MAX)
		goto out;
	line[n] = '\0';
	if (n && line[n - 1] == '\r')
		line[n - 1] = '\0';
	if (!(out = open_memstream(&text, &len)))
		goto out;
	r = fn(arg, line, out);
	fprintf(out, "RESULT %d\n", r);
	fclose(out);
	out = NULL;
	(void)ped_write_all(fd, text, len, timeout_ms);
out:
	free(text);
	close(fd);
}

int ped_admin_query(const char *host, uint16_t port, const char *line, char *out, size_t cap,
		    int timeout_ms)
{
	char req[PED_ADMIN_LINE_MAX + 2];
	size_t have = 0;
	int fd, r;

	if (cap == 0 || strlen(line) > PED_ADMIN_LINE_MAX)
		return PED_E_INVALID;
	out[0] = '\0';
	if ((r = ped_tcp_connect(host, port, timeout_ms, &fd)) != PED_OK)
		return r;
	snprintf(req, sizeof(req), "%s\n", line);
	if ((r = ped_write_all(fd, req, strlen(req), timeout_ms)) != PED_OK)
		goto out;
	for (;;) {
		char c;
		r = ped_read_full(fd, &c, 1, timeout_ms);
		if (r == PED_E_CLOSED)
			break;
		if (r != PED_OK)
			goto out;
		if (have + 1 >= cap) {
			r = PED_E_RANGE;
			goto out;
		}
		out[have++] = c;
	}
	out[have] = '\0';
	/* The last line is "RESULT <code>". */
	char *last = have >= 2 ? out + have - 2 : out;
	while (last > out && last[-1] != '\n')
		last--;
	if (strncmp(last, "RESULT ", 7) != 0) {
		r = PED_E_CLOSED;
		goto out;
	}
	r = atoi(last + 7);
	*last = '\0';
out:
	close(fd);
	return r;
}

static int port_file(const char *name, char *path, size_t len)
{
	char file[128];
	snprintf(file, sizeof(file), "%s.admin", name);
	return ped_runtime_path(file, path, len);
}

int ped_admin_port_publish(const char *name, uint16_t port)
{
	char path[1024], buf[16];
	int r, n = snprintf(buf, sizeof(buf), "%u\n", port);
	if ((r = port_file(name, path, sizeof(path))) != PED_OK)
		return r;
	return ped_file_write_atomic(path, buf, (size_t)n, 0600);
}

int ped_admin_port_lookup(const char *name, uint16_t *port)
{
	char path[1024];
	uint8_t *data = NULL;
	size_t len = 0;
	int r;
	if ((r = port_file(name, path, sizeof(path))) != PED_OK ||
	    (r = ped_file_read_bounded(path, 16, &data, &len)) != PED_OK)
		return r;
	char buf[17];
	memcpy(buf, data, len);
	buf[len] = '\0';
	OPENSSL_free(data);
	long v = strtol(buf, NULL, 10);
	if (v <= 0 || v > 65535)
		return PED_E_CORRUPT;
	*port = (uint16_t)v;
	return PED_OK;
}

void ped_admin_port_unpublish(const char *name)
{
	char path[1024];
	if (port_file(name, path, sizeof(path)) == PED_OK)
		(void)unlink(path);
}
