/* Headless PED for CI: a script of expectations and answers, and an
 * automatic answerer that picks keys by type from a policy file
 * (docs/ped-device.md has both languages). What main.c and the tests call;
 * behind it, one way only:
 *
 *   script.c    the script language: parse, run; hands over to the answerer
 *   answerer.c  answers the PED's prompts as a policy says (answerer.h)
 *   policy.c    the policy language: parse, the rule for a screen (policy.h)
 *   transcript.c  what the operator reads off the HSM's shell (transcript.h)
 *
 * The script runner calls the answerer, the answerer reads the policy and
 * the transcript, and none of them calls back up. */
#ifndef PED_DEVICE_HEADLESS_H
#define PED_DEVICE_HEADLESS_H

#include "device.h"

#define SCRIPT_MAX_BYTES (256u * 1024u)
#define SCRIPT_LINE_MAX 512

struct policy;

/* Parses a policy file's text; PED_E_CONFIG with "LINE: why" in err. */
int policy_parse(const char *text, size_t len, struct policy **out, char *err, size_t errlen);
void policy_free(struct policy *p);

struct script_cmd;
struct script {
	struct script_cmd *cmds;
	size_t n, cap;
};
/* Parses a script's text; PED_E_CONFIG with "LINE: why" in err. */
int script_parse(const char *text, size_t len, struct script *s, char *err, size_t errlen);
void script_free(struct script *s);

/* Runs the script (if any), then the answerer (if a policy is given) until
 * the device quits. Returns the process exit status. */
int headless_run(struct ped_device *d, const struct script *s, const struct policy *p,
		 int expect_timeout_ms);

/* Normalized screen text for matching: lines joined by one space. */
void screen_flat(const char *screen, char *out, size_t len);

#endif
