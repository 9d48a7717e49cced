/* The C_ functions that ask hsm-sim, one request and one reply each
 * (docs/protocol.md, section 13, "Functions"), except an init the HSM
 * already accepted, which goes with its operation's first call (defer.c). Each checks its arguments
 * as PKCS#11 says before anything is sent, numbers slots, and hands the
 * HSM's answer back; the two-call convention is the HSM's (it had the
 * caller's capacity), except for lists the module holds whole (slots,
 * mechanisms). No lock is held while a call waits on hsm-sim. */
#include "p11.h"

#include <openssl/crypto.h>
#include <string.h>

/* Entering and leaving a call: a reference to the module, single exit. */
#define ENTER()                                  \
	struct p11_module *m;                    \
	CK_RV rv = p11_module_get(&m);           \
	struct p11_call c;                       \
	memset(&c, 0, sizeof(c));                \
	if (rv != CKR_OK)                        \
		return rv

#define LEAVE()               \
	p11_call_end(&c);     \
	p11_module_put(m);    \
	return rv

/* A pointer the caller must give, or CKR_ARGUMENTS_BAD. */
#define NEED(p)                          \
	do {                             \
		if (!(p)) {              \
			rv = CKR_ARGUMENTS_BAD; \
			goto out;        \
		}                        \
	} while (0)

/* The request built in c.w is sent; rv is what the application sees. */
/* A session handle of the application's: the call goes to its endpoint
 * with hsm-sim's handle. One no endpoint has goes to the local hsm-sim as
 * 0, which is no session's (hsm-sim counts them from 1): the answer is
 * CKR_SESSION_HANDLE_INVALID, as for any handle it does not know. */
static void put_session(const struct p11_module *m, struct p11_call *c, CK_SESSION_HANDLE h)
{
	CK_ULONG ep = h >> P11_EP_SHIFT;

	if (ep > m->cfg.net.n) {
		c->ep = P11_EP_LOCAL;
		h = 0;
	} else {
		c->ep = (uint8_t)ep;
		h &= ~((CK_ULONG)0xff << P11_EP_SHIFT);
	}
	p11w_put_ulong(&c->w, h);
}

static CK_RV run(struct p11_module *m, struct p11_call *c, long timeout_ms, int ped)
{
	CK_RV rv = p11_call_run(m, c, timeout_ms);
	if (rv != CKR_OK)
		return rv;
	return p11_rv_present(&m->cfg, c->rv, ped);
}

/* The results of a call the HSM answered CKR_OK, decoded to the end. */
static CK_RV results(struct p11_module *m, struct p11_call *c, CK_RV dec)
{
	if (dec != CKR_OK || p11w_end(&c->r) != CKR_OK) {
		p11_log(m, "%s: malformed results", p11w_fn_name(c->fn));
		return dec == CKR_HOST_MEMORY ? dec : CKR_DEVICE_ERROR;
	}
	return CKR_OK;
}

/* Milliseconds the HSM may give the PED, and the module's wait for its answer. */
static uint32_t ped_ms(const struct p11_module *m)
{
	long t = m->cfg.ped_timeout[0] + m->cfg.ped_timeout[1];
	return t > (long)UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

static long ped_wait_ms(const struct p11_module *m)
{
	return (long)ped_ms(m) + m->cfg.ped_timeout[2];
}

/* ---- slots --------------------------------------------------------------- */

/* A fresh slot table from hsm-sim (an empty one when it is not there: an
 * application that loads every module sees no slot of ours, not an error). */
static CK_RV refresh_slots(struct p11_module *m)
{
	struct p11w_slot *all = NULL;
	struct p11_slot_table t = {NULL, 0}, old;
	uint32_t nall = 0;
	CK_RV rv = CKR_OK;

	/* chapter 13's order: the network servers' partitions first, server by
	 * server as registered, then the HSMs of this host */
	for (size_t k = 0; k <= m->cfg.net.n; k++) {
		uint8_t ep = (uint8_t)(k < m->cfg.net.n ? k + 1 : P11_EP_LOCAL);
		struct p11_call c;
		struct p11w_slot *s = NULL, *grown;
		uint32_t n = 0;

		p11_call_begin(m, &c, P11W_FN_GET_SLOT_LIST);
		c.ep = ep;
		rv = p11_call_run(m, &c, m->cfg.default_timeout);
		if (rv == CKR_DEVICE_REMOVED) {
			/* not there (logged): its slots are not shown, the others are */
			p11_call_end(&c);
			rv = CKR_OK;
			continue;
		}
		if (rv == CKR_OK)
			rv = p11_rv_present(&m->cfg, c.rv, 0);
		if (rv == CKR_OK)
			rv = results(m, &c, p11w_get_slot_list(&c.r, &s, &n));
		p11_call_end(&c);
		if (rv == CKR_OK && n > P11W_SLOTS_MAX * P11_EP_MAX - nall)
			rv = CKR_DEVICE_ERROR;
		if (rv == CKR_OK && n && !(grown = OPENSSL_realloc(all, (nall + n) * sizeof(*all))))
			rv = CKR_HOST_MEMORY;
		else if (rv == CKR_OK && n)
			all = grown;
		for (uint32_t i = 0; rv == CKR_OK && i < n; i++) {
			/* a network HSM shows a client its application partitions
			 * only: its admin partition and backup HSMs stay its own */
			if (ep != P11_EP_LOCAL && (s[i].kind != P11W_SLOT_PARTITION || !s[i].token_present))
				continue;
			all[nall] = s[i];
			all[nall].hsm_index = P11_EP_INDEX(ep, s[i].hsm_index);
			nall++;
		}
		OPENSSL_free(s);
		if (rv != CKR_OK)
			goto out;
	}
	if ((rv = p11_slots_number(&m->cfg, all, nall, &t)) != CKR_OK)
		goto out;
	p11_mutex_lock(&m->locking, m->mu);
	old = m->slots;
	m->slots = t;
	p11_mutex_unlock(&m->locking, m->mu);
	p11_slots_free(&old);
out:
	OPENSSL_free(all);
	return rv;
}

/* hsm-sim's slot for the application's id: CKR_SLOT_ID_INVALID for one
 * it does not have (after a look at hsm-sim's list, if it was never
 * fetched or the id is not in it). */
static CK_RV hsm_slot(struct p11_module *m, CK_SLOT_ID id, struct p11_slot *out)
{
	const struct p11_slot *s;
	CK_RV rv;

	for (int tries = 0; tries < 2; tries++) {
		p11_mutex_lock(&m->locking, m->mu);
		if ((s = p11_slots_find(&m->slots, id)) != NULL)
			*out = *s;
		p11_mutex_unlock(&m->locking, m->mu);
		if (s)
			return CKR_OK;
		if (tries == 0 && (rv = refresh_slots(m)) != CKR_OK)
			return rv;
	}
	return CKR_SLOT_ID_INVALID;
}

P11_EXPORT CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	ENTER();
	CK_ULONG n = 0;
	int empty;

	NEED(pulCount);
	p11_mutex_lock(&m->locking, m->mu);
	empty = m->slots.s == NULL;
	p11_mutex_unlock(&m->locking, m->mu);
	/* the list changes only on the length query (or the first call), so the
	 * two calls of the convention see the same slots */
	if ((!pSlotList || empty) && (rv = refresh_slots(m)) != CKR_OK)
		goto out;
	p11_mutex_lock(&m->locking, m->mu);
	for (size_t i = 0; i < m->slots.n; i++) {
		if (tokenPresent && !m->slots.s[i].token_present)
			continue;
		if (pSlotList && n < *pulCount)
			pSlotList[n] = m->slots.s[i].id;
		n++;
	}
	p11_mutex_unlock(&m->locking, m->mu);
	rv = pSlotList && n > *pulCount ? CKR_BUFFER_TOO_SMALL : CKR_OK;
	*pulCount = n;
out:
	LEAVE();
}

