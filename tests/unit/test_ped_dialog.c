/* The PED's dialogues as state machines: a ceremony runs in its own thread,
 * as on the device, while the test plays the operator through the same
 * calls the front ends use (keys, insert, remove) and reads the screen. */
#include "unit.h"

#include "../../ped-device/ceremony.h"
#include "../../ped-device/dialog.h"
#include "../../ped-device/headless.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/pinmask.h"
#include "ped/shamir.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ped_device dev;
static char store[1024];
static int counter;

static int setup(void)
{
	return 0;
}

static void fresh_device(int key_timeout_ms)
{
	struct dev_config c;
	memset(&c, 0, sizeof(c));
	c.key_timeout_ms = key_timeout_ms;
	c.link_timeout_ms = 1000;
	/* the cheap cost, chosen on purpose: these tests are about dialogues */
	ped_pin_kdf_scrypt(&c.pin_kdf, PED_SCRYPT_LOG2N_MIN, PED_SCRYPT_R_DEFAULT, PED_SCRYPT_P_DEFAULT);
	snprintf(store, sizeof(store), "%s/store%d", unit_tmpdir(), counter++);
	CU_ASSERT_EQUAL_FATAL(dev_init(&dev, &c, store), PED_OK);
}

static void new_key(char serial[IKEY_SERIAL_LEN + 1])
{
	CU_ASSERT_EQUAL_FATAL(ikey_new_blank(&dev.store, "test", serial), PED_OK);
}

/* Waits until the flattened screen contains text and, with prompt, until
 * the firmware waits on its operator (an idle mode's screen is no prompt). */
static int wait_screen(const char *text, int prompt)
{
	char scr[DEV_LINES * (DEV_COLS + 1) + 1], flat[sizeof(scr)];
	uint64_t deadline = ped_now_ms() + 5000;
	for (;;) {
		uint64_t gen = dev_screen_text(&dev, scr, sizeof(scr));
		screen_flat(scr, flat, sizeof(flat));
		pthread_mutex_lock(&dev.mu);
		int waiting = dev.waiting && dev.qlen == 0;
		pthread_mutex_unlock(&dev.mu);
		if (strstr(flat, text) && (waiting || !prompt))
			return 1;
		if (ped_now_ms() > deadline) {
			fprintf(stderr, "\nwanted '%s', screen: %s\n", text, flat);
			return 0;
		}
		dev_wait_change(&dev, gen, 20);
	}
}

static int see(const char *text)
{
	return wait_screen(text, 1);
}

static int shows(const char *text)
{
	return wait_screen(text, 0);
}

static void press(const char *keys)
{
	for (const char *k = keys; *k; k++)
		dev_press(&dev, *k == '\n' ? DEV_KEY_ENTER : *k);
}

static void insert(const char *serial)
{
	char why[160];
	CU_ASSERT_EQUAL(dev_insert(&dev, serial, why, sizeof(why)), PED_OK);
}

