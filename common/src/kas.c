#include "ped/kas.h"

#include "ped/buf.h"
#include "ped/cert.h"
#include "ped/ec.h"
#include "ped/error.h"
#include "ped/kdf.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

#define ALG_1E1S "OPENPED-KAS-1E1S-P521-SSKDF-SHA512"
#define ALG_2E2S "OPENPED-KAS-2E2S-P521-SSKDF-SHA512"

enum kas_state {
	ST_START,        /* V: before HELLO_V; U: waiting for HELLO_V */
	ST_WAIT_KEYSHARE, /* V */
	ST_WAIT_CONFIRM_U, /* V */
	ST_WAIT_CONFIRM_V, /* U */
	ST_DERIVE_DUE,   /* U, keyshare_first: KEYSHARE_U out, derivation next */
	ST_DONE,
	ST_FAILED,
};

struct ped_kas {
	struct ped_kas_params p;
	enum kas_state state;
	int error;
	uint8_t *secret; /* own copy of the RPV or password */
	char peer_id[PED_KAS_ID_MAX + 1];
	X509 *peer_cert;
	X509 *peer_hoc;
	EVP_PKEY *eph;       /* own ephemeral key */
	EVP_PKEY *peer_eph;
	EVP_PKEY *peer_static;
	uint8_t nonce_v[PED_KAS_NONCE_LEN];
	uint8_t q_eu[PED_EC_POINT_LEN];
	uint8_t q_ev[PED_EC_POINT_LEN]; /* 2e2s */
	uint8_t *hello;                 /* HELLO_V as sent, for the transcript */
	size_t hello_len;
	uint8_t *keyshare; /* U, keyshare_first: KEYSHARE_U as sent, until U derives */
	size_t keyshare_len;
	uint8_t *dkm; /* PED_KAS_DKM_LEN, cleansed once split */
	int have_keys;
	struct ped_channel_keys keys;
};

static void trace(struct ped_kas *k, const char *name, const uint8_t *v, size_t len)
{
	if (k->p.trace)
		k->p.trace(k->p.trace_arg, name, v, len);
}

void ped_kas_out_clear(struct ped_kas_out *out)
{
	for (int i = 0; i < out->count; i++)
		OPENSSL_clear_free(out->msg[i], out->len[i]);
	memset(out, 0, sizeof(*out));
}

static int out_push(struct ped_kas_out *out, struct ped_wbuf *w)
{
	int r;
	if (out->count == 2) {
		ped_wbuf_free(w);
		return PED_E_INVALID;
	}
	if ((r = ped_wbuf_take(w, &out->msg[out->count], &out->len[out->count])) != PED_OK)
		return r;
	out->count++;
	return PED_OK;
}

/* Ends the handshake with err and, unless the peer told us (alert), an ALERT for it. */
static int fail(struct ped_kas *k, int err, struct ped_kas_out *out, int send_alert)
{
	struct ped_wbuf w;
	k->state = ST_FAILED;
	k->error = err;
	ped_channel_keys_cleanse(&k->keys);
	k->have_keys = 0;
	if (send_alert && out) {
		uint8_t a[PED_KAS_ALERT_LEN];
		ped_kas_alert_encode(err, a);
		ped_wbuf_init(&w, sizeof(a));
		ped_wbuf_bytes(&w, a, sizeof(a));
		(void)out_push(out, &w);
	}
	return err;
}

void ped_kas_alert_encode(int err, uint8_t out[PED_KAS_ALERT_LEN])
{
	out[0] = PED_KAS_ALERT;
	ped_be32_put(out + 1, ped_err_code(err));
}

int ped_kas_alert_error(const uint8_t *msg, size_t len)
{
	int r;
	if (len != PED_KAS_ALERT_LEN || msg[0] != PED_KAS_ALERT)
		return PED_E_HANDSHAKE;
	r = ped_err_from_code(ped_be32_get(msg + 1));
	return r == PED_OK || r == PED_E_GENERAL ? PED_E_HANDSHAKE : r;
}

