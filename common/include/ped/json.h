/* JSON output for scripts (-json): an object written member by member,
 * strings escaped (quote, backslash, control characters and DEL as
 * \uXXXX), so that any text a program holds (a label, a peer's version)
 * comes out as one valid JSON string. */
#ifndef PED_JSON_H
#define PED_JSON_H

#include <stdio.h>

/* s as a JSON string, quotes included. */
void ped_json_string(FILE *f, const char *s);

/* An object's members: *n counts those written, for the commas. */
void ped_json_str(FILE *f, int *n, const char *key, const char *value);
void ped_json_num(FILE *f, int *n, const char *key, long long value);
void ped_json_bool(FILE *f, int *n, const char *key, int value);
/* "key": and nothing else: the caller writes the value (an object, a list). */
void ped_json_key(FILE *f, int *n, const char *key);

#endif
