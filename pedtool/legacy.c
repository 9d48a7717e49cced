#include "legacy.h"

#include "ped/buf.h"
#include "ped/error.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#define DEK_LABEL "OPENPED-LEGACY-DEK"
#define MAX_RECORD (64 * 1024)

enum lstate { L_START, L_WAIT_DH_U, L_WAIT_NONCE1, L_WAIT_NONCE2, L_WAIT_NONCE3, L_DONE, L_FAILED };

struct ped_legacy {
	enum ped_kas_role role;
	enum lstate state;
	int error;
	uint8_t rpv[64];
	size_t rpv_len;
	ped_kas_trace_fn trace;
	void *trace_arg;
	EVP_PKEY *dh;
	uint8_t ke[32];
	uint8_t r1[8], r2[8];
	EVP_CIPHER_CTX *tx, *rx;
	uint64_t tx_seq, rx_seq;
};

static void trace(struct ped_legacy *l, const char *name, const uint8_t *v, size_t n)
{
	if (l->trace)
		l->trace(l->trace_arg, name, v, n);
}

int ped_legacy_new(enum ped_kas_role role, const uint8_t *rpv, size_t rpv_len,
		   ped_kas_trace_fn tr, void *arg, struct ped_legacy **out)
{
	struct ped_legacy *l;
	if (!rpv || rpv_len == 0 || rpv_len > sizeof(l->rpv))
		return PED_E_INVALID;
	if ((l = OPENSSL_zalloc(sizeof(*l))) == NULL)
		return PED_E_HOST_MEMORY;
	l->role = role;
	memcpy(l->rpv, rpv, rpv_len);
	l->rpv_len = rpv_len;
	l->trace = tr;
	l->trace_arg = arg;
	*out = l;
	return PED_OK;
}

void ped_legacy_free(struct ped_legacy *l)
{
	if (!l)
		return;
	EVP_PKEY_free(l->dh);
	EVP_CIPHER_CTX_free(l->tx);
	EVP_CIPHER_CTX_free(l->rx);
	OPENSSL_clear_free(l, sizeof(*l));
}

int ped_legacy_done(const struct ped_legacy *l)
{
	return l->state == L_DONE;
}

static int push(struct ped_kas_out *out, uint8_t type, const uint8_t *body, size_t n)
{
	struct ped_wbuf w;
	ped_wbuf_init(&w, 1024);
	ped_wbuf_u8(&w, type);
	ped_wbuf_bytes(&w, body, n);
	if (ped_wbuf_take(&w, &out->msg[out->count], &out->len[out->count]) != PED_OK)
		return PED_E_HOST_MEMORY;
	out->count++;
	return PED_OK;
}

static int fail(struct ped_legacy *l, int err, struct ped_kas_out *out, int alert)
{
	uint8_t code[4];
	l->state = L_FAILED;
	l->error = err;
	OPENSSL_cleanse(l->ke, sizeof(l->ke));
	if (alert && out && out->count < 2) {
		ped_be32_put(code, ped_err_code(err));
		push(out, PED_LEGACY_ALERT, code, 4);
	}
	return err;
}

