/* The HSM's audit log: configuration, log secret, records and the spool of
 * undelivered records (audit.h). */
#include "audit.h"

#include "out.h"

#include "hsm/result.h"
#include "hsm/seal.h"
#include "ped/buf.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE_MAGIC "OPAUDIT1"
#define STATE_MAX 4096
#define FIRST_MAX 256 /* keys whose first use is remembered */
#define VERIFY_FILE_MAX (64u * 1024 * 1024)

struct audit_log {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a record was spooled, or stopping */
	char path[1024], spool[1024];
	const char *serial;
	const uint8_t *kek;
	const uint8_t *prev_kek; /* at start only: the key before a zeroization's (sim.h) */
	struct audit_config cfg;
	uint8_t secret_set;
	uint8_t secret[HSM_AUDIT_SECRET_LEN];
	uint8_t imported_set;
	uint8_t imported[HSM_AUDIT_SECRET_LEN];
	char imported_serial[HSM_AUDIT_SERIAL_MAX + 1];
	uint64_t next_seq, delivered;
	uint8_t last_mac[HSM_AUDIT_MAC_LEN];
	int64_t time_offset;
	uint64_t spool_bytes, spool_records, spool_max;
	int connected, stopping;
	char refused[AUDIT_REFUSED_MAX];
	uint64_t first_used[FIRST_MAX];
	size_t nfirst;
};

static struct audit_log *log_of(struct sim_hsm *hs)
{
	return hs->audit;
}

/* The state: magic, then every setting and the secret sealed as one
 * (the serial in the additional data), so the file is authenticated under
 * the storage key as the state file is. Under mu. */
static int save_state(struct audit_log *lg)
{
	struct ped_wbuf w;
	uint8_t *pt = NULL, *sealed = NULL, aad[64];
	size_t ptlen = 0, sealed_len = 0, aadlen;
	int r;

	ped_wbuf_init(&w, STATE_MAX);
	ped_wbuf_u8(&w, 1);
	ped_wbuf_u32(&w, lg->cfg.evmask);
	ped_wbuf_u32(&w, lg->cfg.interval);
	ped_wbuf_u64(&w, lg->cfg.size);
	ped_wbuf_lv8(&w, lg->cfg.dir, strlen(lg->cfg.dir));
	ped_wbuf_u64(&w, lg->next_seq);
	ped_wbuf_bytes(&w, lg->last_mac, sizeof(lg->last_mac));
	ped_wbuf_u64(&w, lg->delivered);
	ped_wbuf_u64(&w, (uint64_t)lg->time_offset);
	ped_wbuf_u8(&w, lg->secret_set);
	ped_wbuf_bytes(&w, lg->secret, sizeof(lg->secret));
	if ((r = ped_wbuf_take(&w, &pt, &ptlen)) != PED_OK)
		goto out;
	aadlen = (size_t)snprintf((char *)aad, sizeof(aad), "%s%s", STATE_MAGIC, lg->serial);
	if ((r = hsm_seal(lg->kek, aad, aadlen, pt, ptlen, &sealed, &sealed_len)) != PED_OK)
		goto out;
	ped_wbuf_init(&w, STATE_MAX);
	ped_wbuf_bytes(&w, STATE_MAGIC, 8);
	ped_wbuf_bytes(&w, sealed, sealed_len);
	OPENSSL_clear_free(pt, ptlen);
	pt = NULL;
	if ((r = ped_wbuf_take(&w, &pt, &ptlen)) != PED_OK)
		goto out;
	r = ped_file_write_atomic(lg->path, pt, ptlen, 0600);
	if (r != PED_OK)
		ped_error("cannot save the audit log state %s: %s", lg->path, ped_strerror(r));
out:
	ped_wbuf_free(&w);
	OPENSSL_clear_free(pt, ptlen);
	OPENSSL_free(sealed);
	return r;
}

static int load_state(struct audit_log *lg, char *why, size_t whylen)
{
	int reseal = 0;
	uint8_t *buf = NULL, *pt = NULL, aad[64];
	size_t len = 0, ptlen = 0, aadlen, dirlen;
	struct ped_rbuf rb;
	const uint8_t *dir, *mac, *secret;
	int r;

	r = ped_file_read_nofollow(lg->path, STATE_MAX, &buf, &len);
	if (r == PED_E_NOT_FOUND)
		return PED_OK; /* no Auditor yet: an empty log */
	if (r != PED_OK) {
		snprintf(why, whylen, "%s: %s", lg->path, ped_strerror(r));
		goto out;
	}
	aadlen = (size_t)snprintf((char *)aad, sizeof(aad), "%s%s", STATE_MAGIC, lg->serial);
	r = PED_E_CORRUPT;
	if (len >= 8 && !memcmp(buf, STATE_MAGIC, 8) &&
	    hsm_open(lg->kek, aad, aadlen, buf + 8, len - 8, &pt, &ptlen) != PED_OK && lg->prev_kek &&
	    hsm_open(lg->prev_kek, aad, aadlen, buf + 8, len - 8, &pt, &ptlen) == PED_OK)
		reseal = 1; /* a zeroization cut short before it sealed this again */
	if (!pt) {
		snprintf(why, whylen, "%s: not this HSM's audit log state, or damaged", lg->path);
		goto out;
	}
	ped_rbuf_init(&rb, pt, ptlen);
	if (ped_rbuf_u8(&rb) != 1)
		goto bad;
	lg->cfg.evmask = ped_rbuf_u32(&rb) & HSM_AUDIT_EV_ALL;
	lg->cfg.interval = ped_rbuf_u32(&rb);
	lg->cfg.size = ped_rbuf_u64(&rb);
	dir = ped_rbuf_lv8(&rb, AUDIT_DIR_MAX, &dirlen);
	lg->next_seq = ped_rbuf_u64(&rb);
	mac = ped_rbuf_bytes(&rb, HSM_AUDIT_MAC_LEN);
	lg->delivered = ped_rbuf_u64(&rb);
	lg->time_offset = (int64_t)ped_rbuf_u64(&rb);
	lg->secret_set = ped_rbuf_u8(&rb);
	secret = ped_rbuf_bytes(&rb, HSM_AUDIT_SECRET_LEN);
	if (!dir || !mac || !secret || ped_rbuf_end(&rb) != PED_OK || lg->next_seq == 0)
		goto bad;
	memcpy(lg->cfg.dir, dir, dirlen);
	lg->cfg.dir[dirlen] = 0;
	memcpy(lg->last_mac, mac, HSM_AUDIT_MAC_LEN);
	memcpy(lg->secret, secret, HSM_AUDIT_SECRET_LEN);
	r = reseal ? save_state(lg) : PED_OK;
	if (r != PED_OK)
		snprintf(why, whylen, "%s: cannot seal it under the HSM's new storage key", lg->path);
	goto out;
bad:
	snprintf(why, whylen, "%s: damaged", lg->path);
	r = PED_E_CORRUPT;
out:
	OPENSSL_clear_free(buf, len);
	OPENSSL_clear_free(pt, ptlen);
	return r;
}

