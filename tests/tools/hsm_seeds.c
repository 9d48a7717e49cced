/* Writes the seeds of the fuzz targets that read sealed HSM state:
 * hsm_seeds DIR creates DIR/hsm_state/hsm-v8-... and DIR/objstore/...
 * Every HSM here has the fuzz targets' device secret (fuzz_hsm_state.c,
 * FUZZ_DEVICE_SECRET), so the seeds' sealed parts open there and the
 * fuzzer explores past them. */
#include "hsm/hsm.h"
#include "hsm/mech.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FUZZ_DEVICE_SECRET "openped fuzz device secret 32 b"

static int put(const char *dir, const char *name, const uint8_t *b, size_t n)
{
	char path[1024];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "wb")))
		return -1;
	fputc(0, f); /* the selector: the file as it is, its SHA-256 included */
	fwrite(b, 1, n, f);
	return fclose(f);
}

static int add(struct hsm_partition *p, struct hsm_obj *o)
{
	return o && hsm_part_obj_add(p, o) == PED_OK ? 0 : -1;
}

/* A token object of each kind the seed needs: data, AES, an EC pair. */
static int objects(struct hsm_partition *p)
{
	CK_BBOOL yes = CK_TRUE;
	CK_OBJECT_CLASS data = CKO_DATA;
	CK_ULONG len = 32;
	static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_ATTRIBUTE dt[] = {{CKA_CLASS, &data, sizeof(data)}, {CKA_TOKEN, &yes, 1}, {CKA_LABEL, "note", 4},
			     {CKA_VALUE, "kept", 4}};
	CK_ATTRIBUTE at[] = {{CKA_TOKEN, &yes, 1}, {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_LABEL, "aes", 3},
			     {CKA_ENCRYPT, &yes, 1}, {CKA_ID, "\x01\x02", 2}};
	CK_ATTRIBUTE pubt[] = {{CKA_TOKEN, &yes, 1}, {CKA_EC_PARAMS, (void *)p256, sizeof(p256)},
			       {CKA_VERIFY, &yes, 1}, {CKA_LABEL, "ec", 2}};
	CK_ATTRIBUTE privt[] = {{CKA_TOKEN, &yes, 1}, {CKA_SIGN, &yes, 1}, {CKA_LABEL, "ec", 2}};
	CK_MECHANISM aes = {CKM_AES_KEY_GEN, NULL, 0}, ec = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	struct hsm_obj *o = NULL, *pub = NULL, *priv = NULL;

	if (hsm_obj_create(NULL, dt, 4, &o) != CKR_OK || add(p, o))
		return -1;
	if (hsm_generate_key(NULL, &aes, at, 5, &o) != CKR_OK || add(p, o))
		return -1;
	if (hsm_generate_key_pair(NULL, &ec, pubt, 4, privt, 3, &pub, &priv) != CKR_OK || add(p, pub) || add(p, priv))
		return -1;
	return 0;
}

/* An objstore seed: op records (fuzz_objstore.c) in a file. */
static int put_raw(const char *dir, const char *name, const uint8_t *b, size_t n)
{
	char path[1024];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "wb")))
		return -1;
	fwrite(b, 1, n, f);
	return fclose(f);
}

static void lv16(uint8_t *b, size_t *n, const uint8_t *v, size_t len)
{
	b[(*n)++] = (uint8_t)(len >> 8);
	b[(*n)++] = (uint8_t)len;
	memcpy(b + *n, v, len);
	*n += len;
}

static void u64be(uint8_t *b, size_t *n, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		b[(*n)++] = (uint8_t)(v >> (8 * i));
}

