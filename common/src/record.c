#include "ped/record.h"

#include "ped/buf.h"
#include "ped/error.h"
#include "ped/kwp.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

/* One direction: contexts made once and re-keyed per record by IV only. */
struct direction {
	struct ped_direction_keys k;
	EVP_CIPHER_CTX *cipher;
	EVP_MAC_CTX *mac;
	uint64_t seq;
};

struct ped_channel {
	struct direction tx, rx;
	int dead;
};

static int dir_init(struct direction *d, const struct ped_direction_keys *k, EVP_MAC *mac)
{
	OSSL_PARAM params[2];

	d->k = *k;
	d->seq = 0;
	if ((d->cipher = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_CipherInit_ex(d->cipher, EVP_aes_256_ctr(), NULL, d->k.dek, NULL, 1) != 1)
		return PED_E_CRYPTO;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA512", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((d->mac = EVP_MAC_CTX_new(mac)) == NULL ||
	    EVP_MAC_init(d->mac, d->k.dmk, sizeof(d->k.dmk), params) != 1)
		return PED_E_CRYPTO;
	return PED_OK;
}

static void dir_free(struct direction *d)
{
	EVP_CIPHER_CTX_free(d->cipher);
	EVP_MAC_CTX_free(d->mac);
	OPENSSL_cleanse(d, sizeof(*d));
}

int ped_channel_new(const struct ped_channel_keys *keys, struct ped_channel **out)
{
	struct ped_channel *ch = OPENSSL_zalloc(sizeof(*ch));
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	int r = PED_E_CRYPTO;

	if (!ch || !mac)
		goto fail;
	if ((r = dir_init(&ch->tx, &keys->tx, mac)) != PED_OK ||
	    (r = dir_init(&ch->rx, &keys->rx, mac)) != PED_OK)
		goto fail;
	EVP_MAC_free(mac);
	*out = ch;
	return PED_OK;
fail:
	EVP_MAC_free(mac);
	ped_channel_free(ch);
	return r == PED_OK ? PED_E_HOST_MEMORY : r;
}

void ped_channel_free(struct ped_channel *ch)
{
	if (!ch)
		return;
	dir_free(&ch->tx);
	dir_free(&ch->rx);
	OPENSSL_clear_free(ch, sizeof(*ch));
}

int ped_channel_alive(const struct ped_channel *ch)
{
	return ch && !ch->dead;
}

uint64_t ped_channel_tx_seq(const struct ped_channel *ch)
{
	return ch->tx.seq;
}

uint64_t ped_channel_rx_seq(const struct ped_channel *ch)
{
	return ch->rx.seq;
}

static void put_header(uint8_t *h, uint8_t type, uint64_t seq, uint32_t len)
{
	h[0] = type;
	ped_be64_put(h + 1, seq);
	ped_be32_put(h + 9, len);
}

static int ctr(struct direction *d, uint64_t seq, const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t iv[16] = {0};
	int n = 0;
	ped_be64_put(iv, seq);
	if (EVP_CipherInit_ex(d->cipher, NULL, NULL, NULL, iv, -1) != 1)
		return PED_E_CRYPTO;
	if (len && (EVP_CipherUpdate(d->cipher, out, &n, in, (int)len) != 1 || (size_t)n != len))
		return PED_E_CRYPTO;
	return PED_OK;
}

static int mac(struct direction *d, const uint8_t *data, size_t len, uint8_t tag[PED_RECORD_TAG_LEN])
{
	size_t tl = 0;
	/* NULL key: keep the DMK set at creation, restart the computation. */
	if (EVP_MAC_init(d->mac, NULL, 0, NULL) != 1 || EVP_MAC_update(d->mac, data, len) != 1 ||
	    EVP_MAC_final(d->mac, tag, &tl, PED_RECORD_TAG_LEN) != 1 || tl != PED_RECORD_TAG_LEN)
		return PED_E_CRYPTO;
	return PED_OK;
}

static int die(struct ped_channel *ch, int err)
{
	ch->dead = 1;
	return err;
}

