#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define HRT_ERRMSG_MAX 1024

static _Thread_local char errmsg[HRT_ERRMSG_MAX];
static hrt_log_fn log_fn;
static void *log_ud;

const char *hrt_last_error(void) { return errmsg; }

const char *hrt_strerror(int status)
{
    switch (status) {
    case HRT_OK: return "ok";
    case HRT_E_INVALID: return "invalid argument";
    case HRT_E_IO: return "i/o error";
    case HRT_E_FORMAT: return "malformed file";
    case HRT_E_UNSUPPORTED: return "unsupported";
    case HRT_E_NOMEM: return "out of memory";
    case HRT_E_CANCELLED: return "cancelled";
    case HRT_E_RANGE: return "out of range";
    case HRT_E_BACKEND: return "backend error";
    default: return "unknown error";
    }
}

int hrt_err(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    return code;
}

int hrt_err_prefix(int code, const char *fmt, ...)
{
    char prefix[HRT_ERRMSG_MAX], old[HRT_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errmsg, sizeof old);
    /* prefix, ": ", old message; truncated to the buffer */
    size_t n = strlen(prefix);
    if (n > sizeof errmsg - 3) n = sizeof errmsg - 3;
    memcpy(errmsg, prefix, n);
    memcpy(errmsg + n, ": ", 2);
    size_t rest = sizeof errmsg - n - 3, ol = strlen(old);
    if (ol > rest) ol = rest;
    memcpy(errmsg + n + 2, old, ol);
    errmsg[n + 2 + ol] = 0;
    return code;
}

void hrt_set_log(hrt_log_fn fn, void *user_data)
{
    log_fn = fn;
    log_ud = user_data;
}

void hrt_log(int level, const char *fmt, ...)
{
    if (!log_fn) return;
    char line[HRT_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_fn(level, line, log_ud);
}
