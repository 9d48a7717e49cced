/* The HSM end of the PED link: attaching a PED, and asking it for keys. */
#include "sim.h"

#include "ped/app.h"
#include "ped/cert.h"
#include "ped/ec.h"
#include "ped/error.h"
#include "ped/log.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

struct attach_job {
	struct sim *sim;
	struct sim_hsm *hs;
	int fd;
};

static int identity(struct sim_hsm *hs, EVP_PKEY **key, X509 **cert, X509 **hoc)
{
	*key = NULL;
	*cert = *hoc = NULL;
	if (ped_ec_priv_import(hs->h.static_priv, HSM_SCALAR_LEN, key) != PED_OK ||
	    ped_cert_from_der(hs->h.static_cert, hs->h.static_cert_len, cert) != PED_OK ||
	    ped_cert_from_der(hs->h.hoc_cert, hs->h.hoc_cert_len, hoc) != PED_OK) {
		EVP_PKEY_free(*key);
		X509_free(*cert);
		return PED_E_CORRUPT;
	}
	return PED_OK;
}

/* A link is alive if nothing (not even end of stream) waits on it while idle. */
static int link_alive(struct ped_link *l)
{
	struct pollfd p = {.fd = ped_link_fd(l), .events = POLLIN};
	return poll(&p, 1, 0) == 0;
}

static void *attach_thread(void *arg)
{
	struct attach_job *j = arg;
	struct sim_hsm *hs = j->hs;
	struct ped_kas_params p;
	struct ped_link l;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *hoc = NULL;
	char id[PED_KAS_ID_MAX];
	int r;

	snprintf(id, sizeof(id), "HSM:%s", hs->h.serial);
	if ((r = identity(hs, &key, &cert, &hoc)) != PED_OK) {
		close(j->fd);
		goto out;
	}
	memset(&p, 0, sizeof(p));
	p.role = PED_KAS_V;
	p.scheme = PED_KAS_1E1S;
	p.id = id;
	p.static_key = key;
	p.static_cert = cert;
	p.hoc = hoc;
	if ((r = ped_link_handshake(&l, j->fd, &p, j->sim->link_timeout_ms)) != PED_OK) {
		ped_warn("HSM %s: PED handshake failed: %s", hs->h.serial, ped_strerror(r));
		goto out;
	}
	pthread_mutex_lock(&hs->ped_mu);
	if (hs->ped_attached && (hs->ped_busy || link_alive(&hs->ped))) {
		pthread_mutex_unlock(&hs->ped_mu);
		ped_warn("HSM %s: a PED is already attached; refusing %s", hs->h.serial, l.peer_id);
		ped_link_close(&l, PED_E_BUSY);
		goto out;
	}
	if (hs->ped_attached)
		ped_link_close(&hs->ped, PED_E_PED_UNPLUGGED);
	hs->ped = l;
	hs->ped_attached = 1;
	pthread_mutex_unlock(&hs->ped_mu);
	ped_info("HSM %s: local PED attached (%s)", hs->h.serial, l.peer_id);
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(hoc);
	free(j);
	return NULL;
}

void pedport_attach(struct sim *sim, struct sim_hsm *hs, int fd)
{
	struct attach_job *j = malloc(sizeof(*j));
	pthread_t th;
	pthread_attr_t a;
	if (!j) {
		close(fd);
		return;
	}
	*j = (struct attach_job){sim, hs, fd};
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &a, attach_thread, j) != 0) {
		close(fd);
		free(j);
	}
	pthread_attr_destroy(&a);
}

void pedport_detach(struct sim_hsm *hs)
{
	pthread_mutex_lock(&hs->ped_mu);
	if (hs->ped_attached)
		ped_link_close(&hs->ped, PED_OK);
	hs->ped_attached = 0;
	pthread_mutex_unlock(&hs->ped_mu);
}

void pedport_describe(struct sim_hsm *hs, char *out, size_t len)
{
	pthread_mutex_lock(&hs->ped_mu);
	if (hs->ped_attached && (hs->ped_busy || link_alive(&hs->ped)))
		snprintf(out, len, "local PED (PED id=0)");
	else
		snprintf(out, len, "local PED (PED id=0), none attached");
	pthread_mutex_unlock(&hs->ped_mu);
}

/* Takes the link for one exchange; PED_E_PED_UNPLUGGED when there is none. */
static int take(struct sim_hsm *hs)
{
	int r = PED_OK;
	pthread_mutex_lock(&hs->ped_mu);
	if (!hs->ped_attached) {
		r = PED_E_PED_UNPLUGGED;
	} else if (!link_alive(&hs->ped)) {
		ped_link_close(&hs->ped, PED_E_PED_UNPLUGGED);
		hs->ped_attached = 0;
		r = PED_E_PED_UNPLUGGED;
	} else {
		hs->ped_busy = 1;
	}
	pthread_mutex_unlock(&hs->ped_mu);
	return r;
}

