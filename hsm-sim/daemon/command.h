/* The operator commands, in lunacm's syntax (chapters 5, 8 and 12): one file
 * per command family, each registering itself, so commands.c needs no list
 * (as pedtool's commands do):
 *
 *   SIM_COMMAND(id, "name", "alias" or NULL, "verb" or NULL, rank, fn)
 *   SIM_COMMAND_VERBS(id, ..., fn, "verb verb ...")
 *
 * A command with a verb runs for "name verb ..." (partition archive), ahead
 * of the family's own entry. As in lunacm, a command name, and a verb the
 * family lists (or, for a verb command, the word after its verb), may be
 * shortened to any unique prefix ("par ar r": partition archive restore). Commands see their session only through a
 * struct cmd_ctx: output goes to an interface (out.h), not to a socket, and
 * each command takes the command locks of the HSMs it touches itself
 * (cmd_current, or sim_hold on ctx->hold); what it holds is given back when
 * it returns. */
#ifndef HSM_SIM_COMMAND_H
#define HSM_SIM_COMMAND_H

#include "auth.h"
#include "out.h"
#include "sim.h"

#include "ped/opts.h"

#include "hsm/control.h"

#define CMD_LINE_MAX 4096 /* the longest command line */
#define CMD_MAX_ARGS 32   /* words of a command line */

struct cmd_ctx {
	struct sim *sim;
	struct auth_ctx who;  /* output, the session's logins, the PED ports */
	int *slot;            /* the session's current slot */
	struct sim_hold hold; /* the HSM command locks this command holds */
	int success_style;    /* a success the reference words "0 (Success)" (ped set) */
	int network;          /* a registered network client's shell: partitions only */
	/* a relay narrowed the session to these HSMs (HSM_CTL_RESTRICT: rbs);
	 * NULL: not narrowed */
	const struct hsm_ctl_restrict *served;
	/* words the command line was rewritten into (whole verbs, -options,
	 * values of several words): they live, and are wiped, with the command */
	char words[2 * CMD_LINE_MAX + 2 * CMD_MAX_ARGS];
	size_t words_used;
	char *argv[CMD_MAX_ARGS];
};

struct sim_command {
	const char *name, *alias, *verb;
	int rank; /* place in the list an unknown command shows */
	int (*run)(struct cmd_ctx *c, int argc, char **argv); /* argv[0] is the name */
	const char *verbs; /* the words that may follow (space-separated), or NULL */
};

void sim_command_register(const struct sim_command *cmd);

