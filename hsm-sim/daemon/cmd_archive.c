/* partition archive backup|restore|list|delete: chapter 12 with a backup HSM
 * slot, and the -append / -replace / -add rules of the archive references.
 * Nothing changes on either side until every credential has been presented
 * and the domains match. A backup or restore holds the command locks of
 * both HSMs, taken in index order. */
#include "archive_peer.h"
#include "command.h"

#include "hsm/result.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Whether target may take the source's objects: the same cloning domain.
 * In one process the verifiers say; across two (src NULL) the source's
 * offer must verify under target's cloning key, and the answer to it is
 * made (sent once this HSM's PED work is done). */
static int same_domain(struct hsm_cw *cw, const struct sim_hsm *bh, const struct hsm_partition *target,
		       const struct hsm_partition *src, const uint8_t *offer, size_t offerlen, uint8_t **accept,
		       size_t *acceptlen)
{
	int r;
	if (src)
		return hsm_same_domain(&target->domain, &src->domain) ? PED_OK : PED_E_CERTIFICATE_INVALID;
	if (!target->domain_key_set)
		return PED_E_CERTIFICATE_INVALID;
	hsm_cw_clear(cw);
	if ((r = hsm_cw_init(cw, HSM_CW_BACKUP, HSM_CW_RECEIVER, target->domain_key, bh->h.serial, target->name)) != PED_OK)
		return r;
	r = hsm_cw_accept(cw, offer, offerlen, accept, acceptlen);
	return r == PED_E_CORRUPT ? PED_E_CERTIFICATE_INVALID : r;
}

/* A backup into bh: from src (of src_hs) in this process, or, src NULL,
 * from the partition across hsmcm whose offer is given (this is then the
 * Backup HSM's half: archive_peer.h). */
static int backup(struct cmd_ctx *c, struct sim_hsm *src_hs, struct hsm_partition *src, struct sim_hsm *bh, int slot,
		  const char *name, int append, int replace, const uint64_t *handles, size_t nhandles,
		  const uint8_t *offer, size_t offerlen)
{
	struct hsm_partition *existing = hsm_partition_find(&bh->h, name), *tmp = NULL, *target;
	struct hsm_cw cw;
	uint8_t *accept = NULL;
	size_t acceptlen = 0;
	int r, n;

	memset(&cw, 0, sizeof(cw));
	if (!(tmp = calloc(1, sizeof(*tmp))))
		return PED_E_HOST_MEMORY;
	cmd_out(c, "Logging in as the SO on slot %d.", slot);
	if ((r = auth_ped_login(&c->who, bh, NULL, auth_role("so"), NULL)) != PED_OK)
		goto out;
	if (!existing) {
		uint8_t secret[HSM_SECRET_LEN];
		struct ped_app_created info;
		snprintf(tmp->name, sizeof(tmp->name), "%s", name);
		snprintf(tmp->label, sizeof(tmp->label), "%s", name);
		hsm_partition_defaults(tmp);
		cmd_out(c, "Creating partition %s on slot %d.", name, slot);
		cmd_out(c, "Please attend to the PED.");
		if ((r = pedport_create(cmd_ped(c, bh), c->who.out, PED_KEY_SO, "SETTING PO PIN...", "Partition SO", "BLUE", 1,
					secret, &info)) != PED_OK)
			goto out;
		hsm_credential_set(&tmp->po.cred, secret, sizeof(secret), info.m, info.n, info.keyset_id);
		OPENSSL_cleanse(secret, sizeof(secret)); /* before any exit below leaves it on the stack */
		tmp->initialized = 1;
		cmd_out(c, "Logging into the container %s on slot %d as the user.", name, slot);
		if ((r = auth_ped_login(&c->who, bh, tmp, auth_role("po"), NULL)) != PED_OK)
			goto out;
		cmd_out(c, "Creating Domain for the partition %s on slot %d.", name, slot);
		cmd_out(c, "Please attend to the PED.");
		if ((r = pedport_create(cmd_ped(c, bh), c->who.out, PED_KEY_DOMAIN, "SETTING DOMAIN...", "Domain", "RED", 1, secret,
					&info)) != PED_OK)
			goto out;
		r = hsm_partition_set_domain(tmp, secret, sizeof(secret), info.m, info.n, info.keyset_id);
		OPENSSL_cleanse(secret, sizeof(secret));
		if (r != PED_OK)
			goto out;
		if ((r = same_domain(&cw, bh, tmp, src, offer, offerlen, &accept, &acceptlen)) != PED_OK) {
			if (r == PED_E_CERTIFICATE_INVALID)
				cmd_out(c, "Error: the domain presented is not the source partition's domain.");
			goto out;
		}
		cmd_out(c, "Logging into the container %s on slot %d as the user.", name, slot);
		if ((r = auth_ped_login(&c->who, bh, tmp, auth_role("po"), NULL)) != PED_OK)
			goto out;
		cmd_out(c, "Initializing the Crypto Officer of %s on slot %d.", name, slot);
		cmd_out(c, "Please attend to the PED.");
		if ((r = pedport_create(cmd_ped(c, bh), c->who.out, PED_KEY_USER, "SETTING CO PIN...", "Crypto Officer", "BLACK", 1,
					secret, &info)) != PED_OK)
			goto out;
		hsm_credential_set(&tmp->co.cred, secret, sizeof(secret), info.m, info.n, info.keyset_id);
		OPENSSL_cleanse(secret, sizeof(secret));
		cmd_out(c, "Logging into the container %s on slot %d as the Crypto Officer.", name, slot);
		if ((r = auth_ped_login(&c->who, bh, tmp, auth_role("co"), NULL)) != PED_OK)
			goto out;
		target = tmp;
	} else {
		cmd_out(c, "Logging into the container %s on slot %d as the user.", name, slot);
		if ((r = auth_ped_login(&c->who, bh, existing, auth_role("po"), NULL)) != PED_OK)
			goto out;
		cmd_out(c, "Logging into the container %s on slot %d as the Crypto Officer.", name, slot);
		if ((r = auth_ped_login(&c->who, bh, existing, auth_role("co"), NULL)) != PED_OK)
			goto out;
		/* a backup made before state version 8: its red key gives its cloning key */
		if (hsm_same_domain(&existing->domain, src ? &src->domain : &existing->domain) &&
		    (r = cmd_cloning_key(c, bh, existing)) != PED_OK)
			goto out;
		if ((r = same_domain(&cw, bh, existing, src, offer, offerlen, &accept, &acceptlen)) != PED_OK) {
			if (r == PED_E_CERTIFICATE_INVALID)
				cmd_out(c, "Error: backup partition %s is in another cloning domain.", name);
			goto out;
		}
		if ((r = hsm_partition_copy(tmp, existing)) != PED_OK) /* work on a copy: all or nothing */
			goto out;
		target = tmp;
		if (!append)
			hsm_part_obj_clear(target); /* -replace (the default): a new backup */
		(void)replace;
	}
	enum hsm_clone_mode mode = !append ? HSM_CLONE_ALL : replace ? HSM_CLONE_MISSING_OR_CHANGED : HSM_CLONE_MISSING;
	if (src) {
		cmd_out(c, "Verifying that all objects can be backed up...");
		cmd_out(c, "%u objects will be backed up.", handles ? (unsigned)nhandles : src->nobjs);
		cmd_out(c, "Backing up objects...");
		n = cmd_clone_objects(c, bh, target, src_hs, src, mode, handles, nhandles, name);
	} else {
		/* the source's half tells what it verifies and sends */
		if ((r = sim_peer_put(c->who.out, accept, acceptlen)) != PED_OK)
			goto out;
		n = archive_peer_receive(c, &cw, bh, target, mode, name);
	}
	if (n < 0) {
		r = n;
		goto out;
	}
	if (existing) {
		hsm_partition_move(existing, target);
	} else {
		struct hsm_partition *np;
		if ((r = hsm_partition_create(&bh->h, name, &np)) != PED_OK) {
			cmd_out(c, "Error: no room for another backup partition on slot %d", slot);
			goto out;
		}
		hsm_partition_move(np, target);
	}
	if ((r = sim_save(bh)) != PED_OK)
		goto out;
	cmd_out(c, "Backup Complete.");
	cmd_out(c, "%d objects have been backed up to partition %s", n, name);
	cmd_out(c, "on slot %d.", slot);
out:
	hsm_part_obj_clear(tmp);
	OPENSSL_clear_free(tmp, sizeof(*tmp));
	OPENSSL_free(accept);
	hsm_cw_clear(&cw);
	return r;
}

/* The Backup HSM's half of a restore across two hsm-sims: the backup's
 * Crypto Officer at this HSM's PED, then its objects, sealed, to the
 * partition whose offer came through hsmcm. */
static int restore_send(struct cmd_ctx *c, struct sim_hsm *bh, int slot, const char *name)
{
	struct hsm_partition *bp = hsm_partition_find(&bh->h, name);
	struct hsm_cw cw;
	uint8_t *offer = NULL, *accept = NULL;
	size_t offerlen = 0, acceptlen = 0;
	int r, n;

	memset(&cw, 0, sizeof(cw));
	if (!bp) {
		cmd_out(c, "Error: no backup partition %s on slot %d", name, slot);
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = archive_peer_get(c, HSM_CW_OFFER, &offer, &offerlen)) != PED_OK)
		return r;
	cmd_out(c, "Logging into the container %s on slot %d as the user.", name, slot);
	if ((r = auth_ped_login(&c->who, bh, bp, auth_role("co"), NULL)) != PED_OK)
		goto out;
	if (!(bp = hsm_partition_find(&bh->h, name))) {
		r = PED_E_ARGUMENTS_BAD;
		goto out;
	}
	/* a backup made before state version 8: its red key gives its cloning key */
	if ((r = cmd_cloning_key(c, bh, bp)) != PED_OK)
		goto out;
	if (!bp->domain_key_set ||
	    (r = hsm_cw_init(&cw, HSM_CW_RESTORE, HSM_CW_SENDER, bp->domain_key, bh->h.serial, bp->name)) != PED_OK ||
	    (r = hsm_cw_accept(&cw, offer, offerlen, &accept, &acceptlen)) != PED_OK) {
		cmd_out(c, "Error: backup %s and the target partition are in different cloning domains.", name);
		r = PED_E_CERTIFICATE_INVALID;
		goto out;
	}
	if ((r = sim_peer_put(c->who.out, accept, acceptlen)) != PED_OK)
		goto out;
	cmd_out(c, "Restoring objects...");
	n = archive_peer_send(c, &cw, bh, bp, NULL, 0);
	r = n < 0 ? n : PED_OK;
out:
	OPENSSL_clear_free(offer, offerlen ? offerlen : 1);
	OPENSSL_free(accept);
	hsm_cw_clear(&cw);
	return r;
}

