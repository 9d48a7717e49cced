/* Chapter 5's key ceremonies on the PED. */
#include "ceremony.h"

#include "dialog.h"
#include "ped/error.h"
#include "ped/log.h"
#include "ped/pinmask.h"
#include "ped/shamir.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PIN_CAP 64
#define MAX_WRITTEN (PED_APP_MAX_SPLITS * 8)

static void insert_text(char *buf, size_t len, const struct cer_ask *a, const char *title,
			const char *what, unsigned done, unsigned total)
{
	if (done == 0)
		snprintf(buf, len, "SLOT\n%s\nInsert a\n%s\nPED Key (%s)\nPress ENTER.", title,
			 a->prompt, a->colour);
	else
		snprintf(buf, len, "SLOT\n%s\n%s: %02u of %02u\nInsert another\n%s\nPED Key (%s)\nPress ENTER.",
			 title, what, done, total, a->prompt, a->colour);
}

static int notice(struct ped_device *d, int type, const char *title, const char *msg)
{
	char text[256];
	snprintf(text, sizeof(text), "SLOT\n%s\n%s\nPress ENTER.", title, msg);
	return dlg_enter(d, DEV_P_ACK, type, text);
}

/* "SETTING SO PIN..." reads as "READING SO PIN..." once keys are being read. */
static void reading_title(const char *title, char *out, size_t len)
{
	if (!strncmp(title, "SETTING ", 8))
		snprintf(out, len, "READING %s", title + 8);
	else
		snprintf(out, len, "%s", title);
}

/* The splits read of one keyset. A login tallies by keyset: the first key
 * does not decide which keyset is read, so a key of another keyset of the
 * same colour (inserted first by mistake) is removed and the reading goes
 * on with the right keys; the first keyset to reach its quorum is the one
 * returned, and the splits of the others are wiped unsent. */
#define MAX_TALLIES 4
struct tally {
	struct ikey_quorum q;
	struct ped_app_splits sp;
	struct ped_pin_kdf kdf;     /* the scrypt cost of its first split with one */
	struct cer_rpv_static rpv;  /* what its orange keys carry for 2e2s */
	uint64_t used;              /* when a key of it was last read */
};

/* The tally of k's keyset; a new one (the least recently used making room)
 * when none has it yet. */
static struct tally *tally_for(struct tally *t, const struct ikey *k, uint64_t now)
{
	struct tally *free_one = NULL, *oldest = NULL;
	for (int i = 0; i < MAX_TALLIES; i++) {
		if (!t[i].q.started) {
			if (!free_one)
				free_one = &t[i];
			continue;
		}
		if (!memcmp(t[i].q.keyset_id, k->s.keyset_id, sizeof(t[i].q.keyset_id)))
			return &t[i];
		if (!oldest || t[i].used < oldest->used)
			oldest = &t[i];
	}
	struct tally *n = free_one ? free_one : oldest;
	OPENSSL_cleanse(n, sizeof(*n));
	ikey_quorum_init(&n->q);
	n->used = now;
	return n;
}

static void wrap_into(char *out, size_t cap, const char *text);

/* kdf_out (if given) gets the scrypt cost of the first split read that has
 * one: the keyset's, for the duplicates made of it. */
