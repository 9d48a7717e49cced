/* rbs's files: their paths, rbs.conf, the slot list's Backup HSMs, the
 * password (rbs.h). */
#include "rbs.h"

#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/tlsnet.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

void rbs_paths(const char *dir, struct rbs_paths *p)
{
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	snprintf(p->server_dir, sizeof(p->server_dir), "%s/server", p->dir);
	snprintf(p->cert, sizeof(p->cert), "%s/server.pem", p->server_dir);
	snprintf(p->key, sizeof(p->key), "%s/server.key", p->server_dir);
	snprintf(p->clients, sizeof(p->clients), "%s/clients", p->dir);
	snprintf(p->conf, sizeof(p->conf), "%s/rbs.conf", p->dir);
}

int rbs_conf_parse(const char *text, size_t len, struct hsm_ctl_restrict *out, char *err, size_t errlen)
{
	size_t at = 0;
	int line = 0;

	memset(out, 0, sizeof(*out));
	if (len > RBS_CONF_MAX) {
		snprintf(err, errlen, "larger than %d bytes", RBS_CONF_MAX);
		return PED_E_CONFIG;
	}
	while (at < len) {
		const char *p = text + at, *nl = memchr(p, '\n', len - at);
		size_t n = nl ? (size_t)(nl - p) : len - at, w;
		at += n + (nl ? 1 : 0);
		line++;
		if (memchr(p, '\0', n))
			goto bad;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
			n--;
		while (n && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		if (n == 0 || *p == '#')
			continue;
		if (n < 7 || memcmp(p, "backup", 6) || (p[6] != ' ' && p[6] != '\t'))
			goto bad;
		p += 6;
		n -= 6;
		while (n && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		w = n;
		if (!hsm_ctl_serial_ok(p, w))
			goto bad;
		if (out->n == HSM_CTL_RESTRICT_MAX) {
			snprintf(err, errlen, "line %d: more than %d Backup HSMs", line, HSM_CTL_RESTRICT_MAX);
			memset(out, 0, sizeof(*out));
			return PED_E_CONFIG;
		}
		memcpy(out->serial[out->n], p, w);
		out->serial[out->n][w] = '\0';
		if (hsm_ctl_restrict_has(out, out->serial[out->n])) {
			snprintf(err, errlen, "line %d: Backup HSM %s is named twice", line, out->serial[out->n]);
			memset(out, 0, sizeof(*out));
			return PED_E_CONFIG;
		}
		out->n++;
	}
	return PED_OK;
bad:
	snprintf(err, errlen, "line %d: not \"backup SERIAL\" (1-%d digits), a comment or a blank line", line,
		 HSM_CTL_SERIAL_MAX);
	memset(out, 0, sizeof(*out));
	return PED_E_CONFIG;
}

int rbs_conf_format(const struct hsm_ctl_restrict *served, char *out, size_t size, size_t *len)
{
	int n = snprintf(out, size, "# rbs: the Backup HSMs this host serves (rbs --config)\n");
	size_t at;

	*len = 0;
	if (n < 0 || (size_t)n >= size)
		return PED_E_RANGE;
	at = (size_t)n;
	if (served->n > HSM_CTL_RESTRICT_MAX)
		return PED_E_INVALID;
	for (size_t i = 0; i < served->n; i++) {
		if (!hsm_ctl_serial_ok(served->serial[i], strnlen(served->serial[i], HSM_CTL_SERIAL_MAX + 1)))
			return PED_E_INVALID;
		n = snprintf(out + at, size - at, "backup %s\n", served->serial[i]);
		if (n < 0 || (size_t)n >= size - at)
			return PED_E_RANGE;
		at += (size_t)n;
	}
	*len = at;
	return PED_OK;
}

int rbs_conf_load(const char *path, struct hsm_ctl_restrict *out, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char why[256];
	int r;

	memset(out, 0, sizeof(*out));
	r = ped_file_read_nofollow(path, RBS_CONF_MAX, &buf, &len);
	if (r == PED_E_NOT_FOUND)
		return PED_OK;
	if (r != PED_OK) {
		snprintf(err, errlen, "cannot read %s: %s", path, ped_strerror(r));
		return r;
	}
	if ((r = rbs_conf_parse((const char *)buf, len, out, why, sizeof(why))) != PED_OK)
		snprintf(err, errlen, "%s: %s", path, why);
	OPENSSL_clear_free(buf, len ? len : 1);
	return r;
}

int rbs_conf_save(const char *path, const struct hsm_ctl_restrict *served, char *err, size_t errlen)
{
	char text[RBS_CONF_MAX];
	size_t len;
	int r;

	if ((r = rbs_conf_format(served, text, sizeof(text), &len)) != PED_OK ||
	    (r = ped_file_write_atomic(path, text, len, 0600)) != PED_OK)
		snprintf(err, errlen, "cannot write %s: %s", path, ped_strerror(r));
	return r;
}

/* "Label ->                x": the value after the arrow and its blanks. */
static const char *value_of(const char *line, const char *key)
{
	size_t n = strlen(key);
	if (strncmp(line, key, n) || strncmp(line + n, " ->", 3))
		return NULL;
	line += n + 3;
	while (*line == ' ')
		line++;
	return line;
}

static void scan_flush(struct rbs_slot_scan *s)
{
	if (s->have && s->cur_backup && s->cur.serial[0] && s->n < RBS_BACKUPS_MAX)
		s->b[s->n++] = s->cur;
	memset(&s->cur, 0, sizeof(s->cur));
	s->cur_backup = s->have = 0;
}

void rbs_scan_line(struct rbs_slot_scan *s, const char *line)
{
	const char *v;

	if ((v = value_of(line, "Slot Id")) != NULL) {
		scan_flush(s);
		s->have = 1;
		s->cur.slot = atoi(v);
	} else if (!s->have) {
		return;
	} else if ((v = value_of(line, "Label")) != NULL) {
		snprintf(s->cur.label, sizeof(s->cur.label), "%s", v);
	} else if ((v = value_of(line, "Serial Number")) != NULL) {
		if (hsm_ctl_serial_ok(v, strlen(v)))
			snprintf(s->cur.serial, sizeof(s->cur.serial), "%s", v);
	} else if ((v = value_of(line, "Slot Description")) != NULL) {
		s->cur_backup = !strcmp(v, "Backup Device");
	}
}

void rbs_scan_end(struct rbs_slot_scan *s)
{
	scan_flush(s);
}

/* One line from fd, bounded, without its newline; the rest of a longer
 * line is an error. */
static int read_fd_line(int fd, char *out, size_t size, size_t *len)
{
	size_t n = 0;
	char c;
	int r = PED_OK;

	for (;;) {
		ssize_t k = read(fd, &c, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (n == 0)
				r = PED_E_CLOSED;
			break;
		}
		if (c == '\n')
			break;
		if (n + 1 >= size) {
			r = PED_E_RANGE;
			break;
		}
		out[n++] = c;
	}
	if (n && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	*len = n;
	if (r != PED_OK)
		OPENSSL_cleanse(out, size);
	return r;
}

/* Asked on the terminal without echo. */
static int ask_tty(int tty, const char *prompt, char *out, size_t size, size_t *len)
{
	struct termios old, quiet;
	int r;

	if (tcgetattr(tty, &old) != 0)
		return PED_E_IO;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	(void)!write(tty, prompt, strlen(prompt));
	(void)tcsetattr(tty, TCSAFLUSH, &quiet);
	r = read_fd_line(tty, out, size, len);
	(void)tcsetattr(tty, TCSAFLUSH, &old);
	(void)!write(tty, "\n", 1);
	return r;
}

static int password_ok(const char *pw, size_t n, char *err, size_t errlen)
{
	if (n < RBS_PASSWORD_MIN || memchr(pw, '\0', n)) {
		snprintf(err, errlen, "an RBS password is %d to %d characters", RBS_PASSWORD_MIN, RBS_PASSWORD_MAX);
		return PED_E_INVALID;
	}
	return PED_OK;
}

int rbs_password(const char *file, int fd, int confirm, char *out, size_t size, size_t *len, char *err,
		 size_t errlen)
{
	char again[RBS_PASSWORD_MAX + 2];
	size_t alen = 0;
	int r, tty = -1, close_fd = 0;

	*len = 0;
	if (size < RBS_PASSWORD_MAX + 2)
		return PED_E_RANGE;
	if (file) {
		/* as a private key: a password others can read is no secret */
		if ((r = ped_tls_key_private(file, err, errlen)) != PED_OK)
			return r;
		if ((fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			snprintf(err, errlen, "cannot read %s: %s", file, strerror(errno));
			return PED_E_FILE;
		}
		close_fd = 1;
	}
	if (fd >= 0) {
		r = read_fd_line(fd, out, RBS_PASSWORD_MAX + 2, len);
		if (close_fd)
			close(fd);
		if (r == PED_E_RANGE || (r == PED_OK && *len > RBS_PASSWORD_MAX)) {
			snprintf(err, errlen, "the password is longer than %d characters", RBS_PASSWORD_MAX);
			r = PED_E_INVALID;
		} else if (r != PED_OK) {
			snprintf(err, errlen, "no password in %s", file ? file : "the file descriptor");
		} else {
			r = password_ok(out, *len, err, errlen);
		}
		goto out;
	}
	if (isatty(STDIN_FILENO) && (tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) >= 0) {
		r = ask_tty(tty, "Enter the RBS password: ", out, RBS_PASSWORD_MAX + 2, len);
		if (r == PED_OK && confirm)
			r = ask_tty(tty, "Confirm the RBS password: ", again, sizeof(again), &alen);
	} else {
		/* a script's: a line each from standard input */
		r = read_fd_line(STDIN_FILENO, out, RBS_PASSWORD_MAX + 2, len);
		if (r == PED_OK && confirm)
			r = read_fd_line(STDIN_FILENO, again, sizeof(again), &alen);
	}
	if (r != PED_OK) {
		snprintf(err, errlen, r == PED_E_RANGE ? "the password is longer than %d characters"
						       : "no password was given",
			 RBS_PASSWORD_MAX);
		r = r == PED_E_RANGE ? PED_E_INVALID : PED_E_CANCEL;
		goto out;
	}
	if (*len > RBS_PASSWORD_MAX) {
		snprintf(err, errlen, "the password is longer than %d characters", RBS_PASSWORD_MAX);
		r = PED_E_INVALID;
		goto out;
	}
	if (confirm && (alen != *len || CRYPTO_memcmp(again, out, alen) != 0)) {
		snprintf(err, errlen, "the two passwords do not match: nothing was written");
		r = PED_E_PIN_INCORRECT;
		goto out;
	}
	r = password_ok(out, *len, err, errlen);
out:
	if (tty >= 0)
		close(tty);
	OPENSSL_cleanse(again, sizeof(again));
	if (r != PED_OK) {
		OPENSSL_cleanse(out, size);
		*len = 0;
	}
	return r;
}
