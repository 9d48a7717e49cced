/* The cloning protocol between two hsm-sims (hsm/clonewire.h). */
#include "hsm/clonewire.h"

#include "ped/buf.h"
#include "ped/error.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <string.h>

#define OFFER_INFO "OPENPED-CLONE-OFFER-v1"
#define TRANSIT_INFO "OPENPED-CLONE-TRANSIT-v1"
#define OBJ_AAD "OPENPED-CLONE-OBJ-v1"
#define END_AAD "OPENPED-CLONE-END-v1"
/* kind, version, purpose, role, lv8 serial, lv8 partition, nonce, tag */
#define HELLO_MAX (4 + 1 + HSM_CW_SERIAL_MAX + 1 + HSM_CW_NAME_MAX + HSM_CW_NONCE_LEN + HSM_CW_TAG_LEN)

struct hello {
	uint8_t kind, purpose, role;
	char serial[HSM_CW_SERIAL_MAX + 1], partition[HSM_CW_NAME_MAX + 1];
	const uint8_t *nonce, *tag;
	size_t signed_len; /* the bytes the tag covers */
};

uint8_t hsm_cw_kind(const uint8_t *msg, size_t len)
{
	return len ? msg[0] : 0;
}

static int serial_ok(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= HSM_CW_SERIAL_MAX && strspn(s, "0123456789") == n;
}

static int hello_decode(const uint8_t *msg, size_t len, struct hello *h)
{
	struct ped_rbuf r;
	uint8_t version;

	memset(h, 0, sizeof(*h));
	if (len > HELLO_MAX)
		return PED_E_CORRUPT;
	ped_rbuf_init(&r, msg, len);
	h->kind = ped_rbuf_u8(&r);
	version = ped_rbuf_u8(&r);
	h->purpose = ped_rbuf_u8(&r);
	h->role = ped_rbuf_u8(&r);
	if (ped_rbuf_text8(&r, h->serial, HSM_CW_SERIAL_MAX) != PED_OK ||
	    ped_rbuf_text8(&r, h->partition, HSM_CW_NAME_MAX) != PED_OK)
		return PED_E_CORRUPT;
	h->nonce = ped_rbuf_bytes(&r, HSM_CW_NONCE_LEN);
	h->signed_len = r.off;
	h->tag = ped_rbuf_bytes(&r, HSM_CW_TAG_LEN);
	if (ped_rbuf_end(&r) != PED_OK || version != HSM_CW_VERSION ||
	    (h->kind != HSM_CW_OFFER && h->kind != HSM_CW_ACCEPT) ||
	    (h->purpose != HSM_CW_BACKUP && h->purpose != HSM_CW_RESTORE) ||
	    (h->role != HSM_CW_SENDER && h->role != HSM_CW_RECEIVER) || !serial_ok(h->serial))
		return PED_E_CORRUPT;
	return PED_OK;
}

int hsm_cw_peek(const uint8_t *msg, size_t len, char serial[HSM_CW_SERIAL_MAX + 1],
		char partition[HSM_CW_NAME_MAX + 1])
{
	struct hello h;
	int r = hello_decode(msg, len, &h);
	snprintf(serial, HSM_CW_SERIAL_MAX + 1, "%s", r == PED_OK ? h.serial : "");
	snprintf(partition, HSM_CW_NAME_MAX + 1, "%s", r == PED_OK ? h.partition : "");
	return r;
}

static int hmac256(const uint8_t key[HSM_KEY_LEN], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
		   uint8_t out[HSM_CW_TAG_LEN])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
				OSSL_PARAM_construct_end()};
	size_t n = 0;
	int r = PED_E_CRYPTO;

	if (ctx && EVP_MAC_init(ctx, key, HSM_KEY_LEN, params) == 1 && EVP_MAC_update(ctx, a, alen) == 1 &&
	    (!blen || EVP_MAC_update(ctx, b, blen) == 1) && EVP_MAC_final(ctx, out, &n, HSM_CW_TAG_LEN) == 1 &&
	    n == HSM_CW_TAG_LEN)
		r = PED_OK;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return r;
}

