/* The login record (hsm/lrec.h): two slots written in turn, in place. */
#include "hsm/lrec.h"

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

#define MAGIC "OPLR"
#define VERSION 1
#define MAC_LEN 32
#define BODY_LEN (HSM_LREC_LEN - MAC_LEN)
#define MAC_INFO "OPENPED-LOGIN-RECORD-v1"

static struct hsm_role_state *role_at(struct hsm *h, int i)
{
	if (i == 0)
		return &h->so;
	if (i == 1)
		return &h->au;
	uint32_t pi = (uint32_t)(i - 2) / 3;
	if (pi >= h->npartitions || pi >= HSM_MAX_PARTITIONS)
		return NULL;
	struct hsm_partition *p = &h->partitions[pi];
	switch ((i - 2) % 3) {
	case 0: return &p->po;
	case 1: return &p->co;
	default: return &p->cu;
	}
}

void hsm_lrec_take(const struct hsm *h, struct hsm_lrec *rec)
{
	for (int i = 0; i < HSM_LREC_ROLES; i++) {
		const struct hsm_role_state *rs = role_at((struct hsm *)h, i);
		rec->failures[i] = rs ? rs->failures : 0;
		rec->locked[i] = rs ? rs->locked : 0;
	}
}

void hsm_lrec_give(struct hsm *h, const struct hsm_lrec *rec)
{
	for (int i = 0; i < HSM_LREC_ROLES; i++) {
		struct hsm_role_state *rs = role_at(h, i);
		if (rs) {
			rs->failures = rec->failures[i];
			rs->locked = rec->locked[i];
		}
	}
}

int hsm_lrec_same(const struct hsm_lrec *a, const struct hsm_lrec *b)
{
	return !memcmp(a->failures, b->failures, sizeof(a->failures)) && !memcmp(a->locked, b->locked, sizeof(a->locked));
}

int hsm_lrec_newer(uint32_t a, uint32_t b)
{
	return a != b && (uint32_t)(a - b) < 0x80000000u;
}

static int mac(const struct hsm *h, const uint8_t *body, uint8_t out[MAC_LEN])
{
	uint8_t key[HSM_KEY_LEN];
	size_t ol = 0;
	int r = PED_E_INVALID;

	if (!h->kek_set)
		return PED_E_INVALID;
	if (hsm_hkdf(h->kek, sizeof(h->kek), MAC_INFO, sizeof(MAC_INFO) - 1, key) == PED_OK &&
	    EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, sizeof(key), body, BODY_LEN, out, MAC_LEN, &ol) &&
	    ol == MAC_LEN)
		r = PED_OK;
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}

int hsm_lrec_encode(const struct hsm *h, const struct hsm_lrec *rec, uint32_t seq, uint8_t out[HSM_LREC_LEN])
{
	struct ped_wbuf w;

	ped_wbuf_init_fixed(&w, out, HSM_LREC_LEN);
	ped_wbuf_bytes(&w, MAGIC, 4);
	ped_wbuf_u8(&w, VERSION);
	ped_wbuf_u32(&w, seq);
	ped_wbuf_u64(&w, (uint64_t)rec->written_at);
	ped_wbuf_bytes(&w, rec->state_sum, sizeof(rec->state_sum));
	ped_wbuf_u8(&w, HSM_LREC_ROLES);
	for (int i = 0; i < HSM_LREC_ROLES; i++) {
		ped_wbuf_u32(&w, rec->failures[i]);
		ped_wbuf_u8(&w, rec->locked[i]);
	}
	if (w.err || w.len != BODY_LEN)
		return PED_E_INVALID;
	return mac(h, out, out + BODY_LEN);
}

int hsm_lrec_decode(const struct hsm *h, const uint8_t *buf, size_t len, struct hsm_lrec *rec)
{
	uint8_t m[MAC_LEN];
	struct ped_rbuf r;
	struct hsm_lrec d;

	if (len < HSM_LREC_LEN || memcmp(buf, MAGIC, 4) || buf[4] != VERSION)
		return PED_E_CORRUPT;
	if (mac(h, buf, m) != PED_OK || CRYPTO_memcmp(m, buf + BODY_LEN, MAC_LEN))
		return PED_E_CORRUPT;
	memset(&d, 0, sizeof(d));
	ped_rbuf_init(&r, buf, BODY_LEN);
	ped_rbuf_bytes(&r, 5);
	d.seq = ped_rbuf_u32(&r);
	d.written_at = (int64_t)ped_rbuf_u64(&r);
	const uint8_t *sum = ped_rbuf_bytes(&r, sizeof(d.state_sum));
	if (sum)
		memcpy(d.state_sum, sum, sizeof(d.state_sum));
	if (ped_rbuf_u8(&r) != HSM_LREC_ROLES)
		return PED_E_CORRUPT;
	for (int i = 0; i < HSM_LREC_ROLES; i++) {
		d.failures[i] = ped_rbuf_u32(&r);
		d.locked[i] = ped_rbuf_u8(&r);
		if (d.failures[i] > HSM_FAILURES_MAX || d.locked[i] > 1)
			return PED_E_CORRUPT;
	}
	if (r.err || ped_rbuf_end(&r) != PED_OK)
		return PED_E_CORRUPT;
	d.slot = rec->slot;
	*rec = d;
	return PED_OK;
}

