/* The module's configuration file (libconfig, conf/openped-pkcs11.conf):
 * the reference client's Presentation settings and PED timeouts, and
 * where hsm-sim is. */
#include "p11.h"

#include "ped/config.h"
#include "ped/error.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef P11_DEFAULT_CONF
#define P11_DEFAULT_CONF "/etc/openped/openped-pkcs11.conf"
#endif

#define MS_MAX (24L * 3600 * 1000)

void p11_config_defaults(struct p11_config *c)
{
	memset(c, 0, sizeof(*c));
	c->show_admin = 1;
	/* the reference client's defaults (Chrystoki.conf, section Luna) */
	c->ped_timeout[0] = 100000;
	c->ped_timeout[1] = 200000;
	c->ped_timeout[2] = 20000;
	c->default_timeout = 500000;
	c->keygen_timeout = 2700000;
	c->reply_spin_us = 1000; /* an RSA-2048 signature and the way there and back */
}

/* The system's, when the build's default (PREFIX/etc) is not there: one
 * build installed with PREFIX=/usr reads /etc/openped. */
#define P11_SYSTEM_CONF "/etc/openped/openped-pkcs11.conf"

void p11_config_path(char *out, size_t len)
{
	const char *env = getenv(P11_CONF_ENV);
	if (env && *env)
		snprintf(out, len, "%s", env);
	else if (access(P11_DEFAULT_CONF, F_OK) != 0 && access(P11_SYSTEM_CONF, F_OK) == 0)
		snprintf(out, len, "%s", P11_SYSTEM_CONF);
	else
		snprintf(out, len, "%s", P11_DEFAULT_CONF);
}

int p11_default_socket(char *out, size_t len)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	char dir[64];

	if (rt && *rt) {
		snprintf(out, len, "%s/openped/hsm-sim.sock", rt);
		return 0;
	}
	snprintf(dir, sizeof(dir), "/run/user/%ld", (long)geteuid());
	if (stat(dir, &st) != 0)
		return -1;
	snprintf(out, len, "%s/openped/hsm-sim.sock", dir);
	return 0;
}

