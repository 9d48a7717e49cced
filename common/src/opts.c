#include "ped/opts.h"

#include "ped/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Calls fn for each alias word of o; stops early when fn returns non-zero. */
static int each_alias(const struct ped_opt *o, int (*fn)(const char *w, size_t len, void *ctx),
		      void *ctx)
{
	const char *p = o->aliases;
	while (p && *p) {
		size_t len;
		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len && fn(p, len, ctx))
			return 1;
		p += len;
	}
	return 0;
}

struct match_ctx {
	const char *word;
	size_t wlen;
	int prefix; /* 0: exact; 1: word is a prefix of the alias */
};

static int alias_matches(const char *w, size_t len, void *arg)
{
	struct match_ctx *m = arg;
	if (m->prefix)
		return m->wlen < len && strncasecmp(w, m->word, m->wlen) == 0;
	return m->wlen == len && strncasecmp(w, m->word, len) == 0;
}

static int exact_match(const struct ped_opt *o, const char *word)
{
	struct match_ctx m = {word, strlen(word), 0};
	return strcasecmp(o->name, word) == 0 || each_alias(o, alias_matches, &m);
}

static int prefix_match(const struct ped_opt *o, const char *word)
{
	struct match_ctx m = {word, strlen(word), 1};
	size_t wl = strlen(word);
	return (wl < strlen(o->name) && strncasecmp(o->name, word, wl) == 0) ||
	       each_alias(o, alias_matches, &m);
}

static int is_help(const char *w)
{
	return strcasecmp(w, "help") == 0 || strcasecmp(w, "h") == 0 || strcmp(w, "?") == 0;
}

static struct ped_opt *lookup(struct ped_opt *opts, const char *word, char *err, size_t errlen)
{
	struct ped_opt *found = NULL;
	size_t n = 0, off;
	char list[256];

	for (struct ped_opt *o = opts; o->name; o++)
		if (exact_match(o, word))
			return o;
	for (struct ped_opt *o = opts; o->name; o++)
		if (prefix_match(o, word)) {
			found = o;
			n++;
		}
	if (n == 1)
		return found;
	if (n == 0) {
		snprintf(err, errlen, "unknown option -%s (see -help)", word);
		return NULL;
	}
	off = 0;
	list[0] = '\0';
	for (struct ped_opt *o = opts; o->name && off < sizeof(list); o++)
		if (prefix_match(o, word))
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s-%s",
						off ? ", " : "", o->name);
	snprintf(err, errlen, "-%s is ambiguous: %s", word, list);
	return NULL;
}

static int parse_long(const char *s, long *out)
{
	char *end;
	errno = 0;
	if (!*s)
		return -1;
	/* 0x for ids written in hex (USB vendor and product ids); never octal */
	int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && s[2];
	*out = strtol(hex ? s + 2 : s, &end, hex ? 16 : 10);
	return (errno || *end) ? -1 : 0;
}

static int take_value(struct ped_opt *o, const char *v, char *err, size_t errlen)
{
	long n;

	o->value = v;
	switch (o->kind) {
	case PED_OPT_INT:
		if (parse_long(v, &n) != 0) {
			snprintf(err, errlen, "-%s: '%s' is not a number", o->name, v);
			return PED_E_OPTION;
		}
		if (n < o->min || n > o->max) {
			snprintf(err, errlen, "-%s: value %ld out of range (%ld-%ld)", o->name, n,
				 o->min, o->max);
			return PED_E_RANGE;
		}
		o->num = n;
		break;
	case PED_OPT_BOOL01:
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
			snprintf(err, errlen, "-%s: value must be 0 or 1, not '%s'", o->name, v);
			return PED_E_RANGE;
		}
		o->num = v[0] - '0';
		break;
	case PED_OPT_ENUM:
		for (long i = 0; o->choices && o->choices[i]; i++)
			if (strcasecmp(o->choices[i], v) == 0) {
				o->num = i;
				return PED_OK;
			}
		{
			size_t off = 0;
			char list[256] = "";
			for (long i = 0; o->choices && o->choices[i] && off < sizeof(list); i++)
				off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
							i ? "|" : "", o->choices[i]);
			snprintf(err, errlen, "-%s: '%s' is not one of %s", o->name, v, list);
		}
		return PED_E_OPTION;
	default:
		break;
	}
	return PED_OK;
}

