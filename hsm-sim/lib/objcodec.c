/* Objects to bytes and back, for the state file and for cloning.
 *
 *   part  := "OPKO" version:u8 which:u8 ('P' public, 'S' secret) ouid:u64
 *            count:u16 attr*
 *   attr  := type:u32 len:u32 value
 *
 * Big-endian; attributes sorted by type, one of each; a CK_BBOOL is one
 * byte 0 or 1, a CK_ULONG (and each CKA_ALLOWED_MECHANISMS entry) eight
 * bytes, whatever the host's CK_ULONG; every other value as stored
 * (normalized: hsm/object.h). The secret part holds exactly the attributes
 * whose row has HSM_AF_SENSITIVE, and the public part all others, so the
 * store can wrap the secret part alone. */
#include "keys_int.h"

#include "ped/buf.h"
#include "ped/error.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#define MAGIC "OPKO"
#define PART_MAX (2u * HSM_OBJ_MAX + 16u * HSM_TEMPLATE_MAX)
#define ATTRS_MAX HSM_TEMPLATE_MAX

static int is_secret(const struct hsm_obj *o, CK_ATTRIBUTE_TYPE type)
{
	const struct hsm_attr_rule *r = hsm_attr_rule(type, o->kind);
	return r && (r->flags & HSM_AF_SENSITIVE);
}

static void put_value(struct ped_wbuf *w, const struct hsm_attr_rule *r, const struct hsm_attr *a)
{
	if (r->av == HSM_AV_ULONG || r->av == HSM_AV_MECHS) {
		size_t n = a->len / sizeof(CK_ULONG);
		ped_wbuf_u32(w, (uint32_t)(n * 8));
		for (size_t i = 0; i < n; i++) {
			CK_ULONG v;
			memcpy(&v, a->val + i * sizeof(v), sizeof(v));
			/* CK_UNAVAILABLE_INFORMATION is all ones at any width */
			ped_wbuf_u64(w, v == CK_UNAVAILABLE_INFORMATION ? UINT64_MAX : (uint64_t)v);
		}
		return;
	}
	ped_wbuf_u32(w, (uint32_t)a->len);
	ped_wbuf_bytes(w, a->val, a->len);
}

static int encode_part(const struct hsm_obj *o, int secret, uint8_t **out, size_t *outlen)
{
	struct ped_wbuf w;
	uint16_t count = 0;

	for (size_t i = 0; i < o->nattrs; i++)
		count += is_secret(o, o->attrs[i].type) == secret;
	ped_wbuf_init(&w, PART_MAX);
	ped_wbuf_bytes(&w, MAGIC, 4);
	ped_wbuf_u8(&w, HSM_OBJ_ENCODING_VERSION);
	ped_wbuf_u8(&w, secret ? 'S' : 'P');
	ped_wbuf_u64(&w, o->ouid);
	ped_wbuf_u16(&w, count);
	for (size_t i = 0; i < o->nattrs; i++) {
		const struct hsm_attr *a = &o->attrs[i];
		const struct hsm_attr_rule *r = hsm_attr_rule(a->type, o->kind);
		if (!r) {
			ped_wbuf_free(&w);
			return PED_E_INVALID;
		}
		if (((r->flags & HSM_AF_SENSITIVE) != 0) != secret)
			continue;
		ped_wbuf_u32(&w, (uint32_t)a->type);
		put_value(&w, r, a);
	}
	return ped_wbuf_take(&w, out, outlen);
}

int hsm_obj_encode(const struct hsm_obj *o, uint8_t **pub, size_t *publen, uint8_t **sec,
		   size_t *seclen)
{
	int has_secret = 0, err;

	*pub = *sec = NULL;
	*publen = *seclen = 0;
	for (size_t i = 0; i < o->nattrs; i++)
		has_secret |= is_secret(o, o->attrs[i].type);
	if ((err = encode_part(o, 0, pub, publen)) != PED_OK)
		return err;
	if (has_secret && (err = encode_part(o, 1, sec, seclen)) != PED_OK) {
		OPENSSL_clear_free(*pub, *publen);
		*pub = NULL;
		*publen = 0;
	}
	return err;
}

