/* Files that must never be half-written (keys, HSM state, configuration):
 * written to a temporary file in the same directory, fsync'd, renamed over the
 * old one and the directory fsync'd, so a crash leaves the old or the new
 * content, never a mix. Reads are bounded so a huge or endless file cannot
 * exhaust memory. */
#ifndef PED_FILEIO_H
#define PED_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Temporary files are NAME.tmp.PID.N; cleaners may remove such strays. */
#define PED_FILE_TMP_MARK ".tmp."

int ped_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Reads the whole file into an OPENSSL_malloc'd buffer (free with
 * OPENSSL_clear_free: the bytes may be secret). PED_E_NOT_FOUND if missing,
 * PED_E_FILE if unreadable, PED_E_RANGE if larger than max. */
int ped_file_read_bounded(const char *path, size_t max, uint8_t **out, size_t *out_len);
/* mkdir -p with mode for every created component. */
int ped_mkdir_p(const char *path, mode_t mode);

/* Where programs keep sockets and PID files: $XDG_RUNTIME_DIR/openped, else
 * /tmp/openped-UID; and state: $XDG_DATA_HOME/openped, else
 * ~/.local/share/openped. The directory is created (mode 0700) and name
 * appended. */
int ped_runtime_path(const char *name, char *out, size_t len);
int ped_data_path(const char *name, char *out, size_t len);

#endif
