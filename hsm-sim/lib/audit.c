/* The audit log's records, their chain and the wrapped log secret
 * (hsm/audit.h). */
#include "hsm/audit.h"

#include "hsm/seal.h"
#include "ped/buf.h"
#include "ped/error.h"
#include "ped/kdf.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define LOG_INFO "OPENPED-AUDIT-LOG-v1"
#define GENESIS_LABEL "OPENPED-AUDIT-GENESIS-v1"
#define FILES_MAX 4096
#define NFIELDS 13
#define LWS_MAGIC "OPLWS\x00\x00\x01"
#define LWS_MAGIC_LEN 8
#define LWS_SALT_LEN 16

static const struct {
	const char *name;
	char letter;
} classes[HSM_AUDIT_NCLASSES] = {
	{"access", 'a'}, {"manage", 'm'}, {"keymanage", 'k'}, {"usage", 'u'},
	{"first", 'r'},  {"external", 'x'}, {"logmanage", 'g'},
};

const char *hsm_audit_class_name(unsigned cls)
{
	return cls < HSM_AUDIT_NCLASSES ? classes[cls].name : "?";
}

int hsm_audit_class_by_name(const char *name)
{
	for (unsigned i = 0; i < HSM_AUDIT_NCLASSES; i++)
		if (!strcmp(name, classes[i].name))
			return (int)i;
	return -1;
}

static void why_set(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

int hsm_audit_evmask_parse(const char *list, uint32_t *mask)
{
	char word[32];
	uint32_t m = 0;
	int none = 0;
	const char *p = list;

	if (!list || !*list)
		return PED_E_ARGUMENTS_BAD;
	while (*p) {
		size_t n = strcspn(p, ",");
		if (n == 0 || n >= sizeof(word))
			return PED_E_ARGUMENTS_BAD;
		memcpy(word, p, n);
		word[n] = 0;
		p += n + (p[n] == ',');
		/* a letter or a whole name, as lunacm takes them */
		if (!strcasecmp(word, "f") || !strcasecmp(word, "failure"))
			m |= HSM_AUDIT_EV_FAILURE;
		else if (!strcasecmp(word, "s") || !strcasecmp(word, "success"))
			m |= HSM_AUDIT_EV_SUCCESS;
		else if (!strcasecmp(word, "l") || !strcasecmp(word, "all"))
			m |= HSM_AUDIT_EV_ALL;
		else if (!strcasecmp(word, "n") || !strcasecmp(word, "none"))
			none = 1;
		else {
			unsigned i;
			for (i = 0; i < HSM_AUDIT_NCLASSES; i++)
				if ((n == 1 && (word[0] | 0x20) == classes[i].letter) || !strcasecmp(word, classes[i].name))
					break;
			if (i == HSM_AUDIT_NCLASSES)
				return PED_E_ARGUMENTS_BAD;
			m |= 1u << i;
		}
	}
	if (none) {
		if (m)
			return PED_E_ARGUMENTS_BAD; /* "none" with anything else is a contradiction */
		*mask = 0;
		return PED_OK;
	}
	/* a class without a result, or a result without a class, logs nothing:
	 * the operator meant something else */
	if (!(m & (HSM_AUDIT_EV_SUCCESS | HSM_AUDIT_EV_FAILURE)) || !(m & ((1u << HSM_AUDIT_NCLASSES) - 1)))
		return PED_E_ARGUMENTS_BAD;
	*mask = m;
	return PED_OK;
}

void hsm_audit_evmask_format(uint32_t mask, char *out, size_t size)
{
	size_t used = 0;
	if (!size)
		return;
	out[0] = 0;
	if (!(mask & ((1u << HSM_AUDIT_NCLASSES) - 1))) {
		snprintf(out, size, "none");
		return;
	}
	for (unsigned i = 0; i < HSM_AUDIT_NCLASSES; i++)
		if (mask & (1u << i))
			used += (size_t)snprintf(out + used, used < size ? size - used : 0, "%s%s", used ? "," : "",
						 classes[i].name);
	if (used < size && (mask & HSM_AUDIT_EV_SUCCESS))
		used += (size_t)snprintf(out + used, size - used, ",success");
	if (used < size && (mask & HSM_AUDIT_EV_FAILURE))
		snprintf(out + used, size - used, ",failure");
}

int hsm_audit_wanted(uint32_t mask, unsigned cls, int failed)
{
	if (cls >= HSM_AUDIT_NCLASSES || !(mask & (1u << cls)))
		return 0;
	return (mask & (failed ? HSM_AUDIT_EV_FAILURE : HSM_AUDIT_EV_SUCCESS)) != 0;
}

int hsm_audit_secret(const uint8_t *white, size_t len, uint8_t out[HSM_AUDIT_SECRET_LEN])
{
	return hsm_hkdf(white, len, LOG_INFO, sizeof(LOG_INFO) - 1, out);
}

int hsm_audit_genesis(const uint8_t key[HSM_AUDIT_SECRET_LEN], const char *serial, uint64_t seq,
		      uint8_t out[HSM_AUDIT_MAC_LEN])
{
	uint8_t msg[sizeof(GENESIS_LABEL) + HSM_AUDIT_SERIAL_MAX + 1 + 8];
	size_t sl = strlen(serial), n = 0;
	int r;

	if (sl > HSM_AUDIT_SERIAL_MAX)
		return PED_E_INVALID;
	memcpy(msg, GENESIS_LABEL, sizeof(GENESIS_LABEL)); /* its NUL separates it */
	n = sizeof(GENESIS_LABEL);
	memcpy(msg + n, serial, sl + 1);
	n += sl + 1;
	ped_be64_put(msg + n, seq);
	n += 8;
	r = ped_hmac_sha512(key, HSM_AUDIT_SECRET_LEN, msg, n, out);
	return r == PED_OK ? PED_OK : PED_E_CRYPTO;
}

/* Text fields: printable ASCII, no separator, never empty. */
static void clean_text(char *dst, size_t size, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < size; i++)
		dst[i] = (src[i] < 0x20 || src[i] > 0x7e || src[i] == '|') ? '?' : src[i];
	if (i == 0 && size > 1)
		dst[i++] = '-';
	dst[i] = 0;
}

