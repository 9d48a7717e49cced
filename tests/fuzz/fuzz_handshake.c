/* libFuzzer target: handshake message decoding at every state of both ends.
 * Input: one byte choosing the end point and state, then messages as
 * u16 length || bytes. Real messages from a fresh handshake put the end point
 * in the chosen state first, so the later parsers are reached too. */
#include "../../pedtool/legacy.h"
#include "ped/buf.h"
#include "ped/cert.h"
#include "ped/ec.h"
#include "ped/error.h"
#include "ped/kas.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *hoc_key, *hsm_key, *rpv_key;
static X509 *hoc, *hsm_cert, *rpv_cert;
static const uint8_t rpv[32] = {1, 2, 3};
/* U sends KEYSHARE_U before it derives, as ped_link runs it; the first
 * byte's bit 3 runs U in one step instead, as pedtool and the floor do */
static int u_split;

static void init(void)
{
	if (hoc)
		return;
	if (ped_ec_generate(&hoc_key) || ped_cert_make_hoc(hoc_key, "1", &hoc) ||
	    ped_ec_generate(&hsm_key) || ped_cert_issue(hoc, hoc_key, hsm_key, "s", &hsm_cert) ||
	    ped_ec_generate(&rpv_key) || ped_cert_issue(hoc, hoc_key, rpv_key, "r", &rpv_cert))
		abort();
}

static struct ped_kas *make(enum ped_kas_role role, enum ped_kas_scheme s)
{
	struct ped_kas *k = NULL;
	struct ped_kas_params p = {role, s, role == PED_KAS_U ? "PED:1" : "HSM:1", NULL, NULL, NULL,
				   s == PED_KAS_2E2S ? rpv : NULL, s == PED_KAS_2E2S ? 32 : 0, NULL, NULL, NULL, NULL, 0, NULL};
	if (role == PED_KAS_V) {
		p.static_key = hsm_key;
		p.static_cert = hsm_cert;
		p.hoc = hoc;
	} else if (s == PED_KAS_2E2S) {
		p.static_key = rpv_key;
		p.static_cert = rpv_cert;
		p.hoc = hoc;
	}
	p.keyshare_first = role == PED_KAS_U && u_split;
	if (ped_kas_new(&p, &k) != PED_OK)
		abort();
	return k;
}

static void feed(struct ped_kas *k, const uint8_t *d, size_t n)
{
	struct ped_kas_out out;
	while (n >= 2) {
		size_t l = ped_be16_get(d);
		d += 2;
		n -= 2;
		if (l > n)
			l = n;
		int r = ped_kas_input(k, d, l, &out);
		if (r > 0 || out.count > 2)
			abort();
		ped_kas_out_clear(&out);
		if (ped_kas_pending(k)) {
			r = ped_kas_continue(k, &out);
			if (r > 0 || out.count > 1)
				abort();
			ped_kas_out_clear(&out);
		}
		d += l;
		n -= l;
	}
}

static void feed_legacy(const uint8_t *d, size_t n, enum ped_kas_role role)
{
	struct ped_legacy *l = NULL;
	struct ped_kas_out out;
	if (ped_legacy_new(role, rpv, sizeof(rpv), NULL, NULL, &l) != PED_OK)
		abort();
	ped_legacy_start(l, &out);
	ped_kas_out_clear(&out);
	ped_legacy_input(l, d, n, &out);
	ped_kas_out_clear(&out);
	ped_legacy_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ped_kas *u = NULL, *v = NULL;
	struct ped_kas_out out = {0}, out2 = {0};
	enum ped_kas_scheme s;
	uint8_t mode;

	if (size < 1)
		return 0;
	init();
	mode = data[0] % 8;
	u_split = !(data[0] & 8);
	data++;
	size--;
	if (mode >= 6) {
		feed_legacy(data, size, mode == 6 ? PED_KAS_U : PED_KAS_V);
		return 0;
	}
	s = mode % 2 ? PED_KAS_1E1S : PED_KAS_2E2S;
	switch (mode / 2) {
	case 0: /* U before HELLO_V */
		u = make(PED_KAS_U, s);
		feed(u, data, size);
		break;
	case 1: /* V waiting for KEYSHARE_U */
		v = make(PED_KAS_V, s);
		ped_kas_start(v, &out);
		feed(v, data, size);
		break;
	case 2: /* both after a real first flight: U waits for CONFIRM_V, V for CONFIRM_U */
		u = make(PED_KAS_U, s);
		v = make(PED_KAS_V, s);
		ped_kas_start(v, &out);
		if (out.count == 1)
			ped_kas_input(u, out.msg[0], out.len[0], &out2);
		if (ped_kas_pending(u)) { /* KEYSHARE_U is out2's; CONFIRM_U follows */
			struct ped_kas_out oc;
			ped_kas_continue(u, &oc);
			ped_kas_out_clear(&oc);
		}
		if (out2.count >= 1) {
			struct ped_kas_out o3;
			ped_kas_input(v, out2.msg[0], out2.len[0], &o3);
			ped_kas_out_clear(&o3);
		}
		feed(u, data, size);
		feed(v, data, size);
		break;
	}
	ped_kas_out_clear(&out);
	ped_kas_out_clear(&out2);
	ped_kas_free(u);
	ped_kas_free(v);
	return 0;
}
