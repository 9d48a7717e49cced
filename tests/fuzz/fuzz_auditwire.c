/* libFuzzer target: what pedclient reads from an HSM's audit delivery
 * (ped/auditwire.h): the OPEN body, a sequence number, a READY body, and
 * the record lines of a RECORDS frame, as pedclient finds their numbers
 * and MACs. */
#include "ped/auditwire.h"
#include "ped/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ped_audit_open o;
	uint8_t mac[PED_AUDIT_MAC_LEN];
	uint64_t seq;
	size_t pos = 0;

	if (ped_audit_open_decode(data, size, &o) == PED_OK &&
	    (strlen(o.serial) > PED_AUDIT_SERIAL_MAX || strlen(o.dir) > PED_AUDIT_DIR_MAX ||
	     (o.dir[0] && o.dir[0] != '/')))
		abort();
	if (ped_audit_seq_decode(data, size, &seq) == PED_OK && size != 8)
		abort();
	if (ped_audit_ready_decode(data, size, &seq, mac) == PED_OK && size != PED_AUDIT_READY_LEN)
		abort();
	while (pos < size) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t n = nl ? (size_t)(nl - (data + pos)) + 1 : size - pos;
		if (ped_audit_line_seq((const char *)data + pos, n, &seq) == PED_OK && seq == 0)
			abort();
		(void)ped_audit_line_mac((const char *)data + pos, n, mac);
		pos += n;
	}
	return 0;
}
