#include "gguf.h"

#include "cpu/quant.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_ARRAY_DEPTH 8

/* A bounds-checked cursor over the file image. */
typedef struct {
    const uint8_t *p, *end, *base;
    const char *file;
} cursor;

static int need(cursor *c, uint64_t n, const char *what)
{
    if ((uint64_t)(c->end - c->p) < n)
        return hrt_err(HRT_E_FORMAT,
                       "%s: truncated file: %s needs %llu bytes at offset %lld, "
                       "%lld left",
                       c->file, what, (unsigned long long)n,
                       (long long)(c->p - c->base),
                       (long long)(c->end - c->p));
    return 0;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what)
{
    int st = need(c, 4, what);
    if (st) return st;
    memcpy(v, c->p, 4);
    c->p += 4;
    return 0;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what)
{
    int st = need(c, 8, what);
    if (st) return st;
    memcpy(v, c->p, 8);
    c->p += 8;
    return 0;
}

/* Reads a gguf string (u64 length + bytes) and leaves s/len pointing into
 * the image. */
static int rd_str(cursor *c, const char **s, uint64_t *len, const char *what)
{
    int st = rd_u64(c, len, what);
    if (st) return st;
    if (*len > (uint64_t)(c->end - c->p))
        return hrt_err(HRT_E_FORMAT, "%s: %s: string length %llu exceeds the %lld bytes left",
                       c->file, what, (unsigned long long)*len, (long long)(c->end - c->p));
    *s = (const char *)c->p;
    c->p += *len;
    return 0;
}

static const size_t vtype_size[GGUF_VTYPE_COUNT] = {
    [GGUF_U8] = 1, [GGUF_I8] = 1, [GGUF_U16] = 2, [GGUF_I16] = 2,
    [GGUF_U32] = 4, [GGUF_I32] = 4, [GGUF_F32] = 4, [GGUF_BOOL] = 1,
    [GGUF_U64] = 8, [GGUF_I64] = 8, [GGUF_F64] = 8,
};

const char *gguf_vtype_name(uint32_t t)
{
    static const char *names[GGUF_VTYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string",
        "array", "u64", "i64", "f64"};
    return t < GGUF_VTYPE_COUNT ? names[t] : "unknown";
}

/* Skips over one value of type t, validating it. */
static int skip_value(cursor *c, uint32_t t, int depth, const char *key)
{
    if (t >= GGUF_VTYPE_COUNT)
        return hrt_err(HRT_E_FORMAT, "%s: metadata '%s': unknown value type %u",
                       c->file, key, t);
    if (t == GGUF_STRING) {
        const char *s;
        uint64_t len;
        return rd_str(c, &s, &len, key);
    }
    if (t == GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        int st;
        if (depth >= GGUF_MAX_ARRAY_DEPTH)
            return hrt_err(HRT_E_FORMAT, "%s: metadata '%s': arrays nested deeper than %d",
                           c->file, key, GGUF_MAX_ARRAY_DEPTH);
        if ((st = rd_u32(c, &et, key)) || (st = rd_u64(c, &n, key))) return st;
        if (et >= GGUF_VTYPE_COUNT)
            return hrt_err(HRT_E_FORMAT, "%s: metadata '%s': unknown array element type %u",
                           c->file, key, et);
        if (et != GGUF_STRING && et != GGUF_ARRAY) {
            uint64_t left = (uint64_t)(c->end - c->p);
            if (n > left / vtype_size[et])
                return hrt_err(HRT_E_FORMAT,
                               "%s: metadata '%s': array of %llu %s elements exceeds the %llu bytes left",
                               c->file, key, (unsigned long long)n, gguf_vtype_name(et),
                               (unsigned long long)left);
            c->p += n * vtype_size[et];
            return 0;
        }
        /* Each string or nested array takes at least 8 bytes. */
        if (n > (uint64_t)(c->end - c->p) / 8)
            return hrt_err(HRT_E_FORMAT, "%s: metadata '%s': array count %llu is larger than the file",
                           c->file, key, (unsigned long long)n);
        for (uint64_t i = 0; i < n; i++)
            if ((st = skip_value(c, et, depth + 1, key))) return st;
        return 0;
    }
    int st = need(c, vtype_size[t], key);
    if (st) return st;
    c->p += vtype_size[t];
    return 0;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const gguf_tensor *)a)->name, ((const gguf_tensor *)b)->name);
}

