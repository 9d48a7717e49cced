/* HSM state files: "OPHS", version, the state, SHA-256 of all before it.
 *
 * Version 8, in order (big-endian; str: lv16 text; sealed: lv32 of
 * hsm_seal's nonce || ciphertext || tag under the storage key, empty for
 * nothing):
 *
 *   "OPHS" 8 serial:str label:str initialized:u8 is_backup:u8
 *   so:role au:role domain:cred hoc_cert:lv16 static_cert:lv16
 *   rpv_set:u8 rpv_2e2s:u8 ped_ip:str ped_port:u16 hsm_policy_15:u8
 *   hsm_policies_7_16_21_55:4*u8 saved_at:u64 npartitions:u32 partition*
 *   hsm_secrets:sealed SHA-256
 *
 *   partition := name:str label:str initialized:u8 domain:cred po co cu:role
 *                policy_20:u32 policy_22 23 15 25 26:u8 co_cached cu_cached:u8
 *                npolicies:u8 (number:u8 value:u8)*     key policies
 *                nerase:u8 (number:u8 bits:u8)*         destructive directions
 *                next_handle:u64 domain_key:sealed nobjs:u32 object*
 *   object    := handle:u64 pub:lv32 sec:sealed
 *
 * hsm_secrets is hoc_priv (66) static_priv (66) rpv (32) domain_key_set (1)
 * domain_key (32), its additional data 'H' and every byte before it; a
 * partition's domain_key has 'P' || lv16 serial || lv16 name, an object's
 * sec (hsm_obj_encode's secret part) 'O' || lv16 serial || lv16 name ||
 * lv32 pub. Versions 2 to 7 kept the secrets in clear (and objects as a
 * label and a value) and are read, to be written as 8. */
#include "hsm/hsm.h"

#include "hsm/seal.h"
#include "ped/buf.h"
#include "ped/error.h"
#include "ped/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "OPHS"
#define VERSION HSM_STATE_VERSION
#define HASH_LEN 32
/* 16 partitions of HSM_PARTITION_BYTES of values, with each attribute's
 * and object's framing */
#define STATE_MAX (32u * 1024 * 1024)
#define PART_MAX (2u * HSM_OBJ_MAX + 16u * HSM_TEMPLATE_MAX) /* an object's encoded part */
#define OLD_OBJECT_MAX 256 /* an object's value before version 8 */
#define SEALED_MAX(n) ((n) + HSM_SEAL_OVERHEAD)
#define HSM_SECRETS_LEN (2 * HSM_SCALAR_LEN + HSM_SECRET_LEN + 1 + HSM_KEY_LEN)

/* Why a version 8 file's sealed parts did not open: the decoder's words. */
#define WHY_SEAL "its sealed secrets do not open under this HSM's device secret (a device secret file not this state file's, or the file was altered)"

static void put_str(struct ped_wbuf *w, const char *s)
{
	ped_wbuf_lv16(w, s, strlen(s));
}