static int sha256_2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[HSM_CW_HASH_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int r = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, a, alen) == 1 &&
			EVP_DigestUpdate(md, b, blen) == 1 && EVP_DigestFinal_ex(md, out, NULL) == 1
		? PED_OK
		: PED_E_CRYPTO;
	EVP_MD_CTX_free(md);
	return r;
}

/* The offer's tag key: the domain's, never the transit keys. */
static int offer_tag(const struct hsm_cw *s, const uint8_t *msg, size_t len, uint8_t tag[HSM_CW_TAG_LEN])
{
	uint8_t k[HSM_KEY_LEN];
	int r = hsm_hkdf(s->domain_key, HSM_KEY_LEN, OFFER_INFO, sizeof(OFFER_INFO) - 1, k);
	if (r == PED_OK)
		r = hmac256(k, msg, len, NULL, 0, tag);
	OPENSSL_cleanse(k, sizeof(k));
	return r;
}

/* Transit keys from the domain key, both nonces and the transcript. */
static int transit_keys(struct hsm_cw *s, const uint8_t *offer_nonce, const uint8_t *accept_nonce, const uint8_t *accept,
			size_t accept_signed)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	uint8_t salt[2 * HSM_CW_NONCE_LEN], info[sizeof(TRANSIT_INFO) - 1 + HSM_CW_HASH_LEN], out[2 * HSM_KEY_LEN];
	OSSL_PARAM params[5];
	int r = PED_E_CRYPTO;

	if (!ctx || sha256_2(s->offer, s->offerlen, accept, accept_signed, s->th) != PED_OK)
		goto out;
	memcpy(salt, offer_nonce, HSM_CW_NONCE_LEN);
	memcpy(salt + HSM_CW_NONCE_LEN, accept_nonce, HSM_CW_NONCE_LEN);
	memcpy(info, TRANSIT_INFO, sizeof(TRANSIT_INFO) - 1);
	memcpy(info + sizeof(TRANSIT_INFO) - 1, s->th, HSM_CW_HASH_LEN);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, s->domain_key, HSM_KEY_LEN);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info));
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, sizeof(out), params) != 1)
		goto out;
	memcpy(s->k_obj, out, HSM_KEY_LEN);
	memcpy(s->k_conf, out + HSM_KEY_LEN, HSM_KEY_LEN);
	if (!(s->stream = EVP_MD_CTX_new()) || EVP_DigestInit_ex(s->stream, EVP_sha256(), NULL) != 1)
		goto out;
	r = PED_OK;
out:
	OPENSSL_cleanse(out, sizeof(out));
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return r;
}

int hsm_cw_init(struct hsm_cw *s, uint8_t purpose, uint8_t role, const uint8_t domain_key[HSM_KEY_LEN],
		const char *serial, const char *partition)
{
	memset(s, 0, sizeof(*s));
	if ((purpose != HSM_CW_BACKUP && purpose != HSM_CW_RESTORE) || (role != HSM_CW_SENDER && role != HSM_CW_RECEIVER) ||
	    !serial || !serial_ok(serial) || !partition || strlen(partition) > HSM_CW_NAME_MAX)
		return PED_E_INVALID;
	for (const char *q = partition; *q; q++)
		if (*q < 0x20 || *q > 0x7e)
			return PED_E_INVALID;
	snprintf(s->partition, sizeof(s->partition), "%s", partition);
	s->purpose = purpose;
	s->role = role;
	memcpy(s->domain_key, domain_key, HSM_KEY_LEN);
	snprintf(s->serial, sizeof(s->serial), "%s", serial);
	return PED_OK;
}

void hsm_cw_clear(struct hsm_cw *s)
{
	OPENSSL_free(s->offer);
	EVP_MD_CTX_free(s->stream);
	OPENSSL_cleanse(s, sizeof(*s));
}

