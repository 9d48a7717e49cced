/* ncurses front end.
 *
 * Key map (docs/ped-device.md): digits; y / n for Yes / No; Enter; Esc is
 * Clear (held five seconds, or F5, resets the operation); Backspace and '<'
 * are '<'; '>' shows the log. Up / Down pick a key in the store, i inserts
 * it, r removes the inserted key, F10 or q quits. The mouse clicks the drawn
 * keypad and the key list. */
#include "tui.h"

#include "ped/error.h"
#include "ped/evloop.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOLD_MS 5000
#define REPEAT_GAP_MS 700
#define NOTES_LINES 3
#define NOTES_POLL_MS 200
#define NOTES_TAIL 4096

struct button {
	int key;
	const char *label;
	int y, x, w;
};

static struct button buttons[] = {
	{'1', " 1 ", 0, 0, 5},   {'2', " 2 ", 0, 6, 5},   {'3', " 3 ", 0, 12, 5}, {DEV_KEY_CLEAR, "Clear", 0, 19, 7},
	{'4', " 4 ", 2, 0, 5},   {'5', " 5 ", 2, 6, 5},   {'6', " 6 ", 2, 12, 5}, {DEV_KEY_BACK, "  <  ", 2, 19, 7},
	{'7', " 7 ", 4, 0, 5},   {'8', " 8 ", 4, 6, 5},   {'9', " 9 ", 4, 12, 5}, {DEV_KEY_LOG, "  >  ", 4, 19, 7},
	{DEV_KEY_NO, "No ", 6, 0, 5}, {'0', " 0 ", 6, 6, 5}, {DEV_KEY_YES, "Yes", 6, 12, 5}, {DEV_KEY_ENTER, "Enter", 6, 19, 7},
};
#define NBUTTONS (sizeof(buttons) / sizeof(buttons[0]))
#define PAD_Y 2
#define PAD_X 30

struct listed {
	char serial[IKEY_SERIAL_LEN + 1];
	char label[24];
	char what[12];
};

struct tui {
	struct ped_device *d;
	struct listed *keys; /* every key in the store, nkeys of them */
	size_t nkeys, sel;
	char status[80];
	int quit_asked; /* q came while something was live: the next q quits */
	uint64_t quit_ceremony; /* d->ceremony when it came */
	uint64_t clear_first, clear_last;
	uint64_t mouse_clear_down;
	int notify[2];
	const char *notes_path;
	char notes[NOTES_LINES][80];
	off_t notes_size;
};

static volatile sig_atomic_t got_signal;
static int sig_pipe = -1;

static void on_signal(int signo)
{
	got_signal = signo;
	if (sig_pipe >= 0)
		(void)!write(sig_pipe, "q", 1);
}

static void restore_terminal(void)
{
	if (!isendwin())
		endwin();
}

/* Text from outside the PED (a key's label, the notes file, the HSM's
 * titles) as the screen can hold it: one printable ASCII cell per byte. A
 * newline in a key's label moved the rest of it to the start of the next
 * list line, where it stayed; a tab, a control byte or UTF-8 (ncurses
 * draws those as several cells, this program running in the C locale)
 * pushed the line and the display's border out of place. */
static char *printable(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '\t')
			*p = ' ';
		else if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	return s;
}

static void load_keys(struct tui *t)
{
	char (*serials)[IKEY_SERIAL_LEN + 1] = NULL;
	size_t n = 0;
	struct listed *keys;
	if (ikey_store_list(&t->d->store, &serials, &n) != PED_OK)
		return;
	/* all of them: the list held the first 64, and a store of more (16
	 * splits of a keyset, its duplicates, other roles) had keys no one
	 * could pick */
	if (!(keys = calloc(n ? n : 1, sizeof(*keys)))) {
		free(serials);
		return;
	}
	free(t->keys);
	t->keys = keys;
	t->nkeys = 0;
	for (size_t i = 0; i < n; i++) {
		struct ikey k;
		struct listed *l = &t->keys[t->nkeys++];
		memset(&k, 0, sizeof(k));
		snprintf(l->serial, sizeof(l->serial), "%s", serials[i]);
		if (ikey_load(&t->d->store, serials[i], &k, NULL, 0) == PED_OK) {
			snprintf(l->label, sizeof(l->label), "%.23s", k.label);
			printable(l->label);
			snprintf(l->what, sizeof(l->what), "%s",
				 k.s.type == IKEY_BLANK ? "blank" : ikey_type_colour(k.s.type));
		} else {
			snprintf(l->what, sizeof(l->what), "damaged");
		}
		ikey_clear(&k);
	}
	free(serials);
	if (t->sel >= t->nkeys)
		t->sel = t->nkeys ? t->nkeys - 1 : 0;
}