/* The screen's line n (0-7) as it is shown, blank lines and all. */
static void screen_line(int n, char *out, size_t len)
{
	char scr[DEV_LINES * (DEV_COLS + 1) + 1], *line = scr;
	dev_screen_text(&dev, scr, sizeof(scr));
	for (int i = 0; i < n && line; i++) {
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	snprintf(out, len, "%.*s", line ? (int)strcspn(line, "\n") : 0, line ? line : "");
}

static int line_is(int n, const char *want)
{
	char got[DEV_COLS + 2];
	screen_line(n, got, sizeof(got));
	if (!strcmp(got, want))
		return 1;
	fprintf(stderr, "\nline %d: wanted '%s', got '%s'\n", n, want, got);
	return 0;
}

/* ---- a ceremony in its own thread ---- */

struct job {
	int create; /* 1 create, 0 read, 2 write one key as it is (Admin mode's Duplicate) */
	struct ikey_secret *dup_of;
	struct cer_ask ask;
	uint8_t secret[32];
	struct cer_created created;
	struct ped_app_splits splits;
	int r;
	int done;
	pthread_t th;
};

static void *run_job(void *arg)
{
	struct job *j = arg;
	char written[IKEY_SERIAL_LEN + 1];
	if (j->create == 2)
		j->r = cer_write_key(&dev, &j->ask, "PED Key mode\nDuplicate onto?", j->dup_of, 0, NULL, 0,
				     written);
	else if (j->create)
		j->r = cer_create_keyset(&dev, &j->ask, 1, j->secret, sizeof(j->secret), &j->created);
	else
		j->r = cer_read_keyset(&dev, &j->ask, &j->splits);
	__atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Whether the job ends within five seconds. */
static int ended(struct job *j)
{
	uint64_t deadline = ped_now_ms() + 5000;
	while (!__atomic_load_n(&j->done, __ATOMIC_SEQ_CST)) {
		if (ped_now_ms() > deadline) {
			char scr[DEV_LINES * (DEV_COLS + 1) + 1], flat[sizeof(scr)];
			dev_screen_text(&dev, scr, sizeof(scr));
			screen_flat(scr, flat, sizeof(flat));
			fprintf(stderr, "\nthe ceremony did not end; screen: %s\n", flat);
			return 0;
		}
		usleep(20000);
	}
	return 1;
}

static void start(struct job *j, int create, int type, const char *title)
{
	memset(j, 0, sizeof(*j));
	j->create = create;
	j->ask = (struct cer_ask){type, title, type == IKEY_SO ? "SO / HSM Admin" : "Domain",
				  type == IKEY_SO ? "BLUE" : "RED", NULL, NULL};
	RAND_bytes(j->secret, sizeof(j->secret));
	pthread_create(&j->th, NULL, run_job, j);
}

static int finish(struct job *j)
{
	pthread_join(j->th, NULL);
	return j->r;
}

static void create_2_of_3_with_pins(char k[4][IKEY_SERIAL_LEN + 1], struct job *j)
{
	start(j, 1, IKEY_SO, "SETTING SO PIN...");
	CU_ASSERT(see("SETTING SO PIN... Would you like to reuse an existing keyset? (Y/N)"));
	press("N");
	CU_ASSERT(see("M value? (1-16) >"));
	press("0\n"); /* out of range: asked again */
	CU_ASSERT(see("M value? (1-16) >"));
	press("17\n");
	CU_ASSERT(see("M value? (1-16) >"));
	press("2\n");
	CU_ASSERT(see("N value? (M-16) >"));
	press("1\n"); /* N below M: asked again */
	CU_ASSERT(see("N value? (M-16) >"));
	press("3\n");
	CU_ASSERT(see("SETTING SO PIN... Insert a SO / HSM Admin PED Key (BLUE) Press ENTER."));
	insert(k[0]);
	press("\n");
	CU_ASSERT(see("** WARNING ** This PED Key is blank. Overwrite? YES/NO"));
	press("Y");
	CU_ASSERT(see("Enter new PED PIN:"));
	press("123\n"); /* too short */
	CU_ASSERT(see("Confirm new PED PIN:"));
	press("123\n");
	CU_ASSERT(see("PIN not accepted: PIN must be 4 to 48 digits")); /* wrapped, not cut at 20 */
	press("\n");
	CU_ASSERT(see("Enter new PED PIN:"));
	press("0123\n"); /* starts with 0 */
	press("0123\n");
	CU_ASSERT(see("PIN not accepted: PIN must not start with 0"));
	press("\n");
	CU_ASSERT(see("Enter new PED PIN:"));
	press("4321\n");
	press("4322\n"); /* mismatch */
	CU_ASSERT(see("PINs do not match."));
	press("\n");
	CU_ASSERT(see("Enter new PED PIN:"));
	press("4321\n4321\n");
	CU_ASSERT(see("Keys write: 01 of 03 Insert another SO / HSM Admin PED Key (BLUE)"));
	press("\n"); /* the same key again */
	CU_ASSERT(see("This PED Key was just used."));
	press("\n");
	CU_ASSERT(see("Keys write: 01 of 03"));
	insert(k[1]);
	press("\n");
	CU_ASSERT(see("This PED Key is blank."));
	press("Y");
	CU_ASSERT(see("Enter new PED PIN:"));
	press("\n\n"); /* no PIN */
	CU_ASSERT(see("Keys write: 02 of 03"));
	insert(k[2]);
	press("\n");
	CU_ASSERT(see("This PED Key is blank."));
	press("Y\n\n");
	CU_ASSERT(see("Are you duplicating this keyset?(Y/N)"));
	press("N");
	CU_ASSERT_EQUAL(finish(j), PED_OK);
	CU_ASSERT_EQUAL(j->created.info.m, 2);
	CU_ASSERT_EQUAL(j->created.info.n, 3);
	CU_ASSERT_EQUAL(j->created.info.reused, 0);
}

static void create_then_login(void)
{
	char k[4][IKEY_SERIAL_LEN + 1];
	struct job j, l;
	struct ikey key;

	fresh_device(5000);
	for (int i = 0; i < 4; i++)
		new_key(k[i]);
	create_2_of_3_with_pins(k, &j);

	memset(&key, 0, sizeof(key));
	CU_ASSERT_EQUAL(ikey_load(&dev.store, k[0], &key, NULL, 0), PED_OK);
	CU_ASSERT_EQUAL(key.s.type, IKEY_SO);
	CU_ASSERT_EQUAL(key.s.pin_set, 1);
	/* masked at the cost the PED was configured with, named on the key */
	CU_ASSERT_EQUAL(memcmp(&key.s.mask, &dev.cfg.pin_kdf, sizeof(key.s.mask)), 0);
	CU_ASSERT_EQUAL(key.format, IKEY_FORMAT);
	ikey_clear(&key);
	CU_ASSERT_EQUAL(ikey_load(&dev.store, k[1], &key, NULL, 0), PED_OK);
	CU_ASSERT_EQUAL(key.s.pin_set, 0); /* no PIN, no mask */
	CU_ASSERT_EQUAL(key.s.mask.id, PED_PIN_KDF_NONE);
	ikey_clear(&key);

	/* a non-blank key asks twice before it is overwritten: No keeps it */
	start(&l, 1, IKEY_DOMAIN, "SETTING DOMAIN...");
	CU_ASSERT(see("reuse an existing keyset?"));
	press("N1\n1\n");
	CU_ASSERT(see("PED Key (RED)"));
	insert(k[2]);
	press("\n");
	CU_ASSERT(see("** WARNING ** This PED Key is for SO. Overwrite? YES/NO"));
	press("Y");
	CU_ASSERT(see("Are you sure you want to overwrite this PED key? YES/NO"));
	press("N");
	CU_ASSERT(see("PED Key (RED)"));
	insert(k[3]);
	press("\nY\n\nN");
	CU_ASSERT_EQUAL(finish(&l), PED_OK);

	/* login: wrong colour and the same split twice are refused, not counted */
	start(&l, 0, IKEY_SO, "SO LOGIN...");
	CU_ASSERT(see("SO LOGIN... Insert a SO / HSM Admin PED Key (BLUE) Press ENTER."));
	insert(k[3]);
	press("\n");
	CU_ASSERT(see("This PED Key is for Domain."));
	press("\n");
	insert(k[0]);
	press("\n");
	CU_ASSERT(see("SO LOGIN... Enter PED PIN:"));
	press("4321\n");
	CU_ASSERT(see("Keys read: 01 of 02 Insert another"));
	press("\n");
	CU_ASSERT(see("This split was already read."));
	press("\n");
	insert(k[2]);
	press("\n");
	CU_ASSERT_EQUAL(finish(&l), PED_OK);
	CU_ASSERT_EQUAL(l.splits.count, 2);
	struct ped_share ps[2] = {{l.splits.s[0].index, l.splits.s[0].share},
				  {l.splits.s[1].index, l.splits.s[1].share}};
	uint8_t secret[32];
	CU_ASSERT_EQUAL(ped_shamir_combine(ps, 2, 2, 32, secret), PED_OK);
	CU_ASSERT_EQUAL(memcmp(secret, j.secret, 32), 0);
	dev_free(&dev);
}

static void reuse_returns_the_secret_and_duplicates_every_split(void)
{
	char k[7][IKEY_SERIAL_LEN + 1];
	struct job j, r;

	fresh_device(5000);
	for (int i = 0; i < 7; i++)
		new_key(k[i]);
	create_2_of_3_with_pins(k, &j);
	start(&r, 1, IKEY_SO, "SETTING SO PIN...");
	CU_ASSERT(see("reuse an existing keyset? (Y/N)"));
	press("Y");
	CU_ASSERT(see("SETTING SO PIN... Insert a SO / HSM Admin PED Key (BLUE)"));
	insert(k[1]);
	press("\n");
	CU_ASSERT(see("READING SO PIN... Keys read: 01 of 02"));
	insert(k[0]);
	press("\n");
	CU_ASSERT(see("READING SO PIN... Enter PED PIN:"));
	press("4321\n");
	CU_ASSERT(see("READING SO PIN... Are you duplicating this keyset? (Y/N) Warning: You will need all N keys!"));
	/* the PED's cost has changed since the keyset was made: the duplicates
	 * keep the keyset's */
	struct ped_pin_kdf made_with = dev.cfg.pin_kdf;
	dev.cfg.pin_kdf.log2n++;
	press("Y");
	for (int i = 0; i < 3; i++) {
		/* the writes are Stage 3 under the setting title (they said READING) */
		CU_ASSERT(see(i ? "SETTING SO PIN... Keys write:" : "SETTING SO PIN... Insert a SO / HSM Admin PED Key (BLUE)"));
		insert(k[3 + i]);
		press("\n");
		CU_ASSERT(see("blank."));
		press(i ? "Y\n\n" : "Y5678\n5678\n");
	}
	CU_ASSERT(see("Would you like to make another duplicate set?(Y/N)"));
	press("N");
	CU_ASSERT_EQUAL(finish(&r), PED_OK);
	CU_ASSERT_EQUAL(r.created.info.reused, 1);
	CU_ASSERT_EQUAL(memcmp(r.created.secret, j.secret, 32), 0);
	CU_ASSERT_EQUAL(memcmp(r.created.info.keyset_id, j.created.info.keyset_id, 16), 0);
	/* the duplicate of split 3 combines with the original split 2 */
	struct ikey a, b;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	CU_ASSERT_EQUAL(ikey_load(&dev.store, k[5], &a, NULL, 0), PED_OK);
	CU_ASSERT_EQUAL(ikey_load(&dev.store, k[1], &b, NULL, 0), PED_OK);
	CU_ASSERT_EQUAL(a.s.index, 3);
	struct ped_share ps[2] = {{a.s.index, a.s.share}, {b.s.index, b.s.share}};
	uint8_t secret[32];
	CU_ASSERT_EQUAL(ped_shamir_combine(ps, 2, 2, 32, secret), PED_OK);
	CU_ASSERT_EQUAL(memcmp(secret, j.secret, 32), 0);
	ikey_clear(&a);
	CU_ASSERT_EQUAL(ikey_load(&dev.store, k[3], &a, NULL, 0), PED_OK);
	CU_ASSERT_EQUAL(a.s.pin_set, 1);
	CU_ASSERT_EQUAL(memcmp(&a.s.mask, &made_with, sizeof(made_with)), 0);
	ikey_clear(&a);
	ikey_clear(&b);
	dev_free(&dev);
}

/* Format 1 keys (HKDF masks, tests/vectors/ikey-v1: 1 of 2, PIN 73519246,
 * secret 00 01 .. 1f) log in as before. A duplicate set of such a keyset
 * gets the PED's scrypt cost: a new write never makes the fast mask. A
 * duplicate of one key (Admin mode) copies its HKDF mask with the share,
 * so it unmasks with the same PIN. */
static void format_1_keysets_read_and_duplicate(void)
{
	static const char *v1[2] = {"0F1E2D3C4B5A6978", "8796A5B4C3D2E1F0"};
	char k[3][IKEY_SERIAL_LEN + 1], cmd[3000];
	struct job r, w;
	struct ikey a;

	fresh_device(5000);
	for (int i = 0; i < 2; i++) {
		snprintf(cmd, sizeof(cmd), "cp '%s/tests/vectors/ikey-v1/%s.ikey' '%s/'", unit_source_dir(), v1[i],
			 dev.store.dir);
		CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	}
	for (int i = 0; i < 3; i++)
		new_key(k[i]);
	start(&r, 1, IKEY_SO, "SETTING SO PIN...");
	CU_ASSERT(see("reuse an existing keyset? (Y/N)"));
	press("Y");
	CU_ASSERT(see("Insert a SO / HSM Admin PED Key (BLUE)"));
	insert(v1[1]);
	press("\n");
	CU_ASSERT(see("Enter PED PIN:"));
	press("73519246\n");
	CU_ASSERT(see("Are you duplicating this keyset?"));
	press("Y");
	for (int i = 0; i < 2; i++) {
		CU_ASSERT(see("PED Key (BLUE)"));
		insert(k[i]);
		press("\n");
		CU_ASSERT(see("blank."));
		press("Y24682468\n24682468\n");
	}
	CU_ASSERT(see("make another duplicate set?"));
	press("N");
	CU_ASSERT_EQUAL_FATAL(finish(&r), PED_OK);
	CU_ASSERT_EQUAL_FATAL(r.created.secret_len, 32);
	for (int i = 0; i < 32; i++)
		CU_ASSERT_EQUAL(r.created.secret[i], i);
	for (int i = 0; i < 2; i++) {
		memset(&a, 0, sizeof(a));
		CU_ASSERT_EQUAL_FATAL(ikey_load(&dev.store, k[i], &a, NULL, 0), PED_OK);
		CU_ASSERT_EQUAL(memcmp(&a.s.mask, &dev.cfg.pin_kdf, sizeof(a.s.mask)), 0);
		CU_ASSERT_EQUAL(ped_pin_mask("24682468", &a.s.mask, a.s.keyset_id, a.s.index, a.s.share,
					     a.s.share_len),
				PED_OK);
		for (int j = 0; j < 32; j++)
			CU_ASSERT_EQUAL(a.s.share[j], j);
		ikey_clear(&a);
	}

	/* Admin mode's Duplicate: the key as it is, HKDF mask and all */
	struct ikey src;
	memset(&src, 0, sizeof(src));
	CU_ASSERT_EQUAL_FATAL(ikey_load(&dev.store, v1[0], &src, NULL, 0), PED_OK);
	memset(&w, 0, sizeof(w));
	w.create = 2;
	w.dup_of = &src.s;
	w.ask = (struct cer_ask){IKEY_SO, "PED Key mode", "", "", NULL, NULL};
	pthread_create(&w.th, NULL, run_job, &w);
	CU_ASSERT(see("PED Key mode Duplicate onto?"));
	insert(k[2]);
	press("\n");
	CU_ASSERT(see("blank."));
	press("Y");
	CU_ASSERT_EQUAL(finish(&w), PED_OK);
	memset(&a, 0, sizeof(a));
	CU_ASSERT_EQUAL_FATAL(ikey_load(&dev.store, k[2], &a, NULL, 0), PED_OK);
	CU_ASSERT_EQUAL(a.format, IKEY_FORMAT);
	CU_ASSERT_EQUAL(a.s.mask.id, PED_PIN_KDF_HKDF);
	CU_ASSERT_EQUAL(ped_pin_mask("73519246", &a.s.mask, a.s.keyset_id, a.s.index, a.s.share, a.s.share_len),
			PED_OK);
	for (int j = 0; j < 32; j++)
		CU_ASSERT_EQUAL(a.s.share[j], j);
	ikey_clear(&a);
	ikey_clear(&src);
	dev_free(&dev);
}

static void key_actions_time_out_and_clear_held_resets(void)
{
	struct job j;
	fresh_device(200);
	start(&j, 0, IKEY_SO, "SO LOGIN...");
	CU_ASSERT_EQUAL(finish(&j), PED_E_TIMEOUT);
	dev_free(&dev);

	fresh_device(5000);
	start(&j, 1, IKEY_SO, "SETTING SO PIN...");
	CU_ASSERT(see("reuse an existing"));
	press("N");
	CU_ASSERT(see("M value?"));
	dev_push(&dev, DEV_EV_RESET, 0);
	CU_ASSERT_EQUAL(finish(&j), PED_E_CANCEL);
	dev_free(&dev);
}

/* Input on the session's link ends a prompt: the session it asks for is
 * gone. Until then the PED waits on its operator, as answerers expect. */
static void session_end_ends_the_prompt(void)
{
	struct job j;
	int link[2];
	fresh_device(5000);
	CU_ASSERT_EQUAL_FATAL(pipe(link), 0);
	dev.session_fd = link[0];
	start(&j, 0, IKEY_SO, "SO LOGIN...");
	CU_ASSERT(see("SO LOGIN"));
	CU_ASSERT_EQUAL(write(link[1], "x", 1), 1);
	CU_ASSERT_EQUAL(finish(&j), PED_E_CLOSED);
	close(link[0]);
	close(link[1]);
	dev_free(&dev);
}

/* The > key shows "the most recent PED actions (since entering Local or
 * Remote Mode)": it did nothing in Remote PED mode, and the log ran on
 * across modes. Clear held five seconds does nothing in a menu. */
static void log_key_and_clear_held_in_modes_and_menus(void)
{
	fresh_device(5000);
	snprintf(dev.cfg.start_mode, sizeof(dev.cfg.start_mode), "remote");
	fw_log(&dev, "Before remote");
	CU_ASSERT_EQUAL_FATAL(dev_start(&dev), PED_OK);
	CU_ASSERT(shows("No pedserver"));
	press(">");
	CU_ASSERT(see("PED log (empty) Press ENTER."));
	press("\n");
	CU_ASSERT(shows("No pedserver"));
	/* no RPK held: < leaves at once, without "Exiting now will invalidate
	 * the RPK" (it asked even then) */
	press("<");
	CU_ASSERT(see("Select Mode"));
	dev_push(&dev, DEV_EV_RESET, 0);
	press("4");
	CU_ASSERT(see("Admin mode..."));
	dev_push(&dev, DEV_EV_RESET, 0);
	press("9");
	CU_ASSERT(see("Self Test"));
	dev_stop(&dev);
	dev_free(&dev);
}

/* "Exiting now will invalidate the RPK. Confirm? YES/NO" (asked when an
 * RPK is held) leaves only on Yes: nobody answering before the key timeout
 * keeps the mode, as No does. */
static int confirm_result;
static void *confirm_exit_thread(void *arg)
{
	(void)arg;
	confirm_result = dlg_confirm_exit(&dev);
	return NULL;
}

static void unanswered_exit_warning_keeps_the_mode(void)
{
	pthread_t th;
	fresh_device(300);
	pthread_create(&th, NULL, confirm_exit_thread, NULL);
	CU_ASSERT(see("invalidate the RPK. Confirm? YES/NO"));
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(confirm_result, 0);
	pthread_create(&th, NULL, confirm_exit_thread, NULL);
	CU_ASSERT(see("invalidate the RPK."));
	press("N");
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(confirm_result, 0);
	pthread_create(&th, NULL, confirm_exit_thread, NULL);
	CU_ASSERT(see("invalidate the RPK."));
	press("Y");
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(confirm_result, 1);
	dev_free(&dev);
}

/* Chapter 5 shows M and N as "M value? (1-16)", a blank line, ">03". */
static void m_and_n_on_their_own_line(void)
{
	char k[IKEY_SERIAL_LEN + 1];
	struct job j;

	fresh_device(5000);
	new_key(k);
	start(&j, 1, IKEY_SO, "SETTING SO PIN...");
	CU_ASSERT(see("reuse an existing keyset?"));
	press("N");
	CU_ASSERT(see("M value? (1-16)"));
	press("3");
	CU_ASSERT(see(">03"));
	CU_ASSERT(line_is(0, "SLOT") && line_is(1, "SETTING SO PIN...") && line_is(2, "M value? (1-16)") &&
		  line_is(3, "") && line_is(4, ">03"));
	press("\n");
	CU_ASSERT(see("N value? (M-16)"));
	press("05");
	CU_ASSERT(see(">05"));
	CU_ASSERT(line_is(2, "N value? (M-16)") && line_is(3, "") && line_is(4, ">05"));
	press("\n");
	CU_ASSERT(see("PED Key (BLUE)"));
	dev_push(&dev, DEV_EV_RESET, 0);
	CU_ASSERT_EQUAL(finish(&j), PED_E_CANCEL);
	dev_free(&dev);
}

/* A key of another keyset of the same colour inserted first: the operator
 * removes it and goes on with the right keys (the PED tallies splits by
 * keyset; only the keyset that reaches its quorum goes to the HSM). It
 * used to lock the login onto the first key's keyset: every right key was
 * "not of this keyset", and only Clear got out. */
static void another_keyset_first_is_set_aside(void)
{
	char a[2][IKEY_SERIAL_LEN + 1], b[2][IKEY_SERIAL_LEN + 1];
	struct job ja, jb, l;

	fresh_device(5000);
	for (int i = 0; i < 2; i++) {
		new_key(a[i]);
		new_key(b[i]);
	}
	struct job *jobs[2] = {&ja, &jb};
	char (*keys[2])[IKEY_SERIAL_LEN + 1] = {a, b};
	for (int s = 0; s < 2; s++) { /* two SO keysets, 2 of 2, no PINs */
		start(jobs[s], 1, IKEY_SO, "SETTING SO PIN...");
		CU_ASSERT(see("reuse an existing"));
		press("N2\n2\n");
		for (int i = 0; i < 2; i++) {
			CU_ASSERT(see("PED Key (BLUE)"));
			insert(keys[s][i]);
			press("\n");
			CU_ASSERT(see("blank."));
			press("Y\n\n");
		}
		CU_ASSERT(see("Are you duplicating"));
		press("N");
		CU_ASSERT_EQUAL_FATAL(finish(jobs[s]), PED_OK);
	}

	start(&l, 0, IKEY_SO, "SO LOGIN...");
	CU_ASSERT(see("SO LOGIN... Insert a SO / HSM Admin PED Key (BLUE)"));
	insert(b[0]); /* keyset B, by mistake */
	press("\n");
	CU_ASSERT(see("Keys read: 01 of 02"));
	dev_remove(&dev);
	insert(a[1]);
	press("\n");
	CU_ASSERT(see("Keys read: 01 of 02")); /* A's first: counted, not refused */
	insert(a[0]);
	press("\n");
	CU_ASSERT(ended(&l));
	dev_push(&dev, DEV_EV_RESET, 0); /* a read still asking (it used to) ends */
	CU_ASSERT_EQUAL(finish(&l), PED_OK);
	CU_ASSERT_EQUAL(l.splits.count, 2);
	CU_ASSERT_EQUAL(memcmp(l.splits.s[0].keyset_id, ja.created.info.keyset_id, 16), 0);
	CU_ASSERT_EQUAL(memcmp(l.splits.s[1].keyset_id, ja.created.info.keyset_id, 16), 0);
	struct ped_share ps[2] = {{l.splits.s[0].index, l.splits.s[0].share},
				  {l.splits.s[1].index, l.splits.s[1].share}};
	uint8_t secret[32];
	CU_ASSERT_EQUAL(ped_shamir_combine(ps, 2, 2, 32, secret), PED_OK);
	CU_ASSERT_EQUAL(memcmp(secret, ja.secret, 32), 0);
	dev_free(&dev);
}

/* Admin mode: PED Key mode's Login asks a key's PIN, as the device does
 * (it logged in without); List types shows "Found keys: / SO / (blank) /
 * Press ENTER." as chapter 5 does. */
static void ped_key_mode_login_pin_and_list_types(void)
{
	char k[IKEY_SERIAL_LEN + 1];
	struct job j;

	fresh_device(5000);
	new_key(k);
	start(&j, 1, IKEY_SO, "SETTING SO PIN...");
	CU_ASSERT(see("reuse an existing"));
	press("N1\n1\n");
	CU_ASSERT(see("PED Key (BLUE)"));
	insert(k);
	press("\n");
	CU_ASSERT(see("blank."));
	press("Y");
	CU_ASSERT(see("Enter new PED PIN:"));
	press("24681357\n24681357\n");
	CU_ASSERT(see("Are you duplicating"));
	press("N");
	CU_ASSERT_EQUAL_FATAL(finish(&j), PED_OK);

	snprintf(dev.cfg.start_mode, sizeof(dev.cfg.start_mode), "admin");
	CU_ASSERT_EQUAL_FATAL(dev_start(&dev), PED_OK);
	CU_ASSERT(see("Admin mode..."));
	press("1");
	CU_ASSERT(see("3 List types"));
	press("3");
	CU_ASSERT(see("Found keys:"));
	CU_ASSERT(line_is(0, "PED Key mode") && line_is(1, "Found keys:") && line_is(2, "SO") && line_is(3, "") &&
		  line_is(4, "Press ENTER."));
	press("\n");
	CU_ASSERT(see("1 Login"));
	press("1");
	CU_ASSERT(see("to log in to."));
	press("\n");
	CU_ASSERT(see("PED Key mode Enter PED PIN:"));
	pthread_mutex_lock(&dev.mu);
	enum dev_prompt p = dev.prompt;
	pthread_mutex_unlock(&dev.mu);
	CU_ASSERT_EQUAL(p, DEV_P_PIN); /* digits logged as "digit" */
	press("24681357");
	CU_ASSERT(see("********"));
	press("\n");
	CU_ASSERT(see("Logged in. PED Key is for SO."));
	press("\n");
	CU_ASSERT(see("7 Duplicate"));
	dev_stop(&dev);
	dev_free(&dev);
}

static void scripts_and_policies_are_checked_line_by_line(void)
{
	struct script s;
	struct policy *p = NULL;
	char err[256];
	const char *good = "# comment\nexpect -timeout 5 \"Keys read: 01 of 03\"\ninsert 0123456789ABCDEF\n"
			   "press enter yes no clear < > 7\npin 1234\ntype 99\nremove\nhold-clear\nwait-idle\nauto\n";
	CU_ASSERT_EQUAL(script_parse(good, strlen(good), &s, err, sizeof(err)), PED_OK);
	CU_ASSERT_EQUAL(s.n, 9);
	script_free(&s);
	/* a pin line at the line limit: the Enter the parser adds must not run off its buffer (ASan) */
	char longest[SCRIPT_LINE_MAX + 2];
	memset(longest, ' ', sizeof(longest));
	memcpy(longest, "pin", 3);
	memcpy(longest + SCRIPT_LINE_MAX - 4, "1234\n", 6);
	CU_ASSERT_EQUAL(strlen(longest), SCRIPT_LINE_MAX + 1);
	CU_ASSERT_EQUAL(script_parse(longest, strlen(longest), &s, err, sizeof(err)), PED_OK);
	CU_ASSERT_EQUAL(s.n, 1);
	script_free(&s);
	static const char *const bad[] = {"expect\n", "insert 12\n", "press banana\n", "type 12a\n",
					  "frobnicate\n", "expect -timeout 0 x\n", "remove now\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(script_parse(bad[i], strlen(bad[i]), &s, err, sizeof(err)), PED_E_CONFIG);
		CU_ASSERT(!strncmp(err, "1: ", 3));
	}
	const char *pol = "mofn so 2 3\nreuse \"SETTING DOMAIN\" no yes\nuse \"CO LOGIN\" 0123456789ABCDEF / FEDCBA9876543210\n"
			  "newpin so 1234 none\npin 0123456789ABCDEF 5678\nduplicates domain 1\n";
	CU_ASSERT_EQUAL(policy_parse(pol, strlen(pol), &p, err, sizeof(err)), PED_OK);
	policy_free(p);
	static const char *const badp[] = {"mofn so 3 2\n", "reuse so maybe\n", "use so 12\n",
					   "newpin so 12x\n", "pin 0123456789ABCDEF\n", "mofn\n", "sing so\n"};
	for (size_t i = 0; i < sizeof(badp) / sizeof(badp[0]); i++) {
		p = NULL;
		CU_ASSERT_EQUAL(policy_parse(badp[i], strlen(badp[i]), &p, err, sizeof(err)), PED_E_CONFIG);
		CU_ASSERT_PTR_NULL(p);
	}
}

UNIT_SUITE(ped_dialog, setup, NULL, UNIT_TEST(create_then_login),
	   UNIT_TEST(reuse_returns_the_secret_and_duplicates_every_split),
	   UNIT_TEST(format_1_keysets_read_and_duplicate),
	   UNIT_TEST(key_actions_time_out_and_clear_held_resets), UNIT_TEST(session_end_ends_the_prompt),
	   UNIT_TEST(log_key_and_clear_held_in_modes_and_menus), UNIT_TEST(m_and_n_on_their_own_line),
	   UNIT_TEST(unanswered_exit_warning_keeps_the_mode), UNIT_TEST(another_keyset_first_is_set_aside),
	   UNIT_TEST(ped_key_mode_login_pin_and_list_types),
	   UNIT_TEST(scripts_and_policies_are_checked_line_by_line))
