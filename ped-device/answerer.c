/* The answerer: plays the key holders at whatever the PED asks, as the
 * policy says, reading one-time passwords and HSM identities off the HSM
 * shell's transcript as an operator would. */
#include "answerer.h"
#include "transcript.h"

#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/log.h"

#include <openssl/crypto.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	char pin_key[IKEY_SERIAL_LEN + 1]; /* the key whose PIN was typed last */
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
	while ((r = fn(arg)) == PED_E_NOT_FOUND && ped_now_ms() < deadline && !dev_quitting(d)) {
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
	policy_rule(p, type, title, &rule);
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
		/* Asked again for the same key: the PED refused the policy's PIN
		 * (none, or not 4 to 48 digits), and would refuse it for ever. */
		if (!strcmp(a->pin_key, serial)) {
			give_up(d, "the PED refuses the policy's PIN for the key");
			break;
		}
		memcpy(a->pin_key, serial, sizeof(a->pin_key));
		dev_type(d, policy_pin(p, serial));
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
		dev_type(d, a->last_pin);
		dev_press(d, DEV_KEY_ENTER);
		break;
	case DEV_P_M:
	case DEV_P_N:
		snprintf(num, sizeof(num), "%d", prompt == DEV_P_M ? pt->m : pt->n);
		dev_type(d, num);
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
			dev_type(d, p->password);
			dev_press(d, DEV_KEY_ENTER);
		} else if (!p->password_file[0]) {
			give_up(d, "the PED asks for a one-time password and the policy has none");
		} else if (read_password(d, p, a, pw) == PED_OK) {
			dev_type(d, pw);
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

void answerer_run(struct ped_device *d, const struct policy *p)
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
