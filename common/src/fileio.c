#include "ped/fileio.h"

#include "ped/error.h"
#include "ped/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef PED_SYSCONFDIR
#define PED_SYSCONFDIR "/usr/local/etc"
#endif

int ped_file_sync_dir_of(const char *path)
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
	return ped_file_write_atomic_as(path, data, len, mode, (uid_t)-1, (gid_t)-1);
}

/* NAME SUFFIX .tmp. digits . digits, as ped_file_write_atomic_as names them */
static int is_temp_name(const char *name, const char *suffix)
{
	static const char digits[] = "0123456789";
	size_t sl = strlen(suffix), a, b;

	for (const char *m = strstr(name, PED_FILE_TMP_MARK); m; m = strstr(m + 1, PED_FILE_TMP_MARK)) {
		const char *p = m + strlen(PED_FILE_TMP_MARK);
		if ((size_t)(m - name) < sl + 1 || memcmp(m - sl, suffix, sl))
			continue;
		if ((a = strspn(p, digits)) && p[a] == '.' && (b = strspn(p + a + 1, digits)) && !p[a + 1 + b])
			return 1;
	}
	return 0;
}

int ped_file_remove_temps(const char *dir, const char *suffix, size_t *removed)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4200];

	*removed = 0;
	if (!d)
		return PED_E_FILE;
	while ((e = readdir(d)) != NULL) {
		if (!is_temp_name(e->d_name, suffix) ||
		    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (unlink(path) == 0)
			(*removed)++;
	}
	closedir(d);
	return PED_OK;
}

int ped_file_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return PED_E_IO;
		}
		b += w;
		n -= (size_t)w;
	}
	return PED_OK;
}

int ped_file_write_atomic_as(const char *path, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid)
{
	/* the temporary file's name is unique per process: threads saving at
	 * once (an HSM's state, the audit courier's) each take a number */
	static unsigned counter;
	char tmp[4200];
	const unsigned char *p = data;
	int fd = -1, r = PED_E_FILE, saved = 0;

	if (snprintf(tmp, sizeof(tmp), "%s%s%ld.%u", path, PED_FILE_TMP_MARK, (long)getpid(),
		     __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED)) >= (int)sizeof(tmp))
		return PED_E_INVALID;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return PED_E_FILE;
	/* The umask may have narrowed the mode; secrets need exactly 0600. */
	if (fchmod(fd, mode) != 0)
		goto out;
	/* the owner before the content: a file that cannot keep its owner is not replaced */
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) != 0)
		goto out;
	if (ped_file_write_all(fd, p, len) != PED_OK || fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	r = ped_file_sync_dir_of(path);
	return r;
out:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return r;
}

static int spare_fd = -1;

void ped_fd_spare_take(void)
{
	if (__atomic_load_n(&spare_fd, __ATOMIC_ACQUIRE) >= 0)
		return;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), none = -1;
	if (fd >= 0 && !__atomic_compare_exchange_n(&spare_fd, &none, fd, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		close(fd); /* another thread took one first */
}

int ped_fd_spare_give(void)
{
	int fd = __atomic_exchange_n(&spare_fd, -1, __ATOMIC_ACQ_REL);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static int read_bounded(const char *path, int flags, size_t max, uint8_t **out, size_t *out_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t have = 0, cap;
	int fd, r = PED_E_FILE, saved, spare = 0;

	/* O_NONBLOCK: a FIFO planted at the path must not hang the reader */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | flags);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE) && (spare = ped_fd_spare_give()))
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | flags);
	if (fd < 0) {
		saved = errno;
		if (spare)
			ped_fd_spare_take();
		errno = saved;
		return errno == ENOENT ? PED_E_NOT_FOUND : PED_E_FILE;
	}
	if (fstat(fd, &st) != 0)
		goto out;
	if (!S_ISREG(st.st_mode)) {
		/* errno is the callers' reason: not a stale one ("No such file
		 * or directory" for a directory at a state file's name) */
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		goto out;
	}
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
	saved = errno;
	if (buf)
		OPENSSL_clear_free(buf, cap);
	close(fd);
	if (spare)
		ped_fd_spare_take();
	errno = saved;
	return r;
}