/* Copies a non-NUL-terminated name into the names arena. */
static const char *arena_put(char **arena, const char *s, uint64_t len)
{
    char *dst = *arena;
    memcpy(dst, s, len);
    dst[len] = 0;
    *arena += len + 1;
    return dst;
}

static int parse_tensor_infos(cursor *c, gguf_file *f, char **arena)
{
    int st;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        const char *name = NULL;
        uint64_t name_len = 0;
        char what[64];
        snprintf(what, sizeof what, "tensor info %llu", (unsigned long long)i);
        if ((st = rd_str(c, &name, &name_len, what))) return st;
        if (name_len == 0 || memchr(name, 0, name_len))
            return hrt_err(HRT_E_FORMAT, "%s: %s: empty name or name with a NUL byte",
                           c->file, what);
        t->name = arena_put(arena, name, name_len);
        if ((st = rd_u32(c, &t->n_dims, t->name))) return st;
        if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
            return hrt_err(HRT_E_FORMAT, "%s: tensor '%s': n_dims %u (expected 1..%d)",
                           c->file, t->name, t->n_dims, GGUF_MAX_DIMS);
        uint64_t nel = 1;
        for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t v;
            if ((st = rd_u64(c, &v, t->name))) return st;
            if (v == 0 || v > (1ull << 40) || nel > (1ull << 62) / v)
                return hrt_err(HRT_E_FORMAT, "%s: tensor '%s': dimension %u is %llu (zero or absurd)",
                               c->file, t->name, d, (unsigned long long)v);
            t->ne[d] = (int64_t)v;
            nel *= v;
        }
        if ((st = rd_u32(c, &t->type, t->name)) || (st = rd_u64(c, &t->offset, t->name)))
            return st;
        int blk = ggml_type_block(t->type);
        if (blk == 0)
            return hrt_err(HRT_E_FORMAT, "%s: tensor '%s': unknown tensor type %u",
                           c->file, t->name, t->type);
        if (t->ne[0] % blk)
            return hrt_err(HRT_E_FORMAT, "%s: tensor '%s': row length %lld is not a multiple of "
                           "the %s block size %d",
                           c->file, t->name, (long long)t->ne[0], ggml_type_name(t->type), blk);
        t->nbytes = (nel / (uint64_t)blk) * ggml_type_block_bytes(t->type);
        if (t->offset % f->alignment)
            return hrt_err(HRT_E_FORMAT, "%s: tensor '%s': offset %llu is not a multiple of the "
                           "alignment %u",
                           c->file, t->name, (unsigned long long)t->offset, f->alignment);
    }
    return 0;
}

