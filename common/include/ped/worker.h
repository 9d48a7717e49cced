/* Blocking work a daemon cannot do on its event loop (dialing an appliance
 * twenty times, a TLS handshake with a peer that may never answer): one
 * convention for every daemon. The work runs on a detached thread
 * (ped_thread_spawn); its result comes back through a pipe to the loop,
 * where done() runs in the loop's thread like any other callback. The job
 * is the caller's struct with a struct ped_work in it, and is the caller's
 * again in done() (free it there).
 *
 *   struct dial_job { struct ped_work work; ... };
 *   j->work = (struct ped_work){.run = dial, .done = on_dialed};
 *   ped_work_start(&workers, &j->work);
 *
 * run() sees only its job: the loop's state is done()'s. */
#ifndef PED_WORKER_H
#define PED_WORKER_H

struct ped_evloop;
struct ped_workers;

struct ped_work {
	void (*run)(struct ped_work *w);  /* on the worker thread */
	void (*done)(struct ped_work *w); /* then in the loop's thread */
	/* Instead of done() when the loop is gone (the daemon stopped while
	 * the job ran): frees the job and what it holds; any thread. */
	void (*drop)(struct ped_work *w);
	struct ped_workers *pool;
};

struct ped_workers {
	struct ped_evloop *loop;
	int pipe[2];
	int busy; /* started and not yet done */
};

/* PED_E_IO if the pipe cannot be made. */
int ped_workers_init(struct ped_workers *ws, struct ped_evloop *loop);
/* Starts w; PED_E_HOST_MEMORY if no thread could (w is still the caller's). */
int ped_work_start(struct ped_workers *ws, struct ped_work *w);
/* Jobs done but not yet taken are dropped; jobs still running drop
 * themselves when they end (their done() never runs), and the pipe's
 * writing end stays open until exit for them. */
void ped_workers_free(struct ped_workers *ws);

#endif