int ped_kas_new(const struct ped_kas_params *p, struct ped_kas **out)
{
	struct ped_kas *k;

	if (!p->id || strlen(p->id) == 0 || strlen(p->id) > PED_KAS_ID_MAX ||
	    (p->scheme != PED_KAS_1E1S && p->scheme != PED_KAS_2E2S) ||
	    p->secret_len > PED_KAS_SECRET_MAX)
		return PED_E_INVALID;
	if (p->role == PED_KAS_V && (!p->static_key || !p->static_cert || !p->hoc))
		return PED_E_INVALID;
	if (p->scheme == PED_KAS_2E2S &&
	    (!p->static_key || !p->static_cert || !p->hoc || !p->secret || !p->secret_len))
		return PED_E_INVALID;
	if ((k = OPENSSL_zalloc(sizeof(*k))) == NULL)
		return PED_E_HOST_MEMORY;
	k->p = *p;
	if (p->secret_len) {
		if ((k->secret = OPENSSL_malloc(p->secret_len)) == NULL) {
			OPENSSL_free(k);
			return PED_E_HOST_MEMORY;
		}
		memcpy(k->secret, p->secret, p->secret_len);
	}
	k->p.secret = k->secret;
	/* Keep our own references: the caller may free its copies. */
	if (p->static_key)
		EVP_PKEY_up_ref(p->static_key);
	if (p->static_cert)
		X509_up_ref(p->static_cert);
	if (p->hoc)
		X509_up_ref(p->hoc);
	if (p->ephemeral && EVP_PKEY_up_ref(p->ephemeral))
		k->eph = p->ephemeral; /* else one is made when needed */
	k->p.ephemeral = NULL;
	*out = k;
	return PED_OK;
}

void ped_kas_free(struct ped_kas *k)
{
	if (!k)
		return;
	OPENSSL_clear_free(k->secret, k->p.secret_len);
	OPENSSL_clear_free(k->dkm, PED_KAS_DKM_LEN);
	OPENSSL_clear_free(k->hello, k->hello_len);
	OPENSSL_clear_free(k->keyshare, k->keyshare_len);
	EVP_PKEY_free(k->p.static_key);
	X509_free(k->p.static_cert);
	X509_free(k->p.hoc);
	X509_free(k->peer_cert);
	X509_free(k->peer_hoc);
	EVP_PKEY_free(k->eph);
	EVP_PKEY_free(k->peer_eph);
	EVP_PKEY_free(k->peer_static);
	OPENSSL_clear_free(k, sizeof(*k));
}

int ped_kas_done(const struct ped_kas *k)
{
	return k->state == ST_DONE;
}

int ped_kas_pending(const struct ped_kas *k)
{
	return k->state == ST_DERIVE_DUE;
}

int ped_kas_error(const struct ped_kas *k)
{
	return k->error;
}

const char *ped_kas_peer_id(const struct ped_kas *k)
{
	return k->peer_id[0] ? k->peer_id : NULL;
}

X509 *ped_kas_peer_cert(const struct ped_kas *k)
{
	return k->peer_cert;
}

int ped_kas_take_keys(struct ped_kas *k, struct ped_channel_keys *keys)
{
	if (k->state != ST_DONE || !k->have_keys)
		return PED_E_INVALID;
	*keys = k->keys;
	ped_channel_keys_cleanse(&k->keys);
	k->have_keys = 0;
	return PED_OK;
}

static const char *id_u(const struct ped_kas *k)
{
	return k->p.role == PED_KAS_U ? k->p.id : k->peer_id;
}

static const char *id_v(const struct ped_kas *k)
{
	return k->p.role == PED_KAS_V ? k->p.id : k->peer_id;
}

static int own_keys_trace(struct ped_kas *k)
{
	uint8_t scalar[PED_EC_SCALAR_LEN], point[PED_EC_POINT_LEN];
	const char *who = k->p.role == PED_KAS_U ? "u" : "v";
	char name[32];

	if (!k->p.trace)
		return PED_OK;
	if (k->eph) {
		if (ped_ec_priv_export(k->eph, scalar) != PED_OK || ped_ec_pub_export(k->eph, point))
			return PED_E_CRYPTO;
		snprintf(name, sizeof(name), "%s_eph_priv", who);
		trace(k, name, scalar, sizeof(scalar));
		snprintf(name, sizeof(name), "%s_eph_pub", who);
		trace(k, name, point, sizeof(point));
	}
	if (k->p.static_key && (k->p.role == PED_KAS_V || k->p.scheme == PED_KAS_2E2S)) {
		if (ped_ec_priv_export(k->p.static_key, scalar) != PED_OK ||
		    ped_ec_pub_export(k->p.static_key, point))
			return PED_E_CRYPTO;
		snprintf(name, sizeof(name), "%s_static_priv", who);
		trace(k, name, scalar, sizeof(scalar));
		snprintf(name, sizeof(name), "%s_static_pub", who);
		trace(k, name, point, sizeof(point));
	}
	OPENSSL_cleanse(scalar, sizeof(scalar));
	return PED_OK;
}

