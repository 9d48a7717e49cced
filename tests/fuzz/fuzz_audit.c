/* libFuzzer target: the audit log's decoder (hsm/audit.h). The input is a
 * log file, verified under a fixed log secret as audit verify reads one:
 * line by line, each record parsed, its MAC and its link checked; then the
 * same bytes as a wrapped log secret's header. */
#include "hsm/audit.h"
#include "ped/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void each(void *arg, const struct hsm_audit_rec *r)
{
	uint64_t *n = arg;
	/* what the decoder hands out is within its bounds */
	if (strlen(r->msg) > HSM_AUDIT_MSG_MAX || strlen(r->event) > HSM_AUDIT_EVENT_MAX ||
	    r->cls >= HSM_AUDIT_NCLASSES || r->seq == 0)
		abort();
	(*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[HSM_AUDIT_SECRET_LEN];
	struct hsm_audit_verify v;
	struct hsm_audit_rec rec;
	char serial[HSM_AUDIT_SERIAL_MAX + 1], why[96];
	size_t bodylen, hdr_len;
	uint32_t iter;
	uint64_t n = 0;
	int r;

	/* the key the seeds were sealed with (tests/unit/test_audit.c) */
	memset(key, 0x42, sizeof(key));
	memset(&v, 0, sizeof(v));
	r = hsm_audit_verify_buf(key, data, size, &v, each, &n);
	if (n != v.records || (r == PED_OK && v.bad_line != 0))
		abort();
	if (r != PED_OK && r != PED_E_CORRUPT && r != PED_E_BAD_RECORD && r != PED_E_INVALID)
		abort();
	/* one line on its own, the parser without the verifier's framing */
	if (size <= HSM_AUDIT_LINE_MAX)
		(void)hsm_audit_parse((const char *)data, size, &rec, &bodylen, why, sizeof(why));
	if (hsm_audit_lws_header(data, size, &hdr_len, &iter, serial) == PED_OK &&
	    (hdr_len > size || strlen(serial) > HSM_AUDIT_SERIAL_MAX))
		abort();
	return 0;
}
