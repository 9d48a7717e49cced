/* ped connect | disconnect | get | set | vector init (chapter 5). */
#include "command.h"

#include "pedlink.h"
#include "remoteped.h"

#include "ped/cert.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The operator may take a while at the PED: this HSM's lock is given back
 * while the session key is computed, so ped disconnect (or any command on
 * it) may run meanwhile. Nothing read before is relied on after. */
static int wait_keyed(struct cmd_ctx *c, struct pedport *pt)
{
	sim_hold_release(&c->hold);
	int r = remoteped_wait(pt);
	sim_hold_retake(&c->hold);
	return r;
}

/* "the HSM establishes a Remote PED connection using the newly-created RPV" */
static void rekey(struct cmd_ctx *c, struct pedport *pt)
{
	int r = remoteped_rekey_begin(pt, c->who.out);
	if (r == PED_E_NOT_FOUND)
		return; /* no session to key again */
	if (r == PED_OK)
		r = wait_keyed(c, pt);
	remoteped_rekey_end(pt, c->who.out, r);
}

static int cmd_ped_family(struct cmd_ctx *c, int argc, char **argv)
{
	struct ped_opt o[] = {{.name = "ip", .aliases = "i", .kind = PED_OPT_STRING, .help = "pedserver address"},
			      {.name = "port", .aliases = "p", .kind = PED_OPT_INT, .min = 1, .max = 65535, .help = "pedserver port"},
			      {.name = "slot", .aliases = "s", .kind = PED_OPT_INT, .min = 0, .max = 100000, .help = "slot"},
			      {.name = "password", .aliases = "pwd", .kind = PED_OPT_OPTIONAL, .help = "one-time password"},
			      {.name = "wait", .kind = PED_OPT_FLAG, .help = "return once the session key is computed"},
			      {.name = NULL}};
	/* "ped vector" alone initializes the RPV, as chapter 5 runs it (rotating the orange key) */
	int vector = argc >= 2 && !strcasecmp(argv[1], "vector");
	int r, first = vector && argc >= 3 && argv[2][0] != '-' ? 3 : 2;
	if (argc < 2) {
		cmd_out(c, "Usage: ped connect|disconnect|get|set|vector init");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = cmd_parse(c, o, argc, argv, first)) != PED_OK)
		return r;
	int slot = ped_opts_seen(o, "slot") ? (int)ped_opts_num(o, "slot", 0) : *c->slot;
	struct sim_hsm *hs = sim_hsm_of_slot(c->sim, slot);
	struct pedport *pt;
	if (hs)
		sim_hold(&c->hold, hs, NULL);
	if (!hs || !sim_slot_resolve(hs, slot, NULL, NULL)) {
		cmd_out(c, "Error: no slot %d", slot);
		return PED_E_TOKEN_NOT_PRESENT;
	}
	pt = cmd_ped(c, hs);
	if (!strcasecmp(argv[1], "get")) {
		char what[160];
		int ped_id, remote = pedport_describe(pt, what, sizeof(what), &ped_id);
		/* the reference's words: PED id 0 is the local PED, 100 a Remote PED
		 * by address; one found through a PED id mapping has that id */
		cmd_out(c, "HSM slot %d listening to %s PED (PED id=%d).", slot, remote ? "remote" : "local", ped_id);
		cmd_out(c, "%s", what);
		if (hs->h.ped_ip[0] || hs->h.ped_port)
			cmd_out(c, "Default Remote PED server (ped set): %s:%d", hs->h.ped_ip[0] ? hs->h.ped_ip : "(PED id)",
				 hs->h.ped_port ? hs->h.ped_port : 1503);
		return PED_OK;
	}
	if (!strcasecmp(argv[1], "set")) {
		/* Defaults for ped connect, kept in the HSM's state across restarts. */
		const char *ip = ped_opts_str(o, "ip", "");
		if (!ped_opts_seen(o, "ip") && !ped_opts_seen(o, "port")) {
			cmd_out(c, "Error: give -ip and/or -port");
			return PED_E_ARGUMENTS_BAD;
		}
		if (ped_opts_seen(o, "ip") && strlen(ip) > HSM_PED_HOST_MAX) {
			cmd_out(c, "Error: the address is longer than %d characters", HSM_PED_HOST_MAX);
			return PED_E_ARGUMENTS_BAD;
		}
		if (ped_opts_seen(o, "ip"))
			snprintf(hs->h.ped_ip, sizeof(hs->h.ped_ip), "%s", ip);
		if (ped_opts_seen(o, "port"))
			hs->h.ped_port = (uint16_t)ped_opts_num(o, "port", 1503);
		c->success_style = 1; /* chapter 5: "Command Result : 0 (Success)" */
		return sim_save(hs); /* on failure the HSM is back to its saved state */
	}
	if (vector && (first == 2 || !strncasecmp(argv[2], "init", strlen(argv[2])))) {
		/* A zeroized HSM has no SO yet: remote RPV initialization happens then. */
		if (hs->h.initialized && (r = auth_need(&c->who, sim_login(c->who.logins, hs), HSM_ROLE_SO, 0, "HSM SO")) != PED_OK)
			return r;
		uint8_t secret[HSM_SECRET_LEN];
		struct ped_app_created info;
		cmd_out(c, "Please attend to the PED.");
		r = pedport_create_rpv(pt, c->who.out, secret, &info);
		if (r == PED_OK) {
			memcpy(hs->h.rpv, secret, sizeof(secret));
			hs->h.rpv_set = 1;
			/* A reused orange keyset carries another HSM's RPV static key: 1e1s then. */
			hs->h.rpv_2e2s = !info.reused;
			r = sim_save(hs);
		}
		OPENSSL_cleanse(secret, sizeof(secret));
		/* "the HSM establishes a Remote PED connection using the newly-created RPV".
		 * The RPV is saved either way: a session that cannot be keyed again
		 * is the next PED operation's error (CKR_PED_UNPLUGGED), not this one's. */
		if (r == PED_OK)
			rekey(c, pt);
		return r;
	}
	if (!strcasecmp(argv[1], "connect")) {
		char pw[9] = "";
		const char *otp = NULL;
		/* pedclient is told at most that many characters: a longer name
		 * was cut short there and another host dialled, while this
		 * said it could not reach the name given */
		if (ped_opts_seen(o, "ip") && strlen(ped_opts_str(o, "ip", "")) > HSM_PED_HOST_MAX) {
			cmd_out(c, "Error: the address is longer than %d characters", HSM_PED_HOST_MAX);
			return PED_E_ARGUMENTS_BAD;
		}
		if (ped_opts_seen(o, "password")) {
			/* The one-time password keys the session that initializes the RPV remotely. */
			if (hs->h.initialized || hs->h.rpv_set) {
				cmd_out(c, "Error: -password is only for initializing the RPV of a zeroized HSM; "
					    "HSM %s %s.", hs->h.serial,
					 hs->h.rpv_set ? "already has an RPV: connect without -password"
						       : "is initialized");
				return PED_E_ARGUMENTS_BAD;
			}
			/* The HSM makes every password itself, a new one for each
			 * connect, good for one keying: an operator-chosen or reused
			 * one would be a secret someone may already know. */
			if (ped_opts_str(o, "password", NULL)) {
				cmd_out(c, "Error: the HSM makes the one-time password itself, a new one for each "
					    "ped connect: give -password alone.");
				return PED_E_ARGUMENTS_BAD;
			}
			uint8_t rnd;
			/* bytes of 250 and over are drawn again: rnd % 10 is then uniform */
			for (int i = 0; i < 8;) {
				if (RAND_priv_bytes(&rnd, 1) != 1) {
					OPENSSL_cleanse(pw, sizeof(pw));
					return PED_E_CRYPTO;
				}
				if (rnd < 250)
					pw[i++] = (char)('0' + rnd % 10);
			}
			OPENSSL_cleanse(&rnd, sizeof(rnd));
			otp = pw;
		} else if (!hs->h.rpv_set) {
			cmd_out(c, "Error: the Remote PED vector of HSM %s is not initialized. Initialize it with a "
				    "local PED (ped vector init), or connect with -password while the HSM is zeroized.",
				 hs->h.serial);
			return PED_E_ARGUMENTS_BAD;
		}
		const char *host = ped_opts_seen(o, "ip") ? ped_opts_str(o, "ip", "") : hs->h.ped_ip;
		int port = ped_opts_seen(o, "port") ? (int)ped_opts_num(o, "port", 1503)
			   : hs->h.ped_port ? hs->h.ped_port : 1503;
		if (otp) {
			/* What the operator checks on the PED before typing the
			 * password (a fake HSM cannot show this fingerprint), then the
			 * password, both before the PED asks: a failed connect has
			 * used its password up, and the next one prints a new one. */
			char fpr[PED_CERT_FPR_LEN + 1];
			if ((r = ped_cert_fingerprint(hs->h.hoc_cert, hs->h.hoc_cert_len, fpr)) != PED_OK) {
				OPENSSL_cleanse(pw, sizeof(pw));
				return r;
			}
			cmd_out(c, "The PED shows the HSM's serial and HOC fingerprint: confirm them there, then type "
				    "the password.");
			cmd_out(c, "HSM %s identity: HOC fingerprint %s", hs->h.serial, fpr);
			cmd_out(c, "Please attend to the PED and enter following password: %s", pw);
		}
		/* Keyed with the RPV, the session waits for the first command
		 * that needs the PED, which asks for the orange key then (chapter
		 * 5); -wait keys it now. Either says "present the orange RPK" only
		 * when the PED does not hold it already. */
		r = remoteped_connect(pt, c->who.out, host, port, otp, ped_opts_seen(o, "wait") ? REMOTEPED_KEY_NOW : 0);
		OPENSSL_cleanse(pw, sizeof(pw));
		/* -wait (ours): scripts and benchmarks return once the channel is up */
		if (r == PED_OK && ped_opts_seen(o, "wait"))
			r = wait_keyed(c, pt);
		return r;
	}
	if (!strcasecmp(argv[1], "disconnect")) {
		int had_ended = 0;
		r = remoteped_disconnect(pt, &had_ended);
		if (had_ended)
			cmd_out(c, "The Remote PED session had already ended (pedclient closed it); nothing left to close.");
		else if (r == PED_E_PED_UNPLUGGED)
			cmd_out(c, "Error: no Remote PED is connected to slot %d.", slot);
		else if (r == PED_E_BUSY)
			cmd_out(c, "Error: the Remote PED is in use; try again when the operation ends.");
		else
			cmd_out(c, "Remote PED connection closed.");
		return r;
	}
	if (vector) {
		cmd_out(c, "Error: unknown ped vector command '%s' (init)", argv[2]);
		return PED_E_ARGUMENTS_BAD;
	}
	cmd_out(c, "Error: unknown ped command '%s'", argv[1]);
	return PED_E_ARGUMENTS_BAD;
}

SIM_COMMAND_VERBS(ped, "ped", NULL, NULL, 5, cmd_ped_family, "connect disconnect get set vector")
