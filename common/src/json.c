#include "ped/json.h"

void ped_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void ped_json_key(FILE *f, int *n, const char *key)
{
	if ((*n)++)
		fputc(',', f);
	ped_json_string(f, key);
	fputc(':', f);
}

void ped_json_str(FILE *f, int *n, const char *key, const char *value)
{
	ped_json_key(f, n, key);
	ped_json_string(f, value);
}

void ped_json_num(FILE *f, int *n, const char *key, long long value)
{
	ped_json_key(f, n, key);
	fprintf(f, "%lld", value);
}

void ped_json_bool(FILE *f, int *n, const char *key, int value)
{
	ped_json_key(f, n, key);
	fputs(value ? "true" : "false", f);
}
