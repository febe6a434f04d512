/* Error and log plumbing shared by every module.
 *
 * The library never prints: messages go to a thread-local buffer read by
 * hrt_last_error(), and log lines go to the callback set by hrt_set_log().
 * hrt_err() formats the message and returns the code so that callers can
 * write `return hrt_err(HRT_E_FORMAT, "%s: tensor '%s': ...", path, name);`. */
#ifndef HRT_ERROR_H
#define HRT_ERROR_H

#include "hrt.h"

#if defined(__GNUC__)
#define HRT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define HRT_PRINTF(a, b)
#endif

/* Sets the thread's last error message and returns code (a negative HRT_E_*). */
int hrt_err(int code, const char *fmt, ...) HRT_PRINTF(2, 3);

/* Prefixes the current thread's message with "prefix: " (for adding context
 * such as a file name at an outer level). Returns code. */
int hrt_err_prefix(int code, const char *fmt, ...) HRT_PRINTF(2, 3);

void hrt_log(int level, const char *fmt, ...) HRT_PRINTF(2, 3);

#endif