/* Gives the link back; a broken one is dropped. */
static int give(struct sim_hsm *hs, int r)
{
	pthread_mutex_lock(&hs->ped_mu);
	hs->ped_busy = 0;
	if (r == PED_E_CLOSED || r == PED_E_SOCKET || r == PED_E_TIMED_OUT || r == PED_E_BAD_RECORD ||
	    r == PED_E_REPLAY || r == PED_E_CHANNEL_CLOSED || r == PED_E_FRAME_TRUNCATED ||
	    r == PED_E_FRAME_TYPE || r == PED_E_FRAME_MAGIC || r == PED_E_FRAME_OVERSIZE) {
		ped_warn("HSM %s: PED link lost: %s", hs->h.serial, ped_strerror(r));
		ped_link_close(&hs->ped, PED_E_PED_UNPLUGGED);
		hs->ped_attached = 0;
		r = PED_E_PED_UNPLUGGED;
	}
	pthread_mutex_unlock(&hs->ped_mu);
	return r;
}

static int send_request(struct sim_hsm *hs, uint8_t op, int key_type, const char *title,
			const char *prompt, const char *colour, int allow_reuse)
{
	struct ped_app_request req;
	uint8_t *m = NULL;
	size_t len = 0;
	int r;

	memset(&req, 0, sizeof(req));
	req.op = op;
	req.key_type = (uint8_t)key_type;
	req.allow_reuse = (uint8_t)allow_reuse;
	snprintf(req.title, sizeof(req.title), "%s", title);
	snprintf(req.prompt, sizeof(req.prompt), "%s", prompt);
	snprintf(req.colour, sizeof(req.colour), "%s", colour);
	if ((r = ped_app_encode_request(&req, &m, &len)) != PED_OK)
		return r;
	r = ped_link_send(&hs->ped, PED_REC_DATA, m, len);
	OPENSSL_free(m);
	return r;
}

/* The PED's answer: a CSP or a DATA record. */
static int await(struct session *s, struct sim_hsm *hs, uint8_t *rt, uint8_t **msg, size_t *len)
{
	return ped_link_recv(&hs->ped, rt, msg, len, s->sim->ped_timeout_ms, NULL);
}

static int result_of(const uint8_t *msg, size_t len)
{
	uint32_t code;
	if (ped_app_decode_result(msg, len, &code) != PED_OK)
		return PED_E_CALLBACK_ERROR;
	int e = ped_err_from_code(code);
	/* The PED ran out of time or was reset: the operation did not complete. */
	return e == PED_OK ? PED_E_CALLBACK_ERROR : e;
}

int pedport_auth(struct session *s, struct sim_hsm *hs, int key_type, const char *title,
		 const char *prompt, const char *colour, struct ped_app_splits *sp)
{
	uint8_t rt, *msg = NULL;
	size_t len = 0;
	int r;

	if ((r = take(hs)) != PED_OK)
		return r;
	if ((r = send_request(hs, PED_APP_AUTH, key_type, title, prompt, colour, 0)) != PED_OK ||
	    (r = await(s, hs, &rt, &msg, &len)) != PED_OK)
		goto out;
	if (rt == PED_REC_CSP)
		r = ped_app_decode_splits(msg, len, sp) == PED_OK ? PED_OK : PED_E_CALLBACK_ERROR;
	else
		r = result_of(msg, len);
out:
	if (msg)
		OPENSSL_clear_free(msg, len ? len : 1);
	return give(hs, r);
}

int pedport_create(struct session *s, struct sim_hsm *hs, int key_type, const char *title,
		   const char *prompt, const char *colour, int allow_reuse, uint8_t secret[HSM_SECRET_LEN],
		   struct ped_app_created *info)
{
	uint8_t rt, *msg = NULL, *sm = NULL;
	size_t len = 0, slen = 0;
	int r;

	if (RAND_priv_bytes(secret, HSM_SECRET_LEN) != 1)
		return PED_E_CRYPTO;
	if ((r = take(hs)) != PED_OK)
		return r;
	if ((r = send_request(hs, PED_APP_CREATE, key_type, title, prompt, colour, allow_reuse)) != PED_OK ||
	    (r = ped_app_encode_secret(PED_APP_SECRET, secret, HSM_SECRET_LEN, &sm, &slen)) != PED_OK ||
	    (r = ped_link_send_csp(&hs->ped, sm, slen)) != PED_OK ||
	    (r = await(s, hs, &rt, &msg, &len)) != PED_OK)
		goto out;
	if (rt == PED_REC_CSP) {
		const uint8_t *adopted;
		size_t alen;
		if (ped_app_decode_reused(msg, len, info, &adopted, &alen) != PED_OK || alen != HSM_SECRET_LEN) {
			r = PED_E_CALLBACK_ERROR;
			goto out;
		}
		memcpy(secret, adopted, HSM_SECRET_LEN);
	} else if (len && msg[0] == PED_APP_CREATED) {
		r = ped_app_decode_created(msg, len, info) == PED_OK ? PED_OK : PED_E_CALLBACK_ERROR;
	} else {
		r = result_of(msg, len);
	}
out:
	if (sm)
		OPENSSL_clear_free(sm, slen);
	if (msg)
		OPENSSL_clear_free(msg, len ? len : 1);
	if (r != PED_OK)
		OPENSSL_cleanse(secret, HSM_SECRET_LEN);
	return give(hs, r);
}