static void hex(char *out, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = 0;
}

int hsm_audit_seal(const uint8_t key[HSM_AUDIT_SECRET_LEN], struct hsm_audit_rec *r, char *line, size_t size,
		   size_t *len)
{
	char serial[HSM_AUDIT_SERIAL_MAX + 1], who[HSM_AUDIT_WHO_MAX + 1], event[HSM_AUDIT_EVENT_MAX + 1];
	char msg[HSM_AUDIT_MSG_MAX + 1], when[32], slot[16], prev[2 * HSM_AUDIT_MAC_LEN + 1],
		mac[2 * HSM_AUDIT_MAC_LEN + 1];
	struct tm tm;
	time_t t = (time_t)r->time;
	int n;

	if (r->cls >= HSM_AUDIT_NCLASSES || r->time < 0 || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999)
		return PED_E_INVALID;
	clean_text(serial, sizeof(serial), r->serial);
	clean_text(who, sizeof(who), r->who);
	clean_text(event, sizeof(event), r->event);
	clean_text(msg, sizeof(msg), r->msg);
	memcpy(r->serial, serial, sizeof(serial));
	memcpy(r->who, who, sizeof(who));
	memcpy(r->event, event, sizeof(event));
	memcpy(r->msg, msg, sizeof(msg));
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (r->slot < 0)
		snprintf(slot, sizeof(slot), "-");
	else
		snprintf(slot, sizeof(slot), "%d", (int)r->slot);
	hex(prev, r->prev, sizeof(r->prev));
	n = snprintf(line, size, "%llu|%s|%s|%s|%c|%s|%s|%llu|0x%08x|%s|%s|%s", (unsigned long long)r->seq, when,
		     serial, classes[r->cls].name, r->failed ? 'F' : 'S', who, slot, (unsigned long long)r->object,
		     r->rc, event, msg, prev);
	if (n < 0 || (size_t)n + 2 + 2 * HSM_AUDIT_MAC_LEN + 1 >= size || (size_t)n + 2 + 2 * HSM_AUDIT_MAC_LEN + 1 >=
									       HSM_AUDIT_LINE_MAX)
		return PED_E_RANGE;
	if (ped_hmac_sha512(key, HSM_AUDIT_SECRET_LEN, (const uint8_t *)line, (size_t)n, r->mac) != PED_OK)
		return PED_E_CRYPTO;
	hex(mac, r->mac, sizeof(r->mac));
	*len = (size_t)n + (size_t)snprintf(line + n, size - (size_t)n, "|%s\n", mac);
	return PED_OK;
}