P11_EXPORT CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
	ENTER();
	struct p11_slot s;

	NEED(pInfo);
	if ((rv = hsm_slot(m, slotID, &s)) != CKR_OK)
		goto out;
	p11_call_begin(m, &c, P11W_FN_GET_SLOT_INFO);
	c.ep = s.ep;
	p11w_put_ulong(&c.w, s.hsm_slot);
	if ((rv = run(m, &c, m->cfg.default_timeout, 0)) != CKR_OK)
		goto out;
	rv = results(m, &c, p11w_get_slot_info(&c.r, pInfo));
out:
	LEAVE();
}

P11_EXPORT CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
	ENTER();
	struct p11_slot s;

	NEED(pInfo);
	if ((rv = hsm_slot(m, slotID, &s)) != CKR_OK)
		goto out;
	if (!s.token_present) {
		rv = CKR_TOKEN_NOT_PRESENT;
		goto out;
	}
	p11_call_begin(m, &c, P11W_FN_GET_TOKEN_INFO);
	c.ep = s.ep;
	p11w_put_ulong(&c.w, s.hsm_slot);
	if ((rv = run(m, &c, m->cfg.default_timeout, 0)) != CKR_OK)
		goto out;
	if ((rv = results(m, &c, p11w_get_token_info(&c.r, pInfo))) != CKR_OK)
		goto out;
	/* logins go through the PED: that is this module's promise */
	pInfo->flags |= CKF_PROTECTED_AUTHENTICATION_PATH;
out:
	LEAVE();
}

P11_EXPORT CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
				    CK_ULONG_PTR pulCount)
{
	ENTER();
	struct p11_slot s;
	CK_ULONG *list = NULL;
	uint32_t n = 0;

	NEED(pulCount);
	if ((rv = hsm_slot(m, slotID, &s)) != CKR_OK)
		goto out;
	if (!s.token_present) {
		rv = CKR_TOKEN_NOT_PRESENT;
		goto out;
	}
	p11_call_begin(m, &c, P11W_FN_GET_MECHANISM_LIST);
	c.ep = s.ep;
	p11w_put_ulong(&c.w, s.hsm_slot);
	if ((rv = run(m, &c, m->cfg.default_timeout, 0)) != CKR_OK)
		goto out;
	if ((list = OPENSSL_malloc(P11W_MECHS_MAX * sizeof(*list))) == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if ((rv = results(m, &c, p11w_get_ulong_list(&c.r, P11W_MECHS_MAX, list, P11W_MECHS_MAX, &n))) != CKR_OK)
		goto out;
	if (pMechanismList && *pulCount < n)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (pMechanismList)
		memcpy(pMechanismList, list, n * sizeof(*list));
	*pulCount = n;
out:
	OPENSSL_free(list);
	LEAVE();
}

P11_EXPORT CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
	ENTER();
	struct p11_slot s;

	NEED(pInfo);
	if ((rv = hsm_slot(m, slotID, &s)) != CKR_OK)
		goto out;
	if (!s.token_present) {
		rv = CKR_TOKEN_NOT_PRESENT;
		goto out;
	}
	p11_call_begin(m, &c, P11W_FN_GET_MECHANISM_INFO);
	c.ep = s.ep;
	p11w_put_ulong(&c.w, s.hsm_slot);
	p11w_put_ulong(&c.w, type);
	if ((rv = run(m, &c, m->cfg.default_timeout, 0)) != CKR_OK)
		goto out;
	rv = results(m, &c, p11w_get_mechanism_info(&c.r, pInfo));
out:
	LEAVE();
}

