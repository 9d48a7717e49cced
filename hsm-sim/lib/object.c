/* Objects: attribute sets built, read, changed and matched by the rule table. */
#include "keys_int.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

/* --- the attribute set ----------------------------------------------------- */

static size_t find_index(const struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, int *found)
{
	size_t lo = 0, hi = o->nattrs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (o->attrs[mid].type < type)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < o->nattrs && o->attrs[lo].type == type;
	return lo;
}

const struct hsm_attr *hsm_obj_attr(const struct hsm_obj *o, CK_ATTRIBUTE_TYPE type)
{
	int found;
	size_t i = find_index(o, type, &found);
	return found ? &o->attrs[i] : NULL;
}

int hsm_obj_bool(const struct hsm_obj *o, CK_ATTRIBUTE_TYPE type)
{
	const struct hsm_attr *a = hsm_obj_attr(o, type);
	return a && a->len == sizeof(CK_BBOOL) && a->val[0];
}

CK_ULONG hsm_obj_ulong(const struct hsm_obj *o, CK_ATTRIBUTE_TYPE type)
{
	const struct hsm_attr *a = hsm_obj_attr(o, type);
	CK_ULONG v;

	if (!a || a->len != sizeof(CK_ULONG))
		return CK_UNAVAILABLE_INFORMATION;
	memcpy(&v, a->val, sizeof(v));
	return v;
}

CK_ULONG hsm_obj_size(const struct hsm_obj *o)
{
	return o->bytes;
}

CK_RV kobj_put_owned(struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, uint8_t *val, CK_ULONG len)
{
	int found;
	size_t i = find_index(o, type, &found);

	if (found) {
		struct hsm_attr *a = &o->attrs[i];
		o->bytes -= a->len;
		OPENSSL_clear_free(a->val, a->len);
		a->val = val;
		a->len = len;
		o->bytes += len;
		return CKR_OK;
	}
	if (o->nattrs == SIZE_MAX / sizeof(*o->attrs) - 1) {
		OPENSSL_clear_free(val, len);
		return kfail(CKR_HOST_MEMORY, "out of memory");
	}
	struct hsm_attr *na = OPENSSL_realloc(o->attrs, (o->nattrs + 1) * sizeof(*o->attrs));
	if (!na) {
		OPENSSL_clear_free(val, len);
		return kfail(CKR_HOST_MEMORY, "out of memory");
	}
	o->attrs = na;
	memmove(&o->attrs[i + 1], &o->attrs[i], (o->nattrs - i) * sizeof(*o->attrs));
	o->attrs[i] = (struct hsm_attr){type, len, val};
	o->nattrs++;
	o->bytes += len;
	return CKR_OK;
}

CK_RV kobj_put(struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, const void *val, CK_ULONG len)
{
	uint8_t *copy = NULL;

	if (len > 0) {
		if ((copy = OPENSSL_malloc(len)) == NULL)
			return kfail(CKR_HOST_MEMORY, "out of memory");
		memcpy(copy, val, len);
	}
	return kobj_put_owned(o, type, copy, len);
}

CK_RV kobj_put_bool(struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, int v)
{
	CK_BBOOL b = v ? CK_TRUE : CK_FALSE;
	return kobj_put(o, type, &b, sizeof(b));
}

CK_RV kobj_put_ulong(struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	return kobj_put(o, type, &v, sizeof(v));
}

void kobj_del(struct hsm_obj *o, CK_ATTRIBUTE_TYPE type)
{
	int found;
	size_t i = find_index(o, type, &found);

	if (!found)
		return;
	o->bytes -= o->attrs[i].len;
	OPENSSL_clear_free(o->attrs[i].val, o->attrs[i].len);
	memmove(&o->attrs[i], &o->attrs[i + 1], (o->nattrs - i - 1) * sizeof(*o->attrs));
	o->nattrs--;
}

static void clear_attrs(struct hsm_obj *o)
{
	for (size_t i = 0; i < o->nattrs; i++)
		OPENSSL_clear_free(o->attrs[i].val, o->attrs[i].len);
	OPENSSL_free(o->attrs);
	o->attrs = NULL;
	o->nattrs = 0;
	o->bytes = 0;
}

