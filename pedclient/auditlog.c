/* pedclient as the HSMs' logging daemon: the records an HSM hands over
 * (ped/auditwire.h) written to hsm_SERIAL_FIRSTSEQ.log files under the log
 * directory, in order and once each, fsync'd before they are acknowledged,
 * and rotated by size and age as the HSM's audit config says. */
#include "auditlog.h"

#include "ped/auditwire.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void file_name(const struct auditlog *a, uint64_t first, char *out, size_t size)
{
	snprintf(out, size, "%s/hsm_%s_%020llu.log", a->dir, a->serial, (unsigned long long)first);
}

/* The newest file of this HSM (the largest first number) before the one
 * that starts at below (0: of all), or 0. */
static uint64_t newest(const struct auditlog *a, uint64_t below)
{
	char prefix[64];
	uint64_t best = 0;
	DIR *d = opendir(a->dir);
	struct dirent *e;
	size_t pl = (size_t)snprintf(prefix, sizeof(prefix), "hsm_%s_", a->serial);
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		uint64_t n = 0;
		if (l != pl + 24 || strncmp(e->d_name, prefix, pl) || strcmp(e->d_name + l - 4, ".log"))
			continue;
		for (size_t i = pl; i < l - 4; i++)
			n = e->d_name[i] >= '0' && e->d_name[i] <= '9' ? n * 10 + (uint64_t)(e->d_name[i] - '0') : 0;
		if (n > best && (!below || n < below))
			best = n;
	}
	closedir(d);
	return best;
}

/* Opens the file that starts at first (made if new, its name synced to
 * the directory before any record in it is acknowledged: an fsync'd file
 * whose directory entry a crash loses loses its records), at its end. */
static int open_file(struct auditlog *a, uint64_t first)
{
	char path[sizeof(a->dir) + 64], why[200];
	struct stat st;
	int r;
	file_name(a, first, path, sizeof(path));
	r = ped_file_open(path, O_RDWR | O_APPEND, 0600, &a->fd, why, sizeof(why));
	if (r == PED_E_NOT_FOUND &&
	    (r = ped_file_open(path, O_RDWR | O_APPEND | O_CREAT, 0600, &a->fd, why, sizeof(why))) == PED_OK &&
	    ped_file_sync_dir_of(path) != PED_OK) {
		ped_error("audit log %s: cannot sync its directory: %s", path, strerror(errno));
		close(a->fd);
		a->fd = -1;
		return PED_E_FILE;
	}
	if (r != PED_OK) {
		ped_error("audit log: %s", why);
		return r;
	}
	if (fstat(a->fd, &st) != 0) {
		ped_error("audit log %s: %s", path, strerror(errno));
		close(a->fd);
		a->fd = -1;
		return PED_E_FILE;
	}
	if (!S_ISREG(st.st_mode)) {
		/* a FIFO or a socket put there (ped_file_open takes them for a
		 * daemon's own log) would take records that no fsync keeps */
		snprintf(a->why, sizeof(a->why), "%s in the log directory is not a regular file", strrchr(path, '/') + 1);
		ped_error("audit log of HSM %s: %s", a->serial, a->why);
		close(a->fd);
		a->fd = -1;
		return PED_E_FILE;
	}
	a->first = first;
	a->bytes = (uint64_t)st.st_size;
	a->opened = st.st_size ? (int64_t)st.st_mtime : (int64_t)time(NULL);
	return PED_OK;
}

/* The number and MAC of the record line that ends buf at stop. */
static int last_line(const char *buf, ssize_t stop, uint64_t *seq, uint8_t mac[PED_AUDIT_MAC_LEN])
{
	ssize_t start = stop - 1;
	while (start > 0 && buf[start - 1] != '\n')
		start--;
	if (ped_audit_line_seq(buf + start, (size_t)(stop - start), seq) != PED_OK ||
	    ped_audit_line_mac(buf + start, (size_t)(stop - start), mac) != PED_OK)
		return PED_E_CORRUPT;
	return PED_OK;
}

/* The end of the file fd (up to sizeof buf bytes, from *from): the bytes
 * read, 0 for an empty file, -1 if it cannot be read. */
