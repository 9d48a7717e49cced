/* Headless PED: scripts and the automatic answerer. */
#include "headless.h"
#include "transcript.h"

#include "ped/cert.h"

#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/log.h"
#include "ped/pinmask.h"

#include <openssl/crypto.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the script language ------------------------------------------------ */

enum cmd_kind { C_EXPECT, C_INSERT, C_REMOVE, C_TYPE, C_PRESS, C_HOLD_CLEAR, C_AUTO, C_WAIT_IDLE };

struct script_cmd {
	enum cmd_kind kind;
	int line;
	int timeout_ms; /* expect, wait-idle; 0: the default */
	char arg[SCRIPT_LINE_MAX];
};

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Splits "-timeout N rest" off the front of s. */
static int take_timeout(char **s, int *ms)
{
	if (strncmp(*s, "-timeout", 8) || !isspace((unsigned char)(*s)[8]))
		return 0;
	char *p = *s + 8, *end;
	long v = strtol(p, &end, 10);
	if (end == p || v < 1 || v > 86400)
		return -1;
	*ms = (int)v * 1000;
	*s = trim(end);
	return 0;
}

int script_parse(const char *text, size_t len, struct script *s, char *err, size_t errlen)
{
	size_t cap = 0;
	int line = 0, r = PED_E_CONFIG;
	const char *p = text, *end = text + len;
	/* pin and type lines carry PINs: the buffers are wiped on every way out */
	char buf[SCRIPT_LINE_MAX + 1], *w, *rest;
	struct script_cmd c;

	memset(s, 0, sizeof(*s));
	if (len > SCRIPT_MAX_BYTES) {
		snprintf(err, errlen, "script larger than %u bytes", SCRIPT_MAX_BYTES);
		return PED_E_CONFIG;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		int enter = 0;

		line++;
		if (n > SCRIPT_LINE_MAX) {
			snprintf(err, errlen, "%d: line longer than %d characters", line, SCRIPT_LINE_MAX);
			goto fail;
		}
		memcpy(buf, p, n);
		buf[n] = '\0';
		p = nl ? nl + 1 : end;
		if (memchr(buf, '\0', n)) {
			snprintf(err, errlen, "%d: NUL byte", line);
			goto fail;
		}
		w = trim(buf);
		if (!*w || *w == '#')
			continue;
		memset(&c, 0, sizeof(c));
		c.line = line;
		rest = w;
		while (*rest && !isspace((unsigned char)*rest))
			rest++;
		if (*rest)
			*rest++ = '\0';
		rest = trim(rest);
		if (!strcmp(w, "expect") || !strcmp(w, "wait-idle")) {
			c.kind = !strcmp(w, "expect") ? C_EXPECT : C_WAIT_IDLE;
			if (take_timeout(&rest, &c.timeout_ms) < 0) {
				snprintf(err, errlen, "%d: -timeout wants 1-86400 seconds", line);
				goto fail;
			}
			size_t rl = strlen(rest);
			if (rl >= 2 && rest[0] == '"' && rest[rl - 1] == '"') {
				rest[rl - 1] = '\0';
				rest++;
			}
			if (c.kind == C_EXPECT && !*rest) {
				snprintf(err, errlen, "%d: expect wants the text to wait for", line);
				goto fail;
			}
		} else if (!strcmp(w, "insert")) {
			c.kind = C_INSERT;
			if (strlen(rest) != IKEY_SERIAL_LEN || strspn(rest, "0123456789abcdefABCDEF") != IKEY_SERIAL_LEN) {
				snprintf(err, errlen, "%d: insert wants a key serial (16 hex digits)", line);
				goto fail;
			}
		} else if (!strcmp(w, "remove") || !strcmp(w, "hold-clear") || !strcmp(w, "auto")) {
			c.kind = !strcmp(w, "remove") ? C_REMOVE : !strcmp(w, "auto") ? C_AUTO : C_HOLD_CLEAR;
			if (*rest) {
				snprintf(err, errlen, "%d: %s takes no argument", line, w);
				goto fail;
			}
		} else if (!strcmp(w, "type") || !strcmp(w, "pin")) {
			c.kind = C_TYPE;
			if (strspn(rest, "0123456789") != strlen(rest) || strlen(rest) > 64 ||
			    (!*rest && !strcmp(w, "type"))) {
				snprintf(err, errlen, "%d: %s wants digits", line, w);
				goto fail;
			}
			enter = !strcmp(w, "pin"); /* pin: the digits, then Enter */
		} else if (!strcmp(w, "press")) {
			c.kind = C_PRESS;
			char tmp[SCRIPT_LINE_MAX + 1];
			snprintf(tmp, sizeof(tmp), "%s", rest);
			char *save = NULL;
			int any = 0;
			for (char *k = strtok_r(tmp, " \t", &save); k; k = strtok_r(NULL, " \t", &save)) {
				if (dev_key_from_name(k) < 0) {
					snprintf(err, errlen, "%d: unknown key '%.32s'", line, k);
					goto fail;
				}
				any = 1;
			}
			if (!any) {
				snprintf(err, errlen, "%d: press wants keys", line);
				goto fail;
			}
		} else {
			snprintf(err, errlen, "%d: unknown command '%.32s'", line, w);
			goto fail;
		}
		snprintf(c.arg, sizeof(c.arg), "%s%s", rest, enter ? "E" : "");
		if (s->n == cap) {
			/* not realloc: it would free the old block, PINs and all, unwiped */
			size_t ncap = cap ? cap * 2 : 32;
			struct script_cmd *nc = OPENSSL_zalloc(ncap * sizeof(*nc));
			if (!nc) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			if (s->n)
				memcpy(nc, s->cmds, s->n * sizeof(*nc));
			OPENSSL_clear_free(s->cmds, cap * sizeof(*nc));
			s->cmds = nc;
			s->cap = cap = ncap;
		}
		s->cmds[s->n++] = c;
	}
	r = PED_OK;
	goto out;
fail:
	script_free(s);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(&c, sizeof(c));
	return r;
}

