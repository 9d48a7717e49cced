/* The relay leg (ped/leg.h): frames dispatched through the handler table,
 * unknown types and the stream's end, table swaps and moves, the ping and
 * idle rules; and the worker convention the daemons share (ped/worker.h). */
#include "unit.h"

#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/leg.h"
#include "ped/net.h"
#include "ped/worker.h"

#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct {
	uint8_t types[16];
	size_t lens[16];
	int n, unknown, gone, gone_err;
	int close_on; /* a type whose handler closes the leg */
	const struct ped_leg_dispatch *swap_to;
} seen;

static void record(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	(void)p;
	if (seen.n < 16) {
		seen.types[seen.n] = type;
		seen.lens[seen.n++] = len;
	}
	if (type == seen.close_on)
		ped_leg_close(l);
	else if (seen.swap_to)
		ped_leg_set_dispatch(l, seen.swap_to);
}

static void record_unknown(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	seen.unknown++;
	record(l, type, p, len);
}

static void record_gone(struct ped_leg *l, int err)
{
	seen.gone++;
	seen.gone_err = err;
	ped_leg_close(l);
}

static const struct ped_leg_dispatch table = {
	.on = {[PED_RELAY_HELLO] = record, [PED_RELAY_PING] = record, [PED_LINK_KAS] = record},
	.unknown = record_unknown,
	.gone = record_gone,
};

/* Only BYE is known: everything else is unknown. */
static const struct ped_leg_dispatch bye_only = {
	.on = {[PED_RELAY_BYE] = record},
	.unknown = record_unknown,
	.gone = record_gone,
};

static struct ped_evloop *loop;
static int peer; /* the other end of the leg's socket pair */

static void open_pair(struct ped_leg *l, const struct ped_leg_dispatch *d)
{
	int sv[2];
	memset(&seen, 0, sizeof(seen));
	seen.close_on = -1;
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ped_set_nonblock(sv[0], 1);
	loop = ped_evloop_new();
	CU_ASSERT_EQUAL(ped_leg_open(l, sv[0], "the test", loop, d, NULL), PED_OK);
	peer = sv[1];
}

static void close_pair(struct ped_leg *l)
{
	ped_leg_close(l);
	ped_evloop_free(loop);
	close(peer);
}

static void send_frame(uint8_t type, size_t len)
{
	uint8_t body[64];
	memset(body, 0x5a, sizeof(body));
	CU_ASSERT_EQUAL(ped_frame_send(peer, type, body, len, 1000), PED_OK);
}

static void frames_go_to_their_handlers(void)
{
	struct ped_leg l;
	open_pair(&l, &table);
	send_frame(PED_RELAY_HELLO, 10);
	send_frame(PED_LINK_KAS, 33);
	send_frame(0x99, 1);
	send_frame(PED_RELAY_PING, 0);
	uint64_t before = ped_now_ms();
	CU_ASSERT_EQUAL(ped_evloop_run_once(loop, 1000), PED_OK); /* the loop reads through the table */
	CU_ASSERT_EQUAL(seen.n, 4);
	CU_ASSERT_EQUAL(seen.types[0], PED_RELAY_HELLO);
	CU_ASSERT_EQUAL(seen.lens[0], 10);
	CU_ASSERT_EQUAL(seen.types[1], PED_LINK_KAS);
	CU_ASSERT_EQUAL(seen.lens[1], 33);
	CU_ASSERT_EQUAL(seen.types[2], 0x99);
	CU_ASSERT_EQUAL(seen.types[3], PED_RELAY_PING);
	CU_ASSERT_EQUAL(seen.unknown, 1);
	CU_ASSERT_EQUAL(seen.gone, 0);
	CU_ASSERT(l.last_rx >= before);
	close_pair(&l);
}

