#include "kas_fixture.h"

#include "ped/cert.h"
#include "ped/ec.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

int fixture_identity(struct hsm_identity *id, const char *serial)
{
	char cn[64];
	memset(id, 0, sizeof(*id));
	if (ped_ec_generate(&id->hoc_key) || ped_cert_make_hoc(id->hoc_key, serial, &id->hoc) ||
	    ped_ec_generate(&id->static_key) || ped_ec_generate(&id->rpv_key))
		return PED_E_CRYPTO;
	snprintf(cn, sizeof(cn), "HSM %s static", serial);
	if (ped_cert_issue(id->hoc, id->hoc_key, id->static_key, cn, &id->static_cert))
		return PED_E_CRYPTO;
	snprintf(cn, sizeof(cn), "HSM %s RPV static", serial);
	return ped_cert_issue(id->hoc, id->hoc_key, id->rpv_key, cn, &id->rpv_cert);
}

void fixture_identity_free(struct hsm_identity *id)
{
	EVP_PKEY_free(id->hoc_key);
	EVP_PKEY_free(id->static_key);
	EVP_PKEY_free(id->rpv_key);
	X509_free(id->hoc);
	X509_free(id->static_cert);
	X509_free(id->rpv_cert);
	memset(id, 0, sizeof(*id));
}

/* Queue of messages in flight, one per direction. */
struct queue {
	uint8_t *msg[8];
	size_t len[8];
	int n;
};

static void enqueue(struct queue *q, struct ped_kas_out *out)
{
	for (int i = 0; i < out->count && q->n < 8; i++) {
		q->msg[q->n] = out->msg[i];
		q->len[q->n] = out->len[i];
		q->n++;
		out->msg[i] = NULL;
	}
	out->count = 0;
}

int fixture_run(struct ped_kas *u, struct ped_kas *v, fixture_mutate mut, void *arg, int *u_err,
		int *v_err)
{
	struct queue to_v = {0}, to_u = {0};
	struct ped_kas_out out;
	int index[2] = {0, 0}, steps = 0;

	*u_err = *v_err = PED_OK;
	ped_kas_start(u, &out);
	enqueue(&to_v, &out);
	if ((*v_err = ped_kas_start(v, &out)) != PED_OK)
		return *v_err;
	enqueue(&to_u, &out);
	while ((to_u.n || to_v.n) && steps++ < 20) {
		struct queue *q = to_u.n ? &to_u : &to_v;
		int dir = q == &to_u ? 1 : 0;
		struct ped_kas *dst = dir ? u : v;
		int *err = dir ? u_err : v_err;
		uint8_t *m = q->msg[0];
		size_t l = q->len[0];
		memmove(q->msg, q->msg + 1, sizeof(q->msg[0]) * 7);
		memmove(q->len, q->len + 1, sizeof(q->len[0]) * 7);
		q->n--;
		if (mut)
			mut(dir, index[dir]++, m, &l, arg);
		if (l) {
			int r = ped_kas_input(dst, m, l, &out);
			if (r != PED_OK && *err == PED_OK)
				*err = r;
			enqueue(dir ? &to_v : &to_u, &out);
		}
		OPENSSL_free(m);
	}
	for (int i = 0; i < to_u.n; i++)
		OPENSSL_free(to_u.msg[i]);
	for (int i = 0; i < to_v.n; i++)
		OPENSSL_free(to_v.msg[i]);
	return *u_err ? *u_err : *v_err;
}
