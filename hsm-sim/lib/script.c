/* The command syntax shared by hsmcm and hsm-sim: scripts cut into commands
 * (hsmcm), commands cut into words (hsm-sim). Here, not in either program,
 * so tests/fuzz/fuzz_hsmcm.c runs the very code both use. */
#include "hsm/control.h"

#include <ctype.h>
#include <string.h>

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
