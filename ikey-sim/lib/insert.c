/* Inserting a key in a PED: an flock on SERIAL.lock held for as long as the
 * key is in the PED. The kernel drops the lock when the PED process dies, so
 * a crashed PED never leaves a key stuck. */
#include "ikey/ikey.h"

#include "ped/error.h"
#include "ped/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static void lock_path(const struct ikey_store *st, const char *serial, char *p, size_t len)
{
	snprintf(p, len, "%s/%.16s.lock", st->dir, serial);
}

static void read_holder(int fd, char *who, size_t len)
{
	ssize_t n;
	if (!who || !len)
		return;
	n = pread(fd, who, len - 1, 0);
	who[n > 0 ? n : 0] = '\0';
	if (n <= 0)
		snprintf(who, len, "another PED");
}

int ikey_insert(const struct ikey_store *st, const char *serial, const char *holder,
		struct ikey_slot *slot, char *holder_out, size_t holder_len)
{
	char path[2048], key[2048], canon[IKEY_SERIAL_LEN + 1];
	int fd;
	size_t hl = holder ? strlen(holder) : 0;

	slot->fd = -1;
	/* the serial names files in the store: hex digits only, never a path */
	if (ikey_serial_normalise(serial, canon) != PED_OK)
		return PED_E_INVALID;
	serial = canon;
	snprintf(key, sizeof(key), "%s/%.16s.ikey", st->dir, serial);
	if (access(key, F_OK) != 0)
		return PED_E_NOT_FOUND;
	lock_path(st, serial, path, sizeof(path));
	/* never through a link: we write the holder's name into it */
	if (ped_file_open(path, O_RDWR | O_CREAT, 0600, &fd, NULL, 0) != PED_OK)
		return PED_E_FILE;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		read_holder(fd, holder_out, holder_len);
		close(fd);
		return PED_E_BUSY;
	}
	/* Who holds it, for "inserted in" lines; the lock itself is the truth. */
	if (ftruncate(fd, 0) != 0 || (hl && pwrite(fd, holder, hl, 0) != (ssize_t)hl)) {
		int e = errno ? errno : ENOSPC; /* a short pwrite sets none */
		close(fd);
		errno = e; /* the caller names the cause */
		return PED_E_FILE;
	}
	slot->fd = fd;
	snprintf(slot->serial, sizeof(slot->serial), "%s", serial);
	return PED_OK;
}

void ikey_remove(struct ikey_slot *slot)
{
	if (slot->fd < 0)
		return;
	/* Emptying first means a reader never sees a stale holder under no lock. */
	if (ftruncate(slot->fd, 0) != 0) {
		/* harmless: the name is only informative */
	}
	close(slot->fd);
	slot->fd = -1;
}

int ikey_inserted_where(const struct ikey_store *st, const char *serial, char *who, size_t len)
{
	char path[2048], canon[IKEY_SERIAL_LEN + 1];
	int fd, held;

	if (ikey_serial_normalise(serial, canon) != PED_OK)
		return 0;
	lock_path(st, canon, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
		return 0;
	held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	if (held)
		read_holder(fd, who, len);
	close(fd);
	return held;
}
