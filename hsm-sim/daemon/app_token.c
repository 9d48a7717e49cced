/* Slots, tokens, mechanisms, the token ceremonies (C_InitToken, C_InitPIN,
 * C_SetPIN) and random numbers, for the application protocol (app.h). */
#include "app_int.h"
#include "command.h"

#include "hsm/ck.h"
#include "ped/error.h"
#include "ped/log.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define APP_MANUFACTURER "Open PED"
#define APP_MODEL "OpenPED HSM"

/* The version in PED_VERSION ("0.1.0"): major and minor. */
static CK_VERSION version(void)
{
	unsigned long major = 0, minor = 0;
	char *end;
	major = strtoul(PED_VERSION, &end, 10);
	if (*end == '.')
		minor = strtoul(end + 1, NULL, 10);
	return (CK_VERSION){(CK_BYTE)(major > 255 ? 255 : major), (CK_BYTE)(minor > 255 ? 255 : minor)};
}

/* A blank-padded CK_*_INFO text field. */
static void field(unsigned char *f, size_t size, const char *text)
{
	size_t n = strlen(text);
	memset(f, ' ', size);
	memcpy(f, text, n < size ? n : size);
}

/* The serial of hsm-sim's slot k of HSM view v (k 0: the HSM's). */
static void serial_of(const struct sim_slot_view *v, int k, char out[P11W_SERIAL_MAX + 1])
{
	char s[32];
	if (k == 0)
		snprintf(s, sizeof(s), "%s", v->serial);
	else
		sim_partition_serial(v->serial, (uint32_t)(k - 1), s, sizeof(s));
	snprintf(out, P11W_SERIAL_MAX + 1, "%.16s", s);
}

/* Slots a partition may hold: the HSM's slots after its admin slot. */
#define PARTITION_SLOTS (SIM_SLOTS_PER_HSM - 1)

CK_RV app_get_slot_list(struct app_call *c)
{
	struct p11w_slot *s;
	struct sim_slot_view v;
	uint32_t n = 0;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK)
		return rv;
	if ((s = OPENSSL_zalloc(sizeof(*s) * SIM_MAX_HSMS * SIM_SLOTS_PER_HSM)) == NULL)
		return CKR_HOST_MEMORY;
	/* HSM by HSM in hsm-sim's order: the admin slot (a backup HSM's only),
	 * then every slot the HSM has room for a partition in */
	for (int i = 0; i < c->sim->nhsms; i++) {
		int base = c->sim->hsms[i].base_slot;
		if (!app_hsm_in_scope(c, &c->sim->hsms[i]))
			continue;
		sim_slot_view(c->sim, i, &v);
		/* this host's Backup HSMs are its own to use; across the network
		 * only rbs serves one */
		if (v.backup && c->scope->network)
			continue;
		s[n] = (struct p11w_slot){(CK_SLOT_ID)base, 1, v.backup ? P11W_SLOT_BACKUP : P11W_SLOT_ADMIN, (uint32_t)i, ""};
		serial_of(&v, 0, s[n++].serial);
		for (int k = 1; !v.backup && k <= PARTITION_SLOTS; k++) {
			int present = (uint32_t)(k - 1) < v.npartitions;
			s[n] = (struct p11w_slot){(CK_SLOT_ID)(base + k), (uint8_t)present, P11W_SLOT_PARTITION, (uint32_t)i, ""};
			if (present)
				serial_of(&v, k, s[n].serial);
			n++;
		}
	}
	OPENSSL_cleanse(&v, sizeof(v));
	p11w_put_slot_list(c->w, s, n);
	OPENSSL_free(s);
	return CKR_OK;
}

/* hsm-sim's slot from the views (no command lock): 0 none, 1 an admin
 * slot, 2 a backup HSM's, 3 a partition slot; *present whether a token is
 * there. */
static int slot_kind(struct app_call *c, CK_SLOT_ID slot, int *present)
{
	struct sim_hsm *hs = slot <= 100000 ? sim_hsm_of_slot(c->sim, (int)slot) : NULL;
	struct sim_slot_view v;
	int k, kind;

	*present = 0;
	if (!hs || !app_hsm_in_scope(c, hs))
		return 0;
	sim_slot_view(c->sim, hs->index, &v);
	k = (int)slot - hs->base_slot;
	if (k == 0) {
		*present = 1;
		kind = v.backup ? 2 : 1;
	} else {
		*present = (uint32_t)(k - 1) < v.npartitions;
		kind = v.backup || k > PARTITION_SLOTS ? 0 : 3;
	}
	OPENSSL_cleanse(&v, sizeof(v));
	return kind;
}

