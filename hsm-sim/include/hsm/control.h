/* The control channel between hsmcm and hsm-sim: a Unix stream socket
 * carrying frames (common/frame.h).
 *
 *   hsmcm -> hsm-sim   HSM_CTL_CMD     one command line, as typed
 *                      HSM_CTL_CMD_TTY the same, from an hsmcm that can answer
 *                                      prompts (its standard input is a terminal)
 *   hsm-sim -> hsmcm   HSM_CTL_OUTPUT  a line of output (any number, in order)
 *                      HSM_CTL_PROMPT  u8 flags (HSM_CTL_PROMPT_SECRET: no
 *                                      echo), then the prompt; only during a
 *                                      HSM_CTL_CMD_TTY command
 *   hsmcm -> hsm-sim   HSM_CTL_ANSWER  u8 status (0: answered, 1: not), then
 *                                      the answer; one per prompt
 *   hsm-sim -> hsmcm   HSM_CTL_FILE_GET the path of a file the command reads
 *                                      on hsmcm's side (a policy template)
 *                      HSM_CTL_FILE_PUT u16 path length, the path, then the
 *                                      bytes of a file the command writes there
 *   hsmcm -> hsm-sim   HSM_CTL_FILE_REPLY u8 status (0: done), then the file
 *                                      read (GET) or why it failed; one per
 *                                      request. hsmcm serves only a path that
 *                                      is a word of the command it is running:
 *                                      hsm-sim cannot reach any other file.
 *   hsm-sim -> hsmcm   HSM_CTL_RESULT  u32 result code: the command is done,
 *                                      then optionally u8 HSM_CTL_RESULT_SUCCESS
 *                                      (a success the reference prints as
 *                                      "Command Result : 0 (Success)": ped set)
 *
 *
 * A cloning between two hsm-sims (a backup or restore whose partition and
 * Backup HSM are in different processes, hsmcm relaying: hsm/clonewire.h):
 *   hsmcm -> hsm-sim   HSM_CTL_CMD_PEER one half of it, as a command line
 *                                      (no prompts); the frames below only
 *                                      during such a command
 *   hsm-sim -> hsmcm   HSM_CTL_PEER_PUT a message for the other half,
 *                                      opaque to hsmcm (at most
 *                                      HSM_CTL_PEER_MAX bytes)
 *                      HSM_CTL_PEER_GET (empty) the other half's next message
 *   hsmcm -> hsm-sim   HSM_CTL_PEER_REPLY u8 status (0: the message follows;
 *                                      1: the other half ended without one),
 *                                      then the message; one per GET
 *
 * One command at a time per connection; the connection is the session
 * (current slot, roles logged in), as a lunacm session is.
 *
 * A relay that serves some of this host's HSMs to others (rbs, the Remote
 * Backup Service) narrows the session before its client says anything:
 *
 *   relay -> hsm-sim   HSM_CTL_RESTRICT the session's first frame: u8 count
 *                      (1 to HSM_CTL_RESTRICT_MAX), then per HSM u8 length
 *                      (1 to HSM_CTL_SERIAL_MAX) and its serial (digits). The
 *                      session then sees and reaches those HSMs only, and of
 *                      their commands only what a remote backup needs; it
 *                      can never be widened (a second one ends the session).
 *                      Then the client's first frame picks the protocol. */
#ifndef HSM_CONTROL_H
#define HSM_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
	HSM_CTL_CMD = 0x20,
	HSM_CTL_OUTPUT = 0x21,
	HSM_CTL_RESULT = 0x22,
	HSM_CTL_CMD_TTY = 0x23,
	HSM_CTL_PROMPT = 0x24,
	HSM_CTL_ANSWER = 0x25,
	HSM_CTL_FILE_GET = 0x26,
	HSM_CTL_FILE_PUT = 0x27,
	HSM_CTL_FILE_REPLY = 0x28,
	HSM_CTL_CMD_PEER = 0x29,
	HSM_CTL_PEER_PUT = 0x2a,
	HSM_CTL_PEER_GET = 0x2b,
	HSM_CTL_PEER_REPLY = 0x2c,
	HSM_CTL_RESTRICT = 0x2f,
};
#define HSM_CTL_RESTRICT_MAX 16 /* HSMs one relayed session may reach */
#define HSM_CTL_SERIAL_MAX 16   /* an HSM serial's digits (HSM_SERIAL_MAX) */
/* the longest HSM_CTL_RESTRICT payload */
#define HSM_CTL_RESTRICT_LEN_MAX (1 + HSM_CTL_RESTRICT_MAX * (1 + HSM_CTL_SERIAL_MAX))

