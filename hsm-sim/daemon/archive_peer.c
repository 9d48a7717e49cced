/* Backup and restore across two hsm-sims: the halves' common pieces and
 * the application partition's halves (archive_peer.h). */
#include "archive_peer.h"

#include "hsm/result.h"
#include "ped/error.h"
#include "ped/log.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

int archive_peer_session(struct cmd_ctx *c)
{
	if (c->who.out && c->who.out->peer_put && c->who.out->peer_get)
		return 1;
	cmd_out(c, "Error: this is one half of a backup or restore between two hsm-sims: hsmcm runs it "
		   "(partition archive backup|restore -slot N, N a Backup HSM of another server)");
	return 0;
}

int archive_peer_get(struct cmd_ctx *c, uint8_t want, uint8_t **msg, size_t *len)
{
	int wait_ms = c->who.peds->ped_timeout_ms, r;

	/* the other half may be at its PED: as long as a ceremony may take */
	r = sim_peer_get(c->who.out, wait_ms, msg, len);
	if (r == PED_E_CLOSED) {
		ped_info("cloning: the other HSM's half ended first; nothing of this one is kept");
		return HSM_E_FUNCTION_CANCELED;
	}
	if (r == PED_E_TIMED_OUT) {
		cmd_out(c, "Error: nothing came from the other HSM for %d seconds: the cloning is abandoned, nothing "
			   "was kept.", wait_ms / 1000);
		return r;
	}
	if (r != PED_OK)
		return r; /* hsmcm went away: no one to tell */
	if (want && hsm_cw_kind(*msg, *len) != want && hsm_cw_kind(*msg, *len) != HSM_CW_TRAILER) {
		OPENSSL_clear_free(*msg, *len ? *len : 1);
		*msg = NULL;
		cmd_out(c, "Error: the other HSM sent something that is not part of this cloning: nothing was kept.");
		return HSM_E_ENCRYPTED_DATA_INVALID;
	}
	return PED_OK;
}

int archive_peer_send(struct cmd_ctx *c, struct hsm_cw *cw, struct sim_hsm *src_hs, const struct hsm_partition *src,
		      const uint64_t *handles, size_t nhandles)
{
	struct hsm_key_env env;
	uint8_t *msg = NULL;
	size_t len = 0;
	int r, sent = 0;

	hsm_partition_key_env(&src_hs->h, src, &env);
	for (uint32_t i = 0; i < src->nobjs; i++) {
		const struct hsm_obj *o = src->objs[i];
		CK_RV rv;
		if (!hsm_clone_selected(o, handles, nhandles))
			continue;
		/* what this HSM's policies keep from cloning never leaves it */
		if ((rv = hsm_kp_check(&env, HSM_KP_DO_CLONE, o, 0)) != CKR_OK) {
			cmd_tell_refused(c, o, o->handle, rv);
			continue;
		}
		if ((r = hsm_cw_seal_object(cw, o, &msg, &len)) != PED_OK) {
			if (r == PED_E_RANGE)
				cmd_out(c, "Error: object %llu is too large to cross to another HSM.",
					(unsigned long long)o->handle);
			return r;
		}
		r = sim_peer_put(c->who.out, msg, len);
		OPENSSL_free(msg);
		if (r != PED_OK)
			return r;
		sent++;
	}
	if ((r = hsm_cw_trailer(cw, &msg, &len)) != PED_OK)
		return r;
	r = sim_peer_put(c->who.out, msg, len);
	OPENSSL_free(msg);
	return r == PED_OK ? sent : r;
}

int archive_peer_receive(struct cmd_ctx *c, struct hsm_cw *cw, struct sim_hsm *dst_hs, struct hsm_partition *dst,
			 enum hsm_clone_mode mode, const char *what)
{
	struct hsm_obj **objs = OPENSSL_zalloc(HSM_MAX_OBJECTS * sizeof(*objs));
	uint64_t *from = OPENSSL_zalloc(HSM_MAX_OBJECTS * sizeof(*from));
	struct hsm_key_env env;
	uint8_t *msg = NULL;
	size_t len = 0, n = 0;
	int r, placed = 0;

