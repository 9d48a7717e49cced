/* The key file format (docs/ikey-format.md). */
#include "ikey/ikey.h"

#include "ped/buf.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define MAGIC "OPIK"
#define VERSION_HKDF_MASK 1 /* read only */
#define HASH_LEN 32

const char *ikey_type_name(enum ikey_type t)
{
	switch (t) {
	case IKEY_BLANK: return "blank";
	case IKEY_SO: return "SO";
	case IKEY_DOMAIN: return "Domain";
	case IKEY_RPV: return "RPV";
	case IKEY_USER: return "User";
	case IKEY_AUDIT: return "Audit";
	}
	return "unknown";
}

const char *ikey_type_colour(enum ikey_type t)
{
	switch (t) {
	case IKEY_BLANK: return "-";
	case IKEY_SO: return "blue";
	case IKEY_DOMAIN: return "red";
	case IKEY_RPV: return "orange";
	case IKEY_USER: return "black";
	case IKEY_AUDIT: return "white";
	}
	return "-";
}

static int hex_to_serial(const char *hex, uint8_t out[8])
{
	for (int i = 0; i < 8; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)hex[2 * i]);
		int lo = OPENSSL_hexchar2int((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return PED_E_INVALID;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[16] == '\0' ? PED_OK : PED_E_INVALID;
}

static int sha256(const uint8_t *p, size_t n, uint8_t out[HASH_LEN])
{
	unsigned int l = 0;
	return EVP_Digest(p, n, out, &l, EVP_sha256(), NULL) == 1 ? PED_OK : PED_E_CRYPTO;
}

static int secret_valid(const struct ikey_secret *s)
{
	if (s->type < IKEY_SO || s->type > IKEY_AUDIT)
		return 0;
	if (s->m < 1 || s->m > s->n || s->n > IKEY_MAX_SPLITS || s->index < 1 || s->index > s->n)
		return 0;
	if (s->pin_set > 1 || !s->share || s->share_len == 0 || s->share_len > IKEY_SHARE_MAX)
		return 0;
	/* a PIN names its mask, within the bounds a reader accepts; no PIN, none */
	if ((s->pin_set ? s->mask.id == PED_PIN_KDF_NONE : s->mask.id != PED_PIN_KDF_NONE) ||
	    ped_pin_kdf_check(&s->mask, NULL) != PED_OK)
		return 0;
	if (s->static_priv && (s->type != IKEY_RPV || !s->static_cert || !s->hoc_cert ||
			       s->static_cert_len > IKEY_CERT_MAX || s->hoc_cert_len > IKEY_CERT_MAX))
		return 0;
	return 1;
}

int ikey_encode(const struct ikey *k, uint8_t **buf, size_t *len)
{
	struct ped_wbuf w;
	uint8_t serial[8], hash[HASH_LEN], *p = NULL;
	size_t n = 0;
	int r;
	const struct ikey_secret *s = &k->s;

	if (hex_to_serial(k->serial, serial) != PED_OK || strlen(k->label) > IKEY_LABEL_MAX)
		return PED_E_INVALID;
	if (s->type != IKEY_BLANK && !secret_valid(s))
		return PED_E_INVALID;
	ped_wbuf_init(&w, IKEY_FILE_MAX);
	ped_wbuf_bytes(&w, MAGIC, 4);
	ped_wbuf_u8(&w, IKEY_FORMAT);
	ped_wbuf_u8(&w, s->type == IKEY_BLANK ? 0 : 1);
	ped_wbuf_u16(&w, 0);
	ped_wbuf_bytes(&w, serial, sizeof(serial));
	ped_wbuf_lv16(&w, k->label, strlen(k->label));
	if (s->type != IKEY_BLANK) {
		ped_wbuf_u8(&w, (uint8_t)s->type);
		ped_wbuf_bytes(&w, s->keyset_id, sizeof(s->keyset_id));
		ped_wbuf_u8(&w, s->m);
		ped_wbuf_u8(&w, s->n);
		ped_wbuf_u8(&w, s->index);
		ped_wbuf_u8(&w, s->pin_set);
		if (s->pin_set) {
			ped_wbuf_u8(&w, s->mask.id);
			ped_wbuf_u8(&w, s->mask.log2n);
			ped_wbuf_u8(&w, s->mask.r);
			ped_wbuf_u8(&w, s->mask.p);
		}
		ped_wbuf_u64(&w, s->created);
		ped_wbuf_lv16(&w, s->share, s->share_len);
		ped_wbuf_u8(&w, s->static_priv ? 1 : 0);
		if (s->static_priv) {
			ped_wbuf_bytes(&w, s->static_priv, IKEY_SCALAR_LEN);
			ped_wbuf_lv16(&w, s->static_cert, s->static_cert_len);
			ped_wbuf_lv16(&w, s->hoc_cert, s->hoc_cert_len);
		}
	}
	if ((r = ped_wbuf_take(&w, &p, &n)) != PED_OK)
		return r;
	/* Append the check over everything before it. */
	ped_wbuf_init(&w, IKEY_FILE_MAX);
	if ((r = sha256(p, n, hash)) != PED_OK) {
		OPENSSL_clear_free(p, n);
		return r;
	}
	ped_wbuf_bytes(&w, p, n);
	ped_wbuf_bytes(&w, hash, sizeof(hash));
	OPENSSL_clear_free(p, n);
	return ped_wbuf_take(&w, buf, len);
}

static uint8_t *dup_field(const uint8_t *p, size_t n)
{
	uint8_t *d = OPENSSL_malloc(n ? n : 1);
	if (d && n)
		memcpy(d, p, n);
	return d;
}

int ikey_decode(const uint8_t *buf, size_t len, struct ikey *k, char *why, size_t whylen)
{
	struct ped_rbuf rb;
	uint8_t hash[HASH_LEN], state;
	const uint8_t *p;
	size_t n;
	struct ikey_secret *s = &k->s;

	memset(k, 0, sizeof(*k));
	if (len < 4 || memcmp(buf, MAGIC, 4) != 0) {
		snprintf(why, whylen, "not an iKey file (bad magic)");
		return PED_E_CORRUPT;
	}
	if (len < 16 + 2 + HASH_LEN) {
		snprintf(why, whylen, "truncated (%zu bytes)", len);
		return PED_E_CORRUPT;
	}
	if (buf[4] > IKEY_FORMAT) {
		/* a downgrade: the share on it is whole; erased, it is lost */
		snprintf(why, whylen, "format version %u is newer than this version reads (%d and %d): a later "
			 "version wrote it, not damaged; read it with that version, do not erase it",
			 buf[4], VERSION_HKDF_MASK, IKEY_FORMAT);
		return PED_E_CORRUPT;
	}
	if (buf[4] != VERSION_HKDF_MASK && buf[4] != IKEY_FORMAT) {
		snprintf(why, whylen, "unsupported format version %u", buf[4]);
		return PED_E_CORRUPT;
	}
	k->format = buf[4];
	if (len > IKEY_FILE_MAX) {
		snprintf(why, whylen, "too large (%zu bytes)", len);
		return PED_E_CORRUPT;
	}
	if (sha256(buf, len - HASH_LEN, hash) != PED_OK ||
	    CRYPTO_memcmp(hash, buf + len - HASH_LEN, HASH_LEN) != 0) {
		snprintf(why, whylen, "checksum mismatch (truncated, damaged or tampered)");
		return PED_E_CORRUPT;
	}
	ped_rbuf_init(&rb, buf, len - HASH_LEN);
	ped_rbuf_bytes(&rb, 5);
	state = ped_rbuf_u8(&rb);
	if (ped_rbuf_u16(&rb) != 0) /* reserved */
		rb.err = PED_E_INVALID;
	if ((p = ped_rbuf_bytes(&rb, 8)) != NULL)
		for (int i = 0; i < 8; i++)
			snprintf(k->serial + 2 * i, 3, "%02X", p[i]);
	if ((p = ped_rbuf_lv16(&rb, IKEY_LABEL_MAX, &n)) != NULL) {
		if (memchr(p, '\0', n))
			rb.err = PED_E_INVALID;
		memcpy(k->label, p, n);
		k->label[n] = '\0';
	}
	if (state == 1) {
		s->type = (enum ikey_type)ped_rbuf_u8(&rb);
		if ((p = ped_rbuf_bytes(&rb, PED_KEYSET_ID_LEN)) != NULL)
			memcpy(s->keyset_id, p, PED_KEYSET_ID_LEN);
		s->m = ped_rbuf_u8(&rb);
		s->n = ped_rbuf_u8(&rb);
		s->index = ped_rbuf_u8(&rb);
		s->pin_set = ped_rbuf_u8(&rb);
		if (s->pin_set == 1 && k->format == VERSION_HKDF_MASK) {
			s->mask.id = PED_PIN_KDF_HKDF;
		} else if (s->pin_set == 1) {
			/* checked with secret_valid below, before anyone derives with it:
			 * a hostile cost never reaches scrypt */
			s->mask.id = ped_rbuf_u8(&rb);
			s->mask.log2n = ped_rbuf_u8(&rb);
			s->mask.r = ped_rbuf_u8(&rb);
			s->mask.p = ped_rbuf_u8(&rb);
		}
		s->created = ped_rbuf_u64(&rb);
		if ((p = ped_rbuf_lv16(&rb, IKEY_SHARE_MAX, &n)) != NULL) {
			s->share = dup_field(p, n);
			s->share_len = n;
		}
		uint8_t has_static = ped_rbuf_u8(&rb);
		if (has_static > 1)
			rb.err = PED_E_INVALID;
		if (has_static == 1) {
			if ((p = ped_rbuf_bytes(&rb, IKEY_SCALAR_LEN)) != NULL)
				s->static_priv = dup_field(p, IKEY_SCALAR_LEN);
			if ((p = ped_rbuf_lv16(&rb, IKEY_CERT_MAX, &n)) != NULL) {
				s->static_cert = dup_field(p, n);
				s->static_cert_len = n;
			}
			if ((p = ped_rbuf_lv16(&rb, IKEY_CERT_MAX, &n)) != NULL) {
				s->hoc_cert = dup_field(p, n);
				s->hoc_cert_len = n;
			}
		}
	} else if (state != 0) {
		rb.err = PED_E_INVALID;
	}
	if (ped_rbuf_end(&rb) != PED_OK || (state == 1 && !secret_valid(s)) ||
	    (s->static_priv && (!s->static_cert || !s->hoc_cert))) {
		ikey_clear(k);
		snprintf(why, whylen, "malformed contents");
		return PED_E_CORRUPT;
	}
	return PED_OK;
}

void ikey_clear(struct ikey *k)
{
	struct ikey_secret *s = &k->s;
	OPENSSL_clear_free(s->share, s->share_len);
	if (s->static_priv)
		OPENSSL_clear_free(s->static_priv, IKEY_SCALAR_LEN);
	OPENSSL_free(s->static_cert);
	OPENSSL_free(s->hoc_cert);
	OPENSSL_cleanse(s, sizeof(*s));
	s->type = IKEY_BLANK;
}

int ikey_secret_copy(struct ikey_secret *dst, const struct ikey_secret *src)
{
	*dst = *src;
	dst->share = NULL;
	dst->static_priv = dst->static_cert = dst->hoc_cert = NULL;
	if (src->share && (dst->share = OPENSSL_memdup(src->share, src->share_len)) == NULL)
		goto fail;
	if (src->static_priv &&
	    (dst->static_priv = OPENSSL_memdup(src->static_priv, IKEY_SCALAR_LEN)) == NULL)
		goto fail;
	if (src->static_cert &&
	    (dst->static_cert = OPENSSL_memdup(src->static_cert, src->static_cert_len)) == NULL)
		goto fail;
	if (src->hoc_cert && (dst->hoc_cert = OPENSSL_memdup(src->hoc_cert, src->hoc_cert_len)) == NULL)
		goto fail;
	return PED_OK;
fail:
	OPENSSL_clear_free(dst->share, dst->share_len);
	if (dst->static_priv)
		OPENSSL_clear_free(dst->static_priv, IKEY_SCALAR_LEN);
	OPENSSL_free(dst->static_cert);
	OPENSSL_free(dst->hoc_cert);
	memset(dst, 0, sizeof(*dst));
	return PED_E_HOST_MEMORY;
}
