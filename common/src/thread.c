#include "ped/thread.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>

/* Workers hold it shared while they release their OpenSSL state; exit takes
 * it exclusively and keeps it, so no release is cut off halfway and none
 * starts once OpenSSL is being torn down (a worker still running at exit is
 * ended by the exit with its state whole and reachable). */
static pthread_rwlock_t exit_gate = PTHREAD_RWLOCK_INITIALIZER;
static pthread_once_t gate_once = PTHREAD_ONCE_INIT;

struct start {
	void *(*fn)(void *);
	void *arg;
};

static void close_gate(void)
{
	pthread_rwlock_wrlock(&exit_gate);
}

/* Registered after OpenSSL's own atexit cleanup (initialized here first),
 * so it runs before it. */
static void register_gate(void)
{
	(void)OPENSSL_init_crypto(0, NULL);
	(void)atexit(close_gate);
}

void ped_thread_release_openssl(void (*also)(void))
{
	pthread_rwlock_rdlock(&exit_gate);
	if (also)
		also();
	OPENSSL_thread_stop();
	pthread_rwlock_unlock(&exit_gate);
}

static void *run(void *p)
{
	struct start s = *(struct start *)p;

	free(p);
	(void)s.fn(s.arg);
	ped_thread_release_openssl(NULL);
	return NULL;
}

static int spawn(void *(*fn)(void *), void *arg, pthread_t *joinable)
{
	struct start *s;
	pthread_attr_t a;
	pthread_t th;
	int r = PED_E_HOST_MEMORY;

	(void)pthread_once(&gate_once, register_gate);
	if (!(s = malloc(sizeof(*s))))
		return r;
	*s = (struct start){fn, arg};
	if (pthread_attr_init(&a) != 0)
		goto out;
	if (pthread_attr_setdetachstate(&a, joinable ? PTHREAD_CREATE_JOINABLE : PTHREAD_CREATE_DETACHED) == 0 &&
	    pthread_create(&th, &a, run, s) == 0) {
		s = NULL;
		r = PED_OK;
		if (joinable)
			*joinable = th;
	}
	pthread_attr_destroy(&a);
out:
	free(s);
	return r;
}

int ped_thread_spawn(void *(*fn)(void *), void *arg)
{
	return spawn(fn, arg, NULL);
}

int ped_thread_spawn_joinable(void *(*fn)(void *), void *arg, pthread_t *th)
{
	return spawn(fn, arg, th);
}
