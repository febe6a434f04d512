/* The memory: the hot, warm and cold tiers behind one handle (hrt.h).
 *
 * Invariants:
 *   1. Warm holds every record written since it was last demoted: a put
 *      commits to warm before it returns, then refreshes or drops hot's
 *      copy. Nothing lives in hot alone, so a crash loses no acknowledged
 *      write.
 *   2. Reads look hot, then warm, then cold; the first tier holding the key
 *      answers. A lower tier may keep an older copy of a key that a higher
 *      tier also holds; it is never read while that copy exists, and every
 *      step that removes the higher copy (demotion, delete, expiry) first
 *      overwrites or tombstones the lower one.
 *   3. Writers (put, delete, one demotion batch, one cold-to-warm promotion,
 *      one expiry step) take the writer mutex, so they change the tiers one
 *      at a time. A reader holds the cache lock shared from its hot lookup
 *      until it has copied what it found into hot; a writer changes hot
 *      (and the vectors) under that lock exclusively, after its commit. So a
 *      reader can never put back into hot a value older than a write that
 *      has returned, and it waits on a writer only inside a tier: at most
 *      one commit (warm) or one block append (cold), never on hot alone.
 *   4. Demotion appends the batch to cold (fsync'd), then deletes it from
 *      warm in one transaction; a crash in between leaves two copies of the
 *      same value. A delete tombstones cold before it deletes from warm; a
 *      crash in between leaves the record as it was (the delete was not
 *      acknowledged), never an older value.
 *   5. Values carry an envelope in every tier: a format byte (1) and the
 *      expiry (i64 little-endian unix seconds, 0 none). An expired record
 *      reads as absent; maintenance removes it from every tier.
 *   6. Vectors live in warm's vec table, written in the put's transaction,
 *      and in the in-memory index rebuilt from it at open; they stay in
 *      warm when the value moves to cold.
 * On-disk layout: memory.json (format, version), warm.sqlite, cold/. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cold.h"
#include "error.h"
#include "file.h"
#include "hot.h"
#include "memory.h"
#include "vindex.h"
#include "warm.h"

#define MEMORY_FORMAT_VERSION 1
#define ENVELOPE 9
#define MAX_KEY (1u << 20)
#define DEMOTE_BATCH 256

typedef struct {
    uint64_t hits, misses, promotions, demotions;
    uint64_t hist[HRT_MEMORY_HIST];
} tier_counters;

struct hrt_memory {
    char *dir;
    hrt_memory_params p;
    hot_cache *hot;
    warm_store *warm;
    cold_store *cold;
    vindex *vi;
    pthread_mutex_t wmu;    /* the writer mutex (invariant 3) */
    pthread_rwlock_t lock;  /* the cache lock (invariant 3) */
    pthread_mutex_t maint;  /* one maintenance at a time */
    pthread_mutex_t turns;  /* turn numbering */
    int64_t (*clock)(void);
    tier_counters t[4];
    uint64_t puts, put_records, put_hist[HRT_MEMORY_HIST];
};

/* ---- small helpers ------------------------------------------------------ */
static int64_t wall_clock(void) { return (int64_t)time(NULL); }

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void count(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }

static void record_latency(uint64_t *hist, uint64_t t0)
{
    uint64_t ns = now_ns() - t0;
    int b = ns ? 63 - __builtin_clzll(ns) : 0;
    count(&hist[b < HRT_MEMORY_HIST ? b : HRT_MEMORY_HIST - 1], 1);
}

static void wr64(uint8_t *p, int64_t v) { memcpy(p, &v, 8); }
static int64_t rd64(const uint8_t *p) { int64_t v; memcpy(&v, p, 8); return v; }

/* The envelope of a value: *expires, or HRT_E_FORMAT. */
static int envelope_open(const void *v, size_t n, int64_t *expires)
{
    if (n < ENVELOPE || ((const uint8_t *)v)[0] != 1) return HRT_E_FORMAT;
    *expires = rd64((const uint8_t *)v + 1);
    return 0;
}

