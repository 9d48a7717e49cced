/* LD_PRELOAD shim for the clock-jump fault tests (tests/faults/clock.sh and
 * tests/shell/clock_jump.sh): moves the wall clock of the process it is
 * loaded into, and no other clock.
 *
 *   CLOCKJUMP_FILE=PATH LD_PRELOAD=build/tests/clockjump.so program ...
 *
 * PATH holds a signed number of seconds (may be fractional, "-7200", "3600.5")
 * added to CLOCK_REALTIME (and CLOCK_REALTIME_COARSE) as clock_gettime(),
 * gettimeofday() and time() return it. The file is read at every call, so a
 * test jumps the clock of a running daemon by rewriting it (write a temporary
 * and rename it over PATH). A missing or unreadable file is offset 0.
 * CLOCK_MONOTONIC and the others pass through untouched, as does the kernel's
 * own notion of time: a pthread_cond_timedwait on a CLOCK_REALTIME condition
 * still expires by the real clock, so a deadline computed from the shifted
 * clock lands hours early or late, just as after a real NTP step.
 *
 * Built without sanitizers (tests/module.mk): it is preloaded into programs
 * of any build. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static int real_clock_gettime(clockid_t id, struct timespec *ts)
{
	static clock_gettime_fn next;
	if (!next)
		next = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
	if (next)
		return next(id, ts);
	return (int)syscall(SYS_clock_gettime, id, ts);
}

/* The offset in nanoseconds, read now. Only async-signal-safe calls. */
static int64_t offset_ns(void)
{
	const char *path = getenv("CLOCKJUMP_FILE");
	char buf[64];
	if (!path || !*path)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* [-+]SECONDS[.FRACTION] by hand: strtod may take locale locks. */
	const char *p = buf;
	while (*p == ' ' || *p == '\t')
		p++;
	int neg = 0;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	int64_t sec = 0, frac = 0, scale = 1000000000;
	while (*p >= '0' && *p <= '9')
		sec = sec * 10 + (*p++ - '0');
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
	int64_t ns = sec * 1000000000 + frac;
	return neg ? -ns : ns;
}

static void shift(struct timespec *ts)
{
	int64_t off = offset_ns();
	if (!off)
		return;
	int64_t ns = (int64_t)ts->tv_nsec + off % 1000000000;
	ts->tv_sec += (time_t)(off / 1000000000);
	if (ns < 0) {
		ns += 1000000000;
		ts->tv_sec--;
	} else if (ns >= 1000000000) {
		ns -= 1000000000;
		ts->tv_sec++;
	}
	ts->tv_nsec = (long)ns;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	int r = real_clock_gettime(id, ts);
	if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		shift(ts);
	return r;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;
	(void)tz;
	if (real_clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	shift(&ts);
	{
		tv->tv_sec = ts.tv_sec;
		tv->tv_usec = ts.tv_nsec / 1000;
	}
	return 0;
}

time_t time(time_t *t)
{
	struct timespec ts;
	if (real_clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (time_t)-1;
	shift(&ts);
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
