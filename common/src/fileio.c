#include "ped/fileio.h"

#include "ped/error.h"
#include "ped/log.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fsync_dir_of(const char *path)
{
	char copy[4096];
	int fd, r = PED_OK;

	if (strlen(path) >= sizeof(copy))
		return PED_E_INVALID;
	memcpy(copy, path, strlen(path) + 1);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return PED_E_FILE;
	if (fsync(fd) != 0)
		r = PED_E_FILE;
	close(fd);
	return r;
}

int ped_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	static unsigned counter;
	char tmp[4200];
	const unsigned char *p = data;
	int fd = -1, r = PED_E_FILE, saved = 0;

	if (snprintf(tmp, sizeof(tmp), "%s%s%ld.%u", path, PED_FILE_TMP_MARK, (long)getpid(),
		     counter++) >= (int)sizeof(tmp))
		return PED_E_INVALID;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return PED_E_FILE;
	/* The umask may have narrowed the mode; secrets need exactly 0600. */
	if (fchmod(fd, mode) != 0)
		goto out;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	r = fsync_dir_of(path);
	return r;
out:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return r;
}

int ped_file_read_bounded(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t have = 0, cap;
	int fd, r = PED_E_FILE;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? PED_E_NOT_FOUND : PED_E_FILE;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	if ((size_t)st.st_size > max) {
		r = PED_E_RANGE;
		goto out;
	}
	/* The size may change under us: read at most max + 1 bytes and check. */
	cap = (size_t)st.st_size + 1;
	if ((buf = OPENSSL_malloc(cap)) == NULL) {
		r = PED_E_HOST_MEMORY;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		have += (size_t)n;
		if (have == cap) {
			r = PED_E_RANGE; /* grew while we read */
			goto out;
		}
	}
	*out = buf;
	*out_len = have;
	buf = NULL;
	r = PED_OK;
out:
	if (buf)
		OPENSSL_clear_free(buf, cap);
	close(fd);
	return r;
}

int ped_mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return PED_E_INVALID;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return PED_E_FILE;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return PED_E_FILE;
	return PED_OK;
}

/* Our PID files, sockets and admin-port files go in dir: it must be ours
 * and not writable by anyone else, or another local user who made it first
 * (/tmp/openped-UID) could replace them. */
static int private_dir(const char *dir)
{
	struct stat st;
	if (ped_mkdir_p(dir, 0700) != PED_OK)
		return PED_E_FILE;
	if (lstat(dir, &st) != 0)
		return PED_E_FILE;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
		ped_error("%s: not a directory of uid %ld that only it may write to; refusing to use it", dir,
			  (long)geteuid());
		errno = EPERM;
		return PED_E_FILE;
	}
	return PED_OK;
}

int ped_runtime_path(const char *name, char *out, size_t len)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	char dir[768];
	int r;
	if (rt && *rt)
		snprintf(dir, sizeof(dir), "%s/openped", rt);
	else
		snprintf(dir, sizeof(dir), "/tmp/openped-%ld", (long)getuid());
	if ((r = private_dir(dir)) != PED_OK)
		return r;
	if ((size_t)snprintf(out, len, "%s/%s", dir, name) >= len)
		return PED_E_INVALID;
	return PED_OK;
}

int ped_data_path(const char *name, char *out, size_t len)
{
	const char *dh = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char dir[768];
	int r;
	if (dh && *dh)
		snprintf(dir, sizeof(dir), "%s/openped", dh);
	else if (home && *home)
		snprintf(dir, sizeof(dir), "%s/.local/share/openped", home);
	else /* not a /tmp/.local that the first user to come would own */
		snprintf(dir, sizeof(dir), "/tmp/openped-data-%ld", (long)getuid());
	if ((r = private_dir(dir)) != PED_OK)
		return r;
	if ((size_t)snprintf(out, len, "%s/%s", dir, name) >= len)
		return PED_E_INVALID;
	return PED_OK;
}
