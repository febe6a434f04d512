#include "read.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "error.h"
#include "unicode.h"

enum { K_NONE, K_TEXT, K_HTML, K_JSON, K_JSONL };

static int kind_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/')) return K_NONE;
    if (!strcasecmp(dot, ".txt") || !strcasecmp(dot, ".text") || !strcasecmp(dot, ".md") ||
        !strcasecmp(dot, ".markdown"))
        return K_TEXT;
    if (!strcasecmp(dot, ".html") || !strcasecmp(dot, ".htm")) return K_HTML;
    if (!strcasecmp(dot, ".json")) return K_JSON;
    if (!strcasecmp(dot, ".jsonl")) return K_JSONL;
    return K_NONE;
}

int read_known(const char *path) { return kind_of(path) != K_NONE; }

/* A NUL byte, or mostly invalid UTF-8, in the first bytes: not text. */
static int looks_binary(const char *p, size_t n)
{
    if (n > 8192) n = 8192;
    if (memchr(p, 0, n)) return 1;
    size_t bad = 0;
    for (size_t i = 0; i < n;) {
        size_t adv;
        uint32_t cp = utf8_decode((const unsigned char *)p + i, n - i, &adv);
        if (cp == 0xFFFD && !(adv == 3 && (unsigned char)p[i] == 0xEF)) bad++;
        i += adv ? adv : 1;
    }
    return n >= 64 && bad * 10 > n; /* a truncated last character alone is not binary */
}

/* Repairs text and hands one document to fn. */
static int emit(const char *source, const char *text, size_t len, const char *meta, read_doc_fn fn, void *ud)
{
    size_t n, bad;
    char *fixed = utf8_repair(text, len, &n, &bad);
    if (!fixed) return hrt_err(HRT_E_NOMEM, "out of memory");
    read_doc d = {source, fixed, n, meta, bad};
    int st = fn(ud, &d);
    free(fixed);
    return st;
}

static char *file_meta(const char *path, const char *kind)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "path", path);
    cJSON_AddStringToObject(j, "kind", kind);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* ---- HTML ----------------------------------------------------------------- */
static const char *const BLOCK_TAGS[] = {"p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article",
                                         "header", "footer", "pre", "blockquote", "hr", "dd", "dt", "nav", "main",
                                         "title", NULL};

static void put(char *out, size_t *n, const char *s, size_t k)
{
    memcpy(out + *n, s, k);
    *n += k;
}

char *read_html_text(const char *h, size_t len, size_t *out_len)
{
    char *out = malloc(2 * len + 16); /* block breaks add at most a few bytes per tag */
    if (!out) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (h[i] == '<') {
            size_t j = i + 1;
            if (j + 2 < len && !strncmp(h + j, "!--", 3)) { /* a comment */
                const char *e = NULL;
                for (size_t k = j + 3; k + 2 < len && !e; k++)
                    if (!strncmp(h + k, "-->", 3)) e = h + k + 3;
                i = e ? (size_t)(e - h) : len;
                continue;
            }
            int closing = j < len && h[j] == '/';
            if (closing) j++;
            char name[16];
            size_t k = 0;
            while (j < len && k < sizeof name - 1 && isalnum((unsigned char)h[j])) name[k++] = (char)tolower((unsigned char)h[j++]);
            name[k] = 0;
            size_t end = j;
            while (end < len && h[end] != '>') end++;
            i = end < len ? end + 1 : len;
            if (!closing && (!strcmp(name, "script") || !strcmp(name, "style"))) { /* drop the content */
                char close[16];
                int cl = snprintf(close, sizeof close, "</%s", name);
                size_t e = i;
                while (e < len && strncasecmp(h + e, close, (size_t)cl)) e++;
                while (e < len && h[e] != '>') e++;
                i = e < len ? e + 1 : len;
                continue;
            }
            if (name[0] == 'h' && name[1] >= '1' && name[1] <= '6' && !name[2]) {
                if (closing) put(out, &n, "\n\n", 2);
                else put(out, &n, "\n\n# ", 4); /* the chunker's heading */
                continue;
            }
            for (int b = 0; BLOCK_TAGS[b]; b++)
                if (!strcmp(name, BLOCK_TAGS[b])) {
                    int line = !strcmp(name, "br") || !strcmp(name, "li") || !strcmp(name, "tr");
                    put(out, &n, "\n\n", line ? 1 : 2); /* a line break, or a paragraph break */
                    break;
                }
            continue;
        }
        if (h[i] == '&') { /* entities: the common named ones and numeric */
            static const struct { const char *name; const char *text; } ents[] = {
                {"amp;", "&"}, {"lt;", "<"}, {"gt;", ">"}, {"quot;", "\""}, {"apos;", "'"}, {"#39;", "'"},
                {"nbsp;", " "}, {"mdash;", "\xe2\x80\x94"}, {"ndash;", "\xe2\x80\x93"}, {"hellip;", "\xe2\x80\xa6"}};
            int done = 0;
            for (size_t e = 0; e < sizeof ents / sizeof *ents && !done; e++) {
                size_t el = strlen(ents[e].name);
                if (i + 1 + el <= len && !strncmp(h + i + 1, ents[e].name, el)) {
                    put(out, &n, ents[e].text, strlen(ents[e].text));
                    i += 1 + el;
                    done = 1;
                }
            }
            if (!done && i + 2 < len && h[i + 1] == '#') {
                char *end;
                int hex = h[i + 2] == 'x' || h[i + 2] == 'X';
                unsigned long cp = strtoul(h + i + 2 + hex, &end, hex ? 16 : 10);
                if (end > h + i + 2 + hex && (size_t)(end - h) < len && *end == ';' && cp > 0 && cp < 0x110000) {
                    char buf[4];
                    int k = utf8_encode((uint32_t)cp, buf);
                    put(out, &n, buf, (size_t)k);
                    i = (size_t)(end - h) + 1;
                    done = 1;
                }
            }
            if (done) continue;
        }
        out[n++] = h[i++];
    }
    out[n] = 0;
    *out_len = n;
    return out;
}