/* The word names an option of the table (or asks for help): -show, --port. */
int ped_opts_names_option(struct ped_opt *opts, const char *w)
{
	char scratch[16];
	if (w[0] != '-' || w[1] == '\0')
		return 0;
	w += (w[1] == '-' && w[2]) ? 2 : 1;
	if (is_help(w))
		return 1;
	if (!((w[0] >= 'a' && w[0] <= 'z') || (w[0] >= 'A' && w[0] <= 'Z')))
		return 0; /* -1, -0x10: numbers */
	return lookup(opts, w, scratch, sizeof(scratch)) != NULL;
}

int ped_opts_parse(struct ped_opt *opts, int argc, char **argv, int first, const char **pos,
		   size_t maxpos, size_t *npos, char *err, size_t errlen)
{
	size_t np = 0;
	int r;

	err[0] = '\0';
	for (struct ped_opt *o = opts; o->name; o++) {
		o->seen = 0;
		o->value = NULL;
		o->num = 0;
	}
	for (int i = first; i < argc; i++) {
		const char *w = argv[i];
		struct ped_opt *o;

		if (w[0] != '-' || w[1] == '\0') {
			if (np == maxpos) {
				snprintf(err, errlen, "unexpected argument '%s'", w);
				return PED_E_OPTION;
			}
			if (pos)
				pos[np] = w;
			np++;
			continue;
		}
		w += (w[1] == '-' && w[2]) ? 2 : 1;
		/* -name=value: the value is whatever follows the '=' */
		const char *eq = strchr(w, '='), *inline_value = NULL;
		char name[64];
		if (eq) {
			if ((size_t)(eq - w) >= sizeof(name)) {
				snprintf(err, errlen, "unknown option -%.40s... (see -help)", w);
				return PED_E_OPTION;
			}
			memcpy(name, w, (size_t)(eq - w));
			name[eq - w] = '\0';
			w = name;
			inline_value = eq + 1;
		}
		if (is_help(w))
			return PED_OPTS_HELP;
		if ((o = lookup(opts, w, err, errlen)) == NULL)
			return PED_E_OPTION;
		o->seen = 1;
		o->value = NULL;
		if (inline_value) {
			if (o->kind == PED_OPT_FLAG) {
				snprintf(err, errlen, "-%s takes no value", o->name);
				return PED_E_OPTION;
			}
			if (o->kind == PED_OPT_FLAG01 || o->kind == PED_OPT_OPTIONAL) {
				if (o->kind == PED_OPT_FLAG01 && strcmp(inline_value, "0") && strcmp(inline_value, "1")) {
					snprintf(err, errlen, "-%s: value must be 0 or 1, not '%s'", o->name, inline_value);
					return PED_E_RANGE;
				}
				o->value = inline_value;
				o->num = o->kind == PED_OPT_FLAG01 ? inline_value[0] - '0' : 0;
				continue;
			}
			if ((r = take_value(o, inline_value, err, errlen)) != PED_OK)
				return r;
			continue;
		}
		if (o->kind == PED_OPT_FLAG)
			continue;
		if (o->kind == PED_OPT_FLAG01) {
			o->num = 1;
			if (i + 1 < argc && (!strcmp(argv[i + 1], "0") || !strcmp(argv[i + 1], "1"))) {
				o->value = argv[++i];
				o->num = o->value[0] - '0';
			}
			continue;
		}
		if (o->kind == PED_OPT_OPTIONAL) {
			if (i + 1 < argc && argv[i + 1][0] != '-')
				o->value = argv[++i];
			continue;
		}
		if (i + 1 >= argc) {
			snprintf(err, errlen, "-%s needs a value%s%s", o->name, o->arg ? " " : "",
				 o->arg ? o->arg : "");
			return PED_E_OPTION;
		}
		if (ped_opts_names_option(opts, argv[i + 1])) {
			snprintf(err, errlen, "-%s needs a value%s%s, not the option %s (a value that is an option's "
					      "name is given as -%s=%s)",
				 o->name, o->arg ? " " : "", o->arg ? o->arg : "", argv[i + 1], o->name, argv[i + 1]);
			return PED_E_OPTION;
		}
		if ((r = take_value(o, argv[++i], err, errlen)) != PED_OK)
			return r;
	}
	if (npos)
		*npos = np;
	return PED_OK;
}