int ped_file_read_bounded(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	return read_bounded(path, 0, max, out, out_len);
}

int ped_file_read_nofollow(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	return read_bounded(path, O_NOFOLLOW, max, out, out_len);
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

/* May a directory we pass through on the way to a private one be trusted:
 * only root or we can change which entries it holds? In a sticky directory
 * others may add entries, but not rename or remove ours or root's, so what
 * we go through must then be ours or root's (checked entry by entry). */
static int passable(const struct stat *st)
{
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return 0;
	return !(st->st_mode & 022) || (st->st_mode & S_ISVTX);
}

/* Resolves path one component at a time, as the kernel does, following
 * symbolic links, and checks every directory and link on the way: a link
 * or directory that another user could replace would let them redirect
 * everything we later open below it. Leaves the final directory's stat in
 * *last. */
struct walk_bufs {
	char todo[2 * PATH_MAX], cur[PATH_MAX], next[PATH_MAX + NAME_MAX + 2], target[PATH_MAX];
	char rest[2 * PATH_MAX], cwd[PATH_MAX];
};

static int walk(const char *path, struct stat *last, char *why, size_t whylen, struct walk_bufs *b)
{
	char *todo = b->todo, *cur = b->cur, *next = b->next, *target = b->target, *rest = b->rest;
	struct stat parent, st;
	int links = 0;
	uid_t me = geteuid();

	cur[0] = '\0';

	if (path[0] == '/') {
		if (snprintf(todo, sizeof(b->todo), "%s", path) >= (int)sizeof(b->todo))
			goto too_long;
	} else {
		if (!getcwd(b->cwd, sizeof(b->cwd)) ||
		    snprintf(todo, sizeof(b->todo), "%s/%s", b->cwd, path) >= (int)sizeof(b->todo))
			goto too_long;
	}
	if (stat("/", &parent) != 0 || !passable(&parent)) {
		snprintf(why, whylen, "/ is not root's, or others may write to it");
		return PED_E_FILE;
	}
	for (char *p = todo;;) {
		char *comp;
		while (*p == '/')
			p++;
		if (!*p)
			break;
		comp = p;
		p += strcspn(p, "/");
		if (*p)
			*p++ = '\0';
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			char *slash = strrchr(cur, '/');
			if (slash)
				*slash = '\0';
			if (stat(cur[0] ? cur : "/", &parent) != 0) {
				snprintf(why, whylen, "%s: %s", cur[0] ? cur : "/", strerror(errno));
				return PED_E_FILE;
			}
			continue;
		}
		if (snprintf(next, sizeof(b->next), "%s/%s", cur, comp) >= (int)sizeof(b->cur))
			goto too_long;
		if (lstat(next, &st) != 0) {
			snprintf(why, whylen, "%s: %s", next, strerror(errno));
			return PED_E_FILE;
		}
		if ((parent.st_mode & 022) && st.st_uid != 0 && st.st_uid != me) {
			snprintf(why, whylen, "%s belongs to uid %ld in a directory others may write to", next,
				 (long)st.st_uid);
			return PED_E_FILE;
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(next, target, sizeof(b->target) - 1);
			if (++links > 40 || n <= 0) {
				snprintf(why, whylen, "%s: %s", next, n <= 0 ? strerror(errno) : "too many links");
				return PED_E_FILE;
			}
			target[n] = '\0';
			if (snprintf(rest, sizeof(b->rest), "%s/%s", target, p) >= (int)sizeof(b->todo))
				goto too_long;
			memcpy(todo, rest, strlen(rest) + 1);
			p = todo;
			if (target[0] == '/') {
				cur[0] = '\0';
				if (stat("/", &parent) != 0) {
					snprintf(why, whylen, "/: %s", strerror(errno));
					return PED_E_FILE;
				}
			}
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			snprintf(why, whylen, "%s is not a directory", next);
			return PED_E_FILE;
		}
		if (!passable(&st)) {
			snprintf(why, whylen, "%s (uid %ld, mode %04o) may be changed by another user", next,
				 (long)st.st_uid, (unsigned)(st.st_mode & 07777));
			return PED_E_FILE;
		}
		memcpy(cur, next, strlen(next) + 1);
		parent = st;
	}
	*last = parent;
	return PED_OK;
too_long:
	snprintf(why, whylen, "%s: path too long", path);
	return PED_E_INVALID;
}