void hsm_obj_free(struct hsm_obj *o)
{
	if (!o)
		return;
	clear_attrs(o);
	EVP_PKEY_free(o->pkey);
	OPENSSL_clear_free(o, sizeof(*o));
}

CK_RV kobj_new(CK_OBJECT_CLASS cls, CK_KEY_TYPE kt, struct hsm_obj **out)
{
	struct hsm_obj *o;
	uint32_t kind = kkind(cls, kt);
	CK_RV rv;

	*out = NULL;
	if (!kind)
		return kfail(CKR_ATTRIBUTE_VALUE_INVALID,
			     "class 0x%lx, key type 0x%lx: not an object this HSM keeps", cls, kt);
	if ((o = OPENSSL_zalloc(sizeof(*o))) == NULL)
		return kfail(CKR_HOST_MEMORY, "out of memory");
	o->cls = cls;
	o->kind = kind;
	o->key_type = (kind & HSM_K_KEY) ? kt : CK_UNAVAILABLE_INFORMATION;
	if ((rv = kobj_put_ulong(o, CKA_CLASS, cls)) != CKR_OK ||
	    ((kind & HSM_K_KEY) && (rv = kobj_put_ulong(o, CKA_KEY_TYPE, kt)) != CKR_OK)) {
		hsm_obj_free(o);
		return rv;
	}
	*out = o;
	return CKR_OK;
}

/* A deep copy: new values, the same key (one more reference). */
static CK_RV kobj_dup(const struct hsm_obj *src, struct hsm_obj **out)
{
	struct hsm_obj *o;

	*out = NULL;
	if ((o = OPENSSL_zalloc(sizeof(*o))) == NULL)
		return kfail(CKR_HOST_MEMORY, "out of memory");
	*o = *src;
	o->attrs = NULL;
	o->nattrs = 0;
	o->bytes = 0;
	o->pkey = NULL;
	if (src->nattrs && (o->attrs = OPENSSL_zalloc(src->nattrs * sizeof(*o->attrs))) == NULL)
		goto oom;
	for (size_t i = 0; i < src->nattrs; i++) {
		const struct hsm_attr *a = &src->attrs[i];
		o->attrs[i].type = a->type;
		if (a->len && (o->attrs[i].val = OPENSSL_memdup(a->val, a->len)) == NULL)
			goto oom;
		o->attrs[i].len = a->len;
		o->nattrs++;
		o->bytes += a->len;
	}
	if (src->pkey) {
		EVP_PKEY_up_ref(src->pkey);
		o->pkey = src->pkey;
	}
	*out = o;
	return CKR_OK;
oom:
	hsm_obj_free(o);
	return kfail(CKR_HOST_MEMORY, "out of memory");
}

CK_RV hsm_obj_dup(const struct hsm_obj *o, struct hsm_obj **out)
{
	return kobj_dup(o, out);
}

/* --- templates ------------------------------------------------------------- */

/* A template there is, and not too long. */
static CK_RV template_ok(const CK_ATTRIBUTE *t, CK_ULONG n)
{
	if (n > 0 && !t)
		return kfail(CKR_ARGUMENTS_BAD, "no template");
	if (n > HSM_TEMPLATE_MAX)
		return kfail(CKR_TEMPLATE_INCONSISTENT, "%lu attributes, more than the %d a template holds",
			     n, HSM_TEMPLATE_MAX);
	return CKR_OK;
}

static CK_RV template_ulong(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type, CK_ULONG *v)
{
	int seen = 0;

	*v = CK_UNAVAILABLE_INFORMATION;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_ULONG x;
		if (t[i].type != type)
			continue;
		if (t[i].ulValueLen != sizeof(CK_ULONG) || !t[i].pValue)
			return kfail(CKR_ATTRIBUTE_VALUE_INVALID, "%s: not a CK_ULONG",
				     hsm_attr_name(type));
		memcpy(&x, t[i].pValue, sizeof(x));
		if (seen && x != *v)
			return kfail(CKR_TEMPLATE_INCONSISTENT, "%s given twice, differently",
				     hsm_attr_name(type));
		*v = x;
		seen = 1;
	}
	return CKR_OK;
}

CK_RV ktemplate_class(const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_CLASS *cls, CK_KEY_TYPE *kt)
{
	CK_RV rv;

	if ((rv = template_ok(t, n)) != CKR_OK)
		return rv;
	if ((rv = template_ulong(t, n, CKA_CLASS, cls)) != CKR_OK)
		return rv;
	return template_ulong(t, n, CKA_KEY_TYPE, kt);
}

