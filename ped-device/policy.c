/* The headless PED's policy language: a policy file parsed into rules by
 * key type and by screen title, and the lookup of the rule for a screen. */
#include "headless.h"
#include "policy.h"

#include "ped/error.h"
#include "ped/pinmask.h"

#include <openssl/crypto.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
void policy_rule(const struct policy *p, int type, const char *title, struct pol_type *out)
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

const char *policy_pin(const struct policy *p, const char *serial)
{
	for (size_t i = 0; i < p->npins; i++)
		if (!strcmp(p->pins[i].serial, serial))
			return p->pins[i].pin;
	return "";
}

void policy_free(struct policy *p)
{
	if (p)
		explicit_bzero(p, sizeof(*p));
	free(p);
}