void script_free(struct script *s)
{
	OPENSSL_clear_free(s->cmds, s->cap * sizeof(*s->cmds));
	s->cmds = NULL;
	s->n = s->cap = 0;
}

void screen_flat(const char *screen, char *out, size_t len)
{
	size_t o = 0;
	int space = 0;
	for (const char *p = screen; *p && o + 1 < len; p++) {
		if (*p == '\n' || *p == ' ') {
			space = o > 0;
			continue;
		}
		if (space && o + 2 < len)
			out[o++] = ' ';
		space = 0;
		out[o++] = *p;
	}
	out[o] = '\0';
}

static int screen_has(struct ped_device *d, const char *want, uint64_t *gen)
{
	char scr[DEV_LINES * (DEV_COLS + 1) + 1], flat[sizeof(scr)], wflat[SCRIPT_LINE_MAX + 1];
	*gen = dev_screen_text(d, scr, sizeof(scr));
	screen_flat(scr, flat, sizeof(flat));
	screen_flat(want, wflat, sizeof(wflat));
	return strstr(flat, wflat) != NULL;
}

/* The screen cannot change until someone acts: the firmware waits on the
 * keypad alone and nothing is queued. */
static int device_stuck(struct ped_device *d)
{
	pthread_mutex_lock(&d->mu);
	int stuck = d->waiting && d->qlen == 0 && d->prompt != DEV_P_IDLE;
	pthread_mutex_unlock(&d->mu);
	return stuck;
}

static void print_screen(struct ped_device *d, FILE *f)
{
	char scr[DEV_LINES * (DEV_COLS + 1) + 1];
	dev_screen_text(d, scr, sizeof(scr));
	fprintf(f, "---- screen ----\n%s\n----------------\n", scr);
}

static int quitting(struct ped_device *d)
{
	pthread_mutex_lock(&d->mu);
	int q = d->quit;
	pthread_mutex_unlock(&d->mu);
	return q;
}

static int run_expect(struct ped_device *d, const struct script_cmd *c, int dflt_ms)
{
	uint64_t deadline = ped_now_ms() + (uint64_t)(c->timeout_ms ? c->timeout_ms : dflt_ms), gen;
	for (;;) {
		if (screen_has(d, c->arg, &gen))
			return PED_OK;
		if (quitting(d))
			return PED_E_CANCEL; /* SIGTERM: dev_wait_change would return at once from now on */
		if (device_stuck(d)) {
			/* Re-read: the screen may have changed while we looked. */
			if (screen_has(d, c->arg, &gen))
				return PED_OK;
			fprintf(stderr, "ped-device: script line %d: expected \"%s\"; the PED waits for input on another screen\n",
				c->line, c->arg);
			print_screen(d, stderr);
			return PED_E_TIMED_OUT;
		}
		uint64_t now = ped_now_ms();
		if (now >= deadline) {
			fprintf(stderr, "ped-device: script line %d: timed out waiting for \"%s\"\n", c->line,
				c->arg);
			print_screen(d, stderr);
			return PED_E_TIMED_OUT;
		}
		uint64_t left = deadline - now;
		/* wake on a screen change, or every 50 ms to re-check the stuck state */
		dev_wait_change(d, gen, left < 50 ? (int)left : 50);
	}
}

static int wait_idle(struct ped_device *d, const struct script_cmd *c, int dflt_ms)
{
	uint64_t deadline = ped_now_ms() + (uint64_t)(c->timeout_ms ? c->timeout_ms : dflt_ms);
	for (;;) {
		pthread_mutex_lock(&d->mu);
		int idle = d->prompt == DEV_P_IDLE && d->qlen == 0, quit = d->quit;
		uint64_t gen = d->screen_gen;
		pthread_mutex_unlock(&d->mu);
		if (idle)
			return PED_OK;
		if (quit)
			return PED_E_CANCEL;
		if (ped_now_ms() >= deadline) {
			fprintf(stderr, "ped-device: script line %d: the PED did not return to idle\n", c->line);
			print_screen(d, stderr);
			return PED_E_TIMED_OUT;
		}
		dev_wait_change(d, gen, 100);
	}
}

static void press_keys(struct ped_device *d, const char *keys)
{
	char tmp[SCRIPT_LINE_MAX + 1], *save = NULL;
	snprintf(tmp, sizeof(tmp), "%s", keys);
	for (char *k = strtok_r(tmp, " \t", &save); k; k = strtok_r(NULL, " \t", &save))
		dev_press(d, dev_key_from_name(k));
}

static void type_digits(struct ped_device *d, const char *digits)
{
	for (const char *p = digits; *p; p++)
		dev_press(d, *p == 'E' ? DEV_KEY_ENTER : *p);
}