static int forbidden(const struct hsm_attr_rule *r, enum korigin origin)
{
	if (r->flags & HSM_AF_TOKEN_SET)
		return 1;
	switch (origin) {
	case KO_CREATE: return (r->flags & HSM_AF_CREATE_NO) != 0;
	case KO_GENERATE:
	case KO_DERIVE: return (r->flags & HSM_AF_GEN_NO) != 0;
	case KO_UNWRAP: return (r->flags & HSM_AF_UNWRAP_NO) != 0;
	case KO_DECODE: return 0;
	}
	return 1;
}

static int required(const struct hsm_attr_rule *r, enum korigin origin)
{
	switch (origin) {
	case KO_CREATE:
	case KO_DECODE: return (r->flags & HSM_AF_CREATE_REQ) != 0;
	case KO_GENERATE: return (r->flags & HSM_AF_GEN_REQ) != 0;
	case KO_UNWRAP: return (r->flags & HSM_AF_UNWRAP_REQ) != 0;
	case KO_DERIVE: return 0;
	}
	return 0;
}

static const char *kind_name(uint32_t kind)
{
	switch (kind) {
	case HSM_K_DATA: return "data object";
	case HSM_K_CERT: return "certificate";
	case HSM_K_RSA_PUB: return "RSA public key";
	case HSM_K_EC_PUB: return "EC public key";
	case HSM_K_RSA_PRIV: return "RSA private key";
	case HSM_K_EC_PRIV: return "EC private key";
	case HSM_K_AES: return "AES key";
	case HSM_K_GENERIC: return "generic secret";
	}
	return "object";
}

/* The row of a template attribute, or the right error for one without. */
static CK_RV rule_for(const struct hsm_obj *o, CK_ATTRIBUTE_TYPE type, CK_RV not_ours,
		      const struct hsm_attr_rule **r)
{
	if ((*r = hsm_attr_rule(type, o->kind)) != NULL)
		return CKR_OK;
	if (hsm_attr_name(type))
		return kfail(not_ours, "%s: not an attribute of a %s", hsm_attr_name(type),
			     kind_name(o->kind));
	return kfail(CKR_ATTRIBUTE_TYPE_INVALID, "attribute 0x%lx: unknown here", type);
}

static int same_value(const struct hsm_attr *a, const uint8_t *v, CK_ULONG len)
{
	return a->len == len && (len == 0 || CRYPTO_memcmp(a->val, v, len) == 0);
}

/* Normalizes t[i] by its row; a type given twice must be given the same
 * way (t[0..i) looked at). */
static CK_RV template_value(const struct hsm_attr_rule *r, const CK_ATTRIBUTE *t, CK_ULONG i,
			    uint8_t **v, CK_ULONG *vl)
{
	CK_RV rv;

	if ((rv = kattr_normalize(r, t[i].pValue, t[i].ulValueLen, v, vl)) != CKR_OK)
		return rv;
	for (CK_ULONG j = 0; j < i; j++) {
		uint8_t *w;
		CK_ULONG wl;
		int same;
		if (t[j].type != t[i].type)
			continue;
		if (kattr_normalize(r, t[j].pValue, t[j].ulValueLen, &w, &wl) != CKR_OK)
			break;
		same = wl == *vl && (wl == 0 || CRYPTO_memcmp(w, *v, wl) == 0);
		OPENSSL_clear_free(w, wl);
		if (!same) {
			OPENSSL_clear_free(*v, *vl);
			*v = NULL;
			return kfail(CKR_TEMPLATE_INCONSISTENT, "%s given twice, differently", r->name);
		}
	}
	return CKR_OK;
}