/* --- decoding -------------------------------------------------------------- */

struct raw {
	uint32_t type;
	uint32_t len;
	const uint8_t *val;
};

struct part {
	uint64_t ouid;
	uint16_t count;
	struct raw attrs[ATTRS_MAX];
};

static int corrupt(char *why, size_t whylen, char which, const char *what)
{
	snprintf(why, whylen, "object: %s%s",
		 which == 'P'	? "public part: "
		 : which == 'S' ? "secret part: "
				: "",
		 what);
	return PED_E_CORRUPT;
}

static int parse_part(const uint8_t *buf, size_t len, char which, struct part *p, char *why,
		      size_t whylen)
{
	struct ped_rbuf r;
	const uint8_t *magic;
	uint8_t version, w;

	ped_rbuf_init(&r, buf, len);
	magic = ped_rbuf_bytes(&r, 4);
	version = ped_rbuf_u8(&r);
	w = ped_rbuf_u8(&r);
	p->ouid = ped_rbuf_u64(&r);
	p->count = ped_rbuf_u16(&r);
	if (r.err || memcmp(magic, MAGIC, 4) != 0)
		return corrupt(why, whylen, which, "no header");
	if (version != HSM_OBJ_ENCODING_VERSION || w != which)
		return corrupt(why, whylen, which, "unknown version or part");
	if (p->ouid == 0 || p->count > ATTRS_MAX)
		return corrupt(why, whylen, which, "no OUID or too many attributes");
	for (uint16_t i = 0; i < p->count; i++) {
		struct raw *a = &p->attrs[i];
		a->type = ped_rbuf_u32(&r);
		a->len = ped_rbuf_u32(&r);
		if (a->len > HSM_ATTR_MAX)
			return corrupt(why, whylen, which, "an attribute over its bound");
		if ((a->val = ped_rbuf_bytes(&r, a->len)) == NULL)
			break;
		if (i > 0 && a->type <= p->attrs[i - 1].type)
			return corrupt(why, whylen, which, "attributes out of order");
	}
	if (ped_rbuf_end(&r) != PED_OK)
		return corrupt(why, whylen, which, "truncated, oversized or trailing bytes");
	return PED_OK;
}

uint64_t kbe64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int ulong_of(const uint8_t *p, CK_ULONG *v)
{
	uint64_t x = kbe64(p);

	if (x == UINT64_MAX) {
		*v = CK_UNAVAILABLE_INFORMATION;
		return 1;
	}
	if (x > ULONG_MAX)
		return 0;
	*v = (CK_ULONG)x;
	return 1;
}

/* One stored attribute into o, in its stored form or refused. */
static int decode_attr(struct hsm_obj *o, const struct raw *a, int secret, char *why, size_t whylen)
{
	const struct hsm_attr_rule *r = hsm_attr_rule(a->type, o->kind);
	uint8_t *native = NULL, *v = NULL;
	CK_ULONG nlen = a->len, vl = 0;
	int err = PED_E_CORRUPT;

	if (!r || ((r->flags & HSM_AF_SENSITIVE) != 0) != secret) {
		snprintf(why, whylen, "object: attribute 0x%x not in its place", a->type);
		return PED_E_CORRUPT;
	}
	if (r->av == HSM_AV_ULONG || r->av == HSM_AV_MECHS) {
		size_t n = a->len / 8;
		if (a->len % 8 || (r->av == HSM_AV_ULONG && n != 1)) {
			snprintf(why, whylen, "object: %s: not CK_ULONGs", r->name);
			return PED_E_CORRUPT;
		}
		nlen = n * sizeof(CK_ULONG);
		if (n && (native = OPENSSL_malloc(nlen)) == NULL)
			return PED_E_HOST_MEMORY;
		for (size_t i = 0; i < n; i++) {
			CK_ULONG x;
			if (!ulong_of(a->val + 8 * i, &x)) {
				snprintf(why, whylen, "object: %s: out of range", r->name);
				goto out;
			}
			memcpy(native + i * sizeof(x), &x, sizeof(x));
		}
	} else if (r->av == HSM_AV_BOOL && (a->len != 1 || a->val[0] > 1)) {
		snprintf(why, whylen, "object: %s: not a CK_BBOOL", r->name);
		return PED_E_CORRUPT;
	}
	/* stored values are normalized: the same bytes must come out */
	if (kattr_normalize(r, native ? native : a->val, nlen, &v, &vl) != CKR_OK ||
	    vl != nlen || (vl && memcmp(v, native ? native : a->val, vl) != 0)) {
		snprintf(why, whylen, "object: %s: not a stored value", r->name);
		goto out;
	}
	err = kobj_put_owned(o, r->type, v, vl) == CKR_OK ? PED_OK : PED_E_HOST_MEMORY;
	v = NULL;
out:
	OPENSSL_clear_free(v, vl);
	OPENSSL_free(native);
	return err;
}