/* ---- the policy answerer ----------------------------------------------- */

#define POL_MAX_KEYS 64
#define POL_TYPES 6
#define POL_MAX_IDS 8

struct pol_type {
	int m, n, dups;
	uint8_t reuse[16]; /* answers to successive reuse questions; the last repeats */
	size_t nreuse;
	int reuse_rule;    /* which rule set reuse (for counting its questions) */
	char use[POL_MAX_KEYS][IKEY_SERIAL_LEN + 1];
	uint8_t use_group[POL_MAX_KEYS]; /* "use T A B / C": A B for the first ceremony, C after */
	size_t nuse;
	int ngroups, use_rule;
	char write[POL_MAX_KEYS][IKEY_SERIAL_LEN + 1];
	size_t nwrite;
	char newpin[POL_MAX_KEYS][49];
	size_t nnewpin;
};

struct pol_pin {
	char serial[IKEY_SERIAL_LEN + 1];
	char pin[49];
};

/* A rule for screens whose title (the second line) starts with title:
 * it overrides the key type's rule for the fields it sets. */
#define POL_MAX_TITLED 32
enum { SET_MOFN = 1, SET_REUSE = 2, SET_DUPS = 4, SET_USE = 8, SET_WRITE = 16, SET_NEWPIN = 32 };
struct pol_titled {
	char title[DEV_COLS + 1];
	unsigned set;
	struct pol_type v;
};

struct policy {
	struct pol_type t[POL_TYPES];
	struct pol_titled titled[POL_MAX_TITLED];
	size_t ntitled;
	struct pol_pin pins[POL_MAX_KEYS];
	size_t npins;
	char password[9]; /* Remote PED one-time password, "" if none */
	char password_file[512]; /* ... or the transcript the operator reads it from */
	/* HSMs whose identity the operator was shown (serial and HOC
	 * fingerprint), or the transcript that shows them: a password
	 * session with any other HSM is refused */
	struct pol_identity {
		char serial[17];
		char fpr[PED_CERT_FPR_LEN + 1];
	} ids[POL_MAX_IDS];
	size_t nids;
	char identity_file[512];
	int share_rpk; /* use one HSM's orange key for another */
};

static int type_from_name(const char *s)
{
	static const char *const names[POL_TYPES] = {"blank", "so", "domain", "rpv", "user", "audit"};
	static const char *const colours[POL_TYPES] = {"-", "blue", "red", "orange", "black", "white"};
	for (int i = 1; i < POL_TYPES; i++)
		if (!strcasecmp(s, names[i]) || !strcasecmp(s, colours[i]))
			return i;
	if (!strcasecmp(s, "co") || !strcasecmp(s, "cu") || !strcasecmp(s, "gray"))
		return IKEY_USER;
	return -1;
}

/* A serial in either case, made upper case as the store and the slot name
 * keys: the answerer compares it with the inserted key's. */
static int serial_ok(char *s)
{
	if (strlen(s) != IKEY_SERIAL_LEN || strspn(s, "0123456789abcdefABCDEF") != IKEY_SERIAL_LEN)
		return 0;
	for (; *s; s++)
		*s = (char)toupper((unsigned char)*s);
	return 1;
}

/* A HOC fingerprint as the HSM prints it (16 hex digits, spaces anywhere),
 * into the PED's form "3F2A 91C0 77DE 1B45". */
static int fingerprint_ok(const char *s, char out[PED_CERT_FPR_LEN + 1])
{
	size_t n = 0, o = 0;
	for (; *s; s++) {
		if (*s == ' ')
			continue;
		if (!isxdigit((unsigned char)*s) || n == 16)
			return 0;
		if (n && n % 4 == 0)
			out[o++] = ' ';
		out[o++] = (char)toupper((unsigned char)*s);
		n++;
	}
	out[o] = '\0';
	return n == 16;
}

static int pin_ok(const char *s)
{
	return !strcmp(s, "none") || (strlen(s) <= 48 && strspn(s, "0123456789") == strlen(s) && *s);
}

/* Splits a policy line into words; "quoted words" may hold spaces. */
static size_t words_of(char *buf, char **words, size_t max)
{
	size_t nw = 0;
	char *p = buf;
	while (*p && nw < max) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == ',')
			p++;
		if (!*p)
			break;
		if (*p == '"') {
			words[nw++] = ++p;
			while (*p && *p != '"')
				p++;
		} else {
			words[nw++] = p;
			while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != ',')
				p++;
		}
		if (*p)
			*p++ = '\0';
	}
	return *p ? max + 1 : nw;
}