static int read_keyset(struct ped_device *d, const struct cer_ask *a, const char *first_title,
		       const char *title, struct ped_app_splits *sp, struct ped_pin_kdf *kdf_out)
{
	struct tally *t = NULL, *cur = NULL;
	struct ikey k;
	char text[256], pin[PIN_CAP];
	uint64_t reads = 0;
	int r;

	memset(&k, 0, sizeof(k));
	memset(sp, 0, sizeof(*sp));
	pin[0] = '\0';
	if (!(t = OPENSSL_secure_zalloc(sizeof(*t) * MAX_TALLIES)))
		return PED_E_HOST_MEMORY;
	for (;;) {
		insert_text(text, sizeof(text), a, reads ? title : first_title, "Keys read", cur ? cur->q.count : 0,
			    cur ? cur->q.m : 0);
		if ((r = dlg_insert(d, DEV_P_INSERT_READ, a->type, text, &k)) != PED_OK)
			goto out;
		if ((int)k.s.type != a->type) {
			char msg[128];
			snprintf(msg, sizeof(msg), "  ** WARNING **\nThis PED Key is%s\n%s.", 
				 k.s.type == IKEY_BLANK ? "" : " for",
				 ikey_type_name(k.s.type));
			fw_log(d, "Wrong key: %s", ikey_type_name(k.s.type));
			ikey_clear(&k);
			if ((r = notice(d, a->type, title, msg)) != PED_OK)
				goto out;
			continue;
		}
		struct tally *kt = tally_for(t, &k, reads + 1);
		r = ikey_quorum_add(&kt->q, &k.s);
		if (r != PED_OK) {
			ikey_clear(&k);
			if ((r = notice(d, a->type, title,
					r == PED_E_SHARE_DUPLICATE ? "This split was\nalready read."
								   : "This PED Key is not\nof this keyset.")) != PED_OK)
				goto out;
			continue;
		}
		if (cur && kt != cur)
			fw_log(d, "Another keyset");
		cur = kt;
		cur->used = ++reads;
		pin[0] = '\0';
		while (k.s.pin_set) {
			const char *why = NULL;
			char msg[128];
			snprintf(text, sizeof(text), "SLOT\n%s\nEnter PED PIN:", title);
			if ((r = dlg_digits(d, DEV_P_PIN, a->type, text, pin, sizeof(pin))) != PED_OK)
				goto out;
			/* A key's PIN is 4 to 48 digits, not starting with 0 (the
			 * rule it was set under): anything else, Enter pressed twice
			 * or a digit short, cannot be it. Asked again, it is no
			 * failed login at the HSM, and tells nothing of the PIN. */
			if (pin[0] && ped_pin_validate(pin, &why) == PED_OK)
				break;
			OPENSSL_cleanse(pin, sizeof(pin));
			snprintf(msg, sizeof(msg), "PIN not accepted:");
			wrap_into(msg, sizeof(msg), why ? why : "PIN must be 4 to 48 digits");
			if ((r = notice(d, a->type, title, msg)) != PED_OK)
				goto out;
		}
		struct ped_app_split *s = &cur->sp.s[cur->sp.count];
		s->index = k.s.index;
		s->m = k.s.m;
		s->n = k.s.n;
		memcpy(s->keyset_id, k.s.keyset_id, sizeof(s->keyset_id));
		s->share_len = k.s.share_len;
		memcpy(s->share, k.s.share, k.s.share_len);
		/* A wrong PIN gives a wrong share: only the HSM can tell. A mask
		 * that could not be derived (memory) is no guess, and must not
		 * reach the HSM as one: the ceremony fails instead. */
		if (k.s.pin_set && (r = ped_pin_mask(pin, &k.s.mask, k.s.keyset_id, k.s.index, s->share,
						     s->share_len)) != PED_OK) {
			fw_log(d, "PIN mask failed");
			goto out;
		}
		OPENSSL_cleanse(pin, sizeof(pin));
		if (cur->kdf.id != PED_PIN_KDF_SCRYPT && k.s.mask.id == PED_PIN_KDF_SCRYPT)
			cur->kdf = k.s.mask;
		cur->sp.count++;
		if (a->rpv_out && k.s.static_priv && k.s.static_cert && k.s.hoc_cert &&
		    k.s.static_cert_len <= IKEY_CERT_MAX && k.s.hoc_cert_len <= IKEY_CERT_MAX) {
			memcpy(cur->rpv.scalar, k.s.static_priv, IKEY_SCALAR_LEN);
			memcpy(cur->rpv.cert, k.s.static_cert, k.s.static_cert_len);
			cur->rpv.cert_len = k.s.static_cert_len;
			memcpy(cur->rpv.hoc, k.s.hoc_cert, k.s.hoc_cert_len);
			cur->rpv.hoc_len = k.s.hoc_cert_len;
			cur->rpv.set = 1;
		}
		fw_log(d, "Read %s %u/%u", ikey_type_name(k.s.type), cur->q.count, cur->q.m);
		ikey_clear(&k);
		if (ikey_quorum_complete(&cur->q))
			break;
	}
	*sp = cur->sp;
	if (kdf_out && kdf_out->id != PED_PIN_KDF_SCRYPT && cur->kdf.id == PED_PIN_KDF_SCRYPT)
		*kdf_out = cur->kdf;
	if (a->rpv_out && cur->rpv.set)
		*a->rpv_out = cur->rpv;
	r = PED_OK;
out:
	ikey_clear(&k);
	OPENSSL_cleanse(pin, sizeof(pin));
	OPENSSL_secure_clear_free(t, sizeof(*t) * MAX_TALLIES);
	if (r != PED_OK)
		OPENSSL_cleanse(sp, sizeof(*sp));
	return r;
}