/* The partition's objects as 'O' records, then operations on them. */
static int objstore_seeds(const char *root, const struct hsm_partition *p)
{
	char dir[1024];
	static uint8_t b[1 << 16];
	size_t n = 0;
	snprintf(dir, sizeof(dir), "%s/objstore", root);
	mkdir(dir, 0755);
	for (uint32_t i = 0; i < p->nobjs; i++) {
		uint8_t *pub = NULL, *sec = NULL;
		size_t pl = 0, sl = 0;
		if (hsm_obj_encode(p->objs[i], &pub, &pl, &sec, &sl) != PED_OK || n + pl + sl + 8 > sizeof(b))
			return -1;
		b[n++] = 'O';
		lv16(b, &n, pub, pl);
		lv16(b, &n, sec, sl);
		OPENSSL_clear_free(pub, pl);
		OPENSSL_clear_free(sec, sl);
	}
	if (put_raw(dir, "keys", b, n))
		return -1;
	/* then: copied, saved and loaded, cloned (missing, all, changed), a
	 * handle removed and found, swapped, cloned back, cleared */
	static const uint8_t tail[] = {'P', 'W', 'C', 1, 0, 'C', 0, 0, 'C', 2, 0, 'S', 'W', 'S', 'X', 'W'};
	memcpy(b + n, tail, sizeof(tail));
	b[n + sizeof(tail)] = 'R';
	size_t m = n + sizeof(tail) + 1;
	u64be(b, &m, 2);
	b[m++] = 'F';
	u64be(b, &m, 3);
	if (put_raw(dir, "keys-cloned-saved", b, m))
		return -1;
	/* data objects, handles near the end of their range */
	n = 0;
	b[n++] = 'N';
	u64be(b, &n, (1ull << 62) - 2);
	for (int i = 0; i < 3; i++) {
		b[n++] = 'D';
		b[n++] = 4;
		memcpy(b + n, "data", 4);
		n += 4;
		lv16(b, &n, (const uint8_t *)"value", 5);
	}
	b[n++] = 'C';
	b[n++] = 1;
	b[n++] = 1;
	u64be(b, &n, (1ull << 62) - 2);
	b[n++] = 'W';
	return put_raw(dir, "data-handles-at-the-end", b, n);
}

int main(int argc, char **argv)
{
	char dir[900];
	struct hsm *h = calloc(1, sizeof(*h));
	struct hsm_partition *p = NULL, *q = NULL;
	uint8_t secret[HSM_SECRET_LEN], id[16] = {1}, *buf = NULL;
	size_t len = 0;
	int r = 1;

	if (argc != 2 || !h) {
		fprintf(stderr, "usage: hsm_seeds DIR\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/hsm_state", argv[1]);
	mkdir(dir, 0755);
	RAND_bytes(secret, sizeof(secret));
	if (hsm_create(h, "150099") || hsm_set_device_secret(h, (const uint8_t *)FUZZ_DEVICE_SECRET) ||
	    hsm_set_domain(h, secret, sizeof(secret), 1, 1, id))
		goto out;
	snprintf(h->label, sizeof(h->label), "seed");
	h->initialized = 1;
	hsm_credential_set(&h->so.cred, secret, sizeof(secret), 2, 3, id);
	h->rpv_set = 1;
	RAND_bytes(h->rpv, sizeof(h->rpv));
	if (hsm_partition_create(h, "keys", &p) || hsm_partition_set_domain(p, secret, sizeof(secret), 1, 1, id))
		goto out;
	p->initialized = 1;
	hsm_credential_set(&p->po.cred, secret, sizeof(secret), 1, 1, id);
	hsm_credential_set(&p->co.cred, secret, sizeof(secret), 1, 1, id);
	p->kp.v[HSM_KP_DATES] = 1;
	p->policy_erase[HSM_KP_SIGN_NON_LOCAL] = HSM_ERASE_OFF_TO_ON | HSM_ERASE_ON_TO_OFF;
	if (objects(p))
		goto out;
	/* a partition from before version 8: no cloning key */
	if (hsm_partition_create(h, "old", &q))
		goto out;
	hsm_credential_set(&q->domain, secret, sizeof(secret), 1, 1, id);
	if (hsm_encode(h, &buf, &len) || put(dir, "hsm-v8-keys", buf, len) || objstore_seeds(argv[1], p))
		goto out;
	OPENSSL_clear_free(buf, len);
	buf = NULL;
	/* a backup HSM, zeroized but for its identity */
	hsm_zeroize(h);
	h->is_backup = 1;
	if (hsm_encode(h, &buf, &len) || put(dir, "hsm-v8-zeroized-backup", buf, len))
		goto out;
	r = 0;
out:
	if (r)
		fprintf(stderr, "hsm_seeds: failed\n");
	OPENSSL_clear_free(buf, len);
	OPENSSL_cleanse(secret, sizeof(secret));
	hsm_cleanse(h);
	free(h);
	return r;
}
