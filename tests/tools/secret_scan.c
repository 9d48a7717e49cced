/* Are secrets wiped before their memory is freed?
 *
 * Installs OpenSSL memory functions that keep a copy of every block as it is
 * freed, runs the suite's secret-handling code with known or traced secrets
 * (handshakes of each scheme with their records and a CSP, key wrap, Shamir
 * with PINs), then searches the copies for every secret. Any hit is a buffer
 * freed without OPENSSL_cleanse: it prints where and exits 1. */
#define _GNU_SOURCE /* memmem */
#include "ped/cert.h"
#include "ped/ec.h"
#include "ped/error.h"
#include "ped/kas.h"
#include "ped/kwp.h"
#include "ped/pinmask.h"
#include "ped/record.h"
#include "ped/shamir.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_CAP (256u * 1024 * 1024)
#define HDR 16

static unsigned char *freed_log;
static size_t freed_len, freed_blocks;
static int log_overflow;

static void remember(const unsigned char *p, size_t n)
{
	if (freed_len + n > LOG_CAP) {
		log_overflow = 1;
		return;
	}
	memcpy(freed_log + freed_len, p, n);
	freed_len += n;
	freed_blocks++;
}

static void *hook_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	unsigned char *p = malloc(n + HDR);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + HDR;
}

static void hook_free(void *ptr, const char *file, int line)
{
	(void)file;
	(void)line;
	if (!ptr)
		return;
	unsigned char *p = (unsigned char *)ptr - HDR;
	size_t n;
	memcpy(&n, p, sizeof(n));
	remember(ptr, n);
	free(p);
}

static void *hook_realloc(void *ptr, size_t n, const char *file, int line)
{
	void *np;
	size_t old = 0;
	if (!ptr)
		return hook_malloc(n, file, line);
	memcpy(&old, (unsigned char *)ptr - HDR, sizeof(old));
	if ((np = hook_malloc(n, file, line)) == NULL)
		return NULL;
	memcpy(np, ptr, old < n ? old : n);
	hook_free(ptr, file, line);
	return np;
}

/* The secrets to look for, copied with libc so the copies are not in the log. */
struct secret {
	char name[48];
	unsigned char *v;
	size_t len;
};
static struct secret secrets[256];
static size_t nsecrets;

static void keep(const char *name, const unsigned char *v, size_t len)
{
	if (nsecrets == 256 || len < 8)
		return;
	snprintf(secrets[nsecrets].name, sizeof(secrets[0].name), "%s", name);
	secrets[nsecrets].v = malloc(len);
	memcpy(secrets[nsecrets].v, v, len);
	secrets[nsecrets].len = len;
	nsecrets++;
}

/* Values a handshake trace shows that are secret (the rest is on the wire). */
static const char *const secret_names[] = {"u_eph_priv", "u_static_priv", "v_eph_priv", "v_static_priv",
					   "ze", "zs", "z", "dkm", "mac_key", "dek_u2v", "dmk_u2v",
					   "cwk_u2v", "dek_v2u", "dmk_v2u", "cwk_v2u", NULL};

static void on_trace(void *arg, const char *name, const uint8_t *v, size_t len)
{
	const char *scheme = arg;
	char full[48];
	for (int i = 0; secret_names[i]; i++)
		if (strcmp(name, secret_names[i]) == 0) {
			snprintf(full, sizeof(full), "%s %s", scheme, name);
			keep(full, v, len);
		}
}

/* Delivers out to `to`, and what it answers back, as ped_link does: a U
 * that sent KEYSHARE_U before deriving derives once it is delivered. */
static int pump(struct ped_kas *from, struct ped_kas *to, struct ped_kas_out *out)
{
	int r = PED_OK;
	for (int i = 0; i < out->count && r == PED_OK; i++) {
		struct ped_kas_out next;
		r = ped_kas_input(to, out->msg[i], out->len[i], &next);
		if (next.count) {
			int r2 = pump(to, from, &next);
			r = r ? r : r2;
		}
		ped_kas_out_clear(&next);
		if (r == PED_OK && ped_kas_pending(to)) {
			r = ped_kas_continue(to, &next);
			if (next.count) {
				int r2 = pump(to, from, &next);
				r = r ? r : r2;
			}
			ped_kas_out_clear(&next);
		}
	}
	return r;
}

/* One handshake of scheme s; as_link: as ped_link runs it (U sends
 * KEYSHARE_U before it derives, and both ends made their ephemeral keys
 * ahead), else each step in turn with the keys made inside. */
