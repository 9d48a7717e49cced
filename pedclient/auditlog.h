/* pedclient's audit log files, one set per HSM (auditlog.c). */
#ifndef PEDCLIENT_AUDITLOG_H
#define PEDCLIENT_AUDITLOG_H

#include "ped/auditwire.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct auditlog {
	char dir[512];
	char serial[17];
	uint32_t interval;
	uint64_t size;
	int fd;          /* the file being written, or -1 */
	uint64_t first;  /* its first record's number */
	uint64_t bytes;  /* its size */
	int64_t opened;  /* when it was begun */
	uint64_t last;   /* the last record written (0: none) */
	uint8_t last_mac[PED_AUDIT_MAC_LEN]; /* its MAC (zeros: none) */
	dev_t dev;       /* the directory, whatever its name */
	ino_t ino;
	char why[200];   /* why auditlog_write refused a record */
};

/* The HSM's files in dir (made 0700 if missing): where they end. */
int auditlog_open(struct auditlog *a, const char *dir, const char *serial, uint32_t interval, uint64_t size);
/* Writes the record lines of p that follow the last one written, rotating
 * as configured, then fsync; *acked: the last record on disk. The last
 * record again (same number, same MAC) is skipped; any other number at or
 * before it (records of another HSM with this serial) or after it (a gap)
 * is PED_E_INVALID, with a->why. */
int auditlog_write(struct auditlog *a, const uint8_t *p, size_t len, uint64_t *acked);
void auditlog_close(struct auditlog *a);

#endif
