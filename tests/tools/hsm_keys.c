/* Real keys in an HSM's state file, for the end-to-end suites while keys
 * cannot yet be made through hsm-sim itself (the application protocol is
 * another branch's): with hsm-sim stopped, this tool opens a state file as
 * hsm-sim does (the device secret beside it), generates or uses keys with
 * libhsm, and saves it back.
 *
 *   hsm_keys gen STATE PARTITION OUTDIR [NDATA]
 *       an RSA-2048 pair ("rsa", CKA_ID 0102), a P-256 pair ("ec") and an
 *       AES-256 key ("aes"), all token objects, and NDATA data objects, in
 *       the partition of that name or label; OUTDIR gets secrets.hex (each
 *       secret value, hex, one a line: for grep), rsa.spki (the public key,
 *       DER) and before.sig (a SHA256-RSA-PKCS signature of "message").
 *   hsm_keys sign STATE PARTITION OUTDIR
 *       the partition's "rsa" private key signs "message" (after.sig); the
 *       signature verifies with OUTDIR/rsa.spki (the original public key),
 *       and before.sig with the partition's "rsa" public key. Exit 0 if so.
 *   hsm_keys count STATE
 *       loads the file whole and prints "NAME OBJECTS" per partition.
 *   hsm_keys grep SECRETS FILE...
 *       exit 1 (and says where) if any secret of SECRETS is in a file. */
#define _GNU_SOURCE /* memmem */
#include "hsm/hsm.h"
#include "hsm/mech.h"
#include "ped/error.h"
#include "ped/fileio.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char msg[] = "message";
static char outdir[900];

static int die(const char *what)
{
	fprintf(stderr, "hsm_keys: %s\n", what);
	return 1;
}

static const char *out_path(const char *name)
{
	static char p[1024];
	snprintf(p, sizeof(p), "%s/%s", outdir, name);
	return p;
}

static struct hsm_partition *find(struct hsm *h, const char *name)
{
	for (uint32_t i = 0; i < h->npartitions; i++)
		if (!strcmp(h->partitions[i].name, name) || !strcmp(h->partitions[i].label, name))
			return &h->partitions[i];
	return NULL;
}

static struct hsm_obj *by_label(struct hsm_partition *p, CK_OBJECT_CLASS cls, const char *label)
{
	for (uint32_t i = 0; i < p->nobjs; i++) {
		const struct hsm_attr *l = hsm_obj_attr(p->objs[i], CKA_LABEL);
		if (p->objs[i]->cls == cls && l && l->len == strlen(label) && !memcmp(l->val, label, l->len))
			return p->objs[i];
	}
	return NULL;
}

static void hex_line(FILE *f, const struct hsm_obj *o, CK_ATTRIBUTE_TYPE t)
{
	const struct hsm_attr *a = hsm_obj_attr(o, t);
	for (size_t i = 0; a && i < a->len; i++)
		fprintf(f, "%02x", a->val[i]);
	fputc('\n', f);
}

static CK_RV sign(const struct hsm_obj *key, uint8_t *sig, CK_ULONG *len)
{
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	struct hsm_op *op = NULL;
	CK_RV rv = hsm_op_init(NULL, CKF_SIGN, &m, key, &op);
	if (rv == CKR_OK)
		rv = hsm_op_oneshot(op, (const CK_BYTE *)msg, sizeof(msg) - 1, sig, len);
	hsm_op_free(op);
	return rv;
}

static CK_RV verify(const struct hsm_obj *key, const uint8_t *sig, CK_ULONG len)
{
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	struct hsm_op *op = NULL;
	CK_RV rv = hsm_op_init(NULL, CKF_VERIFY, &m, key, &op);
	if (rv == CKR_OK)
		rv = hsm_op_verify(op, (const CK_BYTE *)msg, sizeof(msg) - 1, sig, len);
	hsm_op_free(op);
	return rv;
}