static void a_handler_that_closes_stops_the_pump(void)
{
	struct ped_leg l;
	open_pair(&l, &table);
	seen.close_on = PED_LINK_KAS;
	send_frame(PED_RELAY_HELLO, 1);
	send_frame(PED_LINK_KAS, 1);
	send_frame(PED_RELAY_PING, 1);
	CU_ASSERT_EQUAL(ped_leg_pump(&l), PED_OK);
	CU_ASSERT_EQUAL(seen.n, 2); /* the PING after it is never read */
	CU_ASSERT_FALSE(ped_leg_is_open(&l));
	close_pair(&l);
}

static void a_new_table_takes_the_next_frame(void)
{
	struct ped_leg l;
	open_pair(&l, &table);
	seen.swap_to = &bye_only;
	send_frame(PED_RELAY_HELLO, 1);
	send_frame(PED_RELAY_HELLO, 1);
	CU_ASSERT_EQUAL(ped_leg_pump(&l), PED_OK);
	CU_ASSERT_EQUAL(seen.n, 2);
	CU_ASSERT_EQUAL(seen.unknown, 1); /* the second HELLO, under the greeting-less table */
	CU_ASSERT_PTR_EQUAL(l.d, &bye_only);
	close_pair(&l);
}

static void the_end_of_the_stream_is_reported_once(void)
{
	struct ped_leg l;
	open_pair(&l, &table);
	send_frame(PED_RELAY_HELLO, 1);
	shutdown(peer, SHUT_WR);
	CU_ASSERT_EQUAL(ped_evloop_run_once(loop, 1000), PED_OK);
	CU_ASSERT_EQUAL(seen.n, 1);
	CU_ASSERT_EQUAL(seen.gone, 1);
	CU_ASSERT_EQUAL(seen.gone_err, PED_E_CLOSED);
	close_pair(&l);

	/* a header that is no frame: an error, not a wait */
	open_pair(&l, &table);
	CU_ASSERT_EQUAL(write(peer, "GARBAGE!", 8), 8);
	ped_leg_read(&l);
	CU_ASSERT_EQUAL(seen.gone, 1);
	CU_ASSERT(seen.gone_err < 0 && seen.gone_err != PED_E_CLOSED);
	close_pair(&l);
}

static struct ped_leg moved;

/* As pedclient hands a parked PED-initiated link to an HSM's session. */
static void move_away(struct ped_leg *l, uint8_t type, const uint8_t *p, size_t len)
{
	record(l, type, p, len);
	ped_leg_move(&moved, l, &table, &moved);
}

static const struct ped_leg_dispatch mover = {.on = {[PED_RELAY_HELLO] = move_away}, .gone = record_gone};

static void a_moved_leg_keeps_what_it_read(void)
{
	struct ped_leg l;
	open_pair(&l, &mover);
	ped_leg_init(&moved);
	send_frame(PED_RELAY_HELLO, 3);
	send_frame(PED_RELAY_PING, 4); /* read with the HELLO, into the framer's buffer */
	CU_ASSERT_EQUAL(ped_leg_pump(&l), PED_OK);
	CU_ASSERT_EQUAL(seen.n, 1);
	CU_ASSERT_FALSE(ped_leg_is_open(&l));
	CU_ASSERT(ped_leg_is_open(&moved));
	CU_ASSERT_PTR_EQUAL(moved.ctx, &moved);
	CU_ASSERT_STRING_EQUAL(moved.peer, "the test");
	CU_ASSERT_EQUAL(ped_leg_pump(&moved), PED_OK);
	CU_ASSERT_EQUAL(seen.n, 2);
	CU_ASSERT_EQUAL(seen.types[1], PED_RELAY_PING);
	CU_ASSERT_EQUAL(seen.lens[1], 4);
	send_frame(PED_LINK_KAS, 5);
	CU_ASSERT_EQUAL(ped_evloop_run_once(loop, 1000), PED_OK); /* watched where it now is */
	CU_ASSERT_EQUAL(seen.n, 3);
	CU_ASSERT_EQUAL(seen.types[2], PED_LINK_KAS);
	close_pair(&moved);
}

