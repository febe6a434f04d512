/* A growable byte buffer, kept NUL-terminated so that text built in it can
 * be used as a C string at any point: generated text, rendered prompts,
 * index files being assembled. Zero-initialise, append with strbuf_put,
 * take p (the caller frees it) or free it. */
#ifndef HRT_STRBUF_H
#define HRT_STRBUF_H

#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct {
    char *p;     /* NULL until the first put */
    size_t len;  /* bytes, not counting the NUL */
    size_t cap;
} strbuf;

/* Appends n bytes of s (n may be 0: the buffer then exists, empty).
 * 0 or HRT_E_NOMEM; on failure the buffer is as it was. */
static inline int strbuf_put(strbuf *b, const void *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return hrt_err(HRT_E_NOMEM, "out of memory");
        b->p = p, b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

/* Shortens the buffer to its first len bytes (len <= b->len). */
static inline void strbuf_cut(strbuf *b, size_t len)
{
    if (len < b->len) b->len = len, b->p[len] = 0;
}

#endif