int policy_parse(const char *text, size_t len, struct policy **out, char *err, size_t errlen)
{
	struct policy *p = calloc(1, sizeof(*p));
	const char *q = text, *end = text + len;
	int line = 0;
	char buf[SCRIPT_LINE_MAX + 1]; /* pin and newpin lines: wiped on the way out */

	*out = NULL;
	if (!p)
		return PED_E_HOST_MEMORY;
	for (int i = 0; i < POL_TYPES; i++)
		p->t[i].m = p->t[i].n = 1;
	if (len > SCRIPT_MAX_BYTES) {
		snprintf(err, errlen, "policy larger than %u bytes", SCRIPT_MAX_BYTES);
		goto fail;
	}
	while (q < end) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		size_t n = nl ? (size_t)(nl - q) : (size_t)(end - q);
		char *words[POL_MAX_KEYS + 3];
		size_t nw;

		line++;
		if (n > SCRIPT_LINE_MAX || memchr(q, '\0', n)) {
			snprintf(err, errlen, "%d: line too long or has a NUL byte", line);
			goto fail;
		}
		memcpy(buf, q, n);
		buf[n] = '\0';
		q = nl ? nl + 1 : end;
		char *hash = strchr(buf, '#');
		if (hash)
			*hash = '\0';
		nw = words_of(buf, words, sizeof(words) / sizeof(words[0]));
		if (nw > sizeof(words) / sizeof(words[0])) {
			snprintf(err, errlen, "%d: too many words", line);
			goto fail;
		}
		if (nw == 0)
			continue;
		if (!strcmp(words[0], "pin")) {
			if (nw != 3 || !serial_ok(words[1]) || !pin_ok(words[2]) || p->npins == POL_MAX_KEYS) {
				snprintf(err, errlen, "%d: pin SERIAL DIGITS", line);
				goto fail;
			}
			snprintf(p->pins[p->npins].serial, sizeof(p->pins[0].serial), "%s", words[1]);
			snprintf(p->pins[p->npins].pin, sizeof(p->pins[0].pin), "%s",
				 strcmp(words[2], "none") ? words[2] : "");
			p->npins++;
			continue;
		}
		if (!strcmp(words[0], "password")) {
			if (nw == 2 && strlen(words[1]) == 8 && strspn(words[1], "0123456789") == 8) {
				memcpy(p->password, words[1], 9);
			} else if (nw == 2 && strchr(words[1], '/') && strlen(words[1]) < sizeof(p->password_file)) {
				snprintf(p->password_file, sizeof(p->password_file), "%s", words[1]);
			} else {
				snprintf(err, errlen, "%d: password EIGHT-DIGITS|TRANSCRIPT-FILE", line);
				goto fail;
			}
			continue;
		}
		if (!strcmp(words[0], "identity")) {
			if (nw == 2 && strchr(words[1], '/') && strlen(words[1]) < sizeof(p->identity_file)) {
				snprintf(p->identity_file, sizeof(p->identity_file), "%s", words[1]);
				continue;
			}
			if (nw != 3 || p->nids == POL_MAX_IDS || !fingerprint_ok(words[2], p->ids[p->nids].fpr) ||
			    !*words[1] || strlen(words[1]) > 16) {
				snprintf(err, errlen, "%d: identity SERIAL FINGERPRINT|TRANSCRIPT-FILE", line);
				goto fail;
			}
			snprintf(p->ids[p->nids++].serial, sizeof(p->ids[0].serial), "%s", words[1]);
			continue;
		}
		if (!strcmp(words[0], "share-rpk")) {
			if (nw != 2 || (strcmp(words[1], "yes") && strcmp(words[1], "no"))) {
				snprintf(err, errlen, "%d: share-rpk yes|no", line);
				goto fail;
			}
			p->share_rpk = !strcmp(words[1], "yes");
			continue;
		}
		if (nw < 2) {
			snprintf(err, errlen, "%d: '%.32s' wants a key type or a screen title", line, words[0]);
			goto fail;
		}
		int t = type_from_name(words[1]);
		struct pol_type *pt;
		unsigned *set = NULL;
		if (t >= 0) {
			pt = &p->t[t];
		} else {
			/* a screen title, such as "SETTING DOMAIN" */
			if (!*words[1] || strlen(words[1]) > DEV_COLS || p->ntitled == POL_MAX_TITLED) {
				snprintf(err, errlen, "%d: '%.32s' is neither a key type nor a screen title", line, words[1]);
				goto fail;
			}
			struct pol_titled *pt2 = NULL;
			for (size_t i = 0; i < p->ntitled; i++)
				if (!strcmp(p->titled[i].title, words[1]))
					pt2 = &p->titled[i];
			if (!pt2) {
				pt2 = &p->titled[p->ntitled++];
				snprintf(pt2->title, sizeof(pt2->title), "%s", words[1]);
				pt2->v.m = pt2->v.n = 1;
			}
			pt = &pt2->v;
			set = &pt2->set;
		}
		unsigned flag = 0;
		if (!strcmp(words[0], "mofn")) {
			int m = nw == 4 ? atoi(words[2]) : 0, nn = nw == 4 ? atoi(words[3]) : 0;
			if (m < 1 || nn < m || nn > 16) {
				snprintf(err, errlen, "%d: mofn TYPE M N with 1 <= M <= N <= 16", line);
				goto fail;
			}
			pt->m = m;
			pt->n = nn;
			flag = SET_MOFN;
		} else if (!strcmp(words[0], "reuse")) {
			if (nw < 3 || nw > 2 + sizeof(pt->reuse)) {
				snprintf(err, errlen, "%d: reuse TYPE yes|no ...", line);
				goto fail;
			}
			pt->nreuse = 0;
			for (size_t i = 2; i < nw; i++) {
				if (strcmp(words[i], "yes") && strcmp(words[i], "no")) {
					snprintf(err, errlen, "%d: reuse TYPE yes|no ...", line);
					goto fail;
				}
				pt->reuse[pt->nreuse++] = !strcmp(words[i], "yes");
			}
			flag = SET_REUSE;
		} else if (!strcmp(words[0], "duplicates")) {
			int v = nw == 3 ? atoi(words[2]) : -1;
			if (v < 0 || v > 8) {
				snprintf(err, errlen, "%d: duplicates TYPE 0-8", line);
				goto fail;
			}
			pt->dups = v;
			flag = SET_DUPS;
		} else if (!strcmp(words[0], "use") || !strcmp(words[0], "write")) {
			int use = !strcmp(words[0], "use");
			if (use) {
				pt->nuse = 0;
				pt->ngroups = 1;
			}
			for (size_t i = 2; i < nw; i++) {
				if (use && !strcmp(words[i], "/")) {
					pt->ngroups++;
					continue;
				}
				if (!serial_ok(words[i])) {
					snprintf(err, errlen, "%d: '%.20s' is not a key serial", line, words[i]);
					goto fail;
				}
				size_t *cnt = use ? &pt->nuse : &pt->nwrite;
				if (*cnt == POL_MAX_KEYS) {
					snprintf(err, errlen, "%d: too many keys", line);
					goto fail;
				}
				snprintf(use ? pt->use[*cnt] : pt->write[*cnt], IKEY_SERIAL_LEN + 1, "%s", words[i]);
				if (use)
					pt->use_group[*cnt] = (uint8_t)(pt->ngroups - 1);
				(*cnt)++;
			}
			flag = use ? SET_USE : SET_WRITE;
		} else if (!strcmp(words[0], "newpin")) {
			for (size_t i = 2; i < nw; i++) {
				const char *why = NULL;
				if (!pin_ok(words[i]) || pt->nnewpin == POL_MAX_KEYS) {
					snprintf(err, errlen, "%d: newpin TYPE DIGITS|none ...", line);
					goto fail;
				}
				/* the PED would refuse it and the answerer retype it forever */
				if (strcmp(words[i], "none") && ped_pin_validate(words[i], &why) != PED_OK) {
					snprintf(err, errlen, "%d: newpin %.48s: %s", line, words[i], why);
					goto fail;
				}
				snprintf(pt->newpin[pt->nnewpin++], 49, "%s", strcmp(words[i], "none") ? words[i] : "");
			}
			flag = SET_NEWPIN;
		} else {
			snprintf(err, errlen, "%d: unknown directive '%.32s'", line, words[0]);
			goto fail;
		}
		if (set)
			*set |= flag;
	}
	*out = p;
	OPENSSL_cleanse(buf, sizeof(buf));
	return PED_OK;
