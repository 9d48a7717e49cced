/* Objects moving between partitions of one cloning domain: the one path
 * that backup, restore and partition clone take (hsm.h, hsm_clone_objects). */
#include "hsm/hsm.h"

#include "ped/error.h"

#include <openssl/crypto.h>
#include <string.h>

/* Whether two objects hold the same attributes with the same values. */
static int same_object(const struct hsm_obj *a, const struct hsm_obj *b)
{
	if (a->nattrs != b->nattrs)
		return 0;
	for (size_t i = 0; i < a->nattrs; i++)
		if (a->attrs[i].type != b->attrs[i].type || a->attrs[i].len != b->attrs[i].len ||
		    (a->attrs[i].len && CRYPTO_memcmp(a->attrs[i].val, b->attrs[i].val, a->attrs[i].len)))
			return 0;
	return 1;
}

static int selected(const struct hsm_obj *o, const uint64_t *handles, size_t nhandles)
{
	if (!handles)
		return 1;
	for (size_t i = 0; i < nhandles; i++)
		if (handles[i] == o->handle)
			return 1;
	return 0;
}

uint32_t hsm_clone_room(struct hsm_partition *dst, const struct hsm_partition *src, enum hsm_clone_mode mode,
			const uint64_t *handles, size_t nhandles)
{
	uint32_t need = 0;
	for (uint32_t i = 0; i < src->nobjs; i++)
		if (selected(src->objs[i], handles, nhandles) &&
		    (mode == HSM_CLONE_ALL || !hsm_part_obj_by_ouid(dst, src->objs[i]->ouid)))
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
		if (!hsm_part_obj_find(src, handles[i]))
			return PED_E_NOT_FOUND;
	if (dst->nobjs + hsm_clone_room(dst, src, mode, handles, nhandles) > HSM_MAX_OBJECTS)
		return PED_E_RANGE;
	for (uint32_t i = 0; i < src->nobjs; i++) {
		const struct hsm_obj *o = src->objs[i];
		struct hsm_obj *t = mode == HSM_CLONE_ALL ? NULL : hsm_part_obj_by_ouid(dst, o->ouid), *n = NULL;
		if (!selected(o, handles, nhandles))
			continue;
		if (t && (mode != HSM_CLONE_MISSING_OR_CHANGED || same_object(t, o)))
			continue;
		if (hsm_obj_dup(o, &n) != CKR_OK)
			return PED_E_HOST_MEMORY;
		if (t) {
			/* another version of an object dst holds: overwritten, its handle kept */
			for (uint32_t j = 0; j < dst->nobjs; j++)
				if (dst->objs[j] == t) {
					n->handle = t->handle;
					dst->objs[j] = n;
					hsm_obj_free(t);
					t = n;
					break;
				}
		} else {
			/* HSM_CLONE_ALL: a copy beside the one dst holds, as a new object */
			if (mode == HSM_CLONE_ALL && hsm_part_obj_by_ouid(dst, n->ouid))
				n->ouid = 0;
			int r = hsm_part_obj_add(dst, n);
			if (r != PED_OK)
				return r;
			t = n;
		}
		if (cloned)
			cloned(arg, o->handle, t->handle);
		copied++;
	}
	return (int)copied;
}