static void get_str(struct ped_rbuf *r, char *out, size_t max)
{
	size_t n = 0;
	const uint8_t *p = ped_rbuf_lv16(r, max, &n);
	if (!p)
		return;
	if (memchr(p, '\0', n)) {
		r->err = PED_E_INVALID;
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

static void put_cred(struct ped_wbuf *w, const struct hsm_credential *c)
{
	ped_wbuf_u8(w, c->set);
	ped_wbuf_u8(w, c->m);
	ped_wbuf_u8(w, c->n);
	ped_wbuf_bytes(w, c->keyset_id, sizeof(c->keyset_id));
	ped_wbuf_bytes(w, c->verifier, sizeof(c->verifier));
}

static void get_fixed(struct ped_rbuf *r, void *out, size_t n)
{
	const uint8_t *p = ped_rbuf_bytes(r, n);
	if (p)
		memcpy(out, p, n);
}

static void get_cred(struct ped_rbuf *r, struct hsm_credential *c)
{
	c->set = ped_rbuf_u8(r);
	c->m = ped_rbuf_u8(r);
	c->n = ped_rbuf_u8(r);
	get_fixed(r, c->keyset_id, sizeof(c->keyset_id));
	get_fixed(r, c->verifier, sizeof(c->verifier));
	if (c->set > 1 || (c->set && (c->m < 1 || c->m > c->n || c->n > 16)))
		r->err = PED_E_INVALID;
}

static void put_role(struct ped_wbuf *w, const struct hsm_role_state *rs)
{
	put_cred(w, &rs->cred);
	ped_wbuf_u32(w, rs->failures);
	ped_wbuf_u8(w, rs->locked);
	ped_wbuf_u8(w, rs->challenge_set);
	ped_wbuf_bytes(w, rs->challenge_verifier, sizeof(rs->challenge_verifier));
	ped_wbuf_u8(w, rs->challenge_expired);
}

static void get_role(struct ped_rbuf *r, struct hsm_role_state *rs, unsigned version)
{
	get_cred(r, &rs->cred);
	rs->failures = ped_rbuf_u32(r);
	rs->locked = ped_rbuf_u8(r);
	rs->challenge_set = ped_rbuf_u8(r);
	get_fixed(r, rs->challenge_verifier, sizeof(rs->challenge_verifier));
	if (version >= 7)
		rs->challenge_expired = ped_rbuf_u8(r);
	if (rs->locked > 1 || rs->challenge_set > 1 || rs->failures > HSM_FAILURES_MAX || rs->challenge_expired > 1)
		r->err = PED_E_INVALID;
}


/* Additional data: tag, then lv16 serial, lv16 name, lv32 pub (if any). */
static int make_aad(char tag, const char *serial, const char *name, const uint8_t *pub, size_t publen,
		    uint8_t **out, size_t *outlen)
{
	struct ped_wbuf w;
	ped_wbuf_init(&w, PART_MAX + 256);
	ped_wbuf_u8(&w, (uint8_t)tag);
	put_str(&w, serial);
	put_str(&w, name);
	if (pub)
		ped_wbuf_lv32(&w, pub, publen);
	return ped_wbuf_take(&w, out, outlen);
}

/* pt sealed under h's storage key with aad, written as lv32. */
static void put_sealed(struct ped_wbuf *w, const struct hsm *h, const uint8_t *aad, size_t aadlen, const uint8_t *pt,
		       size_t ptlen)
{
	uint8_t *sealed = NULL;
	size_t n = 0;
	int r;
	if (w->err)
		return;
	if ((r = hsm_seal(h->kek, aad, aadlen, pt, ptlen, &sealed, &n)) != PED_OK) {
		w->err = r;
		return;
	}
	ped_wbuf_lv32(w, sealed, n);
	OPENSSL_free(sealed); /* ciphertext */
}

/* An lv32 sealed part opened under h's key into *pt: exactly want bytes
 * (any up to max when want is 0), or nothing at all (an empty field, *pt
 * NULL) when empty is allowed. Sets r->err, and *sealfail when it does not
 * open. */
static void get_sealed(struct ped_rbuf *r, const struct hsm *h, const uint8_t *aad, size_t aadlen, size_t max,
		       size_t want, int empty, uint8_t **pt, size_t *ptlen, int *sealfail)
{
	size_t n = 0;
	const uint8_t *p = ped_rbuf_lv32(r, SEALED_MAX(max), &n);
	int e;
	*pt = NULL;
	*ptlen = 0;
	if (!p || r->err)
		return;
	if (!n) {
		if (!empty)
			r->err = PED_E_INVALID;
		return;
	}
	if (!h->kek_set) {
		*sealfail = 1;
		r->err = PED_E_CORRUPT;
		return;
	}
	if ((e = hsm_open(h->kek, aad, aadlen, p, n, pt, ptlen)) != PED_OK) {
		if (e == PED_E_BAD_RECORD)
			*sealfail = 1;
		r->err = e == PED_E_HOST_MEMORY ? e : PED_E_CORRUPT;
		return;
	}
	if ((want && *ptlen != want) || *ptlen > max || !*ptlen) {
		OPENSSL_clear_free(*pt, *ptlen);
		*pt = NULL;
		*ptlen = 0;
		r->err = PED_E_INVALID;
	}
}

/* Key policies: count:u8, then (number:u8 value:u8) for each of hsm_kp_table(). */
static void put_key_policies(struct ped_wbuf *w, const struct hsm_key_policies *kp)
{
	size_t n;
	const struct hsm_kp_desc *t = hsm_kp_table(&n);
	ped_wbuf_u8(w, (uint8_t)n);
	for (size_t i = 0; i < n; i++) {
		ped_wbuf_u8(w, t[i].number);
		ped_wbuf_u8(w, kp->v[t[i].number]);
	}
}

/* A number missing takes its default; one we do not know, or twice, is damage. */
static void get_key_policies(struct ped_rbuf *r, struct hsm_key_policies *kp)
{
	uint8_t seen[HSM_KP_SLOTS] = {0}, n = ped_rbuf_u8(r);
	hsm_kp_defaults(kp);
	for (unsigned i = 0; i < n && !r->err; i++) {
		uint8_t num = ped_rbuf_u8(r), v = ped_rbuf_u8(r);
		if (r->err)
			break;
		if (!hsm_kp_find(num) || seen[num]) {
			r->err = PED_E_INVALID;
			break;
		}
		seen[num] = 1;
		kp->v[num] = v;
	}
	if (!r->err && hsm_kp_valid(kp) != PED_OK)
		r->err = PED_E_INVALID;
}

/* The policies whose destructive directions a partition keeps. */
static int has_erase(unsigned number)
{
	return hsm_kp_find(number) || number == HSM_POLICY_IGNORE_FAILED_CHALLENGES ||
	       number == HSM_POLICY_MAX_FAILED_USER_LOGINS || number == HSM_POLICY_ALLOW_ACTIVATION ||
	       number == HSM_POLICY_ALLOW_AUTO_ACTIVATION || number == HSM_POLICY_MIN_PIN_LENGTH ||
	       number == HSM_POLICY_MAX_PIN_LENGTH;
}

static void put_erase(struct ped_wbuf *w, const struct hsm_partition *p)
{
	uint8_t n = 0;
	for (unsigned i = 0; i < HSM_KP_SLOTS; i++)
		n += (uint8_t)has_erase(i);
	ped_wbuf_u8(w, n);
	for (unsigned i = 0; i < HSM_KP_SLOTS; i++)
		if (has_erase(i)) {
			ped_wbuf_u8(w, (uint8_t)i);
			ped_wbuf_u8(w, p->policy_erase[i]);
		}
}

static void get_erase(struct ped_rbuf *r, struct hsm_partition *p)
{
	uint8_t seen[HSM_KP_SLOTS] = {0}, n = ped_rbuf_u8(r);
	hsm_partition_erase_defaults(p);
	for (unsigned i = 0; i < n && !r->err; i++) {
		uint8_t num = ped_rbuf_u8(r), bits = ped_rbuf_u8(r);
		if (r->err)
			break;
		if (num >= HSM_KP_SLOTS || !has_erase(num) || seen[num] ||
		    bits > (HSM_ERASE_OFF_TO_ON | HSM_ERASE_ON_TO_OFF) ||
		    /* policy 1 turned on always erases (chapter 6) */
		    (num == HSM_KP_PRIVATE_WRAPPING && !(bits & HSM_ERASE_OFF_TO_ON))) {
			r->err = PED_E_INVALID;
			break;
		}
		seen[num] = 1;
		p->policy_erase[num] = bits;
	}
}

static void put_object(struct ped_wbuf *w, const struct hsm *h, const struct hsm_partition *p, const struct hsm_obj *o)
{
	uint8_t *pub = NULL, *sec = NULL, *aad = NULL;
	size_t publen = 0, seclen = 0, aadlen = 0;
	int r = hsm_obj_encode(o, &pub, &publen, &sec, &seclen);
	if (r == PED_OK && sec)
		r = make_aad('O', h->serial, p->name, pub, publen, &aad, &aadlen);
	if (r != PED_OK) {
		w->err = r;
		goto out;
	}
	ped_wbuf_u64(w, o->handle);
	ped_wbuf_lv32(w, pub, publen);
	if (sec)
		put_sealed(w, h, aad, aadlen, sec, seclen);
	else
		ped_wbuf_u32(w, 0);
out:
	OPENSSL_free(aad);
	OPENSSL_clear_free(pub, publen);
	OPENSSL_clear_free(sec, seclen);
}

/* A loaded object into pt with its own handle: handles and OUIDs unique,
 * every handle below the partition's next one. */
static void put_loaded(struct ped_rbuf *r, struct hsm_partition *pt, struct hsm_obj *o, uint64_t handle)
{
	uint64_t next = pt->next_handle;
	int e;

	if (!handle || handle >= next || hsm_part_obj_find(pt, handle)) {
		hsm_obj_free(o);
		r->err = PED_E_INVALID;
		return;
	}
	pt->next_handle = handle;
	e = hsm_part_obj_add(pt, o); /* frees o on failure */
	pt->next_handle = next;
	if (e != PED_OK)
		r->err = e == PED_E_HOST_MEMORY ? e : PED_E_INVALID;
}

static void get_object(struct ped_rbuf *r, const struct hsm *h, struct hsm_partition *pt, int *sealfail, char *why,
		       size_t whylen)
{
	size_t publen = 0, seclen = 0, aadlen = 0;
	uint64_t handle = ped_rbuf_u64(r);
	const uint8_t *pub = ped_rbuf_lv32(r, PART_MAX, &publen);
	uint8_t *sec = NULL, *aad = NULL;
	struct hsm_obj *o = NULL;
	int e;

	if (r->err)
		return;
	if ((e = make_aad('O', h->serial, pt->name, pub, publen, &aad, &aadlen)) != PED_OK) {
		r->err = e;
		return;
	}
	/* empty: the object has no secret part */
	get_sealed(r, h, aad, aadlen, PART_MAX, 0, 1, &sec, &seclen, sealfail);
	OPENSSL_free(aad);
	if (r->err)
		goto out;
	if ((e = hsm_obj_decode(pub, publen, sec, seclen, &o, why, whylen)) != PED_OK) {
		r->err = e == PED_E_HOST_MEMORY ? e : PED_E_INVALID;
		goto out;
	}
	put_loaded(r, pt, o, handle);
out:
	OPENSSL_clear_free(sec, seclen);
}

/* An object before version 8: handle:u64 ouid:u64 label:lv16 value:lv16,
 * which becomes a data object. */
static void get_old_object(struct ped_rbuf *r, struct hsm_partition *pt)
{
	char label[HSM_LABEL_MAX + 1] = "";
	size_t n = 0;
	uint64_t handle = ped_rbuf_u64(r), ouid = ped_rbuf_u64(r);
	get_str(r, label, HSM_LABEL_MAX);
	const uint8_t *v = ped_rbuf_lv16(r, OLD_OBJECT_MAX, &n);
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_TOKEN, &yes, sizeof(yes)},
			    {CKA_PRIVATE, &yes, sizeof(yes)},
			    {CKA_LABEL, label, strlen(label)},
			    {CKA_VALUE, (void *)v, n}};
	struct hsm_obj *o = NULL;

	if (r->err)
		return;
	if (hsm_obj_create(NULL, t, sizeof(t) / sizeof(t[0]), &o) != CKR_OK) {
		r->err = PED_E_INVALID;
		return;
	}
	if (ouid)
		o->ouid = ouid;
	/* handles of old files came from the largest plus one */
	if (handle >= pt->next_handle && handle < HSM_HANDLE_SESSION_BIT - 1)
		pt->next_handle = handle + 1;
	put_loaded(r, pt, o, handle);
}