/* The spool's records: after a crash between a record spooled and the
 * state saved, the spool's last record says where the log is. */
static int scan_spool(struct audit_log *lg, char *why, size_t whylen)
{
	uint8_t *buf = NULL;
	size_t len = 0, pos = 0;
	int r = ped_file_read_nofollow(lg->spool, lg->spool_max + HSM_AUDIT_LINE_MAX, &buf, &len);

	lg->spool_bytes = lg->spool_records = 0;
	if (r == PED_E_NOT_FOUND)
		return PED_OK;
	if (r != PED_OK) {
		snprintf(why, whylen, "%s: %s", lg->spool, ped_strerror(r));
		return r;
	}
	while (pos < len) {
		const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
		struct hsm_audit_rec rec;
		size_t n, body;
		if (!nl) /* a record cut by a crash while it was written: never handed over */
			break;
		n = (size_t)(nl - (buf + pos)) + 1;
		if (hsm_audit_parse((const char *)buf + pos, n, &rec, &body, NULL, 0) == PED_OK) {
			if (rec.seq >= lg->next_seq) {
				lg->next_seq = rec.seq + 1;
				memcpy(lg->last_mac, rec.mac, sizeof(lg->last_mac));
			}
			lg->spool_records++;
			lg->spool_bytes += n;
		}
		pos += n;
	}
	if (pos < len) {
		/* drop the torn tail so that the next record starts a line */
		r = ped_file_write_atomic(lg->spool, buf, pos, 0600);
		ped_warn("audit spool %s: a partial record at the end was dropped", lg->spool);
	}
	OPENSSL_clear_free(buf, len);
	return r;
}

int audit_open_all(struct sim *sim, uint64_t spool_max, char *err, size_t errlen)
{
	for (int i = 0; i < sim->nhsms; i++) {
		struct sim_hsm *hs = &sim->hsms[i];
		struct audit_log *lg = calloc(1, sizeof(*lg));
		size_t base;
		int r;
		if (!lg)
			return PED_E_HOST_MEMORY;
		pthread_mutex_init(&lg->mu, NULL);
		pthread_cond_init(&lg->cv, NULL);
		hs->audit = lg;
		lg->serial = hs->h.serial;
		lg->kek = hs->h.kek;
		lg->prev_kek = hs->prev_kek_set ? hs->prev_kek : NULL;
		lg->spool_max = spool_max;
		lg->next_seq = 1;
		/* hsm-SERIAL.audit and hsm-SERIAL.auditq beside hsm-SERIAL.state */
		base = strlen(hs->state_path);
		if (base < 6 || base > sizeof(lg->path) - 8)
			return PED_E_INVALID;
		snprintf(lg->path, sizeof(lg->path), "%.*s.audit", (int)(base - 6), hs->state_path);
		snprintf(lg->spool, sizeof(lg->spool), "%.*s.auditq", (int)(base - 6), hs->state_path);
		r = load_state(lg, err, errlen);
		lg->prev_kek = NULL;
		OPENSSL_cleanse(hs->prev_kek, sizeof(hs->prev_kek));
		hs->prev_kek_set = 0;
		if (r != PED_OK || (r = scan_spool(lg, err, errlen)) != PED_OK)
			return r;
	}
	return PED_OK;
}

void audit_close_all(struct sim *sim)
{
	for (int i = 0; i < sim->nhsms; i++) {
		struct audit_log *lg = sim->hsms[i].audit;
		if (!lg)
			continue;
		pthread_mutex_destroy(&lg->mu);
		pthread_cond_destroy(&lg->cv);
		OPENSSL_clear_free(lg, sizeof(*lg));
		sim->hsms[i].audit = NULL;
	}
}

static int on_locked(const struct audit_log *lg)
{
	return lg->secret_set && (lg->cfg.evmask & ((1u << HSM_AUDIT_NCLASSES) - 1));
}

int audit_on(struct sim_hsm *hs)
{
	struct audit_log *lg = log_of(hs);
	int on;
	if (!lg)
		return 0;
	pthread_mutex_lock(&lg->mu);
	on = on_locked(lg);
	pthread_mutex_unlock(&lg->mu);
	return on;
}