struct hsm_ctl_restrict {
	size_t n;
	char serial[HSM_CTL_RESTRICT_MAX][HSM_CTL_SERIAL_MAX + 1];
};
#define HSM_CTL_PEER_MAX (60u * 1024u) /* a relayed message (hsm/clonewire.h: HSM_CW_MSG_MAX) */
#define HSM_CTL_PEER_ENDED 1
#define HSM_CTL_FILE_MAX 16384 /* a file's bytes either way */
#define HSM_CTL_PROMPT_SECRET 0x01
#define HSM_CTL_RESULT_SUCCESS 0x01
#define HSM_CTL_ANSWER_MAX 256 /* an answer's longest text (a challenge: 255) */

#define HSM_CTL_LINE_MAX 4096

/* HSM_CTL_RESTRICT's payload from r into out (size bytes), *len its
 * length: PED_E_INVALID for no serial, too many, one that is not 1-16
 * digits, or one named twice; PED_E_RANGE when out is too small. */
int hsm_ctl_restrict_encode(const struct hsm_ctl_restrict *r, uint8_t *out, size_t size, size_t *len);
/* The payload back into out, under the same rules, with nothing left
 * over: PED_OK or PED_E_INVALID (out then names nothing). */
int hsm_ctl_restrict_decode(const uint8_t *msg, size_t len, struct hsm_ctl_restrict *out);
/* Whether r names serial. */
int hsm_ctl_restrict_has(const struct hsm_ctl_restrict *r, const char *serial);
/* Whether s[0..n) is an HSM serial as HSM_CTL_RESTRICT carries it: 1 to
 * HSM_CTL_SERIAL_MAX decimal digits. */
int hsm_ctl_serial_ok(const char *s, size_t n);

/* Default control socket: $XDG_RUNTIME_DIR/openped/hsm-sim.sock (or /tmp/openped-UID/...). */
int hsm_ctl_default_socket(char *out, size_t len);
/* The local PED link of the HSM with this serial, beside the control socket. */
void hsm_ctl_ped_socket(const char *control_socket, const char *serial, char *out, size_t len);

/* hsmcm's scripts (-c, -f): commands separated by newlines or ';', a line
 * whose first non-blank is '#' a comment, blanks around each command cut.
 * Calls fn on each non-empty command in order, text cut up in place; stops at
 * the first non-zero fn returns and returns it, else 0. */
int hsm_ctl_script_each(char *text, int (*fn)(void *arg, char *cmd), void *arg);
/* One line of f, as hsmcm's prompt reads it: into buf (size bytes), newline
 * cut, NUL-terminated; *len its length, newline not counted. A line is whole
 * or not at all: longer than size - 1 bytes it is PED_E_RANGE (*len says how
 * long), with a NUL byte PED_E_INVALID; either is read to its end and buf
 * wiped, so the next call reads the next line. PED_OK, those two, PED_E_CLOSED
 * at the end of f, or PED_E_IO on a read error. */
int hsm_ctl_read_line(FILE *f, char *buf, size_t size, size_t *len);
/* s without leading blanks; trailing blanks and newlines cut in place. */
char *hsm_ctl_trim(char *s);
/* hsm-sim's words of a command: split at white space, "a quoted word" keeps
 * its spaces (and loses its quotes). Cuts line in place; the word count, or
 * -1 when there are more than max. */
int hsm_ctl_split_words(char *line, char **argv, int max);
/* Whether a command line may carry a secret (a challenge, a password, an
 * object's value) and must stay out of hsmcm's history. The line is cut into
 * words by hsm_ctl_split_words, as hsm-sim cuts it, and any word that the
 * option parser could take for a secret option (any case, prefix or alias,
 * -opt=value, a misspelling with chal/pass/pw/secret in it) counts. */
int hsm_ctl_line_has_secret(const char *line);
/* Whether path is a word the operator typed in line after the command's
 * first two words (not an option): the only file hsmcm reads or writes for
 * hsm-sim (HSM_CTL_FILE_GET, HSM_CTL_FILE_PUT). */
int hsm_ctl_path_typed(const char *line, const char *path);

/* hsmcm with several servers (a network HSM's hsm-sim, the local one, a
 * Remote Backup Service): each server's slots are shown shifted by an
 * offset so that they follow the slots of the servers before it.
 *
 * hsm_ctl_slot_shift copies the line in to out (outlen bytes, cut at a
 * character boundary if longer), every slot number it names ("slot 20",
 * "Slot Id ->   20", "Current Slot Id: 20", any case) shifted by offset.
 * Returns how many it shifted. */
int hsm_ctl_slot_shift(const char *in, int offset, char *out, size_t outlen);
/* The slot a command's words name (-slot N, -slot=N, slot N, -s N, any
 * case, a prefix of slot of two letters or more), after its first word:
 * the word holding the number is *at (its value parsed into *slot, 0 to
 * 100000), and 1; 0 when it names none. */
int hsm_ctl_slot_option(int argc, char **argv, int *at, int *slot);

#endif
