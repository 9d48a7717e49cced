#include "ped/evloop.h"

#include "ped/error.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIGNALS 8

struct watcher {
	int fd;
	unsigned events;
	ped_io_cb cb;
	void *arg;
	int dead; /* removed during dispatch; compacted afterwards */
};

struct sig_handler {
	int signo;
	ped_signal_cb cb;
	void *arg;
};

struct ped_evloop {
	struct watcher *w;
	size_t nw, capw;
	struct pollfd *pfd;
	size_t cap_pfd;
	int dirty; /* pfd must be rebuilt */
	int dispatching;
	struct ped_timer *timers; /* sorted by deadline */
	struct sig_handler sigs[MAX_SIGNALS];
	size_t nsigs;
	int stop;
};

/* The self-pipe: written from the signal handler, read by the loop. */
static int sig_pipe[2] = {-1, -1};

uint64_t ped_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int ped_cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int r = pthread_condattr_init(&a);
	if (r != 0)
		return r;
	r = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (r == 0)
		r = pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
	return r;
}

void ped_cond_deadline(struct timespec *until, int timeout_ms)
{
	if (timeout_ms < 0)
		timeout_ms = 0;
	clock_gettime(CLOCK_MONOTONIC, until);
	until->tv_sec += timeout_ms / 1000;
	until->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

struct ped_evloop *ped_evloop_new(void)
{
	struct ped_evloop *loop = calloc(1, sizeof(*loop));
	if (loop)
		signal(SIGPIPE, SIG_IGN);
	return loop;
}

void ped_evloop_free(struct ped_evloop *loop)
{
	if (!loop)
		return;
	for (size_t i = 0; i < loop->nsigs; i++)
		signal(loop->sigs[i].signo, SIG_DFL);
	if (loop->nsigs && sig_pipe[0] >= 0) {
		close(sig_pipe[0]);
		close(sig_pipe[1]);
		sig_pipe[0] = sig_pipe[1] = -1;
	}
	while (loop->timers)
		ped_timer_stop(loop, loop->timers);
	free(loop->w);
	free(loop->pfd);
	free(loop);
}

static struct watcher *find_watcher(struct ped_evloop *loop, int fd)
{
	for (size_t i = 0; i < loop->nw; i++)
		if (loop->w[i].fd == fd && !loop->w[i].dead)
			return &loop->w[i];
	return NULL;
}

int ped_evloop_add_fd(struct ped_evloop *loop, int fd, unsigned events, ped_io_cb cb, void *arg)
{
	if (fd < 0 || find_watcher(loop, fd))
		return PED_E_INVALID;
	if (loop->nw == loop->capw) {
		size_t cap = loop->capw ? loop->capw * 2 : 16;
		struct watcher *nw = realloc(loop->w, cap * sizeof(*nw));
		if (!nw)
			return PED_E_HOST_MEMORY;
		loop->w = nw;
		loop->capw = cap;
	}
	loop->w[loop->nw++] = (struct watcher){fd, events, cb, arg, 0};
	loop->dirty = 1;
	return PED_OK;
}

int ped_evloop_mod_fd(struct ped_evloop *loop, int fd, unsigned events)
{
	struct watcher *w = find_watcher(loop, fd);
	if (!w)
		return PED_E_NOT_FOUND;
	if (w->events != events) {
		w->events = events;
		loop->dirty = 1;
	}
	return PED_OK;
}

static void compact(struct ped_evloop *loop)
{
	size_t j = 0;
	for (size_t i = 0; i < loop->nw; i++)
		if (!loop->w[i].dead)
			loop->w[j++] = loop->w[i];
	loop->nw = j;
}

void ped_evloop_del_fd(struct ped_evloop *loop, int fd)
{
	struct watcher *w = find_watcher(loop, fd);
	if (!w)
		return;
	w->dead = 1;
	loop->dirty = 1;
	/* During dispatch the pfd array still indexes the watchers: compact later. */
	if (!loop->dispatching)
		compact(loop);
}

void ped_timer_init(struct ped_timer *t, ped_timer_cb cb, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->arg = arg;
}

static void timer_unlink(struct ped_evloop *loop, struct ped_timer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		loop->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
	t->active = 0;
}

static void timer_insert(struct ped_evloop *loop, struct ped_timer *t)
{
	struct ped_timer **pp = &loop->timers, *prev = NULL;
	/* Equal deadlines keep their start order. */
	while (*pp && (*pp)->deadline_ms <= t->deadline_ms) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	t->next = *pp;
	t->prev = prev;
	if (*pp)
		(*pp)->prev = t;
	*pp = t;
	t->active = 1;
}

void ped_timer_start(struct ped_evloop *loop, struct ped_timer *t, uint64_t ms, uint64_t repeat_ms)
{
	if (t->active)
		timer_unlink(loop, t);
	t->deadline_ms = ped_now_ms() + ms;
	t->repeat_ms = repeat_ms;
	timer_insert(loop, t);
}

void ped_timer_stop(struct ped_evloop *loop, struct ped_timer *t)
{
	if (t->active)
		timer_unlink(loop, t);
}

int ped_budget_ms(uint64_t deadline, int want)
{
	if (!deadline)
		return want;
	uint64_t now = ped_now_ms();
	if (now >= deadline)
		return 1;
	return deadline - now < (uint64_t)want ? (int)(deadline - now) : want;
}

void ped_deadline_min(uint64_t *due, uint64_t at)
{
	if (!*due || at < *due)
		*due = at;
}

void ped_timer_at(struct ped_evloop *loop, struct ped_timer *t, uint64_t due)
{
	uint64_t now = ped_now_ms();
	if (!due)
		ped_timer_stop(loop, t);
	else
		ped_timer_start(loop, t, due > now ? due - now : 1, 0);
}

static void on_signal(int signo)
{
	int saved = errno;
	unsigned char b = (unsigned char)signo;
	if (sig_pipe[1] >= 0 && write(sig_pipe[1], &b, 1) < 0) {
		/* pipe full: the signal is already pending in it */
	}
	errno = saved;
}

static void dispatch_signals(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	unsigned char buf[64];
	ssize_t n;
	(void)events;
	(void)arg;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			for (size_t s = 0; s < loop->nsigs; s++)
				if (loop->sigs[s].signo == buf[i])
					loop->sigs[s].cb(loop, buf[i], loop->sigs[s].arg);
}

int ped_evloop_add_signal(struct ped_evloop *loop, int signo, ped_signal_cb cb, void *arg)
{
	struct sigaction sa;

	if (loop->nsigs == MAX_SIGNALS || signo <= 0 || signo > 255)
		return PED_E_INVALID;
	if (sig_pipe[0] < 0) {
		if (pipe(sig_pipe) != 0)
			return PED_E_IO;
		for (int i = 0; i < 2; i++) {
			fcntl(sig_pipe[i], F_SETFL, fcntl(sig_pipe[i], F_GETFL) | O_NONBLOCK);
			fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
		}
		if (ped_evloop_add_fd(loop, sig_pipe[0], PED_EV_READ, dispatch_signals, NULL) != PED_OK)
			return PED_E_HOST_MEMORY;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(signo, &sa, NULL) != 0)
		return PED_E_INVALID;
	loop->sigs[loop->nsigs++] = (struct sig_handler){signo, cb, arg};
	return PED_OK;
}

static int rebuild_pfd(struct ped_evloop *loop)
{
	if (loop->cap_pfd < loop->nw) {
		struct pollfd *p = realloc(loop->pfd, loop->nw * sizeof(*p));
		if (!p)
			return PED_E_HOST_MEMORY;
		loop->pfd = p;
		loop->cap_pfd = loop->nw;
	}
	for (size_t i = 0; i < loop->nw; i++) {
		loop->pfd[i].fd = loop->w[i].fd;
		loop->pfd[i].events = (short)(((loop->w[i].events & PED_EV_READ) ? POLLIN : 0) |
					      ((loop->w[i].events & PED_EV_WRITE) ? POLLOUT : 0));
		loop->pfd[i].revents = 0;
	}
	loop->dirty = 0;
	return PED_OK;
}

static void run_timers(struct ped_evloop *loop)
{
	uint64_t now = ped_now_ms();
	/* Only timers due now: one started from a callback with 0 ms waits a turn. */
	struct ped_timer *t;
	while ((t = loop->timers) && t->deadline_ms <= now) {
		timer_unlink(loop, t);
		if (t->repeat_ms) {
			t->deadline_ms += t->repeat_ms;
			if (t->deadline_ms <= now) /* fell behind: don't fire in a burst */
				t->deadline_ms = now + t->repeat_ms;
			timer_insert(loop, t);
		}
		t->cb(loop, t, t->arg);
		if (loop->stop)
			return;
	}
}

int ped_evloop_run_once(struct ped_evloop *loop, int timeout_ms)
{
	size_t n;
	int r, wait = timeout_ms;

	if (loop->dirty && (r = rebuild_pfd(loop)) != PED_OK)
		return r;
	if (loop->timers) {
		uint64_t now = ped_now_ms();
		uint64_t due = loop->timers->deadline_ms > now ? loop->timers->deadline_ms - now : 0;
		if (due > 86400000u)
			due = 86400000u;
		if (wait < 0 || (uint64_t)wait > due)
			wait = (int)due;
	}
	n = loop->nw;
	r = poll(loop->pfd, n, wait);
	if (r < 0) {
		if (errno == EINTR)
			return PED_OK;
		return PED_E_IO;
	}
	loop->dispatching = 1;
	for (size_t i = 0; i < n && r > 0 && !loop->stop; i++) {
		short re = loop->pfd[i].revents;
		unsigned ev = 0;
		if (!re)
			continue;
		r--;
		if (loop->w[i].dead)
			continue;
		if (re & (POLLIN | POLLPRI))
			ev |= PED_EV_READ;
		if (re & POLLOUT)
			ev |= PED_EV_WRITE;
		if (re & (POLLERR | POLLHUP | POLLNVAL))
			ev |= PED_EV_ERROR;
		loop->w[i].cb(loop, loop->w[i].fd, ev, loop->w[i].arg);
	}
	loop->dispatching = 0;
	compact(loop);
	if (!loop->stop)
		run_timers(loop);
	return PED_OK;
}

int ped_evloop_run(struct ped_evloop *loop)
{
	int r = PED_OK;
	loop->stop = 0;
	while (!loop->stop && (r = ped_evloop_run_once(loop, -1)) == PED_OK)
		;
	return r;
}

void ped_evloop_stop(struct ped_evloop *loop)
{
	loop->stop = 1;
}