static int hello_make(struct hsm_cw *s, uint8_t kind, uint8_t **msg, size_t *len, size_t *signed_len)
{
	struct ped_wbuf w;
	if (RAND_bytes(s->nonce, sizeof(s->nonce)) != 1)
		return PED_E_CRYPTO;
	ped_wbuf_init(&w, HELLO_MAX);
	ped_wbuf_u8(&w, kind);
	ped_wbuf_u8(&w, HSM_CW_VERSION);
	ped_wbuf_u8(&w, s->purpose);
	ped_wbuf_u8(&w, s->role);
	ped_wbuf_lv8(&w, s->serial, strlen(s->serial));
	ped_wbuf_lv8(&w, s->partition, strlen(s->partition));
	ped_wbuf_bytes(&w, s->nonce, sizeof(s->nonce));
	*signed_len = w.len;
	ped_wbuf_bytes(&w, s->nonce, HSM_CW_TAG_LEN); /* room for the tag, written below */
	return ped_wbuf_take(&w, msg, len);
}

int hsm_cw_offer(struct hsm_cw *s, uint8_t **msg, size_t *len)
{
	size_t sl = 0;
	int r;

	*msg = NULL;
	*len = 0;
	if (s->offer)
		return PED_E_INVALID;
	if ((r = hello_make(s, HSM_CW_OFFER, msg, len, &sl)) != PED_OK)
		return r;
	if ((r = offer_tag(s, *msg, sl, *msg + sl)) != PED_OK || !(s->offer = OPENSSL_memdup(*msg, *len))) {
		OPENSSL_free(*msg);
		*msg = NULL;
		return r != PED_OK ? r : PED_E_HOST_MEMORY;
	}
	s->offerlen = *len;
	return PED_OK;
}

/* The two sides of one cloning: the same purpose, the other role, the other HSM. */
static int complements(const struct hsm_cw *s, const struct hello *h)
{
	return h->purpose == s->purpose && h->role != s->role && strcmp(h->serial, s->serial) != 0;
}

int hsm_cw_accept(struct hsm_cw *s, const uint8_t *offer, size_t offerlen, uint8_t **msg, size_t *len)
{
	struct hello h;
	uint8_t tag[HSM_CW_TAG_LEN];
	size_t sl = 0;
	int r;

	*msg = NULL;
	*len = 0;
	if (s->offer)
		return PED_E_INVALID;
	if ((r = hello_decode(offer, offerlen, &h)) != PED_OK || h.kind != HSM_CW_OFFER || !complements(s, &h))
		return PED_E_CORRUPT;
	if ((r = offer_tag(s, offer, h.signed_len, tag)) != PED_OK)
		return r;
	if (CRYPTO_memcmp(tag, h.tag, sizeof(tag)) != 0)
		return PED_E_CERTIFICATE_INVALID; /* another cloning domain */
	if (!(s->offer = OPENSSL_memdup(offer, offerlen)))
		return PED_E_HOST_MEMORY;
	s->offerlen = offerlen;
	snprintf(s->peer_serial, sizeof(s->peer_serial), "%s", h.serial);
	snprintf(s->peer_partition, sizeof(s->peer_partition), "%s", h.partition);
	if ((r = hello_make(s, HSM_CW_ACCEPT, msg, len, &sl)) != PED_OK)
		goto out;
	if ((r = transit_keys(s, h.nonce, s->nonce, *msg, sl)) != PED_OK)
		goto out;
	r = hmac256(s->k_conf, s->offer, s->offerlen, *msg, sl, *msg + sl);
out:
	if (r != PED_OK) {
		OPENSSL_free(*msg);
		*msg = NULL;
		*len = 0;
	} else {
		s->keyed = 1;
	}
	return r;
}

int hsm_cw_confirm(struct hsm_cw *s, const uint8_t *accept, size_t acceptlen)
{
	struct hello h;
	uint8_t tag[HSM_CW_TAG_LEN];
	int r;

	if (!s->offer || s->keyed)
		return PED_E_INVALID;
	if (hello_decode(accept, acceptlen, &h) != PED_OK || h.kind != HSM_CW_ACCEPT || !complements(s, &h))
		return PED_E_CORRUPT;
	if ((r = transit_keys(s, s->nonce, h.nonce, accept, h.signed_len)) != PED_OK ||
	    (r = hmac256(s->k_conf, s->offer, s->offerlen, accept, h.signed_len, tag)) != PED_OK)
		return r;
	if (CRYPTO_memcmp(tag, h.tag, sizeof(tag)) != 0) {
		/* another domain, or an accept made for another offer (a replay) */
		OPENSSL_cleanse(s->k_obj, sizeof(s->k_obj));
		OPENSSL_cleanse(s->k_conf, sizeof(s->k_conf));
		return PED_E_CERTIFICATE_INVALID;
	}
	snprintf(s->peer_serial, sizeof(s->peer_serial), "%s", h.serial);
	snprintf(s->peer_partition, sizeof(s->peer_partition), "%s", h.partition);
	s->keyed = 1;
	return PED_OK;
}

