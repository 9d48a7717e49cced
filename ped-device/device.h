/* The PED device: its display, keypad, iKey port and log, shared between the
 * firmware thread (which runs menus and ceremonies, written as the device's
 * firmware would be: show a screen, wait for a key) and the front end that
 * is its body (ncurses, headless script, control socket).
 *
 * Everything here is guarded by one mutex. Front ends push events (keys,
 * insert, remove) into a queue; the firmware waits on the queue and, when
 * attached to an HSM, on the link's socket as well. */
#ifndef PED_DEVICE_DEVICE_H
#define PED_DEVICE_DEVICE_H

#include "ikey/ikey.h"
#include "ped/link.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#define DEV_LINES 8
#define DEV_COLS 20
#define DEV_LOG_MAX 32
#define DEV_QUEUE_MAX 256
#define DEV_VERSION_MAX 14 /* "PED V." and the version fill a line */
#define DEV_LINKS_MAX 2

/* Keypad keys: digits are '0'..'9'. */
enum dev_key {
	DEV_KEY_YES = 'Y',
	DEV_KEY_NO = 'N',
	DEV_KEY_ENTER = 'E',
	DEV_KEY_CLEAR = 'C',
	DEV_KEY_BACK = '<',
	DEV_KEY_LOG = '>',
};

enum dev_event_type {
	DEV_EV_NONE,
	DEV_EV_KEY,
	DEV_EV_INSERT,
	DEV_EV_REMOVE,
	DEV_EV_RESET, /* Clear held five seconds */
	DEV_EV_QUIT,
	DEV_EV_LINK,    /* a link has input (fw_wait_links: key is its index) */
	DEV_EV_TIMEOUT,
};

struct dev_event {
	enum dev_event_type type;
	int key;
};

/* What the firmware waits for, for automatic answerers and the event log:
 * the meaning of the screen, as a person reading it would understand it. */
enum dev_prompt {
	DEV_P_NONE,       /* busy, or showing something that needs no answer */
	DEV_P_MENU,       /* a menu: digits or < */
	DEV_P_IDLE,       /* attached to an HSM, awaiting a command */
	DEV_P_REUSE,      /* Y/N: reuse an existing keyset */
	DEV_P_INSERT_READ,  /* insert a key of prompt_type to read, Enter */
	DEV_P_INSERT_WRITE, /* insert a key to write prompt_type onto, Enter */
	DEV_P_PIN,        /* enter the PIN of the inserted key */
	DEV_P_NEW_PIN,    /* enter a new PIN */
	DEV_P_CONFIRM_PIN,
	DEV_P_M,
	DEV_P_N,
	DEV_P_OVERWRITE,  /* Y/N */
	DEV_P_DUPLICATE,  /* Y/N: make a duplicate set */
	DEV_P_CONFIRM,    /* Y/N: anything else */
	DEV_P_ACK,        /* a message: Enter */
	DEV_P_PASSWORD,   /* the one-time password */
	DEV_P_CONFIRM_HSM, /* Y/N: is this the HSM (serial, HOC fingerprint) the operator was shown? */
	DEV_P_SHARE_RPK,  /* Y/N: use another HSM's orange key for this HSM */
};

struct dev_config {
	int key_timeout_ms;     /* key actions (default 200 s) */
	int link_timeout_ms;    /* each exchange with the HSM */
	/* how long "Token found" stays before a ceremony's prompt: "briefly"
	 * for eyes (the ncurses PED); 0 headless, whose event log has it */
	int token_found_ms;
	char hsm_socket[512];   /* Local PED-USB: the HSM's local PED link */
	char pedserver_socket[512]; /* Remote PED: where pedserver expects its PED */
	/* pedserver_socket was given (option or configuration), not the
	 * runtime directory's default: a PED cabled to an HSM (hsm_socket)
	 * watches pedserver too only then, or in Remote PED mode */
	int pedserver_explicit;
	char start_mode[16];    /* "menu", "usb", "admin", "remote" */
	char update_key[512];   /* PEM public key that signs software updates */
	char update_file[512];  /* the software update image offered in Admin mode */
	char firmware_file[512]; /* the installed image (Software Update saves it), or "" */
	/* PIN mask cost of the keysets this PED creates (id 0: the default) */
	struct ped_pin_kdf pin_kdf;
};

struct ped_device {
	pthread_mutex_t mu;
	pthread_cond_t changed;

	char screen[DEV_LINES][DEV_COLS + 1];
	uint64_t screen_gen;
	enum dev_prompt prompt;
	int prompt_type;       /* key type the prompt is about (enum ikey_type), or 0 */
	uint64_t ceremony;     /* counts ceremonies, so answerers know when one starts */
	int waiting;           /* the firmware is blocked on the keypad or the key port only */
	/* Firmware thread only: while >= 0, dialogues also watch this link and
	 * end with PED_E_CLOSED when it has input: the session they ask for has
	 * ended (pedserver's BYE), and nobody is left to answer. */
	int session_fd;
	int session_live;  /* a Remote PED session with an HSM is open (under mu) */
	int ceremony_live; /* an HSM's request waits on the keypad or the key port (under mu) */