static void put_partition(struct ped_wbuf *w, const struct hsm *h, const struct hsm_partition *p)
{
	uint8_t *aad = NULL;
	size_t aadlen = 0;
	int r;

	put_str(w, p->name);
	put_str(w, p->label);
	ped_wbuf_u8(w, p->initialized);
	put_cred(w, &p->domain);
	put_role(w, &p->po);
	put_role(w, &p->co);
	put_role(w, &p->cu);
	ped_wbuf_u32(w, p->max_failed_user_logins);
	ped_wbuf_u8(w, p->allow_activation);
	ped_wbuf_u8(w, p->allow_auto_activation);
	ped_wbuf_u8(w, p->ignore_failed_challenges);
	ped_wbuf_u8(w, p->min_pin_policy);
	ped_wbuf_u8(w, p->max_pin_length);
	/* a cache reaches the file only auto-activated (policy 23 on
	 * when the role last authenticated, and still on) */
	int keep = hsm_activation_persists(p);
	ped_wbuf_u8(w, (uint8_t)(keep && p->co.activated && p->co.auto_activated));
	ped_wbuf_u8(w, (uint8_t)(keep && p->cu.activated && p->cu.auto_activated));
	put_key_policies(w, &p->kp);
	put_erase(w, p);
	ped_wbuf_u64(w, p->next_handle);
	if (p->domain_key_set) {
		if ((r = make_aad('P', h->serial, p->name, NULL, 0, &aad, &aadlen)) != PED_OK)
			w->err = r;
		put_sealed(w, h, aad, aadlen, p->domain_key, sizeof(p->domain_key));
		OPENSSL_free(aad);
	} else {
		ped_wbuf_u32(w, 0);
	}
	ped_wbuf_u32(w, p->nobjs);
	for (uint32_t j = 0; j < p->nobjs && j < HSM_MAX_OBJECTS && !w->err; j++)
		put_object(w, h, p, p->objs[j]);
}