int cer_read_keyset(struct ped_device *d, const struct cer_ask *a, struct ped_app_splits *sp)
{
	return read_keyset(d, a, a->title, a->title, sp, NULL);
}

/* Appends text to out as new lines wrapped at spaces, each at most one
 * display line wide (fw_show cuts a longer line). */
static void wrap_into(char *out, size_t cap, const char *text)
{
	size_t o = strlen(out), col = DEV_COLS; /* a full line: the first word starts a new one */
	for (const char *w = text + strspn(text, " "); *w && o < cap;) {
		size_t n = strcspn(w, " ");
		size_t show = n > DEV_COLS ? DEV_COLS : n;
		int fits = col + 1 + show <= DEV_COLS;
		o += (size_t)snprintf(out + o, cap - o, "%c%.*s", fits ? ' ' : '\n', (int)show, w);
		col = fits ? col + 1 + show : show;
		w += n;
		w += strspn(w, " ");
	}
}

static int new_pin(struct ped_device *d, int type, const char *title, char pin[PIN_CAP])
{
	char again[PIN_CAP], text[256], stars[PIN_CAP];
	const char *why = NULL;
	int r;

	for (;;) {
		snprintf(text, sizeof(text), "SLOT\n%s\nEnter new PED PIN:", title);
		if ((r = dlg_digits(d, DEV_P_NEW_PIN, type, text, pin, PIN_CAP)) != PED_OK)
			return r;
		size_t n = strlen(pin) > DEV_COLS ? DEV_COLS : strlen(pin);
		memset(stars, '*', n);
		stars[n] = '\0';
		/* chapter 5: no PIN ("press Enter twice") leaves no blank line */
		snprintf(text, sizeof(text), "SLOT\n%s\nEnter new PED PIN:\n%s%sConfirm new PED PIN:", title,
			 stars, n ? "\n" : "");
		if ((r = dlg_digits(d, DEV_P_CONFIRM_PIN, type, text, again, sizeof(again))) != PED_OK)
			break;
		int same = strlen(pin) == strlen(again) && CRYPTO_memcmp(pin, again, strlen(pin)) == 0;
		OPENSSL_cleanse(again, sizeof(again));
		if (!same) {
			OPENSSL_cleanse(pin, PIN_CAP);
			if ((r = notice(d, type, title, "PINs do not match.")) != PED_OK)
				break;
			continue;
		}
		if (ped_pin_validate(pin, &why) != PED_OK) {
			char msg[128];
			OPENSSL_cleanse(pin, PIN_CAP);
			snprintf(msg, sizeof(msg), "PIN not accepted:");
			wrap_into(msg, sizeof(msg), why ? why : "4-48 digits");
			if ((r = notice(d, type, title, msg)) != PED_OK)
				break;
			continue;
		}
		return PED_OK;
	}
	OPENSSL_cleanse(pin, PIN_CAP);
	OPENSSL_cleanse(again, sizeof(again));
	return r;
}

