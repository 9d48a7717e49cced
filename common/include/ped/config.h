/* Configuration files (libconfig syntax) described by a schema: each program
 * lists its settings with type, default and range; loading applies defaults,
 * checks types and ranges, and names file, line and setting in any error.
 * "-mode config -set" changes one setting and writes the file back
 * atomically, keeping every setting the schema does not know. */
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
};

/* Loads path against schema (defaults first). A missing file leaves the
 * defaults and returns PED_E_NOT_FOUND ("cannot open FILE: ..."), so callers
 * may go on; other errors are PED_E_CONFIG with "FILE:LINE: ..." in err. */
int ped_config_load(struct ped_config *c, const char *path, struct ped_cfg_setting *schema,
		    char *err, size_t errlen);
/* Sets one setting from text with the schema's checks; PED_E_CONFIG with err. */
int ped_config_set(struct ped_config *c, const char *name, const char *value, char *err,
		   size_t errlen);
/* The same checks, for this run only: the value is not put in the tree, so
 * a save writes the file as it was read plus what was set. value must
 * outlive c (a word of argv). */
int ped_config_override(struct ped_config *c, const char *name, const char *value, char *err,
			size_t errlen);
/* Writes the tree back to its file atomically, mode 0600. */
int ped_config_save(struct ped_config *c, char *err, size_t errlen);
/* Every schema setting as "name = value" lines. */
void ped_config_show(const struct ped_config *c, FILE *f);
void ped_config_free(struct ped_config *c);

struct ped_cfg_setting *ped_config_find(struct ped_config *c, const char *name);
long ped_config_int(struct ped_config *c, const char *name);
const char *ped_config_str(struct ped_config *c, const char *name);

#endif
