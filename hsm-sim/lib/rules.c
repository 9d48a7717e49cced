/* Roles, credentials and the failed-login rules of chapter 8. */
#include "hsm/hsm.h"

#include "ped/cert.h"
#include "ped/ec.h"
#include "ped/error.h"
#include "ped/shamir.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define VERIFIER_LABEL "OPENPED-CREDENTIAL-v1"

static int export_der(X509 *c, uint8_t *out, size_t *len)
{
	uint8_t *der = NULL;
	size_t l = 0;
	if (ped_cert_to_der(c, &der, &l) != PED_OK || l > HSM_CERT_MAX) {
		OPENSSL_free(der);
		return PED_E_CRYPTO;
	}
	memcpy(out, der, l);
	*len = l;
	OPENSSL_free(der);
	return PED_OK;
}

int hsm_create(struct hsm *h, const char *serial)
{
	EVP_PKEY *hoc_key = NULL, *static_key = NULL;
	X509 *hoc = NULL, *cert = NULL;
	char cn[64];
	int r = PED_E_CRYPTO;

	if (!serial || !*serial || strlen(serial) > HSM_SERIAL_MAX)
		return PED_E_INVALID;
	memset(h, 0, sizeof(*h));
	snprintf(h->serial, sizeof(h->serial), "%s", serial);
	snprintf(cn, sizeof(cn), "HSM %s static", serial);
	if (ped_ec_generate(&hoc_key) || ped_cert_make_hoc(hoc_key, serial, &hoc) ||
	    ped_ec_generate(&static_key) || ped_cert_issue(hoc, hoc_key, static_key, cn, &cert) ||
	    ped_ec_priv_export(hoc_key, h->hoc_priv) || ped_ec_priv_export(static_key, h->static_priv) ||
	    export_der(hoc, h->hoc_cert, &h->hoc_cert_len) ||
	    export_der(cert, h->static_cert, &h->static_cert_len))
		goto out;
	hsm_zeroize(h);
	r = PED_OK;
out:
	EVP_PKEY_free(hoc_key);
	EVP_PKEY_free(static_key);
	X509_free(hoc);
	X509_free(cert);
	return r;
}

/* --- the object store ------------------------------------------------------ */

void hsm_part_obj_clear(struct hsm_partition *p)
{
	for (uint32_t i = 0; i < p->nobjs; i++)
		hsm_obj_free(p->objs[i]);
	OPENSSL_clear_free(p->objs, (size_t)p->objs_cap * sizeof(*p->objs));
	p->objs = NULL;
	p->nobjs = p->objs_cap = 0;
}

void hsm_partition_key_env(const struct hsm *h, const struct hsm_partition *p, struct hsm_key_env *env)
{
	hsm_key_env_init(env);
	env->pol = p->kp;
	env->hsm_cloning = h->allow_cloning;
}

size_t hsm_part_obj_bytes(const struct hsm_partition *p)
{
	size_t n = 0;
	for (uint32_t i = 0; i < p->nobjs; i++)
		n += hsm_obj_size(p->objs[i]);
	return n;
}

struct hsm_obj *hsm_part_obj_find(const struct hsm_partition *p, CK_OBJECT_HANDLE h)
{
	for (uint32_t i = 0; h && i < p->nobjs; i++)
		if (p->objs[i]->handle == h)
			return p->objs[i];
	return NULL;
}

struct hsm_obj *hsm_part_obj_by_ouid(const struct hsm_partition *p, uint64_t ouid)
{
	for (uint32_t i = 0; ouid && i < p->nobjs; i++)
		if (p->objs[i]->ouid == ouid)
			return p->objs[i];
	return NULL;
}

/* Room for one more pointer (PED_E_HOST_MEMORY). */
static int objs_grow(struct hsm_partition *p)
{
	if (p->nobjs < p->objs_cap)
		return PED_OK;
	uint32_t cap = p->objs_cap ? p->objs_cap * 2 : 8;
	if (cap > HSM_MAX_OBJECTS)
		cap = HSM_MAX_OBJECTS;
	struct hsm_obj **a = OPENSSL_zalloc((size_t)cap * sizeof(*a));
	if (!a)
		return PED_E_HOST_MEMORY;
	if (p->nobjs)
		memcpy(a, p->objs, (size_t)p->nobjs * sizeof(*a));
	OPENSSL_clear_free(p->objs, (size_t)p->objs_cap * sizeof(*p->objs));
	p->objs = a;
	p->objs_cap = cap;
	return PED_OK;
}

