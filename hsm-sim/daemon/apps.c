/* Application records: the registry, sessions, session objects (apps.h). */
#include "apps.h"

#include "ped/error.h"
#include "ped/log.h"

#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The registry: every application with a connection, and those a listing
 * still holds. One hsm-sim per process, so one registry. */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct app *reg_list;
static unsigned reg_next_no;

/* Sessions per slot, of every application, for InitToken's "no session
 * open": counted without any lock. */
static atomic_ulong slot_sessions[SIM_MAX_HSMS][SIM_SLOTS_PER_HSM], slot_rw[SIM_MAX_HSMS][SIM_SLOTS_PER_HSM];

static atomic_ulong *count_of(atomic_ulong t[SIM_MAX_HSMS][SIM_SLOTS_PER_HSM], const struct sim_hsm *hs, int slot)
{
	int k = slot - hs->base_slot;
	return k >= 0 && k < SIM_SLOTS_PER_HSM ? &t[hs->index][k] : NULL;
}

static void count(const struct app_session *s, int delta)
{
	atomic_ulong *all = count_of(slot_sessions, s->hs, s->slot), *rw = count_of(slot_rw, s->hs, s->slot);
	if (all)
		atomic_fetch_add(all, (unsigned long)delta);
	if (rw && (s->flags & CKF_RW_SESSION))
		atomic_fetch_add(rw, (unsigned long)delta);
}

void apps_slot_sessions(const struct sim_hsm *hs, int slot, unsigned long *all, unsigned long *rw)
{
	atomic_ulong *a = count_of(slot_sessions, hs, slot), *w = count_of(slot_rw, hs, slot);
	*all = a ? atomic_load(a) : 0;
	*rw = w ? atomic_load(w) : 0;
}

/* ---- sessions and session objects ---------------------------------------- */

void apps_session_reset_find(struct app_session *s)
{
	OPENSSL_free(s->found);
	s->found = NULL;
	s->nfound = s->next_found = 0;
	s->finding = 0;
}

void apps_session_reset(struct app_session *s)
{
	for (int k = 0; k < APP_OPS; k++) {
		hsm_op_free(s->op[k]);
		s->op[k] = NULL;
		s->op_private[k] = 0;
	}
	apps_session_reset_find(s);
}

static void session_free(struct app_session *s)
{
	apps_session_reset(s);
	pthread_mutex_destroy(&s->mu);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

static void obj_free(struct app_obj *o)
{
	hsm_obj_free(o->o);
	OPENSSL_cleanse(o, sizeof(*o));
	free(o);
}

/* Under a->mu: the session objects session made go with it. */
static void drop_session_objects(struct app *a, CK_SESSION_HANDLE session)
{
	struct app_obj **pp = &a->objs;
	while (*pp) {
		struct app_obj *o = *pp;
		if (o->session == session) {
			*pp = o->next;
			a->nobjs--;
			obj_free(o);
		} else {
			pp = &o->next;
		}
	}
}

/* Under a->mu: s leaves the list; freed now or by its last call. */
static void session_unlink(struct app *a, struct app_session **pp)
{
	struct app_session *s = *pp;
	*pp = s->next;
	a->nsessions--;
	count(s, -1);
	drop_session_objects(a, s->handle);
	s->closed = 1;
	if (!s->refs)
		session_free(s);
}

CK_RV apps_session_open(struct app *a, int slot, struct sim_hsm *hs, int pi, const char *pname, CK_FLAGS flags,
			CK_SESSION_HANDLE *out)
{
	struct app_session *s;
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&a->mu);
	if (a->nsessions >= APP_SESSIONS_MAX) {
		rv = CKR_SESSION_COUNT;
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	pthread_mutex_init(&s->mu, NULL);
	/* handles are never 0 (CK_INVALID_HANDLE) and never reused while the
	 * application lives */
	s->handle = ++a->next_session;
	s->slot = slot;
	s->hs = hs;
	s->pi = pi;
	snprintf(s->pname, sizeof(s->pname), "%s", pname);
	s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
	s->next = a->sessions;
	a->sessions = s;
	a->nsessions++;
	count(s, 1);
	*out = s->handle;
out:
	pthread_mutex_unlock(&a->mu);
	return rv;
}

struct app_session *apps_session_get(struct app *a, CK_SESSION_HANDLE h)
{
	struct app_session *s;

	pthread_mutex_lock(&a->mu);
	for (s = a->sessions; s; s = s->next)
		if (s->handle == h) {
			s->refs++;
			break;
		}
	pthread_mutex_unlock(&a->mu);
	return s;
}

void apps_session_put(struct app *a, struct app_session *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&a->mu);
	if (--s->refs == 0 && s->closed)
		session_free(s);
	pthread_mutex_unlock(&a->mu);
}