/* The original public key (rsa.spki) verifies sig, with OpenSSL alone. */
static int spki_verifies(const uint8_t *sig, size_t len)
{
	uint8_t *der = NULL;
	size_t dlen = 0;
	const unsigned char *p;
	EVP_PKEY *k = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = 0;
	if (ped_file_read_bounded(out_path("rsa.spki"), 4096, &der, &dlen) != PED_OK)
		goto out;
	p = der;
	if (!(k = d2i_PUBKEY(NULL, &p, (long)dlen)) || !md)
		goto out;
	ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
	     EVP_DigestVerify(md, sig, len, (const unsigned char *)msg, sizeof(msg) - 1) == 1;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	OPENSSL_free(der);
	return ok;
}

static int gen(struct hsm *h, struct hsm_partition *p, const char *state, unsigned ndata)
{
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG bits = 2048, len32 = 32;
	CK_OBJECT_CLASS data = CKO_DATA;
	static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_ATTRIBUTE rpub[] = {{CKA_TOKEN, &yes, 1}, {CKA_MODULUS_BITS, &bits, sizeof(bits)}, {CKA_VERIFY, &yes, 1},
			       {CKA_LABEL, "rsa", 3}, {CKA_ID, "\x01\x02", 2}};
	CK_ATTRIBUTE rpriv[] = {{CKA_TOKEN, &yes, 1}, {CKA_SIGN, &yes, 1}, {CKA_LABEL, "rsa", 3}, {CKA_ID, "\x01\x02", 2}};
	CK_ATTRIBUTE epub[] = {{CKA_TOKEN, &yes, 1}, {CKA_EC_PARAMS, (void *)p256, sizeof(p256)}, {CKA_LABEL, "ec", 2}};
	CK_ATTRIBUTE epriv[] = {{CKA_TOKEN, &yes, 1}, {CKA_SIGN, &yes, 1}, {CKA_LABEL, "ec", 2}};
	CK_ATTRIBUTE at[] = {{CKA_TOKEN, &yes, 1}, {CKA_VALUE_LEN, &len32, sizeof(len32)}, {CKA_LABEL, "aes", 3},
			     {CKA_ENCRYPT, &yes, 1}};
	CK_MECHANISM rg = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0}, eg = {CKM_EC_KEY_PAIR_GEN, NULL, 0},
		     ag = {CKM_AES_KEY_GEN, NULL, 0};
	struct hsm_obj *rp = NULL, *rk = NULL, *ep = NULL, *ek = NULL, *ak = NULL;
	uint8_t sig[512];
	CK_ULONG siglen = sizeof(sig);
	FILE *f;

	if (hsm_generate_key_pair(NULL, &rg, rpub, 5, rpriv, 4, &rp, &rk) != CKR_OK ||
	    hsm_generate_key_pair(NULL, &eg, epub, 3, epriv, 3, &ep, &ek) != CKR_OK ||
	    hsm_generate_key(NULL, &ag, at, 4, &ak) != CKR_OK)
		return die("key generation failed");
	if (!(f = fopen(out_path("secrets.hex"), "w")))
		return die("secrets.hex");
	hex_line(f, rk, CKA_PRIVATE_EXPONENT);
	hex_line(f, rk, CKA_PRIME_1);
	hex_line(f, rk, CKA_PRIME_2);
	hex_line(f, ek, CKA_VALUE);
	hex_line(f, ak, CKA_VALUE);
	fclose(f);
	const struct hsm_attr *spki = hsm_obj_attr(rp, CKA_PUBLIC_KEY_INFO);
	if (sign(rk, sig, &siglen) != CKR_OK || ped_file_write_atomic(out_path("rsa.spki"), spki->val, spki->len, 0600) ||
	    ped_file_write_atomic(out_path("before.sig"), sig, siglen, 0600))
		return die("signature");
	if (hsm_part_obj_add(p, rp) || hsm_part_obj_add(p, rk) || hsm_part_obj_add(p, ep) || hsm_part_obj_add(p, ek) ||
	    hsm_part_obj_add(p, ak))
		return die("no room for the keys");
	for (unsigned i = 0; i < ndata; i++) {
		char label[32];
		struct hsm_obj *o = NULL;
		snprintf(label, sizeof(label), "data%u", i);
		CK_ATTRIBUTE dt[] = {{CKA_CLASS, &data, sizeof(data)}, {CKA_TOKEN, &yes, 1}, {CKA_LABEL, label, strlen(label)},
				     {CKA_VALUE, label, strlen(label)}};
		if (hsm_obj_create(NULL, dt, 4, &o) != CKR_OK || hsm_part_obj_add(p, o))
			return die("data objects");
	}
	if (hsm_save(h, state) != PED_OK)
		return die("cannot save");
	return 0;
}