static int dh_generate(struct ped_legacy *l, uint8_t pub[PED_LEGACY_DH_LEN])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
	OSSL_PARAM params[2];
	size_t n = 0;
	int r = PED_E_CRYPTO;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "ffdhe2048", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_CTX_set_params(ctx, params) == 1 &&
	    EVP_PKEY_generate(ctx, &l->dh) == 1 &&
	    EVP_PKEY_get_octet_string_param(l->dh, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub,
					    PED_LEGACY_DH_LEN, &n) == 1 &&
	    n == PED_LEGACY_DH_LEN)
		r = PED_OK;
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/* Z from the peer's public value, then Ke = SHA-256(label || Z || RPV). */
static int derive_ke(struct ped_legacy *l, const uint8_t *peer_pub)
{
	EVP_PKEY *peer = EVP_PKEY_new();
	EVP_PKEY_CTX *ctx = NULL;
	EVP_MD_CTX *md = NULL;
	uint8_t z[PED_LEGACY_DH_LEN];
	size_t zl = sizeof(z);
	unsigned int kl = 0;
	int r = PED_E_HANDSHAKE;

	if (!peer || EVP_PKEY_copy_parameters(peer, l->dh) != 1 ||
	    EVP_PKEY_set1_encoded_public_key(peer, peer_pub, PED_LEGACY_DH_LEN) != 1)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL)) == NULL ||
	    EVP_PKEY_public_check(ctx) != 1)
		goto out;
	EVP_PKEY_CTX_free(ctx);
	r = PED_E_CRYPTO;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, l->dh, NULL)) == NULL ||
	    EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_CTX_set_dh_pad(ctx, 1) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, peer) != 1 || EVP_PKEY_derive(ctx, z, &zl) != 1 ||
	    zl != sizeof(z))
		goto out;
	trace(l, "z", z, zl);
	if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, DEK_LABEL, sizeof(DEK_LABEL) - 1) != 1 ||
	    EVP_DigestUpdate(md, z, zl) != 1 || EVP_DigestUpdate(md, l->rpv, l->rpv_len) != 1 ||
	    EVP_DigestFinal_ex(md, l->ke, &kl) != 1)
		goto out;
	trace(l, "ke", l->ke, sizeof(l->ke));
	r = PED_OK;
out:
	OPENSSL_cleanse(z, sizeof(z));
	EVP_MD_CTX_free(md);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	return r;
}