static int expired(int64_t expires, int64_t now) { return expires && expires <= now; }

void memory_set_clock(hrt_memory *m, int64_t (*clock)(void)) { m->clock = clock ? clock : wall_clock; }

hrt_memory_params hrt_memory_default_params(void)
{
    hrt_memory_params p = {0};
    p.hot_bytes = (size_t)64 << 20;
    p.hot_max_value = p.hot_bytes / 64;
    p.warm_bytes = (uint64_t)1 << 30;
    p.warm_max_age_s = 7 * 24 * 3600;
    p.promote_cold = 1;
    p.cold_compact_dead = 0.5;
    p.cold_segment_bytes = (uint64_t)64 << 20;
    p.zstd_level = 3;
    p.auto_maintain = 1;
    return p;
}

/* ---- open and close ----------------------------------------------------- */
/* Checks memory.json, or writes it (temporary name, fsync, rename). */
static int check_manifest(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/memory.json", dir);
    FILE *f = fopen(path, "rb");
    if (f) {
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        cJSON *j = cJSON_Parse(buf);
        const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
        const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "version");
        int st = 0;
        if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "hrt-memory") || !cJSON_IsNumber(ver))
            st = hrt_err(HRT_E_FORMAT, "%s: not an hrt memory manifest (want {\"format\": \"hrt-memory\", \"version\": N})", path);
        else if (ver->valuedouble > MEMORY_FORMAT_VERSION)
            st = hrt_err(HRT_E_FORMAT, "%s: version %g is newer than this hrt (%d)", path, ver->valuedouble,
                         MEMORY_FORMAT_VERSION);
        cJSON_Delete(j);
        return st;
    }
    if (errno != ENOENT) return hrt_err(HRT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    char text[64];
    int len = snprintf(text, sizeof text, "{\"format\": \"hrt-memory\", \"version\": %d}\n", MEMORY_FORMAT_VERSION);
    return file_write_atomic(path, text, (size_t)len);
}

static int load_vector(void *ud, const void *key, size_t key_len, const void *vec, int dim, int64_t expires)
{
    float *v = malloc((size_t)dim * sizeof *v);
    if (!v) return hrt_err(HRT_E_NOMEM, "out of memory");
    memcpy(v, vec, (size_t)dim * sizeof *v);
    int st = vindex_set(ud, key, key_len, v, dim, expires);
    free(v);
    return st == HRT_E_INVALID ? 0 : st; /* a zero vector was refused at put: none can be stored */
}

int hrt_memory_open(const char *dir, const hrt_memory_params *params, hrt_memory **out)
{
    if (!dir || !out) return hrt_err(HRT_E_INVALID, "hrt_memory_open: NULL argument");
    *out = NULL;
    hrt_memory_params p = params ? *params : hrt_memory_default_params();
    if (p.hot_bytes < 4096 || p.cold_compact_dead < 0 || p.cold_compact_dead > 1)
        return hrt_err(HRT_E_INVALID, "hrt_memory_open: hot_bytes below 4096 or cold_compact_dead outside [0, 1]");
    if (mkdir(dir, 0755) && errno != EEXIST) return hrt_err(HRT_E_IO, "%s: cannot create: %s", dir, strerror(errno));
    hrt_memory *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir))) {
        free(m);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    m->p = p;
    m->clock = wall_clock;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    /* writers are not starved by a stream of readers */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&m->lock, &a);
    pthread_rwlockattr_destroy(&a);
    pthread_mutex_init(&m->wmu, NULL);
    pthread_mutex_init(&m->maint, NULL);
    pthread_mutex_init(&m->turns, NULL);
    char path[4096];
    int st = check_manifest(dir);
    if (!st && !(m->hot = hot_new(p.hot_bytes))) st = hrt_err(HRT_E_NOMEM, "out of memory");
    if (!st && !(m->vi = vindex_new())) st = hrt_err(HRT_E_NOMEM, "out of memory");
    if (!st) {
        snprintf(path, sizeof path, "%s/warm.sqlite", dir);
        st = warm_open(path, &m->warm);
    }
    if (!st) {
        snprintf(path, sizeof path, "%s/cold", dir);
        cold_params cp = {(size_t)p.cold_segment_bytes, p.zstd_level};
        st = cold_open(path, &cp, &m->cold);
    }
    if (!st) st = warm_vectors(m->warm, load_vector, m->vi);
    if (st) {
        hrt_memory_free(m);
        return st;
    }
    *out = m;
    return 0;
}