int hsm_lrec_read(const char *path, const struct hsm *h, struct hsm_lrec *rec, char *why, size_t whylen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct hsm_lrec s[2];
	int ok[2], r = ped_file_read_nofollow(path, HSM_LREC_FILE_LEN, &buf, &len);

	if (r == PED_E_NOT_FOUND)
		return r;
	if (r != PED_OK) {
		snprintf(why, whylen, "%s: %s", path, r == PED_E_RANGE ? "larger than a login record" : strerror(errno));
		return r == PED_E_RANGE ? PED_E_CORRUPT : r;
	}
	unsigned newer = 0;
	for (int i = 0; i < 2; i++) {
		size_t off = (size_t)i * HSM_LREC_SLOT;
		s[i].slot = i;
		ok[i] = len > off && hsm_lrec_decode(h, buf + off, len - off, &s[i]) == PED_OK;
		if (!ok[i] && len >= off + 5 && !memcmp(buf + off, MAGIC, 4) && buf[off + 4] > VERSION &&
		    buf[off + 4] > newer)
			newer = buf[off + 4];
	}
	OPENSSL_clear_free(buf, len);
	if (!ok[0] && !ok[1] && newer) {
		/* a downgrade: moved away, the failure counts it holds would be lost */
		snprintf(why, whylen, "%s: login record version %u is newer than this hsm-sim reads (%d): a later "
			 "hsm-sim wrote it; run that one (the file is left as it is)", path, newer, VERSION);
		return PED_E_CORRUPT;
	}
	if (!ok[0] && !ok[1]) {
		snprintf(why, whylen, "%s: neither slot of the login record is valid (altered, or not this HSM's); "
			 "moved away, the state file's own counts apply", path);
		return PED_E_CORRUPT;
	}
	*rec = s[ok[0] && (!ok[1] || !hsm_lrec_newer(s[1].seq, s[0].seq)) ? 0 : 1];
	return PED_OK;
}

int hsm_lrec_write(const char *path, const struct hsm *h, struct hsm_lrec *rec)
{
	uint8_t slot[HSM_LREC_LEN], *file = NULL;
	uint32_t seq = rec->seq + 1;
	int to = rec->slot == 0 ? 1 : 0, fd = -1, r, e = 0;
	ssize_t n;

	if ((r = hsm_lrec_encode(h, rec, seq, slot)) != PED_OK)
		return r;
	if (rec->slot < 0) {
		/* the first record: the file made whole, both slots' pages
		 * allocated, so a full store never stops a later count */
		if (!(file = OPENSSL_zalloc(HSM_LREC_FILE_LEN)))
			return PED_E_HOST_MEMORY;
		memcpy(file, slot, sizeof(slot));
		r = ped_file_write_atomic(path, file, HSM_LREC_FILE_LEN, 0600);
		e = errno;
		OPENSSL_free(file);
		goto out;
	}
	fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		r = PED_E_IO;
		goto out;
	}
	n = pwrite(fd, slot, sizeof(slot), (off_t)to * HSM_LREC_SLOT);
	if (n != (ssize_t)sizeof(slot) || fdatasync(fd) != 0) {
		e = n < 0 || n == (ssize_t)sizeof(slot) ? errno : ENOSPC;
		r = PED_E_IO;
	}
	if (close(fd) != 0 && r == PED_OK) {
		e = errno;
		r = PED_E_IO;
	}
out:
	if (r == PED_OK) {
		rec->seq = seq;
		rec->slot = to;
	}
	errno = e;
	return r;
}

int hsm_lrec_path(const char *state_path, char *out, size_t len)
{
	size_t n = strlen(state_path), sl = sizeof(".state") - 1;

	if (n < sl || strcmp(state_path + n - sl, ".state") || n - sl + sizeof(".logins") > len)
		return PED_E_INVALID;
	snprintf(out, len, "%.*s.logins", (int)(n - sl), state_path);
	return PED_OK;
}

int hsm_load_with_record(const char *path, const char *rec_path, struct hsm *h, uint8_t sum[HSM_LREC_SUM_LEN],
			 struct hsm_lrec *rec, char *why, size_t whylen)
{
	uint8_t s[HSM_LREC_SUM_LEN];
	struct hsm_lrec d;
	int r = hsm_load_sum(path, h, s, why, whylen);

	if (r != PED_OK)
		return r;
	memset(&d, 0, sizeof(d));
	d.slot = -1;
	r = hsm_lrec_read(rec_path, h, &d, why, whylen);
	if (r != PED_OK && r != PED_E_NOT_FOUND) {
		hsm_cleanse(h);
		return r;
	}
	if (r == PED_OK && !memcmp(d.state_sum, s, sizeof(s))) {
		hsm_lrec_give(h, &d);
		if (d.written_at > h->saved_at)
			h->saved_at = d.written_at;
	} else {
		/* none, or one a later state file made stale: the state's counts */
		hsm_lrec_take(h, &d);
		memcpy(d.state_sum, s, sizeof(s));
		d.written_at = h->saved_at;
	}
	if (sum)
		memcpy(sum, s, sizeof(s));
	if (rec)
		*rec = d;
	return PED_OK;
}
