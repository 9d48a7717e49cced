#include "ped/config.h"

#include "ped/error.h"
#include "ped/fileio.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX_FILE (1024 * 1024)

struct ped_cfg_setting *ped_config_find(struct ped_config *c, const char *name)
{
	for (struct ped_cfg_setting *s = c->settings; s && s->name; s++)
		if (strcasecmp(s->name, name) == 0)
			return s;
	return NULL;
}

long ped_config_int(struct ped_config *c, const char *name)
{
	struct ped_cfg_setting *s = ped_config_find(c, name);
	return s ? s->num : 0;
}

const char *ped_config_str(struct ped_config *c, const char *name)
{
	struct ped_cfg_setting *s = ped_config_find(c, name);
	return s ? s->str : NULL;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static int check_value(struct ped_config *c, struct ped_cfg_setting *s, config_setting_t *cs,
		       char *err, size_t errlen)
{
	int line = config_setting_source_line(cs);
	int t = config_setting_type(cs);

	switch (s->type) {
	case PED_CFG_INT: {
		long long v;
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
			snprintf(err, errlen, "%s:%d: setting '%s': expected a number",
				 base_name(c->path), line, s->name);
			return PED_E_CONFIG;
		}
		v = config_setting_get_int64(cs);
		if (v < s->min || v > s->max) {
			snprintf(err, errlen, "%s:%d: setting '%s': value %lld out of range %ld-%ld",
				 base_name(c->path), line, s->name, v, s->min, s->max);
			return PED_E_CONFIG;
		}
		s->num = (long)v;
		break;
	}
	case PED_CFG_BOOL:
		if (t == CONFIG_TYPE_BOOL) {
			s->num = config_setting_get_bool(cs);
		} else if (t == CONFIG_TYPE_INT &&
			   (config_setting_get_int(cs) == 0 || config_setting_get_int(cs) == 1)) {
			s->num = config_setting_get_int(cs);
		} else {
			snprintf(err, errlen, "%s:%d: setting '%s': expected true/false or 0/1",
				 base_name(c->path), line, s->name);
			return PED_E_CONFIG;
		}
		break;
	case PED_CFG_STRING:
		if (t != CONFIG_TYPE_STRING) {
			snprintf(err, errlen, "%s:%d: setting '%s': expected a quoted string",
				 base_name(c->path), line, s->name);
			return PED_E_CONFIG;
		}
		s->str = config_setting_get_string(cs);
		break;
	}
	s->from_file = 1;
	return PED_OK;
}

static void apply_defaults(struct ped_cfg_setting *schema)
{
	for (struct ped_cfg_setting *s = schema; s->name; s++) {
		s->num = s->dflt;
		s->str = s->sdflt;
		s->from_file = 0;
	}
}

/* libconfig opens an @include (a line that starts with it) by itself, from
 * the working directory, past the bound this loader reads within, and a
 * save would then write the included settings into this file. Our files
 * are one file each: the line number of the first, or 0. */
static int include_line(const char *text)
{
	int line = 1;
	for (const char *p = text; *p; line++) {
		p += strspn(p, " \t");
		if (!strncmp(p, "@include", 8))
			return line;
		if (!(p = strchr(p, '\n')))
			break;
		p++;
	}
	return 0;
}

