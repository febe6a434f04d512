#include "sparse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fnv.h"

/* FTS5's bm25() constants (fts5_aux.c) */
#define K1 1.2
#define B 0.75

typedef struct {
    uint32_t doc, tf; /* doc: an ordinal into the chunk arrays */
} posting;

typedef struct {
    size_t off;     /* the term's bytes in x->strs */
    uint32_t len;
    posting *p;     /* (n), by doc */
    uint32_t n, cap;
    uint32_t df;    /* live chunks with the term */
    uint32_t mark;  /* the chunk being added has it: mark == cur + 1 */
    float ub;       /* max over p of tf_part at ref_avgdl */
} term;

struct sparse_index {
    term *terms;
    uint32_t n_terms, cap_terms;
    uint32_t *slots; /* open addressing: a term index + 1, 0 empty */
    uint32_t n_slots;
    char *strs;
    size_t strs_len, strs_cap;
    int64_t *ids;    /* (n_docs) chunk ids, increasing */
    uint32_t *dl;    /* (n_docs) tokens */
    uint8_t *dead;   /* (n_docs) */
    uint32_t n_docs, cap_docs, n_live;
    uint64_t total_len; /* tokens of live chunks */
    uint64_t n_postings;
    double ref_avgdl;   /* the bounds' reference length */
    int dirty;          /* a removal since the last commit: df to recount */
    uint32_t *touched;  /* terms of the chunk being added */
    uint32_t n_touched, cap_touched;
    int open;           /* between sparse_begin and sparse_end */
};

static double tf_part(uint32_t tf, uint32_t dl, double avgdl)
{
    return tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / avgdl));
}

static double avgdl(const sparse_index *x)
{
    return x->n_live ? (double)x->total_len / x->n_live : 1;
}

static int grow(void **p, uint32_t *cap, uint32_t need, size_t size)
{
    if (need <= *cap) return 0;
    uint32_t c = *cap ? *cap : 4;
    while (c < need) c *= 2;
    void *g = realloc(*p, (size_t)c * size);
    if (!g) return hrt_err(HRT_E_NOMEM, "the BM25 index: out of memory");
    *p = g;
    *cap = c;
    return 0;
}

int sparse_create(sparse_index **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return hrt_err(HRT_E_NOMEM, "out of memory");
    (*out)->ref_avgdl = 1;
    return 0;
}

void sparse_free(sparse_index *x)
{
    if (!x) return;
    for (uint32_t i = 0; i < x->n_terms; i++) free(x->terms[i].p);
    free(x->terms);
    free(x->slots);
    free(x->strs);
    free(x->ids);
    free(x->dl);
    free(x->dead);
    free(x->touched);
    free(x);
}

/* The slot of term (tok, n): holding it, or the empty one it would take. */
static uint32_t *slot(const sparse_index *x, const char *tok, int n)
{
    uint32_t mask = x->n_slots - 1, i = (uint32_t)fnv1a(FNV1A_BASIS, tok, (size_t)n) & mask;
    for (;; i = (i + 1) & mask) {
        uint32_t t = x->slots[i];
        if (!t) return &x->slots[i];
        const term *e = &x->terms[t - 1];
        if (e->len == (uint32_t)n && !memcmp(x->strs + e->off, tok, (size_t)n)) return &x->slots[i];
    }
}

static int rehash(sparse_index *x)
{
    uint32_t n = x->n_slots ? 2 * x->n_slots : 1024;
    uint32_t *old = x->slots, old_n = x->n_slots;
    if (!(x->slots = calloc(n, sizeof *x->slots))) {
        x->slots = old;
        return hrt_err(HRT_E_NOMEM, "the BM25 index: out of memory");
    }
    x->n_slots = n;
    for (uint32_t i = 0; i < old_n; i++)
        if (old[i]) {
            const term *e = &x->terms[old[i] - 1];
            *slot(x, x->strs + e->off, (int)e->len) = old[i];
        }
    free(old);
    return 0;
}

