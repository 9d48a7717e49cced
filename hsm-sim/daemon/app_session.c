/* Sessions and logins for the application protocol (app.h). A login is
 * the application's, on one partition (every session of it there), kept
 * with the HSM's logins (apps.h): C_Login with no PIN runs the role's PED
 * ceremony, as hsmcm's role login does, with the HSM's lock given back
 * while the PED is read; a PIN is an activated role's challenge secret. */
#include "app_int.h"

#include "hsm/ck.h"
#include "ped/error.h"
#include "ped/log.h"

#include <openssl/crypto.h>
#include <string.h>

/* Under the HSM's lock: the application's login on the call's slot ends
 * (C_Logout, and its last session there closed). */
static void end_login(struct app_call *c)
{
	struct sim_login *lg = sim_login(&c->a->logins, c->hs);

	if (c->p)
		lg->po[c->pi] = lg->co[c->pi] = lg->cu[c->pi] = 0;
	else
		lg->so = lg->au = 0;
}

CK_RV app_open_session(struct app_call *c)
{
	CK_SLOT_ID slot = p11w_get_ulong(c->r);
	CK_FLAGS flags = p11w_get_ulong(c->r);
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
	struct sim_hsm *hs;
	char pname[HSM_LABEL_MAX + 1] = "";
	int pi = -1, role;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK)
		return rv;
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	if ((rv = app_use_slot(c, slot)) != CKR_OK)
		return rv;
	/* PKCS#11 (C_CloseSession, C_CloseAllSessions): once the application's
	 * last session with the token closed, "the login state of the token
	 * for the application returns to public sessions". A close does not
	 * wait for the HSM's lock (a call may hold it for long), so the login
	 * ends here, where it could next be seen: nothing else of it is left
	 * (its session objects went with their sessions) */
	if (!apps_has_session(c->a, (int)slot))
		end_login(c);
	role = app_role(c, NULL);
	if (!(flags & CKF_RW_SESSION) && (role == HSM_ROLE_PO || role == HSM_ROLE_SO))
		return CKR_SESSION_READ_WRITE_SO_EXISTS;
	if (c->p) {
		memcpy(pname, c->p->name, sizeof(pname));
		pi = c->pi;
	}
	hs = c->hs;
	app_release_hsm(c);
	if ((rv = apps_session_open(c->a, (int)slot, hs, pi, pname, flags, &h)) != CKR_OK)
		return rv;
	p11w_put_ulong(c->w, h);
	return CKR_OK;
}

CK_RV app_close_session(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK)
		return rv;
	return apps_session_close(c->a, h);
}

CK_RV app_close_all_sessions(struct app_call *c)
{
	CK_SLOT_ID slot = p11w_get_ulong(c->r);
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK)
		return rv;
	if (slot > 100000 || !sim_hsm_of_slot(c->sim, (int)slot))
		return CKR_SLOT_ID_INVALID;
	apps_session_close_slot(c->a, (int)slot);
	return CKR_OK;
}

CK_RV app_get_session_info(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	CK_SESSION_INFO info;
	int role, rw;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK)
		return rv;
	role = app_role(c, NULL);
	rw = !!(c->s->flags & CKF_RW_SESSION);
	memset(&info, 0, sizeof(info));
	info.slotID = (CK_SLOT_ID)c->s->slot;
	info.flags = c->s->flags;
	if (role == HSM_ROLE_PO || role == HSM_ROLE_SO)
		info.state = rw ? CKS_RW_SO_FUNCTIONS : CKS_RO_PUBLIC_SESSION;
	else if (role == HSM_ROLE_CO || role == HSM_ROLE_CU)
		info.state = rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
	else
		info.state = rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
	p11w_put_session_info(c->w, &info);
	return CKR_OK;
}

/* The role a user type logs in as, on a partition's slot or the admin
 * slot: NULL with *rv set for one that has none there. */
static const struct role_info *role_of(struct app_call *c, CK_USER_TYPE type, CK_RV *rv)
{
	*rv = CKR_USER_TYPE_INVALID;
	if (type == CKU_CONTEXT_SPECIFIC) {
		/* no key asks for it (CKA_ALWAYS_AUTHENTICATE is never true) */
		*rv = CKR_OPERATION_NOT_INITIALIZED;
		return NULL;
	}
	if (!c->p)
		return type == CKU_SO ? auth_role("so") : NULL;
	if (type == CKU_SO)
		return auth_role("po");
	if (type == CKU_USER)
		return auth_role("co");
	if (type == P11W_CKU_CRYPTO_USER)
		return auth_role("cu");
	return NULL;
}