/* The walk's 29 KiB of paths live on the heap: a stack page, once touched,
 * stays with its thread for the thread's life, and this runs on the
 * daemons' main threads. */
static int walk_path(const char *path, struct stat *last, char *why, size_t whylen)
{
	struct walk_bufs *b = malloc(sizeof(*b));
	int r;

	if (!b) {
		snprintf(why, whylen, "%s: out of memory", path);
		return PED_E_HOST_MEMORY;
	}
	r = walk(path, last, why, whylen, b);
	free(b);
	return r;
}

int ped_dir_check_private(const char *dir, mode_t forbid, char *why, size_t whylen)
{
	char scratch[64];
	struct stat st;
	int r;

	if (!why || !whylen) {
		why = scratch;
		whylen = sizeof(scratch);
	}
	why[0] = '\0';
	if ((r = walk_path(dir, &st, why, whylen)) != PED_OK)
		goto refuse;
	if (st.st_uid != geteuid() || (st.st_mode & forbid)) {
		snprintf(why, whylen, "%s is uid %ld's with mode %04o", dir, (long)st.st_uid,
			 (unsigned)(st.st_mode & 07777));
		r = PED_E_FILE;
		goto refuse;
	}
	return PED_OK;
refuse:
	{
		/* one wording for every refusal, so people and tests can find it */
		char detail[512];
		snprintf(detail, sizeof(detail), "%s", why);
		snprintf(why, whylen, "%s: not a directory of uid %ld that only it may %s; refusing to use it (%s)",
			 dir, (long)geteuid(), (forbid & 044) ? "enter" : "write to", detail);
	}
	errno = EPERM;
	return r;
}

/* The group's id and the uid of the user of the same name (-1: none). */
static int group_ids(const char *group, gid_t *gid, uid_t *owner)
{
	char buf[4096];
	struct group gr, *g = NULL;
	struct passwd pw, *p = NULL;

	if (getgrnam_r(group, &gr, buf, sizeof(buf), &g) != 0 || !g)
		return PED_E_NOT_FOUND;
	*gid = g->gr_gid;
	*owner = (uid_t)-1;
	if (getpwnam_r(group, &pw, buf, sizeof(buf), &p) == 0 && p)
		*owner = p->pw_uid;
	return PED_OK;
}

static int in_group(gid_t gid)
{
	gid_t list[256];
	int n;

	if (getegid() == gid)
		return 1;
	if ((n = getgroups((int)(sizeof(list) / sizeof(list[0])), list)) < 0)
		return 0;
	for (int i = 0; i < n; i++)
		if (list[i] == gid)
			return 1;
	return 0;
}