int cer_write_key(struct ped_device *d, const struct cer_ask *a, const char *text,
		  struct ikey_secret *s, int with_pin, char (*avoid)[IKEY_SERIAL_LEN + 1],
		  size_t navoid, char written[IKEY_SERIAL_LEN + 1])
{
	struct ikey k;
	char msg[256], pin[PIN_CAP] = "";
	int r, yes;

	memset(&k, 0, sizeof(k));
	for (;;) {
		if ((r = dlg_insert(d, DEV_P_INSERT_WRITE, a->type, text, &k)) != PED_OK)
			goto out;
		int again = 0;
		for (size_t i = 0; i < navoid; i++)
			if (!strcmp(avoid[i], k.serial))
				again = 1;
		if (again) {
			ikey_clear(&k);
			if ((r = notice(d, a->type, a->title, "This PED Key was\njust used.\nInsert another.")) != PED_OK)
				goto out;
			continue;
		}
		/* Another split of the keyset being written (a key just read to
		 * reuse it, or in Admin mode's Duplicate): writing over it would
		 * lose that split, and with it perhaps the quorum of every role
		 * the keyset opens. Its own split again is a copy, and allowed. */
		if (k.s.type != IKEY_BLANK && k.s.type == s->type &&
		    !memcmp(k.s.keyset_id, s->keyset_id, sizeof(k.s.keyset_id)) && k.s.index != s->index) {
			char other[64];
			snprintf(other, sizeof(other), "This PED Key is\nsplit %02u of this\nkeyset. Use another.",
				 k.s.index);
			ikey_clear(&k);
			if ((r = notice(d, a->type, a->title, other)) != PED_OK)
				goto out;
			continue;
		}
		if (k.s.type == IKEY_BLANK) {
			snprintf(msg, sizeof(msg), "SLOT\n%s\n  ** WARNING **\nThis PED Key is\nblank.\nOverwrite? YES/NO",
				 a->title);
			yes = dlg_yesno(d, DEV_P_OVERWRITE, a->type, msg);
		} else {
			snprintf(msg, sizeof(msg),
				 "SLOT\n%s\n  ** WARNING **\nThis PED Key is for\n%s.\nOverwrite? YES/NO",
				 a->title, ikey_type_name(k.s.type));
			yes = dlg_yesno(d, DEV_P_OVERWRITE, a->type, msg);
			if (yes == 1) {
				snprintf(msg, sizeof(msg),
					 "SLOT\n%s\n  ** WARNING **\nAre you sure you\nwant to overwrite\nthis PED key? YES/NO",
					 a->title);
				yes = dlg_yesno(d, DEV_P_OVERWRITE, a->type, msg);
			}
		}
		if (yes < 0) {
			r = yes;
			goto out;
		}
		if (!yes) {
			ikey_clear(&k);
			continue;
		}
		if (with_pin && (r = new_pin(d, a->type, a->title, pin)) != PED_OK)
			goto out;
		ikey_clear(&k); /* keeps serial and label */
		if ((r = ikey_secret_copy(&k.s, s)) != PED_OK)
			goto out;
		if (with_pin) {
			/* s->mask is the keyset's cost; a key left without a PIN has no mask */
			k.s.pin_set = pin[0] != '\0';
			if (!k.s.pin_set)
				memset(&k.s.mask, 0, sizeof(k.s.mask));
			k.s.created = (uint64_t)time(NULL);
			if ((r = ped_pin_mask(pin, &k.s.mask, k.s.keyset_id, k.s.index, k.s.share,
					      k.s.share_len)) != PED_OK) {
				/* never a key marked with a PIN over a share left clear */
				fw_log(d, "PIN mask failed");
				goto out;
			}
		}
		OPENSSL_cleanse(pin, sizeof(pin));
		if ((r = fw_save_inserted(d, &k)) != PED_OK) {
			ikey_clear(&k);
			if (r == PED_E_TOKEN_NOT_PRESENT)
				fw_log(d, "Key removed");
			if ((r = notice(d, a->type, a->title,
					r == PED_E_TOKEN_NOT_PRESENT ? "The PED Key was\nremoved. Nothing\nwritten."
								     : "PED Key write\nfailed.")) != PED_OK)
				goto out;
			continue;
		}
		fw_log(d, "Wrote %s %u/%u", ikey_type_name(k.s.type), k.s.index, k.s.n);
		snprintf(written, IKEY_SERIAL_LEN + 1, "%s", k.serial);
		break;
	}
	r = PED_OK;
out:
	OPENSSL_cleanse(pin, sizeof(pin));
	ikey_clear(&k);
	return r;
}

