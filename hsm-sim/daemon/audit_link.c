/* Delivery of each HSM's audit records to pedclient, its logging daemon
 * (audit.h; the frames: ped/auditwire.h, docs/protocol.md section 14). */
#include "audit.h"

#include "ped/auditwire.h"
#include "ped/error.h"
#include "ped/frame.h"
#include "ped/link.h"
#include "ped/log.h"
#include "ped/net.h"
#include "ped/relay.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
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

/* What pedclient said when it refused (its BYE), for the log and audit
 * status. */
struct refusal {
	char why[AUDIT_REFUSED_MAX];
	char brief[PED_RELAY_INFO_MAX + 1]; /* the HSM's refusal, told pedclient */
};

/* One frame of type want (AUDIT_READY: with the MAC of that record, into
 * mac), its payload a sequence number; pedclient's BYE is the error it
 * carries, its reason in rf. */
static int recv_seq(struct ped_framer *f, uint8_t want, int ms, uint64_t *seq, uint8_t *mac, struct refusal *rf)
{
	uint8_t type = 0, *p = NULL;
	size_t len = 0;
	struct ped_relay_msg m;
	int r = ped_framer_recv(f, &type, &p, &len, ms);
	if (r == PED_OK && type == PED_RELAY_BYE && ped_relay_decode(p, len, &m) == PED_OK) {
		r = m.code ? ped_err_from_code(m.code) : PED_E_CLOSED;
		if (m.info[0])
			snprintf(rf->why, sizeof(rf->why), "pedclient refuses the audit records: %s", m.info);
	} else if (r == PED_OK && type != want)
		r = PED_E_FRAME_TYPE;
	else if (r == PED_OK)
		r = want == PED_AUDIT_READY ? ped_audit_ready_decode(p, len, seq, mac) : ped_audit_seq_decode(p, len, seq);
	if (p)
		OPENSSL_clear_free(p, len ? len : 1);
	return r;
}

/* Whether pedclient's log, which it says ends at record held (its MAC
 * mac), is this HSM's log as far as the HSM handed it over: else why, and
 * nothing is taken from pedclient's word. */
static int check_held(struct sim_hsm *hs, const struct audit_status *st, const char *dir, uint64_t held,
		      const uint8_t mac[HSM_AUDIT_MAC_LEN], struct refusal *rf)
{
	uint8_t own[HSM_AUDIT_MAC_LEN];
	const char *serial = hs->h.serial;
	int r = PED_OK;
	if (!held)
		return PED_OK; /* nothing of this HSM there: the records follow from the last delivered */
	if (held >= st->next_seq) {
		snprintf(rf->why, sizeof(rf->why),
			 "pedclient's log of HSM %s in %s reaches record %llu, but this HSM has written %llu: it is not "
			 "this HSM's log (another HSM with serial %s logs there?)",
			 serial, dir, (unsigned long long)held, (unsigned long long)(st->next_seq - 1), serial);
		snprintf(rf->brief, sizeof(rf->brief), "the log reaches record %llu, but this HSM has written %llu",
			 (unsigned long long)held, (unsigned long long)(st->next_seq - 1));
		r = PED_E_CORRUPT;
	} else if (held < st->delivered) {
		snprintf(rf->why, sizeof(rf->why),
			 "pedclient's log of HSM %s in %s ends at record %llu, but pedclient took records up to %llu: "
			 "records %llu to %llu are not in it (removed, cut or rolled back, or written elsewhere)",
			 serial, dir, (unsigned long long)held, (unsigned long long)st->delivered,
			 (unsigned long long)held + 1, (unsigned long long)st->delivered);
		snprintf(rf->brief, sizeof(rf->brief), "the log ends at record %llu, but pedclient took records up to %llu",
			 (unsigned long long)held, (unsigned long long)st->delivered);
		r = PED_E_CORRUPT;
	} else if (audit_own_mac(hs, held, own) && CRYPTO_memcmp(own, mac, sizeof(own)) != 0) {
		snprintf(rf->why, sizeof(rf->why),
			 "pedclient's record %llu in %s is not this HSM's record %llu (another HSM with serial %s "
			 "logs there, or the file was altered)",
			 (unsigned long long)held, dir, (unsigned long long)held, serial);
		snprintf(rf->brief, sizeof(rf->brief), "record %llu of the log is not this HSM's record %llu",
			 (unsigned long long)held, (unsigned long long)held);
		r = PED_E_CORRUPT;
	}
	OPENSSL_cleanse(own, sizeof(own));
	return r;
}