CK_RV app_get_slot_info(struct app_call *c)
{
	CK_SLOT_ID slot = p11w_get_ulong(c->r);
	CK_SLOT_INFO info;
	int present, kind;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK)
		return rv;
	if ((kind = slot_kind(c, slot, &present)) == 0)
		return CKR_SLOT_ID_INVALID;
	memset(&info, 0, sizeof(info));
	field(info.slotDescription, sizeof(info.slotDescription),
	      kind == 1 ? "OpenPED Admin Token Slot" : kind == 2 ? "OpenPED Backup Device" : "OpenPED User Token Slot");
	field(info.manufacturerID, sizeof(info.manufacturerID), APP_MANUFACTURER);
	info.flags = CKF_HW_SLOT | (present ? CKF_TOKEN_PRESENT : 0);
	info.hardwareVersion = info.firmwareVersion = version();
	p11w_put_slot_info(c->w, &info);
	return CKR_OK;
}

/* The PIN flags of a role's state: locked, failures, the last try. */
static CK_FLAGS pin_flags(const struct hsm_role_state *rs, uint32_t max, int so)
{
	CK_FLAGS f = 0;
	if (rs->locked)
		f |= so ? CKF_SO_PIN_LOCKED : CKF_USER_PIN_LOCKED;
	else if (rs->failures && max && rs->failures + 1 >= max)
		f |= so ? CKF_SO_PIN_FINAL_TRY : CKF_USER_PIN_FINAL_TRY;
	else if (rs->failures)
		f |= so ? CKF_SO_PIN_COUNT_LOW : CKF_USER_PIN_COUNT_LOW;
	return f;
}

CK_RV app_get_token_info(struct app_call *c)
{
	CK_SLOT_ID slot = p11w_get_ulong(c->r);
	CK_TOKEN_INFO info;
	struct hsm *h;
	char serial[P11W_SERIAL_MAX + 1], when[32];
	unsigned long all, rw;
	struct tm tm;
	time_t now = time(NULL);
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use_slot(c, slot)) != CKR_OK)
		return rv;
	h = &c->hs->h;
	memset(&info, 0, sizeof(info));
	field(info.label, sizeof(info.label), c->p ? c->p->label : h->label);
	field(info.manufacturerID, sizeof(info.manufacturerID), APP_MANUFACTURER);
	field(info.model, sizeof(info.model), APP_MODEL);
	if (c->p)
		sim_partition_serial(h->serial, (uint32_t)c->pi, when, sizeof(when));
	else
		snprintf(when, sizeof(when), "%s", h->serial);
	snprintf(serial, sizeof(serial), "%.16s", when);
	field(info.serialNumber, sizeof(info.serialNumber), serial);
	/* logins go through the PED (or an activated role's challenge) */
	info.flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_PROTECTED_AUTHENTICATION_PATH | CKF_CLOCK_ON_TOKEN;
	if (c->p) {
		struct hsm_partition *p = c->p;
		if (p->initialized)
			info.flags |= CKF_TOKEN_INITIALIZED;
		if (p->co.cred.set)
			info.flags |= CKF_USER_PIN_INITIALIZED;
		info.flags |= pin_flags(&p->co, p->max_failed_user_logins, 0) | pin_flags(&p->po, HSM_PO_MAX_FAILURES, 1);
		if (p->co.challenge_set && p->co.challenge_expired && h->force_pin_change)
			info.flags |= CKF_USER_PIN_TO_BE_CHANGED;
		if (!p->kp.v[HSM_KP_KEY_MANAGEMENT]) /* policy 28: no object is made, changed or destroyed */
			info.flags |= CKF_WRITE_PROTECTED;
		info.ulMaxPinLen = p->max_pin_length;
		info.ulMinPinLen = (CK_ULONG)(HSM_PIN_MAX_ABSOLUTE - p->min_pin_policy);
	} else {
		if (h->initialized)
			info.flags |= CKF_TOKEN_INITIALIZED;
		info.flags |= pin_flags(&h->so, HSM_SO_MAX_FAILURES, 1);
		info.ulMaxPinLen = HSM_PIN_MAX_ABSOLUTE;
		info.ulMinPinLen = HSM_PIN_MIN_ABSOLUTE;
	}
	/* this application's sessions, as PKCS#11 counts them: another's are
	 * none of its business */
	apps_own_sessions(c->a, (int)slot, &all, &rw);
	info.ulMaxSessionCount = info.ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	info.ulSessionCount = all;
	info.ulRwSessionCount = rw;
	info.ulTotalPublicMemory = info.ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	info.ulTotalPrivateMemory = info.ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info.hardwareVersion = info.firmwareVersion = version();
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y%m%d%H%M%S00", &tm);
	memcpy(info.utcTime, when, sizeof(info.utcTime));
	p11w_put_token_info(c->w, &info);
	return CKR_OK;
}

