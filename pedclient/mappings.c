/* PED id mappings in the configuration file's "peds" list:
 *   peds = ( { id = 100; ip = "10.0.0.5"; port = 1503; serial = "154438865288"; } ); */
#include "client.h"

#include "ped/config.h"
#include "ped/error.h"

#include <stdio.h>
#include <string.h>

int mappings_load(struct ped_config *cfg, struct ped_mapping *m, int max)
{
	config_setting_t *l = config_setting_get_member(config_root_setting(&cfg->tree), "peds");
	int n = 0;
	for (int i = 0; l && i < config_setting_length(l) && n < max; i++) {
		config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		const char *ip = NULL, *serial = "";
		int id, port;
		if (!config_setting_lookup_int(g, "id", &id) || !config_setting_lookup_string(g, "ip", &ip) ||
		    !config_setting_lookup_int(g, "port", &port))
			continue; /* not ours to interpret; kept in the file untouched */
		config_setting_lookup_string(g, "serial", &serial);
		m[n].id = id;
		snprintf(m[n].ip, sizeof(m[n].ip), "%s", ip);
		m[n].port = port;
		snprintf(m[n].serial, sizeof(m[n].serial), "%s", serial);
		n++;
	}
	return n;
}

int mappings_for_serial(const char *config_path, const char *serial, struct ped_mapping *out)
{
	static struct ped_cfg_setting none[] = {{.name = NULL}};
	struct ped_config cfg;
	struct ped_mapping m[MAX_MAPPINGS];
	char err[512];
	int r = PED_E_NOT_FOUND;

	if (ped_config_load(&cfg, config_path, none, err, sizeof(err)) == PED_OK) {
		int n = mappings_load(&cfg, m, MAX_MAPPINGS);
		for (int i = 0; i < n; i++)
			if (!strcmp(m[i].serial, serial)) {
				*out = m[i];
				r = PED_OK;
				break;
			}
	}
	ped_config_free(&cfg);
	return r;
}