CK_RV kobj_apply_template(struct hsm_obj *o, enum korigin origin, const CK_ATTRIBUTE *t, CK_ULONG n)
{
	size_t nrules;
	const struct hsm_attr_rule *rules = hsm_attr_rules(&nrules);
	CK_RV rv;

	if ((rv = template_ok(t, n)) != CKR_OK)
		return rv;
	for (CK_ULONG i = 0; i < n; i++) {
		const struct hsm_attr_rule *r;
		const struct hsm_attr *cur;
		uint8_t *v;
		CK_ULONG vl;

		if ((rv = rule_for(o, t[i].type, CKR_TEMPLATE_INCONSISTENT, &r)) != CKR_OK)
			return rv;
		if (forbidden(r, origin))
			return kfail(CKR_ATTRIBUTE_READ_ONLY, "%s: set by the token, not by a template",
				     r->name);
		if ((rv = template_value(r, t, i, &v, &vl)) != CKR_OK)
			return rv;
		/* the class and key type the caller made the object with */
		if ((r->type == CKA_CLASS || r->type == CKA_KEY_TYPE) &&
		    (cur = hsm_obj_attr(o, r->type)) != NULL && !same_value(cur, v, vl)) {
			OPENSSL_clear_free(v, vl);
			return kfail(CKR_TEMPLATE_INCONSISTENT, "%s: not the one this makes a %s of",
				     r->name, kind_name(o->kind));
		}
		if ((rv = kobj_put_owned(o, r->type, v, vl)) != CKR_OK)
			return rv;
	}
	for (size_t i = 0; i < nrules; i++)
		if ((rules[i].kinds & o->kind) && required(&rules[i], origin) &&
		    !hsm_obj_attr(o, rules[i].type))
			return kfail(CKR_TEMPLATE_INCOMPLETE, "%s is required for a %s", rules[i].name,
				     kind_name(o->kind));
	return CKR_OK;
}

/* --- finishing a new object ------------------------------------------------ */

static CK_RV put_defaults(struct hsm_obj *o)
{
	size_t nrules;
	const struct hsm_attr_rule *rules = hsm_attr_rules(&nrules);
	CK_RV rv = CKR_OK;

	for (size_t i = 0; i < nrules && rv == CKR_OK; i++) {
		const struct hsm_attr_rule *r = &rules[i];
		if (!(r->kinds & o->kind) || !(r->flags & HSM_AF_DEF) || hsm_obj_attr(o, r->type))
			continue;
		if (r->av == HSM_AV_BOOL)
			rv = kobj_put_bool(o, r->type, r->def != CK_FALSE);
		else if (r->av == HSM_AV_ULONG)
			rv = kobj_put_ulong(o, r->type, r->def);
		else
			rv = kobj_put(o, r->type, NULL, 0);
	}
	return rv;
}

static CK_RV put_token_set(struct hsm_obj *o, const struct kfinish *f)
{
	int sens = hsm_obj_bool(o, CKA_SENSITIVE), extr = hsm_obj_bool(o, CKA_EXTRACTABLE);
	int always = 0, never = 0;
	CK_RV rv;

	if (!(o->kind & HSM_K_KEY))
		return CKR_OK;
	if (!hsm_obj_attr(o, CKA_LOCAL) && (rv = kobj_put_bool(o, CKA_LOCAL, f->local)) != CKR_OK)
		return rv;
	if (!hsm_obj_attr(o, CKA_KEY_GEN_MECHANISM) &&
	    (rv = kobj_put_ulong(o, CKA_KEY_GEN_MECHANISM, f->gen_mech)) != CKR_OK)
		return rv;
	if (!(o->kind & (HSM_K_PRIV | HSM_K_SECRET)))
		return CKR_OK;
	/* made here: as protected as it has been; from outside: never was */
	if (f->origin == KO_GENERATE) {
		always = sens;
		never = !extr;
	} else if (f->origin == KO_DERIVE) {
		always = f->base_always_sensitive && sens;
		never = f->base_never_extractable && !extr;
	}
	if (!hsm_obj_attr(o, CKA_ALWAYS_SENSITIVE) &&
	    (rv = kobj_put_bool(o, CKA_ALWAYS_SENSITIVE, always)) != CKR_OK)
		return rv;
	if (!hsm_obj_attr(o, CKA_NEVER_EXTRACTABLE) &&
	    (rv = kobj_put_bool(o, CKA_NEVER_EXTRACTABLE, never)) != CKR_OK)
		return rv;
	return CKR_OK;
}