fail:
	OPENSSL_cleanse(buf, sizeof(buf));
	policy_free(p);
	return PED_E_CONFIG;
}

/* The rule for a screen: the key type's, overridden by title rules. */
static void rule_for(const struct policy *p, int type, const char *title, struct pol_type *out)
{
	*out = p->t[type > 0 && type < POL_TYPES ? type : 0];
	out->reuse_rule = out->use_rule = type > 0 && type < POL_TYPES ? type : 0;
	for (size_t i = 0; i < p->ntitled; i++) {
		const struct pol_titled *r = &p->titled[i];
		if (strncmp(title, r->title, strlen(r->title)))
			continue;
		if (r->set & SET_MOFN) {
			out->m = r->v.m;
			out->n = r->v.n;
		}
		if (r->set & SET_REUSE) {
			memcpy(out->reuse, r->v.reuse, sizeof(out->reuse));
			out->nreuse = r->v.nreuse;
			out->reuse_rule = POL_TYPES + (int)i;
		}
		if (r->set & SET_DUPS)
			out->dups = r->v.dups;
		if (r->set & SET_USE) {
			memcpy(out->use, r->v.use, sizeof(out->use));
			memcpy(out->use_group, r->v.use_group, sizeof(out->use_group));
			out->nuse = r->v.nuse;
			out->ngroups = r->v.ngroups;
			out->use_rule = POL_TYPES + (int)i;
		}
		if (r->set & SET_WRITE) {
			memcpy(out->write, r->v.write, sizeof(out->write));
			out->nwrite = r->v.nwrite;
		}
		if (r->set & SET_NEWPIN) {
			memcpy(out->newpin, r->v.newpin, sizeof(out->newpin));
			out->nnewpin = r->v.nnewpin;
		}
	}
}

void policy_free(struct policy *p)
{
	if (p)
		explicit_bzero(p, sizeof(*p));
	free(p);
}

/* What the answerer remembers of the ceremony in progress. */
struct answerer {
	uint64_t ceremony;
	char presented[POL_MAX_KEYS][IKEY_SERIAL_LEN + 1];
	size_t npresented;
	char written[POL_MAX_KEYS][IKEY_SERIAL_LEN + 1];
	size_t nwritten;
	int dups_done;
	char last_pin[49];
	size_t newpin_key;   /* nwritten when the last new PIN was typed */
	int newpin_tries;    /* new PINs typed for that key */
	unsigned reuse_asked[POL_TYPES + POL_MAX_TITLED]; /* over the answerer's life */
	unsigned use_asked[POL_TYPES + POL_MAX_TITLED];
	int group; /* the use group of this ceremony, or -1 before its first read */
	char used_pw[TRANSCRIPT_PASSWORDS][9]; /* over the answerer's life: each typed once */
	size_t nused_pw;
	char hsm[17]; /* the HSM this ceremony's confirm-hsm screen named */
};