int sparse_begin(sparse_index *x, int64_t id)
{
    if (x->n_docs && id <= x->ids[x->n_docs - 1])
        return hrt_err(HRT_E_INVALID, "the BM25 index: chunk %lld after %lld", (long long)id,
                       (long long)x->ids[x->n_docs - 1]);
    if (x->n_docs == x->cap_docs) { /* the three arrays share a capacity */
        uint32_t cap = x->cap_docs ? 2 * x->cap_docs : 1024;
        int64_t *ids = realloc(x->ids, (size_t)cap * sizeof *ids);
        if (ids) x->ids = ids;
        uint32_t *dl = realloc(x->dl, (size_t)cap * sizeof *dl);
        if (dl) x->dl = dl;
        uint8_t *dead = realloc(x->dead, cap);
        if (dead) x->dead = dead;
        if (!ids || !dl || !dead) return hrt_err(HRT_E_NOMEM, "the BM25 index: out of memory");
        x->cap_docs = cap;
    }
    x->ids[x->n_docs] = id;
    x->dl[x->n_docs] = 0;
    x->dead[x->n_docs] = 0;
    x->n_touched = 0;
    x->open = 1;
    return 0;
}

int sparse_term(sparse_index *x, const char *tok, int n)
{
    if (!x->open || n <= 0) return 0;
    if (2 * (x->n_terms + 1) > x->n_slots) {
        int st = rehash(x);
        if (st) return st;
    }
    uint32_t *s = slot(x, tok, n), cur = x->n_docs;
    if (!*s) { /* a new term */
        int st = grow((void **)&x->terms, &x->cap_terms, x->n_terms + 1, sizeof *x->terms);
        if (!st && x->strs_len + (size_t)n > x->strs_cap) {
            size_t c = x->strs_cap ? 2 * x->strs_cap : 65536;
            while (c < x->strs_len + (size_t)n) c *= 2;
            char *g = realloc(x->strs, c);
            if (g) x->strs = g, x->strs_cap = c;
            else st = hrt_err(HRT_E_NOMEM, "the BM25 index: out of memory");
        }
        if (st) return st;
        memcpy(x->strs + x->strs_len, tok, (size_t)n);
        x->terms[x->n_terms] = (term){.off = x->strs_len, .len = (uint32_t)n};
        x->strs_len += (size_t)n;
        *s = ++x->n_terms;
    }
    term *t = &x->terms[*s - 1];
    x->dl[cur]++;
    if (t->mark == cur + 1) {
        t->p[t->n - 1].tf++;
        return 0;
    }
    int st = grow((void **)&t->p, &t->cap, t->n + 1, sizeof *t->p);
    if (!st) st = grow((void **)&x->touched, &x->cap_touched, x->n_touched + 1, sizeof *x->touched);
    if (st) return st;
    t->p[t->n++] = (posting){cur, 1};
    t->mark = cur + 1;
    x->touched[x->n_touched++] = *s - 1;
    x->n_postings++;
    return 0;
}

int sparse_end(sparse_index *x)
{
    if (!x->open) return 0;
    uint32_t cur = x->n_docs++;
    x->n_live++;
    x->total_len += x->dl[cur];
    for (uint32_t i = 0; i < x->n_touched; i++) {
        term *t = &x->terms[x->touched[i]];
        t->df++;
        float part = (float)tf_part(t->p[t->n - 1].tf, x->dl[cur], x->ref_avgdl);
        if (part > t->ub) t->ub = part;
    }
    x->open = 0;
    return 0;
}

static int build_tok(void *ud, int64_t id, const char *tok, int n)
{
    sparse_index *x = ud;
    if (tok) return sparse_term(x, tok, n);
    int st = sparse_end(x); /* the chunk before id, if any */
    return st ? st : sparse_begin(x, id);
}

int sparse_build(kb_store *s, sparse_index **out)
{
    sparse_index *x = NULL;
    int st = sparse_create(&x);
    if (!st) st = store_chunk_tokens(s, build_tok, x);
    if (!st) st = sparse_end(x);
    if (!st) st = sparse_commit(x);
    if (st) {
        sparse_free(x);
        x = NULL;
    }
    *out = x;
    return st;
}

