/* Helpers shared by the commands of cli/. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void die_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "hrt %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'hrt %s --help'.\n", cmd);
    exit(EXIT_USAGE);
}

const char *need_arg(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) die_usage(cmd, "%s needs a value", argv[*i]);
    return argv[++*i];
}

long parse_int(const char *cmd, const char *flag, const char *v)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end) die_usage(cmd, "%s: '%s' is not an integer", flag, v);
    return x;
}

double parse_num(const char *cmd, const char *flag, const char *v)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end) die_usage(cmd, "%s: '%s' is not a number", flag, v);
    return x;
}

void json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

char *read_all(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (size_t k; buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += k;
        if (n + 1 == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) { free(buf); return NULL; }
            buf = b;
        }
    }
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}


/* Default models live in $HRT_MODELS_DIR, ./models, or the source tree's
 * models/ (where scripts/fetch-models.sh puts them). */
const char *default_model(const char *name, char *buf, size_t cap)
{
    const char *env = getenv("HRT_MODELS_DIR");
    const char *dirs[] = {env, "models", HRT_SOURCE_DIR "/models"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        if (!dirs[i]) continue;
        snprintf(buf, cap, "%s/%s", dirs[i], name);
        if (access(buf, R_OK) == 0) return buf;
    }
    snprintf(buf, cap, "models/%s", name);
    return buf;
}
