/* Objects for the application protocol (app.h): token objects in the
 * partition's store (hsm_part_obj_*, saved with the HSM), session objects
 * with the application (apps.h, never saved). What each role may do:
 * the Crypto Officer creates, changes and destroys objects; the Crypto
 * User uses them; the Partition SO manages policies (it may only mark
 * an object it sees CKA_TRUSTED); nobody sees a private object without a
 * CO or CU login. The attribute rules and key policies are libhsm's. */
#include "app_int.h"

#include "hsm/ck.h"
#include "ped/error.h"
#include "ped/log.h"

#include <openssl/crypto.h>
#include <string.h>

/* ---- finding and keeping objects ---------------------------------------------- */

int app_obj_private(const struct hsm_obj *o)
{
	return hsm_obj_bool(o, CKA_PRIVATE);
}

/* Whether this call's login may see o. */
static int visible(struct app_call *c, const struct hsm_obj *o)
{
	return !app_obj_private(o) || app_need_user(c) == CKR_OK;
}

CK_RV app_obj_get(struct app_call *c, CK_OBJECT_HANDLE h, int key, struct hsm_obj **out)
{
	struct hsm_obj *o = NULL;
	CK_RV rv;

	*out = NULL;
	if (h & APP_OBJ_SESSION_BIT) {
		struct app_obj *ao;
		if (!c->a_locked) {
			pthread_mutex_lock(&c->a->mu);
			c->a_locked = 1;
		}
		if ((ao = apps_obj_find(c->a, h)) != NULL && ao->slot == c->s->slot)
			o = ao->o;
	} else if (c->p) {
		o = hsm_part_obj_find(c->p, h);
	}
	if (!o)
		return key ? CKR_KEY_HANDLE_INVALID : CKR_OBJECT_HANDLE_INVALID;
	/* a private object by its handle: not without a CO or CU login (as
	 * SoftHSM answers); a search never shows one (app_find_objects_init) */
	if (app_obj_private(o) && (rv = app_need_user(c)) != CKR_OK)
		return rv;
	*out = o;
	return CKR_OK;
}

void app_obj_end(struct app_call *c)
{
	if (c->a_locked)
		pthread_mutex_unlock(&c->a->mu);
	c->a_locked = 0;
}

