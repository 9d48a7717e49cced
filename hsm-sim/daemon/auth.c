/* Roles, logins and the PED login (auth.h). */
#include "auth.h"

#include "hsm/result.h"
#include "ped/error.h"

#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

static const struct role_info roles[] = {
	{"so", HSM_ROLE_SO, PED_KEY_SO, "SO LOGIN...", "SETTING SO PIN...", "SO / HSM Admin", "BLUE"},
	{"po", HSM_ROLE_PO, PED_KEY_SO, "PO LOGIN...", "SETTING PO PIN...", "Partition SO", "BLUE"},
	{"co", HSM_ROLE_CO, PED_KEY_USER, "CO LOGIN...", "SETTING CO PIN...", "Crypto Officer", "BLACK"},
	{"cu", HSM_ROLE_CU, PED_KEY_USER, "CU LOGIN...", "SETTING CU PIN...", "Crypto User", "BLACK"},
	{"au", HSM_ROLE_AU, PED_KEY_AUDIT, "AU LOGIN...", "SETTING AU PIN...", "Audit User", "WHITE"},
};

const struct role_info *auth_role(const char *name)
{
	static const struct {
		const char *alias, *name;
	} aliases[] = {{"crypto officer", "co"}, {"crypto user", "cu"}, {"partition so", "po"},
		       {"auditor", "au"}, {"audit", "au"}, {"admin", "so"}};
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (!strcasecmp(name, aliases[i].alias))
			name = aliases[i].name;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (!strcasecmp(name, roles[i].name))
			return &roles[i];
	return NULL;
}

uint8_t *auth_login_flag(struct sim_login *lg, enum hsm_role role, int pi)
{
	switch (role) {
	case HSM_ROLE_SO: return &lg->so;
	case HSM_ROLE_AU: return &lg->au;
	case HSM_ROLE_PO: return &lg->po[pi];
	case HSM_ROLE_CO: return &lg->co[pi];
	case HSM_ROLE_CU: return &lg->cu[pi];
	}
	return &lg->so;
}

int auth_need_either(const struct auth_ctx *a, struct sim_login *lg, enum hsm_role r1, enum hsm_role r2, int pi,
		     const char *who)
{
	uint8_t f1 = *auth_login_flag(lg, r1, pi), f2 = *auth_login_flag(lg, r2, pi);
	if (f1 == AUTH_LOGGED_IN || f2 == AUTH_LOGGED_IN)
		return PED_OK;
	if (f1 == AUTH_MUST_CHANGE || f2 == AUTH_MUST_CHANGE) {
		const struct role_info *ri = auth_role(f1 == AUTH_MUST_CHANGE ? (r1 == HSM_ROLE_CO ? "co" : "cu")
									 : (r2 == HSM_ROLE_CO ? "co" : "cu"));
		sim_outf(a->out, "Error: the %s's challenge secret was set by another role: HSM policy 21 (Force user "
				 "PIN change after set/reset) wants it changed before anything else (role changepw -name "
				 "%s -oldpw OLD -newpw NEW).", ri->prompt, ri->name);
		return HSM_E_PIN_EXPIRED;
	}
	sim_outf(a->out, "Error: log in as %s first", who);
	return PED_E_USER_NOT_LOGGED_IN;
}

uint8_t auth_login_value(const struct sim_hsm *hs, const struct hsm_partition *p, enum hsm_role role)
{
	const struct hsm_role_state *rs =
		p && role == HSM_ROLE_CO ? &p->co : p && role == HSM_ROLE_CU ? &p->cu : NULL;
	return rs && rs->challenge_expired && hs->h.force_pin_change ? AUTH_MUST_CHANGE : AUTH_LOGGED_IN;
}

int auth_need(const struct auth_ctx *a, struct sim_login *lg, enum hsm_role role, int pi, const char *who)
{
	return auth_need_either(a, lg, role, role, pi, who);
}

static void tell_unrecorded(const struct auth_ctx *a)
{
	sim_outf(a->out, "Error: the HSM cannot save its state, so it cannot count this login attempt; "
			 "the attempt is refused.");
}

