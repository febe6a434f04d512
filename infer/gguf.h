/* GGUF reader (versions 2 and 3), over a read-only mmap of the file.
 *
 * Layout (ggml's docs/gguf.md): magic "GGUF", u32 version, u64 tensor count,
 * u64 metadata count, the metadata key/value pairs, the tensor infos (name,
 * u32 n_dims, u64 dims[n_dims], u32 type, u64 offset), padding to
 * general.alignment (default 32), then the tensor data; each tensor offset is
 * relative to the start of the data and a multiple of the alignment.
 *
 * Everything is validated once in gguf_parse(): lengths against the bytes
 * left, counts against what could fit, nested arrays against a depth limit,
 * tensor shapes against overflow, tensor data against the file's end. After
 * a successful parse, the accessors below cannot read out of bounds. */
#ifndef HRT_GGUF_H
#define HRT_GGUF_H

#include <stddef.h>
#include <stdint.h>

enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4,
    GGUF_I32 = 5, GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8,
    GGUF_ARRAY = 9, GGUF_U64 = 10, GGUF_I64 = 11, GGUF_F64 = 12,
    GGUF_VTYPE_COUNT
};

typedef struct {
    const char *key;        /* NUL-terminated copy */
    uint32_t type;          /* enum gguf_vtype */
    uint32_t arr_type;      /* element type when type == GGUF_ARRAY */
    uint64_t arr_count;
    const uint8_t *data;    /* the value's bytes in the mapping (for a string:
                               at its u64 length; for an array: at its first
                               element) */
} gguf_kv;

typedef struct {
    const char *name;       /* NUL-terminated copy */
    uint32_t type;          /* ggml type id (quant.h: GGML_TYPE_*) */
    uint32_t n_dims;
    int64_t ne[4];          /* ne[0] is the innermost (row length) */
    uint64_t offset;        /* relative to the data section */
    uint64_t nbytes;
    const void *data;       /* in the mapping */
} gguf_tensor;

typedef struct gguf_file {
    char *path;
    const uint8_t *base;    /* whole file */
    size_t size;
    int mapped;             /* base is an mmap (else borrowed memory) */
    uint32_t version;
    uint32_t alignment;
    uint64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
    uint64_t data_offset;
    char *names;            /* storage for keys and tensor names */
} gguf_file;

/* Maps and parses path. HRT_E_IO when it cannot be opened or mapped,
 * HRT_E_FORMAT (message names the file and field) when it is malformed. */
int gguf_open(const char *path, gguf_file **out);
/* Parses an in-memory image (borrowed; must outlive the result). name is
 * used in messages. */
int gguf_parse(const void *buf, size_t size, const char *name, gguf_file **out);
void gguf_close(gguf_file *f);

const gguf_kv *gguf_find(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters: 0 on success, HRT_E_RANGE when absent (no message set),
 * HRT_E_FORMAT when present with an incompatible type (message set).
 * Integer getters accept any integer type whose value fits. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
int gguf_get_f32(const gguf_file *f, const char *key, float *out);
int gguf_get_bool(const gguf_file *f, const char *key, int *out);
/* String value (not NUL-terminated) borrowed from the mapping. */
int gguf_get_str(const gguf_file *f, const char *key, const char **s, size_t *len);
/* Array of strings: fills ptrs/lens (count entries, caller-allocated);
 * *count receives the count. Call with ptrs == NULL to get the count. */
int gguf_get_str_arr(const gguf_file *f, const char *key, const char **ptrs,
                     uint32_t *lens, uint64_t *count);
/* Array of a numeric element type converted to int32 (any int type) or
 * float (f32). out may be NULL to query the count. */
int gguf_get_i32_arr(const gguf_file *f, const char *key, int32_t *out, uint64_t *count);
int gguf_get_f32_arr(const gguf_file *f, const char *key, float *out, uint64_t *count);

/* Prints a value as text (numbers, strings, arrays summarised) into buf;
 * returns the length needed. */
int gguf_kv_to_text(const gguf_kv *kv, char *buf, size_t cap);

const char *gguf_vtype_name(uint32_t t);

#endif
