#include "keys_fixture.h"

#include "unit.h"

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

CK_BBOOL kf_yes = CK_TRUE, kf_no = CK_FALSE;

static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};

const uint8_t *kf_ec_params(const char *curve, size_t *len)
{
	if (strcmp(curve, "P-384") == 0) {
		*len = sizeof(p384);
		return p384;
	}
	if (strcmp(curve, "P-521") == 0) {
		*len = sizeof(p521);
		return p521;
	}
	*len = sizeof(p256);
	return p256;
}

struct hsm_obj *kf_secret(const struct hsm_key_env *env, CK_KEY_TYPE kt, const void *value, size_t len,
			  const CK_ATTRIBUTE *extra, CK_ULONG n)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[HSM_TEMPLATE_MAX];
	struct hsm_obj *o = NULL;
	CK_RV rv;

	t[0] = (CK_ATTRIBUTE)KF_U(CKA_CLASS, &cls);
	t[1] = (CK_ATTRIBUTE)KF_U(CKA_KEY_TYPE, &kt);
	t[2] = (CK_ATTRIBUTE)KF_D(CKA_VALUE, value, len);
	for (CK_ULONG i = 0; i < n && i + 3 < HSM_TEMPLATE_MAX; i++)
		t[3 + i] = extra[i];
	rv = hsm_obj_create(env, t, 3 + n, &o);
	if (rv != CKR_OK)
		fprintf(stderr, "kf_secret: %s: %s\n", hsm_ck_name(rv), hsm_ck_why());
	CU_ASSERT_EQUAL(rv, CKR_OK);
	return o;
}

EVP_PKEY *kf_spki(const struct hsm_obj *o)
{
	const struct hsm_attr *a = hsm_obj_attr(o, CKA_PUBLIC_KEY_INFO);
	const unsigned char *p;

	if (!a)
		return NULL;
	p = a->val;
	return d2i_PUBKEY(NULL, &p, (long)a->len);
}

const char *kf_path(const char *name)
{
	static char path[1024];
	snprintf(path, sizeof(path), "%s/%s", unit_tmpdir(), name);
	return path;
}

int kf_write(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(kf_path(name), "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

int kf_read(const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(kf_path(name), "rb");

	if (!f)
		return -1;
	*len = fread(buf, 1, cap, f);
	fclose(f);
	return 0;
}

int kf_sh(const char *fmt, ...)
{
	char cmd[4096], full[4600];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && { %s; } >>keys-sh.log 2>&1", unit_tmpdir(), cmd);
	st = system(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
