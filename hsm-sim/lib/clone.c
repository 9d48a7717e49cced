/* Objects moving between partitions of one cloning domain: the one path
 * that backup, restore and partition clone take (hsm.h, hsm_clone_objects). */
#include "hsm/hsm.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <string.h>

static int same_object(const struct hsm_object *a, const struct hsm_object *b)
{
	return a->len == b->len && !strcmp(a->label, b->label) && CRYPTO_memcmp(a->value, b->value, a->len) == 0;
}

static struct hsm_object *by_ouid(struct hsm_partition *p, uint64_t ouid)
{
	for (uint32_t i = 0; i < p->nobjects; i++)
		if (p->objects[i].ouid == ouid)
			return &p->objects[i];
	return NULL;
}

static uint64_t next_handle(const struct hsm_partition *p)
{
	uint64_t h = 1;
	for (uint32_t i = 0; i < p->nobjects; i++)
		if (p->objects[i].handle >= h)
			h = p->objects[i].handle + 1;
	return h;
}

static int selected(const struct hsm_object *o, const uint64_t *handles, size_t nhandles)
{
	if (!handles)
		return 1;
	for (size_t i = 0; i < nhandles; i++)
		if (handles[i] == o->handle)
			return 1;
	return 0;
}

const struct hsm_object *hsm_object_by_handle(const struct hsm_partition *p, uint64_t handle)
{
	for (uint32_t i = 0; i < p->nobjects; i++)
		if (p->objects[i].handle == handle)
			return &p->objects[i];
	return NULL;
}

uint32_t hsm_clone_room(struct hsm_partition *dst, const struct hsm_partition *src, enum hsm_clone_mode mode,
			const uint64_t *handles, size_t nhandles)
{
	uint32_t need = 0;
	for (uint32_t i = 0; i < src->nobjects; i++)
		if (selected(&src->objects[i], handles, nhandles) &&
		    (mode == HSM_CLONE_ALL || !by_ouid(dst, src->objects[i].ouid)))
			need++;
	return need;
}

int hsm_clone_objects(struct hsm_partition *dst, const struct hsm_partition *src, enum hsm_clone_mode mode,
		      const uint64_t *handles, size_t nhandles,
		      void (*cloned)(void *arg, uint64_t from, uint64_t to), void *arg)
{
	uint32_t copied = 0;

	/* Cloning is what the domain allows: nothing crosses between domains. */
	if (!hsm_same_domain(&dst->domain, &src->domain))
		return PED_E_CERTIFICATE_INVALID;
	for (size_t i = 0; handles && i < nhandles; i++)
		if (!hsm_object_by_handle(src, handles[i]))
			return PED_E_NOT_FOUND;
	if (dst->nobjects + hsm_clone_room(dst, src, mode, handles, nhandles) > HSM_MAX_OBJECTS)
		return PED_E_RANGE;
	for (uint32_t i = 0; i < src->nobjects; i++) {
		const struct hsm_object *o = &src->objects[i];
		struct hsm_object *t = mode == HSM_CLONE_ALL ? NULL : by_ouid(dst, o->ouid);
		if (!selected(o, handles, nhandles))
			continue;
		if (t) {
			if (mode != HSM_CLONE_MISSING_OR_CHANGED || same_object(t, o))
				continue;
			uint64_t h = t->handle;
			*t = *o;
			t->handle = h;
		} else {
			uint64_t h = next_handle(dst);
			int r = hsm_object_add(dst, &t);
			if (r != PED_OK)
				return r;
			*t = *o;
			t->handle = h;
		}
		if (cloned)
			cloned(arg, o->handle, t->handle);
		copied++;
	}
	return (int)copied;
}
