#include "vindex.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fnv.h"

typedef struct {
    char *key;
    size_t key_len;
    int dim;
    int64_t expires; /* 0: never */
    float *vec;      /* dim floats, unit length */
} entry;

struct vindex {
    pthread_rwlock_t lock;
    entry *e;
    size_t n, cap;
    uint32_t *table; /* open addressing: entry position + 1, 0 empty */
    size_t n_table;
};

/* The table slot of key: where it is, or the empty slot where it would go. */
static size_t probe(const vindex *v, const void *key, size_t n)
{
    size_t mask = v->n_table - 1, i = fnv1a(FNV1A_BASIS, key, n) & mask;
    for (;; i = (i + 1) & mask) {
        uint32_t t = v->table[i];
        if (!t) return i;
        const entry *x = &v->e[t - 1];
        if (x->key_len == n && !memcmp(x->key, key, n)) return i;
    }
}

static int rehash(vindex *v, size_t n_table)
{
    uint32_t *t = calloc(n_table, sizeof *t);
    if (!t) return HRT_E_NOMEM;
    free(v->table);
    v->table = t;
    v->n_table = n_table;
    for (size_t i = 0; i < v->n; i++) v->table[probe(v, v->e[i].key, v->e[i].key_len)] = (uint32_t)(i + 1);
    return 0;
}

vindex *vindex_new(void)
{
    vindex *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    pthread_rwlock_init(&v->lock, NULL);
    if (rehash(v, 1024)) {
        vindex_free(v);
        return NULL;
    }
    return v;
}

void vindex_free(vindex *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) free(v->e[i].key);
    free(v->e);
    free(v->table);
    pthread_rwlock_destroy(&v->lock);
    free(v);
}

double vindex_norm2(const float *v, int dim)
{
    double norm = 0;
    for (int i = 0; i < dim; i++) norm += (double)v[i] * v[i];
    return dim > 0 && norm > 0 && isfinite(norm) ? norm : 0;
}

int vindex_set(vindex *v, const void *key, size_t key_len, const float *vec, int dim, int64_t expires)
{
    double norm = vindex_norm2(vec, dim);
    if (norm == 0)
        return hrt_err(HRT_E_INVALID, "memory: a vector of dimension %d that is zero or not finite", dim);
    /* key and vector in one allocation */
    size_t off = (key_len + sizeof(float) - 1) / sizeof(float) * sizeof(float);
    char *mem = malloc(off + (size_t)dim * sizeof(float));
    if (!mem) return hrt_err(HRT_E_NOMEM, "out of memory");
    memcpy(mem, key, key_len);
    float *u = (float *)(mem + off), s = (float)(1.0 / sqrt(norm));
    for (int i = 0; i < dim; i++) u[i] = vec[i] * s;
    pthread_rwlock_wrlock(&v->lock);
    int st = 0;
    if ((v->n + 1) * 2 > v->n_table) st = rehash(v, v->n_table * 2);
    if (!st && v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 256;
        entry *e = realloc(v->e, cap * sizeof *e);
        if (e) v->e = e, v->cap = cap;
        else st = HRT_E_NOMEM;
    }
    if (st) {
        pthread_rwlock_unlock(&v->lock);
        free(mem);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    size_t slot = probe(v, key, key_len);
    entry x = {mem, key_len, dim, expires, u};
    if (v->table[slot]) {
        entry *old = &v->e[v->table[slot] - 1];
        free(old->key);
        *old = x;
    } else {
        v->e[v->n++] = x;
        v->table[slot] = (uint32_t)v->n;
    }
    pthread_rwlock_unlock(&v->lock);
    return 0;
}

/* Empties table slot i, moving later entries of its cluster back so that
 * every key stays reachable from its home slot (linear-probing deletion). */
static void table_remove(vindex *v, size_t i)
{
    size_t mask = v->n_table - 1, j = i;
    v->table[i] = 0;
    for (;;) {
        j = (j + 1) & mask;
        uint32_t t = v->table[j];
        if (!t) return;
        size_t home = fnv1a(FNV1A_BASIS, v->e[t - 1].key, v->e[t - 1].key_len) & mask;
        /* t may move to i when its home is not cyclically within (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            v->table[i] = t;
            v->table[j] = 0;
            i = j;
        }
    }
}

void vindex_del(vindex *v, const void *key, size_t key_len)
{
    pthread_rwlock_wrlock(&v->lock);
    size_t slot = probe(v, key, key_len);
    uint32_t t = v->table[slot];
    if (t) {
        size_t pos = t - 1, last = v->n - 1;
        free(v->e[pos].key);
        table_remove(v, slot);
        if (pos != last) { /* the last entry fills the hole */
            v->e[pos] = v->e[last];
            v->table[probe(v, v->e[pos].key, v->e[pos].key_len)] = (uint32_t)(pos + 1);
        }
        v->n--;
    }
    pthread_rwlock_unlock(&v->lock);
}