int hsm_part_obj_add(struct hsm_partition *p, struct hsm_obj *o)
{
	int r = PED_E_RANGE;

	if (!p->next_handle)
		p->next_handle = 1;
	if (p->nobjs >= HSM_MAX_OBJECTS || p->next_handle >= HSM_HANDLE_SESSION_BIT ||
	    hsm_obj_size(o) > HSM_PARTITION_BYTES - hsm_part_obj_bytes(p))
		goto fail;
	while (!o->ouid || hsm_part_obj_by_ouid(p, o->ouid)) {
		if (o->ouid) {
			r = PED_E_EXISTS;
			goto fail;
		}
		if (RAND_bytes((unsigned char *)&o->ouid, sizeof(o->ouid)) != 1) {
			r = PED_E_CRYPTO;
			goto fail;
		}
	}
	if ((r = objs_grow(p)) != PED_OK)
		goto fail;
	o->handle = p->next_handle++;
	p->objs[p->nobjs++] = o;
	return PED_OK;
fail:
	hsm_obj_free(o);
	return r;
}

void hsm_part_obj_remove(struct hsm_partition *p, CK_OBJECT_HANDLE h)
{
	for (uint32_t i = 0; h && i < p->nobjs; i++) {
		if (p->objs[i]->handle != h)
			continue;
		hsm_obj_free(p->objs[i]);
		memmove(&p->objs[i], &p->objs[i + 1], (size_t)(p->nobjs - i - 1) * sizeof(*p->objs));
		p->objs[--p->nobjs] = NULL;
		return;
	}
}

int hsm_partition_copy(struct hsm_partition *dst, const struct hsm_partition *src)
{
	*dst = *src;
	dst->objs = NULL;
	dst->nobjs = dst->objs_cap = 0;
	if (!src->nobjs)
		return PED_OK;
	if (!(dst->objs = OPENSSL_zalloc((size_t)src->nobjs * sizeof(*dst->objs))))
		goto oom;
	dst->objs_cap = src->nobjs;
	for (uint32_t i = 0; i < src->nobjs; i++) {
		if (hsm_obj_dup(src->objs[i], &dst->objs[i]) != CKR_OK)
			goto oom;
		dst->nobjs++;
	}
	return PED_OK;
oom:
	hsm_part_obj_clear(dst);
	OPENSSL_cleanse(dst, sizeof(*dst));
	return PED_E_HOST_MEMORY;
}

void hsm_partition_move(struct hsm_partition *dst, struct hsm_partition *src)
{
	if (dst == src)
		return;
	hsm_part_obj_clear(dst);
	*dst = *src;
	OPENSSL_cleanse(src, sizeof(*src));
}

void hsm_partition_delete(struct hsm *h, uint32_t i)
{
	if (i >= h->npartitions)
		return;
	hsm_part_obj_clear(&h->partitions[i]);
	memmove(&h->partitions[i], &h->partitions[i + 1], (h->npartitions - i - 1) * sizeof(h->partitions[0]));
	h->npartitions--;
	OPENSSL_cleanse(&h->partitions[h->npartitions], sizeof(h->partitions[0]));
}

void hsm_zeroize_partition(struct hsm_partition *p)
{
	char name[HSM_LABEL_MAX + 1];
	memcpy(name, p->name, sizeof(name));
	hsm_part_obj_clear(p);
	OPENSSL_cleanse(p, sizeof(*p));
	memcpy(p->name, name, sizeof(name));
	hsm_partition_defaults(p);
}

void hsm_partition_defaults(struct hsm_partition *p)
{
	p->max_failed_user_logins = HSM_USER_MAX_FAILURES_DEFAULT;
	p->ignore_failed_challenges = 1;
	p->min_pin_policy = HSM_PIN_MAX_ABSOLUTE - HSM_PIN_MIN_ABSOLUTE; /* 247: 8 characters */
	p->max_pin_length = HSM_PIN_MAX_ABSOLUTE;
	hsm_kp_defaults(&p->kp);
	p->next_handle = 1;
	hsm_partition_erase_defaults(p);
}

void hsm_partition_erase_defaults(struct hsm_partition *p)
{
	size_t n;
	const struct hsm_kp_desc *t = hsm_kp_table(&n);
	memset(p->policy_erase, 0, sizeof(p->policy_erase));
	for (size_t i = 0; i < n; i++)
		p->policy_erase[t[i].number] = (uint8_t)((t[i].erase_off_to_on ? HSM_ERASE_OFF_TO_ON : 0) |
							 (t[i].erase_on_to_off ? HSM_ERASE_ON_TO_OFF : 0));
	p->policy_erase[HSM_POLICY_IGNORE_FAILED_CHALLENGES] = HSM_ERASE_OFF_TO_ON; /* "Destructive OFF-to-ON" */
}

