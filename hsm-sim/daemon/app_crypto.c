/* Operations and key management for the application protocol (app.h).
 * The HSM's command lock is held only to find a key and copy what the
 * operation needs (hsm_op_init copies key material): the computation runs
 * outside it, so operations run side by side and never wait on a PED
 * ceremony of their HSM longer than that lookup. Keys are generated
 * outside the lock too, then kept under it (and saved, for token keys). */
#include "app_int.h"

#include "hsm/ck.h"
#include "ped/log.h"

#include <openssl/crypto.h>
#include <string.h>

enum { ONESHOT, UPDATE, FINAL };

/* Each data function: its operation, how it runs, what it carries. */
static const struct opfn {
	uint16_t fn;
	enum app_op kind;
	CK_FLAGS flag; /* for the init functions */
	uint8_t mode, in, out, key;
} opfns[] = {
	{P11W_FN_ENCRYPT_INIT, APP_OP_ENCRYPT, CKF_ENCRYPT, 0, 0, 0, 1},
	{P11W_FN_ENCRYPT, APP_OP_ENCRYPT, 0, ONESHOT, 1, 1, 0},
	{P11W_FN_ENCRYPT_UPDATE, APP_OP_ENCRYPT, 0, UPDATE, 1, 1, 0},
	{P11W_FN_ENCRYPT_FINAL, APP_OP_ENCRYPT, 0, FINAL, 0, 1, 0},
	{P11W_FN_DECRYPT_INIT, APP_OP_DECRYPT, CKF_DECRYPT, 0, 0, 0, 1},
	{P11W_FN_DECRYPT, APP_OP_DECRYPT, 0, ONESHOT, 1, 1, 0},
	{P11W_FN_DECRYPT_UPDATE, APP_OP_DECRYPT, 0, UPDATE, 1, 1, 0},
	{P11W_FN_DECRYPT_FINAL, APP_OP_DECRYPT, 0, FINAL, 0, 1, 0},
	{P11W_FN_DIGEST_INIT, APP_OP_DIGEST, CKF_DIGEST, 0, 0, 0, 0},
	{P11W_FN_DIGEST, APP_OP_DIGEST, 0, ONESHOT, 1, 1, 0},
	{P11W_FN_DIGEST_UPDATE, APP_OP_DIGEST, 0, UPDATE, 1, 0, 0},
	{P11W_FN_DIGEST_FINAL, APP_OP_DIGEST, 0, FINAL, 0, 1, 0},
	{P11W_FN_SIGN_INIT, APP_OP_SIGN, CKF_SIGN, 0, 0, 0, 1},
	{P11W_FN_SIGN, APP_OP_SIGN, 0, ONESHOT, 1, 1, 0},
	{P11W_FN_SIGN_UPDATE, APP_OP_SIGN, 0, UPDATE, 1, 0, 0},
	{P11W_FN_SIGN_FINAL, APP_OP_SIGN, 0, FINAL, 0, 1, 0},
	{P11W_FN_VERIFY_INIT, APP_OP_VERIFY, CKF_VERIFY, 0, 0, 0, 1},
	{P11W_FN_VERIFY_UPDATE, APP_OP_VERIFY, 0, UPDATE, 1, 0, 0},
};

static const struct opfn *opfn_of(uint16_t fn)
{
	for (size_t i = 0; i < sizeof(opfns) / sizeof(opfns[0]); i++)
		if (opfns[i].fn == fn)
			return &opfns[i];
	return NULL;
}

/* Whether this call's login may use keys: the Partition SO manages
 * policies, never keys. Under the HSM's lock. */
static CK_RV may_use_keys(struct app_call *c)
{
	return app_role(c, NULL) == HSM_ROLE_PO ? CKR_ACTION_PROHIBITED : CKR_OK;
}