/* ---- the PED's ceremonies ------------------------------------------------ */

/* A PIN argument: absent runs the PED; present is a challenge secret,
 * bounded. An empty PIN is absent too: applications that know a PIN pad
 * (a protected authentication path) pass "" as often as NULL_PTR. */
static CK_RV pin_ok(CK_UTF8CHAR_PTR *pin, CK_ULONG len)
{
	if (len == 0)
		*pin = NULL;
	return *pin && len > P11W_PIN_MAX ? CKR_PIN_LEN_RANGE : CKR_OK;
}

P11_EXPORT CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel)
{
	ENTER();
	struct p11_slot s;

	NEED(pLabel);
	if ((rv = pin_ok(&pPin, ulPinLen)) != CKR_OK || (rv = hsm_slot(m, slotID, &s)) != CKR_OK)
		goto out;
	p11_call_begin(m, &c, P11W_FN_INIT_TOKEN);
	c.ep = s.ep;
	p11w_put_ulong(&c.w, s.hsm_slot);
	p11w_put_pin(&c.w, pPin, ulPinLen);
	ped_wbuf_bytes(&c.w, pLabel, 32);
	ped_wbuf_u32(&c.w, ped_ms(m));
	rv = run(m, &c, ped_wait_ms(m), 1);
	p11_defer_forget(m); /* roles and keys the ceremony changed */
out:
	LEAVE();
}

P11_EXPORT CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	ENTER();

	if ((rv = pin_ok(&pPin, ulPinLen)) != CKR_OK)
		goto out;
	p11_call_begin(m, &c, P11W_FN_INIT_PIN);
	put_session(m, &c, hSession);
	p11w_put_pin(&c.w, pPin, ulPinLen);
	ped_wbuf_u32(&c.w, ped_ms(m));
	rv = run(m, &c, ped_wait_ms(m), 1);
	p11_defer_forget(m); /* roles and keys the ceremony changed */
out:
	LEAVE();
}

P11_EXPORT CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
			  CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
	ENTER();

	if ((rv = pin_ok(&pOldPin, ulOldLen)) != CKR_OK || (rv = pin_ok(&pNewPin, ulNewLen)) != CKR_OK)
		goto out;
	p11_call_begin(m, &c, P11W_FN_SET_PIN);
	put_session(m, &c, hSession);
	p11w_put_pin(&c.w, pOldPin, ulOldLen);
	p11w_put_pin(&c.w, pNewPin, ulNewLen);
	ped_wbuf_u32(&c.w, ped_ms(m));
	rv = run(m, &c, ped_wait_ms(m), 1);
	p11_defer_forget(m); /* roles and keys the ceremony changed */
out:
	LEAVE();
}

P11_EXPORT CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
	ENTER();

	if ((rv = pin_ok(&pPin, ulPinLen)) != CKR_OK)
		goto out;
	p11_call_begin(m, &c, P11W_FN_LOGIN);
	put_session(m, &c, hSession);
	p11w_put_ulong(&c.w, userType);
	p11w_put_pin(&c.w, pPin, ulPinLen);
	ped_wbuf_u32(&c.w, ped_ms(m));
	rv = run(m, &c, ped_wait_ms(m), 1);
out:
	LEAVE();
}

/* ---- sessions and objects ------------------------------------------------ */

/* A call whose arguments are handles and whose result is nothing. */
static CK_RV handles_call(uint16_t fn, int n, CK_ULONG a, CK_ULONG b)
{
	ENTER();

	p11_call_begin(m, &c, fn);
	put_session(m, &c, a); /* every caller's first handle is its session */
	if (n > 1)
		p11w_put_ulong(&c.w, b);
	rv = run(m, &c, m->cfg.default_timeout, 0);
	LEAVE();
}

/* A call whose result is one handle or ulong. */
static CK_RV ulong_result(struct p11_module *m, struct p11_call *c, CK_ULONG *out)
{
	CK_ULONG v = p11w_get_ulong(&c->r);
	CK_RV rv = results(m, c, p11w_rbuf_rv(&c->r));
	if (rv == CKR_OK)
		*out = v;
	return rv;
}

P11_EXPORT CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
			       CK_SESSION_HANDLE_PTR phSession)
{
	ENTER();
	struct p11_slot s;

	(void)pApplication, (void)Notify; /* this module never calls back */
	NEED(phSession);
	if (!(flags & CKF_SERIAL_SESSION)) {
		rv = CKR_SESSION_PARALLEL_NOT_SUPPORTED;
		goto out;
	}
	if ((rv = hsm_slot(m, slotID, &s)) != CKR_OK)
		goto out;
	if (!s.token_present) {
		rv = CKR_TOKEN_NOT_PRESENT;
		goto out;
	}
	p11_call_begin(m, &c, P11W_FN_OPEN_SESSION);
	c.ep = s.ep;
	p11w_put_ulong(&c.w, s.hsm_slot);
	p11w_put_ulong(&c.w, flags);
	if ((rv = run(m, &c, m->cfg.default_timeout, 0)) != CKR_OK)
		goto out;
	rv = ulong_result(m, &c, phSession);
	if (rv == CKR_OK && (*phSession >> P11_EP_SHIFT) != 0) {
		p11_log(m, "OpenSession: a session handle the module cannot tag");
		rv = CKR_DEVICE_ERROR;
	} else if (rv == CKR_OK) {
		*phSession |= (CK_ULONG)s.ep << P11_EP_SHIFT;
		p11_defer_opened(m, *phSession, s.hsm_slot);
	}
out:
	LEAVE();
}

P11_EXPORT CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
	CK_RV rv = handles_call(P11W_FN_CLOSE_SESSION, 1, hSession, 0);
	struct p11_module *m;

	/* whatever the answer: nothing deferred outlives the attempt */
	if (p11_module_get(&m) == CKR_OK) {
		p11_defer_closed(m, hSession);
		p11_module_put(m);
	}
	return rv;
}

