/* Where the control and PED sockets live. */
#include "hsm/control.h"

#include "ped/fileio.h"

#include <ctype.h>
#include <stdio.h>
#include <strings.h>
#include <string.h>

int hsm_ctl_default_socket(char *out, size_t len)
{
	return ped_runtime_path("hsm-sim.sock", out, len);
}

void hsm_ctl_ped_socket(const char *control_socket, const char *serial, char *out, size_t len)
{
	const char *slash = strrchr(control_socket, '/');
	int dirlen = slash ? (int)(slash - control_socket) : 1;
	snprintf(out, len, "%.*s/ped-%s.sock", dirlen, slash ? control_socket : ".", serial);
}

int hsm_ctl_line_has_secret(const char *line)
{
	/* The names and aliases of hsm-sim's options that take a secret. */
	static const char *const secret[] = {"challenge", "challengesecret", "password", "pwd", NULL};
	/* A mistyped or another tool's spelling (-passwrod, -challengeSecret,
	 * -newpw) is refused by the parser but its value is still a secret. */
	static const char *const stem[] = {"chal", "pass", "pw", "secret", NULL};
	const char *p = line;

	while (*p) {
		size_t n;
		while (*p && (isspace((unsigned char)*p) || *p == '"' || *p == ';'))
			p++;
		if (*p != '-') {
			while (*p && !isspace((unsigned char)*p) && *p != ';')
				p++;
			continue;
		}
		while (*p == '-')
			p++;
		n = strcspn(p, " \t\r\n\";=");
		/* the parser takes a unique prefix: refusing every prefix errs on the safe side */
		for (int i = 0; n && secret[i]; i++)
			if (n <= strlen(secret[i]) && strncasecmp(p, secret[i], n) == 0)
				return 1;
		for (int i = 0; stem[i]; i++)
			for (size_t k = 0; k + strlen(stem[i]) <= n; k++)
				if (strncasecmp(p + k, stem[i], strlen(stem[i])) == 0)
					return 1;
		p += n;
	}
	return 0;
}
