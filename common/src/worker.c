/* Worker threads whose results the event loop takes: the job's pointer
 * travels through a pipe (an atomic write of one pointer), so done() runs
 * in the loop's thread and nothing is shared between the two but the job. */
#define _GNU_SOURCE /* pipe2() */
#include "ped/worker.h"

#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/thread.h"

#include <fcntl.h>
#include <unistd.h>

static void *work_thread(void *arg)
{
	struct ped_work *w = arg;
	w->run(w);
	/* The loop may be gone (a stop): then no one reads the pipe. */
	if (write(w->pool->pipe[1], &w, sizeof(w)) != (ssize_t)sizeof(w) && w->drop)
		w->drop(w);
	return NULL;
}

static void on_done(struct ped_evloop *loop, int fd, unsigned events, void *arg)
{
	struct ped_workers *ws = arg;
	struct ped_work *w = NULL;
	(void)loop;
	(void)events;
	if (read(fd, &w, sizeof(w)) != (ssize_t)sizeof(w) || !w)
		return;
	ws->busy--;
	w->done(w);
}

int ped_workers_init(struct ped_workers *ws, struct ped_evloop *loop)
{
	ws->loop = loop;
	ws->busy = 0;
	ws->pipe[0] = ws->pipe[1] = -1;
	if (pipe2(ws->pipe, O_CLOEXEC) != 0)
		return PED_E_IO;
	if (ped_evloop_add_fd(loop, ws->pipe[0], PED_EV_READ, on_done, ws) != PED_OK) {
		close(ws->pipe[0]);
		close(ws->pipe[1]);
		ws->pipe[0] = ws->pipe[1] = -1;
		return PED_E_HOST_MEMORY;
	}
	return PED_OK;
}

int ped_work_start(struct ped_workers *ws, struct ped_work *w)
{
	int r;
	w->pool = ws;
	if ((r = ped_thread_spawn(work_thread, w)) == PED_OK)
		ws->busy++;
	return r;
}

void ped_workers_free(struct ped_workers *ws)
{
	struct ped_work *w;
	if (ws->pipe[0] < 0)
		return;
	ped_evloop_del_fd(ws->loop, ws->pipe[0]);
	(void)fcntl(ws->pipe[0], F_SETFL, O_NONBLOCK);
	while (read(ws->pipe[0], &w, sizeof(w)) == (ssize_t)sizeof(w)) {
		ws->busy--;
		if (w->drop)
			w->drop(w);
	}
	close(ws->pipe[0]);
	/* A thread still running writes here once it is done: its end stays
	 * open until exit, so that write never reaches a file opened since. */
	if (ws->busy == 0)
		close(ws->pipe[1]);
	ws->pipe[0] = ws->pipe[1] = -1;
}