int hsm_encode(const struct hsm *h, uint8_t **buf, size_t *len)
{
	struct ped_wbuf w;
	uint8_t hash[HASH_LEN], secrets[HSM_SECRETS_LEN], *aad = NULL;
	unsigned int hl = 0;
	int r;

	*buf = NULL;
	*len = 0;
	if (!h->kek_set)
		return PED_E_INVALID; /* nothing is written unsealed */
	ped_wbuf_init(&w, STATE_MAX);
	ped_wbuf_bytes(&w, MAGIC, 4);
	ped_wbuf_u8(&w, VERSION);
	put_str(&w, h->serial);
	put_str(&w, h->label);
	ped_wbuf_u8(&w, h->initialized);
	ped_wbuf_u8(&w, h->is_backup);
	put_role(&w, &h->so);
	put_role(&w, &h->au);
	put_cred(&w, &h->domain);
	ped_wbuf_lv16(&w, h->hoc_cert, h->hoc_cert_len);
	ped_wbuf_lv16(&w, h->static_cert, h->static_cert_len);
	ped_wbuf_u8(&w, h->rpv_set);
	ped_wbuf_u8(&w, h->rpv_2e2s);
	put_str(&w, h->ped_ip);
	ped_wbuf_u16(&w, h->ped_port);
	ped_wbuf_u8(&w, h->so_resets_partition_pin);
	ped_wbuf_u8(&w, h->allow_cloning);
	ped_wbuf_u8(&w, h->network_replication);
	ped_wbuf_u8(&w, h->force_pin_change);
	ped_wbuf_u8(&w, h->restricted_restore);
	ped_wbuf_u64(&w, (uint64_t)h->saved_at);
	ped_wbuf_u32(&w, h->npartitions);
	for (uint32_t i = 0; i < h->npartitions && i < HSM_MAX_PARTITIONS && !w.err; i++)
		put_partition(&w, h, &h->partitions[i]);
	/* the HSM's secrets last, bound to every byte before them */
	memcpy(secrets, h->hoc_priv, HSM_SCALAR_LEN);
	memcpy(secrets + HSM_SCALAR_LEN, h->static_priv, HSM_SCALAR_LEN);
	memcpy(secrets + 2 * HSM_SCALAR_LEN, h->rpv, HSM_SECRET_LEN);
	secrets[2 * HSM_SCALAR_LEN + HSM_SECRET_LEN] = h->domain_key_set;
	memcpy(secrets + 2 * HSM_SCALAR_LEN + HSM_SECRET_LEN + 1, h->domain_key, HSM_KEY_LEN);
	if (!w.err) {
		if (!(aad = OPENSSL_malloc(w.len + 1))) {
			w.err = PED_E_HOST_MEMORY;
		} else {
			aad[0] = 'H';
			memcpy(aad + 1, w.p, w.len);
			put_sealed(&w, h, aad, w.len + 1, secrets, sizeof(secrets));
		}
	}
	OPENSSL_free(aad);
	OPENSSL_cleanse(secrets, sizeof(secrets));
	if (w.err == 0 && EVP_Digest(w.p, w.len, hash, &hl, EVP_sha256(), NULL) != 1)
		w.err = PED_E_CRYPTO;
	ped_wbuf_bytes(&w, hash, sizeof(hash));
	r = ped_wbuf_take(&w, buf, len);
	return r;
}