/* fn changed what the HSM would answer an init: forgotten, whatever its
 * answer (everything, or one key's inits). */
static void defer_forget(int all, CK_OBJECT_HANDLE key)
{
	struct p11_module *m;

	if (p11_module_get(&m) != CKR_OK)
		return;
	if (all)
		p11_defer_forget(m);
	else
		p11_defer_forget_key(m, key);
	p11_module_put(m);
}

P11_EXPORT CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
	ENTER();
	struct p11_slot s;

	if ((rv = hsm_slot(m, slotID, &s)) != CKR_OK)
		goto out;
	p11_call_begin(m, &c, P11W_FN_CLOSE_ALL_SESSIONS);
	c.ep = s.ep;
	p11w_put_ulong(&c.w, s.hsm_slot);
	rv = run(m, &c, m->cfg.default_timeout, 0);
	/* what the module kept of each session goes with it (else with the
	 * module only, at C_Finalize: a long-lived application that closes
	 * its sessions this way grew by each) */
	if (rv == CKR_OK)
		p11_defer_closed_slot(m, s.ep, s.hsm_slot);
	p11_defer_forget(m);
out:
	LEAVE();
}

P11_EXPORT CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
	ENTER();
	const struct p11_slot *s;
	CK_SLOT_ID id = 0;
	int found = 0;

	NEED(pInfo);
	p11_call_begin(m, &c, P11W_FN_GET_SESSION_INFO);
	put_session(m, &c, hSession);
	if ((rv = run(m, &c, m->cfg.default_timeout, 0)) != CKR_OK)
		goto out;
	if ((rv = results(m, &c, p11w_get_session_info(&c.r, pInfo))) != CKR_OK)
		goto out;
	/* hsm-sim's slot number, as the application numbers it */
	for (int tries = 0; tries < 2 && !found; tries++) {
		if (tries && (rv = refresh_slots(m)) != CKR_OK)
			goto out;
		p11_mutex_lock(&m->locking, m->mu);
		if ((s = p11_slots_find_hsm(&m->slots, c.ep, pInfo->slotID)) != NULL) {
			id = s->id;
			found = 1;
		}
		p11_mutex_unlock(&m->locking, m->mu);
	}
	if (!found) {
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	pInfo->slotID = id;
out:
	LEAVE();
}

P11_EXPORT CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
	CK_RV rv = handles_call(P11W_FN_LOGOUT, 1, hSession, 0);
	defer_forget(1, 0); /* private keys' inits would now fail */
	return rv;
}

/* A template argument: NULL only with no attribute. */
static CK_RV template_ok(CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	return !t && n ? CKR_ARGUMENTS_BAD : CKR_OK;
}

P11_EXPORT CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
				CK_OBJECT_HANDLE_PTR phObject)
{
	ENTER();

	NEED(phObject);
	if ((rv = template_ok(pTemplate, ulCount)) != CKR_OK)
		goto out;
	p11_call_begin(m, &c, P11W_FN_CREATE_OBJECT);
	put_session(m, &c, hSession);
	if ((rv = p11w_put_template(&c.w, pTemplate, ulCount, P11W_TPL_VALUES)) != CKR_OK)
		goto out;
	if ((rv = run(m, &c, m->cfg.default_timeout, 0)) != CKR_OK)
		goto out;
	rv = ulong_result(m, &c, phObject);
out:
	LEAVE();
}

P11_EXPORT CK_RV C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
			      CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject)
{
	ENTER();

	NEED(phNewObject);
	if ((rv = template_ok(pTemplate, ulCount)) != CKR_OK)
		goto out;
	p11_call_begin(m, &c, P11W_FN_COPY_OBJECT);
	put_session(m, &c, hSession);
	p11w_put_ulong(&c.w, hObject);
	if ((rv = p11w_put_template(&c.w, pTemplate, ulCount, P11W_TPL_VALUES)) != CKR_OK)
		goto out;
	if ((rv = run(m, &c, m->cfg.default_timeout, 0)) != CKR_OK)
		goto out;
	rv = ulong_result(m, &c, phNewObject);
out:
	LEAVE();
}

P11_EXPORT CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
	CK_RV rv = handles_call(P11W_FN_DESTROY_OBJECT, 2, hSession, hObject);
	defer_forget(0, hObject);
	return rv;
}

P11_EXPORT CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize)
{
	ENTER();

	NEED(pulSize);
	p11_call_begin(m, &c, P11W_FN_GET_OBJECT_SIZE);
	put_session(m, &c, hSession);
	p11w_put_ulong(&c.w, hObject);
	if ((rv = run(m, &c, m->cfg.default_timeout, 0)) != CKR_OK)
		goto out;
	rv = ulong_result(m, &c, pulSize);
out:
	LEAVE();
}

P11_EXPORT CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
				     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	ENTER();
	CK_RV dec;

	if ((rv = template_ok(pTemplate, ulCount)) != CKR_OK)
		goto out;
	p11_call_begin(m, &c, P11W_FN_GET_ATTRIBUTE_VALUE);
	put_session(m, &c, hSession);
	p11w_put_ulong(&c.w, hObject);
	if ((rv = p11w_put_template(&c.w, pTemplate, ulCount, P11W_TPL_LENGTHS)) != CKR_OK)
		goto out;
	if ((rv = p11_call_run(m, &c, m->cfg.default_timeout)) != CKR_OK)
		goto out;
	rv = p11_rv_present(&m->cfg, c.rv, 0);
	if (!p11w_reply_has_results(P11W_FN_GET_ATTRIBUTE_VALUE, c.rv))
		goto out;
	if ((dec = results(m, &c, p11w_get_attr_results(&c.r, pTemplate, ulCount))) != CKR_OK)
		rv = dec;