int hsm_set_device_secret(struct hsm *h, const uint8_t secret[HSM_DEVICE_SECRET_LEN])
{
	int r = hsm_storage_key(secret, h->serial, h->kek);
	h->kek_set = r == PED_OK;
	return r;
}

int hsm_partition_set_domain(struct hsm_partition *p, const uint8_t *secret, size_t len, uint8_t m, uint8_t n,
			     const uint8_t keyset_id[16])
{
	int r = hsm_domain_key(secret, len, p->domain_key);
	if (r != PED_OK)
		return r;
	hsm_credential_set(&p->domain, secret, len, m, n, keyset_id);
	p->domain_key_set = 1;
	return PED_OK;
}

int hsm_set_domain(struct hsm *h, const uint8_t *secret, size_t len, uint8_t m, uint8_t n,
		   const uint8_t keyset_id[16])
{
	int r = hsm_domain_key(secret, len, h->domain_key);
	if (r != PED_OK)
		return r;
	hsm_credential_set(&h->domain, secret, len, m, n, keyset_id);
	h->domain_key_set = 1;
	return PED_OK;
}

/* A text field as compared: nothing after its end counts. */
static void tidy(char *s, size_t size)
{
	size_t n = strnlen(s, size);
	memset(s + n, 0, size - n);
}

/* Two partitions' fields, their objects aside. */
static int same_partition(const struct hsm_partition *a, const struct hsm_partition *b)
{
	struct hsm_partition x = *a, y = *b;
	int same;
	x.objs = y.objs = NULL;
	x.objs_cap = y.objs_cap = 0;
	tidy(x.name, sizeof(x.name));
	tidy(y.name, sizeof(y.name));
	tidy(x.label, sizeof(x.label));
	tidy(y.label, sizeof(y.label));
	same = !memcmp(&x, &y, sizeof(x)) && a->nobjs == b->nobjs;
	OPENSSL_cleanse(&x, sizeof(x));
	OPENSSL_cleanse(&y, sizeof(y));
	for (uint32_t i = 0; same && i < a->nobjs; i++) {
		const struct hsm_obj *o = a->objs[i], *q = b->objs[i];
		same = o->handle == q->handle && o->ouid == q->ouid && o->nattrs == q->nattrs;
		for (size_t j = 0; same && j < o->nattrs; j++)
			same = o->attrs[j].type == q->attrs[j].type && o->attrs[j].len == q->attrs[j].len &&
			       (!o->attrs[j].len || !memcmp(o->attrs[j].val, q->attrs[j].val, o->attrs[j].len));
	}
	return same;
}

int hsm_same_state(const struct hsm *a, const struct hsm *b)
{
	/* every field before the partitions, the storage key aside */
	size_t head = offsetof(struct hsm, partitions);
	struct hsm *x = OPENSSL_malloc(head), *y = OPENSSL_malloc(head);
	int same = x && y;
	if (same) {
		memcpy(x, a, head);
		memcpy(y, b, head);
		x->kek_set = y->kek_set = 0;
		tidy(x->serial, sizeof(x->serial));
		tidy(y->serial, sizeof(y->serial));
		tidy(x->label, sizeof(x->label));
		tidy(y->label, sizeof(y->label));
		tidy(x->ped_ip, sizeof(x->ped_ip));
		tidy(y->ped_ip, sizeof(y->ped_ip));
		OPENSSL_cleanse(x->kek, sizeof(x->kek));
		OPENSSL_cleanse(y->kek, sizeof(y->kek));
		same = !memcmp(x, y, head) && a->npartitions == b->npartitions;
	}
	OPENSSL_clear_free(x, head);
	OPENSSL_clear_free(y, head);
	for (uint32_t i = 0; same && i < a->npartitions && i < HSM_MAX_PARTITIONS; i++)
		same = same_partition(&a->partitions[i], &b->partitions[i]);
	return same;
}

void hsm_zeroize(struct hsm *h)
{
	OPENSSL_cleanse(h->label, sizeof(h->label));
	OPENSSL_cleanse(&h->so, sizeof(h->so));
	OPENSSL_cleanse(&h->au, sizeof(h->au));
	OPENSSL_cleanse(&h->domain, sizeof(h->domain));
	OPENSSL_cleanse(h->domain_key, sizeof(h->domain_key));
	h->domain_key_set = 0;
	OPENSSL_cleanse(h->rpv, sizeof(h->rpv));
	h->rpv_set = 0;
	h->rpv_2e2s = 0;
	h->initialized = 0;
	/* policies back to their defaults */
	h->so_resets_partition_pin = 0;
	h->allow_cloning = 1;
	h->network_replication = 1;
	h->force_pin_change = 1;
	h->restricted_restore = 0;
	/* Partitions and their objects go with the HSM's domain. */
	hsm_erase_partitions(h);
}