void hrt_memory_free(hrt_memory *m)
{
    if (!m) return;
    hot_free(m->hot);
    warm_close(m->warm);
    cold_close(m->cold);
    vindex_free(m->vi);
    pthread_rwlock_destroy(&m->lock);
    pthread_mutex_destroy(&m->wmu);
    pthread_mutex_destroy(&m->maint);
    pthread_mutex_destroy(&m->turns);
    free(m->dir);
    free(m);
}

/* ---- writes ------------------------------------------------------------- */
static int demote(hrt_memory *m, int by_budget, int64_t cutoff, uint64_t *moved);

int hrt_memory_put(hrt_memory *m, const hrt_memory_record *recs, size_t n)
{
    if (!m || (n && !recs)) return hrt_err(HRT_E_INVALID, "hrt_memory_put: NULL argument");
    for (size_t i = 0; i < n; i++) {
        const hrt_memory_record *r = &recs[i];
        if ((!r->key && r->key_len) || (!r->value && r->value_len) || r->key_len > MAX_KEY || r->ttl_s < 0 ||
            (r->vector && r->dim <= 0))
            return hrt_err(HRT_E_INVALID, "hrt_memory_put: record %zu: NULL key or value, a key over 1 MiB, a "
                                          "negative ttl or a vector without a dimension", i);
    }
    if (!n) return 0;
    uint64_t t0 = now_ns();
    int64_t now = m->clock();
    warm_record *w = calloc(n, sizeof *w);
    uint8_t **env = calloc(n, sizeof *env);
    int st = w && env ? 0 : hrt_err(HRT_E_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < n; i++) {
        const hrt_memory_record *r = &recs[i];
        int64_t expires = r->ttl_s ? now + r->ttl_s : 0;
        if (!(env[i] = malloc(ENVELOPE + r->value_len))) {
            st = hrt_err(HRT_E_NOMEM, "out of memory");
            break;
        }
        env[i][0] = 1;
        wr64(env[i] + 1, expires);
        if (r->value_len) memcpy(env[i] + ENVELOPE, r->value, r->value_len);
        w[i] = (warm_record){r->key, r->key_len, env[i], ENVELOPE + r->value_len, expires,
                             r->vector ? WARM_VEC_SET : WARM_VEC_CLEAR, r->vector, r->dim};
        if (r->vector && vindex_norm2(r->vector, r->dim) == 0) /* refused before anything is written */
            st = hrt_err(HRT_E_INVALID, "hrt_memory_put: record %zu: a zero or non-finite vector", i);
    }
    if (!st) {
        pthread_mutex_lock(&m->wmu);
        st = warm_put(m->warm, w, n, now);
        if (!st) pthread_rwlock_wrlock(&m->lock);
        for (size_t i = 0; !st && i < n; i++) {
            const hrt_memory_record *r = &recs[i];
            if (!r->vector) vindex_del(m->vi, r->key, r->key_len);
            else if (vindex_set(m->vi, r->key, r->key_len, r->vector, r->dim, w[i].expires))
                hrt_log(HRT_LOG_WARN, "memory %s: a vector is stored but not searchable until reopening: %s", m->dir,
                        hrt_last_error()); /* out of memory after the commit */
            if (r->value_len <= m->p.hot_max_value && hot_put(m->hot, r->key, r->key_len, env[i], w[i].value_len) == 0)
                continue;
            hot_del(m->hot, r->key, r->key_len); /* not admitted: no stale copy either */
        }
        if (!st) pthread_rwlock_unlock(&m->lock);
        pthread_mutex_unlock(&m->wmu);
    }
    for (size_t i = 0; env && i < n; i++) free(env[i]);
    free(env);
    free(w);
    if (st) return st;
    count(&m->puts, 1);
    count(&m->put_records, n);
    record_latency(m->put_hist, t0);
    if (m->p.auto_maintain) {
        uint64_t bytes = 0;
        warm_info(m->warm, NULL, &bytes);
        if (bytes > m->p.warm_bytes) {
            pthread_mutex_lock(&m->maint);
            st = demote(m, 1, 0, NULL);
            pthread_mutex_unlock(&m->maint);
            if (st) hrt_log(HRT_LOG_WARN, "memory %s: demotion after a put failed: %s", m->dir, hrt_last_error());
        }
    }
    return 0; /* the put itself is durable whatever demotion did */
}

