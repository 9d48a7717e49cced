/* The event loop every daemon runs: poll(2), monotonic timers, signals as
 * callbacks. Single-threaded; the loop sleeps in poll until the next fd event
 * or timer, so an idle daemon uses no CPU.
 *
 * Timers are embedded in the caller's structs (no allocation, nothing to free):
 * stop a timer before freeing the struct that holds it. Watchers and timers may
 * be added, changed and removed from inside any callback. */
#ifndef PED_EVLOOP_H
#define PED_EVLOOP_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

struct ped_evloop;

enum {
	PED_EV_READ = 1u << 0,
	PED_EV_WRITE = 1u << 1,
	PED_EV_ERROR = 1u << 2, /* POLLERR, POLLHUP or POLLNVAL: always reported */
};

typedef void (*ped_io_cb)(struct ped_evloop *loop, int fd, unsigned events, void *arg);
typedef void (*ped_signal_cb)(struct ped_evloop *loop, int signo, void *arg);

struct ped_timer;
typedef void (*ped_timer_cb)(struct ped_evloop *loop, struct ped_timer *t, void *arg);

struct ped_timer {
	ped_timer_cb cb;
	void *arg;
	uint64_t deadline_ms;
	uint64_t repeat_ms; /* 0: one-shot */
	int active;
	struct ped_timer *prev, *next;
};

struct ped_evloop *ped_evloop_new(void);
void ped_evloop_free(struct ped_evloop *loop);

/* Watch fd for events (PED_EV_READ | PED_EV_WRITE); one watcher per fd. */
int ped_evloop_add_fd(struct ped_evloop *loop, int fd, unsigned events, ped_io_cb cb, void *arg);
int ped_evloop_mod_fd(struct ped_evloop *loop, int fd, unsigned events);
void ped_evloop_del_fd(struct ped_evloop *loop, int fd);

void ped_timer_init(struct ped_timer *t, ped_timer_cb cb, void *arg);
/* (Re)starts a timer: first after ms, then every repeat_ms if non-zero. */
void ped_timer_start(struct ped_evloop *loop, struct ped_timer *t, uint64_t ms, uint64_t repeat_ms);
void ped_timer_stop(struct ped_evloop *loop, struct ped_timer *t);
/* For a timer that runs only when something is due: ped_deadline_min keeps
 * in *due (0: nothing yet) the earliest of it and at (ped_now_ms() time);
 * ped_timer_at starts t for due, at least 1 ms away so that it never fires
 * twice in one turn, or stops it when due is 0. */
void ped_deadline_min(uint64_t *due, uint64_t at);
void ped_timer_at(struct ped_evloop *loop, struct ped_timer *t, uint64_t due);
/* A timeout of want ms, cut to what is left until deadline (ped_now_ms()
 * time; 0: none), at least 1 ms: the writes of a stop share its budget. */
int ped_budget_ms(uint64_t deadline, int want);

/* Delivers signo as a callback in loop context (self-pipe). Only one loop per
 * process may handle signals. SIGPIPE is ignored once any loop exists. */
int ped_evloop_add_signal(struct ped_evloop *loop, int signo, ped_signal_cb cb, void *arg);

/* Runs until ped_evloop_stop(); 0 or a negative error if poll fails. */
int ped_evloop_run(struct ped_evloop *loop);
/* Runs one iteration, waiting at most timeout_ms (-1: until something happens). */
int ped_evloop_run_once(struct ped_evloop *loop, int timeout_ms);
void ped_evloop_stop(struct ped_evloop *loop);

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t ped_now_ms(void);

/* Condition variables that time out on CLOCK_MONOTONIC: pthread_cond_timedwait
 * on a default condition measures CLOCK_REALTIME, so a wall-clock jump (NTP
 * step, operator date change) made timeouts fire hours early or never.
 * ped_cond_init_monotonic() inits one; ped_cond_deadline() gives the absolute
 * time timeout_ms from now on the same clock, for pthread_cond_timedwait. */
int ped_cond_init_monotonic(pthread_cond_t *cv);
void ped_cond_deadline(struct timespec *until, int timeout_ms);

#endif
