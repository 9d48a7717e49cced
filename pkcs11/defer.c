/* Deferred inits (docs/pkcs11.md, "One round trip per operation"): an
 * operation's init that the HSM has already accepted on this session, for
 * this key, mechanism and parameter shape, is answered here and travels
 * with the operation's first call (WithInit, docs/protocol.md section 13).
 * Anything this application does that could change the HSM's answer ends
 * what is known: C_DestroyObject and C_SetAttributeValue of the key,
 * C_Logout, closing the session (and a session object's key with it), the
 * operation's own failure, a lost connection. The first init of any
 * (session, key, mechanism, shape) is a full round trip, so its errors come
 * from C_xInit as they always did. Everything here is under the module's
 * lock, held briefly and never across I/O. */
#include "p11.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 256
#define ACCEPTED_MAX 16 /* (key, mechanism, shape) remembered per session */
/* An init whose arguments are longer (a large GCM AAD, an OAEP label)
 * goes alone: with it, a call with the most data one request carries
 * still fits (its header, WithInit's, the call's session, data and
 * output buffer, or a verification's data and signature). */
#define DEFER_ARGS_MAX 512
_Static_assert(6 + 8 + DEFER_ARGS_MAX + 8 + 4 + P11W_DATA_MAX + 4 + 9 <= P11W_PAYLOAD_MAX,
	       "a deferred init and the largest call fit one request");
/* hsm-sim's session objects: they go with the session that made them */
#define SESSION_OBJECT_BIT (UINT64_C(1) << 62)

/* What the HSM validates of a mechanism at init, besides its type: the
 * parameter's kind and size, and its fields other than byte strings'
 * contents (an IV's length, not its bytes). */
struct shape {
	uint64_t v[6];
};

struct accepted {
	uint16_t init_fn;
	CK_OBJECT_HANDLE key;
	struct shape shape;
};

enum op_state { OP_UNKNOWN, OP_IDLE, OP_PENDING, OP_TAKEN };

struct pending {
	struct shape shape;
	CK_OBJECT_HANDLE key;
	uint8_t *args; /* the init's arguments, as its own request carries them */
	size_t len;
};

struct dsession {
	CK_SESSION_HANDLE h;
	CK_SLOT_ID hsm_slot; /* its slot, hsm-sim's number on its endpoint (h's top byte) */
	uint8_t state[P11_OPS];
	struct pending pend[P11_OPS];
	struct accepted acc[ACCEPTED_MAX];
	size_t nacc, next_acc;
	struct dsession *next;
};

struct p11_defer {
	struct dsession *b[BUCKETS];
};

static int op_index(uint16_t init_fn)
{
	switch (init_fn) {
	case P11W_FN_ENCRYPT_INIT: return 0;
	case P11W_FN_DECRYPT_INIT: return 1;
	case P11W_FN_DIGEST_INIT: return 2;
	case P11W_FN_SIGN_INIT: return 3;
	case P11W_FN_VERIFY_INIT: return 4;
	}
	return -1;
}

/* 0 when the module does not know the parameter's layout well enough to
 * say two are alike: such an init always goes to the HSM. */
static int shape_of(const CK_MECHANISM *m, struct shape *s)
{
	memset(s, 0, sizeof(*s));
	s->v[0] = m->mechanism;
	s->v[1] = m->pParameter ? m->ulParameterLen : 0;
	if (!m->pParameter)
		return 1;
	switch (p11w_mech_param_kind(m->mechanism)) {
	case P11W_PARAM_RAW: return 1; /* its length (a CBC IV's), never its bytes */
	case P11W_PARAM_GCM: {
		const CK_GCM_PARAMS *g = m->pParameter;
		if (m->ulParameterLen != sizeof(*g))
			return 0;
		s->v[2] = g->ulIvLen, s->v[3] = g->ulAADLen, s->v[4] = g->ulTagBits;
		return 1;
	}
	case P11W_PARAM_CTR: {
		const CK_AES_CTR_PARAMS *c = m->pParameter;
		if (m->ulParameterLen != sizeof(*c))
			return 0;
		s->v[2] = c->ulCounterBits;
		return 1;
	}
	case P11W_PARAM_PSS: {
		const CK_RSA_PKCS_PSS_PARAMS *p = m->pParameter;
		if (m->ulParameterLen != sizeof(*p))
			return 0;
		s->v[2] = p->hashAlg, s->v[3] = p->mgf, s->v[4] = p->sLen;
		return 1;
	}
	case P11W_PARAM_OAEP: {
		const CK_RSA_PKCS_OAEP_PARAMS *o = m->pParameter;
		if (m->ulParameterLen != sizeof(*o))
			return 0;
		s->v[2] = o->hashAlg, s->v[3] = o->mgf, s->v[4] = o->source, s->v[5] = o->ulSourceDataLen;
		return 1;
	}
	default: return 0;
	}
}