/* FixedInfo (SP 800-56C concatenation format), every field u32 length || bytes. */
static int fixed_info(struct ped_kas *k, const uint8_t *keyshare, size_t keyshare_len,
		      uint8_t **fi, size_t *fi_len)
{
	struct ped_wbuf w;
	uint8_t th[64], ver[2] = {0, PED_KAS_PROTO_VERSION}, lbits[4];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int thl = 0;
	const char *alg = k->p.scheme == PED_KAS_1E1S ? ALG_1E1S : ALG_2E2S;

	if (!md || EVP_DigestInit_ex(md, EVP_sha512(), NULL) != 1 ||
	    EVP_DigestUpdate(md, k->hello, k->hello_len) != 1 ||
	    EVP_DigestUpdate(md, keyshare, keyshare_len) != 1 || EVP_DigestFinal_ex(md, th, &thl) != 1) {
		EVP_MD_CTX_free(md);
		return PED_E_CRYPTO;
	}
	EVP_MD_CTX_free(md);
	ped_be32_put(lbits, PED_KAS_DKM_LEN * 8);
	ped_wbuf_init(&w, 4096);
	ped_wbuf_lv32(&w, alg, strlen(alg));
	ped_wbuf_lv32(&w, id_u(k), strlen(id_u(k)));
	ped_wbuf_lv32(&w, k->q_eu, sizeof(k->q_eu));
	ped_wbuf_lv32(&w, id_v(k), strlen(id_v(k)));
	if (k->p.scheme == PED_KAS_1E1S)
		ped_wbuf_lv32(&w, k->nonce_v, sizeof(k->nonce_v));
	else
		ped_wbuf_lv32(&w, k->q_ev, sizeof(k->q_ev));
	ped_wbuf_lv32(&w, ver, sizeof(ver));
	ped_wbuf_lv32(&w, th, thl);
	ped_wbuf_lv32(&w, lbits, sizeof(lbits));
	ped_wbuf_lv32(&w, k->secret, k->p.secret_len);
	return ped_wbuf_take(&w, fi, fi_len);
}

