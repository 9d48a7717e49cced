#include "ped/pidfile.h"

#include "ped/error.h"
#include "ped/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pid_t locker_of(int fd)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(fd, F_GETLK, &fl) != 0 || fl.l_type == F_UNLCK)
		return 0;
	return fl.l_pid;
}

int ped_pidfile_create(const char *path, struct ped_pidfile *pf, char *msg, size_t msglen)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char buf[32], why[600];
	int fd, n;

	pf->fd = -1;
	if (strlen(path) >= sizeof(pf->path)) {
		snprintf(msg, msglen, "PID file name too long: %s", path);
		return PED_E_PIDFILE;
	}
	/* A daemon that stops unlinks its file and then lets go of the lock:
	 * a lock taken on the file we opened just before that unlink is a lock
	 * on no path, and another start would run beside us. So the locked
	 * file must still be the one at the path; if not, open it again. */
	for (int tries = 0;; tries++) {
		struct stat held, at;
		/* Not through a link, and only a file of ours: root once truncated
		 * whatever file a link planted at the path named. 0644 so that
		 * anyone may see who holds it. */
		if (ped_file_open(path, O_RDWR | O_CREAT, 0644, &fd, why, sizeof(why)) != PED_OK) {
			snprintf(msg, msglen, "cannot open PID file %s", why);
			return PED_E_PIDFILE;
		}
		if (fcntl(fd, F_SETLK, &fl) != 0) {
			pid_t holder = locker_of(fd);
			snprintf(msg, msglen, "already running as pid %ld (PID file %s)", (long)holder, path);
			close(fd);
			return PED_E_PIDFILE;
		}
		if (fstat(fd, &held) == 0 && lstat(path, &at) == 0 && held.st_dev == at.st_dev &&
		    held.st_ino == at.st_ino)
			break;
		close(fd);
		if (tries == 10) {
			snprintf(msg, msglen, "PID file %s keeps being replaced", path);
			return PED_E_PIDFILE;
		}
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		snprintf(msg, msglen, "cannot write PID file %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return PED_E_PIDFILE;
	}
	pf->fd = fd;
	memcpy(pf->path, path, strlen(path) + 1);
	return PED_OK;
}

void ped_pidfile_remove(struct ped_pidfile *pf)
{
	if (pf->fd < 0)
		return;
	/* Unlink while still holding the lock so no one sees an unlocked file. */
	unlink(pf->path);
	close(pf->fd);
	pf->fd = -1;
}

int ped_pidfile_read(const char *path, pid_t *pid)
{
	/* Another user's file may be read (root stopping a service's daemon),
	 * but never through a link: one to some other locked file would have
	 * us signal whichever process holds that lock. */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	pid_t holder;

	if (fd < 0)
		return PED_E_NOT_FOUND;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return PED_E_NOT_FOUND;
	}
	holder = locker_of(fd);
	close(fd);
	if (holder <= 0)
		return PED_E_NOT_FOUND;
	*pid = holder;
	return PED_OK;
}