/* Removes key from every tier (m->wmu held); 0 when some tier had it, else
 * HRT_E_RANGE. */
static int delete_locked(hrt_memory *m, const void *key, size_t key_len)
{
    int found = 0, st = 0;
    if (cold_has(m->cold, key, key_len)) { /* invariant 4: cold first */
        st = cold_del(m->cold, key, key_len);
        if (st && st != HRT_E_RANGE) return st;
        found = 1;
    }
    st = warm_del(m->warm, key, key_len);
    if (st && st != HRT_E_RANGE) return st;
    found |= !st;
    pthread_rwlock_wrlock(&m->lock);
    found |= hot_del(m->hot, key, key_len) == 0;
    vindex_del(m->vi, key, key_len);
    pthread_rwlock_unlock(&m->lock);
    return found ? 0 : HRT_E_RANGE;
}

int hrt_memory_delete(hrt_memory *m, const void *key, size_t key_len)
{
    if (!m || (!key && key_len)) return hrt_err(HRT_E_INVALID, "hrt_memory_delete: NULL argument");
    pthread_mutex_lock(&m->wmu);
    int st = delete_locked(m, key, key_len);
    pthread_mutex_unlock(&m->wmu);
    return st;
}

/* ---- reads -------------------------------------------------------------- */
/* Copies a cold record back to warm, unless a write overtook it. */
static void promote_to_warm(hrt_memory *m, const void *key, size_t key_len, const void *env, size_t n,
                            int64_t expires)
{
    pthread_mutex_lock(&m->wmu);
    if (warm_has(m->warm, key, key_len) == 0 && cold_has(m->cold, key, key_len)) {
        warm_record r = {key, key_len, env, n, expires, WARM_VEC_KEEP, NULL, 0};
        if (warm_put(m->warm, &r, 1, m->clock()) == 0) count(&m->t[HRT_TIER_WARM].promotions, 1);
    }
    pthread_mutex_unlock(&m->wmu);
}