static int handshake(enum ped_kas_scheme s, const char *label, const unsigned char *secret,
		     size_t slen, const unsigned char *csp, size_t csp_len, int as_link)
{
	EVP_PKEY *hoc_key = NULL, *hsm_key = NULL, *rpv_key = NULL, *u_eph = NULL, *v_eph = NULL;
	X509 *hoc = NULL, *hsm_cert = NULL, *rpv_cert = NULL;
	struct ped_kas *u = NULL, *v = NULL;
	struct ped_kas_out out = {0};
	struct ped_channel_keys ku, kv;
	struct ped_channel *cu = NULL, *cv = NULL;
	uint8_t *rec = NULL, *pt = NULL, *got = NULL, type, scalar[PED_EC_SCALAR_LEN];
	size_t rl = 0, pl = 0, gl = 0;
	int r = PED_E_CRYPTO;

	if (ped_ec_generate(&hoc_key) || ped_cert_make_hoc(hoc_key, "1", &hoc) ||
	    ped_ec_generate(&hsm_key) || ped_cert_issue(hoc, hoc_key, hsm_key, "s", &hsm_cert) ||
	    ped_ec_generate(&rpv_key) || ped_cert_issue(hoc, hoc_key, rpv_key, "r", &rpv_cert))
		goto out;
	/* the long-term private keys are secrets too */
	ped_ec_priv_export(hoc_key, scalar);
	keep("hoc private key", scalar, sizeof(scalar));
	OPENSSL_cleanse(scalar, sizeof(scalar));
	struct ped_kas_params up = {PED_KAS_U, s, "PED:1", s == PED_KAS_2E2S ? rpv_key : NULL,
				    s == PED_KAS_2E2S ? rpv_cert : NULL, s == PED_KAS_2E2S ? hoc : NULL,
				    secret, slen, on_trace, (void *)label, NULL, NULL, 0, NULL};
	struct ped_kas_params vp = {PED_KAS_V, s, "HSM:1", hsm_key, hsm_cert, hoc, secret, slen,
				    on_trace, (void *)label, NULL, NULL, 0, NULL};
	if (as_link) {
		if (ped_ec_generate(&u_eph) || ped_ec_generate(&v_eph))
			goto out;
		up.keyshare_first = 1;
		up.ephemeral = u_eph;
		vp.ephemeral = v_eph;
	}
	if (ped_kas_new(&up, &u) || ped_kas_new(&vp, &v) || ped_kas_start(v, &out) ||
	    pump(v, u, &out) || !ped_kas_done(u) || !ped_kas_done(v) || ped_kas_take_keys(u, &ku) ||
	    ped_kas_take_keys(v, &kv))
		goto out;
	if (ped_channel_new(&ku, &cu) || ped_channel_new(&kv, &cv))
		goto out;
	ped_channel_keys_cleanse(&ku);
	ped_channel_keys_cleanse(&kv);
	/* a CSP from the HSM to the PED, as a login answer would carry one */
	if (ped_channel_seal_csp(cv, csp, csp_len, &rec, &rl) || ped_channel_open(cu, rec, rl, &type, &pt, &pl) ||
	    ped_channel_unwrap_csp(cu, pt, pl, &got, &gl) || gl != csp_len || memcmp(got, csp, gl))
		goto out;
	r = PED_OK;
out:
	OPENSSL_free(rec);
	if (pt)
		OPENSSL_clear_free(pt, pl);
	if (got)
		OPENSSL_clear_free(got, gl);
	ped_channel_free(cu);
	ped_channel_free(cv);
	ped_kas_out_clear(&out);
	ped_kas_free(u);
	ped_kas_free(v);
	EVP_PKEY_free(hoc_key);
	EVP_PKEY_free(hsm_key);
	EVP_PKEY_free(rpv_key);
	EVP_PKEY_free(u_eph);
	EVP_PKEY_free(v_eph);
	X509_free(hoc);
	X509_free(hsm_cert);
	X509_free(rpv_cert);
	return r;
}

