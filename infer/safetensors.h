/* Hugging Face safetensors reader, over a read-only mmap.
 *
 * Layout (huggingface/safetensors README): u64 little-endian header length N,
 * N bytes of JSON mapping tensor names to {"dtype", "shape",
 * "data_offsets": [begin, end]} (offsets relative to the byte after the
 * header) plus an optional "__metadata__" object, then the data. Every
 * tensor's byte range is checked against its dtype and shape and against the
 * file's end. */
#ifndef HRT_SAFETENSORS_H
#define HRT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *name;
    uint32_t type;      /* GGML_TYPE_F32 / F16 / BF16 / I64 / ... */
    int n_dims;
    int64_t shape[4];   /* as written: shape[0] outermost (rows) */
    uint64_t nbytes;
    const void *data;
} st_tensor;

typedef struct {
    char *path;
    const uint8_t *base;
    size_t size;
    int mapped;
    int n_tensors;
    st_tensor *tensors;  /* sorted by name */
} st_file;

int st_open(const char *path, st_file **out);
/* Parses an in-memory image (borrowed). name is used in messages. */
int st_parse(const void *buf, size_t size, const char *name, st_file **out);
void st_close(st_file *f);
const st_tensor *st_find(const st_file *f, const char *name);

#endif