struct ped_opt *ped_opts_get(struct ped_opt *opts, const char *name)
{
	for (struct ped_opt *o = opts; o->name; o++)
		if (strcasecmp(o->name, name) == 0)
			return o;
	return NULL;
}

int ped_opts_seen(struct ped_opt *opts, const char *name)
{
	struct ped_opt *o = ped_opts_get(opts, name);
	return o && o->seen;
}

const char *ped_opts_str(struct ped_opt *opts, const char *name, const char *dflt)
{
	struct ped_opt *o = ped_opts_get(opts, name);
	return (o && o->seen && o->value) ? o->value : dflt;
}

long ped_opts_num(struct ped_opt *opts, const char *name, long dflt)
{
	struct ped_opt *o = ped_opts_get(opts, name);
	return (o && o->seen) ? o->num : dflt;
}

const char *ped_opts_peek(int argc, char **argv, const char *name, const char *aliases)
{
	struct ped_opt probe = {.name = name, .aliases = aliases};
	const char *v = NULL;
	for (int i = 1; i + 1 < argc; i++) {
		const char *w = argv[i];
		if (w[0] != '-')
			continue;
		w += (w[1] == '-' && w[2]) ? 2 : 1;
		if (exact_match(&probe, w))
			v = argv[i + 1];
	}
	return v;
}

static int print_alias(const char *w, size_t len, void *arg)
{
	FILE *f = arg;
	fprintf(f, ", -%.*s", (int)len, w);
	return 0;
}

void ped_opts_usage(FILE *f, const char *synopsis, const struct ped_opt *opts)
{
	fprintf(f, "Usage: %s\n", synopsis);
	if (!opts || !opts->name)
		return;
	fprintf(f, "\nOptions (case-insensitive; unique prefixes accepted):\n");
	for (const struct ped_opt *o = opts; o->name; o++) {
		char head[128];
		FILE *mem;
		size_t hl = 0;
		char *buf = NULL;
		if ((mem = open_memstream(&buf, &hl)) == NULL)
			continue;
		fprintf(mem, "-%s", o->name);
		each_alias(o, print_alias, mem);
		if (o->kind != PED_OPT_FLAG) {
			if (o->kind == PED_OPT_ENUM && o->choices) {
				fputc(' ', mem);
				for (int i = 0; o->choices[i]; i++)
					fprintf(mem, "%s%s", i ? "|" : "", o->choices[i]);
			} else {
				fprintf(mem, o->kind == PED_OPT_OPTIONAL || o->kind == PED_OPT_FLAG01 ? " [%s]" : " %s",
					o->arg ? o->arg
					: (o->kind == PED_OPT_BOOL01 || o->kind == PED_OPT_FLAG01) ? "0|1" : "VALUE");
			}
		}
		fclose(mem);
		snprintf(head, sizeof(head), "%s", buf);
		free(buf);
		fprintf(f, "  %-30s %s", head, o->help ? o->help : "");
		if (o->kind == PED_OPT_INT)
			fprintf(f, " (%ld-%ld)", o->min, o->max);
		fputc('\n', f);
	}
}