#define SIM_COMMAND_VERBS(id, cname, calias, cverb, crank, fn, cverbs)                          \
	static const struct sim_command id##_sim_cmd = {cname, calias, cverb, crank, fn, cverbs}; \
	__attribute__((constructor)) static void id##_sim_register(void)                         \
	{                                                                                         \
		sim_command_register(&id##_sim_cmd);                                              \
	}
#define SIM_COMMAND(id, cname, calias, cverb, crank, fn) SIM_COMMAND_VERBS(id, cname, calias, cverb, crank, fn, NULL)

/* Runs one command line; the result code (PED_OK or an error). The line is
 * wiped from the copy cut into words (it may carry a secret). */
int cmd_run(struct cmd_ctx *c, const char *line);

#define cmd_out(c, ...) sim_outf((c)->who.out, __VA_ARGS__)

/* Parses options after the command words, telling the error itself; 1 after
 * printing -help. As lunacm does, an option's name may come without its
 * dash ("slot set slot 1", "ped connect ip 10.1.2.3"), and a value of
 * several words need not be quoted ("role login -name Crypto Officer"). */
int cmd_parse(struct cmd_ctx *c, struct ped_opt *opts, int argc, char **argv, int first);
/* Before a ceremony writes a new keyset for a role in use (role changepw,
 * resetpw, init over a role already set, hsm init of an initialized HSM):
 * saves the state, telling the operator when it cannot. The keys, often
 * the role's own, are written before the HSM can save the new keyset; a
 * save failing then took the HSM back to the old keyset while the keys
 * held the new one, and no key opened the role (every try a failed
 * login). A store already full refuses the command before the PED writes
 * anything. */
int cmd_save_before_keys(struct cmd_ctx *c, struct sim_hsm *hs);
/* Labels longer than 32 characters are cut to 32, as documented. */
int cmd_label(struct cmd_ctx *c, const char *in, char out[HSM_LABEL_MAX + 1], int partition);
/* Asks the operator at hsmcm's terminal (sim_ask), with this command's HSM
 * locks given back meanwhile: the caller checks again what it relies on.
 * Tells why there was no answer. */
int cmd_ask(struct cmd_ctx *c, const char *prompt, int secret, char *answer, size_t size);
/* Whether the operator can answer a prompt (hsmcm has a terminal). */
int cmd_can_ask(const struct cmd_ctx *c);
/* A destructive command's confirmation, as the reference asks it ("Type
 * 'proceed' to continue, or 'quit' to quit now"): PED_OK with force or
 * "proceed"; PED_E_CANCEL on anything else; PED_E_ARGUMENTS_BAD, told,
 * without force when no terminal can answer. The locks are given back
 * while the operator answers (cmd_ask). */
int cmd_confirm(struct cmd_ctx *c, int force, const char *what);
/* -objects: "0" or "all" (*some 0), or handles of p's objects separated by
 * commas, into out (up to HSM_MAX_OBJECTS, *n of them, *some 1). Tells an
 * error itself. */
int cmd_handles(struct cmd_ctx *c, const struct hsm_partition *p, const char *list, uint64_t *out, size_t *n,
		int *some);
/* src's objects (of src_hs) into dst (of dst_hs) by hsm_clone_objects,
 * under both ends' policies, each told as the reference tells it ("Cloned
 * object 99 to partition what (new handle 19)."); a refusal is told too,
 * naming the object a policy keeps. The number cloned, or the error. */
int cmd_clone_objects(struct cmd_ctx *c, struct sim_hsm *dst_hs, struct hsm_partition *dst, struct sim_hsm *src_hs,
		      const struct hsm_partition *src, enum hsm_clone_mode mode, const uint64_t *handles,
		      size_t nhandles, const char *what);
/* The lines cmd_clone_objects tells for an object cloned (its handle in the
 * source, in the target what) and for one a policy keeps (handle: its
 * handle where the operator knows it). */
void cmd_tell_cloned(struct cmd_ctx *c, uint64_t from, uint64_t to, const char *what);
void cmd_tell_refused(struct cmd_ctx *c, const struct hsm_obj *o, uint64_t handle, CK_RV rv);
/* An object's CKA_LABEL, printable, into out. */
void cmd_obj_label(const struct hsm_obj *o, char *out, size_t size);
/* Its class and key type as the reference shows them ("Private Key", "RSA"). */
const char *cmd_class_name(const struct hsm_obj *o);
const char *cmd_key_type_name(const struct hsm_obj *o);
/* p's objects, one line each (label, handle, class, key type, CKA_ID in
 * hex, OUID), then their number: partition contents and archive contents. */
void cmd_list_objects(struct cmd_ctx *c, const struct hsm_partition *p);
/* HSM policies 7 and 16 for a cloning that moves objects into or out of
 * hs (user_partition: a backup's source or a restore's target, where 16
 * applies too); PED_E_ACTION_PROHIBITED, told, when one is off. */
int cmd_cloning_allowed(struct cmd_ctx *c, const struct sim_hsm *hs, int user_partition);
/* p's cloning key, which backup, restore and clone need. A partition from
 * before state version 8 keeps its domain's verifier only: its red key,
 * presented once at hs's PED (reused, not written), gives the key, checked
 * against the verifier and saved with hs's state; its objects stay.
 * PED_OK at once when p has the key. */
int cmd_cloning_key(struct cmd_ctx *c, struct sim_hsm *hs, struct hsm_partition *p);
/* Takes the command lock of the current slot's HSM; that HSM, with *p the
 * slot's partition (NULL: its admin slot) and *pi its index, or NULL when
 * there is no such slot now. */
struct sim_hsm *cmd_current(struct cmd_ctx *c, struct hsm_partition **p, int *pi);
/* Whether the session may see and reach hs: always, unless a relay
 * narrowed it to other HSMs (cmd_ctx.served). */
int cmd_hsm_served(const struct cmd_ctx *c, const struct sim_hsm *hs);
/* The port of hs's PED. */
struct pedport *cmd_ped(struct cmd_ctx *c, const struct sim_hsm *hs);

#endif
