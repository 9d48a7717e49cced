/* libFuzzer target: the link frame decoder, one-shot and incremental.
 * The first input byte picks the chunk size, so partial reads are explored. */
#include "ped/error.h"
#include "ped/frame.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ped_frame_decoder d;
	struct ped_frame f;
	size_t chunk, off = 0, used;
	int r = 0;

	if (size == 0)
		return 0;
	chunk = (size_t)data[0] % 64 + 1;
	data++;
	size--;

	/* one-shot: every frame in the buffer, until an error */
	while (off < size && ped_frame_decode(data + off, size - off, 4096, &f, &used) == PED_OK) {
		if (used == 0 || f.len > 4096)
			abort();
		off += used;
	}

	ped_frame_decoder_init(&d, 4096);
	off = 0;
	while (off < size && r >= 0) {
		size_t n = size - off < chunk ? size - off : chunk;
		size_t part = 0;
		while (part < n) {
			r = ped_frame_decoder_feed(&d, data + off + part, n - part, &used, &f);
			if (used > n - part)
				abort();
			part += used;
			if (r < 0)
				break;
			if (r == 1 && (f.len > 4096 || (f.len && !f.payload)))
				abort();
			if (r == 0 && used == 0 && part < n)
				abort(); /* must make progress */
		}
		off += n;
	}
	(void)ped_frame_decoder_finish(&d);
	ped_frame_decoder_free(&d);
	return 0;
}
