/* HSM state files: "OPHS", version, the state, SHA-256 of all before it. */
#include "hsm/hsm.h"

#include "ped/buf.h"
#include "ped/error.h"
#include "ped/fileio.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define MAGIC "OPHS"
#define VERSION HSM_STATE_VERSION
#define HASH_LEN 32
/* 16 partitions of HSM_PARTITION_BYTES of values, with each attribute's
 * and object's framing */
#define STATE_MAX (32u * 1024 * 1024)
#define PART_MAX (2u * HSM_OBJ_MAX + 16u * HSM_TEMPLATE_MAX) /* an object's encoded part */
#define OLD_OBJECT_MAX 256 /* an object's value before version 8 */

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

/* An object: handle:u64 pub:lv32 sec:lv32 (hsm_obj_encode's two parts; sec
 * empty for an object without secret material). */
static void put_object(struct ped_wbuf *w, const struct hsm_obj *o)
{
	uint8_t *pub = NULL, *sec = NULL;
	size_t publen = 0, seclen = 0;
	int r = hsm_obj_encode(o, &pub, &publen, &sec, &seclen);
	if (r != PED_OK) {
		w->err = r;
		return;
	}
	ped_wbuf_u64(w, o->handle);
	ped_wbuf_lv32(w, pub, publen);
	ped_wbuf_lv32(w, sec, seclen);
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

static void get_object(struct ped_rbuf *r, struct hsm_partition *pt, char *why, size_t whylen)
{
	size_t publen = 0, seclen = 0;
	uint64_t handle = ped_rbuf_u64(r);
	const uint8_t *pub = ped_rbuf_lv32(r, PART_MAX, &publen), *sec = ped_rbuf_lv32(r, PART_MAX, &seclen);
	struct hsm_obj *o = NULL;
	int e;

	if (r->err)
		return;
	if ((e = hsm_obj_decode(pub, publen, seclen ? sec : NULL, seclen, &o, why, whylen)) != PED_OK) {
		r->err = e == PED_E_HOST_MEMORY ? e : PED_E_INVALID;
		return;
	}
	put_loaded(r, pt, o, handle);
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

int hsm_encode(const struct hsm *h, uint8_t **buf, size_t *len)
{
	struct ped_wbuf w;
	uint8_t hash[HASH_LEN];
	unsigned int hl = 0;
	int r;

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
	ped_wbuf_bytes(&w, h->hoc_priv, sizeof(h->hoc_priv));
	ped_wbuf_bytes(&w, h->static_priv, sizeof(h->static_priv));
	ped_wbuf_lv16(&w, h->hoc_cert, h->hoc_cert_len);
	ped_wbuf_lv16(&w, h->static_cert, h->static_cert_len);
	ped_wbuf_u8(&w, h->rpv_set);
	ped_wbuf_bytes(&w, h->rpv, sizeof(h->rpv));
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
	for (uint32_t i = 0; i < h->npartitions && i < HSM_MAX_PARTITIONS; i++) {
		const struct hsm_partition *p = &h->partitions[i];
		put_str(&w, p->name);
		put_str(&w, p->label);
		ped_wbuf_u8(&w, p->initialized);
		put_cred(&w, &p->domain);
		put_role(&w, &p->po);
		put_role(&w, &p->co);
		put_role(&w, &p->cu);
		ped_wbuf_u32(&w, p->max_failed_user_logins);
		ped_wbuf_u8(&w, p->allow_activation);
		ped_wbuf_u8(&w, p->allow_auto_activation);
		ped_wbuf_u8(&w, p->ignore_failed_challenges);
		ped_wbuf_u8(&w, p->min_pin_policy);
		ped_wbuf_u8(&w, p->max_pin_length);
		/* a cache reaches the file only auto-activated (policy 23 on
		 * when the role last authenticated, and still on) */
		int keep = hsm_activation_persists(p);
		ped_wbuf_u8(&w, (uint8_t)(keep && p->co.activated && p->co.auto_activated));
		ped_wbuf_u8(&w, (uint8_t)(keep && p->cu.activated && p->cu.auto_activated));
		put_key_policies(&w, &p->kp);
		ped_wbuf_u64(&w, p->next_handle);
		ped_wbuf_u32(&w, p->nobjs);
		for (uint32_t j = 0; j < p->nobjs && j < HSM_MAX_OBJECTS && !w.err; j++)
			put_object(&w, p->objs[j]);
	}
	if (w.err == 0 && EVP_Digest(w.p, w.len, hash, &hl, EVP_sha256(), NULL) != 1)
		w.err = PED_E_CRYPTO;
	ped_wbuf_bytes(&w, hash, sizeof(hash));
	r = ped_wbuf_take(&w, buf, len);
	return r;
}

int hsm_decode(const uint8_t *buf, size_t len, struct hsm *h, char *why, size_t whylen)
{
	struct ped_rbuf r;
	uint8_t hash[HASH_LEN];
	unsigned int hl = 0;
	size_t n;
	const uint8_t *p;
	char objwhy[120] = "";

	memset(h, 0, sizeof(*h));
	if (len < 5 + HASH_LEN || memcmp(buf, MAGIC, 4) != 0) {
		snprintf(why, whylen, len >= 4 && !memcmp(buf, MAGIC, 4) ? "truncated" : "not an HSM state file");
		return PED_E_CORRUPT;
	}
	if (buf[4] < 2 || buf[4] > VERSION) {
		snprintf(why, whylen, "unsupported state version %u", buf[4]);
		return PED_E_CORRUPT;
	}
	if (EVP_Digest(buf, len - HASH_LEN, hash, &hl, EVP_sha256(), NULL) != 1 ||
	    CRYPTO_memcmp(hash, buf + len - HASH_LEN, HASH_LEN) != 0) {
		snprintf(why, whylen, "checksum mismatch (truncated, damaged or tampered)");
		return PED_E_CORRUPT;
	}
	ped_rbuf_init(&r, buf, len - HASH_LEN);
	ped_rbuf_bytes(&r, 5);
	get_str(&r, h->serial, HSM_SERIAL_MAX);
	get_str(&r, h->label, HSM_LABEL_MAX);
	h->initialized = ped_rbuf_u8(&r);
	h->is_backup = ped_rbuf_u8(&r);
	get_role(&r, &h->so, buf[4]);
	get_role(&r, &h->au, buf[4]);
	get_cred(&r, &h->domain);
	get_fixed(&r, h->hoc_priv, sizeof(h->hoc_priv));
	get_fixed(&r, h->static_priv, sizeof(h->static_priv));
	if ((p = ped_rbuf_lv16(&r, HSM_CERT_MAX, &n)) != NULL) {
		memcpy(h->hoc_cert, p, n);
		h->hoc_cert_len = n;
	}
	if ((p = ped_rbuf_lv16(&r, HSM_CERT_MAX, &n)) != NULL) {
		memcpy(h->static_cert, p, n);
		h->static_cert_len = n;
	}
	h->rpv_set = ped_rbuf_u8(&r);
	get_fixed(&r, h->rpv, sizeof(h->rpv));
	if (buf[4] >= 3 && (h->rpv_2e2s = ped_rbuf_u8(&r)) > 1)
		r.err = PED_E_INVALID;
	if (buf[4] >= 4) {
		get_str(&r, h->ped_ip, HSM_PED_HOST_MAX);
		h->ped_port = ped_rbuf_u16(&r);
	}
	if (buf[4] >= 5 && (h->so_resets_partition_pin = ped_rbuf_u8(&r)) > 1)
		r.err = PED_E_INVALID;
	/* the HSM policies of version 7, at their defaults before */
	h->allow_cloning = h->network_replication = h->force_pin_change = 1;
	if (buf[4] >= 7) {
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
	if (h->npartitions > HSM_MAX_PARTITIONS || h->initialized > 1 || h->is_backup > 1 ||
	    h->rpv_set > 1)
		r.err = PED_E_INVALID;
	for (uint32_t i = 0; i < h->npartitions && !r.err; i++) {
		struct hsm_partition *pt = &h->partitions[i];
		get_str(&r, pt->name, HSM_LABEL_MAX);
		get_str(&r, pt->label, HSM_LABEL_MAX);
		pt->initialized = ped_rbuf_u8(&r);
		get_cred(&r, &pt->domain);
		get_role(&r, &pt->po, buf[4]);
		get_role(&r, &pt->co, buf[4]);
		get_role(&r, &pt->cu, buf[4]);
		pt->max_failed_user_logins = ped_rbuf_u32(&r);
		pt->allow_activation = ped_rbuf_u8(&r);
		pt->allow_auto_activation = ped_rbuf_u8(&r);
		pt->ignore_failed_challenges = buf[4] >= 6 ? ped_rbuf_u8(&r) : 1;
		pt->min_pin_policy = HSM_PIN_MAX_ABSOLUTE - HSM_PIN_MIN_ABSOLUTE;
		pt->max_pin_length = HSM_PIN_MAX_ABSOLUTE;
		if (buf[4] >= 7) {
			pt->min_pin_policy = ped_rbuf_u8(&r);
			pt->max_pin_length = ped_rbuf_u8(&r);
			if (pt->min_pin_policy > HSM_PIN_MAX_ABSOLUTE - HSM_PIN_MIN_ABSOLUTE ||
			    HSM_PIN_MAX_ABSOLUTE - pt->min_pin_policy > pt->max_pin_length)
				r.err = PED_E_INVALID;
		}
		if (buf[4] >= 3) {
			/* a cached secret in the file is an auto-activated one */
			pt->co.activated = pt->co.auto_activated = ped_rbuf_u8(&r);
			pt->cu.activated = pt->cu.auto_activated = ped_rbuf_u8(&r);
			/* the cache reaches the file only with auto-activation on
			 * (policy 23): a file that holds one without it is not ours */
			if (pt->co.activated > 1 || pt->cu.activated > 1 ||
			    ((pt->co.activated || pt->cu.activated) && !hsm_activation_persists(pt)))
				r.err = PED_E_INVALID;
		}
		hsm_kp_defaults(&pt->kp);
		pt->next_handle = 1;
		if (buf[4] >= 8) {
			get_key_policies(&r, &pt->kp);
			pt->next_handle = ped_rbuf_u64(&r);
			if (!pt->next_handle || pt->next_handle > HSM_HANDLE_SESSION_BIT)
				r.err = PED_E_INVALID;
		}
		uint32_t nobjs = ped_rbuf_u32(&r);
		if (nobjs > HSM_MAX_OBJECTS || pt->initialized > 1 || pt->allow_activation > 1 ||
		    pt->allow_auto_activation > 1 || pt->ignore_failed_challenges > 1 ||
		    pt->max_failed_user_logins < 1 ||
		    pt->max_failed_user_logins > HSM_USER_MAX_FAILURES_DEFAULT)
			r.err = PED_E_INVALID;
		for (uint32_t j = 0; j < nobjs && !r.err; j++) {
			if (buf[4] >= 8)
				get_object(&r, pt, objwhy, sizeof(objwhy));
			else
				get_old_object(&r, pt);
		}
	}
	if (r.err == PED_E_HOST_MEMORY) {
		hsm_cleanse(h);
		snprintf(why, whylen, "out of memory");
		return PED_E_HOST_MEMORY;
	}
	if (ped_rbuf_end(&r) != PED_OK || !h->serial[0]) {
		hsm_cleanse(h);
		snprintf(why, whylen, "malformed contents%s%s", objwhy[0] ? ": " : "", objwhy);
		return PED_E_CORRUPT;
	}
	return PED_OK;
}

int hsm_save(const struct hsm *h, const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = hsm_encode(h, &buf, &len);
	if (r != PED_OK)
		return r;
	r = ped_file_write_atomic(path, buf, len, 0600);
	OPENSSL_clear_free(buf, len);
	return r;
}

int hsm_load(const char *path, struct hsm *h, char *why, size_t whylen)
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
	OPENSSL_clear_free(buf, len);
	return r;
}
