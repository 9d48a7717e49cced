/* libFuzzer target: the headless PED's script and policy languages, which
 * read files a CI job hands the PED. */
#include "../../ped-device/headless.h"
#include "ped/error.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct script s;
	struct policy *p = NULL;
	char err[256];

	if (script_parse((const char *)data, size, &s, err, sizeof(err)) == PED_OK)
		script_free(&s);
	if (policy_parse((const char *)data, size, &p, err, sizeof(err)) == PED_OK)
		policy_free(p);
	else if (p)
		abort(); /* a refused policy leaves nothing behind */
	return 0;
}