/* Under the slot's HSM lock: the key policies of its partition (every
 * default on the admin slot). */
static void slot_env(struct app_call *c, struct hsm_key_env *env)
{
	app_key_env(c, env);
}

CK_RV app_get_mechanism_list(struct app_call *c)
{
	CK_SLOT_ID slot = p11w_get_ulong(c->r);
	struct hsm_key_env env;
	CK_MECHANISM_TYPE list[P11W_MECHS_MAX];
	CK_ULONG n = P11W_MECHS_MAX;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use_slot(c, slot)) != CKR_OK)
		return rv;
	slot_env(c, &env);
	app_release_hsm(c);
	if ((rv = hsm_mech_list(&env, list, &n)) != CKR_OK)
		return rv;
	p11w_put_ulong_list(c->w, list, (uint32_t)n);
	return CKR_OK;
}

CK_RV app_get_mechanism_info(struct app_call *c)
{
	CK_SLOT_ID slot = p11w_get_ulong(c->r);
	CK_MECHANISM_TYPE type = p11w_get_ulong(c->r);
	struct hsm_key_env env;
	CK_MECHANISM_INFO info;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use_slot(c, slot)) != CKR_OK)
		return rv;
	slot_env(c, &env);
	app_release_hsm(c);
	if ((rv = hsm_mech_info(&env, type, &info)) != CKR_OK)
		return rv;
	p11w_put_mechanism_info(c->w, &info);
	return CKR_OK;
}

/* ---- the ceremonies: hsmcm's commands, run for the application ------------- */

/* One command line as hsmcm's operator would type it, on hsm-sim's slot,
 * with the application's logins and the request's PED timeout; its lines
 * go to the log. The command takes and gives back its locks itself. */