static int unhex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t v = 0;
		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + k];
			v = (uint8_t)(v << 4);
			if (c >= '0' && c <= '9')
				v |= (uint8_t)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (uint8_t)(c - 'a' + 10);
			else
				return -1;
		}
		out[i] = v;
	}
	return 0;
}

/* A decimal number of at most maxdigits digits, no sign, no leading zero
 * (but "0"): one way to write each value, so a MAC covers one meaning. */
static int decimal(const char *s, size_t n, size_t maxdigits, uint64_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > maxdigits || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int text(const char *s, size_t n, char *out, size_t max)
{
	if (n == 0 || n > max)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '|')
			return -1;
	memcpy(out, s, n);
	out[n] = 0;
	return 0;
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Exactly YYYY-MM-DDTHH:MM:SSZ, a real date: the form seal writes. */
static int parse_time(const char *s, size_t n, int64_t *out)
{
	struct tm tm, back;
	time_t t;
	if (n != 20)
		return -1;
	for (int i = 0; i < 20; i++) {
		char want = i == 4 || i == 7 ? '-' : i == 10 ? 'T' : i == 13 || i == 16 ? ':' : i == 19 ? 'Z' : 0;
		if (want ? s[i] != want : (s[i] < '0' || s[i] > '9'))
			return -1;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = digits(s, 4) - 1900;
	tm.tm_mon = digits(s + 5, 2) - 1;
	tm.tm_mday = digits(s + 8, 2);
	tm.tm_hour = digits(s + 11, 2);
	tm.tm_min = digits(s + 14, 2);
	tm.tm_sec = digits(s + 17, 2);
	if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		return -1;
	back = tm;
	/* timegm normalizes its argument: 31 February is no date, it must
	 * come back as written */
	t = timegm(&back);
	if (t == (time_t)-1 || back.tm_mday != tm.tm_mday || back.tm_mon != tm.tm_mon)
		return -1;
	*out = (int64_t)t;
	return 0;
}

int hsm_audit_parse(const char *line, size_t len, struct hsm_audit_rec *r, size_t *bodylen, char *why,
		    size_t whylen)
{
	const char *f[NFIELDS];
	size_t fl[NFIELDS], nf = 0, start = 0;
	uint64_t v;
	int c;

	memset(r, 0, sizeof(*r));
	if (len && line[len - 1] == '\n')
		len--;
	if (len == 0 || len >= HSM_AUDIT_LINE_MAX) {
		why_set(why, whylen, "%s", len ? "line too long" : "empty line");
		return PED_E_CORRUPT;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != '|')
			continue;
		if (nf == NFIELDS) {
			why_set(why, whylen, "more than %d fields", NFIELDS);
			return PED_E_CORRUPT;
		}
		f[nf] = line + start;
		fl[nf++] = i - start;
		start = i + 1;
	}
	if (nf != NFIELDS) {
		why_set(why, whylen, "%zu fields, not %d", nf, NFIELDS);
		return PED_E_CORRUPT;
	}
#define BAD(...)                                      \
	do {                                          \
		why_set(why, whylen, __VA_ARGS__);    \
		return PED_E_CORRUPT;                 \
	} while (0)
	if (decimal(f[0], fl[0], 20, &r->seq) || r->seq == 0)
		BAD("bad sequence number");
	if (parse_time(f[1], fl[1], &r->time))
		BAD("bad time");
	if (text(f[2], fl[2], r->serial, HSM_AUDIT_SERIAL_MAX))
		BAD("bad serial");
	{
		char cls[16];
		if (text(f[3], fl[3], cls, sizeof(cls) - 1) || (c = hsm_audit_class_by_name(cls)) < 0)
			BAD("bad class");
		r->cls = (uint8_t)c;
	}
	if (fl[4] != 1 || (f[4][0] != 'S' && f[4][0] != 'F'))
		BAD("bad result flag");
	r->failed = f[4][0] == 'F';
	if (text(f[5], fl[5], r->who, HSM_AUDIT_WHO_MAX))
		BAD("bad who");
	if (fl[6] == 1 && f[6][0] == '-')
		r->slot = -1;
	else if (decimal(f[6], fl[6], 9, &v) || v > INT32_MAX)
		BAD("bad slot");
	else
		r->slot = (int32_t)v;
	if (decimal(f[7], fl[7], 20, &r->object))
		BAD("bad object");
	if (fl[8] != 10 || f[8][0] != '0' || f[8][1] != 'x')
		BAD("bad result code");
	{
		uint8_t rc[4];
		if (unhex(f[8] + 2, 4, rc))
			BAD("bad result code");
		r->rc = ped_be32_get(rc);
	}
	if (text(f[9], fl[9], r->event, HSM_AUDIT_EVENT_MAX))
		BAD("bad event");
	if (text(f[10], fl[10], r->msg, HSM_AUDIT_MSG_MAX))
		BAD("bad message");
	if (fl[11] != 2 * HSM_AUDIT_MAC_LEN || unhex(f[11], HSM_AUDIT_MAC_LEN, r->prev))
		BAD("bad previous MAC");
	if (fl[12] != 2 * HSM_AUDIT_MAC_LEN || unhex(f[12], HSM_AUDIT_MAC_LEN, r->mac))
		BAD("bad MAC");
#undef BAD
	*bodylen = (size_t)(f[12] - line) - 1;
	return PED_OK;
}

int hsm_audit_check_mac(const uint8_t key[HSM_AUDIT_SECRET_LEN], const char *line, size_t bodylen,
			const struct hsm_audit_rec *r)
{
	uint8_t mac[HSM_AUDIT_MAC_LEN];
	int ok;
	if (ped_hmac_sha512(key, HSM_AUDIT_SECRET_LEN, (const uint8_t *)line, bodylen, mac) != PED_OK)
		return PED_E_CRYPTO;
	ok = CRYPTO_memcmp(mac, r->mac, sizeof(mac)) == 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok ? PED_OK : PED_E_BAD_RECORD;
}

int hsm_audit_verify_buf(const uint8_t key[HSM_AUDIT_SECRET_LEN], const uint8_t *buf, size_t len,
			 struct hsm_audit_verify *v, void (*each)(void *arg, const struct hsm_audit_rec *r),
			 void *arg)
{
	struct hsm_audit_rec rec;
	uint8_t genesis[HSM_AUDIT_MAC_LEN];
	size_t pos = 0, bodylen;
	uint64_t lineno = 0;
	int r = PED_OK, starts;

	while (pos < len) {
		const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) + 1 : len - pos;
		const char *line = (const char *)buf + pos;
		char why[96] = "";

		lineno++;
		pos += n;
		v->bad_line = lineno;
		v->bad_seq = 0;
		if (!nl) {
			/* the writer ends every record with its newline: a line
			 * without one was cut */
			uint64_t seq;
			size_t d = 0;
			while (d < n && d < 20 && line[d] >= '0' && line[d] <= '9')
				d++;
			if (d < n && line[d] == '|' && decimal(line, d, 20, &seq) == 0)
				v->bad_seq = seq;
			snprintf(v->why, sizeof(v->why), "line %llu: truncated record (no end of line)",
				 (unsigned long long)lineno);
			r = PED_E_CORRUPT;
			goto out;
		}
		if ((r = hsm_audit_parse(line, n, &rec, &bodylen, why, sizeof(why))) != PED_OK) {
			/* name it by the number it starts with, if it has one */
			uint64_t seq;
			size_t d = 0;
			while (d < n && d < 20 && line[d] >= '0' && line[d] <= '9')
				d++;
			if (d < n && line[d] == '|' && decimal(line, d, 20, &seq) == 0)
				v->bad_seq = seq;
			snprintf(v->why, sizeof(v->why), "line %llu: not a record (%s)", (unsigned long long)lineno, why);
			goto out;
		}
		v->bad_seq = rec.seq;
		if ((r = hsm_audit_check_mac(key, line, bodylen, &rec)) != PED_OK) {
			snprintf(v->why, sizeof(v->why),
				 "record %llu: its MAC does not match (altered, or not this log secret's)",
				 (unsigned long long)rec.seq);
			goto out;
		}
		/* A chain starts with the genesis value for its SEQ (a new
		 * Auditor's secret); any other record links to the record
		 * before, one number on, which must have been seen: SEQ never
		 * repeats nor skips, across chains too. */
		if ((r = hsm_audit_genesis(key, rec.serial, rec.seq, genesis)) != PED_OK)
			goto out;
		starts = CRYPTO_memcmp(rec.prev, genesis, sizeof(genesis)) == 0;
		if (v->have_last &&
		    (rec.seq != v->last_seq + 1 || (!starts && CRYPTO_memcmp(rec.prev, v->last_mac, sizeof(rec.prev)) != 0))) {
			if (rec.seq > v->last_seq + 1)
				snprintf(v->why, sizeof(v->why),
					 "record %llu: does not follow record %llu (record%s %llu%s%.0llu missing here: removed or moved)",
					 (unsigned long long)rec.seq, (unsigned long long)v->last_seq,
					 rec.seq > v->last_seq + 2 ? "s" : "", (unsigned long long)v->last_seq + 1,
					 rec.seq > v->last_seq + 2 ? " to " : "",
					 rec.seq > v->last_seq + 2 ? (unsigned long long)rec.seq - 1 : 0ull);
			else
				snprintf(v->why, sizeof(v->why),
					 "record %llu: does not follow record %llu (a record removed, reordered or inserted)",
					 (unsigned long long)rec.seq, (unsigned long long)v->last_seq);
			r = PED_E_INVALID;
			goto out;
		}
		if (!v->have_last && !starts) {
			snprintf(v->why, sizeof(v->why),
				 "record %llu: is not the first record of the log, and the record before it was not "
				 "verified (records removed at the start, or verify from the first file; the records "
				 "before an audit config path are where pedclient wrote before it)",
				 (unsigned long long)rec.seq);
			r = PED_E_INVALID;
			goto out;
		}
		if (!v->records)
			v->first_seq = rec.seq;
		v->have_last = 1;
		v->last_seq = rec.seq;
		memcpy(v->last_mac, rec.mac, sizeof(v->last_mac));
		v->records++;
		if (each)
			each(arg, &rec);
	}
	v->bad_line = 0;
	v->bad_seq = 0;
out:
	OPENSSL_cleanse(&rec, sizeof(rec));
	return r;
}