int ped_dir_check_group(const char *dir, const char *group, char *why, size_t whylen)
{
	char scratch[64], parent[PATH_MAX], detail[1200];
	struct stat st;
	gid_t gid;
	uid_t owner;

	if (!why || !whylen) {
		why = scratch;
		whylen = sizeof(scratch);
	}
	why[0] = '\0';
	detail[0] = '\0';
	if (group_ids(group, &gid, &owner) != PED_OK) {
		snprintf(detail, sizeof(detail), "there is no group %s", group);
		goto refuse;
	}
	if (strlen(dir) >= sizeof(parent)) {
		snprintf(detail, sizeof(detail), "path too long");
		goto refuse;
	}
	/* the way there as for a directory of our own; the last step is theirs */
	memcpy(parent, dir, strlen(dir) + 1);
	if (walk_path(dirname(parent), &st, detail, sizeof(detail)) != PED_OK)
		goto refuse;
	if (lstat(dir, &st) != 0) {
		snprintf(detail, sizeof(detail), "%s", strerror(errno));
		goto refuse;
	}
	if (!S_ISDIR(st.st_mode) || (st.st_uid != 0 && st.st_uid != owner) || st.st_gid != gid ||
	    (st.st_mode & 002) || !(st.st_mode & 010)) {
		snprintf(detail, sizeof(detail), "%s (uid %ld, gid %ld, mode %04o)",
			 S_ISDIR(st.st_mode) ? "a directory" : "not a directory", (long)st.st_uid, (long)st.st_gid,
			 (unsigned)(st.st_mode & 07777));
		goto refuse;
	}
	if (geteuid() != owner && !in_group(gid)) {
		snprintf(detail, sizeof(detail), "uid %ld is not a member of group %s", (long)geteuid(), group);
		goto refuse;
	}
	return PED_OK;
refuse:
	snprintf(why, whylen,
		 "%s: not a directory of root or user %s, of group %s, that the group may enter, no one else may "
		 "write to, and we may use; refusing to use it (%s)",
		 dir, group, group, detail);
	errno = EPERM;
	return PED_E_FILE;
}

int ped_dir_group_shared(const char *dir, gid_t *gid_out)
{
	struct stat st;
	gid_t gid;
	uid_t owner;

	/* The directory first: naming the group loads the system's NSS modules
	 * (libnss_systemd, and libm and libcap with it, about 0.7 MiB resident
	 * for the process's life), and a directory no group may enter, such as
	 * every private one, needs no name. */
	if (stat(dir, &st) != 0 || !(st.st_mode & 010) || (st.st_mode & 002) ||
	    group_ids(PED_SYSTEM_GROUP, &gid, &owner) != PED_OK || st.st_gid != gid)
		return 0;
	if (gid_out)
		*gid_out = gid;
	return 1;
}

int ped_dir_private(const char *dir, mode_t forbid, char *why, size_t whylen)
{
	if (ped_mkdir_p(dir, 0700) != PED_OK) {
		if (why && whylen)
			snprintf(why, whylen, "cannot create %s: %s", dir, strerror(errno));
		return PED_E_FILE;
	}
	return ped_dir_check_private(dir, forbid, why, whylen);
}

/* A log sent to a Unix socket (a collector listening there): open() cannot
 * open one, connect() does; stream or datagram, whichever it is. */
static int open_log_socket(const char *path, int *fd_out, char *why, size_t whylen)
{
	struct sockaddr_un sa;
	int fd = -1, saved = ENAMETOOLONG;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, path, strlen(path) + 1);
		for (int i = 0; i < 2; i++) {
			if ((fd = socket(AF_UNIX, (i ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0)) < 0) {
				saved = errno;
				break;
			}
			if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
				*fd_out = fd;
				return PED_OK;
			}
			saved = errno;
			close(fd);
			fd = -1;
			if (saved != EPROTOTYPE)
				break;
		}
	}
	snprintf(why, whylen, "%s: a socket nobody listens on: %s", path, strerror(saved));
	errno = saved;
	return PED_E_FILE;
}