static int run_command(struct app_call *c, int slot, uint32_t ped_ms, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int run_command(struct app_call *c, int slot, uint32_t ped_ms, const char *fmt, ...)
{
	struct cmd_ctx *cc;
	char line[CMD_LINE_MAX];
	va_list ap;
	int r, n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return PED_E_ARGUMENTS_BAD;
	if ((cc = calloc(1, sizeof(*cc))) == NULL)
		return PED_E_HOST_MEMORY;
	cc->sim = c->sim;
	cc->who = (struct auth_ctx){&c->out, &c->a->logins, c->peds,
				    ped_ms > (uint32_t)INT32_MAX ? INT32_MAX : (int)ped_ms};
	cc->slot = &slot;
	ped_info("application %u: %s", c->a->no, line);
	r = cmd_run(cc, line);
	OPENSSL_cleanse(line, sizeof(line));
	OPENSSL_cleanse(cc, sizeof(*cc));
	free(cc);
	return r;
}

CK_RV app_init_token(struct app_call *c)
{
	CK_SLOT_ID slot = p11w_get_ulong(c->r);
	int present = 0;
	size_t pinlen = 0, n;
	(void)p11w_get_pin(c->r, &present, &pinlen);
	const uint8_t *lp = ped_rbuf_bytes(c->r, 32);
	uint32_t ped_ms = ped_rbuf_u32(c->r);
	char label[HSM_LABEL_MAX + 1];
	unsigned long all, rw;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK)
		return rv;
	/* the Partition SO's credential is the blue key the PED writes */
	if (present)
		return CKR_ARGUMENTS_BAD;
	if ((rv = app_use_slot(c, slot)) != CKR_OK)
		return rv;
	if (!c->p) {
		/* hsm init is an operator's ceremony (hsmcm), not an application's */
		app_release_hsm(c);
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	apps_slot_sessions(c->hs, (int)slot, &all, &rw);
	memcpy(label, c->p->name, sizeof(label));
	app_release_hsm(c);
	if (all)
		return CKR_SESSION_EXISTS;
	/* the label, blank-padded to 32; none keeps the partition's name */
	for (n = 32; n && lp[n - 1] == ' '; n--)
		;
	if (n) {
		memcpy(label, lp, n);
		label[n] = '\0';
	}
	if (!hsm_label_valid(label) || strchr(label, '"') || label[0] == '-')
		return CKR_ARGUMENTS_BAD;
	return app_ck_of(run_command(c, (int)slot, ped_ms, "partition init -label \"%s\" -force", label));
}

/* A PIN argument copied into pin (NUL-terminated; wipe it): CKR_OK, or
 * CKR_PIN_INVALID for a NUL in it. */
static CK_RV pin_text(const uint8_t *p, size_t len, char pin[P11W_PIN_MAX + 1])
{
	if (len > P11W_PIN_MAX || (len && memchr(p, '\0', len)))
		return CKR_PIN_INVALID;
	if (len)
		memcpy(pin, p, len);
	pin[len] = '\0';
	return CKR_OK;
}

CK_RV app_init_pin(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	int present = 0;
	size_t len = 0;
	const uint8_t *pin = p11w_get_pin(c->r, &present, &len);
	uint32_t ped_ms = ped_rbuf_u32(c->r);
	char ch[P11W_PIN_MAX + 1];
	int slot, r;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK)
		return rv;
	if (!(c->s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	/* C_InitPIN is the SO's: here the Partition SO's, for the Crypto Officer */
	if (!c->p || app_role(c, NULL) != HSM_ROLE_PO)
		return CKR_USER_NOT_LOGGED_IN;
	if (present) {
		/* a PIN is the Crypto Officer's challenge secret, set by the Partition SO */
		if ((rv = pin_text(pin, len, ch)) != CKR_OK)
			return rv;
		if (!c->p->co.cred.set) {
			OPENSSL_cleanse(ch, sizeof(ch));
			return CKR_USER_PIN_NOT_INITIALIZED;
		}
		struct auth_ctx who = {&c->out, &c->a->logins, c->peds, 0};
		r = auth_set_challenge(&who, c->hs, c->p, c->pi, auth_role("co"), ch, 0);
		OPENSSL_cleanse(ch, sizeof(ch));
		return app_ck_of(r);
	}
	slot = c->s->slot;
	app_done(c);
	return app_ck_of(run_command(c, slot, ped_ms, "role init -name co"));
}

CK_RV app_set_pin(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	int old_present = 0, new_present = 0, must_change, role, slot;
	size_t old_len = 0, new_len = 0;
	const uint8_t *old = p11w_get_pin(c->r, &old_present, &old_len);
	const uint8_t *nw = p11w_get_pin(c->r, &new_present, &new_len);
	uint32_t ped_ms = ped_rbuf_u32(c->r);
	char o[P11W_PIN_MAX + 1], n[P11W_PIN_MAX + 1];
	const struct role_info *ri;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK)
		return rv;
	if (old_present != new_present)
		return CKR_ARGUMENTS_BAD;
	if (!(c->s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (!c->p)
		return CKR_FUNCTION_NOT_SUPPORTED;
	if ((role = app_role(c, &must_change)) < 0)
		return CKR_USER_NOT_LOGGED_IN;
	ri = auth_role(role == HSM_ROLE_PO ? "po" : role == HSM_ROLE_CO ? "co" : "cu");
	if (old_present) {
		/* the role's own challenge secret (role changepw -oldpw -newpw) */
		struct auth_ctx who = {&c->out, &c->a->logins, c->peds, 0};
		struct hsm_role_state *rs = hsm_role_state_of(&c->hs->h, c->p, ri->role);
		/* the old PIN is not one the role has: the Partition SO has no
		 * challenge, nor a CO or CU before one is set */
		if (role == HSM_ROLE_PO || !rs || !rs->challenge_set)
			return CKR_PIN_INCORRECT;
		if ((rv = pin_text(old, old_len, o)) != CKR_OK || (rv = pin_text(nw, new_len, n)) != CKR_OK) {
			OPENSSL_cleanse(o, sizeof(o));
			return rv;
		}
		int r = auth_change_challenge(&who, c->hs, c->p, c->pi, ri, o, n);
		OPENSSL_cleanse(o, sizeof(o));
		OPENSSL_cleanse(n, sizeof(n));
		return app_ck_of(r);
	}
	if (must_change)
		return CKR_PIN_EXPIRED;
	/* the role's keyset: the old keys, then new ones, on the PED */
	slot = c->s->slot;
	app_done(c);
	return app_ck_of(run_command(c, slot, ped_ms, "role changepw -name %s", ri->name));
}

/* ---- random numbers ---------------------------------------------------------- */

CK_RV app_seed_random(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	size_t n = 0;
	const uint8_t *seed = p11w_get_bytes(c->r, P11W_DATA_MAX, &n);
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, 0)) != CKR_OK)
		return rv;
	/* mixed in, credited with no entropy: a caller cannot weaken the DRBG */
	if (n)
		RAND_add(seed, (int)n, 0.0);
	return CKR_OK;
}

CK_RV app_generate_random(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	uint32_t n = ped_rbuf_u32(c->r);
	uint8_t *buf;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK)
		return rv;
	if (n > P11W_DATA_MAX)
		return CKR_ARGUMENTS_BAD;
	if ((rv = app_use(c, h, 0)) != CKR_OK)
		return rv;
	if ((buf = OPENSSL_malloc(n ? n : 1)) == NULL)
		return CKR_HOST_MEMORY;
	if ((rv = hsm_random(buf, n)) == CKR_OK)
		p11w_put_bytes(c->w, buf, n);
	OPENSSL_clear_free(buf, n ? n : 1);
	return rv;
}
