/* Locking as C_Initialize's argument says (PKCS#11 2.40 section 5.4):
 * the OS's (pthreads) when the application allows them or gives no
 * callbacks, the application's callbacks when it gives them without
 * CKF_OS_LOCKING_OK. The module holds its locks for bookkeeping only,
 * never across a call to hsm-sim. */
#include "p11.h"

#include <pthread.h>
#include <stdlib.h>

CK_RV p11_locking_from_args(const CK_C_INITIALIZE_ARGS *a, struct p11_locking *out)
{
	int given;

	out->create = NULL;
	out->destroy = NULL;
	out->lock = NULL;
	out->unlock = NULL;
	if (!a)
		return CKR_OK;
	if (a->pReserved)
		return CKR_ARGUMENTS_BAD;
	given = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) + (a->LockMutex != NULL) +
		(a->UnlockMutex != NULL);
	if (given != 0 && given != 4)
		return CKR_ARGUMENTS_BAD;
	/* callbacks and OS locking both allowed: the OS's, which cannot fail */
	if (given == 4 && !(a->flags & CKF_OS_LOCKING_OK)) {
		out->create = a->CreateMutex;
		out->destroy = a->DestroyMutex;
		out->lock = a->LockMutex;
		out->unlock = a->UnlockMutex;
	}
	return CKR_OK;
}

CK_RV p11_mutex_new(const struct p11_locking *l, void **m)
{
	pthread_mutex_t *pm;

	*m = NULL;
	if (l->create)
		return l->create(m) == CKR_OK && *m ? CKR_OK : CKR_CANT_LOCK;
	if ((pm = malloc(sizeof(*pm))) == NULL)
		return CKR_HOST_MEMORY;
	if (pthread_mutex_init(pm, NULL) != 0) {
		free(pm);
		return CKR_CANT_LOCK;
	}
	*m = pm;
	return CKR_OK;
}

void p11_mutex_free(const struct p11_locking *l, void *m)
{
	if (!m)
		return;
	if (l->destroy) {
		(void)l->destroy(m);
		return;
	}
	pthread_mutex_destroy(m);
	free(m);
}

void p11_mutex_lock(const struct p11_locking *l, void *m)
{
	if (l->lock)
		(void)l->lock(m);
	else
		pthread_mutex_lock(m);
}

void p11_mutex_unlock(const struct p11_locking *l, void *m)
{
	if (l->unlock)
		(void)l->unlock(m);
	else
		pthread_mutex_unlock(m);
}