	if (!objs || !from) {
		r = PED_E_HOST_MEMORY;
		goto out;
	}
	for (;;) {
		if ((r = archive_peer_get(c, HSM_CW_OBJECT, &msg, &len)) != PED_OK)
			goto out;
		if (hsm_cw_kind(msg, len) == HSM_CW_TRAILER) {
			r = hsm_cw_check_trailer(cw, msg, len);
			OPENSSL_clear_free(msg, len ? len : 1);
			msg = NULL;
			if (r != PED_OK)
				goto stream_bad;
			break;
		}
		if (n == HSM_MAX_OBJECTS) {
			cmd_out(c, "Error: more than %d objects came: nothing was kept.", HSM_MAX_OBJECTS);
			r = PED_E_RANGE;
			goto out;
		}
		r = hsm_cw_open_object(cw, msg, len, &objs[n], &from[n]);
		OPENSSL_clear_free(msg, len ? len : 1);
		msg = NULL;
		if (r != PED_OK)
			goto stream_bad;
		n++;
	}
	/* the whole stream verified: only now does anything reach dst */
	hsm_partition_key_env(&dst_hs->h, dst, &env);
	for (size_t i = 0; i < n; i++) {
		CK_RV rv = hsm_kp_check(&env, HSM_KP_DO_CLONE, objs[i], 0);
		if (rv != CKR_OK) {
			cmd_tell_refused(c, objs[i], from[i], rv);
			hsm_obj_free(objs[i]);
			objs[i] = NULL;
		}
	}
	size_t kept = 0;
	for (size_t i = 0; i < n; i++)
		if (objs[i]) {
			objs[kept] = objs[i];
			from[kept++] = from[i];
		}
	n = kept;
	uint32_t need = hsm_clone_room_for(dst, objs, n, mode);
	if (dst->nobjs + need > HSM_MAX_OBJECTS) {
		cmd_out(c, "Error: not enough room in %s for %u objects", what, need);
		r = PED_E_RANGE;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t handle = 0;
		struct hsm_obj *o = objs[i];
		objs[i] = NULL;
		if ((r = hsm_clone_place(dst, o, mode, &handle)) < 0)
			goto out;
		if (r == 1) {
			cmd_tell_cloned(c, from[i], handle, what);
			placed++;
		}
	}
	r = placed;
	goto out;
stream_bad:
	ped_warn("cloning from HSM %s: message %llu did not verify (%s); nothing kept", cw->peer_serial,
		 (unsigned long long)cw->seq, ped_err_name(r));
	cmd_out(c, "Error: the objects from HSM %s did not verify (altered, dropped, reordered or from another "
		   "session): nothing was kept.", cw->peer_serial);
	r = HSM_E_ENCRYPTED_DATA_INVALID;
out:
	OPENSSL_clear_free(msg, len ? len : 1);
	for (size_t i = 0; objs && i < HSM_MAX_OBJECTS; i++)
		if (objs[i])
			hsm_obj_free(objs[i]);
	OPENSSL_free(objs);
	OPENSSL_free(from);
	return r;
}

/* The partition's half, up to the Backup HSM's answer: the offer out, the
 * accept in (after the other half's PED work) and checked. On PED_OK cw is
 * ready for the objects; the caller clears it either way. */
static int partition_half_open(struct cmd_ctx *c, struct sim_hsm *hs, struct hsm_partition *p, uint8_t purpose,
			       uint8_t role, struct hsm_cw *cw, const char *answer_of)
{
	uint8_t *msg = NULL;
	size_t len = 0;
	int r;

	memset(cw, 0, sizeof(*cw));
	if (!archive_peer_session(c))
		return PED_E_ARGUMENTS_BAD;
	if ((r = cmd_cloning_key(c, hs, p)) != PED_OK)
		return r;
	if ((r = hsm_cw_init(cw, purpose, role, p->domain_key, hs->h.serial, p->name)) != PED_OK)
		return r;
	if ((r = hsm_cw_offer(cw, &msg, &len)) != PED_OK || (r = sim_peer_put(c->who.out, msg, len)) != PED_OK)
		goto out;
	OPENSSL_free(msg);
	msg = NULL;
	/* the Backup HSM's PED work comes first: its answer once it is done */
	if ((r = archive_peer_get(c, HSM_CW_ACCEPT, &msg, &len)) != PED_OK)
		goto out;
	if ((r = hsm_cw_confirm(cw, msg, len)) != PED_OK) {
		cmd_out(c, "Error: %s did not verify: it is in another cloning domain or the answer is not to this %s.",
			answer_of, purpose == HSM_CW_BACKUP ? "backup" : "restore");
		r = PED_E_CERTIFICATE_INVALID;
	}
out:
	OPENSSL_clear_free(msg, len ? len : 1);
	return r;
}

int archive_peer_backup(struct cmd_ctx *c, struct sim_hsm *hs, struct hsm_partition *p, const uint64_t *handles,
			size_t nhandles)
{
	struct hsm_cw cw;
	int r, n;

	if ((r = partition_half_open(c, hs, p, HSM_CW_BACKUP, HSM_CW_SENDER, &cw, "the Backup HSM's answer")) != PED_OK)
		goto out;
	cmd_out(c, "Verifying that all objects can be backed up...");
	cmd_out(c, "%u objects will be backed up.", handles ? (unsigned)nhandles : p->nobjs);
	cmd_out(c, "Backing up objects...");
	n = archive_peer_send(c, &cw, hs, p, handles, nhandles);
	r = n < 0 ? n : PED_OK;
out:
	hsm_cw_clear(&cw);
	return r;
}

int archive_peer_restore(struct cmd_ctx *c, struct sim_hsm *hs, struct hsm_partition *p, int replace)
{
	struct hsm_partition *copy = NULL;
	const char *what = p->label[0] ? p->label : p->name;
	struct hsm_cw cw;
	int r, n;

	if ((r = partition_half_open(c, hs, p, HSM_CW_RESTORE, HSM_CW_RECEIVER, &cw, "the backup's answer")) != PED_OK)
		goto out;
	if (!(copy = OPENSSL_zalloc(sizeof(*copy))) || hsm_partition_copy(copy, p) != PED_OK) {
		r = PED_E_HOST_MEMORY;
		goto out;
	}
	n = archive_peer_receive(c, &cw, hs, copy, replace ? HSM_CLONE_MISSING_OR_CHANGED : HSM_CLONE_MISSING, what);
	if (n < 0) {
		r = n;
		goto out;
	}
	hsm_partition_move(p, copy);
	if ((r = sim_save(hs)) == PED_OK)
		cmd_out(c, "Restore Complete. %d objects have been restored.", n);
out:
	if (copy) {
		hsm_part_obj_clear(copy);
		OPENSSL_clear_free(copy, sizeof(*copy));
	}
	hsm_cw_clear(&cw);
	return r;
}