int audit_full(struct sim_hsm *hs)
{
	struct audit_log *lg = log_of(hs);
	int full;
	if (!lg)
		return 0;
	pthread_mutex_lock(&lg->mu);
	full = on_locked(lg) && lg->spool_bytes + HSM_AUDIT_LINE_MAX > lg->spool_max;
	pthread_mutex_unlock(&lg->mu);
	return full;
}

static int64_t now_locked(const struct audit_log *lg)
{
	return (int64_t)time(NULL) + lg->time_offset;
}

static const uint8_t zero_mac[HSM_AUDIT_MAC_LEN];

/* Seals rec as the next record and appends it to the spool (fsync'd
 * before it counts). Under mu. */
static int append_locked(struct audit_log *lg, struct hsm_audit_rec *rec)
{
	char line[HSM_AUDIT_LINE_MAX + 2], why[200];
	struct stat st;
	size_t len;
	int fd = -1, r = PED_OK, created = 0;

	if (lg->spool_bytes + HSM_AUDIT_LINE_MAX > lg->spool_max) {
		r = HSM_E_DEVICE_MEMORY;
		goto out;
	}
	rec->seq = lg->next_seq;
	rec->time = now_locked(lg);
	snprintf(rec->serial, sizeof(rec->serial), "%s", lg->serial);
	/* last_mac zero: no record yet under this secret, this one starts the
	 * chain from the genesis value, so that its removal shows */
	if (CRYPTO_memcmp(lg->last_mac, zero_mac, sizeof(zero_mac)) == 0)
		r = hsm_audit_genesis(lg->secret, rec->serial, rec->seq, rec->prev);
	else
		memcpy(rec->prev, lg->last_mac, sizeof(rec->prev));
	if (r != PED_OK)
		goto out;
	if ((r = hsm_audit_seal(lg->secret, rec, line, sizeof(line), &len)) != PED_OK)
		goto out;
	/* a spool made here has its name synced to the directory with the
	 * record: an fsync'd file a crash takes out of its directory loses
	 * the records the commands reported */
	r = ped_file_open(lg->spool, O_WRONLY | O_APPEND, 0600, &fd, why, sizeof(why));
	if (r == PED_E_NOT_FOUND)
		created = (r = ped_file_open(lg->spool, O_WRONLY | O_APPEND | O_CREAT, 0600, &fd, why, sizeof(why))) == PED_OK;
	if (r != PED_OK) {
		ped_error("audit spool: %s", why);
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		ped_error("audit spool %s: %s", lg->spool, strerror(errno));
		r = PED_E_IO;
		goto out;
	}
	if (ped_file_write_all(fd, line, len) != PED_OK || fsync(fd) != 0 ||
	    (created && ped_file_sync_dir_of(lg->spool) != PED_OK)) {
		int e = errno;
		ped_error("audit spool %s: %s", lg->spool, strerror(e));
		/* The record is not kept: cut what of it got in. A full disk
		 * takes part of a line; left there, the next record would
		 * finish that line, one no one can read, and the record it
		 * took would never be delivered (pedclient refuses the gap, at
		 * every try). A record written whole whose fsync failed goes
		 * too: the next one takes its sequence number. */
		if (ftruncate(fd, st.st_size) != 0 || fsync(fd) != 0)
			ped_error("audit spool %s: cannot cut a record not kept: %s", lg->spool, strerror(errno));
		r = PED_E_IO;
		goto out;
	}
	lg->next_seq++;
	memcpy(lg->last_mac, rec->mac, sizeof(lg->last_mac));
	lg->spool_bytes += len;
	lg->spool_records++;
	pthread_cond_broadcast(&lg->cv);
	r = PED_OK;
out:
	if (fd >= 0)
		close(fd);
	OPENSSL_cleanse(line, sizeof(line));
	return r;
}

static int vevent(struct audit_log *lg, int force, unsigned cls, int result, const char *who, int slot,
		  uint64_t object, const char *event, const char *fmt, va_list ap) __attribute__((format(printf, 9, 0)));
static int vevent(struct audit_log *lg, int force, unsigned cls, int result, const char *who, int slot,
		  uint64_t object, const char *event, const char *fmt, va_list ap)
{
	struct hsm_audit_rec rec;
	int r = PED_OK, failed = result != PED_OK;

	pthread_mutex_lock(&lg->mu);
	if (!lg->secret_set || (!force && !hsm_audit_wanted(lg->cfg.evmask, cls, failed)))
		goto out;
	memset(&rec, 0, sizeof(rec));
	rec.cls = (uint8_t)cls;
	rec.failed = (uint8_t)failed;
	snprintf(rec.who, sizeof(rec.who), "%s", who && *who ? who : "-");
	rec.slot = slot;
	rec.object = object;
	rec.rc = failed ? hsm_result_code(result) : 0;
	snprintf(rec.event, sizeof(rec.event), "%s", event);
	vsnprintf(rec.msg, sizeof(rec.msg), fmt, ap);
	if ((r = append_locked(lg, &rec)) != PED_OK)
		ped_error("HSM %s: audit record '%s' not kept: %s", lg->serial, event, ped_strerror(r));
out:
	pthread_mutex_unlock(&lg->mu);
	return r;
}