int auth_ped_login(const struct auth_ctx *a, struct sim_hsm *hs, struct hsm_partition *p,
		   const struct role_info *ri, struct sim_hold *release)
{
	struct hsm_role_state *rs = hsm_role_state_of(&hs->h, p, ri->role);
	struct ped_app_splits sp;
	struct hsm_login_result res;
	struct hsm_store st;
	char pname[HSM_LABEL_MAX + 1] = "";
	uint8_t keyset[16];
	int r;

	if (!rs || !rs->cred.set) {
		sim_outf(a->out, "Error: role %s is not initialized", ri->name);
		return PED_E_USER_NOT_LOGGED_IN;
	}
	if (rs->locked)
		return PED_E_PIN_LOCKED;
	sim_outf(a->out, "Please attend to the PED.");
	if (ri->role == HSM_ROLE_SO) {
		uint32_t left = HSM_SO_MAX_FAILURES - hs->h.so.failures;
		sim_outf(a->out, "Caution: You have only %u so login attempts left. If you fail %u", left, left);
		sim_outf(a->out, "more consecutive login attempts (i.e. with no successful");
		sim_outf(a->out, "logins in between) the HSM will be ZEROIZED!!!");
	}
	memset(&sp, 0, sizeof(sp));
	if (p)
		memcpy(pname, p->name, sizeof(pname));
	memcpy(keyset, rs->cred.keyset_id, sizeof(keyset));
	/* A login waits on people: other sessions' commands run meanwhile. */
	if (release)
		sim_hold_release(release);
	r = pedport_auth_within(pedport_of(a->peds, hs), a->out, a->ped_wait_ms, ri->key_type, ri->login_title,
				ri->prompt, ri->colour, &sp);
	if (release)
		sim_hold_retake(release);
	if (r != PED_OK)
		goto out;
	/* What the PED read is for the role as it was: check it still is. */
	if ((p && strcmp(pname, p->name)) || !rs->cred.set || memcmp(keyset, rs->cred.keyset_id, sizeof(keyset))) {
		sim_outf(a->out, "Error: the role changed while the PED was being read; try again.");
		r = PED_E_CALLBACK_ERROR;
		goto out;
	}
	sim_store(hs, &st);
	r = hsm_ped_login(&hs->h, p, ri->role, &sp, &st, &res);
	if (res.unrecorded)
		tell_unrecorded(a);
	if (res.hsm_zeroized)
		sim_outf(a->out, "Too many failed HSM SO logins: the HSM has been ZEROIZED.");
	else if (res.partition_zeroized)
		sim_outf(a->out, "Too many failed Partition SO logins: the partition has been ZEROIZED.");
	else if (res.locked)
		sim_outf(a->out, "Too many failed logins: the role is locked.");
	if (res.partition_zeroized) {
		struct sim_login *own = sim_login(a->logins, hs);
		for (int i = 0; i < HSM_MAX_PARTITIONS; i++)
			if (&hs->h.partitions[i] == p) /* not a backup's partition still being made */
				own->po[i] = own->co[i] = own->cu[i] = 0;
	}
	if (res.hsm_zeroized || res.partition_zeroized)
		sim_logins_end(a->logins, hs, !res.hsm_zeroized);
out:
	OPENSSL_cleanse(&sp, sizeof(sp));
	return r;
}

int auth_challenge_login(const struct auth_ctx *a, struct sim_hsm *hs, struct hsm_partition *p, int pi,
			 const struct role_info *ri, const char *challenge)
{
	struct hsm_login_result res;
	struct hsm_store st;
	int r;

	sim_store(hs, &st);
	r = hsm_challenge_login(&hs->h, p, ri->role, challenge, strlen(challenge), &st, &res);
	if (res.unrecorded)
		tell_unrecorded(a);
	if (res.locked)
		sim_outf(a->out, "Too many failed logins: the role is locked.");
	if (r != PED_OK)
		return r;
	sim_outf(a->out, "User is activated, PED is not required.");
	*auth_login_flag(sim_login(a->logins, hs), ri->role, pi) = auth_login_value(hs, p, ri->role);
	return sim_save(hs);
}

int auth_challenge_ok(const struct auth_ctx *a, const struct hsm_partition *p, const char *ch)
{
	if (!ch || ch[0] == ' ') {
		sim_outf(a->out, "Error: give the challenge secret (-challenge), not starting with a space");
		return PED_E_ARGUMENTS_BAD;
	}
	if (!hsm_pin_length_ok(p, strlen(ch))) {
		sim_outf(a->out, "Error: a challenge secret of this partition is %d-%d characters (partition policies 25 "
				 "and 26)", HSM_PIN_MAX_ABSOLUTE - p->min_pin_policy, p->max_pin_length);
		return HSM_E_PIN_LEN_RANGE;
	}
	return PED_OK;
}

