/* The command syntax shared by hsmcm and hsm-sim: lines read at the prompt
 * and scripts cut into commands (hsmcm), commands cut into words (hsm-sim,
 * and hsmcm's check that keeps secrets out of its history). Here, not in
 * either program, so tests/fuzz/fuzz_hsmcm.c runs the very code both use. */
#include "hsm/control.h"

#include "ped/error.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int hsm_ctl_read_line(FILE *f, char *buf, size_t size, size_t *len)
{
	size_t n = 0;
	int c, nul = 0, r;

	*len = 0;
	if (size == 0)
		return PED_E_INVALID;
	while ((c = getc(f)) != EOF && c != '\n') {
		if (n < size - 1)
			buf[n] = (char)c;
		nul |= c == '\0';
		if (n < SIZE_MAX)
			n++;
	}
	*len = n;
	if (c == EOF && ferror(f))
		r = PED_E_IO;
	else if (c == EOF && n == 0)
		r = PED_E_CLOSED;
	else if (n > size - 1)
		r = PED_E_RANGE;
	else if (nul)
		r = PED_E_INVALID;
	else
		r = PED_OK;
	if (r == PED_OK) {
		buf[n] = '\0';
	} else {
		/* what was read may be part of a secret */
		OPENSSL_cleanse(buf, size);
		buf[0] = '\0';
	}
	return r;
}

char *hsm_ctl_trim(char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

int hsm_ctl_script_each(char *text, int (*fn)(void *arg, char *cmd), void *arg)
{
	char *lsave = NULL;
	for (char *l = strtok_r(text, "\n", &lsave); l; l = strtok_r(NULL, "\n", &lsave)) {
		char *csave = NULL;
		if (*hsm_ctl_trim(l) == '#')
			continue;
		for (char *c = strtok_r(l, ";", &csave); c; c = strtok_r(NULL, ";", &csave)) {
			int r;
			c = hsm_ctl_trim(c);
			if (!*c)
				continue;
			if ((r = fn(arg, c)) != 0)
				return r;
		}
	}
	return 0;
}

int hsm_ctl_split_words(char *line, char **argv, int max)
{
	int argc = 0;
	char *p = line;
	while (*p) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		if (argc == max)
			return -1;
		if (*p == '"') {
			argv[argc++] = ++p;
			while (*p && *p != '"')
				p++;
		} else {
			argv[argc++] = p;
			while (*p && !isspace((unsigned char)*p))
				p++;
		}
		if (*p)
			*p++ = '\0';
	}
	return argc;
}

/* Whether name (len bytes, dashes gone) may be a spelling of one of the
 * space-separated option names in names: the parser takes any case and any
 * unique prefix, so every prefix counts here, unique or not. */
static int spells(const char *name, size_t len, const char *names)
{
	for (const char *p = names; *p;) {
		size_t n = strcspn(p, " ");
		if (len && len <= n && strncasecmp(p, name, len) == 0)
			return 1;
		p += n;
		p += strspn(p, " ");
	}
	return 0;
}

/* Whether name (len bytes) is exactly one of names. */
static int is_one_of(const char *name, size_t len, const char *names)
{
	for (const char *p = names; *p;) {
		size_t n = strcspn(p, " ");
		if (len == n && strncasecmp(p, name, len) == 0)
			return 1;
		p += n;
		p += strspn(p, " ");
	}
	return 0;
}

/* The names and aliases of hsm-sim's options that take a secret
 * (commands.c: role and ped -password, role -challenge, partition
 * archive's -password, -sopassword and -domain, a domain being a secret of
 * password-authenticated HSMs), and object create's -value, an object
 * being what only the HSM may see. */
static const char secret_options[] = "password pwd p pas challenge c challengesecret sopassword sop domain do";

static int word_is_secret_option(const char *cmd, const char *w, int bare_allowed)
{
	/* A mistyped or another tool's spelling (-passwrod, -newpw) is refused
	 * by the parser, but its value is still a secret. */
	static const char *const stem[] = {"chal", "pass", "pw", "secret", NULL};
	int object = cmd && strcasecmp(cmd, "object") == 0;
	size_t n;

	if (w[0] != '-') {
		/* hsm-sim takes an option's exact name without its dash as the
		 * option ("role login -name co password 1234") */
		n = strlen(w);
		return bare_allowed && (is_one_of(w, n, secret_options) || (object && is_one_of(w, n, "value")));
	}
	w += strspn(w, "-");
	n = strcspn(w, "="); /* -password=1234: refused by the parser, still a secret */
	if (spells(w, n, secret_options) || (object && spells(w, n, "value")))
		return 1;
	for (int i = 0; stem[i]; i++)
		for (const char *p = w; *p; p++)
			if (strncasecmp(p, stem[i], strlen(stem[i])) == 0)
				return 1;
	return 0;
}

int hsm_ctl_line_has_secret(const char *line)
{
	/* a line of HSM_CTL_LINE_MAX - 1 bytes has at most that many / 2 + 1 words */
	char buf[HSM_CTL_LINE_MAX], *argv[HSM_CTL_LINE_MAX / 2 + 1];
	size_t len = strlen(line);
	int argc, r = 1;

	/* longer than hsmcm sends: never recorded, whatever it holds */
	if (len >= sizeof(buf))
		return 1;
	memcpy(buf, line, len + 1);
	/* the words hsm-sim's parser will see: "co"-challenge is two words */
	if ((argc = hsm_ctl_split_words(buf, argv, (int)(sizeof(argv) / sizeof(argv[0])))) < 0)
		goto out;
	r = 0;
	for (int i = 0; i < argc && !r; i++)
		r = word_is_secret_option(argv[0], argv[i], i >= 2);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

int hsm_ctl_path_typed(const char *line, const char *path)
{
	char copy[HSM_CTL_LINE_MAX + 1], *argv[64];
	int argc, found = 0;
	if (!*path || strlen(line) > HSM_CTL_LINE_MAX)
		return 0;
	snprintf(copy, sizeof(copy), "%s", line);
	argc = hsm_ctl_split_words(copy, argv, 64);
	/* the command's name and its first word (partition showpolicies) are no path */
	for (int i = 2; i < argc && !found; i++)
		found = !strcmp(argv[i], path) && argv[i][0] != '-';
	OPENSSL_cleanse(copy, sizeof(copy));
	return found;
}
