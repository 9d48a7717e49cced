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
/* Removes the temporary files in dir of writes that never finished (a
 * writer killed): names ending SUFFIX.tmp.PID.N (suffix "" for any). Only
 * for a directory no other process writes to now (its owner's lock held).
 * PED_OK and *removed, or PED_E_FILE if dir cannot be read. */
int ped_file_remove_temps(const char *dir, const char *suffix, size_t *removed);
/* fsync of the directory holding path: a rename there is on disk.
 * PED_OK, or PED_E_FILE (errno says why). */
int ped_file_sync_dir_of(const char *path);
/* All of n bytes to a file descriptor (retried after EINTR and short
 * counts), or PED_E_IO with errno saying why: a full disk first takes part
 * of the data and leaves errno alone, and only the next write says ENOSPC
 * (a short count with nothing behind it is EIO). */
int ped_file_write_all(int fd, const void *p, size_t n);
/* The same, owned by uid and gid ((uid_t)-1, (gid_t)-1: the writer's): a
 * file rewritten in place keeps its owner, or is not replaced (PED_E_FILE,
 * errno EPERM). */
int ped_file_write_atomic_as(const char *path, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid);
/* Reads the whole file into an OPENSSL_malloc'd buffer (free with
 * OPENSSL_clear_free: the bytes may be secret). PED_E_NOT_FOUND if missing,
 * PED_E_FILE if unreadable, PED_E_RANGE if larger than max. */
int ped_file_read_bounded(const char *path, size_t max, uint8_t **out, size_t *out_len);
/* A descriptor kept in reserve for when the process has none left
 * (EMFILE, ENFILE). A daemon takes one (ped_accept does, at its first
 * connection); ped_fd_spare_give closes it for a caller about to open what
 * it must (1 if there was one), who takes it again once done. A bounded
 * read out of descriptors uses it: hsm-sim reading back the state it
 * could not save. Thread-safe; a process that never takes one has none. */
void ped_fd_spare_take(void);
int ped_fd_spare_give(void);

/* mkdir -p with mode for every created component. */
int ped_mkdir_p(const char *path, mode_t mode);

/* Reads like ped_file_read_bounded but refuses a symbolic link at path:
 * for files in a private directory (keys, HSM state), where a link can only
 * be a mistake or an attack. */
int ped_file_read_nofollow(const char *path, size_t max, uint8_t **out, size_t *out_len);

/* Mode bits a private directory must not have: PED_DIR_NOWRITE lets others
 * read and enter it (runtime and data directories, where sockets and
 * certificates must be reachable), PED_DIR_SECRET lets no one else in (the
 * key store, HSM state, private keys). */
#define PED_DIR_NOWRITE 022
#define PED_DIR_SECRET 077

/* Whether dir is private: a directory of our effective uid with none of the
 * forbid bits, reached from / only through directories and links that no
 * other user can change (root's or ours, writable by no one else unless
 * sticky, and then only our or root's entries). Otherwise PED_E_FILE, errno
 * EPERM and why says what is wrong and ends "refusing to use it". why may
 * be NULL. */
int ped_dir_check_private(const char *dir, mode_t forbid, char *why, size_t whylen);
/* The same after creating dir (and missing parents) with mode 0700. */
int ped_dir_private(const char *dir, mode_t forbid, char *why, size_t whylen);

/* Opens or creates a file we write in place (PID file, log, lock): never
 * through a symbolic link (O_NOFOLLOW), only a regular file of ours with
 * one link, or, opened O_APPEND without O_TRUNC (a log), a character device
 * such as /dev/null, a FIFO with a reader, or a Unix socket something
 * listens on (connected to); with O_CREAT, at exactly mode (an
 * existing file is brought to it); O_TRUNC is applied only after those
 * checks. PED_OK and *fd, or PED_E_NOT_FOUND / PED_E_FILE with errno and
 * why (may be NULL) saying why. */
int ped_file_open(const char *path, int flags, mode_t mode, int *fd, char *why, size_t whylen);

/* A system installation (make install, the Debian package): the services
 * run as the user PED_SYSTEM_GROUP of the group of that name, with their
 * sockets in PED_SYSTEM_RUNTIME_DIR (conf/openped.sysusers,
 * conf/openped.tmpfiles, the units' RuntimeDirectory=), which members of the
 * group may enter and no one else may write to (docs/security.md). */
#define PED_SYSTEM_GROUP "openped"
#define PED_SYSTEM_RUNTIME_DIR "/run/openped"

/* Whether dir is a runtime directory shared with group: a real directory
 * (no link) owned by root or by the user named like the group, of that
 * group, which the group may enter and others may not write to, reached
 * from / only through directories and links as ped_dir_check_private
 * requires; and we are that user or a member of the group. Otherwise
 * PED_E_FILE, errno EPERM and why (may be NULL) saying what is wrong. */
int ped_dir_check_group(const char *dir, const char *group, char *why, size_t whylen);
/* Whether dir belongs to PED_SYSTEM_GROUP and lets it in: sockets and
 * files made there are made for the group too (0660, 0640). *gid (may be
 * NULL) is the group's. 1 or 0. */
int ped_dir_group_shared(const char *dir, gid_t *gid);

/* Where programs keep sockets and PID files: $XDG_RUNTIME_DIR/openped; else
 * PED_SYSTEM_RUNTIME_DIR when it passes ped_dir_check_group for
 * PED_SYSTEM_GROUP (the services' user and the group's members reach the
 * services there); else /run/user/UID/openped. And state:
 * $XDG_DATA_HOME/openped, else ~/.local/share/openped. Never a shared
 * /tmp: without those, or when the directory is not private
 * (ped_dir_private, PED_DIR_NOWRITE), the error is logged saying what to
 * set, and PED_E_FILE returned; there is no fallback. A directory of ours
 * is created (mode 0700); name is appended. */
int ped_runtime_path(const char *name, char *out, size_t len);
int ped_data_path(const char *name, char *out, size_t len);

/* The configuration file NAME a program reads when none is named: NAME in
 * the user's data directory if it is there, else PED_SYSCONFDIR/openped/NAME
 * if that is there (the system configuration, make install's), else the
 * user's (where a saving command creates it; "" without a data directory).
 * *system (may be NULL) says whether it is the system's. PED_OK. */
int ped_config_default_path(const char *name, char *out, size_t len, int *system);

#endif