void hsm_reinit(struct hsm *h)
{
	/* The Auditor is no role of the SO's: the copy keeps it (and with it the
	 * log the daemon keeps under its white key) while the rest goes. */
	struct hsm_role_state au = h->au;
	hsm_zeroize(h);
	h->au = au;
	OPENSSL_cleanse(&au, sizeof(au));
}

void hsm_erase_partitions(struct hsm *h)
{
	for (uint32_t i = 0; i < h->npartitions && i < HSM_MAX_PARTITIONS; i++)
		hsm_part_obj_clear(&h->partitions[i]);
	OPENSSL_cleanse(h->partitions, h->npartitions * sizeof(h->partitions[0]));
	h->npartitions = 0;
}

void hsm_cleanse(struct hsm *h)
{
	for (uint32_t i = 0; i < HSM_MAX_PARTITIONS; i++)
		hsm_part_obj_clear(&h->partitions[i]);
	OPENSSL_cleanse(h, sizeof(*h));
}

void hsm_verifier(const uint8_t *secret, size_t len, uint8_t out[HSM_VERIFIER_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int l = 0;
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, VERIFIER_LABEL, sizeof(VERIFIER_LABEL) - 1) != 1 ||
	    EVP_DigestUpdate(md, secret, len) != 1 || EVP_DigestFinal_ex(md, out, &l) != 1)
		memset(out, 0xff, HSM_VERIFIER_LEN); /* matches nothing a digest produces */
	EVP_MD_CTX_free(md);
}

void hsm_credential_set(struct hsm_credential *c, const uint8_t *secret, size_t len, uint8_t m,
			uint8_t n, const uint8_t keyset_id[16])
{
	c->set = 1;
	c->m = m;
	c->n = n;
	memcpy(c->keyset_id, keyset_id, sizeof(c->keyset_id));
	hsm_verifier(secret, len, c->verifier);
}

int hsm_combine(const struct hsm_credential *c, const struct ped_app_splits *sp,
		uint8_t secret[HSM_SECRET_LEN])
{
	struct ped_share shares[PED_APP_MAX_SPLITS];
	int r;

	if (!c->set)
		return PED_E_USER_NOT_LOGGED_IN;
	/* Another keyset's key of the right colour is simply a wrong secret. */
	for (unsigned i = 0; i < sp->count; i++) {
		if (sp->s[i].share_len != HSM_SECRET_LEN ||
		    memcmp(sp->s[i].keyset_id, c->keyset_id, sizeof(c->keyset_id)) != 0)
			return PED_E_PIN_INCORRECT;
		shares[i] = (struct ped_share){sp->s[i].index, sp->s[i].share};
	}
	if (sp->count < c->m)
		return PED_E_PIN_INCORRECT;
	r = ped_shamir_combine(shares, sp->count, c->m, HSM_SECRET_LEN, secret);
	if (r == PED_E_SHARE_DUPLICATE || r == PED_E_SHARE_INVALID)
		return PED_E_CALLBACK_ERROR; /* a PED never sends these: the PED misbehaved */
	return r == PED_OK ? PED_OK : PED_E_PIN_INCORRECT;
}

struct hsm_role_state *hsm_role_state_of(struct hsm *h, struct hsm_partition *p, enum hsm_role role)
{
	switch (role) {
	case HSM_ROLE_SO: return &h->so;
	case HSM_ROLE_AU: return &h->au;
	case HSM_ROLE_PO: return p ? &p->po : NULL;
	case HSM_ROLE_CO: return p ? &p->co : NULL;
	case HSM_ROLE_CU: return p ? &p->cu : NULL;
	}
	return NULL;
}

static uint32_t limit_of(const struct hsm_partition *p, enum hsm_role role)
{
	switch (role) {
	case HSM_ROLE_SO: return HSM_SO_MAX_FAILURES;
	case HSM_ROLE_PO: return HSM_PO_MAX_FAILURES;
	case HSM_ROLE_CO:
	case HSM_ROLE_CU: return p ? p->max_failed_user_logins : HSM_USER_MAX_FAILURES_DEFAULT;
	case HSM_ROLE_AU: return HSM_USER_MAX_FAILURES_DEFAULT;
	}
	return HSM_USER_MAX_FAILURES_DEFAULT;
}