int ped_channel_seal(struct ped_channel *ch, uint8_t type, const uint8_t *pt, size_t len,
		     uint8_t **rec, size_t *rec_len)
{
	size_t total = PED_RECORD_OVERHEAD + len;
	uint8_t *buf;
	int r;

	if (ch->dead)
		return PED_E_CHANNEL_CLOSED;
	if (len > PED_RECORD_MAX_PLAINTEXT || type < PED_REC_DATA || type > PED_REC_CSP)
		return PED_E_INVALID;
	if (ch->tx.seq == UINT64_MAX) /* never reuse a counter block */
		return die(ch, PED_E_CHANNEL_CLOSED);
	if ((buf = OPENSSL_malloc(total)) == NULL)
		return PED_E_HOST_MEMORY;
	put_header(buf, type, ch->tx.seq, (uint32_t)len);
	if ((r = ctr(&ch->tx, ch->tx.seq, pt, len, buf + PED_RECORD_HEADER_LEN)) != PED_OK ||
	    (r = mac(&ch->tx, buf, PED_RECORD_HEADER_LEN + len, buf + PED_RECORD_HEADER_LEN + len)) !=
		    PED_OK) {
		OPENSSL_free(buf);
		return die(ch, r);
	}
	ch->tx.seq++;
	*rec = buf;
	*rec_len = total;
	return PED_OK;
}

int ped_channel_open(struct ped_channel *ch, const uint8_t *rec, size_t len, uint8_t *type,
		     uint8_t **pt, size_t *pt_len)
{
	uint8_t tag[PED_RECORD_TAG_LEN], *out = NULL;
	uint64_t seq = 0;
	uint32_t ct_len;
	int r;

	if (ch->dead)
		return PED_E_CHANNEL_CLOSED;
	if (len < PED_RECORD_OVERHEAD)
		return die(ch, PED_E_BAD_RECORD);
	ct_len = ped_be32_get(rec + 9);
	if ((size_t)ct_len != len - PED_RECORD_OVERHEAD)
		return die(ch, PED_E_BAD_RECORD);
	if ((r = mac(&ch->rx, rec, PED_RECORD_HEADER_LEN + ct_len, tag)) != PED_OK)
		return die(ch, r);
	if (CRYPTO_memcmp(tag, rec + PED_RECORD_HEADER_LEN + ct_len, PED_RECORD_TAG_LEN) != 0)
		return die(ch, PED_E_BAD_RECORD);
	/* Authentic: now the sequence number can be trusted and compared. */
	seq = ped_be64_get(rec + 1);
	if (seq != ch->rx.seq)
		return die(ch, PED_E_REPLAY);
	if (rec[0] < PED_REC_DATA || rec[0] > PED_REC_CSP)
		return die(ch, PED_E_BAD_RECORD);
	if ((out = OPENSSL_malloc(ct_len ? ct_len : 1)) == NULL)
		return PED_E_HOST_MEMORY;
	if ((r = ctr(&ch->rx, seq, rec + PED_RECORD_HEADER_LEN, ct_len, out)) != PED_OK) {
		OPENSSL_clear_free(out, ct_len ? ct_len : 1);
		return die(ch, r);
	}
	ch->rx.seq++;
	*type = rec[0];
	*pt = out;
	*pt_len = ct_len;
	if (rec[0] == PED_REC_CLOSE)
		ch->dead = 1; /* the peer ended it: nothing more comes or goes */
	return PED_OK;
}

int ped_channel_seal_csp(struct ped_channel *ch, const uint8_t *csp, size_t len, uint8_t **rec,
			 size_t *rec_len)
{
	uint8_t *wrapped = NULL;
	size_t wl = 0;
	int r;

	if (ch->dead)
		return PED_E_CHANNEL_CLOSED;
	if ((r = ped_kwp_wrap(ch->tx.k.cwk, PED_CWK_LEN, csp, len, &wrapped, &wl)) != PED_OK)
		return r;
	r = ped_channel_seal(ch, PED_REC_CSP, wrapped, wl, rec, rec_len);
	OPENSSL_clear_free(wrapped, wl);
	return r;
}

int ped_channel_unwrap_csp(struct ped_channel *ch, const uint8_t *pt, size_t len, uint8_t **csp,
			   size_t *csp_len)
{
	int r;
	if (ch->dead)
		return PED_E_CHANNEL_CLOSED;
	if ((r = ped_kwp_unwrap(ch->rx.k.cwk, PED_CWK_LEN, pt, len, csp, csp_len)) != PED_OK)
		return die(ch, PED_E_BAD_RECORD);
	return PED_OK;
}