int main(void)
{
	unsigned char rpv[32], password[8], csp[48], shamir_secret[32], shares[5 * 32], out[32];
	unsigned char keyset[PED_KEYSET_ID_LEN] = {7};
	const char *pins[5] = {"73519024", "8812", "99998888777", "4321", "55555"};
	int failures = 0;

	if (!CRYPTO_set_mem_functions(hook_malloc, hook_realloc, hook_free)) {
		fprintf(stderr, "secret_scan: OpenSSL allocated before the hooks could be set\n");
		return 2;
	}
	if ((freed_log = malloc(LOG_CAP)) == NULL)
		return 2;

	RAND_bytes(rpv, sizeof(rpv));
	RAND_bytes(csp, sizeof(csp));
	RAND_bytes(shamir_secret, sizeof(shamir_secret));
	for (int i = 0; i < 8; i++)
		password[i] = (unsigned char)('0' + (rpv[i] + csp[i]) % 10);
	password[0] = '7';
	keep("rpv", rpv, sizeof(rpv));
	keep("password", password, sizeof(password));
	keep("csp", csp, sizeof(csp));
	keep("shamir secret", shamir_secret, sizeof(shamir_secret));
	keep("pin", (const unsigned char *)pins[0], strlen(pins[0]));

	if (handshake(PED_KAS_2E2S, "2e2s", rpv, sizeof(rpv), csp, sizeof(csp), 0) ||
	    handshake(PED_KAS_1E1S, "1e1s", password, sizeof(password), csp, sizeof(csp), 0) ||
	    handshake(PED_KAS_1E1S, "local", NULL, 0, csp, sizeof(csp), 0) ||
	    handshake(PED_KAS_2E2S, "2e2s link", rpv, sizeof(rpv), csp, sizeof(csp), 1) ||
	    handshake(PED_KAS_1E1S, "1e1s link", password, sizeof(password), csp, sizeof(csp), 1) ||
	    handshake(PED_KAS_1E1S, "local link", NULL, 0, csp, sizeof(csp), 1)) {
		fprintf(stderr, "secret_scan: a handshake failed\n");
		return 2;
	}
	/* Shamir with PINs, as the PED splits a new secret and the HSM recombines */
	if (ped_shamir_split(shamir_secret, 32, 3, 5, shares) != PED_OK)
		return 2;
	for (int i = 0; i < 5; i++) {
		char name[32];
		/* scrypt as new keysets are masked (at the test cost: the scan
		 * reads every freed block), HKDF as format 1 keys still are */
		struct ped_pin_kdf kdf = {PED_PIN_KDF_HKDF, 0, 0, 0};
		if (i % 2 == 0)
			ped_pin_kdf_scrypt(&kdf, PED_SCRYPT_LOG2N_MIN, PED_SCRYPT_R_DEFAULT, PED_SCRYPT_P_DEFAULT);
		snprintf(name, sizeof(name), "share %d", i + 1);
		keep(name, shares + i * 32, 32);
		if (ped_pin_mask(pins[i], &kdf, keyset, (uint8_t)(i + 1), shares + i * 32, 32) != PED_OK ||
		    ped_pin_mask(pins[i], &kdf, keyset, (uint8_t)(i + 1), shares + i * 32, 32) != PED_OK)
			return 2;
	}
	struct ped_share sel[3] = {{1, shares}, {3, shares + 64}, {5, shares + 128}};
	if (ped_shamir_combine(sel, 3, 3, 32, out) != PED_OK || memcmp(out, shamir_secret, 32))
		return 2;
	/* key wrap on its own */
	uint8_t *w = NULL, *uw = NULL;
	size_t wl = 0, uwl = 0;
	if (ped_kwp_wrap(rpv, 32, csp, sizeof(csp), &w, &wl) || ped_kwp_unwrap(rpv, 32, w, wl, &uw, &uwl))
		return 2;
	OPENSSL_free(w);
	OPENSSL_clear_free(uw, uwl);
	OPENSSL_cleanse(out, sizeof(out));

	/* The harness must see a leak when there is one: free a canary uncleansed. */
	unsigned char canary[32];
	RAND_bytes(canary, sizeof(canary));
	unsigned char *leaky = OPENSSL_memdup(canary, sizeof(canary));
	OPENSSL_free(leaky);
	if (!memmem(freed_log, freed_len, canary, sizeof(canary))) {
		fprintf(stderr, "secret_scan: the hooks missed a deliberate leak: test is broken\n");
		return 2;
	}

	if (log_overflow) {
		fprintf(stderr, "secret_scan: freed-memory log overflowed\n");
		return 2;
	}
	/* Look for each secret, and for 16-byte pieces of it (a copy of part of a key). */
	for (size_t i = 0; i < nsecrets; i++) {
		struct secret *s = &secrets[i];
		size_t offs[3] = {0, s->len > 32 ? s->len / 2 : 0, s->len > 16 ? s->len - 16 : 0};
		size_t win = s->len < 16 ? s->len : 16;
		int hit = 0;
		for (int k = 0; k < 3 && !hit; k++)
			if (memmem(freed_log, freed_len, s->v + offs[k], win))
				hit = 1;
		if (hit) {
			printf("LEAK  %-20s found in memory freed without cleansing\n", s->name);
			failures++;
		}
	}
	printf("secret_scan: %zu secrets, %zu freed blocks (%zu bytes) scanned, %d found\n", nsecrets,
	       freed_blocks, freed_len, failures);
	return failures ? 1 : 0;
}