static CK_RV check_values(const struct hsm_obj *o, const struct kfinish *f)
{
	size_t nrules;
	const struct hsm_attr_rule *rules = hsm_attr_rules(&nrules);
	CK_ULONG v;

	if (f->origin == KO_DECODE) {
		for (size_t i = 0; i < nrules; i++)
			if ((rules[i].kinds & o->kind) &&
			    (rules[i].flags & HSM_AF_CREATE_REQ) &&
			    !hsm_obj_attr(o, rules[i].type))
				return kfail(CKR_TEMPLATE_INCOMPLETE, "%s missing", rules[i].name);
	}
	if ((o->kind & HSM_K_CERT) && hsm_obj_ulong(o, CKA_CERTIFICATE_TYPE) != CKC_X_509)
		return kfail(CKR_ATTRIBUTE_VALUE_INVALID,
			     "CKA_CERTIFICATE_TYPE: X.509 certificates only");
	if ((o->kind & HSM_K_CERT) && (v = hsm_obj_ulong(o, CKA_CERTIFICATE_CATEGORY)) > 3)
		return kfail(CKR_ATTRIBUTE_VALUE_INVALID, "CKA_CERTIFICATE_CATEGORY %lu: 0 to 3", v);
	if (hsm_obj_bool(o, CKA_ALWAYS_AUTHENTICATE))
		return kfail(CKR_ATTRIBUTE_VALUE_INVALID,
			     "CKA_ALWAYS_AUTHENTICATE: no per-operation login on this HSM");
	if (f->origin != KO_DECODE && hsm_obj_bool(o, CKA_TRUSTED) && !kenv(f->env)->so)
		return kfail(CKR_ATTRIBUTE_READ_ONLY, "CKA_TRUSTED: only the SO sets it");
	return CKR_OK;
}

static CK_RV new_ouid(struct hsm_obj *o)
{
	do {
		if (RAND_bytes((unsigned char *)&o->ouid, sizeof(o->ouid)) != 1)
			return kfail(CKR_DEVICE_ERROR, "no random numbers");
	} while (o->ouid == 0);
	return CKR_OK;
}

static CK_RV check_size(const struct hsm_obj *o)
{
	if (o->bytes > HSM_OBJ_MAX)
		return kfail(CKR_DEVICE_MEMORY, "%zu bytes of attributes, more than the %d an object holds",
			     o->bytes, HSM_OBJ_MAX);
	return CKR_OK;
}

CK_RV kobj_finish(struct hsm_obj *o, const struct kfinish *f)
{
	CK_RV rv;

	if ((rv = put_defaults(o)) != CKR_OK || (rv = put_token_set(o, f)) != CKR_OK ||
	    (rv = check_values(o, f)) != CKR_OK || (rv = kmat_finish(o, f)) != CKR_OK)
		return rv;
	if (f->origin != KO_DECODE &&
	    (rv = hsm_kp_check(f->env, HSM_KP_DO_PURPOSES, o, 0)) != CKR_OK)
		return rv;
	if ((rv = check_size(o)) != CKR_OK)
		return rv;
	return o->ouid ? CKR_OK : new_ouid(o);
}

/* --- PKCS#11 functions ----------------------------------------------------- */

CK_RV hsm_obj_create(const struct hsm_key_env *env, const CK_ATTRIBUTE *t, CK_ULONG n,
		     struct hsm_obj **out)
{
	struct kfinish f = {KO_CREATE, env, 0, CK_UNAVAILABLE_INFORMATION, 0, 0, NULL};
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE kt;
	struct hsm_obj *o = NULL;
	CK_RV rv;

	*out = NULL;
	if ((rv = ktemplate_class(t, n, &cls, &kt)) != CKR_OK)
		return rv;
	/* the partition being read-only says more than the template's faults */
	if (!kenv(env)->pol.v[HSM_KP_KEY_MANAGEMENT])
		return kfail(CKR_TOKEN_WRITE_PROTECTED,
			     "partition policy 28 (key management functions) is off: "
			     "the partition's objects are read-only");
	if (cls == CK_UNAVAILABLE_INFORMATION)
		return kfail(CKR_TEMPLATE_INCOMPLETE, "CKA_CLASS is required");
	if ((cls == CKO_PUBLIC_KEY || cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY) &&
	    kt == CK_UNAVAILABLE_INFORMATION)
		return kfail(CKR_TEMPLATE_INCOMPLETE, "CKA_KEY_TYPE is required for a key");
	if ((rv = kobj_new(cls, kt, &o)) != CKR_OK)
		return rv;
	if ((rv = kobj_apply_template(o, KO_CREATE, t, n)) != CKR_OK ||
	    (rv = kobj_finish(o, &f)) != CKR_OK) {
		hsm_obj_free(o);
		return rv;
	}
	*out = o;
	return CKR_OK;
}