out:
	LEAVE();
}

P11_EXPORT CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
				     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	ENTER();

	if ((rv = template_ok(pTemplate, ulCount)) != CKR_OK)
		goto out;
	p11_call_begin(m, &c, P11W_FN_SET_ATTRIBUTE_VALUE);
	put_session(m, &c, hSession);
	p11w_put_ulong(&c.w, hObject);
	if ((rv = p11w_put_template(&c.w, pTemplate, ulCount, P11W_TPL_VALUES)) != CKR_OK)
		goto out;
	rv = run(m, &c, m->cfg.default_timeout, 0);
	/* a usage flag or allowed mechanisms may have changed */
	p11_defer_forget_key(m, hObject);
out:
	LEAVE();
}

P11_EXPORT CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	ENTER();

	if ((rv = template_ok(pTemplate, ulCount)) != CKR_OK)
		goto out;
	p11_call_begin(m, &c, P11W_FN_FIND_OBJECTS_INIT);
	put_session(m, &c, hSession);
	if ((rv = p11w_put_template(&c.w, pTemplate, ulCount, P11W_TPL_VALUES)) != CKR_OK)
		goto out;
	rv = run(m, &c, m->cfg.default_timeout, 0);
out:
	LEAVE();
}

P11_EXPORT CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount,
			       CK_ULONG_PTR pulObjectCount)
{
	ENTER();
	uint32_t max = ulMaxObjectCount > P11W_FIND_MAX ? P11W_FIND_MAX : (uint32_t)ulMaxObjectCount, n = 0;

	NEED(pulObjectCount);
	NEED(phObject || !ulMaxObjectCount);
	p11_call_begin(m, &c, P11W_FN_FIND_OBJECTS);
	put_session(m, &c, hSession);
	ped_wbuf_u32(&c.w, max);
	if ((rv = run(m, &c, m->cfg.default_timeout, 0)) != CKR_OK)
		goto out;
	if ((rv = results(m, &c, p11w_get_ulong_list(&c.r, P11W_FIND_MAX, phObject, max, &n))) != CKR_OK)
		goto out;
	*pulObjectCount = n;
out:
	LEAVE();
}

P11_EXPORT CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
	return handles_call(P11W_FN_FIND_OBJECTS_FINAL, 1, hSession, 0);
}

/* ---- operations ---------------------------------------------------------- */

/* EncryptInit, DecryptInit, SignInit, VerifyInit (key), DigestInit (none).
 * One the HSM already accepted on this session is answered here, its
 * arguments kept for the operation's first call (defer.c). */
static CK_RV op_init(uint16_t fn, CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, int with_key, CK_OBJECT_HANDLE key)
{
	ENTER();
	size_t args;

	NEED(mech);
	p11_call_begin(m, &c, fn);
	args = c.w.len; /* the arguments start after the request's header */
	put_session(m, &c, h);
	if ((rv = p11w_put_mechanism(&c.w, mech)) != CKR_OK)
		goto out;
	if (with_key)
		p11w_put_ulong(&c.w, key);
	/* (an encoding that failed goes on to p11_call_run, which says why) */
	if (p11w_wbuf_rv(&c.w) == CKR_OK &&
	    p11_defer_init(m, h, fn, mech, with_key ? key : 0, c.w.p + args, c.w.len - args, &rv))
		goto out;
	rv = p11_call_run(m, &c, m->cfg.default_timeout);
	if (rv == CKR_OK) {
		p11_defer_init_done(m, h, fn, mech, with_key ? key : 0, c.rv);
		rv = p11_rv_present(&m->cfg, c.rv, 0);
	}
out:
	LEAVE();
}

/* An operation's call: the init deferred for it, if any, goes in front of
 * it in one request (WithInit); the answer tells defer.c whether the
 * operation goes on. */
static void op_call_begin(struct p11_module *m, struct p11_call *c, uint16_t fn, CK_SESSION_HANDLE h,
			  struct p11_deferred *d)
{
	int carried = p11_defer_take(m, h, fn, d);

	p11_call_begin(m, c, carried ? P11W_FN_WITH_INIT : fn);
	c->fn = fn; /* its timeouts and log lines are the call's */
	if (carried)
		p11w_put_with_init(&c->w, d->init_fn, d->args, d->len, fn);
	put_session(m, c, h);
}

static CK_RV op_call_run(struct p11_module *m, struct p11_call *c, CK_SESSION_HANDLE h, struct p11_deferred *d,
			 int length_only)
{
	CK_RV rv = p11_call_run(m, c, m->cfg.default_timeout);
	p11_defer_call_done(m, h, c->fn, d, rv == CKR_OK, rv == CKR_OK ? c->rv : rv, length_only);
	return rv;
}

/* PKCS#11: a one-shot, update or verification call that fails ends its
 * operation (but for CKR_BUFFER_TOO_SMALL and a length query). One the
 * module refuses itself, its input or signature too long for a request,
 * never reaches hsm-sim, whose operation would stay active: the next
 * C_xInit would be CKR_OPERATION_ACTIVE. It is ended with the operation's
 * final call (an init still deferred goes with it), whose result is
 * thrown away; for an operation that never began hsm-sim answers
 * CKR_OPERATION_NOT_INITIALIZED, which is as good. */