static const struct raw *find_raw(const struct part *p, uint32_t type)
{
	for (uint16_t i = 0; i < p->count; i++)
		if (p->attrs[i].type == type)
			return &p->attrs[i];
	return NULL;
}

int hsm_obj_decode(const uint8_t *pub, size_t publen, const uint8_t *sec, size_t seclen,
		   struct hsm_obj **out, char *why, size_t whylen)
{
	struct kfinish f = {KO_DECODE, NULL, 0, CK_UNAVAILABLE_INFORMATION, 0, 0, NULL};
	struct part *pp = NULL, *sp = NULL;
	const struct raw *rc, *rk;
	CK_ULONG cls, kt = CK_UNAVAILABLE_INFORMATION;
	struct hsm_obj *o = NULL;
	CK_RV rv;
	int err = PED_E_HOST_MEMORY;

	char scratch[160];

	*out = NULL;
	if (!why || !whylen) {
		why = scratch;
		whylen = sizeof(scratch);
	}
	why[0] = '\0';
	if (!pub || publen > PART_MAX || (sec == NULL) != (seclen == 0) || seclen > PART_MAX)
		return corrupt(why, whylen, 0, "no public part, or a part too large");
	if ((pp = OPENSSL_zalloc(sizeof(*pp))) == NULL || (sp = OPENSSL_zalloc(sizeof(*sp))) == NULL)
		goto out;
	if ((err = parse_part(pub, publen, 'P', pp, why, whylen)) != PED_OK ||
	    (sec && (err = parse_part(sec, seclen, 'S', sp, why, whylen)) != PED_OK))
		goto out;
	err = PED_E_CORRUPT;
	if (sec && sp->ouid != pp->ouid) {
		corrupt(why, whylen, 0, "the secret part is another object's");
		goto out;
	}
	if ((rc = find_raw(pp, CKA_CLASS)) == NULL || rc->len != 8 || !ulong_of(rc->val, &cls) ||
	    ((rk = find_raw(pp, CKA_KEY_TYPE)) != NULL && (rk->len != 8 || !ulong_of(rk->val, &kt)))) {
		corrupt(why, whylen, 0, "no class or key type");
		goto out;
	}
	if (kobj_new(cls, kt, &o) != CKR_OK || (rk && !(o->kind & HSM_K_KEY))) {
		corrupt(why, whylen, 0, "a class or key type this HSM does not keep");
		goto out;
	}
	for (uint16_t i = 0; i < pp->count; i++)
		if ((err = decode_attr(o, &pp->attrs[i], 0, why, whylen)) != PED_OK)
			goto out;
	for (uint16_t i = 0; sec && i < sp->count; i++)
		if ((err = decode_attr(o, &sp->attrs[i], 1, why, whylen)) != PED_OK)
			goto out;
	o->ouid = pp->ouid;
	if ((rv = kobj_finish(o, &f)) != CKR_OK) {
		err = rv == CKR_HOST_MEMORY ? PED_E_HOST_MEMORY : PED_E_CORRUPT;
		snprintf(why, whylen, "object: %s", hsm_ck_why());
		goto out;
	}
	*out = o;
	o = NULL;
	err = PED_OK;
out:
	hsm_obj_free(o);
	OPENSSL_free(pp);
	OPENSSL_free(sp);
	return err;
}