/* The notes file's last NOTES_LINES non-blank lines, re-read when its size
 * changed. 1 if they changed. */
static int load_notes(struct tui *t)
{
	char buf[NOTES_TAIL + 1], *lines[NOTES_LINES] = {NULL};
	struct stat st;
	int fd, changed = 0;

	if (!t->notes_path || (fd = open(t->notes_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size != t->notes_size) {
		off_t from = st.st_size > NOTES_TAIL ? st.st_size - NOTES_TAIL : 0;
		ssize_t n = pread(fd, buf, NOTES_TAIL, from);
		buf[n > 0 ? n : 0] = '\0';
		for (char *save = NULL, *l = strtok_r(buf, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save)) {
			while (*l == ' ' || *l == '\t')
				l++;
			if (!*l)
				continue;
			memmove(lines, lines + 1, sizeof(lines) - sizeof(lines[0]));
			lines[NOTES_LINES - 1] = l;
		}
		for (int i = 0; i < NOTES_LINES; i++) {
			snprintf(t->notes[i], sizeof(t->notes[i]), "%s", lines[i] ? lines[i] : "");
			printable(t->notes[i]);
		}
		t->notes_size = st.st_size;
		changed = 1;
	}
	close(fd);
	return changed;
}

/* The screen cannot show the display and the keypad: no key of the PED
 * acts then (they did, blind: Yes to an "Overwrite?" nobody could read, a
 * click on where a button would be), only resizing, redrawing and quitting. */
static int too_small(void)
{
	return LINES < 24 || COLS < 80;
}

static void draw(struct tui *t)
{
	char scr[DEV_LINES * (DEV_COLS + 1) + 1], inserted[IKEY_SERIAL_LEN + 1];
	int rows, cols;

	getmaxyx(stdscr, rows, cols);
	erase();
	if (too_small()) {
		mvprintw(0, 0, "The PED needs an 80x24 terminal (this one is %dx%d): its keys wait until it is.",
			 cols, rows);
		refresh();
		return;
	}
	dev_screen_text(t->d, scr, sizeof(scr));
	int no_pedserver = strstr(scr, "No pedserver") != NULL; /* before the lines are cut apart below */
	char version[DEV_VERSION_MAX + 1];
	fw_version(t->d, version);
	attron(A_BOLD);
	mvprintw(0, 1, "Open PED  PED V.%s", version);
	attroff(A_BOLD);
	/* the display */
	mvaddch(PAD_Y - 1, 1, ACS_ULCORNER);
	mvhline(PAD_Y - 1, 2, ACS_HLINE, DEV_COLS + 2);
	mvaddch(PAD_Y - 1, DEV_COLS + 4, ACS_URCORNER);
	char *line = scr;
	for (int i = 0; i < DEV_LINES; i++) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		printable(line);
		mvaddch(PAD_Y + i, 1, ACS_VLINE);
		attron(A_REVERSE);
		mvprintw(PAD_Y + i, 2, " %-*s ", DEV_COLS, line);
		attroff(A_REVERSE);
		mvaddch(PAD_Y + i, DEV_COLS + 4, ACS_VLINE);
		line = nl ? nl + 1 : line + strlen(line);
	}
	mvaddch(PAD_Y + DEV_LINES, 1, ACS_LLCORNER);
	mvhline(PAD_Y + DEV_LINES, 2, ACS_HLINE, DEV_COLS + 2);
	mvaddch(PAD_Y + DEV_LINES, DEV_COLS + 4, ACS_LRCORNER);
	/* the keypad */
	for (size_t i = 0; i < NBUTTONS; i++)
		mvprintw(PAD_Y + buttons[i].y, PAD_X + buttons[i].x, "[%s]", buttons[i].label);
	/* the key port */
	fw_inserted(t->d, inserted);
	/* "Inserted X" holds while X is in the port: the control socket may
	 * have removed it since */
	if (!strncmp(t->status, "Inserted ", 9) && strcmp(t->status + 9, inserted))
		t->status[0] = '\0';
	mvprintw(PAD_Y + DEV_LINES + 2, 1, "iKey port: %s", inserted[0] ? inserted : "(empty)");
	mvprintw(PAD_Y + DEV_LINES + 3, 1, "Keys in the store (Up/Down, i insert, r remove):");
	int list_y = PAD_Y + DEV_LINES + 4, list_h = rows - list_y - 2 - (t->notes_path ? NOTES_LINES + 1 : 0);
	size_t first = t->sel >= (size_t)list_h ? t->sel - (size_t)list_h + 1 : 0;
	for (int i = 0; i < list_h && first + (size_t)i < t->nkeys; i++) {
		struct listed *l = &t->keys[first + (size_t)i];
		if (first + (size_t)i == t->sel)
			attron(A_REVERSE);
		mvprintw(list_y + i, 3, "%s  %-8s %-22s%s", l->serial, l->what, l->label,
			 strcmp(l->serial, inserted) ? "" : " <- inserted");
		if (first + (size_t)i == t->sel)
			attroff(A_REVERSE);
	}
	if (!t->nkeys)
		mvprintw(list_y, 3, "(no keys: make some with 'ikey new')");
	if (t->notes_path) {
		attron(A_BOLD);
		for (int i = 0; i < NOTES_LINES; i++)
			mvprintw(rows - 2 - NOTES_LINES + i, 1, "%s%.*s", i ? "     " : "HSM: ", cols - 7, t->notes[i]);
		attroff(A_BOLD);
	}
	if (!t->status[0] && no_pedserver)
		/* which socket: the operator's pedserver may be serving another one */
		mvprintw(rows - 2, 1, "No pedserver at %.*s", cols - 18, t->d->cfg.pedserver_socket);
	else
		mvprintw(rows - 2, 1, "%s", printable(t->status));
	mvprintw(rows - 1, 1, "0-9 y n Enter  Esc=Clear (hold 5s / F5 reset)  Bksp=<  >=log  F10/q quit");
	refresh();
}

#define QUIT_ASKED "q again quits"

/* The question q asked stands while what it was asked about does: the same
 * ceremony, or the session, still live. It stood after the ceremony ended
 * (the HSM gone, a timeout), the status line saying a ceremony was live
 * over "No HSM connected.", and the next ceremony's first q quit without
 * asking. */
static void quit_question_check(struct tui *t)
{
	struct ped_device *d = t->d;
	if (!t->quit_asked)
		return;
	pthread_mutex_lock(&d->mu);
	int stands = (d->session_live || d->ceremony_live) && d->ceremony == t->quit_ceremony;
	pthread_mutex_unlock(&d->mu);
	if (stands)
		return;
	t->quit_asked = 0;
	if (strstr(t->status, QUIT_ASKED))
		t->status[0] = '\0';
}

/* Quitting the PED in the middle of a ceremony or a Remote PED session
 * fails the HSM's command (CKR_PED_UNPLUGGED) and loses what the keys
 * held so far: q asks first then, and a second q quits. */
static int may_quit(struct tui *t)
{
	struct ped_device *d = t->d;
	quit_question_check(t);
	pthread_mutex_lock(&d->mu);
	int session = d->session_live, ceremony = d->ceremony_live;
	uint64_t which = d->ceremony;
	pthread_mutex_unlock(&d->mu);
	if ((!session && !ceremony) || t->quit_asked)
		return 1;
	t->quit_asked = 1;
	t->quit_ceremony = which;
	snprintf(t->status, sizeof(t->status), "%s is live: " QUIT_ASKED " (the HSM's command fails)",
		 session ? "A Remote PED session" : "A ceremony");
	return 0;
}

static void press(struct tui *t, int key)
{
	t->status[0] = '\0';
	t->quit_asked = 0;
	dev_press(t->d, key);
}

static void insert_selected(struct tui *t)
{
	char why[160];
	if (!t->nkeys)
		return;
	if (dev_insert(t->d, t->keys[t->sel].serial, why, sizeof(why)) != PED_OK)
		snprintf(t->status, sizeof(t->status), "%.79s", why);
	else
		snprintf(t->status, sizeof(t->status), "Inserted %s", t->keys[t->sel].serial);
}

/* Clear held five seconds (Esc held, F5, the drawn Clear held): "This
 * applies only if the PED is engaged in an operation or is prompting for
 * action. There is no effect when no command has been issued or when a
 * menu is open" (chapter 5). The status line said "operation reset" at a
 * menu or at "Awaiting command..." too, where nothing was. */
static void hold_clear(struct tui *t)
{
	pthread_mutex_lock(&t->d->mu);
	enum dev_prompt p = t->d->prompt;
	pthread_mutex_unlock(&t->d->mu);
	if (p == DEV_P_MENU || p == DEV_P_IDLE) {
		snprintf(t->status, sizeof(t->status), "Clear held: no operation to reset");
		return;
	}
	dev_push(t->d, DEV_EV_RESET, 0);
	snprintf(t->status, sizeof(t->status), "Clear held: operation reset");
}

static void on_clear_key(struct tui *t)
{
	uint64_t now = ped_now_ms();
	/* A held key arrives as autorepeat: a run of Esc with short gaps. */
	if (!t->clear_first || now - t->clear_last > REPEAT_GAP_MS)
		t->clear_first = now;
	t->clear_last = now;
	if (now - t->clear_first >= HOLD_MS) {
		hold_clear(t);
		t->clear_first = 0;
		return;
	}
	press(t, DEV_KEY_CLEAR);
}

/* Esc alone is Clear (with act; without, the key is only read). What else
 * starts with Esc is a key ncurses did not know from the terminal's
 * terminfo entry, handed back byte by byte:
 * - the numeric keypad in application mode (keypad() turns it on), Esc O
 *   p..y and Esc O M, is the digits and Enter. Its bytes were taken one by
 *   one: Clear, then 'q' (keypad 1) quit, 'r' (2) removed the inserted
 *   key, 'y' (9) answered Yes, 'n' (.) No;
 * - any other sequence (Alt-1, Ctrl-Up on some terminals, F13) is dropped
 *   whole: its digits went to the keypad after a Clear, at a PIN prompt a
 *   PIN the operator did not type, and a failed login the HSM counts. */
static void on_escape(struct tui *t, int act)
{
	int ch = getch();
	if (ch == ERR || ch == 27) {
		if (ch == 27)
			ungetch(27); /* a run of Esc: Clear held, each its own */
		if (act)
			on_clear_key(t);
		return;
	}
	if (ch == 'O') { /* SS3 and one byte */
		ch = getch();
		if (act && ch >= 'p' && ch <= 'y')
			press(t, '0' + (ch - 'p'));
		else if (act && ch == 'M')
			press(t, DEV_KEY_ENTER);
	} else if (ch == '[') { /* CSI: parameters and intermediates up to the final byte */
		while ((ch = getch()) != ERR && !(ch >= 0x40 && ch <= 0x7e))
			;
	}
	/* else Alt and a key: no key of the PED */
}

static void on_mouse(struct tui *t)
{
	MEVENT ev;
	if (getmouse(&ev) != OK)
		return;
	for (size_t i = 0; i < NBUTTONS; i++) {
		struct button *b = &buttons[i];
		if (ev.y != PAD_Y + b->y || ev.x < PAD_X + b->x || ev.x >= PAD_X + b->x + b->w)
			continue;
		if (b->key == DEV_KEY_CLEAR && (ev.bstate & BUTTON1_PRESSED)) {
			t->mouse_clear_down = ped_now_ms();
			return;
		}
		if (b->key == DEV_KEY_CLEAR && (ev.bstate & BUTTON1_RELEASED) && t->mouse_clear_down) {
			uint64_t held = ped_now_ms() - t->mouse_clear_down;
			t->mouse_clear_down = 0;
			if (held >= HOLD_MS)
				hold_clear(t);
			else
				press(t, DEV_KEY_CLEAR);
			return;
		}
		if (ev.bstate & (BUTTON1_CLICKED | BUTTON1_RELEASED))
			press(t, b->key);
		return;
	}
	int list_y = PAD_Y + DEV_LINES + 4;
	if (ev.y >= list_y && (ev.bstate & (BUTTON1_CLICKED | BUTTON1_RELEASED))) {
		int rows = getmaxy(stdscr), list_h = rows - list_y - 2 - (t->notes_path ? NOTES_LINES + 1 : 0);
		size_t first = t->sel >= (size_t)list_h ? t->sel - (size_t)list_h + 1 : 0;
		size_t idx = first + (size_t)(ev.y - list_y);
		if (idx < t->nkeys) {
			t->sel = idx;
			insert_selected(t);
		}
	}
}

int tui_run(struct ped_device *d, const char *notes)
{
	struct tui t;
	struct sigaction sa;
	int quit = 0;

	memset(&t, 0, sizeof(t));
	t.d = d;
	t.notes_path = notes;
	t.notes_size = -1;
	if (pipe(t.notify) != 0)
		return 1;
	for (int i = 0; i < 2; i++) {
		fcntl(t.notify[i], F_SETFL, O_NONBLOCK);
		fcntl(t.notify[i], F_SETFD, FD_CLOEXEC);
	}
	sig_pipe = t.notify[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* Ctrl-\ too: its default, a core dump, left the terminal without echo
	 * and the PED's screen standing */
	sigaction(SIGQUIT, &sa, NULL);
	atexit(restore_terminal);
	pthread_mutex_lock(&d->mu);
	d->ui_notify = t.notify[1];
	pthread_mutex_unlock(&d->mu);

	initscr();
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	mousemask(BUTTON1_PRESSED | BUTTON1_RELEASED | BUTTON1_CLICKED, NULL);
	mouseinterval(0);
	load_keys(&t);
	load_notes(&t);
	draw(&t);
	while (!quit && !got_signal) {
		struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = t.notify[0], .events = POLLIN}};
		/* a file has no readiness to poll for: with notes, look every NOTES_POLL_MS */
		int n = poll(p, 2, notes ? NOTES_POLL_MS : -1);
		if (n < 0 && errno != EINTR)
			break;
		if (n == 0) {
			if (load_notes(&t))
				draw(&t);
			continue;
		}
		/* The terminal went away with no SIGHUP sent here (a PED in a
		 * session of its own): it polled the dead terminal for ever. */
		if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			break;
		if (p[1].revents) {
			char b[64];
			while (read(t.notify[0], b, sizeof(b)) > 0)
				;
			load_keys(&t); /* a ceremony may have written keys */
		}
		int ch;
		while ((ch = getch()) != ERR) {
			if (too_small() && ch != KEY_RESIZE && ch != 12 && ch != KEY_F(10) && ch != 'q' && ch != 'Q') {
				if (ch == 27)
					on_escape(&t, 0); /* its sequence's q is no q */
				continue;
			}
			if (ch >= '0' && ch <= '9')
				press(&t, ch);
			else if (ch == KEY_C1 || ch == KEY_C3 || ch == KEY_B2 || ch == KEY_A1 || ch == KEY_A3)
				/* the numeric keypad's 1 3 5 7 9, where terminfo names them */
				press(&t, ch == KEY_C1 ? '1' : ch == KEY_C3 ? '3' : ch == KEY_B2 ? '5' : ch == KEY_A1 ? '7' : '9');
			else if (ch == 'y' || ch == 'Y')
				press(&t, DEV_KEY_YES);
			else if (ch == 'n' || ch == 'N')
				press(&t, DEV_KEY_NO);
			else if (ch == '\r' || ch == '\n' || ch == KEY_ENTER)
				press(&t, DEV_KEY_ENTER);
			else if (ch == 27)
				on_escape(&t, 1);
			else if (ch == KEY_F(5)) {
				hold_clear(&t);
			} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8 || ch == '<')
				press(&t, DEV_KEY_BACK);
			else if (ch == '>')
				press(&t, DEV_KEY_LOG);
			else if (ch == KEY_UP && t.sel > 0)
				t.sel--;
			else if (ch == KEY_DOWN && t.sel + 1 < t.nkeys)
				t.sel++;
			else if (ch == 'i' || ch == KEY_IC)
				insert_selected(&t);
			else if (ch == 'r' || ch == KEY_DC) {
				char was[IKEY_SERIAL_LEN + 1];
				fw_inserted(d, was);
				dev_remove(d);
				if (was[0])
					snprintf(t.status, sizeof(t.status), "Removed %s", was);
				else
					snprintf(t.status, sizeof(t.status), "No key in the port");
			} else if (ch == KEY_MOUSE)
				on_mouse(&t);
			else if (ch == KEY_RESIZE)
				clear();
			else if (ch == KEY_F(10) || ch == 'q' || ch == 'Q')
				quit = may_quit(&t);
			else if (ch == 12) /* ^L */
				clear();
		}
		if (!quit) {
			quit_question_check(&t);
			load_notes(&t);
			draw(&t);
		}
	}
	pthread_mutex_lock(&d->mu);
	d->ui_notify = -1;
	pthread_mutex_unlock(&d->mu);
	sig_pipe = -1;
	restore_terminal();
	close(t.notify[0]);
	close(t.notify[1]);
	free(t.keys);
	return 0;
}

/* Last: term.h defines the terminfo capability names as macros (buttons,
 * lines, columns), which the code above uses as its own names. */
#include <term.h>

int tui_terminal_usable(char *why, size_t len)
{
	const char *term = getenv("TERM");
	int err = 0;

	if (!term || !*term) {
		snprintf(why, len, "TERM is not set");
		return 0;
	}
	/* setupterm with err given reports instead of exiting, as initscr does */
	if (setupterm(term, STDOUT_FILENO, &err) != OK) {
		snprintf(why, len, "TERM=%.64s is %s", term,
			 err == 1    ? "a hard-copy terminal"
			 : err == 0  ? "unknown here, or too generic to draw a screen on"
				     : "unknown here (no terminfo database)");
		return 0;
	}
	const char *cup = tigetstr("cup");
	int ok = cup && cup != (char *)-1;
	del_curterm(cur_term);
	if (!ok)
		snprintf(why, len, "TERM=%.64s cannot move the cursor", term);
	return ok;
}