void hsm_login(struct hsm *h, struct hsm_partition *p, enum hsm_role role, const uint8_t *secret,
	       size_t len, struct hsm_login_result *res)
{
	struct hsm_role_state *rs = hsm_role_state_of(h, p, role);
	uint8_t v[HSM_VERIFIER_LEN];
	uint32_t limit = limit_of(p, role);

	memset(res, 0, sizeof(*res));
	if (!rs || !rs->cred.set) {
		res->err = PED_E_USER_NOT_LOGGED_IN;
		return;
	}
	if (rs->locked) {
		res->err = PED_E_PIN_LOCKED;
		return;
	}
	/* A limit reached earlier whose consequence never reached the disk (a
	 * failed save) applies now, whatever secret comes with this attempt. */
	if (rs->failures < limit) {
		hsm_verifier(secret, len, v);
		if (secret && CRYPTO_memcmp(v, rs->cred.verifier, sizeof(v)) == 0) {
			rs->failures = 0;
			res->err = PED_OK;
			res->remaining = limit;
			return;
		}
		rs->failures++;
	}
	res->err = PED_E_PIN_INCORRECT;
	res->remaining = rs->failures >= limit ? 0 : limit - rs->failures;
	if (rs->failures < limit)
		return;
	switch (role) {
	case HSM_ROLE_SO:
		hsm_zeroize(h);
		res->hsm_zeroized = 1;
		break;
	case HSM_ROLE_PO:
		hsm_zeroize_partition(p);
		res->partition_zeroized = 1;
		break;
	case HSM_ROLE_CO:
		/* too many CO failures lock both user roles */
		p->co.locked = 1;
		p->cu.locked = 1;
		res->locked = 1;
		break;
	case HSM_ROLE_CU:
	case HSM_ROLE_AU:
		rs->locked = 1;
		res->locked = 1;
		break;
	}
}

static int save_counts(const struct hsm_store *st)
{
	return st->save_counts ? st->save_counts(st->arg) : st->save(st->arg);
}

/* After hsm_login: a zeroization is a new state, anything else counts. */
static int save_result(const struct hsm_store *st, const struct hsm_login_result *res)
{
	return res->hsm_zeroized || res->partition_zeroized ? st->save(st->arg) : save_counts(st);
}

int hsm_attempt_record(struct hsm_role_state *rs, const struct hsm_store *st)
{
	int r;

	if (rs->failures >= HSM_FAILURES_MAX)
		return PED_OK;
	rs->failures++;
	if ((r = save_counts(st)) != PED_OK)
		return r; /* memory is what the store left: the saved count, or this one */
	rs->failures--;
	return PED_OK;
}

int hsm_ped_login(struct hsm *h, struct hsm_partition *p, enum hsm_role role, const struct ped_app_splits *sp,
		  const struct hsm_store *st, struct hsm_login_result *res)
{
	struct hsm_role_state *rs = hsm_role_state_of(h, p, role);
	uint8_t secret[HSM_SECRET_LEN];
	int r, right;

	memset(res, 0, sizeof(*res));
	if (!rs) {
		res->err = PED_E_USER_NOT_LOGGED_IN;
		return res->err;
	}
	r = hsm_combine(&rs->cred, sp, secret);
	if (r == PED_E_CALLBACK_ERROR) {
		res->err = r;
		goto out;
	}
	right = r == PED_OK;
	if ((r = hsm_attempt_record(rs, st)) != PED_OK) {
		res->unrecorded = 1;
		res->err = r;
		goto out;
	}
	/* a wrong secret (another keyset, too few splits) counts as one */
	hsm_login(h, p, role, right ? secret : NULL, right ? sizeof(secret) : 0, res);
	r = save_result(st, res);
	if (res->err == PED_OK)
		res->err = r;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	return res->err;
}

int hsm_activation_applies(const struct hsm_partition *p, enum hsm_role role)
{
	if (!p || !p->allow_activation || (role != HSM_ROLE_CO && role != HSM_ROLE_CU))
		return 0;
	return role == HSM_ROLE_CO ? p->co.challenge_set : p->cu.challenge_set;
}

int hsm_activation_persists(const struct hsm_partition *p)
{
	return p->allow_activation && p->allow_auto_activation;
}

void hsm_activate(struct hsm_partition *p, enum hsm_role role)
{
	struct hsm_role_state *rs = role == HSM_ROLE_CO ? &p->co : role == HSM_ROLE_CU ? &p->cu : NULL;
	if (!rs)
		return;
	rs->activated = 1;
	/* "Auto-activation takes effect for each affected role the next time
	 * the role is authenticated" */
	rs->auto_activated = p->allow_auto_activation;
}

unsigned hsm_power_on(struct hsm *h, int64_t now)
{
	unsigned dropped = 0;
	int in_window = h->saved_at > 0 && now >= h->saved_at && now - h->saved_at <= HSM_AUTO_ACTIVATION_WINDOW_S;

	for (uint32_t i = 0; i < h->npartitions && i < HSM_MAX_PARTITIONS; i++) {
		struct hsm_partition *p = &h->partitions[i];
		struct hsm_role_state *rs[] = {&p->co, &p->cu};
		for (int j = 0; j < 2; j++) {
			int keep = in_window && hsm_activation_persists(p) && rs[j]->auto_activated;
			if (rs[j]->activated && !keep)
				dropped++;
			if (!keep)
				rs[j]->activated = rs[j]->auto_activated = 0;
		}
	}
	return dropped;
}