int ped_file_open(const char *path, int flags, mode_t mode, int *fd_out, char *why, size_t whylen)
{
	char scratch[64];
	struct stat st;
	int fd, saved;

	if (!why || !whylen) {
		why = scratch;
		whylen = sizeof(scratch);
	}
	why[0] = '\0';
	*fd_out = -1;
	/* O_NOFOLLOW: a link planted at the path is refused, not written
	 * through; O_NONBLOCK: a FIFO there fails instead of hanging us; and
	 * O_TRUNC only once we know the file is ours. */
	fd = open(path, (flags & ~O_TRUNC) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
	int is_log = (flags & O_APPEND) && !(flags & O_TRUNC);
	if (fd < 0 && errno == ENXIO && is_log && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		return open_log_socket(path, fd_out, why, whylen);
	if (fd < 0 && errno == ENXIO && is_log && lstat(path, &st) == 0 && S_ISFIFO(st.st_mode)) {
		snprintf(why, whylen, "%s: a FIFO nobody reads", path);
		errno = ENXIO;
		return PED_E_FILE;
	}
	if (fd < 0) {
		saved = errno;
		snprintf(why, whylen, "%s: %s", path,
			 saved == ELOOP ? "a symbolic link; refusing to follow it" : strerror(saved));
		errno = saved;
		return saved == ENOENT ? PED_E_NOT_FOUND : PED_E_FILE;
	}
	if (fstat(fd, &st) != 0) {
		saved = errno;
		snprintf(why, whylen, "%s: %s", path, strerror(saved));
		goto fail;
	}
	saved = EPERM;
	/* A log or event log may be a character device (the reference's own
	 * workaround is -logfilename /dev/null) or a FIFO a reader holds open:
	 * appended to, never truncated, chmod'ed or renamed, it is no file of
	 * anyone's to spoil. */
	if ((S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) && is_log) {
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
			saved = errno;
			snprintf(why, whylen, "%s: %s", path, strerror(saved));
			goto fail;
		}
		*fd_out = fd;
		return PED_OK;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s: not a regular file; refusing to use it", path);
		goto fail;
	}
	if (st.st_uid != geteuid()) {
		snprintf(why, whylen, "%s: owned by uid %ld, not %ld; refusing to use it", path, (long)st.st_uid,
			 (long)geteuid());
		goto fail;
	}
	/* a second name would be a way into it from elsewhere */
	if (st.st_nlink != 1) {
		snprintf(why, whylen, "%s: has %ld links; refusing to use it", path, (long)st.st_nlink);
		goto fail;
	}
	/* Created at the mode, narrowed by the umask; one made by an older
	 * version (logs were 0644) is brought to the mode too. */
	if ((flags & O_CREAT) && (st.st_mode & 07777) != mode && fchmod(fd, mode) != 0) {
		saved = errno;
		snprintf(why, whylen, "%s: %s", path, strerror(saved));
		goto fail;
	}
	if ((flags & O_TRUNC) && ftruncate(fd, 0) != 0) {
		saved = errno;
		snprintf(why, whylen, "%s: %s", path, strerror(saved));
		goto fail;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
		saved = errno;
		snprintf(why, whylen, "%s: %s", path, strerror(saved));
		goto fail;
	}
	*fd_out = fd;
	return PED_OK;
fail:
	close(fd);
	errno = saved;
	return PED_E_FILE;
}

/* Refusals are logged by the caller's ped_error: the CLI shows them on
 * stderr, a daemon in its log. */
static int private_subdir(const char *dir, const char *name, const char *what, char *out, size_t len)
{
	char why[1024];
	if (ped_dir_private(dir, PED_DIR_NOWRITE, why, sizeof(why)) != PED_OK) {
		ped_error("%s; %s", why, what);
		errno = EPERM;
		return PED_E_FILE;
	}
	if ((size_t)snprintf(out, len, "%s/%s", dir, name) >= len)
		return PED_E_INVALID;
	return PED_OK;
}

int ped_runtime_path(const char *name, char *out, size_t len)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	char dir[768];
	struct stat st;

	if (rt && *rt) {
		snprintf(dir, sizeof(dir), "%s/openped", rt);
		int r = private_subdir(dir, name, "set XDG_RUNTIME_DIR to a directory of yours that no one else may write to",
				       out, len);
		/* A member's login session has XDG_RUNTIME_DIR too: what the
		 * services made in the system's directory (a socket, a PID file)
		 * is found there when the session has none of its own, so the
		 * documented command lines reach the installed services. A name
		 * of the session's own wins; a daemon started by hand whose name
		 * the service holds is told it runs (its PID file). */
		if (r == PED_OK && lstat(out, &st) != 0 && errno == ENOENT &&
		    (size_t)snprintf(dir, sizeof(dir), "%s/%s", PED_SYSTEM_RUNTIME_DIR, name) < sizeof(dir) &&
		    lstat(dir, &st) == 0 && ped_dir_check_group(PED_SYSTEM_RUNTIME_DIR, PED_SYSTEM_GROUP, NULL, 0) == PED_OK) {
			if ((size_t)snprintf(out, len, "%s", dir) >= len)
				return PED_E_INVALID;
		}
		return r;
	}
	/* A system installation's, for the services' user and the group's
	 * members: where they reach the services. Another user goes on to
	 * their own. */
	if (lstat(PED_SYSTEM_RUNTIME_DIR, &st) == 0 &&
	    (ped_dir_check_group(PED_SYSTEM_RUNTIME_DIR, PED_SYSTEM_GROUP, NULL, 0) == PED_OK ||
	     ped_dir_check_private(PED_SYSTEM_RUNTIME_DIR, PED_DIR_NOWRITE, NULL, 0) == PED_OK)) {
		if ((size_t)snprintf(out, len, "%s/%s", PED_SYSTEM_RUNTIME_DIR, name) >= len)
			return PED_E_INVALID;
		return PED_OK;
	}
	/* Where logind puts it when XDG_RUNTIME_DIR did not reach us (su, cron).
	 * Never a shared /tmp: whoever made the name first would own it. */
	snprintf(dir, sizeof(dir), "/run/user/%ld", (long)geteuid());
	if (stat(dir, &st) == 0) {
		snprintf(dir, sizeof(dir), "/run/user/%ld/openped", (long)geteuid());
		return private_subdir(dir, name, "set XDG_RUNTIME_DIR to a directory of yours that no one else may write to",
				      out, len);
	}
	ped_error("no runtime directory: XDG_RUNTIME_DIR is not set, " PED_SYSTEM_RUNTIME_DIR
		  " is not the %s group's or you are not a member, and /run/user/%ld does not exist; set "
		  "XDG_RUNTIME_DIR to a directory of yours that no one else may write to (or give each path: "
		  "PID file, sockets)",
		  PED_SYSTEM_GROUP, (long)geteuid());
	errno = ENOENT;
	return PED_E_FILE;
}