CK_RV app_op_init(struct app_call *c)
{
	const struct opfn *f = opfn_of(c->fn);
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	struct p11w_mech m;
	CK_OBJECT_HANDLE kh = 0;
	struct hsm_key_env env;
	struct hsm_obj *key = NULL;
	struct hsm_op *op = NULL;
	int private = 0, user_ok = 0;
	CK_RV rv;

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	if ((rv = p11w_get_mechanism(c->r, &m)) != CKR_OK)
		return rv;
	if (f->key)
		kh = p11w_get_ulong(c->r);
	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_OPS | APP_USE_HSM)) != CKR_OK)
		goto out;
	if (c->s->op[f->kind]) {
		rv = CKR_OPERATION_ACTIVE;
		goto out;
	}
	if (f->key && ((rv = may_use_keys(c)) != CKR_OK || (rv = app_obj_get(c, kh, 1, &key)) != CKR_OK))
		goto out;
	private = key && app_obj_private(key);
	user_ok = private && app_need_user(c) == CKR_OK;
	if (key) {
		c->audit_obj = kh;
		c->audit_ouid = key->ouid;
	}
	app_key_env(c, &env);
	/* copies what it needs: the key may go while the operation lives */
	rv = hsm_op_init(&env, f->flag, &m.m, key, &op);
	app_release_hsm(c);
	if (rv != CKR_OK) {
		ped_trace("application %u: %s: %s", c->a->no, p11w_fn_name(c->fn), hsm_ck_why());
		goto out;
	}
	c->s->op[f->kind] = op;
	c->s->op_private[f->kind] = (uint8_t)private;
	c->user_checked = user_ok;
out:
	p11w_mech_free(&m);
	return rv;
}

/* An operation's next call: its key's login must still be there (an
 * operator's role logout, the HSM's epoch): else it ends. */
static CK_RV still_logged_in(struct app_call *c, enum app_op k)
{
	CK_RV rv;

	/* with its init in one request (WithInit), the init's look stands: a
	 * logout between the two is one after the request */
	if (!c->s->op_private[k] || c->user_checked)
		return CKR_OK;
	if ((rv = app_hold(c)) != CKR_OK)
		return rv;
	rv = app_need_user(c);
	app_release_hsm(c);
	if (rv != CKR_OK) {
		hsm_op_free(c->s->op[k]);
		c->s->op[k] = NULL;
		c->s->op_private[k] = 0;
	}
	return rv;
}

static CK_RV run(struct hsm_op *op, int mode, const uint8_t *in, size_t inlen, uint8_t *out, CK_ULONG *outlen)
{
	switch (mode) {
	case ONESHOT: return hsm_op_oneshot(op, in, inlen, out, outlen);
	case UPDATE: return hsm_op_update(op, in, inlen, out, outlen);
	default: return hsm_op_final(op, out, outlen);
	}
}

/* The most one reply carries. */
#define OUT_MAX (P11W_PAYLOAD_MAX - 64)

/* A call with output under PKCS#11's two-call convention, with the
 * caller's capacity, its result into w: the length first (nothing
 * consumed), then output of that length or of the capacity, whichever is
 * less (never the caller's claim), made where the reply carries it. */
static CK_RV run_out(struct hsm_op *op, int mode, const uint8_t *in, size_t inlen, const struct p11w_out *o,
		     struct ped_wbuf *w)
{
	CK_ULONG need = 0, cap, len;
	CK_RV rv = run(op, mode, in, inlen, NULL, &need);
	uint8_t *dst;
	size_t at;

	if (rv != CKR_OK)
		return rv;
	if (!o->present) {
		p11w_put_out_result(w, o, NULL, need);
		return rv;
	}
	cap = o->capacity < need ? (CK_ULONG)o->capacity : need;
	if (cap > OUT_MAX)
		cap = OUT_MAX;
	if ((dst = p11w_out_begin(w, cap, &at)) == NULL)
		return CKR_HOST_MEMORY;
	len = cap;
	rv = run(op, mode, in, inlen, dst, &len);
	if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL)
		p11w_out_end(w, at, len, rv == CKR_OK);
	else
		ped_wbuf_truncate(w, at); /* whatever it wrote before it failed */
	return rv;
}