static int in_list(char (*list)[IKEY_SERIAL_LEN + 1], size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return 1;
	return 0;
}

/* The first key of type (IKEY_BLANK: blank keys) in the store not in skip. */
static int pick_from_store(struct ped_device *d, int type, char (*skip)[IKEY_SERIAL_LEN + 1],
			   size_t nskip, char out[IKEY_SERIAL_LEN + 1])
{
	char (*serials)[IKEY_SERIAL_LEN + 1] = NULL;
	size_t n = 0;
	int found = 0;
	if (ikey_store_list(&d->store, &serials, &n) != PED_OK)
		return 0;
	for (size_t i = 0; i < n && !found; i++) {
		struct ikey k;
		memset(&k, 0, sizeof(k));
		if (in_list(skip, nskip, serials[i]))
			continue;
		if (ikey_inserted_where(&d->store, serials[i], NULL, 0) == 1) {
			/* inserted elsewhere (another PED): not ours to take */
			char cur[IKEY_SERIAL_LEN + 1];
			fw_inserted(d, cur);
			if (strcmp(cur, serials[i]))
				continue;
		}
		if (ikey_load(&d->store, serials[i], &k, NULL, 0) == PED_OK && (int)k.s.type == type) {
			memcpy(out, serials[i], IKEY_SERIAL_LEN + 1);
			found = 1;
		}
		ikey_clear(&k);
	}
	free(serials);
	return found;
}

static int pick_group(const struct pol_type *pt, int group, char (*skip)[IKEY_SERIAL_LEN + 1],
		      size_t nskip, char out[IKEY_SERIAL_LEN + 1])
{
	for (size_t i = 0; i < pt->nuse; i++)
		if (pt->use_group[i] == group && !in_list(skip, nskip, pt->use[i])) {
			memcpy(out, pt->use[i], IKEY_SERIAL_LEN + 1);
			return 1;
		}
	return 0;
}

/* The first listed key still blank (so a list can serve several ceremonies). */
static int pick_blank_listed(struct ped_device *d, char (*list)[IKEY_SERIAL_LEN + 1], size_t n,
			     char (*skip)[IKEY_SERIAL_LEN + 1], size_t nskip, char out[IKEY_SERIAL_LEN + 1])
{
	for (size_t i = 0; i < n; i++) {
		struct ikey k;
		int blank;
		if (in_list(skip, nskip, list[i]))
			continue;
		memset(&k, 0, sizeof(k));
		blank = ikey_load(&d->store, list[i], &k, NULL, 0) == PED_OK && k.s.type == IKEY_BLANK;
		ikey_clear(&k);
		if (blank) {
			memcpy(out, list[i], IKEY_SERIAL_LEN + 1);
			return 1;
		}
	}
	return 0;
}

static const char *pin_for(const struct policy *p, const char *serial)
{
	for (size_t i = 0; i < p->npins; i++)
		if (!strcmp(p->pins[i].serial, serial))
			return p->pins[i].pin;
	return "";
}

static void give_up(struct ped_device *d, const char *why)
{
	ped_warn("answerer: %s; resetting the operation", why);
	dev_event_log(d, "answerer", "\"gave_up\":\"%s\"", why);
	dev_push(d, DEV_EV_RESET, 0);
}

