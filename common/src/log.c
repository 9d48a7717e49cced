#include "ped/log.h"

#include "ped/error.h"
#include "ped/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096
#define LOG_PATH_MAX 1024

/* hsm-sim and ped-device log from several threads: one lock keeps the
 * size count, rotation and the fd consistent, so no line is lost or split. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	char ident[64];
	atomic_uint mask; /* read unlocked, so a filtered-out trace costs no lock */
	char path[LOG_PATH_MAX];
	size_t max_size;
	int fd;        /* -1: stderr */
	off_t size;    /* bytes in the current file */
	int rotates;   /* a regular file: a device (/dev/null), FIFO or socket is never renamed */
	int failed;    /* file unusable: fell back to stderr */
} log_state = {"ped", PED_LOG_DEFAULT_MASK, "", 0, -1, 0, 0, 0};

static const char *level_name(enum ped_log_level level)
{
	switch (level) {
	case PED_LOG_ERROR: return "ERROR";
	case PED_LOG_WARNING: return "WARNING";
	case PED_LOG_INFO: return "INFO";
	case PED_LOG_TRACE: return "TRACE";
	}
	return "LOG";
}

static int open_file(void)
{
	struct stat st;
	int fd;

	/* Not through a planted link, only our own file, and 0600 even if an
	 * older version made it 0644. No logging here: we hold the log lock. */
	if (ped_file_open(log_state.path, O_WRONLY | O_CREAT | O_APPEND, 0600, &fd, NULL, 0) != PED_OK)
		return PED_E_FILE;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return PED_E_FILE;
	}
	log_state.fd = fd;
	log_state.size = st.st_size;
	log_state.rotates = S_ISREG(st.st_mode);
	return PED_OK;
}

static void close_locked(void)
{
	if (log_state.fd >= 0)
		close(log_state.fd);
	log_state.fd = -1;
	log_state.size = 0;
}

int ped_log_open(const struct ped_log_config *cfg)
{
	int rc = PED_OK;

	pthread_mutex_lock(&log_lock);
	close_locked();
	snprintf(log_state.ident, sizeof(log_state.ident), "%s", cfg->ident ? cfg->ident : "ped");
	atomic_store(&log_state.mask, cfg->mask);
	log_state.max_size = cfg->max_size;
	log_state.failed = 0;
	log_state.path[0] = '\0';
	if (!cfg->file || !cfg->file[0])
		goto out;
	if (strlen(cfg->file) >= sizeof(log_state.path)) {
		rc = PED_E_INVALID;
		goto out;
	}
	memcpy(log_state.path, cfg->file, strlen(cfg->file) + 1);
	rc = open_file();
out:
	pthread_mutex_unlock(&log_lock);
	return rc;
}

void ped_log_close(void)
{
	pthread_mutex_lock(&log_lock);
	close_locked();
	pthread_mutex_unlock(&log_lock);
}

int ped_log_reopen(void)
{
	int rc = PED_OK;

	pthread_mutex_lock(&log_lock);
	if (log_state.path[0]) {
		close_locked();
		log_state.failed = 0;
		rc = open_file();
	}
	pthread_mutex_unlock(&log_lock);
	return rc;
}

void ped_log_set_mask(unsigned mask)
{
	atomic_store(&log_state.mask, mask);
}

unsigned ped_log_get_mask(void)
{
	return atomic_load(&log_state.mask);
}

/* Rotation happens between lines, so no line is ever split across files. */
static void rotate_if_needed(size_t line_len)
{
	char old[LOG_PATH_MAX + 2];

	if (log_state.fd < 0 || log_state.max_size == 0 || !log_state.rotates)
		return;
	if ((size_t)log_state.size + line_len <= log_state.max_size || log_state.size == 0)
		return;
	snprintf(old, sizeof(old), "%s.1", log_state.path);
	close(log_state.fd);
	log_state.fd = -1;
	if (rename(log_state.path, old) != 0 && errno != ENOENT) {
		/* Could not rotate: keep appending rather than lose events. */
	}
	if (open_file() != PED_OK)
		log_state.failed = 1;
}

/* One event is one line: control characters become \n, \t or \xNN. */
static size_t append_escaped(char *dst, size_t pos, size_t cap, const char *src)
{
	for (; *src && pos + 5 < cap; src++) {
		unsigned char c = (unsigned char)*src;
		if (c == '\n') {
			dst[pos++] = '\\';
			dst[pos++] = 'n';
		} else if (c == '\t') {
			dst[pos++] = '\\';
			dst[pos++] = 't';
		} else if (c < 0x20 || c == 0x7f) {
			pos += (size_t)snprintf(dst + pos, cap - pos, "\\x%02x", c);
		} else {
			dst[pos++] = (char)c;
		}
	}
	if (*src && pos + 4 <= cap) {
		memcpy(dst + pos, "...", 3);
		pos += 3;
	}
	return pos;
}

void ped_log_write(enum ped_log_level level, const char *func, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 256];
	struct timeval tv;
	struct tm tm;
	size_t pos;
	va_list ap;
	int n, saved_errno = errno;

	if (!(atomic_load_explicit(&log_state.mask, memory_order_relaxed) & (unsigned)level))
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "(unformattable message)");

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	pthread_mutex_lock(&log_lock); /* ident may be changing under ped_log_open */
	pos = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	pos += (size_t)snprintf(line + pos, sizeof(line) - pos, ".%03ldZ %s[%ld] %s %s: ",
				(long)(tv.tv_usec / 1000), log_state.ident, (long)getpid(),
				level_name(level), func);
	pos = append_escaped(line, pos, sizeof(line) - 1, msg);
	if (n >= (int)sizeof(msg) && pos + 4 < sizeof(line)) {
		memcpy(line + pos, "...", 3);
		pos += 3;
	}
	line[pos++] = '\n';

	rotate_if_needed(pos);
	if (log_state.fd >= 0 && !log_state.failed) {
		ssize_t w = write(log_state.fd, line, pos);
		if (w == (ssize_t)pos) {
			log_state.size += w;
			goto out;
		}
		log_state.failed = 1;
		dprintf(STDERR_FILENO, "%s: log file %s unwritable (%s); logging to stderr\n",
			log_state.ident, log_state.path, strerror(errno));
	}
	if (write(STDERR_FILENO, line, pos) < 0) {
		/* nowhere left to report it */
	}
out:
	pthread_mutex_unlock(&log_lock);
	errno = saved_errno;
}