static void obj_aad(const struct hsm_cw *s, const char *label, uint64_t n, uint8_t *aad, size_t *aadlen)
{
	size_t l = strlen(label);
	memcpy(aad, label, l);
	memcpy(aad + l, s->th, HSM_CW_HASH_LEN);
	ped_be64_put(aad + l + HSM_CW_HASH_LEN, n);
	*aadlen = l + HSM_CW_HASH_LEN + 8;
}

int hsm_cw_seal_object(struct hsm_cw *s, const struct hsm_obj *o, uint8_t **msg, size_t *len)
{
	uint8_t *pub = NULL, *sec = NULL, *pt = NULL, *sealed = NULL, aad[64];
	size_t publen = 0, seclen = 0, ptlen = 0, sealedlen = 0, aadlen = 0;
	struct ped_wbuf w;
	int r;

	*msg = NULL;
	*len = 0;
	if (!s->keyed || s->ended || s->role != HSM_CW_SENDER)
		return PED_E_INVALID;
	if ((r = hsm_obj_encode(o, &pub, &publen, &sec, &seclen)) != PED_OK)
		goto out;
	ped_wbuf_init(&w, HSM_CW_MSG_MAX);
	ped_wbuf_u64(&w, o->ouid);
	ped_wbuf_u64(&w, o->handle);
	ped_wbuf_lv32(&w, pub, publen);
	ped_wbuf_lv32(&w, sec, seclen);
	if ((r = ped_wbuf_take(&w, &pt, &ptlen)) != PED_OK) {
		r = r == PED_E_HOST_MEMORY ? r : PED_E_RANGE; /* too large to cross in one message */
		goto out;
	}
	obj_aad(s, OBJ_AAD, s->seq, aad, &aadlen);
	if ((r = hsm_seal(s->k_obj, aad, aadlen, pt, ptlen, &sealed, &sealedlen)) != PED_OK)
		goto out;
	if (sealedlen + 9 > HSM_CW_MSG_MAX) {
		r = PED_E_RANGE;
		goto out;
	}
	ped_wbuf_init(&w, HSM_CW_MSG_MAX);
	ped_wbuf_u8(&w, HSM_CW_OBJECT);
	ped_wbuf_u64(&w, s->seq);
	ped_wbuf_bytes(&w, sealed, sealedlen);
	if ((r = ped_wbuf_take(&w, msg, len)) != PED_OK)
		goto out;
	if (EVP_DigestUpdate(s->stream, *msg, *len) != 1) {
		OPENSSL_free(*msg);
		*msg = NULL;
		*len = 0;
		r = PED_E_CRYPTO;
		goto out;
	}
	s->seq++;
out:
	OPENSSL_clear_free(pub, publen);
	OPENSSL_clear_free(sec, seclen);
	OPENSSL_clear_free(pt, ptlen);
	OPENSSL_free(sealed);
	return r;
}