static int add_tok(void *ud, const char *tok, int n, int start, int end)
{
    (void)start;
    (void)end;
    return sparse_term(ud, tok, n);
}

int sparse_add(sparse_index *x, kb_store *s, int64_t id, const char *text, size_t len)
{
    int st = sparse_begin(x, id);
    if (!st) st = store_tokenize(s, text, len, add_tok, x);
    if (!st) st = sparse_end(x);
    return st;
}

void sparse_remove(sparse_index *x, size_t n, const int64_t *ids)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t lo = 0, hi = x->n_docs;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (x->ids[mid] < ids[i]) lo = mid + 1;
            else hi = mid;
        }
        if (lo == x->n_docs || x->ids[lo] != ids[i] || x->dead[lo]) continue;
        x->dead[lo] = 1;
        x->n_live--;
        x->total_len -= x->dl[lo];
        x->dirty = 1;
    }
}

/* Drops dead chunks and their postings; ordinals shift down, in order. */
static void compact(sparse_index *x)
{
    uint32_t *map = malloc((size_t)(x->n_docs ? x->n_docs : 1) * sizeof *map), n = 0;
    if (!map) return; /* compaction only saves memory: next time */
    for (uint32_t d = 0; d < x->n_docs; d++) map[d] = x->dead[d] ? UINT32_MAX : n++;
    x->n_postings = 0;
    for (uint32_t i = 0; i < x->n_terms; i++) {
        term *t = &x->terms[i];
        uint32_t m = 0;
        for (uint32_t j = 0; j < t->n; j++)
            if (map[t->p[j].doc] != UINT32_MAX) t->p[m++] = (posting){map[t->p[j].doc], t->p[j].tf};
        t->n = m;
        t->mark = 0;
        x->n_postings += m;
    }
    for (uint32_t d = 0; d < x->n_docs; d++)
        if (map[d] != UINT32_MAX) {
            x->ids[map[d]] = x->ids[d];
            x->dl[map[d]] = x->dl[d];
            x->dead[map[d]] = 0;
        }
    x->n_docs = n;
    free(map);
}

int sparse_commit(sparse_index *x)
{
    double a = avgdl(x);
    int rebound = a > x->ref_avgdl || a < x->ref_avgdl / 1.5;
    if (!x->dirty && !rebound) return 0;
    if (x->dirty && 4 * (uint64_t)(x->n_docs - x->n_live) >= x->n_docs) compact(x);
    if (rebound) x->ref_avgdl = 1.2 * a; /* room for the next chunks */
    for (uint32_t i = 0; i < x->n_terms; i++) {
        term *t = &x->terms[i];
        uint32_t df = 0;
        float ub = 0;
        for (uint32_t j = 0; j < t->n; j++) {
            uint32_t d = t->p[j].doc;
            if (x->dead[d]) continue;
            df++;
            float part = (float)tf_part(t->p[j].tf, x->dl[d], x->ref_avgdl);
            if (part > ub) ub = part;
        }
        t->df = df;
        t->ub = ub;
    }
    x->dirty = 0;
    return 0;
}

uint64_t sparse_count(const sparse_index *x) { return x->n_live; }
uint64_t sparse_postings(const sparse_index *x) { return x->n_postings; }

/* ---- search ------------------------------------------------------------- */
typedef struct {
    const posting *p, *end; /* the cursor and the list's end */
    double w;               /* idf times the term's count in the query */
    double ub;              /* w times the bound of its tf part */
} qterm;

typedef struct {
    double score;
    uint32_t doc;
} scored;

static int worse(const scored *a, const scored *b)
{
    return a->score < b->score || (a->score == b->score && a->doc > b->doc);
}