/* Writes splits 1..n (shares[i-1]) of a keyset, each with its own PIN. */
static int write_set(struct ped_device *d, const struct cer_ask *a, const uint8_t keyset[16],
		     const struct ped_pin_kdf *kdf, unsigned m, unsigned n, const uint8_t *shares,
		     size_t len, char (*written)[IKEY_SERIAL_LEN + 1], size_t *nwritten)
{
	struct ikey_secret s;
	char text[256];
	int r = PED_OK;

	for (unsigned i = 1; i <= n && r == PED_OK; i++) {
		memset(&s, 0, sizeof(s));
		s.type = (enum ikey_type)a->type;
		memcpy(s.keyset_id, keyset, sizeof(s.keyset_id));
		s.m = (uint8_t)m;
		s.n = (uint8_t)n;
		s.index = (uint8_t)i;
		s.mask = *kdf;
		s.share = (uint8_t *)(uintptr_t)(shares + (i - 1) * len);
		s.share_len = len;
		if (a->type == IKEY_RPV && a->rpv_in && a->rpv_in->set) {
			/* cer_write_key copies them; these point at the caller's buffers */
			s.static_priv = (uint8_t *)(uintptr_t)a->rpv_in->scalar;
			s.static_cert = (uint8_t *)(uintptr_t)a->rpv_in->cert;
			s.static_cert_len = a->rpv_in->cert_len;
			s.hoc_cert = (uint8_t *)(uintptr_t)a->rpv_in->hoc;
			s.hoc_cert_len = a->rpv_in->hoc_len;
		}
		insert_text(text, sizeof(text), a, a->title, "Keys write", i - 1, n);
		char serial[IKEY_SERIAL_LEN + 1];
		r = cer_write_key(d, a, text, &s, 1, written, *nwritten, serial);
		if (r == PED_OK && *nwritten < MAX_WRITTEN)
			memcpy(written[(*nwritten)++], serial, sizeof(serial));
	}
	return r;
}

/* The questions carry ask_title (chapter 5: "READING SO PIN..." after a
 * reused keyset was read), the writes, Stage 3, a's own ("SETTING ...").
 * Asked once the keyset stands (written, or read to be reused): what goes
 * wrong here (no answer before the key timeout, Clear held, a duplicate
 * set left half-written) leaves fewer copies, never a keyset the HSM does
 * not have. The keys of a new keyset already hold its secret, often over
 * the role's old keys (role changepw): failing the ceremony now would
 * leave the role with the old secret and no key that opens it. */
static void duplicates(struct ped_device *d, const struct cer_ask *a, const char *ask_title,
		       const char *first_question, const uint8_t keyset[16],
		       const struct ped_pin_kdf *kdf, unsigned m, unsigned n, const uint8_t *shares,
		       size_t len, char (*written)[IKEY_SERIAL_LEN + 1], size_t *nwritten)
{
	char text[256];
	int r, yes;

	snprintf(text, sizeof(text), "SLOT\n%s\n%s", ask_title, first_question);
	for (;;) {
		if ((yes = dlg_yesno(d, DEV_P_DUPLICATE, a->type, text)) <= 0) {
			if (yes < 0) {
				fw_log(d, "No duplicate set");
				ped_info("%s: no answer to the duplicate question (%s): the keyset stands",
					 a->title, ped_strerror(yes));
			}
			return;
		}
		if ((r = write_set(d, a, keyset, kdf, m, n, shares, len, written, nwritten)) != PED_OK) {
			fw_log(d, "Duplicates unfinished");
			ped_info("%s: a duplicate set was left unfinished (%s): the keyset stands",
				 a->title, ped_strerror(r));
			return;
		}
		snprintf(text, sizeof(text), "SLOT\n%s\nWould you like to\nmake another\nduplicate set?(Y/N)",
			 ask_title);
	}
}

