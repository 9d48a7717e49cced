/* Command lines in the documented single-dash syntax:
 *
 *   pedserver -mode start -ip 0.0.0.0 -port 1503
 *   pedserver -m start              (documented short form)
 *   pedclient -mode setid -id 1 -id_ip 10.1.2.3 -id_port 1503
 *   hsmcm: role login -name so      (command words first, then options)
 *
 * Option names are case-insensitive; an option is found by its name, an
 * alias or documented short form, or any unique prefix of a name or alias.
 * Numbers are checked against their range and the error says the range. A
 * repeated option takes its last value. -help, -h and -? always ask for help.
 *
 * A value is the next word, or follows '=' (-logfile=FILE). The next word is
 * not taken as a value when it is itself an option of the table (-logfile
 * -show would store "-show"): such a value is written -logfile=-show. */
#ifndef PED_OPTS_H
#define PED_OPTS_H

#include <stddef.h>
#include <stdio.h>

enum ped_opt_kind {
	PED_OPT_FLAG,     /* no value */
	PED_OPT_STRING,   /* one value */
	PED_OPT_INT,      /* decimal within [min, max] */
	PED_OPT_BOOL01,   /* 0 or 1 */
	PED_OPT_ENUM,     /* one of choices, case-insensitive; num = its index */
	PED_OPT_OPTIONAL, /* value if the next word does not start with '-' */
	PED_OPT_FLAG01,   /* a flag (num 1), or 0|1 after it: -ignoreidletimeout 0 */
};

struct ped_opt {
	const char *name;    /* canonical, without the dash */
	const char *aliases; /* space-separated other names and short forms, or NULL */
	enum ped_opt_kind kind;
	long min, max;
	const char *const *choices; /* PED_OPT_ENUM: NULL-terminated */
	const char *arg;            /* value placeholder in the help */
	const char *help;
	/* results of parsing */
	int seen;
	const char *value; /* the word after the option (NULL for a flag or absent optional) */
	long num;          /* INT, BOOL01, ENUM index */
};

#define PED_OPTS_HELP 1 /* ped_opts_parse: the user asked for help */

/* Parses argv[first..argc-1] against opts (terminated by an entry with a NULL
 * name). Words not starting with '-' go to pos (up to maxpos; more is an error).
 * Returns PED_OK, PED_OPTS_HELP, or PED_E_OPTION / PED_E_RANGE with a one-line
 * message in err. Resets every result field first. */
int ped_opts_parse(struct ped_opt *opts, int argc, char **argv, int first, const char **pos,
		   size_t maxpos, size_t *npos, char *err, size_t errlen);

/* 1 if word is an option of the table (-show, --port, -help), not a value. */
int ped_opts_names_option(struct ped_opt *opts, const char *word);
/* The option named name (canonical), or NULL. */
struct ped_opt *ped_opts_get(struct ped_opt *opts, const char *name);
/* Seen and its value / number, with a default. */
const char *ped_opts_str(struct ped_opt *opts, const char *name, const char *dflt);
long ped_opts_num(struct ped_opt *opts, const char *name, long dflt);
int ped_opts_seen(struct ped_opt *opts, const char *name);

/* Before the full parse, the value of one option (e.g. -mode, to pick the
 * mode's own table): matched by exact name, alias or short form only. */
const char *ped_opts_peek(int argc, char **argv, const char *name, const char *aliases);

/* "Usage: SYNOPSIS" then each option with its forms, aligned. */
void ped_opts_usage(FILE *f, const char *synopsis, const struct ped_opt *opts);

#endif