int hsm_audit_verify_link(const uint8_t key[HSM_AUDIT_SECRET_LEN], const uint8_t *buf, size_t len,
			  struct hsm_audit_verify *v)
{
	struct hsm_audit_rec rec;
	size_t start, bodylen;
	char why[96] = "";
	int r;

	/* the last line, its newline included */
	if (len == 0 || buf[len - 1] != '\n') {
		snprintf(v->why, sizeof(v->why), "the previous file does not end with a whole record");
		return PED_E_CORRUPT;
	}
	for (start = len - 1; start > 0 && buf[start - 1] != '\n'; start--)
		;
	if ((r = hsm_audit_parse((const char *)buf + start, len - start, &rec, &bodylen, why, sizeof(why))) != PED_OK) {
		snprintf(v->why, sizeof(v->why), "the previous file's last line is not a record (%s)", why);
		goto out;
	}
	if ((r = hsm_audit_check_mac(key, (const char *)buf + start, bodylen, &rec)) != PED_OK) {
		snprintf(v->why, sizeof(v->why), "the previous file's last record (%llu): its MAC does not match",
			 (unsigned long long)rec.seq);
		goto out;
	}
	v->have_last = 1;
	v->last_seq = rec.seq;
	memcpy(v->last_mac, rec.mac, sizeof(v->last_mac));
out:
	OPENSSL_cleanse(&rec, sizeof(rec));
	return r;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* pedclient's name for a log file: hsm_SERIAL_FIRSTSEQ.log (with serial, of
 * that HSM); any NAME.log without a pattern. */