CK_RV apps_session_close(struct app *a, CK_SESSION_HANDLE h)
{
	CK_RV rv = CKR_SESSION_HANDLE_INVALID;

	pthread_mutex_lock(&a->mu);
	for (struct app_session **pp = &a->sessions; *pp; pp = &(*pp)->next)
		if ((*pp)->handle == h) {
			session_unlink(a, pp);
			rv = CKR_OK;
			break;
		}
	pthread_mutex_unlock(&a->mu);
	return rv;
}

void apps_session_close_slot(struct app *a, int slot)
{
	pthread_mutex_lock(&a->mu);
	struct app_session **pp = &a->sessions;
	while (*pp)
		if ((*pp)->slot == slot)
			session_unlink(a, pp);
		else
			pp = &(*pp)->next;
	pthread_mutex_unlock(&a->mu);
}

void apps_own_sessions(struct app *a, int slot, unsigned long *all, unsigned long *rw)
{
	*all = *rw = 0;
	pthread_mutex_lock(&a->mu);
	for (struct app_session *s = a->sessions; s; s = s->next) {
		if (s->slot != slot)
			continue;
		(*all)++;
		if (s->flags & CKF_RW_SESSION)
			(*rw)++;
	}
	pthread_mutex_unlock(&a->mu);
}

int apps_has_ro_session(struct app *a, int slot)
{
	unsigned long all, rw;
	apps_own_sessions(a, slot, &all, &rw);
	return all > rw;
}

int apps_has_session(struct app *a, int slot)
{
	unsigned long all, rw;
	apps_own_sessions(a, slot, &all, &rw);
	return all > 0;
}

CK_RV apps_obj_add(struct app *a, CK_SESSION_HANDLE session, int slot, struct hsm_obj *o, CK_OBJECT_HANDLE *out)
{
	struct app_obj *ao;

	if (a->nobjs >= APP_OBJECTS_MAX)
		return CKR_DEVICE_MEMORY;
	if ((ao = calloc(1, sizeof(*ao))) == NULL)
		return CKR_HOST_MEMORY;
	ao->handle = APP_OBJ_SESSION_BIT | ++a->next_obj;
	ao->session = session;
	ao->slot = slot;
	ao->o = o;
	o->handle = ao->handle;
	ao->next = a->objs;
	a->objs = ao;
	a->nobjs++;
	*out = ao->handle;
	return CKR_OK;
}

void apps_obj_drop_private(struct app *a, int slot)
{
	struct app_obj **pp = &a->objs;
	while (*pp) {
		struct app_obj *o = *pp;
		if (o->slot == slot && hsm_obj_bool(o->o, CKA_PRIVATE)) {
			*pp = o->next;
			a->nobjs--;
			obj_free(o);
		} else {
			pp = &o->next;
		}
	}
}

struct app_obj *apps_obj_find(struct app *a, CK_OBJECT_HANDLE h)
{
	if (!(h & APP_OBJ_SESSION_BIT))
		return NULL;
	for (struct app_obj *o = a->objs; o; o = o->next)
		if (o->handle == h)
			return o;
	return NULL;
}

void apps_obj_remove(struct app *a, CK_OBJECT_HANDLE h)
{
	for (struct app_obj **pp = &a->objs; *pp; pp = &(*pp)->next)
		if ((*pp)->handle == h) {
			struct app_obj *o = *pp;
			*pp = o->next;
			a->nobjs--;
			obj_free(o);
			return;
		}
}

/* ---- the registry --------------------------------------------------------- */

/* Under reg_mu, with no connection left: everything the application holds
 * goes (a listing may still hold the record itself). */
static void app_end(struct app *a)
{
	for (struct app **pp = &reg_list; *pp; pp = &(*pp)->next_app)
		if (*pp == a) {
			*pp = a->next_app;
			break;
		}
	a->gone = 1;
	sim_logins_detach(a->sim, &a->logins);
	pthread_mutex_lock(&a->mu);
	while (a->sessions)
		session_unlink(a, &a->sessions);
	while (a->objs) {
		struct app_obj *o = a->objs;
		a->objs = o->next;
		obj_free(o);
	}
	a->nobjs = 0;
	pthread_mutex_unlock(&a->mu);
	/* the logins are the HSMs' to change, but no call and no table can
	 * reach them any more */
	OPENSSL_cleanse(&a->logins, sizeof(a->logins));
	ped_info("application %u (%s, pid %u) ended: its sessions, session objects and logins are gone", a->no,
		 a->name, a->pid);
}