static void op_abandon(struct p11_module *m, uint16_t fn, CK_SESSION_HANDLE h)
{
	static const uint8_t present[1];
	struct p11_call c;
	struct p11_deferred d;
	uint16_t final;

	switch (p11w_op_init_fn(fn)) {
	case P11W_FN_ENCRYPT_INIT: final = P11W_FN_ENCRYPT_FINAL; break;
	case P11W_FN_DECRYPT_INIT: final = P11W_FN_DECRYPT_FINAL; break;
	case P11W_FN_DIGEST_INIT: final = P11W_FN_DIGEST_FINAL; break;
	case P11W_FN_SIGN_INIT: final = P11W_FN_SIGN_FINAL; break;
	case P11W_FN_VERIFY_INIT: final = P11W_FN_VERIFY_FINAL; break;
	default: return;
	}
	memset(&c, 0, sizeof(c));
	op_call_begin(m, &c, final, h, &d);
	if (final == P11W_FN_VERIFY_FINAL)
		p11w_put_bytes(&c.w, NULL, 0);
	else
		p11w_put_out(&c.w, present, P11W_DATA_MAX);
	(void)op_call_run(m, &c, h, &d, 0);
	p11_call_end(&c);
}

/* A call with output (one-shot, update, final; with input unless final):
 * the HSM applies the two-call convention with the caller's capacity. */
static CK_RV op_out(uint16_t fn, CK_SESSION_HANDLE h, int with_in, const CK_BYTE *in, CK_ULONG inlen,
		    CK_RV too_long, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	ENTER();
	struct p11w_out o;
	struct p11_deferred d;

	NEED(outlen);
	NEED(in || !inlen);
	if (with_in && inlen > P11W_DATA_MAX) {
		rv = too_long;
		op_abandon(m, fn, h);
		goto out;
	}
	op_call_begin(m, &c, fn, h, &d);
	if (with_in)
		p11w_put_bytes(&c.w, in, inlen);
	p11w_put_out(&c.w, out, *outlen);
	o.present = out != NULL;
	o.capacity = out ? *outlen : 0;
	if ((rv = op_call_run(m, &c, h, &d, !out)) != CKR_OK)
		goto out;
	rv = p11_rv_present(&m->cfg, c.rv, 0);
	if (p11w_reply_has_results(fn, c.rv)) {
		CK_ULONG len = 0;
		CK_RV dec = results(m, &c, p11w_get_out_result(&c.r, &o, out, &len));
		if (dec != CKR_OK)
			rv = dec;
		else
			*outlen = len;
	}
out:
	LEAVE();
}

/* SignUpdate, VerifyUpdate, DigestUpdate: input only, in as many requests
 * as it takes. */
static CK_RV op_in(uint16_t fn, CK_SESSION_HANDLE h, const CK_BYTE *in, CK_ULONG inlen)
{
	ENTER();
	CK_ULONG off = 0;
	struct p11_deferred d;

	NEED(in || !inlen);
	do {
		CK_ULONG n = inlen - off > P11W_DATA_MAX ? P11W_DATA_MAX : inlen - off;
		p11_call_end(&c);
		op_call_begin(m, &c, fn, h, &d); /* a deferred init goes with the first part */
		p11w_put_bytes(&c.w, in ? in + off : NULL, n);
		if ((rv = op_call_run(m, &c, h, &d, 0)) != CKR_OK || (rv = p11_rv_present(&m->cfg, c.rv, 0)) != CKR_OK)
			goto out;
		off += n;
	} while (off < inlen);
out:
	LEAVE();
}

P11_EXPORT CK_RV C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return op_init(P11W_FN_ENCRYPT_INIT, h, pMechanism, 1, hKey);
}

P11_EXPORT CK_RV C_Encrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pOut,
			   CK_ULONG_PTR pulOutLen)
{
	return op_out(P11W_FN_ENCRYPT, h, 1, pData, ulDataLen, CKR_DATA_LEN_RANGE, pOut, pulOutLen);
}

P11_EXPORT CK_RV C_EncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, CK_BYTE_PTR pOut,
				 CK_ULONG_PTR pulOutLen)
{
	return op_out(P11W_FN_ENCRYPT_UPDATE, h, 1, pPart, ulPartLen, CKR_DATA_LEN_RANGE, pOut, pulOutLen);
}

P11_EXPORT CK_RV C_EncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR pOut, CK_ULONG_PTR pulOutLen)
{
	return op_out(P11W_FN_ENCRYPT_FINAL, h, 0, NULL, 0, CKR_OK, pOut, pulOutLen);
}

P11_EXPORT CK_RV C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return op_init(P11W_FN_DECRYPT_INIT, h, pMechanism, 1, hKey);
}

P11_EXPORT CK_RV C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR pIn, CK_ULONG ulInLen, CK_BYTE_PTR pOut,
			   CK_ULONG_PTR pulOutLen)
{
	return op_out(P11W_FN_DECRYPT, h, 1, pIn, ulInLen, CKR_ENCRYPTED_DATA_LEN_RANGE, pOut, pulOutLen);
}

P11_EXPORT CK_RV C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR pIn, CK_ULONG ulInLen, CK_BYTE_PTR pOut,
				 CK_ULONG_PTR pulOutLen)
{
	return op_out(P11W_FN_DECRYPT_UPDATE, h, 1, pIn, ulInLen, CKR_ENCRYPTED_DATA_LEN_RANGE, pOut, pulOutLen);
}

P11_EXPORT CK_RV C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR pOut, CK_ULONG_PTR pulOutLen)
{
	return op_out(P11W_FN_DECRYPT_FINAL, h, 0, NULL, 0, CKR_OK, pOut, pulOutLen);
}

P11_EXPORT CK_RV C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pMechanism)
{
	return op_init(P11W_FN_DIGEST_INIT, h, pMechanism, 0, 0);
}

P11_EXPORT CK_RV C_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pDigest,
			  CK_ULONG_PTR pulDigestLen)
{
	return op_out(P11W_FN_DIGEST, h, 1, pData, ulDataLen, CKR_DATA_LEN_RANGE, pDigest, pulDigestLen);
}