static ssize_t read_tail(int fd, char (*buf)[2 * PED_AUDIT_LINE_MAX], off_t *from)
{
	off_t end = lseek(fd, 0, SEEK_END);

	if (end < 0)
		return -1;
	if (end == 0)
		return 0;
	*from = end > (off_t)sizeof(*buf) ? end - (off_t)sizeof(*buf) : 0;
	ssize_t n = pread(fd, *buf, sizeof(*buf), *from);
	return n > 0 ? n : -1;
}

/* An empty newest file (a crash right after a rotation made it) holds no
 * record: the one before it is the last of the file before, whose MAC
 * AUDIT_READY carries. Left zero when that file does not end with it. */
static void mac_from_file_before(struct auditlog *a)
{
	char path[sizeof(a->dir) + 64], buf[2 * PED_AUDIT_LINE_MAX];
	uint64_t before = newest(a, a->first), seq = 0;
	uint8_t mac[PED_AUDIT_MAC_LEN];
	off_t from = 0;
	ssize_t n;
	int fd;
	if (!before)
		return;
	file_name(a, before, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return;
	if ((n = read_tail(fd, &buf, &from)) > 0 && buf[n - 1] == '\n' && last_line(buf, n, &seq, mac) == PED_OK &&
	    seq == a->last)
		memcpy(a->last_mac, mac, sizeof(mac));
	close(fd);
}

/* The last whole record of the open file, its number and MAC: a torn line
 * at its end (a crash while writing: never acknowledged, so the HSM still
 * has it) is cut. */
static int find_last(struct auditlog *a)
{
	char buf[2 * PED_AUDIT_LINE_MAX];
	off_t from = 0;
	ssize_t n = read_tail(a->fd, &buf, &from);
	if (n <= 0) {
		if (n < 0)
			return PED_E_FILE;
		a->last = a->first ? a->first - 1 : 0;
		mac_from_file_before(a);
		return PED_OK;
	}
	ssize_t stop = n;
	if (buf[n - 1] != '\n') {
		while (stop > 0 && buf[stop - 1] != '\n')
			stop--;
		if (ftruncate(a->fd, from + stop) != 0 || fsync(a->fd) != 0)
			return PED_E_FILE;
		ped_warn("audit log of HSM %s: a partial record at the end was cut", a->serial);
		a->bytes = (uint64_t)(from + stop);
	}
	if (stop == 0) {
		a->last = a->first - 1;
		mac_from_file_before(a);
		return PED_OK;
	}
	if (last_line(buf, stop, &a->last, a->last_mac) != PED_OK) {
		snprintf(a->why, sizeof(a->why), "the last line of hsm_%s_%020llu.log is not a record", a->serial,
			 (unsigned long long)a->first);
		ped_error("audit log of HSM %s: %s", a->serial, a->why);
		return PED_E_CORRUPT;
	}
	return PED_OK;
}

int auditlog_open(struct auditlog *a, const char *dir, const char *serial, uint32_t interval, uint64_t size)
{
	char why[200];
	struct stat st;
	uint64_t first;
	int r;
	memset(a, 0, sizeof(*a));
	a->fd = -1;
	snprintf(a->dir, sizeof(a->dir), "%s", dir);
	snprintf(a->serial, sizeof(a->serial), "%s", serial);
	a->interval = interval;
	a->size = size;
	why[0] = 0;
	if (ped_mkdir_p(dir, 0700) != PED_OK || ped_dir_private(dir, 0022, why, sizeof(why)) != PED_OK ||
	    stat(dir, &st) != 0) {
		ped_error("audit log directory %s: %s", dir, why[0] ? why : strerror(errno));
		return PED_E_FILE;
	}
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	first = newest(a, 0);
	if (!first)
		return PED_OK; /* nothing yet: the first record names the first file */
	if ((r = open_file(a, first)) != PED_OK)
		return r;
	return find_last(a);
}

void auditlog_close(struct auditlog *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
}

static int rotate_due(const struct auditlog *a, size_t add)
{
	if (a->fd < 0)
		return 1;
	if (!a->bytes)
		return 0;
	return (a->size && a->bytes + add > a->size) ||
	       (a->interval && (int64_t)time(NULL) - a->opened >= (int64_t)a->interval);
}

/* The log as of its last fsync: what may be acknowledged. */
struct sync_point {
	uint64_t first, bytes, last;
	uint8_t mac[PED_AUDIT_MAC_LEN];
};

static void sync_point_take(const struct auditlog *a, struct sync_point *sp)
{
	sp->first = a->first;
	sp->bytes = a->bytes;
	sp->last = a->last;
	memcpy(sp->mac, a->last_mac, sizeof(sp->mac));
}

/* An fsync failed: what was written since the last one may not be on disk
 * (the kernel may have dropped it with the error), so it is not
 * acknowledged and is cut from the file, to be written again when the HSM
 * resends it. */
static void back_to(struct auditlog *a, const struct sync_point *sp, int err)
{
	uint64_t keep = a->fd >= 0 && a->first == sp->first ? sp->bytes : 0;
	snprintf(a->why, sizeof(a->why), "the log file could not be synced (%s): records %llu to %llu not taken",
		 strerror(err), (unsigned long long)sp->last + 1, (unsigned long long)a->last);
	ped_error("audit log of HSM %s: %s", a->serial, a->why);
	if (a->fd >= 0 && ftruncate(a->fd, (off_t)keep) != 0)
		ped_error("audit log of HSM %s: cannot cut the records not synced: %s", a->serial, strerror(errno));
	a->bytes = keep;
	a->last = sp->last;
	memcpy(a->last_mac, sp->mac, sizeof(a->last_mac));
}

int auditlog_write(struct auditlog *a, const uint8_t *p, size_t len, uint64_t *acked)
{
	struct sync_point sp;
	size_t pos = 0;
	int r = PED_OK, wrote = 0;

	a->why[0] = 0;
	sync_point_take(a, &sp);
	while (pos < len) {
		const uint8_t *nl = memchr(p + pos, '\n', len - pos);
		uint8_t mac[PED_AUDIT_MAC_LEN];
		size_t n;
		uint64_t seq;
		if (!nl || (n = (size_t)(nl - (p + pos)) + 1) > PED_AUDIT_LINE_MAX ||
		    ped_audit_line_seq((const char *)p + pos, n, &seq) != PED_OK ||
		    ped_audit_line_mac((const char *)p + pos, n, mac) != PED_OK) {
			snprintf(a->why, sizeof(a->why), "a line that is not a record");
			r = PED_E_INVALID;
			break;
		}
		if (seq == a->last && !CRYPTO_memcmp(mac, a->last_mac, sizeof(mac))) {
			pos += n; /* the last record, sent again: it is written already */
			continue;
		}
		if (seq <= a->last) {
			/* not the record the log holds under that number: an
			 * HSM's resend never is, another HSM's records are */
			snprintf(a->why, sizeof(a->why),
				 "record %llu, but the log holds records up to %llu (another HSM with serial %s?)",
				 (unsigned long long)seq, (unsigned long long)a->last, a->serial);
			r = PED_E_INVALID;
			break;
		}
		if (a->last && seq != a->last + 1) {
			snprintf(a->why, sizeof(a->why), "record %llu after %llu (a gap: records %llu to %llu are not in the log)",
				 (unsigned long long)seq, (unsigned long long)a->last, (unsigned long long)a->last + 1,
				 (unsigned long long)seq - 1);
			r = PED_E_INVALID;
			break;
		}
		if (rotate_due(a, n)) {
			if (a->fd >= 0 && wrote && fsync(a->fd) != 0) {
				back_to(a, &sp, errno);
				wrote = 0;
				r = PED_E_IO;
				break;
			}
			if (wrote)
				sync_point_take(a, &sp);
			wrote = 0;
			auditlog_close(a);
			if ((r = open_file(a, seq)) != PED_OK)
				break;
			ped_info("audit log of HSM %s: file from record %llu", a->serial, (unsigned long long)seq);
		}
		if (ped_file_write_all(a->fd, p + pos, n) != PED_OK) {
			ped_error("audit log of HSM %s: %s", a->serial, strerror(errno));
			/* what was half written is cut at the next open (find_last) */
			r = PED_E_IO;
			break;
		}
		a->bytes += n;
		a->last = seq;
		memcpy(a->last_mac, mac, sizeof(a->last_mac));
		wrote = 1;
		pos += n;
	}
	if (wrote && fsync(a->fd) != 0) {
		back_to(a, &sp, errno);
		r = PED_E_IO;
	}
	*acked = a->last;
	return r;
}