/* Computes Z, derives DKM, keeps the MAC key in dkm and fills the channel keys. */
static int derive(struct ped_kas *k, const uint8_t *keyshare, size_t keyshare_len)
{
	uint8_t *z = NULL, *fi = NULL;
	size_t zlen = 0, fi_len = 0;
	const uint8_t *d;
	struct ped_direction_keys u2v, v2u;
	int r;
	int is_u = k->p.role == PED_KAS_U;

	if (k->p.scheme == PED_KAS_1E1S) {
		zlen = PED_ECDH_LEN;
		if ((r = ped_ecdh(is_u ? k->eph : k->p.static_key, is_u ? k->peer_static : k->peer_eph,
				  &z)) != PED_OK)
			goto out;
	} else {
		zlen = 2 * PED_ECDH_LEN;
		if ((z = OPENSSL_malloc(zlen)) == NULL) {
			r = PED_E_HOST_MEMORY;
			goto out;
		}
		/* Ze from the ephemeral keys, Zs from the static keys. */
		if ((r = ped_ecdh_into(k->eph, k->peer_eph, z)) != PED_OK ||
		    (r = ped_ecdh_into(k->p.static_key, k->peer_static, z + PED_ECDH_LEN)) != PED_OK)
			goto out;
		trace(k, "ze", z, PED_ECDH_LEN);
		trace(k, "zs", z + PED_ECDH_LEN, PED_ECDH_LEN);
	}
	trace(k, "z", z, zlen);
	if ((r = fixed_info(k, keyshare, keyshare_len, &fi, &fi_len)) != PED_OK)
		goto out;
	trace(k, "fixed_info", fi, fi_len);
	if ((k->dkm = OPENSSL_malloc(PED_KAS_DKM_LEN)) == NULL) {
		r = PED_E_HOST_MEMORY;
		goto out;
	}
	if ((r = ped_sskdf_sha512(z, zlen, fi, fi_len, k->dkm, PED_KAS_DKM_LEN)) != PED_OK)
		goto out;
	trace(k, "dkm", k->dkm, PED_KAS_DKM_LEN);
	d = k->dkm + PED_MACKEY_LEN;
	trace(k, "mac_key", k->dkm, PED_MACKEY_LEN);
	memcpy(u2v.dek, d, PED_DEK_LEN), d += PED_DEK_LEN;
	memcpy(u2v.dmk, d, PED_DMK_LEN), d += PED_DMK_LEN;
	memcpy(u2v.cwk, d, PED_CWK_LEN), d += PED_CWK_LEN;
	memcpy(v2u.dek, d, PED_DEK_LEN), d += PED_DEK_LEN;
	memcpy(v2u.dmk, d, PED_DMK_LEN), d += PED_DMK_LEN;
	memcpy(v2u.cwk, d, PED_CWK_LEN);
	trace(k, "dek_u2v", u2v.dek, PED_DEK_LEN);
	trace(k, "dmk_u2v", u2v.dmk, PED_DMK_LEN);
	trace(k, "cwk_u2v", u2v.cwk, PED_CWK_LEN);
	trace(k, "dek_v2u", v2u.dek, PED_DEK_LEN);
	trace(k, "dmk_v2u", v2u.dmk, PED_DMK_LEN);
	trace(k, "cwk_v2u", v2u.cwk, PED_CWK_LEN);
	k->keys.tx = is_u ? u2v : v2u;
	k->keys.rx = is_u ? v2u : u2v;
	k->have_keys = 1;
	/* The MAC key stays at the front of dkm until confirmation; wipe the rest now. */
	OPENSSL_cleanse(k->dkm + PED_MACKEY_LEN, PED_KAS_DKM_LEN - PED_MACKEY_LEN);
	r = PED_OK;
out:
	/* Z is all the ephemeral key was for (its public half is kept as
	 * bytes): it goes now, not with the handshake, which V keeps while it
	 * waits for READY, up to an operator's time */
	EVP_PKEY_free(k->eph);
	k->eph = NULL;
	OPENSSL_cleanse(&u2v, sizeof(u2v));
	OPENSSL_cleanse(&v2u, sizeof(v2u));
	OPENSSL_clear_free(z, zlen);
	OPENSSL_clear_free(fi, fi_len);
	return r;
}

/* tag = HMAC-SHA-512(mac_key, MacData). who: 'U' or 'V' is the provider. */
static int kc_tag(struct ped_kas *k, char who, uint8_t tag[PED_KAS_TAG_LEN])
{
	struct ped_wbuf w;
	uint8_t *md = NULL;
	size_t mdl = 0;
	int r;
	const char *label = k->p.scheme == PED_KAS_1E1S ? (who == 'U' ? "KC_1_U" : "KC_1_V")
						       : who == 'U' ? "KC_2_U" : "KC_2_V";
	const char *own = who == 'U' ? id_u(k) : id_v(k), *other = who == 'U' ? id_v(k) : id_u(k);

	ped_wbuf_init(&w, 1024);
	ped_wbuf_bytes(&w, label, strlen(label));
	ped_wbuf_bytes(&w, own, strlen(own));
	ped_wbuf_bytes(&w, other, strlen(other));
	/* the provider's ephemeral data first; V's is nonce_V in 1e1s, Q_eV in 2e2s */
	const uint8_t *ev = k->p.scheme == PED_KAS_1E1S ? k->nonce_v : k->q_ev;
	size_t evl = k->p.scheme == PED_KAS_1E1S ? sizeof(k->nonce_v) : sizeof(k->q_ev);
	ped_wbuf_bytes(&w, who == 'U' ? k->q_eu : ev, who == 'U' ? sizeof(k->q_eu) : evl);
	ped_wbuf_bytes(&w, who == 'U' ? ev : k->q_eu, who == 'U' ? evl : sizeof(k->q_eu));
	if ((r = ped_wbuf_take(&w, &md, &mdl)) != PED_OK)
		return r;
	trace(k, who == 'U' ? "mac_data_u" : "mac_data_v", md, mdl);
	r = ped_hmac_sha512(k->dkm, PED_MACKEY_LEN, md, mdl, tag);
	if (r == PED_OK)
		trace(k, who == 'U' ? "tag_u" : "tag_v", tag, PED_KAS_TAG_LEN);
	OPENSSL_clear_free(md, mdl);
	return r;
}