CK_RV app_login(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	CK_USER_TYPE type = p11w_get_ulong(c->r);
	int present = 0, cur, activation, r, closed;
	size_t len = 0;
	const uint8_t *pin = p11w_get_pin(c->r, &present, &len);
	uint32_t ped_ms = ped_rbuf_u32(c->r);
	const struct role_info *ri;
	struct hsm_role_state *rs;
	struct auth_ctx who;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK)
		return rv;
	if ((ri = role_of(c, type, &rv)) == NULL)
		return rv;
	/* one login per application and partition, and never twice: no PED */
	cur = app_role(c, NULL);
	if (cur == (int)ri->role)
		return CKR_USER_ALREADY_LOGGED_IN;
	if (cur >= 0)
		return CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	if ((ri->role == HSM_ROLE_PO || ri->role == HSM_ROLE_SO) && apps_has_ro_session(c->a, c->s->slot))
		return CKR_SESSION_READ_ONLY_EXISTS;
	rs = hsm_role_state_of(&c->hs->h, c->p, ri->role);
	if (!c->hs->h.initialized || (c->p && !c->p->initialized) || !rs || !rs->cred.set)
		return CKR_USER_PIN_NOT_INITIALIZED;
	who = (struct auth_ctx){&c->out, &c->a->logins, c->peds, ped_ms > (uint32_t)INT32_MAX ? INT32_MAX : (int)ped_ms};
	activation = hsm_activation_applies(c->p, ri->role);
	if (present && activation) {
		/* an activated role's challenge secret: no PED once the PED
		 * secret is cached (policies 22 and 23) */
		char ch[P11W_PIN_MAX + 1];
		if (len > P11W_PIN_MAX || (len && memchr(pin, '\0', len)))
			return CKR_PIN_INCORRECT;
		memcpy(ch, pin, len);
		ch[len] = '\0';
		r = auth_challenge_login(&who, c->hs, c->p, c->pi, ri, ch);
		OPENSSL_cleanse(ch, sizeof(ch));
		if (r == PED_OK) {
			ped_info("application %u: logged in as %s on slot %d with the challenge secret", c->a->no,
				 ri->prompt, c->s->slot);
			return CKR_OK;
		}
		if (r != HSM_CHALLENGE_NEEDS_PED)
			return app_ck_of(r);
		/* the first login after activation caches the PED secret */
	} else if (activation) {
		ped_info("application %u: the %s is activated: its login needs the challenge secret", c->a->no,
			 ri->prompt);
		return CKR_PIN_INCORRECT;
	}
	/* A PIN where no challenge applies is not a secret the HSM keeps: the
	 * PED decides, as with hsmcm's role login -password. The PED is read
	 * with the HSM's lock given back: other calls run meanwhile. */
	if ((r = auth_ped_login(&who, c->hs, c->p, ri, &c->hold)) != PED_OK)
		return app_ck_of(r);
	/* another thread of this application may have logged in meanwhile, or
	 * closed the session: a login kept then would outlive the sessions
	 * and belong to the application's next one */
	cur = app_role(c, NULL);
	if (cur >= 0 && cur != (int)ri->role)
		return CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	pthread_mutex_lock(&c->a->mu);
	closed = c->s->closed;
	pthread_mutex_unlock(&c->a->mu);
	if (closed)
		return CKR_SESSION_CLOSED;
	*auth_login_flag(sim_login(&c->a->logins, c->hs), ri->role, c->pi) = auth_login_value(c->hs, c->p, ri->role);
	ped_info("application %u: logged in as %s on slot %d through the PED", c->a->no, ri->prompt, c->s->slot);
	if (activation && hsm_activation_applies(c->p, ri->role)) {
		hsm_activate(c->p, ri->role);
		ped_info("application %u: role %s activated: the PED key secret is cached", c->a->no, ri->name);
		return app_ck_of(sim_save(c->hs));
	}
	return CKR_OK;
}

CK_RV app_logout(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK)
		return rv;
	if (app_role(c, NULL) < 0)
		return CKR_USER_NOT_LOGGED_IN;
	end_login(c);
	/* PKCS#11: "all private session objects from sessions belonging to
	 * the application are destroyed", not kept for the next login */
	pthread_mutex_lock(&c->a->mu);
	apps_obj_drop_private(c->a, c->s->slot);
	pthread_mutex_unlock(&c->a->mu);
	return CKR_OK;
}
