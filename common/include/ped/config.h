/* Configuration files (libconfig syntax) described by a schema: each program
 * lists its settings with type, default and range; loading applies defaults,
 * checks types and ranges, and names file, line and setting in any error;
 * a program's own file (ped_config_load_strict) refuses a setting it does
 * not know, with the nearest name it knows. "-mode config -set" and the
 * saving commands write back atomically by editing the file's text: the
 * settings that changed get their new value in place (or are appended, or
 * removed), and the rest, comments and order included, stays as it was;
 * the file keeps its mode and owner. */
#ifndef PED_CONFIG_H
#define PED_CONFIG_H

#include <libconfig.h>
#include <stddef.h>
#include <stdio.h>

enum ped_cfg_type { PED_CFG_INT, PED_CFG_BOOL, PED_CFG_STRING };

struct ped_cfg_setting {
	const char *name; /* "ServerPort" or a dotted path "logging.maxsize" */
	enum ped_cfg_type type;
	long min, max;     /* PED_CFG_INT */
	long dflt;         /* PED_CFG_INT, PED_CFG_BOOL */
	const char *sdflt; /* PED_CFG_STRING */
	const char *help;
	/* current value, after load or set */
	long num;
	const char *str; /* points into the loaded tree or at sdflt */
	int from_file;
};

struct ped_config {
	char path[1024];
	config_t tree;
	struct ped_cfg_setting *settings; /* terminated by a NULL name */
	char *text;                       /* the file as read (NULL: none), which a save edits */
};

/* Loads path against schema (defaults first). A missing file leaves the
 * defaults and returns PED_E_NOT_FOUND ("cannot open FILE: ..."), so callers
 * may go on; other errors are PED_E_CONFIG with "FILE:LINE: ..." in err. */
int ped_config_load(struct ped_config *c, const char *path, struct ped_cfg_setting *schema,
		    char *err, size_t errlen);
/* The same for a program's own file: every setting must be in the schema
 * (a dotted name's groups too) or be one of groups (NULL-terminated: lists
 * and groups the program reads itself, "appliances"); any other is
 * PED_E_CONFIG, "FILE:LINE: unknown setting 'ServerPrt' (did you mean
 * 'ServerPort'?)". */
int ped_config_load_strict(struct ped_config *c, const char *path, struct ped_cfg_setting *schema,
			   const char *const *groups, char *err, size_t errlen);
/* Sets one setting from text with the schema's checks; PED_E_CONFIG with err. */
int ped_config_set(struct ped_config *c, const char *name, const char *value, char *err,
		   size_t errlen);
/* The same checks, for this run only: the value is not put in the tree, so
 * a save writes the file as it was read plus what was set. value must
 * outlive c (a word of argv). */
int ped_config_override(struct ped_config *c, const char *name, const char *value, char *err,
			size_t errlen);
/* Writes the tree back to its file atomically: the file as read, with each
 * top-level setting the tree changed edited (ped_config_edit), in the
 * file's mode and owner (a new file: 0600). */
int ped_config_save(struct ped_config *c, char *err, size_t errlen);
/* The text edit a save makes, for one top-level setting of a file in
 * libconfig syntax (len at most 1 MiB): its value replaced by literal (the
 * value as libconfig writes it, litlen bytes), or "NAME = literal;" added
 * at the end when absent, or the setting removed when literal is NULL.
 * *out is malloc'd. PED_E_CONFIG when text is not a sequence of settings. */
int ped_config_edit(const char *text, size_t len, const char *name, const char *literal, size_t litlen,
		    char **out, size_t *outlen);
/* Every schema setting as "name = value" lines. */
void ped_config_show(const struct ped_config *c, FILE *f);
void ped_config_free(struct ped_config *c);

struct ped_cfg_setting *ped_config_find(struct ped_config *c, const char *name);
long ped_config_int(struct ped_config *c, const char *name);
const char *ped_config_str(struct ped_config *c, const char *name);

#endif
