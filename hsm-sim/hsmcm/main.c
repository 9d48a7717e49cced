/* hsmcm: the operator shell of hsm-sim, in lunacm's syntax.
 *
 *   hsmcm [-socket PATH | -server HOST]  interactive, "hsmcm:>" prompt
 *   hsmcm -c "cmd; cmd" | -f FILE        scripted: stops at the first failure, exit 1
 */
#include "hsm/control.h"
#include "hsm/result.h"
#include "ped/buf.h"
#include "ped/error.h"
#include "ped/json.h"
#include "ped/fileio.h"
#include "ped/link.h"
#include "ped/net.h"
#include "ped/netcfg.h"
#include "ped/opts.h"
#include "ped/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USAGE "hsmcm [-socket PATH | -server HOST] [-c \"cmd; cmd\" | -f FILE] [-json]"

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

static void lost(int r)
{
	fprintf(stderr, "hsmcm: lost hsm-sim: %s\n", ped_strerror(r));
	if (json)
		return; /* the command's object is written by the caller */
	printf("\nError in execution: %s.\n\nCommand Result : 0x%x (%s)\n\n", ped_err_name(PED_E_DEVICE_ERROR),
	       ped_err_code(PED_E_DEVICE_ERROR), ped_err_name(PED_E_DEVICE_ERROR));
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

/* quiet: the result line is not printed (hsmcm's own slot list at start) */
static int run_command_as(int fd, struct ped_framer *in, const char *line, int quiet)
{
	uint8_t type, *msg = NULL;
	size_t len = 0, olen = 0;
	char *lines = NULL;
	int r, rc = -1, nlines = 0;
	FILE *out = json && !quiet ? open_memstream(&lines, &olen) : NULL;

	if (json && !quiet && !out)
		return -1;
	if ((r = ped_frame_send(fd, tty ? HSM_CTL_CMD_TTY : HSM_CTL_CMD, line, strlen(line), 10000)) != PED_OK) {
		lost(r);
		goto out;
	}
	for (;;) {
		if ((r = ped_framer_recv(in, &type, &msg, &len, -1)) != PED_OK) {
			lost(r);
			goto out;
		}
		if (type == HSM_CTL_OUTPUT) {
			if (out) {
				char *text = strndup((const char *)msg, len);
				if (text) {
					if (nlines++)
						fputc(',', out);
					ped_json_string(out, text);
					free(text);
				}
			} else if (!json) {
				printf("\t%.*s\n", (int)len, (const char *)msg);
				fflush(stdout);
			}
			OPENSSL_free(msg);
			continue;
		}
		if (type == HSM_CTL_PROMPT) {
			r = answer_prompt(fd, msg, len);
			OPENSSL_free(msg);
			if (r != PED_OK) {
				lost(r);
				goto out;
			}
			continue;
		}
		if (type == HSM_CTL_FILE_GET || type == HSM_CTL_FILE_PUT) {
			r = answer_file(fd, type, msg, len, line);
			OPENSSL_free(msg);
			if (r != PED_OK) {
				lost(r);
				return -1;
			}
			continue;
		}
		if (type == HSM_CTL_RESULT && (len == 4 || len == 5)) {
			uint32_t code = ped_be32_get(msg);
			int success = len == 5 && (msg[4] & HSM_CTL_RESULT_SUCCESS);
			OPENSSL_free(msg);
			if (out) {
				fclose(out);
				out = NULL;
				json_result(line, lines, code, success);
			} else if (json) {
				;
			} else if (quiet && code == 0) {
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
			rc = code == 0 ? 0 : 1;
			goto out;
		}
		OPENSSL_free(msg);
		fprintf(stderr, "hsmcm: unexpected message from hsm-sim\n");
		goto out;
	}
out:
	if (out) {
		fclose(out);
		/* hsm-sim lost mid-command: the outcome is the device error */
		json_result(line, lines, (uint32_t)ped_err_code(PED_E_DEVICE_ERROR), 0);
	}
	free(lines);
	return rc;
}

static int run_command(int fd, struct ped_framer *in, const char *line)
{
	return run_command_as(fd, in, line, 0);
}

struct script_ctx {
	int fd;
	struct ped_framer *in;
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
	return run_command(x->fd, x->in, c) != 0 ? 1 : 0;
}

/* Commands separated by newlines or ';'; a line starting with '#' is a comment. */
static int run_script(int fd, struct ped_framer *in, char *text, int echo)
{
	struct script_ctx x = {fd, in, echo};
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

static int interactive(int fd, struct ped_framer *in)
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
	if (run_command_as(fd, in, "slot list", 1) < 0)
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
		if (run_command(fd, in, c) < 0) {
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
static int connect_server(const char *host, int *fd)
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
	if ((r = ped_netcfg_dial(&nc, (size_t)i, 10000, fd, NULL, why, sizeof(why))) != PED_OK)
		fprintf(stderr, "hsmcm: cannot reach hsm-sim on %s: %s\n", host, why);
	return r;
}

int main(int argc, char **argv)
{
	struct ped_opt opts[] = {
		{.name = "socket", .kind = PED_OPT_STRING, .arg = "PATH", .help = "hsm-sim's control socket"},
		{.name = "c", .kind = PED_OPT_STRING, .arg = "\"CMD; CMD\"", .help = "run these commands and exit"},
		{.name = "f", .kind = PED_OPT_STRING, .arg = "FILE", .help = "run the commands in FILE and exit"},
		{.name = "server", .kind = PED_OPT_STRING, .arg = "HOST",
		 .help = "a network HSM registered with vtl addServer, over TLS"},
		{.name = "version", .aliases = "v", .kind = PED_OPT_FLAG, .help = "print the version"},
		{.name = "json", .kind = PED_OPT_FLAG, .help = "with -c or -f: each command's result as a JSON object on a line"},
		{.name = NULL},
	};
	struct ped_framer in;
	char err[256], path[1024];
	int fd, r, rc;

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
	json = ped_opts_seen(opts, "json");
	if (json && !ped_opts_seen(opts, "c") && !ped_opts_seen(opts, "f")) {
		fprintf(stderr, "hsmcm: -json is for -c or -f (the interactive shell is for people)\n%s\n", USAGE);
		return 2;
	}
	if (ped_opts_seen(opts, "server")) {
		if (connect_server(ped_opts_str(opts, "server", ""), &fd) != PED_OK)
			return 1;
	} else if (ped_opts_seen(opts, "socket"))
		snprintf(path, sizeof(path), "%s", ped_opts_str(opts, "socket", ""));
	else if (hsm_ctl_default_socket(path, sizeof(path)) != PED_OK) {
		fprintf(stderr, "hsmcm: no runtime directory\n");
		return 1;
	}
	if (!ped_opts_seen(opts, "server") && ped_unix_connect(path, &fd) != PED_OK) {
		fprintf(stderr, "hsmcm: cannot reach hsm-sim at %s: %s\n", path, strerror(errno));
		return 1;
	}
	ped_set_nonblock(fd, 1);
	ped_framer_init(&in, fd, PED_FRAME_MAX_PAYLOAD);
	if (ped_opts_seen(opts, "c")) {
		char *text = strdup(ped_opts_str(opts, "c", ""));
		rc = text ? run_script(fd, &in, text, 1) : 1;
		free(text);
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
							    : run_script(fd, &in, text, 1);
				OPENSSL_cleanse(text, len);
				free(text);
			} else {
				rc = 1;
			}
			OPENSSL_cleanse(buf, len);
			free(buf);
		}
	} else {
		rc = interactive(fd, &in);
	}
	ped_framer_free(&in);
	if (ped_opts_seen(opts, "server"))
		ped_tls_proxy_close(fd, 2000);
	else
		close(fd);
	return rc;
}
