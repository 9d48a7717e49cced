/* Identities and an in-memory pump for handshake tests. */
#ifndef TESTS_KAS_FIXTURE_H
#define TESTS_KAS_FIXTURE_H

#include "ped/kas.h"

struct hsm_identity {
	EVP_PKEY *hoc_key, *static_key, *rpv_key;
	X509 *hoc, *static_cert, *rpv_cert;
};

int fixture_identity(struct hsm_identity *id, const char *serial);
void fixture_identity_free(struct hsm_identity *id);
/* Mutator called on every message from U->V (dir 0) or V->U (dir 1); may change it. */
typedef void (*fixture_mutate)(int dir, int index, uint8_t *msg, size_t *len, void *arg);
/* Runs U and V to completion; returns PED_OK or the first error, with each side's result. */
int fixture_run(struct ped_kas *u, struct ped_kas *v, fixture_mutate mut, void *arg, int *u_err,
		int *v_err);

#endif
