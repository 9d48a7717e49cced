/* libFuzzer target: partition policy templates (hsm/template.h), the text a
 * partition init -applytemplate reads from the operator's side. What
 * parses is applied to a new partition's defaults; what applies is written
 * back as a template, which must parse and apply to the same policies. */
#include "hsm/template.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hsm_partition p, q;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsm_ppt t, u;
	char why[256], *text = NULL;
	size_t len = 0;

	if (size > 2 * HSM_PPT_MAX)
		return 0;
	if (hsm_ppt_parse((const char *)data, size, &t, why, sizeof(why)) != PED_OK) {
		if (!why[0])
			abort();
		return 0;
	}
	memset(&p, 0, sizeof(p));
	hsm_partition_defaults(&p);
	if (hsm_ppt_apply(&p, &t, why, sizeof(why)) != PED_OK)
		return 0;
	if (hsm_kp_valid(&p.kp) != PED_OK || hsm_ppt_export(&p, "1", &text, &len) != PED_OK)
		abort();
	memset(&q, 0, sizeof(q));
	hsm_partition_defaults(&q);
	if (hsm_ppt_parse(text, len, &u, why, sizeof(why)) != PED_OK || hsm_ppt_apply(&q, &u, why, sizeof(why)) != PED_OK ||
	    memcmp(&p.kp, &q.kp, sizeof(p.kp)) || memcmp(p.policy_erase, q.policy_erase, sizeof(p.policy_erase)) ||
	    p.max_failed_user_logins != q.max_failed_user_logins || p.min_pin_policy != q.min_pin_policy ||
	    p.max_pin_length != q.max_pin_length || p.allow_activation != q.allow_activation ||
	    p.allow_auto_activation != q.allow_auto_activation ||
	    p.ignore_failed_challenges != q.ignore_failed_challenges)
		abort();
	OPENSSL_free(text);
	return 0;
}