static struct dsession **slot_of(struct p11_defer *d, CK_SESSION_HANDLE h)
{
	struct dsession **pp = &d->b[(h ^ (h >> 8) ^ (h >> 56)) % BUCKETS];
	while (*pp && (*pp)->h != h)
		pp = &(*pp)->next;
	return pp;
}

static struct dsession *find(struct p11_module *m, CK_SESSION_HANDLE h)
{
	return m->defer ? *slot_of(m->defer, h) : NULL;
}

static void pending_clear(struct pending *p)
{
	if (p->args)
		OPENSSL_clear_free(p->args, p->len ? p->len : 1);
	memset(p, 0, sizeof(*p));
}

static void session_free(struct dsession *s)
{
	for (int k = 0; k < P11_OPS; k++)
		pending_clear(&s->pend[k]);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

/* What the HSM accepted, and what the module knows of the operations:
 * forgotten (an operation deferred and not yet sent goes too). */
static void session_forget(struct dsession *s)
{
	for (int k = 0; k < P11_OPS; k++) {
		pending_clear(&s->pend[k]);
		s->state[k] = OP_UNKNOWN;
	}
	s->nacc = s->next_acc = 0;
}

static void acc_drop_if(struct dsession *s, int (*match)(const struct accepted *, const void *), const void *arg)
{
	size_t j = 0;
	for (size_t i = 0; i < s->nacc; i++)
		if (!match(&s->acc[i], arg))
			s->acc[j++] = s->acc[i];
	s->nacc = j;
	s->next_acc = j % ACCEPTED_MAX;
}

static int same(const struct accepted *a, const void *arg)
{
	const struct accepted *b = arg;
	return a->init_fn == b->init_fn && a->key == b->key && !memcmp(&a->shape, &b->shape, sizeof(a->shape));
}

static int key_is(const struct accepted *a, const void *arg)
{
	return a->key == *(const CK_OBJECT_HANDLE *)arg;
}

static int session_object(const struct accepted *a, const void *arg)
{
	(void)arg;
	return ((uint64_t)a->key & SESSION_OBJECT_BIT) != 0;
}

static int accepted(const struct dsession *s, const struct accepted *want)
{
	for (size_t i = 0; i < s->nacc; i++)
		if (same(&s->acc[i], want))
			return 1;
	return 0;
}

static void each_session(struct p11_module *m, void (*fn)(struct dsession *, const void *), const void *arg)
{
	if (!m->defer)
		return;
	for (int i = 0; i < BUCKETS; i++)
		for (struct dsession *s = m->defer->b[i]; s; s = s->next)
			fn(s, arg);
}

void p11_defer_opened(struct p11_module *m, CK_SESSION_HANDLE h, CK_SLOT_ID hsm_slot)
{
	struct dsession **pp, *s;

	p11_mutex_lock(&m->locking, m->mu);
	if (!m->defer && (m->defer = calloc(1, sizeof(*m->defer))) == NULL)
		goto out;
	pp = slot_of(m->defer, h);
	if (*pp) /* a handle hsm-sim gave again: a new session */
		session_forget(*pp);
	else if ((*pp = calloc(1, sizeof(**pp))) == NULL)
		goto out;
	s = *pp;
	s->h = h;
	s->hsm_slot = hsm_slot;
	/* a new session has no operation */
	memset(s->state, OP_IDLE, sizeof(s->state));
out:
	p11_mutex_unlock(&m->locking, m->mu);
}

static void drop_session_objects(struct dsession *s, const void *arg)
{
	acc_drop_if(s, session_object, arg);
}

void p11_defer_closed(struct p11_module *m, CK_SESSION_HANDLE h)
{
	struct dsession **pp, *s;

	p11_mutex_lock(&m->locking, m->mu);
	if (m->defer && (s = *(pp = slot_of(m->defer, h))) != NULL) {
		*pp = s->next;
		session_free(s);
	}
	/* its session objects went with it, wherever they were used */
	each_session(m, drop_session_objects, NULL);
	p11_mutex_unlock(&m->locking, m->mu);
}

void p11_defer_closed_slot(struct p11_module *m, uint8_t ep, CK_SLOT_ID hsm_slot)
{
	p11_mutex_lock(&m->locking, m->mu);
	for (int i = 0; m->defer && i < BUCKETS; i++)
		for (struct dsession **pp = &m->defer->b[i]; *pp;) {
			struct dsession *s = *pp;
			if ((uint8_t)(s->h >> P11_EP_SHIFT) == ep && s->hsm_slot == hsm_slot) {
				*pp = s->next;
				session_free(s);
			} else {
				pp = &s->next;
			}
		}
	/* their session objects went with them */
	each_session(m, drop_session_objects, NULL);
	p11_mutex_unlock(&m->locking, m->mu);
}

size_t p11_defer_pending(struct p11_module *m)
{
	size_t n = 0;

	p11_mutex_lock(&m->locking, m->mu);
	for (int i = 0; m->defer && i < BUCKETS; i++)
		for (const struct dsession *s = m->defer->b[i]; s; s = s->next)
			for (int k = 0; k < P11_OPS; k++)
				n += s->pend[k].args != NULL;
	p11_mutex_unlock(&m->locking, m->mu);
	return n;
}

size_t p11_defer_sessions(struct p11_module *m)
{
	size_t n = 0;

	p11_mutex_lock(&m->locking, m->mu);
	for (int i = 0; m->defer && i < BUCKETS; i++)
		for (const struct dsession *s = m->defer->b[i]; s; s = s->next)
			n++;
	p11_mutex_unlock(&m->locking, m->mu);
	return n;
}

static void forget_session(struct dsession *s, const void *arg)
{
	(void)arg;
	session_forget(s);
}

void p11_defer_forget(struct p11_module *m)
{
	p11_mutex_lock(&m->locking, m->mu);
	each_session(m, forget_session, NULL);
	p11_mutex_unlock(&m->locking, m->mu);
}

static void drop_key(struct dsession *s, const void *arg)
{
	acc_drop_if(s, key_is, arg);
}

void p11_defer_forget_key(struct p11_module *m, CK_OBJECT_HANDLE key)
{
	p11_mutex_lock(&m->locking, m->mu);
	each_session(m, drop_key, &key);
	p11_mutex_unlock(&m->locking, m->mu);
}

void p11_defer_free(struct p11_module *m)
{
	if (!m->defer)
		return;
	for (int i = 0; i < BUCKETS; i++)
		while (m->defer->b[i]) {
			struct dsession *s = m->defer->b[i];
			m->defer->b[i] = s->next;
			session_free(s);
		}
	free(m->defer);
	m->defer = NULL;
}

int p11_defer_init(struct p11_module *m, CK_SESSION_HANDLE h, uint16_t init_fn, const CK_MECHANISM *mech,
		   CK_OBJECT_HANDLE key, const uint8_t *args, size_t len, CK_RV *rv)
{
	struct accepted want = {.init_fn = init_fn, .key = key};
	struct dsession *s;
	int k = op_index(init_fn), done = 0;

	if (k < 0 || len > DEFER_ARGS_MAX || !shape_of(mech, &want.shape))
		return 0;
	p11_mutex_lock(&m->locking, m->mu);
	if ((s = find(m, h)) == NULL)
		goto out;
	if (s->state[k] == OP_PENDING || s->state[k] == OP_TAKEN) {
		/* what the HSM would answer: it has (or is about to have) one */
		*rv = CKR_OPERATION_ACTIVE;
		done = 1;
		goto out;
	}
	if (s->state[k] != OP_IDLE || !accepted(s, &want))
		goto out;
	if ((s->pend[k].args = OPENSSL_memdup(args, len ? len : 1)) == NULL)
		goto out;
	s->pend[k].len = len;
	s->pend[k].key = key;
	s->pend[k].shape = want.shape;
	s->state[k] = OP_PENDING;
	*rv = CKR_OK;
	done = 1;
out:
	p11_mutex_unlock(&m->locking, m->mu);
	return done;
}

void p11_defer_init_done(struct p11_module *m, CK_SESSION_HANDLE h, uint16_t init_fn, const CK_MECHANISM *mech,
			 CK_OBJECT_HANDLE key, CK_RV rv)
{
	struct accepted a = {.init_fn = init_fn, .key = key};
	struct dsession *s;
	int k = op_index(init_fn), shaped = k >= 0 && shape_of(mech, &a.shape);

	p11_mutex_lock(&m->locking, m->mu);
	if ((s = find(m, h)) == NULL || k < 0)
		goto out;
	if (rv == CKR_SESSION_HANDLE_INVALID) {
		session_forget(s);
		goto out;
	}
	if (rv == CKR_OK || rv == CKR_OPERATION_ACTIVE) {
		/* an init another thread deferred on this session while this
		 * one was at the HSM (two threads on one session) is not the
		 * operation the HSM runs: dropped, not left to leak when the
		 * next init is deferred */
		pending_clear(&s->pend[k]);
		s->state[k] = OP_UNKNOWN; /* an operation runs: its calls will say when it ends */
	}
	if (!shaped)
		goto out;
	acc_drop_if(s, same, &a);
	if (rv == CKR_OK) {
		s->acc[s->next_acc] = a;
		s->next_acc = (s->next_acc + 1) % ACCEPTED_MAX;
		if (s->nacc < ACCEPTED_MAX)
			s->nacc++;
	}
out:
	p11_mutex_unlock(&m->locking, m->mu);
}

int p11_defer_take(struct p11_module *m, CK_SESSION_HANDLE h, uint16_t fn, struct p11_deferred *out)
{
	uint16_t init_fn = p11w_op_init_fn(fn);
	int k = op_index(init_fn), taken = 0;
	struct dsession *s;

	memset(out, 0, sizeof(*out));
	if (k < 0)
		return 0;
	p11_mutex_lock(&m->locking, m->mu);
	if ((s = find(m, h)) != NULL && s->state[k] == OP_PENDING) {
		out->init_fn = init_fn;
		out->key = s->pend[k].key;
		out->args = s->pend[k].args;
		out->len = s->pend[k].len;
		memcpy(out->shape, s->pend[k].shape.v, sizeof(out->shape));
		s->pend[k].args = NULL;
		pending_clear(&s->pend[k]);
		s->state[k] = OP_TAKEN;
		taken = 1;
	}
	p11_mutex_unlock(&m->locking, m->mu);
	return taken;
}

/* Whether fn's answer rv ends its operation for sure (PKCS#11: a one-shot
 * or final call ends it unless it only told a length). */
static int ends_operation(uint16_t fn, CK_RV rv, int length_only)
{
	switch (fn) {
	case P11W_FN_ENCRYPT:
	case P11W_FN_DECRYPT:
	case P11W_FN_DIGEST:
	case P11W_FN_SIGN:
	case P11W_FN_ENCRYPT_FINAL:
	case P11W_FN_DECRYPT_FINAL:
	case P11W_FN_DIGEST_FINAL:
	case P11W_FN_SIGN_FINAL: return rv == CKR_OK && !length_only;
	case P11W_FN_VERIFY:
	case P11W_FN_VERIFY_FINAL: return rv == CKR_OK;
	}
	return 0;
}

void p11_defer_call_done(struct p11_module *m, CK_SESSION_HANDLE h, uint16_t fn, struct p11_deferred *carried,
			 int answered, CK_RV rv, int length_only)
{
	int k = op_index(p11w_op_init_fn(fn));
	struct dsession *s;

	if (k < 0)
		goto out;
	if (!answered) {
		/* the connection went: what hsm-sim holds is not known any more */
		p11_defer_forget(m);
		goto out;
	}
	p11_mutex_lock(&m->locking, m->mu);
	if ((s = find(m, h)) != NULL) {
		if (rv == CKR_SESSION_HANDLE_INVALID)
			session_forget(s);
		else if (carried->args && rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) {
			/* the operation's own failure: its init (or the call)
			 * goes to the HSM in full next time */
			struct accepted a = {.init_fn = carried->init_fn, .key = carried->key};
			memcpy(a.shape.v, carried->shape, sizeof(a.shape.v));
			acc_drop_if(s, same, &a);
		}
		if (rv != CKR_SESSION_HANDLE_INVALID)
			s->state[k] = ends_operation(fn, rv, length_only) ? OP_IDLE : OP_UNKNOWN;
	}
	p11_mutex_unlock(&m->locking, m->mu);
out:
	if (carried->args)
		OPENSSL_clear_free(carried->args, carried->len ? carried->len : 1);
	memset(carried, 0, sizeof(*carried));
}