CK_RV app_op_data(struct app_call *c)
{
	const struct opfn *f = opfn_of(c->fn);
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	const uint8_t *in = NULL;
	size_t inlen = 0;
	struct p11w_out o = {0, 0};
	struct hsm_op *op;
	CK_RV rv;

	if (!f)
		return CKR_FUNCTION_NOT_SUPPORTED;
	if (f->in)
		in = p11w_get_bytes(c->r, P11W_DATA_MAX, &inlen);
	if (f->out && p11w_get_out(c->r, &o) != CKR_OK)
		return CKR_ARGUMENTS_BAD;
	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_OPS)) != CKR_OK)
		return rv;
	if ((op = c->s->op[f->kind]) == NULL)
		return CKR_OPERATION_NOT_INITIALIZED;
	if ((rv = still_logged_in(c, f->kind)) != CKR_OK)
		return rv;
	if (f->out)
		rv = run_out(op, f->mode, in, inlen, &o, c->w);
	else
		rv = hsm_op_update(op, in, inlen, NULL, NULL);
	if (!hsm_op_active(op)) {
		hsm_op_free(op);
		c->s->op[f->kind] = NULL;
		c->s->op_private[f->kind] = 0;
	}
	return rv;
}

/* Verify and VerifyFinal: the signature in, a verdict out. */
static CK_RV verify(struct app_call *c, int final)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	const uint8_t *data = NULL, *sig;
	size_t dlen = 0, slen = 0;
	struct hsm_op *op;
	CK_RV rv;

	if (!final)
		data = p11w_get_bytes(c->r, P11W_DATA_MAX, &dlen);
	sig = p11w_get_bytes(c->r, P11W_DATA_MAX, &slen);
	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_OPS)) != CKR_OK)
		return rv;
	if ((op = c->s->op[APP_OP_VERIFY]) == NULL)
		return CKR_OPERATION_NOT_INITIALIZED;
	if ((rv = still_logged_in(c, APP_OP_VERIFY)) != CKR_OK)
		return rv;
	rv = final ? hsm_op_verify_final(op, sig, slen) : hsm_op_verify(op, data, dlen, sig, slen);
	if (!hsm_op_active(op)) {
		hsm_op_free(op);
		c->s->op[APP_OP_VERIFY] = NULL;
		c->s->op_private[APP_OP_VERIFY] = 0;
	}
	return rv;
}

CK_RV app_verify(struct app_call *c)
{
	return verify(c, 0);
}

CK_RV app_verify_final(struct app_call *c)
{
	return verify(c, 1);
}

CK_RV app_digest_key(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	CK_OBJECT_HANDLE kh = p11w_get_ulong(c->r);
	struct hsm_key_env env;
	struct hsm_obj *key;
	struct hsm_op *op;
	CK_RV rv;

	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_OPS | APP_USE_HSM)) != CKR_OK)
		return rv;
	if ((op = c->s->op[APP_OP_DIGEST]) == NULL)
		return CKR_OPERATION_NOT_INITIALIZED;
	if ((rv = may_use_keys(c)) != CKR_OK || (rv = app_obj_get(c, kh, 1, &key)) != CKR_OK)
		return rv;
	app_key_env(c, &env);
	rv = hsm_op_digest_key(op, &env, key);
	if (!hsm_op_active(op)) {
		hsm_op_free(op);
		c->s->op[APP_OP_DIGEST] = NULL;
	}
	return rv;
}

/* ---- key management --------------------------------------------------------- */