int cer_create_keyset(struct ped_device *d, const struct cer_ask *a, int allow_reuse,
		      const uint8_t *secret, size_t len, struct cer_created *out)
{
	char (*written)[IKEY_SERIAL_LEN + 1] = NULL;
	size_t nwritten = 0;
	uint8_t *shares = NULL;
	size_t shares_len = 0;
	struct ped_app_splits sp;
	/* A new keyset takes the PED's cost; a reused one keeps its own, unless
	 * its keys have none (no PINs, or format 1's fast mask) */
	struct ped_pin_kdf kdf = d->cfg.pin_kdf;
	char text[256], rtitle[96];
	int r, m = 1, n = 1;

	memset(out, 0, sizeof(*out));
	memset(&sp, 0, sizeof(sp));
	if (len == 0 || len > PED_APP_SECRET_MAX)
		return PED_E_INVALID;
	if (!(written = calloc(MAX_WRITTEN, sizeof(*written))))
		return PED_E_HOST_MEMORY;
	reading_title(a->title, rtitle, sizeof(rtitle));
	if (allow_reuse) {
		snprintf(text, sizeof(text), "SLOT\n%s\nWould you like to\nreuse an existing\nkeyset? (Y/N)",
			 a->title);
		int yes = dlg_yesno(d, DEV_P_REUSE, a->type, text);
		if (yes < 0) {
			r = yes;
			goto out;
		}
		if (yes) {
			struct ped_share ps[PED_APP_MAX_SPLITS];
			if ((r = read_keyset(d, a, a->title, rtitle, &sp, &kdf)) != PED_OK)
				goto out;
			size_t slen = sp.s[0].share_len;
			for (unsigned i = 0; i < sp.count; i++)
				ps[i] = (struct ped_share){sp.s[i].index, sp.s[i].share};
			if ((r = ped_shamir_combine(ps, sp.count, sp.s[0].m, slen, out->secret)) != PED_OK)
				goto out;
			out->secret_len = slen;
			out->info.m = sp.s[0].m;
			out->info.n = sp.s[0].n;
			out->info.reused = 1;
			memcpy(out->info.keyset_id, sp.s[0].keyset_id, 16);
			/* A duplicate set of a reused keyset: every split, re-made from the quorum. */
			shares_len = (size_t)out->info.n * slen;
			if (!(shares = OPENSSL_malloc(shares_len))) {
				r = PED_E_HOST_MEMORY;
				goto out;
			}
			for (unsigned x = 1; x <= out->info.n; x++)
				if ((r = ped_shamir_eval(ps, sp.count, out->info.m, slen, (uint8_t)x,
							 shares + (x - 1) * slen)) != PED_OK)
					goto out;
			duplicates(d, a, rtitle, "Are you duplicating\nthis keyset? (Y/N)\nWarning: You will\nneed all N keys!",
				   out->info.keyset_id, &kdf, out->info.m, out->info.n, shares, slen, written,
				   &nwritten);
			r = PED_OK;
			goto out;
		}
	}
	snprintf(text, sizeof(text), "SLOT\n%s\nM value? (1-16)", a->title);
	if ((r = dlg_number(d, DEV_P_M, a->type, text, 1, PED_APP_MAX_SPLITS, &m)) != PED_OK)
		goto out;
	snprintf(text, sizeof(text), "SLOT\n%s\nN value? (M-16)", a->title);
	if ((r = dlg_number(d, DEV_P_N, a->type, text, m, PED_APP_MAX_SPLITS, &n)) != PED_OK)
		goto out;
	out->info.m = (uint8_t)m;
	out->info.n = (uint8_t)n;
	if (RAND_bytes(out->info.keyset_id, sizeof(out->info.keyset_id)) != 1) {
		r = PED_E_CRYPTO;
		goto out;
	}
	shares_len = (size_t)n * len;
	if (!(shares = OPENSSL_malloc(shares_len))) {
		r = PED_E_HOST_MEMORY;
		goto out;
	}
	if ((r = ped_shamir_split(secret, len, (unsigned)m, (unsigned)n, shares)) != PED_OK)
		goto out;
	if ((r = write_set(d, a, out->info.keyset_id, &kdf, (unsigned)m, (unsigned)n, shares, len,
			   written, &nwritten)) != PED_OK) {
		/* Writing stopped (no key before the timeout, Clear held). M
		 * splits written already open the keyset, and they may have been
		 * written over the role's own keys (role changepw): the HSM takes
		 * it, or the role would be left with no key that opens it. Fewer
		 * open nothing, and the HSM keeps what it had. */
		if (nwritten < (size_t)m)
			goto out;
		fw_log(d, "Keys written: %02zu", nwritten);
		ped_info("%s: writing stopped after %zu of %d keys (%s): the quorum is written, the keyset stands",
			 a->title, nwritten, n, ped_strerror(r));
		r = PED_OK;
		goto out;
	}
	duplicates(d, a, a->title, "Are you duplicating\nthis keyset?(Y/N)", out->info.keyset_id, &kdf,
		   (unsigned)m, (unsigned)n, shares, len, written, &nwritten);
	r = PED_OK;
out:
	if (shares)
		OPENSSL_clear_free(shares, shares_len);
	OPENSSL_cleanse(&sp, sizeof(sp));
	free(written);
	if (r != PED_OK)
		OPENSSL_cleanse(out, sizeof(*out));
	return r;
}
