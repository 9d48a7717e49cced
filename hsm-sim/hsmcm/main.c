/* hsmcm: the operator shell of hsm-sim, in lunacm's syntax.
 *
 *   hsmcm [-socket PATH] [-server HOST]  interactive, "hsmcm:>" prompt
 *   hsmcm -c "cmd; cmd" | -f FILE        scripted: stops at the first failure, exit 1
 *
 * With -server, hsmcm holds a session with every server it reaches at once
 * (chapter 13's order): HOST first, its slots numbered as HOST numbers
 * them; then the local hsm-sim (-socket, else the default socket if one
 * answers); then the other servers registered with vtl (a Remote Backup
 * Service among them). The slots of each follow those of the ones before
 * it (hsm_ctl_slot_shift). A command goes to the server of the slot it
 * names (-slot), else to the current slot's; a backup or restore between a
 * partition and a Backup HSM of two servers runs as two halves, one on
 * each, whose sealed messages hsmcm relays (hsm/clonewire.h). */
#include "hsm/control.h"
#include "hsm/hsm.h"
#include "hsm/result.h"
#include "ped/buf.h"
#include "ped/error.h"
#include "ped/evloop.h"
#include "ped/json.h"
#include "ped/fileio.h"
#include "ped/link.h"
#include "ped/net.h"
#include "ped/netcfg.h"
#include "ped/opts.h"
#include "ped/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USAGE "hsmcm [-socket PATH] [-server HOST] [-c \"cmd; cmd\" | -f FILE] [-json]"

#ifndef HSMCM_NETCFG_DEFAULT
#define HSMCM_NETCFG_DEFAULT "/etc/openped/openped-pkcs11.conf"
#endif
#define SCRIPT_MAX (1u << 20)
#define HISTORY_MAX 500

/* hsm-sim went away mid-command (killed, crashed): the command's outcome is
 * unknown, reported as the device error it is, with a CKR name like any other
 * failure, so scripts that look for "Command Result" see it. */
/* -json: each command's outcome is one JSON object on a line of its own
 * (command, output lines, code, result name, success), and nothing else
 * reaches standard output; hsm-sim's questions go to standard error. */
static int json;

static void json_result(const char *command, const char *lines, uint32_t code, int success)
{
	int n = 0;
	putchar('{');
	ped_json_str(stdout, &n, "command", command);
	ped_json_key(stdout, &n, "output");
	printf("[%s]", lines ? lines : "");
	ped_json_num(stdout, &n, "code", code);
	ped_json_str(stdout, &n, "result", code ? hsm_result_name(code) : "No Error");
	ped_json_bool(stdout, &n, "success", code == 0);
	ped_json_bool(stdout, &n, "reference_success", success); /* "0 (Success)" rather than "No Error" */
	printf("}\n");
	fflush(stdout);
}

/* Standard input is a terminal: hsm-sim may ask the operator (a missing
 * -password, a challenge, a confirmation), secrets without echo. */
static int tty;

/* A secret typed at the terminal: no echo, a '*' for each character as
 * lunacm shows, backspace erases one; Enter ends it, ^C or ^D cancels.
 * Returns 0, or -1 (cancelled, or not a terminal). */
static int read_secret(char *buf, size_t size)
{
	struct termios old, raw;
	size_t n = 0;
	int c, r = -1;

	if (tcgetattr(STDIN_FILENO, &old) != 0)
		return -1;
	raw = old;
	/* no echo, a character at a time, ^C a character (no signal leaves the terminal silent) */
	raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | ISIG);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) != 0)
		return -1;
	for (;;) {
		c = getc(stdin);
		if (c == EOF || c == 3 || c == 4)
			break;
		if (c == '\n' || c == '\r') {
			r = 0;
			break;
		}
		if (c == 0x7f || c == '\b') {
			if (n) {
				buf[--n] = '\0';
				fputs("\b \b", stdout);
			}
		} else if (n + 1 < size && c >= 0x20) {
			buf[n++] = (char)c;
			putchar('*');
		}
		fflush(stdout);
	}
	buf[n] = '\0';
	(void)tcsetattr(STDIN_FILENO, TCSANOW, &old);
	putchar('\n');
	fflush(stdout);
	if (r != 0)
		OPENSSL_cleanse(buf, size);
	return r;
}

/* hsm-sim's prompt (flags, text): the operator's answer goes back. */
static int answer_prompt(int fd, const uint8_t *msg, size_t len)
{
	uint8_t out[1 + HSM_CTL_ANSWER_MAX];
	char *a = (char *)out + 1;
	size_t alen = 0;
	int secret = len >= 1 && (msg[0] & HSM_CTL_PROMPT_SECRET), r;

	out[0] = 1; /* not answered */
	if (len >= 1 && tty) {
		FILE *to = json ? stderr : stdout;
		fprintf(to, "\n\t%.*s ", (int)(len - 1), (const char *)msg + 1);
		fflush(to);
		if (secret) {
			if (read_secret(a, HSM_CTL_ANSWER_MAX) == 0)
				out[0] = 0;
		} else if (hsm_ctl_read_line(stdin, a, HSM_CTL_ANSWER_MAX, &alen) == PED_OK) {
			out[0] = 0;
		} else {
			clearerr(stdin);
		}
		if (out[0] == 0)
			alen = strlen(a);
	}
	r = ped_frame_send(fd, HSM_CTL_ANSWER, out, 1 + alen, 10000);
	OPENSSL_cleanse(out, sizeof(out));
	return r;
}