CK_RV app_may_make(struct app_call *c, const CK_ATTRIBUTE *t, CK_ULONG n)
{
	int token = 0;

	if (!c->p)
		return CKR_TOKEN_WRITE_PROTECTED; /* the admin slot keeps no keys */
	for (CK_ULONG i = 0; i < n; i++)
		if (t[i].type == CKA_TOKEN && t[i].pValue && t[i].ulValueLen == sizeof(CK_BBOOL))
			token = *(const CK_BBOOL *)t[i].pValue != CK_FALSE;
	if (token && !(c->s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	return CKR_OK;
}

/* Token objects made by this call are saved with the HSM: a save that
 * fails leaves none of them (sim_save goes back to the state on disk). */
static CK_RV keep_all(struct app_call *c, struct hsm_obj **o, size_t n, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_HANDLE made[2] = {0, 0};
	int token = 0, closed, r;
	CK_RV rv = CKR_OK;
	size_t i;

	for (i = 0; i < n && rv == CKR_OK; i++) {
		struct hsm_obj *obj = o[i];
		o[i] = NULL;
		if (hsm_obj_bool(obj, CKA_TOKEN)) {
			/* C_CloseSession from another thread while the key was
			 * made outside the lock: the call keeps nothing */
			pthread_mutex_lock(&c->a->mu);
			closed = c->s->closed;
			pthread_mutex_unlock(&c->a->mu);
			if (closed) {
				hsm_obj_free(obj);
				rv = CKR_SESSION_CLOSED;
			} else if (!(c->s->flags & CKF_RW_SESSION)) {
				hsm_obj_free(obj);
				rv = CKR_SESSION_READ_ONLY;
			} else if ((r = hsm_part_obj_add(c->p, obj)) != PED_OK) { /* takes obj */
				rv = r == PED_E_RANGE ? CKR_DEVICE_MEMORY : app_ck_of(r);
			} else {
				made[i] = obj->handle;
				token = 1;
			}
		} else {
			/* a session object goes with its session: none for a
			 * session closed meanwhile (it would outlive it, usable
			 * from the application's other sessions) */
			pthread_mutex_lock(&c->a->mu);
			rv = c->s->closed ? CKR_SESSION_CLOSED
					  : apps_obj_add(c->a, c->s->handle, c->s->slot, obj, &made[i]);
			pthread_mutex_unlock(&c->a->mu);
			if (rv != CKR_OK)
				hsm_obj_free(obj);
		}
	}
	for (; i < n; i++) {
		hsm_obj_free(o[i]);
		o[i] = NULL;
	}
	if (rv == CKR_OK && token && (r = sim_save(c->hs)) != PED_OK)
		rv = CKR_DEVICE_ERROR;
	if (rv != CKR_OK) {
		for (i = 0; i < n; i++) {
			if (!made[i])
				continue;
			if (made[i] & APP_OBJ_SESSION_BIT) {
				pthread_mutex_lock(&c->a->mu);
				apps_obj_remove(c->a, made[i]);
				pthread_mutex_unlock(&c->a->mu);
			} else if (c->p && hsm_part_obj_find(c->p, made[i])) {
				/* still there if even the last saved state could not be read */
				hsm_part_obj_remove(c->p, made[i]);
			}
		}
		return rv;
	}
	for (i = 0; i < n; i++)
		out[i] = made[i];
	return CKR_OK;
}

CK_RV app_obj_keep(struct app_call *c, struct hsm_obj *o, CK_OBJECT_HANDLE *out)
{
	return keep_all(c, &o, 1, out);
}

CK_RV app_obj_keep_pair(struct app_call *c, struct hsm_obj *pub, struct hsm_obj *priv, CK_OBJECT_HANDLE out[2])
{
	struct hsm_obj *o[2] = {pub, priv};
	return keep_all(c, o, 2, out);
}

/* The call's key environment, with the partition's policies. */
void app_key_env(struct app_call *c, struct hsm_key_env *env)
{
	if (c->p)
		hsm_partition_key_env(&c->hs->h, c->p, env);
	else
		hsm_key_env_init(env);
	if (c->hs)
		env->hsm_cloning = c->hs->h.allow_cloning;
	env->so = c->p && app_role(c, NULL) == HSM_ROLE_PO;
}

/* ---- the functions ----------------------------------------------------------- */

CK_RV app_create_object(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	struct p11w_template t;
	struct hsm_key_env env;
	struct hsm_obj *o = NULL;
	CK_OBJECT_HANDLE out;
	CK_RV rv = p11w_get_template(c->r, P11W_TPL_VALUES, &t);

	if (rv != CKR_OK)
		return rv;
	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK ||
	    (rv = app_need_co(c)) != CKR_OK || (rv = app_may_make(c, t.attrs, t.count)) != CKR_OK)
		goto out;
	app_key_env(c, &env);
	/* the object's values are checked (a key's material too) outside the lock */
	app_release_hsm(c);
	if ((rv = hsm_obj_create(&env, t.attrs, t.count, &o)) != CKR_OK) {
		ped_trace("application %u: CreateObject: %s", c->a->no, hsm_ck_why());
		goto out;
	}
	if ((rv = app_hold(c)) != CKR_OK || (rv = app_need_co(c)) != CKR_OK)
		goto out;
	rv = app_obj_keep(c, o, &out);
	o = NULL;
	if (rv == CKR_OK)
		p11w_put_ulong(c->w, out);
out:
	hsm_obj_free(o);
	p11w_template_free(&t);
	return rv;
}

CK_RV app_copy_object(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	CK_OBJECT_HANDLE src_h = p11w_get_ulong(c->r), out;
	struct p11w_template t;
	struct hsm_key_env env;
	struct hsm_obj *src, *o = NULL;
	CK_RV rv = p11w_get_template(c->r, P11W_TPL_VALUES, &t);

	if (rv != CKR_OK)
		return rv;
	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK ||
	    (rv = app_need_co(c)) != CKR_OK || (rv = app_may_make(c, t.attrs, t.count)) != CKR_OK ||
	    (rv = app_obj_get(c, src_h, 0, &src)) != CKR_OK)
		goto out;
	app_key_env(c, &env);
	rv = hsm_obj_copy(&env, src, t.attrs, t.count, &o);
	app_obj_end(c);
	if (rv != CKR_OK)
		goto out;
	rv = app_obj_keep(c, o, &out);
	o = NULL;
	if (rv == CKR_OK)
		p11w_put_ulong(c->w, out);
out:
	hsm_obj_free(o);
	p11w_template_free(&t);
	return rv;
}