/* Adds who's CONFIRM message to out; on an error, fails the handshake. */
static int push_confirm(struct ped_kas *k, char who, struct ped_kas_out *out)
{
	struct ped_wbuf w;
	uint8_t tag[PED_KAS_TAG_LEN];
	int r;

	if ((r = kc_tag(k, who, tag)) != PED_OK)
		return fail(k, r, out, 1);
	ped_wbuf_init(&w, 128);
	ped_wbuf_u8(&w, who == 'U' ? PED_KAS_CONFIRM_U : PED_KAS_CONFIRM_V);
	ped_wbuf_bytes(&w, tag, sizeof(tag));
	if ((r = out_push(out, &w)) != PED_OK)
		return fail(k, r, out, 0);
	return PED_OK;
}

static void finish(struct ped_kas *k)
{
	/* Key confirmation done: the MAC key has no further use. */
	OPENSSL_clear_free(k->dkm, PED_KAS_DKM_LEN);
	k->dkm = NULL;
	k->state = ST_DONE;
}

static int put_cert(struct ped_wbuf *w, X509 *c)
{
	uint8_t *der = NULL;
	size_t len = 0;
	int r = ped_cert_to_der(c, &der, &len);
	if (r == PED_OK)
		ped_wbuf_lv16(w, der, len);
	OPENSSL_free(der);
	return r;
}

int ped_kas_start(struct ped_kas *k, struct ped_kas_out *out)
{
	struct ped_wbuf w;
	int r;

	memset(out, 0, sizeof(*out));
	if (k->p.role != PED_KAS_V)
		return PED_OK; /* U speaks only when V has said hello */
	if (k->state != ST_START)
		return PED_E_INVALID;
	ped_wbuf_init(&w, PED_KAS_MSG_MAX);
	ped_wbuf_u8(&w, PED_KAS_HELLO_V);
	ped_wbuf_u8(&w, PED_KAS_PROTO_VERSION);
	ped_wbuf_u8(&w, (uint8_t)k->p.scheme);
	ped_wbuf_lv16(&w, k->p.id, strlen(k->p.id));
	if ((r = put_cert(&w, k->p.static_cert)) != PED_OK || (r = put_cert(&w, k->p.hoc)) != PED_OK)
		goto err;
	if (k->p.scheme == PED_KAS_1E1S) {
		if (RAND_bytes(k->nonce_v, sizeof(k->nonce_v)) != 1) {
			r = PED_E_CRYPTO;
			goto err;
		}
		trace(k, "nonce_v", k->nonce_v, sizeof(k->nonce_v));
		ped_wbuf_bytes(&w, k->nonce_v, sizeof(k->nonce_v));
	} else {
		if ((!k->eph && (r = ped_ec_generate(&k->eph)) != PED_OK) ||
		    (r = ped_ec_pub_export(k->eph, k->q_ev)) != PED_OK)
			goto err;
		ped_wbuf_bytes(&w, k->q_ev, sizeof(k->q_ev));
	}
	if ((r = own_keys_trace(k)) != PED_OK)
		goto err;
	if ((r = ped_wbuf_take(&w, &k->hello, &k->hello_len)) != PED_OK)
		return fail(k, r, NULL, 0);
	if ((out->msg[0] = OPENSSL_memdup(k->hello, k->hello_len)) == NULL)
		return fail(k, PED_E_HOST_MEMORY, NULL, 0);
	out->len[0] = k->hello_len;
	out->count = 1;
	k->state = ST_WAIT_KEYSHARE;
	return PED_OK;
err:
	ped_wbuf_free(&w);
	return fail(k, r, NULL, 0);
}

static int encodes_as(X509 *x, const uint8_t *der, size_t n)
{
	unsigned char *enc = NULL;
	int len = i2d_X509(x, &enc);
	int same = len > 0 && (size_t)len == n && memcmp(enc, der, n) == 0;

	OPENSSL_free(enc);
	return same;
}

/* known (may be NULL): a certificate already decoded from these bytes */
static int read_cert_known(struct ped_rbuf *rb, X509 *known, X509 **out)
{
	size_t n = 0;
	const uint8_t *der = ped_rbuf_lv16(rb, PED_CERT_MAX_DER, &n);
	if (!der)
		return PED_E_HANDSHAKE;
	if (known && encodes_as(known, der, n) && X509_up_ref(known)) {
		*out = known;
		return PED_OK;
	}
	return ped_cert_from_der(der, n, out);
}