int p11_parse_user_slots(const char *spec, struct p11_user_slot *out, size_t max, size_t *n,
			 char *err, size_t errlen)
{
	const char *p = spec;

	*n = 0;
	for (;;) {
		char *end;
		unsigned long slot;
		size_t sl = 0;

		while (isspace((unsigned char)*p) || *p == ',')
			p++;
		if (!*p)
			return PED_OK;
		if (!isdigit((unsigned char)*p))
			goto bad;
		errno = 0;
		slot = strtoul(p, &end, 10);
		if (errno || end == p || slot == ULONG_MAX)
			goto bad;
		p = end;
		while (isspace((unsigned char)*p))
			p++;
		if (*p++ != '(')
			goto bad;
		while (isspace((unsigned char)*p))
			p++;
		if (*n == max) {
			snprintf(err, errlen, "ShowUserSlots: more than %zu entries", max);
			return PED_E_CONFIG;
		}
		while (*p && *p != ')' && !isspace((unsigned char)*p)) {
			if (sl == P11W_SERIAL_MAX || (unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
				goto bad;
			out[*n].serial[sl++] = *p++;
		}
		out[*n].serial[sl] = '\0';
		while (isspace((unsigned char)*p))
			p++;
		if (*p++ != ')' || sl == 0)
			goto bad;
		out[*n].slot = (CK_SLOT_ID)slot;
		(*n)++;
	}
bad:
	snprintf(err, errlen, "ShowUserSlots: '%s' is not a list of SLOT(SERIAL), e.g. 1(351970018022), 2(351970018021)",
		 spec);
	return PED_E_CONFIG;
}

int p11_config_load(struct p11_config *c, const char *path, char *err, size_t errlen)
{
	/* the schema holds the values it loads: one per call, on the stack */
	struct ped_cfg_setting schema[] = {
		/* the reference: "Any submitted number other than zero is treated as 1" */
		{.name = "Presentation.OneBaseSlotId", .type = PED_CFG_INT, .min = LONG_MIN, .max = LONG_MAX, .dflt = 0,
		 .help = "slots numbered from 1 (any number but 0) or from 0"},
		{.name = "Presentation.ShowUserSlots", .type = PED_CFG_STRING, .sdflt = "",
		 .help = "SLOT(SERIAL), ...: partitions put at those slots"},
		{.name = "Presentation.ShowAdminTokens", .type = PED_CFG_BOOL, .dflt = 1,
		 .help = "the admin partitions (and backup HSMs) are slots"},
		{.name = "Presentation.ShowEmptySlots", .type = PED_CFG_BOOL, .dflt = 0,
		 .help = "partition slots with no partition yet are slots without a token"},
		{.name = "Module.Socket", .type = PED_CFG_STRING, .sdflt = "",
		 .help = "hsm-sim's control socket (empty: hsm-sim's default)"},
		{.name = "Module.PEDTimeout1", .type = PED_CFG_INT, .min = 0, .max = MS_MAX, .dflt = 100000,
		 .help = "ms for a PED to answer"},
		{.name = "Module.PEDTimeout2", .type = PED_CFG_INT, .min = 0, .max = MS_MAX, .dflt = 200000,
		 .help = "ms for the person at the PED"},
		{.name = "Module.PEDTimeout3", .type = PED_CFG_INT, .min = 0, .max = MS_MAX, .dflt = 20000,
		 .help = "ms more the module waits for the HSM's answer"},
		{.name = "Module.DefaultTimeout", .type = PED_CFG_INT, .min = 1, .max = MS_MAX, .dflt = 500000,
		 .help = "ms for any other call"},
		{.name = "Module.ProbeTimeout", .type = PED_CFG_INT, .min = 0, .max = MS_MAX, .dflt = 0,
		 .help = "ms a crypto call waits for an HSM busy with a Remote PED operation (0: as DefaultTimeout)"},
		{.name = "Module.KeypairGenTimeout", .type = PED_CFG_INT, .min = 1, .max = MS_MAX, .dflt = 2700000,
		 .help = "ms for a key pair generation"},
		{.name = "Module.ReplySpin", .type = PED_CFG_INT, .min = 0, .max = 100000, .dflt = 1000,
		 .help = "microseconds a call looks for its reply before it sleeps (0: sleeps at once)"},
		{.name = "Module.PedVendorCodes", .type = PED_CFG_BOOL, .dflt = 0,
		 .help = "PED outcomes as the reference's vendor codes (CKR_PED_UNPLUGGED ...)"},
		{.name = "Module.LogFile", .type = PED_CFG_STRING, .sdflt = "", .help = "errors go here (empty: nowhere)"},
		{.name = NULL},
	};
	struct ped_config cfg;
	const char *env_log;
	int r;

	p11_config_defaults(c);
	r = ped_config_load(&cfg, path, schema, err, errlen);
	if (r != PED_OK && r != PED_E_NOT_FOUND)
		goto out;
	c->one_base = ped_config_int(&cfg, "Presentation.OneBaseSlotId") != 0;
	c->show_admin = (int)ped_config_int(&cfg, "Presentation.ShowAdminTokens");
	c->show_empty = (int)ped_config_int(&cfg, "Presentation.ShowEmptySlots");
	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "Module.PEDTimeout%d", i + 1);
		c->ped_timeout[i] = ped_config_int(&cfg, name);
	}
	c->default_timeout = ped_config_int(&cfg, "Module.DefaultTimeout");
	c->keygen_timeout = ped_config_int(&cfg, "Module.KeypairGenTimeout");
	c->probe_timeout = ped_config_int(&cfg, "Module.ProbeTimeout");
	c->reply_spin_us = ped_config_int(&cfg, "Module.ReplySpin");
	c->vendor_codes = (int)ped_config_int(&cfg, "Module.PedVendorCodes");
	snprintf(c->socket, sizeof(c->socket), "%s", ped_config_str(&cfg, "Module.Socket"));
	snprintf(c->log, sizeof(c->log), "%s", ped_config_str(&cfg, "Module.LogFile"));
	r = p11_parse_user_slots(ped_config_str(&cfg, "Presentation.ShowUserSlots"), c->user_slots,
				 P11_USER_SLOTS_MAX, &c->nuser_slots, err, errlen);
	if (r != PED_OK)
		goto out;
	/* the network servers vtl keeps in the same file */
	if ((r = ped_netcfg_load(&c->net, path, err, errlen)) != PED_OK)
		goto out;
	if (!c->socket[0] && p11_default_socket(c->socket, sizeof(c->socket)) != 0) {
		snprintf(err, errlen, "no socket for hsm-sim: set Module.Socket, or XDG_RUNTIME_DIR");
		/* not fatal: there is no hsm-sim to reach, so no slot either */
	}
	r = PED_OK;
out:
	/* the environment's log, for a CI job that cannot edit the file */
	if ((env_log = getenv(P11_LOG_ENV)) != NULL && *env_log)
		snprintf(c->log, sizeof(c->log), "%s", env_log);
	ped_config_free(&cfg);
	return r;
}