int ped_config_load(struct ped_config *c, const char *path, struct ped_cfg_setting *schema,
		    char *err, size_t errlen)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r;

	memset(c, 0, sizeof(*c));
	config_init(&c->tree);
	c->settings = schema;
	apply_defaults(schema);
	if (strlen(path) >= sizeof(c->path)) {
		snprintf(err, errlen, "configuration file name too long");
		return PED_E_CONFIG;
	}
	memcpy(c->path, path, strlen(path) + 1);

	r = ped_file_read_bounded(path, CONFIG_MAX_FILE, &data, &len);
	if (r == PED_E_NOT_FOUND || r == PED_E_FILE) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return r;
	}
	if (r == PED_E_RANGE) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, CONFIG_MAX_FILE);
		return PED_E_CONFIG;
	}
	if (r != PED_OK) {
		snprintf(err, errlen, "%s: %s", path, ped_strerror(r));
		return r;
	}
	if (memchr(data, '\0', len)) {
		snprintf(err, errlen, "%s: not a text file", path);
		OPENSSL_clear_free(data, len);
		return PED_E_CONFIG;
	}
	{
		char *text = malloc(len + 1);
		if (!text) {
			OPENSSL_clear_free(data, len);
			return PED_E_HOST_MEMORY;
		}
		memcpy(text, data, len);
		text[len] = '\0';
		OPENSSL_clear_free(data, len);
		int inc = include_line(text);
		if (inc) {
			free(text);
			snprintf(err, errlen, "%s:%d: @include is not supported: put the settings in this file",
				 base_name(path), inc);
			return PED_E_CONFIG;
		}
		/* Parse from memory: the file was read once, within the bound;
		 * the text stays for a save to edit. */
		r = config_read_string(&c->tree, text) == CONFIG_TRUE ? PED_OK : PED_E_CONFIG;
		c->text = text;
	}
	if (r != PED_OK) {
		snprintf(err, errlen, "%s:%d: %s", base_name(path), config_error_line(&c->tree),
			 config_error_text(&c->tree));
		return r;
	}
	for (struct ped_cfg_setting *s = schema; s->name; s++) {
		config_setting_t *cs = config_lookup(&c->tree, s->name);
		if (cs && (r = check_value(c, s, cs, err, errlen)) != PED_OK)
			return r;
	}
	return PED_OK;
}

/* Edit distance between a and b, case-insensitive; names longer than 64
 * are as far as their length. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[65];
	if (la > 64 || lb > 64)
		return la > lb ? la : lb;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The known name at this level (the schema's names under prefix, the
 * program's groups at the top) nearest to name. */
static const char *nearest(const struct ped_cfg_setting *schema, const char *const *groups, const char *prefix,
			   const char *name, char *buf, size_t buflen)
{
	size_t plen = strlen(prefix), best = SIZE_MAX;
	const char *found = NULL;
	for (const struct ped_cfg_setting *s = schema; s->name; s++) {
		if (plen && (strncmp(s->name, prefix, plen) || s->name[plen] != '.'))
			continue;
		const char *rest = s->name + (plen ? plen + 1 : 0);
		char part[128];
		snprintf(part, sizeof(part), "%.*s", (int)strcspn(rest, "."), rest);
		size_t d = distance(name, part);
		if (d < best) {
			best = d;
			snprintf(buf, buflen, "%s", part);
			found = buf;
		}
	}
	for (const char *const *g = groups; !plen && g && *g; g++) {
		size_t d = distance(name, *g);
		if (d < best) {
			best = d;
			snprintf(buf, buflen, "%s", *g);
			found = buf;
		}
	}
	return found;
}

/* Every member of group g (path prefix) is known: a schema name, a group
 * of dotted schema names (checked in turn) or, at the top, one of groups. */
static int check_known(struct ped_config *c, config_setting_t *g, const char *prefix, const char *const *groups,
		       int depth, char *err, size_t errlen)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *n = config_setting_name(m);
		char full[300], near[128];
		int known = 0, parent = 0;
		if (!n)
			continue;
		snprintf(full, sizeof(full), "%s%s%s", prefix, *prefix ? "." : "", n);
		for (const struct ped_cfg_setting *s = c->settings; s->name && !known; s++) {
			size_t fl = strlen(full);
			known = !strcmp(s->name, full);
			parent |= !strncmp(s->name, full, fl) && s->name[fl] == '.';
		}
		for (const char *const *gr = groups; !*prefix && gr && *gr && !known; gr++)
			known = !strcmp(*gr, n);
		if (known)
			continue;
		if (parent && config_setting_type(m) == CONFIG_TYPE_GROUP && depth < 8) {
			int r = check_known(c, m, full, groups, depth + 1, err, errlen);
			if (r != PED_OK)
				return r;
			continue;
		}
		const char *best = nearest(c->settings, groups, prefix, n, near, sizeof(near));
		size_t d = best ? distance(n, best) : SIZE_MAX;
		if (best && (d <= 2 || d <= strlen(n) / 3))
			snprintf(err, errlen, "%s:%d: unknown setting '%s' (did you mean '%s'?)", base_name(c->path),
				 config_setting_source_line(m), full, best);
		else
			snprintf(err, errlen, "%s:%d: unknown setting '%s' (not one of this program's; the nearest is '%s')",
				 base_name(c->path), config_setting_source_line(m), full, best ? best : "none");
		return PED_E_CONFIG;
	}
	return PED_OK;
}

