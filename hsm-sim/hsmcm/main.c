/* hsmcm: the operator shell of hsm-sim, in lunacm's syntax.
 *
 *   hsmcm [-socket PATH]                 interactive, "hsmcm:>" prompt
 *   hsmcm -c "cmd; cmd" | -f FILE        scripted: stops at the first failure, exit 1
 */
#include "hsm/control.h"
#include "ped/error.h"
#include "ped/fileio.h"
#include "ped/link.h"
#include "ped/net.h"
#include "ped/opts.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USAGE "hsmcm [-socket PATH] [-c \"cmd; cmd\" | -f FILE]"
#define SCRIPT_MAX (1u << 20)
#define HISTORY_MAX 500

/* hsm-sim went away mid-command (killed, crashed): the command's outcome is
 * unknown, reported as the device error it is, with a CKR name like any other
 * failure, so scripts that look for "Command Result" see it. */
static void lost(int r)
{
	fprintf(stderr, "hsmcm: lost hsm-sim: %s\n", ped_strerror(r));
	printf("\nError in execution: %s.\n\nCommand Result : 0x%x (%s)\n\n", ped_err_name(PED_E_DEVICE_ERROR),
	       ped_err_code(PED_E_DEVICE_ERROR), ped_err_name(PED_E_DEVICE_ERROR));
	fflush(stdout);
}

static int run_command(int fd, struct ped_framer *in, const char *line)
{
	uint8_t type, *msg = NULL;
	size_t len = 0;
	int r;

	if ((r = ped_frame_send(fd, HSM_CTL_CMD, line, strlen(line), 10000)) != PED_OK) {
		lost(r);
		return -1;
	}
	for (;;) {
		if ((r = ped_framer_recv(in, &type, &msg, &len, -1)) != PED_OK) {
			lost(r);
			return -1;
		}
		if (type == HSM_CTL_OUTPUT) {
			printf("\t%.*s\n", (int)len, (const char *)msg);
			fflush(stdout);
			OPENSSL_free(msg);
			continue;
		}
		if (type == HSM_CTL_RESULT && len == 4) {
			uint32_t code = (uint32_t)msg[0] << 24 | (uint32_t)msg[1] << 16 | (uint32_t)msg[2] << 8 | msg[3];
			OPENSSL_free(msg);
			if (code == 0) {
				printf("\nCommand Result : No Error\n\n");
			} else {
				const char *name = ped_err_name(ped_err_from_code(code));
				printf("\nError in execution: %s.\n\nCommand Result : 0x%x (%s)\n\n", name, code, name);
			}
			fflush(stdout);
			return code == 0 ? 0 : 1;
		}
		OPENSSL_free(msg);
		fprintf(stderr, "hsmcm: unexpected message from hsm-sim\n");
		return -1;
	}
}

struct script_ctx {
	int fd;
	struct ped_framer *in;
	int echo;
};

static int script_command(void *arg, char *c)
{
	struct script_ctx *x = arg;
	if (x->echo)
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

static int interactive(int fd, struct ped_framer *in)
{
	char line[HSM_CTL_LINE_MAX], hpath[1024];
	FILE *hist = NULL;

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
	for (;;) {
		printf("hsmcm:> ");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			break;
		char *c = hsm_ctl_trim(line);
		if (!*c)
			continue;
		if (!strcmp(c, "exit") || !strcmp(c, "quit"))
			break;
		if (!strcmp(c, "history")) {
			char h[HSM_CTL_LINE_MAX];
			int n = 0;
			if (hist) {
				rewind(hist);
				while (fgets(h, sizeof(h), hist))
					printf("%4d  %s", ++n, h);
				fseek(hist, 0, SEEK_END);
			}
			continue;
		}
		if (c[0] == '!' && hist) {
			/* !N re-runs history entry N */
			int want = atoi(c + 1), n = 0;
			char h[HSM_CTL_LINE_MAX];
			rewind(hist);
			c = NULL;
			while (fgets(h, sizeof(h), hist))
				if (++n == want) {
					snprintf(line, sizeof(line), "%s", hsm_ctl_trim(h));
					c = line;
					break;
				}
			fseek(hist, 0, SEEK_END);
			if (!c) {
				printf("no history entry %d\n", want);
				continue;
			}
			printf("%s\n", c);
		}
		/* secrets typed on the command line (challenges) stay out of the history */
		if (hist && !hsm_ctl_line_has_secret(c)) {
			fprintf(hist, "%s\n", c);
			fflush(hist);
		}
		if (run_command(fd, in, c) < 0)
			return 1;
	}
	if (hist)
		fclose(hist);
	return 0;
}

int main(int argc, char **argv)
{
	struct ped_opt opts[] = {
		{.name = "socket", .kind = PED_OPT_STRING, .arg = "PATH", .help = "hsm-sim's control socket"},
		{.name = "c", .kind = PED_OPT_STRING, .arg = "\"CMD; CMD\"", .help = "run these commands and exit"},
		{.name = "f", .kind = PED_OPT_STRING, .arg = "FILE", .help = "run the commands in FILE and exit"},
		{.name = "version", .kind = PED_OPT_FLAG, .help = "print the version"},
		{.name = NULL},
	};
	struct ped_framer in;
	char err[256], path[1024];
	int fd, r, rc;

	signal(SIGPIPE, SIG_IGN); /* hsm-sim going away is an error to print, not a silent death */
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
	if (ped_opts_seen(opts, "socket"))
		snprintf(path, sizeof(path), "%s", ped_opts_str(opts, "socket", ""));
	else if (hsm_ctl_default_socket(path, sizeof(path)) != PED_OK) {
		fprintf(stderr, "hsmcm: no runtime directory\n");
		return 1;
	}
	if (ped_unix_connect(path, &fd) != PED_OK) {
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
	close(fd);
	return rc;
}
