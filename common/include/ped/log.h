/* Logging: four switchable levels, to stderr or to a size-limited file.
 *
 * One line per event: "2026-11-22T10:29:00.123Z pedserver[1234] INFO func: text".
 * A file that would grow past its maximum size is rotated (NAME -> NAME.1)
 * between lines, never cut mid-line. Never pass a secret to these calls. */
#ifndef PED_LOG_H
#define PED_LOG_H

#include <stddef.h>

enum ped_log_level {
	PED_LOG_ERROR = 1u << 0,
	PED_LOG_WARNING = 1u << 1,
	PED_LOG_INFO = 1u << 2,
	PED_LOG_TRACE = 1u << 3,
};

#define PED_LOG_DEFAULT_MASK (PED_LOG_ERROR | PED_LOG_WARNING | PED_LOG_INFO)

struct ped_log_config {
	const char *ident;    /* program name in each line */
	unsigned mask;        /* OR of enum ped_log_level */
	const char *file;     /* NULL: stderr */
	size_t max_size;      /* bytes before rotation; 0: no limit */
};

/* Opens the log (creating the file with mode 0600 if needed); 0 or a PED_E_* code. */
int ped_log_open(const struct ped_log_config *cfg);
void ped_log_close(void);
void ped_log_set_mask(unsigned mask);
unsigned ped_log_get_mask(void);
/* Reopen the file (after an external rotation or a config change). */
int ped_log_reopen(void);

void ped_log_write(enum ped_log_level level, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define ped_error(...) ped_log_write(PED_LOG_ERROR, __func__, __VA_ARGS__)
#define ped_warn(...) ped_log_write(PED_LOG_WARNING, __func__, __VA_ARGS__)
#define ped_info(...) ped_log_write(PED_LOG_INFO, __func__, __VA_ARGS__)
#define ped_trace(...) ped_log_write(PED_LOG_TRACE, __func__, __VA_ARGS__)

#endif