static int log_name(const char *name, const char *pattern)
{
	size_t l = strlen(name), pl = pattern ? strlen(pattern) : 0;
	if (l < 5 || strcmp(name + l - 4, ".log"))
		return 0;
	return !pattern || (l > pl + 4 && !strncmp(name, pattern, pl));
}

/* The log files of dir whose names fit pattern, in name order. */
static int list_dir(const char *dir, const char *pattern, char ***out, size_t *n)
{
	DIR *d;
	struct dirent *e;
	char **v = NULL;
	size_t cnt = 0;
	int r = PED_OK;

	*out = NULL;
	*n = 0;
	if (!(d = opendir(dir)))
		return PED_E_FILE;
	while ((e = readdir(d)) != NULL) {
		size_t need = strlen(dir) + strlen(e->d_name) + 2;
		char **nv;
		if (!log_name(e->d_name, pattern))
			continue;
		if (cnt == FILES_MAX || !(nv = realloc(v, (cnt + 1) * sizeof(*v))) || !(nv[cnt] = malloc(need))) {
			if (cnt < FILES_MAX && nv)
				v = nv;
			r = cnt == FILES_MAX ? PED_E_RANGE : PED_E_HOST_MEMORY;
			break;
		}
		v = nv;
		snprintf(v[cnt++], need, "%s/%s", dir, e->d_name);
	}
	closedir(d);
	if (r != PED_OK) {
		for (size_t i = 0; i < cnt; i++)
			free(v[i]);
		free(v);
		return r;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), by_name);
	*out = v;
	*n = cnt;
	return PED_OK;
}

