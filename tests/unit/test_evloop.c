#include "unit.h"

#include "ped/error.h"
#include "ped/evloop.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

static int order[8], norder;

static void record(struct ped_evloop *loop, struct ped_timer *t, void *arg)
{
	(void)t;
	order[norder++] = (int)(long)arg;
	if (norder == 3)
		ped_evloop_stop(loop);
}

static void timers_fire_in_deadline_order(void)
{
	struct ped_evloop *loop = ped_evloop_new();
	struct ped_timer a, b, c;
	norder = 0;
	ped_timer_init(&a, record, (void *)1L);
	ped_timer_init(&b, record, (void *)2L);
	ped_timer_init(&c, record, (void *)3L);
	/* before the timers start: read after, a clock tick in between made
	 * "at least 30 ms" fail at 29 (seen once under ASan) */
	uint64_t t0 = ped_now_ms();
	ped_timer_start(loop, &c, 30, 0);
	ped_timer_start(loop, &a, 10, 0);
	ped_timer_start(loop, &b, 20, 0);
	CU_ASSERT_EQUAL(ped_evloop_run(loop), PED_OK);
	CU_ASSERT(ped_now_ms() - t0 >= 30);
	CU_ASSERT_EQUAL(norder, 3);
	CU_ASSERT_EQUAL(order[0], 1);
	CU_ASSERT_EQUAL(order[1], 2);
	CU_ASSERT_EQUAL(order[2], 3);
	CU_ASSERT_FALSE(a.active || b.active || c.active);
	ped_evloop_free(loop);
}

static struct ped_timer *victim;
static int fired;

static void cancel_other(struct ped_evloop *loop, struct ped_timer *t, void *arg)
{
	(void)arg;
	fired++;
	ped_timer_stop(loop, victim);
	ped_timer_stop(loop, t); /* a repeating timer stops itself */
}

static void count_fire(struct ped_evloop *loop, struct ped_timer *t, void *arg)
{
	(void)loop;
	(void)t;
	(void)arg;
	fired += 100;
}

static void finish(struct ped_evloop *loop, struct ped_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	ped_evloop_stop(loop);
}

static void timers_cancel_from_callbacks(void)
{
	struct ped_evloop *loop = ped_evloop_new();
	struct ped_timer rep, v, end;
	fired = 0;
	victim = &v;
	ped_timer_init(&rep, cancel_other, NULL);
	ped_timer_init(&v, count_fire, NULL);
	ped_timer_init(&end, finish, NULL);
	ped_timer_start(loop, &rep, 5, 5);
	ped_timer_start(loop, &v, 15, 0);
	ped_timer_start(loop, &end, 40, 0);
	ped_evloop_run(loop);
	CU_ASSERT_EQUAL(fired, 1); /* repeat fired once and stopped; victim never fired */
	ped_evloop_free(loop);
}

/* A timer set for a time already past, from its own callback: each turn
 * fires it once (it never spins within one turn). */
static int rearm_count;

static void rearm_in_the_past(struct ped_evloop *loop, struct ped_timer *t, void *arg)
{
	(void)arg;
	if (++rearm_count < 3)
		ped_timer_at(loop, t, ped_now_ms() - 5);
}

static void deadlines_drive_timers(void)
{
	struct ped_evloop *loop = ped_evloop_new();
	struct ped_timer t;
	uint64_t due = 0, now = ped_now_ms();
	ped_deadline_min(&due, now + 30);
	ped_deadline_min(&due, now + 10);
	ped_deadline_min(&due, now + 20);
	CU_ASSERT_EQUAL(due, now + 10);
	ped_timer_init(&t, rearm_in_the_past, NULL);
	ped_timer_at(loop, &t, 0);
	CU_ASSERT_FALSE(t.active); /* nothing due: no timer */
	ped_timer_at(loop, &t, due);
	CU_ASSERT_TRUE(t.active);
	ped_timer_at(loop, &t, 0);
	CU_ASSERT_FALSE(t.active);
	rearm_count = 0;
	ped_timer_at(loop, &t, now - 100);
	CU_ASSERT_TRUE(t.active);
	for (int turn = 1; turn <= 3; turn++) {
		CU_ASSERT_EQUAL(ped_evloop_run_once(loop, 100), PED_OK);
		CU_ASSERT_EQUAL(rearm_count, turn);
	}
	CU_ASSERT_FALSE(t.active);
	ped_evloop_free(loop);
	/* a shared budget: no deadline, the full timeout; else what is left, never 0 */
	now = ped_now_ms();
	CU_ASSERT_EQUAL(ped_budget_ms(0, 200), 200);
	CU_ASSERT(ped_budget_ms(now + 50, 200) <= 50 && ped_budget_ms(now + 50, 200) >= 1);
	CU_ASSERT_EQUAL(ped_budget_ms(now + 100000, 200), 200);
	CU_ASSERT_EQUAL(ped_budget_ms(now - 5, 200), 1);
}

static char got[16];

static void on_readable(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	(void)arg;
	CU_ASSERT(events & PED_EV_READ);
	CU_ASSERT_EQUAL(read(fd, got, sizeof(got)), 5);
	ped_evloop_del_fd(loop, fd); /* removing itself inside the callback */
	ped_evloop_stop(loop);
}

static void fd_readiness_is_delivered(void)
{
	struct ped_evloop *loop = ped_evloop_new();
	int sv[2];
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CU_ASSERT_EQUAL(ped_evloop_add_fd(loop, sv[0], PED_EV_READ, on_readable, NULL), PED_OK);
	CU_ASSERT_EQUAL(ped_evloop_add_fd(loop, sv[0], PED_EV_READ, on_readable, NULL), PED_E_INVALID);
	CU_ASSERT_EQUAL(write(sv[1], "hello", 5), 5);
	CU_ASSERT_EQUAL(ped_evloop_run(loop), PED_OK);
	CU_ASSERT_NSTRING_EQUAL(got, "hello", 5);
	CU_ASSERT_EQUAL(ped_evloop_mod_fd(loop, sv[0], PED_EV_WRITE), PED_E_NOT_FOUND);
	close(sv[0]);
	close(sv[1]);
	ped_evloop_free(loop);
}

static int got_signal;

static void on_sig(struct ped_evloop *loop, int signo, void *arg)
{
	(void)arg;
	got_signal = signo;
	ped_evloop_stop(loop);
}

static void signals_arrive_as_callbacks(void)
{
	struct ped_evloop *loop = ped_evloop_new();
	got_signal = 0;
	CU_ASSERT_EQUAL(ped_evloop_add_signal(loop, SIGUSR1, on_sig, NULL), PED_OK);
	raise(SIGUSR1);
	CU_ASSERT_EQUAL(ped_evloop_run(loop), PED_OK);
	CU_ASSERT_EQUAL(got_signal, SIGUSR1);
	ped_evloop_free(loop);
}

static void idle_loop_sleeps_until_timeout(void)
{
	struct ped_evloop *loop = ped_evloop_new();
	uint64_t t0 = ped_now_ms();
	CU_ASSERT_EQUAL(ped_evloop_run_once(loop, 50), PED_OK);
	CU_ASSERT(ped_now_ms() - t0 >= 49);
	ped_evloop_free(loop);
}

UNIT_SUITE(evloop, NULL, NULL, UNIT_TEST(timers_fire_in_deadline_order),
	   UNIT_TEST(timers_cancel_from_callbacks), UNIT_TEST(fd_readiness_is_delivered),
	   UNIT_TEST(signals_arrive_as_callbacks), UNIT_TEST(idle_loop_sleeps_until_timeout),
	   UNIT_TEST(deadlines_drive_timers))