/* The Backup HSM's half of a backup across two hsm-sims: the source's
 * offer first (it tells the default name and, against the domain this HSM's
 * PED presents, the domain), then the PED work of a backup in one process. */
static int backup_receive(struct cmd_ctx *c, struct sim_hsm *bh, int slot, const char *name, int append, int replace)
{
	char serial[HSM_CW_SERIAL_MAX + 1], source[HSM_CW_NAME_MAX + 1], dflt[HSM_LABEL_MAX + 1];
	uint8_t *offer = NULL;
	size_t offerlen = 0;
	int r;

	if ((r = archive_peer_get(c, HSM_CW_OFFER, &offer, &offerlen)) != PED_OK)
		return r;
	if (hsm_cw_peek(offer, offerlen, serial, source) != PED_OK) {
		cmd_out(c, "Error: the source HSM sent something that is not part of this cloning: nothing was kept.");
		r = HSM_E_ENCRYPTED_DATA_INVALID;
		goto out;
	}
	if (!name) {
		/* as the source's hsm-sim names a backup in one process */
		time_t now = time(NULL);
		struct tm tm;
		char date[16];
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%Y%m%d", &tm);
		snprintf(dflt, sizeof(dflt), "%.20s_%.8s", source, date);
		name = dflt;
	}
	if (!hsm_label_valid(name)) {
		cmd_out(c, "Error: bad backup partition name");
		r = PED_E_ARGUMENTS_BAD;
		goto out;
	}
	r = backup(c, NULL, NULL, bh, slot, name, append, replace, NULL, 0, offer, offerlen);
out:
	OPENSSL_clear_free(offer, offerlen ? offerlen : 1);
	return r;
}

