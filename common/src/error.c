#include "ped/error.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

struct err_entry {
	int value;
	const char *symbol;
	const char *name;
	uint32_t code;
	const char *desc;
	const char *full;
};

#define PED_ERR_ROW(sym, val, dname, dcode, ddesc)                                              \
	{(val), #sym, dname, (dcode), ddesc, dname ": " ddesc},

static const struct err_entry err_table[] = {PED_ERROR_TABLE(PED_ERR_ROW)};
#undef PED_ERR_ROW

#define ERR_COUNT (sizeof(err_table) / sizeof(err_table[0]))

static const struct err_entry *find(int err)
{
	for (size_t i = 0; i < ERR_COUNT; i++)
		if (err_table[i].value == err)
			return &err_table[i];
	return NULL;
}

const char *ped_strerror(int err)
{
	const struct err_entry *e = find(err);
	return e ? e->full : "unknown error";
}

const char *ped_err_name(int err)
{
	const struct err_entry *e = find(err);
	if (!e)
		return "UNKNOWN_ERROR";
	return e->name;
}

uint32_t ped_err_code(int err)
{
	const struct err_entry *e = find(err);
	return e ? e->code : 0xe0000000u;
}

int ped_err_from_code(uint32_t code)
{
	for (size_t i = 0; i < ERR_COUNT; i++)
		if (err_table[i].code == code)
			return err_table[i].value;
	return PED_E_GENERAL;
}

int ped_err_from_name(const char *name)
{
	for (size_t i = 0; i < ERR_COUNT; i++) {
		const struct err_entry *e = &err_table[i];
		if (strcasecmp(e->name, name) == 0 || strcasecmp(e->symbol, name) == 0)
			return e->value;
	}
	return PED_E_GENERAL;
}