P11_EXPORT CK_RV C_DigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return op_in(P11W_FN_DIGEST_UPDATE, h, pPart, ulPartLen);
}

P11_EXPORT CK_RV C_DigestKey(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE hKey)
{
	ENTER();
	struct p11_deferred d;

	op_call_begin(m, &c, P11W_FN_DIGEST_KEY, h, &d);
	p11w_put_ulong(&c.w, hKey);
	if ((rv = op_call_run(m, &c, h, &d, 0)) == CKR_OK)
		rv = p11_rv_present(&m->cfg, c.rv, 0);
	LEAVE();
}

P11_EXPORT CK_RV C_DigestFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
	return op_out(P11W_FN_DIGEST_FINAL, h, 0, NULL, 0, CKR_OK, pDigest, pulDigestLen);
}

P11_EXPORT CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return op_init(P11W_FN_SIGN_INIT, h, pMechanism, 1, hKey);
}

P11_EXPORT CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
			CK_ULONG_PTR pulSignatureLen)
{
	return op_out(P11W_FN_SIGN, h, 1, pData, ulDataLen, CKR_DATA_LEN_RANGE, pSignature, pulSignatureLen);
}

P11_EXPORT CK_RV C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return op_in(P11W_FN_SIGN_UPDATE, h, pPart, ulPartLen);
}

P11_EXPORT CK_RV C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	return op_out(P11W_FN_SIGN_FINAL, h, 0, NULL, 0, CKR_OK, pSignature, pulSignatureLen);
}

P11_EXPORT CK_RV C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
	return op_init(P11W_FN_VERIFY_INIT, h, pMechanism, 1, hKey);
}

P11_EXPORT CK_RV C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
			  CK_ULONG ulSignatureLen)
{
	ENTER();
	struct p11_deferred d;

	NEED(pData || !ulDataLen);
	NEED(pSignature || !ulSignatureLen);
	if (ulSignatureLen > P11W_VALUE_MAX) {
		rv = CKR_SIGNATURE_LEN_RANGE;
		op_abandon(m, P11W_FN_VERIFY, h);
		goto out;
	}
	if (ulDataLen > P11W_DATA_MAX - ulSignatureLen) {
		rv = CKR_DATA_LEN_RANGE;
		op_abandon(m, P11W_FN_VERIFY, h);
		goto out;
	}
	op_call_begin(m, &c, P11W_FN_VERIFY, h, &d);
	p11w_put_bytes(&c.w, pData, ulDataLen);
	p11w_put_bytes(&c.w, pSignature, ulSignatureLen);
	if ((rv = op_call_run(m, &c, h, &d, 0)) == CKR_OK)
		rv = p11_rv_present(&m->cfg, c.rv, 0);
out:
	LEAVE();
}

P11_EXPORT CK_RV C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	return op_in(P11W_FN_VERIFY_UPDATE, h, pPart, ulPartLen);
}

P11_EXPORT CK_RV C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
	ENTER();
	struct p11_deferred d;

	NEED(pSignature || !ulSignatureLen);
	if (ulSignatureLen > P11W_DATA_MAX) {
		rv = CKR_SIGNATURE_LEN_RANGE;
		op_abandon(m, P11W_FN_VERIFY_FINAL, h);
		goto out;
	}
	op_call_begin(m, &c, P11W_FN_VERIFY_FINAL, h, &d);
	p11w_put_bytes(&c.w, pSignature, ulSignatureLen);
	if ((rv = op_call_run(m, &c, h, &d, 0)) == CKR_OK)
		rv = p11_rv_present(&m->cfg, c.rv, 0);
out:
	LEAVE();
}

/* ---- keys ---------------------------------------------------------------- */

P11_EXPORT CK_RV C_GenerateKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pTemplate,
			       CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
	ENTER();

	NEED(pMechanism);
	NEED(phKey);
	if ((rv = template_ok(pTemplate, ulCount)) != CKR_OK)
		goto out;
	p11_call_begin(m, &c, P11W_FN_GENERATE_KEY);
	put_session(m, &c, h);
	if ((rv = p11w_put_mechanism(&c.w, pMechanism)) != CKR_OK ||
	    (rv = p11w_put_template(&c.w, pTemplate, ulCount, P11W_TPL_VALUES)) != CKR_OK)
		goto out;
	if ((rv = run(m, &c, m->cfg.keygen_timeout, 0)) != CKR_OK)
		goto out;
	rv = ulong_result(m, &c, phKey);
out:
	LEAVE();
}

P11_EXPORT CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pMechanism,
				   CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
				   CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
				   CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey)
{
	ENTER();
	CK_ULONG pub, priv;

	NEED(pMechanism);
	NEED(phPublicKey);
	NEED(phPrivateKey);
	if ((rv = template_ok(pPublicKeyTemplate, ulPublicKeyAttributeCount)) != CKR_OK ||
	    (rv = template_ok(pPrivateKeyTemplate, ulPrivateKeyAttributeCount)) != CKR_OK)
		goto out;
	p11_call_begin(m, &c, P11W_FN_GENERATE_KEY_PAIR);
	put_session(m, &c, h);
	if ((rv = p11w_put_mechanism(&c.w, pMechanism)) != CKR_OK ||
	    (rv = p11w_put_template(&c.w, pPublicKeyTemplate, ulPublicKeyAttributeCount, P11W_TPL_VALUES)) != CKR_OK ||
	    (rv = p11w_put_template(&c.w, pPrivateKeyTemplate, ulPrivateKeyAttributeCount, P11W_TPL_VALUES)) != CKR_OK)
		goto out;
	if ((rv = run(m, &c, m->cfg.keygen_timeout, 0)) != CKR_OK)
		goto out;
	pub = p11w_get_ulong(&c.r);
	priv = p11w_get_ulong(&c.r);
	if ((rv = results(m, &c, p11w_rbuf_rv(&c.r))) != CKR_OK)
		goto out;
	*phPublicKey = pub;
	*phPrivateKey = priv;
out:
	LEAVE();
}

