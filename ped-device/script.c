/* The headless PED's script language: a script is parsed once, then run
 * against the device line by line; `auto`, or the script's end, hands the
 * PED over to the answerer (answerer.h) when a policy is given. */
#include "headless.h"
#include "answerer.h"

#include "ped/error.h"
#include "ped/evloop.h"

#include <openssl/crypto.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int run_expect(struct ped_device *d, const struct script_cmd *c, int dflt_ms)
{
	uint64_t deadline = ped_now_ms() + (uint64_t)(c->timeout_ms ? c->timeout_ms : dflt_ms), gen;
	for (;;) {
		if (screen_has(d, c->arg, &gen))
			return PED_OK;
		if (dev_quitting(d))
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
			dev_type(d, c->arg);
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
			answerer_run(d, p);
			return 0;
		}
	}
	if (r != PED_OK)
		return 1;
	if (p)
		answerer_run(d, p);
	return 0;
}