static int read_cert(struct ped_rbuf *rb, X509 **out)
{
	return read_cert_known(rb, NULL, out);
}

/* Section 4: printable ASCII, never empty; it reaches logs and screens. */
static int read_id(struct ped_rbuf *rb, char id[PED_KAS_ID_MAX + 1])
{
	if (ped_rbuf_text16(rb, id, PED_KAS_ID_MAX) != PED_OK || !id[0])
		return PED_E_HANDSHAKE;
	return PED_OK;
}

int ped_kas_hello_peek(const uint8_t *msg, size_t len, X509 *known_cert, X509 *known_hoc,
		       enum ped_kas_scheme *scheme, char id[PED_KAS_ID_MAX + 1], X509 **cert, X509 **hoc)
{
	struct ped_rbuf rb;
	X509 *leaf = NULL;
	uint8_t sch;
	int r;

	*hoc = NULL;
	if (cert)
		*cert = NULL;
	if (len == 0 || len > PED_KAS_MSG_MAX)
		return PED_E_HANDSHAKE;
	ped_rbuf_init(&rb, msg, len);
	if (ped_rbuf_u8(&rb) != PED_KAS_HELLO_V || ped_rbuf_u8(&rb) != PED_KAS_PROTO_VERSION)
		return PED_E_HANDSHAKE;
	sch = ped_rbuf_u8(&rb);
	if (sch != PED_KAS_1E1S && sch != PED_KAS_2E2S)
		return PED_E_HANDSHAKE;
	if (read_id(&rb, id) != PED_OK)
		return PED_E_HANDSHAKE;
	if ((r = read_cert_known(&rb, known_cert, &leaf)) != PED_OK ||
	    (r = read_cert_known(&rb, known_hoc, hoc)) != PED_OK) {
		X509_free(leaf);
		return r == PED_E_HANDSHAKE ? r : PED_E_CERTIFICATE_INVALID;
	}
	/* the whole message, as u_on_hello will read it: nonce_V or Q_eV, then nothing */
	if (!ped_rbuf_bytes(&rb, sch == PED_KAS_1E1S ? PED_KAS_NONCE_LEN : PED_EC_POINT_LEN) ||
	    ped_rbuf_end(&rb) != PED_OK) {
		X509_free(leaf);
		X509_free(*hoc);
		*hoc = NULL;
		return PED_E_HANDSHAKE;
	}
	if (cert)
		*cert = leaf;
	else
		X509_free(leaf);
	*scheme = (enum ped_kas_scheme)sch;
	return PED_OK;
}

/* U receives HELLO_V: checks V's certificate, makes its ephemeral key,
 * derives the keys, and answers KEYSHARE_U and CONFIRM_U. */