int hrt_memory_get(hrt_memory *m, const void *key, size_t key_len, void **value, size_t *value_len, int *tier)
{
    if (tier) *tier = HRT_TIER_NONE;
    if (!m || (!key && key_len) || !value) return hrt_err(HRT_E_INVALID, "hrt_memory_get: NULL argument");
    *value = NULL;
    uint64_t t0 = now_ns();
    int64_t now = m->clock(), expires = 0;
    void *v = NULL;
    size_t n = 0;
    int where = HRT_TIER_HOT, st;
    pthread_rwlock_rdlock(&m->lock);
    st = hot_get(m->hot, key, key_len, &v, &n);
    if (st == HRT_E_RANGE) {
        count(&m->t[HRT_TIER_HOT].misses, 1);
        where = HRT_TIER_WARM;
        st = warm_get(m->warm, key, key_len, now, &v, &n);
    }
    if (st == HRT_E_RANGE) {
        count(&m->t[HRT_TIER_WARM].misses, 1);
        where = HRT_TIER_COLD;
        st = cold_get(m->cold, key, key_len, &v, &n);
        if (st == HRT_E_RANGE) count(&m->t[HRT_TIER_COLD].misses, 1);
    }
    if (!st && envelope_open(v, n, &expires))
        st = hrt_err(HRT_E_FORMAT, "memory %s: the record of this key has no valid envelope", m->dir);
    if (!st && expired(expires, now)) st = HRT_E_RANGE;
    if (!st && where != HRT_TIER_HOT && n - ENVELOPE <= m->p.hot_max_value &&
        hot_put(m->hot, key, key_len, v, n) == 0)
        count(&m->t[HRT_TIER_HOT].promotions, 1);
    pthread_rwlock_unlock(&m->lock);
    if (!st && where == HRT_TIER_COLD && m->p.promote_cold) promote_to_warm(m, key, key_len, v, n, expires);
    if (st) {
        free(v);
        if (st == HRT_E_RANGE) {
            count(&m->t[HRT_TIER_NONE].misses, 1);
            record_latency(m->t[HRT_TIER_NONE].hist, t0);
        }
        return st;
    }
    memmove(v, (uint8_t *)v + ENVELOPE, n - ENVELOPE);
    *value = v;
    if (value_len) *value_len = n - ENVELOPE;
    if (tier) *tier = where;
    count(&m->t[where].hits, 1);
    record_latency(m->t[where].hist, t0);
    return 0;
}

int hrt_memory_query(hrt_memory *m, const void *prefix, size_t prefix_len, const float *vector, int dim, size_t k,
                     float min_score, hrt_memory_hit *hits)
{
    if (!m || (!prefix && prefix_len) || !vector || (k && !hits))
        return hrt_err(HRT_E_INVALID, "hrt_memory_query: NULL argument");
    return vindex_query(m->vi, prefix, prefix_len, vector, dim, k, min_score, m->clock(), hits);
}

void hrt_memory_hits_free(hrt_memory_hit *hits, size_t n)
{
    for (size_t i = 0; hits && i < n; i++) {
        free(hits[i].key);
        hits[i].key = NULL;
    }
}

/* ---- maintenance -------------------------------------------------------- */
typedef struct {
    cold_record *recs;
    size_t n;
} batch;

static int collect_row(void *ud, const void *key, size_t key_len, const void *value, size_t value_len)
{
    batch *b = ud;
    char *k = malloc(key_len + value_len + 1);
    if (!k) return hrt_err(HRT_E_NOMEM, "out of memory");
    memcpy(k, key, key_len);
    memcpy(k + key_len, value, value_len);
    b->recs[b->n++] = (cold_record){k, key_len, k + key_len, value_len};
    return 0;
}

/* Moves batches of warm records to cold: least recently used first while
 * warm is over its budget (by_budget), or those unused since cutoff. Each
 * batch is one hold of the writer mutex (invariant 3); readers find a
 * record in warm until its cold copy is durable. m->maint held. */
static int demote(hrt_memory *m, int by_budget, int64_t cutoff, uint64_t *moved)
{
    cold_record recs[DEMOTE_BATCH];
    const void *keys[DEMOTE_BATCH];
    size_t lens[DEMOTE_BATCH];
    int st = 0;
    for (;;) {
        uint64_t bytes = 0;
        warm_info(m->warm, NULL, &bytes);
        if (by_budget && bytes <= m->p.warm_bytes) break;
        batch b = {recs, 0};
        pthread_mutex_lock(&m->wmu);
        st = warm_flush(m->warm);
        if (!st) st = warm_oldest(m->warm, by_budget, cutoff, DEMOTE_BATCH, collect_row, &b);
        if (!st && b.n) st = cold_put(m->cold, recs, b.n);
        for (size_t i = 0; i < b.n; i++) keys[i] = recs[i].key, lens[i] = recs[i].key_len;
        if (!st && b.n) st = warm_drop_values(m->warm, keys, lens, b.n, 0);
        pthread_mutex_unlock(&m->wmu);
        for (size_t i = 0; i < b.n; i++) free((void *)recs[i].key);
        if (st || !b.n) break;
        count(&m->t[HRT_TIER_WARM].demotions, b.n);
        if (moved) *moved += b.n;
    }
    return st;
}