int ped_config_load_strict(struct ped_config *c, const char *path, struct ped_cfg_setting *schema,
			   const char *const *groups, char *err, size_t errlen)
{
	int r = ped_config_load(c, path, schema, err, errlen);
	if (r == PED_OK)
		r = check_known(c, config_root_setting(&c->tree), "", groups, 0, err, errlen);
	return r;
}

/* Finds or creates the setting at a dotted path, creating groups on the way.
 * A step of the path the file already holds as something other than a group
 * (logging = (1, 2);) is the operator's and is left alone: libconfig would
 * add the setting to a list or array nameless, where loading never finds it. */
static config_setting_t *ensure_setting(config_t *tree, const char *name, int type)
{
	config_setting_t *parent = config_root_setting(tree), *cs;
	char buf[256], *part, *next;

	if (strlen(name) >= sizeof(buf))
		return NULL;
	memcpy(buf, name, strlen(name) + 1);
	for (part = buf; (next = strchr(part, '.')) != NULL; part = next + 1) {
		*next = '\0';
		cs = config_setting_get_member(parent, part);
		if (!cs && (cs = config_setting_add(parent, part, CONFIG_TYPE_GROUP)) == NULL)
			return NULL;
		if (config_setting_type(cs) != CONFIG_TYPE_GROUP)
			return NULL;
		parent = cs;
	}
	cs = config_setting_get_member(parent, part);
	if (cs && config_setting_type(cs) != type) {
		config_setting_remove(parent, part);
		cs = NULL;
	}
	if (!cs)
		cs = config_setting_add(parent, part, type);
	return cs;
}

/* Checks value for s as the file's would be: a number in range (decimal or
 * 0x hex), a boolean (true, false, 0, 1), or any string. */
static int parse_value(const struct ped_cfg_setting *s, const char *value, long *out, char *err, size_t errlen)
{
	char *end;
	long v = 0;

	if (s->type != PED_CFG_STRING) {
		if (s->type == PED_CFG_BOOL && (!strcasecmp(value, "true") || !strcasecmp(value, "false")))
			v = !strcasecmp(value, "true");
		else {
			errno = 0;
			int hex = value[0] == '0' && (value[1] == 'x' || value[1] == 'X') && value[2];
			v = strtol(hex ? value + 2 : value, &end, hex ? 16 : 10);
			if (errno || !*value || *end) {
				snprintf(err, errlen, "setting '%s': '%s' is not a number", s->name, value);
				return PED_E_CONFIG;
			}
		}
		if (s->type == PED_CFG_BOOL && v != 0 && v != 1) {
			snprintf(err, errlen, "setting '%s': value must be 0 or 1", s->name);
			return PED_E_CONFIG;
		}
		if (s->type == PED_CFG_INT && (v < s->min || v > s->max)) {
			snprintf(err, errlen, "setting '%s': value %ld out of range %ld-%ld", s->name, v,
				 s->min, s->max);
			return PED_E_CONFIG;
		}
	}
	*out = v;
	return PED_OK;
}

static struct ped_cfg_setting *known(struct ped_config *c, const char *name, char *err, size_t errlen)
{
	struct ped_cfg_setting *s = ped_config_find(c, name);
	if (!s)
		snprintf(err, errlen, "unknown setting '%s'", name);
	return s;
}

int ped_config_set(struct ped_config *c, const char *name, const char *value, char *err,
		   size_t errlen)
{
	struct ped_cfg_setting *s = known(c, name, err, errlen);
	config_setting_t *cs;
	long v = 0;

	if (!s || parse_value(s, value, &v, err, errlen) != PED_OK)
		return PED_E_CONFIG;
	cs = ensure_setting(&c->tree, s->name,
			    s->type == PED_CFG_INT ? CONFIG_TYPE_INT
			    : s->type == PED_CFG_BOOL ? CONFIG_TYPE_BOOL : CONFIG_TYPE_STRING);
	if (!cs) {
		snprintf(err, errlen, "setting '%s': cannot be stored", s->name);
		return PED_E_CONFIG;
	}
	if (s->type == PED_CFG_INT)
		config_setting_set_int(cs, (int)v);
	else if (s->type == PED_CFG_BOOL)
		config_setting_set_bool(cs, (int)v);
	else
		config_setting_set_string(cs, value);
	s->num = v;
	s->str = s->type == PED_CFG_STRING ? config_setting_get_string(cs) : s->str;
	s->from_file = 1;
	return PED_OK;
}

