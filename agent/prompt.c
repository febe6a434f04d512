#include "prompt.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fnv.h"
#include "hrt.h"
#include "strbuf.h"
#include "unicode.h"

typedef struct {
    char name[64];
    char *text; /* the rendered part: the file less its "#:" header */
    size_t len;
} tmpl;

struct prompt_set {
    tmpl t[PROMPT_MAX_TEMPLATES];
    int n;
    char version[17];
};

static int is_name_start(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
static int is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

/* Length of the {{name}} at s (s[0..1] == "{{"), or 0 when malformed. */
static size_t var_len(const char *s, size_t left)
{
    size_t i = 2;
    if (i >= left || !is_name_start(s[i])) return 0;
    while (i < left && is_name_char(s[i])) i++;
    return i + 1 < left && s[i] == '}' && s[i + 1] == '}' ? i + 2 : 0;
}

/* Checks a file's bytes: UTF-8 and every {{ well formed. */
static int check(const char *path, const char *s, size_t len)
{
    int line = 1;
    for (size_t i = 0; i < len;) {
        size_t adv = 1;
        if ((unsigned char)s[i] >= 0x80 && utf8_decode((const unsigned char *)s + i, len - i, &adv) == 0xFFFD &&
            !(adv == 3 && !memcmp(s + i, "\xef\xbf\xbd", 3)))
            return hrt_err(HRT_E_FORMAT, "%s: line %d: invalid UTF-8", path, line);
        if (s[i] == '\n') line++;
        if (s[i] == '{' && i + 1 < len && s[i + 1] == '{') {
            size_t v = var_len(s + i, len - i);
            if (!v)
                return hrt_err(HRT_E_FORMAT, "%s: line %d: \"{{\" must open a variable: {{name}} with a name of a-z, 0-9 "
                                             "and _",
                               path, line);
            adv = v;
        }
        i += adv;
    }
    return 0;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int load_one(const char *dir, const char *file, tmpl *t)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f) return hrt_err(HRT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = malloc(PROMPT_MAX_BYTES + 1);
    size_t len = buf ? fread(buf, 1, PROMPT_MAX_BYTES + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf) return hrt_err(HRT_E_NOMEM, "out of memory");
    int st = bad ? hrt_err(HRT_E_IO, "%s: read error", path)
             : len > PROMPT_MAX_BYTES ? hrt_err(HRT_E_FORMAT, "%s: larger than %d bytes", path, PROMPT_MAX_BYTES)
                                      : check(path, buf, len);
    if (st) {
        free(buf);
        return st;
    }
    size_t skip = 0; /* the "#:" header */
    while (skip + 1 < len && buf[skip] == '#' && buf[skip + 1] == ':') {
        const char *nl = memchr(buf + skip, '\n', len - skip);
        skip = nl ? (size_t)(nl - buf) + 1 : len;
    }
    memmove(buf, buf + skip, len - skip);
    t->len = len - skip;
    while (t->len && (buf[t->len - 1] == '\n' || buf[t->len - 1] == '\r')) t->len--; /* the file's last newline */
    buf[t->len] = 0;
    t->text = buf;
    snprintf(t->name, sizeof t->name, "%.*s", (int)(strlen(file) - 4), file);
    return 0;
}

int prompt_set_load(const char *dir, const char *const *required, prompt_set **out)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return hrt_err(HRT_E_IO, "%s: cannot open the prompts directory: %s", dir, strerror(errno));
    char *names[PROMPT_MAX_TEMPLATES + 1];
    int n = 0, st = 0;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".txt") || e->d_name[0] == '.') continue;
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &sb) || !S_ISREG(sb.st_mode)) continue;
        if (l - 4 >= 64) st = hrt_err(HRT_E_FORMAT, "%s: a template name of at most 63 bytes", path);
        else if (n == PROMPT_MAX_TEMPLATES) st = hrt_err(HRT_E_FORMAT, "%s: more than %d templates", dir, PROMPT_MAX_TEMPLATES);
        else if (!(names[n] = strdup(e->d_name))) st = hrt_err(HRT_E_NOMEM, "out of memory");
        else n++;
    }
    closedir(d);
    prompt_set *ps = st ? NULL : calloc(1, sizeof *ps);
    if (!st && !ps) st = hrt_err(HRT_E_NOMEM, "out of memory");
    qsort(names, (size_t)n, sizeof *names, cmp_name); /* the version must not depend on readdir's order */
    uint64_t h = FNV1A_BASIS;
    for (int i = 0; i < n && !st; i++) {
        if ((st = load_one(dir, names[i], &ps->t[i]))) break;
        ps->n++;
        h = fnv1a(h, ps->t[i].name, strlen(ps->t[i].name) + 1);
        h = fnv1a(h, ps->t[i].text, ps->t[i].len + 1);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    for (int i = 0; !st && required && required[i]; i++)
        if (!prompt_set_has(ps, required[i]))
            st = hrt_err(HRT_E_FORMAT, "%s: the template %s.txt is missing", dir, required[i]);
    if (st) {
        prompt_set_free(ps);
        return st;
    }
    snprintf(ps->version, sizeof ps->version, "%016llx", (unsigned long long)h);
    *out = ps;
    return 0;
}

void prompt_set_free(prompt_set *ps)
{
    if (!ps) return;
    for (int i = 0; i < ps->n; i++) free(ps->t[i].text);
    free(ps);
}

const char *prompt_set_version(const prompt_set *ps) { return ps->version; }

static const tmpl *find(const prompt_set *ps, const char *name)
{
    for (int i = 0; i < ps->n; i++)
        if (!strcmp(ps->t[i].name, name)) return &ps->t[i];
    return NULL;
}

int prompt_set_has(const prompt_set *ps, const char *name) { return ps && name && find(ps, name) != NULL; }

int prompt_render(const prompt_set *ps, const char *name, const char *const *names, const char *const *values,
                  const size_t *values_len, size_t n, char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len) *out_len = 0;
    const tmpl *t = ps && name ? find(ps, name) : NULL;
    if (!t) return hrt_err(HRT_E_RANGE, "prompts: no template named %s", name ? name : "(null)");
    strbuf b = {0};
    int st = strbuf_put(&b, "", 0);
    const char *s = t->text, *end = s + t->len;
    while (!st && s < end) {
        const char *open = memchr(s, '{', (size_t)(end - s));
        while (open && !(open + 1 < end && open[1] == '{')) open = memchr(open + 1, '{', (size_t)(end - open - 1));
        if (!open) {
            st = strbuf_put(&b, s, (size_t)(end - s));
            break;
        }
        if ((st = strbuf_put(&b, s, (size_t)(open - s)))) break;
        size_t v = var_len(open, (size_t)(end - open)), vn = v - 4; /* checked at load */
        size_t k = 0;
        while (k < n && !(strlen(names[k]) == vn && !memcmp(names[k], open + 2, vn))) k++;
        if (k == n) {
            st = hrt_err(HRT_E_INVALID, "prompts: %s.txt uses {{%.*s}}, which was not given", t->name, (int)vn, open + 2);
            break;
        }
        st = strbuf_put(&b, values[k] ? values[k] : "", values_len ? values_len[k] : values[k] ? strlen(values[k]) : 0);
        s = open + v;
    }
    if (st) {
        free(b.p);
        return st;
    }
    *out = b.p;
    if (out_len) *out_len = b.len;
    return 0;
}
