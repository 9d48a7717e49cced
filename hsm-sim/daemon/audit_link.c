/* Delivery of each HSM's audit records to pedclient, its logging daemon
 * (audit.h; the frames: ped/auditwire.h, docs/protocol.md section 14). */
#include "audit.h"

#include "ped/auditwire.h"
#include "ped/error.h"
#include "ped/frame.h"
#include "ped/link.h"
#include "ped/log.h"
#include "ped/net.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RETRY_MS 1000
#define BATCH_MAX (PED_FRAME_MAX_PAYLOAD - 1024)

struct courier {
	struct sim_hsm *hs;
	const char *socket;
	int io_ms;
	pthread_t thread;
	int started;
};

static struct courier couriers[SIM_MAX_HSMS];
static char socket_path[1024];

/* One frame of type want, its payload a sequence number. */
static int recv_seq(struct ped_framer *f, uint8_t want, int ms, uint64_t *seq)
{
	uint8_t type = 0, *p = NULL;
	size_t len = 0;
	int r = ped_framer_recv(f, &type, &p, &len, ms);
	if (r == PED_OK)
		r = type == want ? ped_audit_seq_decode(p, len, seq) : PED_E_FRAME_TYPE;
	if (p)
		OPENSSL_clear_free(p, len ? len : 1);
	return r;
}

static int same_cfg(const struct audit_config *a, const struct audit_config *b)
{
	return a->interval == b->interval && a->size == b->size && !strcmp(a->dir, b->dir);
}

/* One connection: OPEN, READY, then batches until an error, a change of
 * configuration or shutdown. */
static int deliver(struct courier *k)
{
	struct sim_hsm *hs = k->hs;
	struct audit_status st;
	struct ped_audit_open o;
	struct ped_framer f;
	uint8_t *body = NULL;
	size_t blen = 0;
	uint64_t sent, held = 0;
	int fd = -1, r;

	audit_get(hs, &st);
	if ((r = ped_unix_connect(k->socket, &fd)) != PED_OK)
		return r;
	ped_framer_init(&f, fd, PED_FRAME_MAX_PAYLOAD);
	memset(&o, 0, sizeof(o));
	o.version = PED_AUDIT_VERSION;
	snprintf(o.serial, sizeof(o.serial), "%s", hs->h.serial);
	snprintf(o.dir, sizeof(o.dir), "%s", st.cfg.dir);
	o.interval = st.cfg.interval;
	o.size = st.cfg.size;
	if ((r = ped_audit_open_encode(&o, &body, &blen)) != PED_OK ||
	    (r = ped_frame_send(fd, PED_AUDIT_OPEN, body, blen, k->io_ms)) != PED_OK ||
	    (r = recv_seq(&f, PED_AUDIT_READY, k->io_ms, &held)) != PED_OK)
		goto out;
	/* what pedclient holds already leaves the spool; the rest follows it */
	if (held > st.delivered && held < st.next_seq)
		(void)audit_acked(hs, held);
	sent = held > st.delivered && held < st.next_seq ? held : st.delivered;
	audit_set_connected(hs, 1);
	ped_info("HSM %s: audit records go to pedclient (it holds up to %llu)", hs->h.serial, (unsigned long long)held);
	while (!audit_stopping(hs)) {
		struct audit_status now;
		char *batch = NULL;
		size_t len = 0;
		uint64_t last = 0, ack = 0;
		audit_get(hs, &now);
		if (!same_cfg(&now.cfg, &st.cfg)) {
			r = PED_OK; /* reopen with the new directory or rotation */
			break;
		}
		if ((r = audit_spool_read(hs, sent, BATCH_MAX, &batch, &len, &last)) != PED_OK)
			break;
		if (!len) {
			/* an idle HSM sleeps until its next record (a configuration
			 * change is one): no timer wakes it */
			audit_wait(hs, sent, -1);
			continue;
		}
		r = ped_frame_send(fd, PED_AUDIT_RECORDS, batch, len, k->io_ms);
		free(batch);
		if (r != PED_OK || (r = recv_seq(&f, PED_AUDIT_ACK, k->io_ms, &ack)) != PED_OK)
			break;
		if (ack > sent && ack <= last)
			(void)audit_acked(hs, ack);
		if (ack < last) {
			/* pedclient took part of it and refused the rest */
			r = PED_E_INVALID;
			break;
		}
		sent = ack;
	}
out:
	audit_set_connected(hs, 0);
	OPENSSL_free(body);
	ped_framer_free(&f);
	close(fd);
	return r;
}

static void *courier_main(void *arg)
{
	struct courier *k = arg;
	int told = 0;
	while (!audit_stopping(k->hs)) {
		struct audit_status st;
		audit_get(k->hs, &st);
		if (st.next_seq - 1 <= st.delivered) {
			audit_wait(k->hs, st.next_seq - 1, -1); /* nothing to hand over until a record comes */
			continue;
		}
		int r = deliver(k);
		if (r != PED_OK && !told) {
			ped_warn("HSM %s: pedclient does not take the audit records (%s): they wait in the spool",
				 k->hs->h.serial, ped_strerror(r));
			told = 1;
		} else if (r == PED_OK) {
			told = 0;
		}
		if (r != PED_OK)
			audit_wait(k->hs, UINT64_MAX - 1, RETRY_MS); /* a pause that shutdown ends */
	}
	return NULL;
}

int audit_link_start(struct sim *sim, const char *socket, int io_ms)
{
	snprintf(socket_path, sizeof(socket_path), "%s", socket);
	for (int i = 0; i < sim->nhsms; i++) {
		struct courier *k = &couriers[i];
		k->hs = &sim->hsms[i];
		k->socket = socket_path;
		k->io_ms = io_ms;
		if (!socket_path[0])
			continue; /* no pedclient: the records stay in the spool */
		if (pthread_create(&k->thread, NULL, courier_main, k) != 0)
			return PED_E_GENERAL;
		k->started = 1;
	}
	return PED_OK;
}

void audit_link_stop(struct sim *sim)
{
	for (int i = 0; i < sim->nhsms; i++)
		if (couriers[i].started) {
			pthread_join(couriers[i].thread, NULL);
			couriers[i].started = 0;
		}
}