void hsm_audit_files_free(struct hsm_audit_files *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->files[i]);
	free(f->files);
	free(f->prev);
	memset(f, 0, sizeof(*f));
}

int hsm_audit_files(const char *path, const char *serial, struct hsm_audit_files *f)
{
	char pattern[HSM_AUDIT_SERIAL_MAX + 8], *dir = NULL, **sib = NULL;
	const char *base, *slash;
	size_t nsib = 0;
	struct stat st;
	int r;

	memset(f, 0, sizeof(*f));
	if (serial && strlen(serial) <= HSM_AUDIT_SERIAL_MAX)
		snprintf(pattern, sizeof(pattern), "hsm_%s_", serial);
	else
		snprintf(pattern, sizeof(pattern), "hsm_");
	if (stat(path, &st) != 0)
		return PED_E_NOT_FOUND;
	if (S_ISDIR(st.st_mode)) {
		if ((r = list_dir(path, serial ? pattern : NULL, &f->files, &f->n)) != PED_OK)
			return r;
		f->newest = 1;
		return f->n ? PED_OK : PED_E_NOT_FOUND;
	}
	if (!(f->files = calloc(1, sizeof(*f->files))) || !(f->files[0] = strdup(path))) {
		free(f->files);
		f->files = NULL;
		return PED_E_HOST_MEMORY;
	}
	f->n = 1;
	/* a file pedclient wrote: its place among its HSM's files */
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	if (!log_name(base, "hsm_"))
		return PED_OK;
	{
		/* hsm_SERIAL_: the name up to its last '_' */
		const char *us = strrchr(base, '_');
		size_t pl = (size_t)(us - base) + 1;
		if (pl >= sizeof(pattern))
			return PED_OK;
		memcpy(pattern, base, pl);
		pattern[pl] = 0;
	}
	if (!(dir = slash ? strndup(path, (size_t)(slash - path) ? (size_t)(slash - path) : 1) : strdup(".")))
		return PED_E_HOST_MEMORY;
	r = list_dir(dir, pattern, &sib, &nsib);
	free(dir);
	if (r != PED_OK)
		return PED_OK; /* the file alone: no link, no end */
	f->newest = 1;
	for (size_t i = 0; i < nsib; i++) {
		const char *b = strrchr(sib[i], '/') + 1;
		int c = strcmp(b, base);
		if (c < 0) {
			free(f->prev);
			f->prev = strdup(sib[i]);
		} else if (c > 0) {
			f->newest = 0;
		}
	}
	for (size_t i = 0; i < nsib; i++)
		free(sib[i]);
	free(sib);
	return PED_OK;
}

static int pbkdf2(const char *password, const uint8_t salt[LWS_SALT_LEN], uint32_t iter, uint8_t out[HSM_KEY_LEN])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "PBKDF2", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5];
	int r = PED_E_CRYPTO;

	if (!ctx)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA512", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)password, strlen(password));
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, LWS_SALT_LEN);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_ITER, &iter);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, HSM_KEY_LEN, params) == 1)
		r = PED_OK;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return r;
}

