/* Helpers shared by the commands of cli/. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "hrt.h"

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

/* A file or directory of the source tree: ./rel when it exists, else the
 * source tree's. */
const char *source_path(const char *rel, char *buf, size_t cap)
{
    if (access(rel, R_OK) == 0) snprintf(buf, cap, "%s", rel);
    else snprintf(buf, cap, "%s/%s", HRT_SOURCE_DIR, rel);
    return buf;
}

/* Opens a model or exits with EXIT_MODEL, naming cmd and the cause. */
hrt_model *open_model(const char *cmd, const char *path, int threads, int backend)
{
    hrt_model_params mp = hrt_model_default_params();
    mp.n_threads = threads;
    mp.backend = backend;
    hrt_model *m = NULL;
    if (hrt_model_open(path, &mp, &m)) {
        fprintf(stderr, "hrt %s: cannot load model: %s\n", cmd, hrt_last_error());
        if (access(path, R_OK) != 0) fprintf(stderr, "hrt: the default models are fetched by scripts/fetch-models.sh\n");
        exit(EXIT_MODEL);
    }
    return m;
}

/* The value of --backend: cpu, cuda or auto, else a usage error. */
int parse_backend(const char *cmd, const char *v)
{
    if (!strcmp(v, "cpu")) return HRT_BACKEND_CPU;
    if (!strcmp(v, "cuda")) return HRT_BACKEND_CUDA;
    if (strcmp(v, "auto")) die_usage(cmd, "--backend: '%s' is not cpu, cuda or auto", v);
    return HRT_BACKEND_AUTO;
}

/* The last number in s ("1,234.5" reads as 1234.5, "1e+15" as 1e15): 1 and *v, or 0. */
int last_number(const char *s, double *v)
{
    int found = 0;
    for (const char *p = s; *p;) {
        if (!isdigit((unsigned char)*p)) {
            p++;
            continue;
        }
        char buf[64];
        size_t n = 0;
        if (p > s && p[-1] == '-' && (p - 1 == s || !isalnum((unsigned char)p[-2]))) buf[n++] = '-';
        while (*p && n + 1 < sizeof buf &&
               (isdigit((unsigned char)*p) || ((*p == ',' || *p == '.') && isdigit((unsigned char)p[1])))) {
            if (*p != ',') buf[n++] = *p;
            p++;
        }
        /* an exponent, as the calculator prints large and small values: 1e+15, 9.3e-10 */
        if ((*p == 'e' || *p == 'E') && n + 8 < sizeof buf &&
            (isdigit((unsigned char)p[1]) || ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2])))) {
            buf[n++] = *p++;
            if (*p == '+' || *p == '-') buf[n++] = *p++;
            while (isdigit((unsigned char)*p) && n + 1 < sizeof buf) buf[n++] = *p++;
        }
        buf[n] = 0;
        *v = strtod(buf, NULL);
        found = 1;
    }
    return found;
}

char *utf8_clean(const char *s, size_t n)
{
    char *o = malloc(n * 3 + 1), *q = o;
    if (!o) return NULL;
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    while (p < e) {
        size_t len = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
        int ok = len && (size_t)(e - p) >= len;
        for (size_t i = 1; ok && i < len; i++) ok = (p[i] & 0xc0) == 0x80;
        if (ok && len == 2) ok = *p >= 0xc2;                                         /* overlong */
        if (ok && len == 3) ok = !(*p == 0xe0 && p[1] < 0xa0) && !(*p == 0xed && p[1] >= 0xa0); /* overlong, surrogates */
        if (ok && len == 4) ok = !(*p == 0xf0 && p[1] < 0x90) && !(*p == 0xf4 && p[1] >= 0x90) && *p <= 0xf4;
        if (ok) {
            memcpy(q, p, len), q += len, p += len;
        } else {
            memcpy(q, "\xef\xbf\xbd", 3), q += 3, p++; /* U+FFFD */
        }
    }
    *q = 0;
    return o;
}

const char *path_name(int path)
{
    return path == HRT_PATH_CACHE ? "cache" : path == HRT_PATH_LIGHT ? "light" : path == HRT_PATH_FULL ? "full" : "auto";
}

void dir_of(const char *file, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", file);
    char *slash = strrchr(buf, '/');
    if (slash == buf) buf[1] = 0; /* "/x": the root */
    else if (slash) *slash = 0;
    else snprintf(buf, cap, ".");
}

char *path_in(const char *dir, const char *p)
{
    size_t n = strlen(dir) + strlen(p) + 2;
    char *r = malloc(n);
    if (!r) return NULL;
    if (p[0] == '/' || !strcmp(dir, ".")) snprintf(r, n, "%s", p);
    else snprintf(r, n, "%s/%s", dir, p);
    return r;
}