int hsm_challenge_login(struct hsm *h, struct hsm_partition *p, enum hsm_role role, const char *challenge,
			size_t len, const struct hsm_store *st, struct hsm_login_result *res)
{
	struct hsm_role_state *rs = hsm_role_state_of(h, p, role);
	uint8_t v[HSM_VERIFIER_LEN];
	int counted, r;

	memset(res, 0, sizeof(*res));
	if (!rs || !hsm_activation_applies(p, role)) {
		res->err = PED_E_USER_NOT_LOGGED_IN;
		return res->err;
	}
	if (rs->locked) {
		res->err = PED_E_PIN_LOCKED;
		return res->err;
	}
	hsm_verifier((const uint8_t *)challenge, len, v);
	/* partition policy 15 at 1 (the default): a wrong challenge is refused
	 * but not counted; only failed PED key logins are */
	counted = !p->ignore_failed_challenges;
	if (counted && (r = hsm_attempt_record(rs, st)) != PED_OK) {
		res->unrecorded = 1;
		res->err = r;
		goto out;
	}
	if (CRYPTO_memcmp(v, rs->challenge_verifier, sizeof(v)) != 0) {
		if (counted) {
			hsm_login(h, p, role, NULL, 0, res);
			(void)save_result(st, res);
		}
		res->err = PED_E_PIN_INCORRECT;
		goto out;
	}
	if (!rs->activated) {
		res->err = PED_OK;
		r = HSM_CHALLENGE_NEEDS_PED;
		goto done;
	}
	rs->failures = 0;
	/* authenticated: auto-activation (policy 23) takes effect now if on */
	rs->auto_activated = p->allow_auto_activation;
	res->err = PED_OK;
out:
	r = res->err;
done:
	OPENSSL_cleanse(v, sizeof(v));
	return r;
}

struct hsm_partition *hsm_partition_find(struct hsm *h, const char *name)
{
	for (uint32_t i = 0; i < h->npartitions; i++)
		if (strcmp(h->partitions[i].name, name) == 0)
			return &h->partitions[i];
	return NULL;
}

int hsm_label_valid(const char *label)
{
	size_t n = label ? strlen(label) : 0;
	if (n < 1 || n > HSM_LABEL_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)label[i] < 0x20 || (unsigned char)label[i] > 0x7e)
			return 0;
	return 1;
}

