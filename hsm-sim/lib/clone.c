/* Objects moving between partitions of one cloning domain: the one path
 * that backup, restore and partition clone take (hsm.h, hsm_clone_objects).
 *
 * Each object leaves as the cloning protocol would carry it: its public
 * part (hsm_obj_encode) and its secret part sealed with AES-256-GCM under
 * the source partition's cloning key, the additional data binding the
 * public part and the OUID; an object without secret material seals an
 * empty secret, so that it too is authenticated under the domain. The
 * target opens each under its own cloning key: a partition of another
 * domain fails there (PED_E_CERTIFICATE_INVALID, the reference's
 * CKR_CERTIFICATE_INVALID), whatever the verifiers say. */
#include "hsm/hsm.h"
#include "hsm/seal.h"

#include "ped/buf.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <string.h>

/* Whether two objects hold the same attributes with the same values (the
 * reference's "fingerprint"). */
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

int hsm_clone_selected(const struct hsm_obj *o, const uint64_t *handles, size_t nhandles)
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
		if (hsm_clone_selected(src->objs[i], handles, nhandles) &&
		    (mode == HSM_CLONE_ALL || !hsm_part_obj_by_ouid(dst, src->objs[i]->ouid)))
			need++;
	return need;
}

/* The additional data of an object in transit: lv32 pub || OUID. */
static int transit_aad(const uint8_t *pub, size_t publen, uint64_t ouid, uint8_t **aad, size_t *aadlen)
{
	struct ped_wbuf w;
	ped_wbuf_init(&w, publen + 16);
	ped_wbuf_lv32(&w, pub, publen);
	ped_wbuf_u64(&w, ouid);
	return ped_wbuf_take(&w, aad, aadlen);
}

/* One object across: sealed under the source's cloning key, opened under
 * the target's, decoded. *out the object as the target holds it. */
static int carry(const struct hsm_partition *dst, const struct hsm_partition *src, const struct hsm_obj *o,
		 struct hsm_obj **out)
{
	uint8_t *pub = NULL, *sec = NULL, *aad = NULL, *sealed = NULL, *opened = NULL;
	size_t publen = 0, seclen = 0, aadlen = 0, sealedlen = 0, openedlen = 0;
	int r;

	*out = NULL;
	/* the source's side */
	if ((r = hsm_obj_encode(o, &pub, &publen, &sec, &seclen)) != PED_OK ||
	    (r = transit_aad(pub, publen, o->ouid, &aad, &aadlen)) != PED_OK ||
	    (r = hsm_seal(src->domain_key, aad, aadlen, sec, seclen, &sealed, &sealedlen)) != PED_OK)
		goto out;
	OPENSSL_clear_free(sec, seclen);
	sec = NULL;
	/* the target's side: what arrived is pub and sealed */
	r = hsm_open(dst->domain_key, aad, aadlen, sealed, sealedlen, &opened, &openedlen);
	if (r == PED_E_BAD_RECORD) {
		r = PED_E_CERTIFICATE_INVALID; /* another domain: it does not authenticate */
		goto out;
	}
	if (r != PED_OK)
		goto out;
	if ((r = hsm_obj_decode(pub, publen, opened, openedlen, out, NULL, 0)) != PED_OK)
		r = r == PED_E_HOST_MEMORY ? r : PED_E_CORRUPT;
out:
	OPENSSL_clear_free(pub, publen);
	OPENSSL_clear_free(sec, seclen);
	OPENSSL_clear_free(opened, openedlen);
	OPENSSL_free(aad);
	OPENSSL_free(sealed);
	return r;
}

int hsm_clone_objects(struct hsm_partition *dst, const struct hsm_partition *src, enum hsm_clone_mode mode,
		      const uint64_t *handles, size_t nhandles, const struct hsm_clone_ctx *ctx)
{
	static const struct hsm_clone_ctx none;
	uint32_t copied = 0;

	if (!ctx)
		ctx = &none;
	/* Cloning is what the domain allows: nothing crosses between domains.
	 * The verifiers first, as the reference's documented check; then each
	 * object must open under the target's own key. */
	if (!hsm_same_domain(&dst->domain, &src->domain))
		return PED_E_CERTIFICATE_INVALID;
	if (!src->domain_key_set || !dst->domain_key_set)
		return PED_E_UNSUPPORTED;
	for (size_t i = 0; handles && i < nhandles; i++)
		if (!hsm_part_obj_find(src, handles[i]))
			return PED_E_NOT_FOUND;
	if (dst->nobjs + hsm_clone_room(dst, src, mode, handles, nhandles) > HSM_MAX_OBJECTS)
		return PED_E_RANGE;
	for (uint32_t i = 0; i < src->nobjs; i++) {
		const struct hsm_obj *o = src->objs[i];
		struct hsm_obj *t = mode == HSM_CLONE_ALL ? NULL : hsm_part_obj_by_ouid(dst, o->ouid), *n = NULL;
		uint64_t placed;
		CK_RV rv;
		int r;
		if (!hsm_clone_selected(o, handles, nhandles))
			continue;
		/* An object the source's policies (HSM policy 7, partition
		 * policies 0 and 4) or the target's keep from cloning is told and
		 * skipped, the others cloned: "the backup operation proceeds, but
		 * skips over any private keys" (001, "Private Keys could be lost"),
		 * and a restore into a partition that disallows them "recovers all
		 * other objects". */
		if ((rv = hsm_kp_check(ctx->src_env, HSM_KP_DO_CLONE, o, 0)) == CKR_OK)
			rv = hsm_kp_check(ctx->dst_env, HSM_KP_DO_CLONE, o, 0);
		if (rv != CKR_OK) {
			if (ctx->refused)
				ctx->refused(ctx->arg, o, rv);
			continue;
		}
		if (t && mode != HSM_CLONE_MISSING_OR_CHANGED)
			continue;
		if ((r = carry(dst, src, o, &n)) != PED_OK)
			return r;
		if ((r = hsm_clone_place(dst, n, mode, &placed)) < 0)
			return r;
		if (r == 0)
			continue; /* dst holds it already, the same */
		if (ctx->cloned)
			ctx->cloned(ctx->arg, o->handle, placed);
		copied++;
	}
	return (int)copied;
}

int hsm_clone_place(struct hsm_partition *dst, struct hsm_obj *n, enum hsm_clone_mode mode, uint64_t *placed)
{
	struct hsm_obj *t = mode == HSM_CLONE_ALL ? NULL : hsm_part_obj_by_ouid(dst, n->ouid);
	int r;

	*placed = 0;
	if ((t && mode != HSM_CLONE_MISSING_OR_CHANGED) || (t && same_object(t, n))) {
		hsm_obj_free(n);
		return 0;
	}
	if (t) {
		for (uint32_t j = 0; j < dst->nobjs; j++)
			if (dst->objs[j] == t) {
				n->handle = t->handle;
				dst->objs[j] = n;
				hsm_obj_free(t);
				break;
			}
	} else {
		if (hsm_part_obj_by_ouid(dst, n->ouid))
			n->ouid = 0;
		if ((r = hsm_part_obj_add(dst, n)) != PED_OK)
			return r; /* it freed n */
	}
	*placed = n->handle;
	return 1;
}

uint32_t hsm_clone_room_for(const struct hsm_partition *dst, struct hsm_obj *const *objs, size_t n,
			    enum hsm_clone_mode mode)
{
	uint32_t need = 0;
	for (size_t i = 0; i < n; i++)
		if (mode == HSM_CLONE_ALL || !hsm_part_obj_by_ouid((struct hsm_partition *)dst, objs[i]->ouid))
			need++;
	return need;
}