CK_RV app_destroy_object(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	CK_OBJECT_HANDLE oh = p11w_get_ulong(c->r);
	struct hsm_key_env env;
	struct hsm_obj *o;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK ||
	    (rv = app_need_co(c)) != CKR_OK || (rv = app_obj_get(c, oh, 0, &o)) != CKR_OK)
		return rv;
	app_key_env(c, &env);
	if ((rv = hsm_obj_destroy_check(&env, o)) != CKR_OK)
		return rv;
	if (oh & APP_OBJ_SESSION_BIT) {
		apps_obj_remove(c->a, oh); /* under the application's lock (app_obj_get) */
		return CKR_OK;
	}
	if (!(c->s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	hsm_part_obj_remove(c->p, oh);
	/* a save that fails brings the object back (the state on disk) */
	return sim_save(c->hs) == PED_OK ? CKR_OK : CKR_DEVICE_ERROR;
}

CK_RV app_get_object_size(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	CK_OBJECT_HANDLE oh = p11w_get_ulong(c->r);
	struct hsm_obj *o;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK ||
	    (rv = app_obj_get(c, oh, 0, &o)) != CKR_OK)
		return rv;
	p11w_put_ulong(c->w, hsm_obj_size(o));
	return CKR_OK;
}

static CK_RV getattr(void *ctx, CK_ATTRIBUTE *t, CK_ULONG n)
{
	return hsm_obj_get(ctx, t, n);
}

CK_RV app_get_attribute_value(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	CK_OBJECT_HANDLE oh = p11w_get_ulong(c->r);
	struct p11w_template t;
	struct hsm_obj *o;
	CK_RV rv = p11w_get_template(c->r, P11W_TPL_LENGTHS, &t);

	if (rv != CKR_OK)
		return rv;
	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK ||
	    (rv = app_obj_get(c, oh, 0, &o)) != CKR_OK)
		goto out;
	/* buffers of each value's exact length, never the caller's claims */
	rv = p11w_getattr_serve(&t, getattr, o);
	if (p11w_reply_has_results(P11W_FN_GET_ATTRIBUTE_VALUE, rv)) {
		CK_RV put = p11w_put_attr_results(c->w, &t);
		if (put != CKR_OK)
			rv = put;
	}
out:
	p11w_template_free(&t);
	return rv;
}

/* The Partition SO may mark an object trusted (CKA_TRUSTED: PKCS#11's
 * SO-only attribute), and nothing else. */
static int only_trusted(const struct p11w_template *t)
{
	for (CK_ULONG i = 0; i < t->count; i++)
		if (t->attrs[i].type != CKA_TRUSTED)
			return 0;
	return t->count > 0;
}