int auth_set_challenge(const struct auth_ctx *a, struct sim_hsm *hs, struct hsm_partition *p, int pi,
		       const struct role_info *ri, const char *ch, int by_self)
{
	struct hsm_role_state *rs = hsm_role_state_of(&hs->h, p, ri->role);
	int r;

	if (!p || !rs || (ri->role != HSM_ROLE_CO && ri->role != HSM_ROLE_CU)) {
		sim_outf(a->out, "Error: challenges are for co and cu on a partition");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = auth_challenge_ok(a, p, ch)) != PED_OK)
		return r;
	hsm_verifier((const uint8_t *)ch, strlen(ch), rs->challenge_verifier);
	rs->challenge_set = 1;
	/* Set by the Partition SO (or the CO for the CU), the challenge is
	 * known to someone else: the role's next login needs its PED key,
	 * and with HSM policy 21 the role must change the challenge. */
	if (!by_self && rs->activated) {
		rs->activated = 0;
		sim_outf(a->out, "Role %s deactivated: its next login needs its PED key.", ri->name);
	}
	rs->challenge_expired = !by_self && hs->h.force_pin_change;
	if (by_self)
		*auth_login_flag(sim_login(a->logins, hs), ri->role, pi) = AUTH_LOGGED_IN;
	if (rs->challenge_expired)
		sim_outf(a->out, "HSM policy 21 (Force user PIN change after set/reset) is on: the %s must change this "
				 "challenge secret before anything else.", ri->prompt);
	return sim_save(hs);
}

int auth_change_challenge(const struct auth_ctx *a, struct sim_hsm *hs, struct hsm_partition *p, int pi,
			  const struct role_info *ri, const char *old, const char *nw)
{
	struct sim_login *lg = sim_login(a->logins, hs);
	struct hsm_role_state *rs = hsm_role_state_of(&hs->h, p, ri->role);
	uint8_t v[HSM_VERIFIER_LEN];
	int r;

	if (!p || (ri->role != HSM_ROLE_CO && ri->role != HSM_ROLE_CU) || !rs || !rs->challenge_set) {
		sim_outf(a->out, "Error: -oldpw and -newpw change the challenge secret of a co or cu that has one");
		return PED_E_ARGUMENTS_BAD;
	}
	if (!*auth_login_flag(lg, ri->role, pi)) {
		sim_outf(a->out, "Error: log in as %s first", ri->prompt);
		return PED_E_USER_NOT_LOGGED_IN;
	}
	if (!old || !nw) {
		sim_outf(a->out, "Error: give both -oldpw and -newpw");
		return PED_E_ARGUMENTS_BAD;
	}
	hsm_verifier((const uint8_t *)old, strlen(old), v);
	r = CRYPTO_memcmp(v, rs->challenge_verifier, sizeof(v)) ? PED_E_PIN_INCORRECT : PED_OK;
	OPENSSL_cleanse(v, sizeof(v));
	if (r != PED_OK) {
		sim_outf(a->out, "Error: -oldpw is not the current challenge secret");
		return r;
	}
	if (!strcmp(old, nw)) {
		sim_outf(a->out, "Error: the new challenge secret is the old one");
		return PED_E_ARGUMENTS_BAD;
	}
	if ((r = auth_challenge_ok(a, p, nw)) != PED_OK)
		return r;
	hsm_verifier((const uint8_t *)nw, strlen(nw), rs->challenge_verifier);
	rs->challenge_expired = 0;
	*auth_login_flag(lg, ri->role, pi) = AUTH_LOGGED_IN;
	if ((r = sim_save(hs)) != PED_OK)
		return r;
	sim_outf(a->out, "The %s's challenge secret is changed.", ri->prompt);
	return PED_OK;
}

int auth_new_credential_secret(const struct auth_ctx *a, struct sim_hsm *hs, int key_type, const char *title,
			       const char *prompt, const char *colour, struct hsm_credential *c,
			       uint8_t secret[HSM_SECRET_LEN])
{
	struct ped_app_created info;
	int r = pedport_create_within(pedport_of(a->peds, hs), a->out, a->ped_wait_ms, key_type, title, prompt, colour,
				      1, secret, &info);
	if (r == PED_OK)
		hsm_credential_set(c, secret, HSM_SECRET_LEN, info.m, info.n, info.keyset_id);
	else
		OPENSSL_cleanse(secret, HSM_SECRET_LEN);
	return r;
}

int auth_new_credential(const struct auth_ctx *a, struct sim_hsm *hs, int key_type, const char *title,
			const char *prompt, const char *colour, struct hsm_credential *c)
{
	uint8_t secret[HSM_SECRET_LEN];
	int r = auth_new_credential_secret(a, hs, key_type, title, prompt, colour, c, secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	return r;
}

int auth_new_domain(const struct auth_ctx *a, struct sim_hsm *hs, struct hsm_credential *c,
		    uint8_t key[HSM_KEY_LEN])
{
	uint8_t secret[HSM_SECRET_LEN];
	struct ped_app_created info;
	int r = pedport_create(pedport_of(a->peds, hs), a->out, PED_KEY_DOMAIN, "SETTING DOMAIN...", "Domain", "RED", 1,
			       secret, &info);
	if (r == PED_OK && (r = hsm_domain_key(secret, sizeof(secret), key)) == PED_OK)
		hsm_credential_set(c, secret, HSM_SECRET_LEN, info.m, info.n, info.keyset_id);
	OPENSSL_cleanse(secret, sizeof(secret));
	return r;
}
