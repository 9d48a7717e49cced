#include "transcript.h"

#include "ped/error.h"
#include "ped/fileio.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PASSWORD_MARK "enter following password: "
#define IDENTITY_MARK " identity: HOC fingerprint "

/* The file's last TRANSCRIPT_TAIL bytes, NUL-terminated, in *out. */
static int read_tail(const char *path, char **out)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd, r = PED_OK;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0)
		return PED_E_NOT_FOUND;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		r = PED_E_FILE;
		goto out;
	}
	off_t from = st.st_size > (off_t)TRANSCRIPT_TAIL ? st.st_size - (off_t)TRANSCRIPT_TAIL : 0;
	if ((buf = OPENSSL_malloc(TRANSCRIPT_TAIL + 1)) == NULL) {
		r = PED_E_HOST_MEMORY;
		goto out;
	}
	while (n < TRANSCRIPT_TAIL) {
		ssize_t got = pread(fd, buf + n, TRANSCRIPT_TAIL - n, from + (off_t)n);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	/* a NUL byte ends what is searched; text after it is not a line anyway */
	buf[n] = '\0';
	*out = buf;
out:
	close(fd);
	return r;
}

static int was_used(const char (*used)[9], size_t nused, const char *pw)
{
	for (size_t i = 0; i < nused; i++)
		if (!strcmp(used[i], pw))
			return 1;
	return 0;
}

int transcript_password(const char *path, const char *serial, const char (*used)[9], size_t nused,
			char out[9])
{
	char *text, *p, *from = NULL, head[64], found[9] = "";
	int r = read_tail(path, &text);

	if (r != PED_OK)
		return r;
	snprintf(head, sizeof(head), "HSM %.16s" IDENTITY_MARK, serial);
	for (p = text; (p = strstr(p, head)) != NULL; p += strlen(head))
		from = p;
	if (from && (p = strstr(from, PASSWORD_MARK)) != NULL) {
		p += sizeof(PASSWORD_MARK) - 1;
		if (strspn(p, "0123456789") == 8 && !(p[8] >= '0' && p[8] <= '9')) {
			memcpy(found, p, 8);
			found[8] = '\0';
		}
	}
	r = found[0] && !was_used(used, nused, found) ? PED_OK : PED_E_NOT_FOUND;
	if (r == PED_OK)
		memcpy(out, found, 9);
	OPENSSL_cleanse(found, sizeof(found));
	OPENSSL_clear_free(text, TRANSCRIPT_TAIL + 1);
	return r;
}

size_t transcript_passwords(const char *path, char (*out)[9], size_t max)
{
	char *text, *p;
	size_t n = 0;

	if (read_tail(path, &text) != PED_OK)
		return 0;
	for (p = text; n < max && (p = strstr(p, PASSWORD_MARK)) != NULL;) {
		p += sizeof(PASSWORD_MARK) - 1;
		if (strspn(p, "0123456789") == 8 && !(p[8] >= '0' && p[8] <= '9')) {
			memcpy(out[n], p, 8);
			out[n++][8] = '\0';
		}
	}
	OPENSSL_clear_free(text, TRANSCRIPT_TAIL + 1);
	return n;
}

int transcript_identity(const char *path, const char *serial, const char *fpr)
{
	char *text, *p, head[64];
	int r = read_tail(path, &text), verdict = PED_E_NOT_FOUND;

	if (r != PED_OK)
		return r;
	snprintf(head, sizeof(head), "HSM %.16s" IDENTITY_MARK, serial);
	for (p = text; (p = strstr(p, head)) != NULL;) {
		p += strlen(head);
		size_t n = strcspn(p, "\r\n");
		verdict = n == strlen(fpr) && !strncmp(p, fpr, n);
	}
	OPENSSL_clear_free(text, TRANSCRIPT_TAIL + 1);
	return verdict;
}