int audit_event(struct sim_hsm *hs, unsigned cls, int result, const char *who, int slot, uint64_t object,
		const char *event, const char *fmt, ...)
{
	struct audit_log *lg = log_of(hs);
	va_list ap;
	int r;
	if (!lg)
		return PED_OK;
	va_start(ap, fmt);
	r = vevent(lg, 0, cls, result, who, slot, object, event, fmt, ap);
	va_end(ap);
	return r;
}

static int forced_event(struct audit_log *lg, unsigned cls, const char *who, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int forced_event(struct audit_log *lg, unsigned cls, const char *who, const char *event, const char *fmt, ...)
{
	va_list ap;
	int r;
	va_start(ap, fmt);
	r = vevent(lg, 1, cls, PED_OK, who, -1, 0, event, fmt, ap);
	va_end(ap);
	return r;
}

int audit_key_used(struct sim_hsm *hs, int result, const char *who, int slot, uint64_t handle, uint64_t ouid,
		   const char *what)
{
	struct audit_log *lg = log_of(hs);
	int first = 1, r = PED_OK;
	if (!lg)
		return PED_OK;
	pthread_mutex_lock(&lg->mu);
	for (size_t i = 0; i < lg->nfirst; i++)
		if (lg->first_used[i] == ouid)
			first = 0;
	/* remembered only once its record is kept (or not wanted) */
	if (first && result == PED_OK && lg->nfirst < FIRST_MAX &&
	    hsm_audit_wanted(lg->cfg.evmask, HSM_AUDIT_FIRST, 0))
		lg->first_used[lg->nfirst++] = ouid;
	pthread_mutex_unlock(&lg->mu);
	if (first)
		r = audit_event(hs, HSM_AUDIT_FIRST, result, who, slot, handle, what, "first use of object %llu",
				(unsigned long long)handle);
	int r2 = audit_event(hs, HSM_AUDIT_USAGE, result, who, slot, handle, what, "object %llu",
			     (unsigned long long)handle);
	return r != PED_OK ? r : r2;
}

int audit_set_white(struct sim_hsm *hs, const uint8_t *white, size_t len)
{
	struct audit_log *lg = log_of(hs);
	uint8_t secret[HSM_AUDIT_SECRET_LEN];
	int r, restart;
	if (!lg)
		return PED_E_INVALID;
	if ((r = hsm_audit_secret(white, len, secret)) != PED_OK)
		return r;
	pthread_mutex_lock(&lg->mu);
	/* a new Auditor's secret starts a new chain (last_mac zero: the next record
	 * chains from the genesis value); the numbers go on */
	restart = !lg->secret_set || CRYPTO_memcmp(secret, lg->secret, sizeof(secret)) != 0;
	if (restart && lg->secret_set)
		memset(lg->last_mac, 0, sizeof(lg->last_mac));
	memcpy(lg->secret, secret, sizeof(secret));
	lg->secret_set = 1;
	r = save_state(lg);
	pthread_mutex_unlock(&lg->mu);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (r == PED_OK)
		forced_event(lg, HSM_AUDIT_LOGMANAGE, "au", "audit init", "the Auditor's log secret is set%s",
			     restart ? "" : " (the same white key)");
	return r;
}

void audit_forget(struct sim_hsm *hs)
{
	struct audit_log *lg = log_of(hs);
	if (!lg)
		return;
	forced_event(lg, HSM_AUDIT_LOGMANAGE, "so", "audit end", "the HSM was zeroized: the log secret is erased");
	pthread_mutex_lock(&lg->mu);
	OPENSSL_cleanse(lg->secret, sizeof(lg->secret));
	lg->secret_set = 0;
	lg->cfg.evmask = 0;
	memset(lg->last_mac, 0, sizeof(lg->last_mac));
	(void)save_state(lg);
	pthread_mutex_unlock(&lg->mu);
}

void audit_resealed(struct sim_hsm *hs)
{
	struct audit_log *lg = log_of(hs);
	if (!lg || access(lg->path, F_OK) != 0)
		return;
	pthread_mutex_lock(&lg->mu);
	(void)save_state(lg);
	pthread_mutex_unlock(&lg->mu);
}

int audit_get(struct sim_hsm *hs, struct audit_status *st)
{
	struct audit_log *lg = log_of(hs);
	memset(st, 0, sizeof(*st));
	if (!lg)
		return PED_E_INVALID;
	pthread_mutex_lock(&lg->mu);
	st->cfg = lg->cfg;
	st->secret_set = lg->secret_set;
	st->next_seq = lg->next_seq;
	st->delivered = lg->delivered;
	st->spooled = lg->spool_records;
	st->spool_bytes = lg->spool_bytes;
	st->spool_max = lg->spool_max;
	st->full = on_locked(lg) && lg->spool_bytes + HSM_AUDIT_LINE_MAX > lg->spool_max;
	st->connected = lg->connected;
	st->time_offset = lg->time_offset;
	memcpy(st->refused, lg->refused, sizeof(st->refused));
	pthread_mutex_unlock(&lg->mu);
	return PED_OK;
}

int audit_configure(struct sim_hsm *hs, const struct audit_config *cfg)
{
	struct audit_log *lg = log_of(hs);
	char mask[128];
	int r;
	if (!lg)
		return PED_E_INVALID;
	pthread_mutex_lock(&lg->mu);
	lg->cfg = *cfg;
	r = save_state(lg);
	pthread_mutex_unlock(&lg->mu);
	hsm_audit_evmask_format(cfg->evmask, mask, sizeof(mask));
	/* the change is recorded whatever the new mask: turning the log off is
	 * the last thing it says */
	if (r == PED_OK)
		forced_event(lg, HSM_AUDIT_LOGMANAGE, "au", "audit config",
			     "evmask %s, interval %u s, size %llu, path %s", mask, cfg->interval,
			     (unsigned long long)cfg->size, cfg->dir[0] ? cfg->dir : "(pedclient's)");
	return r;
}

int audit_time_sync(struct sim_hsm *hs)
{
	struct audit_log *lg = log_of(hs);
	int r;
	if (!lg)
		return PED_E_INVALID;
	pthread_mutex_lock(&lg->mu);
	int64_t was = lg->time_offset;
	lg->time_offset = 0;
	r = save_state(lg);
	pthread_mutex_unlock(&lg->mu);
	if (r == PED_OK)
		audit_event(hs, HSM_AUDIT_LOGMANAGE, PED_OK, "au", -1, 0, "audit time sync",
			    "the HSM's clock set to the host's (it was %+lld s off)", (long long)was);
	return r;
}

int64_t audit_time(struct sim_hsm *hs)
{
	struct audit_log *lg = log_of(hs);
	int64_t t;
	if (!lg)
		return (int64_t)time(NULL);
	pthread_mutex_lock(&lg->mu);
	t = now_locked(lg);
	pthread_mutex_unlock(&lg->mu);
	return t;
}

/* ---- verification ------------------------------------------------------- */

struct verify_ctx {
	const struct sim_out *out;
	const char *serial; /* the HSM the records must come from, or NULL */
	int foreign;        /* a record of another HSM than serial */
};

static void each_record(void *arg, const struct hsm_audit_rec *r)
{
	struct verify_ctx *v = arg;
	char when[32], slot[16];
	time_t t = (time_t)r->time;
	struct tm tm;
	gmtime_r(&t, &tm);
	if (r->slot < 0)
		snprintf(slot, sizeof(slot), "-");
	else
		snprintf(slot, sizeof(slot), "%d", (int)r->slot);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (v->serial && strcmp(r->serial, v->serial))
		v->foreign = 1;
	sim_outf(v->out, "  %llu  %s  %-9s %s  %-3s slot %s object %llu  %s: %s", (unsigned long long)r->seq, when,
		 hsm_audit_class_name(r->cls), r->failed ? "failure" : "success", r->who, slot,
		 (unsigned long long)r->object, r->event, r->msg);
}

/* What the HSM knows of the end of its log, taken before the files are
 * read (pedclient fsyncs a record before it acknowledges it, so the files
 * read after hold at least every record delivered by then): the last
 * record delivered, the newest record, and the spool. */
struct log_end {
	uint64_t delivered, newest;
	uint8_t newest_mac[HSM_AUDIT_MAC_LEN];
};

/* The spool's next record from *pos, into rec (a line that is not one is
 * passed over): 1, or 0 at its end. */
static int spool_next(const uint8_t *all, size_t alen, size_t *pos, struct hsm_audit_rec *rec)
{
	while (*pos < alen) {
		const uint8_t *nl = memchr(all + *pos, '\n', alen - *pos);
		size_t n, body;
		if (!nl)
			return 0;
		n = (size_t)(nl - (all + *pos)) + 1;
		int ok = hsm_audit_parse((const char *)all + *pos, n, rec, &body, NULL, 0) == PED_OK;
		*pos += n;
		if (ok)
			return 1;
	}
	return 0;
}

/* The MAC of this HSM's record seq, if it knows it: its newest record's,
 * or one the spool holds (its own MAC, or the PREV of the record after). */
static int known_mac(struct audit_log *lg, const struct log_end *e, uint64_t seq, uint8_t mac[HSM_AUDIT_MAC_LEN])
{
	uint8_t *all = NULL;
	size_t alen = 0, pos = 0;
	int found = 0;

	uint8_t genesis[HSM_AUDIT_MAC_LEN];
	int have_genesis = 0;

	if (seq == e->newest) {
		/* zero after a zeroization: the record is written, its MAC
		 * forgotten with the secret */
		memcpy(mac, e->newest_mac, HSM_AUDIT_MAC_LEN);
		return CRYPTO_memcmp(mac, zero_mac, sizeof(zero_mac)) != 0;
	}
	pthread_mutex_lock(&lg->mu);
	if (ped_file_read_nofollow(lg->spool, lg->spool_max + HSM_AUDIT_LINE_MAX, &all, &alen) != PED_OK)
		alen = 0;
	/* a record that starts a chain (a new Auditor's) links to no record
	 * before it: its PREV is no MAC */
	have_genesis = lg->secret_set && hsm_audit_genesis(lg->secret, lg->serial, seq + 1, genesis) == PED_OK;
	pthread_mutex_unlock(&lg->mu);
	struct hsm_audit_rec rec;
	while (!found && spool_next(all, alen, &pos, &rec)) {
		if (rec.seq == seq)
			memcpy(mac, rec.mac, HSM_AUDIT_MAC_LEN), found = 1;
		else if (rec.seq == seq + 1 && !(have_genesis && CRYPTO_memcmp(rec.prev, genesis, sizeof(genesis)) == 0))
			memcpy(mac, rec.prev, HSM_AUDIT_MAC_LEN), found = 1;
	}
	OPENSSL_clear_free(all, alen);
	OPENSSL_cleanse(genesis, sizeof(genesis));
	return found;
}

/* The first record in from..to that the spool does not hold (and that was
 * not delivered meanwhile, leaving it), or 0 when it holds them all. */
static uint64_t spool_missing(struct audit_log *lg, uint64_t from, uint64_t to)
{
	uint8_t *all = NULL;
	size_t alen = 0, pos = 0;
	uint64_t want = from, delivered;

	pthread_mutex_lock(&lg->mu);
	if (ped_file_read_nofollow(lg->spool, lg->spool_max + HSM_AUDIT_LINE_MAX, &all, &alen) != PED_OK)
		alen = 0;
	delivered = lg->delivered;
	pthread_mutex_unlock(&lg->mu);
	if (want <= delivered)
		want = delivered + 1;
	struct hsm_audit_rec rec;
	while (want <= to && spool_next(all, alen, &pos, &rec))
		if (rec.seq == want)
			want++;
	OPENSSL_clear_free(all, alen);
	return want <= to ? want : 0;
}

/* Verifies one file into v: PED_OK, or the failure said to out. */
static int verify_file(const uint8_t *key, const char *file, struct hsm_audit_verify *v, struct verify_ctx *vc)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;
	/* read, never written: verification leaves the files as they are. The
	 * newest file may be growing (pedclient appends the records of this
	 * very session): a read that saw it grow is made again. */
	for (int tries = 0; (r = ped_file_read_bounded(file, VERIFY_FILE_MAX, &buf, &len)) == PED_E_RANGE && tries < 20;
	     tries++) {
		struct stat st;
		if (stat(file, &st) != 0 || (uint64_t)st.st_size > VERIFY_FILE_MAX)
			break; /* too big, not growing */
	}
	if (r != PED_OK) {
		sim_outf(vc->out, "Error: cannot read %s: %s", file, ped_strerror(r));
		return r;
	}
	sim_outf(vc->out, "Log file being verified %s.", file);
	r = hsm_audit_verify_buf(key, buf, len, v, each_record, vc);
	OPENSSL_clear_free(buf, len);
	if (r == PED_OK)
		return PED_OK;
	if (v->bad_seq)
		sim_outf(vc->out, "Verify failed on record %llu (%s, line %llu): %s", (unsigned long long)v->bad_seq, file,
			 (unsigned long long)v->bad_line, v->why);
	else
		sim_outf(vc->out, "Verify failed at line %llu of %s: %s", (unsigned long long)v->bad_line, file, v->why);
	if (v->records)
		sim_outf(vc->out, "Verified messages %llu to %llu before it.", (unsigned long long)v->first_seq,
			 (unsigned long long)v->last_seq);
	return PED_E_CORRUPT;
}