/* One attribute of a copy or a change: may it become v? */
static CK_RV may_change(const struct hsm_key_env *env, const struct hsm_obj *o,
			const struct hsm_attr_rule *r, const uint8_t *v, CK_ULONG vl)
{
	const struct hsm_attr *cur = hsm_obj_attr(o, r->type);
	int was = cur && cur->len == 1 && cur->val[0], to = vl == 1 && v[0];

	if (r->av == HSM_AV_BOOL) {
		if ((r->flags & HSM_AF_TRUE_STAYS) && was && !to)
			return kfail(CKR_ATTRIBUTE_READ_ONLY, "%s: once true, stays true", r->name);
		if ((r->flags & HSM_AF_FALSE_STAYS) && !was && to)
			return kfail(CKR_ATTRIBUTE_READ_ONLY, "%s: once false, stays false", r->name);
		if ((r->flags & HSM_AF_SO_TRUE) && !was && to && !kenv(env)->so)
			return kfail(CKR_ATTRIBUTE_READ_ONLY, "%s: only the SO sets it", r->name);
	}
	if ((r->flags & HSM_AF_USAGE) && !(cur && same_value(cur, v, vl)))
		return hsm_kp_check(env, HSM_KP_DO_CHANGE_USAGE, o, 0);
	return CKR_OK;
}

/* Applies a copy's or a change's template to dst, judged against src. */
static CK_RV apply_changes(const struct hsm_key_env *env, const struct hsm_obj *src,
			   struct hsm_obj *dst, const CK_ATTRIBUTE *t, CK_ULONG n, int copy)
{
	int src_modifiable = hsm_obj_bool(src, CKA_MODIFIABLE);
	CK_RV rv;

	if ((rv = template_ok(t, n)) != CKR_OK)
		return rv;
	for (CK_ULONG i = 0; i < n; i++) {
		const struct hsm_attr_rule *r;
		uint8_t *v;
		CK_ULONG vl;
		int allowed;

		if ((rv = rule_for(src, t[i].type,
				   copy ? CKR_TEMPLATE_INCONSISTENT : CKR_ATTRIBUTE_TYPE_INVALID, &r)) !=
		    CKR_OK)
			return rv;
		if (copy)
			allowed = (r->flags & HSM_AF_COPY) ||
				  ((r->flags & HSM_AF_MODIFIABLE) && src_modifiable);
		else
			allowed = (r->flags & HSM_AF_MODIFIABLE) != 0;
		if (!allowed)
			return kfail(CKR_ATTRIBUTE_READ_ONLY, "%s: read-only%s", r->name,
				     copy && (r->flags & HSM_AF_MODIFIABLE)
					     ? " (the object has CKA_MODIFIABLE false)"
					     : "");
		if ((rv = template_value(r, t, i, &v, &vl)) != CKR_OK)
			return rv;
		if ((rv = may_change(env, src, r, v, vl)) != CKR_OK) {
			OPENSSL_clear_free(v, vl);
			return rv;
		}
		if ((rv = kobj_put_owned(dst, r->type, v, vl)) != CKR_OK)
			return rv;
	}
	if ((rv = hsm_kp_check(env, HSM_KP_DO_PURPOSES, dst, 0)) != CKR_OK)
		return rv;
	return check_size(dst);
}

/* Copying, changing, destroying: the partition (policy 28), then the
 * object's own say (CKA_COPYABLE, CKA_MODIFIABLE, CKA_DESTROYABLE). */
static CK_RV may(const struct hsm_key_env *env, const struct hsm_obj *o, CK_ATTRIBUTE_TYPE flag)
{
	CK_RV rv = hsm_kp_check(env, HSM_KP_DO_MANAGE, o, 0);

	if (rv == CKR_OK && !hsm_obj_bool(o, flag))
		rv = kfail(CKR_ACTION_PROHIBITED, "%s is false", hsm_attr_name(flag));
	return rv;
}