int hsm_partition_create(struct hsm *h, const char *name, struct hsm_partition **out)
{
	struct hsm_partition *p;
	if (!hsm_label_valid(name))
		return PED_E_INVALID;
	if (hsm_partition_find(h, name))
		return PED_E_EXISTS;
	if (h->npartitions == HSM_MAX_PARTITIONS)
		return PED_E_RANGE;
	p = &h->partitions[h->npartitions++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	hsm_partition_defaults(p);
	*out = p;
	return PED_OK;
}

int hsm_partition_set_policy(struct hsm_partition *p, uint32_t policy, uint32_t value)
{
	switch (policy) {
	case HSM_POLICY_MAX_FAILED_USER_LOGINS:
		/* the Partition SO may only lower the limit */
		if (value < 1 || value > HSM_USER_MAX_FAILURES_DEFAULT)
			return PED_E_RANGE;
		p->max_failed_user_logins = value;
		/* A role whose consecutive failures already reach the new limit is
		 * locked now, with the consequence of reaching it at a login (CO:
		 * the CO and the CU, chapter 8): left unlocked it would show "5
		 * failed logins of 3" and its next login, the right key included,
		 * would be refused as CKR_PIN_INCORRECT and lock it then. */
		if (p->co.cred.set && p->co.failures >= value)
			p->co.locked = p->cu.locked = 1;
		if (p->cu.cred.set && p->cu.failures >= value)
			p->cu.locked = 1;
		return PED_OK;
	case HSM_POLICY_ALLOW_ACTIVATION:
		if (value > 1)
			return PED_E_RANGE;
		p->allow_activation = (uint8_t)value;
		/* Off deletes the cached secrets; policy 23 keeps its value and
		 * takes effect again when activation is re-enabled (chapter 8). */
		if (!value)
			p->co.activated = p->cu.activated = p->co.auto_activated = p->cu.auto_activated = 0;
		return PED_OK;
	case HSM_POLICY_ALLOW_AUTO_ACTIVATION:
		if (value > 1)
			return PED_E_RANGE;
		p->allow_auto_activation = (uint8_t)value;
		/* on: it takes effect at each role's next authentication */
		p->co.auto_activated = p->cu.auto_activated = 0;
		return PED_OK;
	case HSM_POLICY_MIN_PIN_LENGTH:
		/* 255 minus the shortest length: never under the absolute 8, never over policy 26 */
		if (value > HSM_PIN_MAX_ABSOLUTE - HSM_PIN_MIN_ABSOLUTE || HSM_PIN_MAX_ABSOLUTE - value > p->max_pin_length)
			return PED_E_RANGE;
		p->min_pin_policy = (uint8_t)value;
		return PED_OK;
	case HSM_POLICY_MAX_PIN_LENGTH:
		if (value > HSM_PIN_MAX_ABSOLUTE || value < (uint32_t)(HSM_PIN_MAX_ABSOLUTE - p->min_pin_policy))
			return PED_E_RANGE;
		p->max_pin_length = (uint8_t)value;
		return PED_OK;
	case HSM_POLICY_IGNORE_FAILED_CHALLENGES:
		if (value > 1)
			return PED_E_RANGE;
		if (hsm_partition_policy_erases(p, policy, value))
			hsm_part_obj_clear(p);
		p->ignore_failed_challenges = (uint8_t)value;
		return PED_OK;
	}
	if (hsm_kp_find(policy)) {
		int erase = hsm_partition_policy_destructive(p, policy, value), r;
		if ((r = hsm_kp_set(&p->kp, policy, value, NULL)) != PED_OK)
			return r;
		if (erase)
			hsm_part_obj_clear(p);
		return PED_OK;
	}
	return PED_E_NOT_FOUND;
}

/* The partition policies, by number: the key policies (hsm_kp_table) and
 * the others, with the reference's names (chapter 6's table and template). */
static const struct hsm_ppolicy other_policies[] = {
	{HSM_POLICY_IGNORE_FAILED_CHALLENGES, "Ignore failed challenge responses", 1, 1},
	{HSM_POLICY_MAX_FAILED_USER_LOGINS, "Max failed user logins allowed", HSM_USER_MAX_FAILURES_DEFAULT,
	 HSM_USER_MAX_FAILURES_DEFAULT},
	{HSM_POLICY_ALLOW_ACTIVATION, "Allow activation", 0, 1},
	{HSM_POLICY_ALLOW_AUTO_ACTIVATION, "Allow auto-activation", 0, 1},
	{HSM_POLICY_MIN_PIN_LENGTH, "Minimum pin length (inverted 255 - min)", HSM_PIN_MAX_ABSOLUTE - HSM_PIN_MIN_ABSOLUTE,
	 HSM_PIN_MAX_ABSOLUTE - HSM_PIN_MIN_ABSOLUTE},
	{HSM_POLICY_MAX_PIN_LENGTH, "Maximum pin length", HSM_PIN_MAX_ABSOLUTE, HSM_PIN_MAX_ABSOLUTE},
};
#define NOTHER (sizeof(other_policies) / sizeof(other_policies[0]))

int hsm_partition_policy(unsigned number, struct hsm_ppolicy *out)
{
	const struct hsm_kp_desc *d;

	for (size_t i = 0; i < NOTHER; i++)
		if (other_policies[i].number == number) {
			if (out)
				*out = other_policies[i];
			return 1;
		}
	if (number >= HSM_KP_SLOTS || !(d = hsm_kp_find(number)))
		return 0;
	if (out)
		*out = (struct hsm_ppolicy){d->number, d->name, d->def, 1};
	return 1;
}

size_t hsm_partition_policies(unsigned *numbers, size_t max)
{
	size_t n = 0;
	for (unsigned i = 0; i < HSM_KP_SLOTS; i++)
		if (hsm_partition_policy(i, NULL) && n < max)
			numbers[n++] = i;
	return n;
}

int hsm_partition_policy_value(const struct hsm_partition *p, unsigned number)
{
	switch (number) {
	case HSM_POLICY_IGNORE_FAILED_CHALLENGES: return p->ignore_failed_challenges;
	case HSM_POLICY_MAX_FAILED_USER_LOGINS: return (int)p->max_failed_user_logins;
	case HSM_POLICY_ALLOW_ACTIVATION: return p->allow_activation;
	case HSM_POLICY_ALLOW_AUTO_ACTIVATION: return p->allow_auto_activation;
	case HSM_POLICY_MIN_PIN_LENGTH: return p->min_pin_policy;
	case HSM_POLICY_MAX_PIN_LENGTH: return p->max_pin_length;
	}
	return hsm_kp_find(number) && number < HSM_KP_SLOTS ? p->kp.v[number] : -1;
}

int hsm_partition_policy_destructive(const struct hsm_partition *p, unsigned number, unsigned value)
{
	int now = hsm_partition_policy_value(p, number);
	if (now < 0 || (unsigned)now == value || number >= HSM_KP_SLOTS)
		return 0;
	/* OFF-to-ON: from 0 to anything else; ON-to-OFF: back to 0 */
	if (!now)
		return (p->policy_erase[number] & HSM_ERASE_OFF_TO_ON) != 0;
	if (!value)
		return (p->policy_erase[number] & HSM_ERASE_ON_TO_OFF) != 0;
	return 0;
}

int hsm_partition_set_policies(struct hsm_partition *p, const uint32_t *policy, const uint32_t *value, size_t n,
			       int dry_run, int *destructive, size_t *bad)
{
	/* tried first on the policies alone: all or nothing */
	struct hsm_partition *t = OPENSSL_malloc(sizeof(*t));
	int r = PED_OK, erase = 0;

	if (!t)
		return PED_E_HOST_MEMORY;
	memcpy(t, p, sizeof(*t));
	t->objs = NULL;
	t->nobjs = t->objs_cap = 0;
	for (size_t i = 0; i < n && r == PED_OK; i++) {
		erase |= hsm_partition_policy_destructive(t, policy[i], value[i]);
		if ((r = hsm_partition_set_policy(t, policy[i], value[i])) != PED_OK && bad)
			*bad = i;
	}
	OPENSSL_clear_free(t, sizeof(*t));
	if (destructive)
		*destructive = erase;
	if (r != PED_OK || dry_run)
		return r;
	for (size_t i = 0; i < n; i++)
		(void)hsm_partition_set_policy(p, policy[i], value[i]);
	if (erase)
		hsm_part_obj_clear(p);
	return PED_OK;
}

int hsm_pin_length_ok(const struct hsm_partition *p, size_t len)
{
	return len >= (size_t)(HSM_PIN_MAX_ABSOLUTE - p->min_pin_policy) && len <= p->max_pin_length;
}

int hsm_policy_value(const struct hsm *h, uint32_t policy)
{
	switch (policy) {
	case HSM_HPOLICY_ALLOW_CLONING: return h->allow_cloning;
	case HSM_HPOLICY_SO_RESETS_PARTITION_PIN: return h->so_resets_partition_pin;
	case HSM_HPOLICY_NETWORK_REPLICATION: return h->network_replication;
	case HSM_HPOLICY_FORCE_PIN_CHANGE: return h->force_pin_change;
	case HSM_HPOLICY_RESTRICTED_RESTORE: return h->is_backup ? h->restricted_restore : -1;
	}
	return -1;
}

int hsm_policy_erases(const struct hsm *h, uint32_t policy, uint32_t value)
{
	int now = hsm_policy_value(h, policy);
	if (now < 0 || value > 1 || (uint32_t)now == value || !h->npartitions)
		return 0;
	/* "Allow cloning" is destructive both ways; 15 when turned on */
	return policy == HSM_HPOLICY_ALLOW_CLONING || (policy == HSM_HPOLICY_SO_RESETS_PARTITION_PIN && value);
}

int hsm_set_policy(struct hsm *h, uint32_t policy, uint32_t value)
{
	uint8_t *v;
	switch (policy) {
	case HSM_HPOLICY_ALLOW_CLONING: v = &h->allow_cloning; break;
	case HSM_HPOLICY_SO_RESETS_PARTITION_PIN: v = &h->so_resets_partition_pin; break;
	case HSM_HPOLICY_NETWORK_REPLICATION: v = &h->network_replication; break;
	case HSM_HPOLICY_FORCE_PIN_CHANGE: v = &h->force_pin_change; break;
	case HSM_HPOLICY_RESTRICTED_RESTORE:
		if (!h->is_backup)
			return PED_E_CANCEL;
		v = &h->restricted_restore;
		break;
	default: return PED_E_NOT_FOUND;
	}
	if (value > 1)
		return PED_E_RANGE;
	if (hsm_policy_erases(h, policy, value))
		hsm_erase_partitions(h);
	*v = (uint8_t)value;
	return PED_OK;
}

uint32_t hsm_partition_policy_erases(const struct hsm_partition *p, uint32_t policy, uint32_t value)
{
	return hsm_partition_policy_destructive(p, policy, value) ? p->nobjs : 0;
}

int hsm_same_domain(const struct hsm_credential *a, const struct hsm_credential *b)
{
	return a->set && b->set && CRYPTO_memcmp(a->verifier, b->verifier, sizeof(a->verifier)) == 0;
}
