/* Counting presented splits toward M, each split once. */
#include "ikey/ikey.h"

#include "ped/error.h"

#include <string.h>

void ikey_quorum_init(struct ikey_quorum *q)
{
	memset(q, 0, sizeof(*q));
}

int ikey_quorum_add(struct ikey_quorum *q, const struct ikey_secret *s)
{
	if (s->type == IKEY_BLANK || s->index < 1 || s->index > IKEY_MAX_SPLITS)
		return PED_E_INVALID;
	if (!q->started) {
		q->started = 1;
		q->type = s->type;
		memcpy(q->keyset_id, s->keyset_id, sizeof(q->keyset_id));
		q->m = s->m;
		q->n = s->n;
	} else if (s->type != q->type || s->m != q->m || s->n != q->n ||
		   memcmp(s->keyset_id, q->keyset_id, sizeof(q->keyset_id)) != 0) {
		return PED_E_INVALID;
	}
	/* A duplicate key carries the same split index: it cannot count again. */
	if (q->seen & (1u << s->index))
		return PED_E_SHARE_DUPLICATE;
	q->seen |= 1u << s->index;
	q->count++;
	return PED_OK;
}

int ikey_quorum_complete(const struct ikey_quorum *q)
{
	return q->started && q->count >= q->m;
}
