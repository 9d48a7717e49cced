/* libFuzzer target: every PED application message decoder. */
#include "ped/app.h"
#include "ped/error.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ped_app_request req;
	struct ped_app_splits sp;
	struct ped_app_created c;
	const uint8_t *s;
	size_t sl;
	uint32_t code;

	if (ped_app_decode_request(data, size, &req) == PED_OK && req.op != data[0])
		abort();
	if (ped_app_decode_splits(data, size, &sp) == PED_OK &&
	    (sp.count == 0 || sp.count > PED_APP_MAX_SPLITS))
		abort();
	(void)ped_app_decode_created(data, size, &c);
	if (ped_app_decode_secret(data, size, PED_APP_SECRET, &s, &sl) == PED_OK &&
	    (s < data || s + sl > data + size))
		abort();
	(void)ped_app_decode_secret(data, size, PED_APP_REUSED, &s, &sl);
	(void)ped_app_decode_result(data, size, &code);
	return 0;
}