int audit_verify(struct sim_hsm *hs, const char *path, int external, const struct sim_out *out)
{
	struct audit_log *lg = log_of(hs);
	uint8_t key[HSM_AUDIT_SECRET_LEN], mac[HSM_AUDIT_MAC_LEN];
	struct hsm_audit_verify v;
	struct hsm_audit_files f;
	struct log_end end;
	struct verify_ctx vc = {out, external ? NULL : hs->h.serial, 0};
	char src[HSM_AUDIT_SERIAL_MAX + 1] = "";
	int r;

	memset(&f, 0, sizeof(f));
	if (!lg)
		return PED_E_INVALID;
	/* another HSM's log: with the secret imported from it, else with this
	 * HSM's own, which is that HSM's when their Auditors share a white key */
	pthread_mutex_lock(&lg->mu);
	int imported = external && lg->imported_set;
	if (!imported && !lg->secret_set) {
		pthread_mutex_unlock(&lg->mu);
		sim_outf(out, "Error: this HSM has no Auditor, so no log secret (role init -name au)%s",
			 external ? ", and none was imported (audit import)" : "");
		return PED_E_USER_NOT_LOGGED_IN;
	}
	memcpy(key, imported ? lg->imported : lg->secret, sizeof(key));
	memcpy(src, imported ? lg->imported_serial : "another HSM", imported ? sizeof(src) : sizeof("another HSM"));
	end.delivered = lg->delivered;
	end.newest = lg->next_seq - 1;
	memcpy(end.newest_mac, lg->last_mac, sizeof(end.newest_mac));
	pthread_mutex_unlock(&lg->mu);

	memset(&v, 0, sizeof(v));
	if ((r = hsm_audit_files(path, external ? (imported ? src : NULL) : hs->h.serial, &f)) != PED_OK) {
		if (r == PED_E_NOT_FOUND)
			sim_outf(out, "Error: no log file at %s", path);
		else
			sim_outf(out, "Error: cannot list the log files at %s: %s", path, ped_strerror(r));
		goto out;
	}
	/* as lunacm: who verifies whose log, then what to make sure of */
	if (external && imported)
		sim_outf(out, "Verifying log from HSM with serial %s on HSM with serial %s", src, hs->h.serial);
	else if (external) {
		sim_outf(out, "Verifying log from another HSM on HSM with serial %s", hs->h.serial);
		sim_outf(out, "Make sure that the log's HSM has the same white Auditor key, or import its log secret.");
	} else
		sim_outf(out, "Verifying log on HSM with serial %s", hs->h.serial);
	/* one file of several: its first record links to the file before */
	if (f.prev) {
		uint8_t *buf = NULL;
		size_t len = 0;
		if ((r = ped_file_read_bounded(f.prev, VERIFY_FILE_MAX, &buf, &len)) == PED_OK)
			r = hsm_audit_verify_link(key, buf, len, &v);
		else
			snprintf(v.why, sizeof(v.why), "%s", ped_strerror(r));
		OPENSSL_clear_free(buf, len);
		if (r != PED_OK) {
			sim_outf(out, "Verify failed: the file before it, %s, does not link to it: %s", f.prev, v.why);
			r = PED_E_CORRUPT;
			goto out;
		}
		sim_outf(out, "Linked to record %llu, the last of %s.", (unsigned long long)v.last_seq, f.prev);
	}
	for (size_t i = 0; i < f.n; i++)
		if ((r = verify_file(key, f.files[i], &v, &vc)) != PED_OK)
			goto out;
	if (!v.records) {
		sim_outf(out, "Error: no records in %s", path);
		r = PED_E_CORRUPT;
		goto out;
	}
	if (vc.foreign) {
		sim_outf(out, "Verify failed: records of another HSM than %s (use -external with its imported secret)",
			 hs->h.serial);
		r = PED_E_CORRUPT;
		goto out;
	}
	/* The chain cannot show records cut from its end; the HSM knows where
	 * its log ends. Checked on its own log's newest file (or directory). */
	if (!external && f.newest) {
		if (v.last_seq < end.delivered) {
			sim_outf(out, "Verify failed after record %llu: the HSM handed records up to %llu to pedclient; "
				      "record%s %llu%s%.0llu %s missing (cut from the end of %s, or written elsewhere)",
				 (unsigned long long)v.last_seq, (unsigned long long)end.delivered,
				 end.delivered > v.last_seq + 1 ? "s" : "", (unsigned long long)v.last_seq + 1,
				 end.delivered > v.last_seq + 1 ? " to " : "",
				 end.delivered > v.last_seq + 1 ? (unsigned long long)end.delivered : 0ull,
				 end.delivered > v.last_seq + 1 ? "are" : "is", f.files[f.n - 1]);
			sim_outf(out, "Verified messages %llu to %llu before it.", (unsigned long long)v.first_seq,
				 (unsigned long long)v.last_seq);
			r = PED_E_CORRUPT;
			goto out;
		}
		if (v.last_seq > end.newest ||
		    (known_mac(lg, &end, v.last_seq, mac) && CRYPTO_memcmp(mac, v.last_mac, sizeof(mac)) != 0)) {
			sim_outf(out, "Verify failed on record %llu: it is not the record %llu this HSM wrote",
				 (unsigned long long)v.last_seq, (unsigned long long)v.last_seq);
			r = PED_E_CORRUPT;
			goto out;
		}
		/* the records after the log's end wait in the spool, or were
		 * taken out of it */
		uint64_t gone = end.newest > v.last_seq ? spool_missing(lg, v.last_seq + 1, end.newest) : 0;
		if (gone) {
			sim_outf(out, "Verify failed after record %llu: record %llu, written by the HSM and not yet handed to "
				      "pedclient, is not in its spool %s (removed from it)",
				 (unsigned long long)v.last_seq, (unsigned long long)gone, lg->spool);
			r = PED_E_CORRUPT;
			goto out;
		}
		sim_outf(out, "The log reaches record %llu, the last the HSM handed to pedclient%s.",
			 (unsigned long long)v.last_seq,
			 end.newest > v.last_seq ? "; the newer ones wait in its spool" : "");
	}
	sim_outf(out, "Verified messages %llu to %llu", (unsigned long long)v.first_seq, (unsigned long long)v.last_seq);
	r = PED_OK;
out:
	hsm_audit_files_free(&f);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(&end, sizeof(end));
	return r;
}