static void get_partition(struct ped_rbuf *r, const struct hsm *h, struct hsm_partition *pt, unsigned version,
			  int *sealfail, char *why, size_t whylen)
{
	get_str(r, pt->name, HSM_LABEL_MAX);
	get_str(r, pt->label, HSM_LABEL_MAX);
	pt->initialized = ped_rbuf_u8(r);
	get_cred(r, &pt->domain);
	get_role(r, &pt->po, version);
	get_role(r, &pt->co, version);
	get_role(r, &pt->cu, version);
	pt->max_failed_user_logins = ped_rbuf_u32(r);
	pt->allow_activation = ped_rbuf_u8(r);
	pt->allow_auto_activation = ped_rbuf_u8(r);
	pt->ignore_failed_challenges = version >= 6 ? ped_rbuf_u8(r) : 1;
	pt->min_pin_policy = HSM_PIN_MAX_ABSOLUTE - HSM_PIN_MIN_ABSOLUTE;
	pt->max_pin_length = HSM_PIN_MAX_ABSOLUTE;
	if (version >= 7) {
		pt->min_pin_policy = ped_rbuf_u8(r);
		pt->max_pin_length = ped_rbuf_u8(r);
		if (pt->min_pin_policy > HSM_PIN_MAX_ABSOLUTE - HSM_PIN_MIN_ABSOLUTE ||
		    HSM_PIN_MAX_ABSOLUTE - pt->min_pin_policy > pt->max_pin_length)
			r->err = PED_E_INVALID;
	}
	if (version >= 3) {
		/* a cached secret in the file is an auto-activated one */
		pt->co.activated = pt->co.auto_activated = ped_rbuf_u8(r);
		pt->cu.activated = pt->cu.auto_activated = ped_rbuf_u8(r);
		/* the cache reaches the file only with auto-activation on
		 * (policy 23): a file that holds one without it is not ours */
		if (pt->co.activated > 1 || pt->cu.activated > 1 ||
		    ((pt->co.activated || pt->cu.activated) && !hsm_activation_persists(pt)))
			r->err = PED_E_INVALID;
	}
	hsm_kp_defaults(&pt->kp);
	hsm_partition_erase_defaults(pt);
	pt->next_handle = 1;
	if (version >= 8) {
		uint8_t *key = NULL, *aad = NULL;
		size_t keylen = 0, aadlen = 0;
		int e;
		get_key_policies(r, &pt->kp);
		get_erase(r, pt);
		pt->next_handle = ped_rbuf_u64(r);
		if (!pt->next_handle || pt->next_handle > HSM_HANDLE_SESSION_BIT)
			r->err = PED_E_INVALID;
		/* empty: no cloning key (a partition from before version 8) */
		if (!r->err && (e = make_aad('P', h->serial, pt->name, NULL, 0, &aad, &aadlen)) != PED_OK)
			r->err = e;
		else if (!r->err)
			get_sealed(r, h, aad, aadlen, HSM_KEY_LEN, HSM_KEY_LEN, 1, &key, &keylen, sealfail);
		OPENSSL_free(aad);
		if (!r->err && key) {
			memcpy(pt->domain_key, key, HSM_KEY_LEN);
			pt->domain_key_set = 1;
		}
		OPENSSL_clear_free(key, keylen);
		if (pt->domain_key_set && !pt->domain.set)
			r->err = PED_E_INVALID;
	}
	uint32_t nobjs = ped_rbuf_u32(r);
	if (nobjs > HSM_MAX_OBJECTS || pt->initialized > 1 || pt->allow_activation > 1 ||
	    pt->allow_auto_activation > 1 || pt->ignore_failed_challenges > 1 || pt->max_failed_user_logins < 1 ||
	    pt->max_failed_user_logins > HSM_USER_MAX_FAILURES_DEFAULT)
		r->err = PED_E_INVALID;
	for (uint32_t j = 0; j < nobjs && !r->err; j++) {
		if (version >= 8)
			get_object(r, h, pt, sealfail, why, whylen);
		else
			get_old_object(r, pt);
	}
}