CK_RV hsm_obj_copy(const struct hsm_key_env *env, const struct hsm_obj *src, const CK_ATTRIBUTE *t,
		   CK_ULONG n, struct hsm_obj **out)
{
	struct hsm_obj *o = NULL;
	CK_RV rv;

	*out = NULL;
	if ((rv = may(env, src, CKA_COPYABLE)) != CKR_OK || (rv = kobj_dup(src, &o)) != CKR_OK)
		return rv;
	o->handle = CK_INVALID_HANDLE;
	o->ouid = 0;
	if ((rv = apply_changes(env, src, o, t, n, 1)) != CKR_OK || (rv = new_ouid(o)) != CKR_OK) {
		hsm_obj_free(o);
		return rv;
	}
	*out = o;
	return CKR_OK;
}

CK_RV hsm_obj_set(const struct hsm_key_env *env, struct hsm_obj *o, const CK_ATTRIBUTE *t,
		  CK_ULONG n)
{
	struct hsm_obj *next = NULL;
	CK_RV rv;

	if ((rv = may(env, o, CKA_MODIFIABLE)) != CKR_OK || (rv = kobj_dup(o, &next)) != CKR_OK)
		return rv;
	if ((rv = apply_changes(env, o, next, t, n, 0)) == CKR_OK) {
		/* all of it or none: o takes next's attributes */
		struct hsm_attr *attrs = o->attrs;
		size_t nattrs = o->nattrs, bytes = o->bytes;
		o->attrs = next->attrs;
		o->nattrs = next->nattrs;
		o->bytes = next->bytes;
		next->attrs = attrs;
		next->nattrs = nattrs;
		next->bytes = bytes;
	}
	hsm_obj_free(next);
	return rv;
}

/* Whether o keeps its sensitive attributes to itself. */
static int hides(const struct hsm_obj *o)
{
	return (o->kind & (HSM_K_PRIV | HSM_K_SECRET)) &&
	       (hsm_obj_bool(o, CKA_SENSITIVE) || !hsm_obj_bool(o, CKA_EXTRACTABLE));
}

CK_RV hsm_obj_get(const struct hsm_obj *o, CK_ATTRIBUTE *t, CK_ULONG n)
{
	int sensitive = 0, invalid = 0, small = 0;

	if (n > 0 && !t)
		return kfail(CKR_ARGUMENTS_BAD, "no template");
	for (CK_ULONG i = 0; i < n; i++) {
		const struct hsm_attr_rule *r = hsm_attr_rule(t[i].type, o->kind);
		const struct hsm_attr *a = hsm_obj_attr(o, t[i].type);

		if (r && (r->flags & HSM_AF_SENSITIVE) && hides(o)) {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			sensitive = 1;
		} else if (!r || !a) {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			invalid = 1;
		} else if (!t[i].pValue) {
			t[i].ulValueLen = a->len;
		} else if (t[i].ulValueLen >= a->len) {
			if (a->len)
				memcpy(t[i].pValue, a->val, a->len);
			t[i].ulValueLen = a->len;
		} else {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			small = 1;
		}
	}
	if (sensitive)
		return kfail(CKR_ATTRIBUTE_SENSITIVE, "an attribute asked for is sensitive");
	if (invalid)
		return kfail(CKR_ATTRIBUTE_TYPE_INVALID, "an attribute asked for is not the object's");
	if (small)
		return kfail(CKR_BUFFER_TOO_SMALL, "a buffer is too small for its attribute");
	return CKR_OK;
}

int hsm_obj_match(const struct hsm_obj *o, const CK_ATTRIBUTE *t, CK_ULONG n)
{
	if (n > 0 && !t)
		return 0;
	for (CK_ULONG i = 0; i < n; i++) {
		const struct hsm_attr_rule *r = hsm_attr_rule(t[i].type, o->kind);
		const struct hsm_attr *a = hsm_obj_attr(o, t[i].type);
		uint8_t *v;
		CK_ULONG vl;
		int same;

		if (!r || !a || ((r->flags & HSM_AF_SENSITIVE) && hides(o)))
			return 0;
		if (kattr_normalize(r, t[i].pValue, t[i].ulValueLen, &v, &vl) != CKR_OK)
			return 0;
		same = same_value(a, v, vl);
		OPENSSL_clear_free(v, vl);
		if (!same)
			return 0;
	}
	return 1;
}

CK_RV hsm_obj_destroy_check(const struct hsm_key_env *env, const struct hsm_obj *o)
{
	return may(env, o, CKA_DESTROYABLE);
}