/* ---- files ------------------------------------------------------------------ */
static char *slurp(const char *path, size_t *len, int *st)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *st = hrt_err(HRT_E_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    fstat(fileno(f), &sb);
    char *b = malloc((size_t)sb.st_size + 1);
    size_t n = b ? fread(b, 1, (size_t)sb.st_size, f) : 0;
    fclose(f);
    if (!b || n != (size_t)sb.st_size) {
        free(b);
        *st = hrt_err(b ? HRT_E_IO : HRT_E_NOMEM, "%s: cannot read", path);
        return NULL;
    }
    b[n] = 0;
    *len = n;
    return b;
}

/* A text file, in parts when it is large. */
static int read_text(const char *path, read_doc_fn fn, void *ud)
{
    FILE *f = fopen(path, "rb");
    if (!f) return hrt_err(HRT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    fstat(fileno(f), &sb);
    int parts = (uint64_t)sb.st_size > READ_PART_BYTES;
    size_t cap = READ_PART_BYTES + 1, len = 0;
    char *buf = malloc(cap + 1), *meta = file_meta(path, "text");
    int st = buf && meta ? 0 : hrt_err(HRT_E_NOMEM, "out of memory");
    int part = 0, first = 1;
    while (!st) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (!len) break;
        if (first && looks_binary(buf, len)) {
            st = hrt_err(HRT_E_UNSUPPORTED, "%s: binary data, not text", path);
            break;
        }
        first = 0;
        int eof = got == 0 || feof(f);
        size_t cut = len;
        if (!eof) { /* end the part at a paragraph break, else a line break, else anywhere */
            char *p = NULL;
            for (size_t i = len - 1; i > len / 2 && !p; i--)
                if (buf[i] == '\n' && buf[i - 1] == '\n') p = buf + i + 1;
            for (size_t i = len - 1; i > len / 2 && !p; i--)
                if (buf[i] == '\n') p = buf + i + 1;
            if (p) cut = (size_t)(p - buf);
        }
        char source[4200];
        if (parts) snprintf(source, sizeof source, "%s#part-%d", path, part++);
        else snprintf(source, sizeof source, "%s", path);
        size_t k = 0;
        while (k < cut && isspace((unsigned char)buf[k])) k++;
        if (k < cut) st = emit(source, buf, cut, meta, fn, ud);
        memmove(buf, buf + cut, len - cut);
        len -= cut;
        if (eof && !len) break;
    }
    fclose(f);
    free(buf);
    free(meta);
    return st;
}

/* The scalar fields of a JSON record but the text, as a metadata object. */
static char *record_meta(const cJSON *rec, const char *path, const char *text_field)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "path", path);
    const cJSON *f;
    cJSON_ArrayForEach(f, rec)
    {
        if (!f->string || !strcmp(f->string, text_field)) continue;
        if (cJSON_IsString(f) || cJSON_IsNumber(f) || cJSON_IsBool(f)) cJSON_AddItemToObject(m, f->string, cJSON_Duplicate(f, 0));
    }
    char *s = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return s;
}