int hsm_decode(const uint8_t *buf, size_t len, struct hsm *h, char *why, size_t whylen)
{
	struct ped_rbuf r;
	uint8_t hash[HASH_LEN], kek[HSM_KEY_LEN];
	unsigned int hl = 0;
	size_t n;
	const uint8_t *p;
	char objwhy[120] = "";
	int sealfail = 0, kek_set = h->kek_set;
	unsigned version;

	/* h is emptied, its storage key kept */
	memcpy(kek, h->kek, sizeof(kek));
	memset(h, 0, sizeof(*h));
	memcpy(h->kek, kek, sizeof(kek));
	h->kek_set = (uint8_t)kek_set;
	OPENSSL_cleanse(kek, sizeof(kek));
	if (len < 5 + HASH_LEN || memcmp(buf, MAGIC, 4) != 0) {
		snprintf(why, whylen, len >= 4 && !memcmp(buf, MAGIC, 4) ? "truncated" : "not an HSM state file");
		return PED_E_CORRUPT;
	}
	version = buf[4];
	if (version > VERSION) {
		/* a downgrade: never misread, nor written over */
		snprintf(why, whylen, "state version %u is newer than this hsm-sim reads (2 to %d): a later hsm-sim wrote "
			 "it; run that one (the file is left as it is)", version, VERSION);
		return PED_E_CORRUPT;
	}
	if (version < 2) {
		snprintf(why, whylen, "state version %u is no longer read (versions 2 to %d are)", version, VERSION);
		return PED_E_CORRUPT;
	}
	if (EVP_Digest(buf, len - HASH_LEN, hash, &hl, EVP_sha256(), NULL) != 1 ||
	    CRYPTO_memcmp(hash, buf + len - HASH_LEN, HASH_LEN) != 0) {
		snprintf(why, whylen, "checksum mismatch (truncated, damaged or tampered)");
		return PED_E_CORRUPT;
	}
	if (version >= 8 && !h->kek_set) {
		snprintf(why, whylen, "its secrets are sealed under a device secret, and none was given");
		return PED_E_CORRUPT;
	}
	ped_rbuf_init(&r, buf, len - HASH_LEN);
	ped_rbuf_bytes(&r, 5);
	get_str(&r, h->serial, HSM_SERIAL_MAX);
	get_str(&r, h->label, HSM_LABEL_MAX);
	h->initialized = ped_rbuf_u8(&r);
	h->is_backup = ped_rbuf_u8(&r);
	get_role(&r, &h->so, version);
	get_role(&r, &h->au, version);
	get_cred(&r, &h->domain);
	if (version < 8) {
		get_fixed(&r, h->hoc_priv, sizeof(h->hoc_priv));
		get_fixed(&r, h->static_priv, sizeof(h->static_priv));
	}
	if ((p = ped_rbuf_lv16(&r, HSM_CERT_MAX, &n)) != NULL) {
		memcpy(h->hoc_cert, p, n);
		h->hoc_cert_len = n;
	}
	if ((p = ped_rbuf_lv16(&r, HSM_CERT_MAX, &n)) != NULL) {
		memcpy(h->static_cert, p, n);
		h->static_cert_len = n;
	}
	h->rpv_set = ped_rbuf_u8(&r);
	if (version < 8)
		get_fixed(&r, h->rpv, sizeof(h->rpv));
	if (version >= 3 && (h->rpv_2e2s = ped_rbuf_u8(&r)) > 1)
		r.err = PED_E_INVALID;
	if (version >= 4) {
		get_str(&r, h->ped_ip, HSM_PED_HOST_MAX);
		h->ped_port = ped_rbuf_u16(&r);
	}
	if (version >= 5 && (h->so_resets_partition_pin = ped_rbuf_u8(&r)) > 1)
		r.err = PED_E_INVALID;
	/* the HSM policies of version 7, at their defaults before */
	h->allow_cloning = h->network_replication = h->force_pin_change = 1;
	if (version >= 7) {
		h->allow_cloning = ped_rbuf_u8(&r);
		h->network_replication = ped_rbuf_u8(&r);
		h->force_pin_change = ped_rbuf_u8(&r);
		h->restricted_restore = ped_rbuf_u8(&r);
		h->saved_at = (int64_t)ped_rbuf_u64(&r);
		if (h->allow_cloning > 1 || h->network_replication > 1 || h->force_pin_change > 1 ||
		    h->restricted_restore > 1 || h->saved_at < 0)
			r.err = PED_E_INVALID;
	}
	h->npartitions = ped_rbuf_u32(&r);
	if (h->npartitions > HSM_MAX_PARTITIONS || h->initialized > 1 || h->is_backup > 1 || h->rpv_set > 1)
		r.err = PED_E_INVALID;
	for (uint32_t i = 0; i < h->npartitions && !r.err; i++)
		get_partition(&r, h, &h->partitions[i], version, &sealfail, objwhy, sizeof(objwhy));
	if (version >= 8 && !r.err) {
		uint8_t *aad = NULL, *secrets = NULL;
		size_t aadlen = r.off + 1, slen = 0;
		if (!(aad = OPENSSL_malloc(aadlen))) {
			r.err = PED_E_HOST_MEMORY;
		} else {
			aad[0] = 'H';
			memcpy(aad + 1, buf, r.off);
			get_sealed(&r, h, aad, aadlen, HSM_SECRETS_LEN, HSM_SECRETS_LEN, 0, &secrets, &slen, &sealfail);
		}
		if (secrets) {
			memcpy(h->hoc_priv, secrets, HSM_SCALAR_LEN);
			memcpy(h->static_priv, secrets + HSM_SCALAR_LEN, HSM_SCALAR_LEN);
			memcpy(h->rpv, secrets + 2 * HSM_SCALAR_LEN, HSM_SECRET_LEN);
			h->domain_key_set = secrets[2 * HSM_SCALAR_LEN + HSM_SECRET_LEN];
			memcpy(h->domain_key, secrets + 2 * HSM_SCALAR_LEN + HSM_SECRET_LEN + 1, HSM_KEY_LEN);
			if (h->domain_key_set > 1 || (h->domain_key_set && !h->domain.set))
				r.err = PED_E_INVALID;
		}
		OPENSSL_clear_free(secrets, slen);
		OPENSSL_free(aad);
	}
	if (r.err == PED_E_HOST_MEMORY) {
		hsm_cleanse(h);
		snprintf(why, whylen, "out of memory");
		return PED_E_HOST_MEMORY;
	}
	if (sealfail) {
		hsm_cleanse(h);
		snprintf(why, whylen, "%s", WHY_SEAL);
		return PED_E_CORRUPT;
	}
	if (ped_rbuf_end(&r) != PED_OK || !h->serial[0]) {
		hsm_cleanse(h);
		snprintf(why, whylen, "malformed contents%s%s", objwhy[0] ? ": " : "", objwhy);
		return PED_E_CORRUPT;
	}
	return PED_OK;
}

