#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpu/quant.h"
#include "error.h"

#define ST_MAX_HEADER (100u << 20) /* the format's own limit is 100 MB */

static int dtype_of(const char *s, uint32_t *type, size_t *esize)
{
    static const struct { const char *name; uint32_t type; size_t size; } map[] = {
        {"F32", GGML_TYPE_F32, 4}, {"F16", GGML_TYPE_F16, 2}, {"BF16", GGML_TYPE_BF16, 2},
        {"I64", GGML_TYPE_I64, 8}, {"I32", GGML_TYPE_I32, 4}, {"I16", GGML_TYPE_I16, 2},
        {"I8", GGML_TYPE_I8, 1},   {"F64", GGML_TYPE_F64, 8}, {"U8", GGML_TYPE_I8, 1},
        {"BOOL", GGML_TYPE_I8, 1},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(s, map[i].name)) {
            *type = map[i].type;
            *esize = map[i].size;
            return 1;
        }
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

/* Reads a non-negative integer that a double holds exactly. */
static int json_u64(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int parse_tensor(const cJSON *e, st_tensor *t, const char *file, uint64_t data_size,
                        const uint8_t *data)
{
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    size_t esize;
    if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off))
        return hrt_err(HRT_E_FORMAT, "%s: tensor '%s': needs dtype, shape and data_offsets", file,
                       t->name);
    if (!dtype_of(dt->valuestring, &t->type, &esize))
        return hrt_err(HRT_E_UNSUPPORTED, "%s: tensor '%s': dtype '%s' is not supported", file,
                       t->name, dt->valuestring);
    int nd = cJSON_GetArraySize(sh);
    if (nd > 4)
        return hrt_err(HRT_E_FORMAT, "%s: tensor '%s': %d dimensions (at most 4)", file, t->name, nd);
    t->n_dims = nd;
    uint64_t nel = 1;
    for (int d = 0; d < 4; d++) t->shape[d] = 1;
    for (int d = 0; d < nd; d++) {
        uint64_t v;
        if (!json_u64(cJSON_GetArrayItem(sh, d), &v) || v > (1ull << 40) ||
            (v && nel > (1ull << 60) / v))
            return hrt_err(HRT_E_FORMAT, "%s: tensor '%s': shape[%d] is not a sane size", file,
                           t->name, d);
        t->shape[d] = (int64_t)v;
        nel *= v;
    }
    uint64_t b, en;
    if (cJSON_GetArraySize(off) != 2 || !json_u64(cJSON_GetArrayItem(off, 0), &b) ||
        !json_u64(cJSON_GetArrayItem(off, 1), &en) || en < b)
        return hrt_err(HRT_E_FORMAT, "%s: tensor '%s': data_offsets must be [begin, end]", file,
                       t->name);
    if (en > data_size)
        return hrt_err(HRT_E_FORMAT, "%s: tensor '%s': data [%llu, %llu) runs past the end of the "
                       "file's %llu data bytes: truncated file?",
                       file, t->name, (unsigned long long)b, (unsigned long long)en,
                       (unsigned long long)data_size);
    if (en - b != nel * esize)
        return hrt_err(HRT_E_FORMAT, "%s: tensor '%s': %llu bytes for %llu elements of %s", file,
                       t->name, (unsigned long long)(en - b), (unsigned long long)nel,
                       dt->valuestring);
    t->nbytes = en - b;
    t->data = data + b;
    return 0;
}

int st_parse(const void *buf, size_t size, const char *name, st_file **out)
{
    *out = NULL;
    uint64_t hlen;
    if (size < 8) return hrt_err(HRT_E_FORMAT, "%s: truncated file: no header length", name);
    memcpy(&hlen, buf, 8);
    if (hlen > ST_MAX_HEADER || hlen > size - 8)
        return hrt_err(HRT_E_FORMAT, "%s: header length %llu exceeds the file (%zu bytes)", name,
                       (unsigned long long)hlen, size);
    const char *hdr = (const char *)buf + 8;
    cJSON *root = cJSON_ParseWithLength(hdr, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return hrt_err(HRT_E_FORMAT, "%s: header is not a JSON object", name);
    }
    st_file *f = calloc(1, sizeof *f);
    int n = cJSON_GetArraySize(root), st = 0;
    if (!f || !(f->path = strdup(name)) || !(f->tensors = calloc((size_t)n + 1, sizeof *f->tensors))) {
        cJSON_Delete(root);
        st_close(f);
        return hrt_err(HRT_E_NOMEM, "%s: out of memory", name);
    }
    f->base = buf;
    f->size = size;
    const uint8_t *data = (const uint8_t *)buf + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) continue;
        st_tensor *t = &f->tensors[f->n_tensors];
        if (!(t->name = strdup(e->string))) {
            st = hrt_err(HRT_E_NOMEM, "%s: out of memory", name);
            break;
        }
        f->n_tensors++;
        if ((st = parse_tensor(e, t, name, data_size, data))) break;
    }
    cJSON_Delete(root);
    if (!st) {
        qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, cmp_name);
        for (int i = 1; i < f->n_tensors; i++)
            if (!strcmp(f->tensors[i].name, f->tensors[i - 1].name)) {
                st = hrt_err(HRT_E_FORMAT, "%s: tensor '%s' appears twice", name, f->tensors[i].name);
                break;
            }
    }
    if (st) {
        st_close(f);
        return st;
    }
    *out = f;
    return 0;
}

int st_open(const char *path, st_file **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return hrt_err(HRT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0) {
        close(fd);
        return hrt_err(HRT_E_FORMAT, "%s: empty or not a regular file", path);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return hrt_err(HRT_E_IO, "%s: cannot map: %s", path, strerror(errno));
    int st = st_parse(map, (size_t)sb.st_size, path, out);
    if (st) {
        munmap(map, (size_t)sb.st_size);
        return st;
    }
    (*out)->mapped = 1;
    return 0;
}

void st_close(st_file *f)
{
    if (!f) return;
    if (f->mapped) munmap((void *)f->base, f->size);
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    free(f->path);
    free(f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    st_tensor key = {.name = (char *)name};
    return bsearch(&key, f->tensors, (size_t)f->n_tensors, sizeof key, cmp_name);
}
