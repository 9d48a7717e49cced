/* PID files held with an fcntl write lock for the daemon's whole life: a live
 * daemon's file is locked, so a second instance is refused; a file left by a
 * crashed daemon is unlocked, so it is taken over rather than trusted. */
#ifndef PED_PIDFILE_H
#define PED_PIDFILE_H

#include <stddef.h>
#include <sys/types.h>

struct ped_pidfile {
	int fd;
	char path[512];
};

/* Creates and locks path, writes our pid. PED_E_PIDFILE with a message
 * ("already running as pid 1234 (/run/x.pid)") if a live process holds it.
 * Call it in the process that will live (after any fork: locks don't cross fork). */
int ped_pidfile_create(const char *path, struct ped_pidfile *pf, char *msg, size_t msglen);
/* Unlinks and unlocks. Safe on a zeroed struct. */
void ped_pidfile_remove(struct ped_pidfile *pf);
/* The pid of the live process holding path, or PED_E_NOT_FOUND if none does. */
int ped_pidfile_read(const char *path, pid_t *pid);

#endif