typedef struct {
    hrt_memory *m;
    int64_t now;
    void **keys;
    size_t *lens, n, cap;
} key_list;

static int list_key(void *ud, const void *key, size_t key_len)
{
    key_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        void **k = realloc(l->keys, cap * sizeof *k);
        if (k) l->keys = k;
        size_t *n = k ? realloc(l->lens, cap * sizeof *n) : NULL;
        if (!n) return hrt_err(HRT_E_NOMEM, "out of memory");
        l->lens = n;
        l->cap = cap;
    }
    if (!(l->keys[l->n] = malloc(key_len + 1))) return hrt_err(HRT_E_NOMEM, "out of memory");
    memcpy(l->keys[l->n], key, key_len);
    l->lens[l->n++] = key_len;
    return 0;
}

/* Removes a batch of expired keys from every tier: cold first, then warm
 * in one transaction, then hot and the vectors (m->wmu held). */
static int drop_keys(hrt_memory *m, key_list *l)
{
    int st = 0;
    for (size_t i = 0; !st && i < l->n; i++)
        if (cold_has(m->cold, l->keys[i], l->lens[i]) && (st = cold_del(m->cold, l->keys[i], l->lens[i])) == HRT_E_RANGE)
            st = 0;
    if (!st) st = warm_drop_values(m->warm, (const void *const *)l->keys, l->lens, l->n, 1);
    if (st) return st;
    pthread_rwlock_wrlock(&m->lock);
    for (size_t i = 0; i < l->n; i++) {
        hot_del(m->hot, l->keys[i], l->lens[i]);
        vindex_del(m->vi, l->keys[i], l->lens[i]);
    }
    pthread_rwlock_unlock(&m->lock);
    return 0;
}

static void key_list_clear(key_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->keys[i]);
    l->n = 0;
}

static int keep_unexpired(void *ud, const void *key, size_t key_len, const void *value, size_t value_len)
{
    int64_t expires;
    (void)key, (void)key_len;
    return envelope_open(value, value_len, &expires) == 0 && !expired(expires, *(const int64_t *)ud);
}

int hrt_memory_maintain(hrt_memory *m, int full, hrt_memory_report *report)
{
    if (!m) return hrt_err(HRT_E_INVALID, "hrt_memory_maintain: NULL argument");
    hrt_memory_report r = {0};
    int64_t now = m->clock();
    pthread_mutex_lock(&m->maint);
    /* 1. expiry: records with vectors (wherever their value is), then warm */
    key_list l = {m, now, NULL, NULL, 0, 0};
    int st = vindex_expired(m->vi, now, list_key, &l);
    for (size_t i = 0; !st && i < l.n; i++) {
        pthread_mutex_lock(&m->wmu);
        int d = delete_locked(m, l.keys[i], l.lens[i]);
        pthread_mutex_unlock(&m->wmu);
        if (d == 0) r.expired++;
        else if (d != HRT_E_RANGE) st = d;
    }
    key_list_clear(&l);
    while (!st) { /* records without vectors, DEMOTE_BATCH at a time */
        pthread_mutex_lock(&m->wmu);
        st = warm_expired(m->warm, now, DEMOTE_BATCH, list_key, &l);
        if (!st && l.n) st = drop_keys(m, &l);
        pthread_mutex_unlock(&m->wmu);
        size_t n = l.n;
        r.expired += st ? 0 : n;
        key_list_clear(&l);
        if (!n) break;
    }
    free(l.keys);
    free(l.lens);
    /* 2. demotion: by age, then by budget */
    if (!st && m->p.warm_max_age_s > 0) st = demote(m, 0, now - m->p.warm_max_age_s, &r.demoted_age);
    if (!st) st = demote(m, 1, 0, &r.demoted_budget);
    /* 3. cold compaction (expired records are not kept) */
    if (!st) {
        cold_stats before, after;
        cold_get_stats(m->cold, &before);
        st = cold_compact(m->cold, full ? 0 : m->p.cold_compact_dead, keep_unexpired, &now, &r.cold_dropped);
        cold_get_stats(m->cold, &after);
        r.cold_segments_compacted = after.compactions - before.compactions;
    }
    pthread_mutex_unlock(&m->maint);
    if (report) *report = r;
    return st;
}