static int restore(struct cmd_ctx *c, struct sim_hsm *hs, struct hsm_partition *p,
		   struct sim_hsm *bh, int slot, const char *name, int replace)
{
	struct hsm_partition *bp = hsm_partition_find(&bh->h, name), *copy;
	int r, n;

	if (!bp) {
		cmd_out(c, "Error: no backup partition %s on slot %d", name, slot);
		return PED_E_ARGUMENTS_BAD;
	}
	cmd_out(c, "Logging into the container %s on slot %d as the user.", name, slot);
	if ((r = auth_ped_login(&c->who, bh, bp, auth_role("co"), NULL)) != PED_OK)
		return r;
	if (!hsm_same_domain(&bp->domain, &p->domain)) {
		cmd_out(c, "Error: backup %s and the target partition are in different cloning domains.", name);
		return PED_E_CERTIFICATE_INVALID;
	}
	/* made before state version 8: their red keys give the cloning keys */
	if ((r = cmd_cloning_key(c, bh, bp)) != PED_OK || (r = cmd_cloning_key(c, hs, p)) != PED_OK)
		return r;
	if (!(copy = OPENSSL_zalloc(sizeof(*copy))) || hsm_partition_copy(copy, p) != PED_OK) {
		OPENSSL_free(copy);
		return PED_E_HOST_MEMORY;
	}
	cmd_out(c, "Restoring objects...");
	n = cmd_clone_objects(c, hs, copy, bh, bp, replace ? HSM_CLONE_MISSING_OR_CHANGED : HSM_CLONE_MISSING, NULL, 0,
			 p->label[0] ? p->label : p->name);
	if (n >= 0) {
		hsm_partition_move(p, copy);
		r = sim_save(hs);
		if (r == PED_OK)
			cmd_out(c, "Restore Complete. %d objects have been restored.", n);
	} else {
		r = n;
	}
	hsm_part_obj_clear(copy);
	OPENSSL_clear_free(copy, sizeof(*copy));
	return r;
}