size_t vindex_count(vindex *v)
{
    pthread_rwlock_rdlock(&v->lock);
    size_t n = v->n;
    pthread_rwlock_unlock(&v->lock);
    return n;
}

static float dot(const float *a, const float *b, int n)
{
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float t = 0;
    for (; i < n; i++) t += a[i] * b[i];
    return t + ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

int vindex_query(vindex *v, const void *prefix, size_t prefix_len, const float *q, int dim, size_t k,
                 float min_score, int64_t now, hrt_memory_hit *hits)
{
    double norm = vindex_norm2(q, dim);
    if (norm == 0)
        return hrt_err(HRT_E_INVALID, "hrt_memory_query: a query vector of dimension %d that is zero or not finite", dim);
    float *u = malloc((size_t)dim * sizeof *u);
    size_t *best = malloc((k ? k : 1) * sizeof *best);
    float *score = malloc((k ? k : 1) * sizeof *score);
    if (!u || !best || !score) {
        free(u), free(best), free(score);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < dim; i++) u[i] = (float)(q[i] / sqrt(norm));
    pthread_rwlock_rdlock(&v->lock);
    size_t n = 0;
    for (size_t i = 0; k && i < v->n; i++) {
        const entry *x = &v->e[i];
        if (x->dim != dim || x->key_len < prefix_len || (prefix_len && memcmp(x->key, prefix, prefix_len)) ||
            (x->expires && x->expires <= now))
            continue;
        float s = dot(u, x->vec, dim);
        if (s < min_score || (n == k && s <= score[n - 1])) continue;
        size_t j = n < k ? n++ : n - 1; /* insertion into the sorted top k */
        while (j > 0 && score[j - 1] < s) {
            score[j] = score[j - 1];
            best[j] = best[j - 1];
            j--;
        }
        score[j] = s;
        best[j] = i;
    }
    int st = (int)n;
    for (size_t j = 0; j < n; j++) {
        const entry *x = &v->e[best[j]];
        hits[j].key = malloc(x->key_len ? x->key_len : 1);
        hits[j].key_len = x->key_len;
        hits[j].score = score[j];
        if (!hits[j].key) {
            hrt_memory_hits_free(hits, j);
            st = hrt_err(HRT_E_NOMEM, "out of memory");
            break;
        }
        memcpy(hits[j].key, x->key, x->key_len);
    }
    pthread_rwlock_unlock(&v->lock);
    free(u), free(best), free(score);
    return st;
}

int vindex_expired(vindex *v, int64_t now, int (*fn)(void *ud, const void *key, size_t key_len), void *ud)
{
    pthread_rwlock_rdlock(&v->lock);
    int st = 0;
    for (size_t i = 0; !st && i < v->n; i++)
        if (v->e[i].expires && v->e[i].expires <= now) st = fn(ud, v->e[i].key, v->e[i].key_len);
    pthread_rwlock_unlock(&v->lock);
    return st;
}