/* ---- stats -------------------------------------------------------------- */
/* The q-quantile of a histogram, as its bucket's midpoint, in µs. */
static double quantile_us(const uint64_t *hist, double q)
{
    uint64_t total = 0, run = 0;
    for (int i = 0; i < HRT_MEMORY_HIST; i++) total += hist[i];
    if (!total) return 0;
    for (int i = 0; i < HRT_MEMORY_HIST; i++) {
        run += hist[i];
        if ((double)run >= q * (double)total) return 1.5 * (double)(1ull << i) / 1000.0;
    }
    return 0;
}

int hrt_memory_stats_get(hrt_memory *m, hrt_memory_stats *out)
{
    if (!m || !out) return hrt_err(HRT_E_INVALID, "hrt_memory_stats_get: NULL argument");
    memset(out, 0, sizeof *out);
    for (int t = 0; t < 4; t++) {
        hrt_memory_tier_stats *s = &out->tier[t];
        s->hits = __atomic_load_n(&m->t[t].hits, __ATOMIC_RELAXED);
        s->misses = __atomic_load_n(&m->t[t].misses, __ATOMIC_RELAXED);
        s->promotions = __atomic_load_n(&m->t[t].promotions, __ATOMIC_RELAXED);
        s->demotions = __atomic_load_n(&m->t[t].demotions, __ATOMIC_RELAXED);
        for (int i = 0; i < HRT_MEMORY_HIST; i++) s->get_ns[i] = __atomic_load_n(&m->t[t].hist[i], __ATOMIC_RELAXED);
        s->p50_us = quantile_us(s->get_ns, 0.5);
        s->p99_us = quantile_us(s->get_ns, 0.99);
    }
    hot_stats h;
    hot_get_stats(m->hot, &h);
    out->tier[HRT_TIER_HOT].entries = h.entries;
    out->tier[HRT_TIER_HOT].bytes = h.bytes;
    out->tier[HRT_TIER_HOT].budget = h.budget;
    out->tier[HRT_TIER_HOT].demotions = h.evictions;
    warm_info(m->warm, &out->tier[HRT_TIER_WARM].entries, &out->tier[HRT_TIER_WARM].bytes);
    out->tier[HRT_TIER_WARM].budget = m->p.warm_bytes;
    cold_stats c;
    cold_get_stats(m->cold, &c);
    out->tier[HRT_TIER_COLD].entries = c.entries;
    out->tier[HRT_TIER_COLD].bytes = c.disk_bytes;
    out->cold_segments = c.segments;
    out->cold_corrupt_blocks = c.corrupt_blocks;
    out->puts = __atomic_load_n(&m->puts, __ATOMIC_RELAXED);
    out->put_records = __atomic_load_n(&m->put_records, __ATOMIC_RELAXED);
    for (int i = 0; i < HRT_MEMORY_HIST; i++) out->put_ns[i] = __atomic_load_n(&m->put_hist[i], __ATOMIC_RELAXED);
    out->put_p50_us = quantile_us(out->put_ns, 0.5);
    out->put_p99_us = quantile_us(out->put_ns, 0.99);
    out->vectors = vindex_count(m->vi);
    return 0;
}

/* For turns.c: serialises turn numbering. */
pthread_mutex_t *memory_turn_lock(hrt_memory *m) { return &m->turns; }
int64_t memory_now(hrt_memory *m) { return m->clock(); }