/* What the peer got: the type of the next frame, or -1 if none within ms. */
static int peer_frame(int ms)
{
	struct ped_framer f;
	uint8_t type, *p = NULL;
	size_t len = 0;
	ped_framer_init(&f, peer, PED_FRAME_MAX_PAYLOAD);
	int r = ped_framer_recv(&f, &type, &p, &len, ms);
	if (p)
		OPENSSL_free(p);
	ped_framer_free(&f);
	return r == PED_OK ? type : -1;
}

static void ping_and_idle_deadlines(void)
{
	struct ped_leg l;
	const struct ped_leg_policy pol = {.ping_interval_ms = 1000, .ping_timeout_ms = 2000, .idle_ms = 5000,
					   .write_timeout_ms = 100};
	open_pair(&l, &table);
	uint64_t t0 = 1000000, due = 0;
	ped_leg_session_start(&l, t0);
	ped_leg_deadline(&l, &pol, &due);
	CU_ASSERT_EQUAL(due, t0 + 1000); /* the first ping */
	CU_ASSERT_EQUAL(ped_leg_keepalive(&l, &pol, t0 + 999), PED_LEG_ALIVE);
	CU_ASSERT_EQUAL(peer_frame(0), -1); /* not yet */
	CU_ASSERT_EQUAL(ped_leg_keepalive(&l, &pol, t0 + 1000), PED_LEG_ALIVE);
	CU_ASSERT_EQUAL(peer_frame(1000), PED_RELAY_PING);
	CU_ASSERT_EQUAL(l.last_ping, t0 + 1000);
	due = 0;
	ped_leg_deadline(&l, &pol, &due);
	CU_ASSERT_EQUAL(due, t0 + 2000); /* the next ping */
	/* no whole frame for interval + timeout: dead, just after, not at */
	l.last_ping = t0 + 3000;
	CU_ASSERT_EQUAL(ped_leg_keepalive(&l, &pol, t0 + 3000), PED_LEG_ALIVE);
	CU_ASSERT_EQUAL(ped_leg_keepalive(&l, &pol, t0 + 3001), PED_LEG_PING_TIMEOUT);
	/* frames keep coming, channel frames do not: idle */
	l.last_rx = t0 + 5000;
	l.last_ping = t0 + 5001;
	CU_ASSERT_EQUAL(ped_leg_keepalive(&l, &pol, t0 + 5001), PED_LEG_IDLE_TIMEOUT);
	due = 0;
	ped_leg_deadline(&l, &pol, &due);
	CU_ASSERT_EQUAL(due, t0 + 5001);
	/* idle 0 (-ignoreidletimeout): never idle */
	struct ped_leg_policy never = pol;
	never.idle_ms = 0;
	CU_ASSERT_EQUAL(ped_leg_keepalive(&l, &never, t0 + 5001), PED_LEG_ALIVE);
	due = 0;
	ped_leg_deadline(&l, &never, &due);
	CU_ASSERT_EQUAL(due, t0 + 6001); /* the next ping, not the idle timeout */
	/* a ping that cannot be written */
	signal(SIGPIPE, SIG_IGN);
	close(peer);
	peer = -1;
	CU_ASSERT_EQUAL(ped_leg_keepalive(&l, &never, t0 + 6001), PED_LEG_PING_FAILED);
	ped_leg_close(&l);
	ped_evloop_free(loop);
}

static void keepalive_frames_in_a_session(void)
{
	struct ped_leg l;
	struct ped_relay_msg m;
	uint8_t body[PED_RELAY_MSG_MAX], junk[16];
	size_t len;
	open_pair(&l, &table);
	memset(&m, 0, sizeof(m));
	CU_ASSERT_EQUAL(ped_relay_encode(&m, body, sizeof(body), &len), PED_OK);
	CU_ASSERT_EQUAL(ped_leg_keepalive_frame(&l, PED_RELAY_PING, body, len, 100), PED_OK);
	CU_ASSERT_EQUAL(peer_frame(1000), PED_RELAY_PONG);
	CU_ASSERT_EQUAL(ped_leg_keepalive_frame(&l, PED_RELAY_PONG, body, len, 100), PED_OK);
	CU_ASSERT_EQUAL(peer_frame(0), -1); /* a PONG is not answered */
	/* a RECORD whose type byte was damaged into PONG: no relay message */
	memset(junk, 0x11, sizeof(junk));
	CU_ASSERT_EQUAL(ped_leg_keepalive_frame(&l, PED_RELAY_PONG, junk, sizeof(junk), 100), PED_E_FRAME_TYPE);
	CU_ASSERT_EQUAL(ped_leg_keepalive_frame(&l, PED_RELAY_PING, junk, sizeof(junk), 100), PED_E_FRAME_TYPE);
	CU_ASSERT_EQUAL(peer_frame(0), -1);
	close_pair(&l);
}

