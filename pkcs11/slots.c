/* Chapter 13's slot numbering, from hsm-sim's slot list.
 *
 * hsm-sim lists each HSM's admin partition, then the partition slots it
 * has room for (p11w_slot). The application sees, HSM by HSM: the
 * application partitions in order, then the admin partition ("the HSM
 * administrative slot always appears immediately after the application
 * partition"), numbered from OneBaseSlotId. An HSM without any partition
 * keeps a number for one ("a space is reserved for it"), so its admin slot
 * does not move when the first partition is made. ShowEmptySlots shows
 * (and numbers) every partition slot with no partition, without a token;
 * ShowAdminTokens no hides the admin slots, and the backup HSM's, and
 * gives them no number. ShowUserSlots=N(serial) puts that partition at
 * slot N whatever else there is, and hides its HSM's other partitions
 * unless they are redirected too; the other numbers go around the ones it
 * takes. */
#include "p11.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static const struct p11_user_slot *redirected(const struct p11_config *c, const char *serial)
{
	if (!serial[0])
		return NULL;
	for (size_t i = 0; i < c->nuser_slots; i++)
		if (!strcmp(c->user_slots[i].serial, serial))
			return &c->user_slots[i];
	return NULL;
}

static int taken(const struct p11_config *c, CK_SLOT_ID id)
{
	for (size_t i = 0; i < c->nuser_slots; i++)
		if (c->user_slots[i].slot == id)
			return 1;
	return 0;
}

static CK_SLOT_ID next_free(const struct p11_config *c, CK_SLOT_ID *next)
{
	while (taken(c, *next))
		(*next)++;
	return (*next)++;
}

static int by_id(const void *a, const void *b)
{
	const struct p11_slot *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void add(struct p11_slot_table *t, const struct p11w_slot *s, CK_SLOT_ID id)
{
	struct p11_slot *e = &t->s[t->n++];
	e->id = id;
	e->hsm_slot = s->slot;
	e->kind = s->kind;
	e->token_present = s->token_present;
	e->hsm_index = s->hsm_index;
	e->ep = (uint8_t)(s->hsm_index >> 16);
	memcpy(e->serial, s->serial, sizeof(e->serial));
}

CK_RV p11_slots_number(const struct p11_config *c, const struct p11w_slot *in, uint32_t n,
		       struct p11_slot_table *out)
{
	CK_SLOT_ID next = c->one_base ? 1 : 0;
	uint32_t i = 0, j;

	memset(out, 0, sizeof(*out));
	if (n && (out->s = OPENSSL_zalloc(n * sizeof(*out->s))) == NULL)
		return CKR_HOST_MEMORY;
	while (i < n) {
		/* one HSM: entries i .. j-1 */
		uint32_t hsm = in[i].hsm_index;
		int any_redirected = 0, any_present = 0, reserved = 0;
		for (j = i; j < n && in[j].hsm_index == hsm; j++) {
			if (in[j].kind != P11W_SLOT_PARTITION)
				continue;
			any_present |= in[j].token_present;
			if (in[j].token_present && redirected(c, in[j].serial))
				any_redirected = 1;
		}
		for (uint32_t k = i; k < j; k++) {
			const struct p11w_slot *s = &in[k];
			const struct p11_user_slot *u;
			if (s->kind != P11W_SLOT_PARTITION)
				continue;
			if (s->token_present && (u = redirected(c, s->serial)) != NULL) {
				/* two partitions asked for one number: the first has it */
				int dup = 0;
				for (size_t e = 0; e < out->n; e++)
					dup |= out->s[e].id == u->slot;
				if (!dup)
					add(out, s, u->slot);
			} else if (any_redirected) {
				continue;
			} else if (s->token_present || c->show_empty) {
				add(out, s, next_free(c, &next));
			} else if (!any_present && !reserved) {
				(void)next_free(c, &next);
				reserved = 1;
			}
		}
		for (uint32_t k = i; k < j; k++)
			if (in[k].kind != P11W_SLOT_PARTITION && c->show_admin)
				add(out, &in[k], next_free(c, &next));
		i = j;
	}
	if (out->n)
		qsort(out->s, out->n, sizeof(*out->s), by_id);
	return CKR_OK;
}

const struct p11_slot *p11_slots_find(const struct p11_slot_table *t, CK_SLOT_ID id)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->s[i].id == id)
			return &t->s[i];
	return NULL;
}

const struct p11_slot *p11_slots_find_hsm(const struct p11_slot_table *t, uint8_t ep, CK_SLOT_ID hsm_slot)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->s[i].ep == ep && t->s[i].hsm_slot == hsm_slot)
			return &t->s[i];
	return NULL;
}

void p11_slots_free(struct p11_slot_table *t)
{
	OPENSSL_free(t->s);
	memset(t, 0, sizeof(*t));
}
