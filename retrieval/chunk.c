#include "chunk.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

enum { U_PARA_END = 1, U_HEADING = 2 };

typedef struct {
    size_t start, end;
    int tokens, flags;
} unit;

typedef struct {
    unit *u;
    size_t n, cap;
} units;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Adds text[start..end) trimmed of white space, unless nothing is left. */
static int push(units *v, const char *text, size_t start, size_t end, int flags)
{
    while (start < end && is_space(text[start])) start++;
    while (end > start && is_space(text[end - 1])) end--;
    if (start == end) {
        if (flags & U_PARA_END && v->n) v->u[v->n - 1].flags |= U_PARA_END;
        return 0;
    }
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        unit *u = realloc(v->u, cap * sizeof *u);
        if (!u) return hrt_err(HRT_E_NOMEM, "out of memory chunking");
        v->u = u;
        v->cap = cap;
    }
    v->u[v->n++] = (unit){start, end, 0, flags};
    return 0;
}

/* Cuts the text into sentences, heading lines and paragraph ends. */
static int split_units(const char *t, size_t len, units *v)
{
    size_t start = 0, i = 0;
    int st = 0;
    while (!st && i < len) {
        int line_start = i == 0 || t[i - 1] == '\n';
        if (line_start && t[i] == '#') { /* a Markdown heading: its own unit */
            if ((st = push(v, t, start, i, U_PARA_END))) break;
            size_t e = i;
            while (e < len && t[e] != '\n') e++;
            st = push(v, t, i, e, U_HEADING);
            start = i = e;
            continue;
        }
        if (t[i] == '\n') { /* a blank line ends a paragraph */
            size_t j = i + 1;
            while (j < len && (t[j] == ' ' || t[j] == '\t' || t[j] == '\r')) j++;
            if (j < len && t[j] == '\n') {
                st = push(v, t, start, i, U_PARA_END);
                start = i = j + 1;
                continue;
            }
        }
        if ((t[i] == '.' || t[i] == '!' || t[i] == '?') && (i + 1 == len || is_space(t[i + 1]))) {
            st = push(v, t, start, i + 1, 0);
            start = i + 1;
        }
        i++;
    }
    if (!st) st = push(v, t, start, len, U_PARA_END);
    return st;
}

/* Cuts a unit of more than max tokens at word boundaries into pieces of at
 * most max tokens (a single word over max stays whole). */
static int split_long(const char *t, unit *u, int max, chunk_count_fn count, void *ud, units *out)
{
    size_t pos = u->start;
    while (pos < u->end) {
        /* the longest run of whole words from pos that fits: binary search
         * over the word ends */
        size_t ends[4096], n = 0;
        for (size_t i = pos; i < u->end && n < 4096; i++)
            if ((i + 1 == u->end || is_space(t[i + 1])) && !is_space(t[i])) ends[n++] = i + 1;
        size_t lo = 1, hi = n, best = 1;
        while (lo <= hi) {
            size_t mid = (lo + hi) / 2;
            int c = count(ud, t + pos, ends[mid - 1] - pos);
            if (c < 0) return c;
            if (c <= max) best = mid, lo = mid + 1;
            else hi = mid - 1;
        }
        size_t end = n ? ends[best - 1] : u->end;
        int st = push(out, t, pos, end, 0);
        if (st) return st;
        int c = count(ud, t + out->u[out->n - 1].start, out->u[out->n - 1].end - out->u[out->n - 1].start);
        if (c < 0) return c;
        out->u[out->n - 1].tokens = c;
        pos = end;
        while (pos < u->end && is_space(t[pos])) pos++;
    }
    if (out->n) out->u[out->n - 1].flags |= u->flags & U_PARA_END;
    return 0;
}

int chunk_text(const char *text, size_t len, int max_tokens, int overlap, chunk_count_fn count, void *ud,
               chunk_span **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (max_tokens < 8 || overlap < 0 || overlap >= max_tokens)
        return hrt_err(HRT_E_INVALID, "chunker: chunk size %d (>= 8) and overlap %d (< size)", max_tokens, overlap);
    units raw = {0}, v = {0};
    int st = split_units(text, len, &raw);
    for (size_t i = 0; !st && i < raw.n; i++) {
        unit *u = &raw.u[i];
        int c = count(ud, text + u->start, u->end - u->start);
        if (c < 0) {
            st = c;
        } else if (c <= max_tokens || (u->flags & U_HEADING)) {
            u->tokens = c;
            if (!(st = push(&v, text, u->start, u->end, u->flags))) v.u[v.n - 1].tokens = c;
        } else {
            st = split_long(text, u, max_tokens, count, ud, &v);
        }
    }
    free(raw.u);
    chunk_span *c = NULL;
    size_t nc = 0, cap = 0;
    for (size_t a = 0; !st && a < v.n;) {
        /* units a..b-1 form a chunk */
        size_t b = a;
        int sum = 0;
        while (b < v.n) {
            const unit *u = &v.u[b];
            if (b > a && (u->flags & U_HEADING)) break;
            if (b > a && sum + u->tokens > max_tokens) break;
            if (b > a && (v.u[b - 1].flags & U_PARA_END) && sum * 2 >= max_tokens && sum + u->tokens > max_tokens * 3 / 4)
                break; /* end at a paragraph once the chunk is well filled */
            sum += u->tokens;
            b++;
        }
        if (nc == cap) {
            chunk_span *g = realloc(c, (cap = cap ? 2 * cap : 16) * sizeof *g);
            if (!g) { st = hrt_err(HRT_E_NOMEM, "out of memory chunking"); break; }
            c = g;
        }
        c[nc++] = (chunk_span){v.u[a].start, v.u[b - 1].end, sum};
        if (b == v.n) break;
        /* the next chunk starts with up to overlap tokens of this one's tail */
        size_t next = b;
        int tail = 0;
        if (!(v.u[b].flags & U_HEADING))
            while (next - 1 > a && tail + v.u[next - 1].tokens <= overlap) tail += v.u[--next].tokens;
        while (next < b && tail + v.u[b].tokens > max_tokens) tail -= v.u[next++].tokens; /* room for new text */
        a = next;
    }
    free(v.u);
    if (st) {
        free(c);
        return st;
    }
    *out = c;
    *n_out = nc;
    return 0;
}