int hsm_cw_open_object(struct hsm_cw *s, const uint8_t *msg, size_t len, struct hsm_obj **out, uint64_t *src_handle)
{
	uint8_t *pt = NULL, aad[64];
	size_t ptlen = 0, aadlen = 0, publen = 0, seclen = 0;
	const uint8_t *pub, *sec;
	struct ped_rbuf r8;
	uint64_t ouid;
	int r;

	*out = NULL;
	*src_handle = 0;
	if (!s->keyed || s->ended || s->role != HSM_CW_RECEIVER)
		return PED_E_INVALID;
	if (len < 9 + HSM_SEAL_OVERHEAD || len > HSM_CW_MSG_MAX || msg[0] != HSM_CW_OBJECT)
		return PED_E_CORRUPT;
	if (ped_be64_get(msg + 1) != s->seq)
		return PED_E_REPLAY; /* dropped, reordered or repeated */
	obj_aad(s, OBJ_AAD, s->seq, aad, &aadlen);
	if ((r = hsm_open(s->k_obj, aad, aadlen, msg + 9, len - 9, &pt, &ptlen)) != PED_OK)
		return r == PED_E_HOST_MEMORY ? r : PED_E_BAD_RECORD;
	ped_rbuf_init(&r8, pt, ptlen);
	ouid = ped_rbuf_u64(&r8);
	*src_handle = ped_rbuf_u64(&r8);
	pub = ped_rbuf_lv32(&r8, HSM_CW_MSG_MAX, &publen);
	sec = ped_rbuf_lv32(&r8, HSM_CW_MSG_MAX, &seclen);
	if (ped_rbuf_end(&r8) != PED_OK || !pub) {
		r = PED_E_CORRUPT;
		goto out;
	}
	if ((r = hsm_obj_decode(pub, publen, seclen ? sec : NULL, seclen, out, NULL, 0)) != PED_OK) {
		r = r == PED_E_HOST_MEMORY ? r : PED_E_CORRUPT;
		goto out;
	}
	if ((*out)->ouid != ouid) {
		r = PED_E_CORRUPT;
		goto out;
	}
	if (EVP_DigestUpdate(s->stream, msg, len) != 1) {
		r = PED_E_CRYPTO;
		goto out;
	}
	s->seq++;
out:
	if (r != PED_OK && *out) {
		hsm_obj_free(*out);
		*out = NULL;
	}
	OPENSSL_clear_free(pt, ptlen);
	return r;
}

int hsm_cw_trailer(struct hsm_cw *s, uint8_t **msg, size_t *len)
{
	uint8_t pt[8 + HSM_CW_HASH_LEN], aad[64], *sealed = NULL;
	size_t aadlen = 0, sealedlen = 0;
	struct ped_wbuf w;
	int r;

	*msg = NULL;
	*len = 0;
	if (!s->keyed || s->ended || s->role != HSM_CW_SENDER)
		return PED_E_INVALID;
	ped_be64_put(pt, s->seq);
	if (EVP_DigestFinal_ex(s->stream, pt + 8, NULL) != 1)
		return PED_E_CRYPTO;
	s->ended = 1;
	obj_aad(s, END_AAD, s->seq, aad, &aadlen);
	if ((r = hsm_seal(s->k_obj, aad, aadlen, pt, sizeof(pt), &sealed, &sealedlen)) != PED_OK)
		return r;
	ped_wbuf_init(&w, 1 + sealedlen);
	ped_wbuf_u8(&w, HSM_CW_TRAILER);
	ped_wbuf_bytes(&w, sealed, sealedlen);
	r = ped_wbuf_take(&w, msg, len);
	OPENSSL_free(sealed);
	return r;
}

int hsm_cw_check_trailer(struct hsm_cw *s, const uint8_t *msg, size_t len)
{
	uint8_t want[HSM_CW_HASH_LEN], aad[64], *pt = NULL;
	size_t aadlen = 0, ptlen = 0;
	int r;

	if (!s->keyed || s->ended || s->role != HSM_CW_RECEIVER)
		return PED_E_INVALID;
	if (len != 1 + HSM_SEAL_OVERHEAD + 8 + HSM_CW_HASH_LEN || msg[0] != HSM_CW_TRAILER)
		return PED_E_CORRUPT;
	obj_aad(s, END_AAD, s->seq, aad, &aadlen);
	/* the count is in the additional data: a trailer for another count does not open */
	if ((r = hsm_open(s->k_obj, aad, aadlen, msg + 1, len - 1, &pt, &ptlen)) != PED_OK)
		return r == PED_E_HOST_MEMORY ? r : PED_E_BAD_RECORD;
	if (EVP_DigestFinal_ex(s->stream, want, NULL) != 1)
		r = PED_E_CRYPTO;
	else if (ptlen != 8 + HSM_CW_HASH_LEN || ped_be64_get(pt) != s->seq ||
		 CRYPTO_memcmp(pt + 8, want, HSM_CW_HASH_LEN) != 0)
		r = PED_E_REPLAY;
	else
		s->ended = 1;
	OPENSSL_clear_free(pt, ptlen);
	return r;
}