static void insert_and_enter(struct ped_device *d, const char *serial)
{
	char why[160];
	int r;
	/* Another PED may still hold the key for a moment: wait for it, briefly. */
	for (int tries = 0; (r = dev_insert(d, serial, why, sizeof(why))) == PED_E_BUSY && tries < 100; tries++) {
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (r != PED_OK) {
		give_up(d, why);
		return;
	}
	dev_press(d, DEV_KEY_ENTER);
}

/* Polls fn until it finds what the operator needs (an HSM prints its lines
 * as the PED asks), for at most the key timeout. */
static int poll_transcript(struct ped_device *d, int (*fn)(void *), void *arg)
{
	uint64_t deadline = ped_now_ms() + (uint64_t)d->cfg.key_timeout_ms;
	int r;
	while ((r = fn(arg)) == PED_E_NOT_FOUND && ped_now_ms() < deadline && !quitting(d)) {
		struct timespec ts = {0, 20 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return r;
}

struct pw_poll {
	const char *path;
	struct answerer *a;
	char *out;
};

static int pw_try(void *arg)
{
	struct pw_poll *x = arg;
	return transcript_password(x->path, x->a->hsm, (const char (*)[9])x->a->used_pw, x->a->nused_pw, x->out);
}

/* The newest password the transcript shows that was not typed before. */
static int read_password(struct ped_device *d, const struct policy *p, struct answerer *a, char out[9])
{
	struct pw_poll x = {p->password_file, a, out};
	int r = poll_transcript(d, pw_try, &x);
	if (r == PED_OK) {
		if (a->nused_pw == TRANSCRIPT_PASSWORDS) {
			memmove(a->used_pw[0], a->used_pw[1], sizeof(a->used_pw) - sizeof(a->used_pw[0]));
			a->nused_pw--;
		}
		memcpy(a->used_pw[a->nused_pw++], out, 9);
	}
	return r;
}

struct id_poll {
	const char *path, *serial, *fpr;
};

static int id_try(void *arg)
{
	struct id_poll *x = arg;
	return transcript_identity(x->path, x->serial, x->fpr);
}

/* The confirm-hsm screen ("HSM <serial>" on line 3, the fingerprint on line
 * 5) against what the operator was shown: Yes only for a match. */
static int hsm_confirmed(struct ped_device *d, const struct policy *p, struct answerer *a)
{
	char lines[DEV_LINES][DEV_COLS + 1], screen[DEV_LINES * (DEV_COLS + 1) + 1];
	int n = 0;
	const char *q = screen;

	dev_screen_text(d, screen, sizeof(screen));
	memset(lines, 0, sizeof(lines));
	while (n < DEV_LINES) {
		size_t len = strcspn(q, "\n");
		snprintf(lines[n++], DEV_COLS + 1, "%.*s", (int)(len < DEV_COLS ? len : DEV_COLS), q);
		if (!q[len])
			break;
		q += len + 1;
	}
	if (strncmp(lines[2], "HSM ", 4))
		return 0;
	const char *serial = lines[2] + 4, *fpr = lines[4];
	snprintf(a->hsm, sizeof(a->hsm), "%.16s", serial);
	for (size_t i = 0; i < p->nids; i++)
		if (!strcmp(p->ids[i].serial, serial) && !strcmp(p->ids[i].fpr, fpr))
			return 1;
	if (p->identity_file[0]) {
		struct id_poll x = {p->identity_file, serial, fpr};
		int r = poll_transcript(d, id_try, &x);
		if (r == 1)
			return 1;
		dev_event_log(d, "answerer", "\"refused_hsm\":\"%s\"",
			      r == 0 ? "another fingerprint than the transcript's" : "not in the transcript");
		return 0;
	}
	dev_event_log(d, "answerer", "\"refused_hsm\":\"no identity rule names it\"");
	return 0;
}

static void answer(struct ped_device *d, const struct policy *p, struct answerer *a,
		   enum dev_prompt prompt, int type)
{
	static struct pol_type rule; /* the answerer runs in one thread */
	char scr[DEV_LINES * (DEV_COLS + 1) + 1], *title;
	dev_screen_text(d, scr, sizeof(scr));
	title = strchr(scr, '\n');
	title = title ? title + 1 : scr;
	char *eol = strchr(title, '\n');
	if (eol)
		*eol = '\0';
	rule_for(p, type, title, &rule);
	const struct pol_type *pt = &rule;
	char serial[IKEY_SERIAL_LEN + 1];
	char num[8];

	switch (prompt) {
	case DEV_P_REUSE: {
		unsigned k = a->reuse_asked[pt->reuse_rule]++;
		int yes = pt->nreuse ? pt->reuse[k < pt->nreuse ? k : pt->nreuse - 1] : 0;
		dev_press(d, yes ? DEV_KEY_YES : DEV_KEY_NO);
		break;
	}
	case DEV_P_INSERT_READ:
		if (pt->nuse && a->group < 0) {
			unsigned k = a->use_asked[pt->use_rule]++;
			a->group = (int)(k < (unsigned)pt->ngroups ? k : (unsigned)pt->ngroups - 1);
		}
		if ((pt->nuse ? pick_group(pt, a->group, a->presented, a->npresented, serial)
			      : pick_from_store(d, type, a->presented, a->npresented, serial)) &&
		    a->npresented < POL_MAX_KEYS) {
			memcpy(a->presented[a->npresented++], serial, sizeof(serial));
			insert_and_enter(d, serial);
		} else {
			give_up(d, "no more keys of the type asked for");
		}
		break;
	case DEV_P_PIN:
		fw_inserted(d, serial);
		type_digits(d, pin_for(p, serial));
		dev_press(d, DEV_KEY_ENTER);
		break;
	case DEV_P_INSERT_WRITE:
		if ((pt->nwrite ? pick_blank_listed(d, (char (*)[IKEY_SERIAL_LEN + 1])pt->write, pt->nwrite, a->written,
					      a->nwritten, serial)
				: pick_from_store(d, IKEY_BLANK, a->written, a->nwritten, serial)) &&
		    a->nwritten < POL_MAX_KEYS) {
			memcpy(a->written[a->nwritten++], serial, sizeof(serial));
			insert_and_enter(d, serial);
		} else {
			give_up(d, "no more keys to write");
		}
		break;
	case DEV_P_OVERWRITE:
		dev_press(d, DEV_KEY_YES);
		break;
	case DEV_P_NEW_PIN:
		/* The PED asks again only when it refused the PIN: typing the same
		 * one for ever would flood the event log and hang the ceremony. */
		a->newpin_tries = a->newpin_key == a->nwritten ? a->newpin_tries + 1 : 1;
		a->newpin_key = a->nwritten;
		if (a->newpin_tries > 3) {
			give_up(d, "the PED keeps refusing the policy's new PIN");
			break;
		}
		snprintf(a->last_pin, sizeof(a->last_pin), "%s",
			 pt->nnewpin ? pt->newpin[(a->nwritten ? a->nwritten - 1 : 0) % pt->nnewpin] : "");
		/* fall through */
	case DEV_P_CONFIRM_PIN:
		type_digits(d, a->last_pin);
		dev_press(d, DEV_KEY_ENTER);
		break;
	case DEV_P_M:
	case DEV_P_N:
		snprintf(num, sizeof(num), "%d", prompt == DEV_P_M ? pt->m : pt->n);
		type_digits(d, num);
		dev_press(d, DEV_KEY_ENTER);
		break;
	case DEV_P_DUPLICATE:
		if (a->dups_done < pt->dups) {
			a->dups_done++;
			dev_press(d, DEV_KEY_YES);
		} else {
			dev_press(d, DEV_KEY_NO);
		}
		break;
	case DEV_P_PASSWORD: {
		char pw[9];
		if (p->password[0]) {
			type_digits(d, p->password);
			dev_press(d, DEV_KEY_ENTER);
		} else if (!p->password_file[0]) {
			give_up(d, "the PED asks for a one-time password and the policy has none");
		} else if (read_password(d, p, a, pw) == PED_OK) {
			type_digits(d, pw);
			dev_press(d, DEV_KEY_ENTER);
		} else {
			give_up(d, "no new one-time password in the transcript");
		}
		OPENSSL_cleanse(pw, sizeof(pw));
		break;
	}
	case DEV_P_CONFIRM_HSM:
		dev_press(d, hsm_confirmed(d, p, a) ? DEV_KEY_YES : DEV_KEY_NO);
		break;
	case DEV_P_SHARE_RPK:
		dev_press(d, p->share_rpk ? DEV_KEY_YES : DEV_KEY_NO);
		break;
	case DEV_P_ACK:
		dev_press(d, DEV_KEY_ENTER);
		break;
	case DEV_P_CONFIRM:
		dev_press(d, DEV_KEY_NO);
		break;
	default:
		break;
	}
}

static void run_answerer(struct ped_device *d, const struct policy *p)
{
	struct answerer *a = calloc(1, sizeof(*a));
	uint64_t acted = UINT64_MAX;
	if (!a)
		return;
	a->group = -1;
	/* what the transcript holds already was printed before this PED came
	 * on: the operator would not type an old password */
	if (p->password_file[0])
		a->nused_pw = transcript_passwords(p->password_file, a->used_pw, TRANSCRIPT_PASSWORDS);
	for (;;) {
		pthread_mutex_lock(&d->mu);
		while (!d->quit && !(d->waiting && d->qlen == 0 && d->screen_gen != acted) &&
		       !(d->prompt == DEV_P_IDLE && d->inserted))
			pthread_cond_wait(&d->changed, &d->mu);
		int quit = d->quit;
		enum dev_prompt prompt = d->prompt;
		int type = d->prompt_type, inserted = d->inserted;
		uint64_t gen = d->screen_gen, cer = d->ceremony;
		pthread_mutex_unlock(&d->mu);
		if (quit)
			break;
		if (prompt == DEV_P_IDLE) {
			/* A ceremony ended: give the key back so another PED can use it. */
			if (inserted)
				dev_remove(d);
			acted = gen;
			continue;
		}
		if (cer != a->ceremony) {
			unsigned keep[POL_TYPES + POL_MAX_TITLED], keep2[POL_TYPES + POL_MAX_TITLED];
			char keep_pw[TRANSCRIPT_PASSWORDS][9];
			size_t keep_npw = a->nused_pw;
			memcpy(keep, a->reuse_asked, sizeof(keep));
			memcpy(keep2, a->use_asked, sizeof(keep2));
			memcpy(keep_pw, a->used_pw, sizeof(keep_pw));
			memset(a, 0, sizeof(*a));
			memcpy(a->reuse_asked, keep, sizeof(keep));
			memcpy(a->use_asked, keep2, sizeof(keep2));
			memcpy(a->used_pw, keep_pw, sizeof(keep_pw));
			a->nused_pw = keep_npw;
			OPENSSL_cleanse(keep_pw, sizeof(keep_pw));
			a->ceremony = cer;
			a->group = -1;
		}
		acted = gen;
		answer(d, p, a, prompt, type);
	}
	explicit_bzero(a, sizeof(*a));
	free(a);
}

int headless_run(struct ped_device *d, const struct script *s, const struct policy *p,
		 int expect_timeout_ms)
{
	int r = PED_OK;
	size_t i;

	for (i = 0; s && i < s->n && r == PED_OK; i++) {
		const struct script_cmd *c = &s->cmds[i];
		char why[160];
		switch (c->kind) {
		case C_EXPECT:
			r = run_expect(d, c, expect_timeout_ms);
			break;
		case C_WAIT_IDLE:
			r = wait_idle(d, c, expect_timeout_ms);
			break;
		case C_INSERT:
			if ((r = dev_insert(d, c->arg, why, sizeof(why))) != PED_OK)
				fprintf(stderr, "ped-device: script line %d: %s\n", c->line, why);
			break;
		case C_REMOVE:
			dev_remove(d);
			break;
		case C_TYPE:
			type_digits(d, c->arg);
			break;
		case C_PRESS:
			press_keys(d, c->arg);
			break;
		case C_HOLD_CLEAR:
			dev_event_log(d, "key", "\"key\":\"clear-hold\"");
			dev_push(d, DEV_EV_RESET, 0);
			break;
		case C_AUTO:
			if (!p) {
				fprintf(stderr, "ped-device: script line %d: auto needs -policy\n", c->line);
				r = PED_E_CONFIG;
				break;
			}
			run_answerer(d, p);
			return 0;
		}
	}
	if (r != PED_OK)
		return 1;
	if (p)
		run_answerer(d, p);
	return 0;
}