CK_RV app_generate_key(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	struct p11w_mech m;
	struct p11w_template t;
	struct hsm_key_env env;
	struct hsm_obj *o = NULL;
	CK_OBJECT_HANDLE out;
	CK_RV rv;

	if ((rv = p11w_get_mechanism(c->r, &m)) != CKR_OK)
		return rv;
	if ((rv = p11w_get_template(c->r, P11W_TPL_VALUES, &t)) != CKR_OK) {
		p11w_mech_free(&m);
		return rv;
	}
	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK ||
	    (rv = app_need_co(c)) != CKR_OK || (rv = app_may_make(c, t.attrs, t.count)) != CKR_OK)
		goto out;
	app_key_env(c, &env);
	app_release_hsm(c); /* generated outside the lock, kept under it */
	if ((rv = hsm_generate_key(&env, &m.m, t.attrs, t.count, &o)) != CKR_OK) {
		ped_trace("application %u: GenerateKey: %s", c->a->no, hsm_ck_why());
		goto out;
	}
	if ((rv = app_hold(c)) != CKR_OK || (rv = app_need_co(c)) != CKR_OK)
		goto out;
	rv = app_obj_keep(c, o, &out);
	o = NULL;
	if (rv == CKR_OK) {
		p11w_put_ulong(c->w, out);
		c->audit_obj = out;
	}
out:
	hsm_obj_free(o);
	p11w_template_free(&t);
	p11w_mech_free(&m);
	return rv;
}

CK_RV app_generate_key_pair(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	struct p11w_mech m;
	struct p11w_template pt, st;
	struct hsm_key_env env;
	struct hsm_obj *pub = NULL, *priv = NULL;
	CK_OBJECT_HANDLE out[2];
	CK_RV rv;

	memset(&st, 0, sizeof(st));
	if ((rv = p11w_get_mechanism(c->r, &m)) != CKR_OK)
		return rv;
	if ((rv = p11w_get_template(c->r, P11W_TPL_VALUES, &pt)) != CKR_OK) {
		p11w_mech_free(&m);
		return rv;
	}
	if ((rv = p11w_get_template(c->r, P11W_TPL_VALUES, &st)) != CKR_OK)
		goto out;
	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK ||
	    (rv = app_need_co(c)) != CKR_OK || (rv = app_may_make(c, pt.attrs, pt.count)) != CKR_OK ||
	    (rv = app_may_make(c, st.attrs, st.count)) != CKR_OK)
		goto out;
	app_key_env(c, &env);
	app_release_hsm(c); /* an RSA key takes a while: other calls go on */
	if ((rv = hsm_generate_key_pair(&env, &m.m, pt.attrs, pt.count, st.attrs, st.count, &pub, &priv)) != CKR_OK) {
		ped_trace("application %u: GenerateKeyPair: %s", c->a->no, hsm_ck_why());
		goto out;
	}
	if ((rv = app_hold(c)) != CKR_OK || (rv = app_need_co(c)) != CKR_OK)
		goto out;
	rv = app_obj_keep_pair(c, pub, priv, out);
	pub = priv = NULL;
	if (rv == CKR_OK) {
		p11w_put_ulong(c->w, out[0]);
		p11w_put_ulong(c->w, out[1]);
		c->audit_obj = out[1];
	}
out:
	hsm_obj_free(pub);
	hsm_obj_free(priv);
	p11w_template_free(&pt);
	p11w_template_free(&st);
	p11w_mech_free(&m);
	return rv;
}

CK_RV app_wrap_key(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	struct p11w_mech m;
	CK_OBJECT_HANDLE wh, kh;
	struct p11w_out o = {0, 0};
	struct hsm_key_env env;
	struct hsm_obj *wk, *key;
	uint8_t *buf = NULL;
	CK_ULONG need = 0, len = 0;
	CK_RV rv;

	if ((rv = p11w_get_mechanism(c->r, &m)) != CKR_OK)
		return rv;
	wh = p11w_get_ulong(c->r);
	kh = p11w_get_ulong(c->r);
	if (p11w_get_out(c->r, &o) != CKR_OK) {
		rv = CKR_ARGUMENTS_BAD;
		goto out;
	}
	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK ||
	    (rv = may_use_keys(c)) != CKR_OK || (rv = app_obj_get(c, wh, 1, &wk)) != CKR_OK ||
	    (rv = app_obj_get(c, kh, 1, &key)) != CKR_OK)
		goto out;
	app_key_env(c, &env);
	if ((rv = hsm_wrap_key(&env, &m.m, wk, key, NULL, &need)) != CKR_OK)
		goto out;
	len = need;
	if (o.present) {
		len = o.capacity < need ? (CK_ULONG)o.capacity : need;
		if (len > OUT_MAX)
			len = OUT_MAX;
		if ((buf = OPENSSL_malloc(len ? len : 1)) == NULL) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		need = len;
		rv = hsm_wrap_key(&env, &m.m, wk, key, buf, &len);
	}
	if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL)
		p11w_put_out_result(c->w, &o, buf, len);