	struct dev_event queue[DEV_QUEUE_MAX];
	unsigned qhead, qlen;
	int wake[2]; /* a byte per queued event, so the firmware can poll */
	int ui_notify; /* written to on each screen change, if >= 0 */

	struct ikey_store store;
	struct ikey_slot slot;
	int inserted;
	char holder[64];

	char log[DEV_LOG_MAX][DEV_COLS + 1];
	unsigned nlog;

	struct dev_config cfg;
	/* the firmware version the PED shows ("PED V.x"): the saved image's, or
	 * the program's; firmware thread writes it, under mu */
	char version[DEV_VERSION_MAX + 1];
	FILE *events;
	uint64_t t0_ms;
	int quit;
	int exit_code;
	pthread_t fw;
	int fw_started;
};

int dev_init(struct ped_device *d, const struct dev_config *cfg, const char *store_dir);
void dev_free(struct ped_device *d);
int dev_start(struct ped_device *d); /* starts the firmware thread */
void dev_stop(struct ped_device *d);  /* asks it to quit and joins it */
/* 1 once the device is asked to quit (the program is ending): both sides
 * stop what they wait for. */
int dev_quitting(struct ped_device *d);
/* Once a session's key is computed: the handshake's freed memory goes back
 * to the system (see device.c). */
void dev_return_freed_memory(void);

/* Front-end side. */
void dev_push(struct ped_device *d, enum dev_event_type type, int key);
void dev_press(struct ped_device *d, int key);
/* Presses each of digits in turn, 'E' standing for Enter. */
void dev_type(struct ped_device *d, const char *digits);
/* s as the inside of a JSON string (for the event log), cut to fit out. */
const char *dev_json(const char *s, char *out, size_t n);
/* Inserts a key into the port (removing any key there); 0 or an error with why. */
int dev_insert(struct ped_device *d, const char *serial, char *why, size_t whylen);
void dev_remove(struct ped_device *d);
/* Copies the screen as 8 lines joined by '\n'; returns its generation. */
uint64_t dev_screen_text(struct ped_device *d, char *out, size_t len);
/* Waits until the screen generation differs from gen or timeout; returns the new one. */
uint64_t dev_wait_change(struct ped_device *d, uint64_t gen, int timeout_ms);
/* Names for the key map and the event log. */
const char *dev_key_name(int key);
int dev_key_from_name(const char *name);
const char *dev_prompt_name(enum dev_prompt p);

/* Event log: one JSON object per line. Thread-safe; d->mu must NOT be held. */
void dev_event_log(struct ped_device *d, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Firmware side. */
/* Shows text: lines separated by '\n', each cut to DEV_COLS. */
void fw_show(struct ped_device *d, enum dev_prompt prompt, int prompt_type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Waits for a front-end event, or input on link_fd (>= 0), up to timeout_ms. */
struct dev_event fw_wait(struct ped_device *d, int link_fd, int timeout_ms);
/* Waits for a front-end event, or input on any of n links (fds < 0 are
 * skipped), up to timeout_ms; DEV_EV_LINK's key is the index of the link. */
struct dev_event fw_wait_links(struct ped_device *d, const int *fds, int n, int timeout_ms);
/* Shows what is on the screen for ms ("briefly"): neither waits on the
 * operator nor takes events, which stay queued for what comes next. */
void fw_pause(struct ped_device *d, int ms);
/* The version the PED shows, "0.1.0" (copied under mu). */
void fw_version(struct ped_device *d, char out[DEV_VERSION_MAX + 1]);
/* Waits for the operator, up to timeout_ms; input on d->session_fd comes back
 * as DEV_EV_LINK. Unlike fw_wait, the PED counts as waiting on the operator. */
struct dev_event fw_wait_operator(struct ped_device *d, int timeout_ms);
void fw_log(struct ped_device *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The log shows actions "since entering Local or Remote Mode". */
void fw_log_clear(struct ped_device *d);
/* The inserted key's serial, or "" */
void fw_inserted(struct ped_device *d, char serial[IKEY_SERIAL_LEN + 1]);
/* Writes k onto the key in the port if that is still k (its serial), with
 * the port held so it cannot change meanwhile: a key taken out after it
 * was read (at "Overwrite?", at the new PIN) is never written unseen.
 * PED_E_TOKEN_NOT_PRESENT when the port holds another key or none. */
int fw_save_inserted(struct ped_device *d, const struct ikey *k);

/* The firmware's entry point (modes.c). */
void *fw_main(void *arg);

#endif