static int u_on_hello(struct ped_kas *k, const uint8_t *msg, size_t len, struct ped_kas_out *out)
{
	struct ped_rbuf rb;
	struct ped_wbuf w;
	uint8_t *ks = NULL;
	size_t ks_len = 0;
	X509 *anchor;
	int r;

	ped_rbuf_init(&rb, msg, len);
	ped_rbuf_u8(&rb);
	if (ped_rbuf_u8(&rb) != PED_KAS_PROTO_VERSION)
		return fail(k, PED_E_HANDSHAKE, out, 1);
	if (ped_rbuf_u8(&rb) != k->p.scheme)
		return fail(k, PED_E_HANDSHAKE, out, 1);
	if (read_id(&rb, k->peer_id) != PED_OK)
		return fail(k, PED_E_HANDSHAKE, out, 1);
	if ((r = read_cert_known(&rb, k->p.peeked_cert, &k->peer_cert)) != PED_OK ||
	    (r = read_cert_known(&rb, k->p.peeked_hoc, &k->peer_hoc)) != PED_OK)
		return fail(k, r == PED_E_HANDSHAKE ? r : PED_E_CERTIFICATE_INVALID, out, 1);
	if (k->p.scheme == PED_KAS_1E1S) {
		const uint8_t *n = ped_rbuf_bytes(&rb, PED_KAS_NONCE_LEN);
		if (n)
			memcpy(k->nonce_v, n, PED_KAS_NONCE_LEN);
	} else {
		const uint8_t *q = ped_rbuf_bytes(&rb, PED_EC_POINT_LEN);
		if (q)
			memcpy(k->q_ev, q, PED_EC_POINT_LEN);
	}
	if (ped_rbuf_end(&rb) != PED_OK)
		return fail(k, PED_E_HANDSHAKE, out, 1);
	/* The HSM's static key must chain to the root we trust (the orange key's
	 * HOC); with none configured (1e1s), to the root it sent. */
	anchor = k->p.hoc ? k->p.hoc : k->peer_hoc;
	if (ped_cert_verify(k->peer_cert, anchor) != PED_OK)
		return fail(k, PED_E_CERTIFICATE_INVALID, out, 1);
	if ((k->peer_static = EVP_PKEY_dup(X509_get0_pubkey(k->peer_cert))) == NULL)
		return fail(k, PED_E_CRYPTO, out, 1);
	if (k->p.scheme == PED_KAS_2E2S &&
	    ped_ec_pub_import(k->q_ev, sizeof(k->q_ev), &k->peer_eph) != PED_OK)
		return fail(k, PED_E_HANDSHAKE, out, 1);
	if ((k->hello = OPENSSL_memdup(msg, len)) == NULL)
		return fail(k, PED_E_HOST_MEMORY, out, 0);
	k->hello_len = len;
	if ((!k->eph && (r = ped_ec_generate(&k->eph)) != PED_OK) ||
	    (r = ped_ec_pub_export(k->eph, k->q_eu)) != PED_OK ||
	    (r = own_keys_trace(k)) != PED_OK)
		return fail(k, r, out, 1);

	ped_wbuf_init(&w, PED_KAS_MSG_MAX);
	ped_wbuf_u8(&w, PED_KAS_KEYSHARE_U);
	ped_wbuf_lv16(&w, k->p.id, strlen(k->p.id));
	ped_wbuf_bytes(&w, k->q_eu, sizeof(k->q_eu));
	if (k->p.scheme == PED_KAS_2E2S && (r = put_cert(&w, k->p.static_cert)) != PED_OK) {
		ped_wbuf_free(&w);
		return fail(k, r, out, 1);
	}
	if ((r = ped_wbuf_take(&w, &ks, &ks_len)) != PED_OK)
		return fail(k, r, out, 1);
	if (k->p.keyshare_first) {
		/* derived from in ped_kas_continue, once it is on its way */
		if ((k->keyshare = OPENSSL_memdup(ks, ks_len)) == NULL) {
			OPENSSL_clear_free(ks, ks_len);
			return fail(k, PED_E_HOST_MEMORY, out, 1);
		}
		k->keyshare_len = ks_len;
		out->msg[0] = ks;
		out->len[0] = ks_len;
		out->count = 1;
		k->state = ST_DERIVE_DUE;
		return PED_OK;
	}
	if ((r = derive(k, ks, ks_len)) != PED_OK) {
		OPENSSL_clear_free(ks, ks_len);
		return fail(k, r, out, 1);
	}
	out->msg[0] = ks;
	out->len[0] = ks_len;
	out->count = 1;
	/* U proves the secret first in both schemes: a V that answered a bare
	 * KEYSHARE_U with tag_V would hand whoever plays the PED an offline test
	 * of the 10^8 one-time passwords. */
	if ((r = push_confirm(k, 'U', out)) != PED_OK)
		return r;
	k->state = ST_WAIT_CONFIRM_V;
	return PED_OK;
}

int ped_kas_continue(struct ped_kas *k, struct ped_kas_out *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	if (k->state == ST_FAILED)
		return k->error;
	if (k->state != ST_DERIVE_DUE)
		return PED_E_INVALID;
	r = derive(k, k->keyshare, k->keyshare_len);
	OPENSSL_clear_free(k->keyshare, k->keyshare_len);
	k->keyshare = NULL;
	k->keyshare_len = 0;
	if (r != PED_OK)
		return fail(k, r, out, 1);
	/* U proves the secret first, as when both leave together */
	if ((r = push_confirm(k, 'U', out)) != PED_OK)
		return r;
	k->state = ST_WAIT_CONFIRM_V;
	return PED_OK;
}