static int use(struct hsm_partition *p)
{
	struct hsm_obj *rk = by_label(p, CKO_PRIVATE_KEY, "rsa"), *rp = by_label(p, CKO_PUBLIC_KEY, "rsa");
	uint8_t sig[512], *before = NULL;
	size_t blen = 0;
	CK_ULONG siglen = sizeof(sig);
	int r = 1;

	if (!rk || !rp)
		return die("no rsa key pair in the partition");
	if (sign(rk, sig, &siglen) != CKR_OK)
		return die("the private key does not sign");
	if (!spki_verifies(sig, siglen))
		return die("its signature does not verify with the original public key");
	if (ped_file_read_bounded(out_path("before.sig"), 1024, &before, &blen) != PED_OK)
		return die("before.sig");
	if (verify(rp, before, blen) != CKR_OK)
		fprintf(stderr, "hsm_keys: the signature made before does not verify with this public key\n");
	else if (ped_file_write_atomic(out_path("after.sig"), sig, siglen, 0600) == PED_OK)
		r = 0;
	OPENSSL_free(before);
	return r;
}

/* Every secret's bytes (hex lines of secrets) searched in each file. */
static int grep(int argc, char **argv)
{
	FILE *f = fopen(argv[2], "r");
	char line[2100];
	int found = 0;
	if (!f)
		return die(argv[2]);
	while (fgets(line, sizeof(line), f)) {
		uint8_t b[1024];
		size_t n = 0;
		for (char *q = line; q[0] && q[1] && q[0] != '\n' && n < sizeof(b); q += 2)
			sscanf(q, "%2hhx", &b[n++]);
		if (n < 16)
			continue;
		for (int i = 3; i < argc; i++) {
			uint8_t *d = NULL;
			size_t dl = 0;
			if (ped_file_read_bounded(argv[i], 64u << 20, &d, &dl) != PED_OK)
				return die(argv[i]);
			if (memmem(d, dl, b, n)) {
				fprintf(stderr, "hsm_keys: a secret of %zu bytes is in %s\n", n, argv[i]);
				found = 1;
			}
			OPENSSL_clear_free(d, dl);
		}
	}
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	struct hsm *h;
	struct hsm_partition *p;
	char why[512];
	int r;

	if (argc >= 3 && !strcmp(argv[1], "grep"))
		return grep(argc, argv);
	if (argc < 3 || !(h = calloc(1, sizeof(*h))))
		return die("usage: hsm_keys gen|sign STATE PARTITION OUTDIR [NDATA] | count STATE | grep SECRETS FILE...");
	if ((r = hsm_load_beside(argv[2], h, why, sizeof(why))) != PED_OK) {
		fprintf(stderr, "hsm_keys: %s\n", why);
		return 1;
	}
	if (!strcmp(argv[1], "count")) {
		for (uint32_t i = 0; i < h->npartitions; i++)
			printf("%s %u\n", h->partitions[i].name, h->partitions[i].nobjs);
		r = 0;
	} else if (argc >= 5 && (p = find(h, argv[3]))) {
		snprintf(outdir, sizeof(outdir), "%s", argv[4]);
		r = !strcmp(argv[1], "gen") ? gen(h, p, argv[2], argc > 5 ? (unsigned)atoi(argv[5]) : 0)
		    : !strcmp(argv[1], "sign") ? use(p)
					       : die("gen, sign, count or grep");
	} else {
		r = die("no such partition, or too few arguments");
	}
	hsm_cleanse(h);
	free(h);
	return r;
}