/* ---- workers --------------------------------------------------------------- */

struct job {
	struct ped_work work;
	pthread_t ran_on, done_on;
	int value;
};

static int jobs_done;

static void job_run(struct ped_work *w)
{
	struct job *j = (struct job *)w;
	j->ran_on = pthread_self();
	j->value *= 2;
}

static void job_done(struct ped_work *w)
{
	struct job *j = (struct job *)w;
	j->done_on = pthread_self();
	if (++jobs_done == 3)
		ped_evloop_stop(j->work.pool->loop);
}

static void worker_results_come_back_to_the_loop(void)
{
	struct ped_workers ws;
	struct job jobs[3];
	struct ped_evloop *l = ped_evloop_new();
	jobs_done = 0;
	CU_ASSERT_EQUAL_FATAL(ped_workers_init(&ws, l), PED_OK);
	for (int i = 0; i < 3; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].work = (struct ped_work){.run = job_run, .done = job_done};
		jobs[i].value = i + 1;
		CU_ASSERT_EQUAL(ped_work_start(&ws, &jobs[i].work), PED_OK);
	}
	CU_ASSERT_EQUAL(ws.busy, 3);
	CU_ASSERT_EQUAL(ped_evloop_run(l), PED_OK);
	CU_ASSERT_EQUAL(ws.busy, 0);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(jobs[i].value, 2 * (i + 1));
		CU_ASSERT_FALSE(pthread_equal(jobs[i].ran_on, pthread_self()));
		CU_ASSERT(pthread_equal(jobs[i].done_on, pthread_self()));
	}
	ped_workers_free(&ws);
	ped_evloop_free(l);
}

static int dropped;

static void job_drop(struct ped_work *w)
{
	(void)w;
	dropped++;
}

/* A stop while a job's result waits in the pipe: the job is dropped, not lost. */
static void a_result_never_taken_is_dropped(void)
{
	struct ped_workers ws;
	struct job j;
	struct ped_evloop *l = ped_evloop_new();
	dropped = jobs_done = 0;
	CU_ASSERT_EQUAL_FATAL(ped_workers_init(&ws, l), PED_OK);
	memset(&j, 0, sizeof(j));
	j.work = (struct ped_work){.run = job_run, .done = job_done, .drop = job_drop};
	CU_ASSERT_EQUAL(ped_work_start(&ws, &j.work), PED_OK);
	struct pollfd p = {ws.pipe[0], POLLIN, 0};
	CU_ASSERT_EQUAL(poll(&p, 1, 5000), 1); /* done, not taken */
	ped_workers_free(&ws);
	CU_ASSERT_EQUAL(dropped, 1);
	CU_ASSERT_EQUAL(jobs_done, 0);
	CU_ASSERT_EQUAL(ws.busy, 0);
	ped_evloop_free(l);
}

UNIT_SUITE(leg, NULL, NULL, UNIT_TEST(frames_go_to_their_handlers), UNIT_TEST(a_handler_that_closes_stops_the_pump),
	   UNIT_TEST(a_new_table_takes_the_next_frame), UNIT_TEST(the_end_of_the_stream_is_reported_once),
	   UNIT_TEST(a_moved_leg_keeps_what_it_read), UNIT_TEST(ping_and_idle_deadlines),
	   UNIT_TEST(keepalive_frames_in_a_session), UNIT_TEST(worker_results_come_back_to_the_loop),
	   UNIT_TEST(a_result_never_taken_is_dropped))