static int block(struct ped_legacy *l, int enc, const uint8_t in[16], uint8_t out[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok;
	ok = c && EVP_CipherInit_ex(c, EVP_aes_256_ecb(), NULL, l->ke, NULL, enc) == 1 &&
	     EVP_CIPHER_CTX_set_padding(c, 0) == 1 && EVP_CipherUpdate(c, out, &n, in, 16) == 1 &&
	     n == 16;
	EVP_CIPHER_CTX_free(c);
	return ok ? PED_OK : PED_E_CRYPTO;
}

/* A stream's IV is hashed from the nonces, never R2 || R1 itself: OFB's
 * first keystream block is E_Ke(IV), and E_Ke(R2 || R1) is NONCE2 on the
 * wire, which would hand a listener the first 16 bytes of U's first record. */
static int stream_iv(const char *label, const uint8_t first[8], const uint8_t second[8], uint8_t iv[16])
{
	uint8_t h[32];
	unsigned int hl = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(md, label, strlen(label)) == 1 && EVP_DigestUpdate(md, first, 8) == 1 &&
		 EVP_DigestUpdate(md, second, 8) == 1 && EVP_DigestFinal_ex(md, h, &hl) == 1;
	EVP_MD_CTX_free(md);
	memcpy(iv, h, 16);
	OPENSSL_cleanse(h, sizeof(h));
	return ok ? PED_OK : PED_E_CRYPTO;
}

static int streams(struct ped_legacy *l)
{
	uint8_t iv_vu[16], iv_uv[16];
	int is_u = l->role == PED_KAS_U, r = PED_E_CRYPTO;
	if (stream_iv("OPENPED-LEGACY-IV-V2U", l->r1, l->r2, iv_vu) != PED_OK ||
	    stream_iv("OPENPED-LEGACY-IV-U2V", l->r2, l->r1, iv_uv) != PED_OK)
		goto out;
	if ((l->tx = EVP_CIPHER_CTX_new()) == NULL || (l->rx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_CipherInit_ex(l->tx, EVP_aes_256_ofb(), NULL, l->ke, is_u ? iv_uv : iv_vu, 1) != 1 ||
	    EVP_CipherInit_ex(l->rx, EVP_aes_256_ofb(), NULL, l->ke, is_u ? iv_vu : iv_uv, 0) != 1)
		goto out;
	l->state = L_DONE;
	r = PED_OK;
out:
	OPENSSL_cleanse(l->ke, sizeof(l->ke));
	return r;
}

int ped_legacy_start(struct ped_legacy *l, struct ped_kas_out *out)
{
	uint8_t pub[PED_LEGACY_DH_LEN];
	memset(out, 0, sizeof(*out));
	if (l->role != PED_KAS_V)
		return PED_OK;
	if (dh_generate(l, pub) != PED_OK)
		return fail(l, PED_E_CRYPTO, NULL, 0);
	trace(l, "v_dh_pub", pub, sizeof(pub));
	l->state = L_WAIT_DH_U;
	return push(out, PED_LEGACY_DH_V, pub, sizeof(pub));
}

int ped_legacy_input(struct ped_legacy *l, const uint8_t *msg, size_t len, struct ped_kas_out *out)
{
	uint8_t pub[PED_LEGACY_DH_LEN], blk[16], plain[16];
	int r;

	memset(out, 0, sizeof(*out));
	if (l->state == L_FAILED)
		return l->error;
	if (len == 0)
		return fail(l, PED_E_HANDSHAKE, out, 1);
	if (msg[0] == PED_LEGACY_ALERT) {
		r = len == 5 ? ped_err_from_code(ped_be32_get(msg + 1)) : PED_E_HANDSHAKE;
		return fail(l, r == PED_E_GENERAL ? PED_E_HANDSHAKE : r, out, 0);
	}
	switch (l->state) {
	case L_START: /* U */
		if (l->role != PED_KAS_U || msg[0] != PED_LEGACY_DH_V || len != 1 + PED_LEGACY_DH_LEN)
			break;
		if (dh_generate(l, pub) != PED_OK)
			return fail(l, PED_E_CRYPTO, out, 1);
		trace(l, "u_dh_pub", pub, sizeof(pub));
		if ((r = derive_ke(l, msg + 1)) != PED_OK)
			return fail(l, r, out, 1);
		l->state = L_WAIT_NONCE1;
		return push(out, PED_LEGACY_DH_U, pub, sizeof(pub));
	case L_WAIT_DH_U:
		if (msg[0] != PED_LEGACY_DH_U || len != 1 + PED_LEGACY_DH_LEN)
			break;
		if ((r = derive_ke(l, msg + 1)) != PED_OK)
			return fail(l, r, out, 1);
		if (RAND_bytes(l->r1, 8) != 1 || RAND_bytes(plain + 8, 8) != 1)
			return fail(l, PED_E_CRYPTO, out, 1);
		trace(l, "r1", l->r1, 8);
		memcpy(plain, l->r1, 8);
		if (block(l, 1, plain, blk) != PED_OK)
			return fail(l, PED_E_CRYPTO, out, 1);
		l->state = L_WAIT_NONCE2;
		return push(out, PED_LEGACY_NONCE1, blk, 16);
	case L_WAIT_NONCE1: /* U: learn R1, answer {R2 || R1} */
		if (msg[0] != PED_LEGACY_NONCE1 || len != 17)
			break;
		if (block(l, 0, msg + 1, plain) != PED_OK || RAND_bytes(l->r2, 8) != 1)
			return fail(l, PED_E_CRYPTO, out, 1);
		memcpy(l->r1, plain, 8);
		trace(l, "r2", l->r2, 8);
		memcpy(plain, l->r2, 8);
		memcpy(plain + 8, l->r1, 8);
		if (block(l, 1, plain, blk) != PED_OK)
			return fail(l, PED_E_CRYPTO, out, 1);
		l->state = L_WAIT_NONCE3;
		return push(out, PED_LEGACY_NONCE2, blk, 16);
	case L_WAIT_NONCE2: /* V: check R1, learn R2, answer {pad || R2} */
		if (msg[0] != PED_LEGACY_NONCE2 || len != 17)
			break;
		if (block(l, 0, msg + 1, plain) != PED_OK)
			return fail(l, PED_E_CRYPTO, out, 1);
		if (CRYPTO_memcmp(plain + 8, l->r1, 8) != 0)
			return fail(l, PED_E_KEY_CONFIRM, out, 1);
		memcpy(l->r2, plain, 8);
		if (RAND_bytes(plain, 8) != 1)
			return fail(l, PED_E_CRYPTO, out, 1);
		memcpy(plain + 8, l->r2, 8);
		if (block(l, 1, plain, blk) != PED_OK || (r = push(out, PED_LEGACY_NONCE3, blk, 16)) != PED_OK ||
		    (r = streams(l)) != PED_OK)
			return fail(l, PED_E_CRYPTO, out, 1);
		return PED_OK;
	case L_WAIT_NONCE3: /* U: check R2 */
		if (msg[0] != PED_LEGACY_NONCE3 || len != 17)
			break;
		if (block(l, 0, msg + 1, plain) != PED_OK)
			return fail(l, PED_E_CRYPTO, out, 1);
		if (CRYPTO_memcmp(plain + 8, l->r2, 8) != 0)
			return fail(l, PED_E_KEY_CONFIRM, out, 1);
		if (streams(l) != PED_OK)
			return fail(l, PED_E_CRYPTO, out, 1);
		return PED_OK;
	default:
		break;
	}
	return fail(l, PED_E_HANDSHAKE, out, 1);
}

static int digest(uint64_t seq, const uint8_t *p, size_t n, uint8_t out[32])
{
	uint8_t s[8];
	unsigned int ol = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ped_be64_put(s, seq);
	int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, s, 8) == 1 &&
		 EVP_DigestUpdate(md, p, n) == 1 && EVP_DigestFinal_ex(md, out, &ol) == 1;
	EVP_MD_CTX_free(md);
	return ok ? PED_OK : PED_E_CRYPTO;
}

int ped_legacy_seal(struct ped_legacy *l, const uint8_t *pt, size_t len, uint8_t **rec,
		    size_t *rec_len)
{
	size_t total = PED_LEGACY_OVERHEAD + len;
	uint8_t *buf, *plain;
	int n = 0;

	if (l->state != L_DONE)
		return PED_E_CHANNEL_CLOSED;
	if (len > MAX_RECORD)
		return PED_E_INVALID;
	if ((buf = OPENSSL_malloc(total)) == NULL || (plain = OPENSSL_malloc(len + 32)) == NULL) {
		OPENSSL_free(buf);
		return PED_E_HOST_MEMORY;
	}
	ped_be64_put(buf, l->tx_seq);
	ped_be32_put(buf + 8, (uint32_t)len);
	if (len)
		memcpy(plain, pt, len);
	if (digest(l->tx_seq, pt, len, plain + len) != PED_OK ||
	    EVP_CipherUpdate(l->tx, buf + 12, &n, plain, (int)(len + 32)) != 1 || (size_t)n != len + 32) {
		OPENSSL_clear_free(plain, len + 32);
		OPENSSL_free(buf);
		l->state = L_FAILED;
		return PED_E_CRYPTO;
	}
	OPENSSL_clear_free(plain, len + 32);
	l->tx_seq++;
	*rec = buf;
	*rec_len = total;
	return PED_OK;
}

int ped_legacy_open(struct ped_legacy *l, const uint8_t *rec, size_t len, uint8_t **pt,
		    size_t *pt_len)
{
	uint8_t want[32], *plain;
	uint64_t seq = 0;
	size_t body;
	int n = 0;

	if (l->state != L_DONE)
		return PED_E_CHANNEL_CLOSED;
	if (len < PED_LEGACY_OVERHEAD || len - PED_LEGACY_OVERHEAD > MAX_RECORD)
		goto bad;
	body = len - PED_LEGACY_OVERHEAD;
	if (ped_be32_get(rec + 8) != body)
		goto bad;
	seq = ped_be64_get(rec);
	if (seq != l->rx_seq) {
		l->state = L_FAILED;
		return PED_E_REPLAY;
	}
	if ((plain = OPENSSL_malloc(body + 32)) == NULL)
		return PED_E_HOST_MEMORY;
	if (EVP_CipherUpdate(l->rx, plain, &n, rec + 12, (int)(body + 32)) != 1 ||
	    (size_t)n != body + 32) {
		OPENSSL_clear_free(plain, body + 32);
		goto bad;
	}
	if (digest(seq, plain, body, want) != PED_OK || CRYPTO_memcmp(want, plain + body, 32) != 0) {
		OPENSSL_clear_free(plain, body + 32);
		goto bad;
	}
	OPENSSL_cleanse(plain + body, 32); /* the plaintext's digest goes with it */
	l->rx_seq++;
	*pt = plain;
	*pt_len = body;
	return PED_OK;
bad:
	/* The OFB stream position is lost with a bad record: the channel is over. */
	l->state = L_FAILED;
	return PED_E_BAD_RECORD;
}