static int read_record(const char *path, const cJSON *rec, long number, const read_opts *o, read_doc_fn fn, void *ud)
{
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(rec, o->text_field);
    if (!cJSON_IsObject(rec) || !cJSON_IsString(text))
        return hrt_err(HRT_E_FORMAT, "%s: record %ld: no string field \"%s\" (set the text field)", path, number,
                       o->text_field);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, o->id_field);
    char source[4200];
    if (cJSON_IsString(id)) snprintf(source, sizeof source, "%s#%s", path, id->valuestring);
    else if (cJSON_IsNumber(id)) snprintf(source, sizeof source, "%s#%.17g", path, id->valuedouble);
    else snprintf(source, sizeof source, "%s#%ld", path, number);
    char *meta = record_meta(rec, path, o->text_field);
    if (!meta) return hrt_err(HRT_E_NOMEM, "out of memory");
    int st = *text->valuestring ? emit(source, text->valuestring, strlen(text->valuestring), meta, fn, ud) : 0;
    free(meta);
    return st;
}

static int read_jsonl(const char *path, const read_opts *o, read_doc_fn fn, void *ud)
{
    FILE *f = fopen(path, "rb");
    if (!f) return hrt_err(HRT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long number = 0;
    int st = 0;
    while (!st && (n = getline(&line, &cap, f)) >= 0) {
        number++;
        if (number == 1 && looks_binary(line, (size_t)n)) {
            st = hrt_err(HRT_E_UNSUPPORTED, "%s: binary data, not JSON lines", path);
            break;
        }
        size_t k = 0;
        while (k < (size_t)n && isspace((unsigned char)line[k])) k++;
        if (k == (size_t)n) continue;
        cJSON *rec = cJSON_ParseWithLength(line, (size_t)n);
        if (!rec) st = hrt_err(HRT_E_FORMAT, "%s: line %ld: not valid JSON", path, number);
        else st = read_record(path, rec, number, o, fn, ud);
        cJSON_Delete(rec);
    }
    free(line);
    fclose(f);
    return st;
}

static int read_json(const char *path, const read_opts *o, read_doc_fn fn, void *ud)
{
    size_t len;
    int st = 0;
    char *b = slurp(path, &len, &st);
    if (!b) return st;
    if (looks_binary(b, len)) {
        free(b);
        return hrt_err(HRT_E_UNSUPPORTED, "%s: binary data, not JSON", path);
    }
    cJSON *j = cJSON_ParseWithLength(b, len);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        long line = 1;
        for (const char *p = b; at && p < at && p < b + len; p++) line += *p == '\n';
        st = hrt_err(HRT_E_FORMAT, "%s: line %ld: not valid JSON", path, line);
    } else if (cJSON_IsArray(j)) {
        long number = 0;
        const cJSON *rec;
        cJSON_ArrayForEach(rec, j)
        {
            if (st) break;
            st = read_record(path, rec, ++number, o, fn, ud);
        }
    } else {
        st = read_record(path, j, 1, o, fn, ud);
    }
    cJSON_Delete(j);
    free(b);
    return st;
}

static int read_html(const char *path, read_doc_fn fn, void *ud)
{
    size_t len, tl;
    int st = 0;
    char *b = slurp(path, &len, &st);
    if (!b) return st;
    if (looks_binary(b, len)) {
        free(b);
        return hrt_err(HRT_E_UNSUPPORTED, "%s: binary data, not HTML", path);
    }
    char *t = read_html_text(b, len, &tl), *meta = file_meta(path, "html");
    free(b);
    if (!t || !meta) st = hrt_err(HRT_E_NOMEM, "out of memory");
    size_t k = 0;
    while (!st && k < tl && isspace((unsigned char)t[k])) k++;
    if (!st && k < tl) st = emit(path, t, tl, meta, fn, ud);
    free(t);
    free(meta);
    return st;
}

int read_file(const char *path, const read_opts *o, read_doc_fn fn, void *ud)
{
    read_opts def = {"text", "id"};
    if (!o) o = &def;
    switch (kind_of(path)) {
    case K_TEXT: return read_text(path, fn, ud);
    case K_HTML: return read_html(path, fn, ud);
    case K_JSON: return read_json(path, o, fn, ud);
    case K_JSONL: return read_jsonl(path, o, fn, ud);
    default: return hrt_err(HRT_E_UNSUPPORTED, "%s: not a kind hrt reads (.txt .md .html .json .jsonl)", path);
    }
}
