/* Writes seed corpora for the handshake and record fuzz targets from real
 * traffic: fuzz_seeds DIR  (creates DIR/handshake and DIR/record). */
#include "ped/buf.h"
#include "ped/cert.h"
#include "ped/ec.h"
#include "ped/error.h"
#include "ped/kas.h"
#include "ped/record.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void put(const char *dir, const char *name, uint8_t mode, uint8_t *const *msg,
		const size_t *len, int n)
{
	char path[1024];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		return;
	if (mode != 0xff)
		fputc(mode, f);
	for (int i = 0; i < n; i++) {
		uint8_t l[2];
		ped_be16_put(l, (uint16_t)len[i]);
		fwrite(l, 1, sizeof(l), f);
		fwrite(msg[i], 1, len[i], f);
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	char hdir[900], rdir[900];
	static const uint8_t rpv[32] = {1, 2, 3};
	EVP_PKEY *hoc_key, *hsm_key, *rpv_key;
	X509 *hoc, *hsm_cert, *rpv_cert;

	if (argc != 2)
		return 2;
	snprintf(hdir, sizeof(hdir), "%s/handshake", argv[1]);
	snprintf(rdir, sizeof(rdir), "%s/record", argv[1]);
	mkdir(hdir, 0755);
	mkdir(rdir, 0755);
	if (ped_ec_generate(&hoc_key) || ped_cert_make_hoc(hoc_key, "1", &hoc) ||
	    ped_ec_generate(&hsm_key) || ped_cert_issue(hoc, hoc_key, hsm_key, "s", &hsm_cert) ||
	    ped_ec_generate(&rpv_key) || ped_cert_issue(hoc, hoc_key, rpv_key, "r", &rpv_cert))
		return 1;
	for (int s = 1; s <= 2; s++) {
		struct ped_kas *u, *v;
		struct ped_kas_out o1, o2, o3;
		struct ped_kas_params up = {PED_KAS_U, s, "PED:1", s == 2 ? rpv_key : NULL,
					    s == 2 ? rpv_cert : NULL, s == 2 ? hoc : NULL,
					    s == 2 ? rpv : NULL, s == 2 ? 32 : 0, NULL, NULL, NULL, NULL, 0, NULL};
		struct ped_kas_params vp = {PED_KAS_V, s, "HSM:1", hsm_key, hsm_cert, hoc,
					    s == 2 ? rpv : NULL, s == 2 ? 32 : 0, NULL, NULL, NULL, NULL, 0, NULL};
		char name[32];
		uint8_t mode_hello = (uint8_t)(s == 2 ? 0 : 1), mode_ks = (uint8_t)(s == 2 ? 2 : 3);
		ped_kas_new(&up, &u);
		ped_kas_new(&vp, &v);
		ped_kas_start(v, &o1);
		ped_kas_input(u, o1.msg[0], o1.len[0], &o2);
		/* KEYSHARE_U gets no answer; CONFIRM_U gets CONFIRM_V */
		ped_kas_input(v, o2.msg[0], o2.len[0], &o3);
		ped_kas_out_clear(&o3);
		if (o2.count == 2)
			ped_kas_input(v, o2.msg[1], o2.len[1], &o3);
		snprintf(name, sizeof(name), "hello-%d", s);
		put(hdir, name, mode_hello, o1.msg, o1.len, 1);
		snprintf(name, sizeof(name), "keyshare-%d", s);
		put(hdir, name, mode_ks, o2.msg, o2.len, o2.count);
		snprintf(name, sizeof(name), "confirm-%d", s);
		put(hdir, name, (uint8_t)(s == 2 ? 4 : 5), o3.msg, o3.len, o3.count);
		ped_kas_out_clear(&o1);
		ped_kas_out_clear(&o2);
		ped_kas_out_clear(&o3);
		ped_kas_free(u);
		ped_kas_free(v);
	}
	/* records sealed with the fuzz target's fixed keys */
	struct ped_channel_keys k;
	struct ped_channel *ch;
	uint8_t *rec[4];
	size_t rl[4];
	memset(&k, 0x5a, sizeof(k));
	k.rx = k.tx;
	ped_channel_new(&k, &ch);
	ped_channel_seal(ch, PED_REC_READY, NULL, 0, &rec[0], &rl[0]);
	ped_channel_seal(ch, PED_REC_DATA, (const uint8_t *)"login so", 8, &rec[1], &rl[1]);
	ped_channel_seal_csp(ch, rpv, sizeof(rpv), &rec[2], &rl[2]);
	ped_channel_seal(ch, PED_REC_CLOSE, (const uint8_t *)"\0\0\0\0", 4, &rec[3], &rl[3]);
	put(rdir, "session", 0xff, rec, rl, 4);
	put(rdir, "ready", 0xff, rec, rl, 1);
	for (int i = 0; i < 4; i++)
		OPENSSL_free(rec[i]);
	ped_channel_free(ch);
	return 0;
}
