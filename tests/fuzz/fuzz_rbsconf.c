/* libFuzzer target: rbs.conf, the Backup HSMs rbs serves, through
 * rbs_conf_parse as rbs --config and rbs --daemon read it (bounded at
 * RBS_CONF_MAX). What parses names at most 16 distinct serials of digits,
 * and what rbs --config would write of it parses back to the same; what
 * does not parse says why and serves nothing. */
#include "../../rbs/rbs.h"
#include "ped/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsm_ctl_restrict a, b;
	char err[256], text[RBS_CONF_MAX];
	uint8_t frame[HSM_CTL_RESTRICT_LEN_MAX];
	size_t len;

	err[0] = '\0';
	if (rbs_conf_parse((const char *)data, size, &a, err, sizeof(err)) != PED_OK) {
		if (a.n != 0 || !err[0])
			abort();
		return 0;
	}
	if (a.n > HSM_CTL_RESTRICT_MAX)
		abort();
	if (rbs_conf_format(&a, text, sizeof(text), &len) != PED_OK ||
	    rbs_conf_parse(text, len, &b, err, sizeof(err)) != PED_OK || b.n != a.n)
		abort();
	for (size_t i = 0; i < a.n; i++)
		if (strcmp(a.serial[i], b.serial[i]))
			abort();
	/* what the daemon then sends hsm-sim */
	if (a.n && hsm_ctl_restrict_encode(&a, frame, sizeof(frame), &len) != PED_OK)
		abort();
	return 0;
}