int gguf_parse(const void *buf, size_t size, const char *name, gguf_file **out)
{
    *out = NULL;
    cursor c = {buf, (const uint8_t *)buf + size, buf, name};
    uint32_t magic, version;
    uint64_t n_tensors, n_kv;
    int st;
    if (size < 4 || (memcpy(&magic, buf, 4), magic != GGUF_MAGIC))
        return hrt_err(HRT_E_FORMAT, "%s: not a GGUF file (bad magic)", name);
    c.p += 4;
    if ((st = rd_u32(&c, &version, "version"))) return st;
    if (version < 2 || version > 3)
        return hrt_err(HRT_E_UNSUPPORTED, "%s: GGUF version %u (hrt reads versions 2 and 3)",
                       name, version);
    if ((st = rd_u64(&c, &n_tensors, "tensor count")) || (st = rd_u64(&c, &n_kv, "metadata count")))
        return st;
    /* A key/value takes at least 12 bytes, a tensor info at least 28. */
    if (n_kv > size / 12)
        return hrt_err(HRT_E_FORMAT, "%s: metadata count %llu is larger than the file allows",
                       name, (unsigned long long)n_kv);
    if (n_tensors > size / 28)
        return hrt_err(HRT_E_FORMAT, "%s: tensor count %llu is larger than the file allows",
                       name, (unsigned long long)n_tensors);

    gguf_file *f = calloc(1, sizeof *f);
    if (!f) return hrt_err(HRT_E_NOMEM, "%s: out of memory", name);
    f->path = strdup(name);
    f->base = buf;
    f->size = size;
    f->version = version;
    f->n_kv = n_kv;
    f->n_tensors = n_tensors;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    f->kv = calloc(n_kv ? n_kv : 1, sizeof *f->kv);
    f->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *f->tensors);
    /* Names are copied NUL-terminated; they can take no more than the file. */
    f->names = malloc(size + n_kv + n_tensors + 1);
    if (!f->path || !f->kv || !f->tensors || !f->names) {
        gguf_close(f);
        return hrt_err(HRT_E_NOMEM, "%s: out of memory", name);
    }
    char *arena = f->names;

    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        const char *key = NULL;
        uint64_t key_len = 0;
        char what[64];
        snprintf(what, sizeof what, "metadata key %llu", (unsigned long long)i);
        if ((st = rd_str(&c, &key, &key_len, what))) goto fail;
        if (memchr(key, 0, key_len)) {
            st = hrt_err(HRT_E_FORMAT, "%s: %s contains a NUL byte", name, what);
            goto fail;
        }
        kv->key = arena_put(&arena, key, key_len);
        if ((st = rd_u32(&c, &kv->type, kv->key))) goto fail;
        if (kv->type == GGUF_ARRAY) {
            const uint8_t *start = c.p;
            if ((st = rd_u32(&c, &kv->arr_type, kv->key)) || (st = rd_u64(&c, &kv->arr_count, kv->key)))
                goto fail;
            kv->data = c.p;
            c.p = start;
        } else {
            kv->data = c.p;
        }
        if ((st = skip_value(&c, kv->type, 0, kv->key))) goto fail;
    }

    const gguf_kv *al = gguf_find(f, "general.alignment");
    if (al) {
        uint32_t a;
        if ((st = gguf_get_u32(f, "general.alignment", &a))) goto fail;
        if (a == 0 || (a & (a - 1)) || a > 65536) {
            st = hrt_err(HRT_E_FORMAT, "%s: general.alignment is %u (expected a power of two)", name, a);
            goto fail;
        }
        f->alignment = a;
    }

    if ((st = parse_tensor_infos(&c, f, &arena))) goto fail;

    uint64_t pos = (uint64_t)(c.p - (const uint8_t *)buf);
    f->data_offset = (pos + f->alignment - 1) / f->alignment * f->alignment;
    for (uint64_t i = 0; i < n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (f->data_offset > size || t->offset > size - f->data_offset ||
            t->nbytes > size - f->data_offset - t->offset) {
            st = hrt_err(HRT_E_FORMAT,
                         "%s: tensor '%s': data (%llu bytes at offset %llu) runs past the end of "
                         "the file (%zu bytes): truncated file?",
                         name, t->name, (unsigned long long)t->nbytes,
                         (unsigned long long)(f->data_offset + t->offset), size);
            goto fail;
        }
        t->data = (const uint8_t *)buf + f->data_offset + t->offset;
    }
    qsort(f->tensors, n_tensors, sizeof *f->tensors, cmp_tensor_name);
    for (uint64_t i = 1; i < n_tensors; i++)
        if (!strcmp(f->tensors[i].name, f->tensors[i - 1].name)) {
            st = hrt_err(HRT_E_FORMAT, "%s: tensor '%s' appears twice", name, f->tensors[i].name);
            goto fail;
        }
    *out = f;
    return 0;
fail:
    gguf_close(f);
    return st;
}