P11_EXPORT CK_RV C_WrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey,
			   CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen)
{
	ENTER();
	struct p11w_out o;

	NEED(pMechanism);
	NEED(pulWrappedKeyLen);
	p11_call_begin(m, &c, P11W_FN_WRAP_KEY);
	put_session(m, &c, h);
	if ((rv = p11w_put_mechanism(&c.w, pMechanism)) != CKR_OK)
		goto out;
	p11w_put_ulong(&c.w, hWrappingKey);
	p11w_put_ulong(&c.w, hKey);
	p11w_put_out(&c.w, pWrappedKey, *pulWrappedKeyLen);
	o.present = pWrappedKey != NULL;
	o.capacity = pWrappedKey ? *pulWrappedKeyLen : 0;
	if ((rv = p11_call_run(m, &c, m->cfg.default_timeout)) != CKR_OK)
		goto out;
	rv = p11_rv_present(&m->cfg, c.rv, 0);
	if (p11w_reply_has_results(P11W_FN_WRAP_KEY, c.rv)) {
		CK_ULONG len = 0;
		CK_RV dec = results(m, &c, p11w_get_out_result(&c.r, &o, pWrappedKey, &len));
		if (dec != CKR_OK)
			rv = dec;
		else
			*pulWrappedKeyLen = len;
	}
out:
	LEAVE();
}

P11_EXPORT CK_RV C_UnwrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hUnwrappingKey,
			     CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
			     CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	ENTER();

	NEED(pMechanism);
	NEED(phKey);
	NEED(pWrappedKey || !ulWrappedKeyLen);
	if ((rv = template_ok(pTemplate, ulAttributeCount)) != CKR_OK)
		goto out;
	if (ulWrappedKeyLen > P11W_VALUE_MAX) {
		rv = CKR_WRAPPED_KEY_LEN_RANGE;
		goto out;
	}
	p11_call_begin(m, &c, P11W_FN_UNWRAP_KEY);
	put_session(m, &c, h);
	if ((rv = p11w_put_mechanism(&c.w, pMechanism)) != CKR_OK)
		goto out;
	p11w_put_ulong(&c.w, hUnwrappingKey);
	p11w_put_bytes(&c.w, pWrappedKey, ulWrappedKeyLen);
	if ((rv = p11w_put_template(&c.w, pTemplate, ulAttributeCount, P11W_TPL_VALUES)) != CKR_OK)
		goto out;
	if ((rv = run(m, &c, m->cfg.default_timeout, 0)) != CKR_OK)
		goto out;
	rv = ulong_result(m, &c, phKey);
out:
	LEAVE();
}

P11_EXPORT CK_RV C_DeriveKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey,
			     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
	ENTER();

	NEED(pMechanism);
	NEED(phKey);
	if ((rv = template_ok(pTemplate, ulAttributeCount)) != CKR_OK)
		goto out;
	p11_call_begin(m, &c, P11W_FN_DERIVE_KEY);
	put_session(m, &c, h);
	if ((rv = p11w_put_mechanism(&c.w, pMechanism)) != CKR_OK)
		goto out;
	p11w_put_ulong(&c.w, hBaseKey);
	if ((rv = p11w_put_template(&c.w, pTemplate, ulAttributeCount, P11W_TPL_VALUES)) != CKR_OK)
		goto out;
	if ((rv = run(m, &c, m->cfg.default_timeout, 0)) != CKR_OK)
		goto out;
	rv = ulong_result(m, &c, phKey);
out:
	LEAVE();
}

P11_EXPORT CK_RV C_SeedRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
	ENTER();
	CK_ULONG off = 0;

	NEED(pSeed || !ulSeedLen);
	do {
		CK_ULONG n = ulSeedLen - off > P11W_DATA_MAX ? P11W_DATA_MAX : ulSeedLen - off;
		p11_call_end(&c);
		p11_call_begin(m, &c, P11W_FN_SEED_RANDOM);
		put_session(m, &c, h);
		p11w_put_bytes(&c.w, pSeed ? pSeed + off : NULL, n);
		if ((rv = run(m, &c, m->cfg.default_timeout, 0)) != CKR_OK)
			goto out;
		off += n;
	} while (off < ulSeedLen);
out:
	LEAVE();
}

P11_EXPORT CK_RV C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR pRandomData, CK_ULONG ulRandomLen)
{
	ENTER();
	CK_ULONG off = 0;

	NEED(pRandomData || !ulRandomLen);
	do {
		CK_ULONG n = ulRandomLen - off > P11W_DATA_MAX ? P11W_DATA_MAX : ulRandomLen - off;
		const uint8_t *p;
		size_t got = 0;
		p11_call_end(&c);
		p11_call_begin(m, &c, P11W_FN_GENERATE_RANDOM);
		put_session(m, &c, h);
		ped_wbuf_u32(&c.w, (uint32_t)n);
		if ((rv = run(m, &c, m->cfg.default_timeout, 0)) != CKR_OK)
			goto out;
		p = p11w_get_bytes(&c.r, P11W_DATA_MAX, &got);
		if ((rv = results(m, &c, p11w_rbuf_rv(&c.r))) != CKR_OK)
			goto out;
		if (got != n) {
			rv = CKR_DEVICE_ERROR;
			goto out;
		}
		if (n)
			memcpy(pRandomData + off, p, n);
		off += n;
	} while (off < ulRandomLen);
out:
	LEAVE();
}
