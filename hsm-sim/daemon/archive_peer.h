/* Backup and restore across two hsm-sims (cmd_archive.c; the protocol is
 * hsm/clonewire.h, the frames HSM_CTL_PEER_* of hsm/control.h): each HSM
 * runs its own half, as a command of its own session, and the objects go
 * through hsmcm sealed. These are the pieces both halves use. */
#ifndef HSM_SIM_ARCHIVE_PEER_H
#define HSM_SIM_ARCHIVE_PEER_H

#include "command.h"

#include "hsm/clonewire.h"

/* The other half's next message, of kind want (0: an offer or accept is
 * checked by the caller). Tells why there is none; the other half having
 * ended is HSM_E_FUNCTION_CANCELED, told only in the log (hsmcm reports the
 * other half's own failure). */
int archive_peer_get(struct cmd_ctx *c, uint8_t want, uint8_t **msg, size_t *len);
/* Sends src's objects (those of handles; all without) but those src's
 * policies keep (told), then the trailer. The number sent, or the error. */
int archive_peer_send(struct cmd_ctx *c, struct hsm_cw *cw, struct sim_hsm *src_hs, const struct hsm_partition *src,
		      const uint64_t *handles, size_t nhandles);
/* Receives the other half's objects into dst (the caller's copy) under
 * mode; nothing is placed before the trailer verifies, then dst's
 * policies are applied (a refusal told) and each object placed, told as a
 * cloning in one process tells it (what: dst's name). The number placed, or
 * the error (told). */
int archive_peer_receive(struct cmd_ctx *c, struct hsm_cw *cw, struct sim_hsm *dst_hs, struct hsm_partition *dst,
			 enum hsm_clone_mode mode, const char *what);
/* Whether this command runs as one half of a relayed cloning (hsmcm sent
 * it as HSM_CTL_CMD_PEER); tells the operator otherwise. */
int archive_peer_session(struct cmd_ctx *c);

/* The application partition's halves (the current slot, its Crypto Officer
 * logged in, HSM policies 7 and 16 checked): backup sends, restore receives. */
int archive_peer_backup(struct cmd_ctx *c, struct sim_hsm *hs, struct hsm_partition *p, const uint64_t *handles,
			size_t nhandles);
int archive_peer_restore(struct cmd_ctx *c, struct sim_hsm *hs, struct hsm_partition *p, int replace);

#endif