int ped_config_override(struct ped_config *c, const char *name, const char *value, char *err,
			size_t errlen)
{
	struct ped_cfg_setting *s = known(c, name, err, errlen);
	long v = 0;

	if (!s || parse_value(s, value, &v, err, errlen) != PED_OK)
		return PED_E_CONFIG;
	s->num = v;
	if (s->type == PED_CFG_STRING)
		s->str = value;
	return PED_OK;
}

/* ---- the file as text: what a save edits ----------------------------------
 *
 * libconfig writes a whole tree and drops every comment; a save instead
 * edits the file's text where the tree changed. The scanner below finds
 * top-level settings in text libconfig has already parsed (it is no
 * parser: brackets are only matched, skipping strings and comments), within
 * the file's bound and without recursion. */

struct span {
	size_t start;            /* the line's start when only blanks precede the name, else the name */
	size_t name, name_len;
	size_t value, value_end;
	size_t end;              /* past the terminator (';' or ','), if any */
};

#define NOPOS SIZE_MAX
#define SCAN_MAX_DEPTH 256

/* Past blanks and comments from t[i]. *open (if given) says whether the
 * text ended inside a block comment, which libconfig reads as running to
 * the end of the file. */
static size_t skip_blank_open(const char *t, size_t len, size_t i, int *open)
{
	if (open)
		*open = 0;
	while (i < len) {
		char ch = t[i];
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v') {
			i++;
		} else if (ch == '#' || (ch == '/' && i + 1 < len && t[i + 1] == '/')) {
			while (i < len && t[i] != '\n')
				i++;
		} else if (ch == '/' && i + 1 < len && t[i + 1] == '*') {
			for (i += 2; i < len && !(t[i] == '*' && i + 1 < len && t[i + 1] == '/'); i++)
				;
			if (i >= len && open)
				*open = 1;
			i = i < len ? i + 2 : len;
		} else {
			break;
		}
	}
	return i;
}

static size_t skip_blank(const char *t, size_t len, size_t i)
{
	return skip_blank_open(t, len, i, NULL);
}

/* Past the string literal at t[i] == '"'; NOPOS if it does not end. */
static size_t skip_string(const char *t, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (t[i] == '\\')
			i++;
		else if (t[i] == '"')
			return i + 1;
	}
	return NOPOS;
}

static int name_char(char ch, int first)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '*' ||
	       (!first && ((ch >= '0' && ch <= '9') || ch == '-' || ch == '_'));
}

static size_t later(size_t a, size_t b)
{
	return a > b ? a : b;
}

static size_t digits_end(const char *t, size_t len, size_t i)
{
	while (i < len && t[i] >= '0' && t[i] <= '9')
		i++;
	return i;
}

/* Past an optional L or LL (a 64-bit integer). */
static size_t long_suffix_end(const char *t, size_t len, size_t i)
{
	for (int n = 0; n < 2 && i < len && t[i] == 'L'; n++)
		i++;
	return i;
}

/* Past an exponent [eE][-+]?[0-9]+ at t[i]; i if there is none. */
static size_t exponent_end(const char *t, size_t len, size_t i)
{
	size_t j = i + 1, k;
	if (i >= len || (t[i] != 'e' && t[i] != 'E'))
		return i;
	if (j < len && (t[j] == '-' || t[j] == '+'))
		j++;
	k = digits_end(t, len, j);
	return k > j ? k : i;
}

/* Past the scalar at t[i] as libconfig's scanner reads it: the longest of
 * its boolean, integer, hex and float tokens, so "1x = 2" is the value 1
 * and a setting x, not one word. NOPOS if no scalar starts there. */