int audit_export(struct sim_hsm *hs, const char *password, uint8_t **out, size_t *outlen)
{
	struct audit_log *lg = log_of(hs);
	uint8_t secret[HSM_AUDIT_SECRET_LEN];
	int r;
	if (!lg)
		return PED_E_INVALID;
	pthread_mutex_lock(&lg->mu);
	r = lg->secret_set ? PED_OK : PED_E_NOT_FOUND;
	memcpy(secret, lg->secret, sizeof(secret));
	pthread_mutex_unlock(&lg->mu);
	if (r == PED_OK)
		r = hsm_audit_lws_wrap(secret, hs->h.serial, password, out, outlen);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (r == PED_OK)
		audit_event(hs, HSM_AUDIT_LOGMANAGE, PED_OK, "au", -1, 0, "audit export", "the wrapped log secret was exported");
	return r;
}

int audit_import(struct sim_hsm *hs, const uint8_t *in, size_t inlen, const char *password, char *serial)
{
	struct audit_log *lg = log_of(hs);
	uint8_t secret[HSM_AUDIT_SECRET_LEN];
	int r;
	if (!lg)
		return PED_E_INVALID;
	if ((r = hsm_audit_lws_unwrap(in, inlen, password, secret, serial)) == PED_OK) {
		pthread_mutex_lock(&lg->mu);
		memcpy(lg->imported, secret, sizeof(secret));
		memcpy(lg->imported_serial, serial, sizeof(lg->imported_serial));
		lg->imported_set = 1;
		pthread_mutex_unlock(&lg->mu);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	audit_event(hs, HSM_AUDIT_LOGMANAGE, r, "au", -1, 0, "audit import", "the log secret of HSM %s",
		    r == PED_OK ? serial : "?");
	return r;
}

/* ---- delivery ------------------------------------------------------------ */

int audit_spool_read(struct sim_hsm *hs, uint64_t after, size_t max, char **buf, size_t *len, uint64_t *last)
{
	struct audit_log *lg = log_of(hs);
	uint8_t *all = NULL;
	size_t alen = 0, pos = 0, used = 0;
	char *res = NULL;
	int r;

	*buf = NULL;
	*len = 0;
	*last = after;
	pthread_mutex_lock(&lg->mu);
	r = ped_file_read_nofollow(lg->spool, lg->spool_max + HSM_AUDIT_LINE_MAX, &all, &alen);
	pthread_mutex_unlock(&lg->mu);
	if (r == PED_E_NOT_FOUND)
		return PED_OK;
	if (r != PED_OK)
		return r;
	if (!(res = malloc(max ? max : 1))) {
		OPENSSL_clear_free(all, alen);
		return PED_E_HOST_MEMORY;
	}
	while (pos < alen) {
		const uint8_t *nl = memchr(all + pos, '\n', alen - pos);
		struct hsm_audit_rec rec;
		size_t n, body;
		if (!nl)
			break;
		n = (size_t)(nl - (all + pos)) + 1;
		if (hsm_audit_parse((const char *)all + pos, n, &rec, &body, NULL, 0) == PED_OK && rec.seq > *last) {
			if (rec.seq != *last + 1 && *last != after)
				break; /* never a gap within one batch */
			if (used + n > max)
				break;
			memcpy(res + used, all + pos, n);
			used += n;
			*last = rec.seq;
		}
		pos += n;
	}
	OPENSSL_clear_free(all, alen);
	if (!used) {
		free(res);
		return PED_OK;
	}
	*buf = res;
	*len = used;
	return PED_OK;
}

int audit_acked(struct sim_hsm *hs, uint64_t seq)
{
	struct audit_log *lg = log_of(hs);
	uint8_t *all = NULL, *keep = NULL;
	size_t alen = 0, pos = 0, klen = 0;
	uint64_t recs = 0;
	int r;

	pthread_mutex_lock(&lg->mu);
	if (seq <= lg->delivered || seq >= lg->next_seq) {
		pthread_mutex_unlock(&lg->mu);
		return seq <= lg->delivered ? PED_OK : PED_E_RANGE;
	}
	r = ped_file_read_nofollow(lg->spool, lg->spool_max + HSM_AUDIT_LINE_MAX, &all, &alen);
	if (r == PED_OK && !(keep = malloc(alen ? alen : 1)))
		r = PED_E_HOST_MEMORY;
	while (r == PED_OK && pos < alen) {
		const uint8_t *nl = memchr(all + pos, '\n', alen - pos);
		struct hsm_audit_rec rec;
		size_t n, body;
		if (!nl)
			break;
		n = (size_t)(nl - (all + pos)) + 1;
		if (hsm_audit_parse((const char *)all + pos, n, &rec, &body, NULL, 0) == PED_OK && rec.seq > seq) {
			memcpy(keep + klen, all + pos, n);
			klen += n;
			recs++;
		}
		pos += n;
	}
	/* the state first: a crash before the spool is rewritten leaves
	 * records pedclient has, which it drops by their numbers */
	if (r == PED_OK) {
		uint64_t was = lg->delivered;
		lg->delivered = seq;
		if ((r = save_state(lg)) != PED_OK)
			lg->delivered = was;
	}
	if (r == PED_OK && (r = ped_file_write_atomic(lg->spool, keep, klen, 0600)) == PED_OK) {
		lg->spool_bytes = klen;
		lg->spool_records = recs;
	}
	pthread_mutex_unlock(&lg->mu);
	OPENSSL_clear_free(all, alen);
	free(keep);
	return r;
}

void audit_set_connected(struct sim_hsm *hs, int on)
{
	struct audit_log *lg = log_of(hs);
	pthread_mutex_lock(&lg->mu);
	lg->connected = on;
	pthread_mutex_unlock(&lg->mu);
}

void audit_set_refused(struct sim_hsm *hs, const char *why)
{
	struct audit_log *lg = log_of(hs);
	pthread_mutex_lock(&lg->mu);
	snprintf(lg->refused, sizeof(lg->refused), "%s", why ? why : "");
	pthread_mutex_unlock(&lg->mu);
}

int audit_own_mac(struct sim_hsm *hs, uint64_t seq, uint8_t mac[HSM_AUDIT_MAC_LEN])
{
	struct audit_log *lg = log_of(hs);
	struct log_end e;
	int found;
	pthread_mutex_lock(&lg->mu);
	e.delivered = lg->delivered;
	e.newest = lg->next_seq - 1;
	memcpy(e.newest_mac, lg->last_mac, sizeof(e.newest_mac));
	pthread_mutex_unlock(&lg->mu);
	found = e.newest && seq && seq <= e.newest && known_mac(lg, &e, seq, mac);
	OPENSSL_cleanse(&e, sizeof(e));
	return found;
}

int audit_wait(struct sim_hsm *hs, uint64_t after, int ms)
{
	struct audit_log *lg = log_of(hs);
	struct timespec until;
	int more;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&lg->mu);
	while (lg->next_seq <= after + 1 && !lg->stopping)
		if (ms < 0)
			pthread_cond_wait(&lg->cv, &lg->mu);
		else if (pthread_cond_timedwait(&lg->cv, &lg->mu, &until) != 0)
			break;
	more = lg->next_seq > after + 1;
	pthread_mutex_unlock(&lg->mu);
	return more;
}

void audit_wake_all(struct sim *sim)
{
	for (int i = 0; i < sim->nhsms; i++) {
		struct audit_log *lg = sim->hsms[i].audit;
		if (!lg)
			continue;
		pthread_mutex_lock(&lg->mu);
		lg->stopping = 1;
		pthread_cond_broadcast(&lg->cv);
		pthread_mutex_unlock(&lg->mu);
	}
}

int audit_stopping(struct sim_hsm *hs)
{
	struct audit_log *lg = log_of(hs);
	int st;
	pthread_mutex_lock(&lg->mu);
	st = lg->stopping;
	pthread_mutex_unlock(&lg->mu);
	return st;
}
