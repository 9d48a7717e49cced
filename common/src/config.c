#include "ped/config.h"

#include "ped/error.h"
#include "ped/fileio.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
		/* Parse from memory: the file was read once, within the bound. */
		r = config_read_string(&c->tree, text) == CONFIG_TRUE ? PED_OK : PED_E_CONFIG;
		free(text);
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

int ped_config_save(struct ped_config *c, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	int r;

	if (!mem)
		return PED_E_HOST_MEMORY;
	config_write(&c->tree, mem);
	fclose(mem);
	r = ped_file_write_atomic(c->path, buf, len, 0600);
	free(buf);
	if (r != PED_OK)
		snprintf(err, errlen, "cannot write %s: %s", c->path, strerror(errno));
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
	c->settings = NULL;
}