static size_t scalar_end(const char *t, size_t len, size_t i)
{
	size_t best = i, j = i, k, m;

	/* what libconfig's writer puts out for a float that is not finite
	 * ("inf.0", "-nan.0"): no file that loads holds one, but the text
	 * rendered from a tree may, and a save compares such texts */
	k = i + (t[i] == '-' || t[i] == '+');
	if (k + 5 <= len && (!strncmp(t + k, "inf.0", 5) || !strncmp(t + k, "nan.0", 5)))
		return k + 5;
	if (isalpha((unsigned char)t[i])) {
		/* a longer word is a name, which is no value */
		for (k = i; k < len && name_char(t[k], k == i); k++)
			;
		if ((k - i == 4 && !strncasecmp(t + i, "true", 4)) || (k - i == 5 && !strncasecmp(t + i, "false", 5)))
			return k;
		return NOPOS;
	}
	if (t[i] == '0' && i + 2 < len && (t[i + 1] == 'x' || t[i + 1] == 'X') && isxdigit((unsigned char)t[i + 2])) {
		for (k = i + 2; k < len && isxdigit((unsigned char)t[k]); k++)
			;
		best = long_suffix_end(t, len, k);
	}
	if (t[j] == '-' || t[j] == '+')
		j++;
	k = digits_end(t, len, j);
	if (k > j) {
		/* an integer, then a float with digits first and an exponent */
		best = later(best, long_suffix_end(t, len, k));
		m = k < len && t[k] == '.' ? digits_end(t, len, k + 1) : k;
		if (exponent_end(t, len, m) > m)
			best = later(best, exponent_end(t, len, m));
	}
	if (k < len && t[k] == '.') /* a float with a point, digits and exponent optional */
		best = later(best, exponent_end(t, len, digits_end(t, len, k + 1)));
	return best > i ? best : NOPOS;
}

/* Past the value at t[i]: adjacent strings, a bracketed group, list or
 * array, or a scalar word. NOPOS if there is none. */
static size_t skip_value(const char *t, size_t len, size_t i)
{
	if (i >= len)
		return NOPOS;
	if (t[i] == '"') {
		size_t end;
		do {
			if ((end = skip_string(t, len, i)) == NOPOS)
				return NOPOS;
			i = skip_blank(t, len, end);
		} while (i < len && t[i] == '"');
		return end;
	}
	if (t[i] == '{' || t[i] == '(' || t[i] == '[') {
		int depth = 0;
		while (i < len) {
			char ch = t[i];
			if (ch == '"') {
				if ((i = skip_string(t, len, i)) == NOPOS)
					return NOPOS;
				continue;
			}
			if (ch == '#' || (ch == '/' && i + 1 < len && (t[i + 1] == '/' || t[i + 1] == '*'))) {
				i = skip_blank(t, len, i);
				continue;
			}
			if (ch == '{' || ch == '(' || ch == '[') {
				if (++depth > SCAN_MAX_DEPTH)
					return NOPOS;
			} else if (ch == '}' || ch == ')' || ch == ']') {
				if (--depth == 0)
					return i + 1;
			}
			i++;
		}
		return NOPOS;
	}
	return scalar_end(t, len, i);
}

/* The next top-level setting from *pos: 1 and its span, 0 at the end, -1
 * where the text is not a setting. */
static int scan_next(const char *t, size_t len, size_t *pos, struct span *s)
{
	size_t i = skip_blank(t, len, *pos), k;

	if (i >= len)
		return 0;
	if (!name_char(t[i], 1))
		return -1;
	s->name = i;
	while (i < len && name_char(t[i], 0))
		i++;
	s->name_len = i - s->name;
	i = skip_blank(t, len, i);
	if (i >= len || (t[i] != '=' && t[i] != ':'))
		return -1;
	s->value = skip_blank(t, len, i + 1);
	if ((s->value_end = skip_value(t, len, s->value)) == NOPOS)
		return -1;
	k = skip_blank(t, len, s->value_end);
	s->end = k < len && (t[k] == ';' || t[k] == ',') ? k + 1 : s->value_end;
	for (k = s->name; k > 0 && (t[k - 1] == ' ' || t[k - 1] == '\t'); k--)
		;
	s->start = k == 0 || t[k - 1] == '\n' ? k : s->name;
	*pos = s->end;
	return 1;
}

/* The top-level setting name in t: 1 and its span, 0 if absent (*tail:
 * where the last setting ends), -1 if t is not settings. */
static int find_span(const char *t, size_t len, const char *name, size_t nlen, struct span *s, size_t *tail)
{
	size_t pos = 0;
	int r;
	while ((r = scan_next(t, len, &pos, s)) == 1)
		if (s->name_len == nlen && !memcmp(t + s->name, name, nlen))
			return 1;
	*tail = pos;
	return r;
}