/* hsm-sim's file request (HSM_CTL_FILE_GET or _PUT) for this command: the
 * file read or written here, on the operator's side, as lunacm does. */
static int answer_file(int fd, uint8_t type, const uint8_t *msg, size_t len, const char *line)
{
	char path[HSM_CTL_LINE_MAX + 1], why[512] = "";
	uint8_t *data = NULL, *out;
	size_t dlen = 0, pl;
	const uint8_t *content = NULL;
	int r, status = 1;

	if (type == HSM_CTL_FILE_PUT) {
		pl = len >= 2 ? ped_be16_get(msg) : (size_t)-1;
		if (pl == (size_t)-1 || pl > len - 2 || pl > HSM_CTL_LINE_MAX)
			return PED_E_FRAME_TRUNCATED;
		memcpy(path, msg + 2, pl);
		content = msg + 2 + pl;
		dlen = len - 2 - pl;
	} else {
		if (len > HSM_CTL_LINE_MAX)
			return PED_E_FRAME_OVERSIZE;
		memcpy(path, msg, len);
		pl = len;
	}
	path[pl] = '\0';
	if (!pl || memchr(path, '\0', pl) || !hsm_ctl_path_typed(line, path)) {
		snprintf(why, sizeof(why), "hsmcm serves only a file named in the command");
	} else if (type == HSM_CTL_FILE_GET) {
		r = ped_file_read_bounded(path, HSM_CTL_FILE_MAX, &data, &dlen);
		if (r == PED_OK)
			status = 0;
		else
			snprintf(why, sizeof(why), "%.400s: %s", path,
				 r == PED_E_RANGE ? "too large" : r == PED_E_NOT_FOUND ? "no such file" : strerror(errno));
	} else if (ped_file_write_atomic(path, content, dlen, 0600) == PED_OK) {
		status = 0;
		dlen = 0;
	} else {
		snprintf(why, sizeof(why), "%.400s: %s", path, strerror(errno));
	}
	if (status) {
		dlen = strlen(why);
		content = (const uint8_t *)why;
	} else if (type == HSM_CTL_FILE_GET) {
		content = data;
	}
	if (!(out = OPENSSL_malloc(1 + dlen))) {
		OPENSSL_clear_free(data, dlen);
		return PED_E_HOST_MEMORY;
	}
	out[0] = (uint8_t)status;
	if (dlen)
		memcpy(out + 1, content, dlen);
	r = ped_frame_send(fd, HSM_CTL_FILE_REPLY, out, 1 + dlen, 10000);
	OPENSSL_clear_free(out, 1 + dlen);
	if (type == HSM_CTL_FILE_GET && data)
		OPENSSL_clear_free(data, dlen);
	return r;
}

/* A session with one server: a TLS link's plain end (vtl's servers) or
 * a Unix socket (the local hsm-sim). Its slots are shown shifted by offset:
 * the local slot lo is the first after the servers before it. */
#define SOURCES_MAX (2 + PED_NET_SERVERS_MAX)
#define RELAY_QUEUE_MAX (HSM_MAX_OBJECTS + 8)
#define RELAY_BYTES_MAX (96u << 20)
#define RELAY_END_WAIT_MS 30000 /* the other half's end, once one failed */

struct relay_msg {
	uint8_t *data;
	size_t len;
};

struct source {
	char where[PED_NET_HOST_MAX + 1100]; /* the host, or the local socket's path */
	int fd;
	int tls;
	struct ped_framer in;
	int offset, lo, hi;
	/* a relayed cloning's half, while it runs */
	struct relay_msg q[RELAY_QUEUE_MAX]; /* the other half's messages not yet asked for */
	size_t qhead, qn, qbytes;
	int want, done, lost;
	uint32_t code;
};

static struct source srcs[SOURCES_MAX];
static int nsrc, cur;

/* What a command printed and its outcome, as the mode wants it (text,
 * -json, or kept for hsmcm's own use). */
struct emit {
	int quiet;       /* the result line is not printed (hsmcm's own slot list at start) */
	FILE *mem;       /* -json: the output lines, as JSON strings */
	char *lines;
	size_t olen;
	int nlines;
	char **keep;     /* kept lines (slot list across servers), when not NULL */
	size_t nkeep;
};

static int emit_open(struct emit *e, int quiet)
{
	memset(e, 0, sizeof(*e));
	e->quiet = quiet;
	if (json && !quiet && !(e->mem = open_memstream(&e->lines, &e->olen)))
		return -1;
	return 0;
}