/* The header (magic, salt, iterations, serial) is the additional data. */
int hsm_audit_lws_wrap(const uint8_t secret[HSM_AUDIT_SECRET_LEN], const char *serial, const char *password,
		       uint8_t **out, size_t *outlen)
{
	struct ped_wbuf w;
	uint8_t salt[LWS_SALT_LEN], key[HSM_KEY_LEN], *sealed = NULL, *hdr = NULL;
	size_t sealed_len = 0, hdr_len = 0;
	int r;

	ped_wbuf_init(&w, HSM_AUDIT_LWS_MAX);
	if (!password || !*password || strlen(serial) > HSM_AUDIT_SERIAL_MAX) {
		r = PED_E_INVALID;
		goto out;
	}
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		r = PED_E_CRYPTO;
		goto out;
	}
	if ((r = pbkdf2(password, salt, HSM_AUDIT_PBKDF2_ITER, key)) != PED_OK)
		goto out;
	ped_wbuf_bytes(&w, LWS_MAGIC, LWS_MAGIC_LEN);
	ped_wbuf_bytes(&w, salt, sizeof(salt));
	ped_wbuf_u32(&w, HSM_AUDIT_PBKDF2_ITER);
	ped_wbuf_lv8(&w, serial, strlen(serial));
	if ((r = ped_wbuf_take(&w, &hdr, &hdr_len)) != PED_OK)
		goto out;
	if ((r = hsm_seal(key, hdr, hdr_len, secret, HSM_AUDIT_SECRET_LEN, &sealed, &sealed_len)) != PED_OK)
		goto out;
	ped_wbuf_init(&w, HSM_AUDIT_LWS_MAX);
	ped_wbuf_bytes(&w, hdr, hdr_len);
	ped_wbuf_bytes(&w, sealed, sealed_len);
	r = ped_wbuf_take(&w, out, outlen);
out:
	ped_wbuf_free(&w);
	OPENSSL_free(hdr);
	OPENSSL_free(sealed);
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}

int hsm_audit_lws_header(const uint8_t *in, size_t inlen, size_t *hdr_len, uint32_t *iter, char *serial)
{
	struct ped_rbuf rb;
	const uint8_t *magic, *salt, *ser;
	size_t serlen = 0;

	if (!in || inlen > HSM_AUDIT_LWS_MAX)
		return PED_E_CORRUPT;
	ped_rbuf_init(&rb, in, inlen);
	magic = ped_rbuf_bytes(&rb, LWS_MAGIC_LEN);
	salt = ped_rbuf_bytes(&rb, LWS_SALT_LEN);
	*iter = ped_rbuf_u32(&rb);
	ser = ped_rbuf_lv8(&rb, HSM_AUDIT_SERIAL_MAX, &serlen);
	/* the file says how hard its key is to guess: within bounds, so a
	 * file cannot make the reader spin */
	if (!magic || !salt || !ser || memcmp(magic, LWS_MAGIC, LWS_MAGIC_LEN) || *iter < 10000 || *iter > 10000000)
		return PED_E_CORRUPT;
	if (serlen == 0)
		return PED_E_CORRUPT;
	for (size_t i = 0; i < serlen; i++)
		if (ser[i] < 0x21 || ser[i] > 0x7e || ser[i] == '|')
			return PED_E_CORRUPT;
	*hdr_len = LWS_MAGIC_LEN + LWS_SALT_LEN + 4 + 1 + serlen;
	if (inlen - *hdr_len != HSM_AUDIT_SECRET_LEN + HSM_SEAL_OVERHEAD)
		return PED_E_CORRUPT;
	memcpy(serial, ser, serlen);
	serial[serlen] = 0;
	return PED_OK;
}

int hsm_audit_lws_unwrap(const uint8_t *in, size_t inlen, const char *password,
			 uint8_t secret[HSM_AUDIT_SECRET_LEN], char *serial)
{
	uint8_t key[HSM_KEY_LEN], *pt = NULL;
	size_t ptlen = 0, hdr_len = 0;
	uint32_t iter = 0;
	int r;

	if (!password || (r = hsm_audit_lws_header(in, inlen, &hdr_len, &iter, serial)) != PED_OK) {
		r = PED_E_CORRUPT;
		goto out;
	}
	if ((r = pbkdf2(password, in + LWS_MAGIC_LEN, iter, key)) != PED_OK)
		goto out;
	if ((r = hsm_open(key, in, hdr_len, in + hdr_len, inlen - hdr_len, &pt, &ptlen)) != PED_OK)
		goto out;
	if (ptlen != HSM_AUDIT_SECRET_LEN) {
		r = PED_E_CORRUPT;
		goto out;
	}
	memcpy(secret, pt, HSM_AUDIT_SECRET_LEN);
	r = PED_OK;
out:
	OPENSSL_clear_free(pt, ptlen);
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}