/* ped_config_edit with a name of nlen bytes, not NUL-terminated. */
static int edit_text(const char *text, size_t len, const char *name, size_t nlen, const char *literal, size_t litlen,
		     char **out, size_t *outlen)
{
	struct span s;
	size_t tail = 0;
	FILE *m;
	int r, open_comment;

	*out = NULL;
	*outlen = 0;
	if (len > CONFIG_MAX_FILE || litlen > CONFIG_MAX_FILE || nlen == 0 || nlen > CONFIG_MAX_FILE)
		return PED_E_CONFIG;
	if ((r = find_span(text, len, name, nlen, &s, &tail)) < 0)
		return PED_E_CONFIG;
	if (!(m = open_memstream(out, outlen)))
		return PED_E_HOST_MEMORY;
	if (r == 1 && literal) {
		fwrite(text, 1, s.value, m);
		fwrite(literal, 1, litlen, m);
		/* "x = .5L = 1" holds a setting L: "1L" would be one integer */
		if (s.value_end < len && (name_char(text[s.value_end], 0) || text[s.value_end] == '.'))
			fputc(' ', m);
		fwrite(text + s.value_end, 1, len - s.value_end, m);
	} else if (r == 1) {
		/* the setting's lines go, a comment that shares its last line stays */
		size_t e = s.end;
		int own_line = s.start == 0 || text[s.start - 1] == '\n';
		while (e < len && (text[e] == ' ' || text[e] == '\t' || text[e] == '\r'))
			e++;
		if (own_line && e < len && text[e] == '\n')
			e++; /* its line goes with it */
		else
			e = s.end; /* something precedes or follows it on its line: the newline stays */
		fwrite(text, 1, s.start, m);
		/* "d = 0xff probe = 1 F = 2" must not become "0xffF" */
		if (s.start > 0 && e < len && !isspace((unsigned char)text[s.start - 1]) && !isspace((unsigned char)text[e]))
			fputc(' ', m);
		fwrite(text + e, 1, len - e, m);
	} else {
		fwrite(text, 1, len, m);
		if (literal) {
			skip_blank_open(text, len, tail, &open_comment);
			if (open_comment)
				fputs("*/\n", m); /* else the setting would land inside it */
			else if (len && text[len - 1] != '\n')
				fputc('\n', m);
			fprintf(m, "%.*s = %.*s;\n", (int)nlen, name, (int)litlen, literal);
		}
	}
	if (fclose(m) != 0) {
		free(*out);
		*out = NULL;
		return PED_E_HOST_MEMORY;
	}
	return PED_OK;
}

int ped_config_edit(const char *text, size_t len, const char *name, const char *literal, size_t litlen,
		    char **out, size_t *outlen)
{
	return edit_text(text, len, name, strlen(name), literal, litlen, out, outlen);
}