int gguf_open(const char *path, gguf_file **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return hrt_err(HRT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return hrt_err(HRT_E_IO, "%s: not a regular file", path);
    }
    if (sb.st_size == 0) {
        close(fd);
        return hrt_err(HRT_E_FORMAT, "%s: empty file", path);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return hrt_err(HRT_E_IO, "%s: cannot map: %s", path, strerror(errno));
    int st = gguf_parse(map, (size_t)sb.st_size, path, out);
    if (st) {
        munmap(map, (size_t)sb.st_size);
        return st;
    }
    (*out)->mapped = 1;
    return 0;
}

void gguf_close(gguf_file *f)
{
    if (!f) return;
    if (f->mapped) munmap((void *)f->base, f->size);
    free(f->path);
    free(f->kv);
    free(f->tensors);
    free(f->names);
    free(f);
}

const gguf_kv *gguf_find(const gguf_file *f, const char *key)
{
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (!strcmp(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    gguf_tensor key = {.name = name};
    return bsearch(&key, f->tensors, f->n_tensors, sizeof key, cmp_tensor_name);
}

/* Reads an integer-typed scalar at p as int64 (u64 beyond INT64_MAX fails). */
static int scalar_int(uint32_t t, const uint8_t *p, int64_t *v)
{
    switch (t) {
    case GGUF_U8: *v = *p; return 1;
    case GGUF_I8: *v = (int8_t)*p; return 1;
    case GGUF_BOOL: *v = *p != 0; return 1;
    case GGUF_U16: { uint16_t x; memcpy(&x, p, 2); *v = x; return 1; }
    case GGUF_I16: { int16_t x; memcpy(&x, p, 2); *v = x; return 1; }
    case GGUF_U32: { uint32_t x; memcpy(&x, p, 4); *v = x; return 1; }
    case GGUF_I32: { int32_t x; memcpy(&x, p, 4); *v = x; return 1; }
    case GGUF_U64: { uint64_t x; memcpy(&x, p, 8); if (x > INT64_MAX) return 0; *v = (int64_t)x; return 1; }
    case GGUF_I64: { int64_t x; memcpy(&x, p, 8); *v = x; return 1; }
    default: return 0;
    }
}

static int type_error(const gguf_file *f, const gguf_kv *kv, const char *want)
{
    return hrt_err(HRT_E_FORMAT, "%s: metadata '%s' is %s, expected %s", f->path, kv->key,
                   gguf_vtype_name(kv->type), want);
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    int64_t v;
    if (!kv) return HRT_E_RANGE;
    if (!scalar_int(kv->type, kv->data, &v)) return type_error(f, kv, "an integer");
    if (v < 0 || v > UINT32_MAX)
        return hrt_err(HRT_E_FORMAT, "%s: metadata '%s' is %lld, out of range", f->path, key, (long long)v);
    *out = (uint32_t)v;
    return 0;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return HRT_E_RANGE;
    if (kv->type == GGUF_F32) { memcpy(out, kv->data, 4); return 0; }
    if (kv->type == GGUF_F64) { double d; memcpy(&d, kv->data, 8); *out = (float)d; return 0; }
    int64_t v;
    if (scalar_int(kv->type, kv->data, &v)) { *out = (float)v; return 0; }
    return type_error(f, kv, "a number");
}

int gguf_get_bool(const gguf_file *f, const char *key, int *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    int64_t v;
    if (!kv) return HRT_E_RANGE;
    if (!scalar_int(kv->type, kv->data, &v)) return type_error(f, kv, "a bool");
    *out = v != 0;
    return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, const char **s, size_t *len)
{
    const gguf_kv *kv = gguf_find(f, key);
    uint64_t n;
    if (!kv) return HRT_E_RANGE;
    if (kv->type != GGUF_STRING) return type_error(f, kv, "a string");
    memcpy(&n, kv->data, 8);
    *s = (const char *)kv->data + 8;
    *len = (size_t)n;
    return 0;
}

int gguf_get_str_arr(const gguf_file *f, const char *key, const char **ptrs, uint32_t *lens,
                     uint64_t *count)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return HRT_E_RANGE;
    if (kv->type != GGUF_ARRAY || kv->arr_type != GGUF_STRING)
        return type_error(f, kv, "an array of strings");
    *count = kv->arr_count;
    if (!ptrs) return 0;
    const uint8_t *p = kv->data; /* validated by gguf_parse */
    for (uint64_t i = 0; i < kv->arr_count; i++) {
        uint64_t n;
        memcpy(&n, p, 8);
        if (n > UINT32_MAX)
            return hrt_err(HRT_E_FORMAT, "%s: metadata '%s' element %llu is %llu bytes long",
                           f->path, key, (unsigned long long)i, (unsigned long long)n);
        ptrs[i] = (const char *)p + 8;
        lens[i] = (uint32_t)n;
        p += 8 + n;
    }
    return 0;
}

int gguf_get_i32_arr(const gguf_file *f, const char *key, int32_t *out, uint64_t *count)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return HRT_E_RANGE;
    if (kv->type != GGUF_ARRAY || kv->arr_type == GGUF_STRING || kv->arr_type == GGUF_ARRAY ||
        kv->arr_type == GGUF_F32 || kv->arr_type == GGUF_F64)
        return type_error(f, kv, "an array of integers");
    *count = kv->arr_count;
    if (!out) return 0;
    size_t es = vtype_size[kv->arr_type];
    for (uint64_t i = 0; i < kv->arr_count; i++) {
        int64_t v;
        if (!scalar_int(kv->arr_type, kv->data + i * es, &v) || v < INT32_MIN || v > INT32_MAX)
            return hrt_err(HRT_E_FORMAT, "%s: metadata '%s' element %llu out of range", f->path,
                           key, (unsigned long long)i);
        out[i] = (int32_t)v;
    }
    return 0;
}

int gguf_get_f32_arr(const gguf_file *f, const char *key, float *out, uint64_t *count)
{
    const gguf_kv *kv = gguf_find(f, key);
    if (!kv) return HRT_E_RANGE;
    if (kv->type != GGUF_ARRAY || kv->arr_type != GGUF_F32)
        return type_error(f, kv, "an array of f32");
    *count = kv->arr_count;
    if (out) memcpy(out, kv->data, kv->arr_count * 4);
    return 0;
}

static int scalar_text(uint32_t t, const uint8_t *p, char *buf, size_t cap)
{
    int64_t v;
    if (t == GGUF_F32) { float x; memcpy(&x, p, 4); return snprintf(buf, cap, "%g", x); }
    if (t == GGUF_F64) { double x; memcpy(&x, p, 8); return snprintf(buf, cap, "%g", x); }
    if (t == GGUF_BOOL) return snprintf(buf, cap, "%s", *p ? "true" : "false");
    if (t == GGUF_U64) { uint64_t x; memcpy(&x, p, 8); return snprintf(buf, cap, "%llu", (unsigned long long)x); }
    if (scalar_int(t, p, &v)) return snprintf(buf, cap, "%lld", (long long)v);
    return snprintf(buf, cap, "?");
}

int gguf_kv_to_text(const gguf_kv *kv, char *buf, size_t cap)
{
    if (kv->type == GGUF_STRING) {
        uint64_t n;
        memcpy(&n, kv->data, 8);
        if (cap) {
            size_t k = n < cap - 1 ? (size_t)n : cap - 1;
            memcpy(buf, kv->data + 8, k);
            buf[k] = 0;
        }
        return (int)(n > INT32_MAX ? INT32_MAX : n);
    }
    if (kv->type == GGUF_ARRAY) {
        char first[64] = "";
        if (kv->arr_count && kv->arr_type != GGUF_ARRAY && kv->arr_type != GGUF_STRING)
            scalar_text(kv->arr_type, kv->data, first, sizeof first);
        else if (kv->arr_count && kv->arr_type == GGUF_STRING) {
            uint64_t n;
            memcpy(&n, kv->data, 8);
            snprintf(first, sizeof first, "\"%.*s\"", (int)(n < 40 ? n : 40), kv->data + 8);
        }
        return snprintf(buf, cap, "[%s x %llu%s%s%s]", gguf_vtype_name(kv->arr_type),
                        (unsigned long long)kv->arr_count, kv->arr_count ? ": " : "", first,
                        kv->arr_count > 1 ? ", ..." : "");
    }
    return scalar_text(kv->type, kv->data, buf, cap);
}