static void app_free(struct app *a)
{
	pthread_mutex_destroy(&a->mu);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

struct app *apps_connect(struct sim *sim, const struct p11w_hello *h)
{
	struct app *a;

	pthread_mutex_lock(&reg_mu);
	for (a = reg_list; a; a = a->next_app)
		if (!CRYPTO_memcmp(a->id, h->app_id, sizeof(a->id)))
			break;
	if (!a && (a = calloc(1, sizeof(*a))) != NULL) {
		memcpy(a->id, h->app_id, sizeof(a->id));
		a->pid = h->pid;
		snprintf(a->name, sizeof(a->name), "%s", h->name);
		a->probe_ms = h->probe_ms;
		a->no = ++reg_next_no;
		a->sim = sim;
		pthread_mutex_init(&a->mu, NULL);
		sim_logins_attach(sim, &a->logins);
		a->next_app = reg_list;
		reg_list = a;
		ped_info("application %u (%s, pid %u) connected", a->no, a->name, a->pid);
	}
	if (a) {
		a->conns++;
		a->refs++;
	}
	pthread_mutex_unlock(&reg_mu);
	return a;
}

/* One reference less; the last frees. Under reg_mu. */
static void unref(struct app *a)
{
	if (--a->refs == 0)
		app_free(a);
}

void apps_disconnect(struct app *a)
{
	pthread_mutex_lock(&reg_mu);
	if (--a->conns == 0)
		app_end(a);
	unref(a);
	pthread_mutex_unlock(&reg_mu);
}

void apps_wipe(void)
{
	pthread_mutex_lock(&reg_mu);
	while (reg_list) {
		struct app *a = reg_list;
		a->conns = 0;
		app_end(a); /* its connections' threads still hold it */
	}
	pthread_mutex_unlock(&reg_mu);
}

/* ---- hsmcm's application list --------------------------------------------- */

static const char *who(struct sim_login *lg, int pi)
{
	if (pi < 0)
		return lg->so ? "HSM SO" : lg->au ? "Audit User" : "public";
	if (lg->po[pi])
		return "Partition SO";
	if (lg->co[pi])
		return "Crypto Officer";
	if (lg->cu[pi])
		return "Crypto User";
	return "public";
}

#define LIST_MAX 256

void apps_list(struct sim *sim, const struct sim_out *out)
{
	struct app *all[LIST_MAX];
	int conns[LIST_MAX];
	struct {
		CK_SESSION_HANDLE handle;
		int slot, pi, rw;
		unsigned long requests;
		struct sim_hsm *hs;
	} ss[64];
	size_t n = 0, more = 0, sessions = 0;

	pthread_mutex_lock(&reg_mu);
	for (struct app *a = reg_list; a; a = a->next_app) {
		if (n == LIST_MAX) {
			more++;
			continue;
		}
		a->refs++;
		conns[n] = a->conns;
		all[n++] = a;
	}
	pthread_mutex_unlock(&reg_mu);
	sim_outf(out, "Applications -> %zu", n + more);
	for (size_t i = 0; i < n; i++) {
		struct app *a = all[i];
		size_t ns = 0, total, objs;
		pthread_mutex_lock(&a->mu);
		total = a->nsessions;
		objs = a->nobjs;
		for (struct app_session *s = a->sessions; s && ns < sizeof(ss) / sizeof(ss[0]); s = s->next, ns++) {
			ss[ns].handle = s->handle;
			ss[ns].slot = s->slot;
			ss[ns].pi = s->pi;
			ss[ns].rw = !!(s->flags & CKF_RW_SESSION);
			ss[ns].hs = s->hs;
			ss[ns].requests = atomic_load(&s->requests);
		}
		pthread_mutex_unlock(&a->mu);
		sessions += total;
		sim_outf(out, "Application %u: %s (pid %u), connections %d, sessions %zu, session objects %zu", a->no,
			 a->name, a->pid, conns[i], total, objs);
		for (size_t j = 0; j < ns; j++) {
			struct sim_hold k;
			const char *role;
			/* logins are the HSM's: read under its lock */
			sim_hold_init(&k, sim);
			sim_hold(&k, ss[j].hs, NULL);
			role = who(sim_login(&a->logins, ss[j].hs), ss[j].pi);
			sim_hold_drop(&k);
			sim_outf(out, "  Session %lu: slot %d, %s, %s, requests %lu", (unsigned long)ss[j].handle, ss[j].slot,
				 ss[j].rw ? "R/W" : "R/O", role, ss[j].requests);
		}
		if (ns < total)
			sim_outf(out, "  (%zu more sessions)", total - ns);
	}
	sim_outf(out, "Sessions -> %zu", sessions);
	pthread_mutex_lock(&reg_mu);
	for (size_t i = 0; i < n; i++)
		unref(all[i]);
	pthread_mutex_unlock(&reg_mu);
}