int ped_data_path(const char *name, char *out, size_t len)
{
	const char *dh = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char dir[768];
	if (dh && *dh)
		snprintf(dir, sizeof(dir), "%s/openped", dh);
	else if (home && *home)
		snprintf(dir, sizeof(dir), "%s/.local/share/openped", home);
	else {
		ped_error("no data directory: neither XDG_DATA_HOME nor HOME is set; set XDG_DATA_HOME to a "
			  "directory of yours that no one else may write to");
		errno = ENOENT;
		return PED_E_FILE;
	}
	return private_subdir(dir, name, "set XDG_DATA_HOME (or HOME) to a directory of yours that no one else may write to",
			      out, len);
}

int ped_config_default_path(const char *name, char *out, size_t len, int *system)
{
	char sys[1024];
	struct stat st;
	int have_user;

	if (system)
		*system = 0;
	have_user = ped_data_path(name, out, len) == PED_OK;
	if (have_user && stat(out, &st) == 0)
		return PED_OK;
	if ((size_t)snprintf(sys, sizeof(sys), "%s/openped/%s", PED_SYSCONFDIR, name) < sizeof(sys) &&
	    stat(sys, &st) == 0 && S_ISREG(st.st_mode) && strlen(sys) < len) {
		memcpy(out, sys, strlen(sys) + 1);
		if (system)
			*system = 1;
		return PED_OK;
	}
	if (!have_user && len)
		out[0] = '\0';
	return PED_OK;
}