int hsm_save_sum(const struct hsm *h, const char *path, uint8_t sum[HSM_STATE_SUM_LEN])
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = hsm_encode(h, &buf, &len);
	if (r != PED_OK)
		return r;
	r = ped_file_write_atomic(path, buf, len, 0600);
	if (r == PED_OK && sum)
		memcpy(sum, buf + len - HASH_LEN, HASH_LEN); /* the file's own SHA-256 */
	OPENSSL_clear_free(buf, len);
	return r;
}

int hsm_save(const struct hsm *h, const char *path)
{
	return hsm_save_sum(h, path, NULL);
}

int hsm_load(const char *path, struct hsm *h, char *why, size_t whylen)
{
	return hsm_load_sum(path, h, NULL, why, whylen);
}

int hsm_load_sum(const char *path, struct hsm *h, uint8_t sum[HSM_STATE_SUM_LEN], char *why, size_t whylen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = ped_file_read_nofollow(path, STATE_MAX, &buf, &len);

	if (r == PED_E_NOT_FOUND) {
		snprintf(why, whylen, "%s: no such file", path);
		return r;
	}
	if (r == PED_E_RANGE) {
		snprintf(why, whylen, "%s: larger than %u bytes", path, STATE_MAX);
		return PED_E_CORRUPT;
	}
	if (r != PED_OK) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return r;
	}
	r = hsm_decode(buf, len, h, why, whylen);
	if (r == PED_OK && sum)
		memcpy(sum, buf + len - HASH_LEN, HASH_LEN);
	OPENSSL_clear_free(buf, len);
	return r;
}

