/* Detached worker threads (a handshake, a dial, a TLS proxy, an operator's
 * session) that leave nothing half-freed when the process exits: a thread
 * ends by releasing OpenSSL's per-thread state (its DRBGs) itself, and exit
 * waits for any such release in progress. Without that, a daemon stopped
 * just as a worker finished exited in the middle of OpenSSL's thread
 * destructor and valgrind saw the worker's DRBG lost. */
#ifndef PED_THREAD_H
#define PED_THREAD_H

#include <pthread.h>

/* Runs fn(arg) on a new detached thread. PED_E_HOST_MEMORY if it cannot
 * start (fn does not run; arg is still the caller's). */
int ped_thread_spawn(void *(*fn)(void *), void *arg);
/* The same on a thread the caller joins (*th): a shared object that must
 * not be unloaded under its own threads (the PKCS#11 module) waits for
 * them. */
int ped_thread_spawn_joinable(void *(*fn)(void *), void *arg, pthread_t *th);
/* For a spawned thread that releases its OpenSSL state before it ends (to
 * give memory back at once): also() (may be NULL; it frees what the thread
 * kept of OpenSSL's), then the thread's OpenSSL state, under the same gate
 * as the release at the thread's end, so neither runs while exit tears
 * OpenSSL down. */
void ped_thread_release_openssl(void (*also)(void));

#endif