/* The tree as libconfig writes it, NUL-terminated; NULL without memory. */
static char *render(config_t *tree, size_t *len)
{
	char *buf = NULL;
	FILE *mem = open_memstream(&buf, len);
	if (!mem)
		return NULL;
	config_write(tree, mem);
	if (fclose(mem) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Edits text (malloc'd, *len) in place: name's setting replaced, added or removed. */
static int edit_in(char **text, size_t *len, const char *name, size_t nlen, const char *lit, size_t litlen)
{
	char *out;
	size_t olen;
	int r = edit_text(*text, *len, name, nlen, lit, litlen, &out, &olen);
	if (r == PED_OK) {
		free(*text);
		*text = out;
		*len = olen;
	}
	return r;
}

static int merge_settings(char **text, size_t *len, const char *now, size_t nowlen, const char *was, size_t waslen,
			  int depth);

/* The group whose span in text is g, edited member by member: its inside
 * goes through merge_settings and is put back between its braces. */
static int merge_group(char **text, size_t *len, const struct span *g, const char *now, size_t nowlen,
		       const char *was, size_t waslen, int depth)
{
	size_t in = g->value + 1, inlen = g->value_end - g->value - 2, newlen = inlen;
	char *inner = malloc(inlen + 1), *out;
	int r;

	if (!inner)
		return PED_E_HOST_MEMORY;
	memcpy(inner, *text + in, inlen);
	inner[inlen] = '\0';
	if ((r = merge_settings(&inner, &newlen, now, nowlen, was, waslen, depth + 1)) != PED_OK) {
		free(inner);
		return r;
	}
	if (!(out = malloc(*len - inlen + newlen + 1))) {
		free(inner);
		return PED_E_HOST_MEMORY;
	}
	memcpy(out, *text, in);
	memcpy(out + in, inner, newlen);
	memcpy(out + in + newlen, *text + in + inlen, *len - in - inlen);
	*len = *len - inlen + newlen;
	out[*len] = '\0';
	free(inner);
	free(*text);
	*text = out;
	return PED_OK;
}

/* Makes the settings in text (a file, or the inside of a group's braces)
 * say what now says where it differs from was; now and was are
 * libconfig's renderings of the tree and of the file as read. A setting
 * that did not change keeps the file's own text; a group that did is
 * edited member by member, so its comments stay; any other value is
 * replaced, and a setting that went is removed with its line. */
static int merge_settings(char **text, size_t *len, const char *now, size_t nowlen, const char *was, size_t waslen,
			  int depth)
{
	size_t pos, tail;
	struct span s, o, t;
	int f, r;

	if (depth > SCAN_MAX_DEPTH)
		return PED_E_CONFIG;
	for (pos = 0; (f = scan_next(now, nowlen, &pos, &s)) == 1;) {
		if ((f = find_span(was, waslen, now + s.name, s.name_len, &o, &tail)) < 0)
			return PED_E_CONFIG;
		if (f == 1 && o.value_end - o.value == s.value_end - s.value &&
		    !memcmp(was + o.value, now + s.value, s.value_end - s.value))
			continue; /* unchanged: the file's own text stays */
		if (f == 1 && now[s.value] == '{' && was[o.value] == '{' &&
		    find_span(*text, *len, now + s.name, s.name_len, &t, &tail) == 1 && (*text)[t.value] == '{') {
			r = merge_group(text, len, &t, now + s.value + 1, s.value_end - s.value - 2, was + o.value + 1,
					o.value_end - o.value - 2, depth);
			if (r != PED_OK)
				return r;
			continue;
		}
		if (edit_in(text, len, now + s.name, s.name_len, now + s.value, s.value_end - s.value) != PED_OK)
			return PED_E_CONFIG;
	}
	if (f < 0)
		return PED_E_CONFIG;
	for (pos = 0; (f = scan_next(was, waslen, &pos, &o)) == 1;) {
		if ((f = find_span(now, nowlen, was + o.name, o.name_len, &s, &tail)) < 0)
			return PED_E_CONFIG;
		if (f == 0 && edit_in(text, len, was + o.name, o.name_len, NULL, 0) != PED_OK)
			return PED_E_CONFIG;
	}
	return f < 0 ? PED_E_CONFIG : PED_OK;
}

/* The file's new text: the file as read, with the settings that differ
 * between it and the tree now edited in (merge_settings). */
static int edited_text(struct ped_config *c, char **text, size_t *len)
{
	config_t orig;
	char *now = NULL, *was = NULL;
	size_t nowlen = 0, waslen = 0;
	int r = PED_E_HOST_MEMORY;

	config_init(&orig);
	*len = c->text ? strlen(c->text) : 0;
	if (!(*text = malloc(*len + 1)))
		goto out;
	memcpy(*text, c->text ? c->text : "", *len + 1);
	if (c->text && config_read_string(&orig, c->text) != CONFIG_TRUE) {
		r = PED_E_CONFIG;
		goto out;
	}
	if (!(now = render(&c->tree, &nowlen)) || !(was = render(&orig, &waslen)))
		goto out;
	r = merge_settings(text, len, now, nowlen, was, waslen, 0);
out:
	free(now);
	free(was);
	config_destroy(&orig);
	if (r != PED_OK) {
		free(*text);
		*text = NULL;
	}
	return r;
}

/* a and b hold the same values: the same type, format and value (a float
 * to the bit), a group's members by name in any order, a list's or array's
 * elements in order. libconfig moves a setting whose type -set changes to
 * the end of its group, where the edited text does not (it keeps the file's
 * order); and its writer puts out a float to 15 digits, so two renderings
 * can match where the values do not. */
static int same_setting(const config_setting_t *a, const config_setting_t *b, int depth)
{
	int t = config_setting_type(a), n = config_setting_length(a);

	if (t != config_setting_type(b) || config_setting_get_format(a) != config_setting_get_format(b))
		return 0;
	switch (t) {
	case CONFIG_TYPE_INT:
		return config_setting_get_int(a) == config_setting_get_int(b);
	case CONFIG_TYPE_INT64:
		return config_setting_get_int64(a) == config_setting_get_int64(b);
	case CONFIG_TYPE_BOOL:
		return config_setting_get_bool(a) == config_setting_get_bool(b);
	case CONFIG_TYPE_FLOAT: {
		double x = config_setting_get_float(a), y = config_setting_get_float(b);
		return memcmp(&x, &y, sizeof(x)) == 0;
	}
	case CONFIG_TYPE_STRING: {
		const char *x = config_setting_get_string(a), *y = config_setting_get_string(b);
		return x && y ? strcmp(x, y) == 0 : x == y;
	}
	case CONFIG_TYPE_GROUP:
	case CONFIG_TYPE_LIST:
	case CONFIG_TYPE_ARRAY:
		if (n != config_setting_length(b) || depth > SCAN_MAX_DEPTH)
			return 0;
		for (int i = 0; i < n; i++) {
			config_setting_t *x = config_setting_get_elem(a, (unsigned)i), *y;
			if (t == CONFIG_TYPE_GROUP)
				y = config_setting_name(x) ? config_setting_get_member(b, config_setting_name(x)) : NULL;
			else
				y = config_setting_get_elem(b, (unsigned)i);
			if (!x || !y || !same_setting(x, y, depth + 1))
				return 0;
		}
		return 1;
	default:
		return 1;
	}
}

/* The file is written only if it reads back as the settings in memory:
 * libconfig's writer puts out some values its reader refuses (a float too
 * large for a double becomes "inf.0") or reads as another value (a float
 * of more than 15 digits in a group the edit rewrites), and a file that no
 * longer loads would stop the program at its next start. */
static int reads_back(struct ped_config *c, const char *text, char *err, size_t errlen)
{
	config_t back;
	int r = PED_E_CONFIG;

	config_init(&back);
	if (config_read_string(&back, text) != CONFIG_TRUE) {
		snprintf(err, errlen, "cannot write %s: the edited file would not load (line %d: %s); left as it was",
			 c->path, config_error_line(&back), config_error_text(&back));
		goto out;
	}
	if (!same_setting(config_root_setting(&c->tree), config_root_setting(&back), 0)) {
		snprintf(err, errlen, "cannot write %s: the edited file would not load as set; left as it was", c->path);
		goto out;
	}
	r = PED_OK;
out:
	config_destroy(&back);
	return r;
}

int ped_config_save(struct ped_config *c, char *err, size_t errlen)
{
	struct stat st;
	mode_t mode = 0600;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	char *text = NULL;
	size_t len = 0;
	int r;

	if ((r = edited_text(c, &text, &len)) != PED_OK) {
		snprintf(err, errlen, "cannot write %s: %s", c->path,
			 r == PED_E_CONFIG ? "its text could not be edited" : ped_strerror(r));
		return r;
	}
	if (len > CONFIG_MAX_FILE) {
		free(text);
		snprintf(err, errlen, "cannot write %s: larger than %d bytes", c->path, CONFIG_MAX_FILE);
		return PED_E_CONFIG;
	}
	if ((r = reads_back(c, text, err, errlen)) != PED_OK) {
		free(text);
		return r;
	}
	/* The file keeps its mode and owner: a service's account must still
	 * read the file root edited for it. */
	if (stat(c->path, &st) == 0 && S_ISREG(st.st_mode)) {
		mode = st.st_mode & 07777;
		if (st.st_uid != geteuid() || st.st_gid != getegid()) {
			uid = st.st_uid;
			gid = st.st_gid;
		}
	}
	r = ped_file_write_atomic_as(c->path, text, len, mode, uid, gid);
	if (r != PED_OK)
		snprintf(err, errlen, "cannot write %s: %s%s", c->path, strerror(errno),
			 errno == EPERM ? " (it would no longer be owned by its owner)" : "");
	free(text);
	return r;
}

void ped_config_show(const struct ped_config *c, FILE *f)
{
	for (const struct ped_cfg_setting *s = c->settings; s && s->name; s++) {
		if (s->type == PED_CFG_STRING)
			fprintf(f, "%s = \"%s\"\n", s->name, s->str ? s->str : "");
		else
			fprintf(f, "%s = %ld\n", s->name, s->num);
	}
}

void ped_config_free(struct ped_config *c)
{
	config_destroy(&c->tree);
	free(c->text);
	c->text = NULL;
	c->settings = NULL;
}