static void sift_down(scored *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m])) m = l;
        if (r < n && worse(&h[r], &h[m])) m = r;
        if (m == i) return;
        scored t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(scored *h, size_t i)
{
    while (i && worse(&h[i], &h[(i - 1) / 2])) {
        scored t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

/* The first posting at or after p with doc >= d: galloping, then binary. */
static const posting *seek(const posting *p, const posting *end, uint32_t d)
{
    size_t step = 1;
    const posting *lo = p;
    while (p < end && p->doc < d) {
        lo = p + 1;
        p = (size_t)(end - p) > step ? p + step : end;
        step *= 2;
    }
    const posting *hi = p;
    while (lo < hi) {
        const posting *mid = lo + (hi - lo) / 2;
        if (mid->doc < d) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int cmp_ub(const void *a, const void *b)
{
    const qterm *x = a, *y = b;
    return (x->ub > y->ub) - (x->ub < y->ub);
}

static int cmp_best(const void *a, const void *b)
{
    return worse(a, b) - worse(b, a);
}

int sparse_search(const sparse_index *x, const char *const *terms, const int *lens, size_t n_terms, size_t k,
                  int64_t *ids, float *scores)
{
    if (!x->n_live || !x->n_slots || !k || !n_terms) return 0;
    qterm q[64];
    uint32_t which[64];
    size_t m = 0;
    double a = avgdl(x), N = x->n_live;
    int bounded = a <= x->ref_avgdl; /* else the bounds may be too low: use the largest tf part, K1 + 1 */
    for (size_t i = 0; i < n_terms && i < 64; i++) {
        uint32_t t = *slot(x, terms[i], lens[i]);
        if (!t || !x->terms[t - 1].df) continue;
        size_t j = 0;
        while (j < m && which[j] != t) j++;
        const term *e = &x->terms[t - 1];
        double idf = log((N - e->df + 0.5) / (e->df + 0.5));
        if (idf <= 0) idf = 1e-6;
        if (j == m) {
            which[m] = t;
            q[m++] = (qterm){e->p, e->p + e->n, idf, 0};
        } else {
            q[j].w += idf; /* a repeated term: FTS5 scores each phrase */
        }
    }
    for (size_t i = 0; i < m; i++) {
        const term *e = &x->terms[which[i] - 1];
        q[i].ub = q[i].w * (bounded ? e->ub * (1 + 1e-6) : K1 + 1);
    }
    qsort(q, m, sizeof *q, cmp_ub);
    double cum[64];
    for (size_t i = 0; i < m; i++) cum[i] = q[i].ub + (i ? cum[i - 1] : 0);
    scored *heap = malloc(k * sizeof *heap);
    if (!heap) return hrt_err(HRT_E_NOMEM, "out of memory");
    size_t h = 0, e = 0; /* q[0, e) are non-essential: together they cannot beat theta */
    double theta = -1;
    while (e < m) {
        uint32_t d = UINT32_MAX;
        for (size_t i = e; i < m; i++)
            if (q[i].p < q[i].end && q[i].p->doc < d) d = q[i].p->doc;
        if (d == UINT32_MAX) break;
        double norm = K1 * (1 - B + B * x->dl[d] / a), s = 0;
        for (size_t i = e; i < m; i++)
            if (q[i].p < q[i].end && q[i].p->doc == d) {
                s += q[i].w * q[i].p->tf * (K1 + 1) / (q[i].p->tf + norm);
                q[i].p++;
            }
        if (x->dead[d]) continue;
        int out = 0;
        for (size_t i = e; i-- > 0;) {
            if (s + cum[i] <= theta) {
                out = 1;
                break;
            }
            q[i].p = seek(q[i].p, q[i].end, d);
            if (q[i].p < q[i].end && q[i].p->doc == d) s += q[i].w * q[i].p->tf * (K1 + 1) / (q[i].p->tf + norm);
        }
        if (out) continue;
        scored c = {s, d};
        if (h < k) {
            heap[h++] = c;
            sift_up(heap, h - 1);
        } else if (worse(&heap[0], &c)) {
            heap[0] = c;
            sift_down(heap, h, 0);
        } else {
            continue;
        }
        if (h == k) {
            theta = heap[0].score;
            while (e < m && cum[e] <= theta) e++;
        }
    }
    qsort(heap, h, sizeof *heap, cmp_best);
    for (size_t i = 0; i < h; i++) {
        ids[i] = x->ids[heap[i].doc];
        scores[i] = (float)heap[i].score;
    }
    free(heap);
    return (int)h;
}