CK_RV app_set_attribute_value(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	CK_OBJECT_HANDLE oh = p11w_get_ulong(c->r);
	struct p11w_template t;
	struct hsm_key_env env;
	struct hsm_obj *o;
	CK_RV rv = p11w_get_template(c->r, P11W_TPL_VALUES, &t);

	if (rv != CKR_OK)
		return rv;
	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK)
		goto out;
	if ((rv = app_need_co(c)) != CKR_OK && !(rv == CKR_ACTION_PROHIBITED && app_role(c, NULL) == HSM_ROLE_PO &&
						 only_trusted(&t)))
		goto out;
	if ((rv = app_obj_get(c, oh, 0, &o)) != CKR_OK)
		goto out;
	if (!(oh & APP_OBJ_SESSION_BIT) && !(c->s->flags & CKF_RW_SESSION)) {
		rv = CKR_SESSION_READ_ONLY;
		goto out;
	}
	app_key_env(c, &env);
	if ((rv = hsm_obj_set(&env, o, t.attrs, t.count)) != CKR_OK) {
		ped_trace("application %u: SetAttributeValue: %s", c->a->no, hsm_ck_why());
		goto out;
	}
	/* a save that fails takes the change back (the state on disk) */
	if (!(oh & APP_OBJ_SESSION_BIT) && sim_save(c->hs) != PED_OK)
		rv = CKR_DEVICE_ERROR;
out:
	p11w_template_free(&t);
	return rv;
}

CK_RV app_find_objects_init(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	struct p11w_template t;
	CK_OBJECT_HANDLE *found = NULL;
	size_t n = 0, cap;
	CK_RV rv = p11w_get_template(c->r, P11W_TPL_VALUES, &t);

	if (rv != CKR_OK)
		return rv;
	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_OPS | APP_USE_HSM)) != CKR_OK)
		goto out;
	if (c->s->finding) {
		rv = CKR_OPERATION_ACTIVE;
		goto out;
	}
	pthread_mutex_lock(&c->a->mu);
	c->a_locked = 1;
	cap = (c->p ? c->p->nobjs : 0) + c->a->nobjs;
	if (cap && (found = OPENSSL_malloc(cap * sizeof(*found))) == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	/* a hidden attribute never matches (hsm_obj_match): nobody finds a key
	 * by guessing its value */
	for (uint32_t i = 0; c->p && i < c->p->nobjs; i++) {
		const struct hsm_obj *o = c->p->objs[i];
		if (visible(c, o) && hsm_obj_match(o, t.attrs, t.count))
			found[n++] = o->handle;
	}
	for (const struct app_obj *ao = c->a->objs; ao; ao = ao->next)
		if (ao->slot == c->s->slot && visible(c, ao->o) && hsm_obj_match(ao->o, t.attrs, t.count))
			found[n++] = ao->handle;
	apps_session_reset_find(c->s);
	c->s->found = found;
	c->s->nfound = n;
	c->s->finding = 1;
	found = NULL;
out:
	OPENSSL_free(found);
	p11w_template_free(&t);
	return rv;
}

CK_RV app_find_objects(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	uint32_t max = ped_rbuf_u32(c->r), n;
	struct app_session *s;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK)
		return rv;
	if (max > P11W_FIND_MAX)
		return CKR_ARGUMENTS_BAD;
	if ((rv = app_use(c, h, APP_USE_OPS)) != CKR_OK)
		return rv;
	s = c->s;
	if (!s->finding)
		return CKR_OPERATION_NOT_INITIALIZED;
	n = s->nfound - s->next_found < max ? (uint32_t)(s->nfound - s->next_found) : max;
	p11w_put_ulong_list(c->w, n ? s->found + s->next_found : NULL, n);
	s->next_found += n;
	return CKR_OK;
}

CK_RV app_find_objects_final(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_OPS)) != CKR_OK)
		return rv;
	if (!c->s->finding)
		return CKR_OPERATION_NOT_INITIALIZED;
	apps_session_reset_find(c->s);
	return CKR_OK;
}