static void emit_line(struct emit *e, const struct source *s, const uint8_t *msg, size_t len)
{
	char raw[HSM_CTL_LINE_MAX + 1], text[HSM_CTL_LINE_MAX + 64];
	size_t n = len < HSM_CTL_LINE_MAX ? len : HSM_CTL_LINE_MAX;

	memcpy(raw, msg, n);
	raw[n] = '\0';
	hsm_ctl_slot_shift(raw, s ? s->offset : 0, text, sizeof(text));
	if (e->keep) {
		char **k = realloc(e->keep, (e->nkeep + 2) * sizeof(*k));
		if (k) {
			e->keep = k;
			if ((k[e->nkeep] = strdup(text)) != NULL)
				e->nkeep++;
			k[e->nkeep] = NULL;
		}
	} else if (e->mem) {
		if (e->nlines++)
			fputc(',', e->mem);
		ped_json_string(e->mem, text);
	} else if (!json) {
		printf("\t%s\n", text);
		fflush(stdout);
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(text, sizeof(text));
}

/* The command's outcome; lost: its server went away (told as today). */
static void emit_result(struct emit *e, const char *line, uint32_t code, int success, int lost_it)
{
	if (e->mem) {
		fclose(e->mem);
		e->mem = NULL;
		json_result(line, e->lines, lost_it ? (uint32_t)ped_err_code(PED_E_DEVICE_ERROR) : code, success);
	} else if (json || e->keep || lost_it) {
		;
	} else if (e->quiet && code == 0) {
		printf("\n");
	} else if (code == 0 && success) {
		printf("\nCommand Result : 0 (Success)\n\n");
	} else if (code == 0) {
		printf("\nCommand Result : No Error\n\n");
	} else {
		const char *name = hsm_result_name(code);
		printf("\nError in execution: %s.\n\nCommand Result : 0x%x (%s)\n\n", name, code, name);
	}
	fflush(stdout);
}

static void emit_close(struct emit *e)
{
	if (e->mem)
		fclose(e->mem);
	free(e->lines);
	for (size_t i = 0; i < e->nkeep; i++)
		free(e->keep[i]);
	free(e->keep);
	memset(e, 0, sizeof(*e));
}

static void lost_source(const struct source *s, int r)
{
	if (nsrc > 1)
		fprintf(stderr, "hsmcm: lost hsm-sim on %s: %s\n", s->where, ped_strerror(r));
	else
		fprintf(stderr, "hsmcm: lost hsm-sim: %s\n", ped_strerror(r));
	if (json)
		return;
	printf("\nError in execution: %s.\n\nCommand Result : 0x%x (%s)\n\n", ped_err_name(PED_E_DEVICE_ERROR),
	       ped_err_code(PED_E_DEVICE_ERROR), ped_err_name(PED_E_DEVICE_ERROR));
	fflush(stdout);
}

/* One command on server s: -1 when s went away, else 0 (success) or 1.
 * e says where its output goes; *code_out gets its result. */
static int run_on(struct source *s, const char *line, struct emit *e, uint32_t *code_out)
{
	uint8_t type, *msg = NULL;
	size_t len = 0;
	int r, rc = -1;

	if ((r = ped_frame_send(s->fd, tty && !e->keep ? HSM_CTL_CMD_TTY : HSM_CTL_CMD, line, strlen(line), 10000)) !=
	    PED_OK) {
		lost_source(s, r);
		goto out;
	}
	for (;;) {
		if ((r = ped_framer_recv(&s->in, &type, &msg, &len, -1)) != PED_OK) {
			lost_source(s, r);
			goto out;
		}
		if (type == HSM_CTL_OUTPUT) {
			emit_line(e, s, msg, len);
			OPENSSL_free(msg);
			continue;
		}
		if (type == HSM_CTL_PROMPT) {
			r = answer_prompt(s->fd, msg, len);
			OPENSSL_free(msg);
			if (r != PED_OK) {
				lost_source(s, r);
				goto out;
			}
			continue;
		}
		if (type == HSM_CTL_FILE_GET || type == HSM_CTL_FILE_PUT) {
			r = answer_file(s->fd, type, msg, len, line);
			OPENSSL_free(msg);
			if (r != PED_OK) {
				lost_source(s, r);
				goto out;
			}
			continue;
		}
		if (type == HSM_CTL_RESULT && (len == 4 || len == 5)) {
			uint32_t code = ped_be32_get(msg);
			int success = len == 5 && (msg[4] & HSM_CTL_RESULT_SUCCESS);
			OPENSSL_free(msg);
			if (code_out)
				*code_out = code;
			emit_result(e, line, code, success, 0);
			rc = code == 0 ? 0 : 1;
			goto done;
		}
		OPENSSL_free(msg);
		fprintf(stderr, "hsmcm: unexpected message from hsm-sim\n");
		goto out;
	}
out:
	/* hsm-sim lost mid-command: the outcome is the device error */
	emit_result(e, line, 0, 0, 1);
done:
	return rc;
}

/* quiet: the result line is not printed (hsmcm's own slot list at start) */
static int run_command_as(struct source *s, const char *line, int quiet)
{
	struct emit e;
	int rc;
	if (emit_open(&e, quiet) != 0)
		return -1;
	rc = run_on(s, line, &e, NULL);
	emit_close(&e);
	return rc;
}

/* ---- several servers ----------------------------------------------------- */

static int word_prefix(const char *w, const char *full, size_t least)
{
	size_t n = strlen(w);
	return n >= least && n <= strlen(full) && !strncasecmp(w, full, n);
}

/* The words back into a line, a word with a blank quoted as typed. */
static int join_words(int argc, char **argv, char *out, size_t outlen)
{
	size_t o = 0;
	out[0] = '\0';
	for (int i = 0; i < argc; i++) {
		int q = strpbrk(argv[i], " \t") != NULL;
		int n = snprintf(out + o, outlen - o, "%s%s%s%s", i ? " " : "", q ? "\"" : "", argv[i], q ? "\"" : "");
		if (n < 0 || (size_t)n >= outlen - o)
			return -1;
		o += (size_t)n;
	}
	return 0;
}

/* The server whose slots hold global slot g, or NULL. */
static struct source *source_of(int g)
{
	for (int i = 0; i < nsrc; i++)
		if (g - srcs[i].offset >= srcs[i].lo && g - srcs[i].offset <= srcs[i].hi)
			return &srcs[i];
	return NULL;
}

/* A server's slot span, from its slot list: an HSM's admin slot reserves
 * the fifteen after it for partitions to come. */
static void learn_span(struct source *s, struct emit *e)
{
	int id = -1;
	s->lo = INT32_MAX;
	s->hi = -1;
	for (size_t i = 0; i < e->nkeep; i++) {
		const char *l = e->keep[i];
		if (!strncmp(l, "Slot Id ->", 10))
			id = atoi(l + 10);
		else if (id >= 0 && !strncmp(l, "Configuration ->", 16)) {
			int top = strstr(l, "Admin Partition") ? id + 15 : id;
			if (id < s->lo)
				s->lo = id;
			if (top > s->hi)
				s->hi = top;
			id = -1;
		}
	}
	if (s->hi < 0)
		s->lo = s->hi = 0;
}

/* Each server's slots after the ones before it. */
static int number_slots(void)
{
	int next = 0;
	for (int i = 0; i < nsrc; i++) {
		struct emit e;
		emit_open(&e, 1);
		e.keep = calloc(1, sizeof(char *));
		srcs[i].offset = 0;
		if (!e.keep || run_on(&srcs[i], "slot list", &e, NULL) != 0) {
			emit_close(&e);
			return -1;
		}
		learn_span(&srcs[i], &e);
		emit_close(&e);
		srcs[i].offset = i == 0 ? 0 : next - srcs[i].lo;
		next = srcs[i].hi + srcs[i].offset + 1;
	}
	return 0;
}

/* slot list across the servers: each one's slots, with where they are. */
static int slot_list_all(const char *line, int quiet)
{
	struct emit out;
	char current[64] = "";
	uint32_t code = 0, first = 0;
	int rc = 0;

	if (emit_open(&out, quiet) != 0)
		return -1;
	for (int i = 0; i < nsrc; i++) {
		struct emit e;
		emit_open(&e, 1);
		e.keep = calloc(1, sizeof(char *));
		int r = e.keep ? run_on(&srcs[i], "slot list", &e, &code) : -1;
		if (r < 0) {
			emit_close(&e);
			emit_close(&out);
			return -1;
		}
		if (r != 0 && !first)
			first = code;
		for (size_t j = 0; j < e.nkeep; j++) {
			const char *l = e.keep[j];
			if (!strncmp(l, "Current Slot Id:", 16)) {
				if (i == cur)
					snprintf(current, sizeof(current), "%s", l);
				continue;
			}
			emit_line(&out, NULL, (const uint8_t *)l, strlen(l));
			if (!strncmp(l, "Slot Id ->", 10)) {
				char where[sizeof(srcs[i].where) + 64];
				snprintf(where, sizeof(where), "Server ->               %.1200s%s", srcs[i].where,
					 srcs[i].tls ? "" : " (local hsm-sim)");
				emit_line(&out, NULL, (const uint8_t *)where, strlen(where));
			}
		}
		emit_close(&e);
	}
	if (current[0])
		emit_line(&out, NULL, (const uint8_t *)current, strlen(current));
	emit_result(&out, line, first, 0, 0);
	rc = first ? 1 : 0;
	emit_close(&out);
	return rc;
}

static void relay_drop(struct source *s)
{
	for (size_t i = 0; i < s->qn; i++) {
		struct relay_msg *m = &s->q[(s->qhead + i) % RELAY_QUEUE_MAX];
		OPENSSL_free(m->data);
		m->data = NULL;
	}
	s->qhead = s->qn = s->qbytes = 0;
	s->want = s->done = s->lost = 0;
	s->code = 0;
}

/* Answers s's request for the other half's next message if there is one,
 * or if the other half has ended (and can send no more). */
static int relay_serve(struct source *s, const struct source *other)
{
	uint8_t *out;
	int r;

	if (!s->want || s->done)
		return PED_OK;
	if (s->qn) {
		struct relay_msg *m = &s->q[s->qhead];
		if (!(out = OPENSSL_malloc(1 + m->len)))
			return PED_E_HOST_MEMORY;
		out[0] = 0;
		memcpy(out + 1, m->data, m->len);
		r = ped_frame_send(s->fd, HSM_CTL_PEER_REPLY, out, 1 + m->len, 10000);
		OPENSSL_free(out);
		s->qbytes -= m->len;
		OPENSSL_free(m->data);
		m->data = NULL;
		s->qhead = (s->qhead + 1) % RELAY_QUEUE_MAX;
		s->qn--;
		s->want = 0;
		return r;
	}
	if (other->done) {
		uint8_t ended = HSM_CTL_PEER_ENDED;
		s->want = 0;
		return ped_frame_send(s->fd, HSM_CTL_PEER_REPLY, &ended, 1, 10000);
	}
	return PED_OK;
}

/* One frame from half s of a relayed cloning. */
static void relay_frame(struct source *s, struct source *other, struct emit *e, const char *line, struct source **first)
{
	uint8_t type, *msg = NULL;
	size_t len = 0;
	int r = ped_framer_recv(&s->in, &type, &msg, &len, 0);

	if (r == PED_E_TIMED_OUT)
		return;
	if (r != PED_OK) {
		s->lost = s->done = 1;
		if (!*first)
			*first = s;
		fprintf(stderr, "hsmcm: lost hsm-sim on %s: %s\n", s->where, ped_strerror(r));
		return;
	}
	switch (type) {
	case HSM_CTL_OUTPUT:
		emit_line(e, s, msg, len);
		break;
	case HSM_CTL_PROMPT: {
		uint8_t no = 1; /* a half asks no one: its options say it all */
		r = ped_frame_send(s->fd, HSM_CTL_ANSWER, &no, 1, 10000);
		break;
	}
	case HSM_CTL_FILE_GET:
	case HSM_CTL_FILE_PUT: {
		static const char why[] = "\001hsmcm serves no file to a half of a cloning";
		r = ped_frame_send(s->fd, HSM_CTL_FILE_REPLY, why, sizeof(why) - 1, 10000);
		break;
	}
	case HSM_CTL_PEER_PUT:
		/* opaque: sealed for the other HSM, which alone can read or check it */
		if (len > HSM_CTL_PEER_MAX || other->qn == RELAY_QUEUE_MAX || other->qbytes + len > RELAY_BYTES_MAX) {
			fprintf(stderr, "hsmcm: %s sent more than a cloning carries: the cloning is stopped\n", s->where);
			r = PED_E_RANGE;
			break;
		}
		if (!other->done) {
			struct relay_msg *m = &other->q[(other->qhead + other->qn) % RELAY_QUEUE_MAX];
			m->data = msg;
			m->len = len;
			msg = NULL;
			other->qn++;
			other->qbytes += len;
		}
		r = relay_serve(other, s);
		if (r != PED_OK) {
			other->lost = other->done = 1;
			if (!*first)
				*first = other;
			r = PED_OK;
		}
		break;
	case HSM_CTL_PEER_GET:
		s->want = 1;
		r = relay_serve(s, other);
		break;
	case HSM_CTL_RESULT:
		if (len != 4 && len != 5) {
			r = PED_E_FRAME_TYPE;
			break;
		}
		s->code = ped_be32_get(msg);
		s->done = 1;
		if (s->code && !*first)
			*first = s;
		(void)relay_serve(other, s);
		break;
	default:
		r = PED_E_FRAME_TYPE;
	}
	OPENSSL_free(msg);
	if (r != PED_OK) {
		s->lost = s->done = 1;
		if (!*first)
			*first = s;
		fprintf(stderr, "hsmcm: %s: %s\n", s->where, ped_strerror(r));
		(void)relay_serve(other, s);
	}
	(void)line;
}

/* A backup or restore between the current slot's partition (on a) and a
 * Backup HSM of another server (b): each runs its half as a command of its
 * own session; hsmcm carries their sealed messages and prints their lines
 * as they come. The outcome is the first half's failure, else success. */
static int relay_cloning(struct source *a, const char *aline, struct source *b, const char *bline, const char *line)
{
	struct source *first = NULL;
	struct emit e;
	int r, rc;

	if (emit_open(&e, 0) != 0)
		return -1;
	relay_drop(a);
	relay_drop(b);
	if ((r = ped_frame_send(b->fd, HSM_CTL_CMD_PEER, bline, strlen(bline), 10000)) != PED_OK) {
		lost_source(b, r);
		emit_close(&e);
		return -1;
	}
	if ((r = ped_frame_send(a->fd, HSM_CTL_CMD_PEER, aline, strlen(aline), 10000)) != PED_OK) {
		a->lost = a->done = 1;
		first = a;
		(void)relay_serve(b, a);
	}
	uint64_t give_up = 0;
	while (!a->done || !b->done) {
		struct pollfd p[2] = {{.fd = a->fd, .events = POLLIN}, {.fd = b->fd, .events = POLLIN}};
		int pa = !a->done && ped_framer_pending(&a->in), pb = !b->done && ped_framer_pending(&b->in), wait = -1;
		/* one half failed: the other is told and ends at once, unless its
		 * link is gone without a word (then a retransmitting TCP would keep
		 * hsmcm waiting for minutes) */
		if (first && !give_up)
			give_up = ped_now_ms() + RELAY_END_WAIT_MS;
		if (give_up) {
			uint64_t now = ped_now_ms();
			if (now >= give_up) {
				struct source *left = a->done ? b : a;
				fprintf(stderr, "hsmcm: hsm-sim on %s did not end its half of the cloning: given up\n", left->where);
				left->lost = left->done = 1;
				break;
			}
			wait = (int)(give_up - now);
		}
		if (!pa && !pb) {
			p[0].fd = a->done ? -1 : a->fd;
			p[1].fd = b->done ? -1 : b->fd;
			if (poll(p, 2, wait) < 0 && errno != EINTR)
				break;
		}
		if (!a->done && (pa || p[0].revents))
			relay_frame(a, b, &e, line, &first);
		if (!b->done && (pb || p[1].revents))
			relay_frame(b, a, &e, line, &first);
	}
	if (first && first->lost) {
		if (!json)
			printf("\nError in execution: %s.\n\nCommand Result : 0x%x (%s)\n\n", ped_err_name(PED_E_DEVICE_ERROR),
			       ped_err_code(PED_E_DEVICE_ERROR), ped_err_name(PED_E_DEVICE_ERROR));
		emit_result(&e, line, 0, 0, 1);
		rc = -1;
	} else {
		emit_result(&e, line, first ? first->code : 0, 0, 0);
		rc = first ? 1 : 0;
	}
	emit_close(&e);
	relay_drop(a);
	relay_drop(b);
	return rc;
}

static void too_long_line(void)
{
	fprintf(stderr, "hsmcm: the command, rewritten for its server, is longer than %d characters: not run\n",
		HSM_CTL_LINE_MAX - 1);
}

/* A command among several servers: see the head of this file. */
static int dispatch(const char *line, int quiet)
{
	char buf[HSM_CTL_LINE_MAX + 1], num[16], out[HSM_CTL_LINE_MAX + 64], peer_line[HSM_CTL_LINE_MAX + 64];
	char *argv[64], *argv2[66];
	int argc, at = 0, g = 0, rc;
	struct source *s;

	if (nsrc == 1)
		return run_command_as(&srcs[0], line, quiet);
	snprintf(buf, sizeof(buf), "%s", line);
	argc = hsm_ctl_split_words(buf, argv, 64);
	if (argc >= 2 && !strcasecmp(argv[0], "slot") && word_prefix(argv[1], "list", 1)) {
		rc = slot_list_all(line, quiet);
		goto out;
	}
	if (argc < 1 || !hsm_ctl_slot_option(argc, argv, &at, &g)) {
		rc = run_command_as(&srcs[cur], line, quiet);
		goto out;
	}
	s = source_of(g);
	if (!s)
		s = &srcs[cur]; /* its own "no slot" error, in these numbers */
	/* the slot named, in its server's own numbers */
	char *eq = strchr(argv[at], '=');
	snprintf(num, sizeof(num), "%d", g - s->offset);
	if (eq && argv[at][0] == '-') {
		char opt[HSM_CTL_LINE_MAX];
		snprintf(opt, sizeof(opt), "%.*s=%s", (int)(eq - argv[at]), argv[at], num);
		snprintf(peer_line, sizeof(peer_line), "%s", opt);
		argv[at] = peer_line;
	} else {
		argv[at] = num;
	}
	int cloning = argc >= 3 && word_prefix(argv[0], "partition", 3) && word_prefix(argv[1], "archive", 2) &&
		      (word_prefix(argv[2], "backup", 1) || word_prefix(argv[2], "restore", 1));
	if (cloning && s != &srcs[cur]) {
		/* the partition's half: no -slot, -peer; the Backup HSM's: its verb */
		int n = 0, restore = word_prefix(argv[2], "restore", 1);
		char aline[HSM_CTL_LINE_MAX + 64];
		for (int i = 0; i < argc; i++) {
			int opt_word = eq ? i == at : (i == at - 1 || i == at);
			if (!opt_word)
				argv2[n++] = argv[i];
		}
		argv2[n++] = "-peer";
		if (join_words(n, argv2, aline, sizeof(aline)) != 0) {
			too_long_line();
			rc = 1;
			goto out;
		}
		argv[2] = restore ? "peerrestore" : "peerbackup";
		if (join_words(argc, argv, out, sizeof(out)) != 0) {
			too_long_line();
			rc = 1;
			goto out;
		}
		rc = relay_cloning(&srcs[cur], aline, s, out, line);
		OPENSSL_cleanse(aline, sizeof(aline));
		goto out;
	}
	if (join_words(argc, argv, out, sizeof(out)) != 0) {
		too_long_line();
		rc = 1;
		goto out;
	}
	rc = run_command_as(s, out, quiet);
	if (rc == 0 && !strcasecmp(argv[0], "slot") && word_prefix(argv[1], "set", 1))
		cur = (int)(s - srcs);
out:
	/* a command line may carry a secret (a challenge, a password) */
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(out, sizeof(out));
	OPENSSL_cleanse(peer_line, sizeof(peer_line));
	return rc;
}

static int run_command(const char *line)
{
	return dispatch(line, 0);
}

struct script_ctx {
	int echo;
};

/* A command is sent whole or not at all: hsm-sim reads at most
 * HSM_CTL_LINE_MAX bytes and drops the connection over that. */
static void too_long(const char *what, size_t len, const char *unlike)
{
	fprintf(stderr, "hsmcm: %s of %zu characters refused: at most %d; nothing of it was %s\n", what, len,
		HSM_CTL_LINE_MAX - 1, unlike);
}

static int script_command(void *arg, char *c)
{
	struct script_ctx *x = arg;
	size_t len = strlen(c);
	if (len >= HSM_CTL_LINE_MAX) {
		too_long("command", len, "run");
		return 1;
	}
	if (x->echo && !json)
		printf("hsmcm:> %s\n", c);
	return run_command(c) != 0 ? 1 : 0;
}

/* Commands separated by newlines or ';'; a line starting with '#' is a comment. */
static int run_script(char *text, int echo)
{
	struct script_ctx x = {echo};
	return hsm_ctl_script_each(text, script_command, &x);
}

static void history_path(char *out, size_t len)
{
	if (ped_data_path("hsmcm_history", out, len) != PED_OK)
		out[0] = '\0';
}

/* With want 0 prints every history entry; else copies entry want (from 1)
 * into out and says whether there is one. Entries are read as the prompt
 * reads lines: one too long or holding a NUL (a file edited by hand) is
 * counted, never cut into more entries. */
static int history_walk(FILE *hist, int want, char *out, size_t outlen)
{
	char h[HSM_CTL_LINE_MAX];
	size_t hl;
	int n = 0, r, found = 0;

	rewind(hist);
	while ((r = hsm_ctl_read_line(hist, h, sizeof(h), &hl)) != PED_E_CLOSED && r != PED_E_IO) {
		n++;
		if (want == 0) {
			printf("%4d  %s\n", n, r == PED_OK ? h : "(unreadable entry)");
		} else if (n == want) {
			if (r == PED_OK) {
				snprintf(out, outlen, "%s", hsm_ctl_trim(h));
				found = 1;
			}
			break;
		}
	}
	OPENSSL_cleanse(h, sizeof(h));
	clearerr(hist);
	fseek(hist, 0, SEEK_END);
	return found;
}

static int interactive(void)
{
	char line[HSM_CTL_LINE_MAX], hpath[1024];
	FILE *hist = NULL;
	size_t len;
	int r, rc = 0;

	history_path(hpath, sizeof(hpath));
	if (hpath[0]) {
		/* 0600 from the start: a fopen then fchmod left a window at the umask */
		int hfd = open(hpath, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (hfd >= 0 && (hist = fdopen(hfd, "a+")) == NULL)
			close(hfd);
		if (hist)
			fchmod(fileno(hist), 0600);
	}
	printf("hsmcm %s (OpenPED). Type 'exit' to quit, 'history' for earlier commands.\n\n", PED_VERSION);
	/* as lunacm starts: the slots there are */
	printf("\tAvailable HSMs:\n\n");
	if (dispatch("slot list", 1) < 0)
		return 1;
	/* each line is wiped once done with: it may hold a secret */
	for (;; OPENSSL_cleanse(line, sizeof(line))) {
		printf("hsmcm:> ");
		fflush(stdout);
		/* A line over the limit is refused whole: fgets cut it into two
		 * commands, the second run and recorded (a secret's tail). */
		r = hsm_ctl_read_line(stdin, line, sizeof(line), &len);
		if (r == PED_E_CLOSED || r == PED_E_IO)
			break;
		if (r == PED_E_RANGE) {
			too_long("line", len, "run or recorded");
			continue;
		}
		if (r == PED_E_INVALID) {
			fprintf(stderr, "hsmcm: a line holding a NUL byte is refused; nothing of it was run or recorded\n");
			continue;
		}
		char *c = hsm_ctl_trim(line);
		if (!*c)
			continue;
		if (!strcmp(c, "exit") || !strcmp(c, "quit"))
			break;
		if (!strcmp(c, "history")) {
			if (hist)
				history_walk(hist, 0, NULL, 0);
			continue;
		}
		if (c[0] == '!' && hist) {
			/* !N re-runs history entry N */
			int want = atoi(c + 1);
			if (want <= 0 || !history_walk(hist, want, line, sizeof(line))) {
				printf("no history entry %d\n", want);
				continue;
			}
			c = line;
			printf("%s\n", c);
		}
		/* secrets typed on the command line (challenges) stay out of the history */
		if (hist && !hsm_ctl_line_has_secret(c)) {
			fprintf(hist, "%s\n", c);
			fflush(hist);
		}
		if (run_command(c) < 0) {
			rc = 1;
			break;
		}
	}
	OPENSSL_cleanse(line, sizeof(line));
	if (hist)
		fclose(hist);
	return rc;
}

/* The same shell on a distant hsm-sim: its link is TLS with the
 * certificates vtl registered (ped/netcfg.h), the same frames inside. */
static int add_server(const struct ped_net_client *nc, size_t i, int timeout_ms, int quiet_failure)
{
	struct source *s = &srcs[nsrc];
	char why[1024];
	int r;

	if ((r = ped_netcfg_dial(nc, i, timeout_ms, &s->fd, NULL, why, sizeof(why))) != PED_OK) {
		if (quiet_failure)
			fprintf(stderr, "hsmcm: %s is not reachable (%s): its slots are not shown\n", nc->s[i].name, why);
		else
			fprintf(stderr, "hsmcm: cannot reach hsm-sim on %s: %s\n", nc->s[i].name, why);
		return r;
	}
	snprintf(s->where, sizeof(s->where), "%s", nc->s[i].name);
	s->tls = 1;
	nsrc++;
	return PED_OK;
}

static int add_local(const char *path, int required)
{
	struct source *s = &srcs[nsrc];
	if (ped_unix_connect(path, &s->fd) != PED_OK) {
		if (required)
			fprintf(stderr, "hsmcm: cannot reach hsm-sim at %s: %s\n", path, strerror(errno));
		return PED_E_SOCKET;
	}
	snprintf(s->where, sizeof(s->where), "%s", path);
	nsrc++;
	return PED_OK;
}

/* -server HOST: HOST, the local hsm-sim, the other registered servers. */
static int connect_servers(const char *host, const char *socket_path, int socket_given)
{
	struct ped_net_client nc;
	char conf[1024], why[1024];
	int i, r;

	ped_netcfg_path(HSMCM_NETCFG_DEFAULT, conf, sizeof(conf));
	if ((r = ped_netcfg_load(&nc, conf, why, sizeof(why))) != PED_OK) {
		fprintf(stderr, "hsmcm: %s\n", why);
		return r;
	}
	if ((i = ped_netcfg_find(&nc, host)) < 0) {
		fprintf(stderr, "hsmcm: %s is not a registered server (vtl addServer -n %s -c server.pem; %s)\n", host,
			host, conf);
		return PED_E_NOT_FOUND;
	}
	if ((r = add_server(&nc, (size_t)i, 10000, 0)) != PED_OK)
		return r;
	if (socket_path[0] && add_local(socket_path, socket_given) != PED_OK && socket_given)
		return PED_E_SOCKET;
	for (size_t j = 0; j < nc.n; j++)
		if ((int)j != i)
			(void)add_server(&nc, j, 5000, 1);
	return PED_OK;
}

static int command_has_secret(void *arg, char *cmd)
{
	(void)arg;
	return hsm_ctl_line_has_secret(cmd);
}

/* Whether any command of a -c script carries a secret (the history's
 * check, command by command: object create's -value is one only there). */
static int script_has_secret(const char *text)
{
	char *copy = strdup(text);
	size_t n = strlen(text);
	int r = 1;

	if (copy) {
		r = hsm_ctl_script_each(copy, command_has_secret, NULL) != 0;
		OPENSSL_cleanse(copy, n);
		free(copy);
	}
	return r;
}

int main(int argc, char **argv)
{
	struct ped_opt opts[] = {
		{.name = "socket", .kind = PED_OPT_STRING, .arg = "PATH", .help = "hsm-sim's control socket"},
		{.name = "c", .kind = PED_OPT_STRING, .arg = "\"CMD; CMD\"", .help = "run these commands and exit"},
		{.name = "f", .kind = PED_OPT_STRING, .arg = "FILE", .help = "run the commands in FILE and exit"},
		{.name = "server", .kind = PED_OPT_STRING, .arg = "HOST",
		 .help = "a network HSM registered with vtl addServer, over TLS; its slots first, then the local "
			 "hsm-sim's and the other registered servers'"},
		{.name = "version", .aliases = "v", .kind = PED_OPT_FLAG, .help = "print the version"},
		{.name = "json", .kind = PED_OPT_FLAG, .help = "with -c or -f: each command's result as a JSON object on a line"},
		{.name = NULL},
	};
	char err[256], path[1024] = "", *script = NULL;
	size_t script_len = 0;
	int r, rc;

	signal(SIGPIPE, SIG_IGN); /* hsm-sim going away is an error to print, not a silent death */
	tty = isatty(STDIN_FILENO);
	r = ped_opts_parse(opts, argc, argv, 1, NULL, 0, NULL, err, sizeof(err));
	if (r == PED_OPTS_HELP) {
		ped_opts_usage(stdout, USAGE, opts);
		return 0;
	}
	if (r != PED_OK) {
		fprintf(stderr, "hsmcm: %s\n%s\n", err, USAGE);
		return 2;
	}
	if (ped_opts_seen(opts, "version")) {
		printf("hsmcm %s\n", PED_VERSION);
		return 0;
	}
	/* A secret in -c (a -password, a challenge, an object's -value) is on
	 * the command line, which every local user reads (ps, /proc/PID/cmdline)
	 * for as long as hsmcm runs, a PED ceremony included: the commands are
	 * copied and the argument wiped in place before anything else. */
	if (ped_opts_seen(opts, "c")) {
		char *v = (char *)ped_opts_str(opts, "c", "");
		if (!(script = strdup(v))) {
			fprintf(stderr, "hsmcm: out of memory\n");
			return 1;
		}
		script_len = strlen(script);
		if (script_has_secret(script))
			OPENSSL_cleanse(v, strlen(v));
	}
	json = ped_opts_seen(opts, "json");
	if (json && !ped_opts_seen(opts, "c") && !ped_opts_seen(opts, "f")) {
		fprintf(stderr, "hsmcm: -json is for -c or -f (the interactive shell is for people)\n%s\n", USAGE);
		return 2;
	}
	if (ped_opts_seen(opts, "socket"))
		snprintf(path, sizeof(path), "%s", ped_opts_str(opts, "socket", ""));
	else if (hsm_ctl_default_socket(path, sizeof(path)) != PED_OK)
		path[0] = '\0';
	if (ped_opts_seen(opts, "server")) {
		if (connect_servers(ped_opts_str(opts, "server", ""), path, ped_opts_seen(opts, "socket")) != PED_OK) {
			rc = 1;
			goto out;
		}
	} else if (!path[0]) {
		fprintf(stderr, "hsmcm: no runtime directory\n");
		rc = 1;
		goto out;
	} else if (add_local(path, 1) != PED_OK) {
		rc = 1;
		goto out;
	}
	for (int i = 0; i < nsrc; i++) {
		ped_set_nonblock(srcs[i].fd, 1);
		ped_framer_init(&srcs[i].in, srcs[i].fd, PED_FRAME_MAX_PAYLOAD);
	}
	if (nsrc > 1 && number_slots() != 0) {
		rc = 1;
		goto out;
	}
	if (script) {
		rc = run_script(script, 1);
	} else if (ped_opts_seen(opts, "f")) {
		uint8_t *buf = NULL;
		size_t len = 0;
		if ((r = ped_file_read_bounded(ped_opts_str(opts, "f", ""), SCRIPT_MAX, &buf, &len)) != PED_OK) {
			fprintf(stderr, "hsmcm: cannot read %s: %s\n", ped_opts_str(opts, "f", ""), ped_strerror(r));
			rc = 1;
		} else {
			char *text = malloc(len + 1);
			if (text) {
				memcpy(text, buf, len);
				text[len] = '\0';
				rc = memchr(buf, '\0', len) ? (fprintf(stderr, "hsmcm: NUL byte in script\n"), 1)
							    : run_script(text, 1);
				OPENSSL_cleanse(text, len);
				free(text);
			} else {
				rc = 1;
			}
			OPENSSL_cleanse(buf, len);
			free(buf);
		}
	} else {
		rc = interactive();
	}
out:
	if (script) {
		OPENSSL_cleanse(script, script_len);
		free(script);
	}
	for (int i = 0; i < nsrc; i++) {
		ped_framer_free(&srcs[i].in);
		if (srcs[i].tls)
			ped_tls_proxy_close(srcs[i].fd, 2000);
		else
			close(srcs[i].fd);
	}
	return rc;
}