out:
	if (buf)
		OPENSSL_clear_free(buf, need ? need : 1);
	p11w_mech_free(&m);
	return rv;
}

CK_RV app_unwrap_key(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	struct p11w_mech m;
	struct p11w_template t;
	CK_OBJECT_HANDLE uh, out;
	const uint8_t *wrapped;
	size_t wlen = 0;
	struct hsm_key_env env;
	struct hsm_obj *uk, *o = NULL;
	CK_RV rv;

	memset(&t, 0, sizeof(t));
	if ((rv = p11w_get_mechanism(c->r, &m)) != CKR_OK)
		return rv;
	uh = p11w_get_ulong(c->r);
	wrapped = p11w_get_bytes(c->r, P11W_VALUE_MAX, &wlen);
	if ((rv = p11w_get_template(c->r, P11W_TPL_VALUES, &t)) != CKR_OK)
		goto out;
	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK ||
	    (rv = app_need_co(c)) != CKR_OK || (rv = app_may_make(c, t.attrs, t.count)) != CKR_OK ||
	    (rv = app_obj_get(c, uh, 1, &uk)) != CKR_OK)
		goto out;
	app_key_env(c, &env);
	rv = hsm_unwrap_key(&env, &m.m, uk, wrapped, wlen, t.attrs, t.count, &o);
	app_obj_end(c);
	if (rv != CKR_OK)
		goto out;
	rv = app_obj_keep(c, o, &out);
	o = NULL;
	if (rv == CKR_OK) {
		p11w_put_ulong(c->w, out);
		c->audit_obj = out;
	}
out:
	hsm_obj_free(o);
	p11w_template_free(&t);
	p11w_mech_free(&m);
	return rv;
}

CK_RV app_derive_key(struct app_call *c)
{
	CK_SESSION_HANDLE h = p11w_get_ulong(c->r);
	struct p11w_mech m;
	struct p11w_template t;
	CK_OBJECT_HANDLE bh, out;
	struct hsm_key_env env;
	struct hsm_obj *base, *o = NULL;
	CK_RV rv;

	memset(&t, 0, sizeof(t));
	if ((rv = p11w_get_mechanism(c->r, &m)) != CKR_OK)
		return rv;
	bh = p11w_get_ulong(c->r);
	if ((rv = p11w_get_template(c->r, P11W_TPL_VALUES, &t)) != CKR_OK)
		goto out;
	if ((rv = app_args_end(c)) != CKR_OK || (rv = app_use(c, h, APP_USE_HSM)) != CKR_OK ||
	    (rv = app_need_co(c)) != CKR_OK || (rv = app_may_make(c, t.attrs, t.count)) != CKR_OK ||
	    (rv = app_obj_get(c, bh, 1, &base)) != CKR_OK)
		goto out;
	app_key_env(c, &env);
	rv = hsm_derive_key(&env, &m.m, base, t.attrs, t.count, &o);
	app_obj_end(c);
	if (rv != CKR_OK)
		goto out;
	rv = app_obj_keep(c, o, &out);
	o = NULL;
	if (rv == CKR_OK) {
		p11w_put_ulong(c->w, out);
		c->audit_obj = out;
	}
out:
	hsm_obj_free(o);
	p11w_template_free(&t);
	p11w_mech_free(&m);
	return rv;
}