/* V receives KEYSHARE_U. */
static int v_on_keyshare(struct ped_kas *k, const uint8_t *msg, size_t len, struct ped_kas_out *out)
{
	struct ped_rbuf rb;
	const uint8_t *q;
	int r;

	ped_rbuf_init(&rb, msg, len);
	ped_rbuf_u8(&rb);
	if (read_id(&rb, k->peer_id) != PED_OK || (q = ped_rbuf_bytes(&rb, PED_EC_POINT_LEN)) == NULL)
		return fail(k, PED_E_HANDSHAKE, out, 1);
	memcpy(k->q_eu, q, PED_EC_POINT_LEN);
	if (k->p.scheme == PED_KAS_2E2S && (r = read_cert(&rb, &k->peer_cert)) != PED_OK)
		return fail(k, r == PED_E_HANDSHAKE ? r : PED_E_CERTIFICATE_INVALID, out, 1);
	if (ped_rbuf_end(&rb) != PED_OK)
		return fail(k, PED_E_HANDSHAKE, out, 1);
	if (ped_ec_pub_import(k->q_eu, sizeof(k->q_eu), &k->peer_eph) != PED_OK)
		return fail(k, PED_E_HANDSHAKE, out, 1);
	if (k->p.scheme == PED_KAS_2E2S) {
		/* The orange key's static key must be one our own HOC certified. */
		if (ped_cert_verify(k->peer_cert, k->p.hoc) != PED_OK)
			return fail(k, PED_E_CERTIFICATE_INVALID, out, 1);
		if ((k->peer_static = EVP_PKEY_dup(X509_get0_pubkey(k->peer_cert))) == NULL)
			return fail(k, PED_E_CRYPTO, out, 1);
	}
	if ((r = derive(k, msg, len)) != PED_OK)
		return fail(k, r, out, 1);
	/* tag_V goes out only for a tag_U that checks (ST_WAIT_CONFIRM_U). */
	k->state = ST_WAIT_CONFIRM_U;
	return PED_OK;
}

/* Checks a received tag against the one we compute for its provider. */
static int check_tag(struct ped_kas *k, char who, const uint8_t *msg, size_t len)
{
	uint8_t want[PED_KAS_TAG_LEN];
	int r;
	if (len != 1 + PED_KAS_TAG_LEN)
		return PED_E_HANDSHAKE;
	if ((r = kc_tag(k, who, want)) != PED_OK)
		return r;
	r = CRYPTO_memcmp(want, msg + 1, PED_KAS_TAG_LEN) == 0 ? PED_OK : PED_E_KEY_CONFIRM;
	OPENSSL_cleanse(want, sizeof(want));
	return r;
}

int ped_kas_input(struct ped_kas *k, const uint8_t *msg, size_t len, struct ped_kas_out *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	if (k->state == ST_FAILED)
		return k->error;
	if (len == 0 || len > PED_KAS_MSG_MAX)
		return fail(k, PED_E_HANDSHAKE, out, 1);
	/* An ALERT counts even after V is done in 1e1s: U may still refuse V's tag. */
	if (msg[0] == PED_KAS_ALERT)
		return fail(k, ped_kas_alert_error(msg, len), out, 0);
	if (k->state == ST_DONE)
		return fail(k, PED_E_HANDSHAKE, out, 1);
	switch (k->state) {
	case ST_START:
		if (k->p.role == PED_KAS_U && msg[0] == PED_KAS_HELLO_V)
			return u_on_hello(k, msg, len, out);
		break;
	case ST_WAIT_KEYSHARE:
		if (msg[0] == PED_KAS_KEYSHARE_U)
			return v_on_keyshare(k, msg, len, out);
		break;
	case ST_WAIT_CONFIRM_U:
		if (msg[0] != PED_KAS_CONFIRM_U)
			break;
		if ((r = check_tag(k, 'U', msg, len)) != PED_OK)
			return fail(k, r, out, 1);
		if ((r = push_confirm(k, 'V', out)) != PED_OK)
			return r;
		finish(k);
		return PED_OK;
	case ST_WAIT_CONFIRM_V:
		if (msg[0] != PED_KAS_CONFIRM_V)
			break;
		if ((r = check_tag(k, 'V', msg, len)) != PED_OK)
			return fail(k, r, out, 1);
		finish(k);
		return PED_OK;
	default:
		break;
	}
	/* A message of the wrong type for this point of the handshake. */
	return fail(k, PED_E_HANDSHAKE, out, 1);
}
