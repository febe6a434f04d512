/* A tiny in-memory GGUF writer for tests and fuzz seeds: enough to build
 * valid files and then corrupt them on purpose. */
#ifndef HRT_TEST_GGUF_WRITER_H
#define HRT_TEST_GGUF_WRITER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *p;
    size_t len, cap;
} gw_buf;

static void gw_put(gw_buf *b, const void *s, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
static void gw_u32(gw_buf *b, uint32_t v) { gw_put(b, &v, 4); }
static void gw_u64(gw_buf *b, uint64_t v) { gw_put(b, &v, 8); }
static void gw_f32(gw_buf *b, float v) { gw_put(b, &v, 4); }
static void gw_str(gw_buf *b, const char *s) { gw_u64(b, strlen(s)); gw_put(b, s, strlen(s)); }
static void gw_kv_u32(gw_buf *b, const char *k, uint32_t v) { gw_str(b, k); gw_u32(b, 4); gw_u32(b, v); }
static void gw_kv_f32(gw_buf *b, const char *k, float v) { gw_str(b, k); gw_u32(b, 6); gw_f32(b, v); }
static void gw_kv_str(gw_buf *b, const char *k, const char *v) { gw_str(b, k); gw_u32(b, 8); gw_str(b, v); }
static void gw_pad(gw_buf *b, size_t align)
{
    static const uint8_t z[64];
    while (b->len % align) gw_put(b, z, 1);
}

/* A tensor info: name, 2 dims (ne0, ne1), type, offset. */
static void gw_tensor(gw_buf *b, const char *name, uint64_t ne0, uint64_t ne1, uint32_t type, uint64_t off)
{
    gw_str(b, name);
    gw_u32(b, ne1 > 1 ? 2 : 1);
    gw_u64(b, ne0);
    if (ne1 > 1) gw_u64(b, ne1);
    gw_u32(b, type);
    gw_u64(b, off);
}

#endif