static int same_cfg(const struct audit_config *a, const struct audit_config *b)
{
	return a->interval == b->interval && a->size == b->size && !strcmp(a->dir, b->dir);
}

/* One connection: OPEN, READY, then batches until an error, a change of
 * configuration or shutdown. */
static int deliver(struct courier *k, struct refusal *rf)
{
	struct sim_hsm *hs = k->hs;
	struct audit_status st;
	struct ped_audit_open o;
	struct ped_framer f;
	uint8_t *body = NULL, held_mac[HSM_AUDIT_MAC_LEN];
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
	    (r = recv_seq(&f, PED_AUDIT_READY, k->io_ms, &held, held_mac, rf)) != PED_OK ||
	    (r = check_held(hs, &st, o.dir[0] ? o.dir : "pedclient's log directory", held, held_mac, rf)) != PED_OK) {
		if (rf->brief[0]) { /* pedclient logs why too */
			struct ped_relay_msg m;
			memset(&m, 0, sizeof(m));
			m.code = ped_err_code(r);
			snprintf(m.info, sizeof(m.info), "%s", rf->brief);
			(void)ped_relay_send(fd, PED_RELAY_BYE, &m, k->io_ms);
		}
		goto out;
	}
	audit_set_refused(hs, NULL);
	/* what pedclient holds already leaves the spool (it is this HSM's:
	 * check_held); the rest follows it */
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
		if (r != PED_OK || (r = recv_seq(&f, PED_AUDIT_ACK, k->io_ms, &ack, NULL, rf)) != PED_OK)
			break;
		if (ack > sent && ack <= last)
			(void)audit_acked(hs, ack);
		if (ack < last) {
			/* pedclient took part of it and refused the rest (its
			 * BYE, which says why, follows) */
			(void)recv_seq(&f, PED_AUDIT_ACK, k->io_ms, &ack, NULL, rf);
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

/* A refusal that stays (a log that is not this HSM's, a second HSM of the
 * serial, a directory pedclient cannot use) is asked again less and less
 * often, up to once a minute, so that pedclient's log does not get its
 * reason every second; a change of the configuration (another directory)
 * asks at once. */
#define REFUSED_RETRY_MAX_MS 60000

static void pause_for(struct courier *k, const struct audit_config *cfg, int ms)
{
	for (int waited = 0; waited < ms && !audit_stopping(k->hs); waited += RETRY_MS) {
		struct audit_status now;
		audit_wait(k->hs, UINT64_MAX - 1, RETRY_MS); /* a pause that shutdown ends */
		audit_get(k->hs, &now);
		if (!same_cfg(&now.cfg, cfg))
			break;
	}
}

static void *courier_main(void *arg)
{
	struct courier *k = arg;
	char told[AUDIT_REFUSED_MAX] = "";
	int backoff = RETRY_MS;
	while (!audit_stopping(k->hs)) {
		struct audit_status st;
		struct refusal rf = {"", ""};
		audit_get(k->hs, &st);
		if (st.next_seq - 1 <= st.delivered) {
			audit_wait(k->hs, st.next_seq - 1, -1); /* nothing to hand over until a record comes */
			continue;
		}
		int r = deliver(k, &rf), refused = rf.why[0] != 0;
		if (r != PED_OK && !refused)
			snprintf(rf.why, sizeof(rf.why), "pedclient does not take the audit records (%s)", ped_strerror(r));
		if (r == PED_OK) {
			told[0] = 0;
			backoff = RETRY_MS;
			continue;
		}
		/* each reason said once, not at every try */
		if (strcmp(told, rf.why)) {
			if (refused)
				ped_error("HSM %s: %s; they wait in the spool", k->hs->h.serial, rf.why);
			else
				ped_warn("HSM %s: %s; they wait in the spool", k->hs->h.serial, rf.why);
			snprintf(told, sizeof(told), "%s", rf.why);
			backoff = RETRY_MS;
		} else if (refused && backoff < REFUSED_RETRY_MAX_MS) {
			backoff = backoff * 2 < REFUSED_RETRY_MAX_MS ? backoff * 2 : REFUSED_RETRY_MAX_MS;
		}
		audit_set_refused(k->hs, rf.why);
		pause_for(k, &st.cfg, refused ? backoff : RETRY_MS);
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
