/* libFuzzer target: PKCS#11 objects (hsm/object.h). The first byte picks
 *   0  the storage decoder: u16 length of the public part, the public
 *      part, the secret part (the rest; none when empty). What decodes
 *      must encode, decode again and encode to the same bytes.
 *   1  a template for C_CreateObject, then the same template through
 *      C_SetAttributeValue, C_CopyObject and C_FindObjects on the object
 *      made, which must survive storage as above.
 *   2  a template for C_GenerateKey (AES or generic secret, by the next
 *      byte), then C_UnwrapKey of the rest with a fixed AES key.
 * A template is a list of attributes: one byte naming a type of the rule
 * table (or 0xff and four bytes of any type), a length byte, the value.
 * Seeds (tests/fuzz/corpus/object): encodings of one object of each kind
 * and the templates that make them. */
#include "hsm/mech.h"
#include "hsm/object.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ATTRS 40

/* What decoded must store and load again unchanged. */
static void stores(const struct hsm_obj *o)
{
	uint8_t *pub = NULL, *sec = NULL, *pub2 = NULL, *sec2 = NULL;
	size_t pl = 0, sl = 0, pl2 = 0, sl2 = 0;
	struct hsm_obj *back = NULL;
	char why[160];

	if (hsm_obj_encode(o, &pub, &pl, &sec, &sl) != PED_OK)
		abort();
	if (hsm_obj_decode(pub, pl, sec, sl, &back, why, sizeof(why)) != PED_OK)
		abort();
	if (hsm_obj_encode(back, &pub2, &pl2, &sec2, &sl2) != PED_OK || pl2 != pl || sl2 != sl ||
	    memcmp(pub, pub2, pl) || (sl && memcmp(sec, sec2, sl)))
		abort();
	hsm_obj_free(back);
	OPENSSL_clear_free(pub, pl);
	OPENSSL_clear_free(sec, sl);
	OPENSSL_clear_free(pub2, pl2);
	OPENSSL_clear_free(sec2, sl2);
}

/* Every attribute the table knows, asked for with and without a buffer. */
static void reads(const struct hsm_obj *o)
{
	size_t n;
	const struct hsm_attr_rule *r = hsm_attr_rules(&n);
	uint8_t buf[64];

	for (size_t i = 0; i < n; i++) {
		CK_ATTRIBUTE a = {r[i].type, NULL, 0};
		hsm_obj_get(o, &a, 1);
		a.pValue = buf;
		a.ulValueLen = sizeof(buf);
		hsm_obj_get(o, &a, 1);
	}
}

static size_t parse_template(const uint8_t *p, size_t len, CK_ATTRIBUTE *t)
{
	size_t nrules, off = 0, n = 0;
	const struct hsm_attr_rule *r = hsm_attr_rules(&nrules);

	while (off + 2 <= len && n < MAX_ATTRS) {
		CK_ATTRIBUTE_TYPE type;
		size_t vl;
		if (p[off] == 0xff) {
			if (off + 6 > len)
				break;
			type = (CK_ATTRIBUTE_TYPE)p[off + 1] << 24 | (CK_ATTRIBUTE_TYPE)p[off + 2] << 16 |
			       (CK_ATTRIBUTE_TYPE)p[off + 3] << 8 | p[off + 4];
			off += 5;
		} else {
			type = r[p[off] % nrules].type;
			off++;
		}
		vl = p[off++];
		if (vl == 0xff && off + 2 <= len) { /* a long one */
			vl = (size_t)p[off] << 8 | p[off + 1];
			off += 2;
		}
		if (vl > len - off)
			vl = len - off;
		t[n].type = type;
		t[n].pValue = vl ? (void *)(p + off) : NULL;
		t[n].ulValueLen = vl;
		off += vl;
		n++;
	}
	return n;
}

static void decode_mode(const uint8_t *p, size_t len)
{
	struct hsm_obj *o = NULL;
	char why[160];
	size_t pl;

	if (len < 2)
		return;
	pl = (size_t)p[0] << 8 | p[1];
	p += 2;
	len -= 2;
	if (pl > len)
		pl = len;
	if (hsm_obj_decode(p, pl, len > pl ? p + pl : NULL, len - pl, &o, why, sizeof(why)) == PED_OK) {
		reads(o);
		stores(o);
		hsm_obj_free(o);
	} else if (!why[0]) {
		abort(); /* a refusal always says why */
	}
}

static void create_mode(const uint8_t *p, size_t len)
{
	CK_ATTRIBUTE t[MAX_ATTRS];
	size_t n = parse_template(p, len, t);
	struct hsm_obj *o = NULL, *c = NULL;

	if (hsm_obj_create(NULL, t, n, &o) != CKR_OK) {
		if (o)
			abort();
		return;
	}
	reads(o);
	stores(o);
	hsm_obj_match(o, t, n);
	if (hsm_obj_copy(NULL, o, t, n, &c) == CKR_OK) {
		stores(c);
		hsm_obj_free(c);
	}
	if (hsm_obj_set(NULL, o, t, n) == CKR_OK)
		stores(o);
	hsm_obj_free(o);
}

static void key_mode(const uint8_t *p, size_t len)
{
	static const uint8_t kek_value[16] = {7, 7, 7};
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_ATTRIBUTE kt[] = {{CKA_CLASS, &cls, sizeof(cls)},
			     {CKA_KEY_TYPE, &aes, sizeof(aes)},
			     {CKA_VALUE, (void *)kek_value, sizeof(kek_value)},
			     {CKA_UNWRAP, &(CK_BBOOL){CK_TRUE}, sizeof(CK_BBOOL)}};
	CK_MECHANISM gen = {len && (p[0] & 1) ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	CK_ATTRIBUTE t[MAX_ATTRS];
	struct hsm_obj *kek = NULL, *o = NULL;
	size_t n, half;

	if (len < 2)
		return;
	half = p[1] < len - 2 ? p[1] : len - 2;
	n = parse_template(p + 2, half, t);
	if (hsm_generate_key(NULL, &gen, t, n, &o) == CKR_OK) {
		stores(o);
		hsm_obj_free(o);
		o = NULL;
	}
	if (hsm_obj_create(NULL, kt, 4, &kek) != CKR_OK)
		abort();
	/* the template again, the rest as the wrapped key */
	if (hsm_unwrap_key(NULL, &kwp, kek, p + 2 + half, len - 2 - half, t, n, &o) == CKR_OK) {
		stores(o);
		hsm_obj_free(o);
	}
	hsm_obj_free(kek);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 1u << 17)
		return 0;
	switch (data[0] % 3) {
	case 0: decode_mode(data + 1, size - 1); break;
	case 1: create_mode(data + 1, size - 1); break;
	case 2: key_mode(data + 1, size - 1); break;
	}
	return 0;
}