static int cmd_archive(struct cmd_ctx *c, int argc, char **argv)
{
	struct ped_opt o[] = {{.name = "slot", .aliases = "s", .kind = PED_OPT_INT, .min = 0, .max = 100000, .help = "backup HSM slot"},
			      {.name = "partition", .aliases = "par", .kind = PED_OPT_STRING, .help = "backup partition name"},
			      {.name = "append", .aliases = "a", .kind = PED_OPT_FLAG, .help = "backup: add new objects only"},
			      {.name = "replace", .aliases = "rep r", .kind = PED_OPT_FLAG, .help = "replace (see the reference)"},
			      {.name = "add", .kind = PED_OPT_FLAG, .help = "restore: add the objects"},
			      {.name = "objects", .aliases = "o", .kind = PED_OPT_STRING,
			       .help = "backup: handles (3,4,6), or 0 or all"},
			      {.name = "smkonly", .aliases = "smk", .kind = PED_OPT_FLAG, .help = "backup the SKS master key only"},
			      /* passwords of password-authenticated HSMs: these use the PED */
			      {.name = "password", .aliases = "pas", .kind = PED_OPT_OPTIONAL,
			       .help = "the backup partition's password (PED here)"},
			      {.name = "sopassword", .aliases = "sop", .kind = PED_OPT_OPTIONAL,
			       .help = "the backup HSM SO's password (PED here)"},
			      {.name = "domain", .aliases = "do", .kind = PED_OPT_STRING, .help = "domain string (PED here)"},
			      {.name = "defaultdomain", .aliases = "def", .kind = PED_OPT_FLAG, .help = "default domain (PED here)"},
			      {.name = "force", .aliases = "f", .kind = PED_OPT_FLAG, .help = "no prompting"},
			      {.name = "debug", .aliases = "deb", .kind = PED_OPT_FLAG, .help = "more error information"},
			      /* hsmcm's, for a Backup HSM of another hsm-sim: this partition's half */
			      {.name = "peer", .kind = PED_OPT_FLAG, .help = "(hsmcm) the Backup HSM is another hsm-sim's"},
			      {.name = NULL}};
	uint64_t handles[HSM_MAX_OBJECTS];
	size_t nhandles = 0;
	int r, some = 0;

	/* as for partition's other commands, the current slot must exist */
	if (!cmd_current(c, NULL, NULL))
		return PED_E_TOKEN_NOT_PRESENT;
	if (argc < 3) {
		cmd_out(c, "Usage: partition archive backup|restore|list|contents|delete -slot N ...");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = cmd_parse(c, o, argc, argv, 3)) != PED_OK)
		return r == 1 ? PED_OK : r;
	/* this HSM's partitions authenticate with the PED: a password given is not used */
	if (ped_opts_seen(o, "password") || ped_opts_seen(o, "sopassword") || ped_opts_seen(o, "domain") ||
	    ped_opts_seen(o, "defaultdomain"))
		cmd_out(c, "The partitions of these HSMs are PED-authenticated: the PED is asked for the keys; "
			   "-password, -sopassword and -domain are not used.");
	const char *verb = argv[2];
	int peer = ped_opts_seen(o, "peer");
	if (peer && strcasecmp(verb, "backup") && strcasecmp(verb, "restore")) {
		cmd_out(c, "Error: -peer is for backup and restore");
		return PED_E_ARGUMENTS_BAD;
	}
	if (!peer && !ped_opts_seen(o, "slot")) {
		cmd_out(c, "Error: -slot (the backup HSM's slot) is required");
		return PED_E_ARGUMENTS_BAD;
	}
	int slot = (int)ped_opts_num(o, "slot", 0);
	if (peer && ped_opts_seen(o, "slot")) {
		cmd_out(c, "Error: -peer names no -slot: the Backup HSM is another hsm-sim's");
		return PED_E_ARGUMENTS_BAD;
	}
	/* the backup HSM's lock besides the current slot's HSM's, in index order */
	struct sim_hsm *bh = peer ? NULL : sim_hsm_of_slot(c->sim, slot);
	if (bh && !cmd_hsm_served(c, bh)) /* as if it were not there: a narrowed session learns nothing of it */
		bh = NULL;
	if (bh)
		sim_hold(&c->hold, bh, NULL);
	if (!peer && (!bh || slot != bh->base_slot || !bh->h.is_backup)) {
		cmd_out(c, "Error: slot %d is not a backup HSM", slot);
		return PED_E_ARGUMENTS_BAD;
	}
	if (peer) {
		;
	} else if (!strcasecmp(verb, "peerbackup") || !strcasecmp(verb, "peerrestore")) {
		/* the Backup HSM's half of a cloning across two hsm-sims */
		if (!archive_peer_session(c))
			return PED_E_ARGUMENTS_BAD;
		if ((r = cmd_cloning_allowed(c, bh, 0)) != PED_OK)
			return r;
		if (!strcasecmp(verb, "peerbackup"))
			return backup_receive(c, bh, slot, ped_opts_str(o, "partition", NULL), ped_opts_seen(o, "append"),
					      ped_opts_seen(o, "replace"));
		if (!ped_opts_seen(o, "partition")) {
			cmd_out(c, "Error: -partition is required");
			return PED_E_ARGUMENTS_BAD;
		}
		return restore_send(c, bh, slot, ped_opts_str(o, "partition", ""));
	} else if (!strcasecmp(verb, "list")) {
		for (uint32_t i = 0; i < bh->h.npartitions; i++)
			cmd_out(c, "Partition: %s  Objects: %u", bh->h.partitions[i].name,
				 bh->h.partitions[i].nobjs);
		cmd_out(c, "%u backup partitions on slot %d.", bh->h.npartitions, slot);
		return PED_OK;
	}
	if (!strcasecmp(verb, "contents")) {
		/* what a backup holds, as partition contents shows a partition's:
		 * its Crypto Officer's to see, as its objects are to restore */
		const char *name = ped_opts_str(o, "partition", NULL);
		struct hsm_partition *bp = name ? hsm_partition_find(&bh->h, name) : NULL;
		if (!bp) {
			cmd_out(c, "Error: -partition must name a backup on slot %d", slot);
			return PED_E_ARGUMENTS_BAD;
		}
		cmd_out(c, "Logging into the container %s on slot %d as the Crypto Officer.", name, slot);
		if ((r = auth_ped_login(&c->who, bh, bp, auth_role("co"), NULL)) != PED_OK)
			return r;
		if (!(bp = hsm_partition_find(&bh->h, name)))
			return PED_E_ARGUMENTS_BAD;
		cmd_out(c, "Backup partition %s on slot %d:", name, slot);
		cmd_list_objects(c, bp);
		return PED_OK;
	}
	if (!strcasecmp(verb, "delete")) {
		const char *name = ped_opts_str(o, "partition", NULL);
		if (!name || !hsm_partition_find(&bh->h, name)) {
			cmd_out(c, "Error: -partition must name a backup on slot %d", slot);
			return PED_E_ARGUMENTS_BAD;
		}
		cmd_out(c, "Logging in as the SO on slot %d.", slot);
		if ((r = auth_ped_login(&c->who, bh, NULL, auth_role("so"), NULL)) != PED_OK)
			return r;
		struct hsm_partition *dp = hsm_partition_find(&bh->h, name);
		if (!dp)
			return PED_E_ARGUMENTS_BAD;
		hsm_partition_delete(&bh->h, (uint32_t)(dp - bh->h.partitions));
		/* the partitions after it moved down a slot: no login may follow them */
		sim_logins_end(c->who.logins, bh, 0);
		cmd_out(c, "Backup partition %s deleted.", name);
		return sim_save(bh);
	}
	/* backup and restore work on the current slot's partition, as its CO */
	struct hsm_partition *p;
	int pi = 0;
	struct sim_hsm *hs = sim_hsm_of_slot(c->sim, *c->slot);
	if (!hs || !sim_slot_resolve(hs, *c->slot, &p, &pi) || !p) {
		cmd_out(c, "Error: select the application partition's slot first");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = auth_need(&c->who, sim_login(c->who.logins, hs), HSM_ROLE_CO, pi, "the Crypto Officer of the partition")) !=
	    PED_OK)
		return r;
	/* cloning out of or into the user partition's HSM: HSM policies 7 and 16 (chapter 12) */
	if ((r = cmd_cloning_allowed(c, hs, 1)) != PED_OK || (!peer && (r = cmd_cloning_allowed(c, bh, 0)) != PED_OK))
		return r;
	if (!strcasecmp(verb, "backup")) {
		char name[HSM_LABEL_MAX + 1];
		if (ped_opts_seen(o, "smkonly")) {
			cmd_out(c, "Error: -smkonly backs up the SKS master key (SMK) of a V1 partition; the partitions "
				   "of this HSM are V0 partitions and hold no SMK. Back up their objects instead.");
			return HSM_E_FUNCTION_NOT_SUPPORTED;
		}
		if (ped_opts_seen(o, "objects") &&
		    (r = cmd_handles(c, p, ped_opts_str(o, "objects", ""), handles, &nhandles, &some)) != PED_OK)
			return r;
		if (peer) /* the Backup HSM's half names it */
			return archive_peer_backup(c, hs, p, some ? handles : NULL, nhandles);
		if (ped_opts_seen(o, "partition")) {
			snprintf(name, sizeof(name), "%s", ped_opts_str(o, "partition", ""));
		} else {
			time_t now = time(NULL);
			struct tm tm;
			gmtime_r(&now, &tm);
			char date[16];
			strftime(date, sizeof(date), "%Y%m%d", &tm);
			snprintf(name, sizeof(name), "%.20s_%.8s", p->name, date);
		}
		if (!hsm_label_valid(name)) {
			cmd_out(c, "Error: bad backup partition name");
			return PED_E_ARGUMENTS_BAD;
		}
		/* a partition from before state version 8: its red key gives its cloning key */
		if ((r = cmd_cloning_key(c, hs, p)) != PED_OK)
			return r;
		return backup(c, hs, p, bh, slot, name, ped_opts_seen(o, "append"), ped_opts_seen(o, "replace"),
			      some ? handles : NULL, nhandles, NULL, 0);
	}
	if (!strcasecmp(verb, "restore")) {
		if (peer) /* the Backup HSM's half names the backup */
			return archive_peer_restore(c, hs, p, ped_opts_seen(o, "replace"));
		if (!ped_opts_seen(o, "partition")) {
			cmd_out(c, "Error: -partition is required");
			return PED_E_ARGUMENTS_BAD;
		}
		return restore(c, hs, p, bh, slot, ped_opts_str(o, "partition", ""),
			       ped_opts_seen(o, "replace"));
	}
	cmd_out(c, "Error: unknown archive command '%s'", verb);
	return PED_E_ARGUMENTS_BAD;
}

SIM_COMMAND_VERBS(archive, "partition", "par", "archive", 3, cmd_archive,
		  "backup restore list contents delete peerbackup peerrestore")