int hsm_load_beside(const char *path, struct hsm *h, char *why, size_t whylen)
{
	uint8_t *buf = NULL, secret[HSM_DEVICE_SECRET_LEN];
	char dev[1100];
	size_t len = 0, n = strlen(path), sl = sizeof(".state") - 1;
	struct ped_rbuf r;
	int e;

	memset(h, 0, sizeof(*h));
	if (n < sl || strcmp(path + n - sl, ".state") || n - sl + sizeof(".device") > sizeof(dev)) {
		snprintf(why, whylen, "%s: not a state file's name (hsm-SERIAL.state)", path);
		return PED_E_INVALID;
	}
	snprintf(dev, sizeof(dev), "%.*s.device", (int)(n - sl), path);
	if ((e = hsm_device_read(dev, secret, why, whylen)) != PED_OK)
		return e;
	/* the serial the storage key is derived for, from the file's header */
	if ((e = ped_file_read_nofollow(path, STATE_MAX, &buf, &len)) == PED_OK) {
		ped_rbuf_init(&r, buf, len);
		ped_rbuf_bytes(&r, 5);
		get_str(&r, h->serial, HSM_SERIAL_MAX);
		e = r.err ? PED_E_CORRUPT : hsm_set_device_secret(h, secret);
		OPENSSL_clear_free(buf, len);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	if (e != PED_OK) {
		snprintf(why, whylen, "%s: %s", path, ped_strerror(e));
		hsm_cleanse(h);
		return e;
	}
	return hsm_load(path, h, why, whylen);
}

int hsm_state_file_version(const char *path)
{
	uint8_t head[5];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n != (ssize_t)sizeof(head) || memcmp(head, MAGIC, 4))
		return -1;
	return head[4];
}
