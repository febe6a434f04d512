/* The knowledge base: hrt_kb_* (hrt.h) over the store, the dense index,
 * the readers and the chunker.
 *
 * Invariants:
 *   1. kb.sqlite is the source of truth; a document is committed with its
 *      chunks and vectors before it is counted as added.
 *   2. vectors.faiss reflects kb.sqlite at the version recorded in kb.json
 *      ("index_version"). It is saved (temporary name, fsync, rename, then
 *      kb.json the same way) every SAVE_EVERY changed documents and at the
 *      end of each add or remove. At open, a missing index or a version
 *      that is not the store's (a crash between a commit and a save) means
 *      the index is rebuilt from the vectors in kb.sqlite: after kill -9 at
 *      any point, the FAISS ids and the SQLite chunks agree.
 *   3. Search results are joined with the store, so an id the index still
 *      holds for a removed chunk (HNSW cannot remove) is never returned.
 *   4. BM25 is ranked by the in-memory sparse index (sparse.h), built from
 *      the store at the first search that needs it and then changed with
 *      each committed document under the same lock as the dense index; it
 *      is not saved. When it cannot follow (out of memory) it is dropped
 *      and the next search builds it again.
 * Locks: `write` serialises add and remove; `lock` is held shared by
 * searches and exclusively while an index changes. Order: lock, then the
 * store's mutex. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "clock.h"
#include "cpu/ops.h"
#include "dense.h"
#include "error.h"
#include "file.h"
#include "fnv.h"
#include "kb_internal.h"
#include "read.h"
#include "sparse.h"
#include "store.h"

#define KB_FORMAT_VERSION 1
#define SAVE_EVERY 256
#define RRF_K 60 /* reciprocal-rank fusion constant (Cormack, Clarke, Buettcher, SIGIR 2009) */

/* A hybrid search runs its BM25 half on this helper thread while the
 * caller's thread searches FAISS: the two retrievers are independent, so
 * the latency is the slower of the two rather than their sum. One helper
 * per knowledge base, started by the first hybrid search; a search that
 * finds it busy (another thread's search) runs BM25 itself. */
typedef struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, quit, posted, done, busy;
    const char *query; /* the job */
    size_t k;
    int64_t *ids;
    float *scores;
    int result;        /* bm25()'s: hits or an error code */
    char error[1024];
} bm25_helper;

struct hrt_kb {
    char *dir;
    hrt_kb_params p;
    kb_store *store;
    dense_index *dense;
    sparse_index *sparse; /* NULL until a BM25 search needs it */
    int bm25_fts5;        /* kb_bm25_fts5() */
    int serial;           /* kb_serial() */
    pthread_rwlock_t lock;
    pthread_mutex_t write;
    int dim, chunk_tokens, chunk_overlap, auto_type;
    char model[256], index_type[64];
    int64_t saved_version;
    bm25_helper helper;
};

hrt_kb_params hrt_kb_default_params(void)
{
    hrt_kb_params p = {0};
    p.chunk_tokens = 200;
    p.chunk_overlap = 32;
    p.text_field = "text";
    p.id_field = "id";
    p.embed_batch = 32;
    return p;
}

hrt_kb_search_params hrt_kb_search_default_params(void)
{
    hrt_kb_search_params p = {0};
    p.mode = HRT_KB_HYBRID;
    p.k = 10;
    p.dedup = 0.95f;
    p.mmr_lambda = 1.0f;
    return p;
}

/* ---- kb.json ------------------------------------------------------------ */
static void kb_path(const hrt_kb *kb, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", kb->dir, name);
}

static int write_manifest(hrt_kb *kb, int64_t index_version)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "hrt-kb");
    cJSON_AddNumberToObject(j, "version", KB_FORMAT_VERSION);
    cJSON_AddStringToObject(j, "embedding_model", kb->model);
    cJSON_AddNumberToObject(j, "dim", kb->dim);
    cJSON_AddNumberToObject(j, "chunk_tokens", kb->chunk_tokens);
    cJSON_AddNumberToObject(j, "chunk_overlap", kb->chunk_overlap);
    cJSON_AddStringToObject(j, "index_type", kb->index_type);
    cJSON_AddBoolToObject(j, "index_auto", kb->auto_type);
    cJSON_AddNumberToObject(j, "index_version", (double)index_version);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return hrt_err(HRT_E_NOMEM, "out of memory");
    char path[4096];
    kb_path(kb, "kb.json", path, sizeof path);
    int st = file_write_atomic(path, text, strlen(text));
    free(text);
    return st;
}

/* Reads kb.json: 1 when it exists (fields set), 0 when not. */
static int read_manifest(hrt_kb *kb, int64_t *index_version)
{
    char path[4096];
    kb_path(kb, "kb.json", path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? 0 : hrt_err(HRT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format"),
                *ver = cJSON_GetObjectItemCaseSensitive(j, "version"),
                *model = cJSON_GetObjectItemCaseSensitive(j, "embedding_model"),
                *dim = cJSON_GetObjectItemCaseSensitive(j, "dim"),
                *ct = cJSON_GetObjectItemCaseSensitive(j, "chunk_tokens"),
                *co = cJSON_GetObjectItemCaseSensitive(j, "chunk_overlap"),
                *type = cJSON_GetObjectItemCaseSensitive(j, "index_type"),
                *aut = cJSON_GetObjectItemCaseSensitive(j, "index_auto"),
                *iv = cJSON_GetObjectItemCaseSensitive(j, "index_version");
    int st = 1;
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "hrt-kb") || !cJSON_IsNumber(ver) || !cJSON_IsString(model) ||
        !cJSON_IsNumber(dim) || !cJSON_IsNumber(ct) || !cJSON_IsNumber(co) || !cJSON_IsString(type) ||
        !cJSON_IsNumber(iv) || strlen(type->valuestring) >= sizeof kb->index_type)
        st = hrt_err(HRT_E_FORMAT, "%s: not a knowledge-base manifest (format, version, embedding_model, dim, "
                                   "chunk_tokens, chunk_overlap, index_type, index_version)", path);
    else if (ver->valuedouble > KB_FORMAT_VERSION)
        st = hrt_err(HRT_E_FORMAT, "%s: version %g is newer than this hrt (%d)", path, ver->valuedouble,
                     KB_FORMAT_VERSION);
    if (st == 1) {
        snprintf(kb->model, sizeof kb->model, "%s", model->valuestring);
        kb->dim = (int)dim->valuedouble;
        kb->chunk_tokens = (int)ct->valuedouble;
        kb->chunk_overlap = (int)co->valuedouble;
        snprintf(kb->index_type, sizeof kb->index_type, "%s", type->valuestring);
        kb->auto_type = cJSON_IsTrue(aut);
        *index_version = (int64_t)iv->valuedouble;
    }
    cJSON_Delete(j);
    return st;
}

/* ---- the dense index ---------------------------------------------------- */
typedef struct {
    dense_index *d;
    float *vecs;
    int64_t *ids;
    size_t n, cap;
    int dim;
} rebuild_ctx;

static int rebuild_flush(rebuild_ctx *r)
{
    int st = dense_add(r->d, r->n, r->vecs, r->ids);
    r->n = 0;
    return st;
}

static int rebuild_add(void *ud, int64_t id, const float *vec)
{
    rebuild_ctx *r = ud;
    memcpy(r->vecs + r->n * (size_t)r->dim, vec, (size_t)r->dim * sizeof *vec);
    r->ids[r->n++] = id;
    return r->n == r->cap ? rebuild_flush(r) : 0;
}

/* Builds the dense index anew from the vectors in the store. */
static int rebuild(hrt_kb *kb)
{
    uint64_t chunks = 0;
    int st = store_counts(kb->store, NULL, &chunks, NULL);
    if (st) return st;
    if (kb->auto_type) snprintf(kb->index_type, sizeof kb->index_type, "%s", dense_default_type(chunks));
    hrt_log(HRT_LOG_INFO, "%s: building the dense index (%s) from %llu chunks", kb->dir, kb->index_type,
            (unsigned long long)chunks);
    dense_index *d = NULL;
    if ((st = dense_create(kb->dim, kb->index_type, &d))) return st;
    rebuild_ctx r = {d, malloc(1024 * (size_t)kb->dim * sizeof(float)), malloc(1024 * sizeof(int64_t)), 0, 1024, kb->dim};
    st = r.vecs && r.ids ? store_vectors(kb->store, kb->dim, rebuild_add, &r) : hrt_err(HRT_E_NOMEM, "out of memory");
    if (!st && r.n) st = rebuild_flush(&r);
    free(r.vecs);
    free(r.ids);
    if (st) {
        dense_free(d);
        return st;
    }
    dense_free(kb->dense);
    kb->dense = d;
    return 0;
}

/* Saves the dense index and records the store version it reflects. */
static int save(hrt_kb *kb)
{
    int64_t v = store_version(kb->store);
    if (v == kb->saved_version) return 0;
    if (kb->auto_type && strcmp(kb->index_type, dense_default_type(dense_count(kb->dense)))) {
        pthread_rwlock_wrlock(&kb->lock); /* grown past the exact index's size: HNSW from now on */
        int st = rebuild(kb);
        pthread_rwlock_unlock(&kb->lock);
        if (st) return st;
    }
    char path[4096];
    kb_path(kb, "vectors.faiss", path, sizeof path);
    pthread_rwlock_rdlock(&kb->lock);
    int st = dense_save(kb->dense, path);
    pthread_rwlock_unlock(&kb->lock);
    if (!st) st = write_manifest(kb, v);
    if (!st) kb->saved_version = v;
    return st;
}

/* ---- the sparse index (lock held exclusively) ----------------------------- */
static int sparse_rebuild(hrt_kb *kb)
{
    double t0 = now_s();
    sparse_index *x = NULL;
    int st = sparse_build(kb->store, &x);
    if (st) return st;
    hrt_log(HRT_LOG_INFO, "%s: BM25 index of %llu chunks (%llu postings) built in %.3f s", kb->dir,
            (unsigned long long)sparse_count(x), (unsigned long long)sparse_postings(x), now_s() - t0);
    kb->sparse = x;
    return 0;
}

/* The sparse index follows a committed change: old ids gone, chunks c
 * (ids) added. */
static void sparse_follow(hrt_kb *kb, size_t n_old, const int64_t *old, size_t n, const store_chunk *c,
                          const int64_t *ids)
{
    if (!kb->sparse) return;
    sparse_remove(kb->sparse, n_old, old);
    int st = 0;
    for (size_t i = 0; !st && i < n; i++) st = sparse_add(kb->sparse, kb->store, ids[i], c[i].text, c[i].len);
    if (!st) st = sparse_commit(kb->sparse);
    if (st) {
        hrt_log(HRT_LOG_WARN, "%s: the BM25 index could not follow (%s): rebuilt at the next search", kb->dir,
                hrt_last_error());
        sparse_free(kb->sparse);
        kb->sparse = NULL;
    }
}

/* BM25 by the sparse index, built first if needed; or by FTS5. */
static int bm25(hrt_kb *kb, const char *query, size_t k, int64_t *ids, float *scores)
{
    if (kb->bm25_fts5) return store_bm25(kb->store, query, k, ids, scores);
    store_terms t;
    int st = store_query_terms(kb->store, query, &t);
    if (st || !t.n) {
        store_terms_clear(&t);
        return st;
    }
    pthread_rwlock_rdlock(&kb->lock);
    while (!kb->sparse) {
        pthread_rwlock_unlock(&kb->lock);
        pthread_rwlock_wrlock(&kb->lock);
        st = kb->sparse ? 0 : sparse_rebuild(kb);
        pthread_rwlock_unlock(&kb->lock);
        if (st) break;
        pthread_rwlock_rdlock(&kb->lock);
    }
    if (!st) {
        st = sparse_search(kb->sparse, t.term, t.len, t.n, k, ids, scores);
        pthread_rwlock_unlock(&kb->lock);
    }
    store_terms_clear(&t);
    return st;
}

void kb_bm25_fts5(hrt_kb *kb, int fts5) { kb->bm25_fts5 = fts5; }
void kb_serial(hrt_kb *kb, int serial) { kb->serial = serial; }

static void *helper_main(void *arg)
{
    hrt_kb *kb = arg;
    bm25_helper *h = &kb->helper;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->posted && !h->quit) pthread_cond_wait(&h->cv, &h->mu);
        if (h->quit) break;
        h->posted = 0;
        pthread_mutex_unlock(&h->mu);
        int r = bm25(kb, h->query, h->k, h->ids, h->scores);
        pthread_mutex_lock(&h->mu);
        h->result = r;
        if (r < 0) snprintf(h->error, sizeof h->error, "%s", hrt_last_error());
        h->done = 1;
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* Hands a BM25 search to the helper: 1 when it took it (collect it with
 * helper_wait), 0 when the caller must run it itself. */
static int helper_post(hrt_kb *kb, const char *query, size_t k, int64_t *ids, float *scores)
{
    bm25_helper *h = &kb->helper;
    pthread_mutex_lock(&h->mu);
    int ok = !h->busy;
    if (ok && !h->started) {
        h->started = pthread_create(&h->thread, NULL, helper_main, kb) == 0;
        ok = h->started;
    }
    if (ok) {
        h->busy = 1;
        h->posted = 1;
        h->done = 0;
        h->query = query, h->k = k, h->ids = ids, h->scores = scores;
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    return ok;
}

static int helper_wait(hrt_kb *kb)
{
    bm25_helper *h = &kb->helper;
    pthread_mutex_lock(&h->mu);
    while (!h->done) pthread_cond_wait(&h->cv, &h->mu);
    int r = h->result;
    if (r < 0) hrt_err(r, "%s", h->error); /* the message, on the caller's thread */
    h->busy = 0;
    pthread_mutex_unlock(&h->mu);
    return r;
}

static void helper_stop(hrt_kb *kb)
{
    bm25_helper *h = &kb->helper;
    pthread_mutex_lock(&h->mu);
    h->quit = 1;
    pthread_cond_broadcast(&h->cv);
    int started = h->started;
    pthread_mutex_unlock(&h->mu);
    if (started) pthread_join(h->thread, NULL);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
}

/* ---- open and close ----------------------------------------------------- */
int hrt_kb_open(const char *dir, const hrt_kb_params *params, hrt_kb **out)
{
    if (!dir || !out) return hrt_err(HRT_E_INVALID, "hrt_kb_open: NULL argument");
    *out = NULL;
    hrt_kb_params p = params ? *params : hrt_kb_default_params();
    int dim = p.embedder ? hrt_embed_dim(p.embedder) : -1;
    if (dim <= 0) return hrt_err(HRT_E_INVALID, "hrt_kb_open: an embedding model (an encoder) is needed");
    if (p.embed_batch <= 0) p.embed_batch = 32;
    if (!p.text_field) p.text_field = "text";
    if (!p.id_field) p.id_field = "id";
    hrt_model_info info;
    hrt_model_info_get(p.embedder, &info);
    if (mkdir(dir, 0755) && errno != EEXIST) return hrt_err(HRT_E_IO, "%s: cannot create: %s", dir, strerror(errno));
    hrt_kb *kb = calloc(1, sizeof *kb);
    if (!kb || !(kb->dir = strdup(dir))) {
        free(kb);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    kb->p = p;
    kb->saved_version = -1;
    pthread_rwlock_init(&kb->lock, NULL);
    pthread_mutex_init(&kb->write, NULL);
    pthread_mutex_init(&kb->helper.mu, NULL);
    pthread_cond_init(&kb->helper.cv, NULL);
    int64_t index_version = -1;
    int st = read_manifest(kb, &index_version);
    if (st == 0) { /* a new knowledge base */
        snprintf(kb->model, sizeof kb->model, "%s", info.name ? info.name : "?");
        kb->dim = dim;
        kb->chunk_tokens = p.chunk_tokens;
        kb->chunk_overlap = p.chunk_overlap;
        kb->auto_type = !p.index_type;
        snprintf(kb->index_type, sizeof kb->index_type, "%s", p.index_type ? p.index_type : dense_default_type(0));
        if (kb->chunk_tokens < 8 || kb->chunk_overlap < 0 || kb->chunk_overlap >= kb->chunk_tokens)
            st = hrt_err(HRT_E_INVALID, "hrt_kb_open: chunk_tokens %d (>= 8) and chunk_overlap %d (< chunk_tokens)",
                         kb->chunk_tokens, kb->chunk_overlap);
    } else if (st == 1) {
        st = 0;
        if (kb->dim != dim || strcmp(kb->model, info.name ? info.name : "?"))
            st = hrt_err(HRT_E_INVALID, "%s: built with the embedding model %s (%d-d); this one is %s (%d-d)", dir,
                         kb->model, kb->dim, info.name ? info.name : "?", dim);
    }
    char path[4096];
    if (!st) {
        kb_path(kb, "kb.sqlite", path, sizeof path);
        st = store_open(path, &kb->store);
    }
    if (!st) {
        kb_path(kb, "vectors.faiss", path, sizeof path);
        int64_t v = store_version(kb->store);
        if (index_version == v && access(path, F_OK) == 0 &&
            dense_load(path, kb->index_type, kb->dim, &kb->dense) == 0) {
            kb->saved_version = v;
        } else {
            if (index_version >= 0)
                hrt_log(HRT_LOG_WARN, "%s: the dense index is not at the store's version (%lld, want %lld): rebuilt",
                        dir, (long long)index_version, (long long)v);
            st = rebuild(kb);
            if (!st) st = save(kb);
            if (!st && kb->saved_version < 0) { /* an empty new knowledge base */
                st = write_manifest(kb, v);
                kb->saved_version = v;
            }
        }
    }
    if (st) {
        hrt_kb_free(kb);
        return st;
    }
    *out = kb;
    return 0;
}

void hrt_kb_free(hrt_kb *kb)
{
    if (!kb) return;
    helper_stop(kb);
    if (kb->store && kb->dense) save(kb);
    dense_free(kb->dense);
    sparse_free(kb->sparse);
    store_close(kb->store);
    pthread_rwlock_destroy(&kb->lock);
    pthread_mutex_destroy(&kb->write);
    free(kb->dir);
    free(kb);
}

/* ---- ingest ------------------------------------------------------------- */
typedef struct {
    hrt_kb *kb;
    hrt_kb_report *r;
    uint64_t since_save;
    size_t files_total, files_done;
} add_ctx;

static int count_tokens(void *ud, const char *text, size_t len)
{
    return hrt_tokenize(ud, text, len, 0, 0, NULL, 0);
}

/* Embeds n chunk texts into vecs, embed_batch at a time. */
static int embed_chunks(hrt_kb *kb, const char *text, const chunk_span *c, size_t n, float *vecs)
{
    int b = kb->p.embed_batch;
    const char **texts = malloc((size_t)b * sizeof *texts);
    size_t *lens = malloc((size_t)b * sizeof *lens);
    int st = texts && lens ? 0 : hrt_err(HRT_E_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < n; i += (size_t)b) {
        size_t m = n - i < (size_t)b ? n - i : (size_t)b;
        for (size_t k = 0; k < m; k++) texts[k] = text + c[i + k].start, lens[k] = c[i + k].end - c[i + k].start;
        st = hrt_embed(kb->p.embedder, texts, lens, m, vecs + i * (size_t)kb->dim);
    }
    free(texts);
    free(lens);
    return st;
}

static int add_doc(void *ud, const read_doc *d)
{
    add_ctx *x = ud;
    hrt_kb *kb = x->kb;
    char hash[17];
    uint64_t h = fnv1a(FNV1A_BASIS, d->text, d->len);
    h = fnv1a(h, d->meta, strlen(d->meta) + 1);
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)h);
    char *old_hash = NULL;
    int st = store_doc_hash(kb->store, d->source, &old_hash);
    if (st < 0) return st;
    int existed = st == 1, same = existed && !strcmp(old_hash, hash);
    free(old_hash);
    if (same) {
        x->r->docs_unchanged++;
        return 0;
    }
    if (d->n_repaired) {
        x->r->utf8_repaired++;
        hrt_log(HRT_LOG_WARN, "%s: %zu invalid UTF-8 sequences replaced by U+FFFD", d->source, d->n_repaired);
    }
    chunk_span *c = NULL;
    size_t n = 0;
    st = chunk_text(d->text, d->len, kb->chunk_tokens, kb->chunk_overlap, count_tokens, kb->p.embedder, &c, &n);
    float *vecs = st ? NULL : malloc((n ? n : 1) * (size_t)kb->dim * sizeof *vecs);
    store_chunk *sc = st ? NULL : malloc((n ? n : 1) * sizeof *sc);
    int64_t *ids = st ? NULL : malloc((n ? n : 1) * sizeof *ids), *old = NULL;
    size_t n_old = 0;
    if (!st && (!vecs || !sc || !ids)) st = hrt_err(HRT_E_NOMEM, "out of memory");
    if (!st) st = embed_chunks(kb, d->text, c, n, vecs);
    for (size_t i = 0; !st && i < n; i++)
        sc[i] = (store_chunk){d->text + c[i].start, c[i].end - c[i].start, c[i].start, c[i].end, c[i].tokens};
    if (!st) st = store_doc_put(kb->store, d->source, hash, d->meta, d->len, sc, n, vecs, kb->dim, &old, &n_old, ids);
    if (!st) { /* committed: the index follows */
        pthread_rwlock_wrlock(&kb->lock);
        st = dense_remove(kb->dense, n_old, old, NULL);
        if (!st) st = dense_add(kb->dense, n, vecs, ids);
        sparse_follow(kb, n_old, old, n, sc, ids);
        pthread_rwlock_unlock(&kb->lock);
        if (st) { /* the store has it; a rebuild at the next open repairs the index */
            hrt_log(HRT_LOG_WARN, "%s: the dense index could not follow: %s", d->source, hrt_last_error());
            st = 0;
        }
        if (existed) x->r->docs_updated++;
        else x->r->docs_added++;
        x->r->chunks_added += n;
        x->r->chunks_removed += n_old;
        if (++x->since_save >= SAVE_EVERY) {
            x->since_save = 0;
            st = save(kb);
        }
    }
    free(c);
    free(vecs);
    free(sc);
    free(ids);
    free(old);
    return st;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Calls fn for every file under path (itself when a file), sorted, hidden
 * entries skipped. */
static int walk(const char *path, int (*fn)(void *ud, const char *file), void *ud)
{
    struct stat sb;
    if (stat(path, &sb)) return hrt_err(HRT_E_IO, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return fn(ud, path);
    DIR *dir = opendir(path);
    if (!dir) return hrt_err(HRT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int st = 0;
    while (!st && (e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            char **g = realloc(names, (cap = cap ? 2 * cap : 32) * sizeof *g);
            if (!g) { st = hrt_err(HRT_E_NOMEM, "out of memory"); break; }
            names = g;
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        if (!(names[n] = malloc(len))) { st = hrt_err(HRT_E_NOMEM, "out of memory"); break; }
        snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    closedir(dir);
    if (!st) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; !st && i < n; i++) st = walk(names[i], fn, ud);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}

static int count_file(void *ud, const char *file)
{
    (void)file;
    (*(size_t *)ud)++;
    return 0;
}

static int add_file(void *ud, const char *file)
{
    add_ctx *x = ud;
    x->r->files++;
    int st = 0;
    if (!read_known(file)) {
        hrt_log(HRT_LOG_INFO, "%s: skipped (not .txt .md .html .json .jsonl)", file);
        x->r->files_skipped++;
    } else {
        uint64_t before = x->r->docs_added + x->r->docs_updated + x->r->docs_unchanged;
        read_opts o = {x->kb->p.text_field, x->kb->p.id_field};
        st = read_file(file, &o, add_doc, x);
        if (st == HRT_E_UNSUPPORTED) {
            hrt_log(HRT_LOG_WARN, "%s", hrt_last_error());
            x->r->files_skipped++;
            st = 0;
        } else if (!st && before == x->r->docs_added + x->r->docs_updated + x->r->docs_unchanged) {
            hrt_log(HRT_LOG_INFO, "%s: empty, ignored", file);
            x->r->files_skipped++;
        }
    }
    x->files_done++;
    if (x->kb->p.progress && x->files_total)
        x->kb->p.progress((float)x->files_done / (float)x->files_total, x->kb->p.progress_data);
    return st;
}

/* An absolute, normalised form of path that need not exist (so that a
 * removed file can still be named): realpath, else cwd-relative. */
static void canonical(const char *path, char *out, size_t cap)
{
    char rp[PATH_MAX];
    if (realpath(path, rp)) {
        snprintf(out, cap, "%s", rp);
        return;
    }
    char cwd[PATH_MAX] = "";
    if (path[0] != '/' && !getcwd(cwd, sizeof cwd)) cwd[0] = 0;
    while (path[0] == '.' && path[1] == '/') path += 2;
    snprintf(out, cap, "%s%s%s", cwd, path[0] == '/' || !cwd[0] ? "" : "/", path);
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/') out[--n] = 0;
}

int hrt_kb_add(hrt_kb *kb, const char *path, hrt_kb_report *report)
{
    hrt_kb_report r = {0};
    if (!kb || !path) return hrt_err(HRT_E_INVALID, "hrt_kb_add: NULL argument");
    double t0 = now_s();
    char abs[PATH_MAX];
    canonical(path, abs, sizeof abs);
    pthread_mutex_lock(&kb->write);
    add_ctx x = {kb, &r, 0, 0, 0};
    int st = walk(abs, count_file, &x.files_total);
    if (!st) st = walk(abs, add_file, &x);
    int sst = save(kb);
    pthread_mutex_unlock(&kb->write);
    r.seconds = now_s() - t0;
    if (report) *report = r;
    return st ? st : sst;
}

typedef struct {
    hrt_kb *kb;
    uint64_t n;
} rm_ctx;

static int remove_source(void *ud, const char *source)
{
    rm_ctx *x = ud;
    int64_t *old = NULL;
    size_t n_old = 0;
    int st = store_doc_remove(x->kb->store, source, &old, &n_old);
    if (st == HRT_E_RANGE) return 0;
    if (!st) {
        x->n++;
        pthread_rwlock_wrlock(&x->kb->lock);
        if (dense_remove(x->kb->dense, n_old, old, NULL))
            hrt_log(HRT_LOG_WARN, "%s: the dense index could not follow: %s", source, hrt_last_error());
        sparse_follow(x->kb, n_old, old, 0, NULL, NULL);
        pthread_rwlock_unlock(&x->kb->lock);
    }
    free(old);
    return st;
}

int hrt_kb_remove(hrt_kb *kb, const char *path, uint64_t *n_docs)
{
    if (n_docs) *n_docs = 0;
    if (!kb || !path) return hrt_err(HRT_E_INVALID, "hrt_kb_remove: NULL argument");
    char abs[PATH_MAX];
    canonical(path, abs, sizeof abs);
    pthread_mutex_lock(&kb->write);
    rm_ctx x = {kb, 0};
    int st = store_sources(kb->store, abs, remove_source, &x);
    int sst = save(kb);
    pthread_mutex_unlock(&kb->write);
    if (n_docs) *n_docs = x.n;
    if (!st && !x.n) return hrt_err(HRT_E_RANGE, "%s: no document of this path in %s", abs, kb->dir);
    return st ? st : sst;
}

/* ---- search ------------------------------------------------------------- */
typedef struct {
    int64_t id;
    float score, dense, bm25;
    int dense_rank, bm25_rank;
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    return (x->score < y->score) - (x->score > y->score);
}

static cand *find_cand(cand *c, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (c[i].id == id) return &c[i];
    return NULL;
}

/* The stored vector of candidate i, read once into vecs (have[i]: 0 not
 * read yet, 1 read, 2 missing: a stale id). NULL when missing. */
static float *cand_vec(hrt_kb *kb, const cand *c, size_t i, float *vecs, char *have)
{
    float *v = vecs + i * (size_t)kb->dim;
    if (!have[i]) have[i] = store_chunk_vec(kb->store, c[i].id, v, kb->dim) ? 2 : 1;
    return have[i] == 1 ? v : NULL;
}

int hrt_kb_search(hrt_kb *kb, const char *query, const hrt_kb_search_params *params, hrt_kb_hit *hits)
{
    if (!kb || !query || !hits) return hrt_err(HRT_E_INVALID, "hrt_kb_search: NULL argument");
    int mode = params ? params->mode : HRT_KB_HYBRID;
    if (params && params->query_vector) return kb_search_vec(kb, query, params->query_vector, params, hits);
    float *q = malloc((size_t)kb->dim * sizeof *q);
    if (!q) return hrt_err(HRT_E_NOMEM, "out of memory");
    int st = 0;
    if (mode != HRT_KB_BM25) {
        size_t qlen = strlen(query);
        st = hrt_embed(kb->p.embedder, &query, &qlen, 1, q);
    }
    if (!st) st = kb_search_vec(kb, query, q, params, hits);
    free(q);
    return st;
}

int kb_search_vec(hrt_kb *kb, const char *query, const float *qvec, const hrt_kb_search_params *params,
                  hrt_kb_hit *hits)
{
    if (!kb || !query || !hits || !qvec) return hrt_err(HRT_E_INVALID, "hrt_kb_search: NULL argument");
    hrt_kb_search_params p = params ? *params : hrt_kb_search_default_params();
    if (p.mode < HRT_KB_HYBRID || p.mode > HRT_KB_BM25 || p.k == 0 || p.k > 1000 || p.dedup <= 0 ||
        p.mmr_lambda < 0 || p.mmr_lambda > 1 || (!p.filter_path != !p.filter_value))
        return hrt_err(HRT_E_INVALID, "hrt_kb_search: mode, k (1-1000), dedup (> 0), mmr_lambda (0-1) or a filter "
                                      "path without a value");
    size_t nc = p.candidates ? p.candidates : (p.k * 4 > 50 ? p.k * 4 : 50);
    if (nc < p.k) nc = p.k;
    if (p.filter_path) nc *= 4; /* a filter drops some */
    cand *c = calloc(2 * nc, sizeof *c);
    int64_t *ids = malloc(2 * nc * sizeof *ids), *bm_ids = ids ? ids + nc : NULL;
    float *sc = malloc(2 * nc * sizeof *sc), *bm_sc = sc ? sc + nc : NULL, *q = malloc((size_t)kb->dim * sizeof *q);
    if (q) memcpy(q, qvec, (size_t)kb->dim * sizeof *q);
    float *vecs = malloc(2 * nc * (size_t)kb->dim * sizeof *vecs), **sel_vec = calloc(p.k, sizeof *sel_vec);
    int st = c && ids && sc && q && vecs && sel_vec ? 0 : hrt_err(HRT_E_NOMEM, "out of memory");
    size_t n = 0;
    int async = !st && p.mode == HRT_KB_HYBRID && !kb->serial && helper_post(kb, query, nc, bm_ids, bm_sc);
    if (!st && p.mode != HRT_KB_BM25) {
        pthread_rwlock_rdlock(&kb->lock);
        st = dense_search(kb->dense, q, nc, sc, ids);
        pthread_rwlock_unlock(&kb->lock);
        for (size_t i = 0; !st && i < nc && ids[i] >= 0; i++)
            c[n++] = (cand){ids[i], 0, sc[i], 0, (int)i + 1, 0};
    }
    if (async || (!st && p.mode != HRT_KB_DENSE)) {
        int m = async ? helper_wait(kb) : bm25(kb, query, nc, bm_ids, bm_sc);
        if (m < 0 && !st) st = m;
        for (int i = 0; !st && i < m; i++) {
            cand *x = find_cand(c, n, bm_ids[i]);
            if (!x) x = &c[n++], *x = (cand){bm_ids[i], 0, 0, 0, 0, 0};
            x->bm25 = bm_sc[i];
            x->bm25_rank = i + 1;
        }
    }
    for (size_t i = 0; i < n; i++) { /* fused score, or the one ranking's */
        cand *x = &c[i];
        if (p.mode == HRT_KB_DENSE) x->score = x->dense;
        else if (p.mode == HRT_KB_BM25) x->score = x->bm25;
        else x->score = (x->dense_rank ? 1.0f / (RRF_K + x->dense_rank) : 0) + (x->bm25_rank ? 1.0f / (RRF_K + x->bm25_rank) : 0);
    }
    if (!st) qsort(c, n, sizeof *c, cmp_cand);
    /* select: joined with the store, filtered, without near duplicates;
     * with mmr_lambda < 1, the next pick trades relevance for novelty */
    size_t out = 0;
    char *used = calloc(n ? n : 1, 1), *have = calloc(n ? n : 1, 1);
    if (!used || !have) st = hrt_err(HRT_E_NOMEM, "out of memory");
    float top = n ? c[0].score : 1;
    while (!st && out < p.k) {
        long best = -1;
        float best_val = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            if (used[i]) continue;
            float sim = -1;
            if (out && (p.dedup < 1 || p.mmr_lambda < 1)) {
                const float *v = cand_vec(kb, c, i, vecs, have);
                if (!v) {
                    used[i] = 1; /* gone: a stale id */
                    continue;
                }
                for (size_t k = 0; k < out; k++) {
                    float s = cpu_dot_f32(v, sel_vec[k], kb->dim);
                    if (s > sim) sim = s;
                }
                if (sim >= p.dedup) { /* a near duplicate of a better hit */
                    used[i] = 1;
                    continue;
                }
            }
            float val = p.mmr_lambda < 1 ? p.mmr_lambda * (c[i].score / (top > 0 ? top : 1)) - (1 - p.mmr_lambda) * (sim > 0 ? sim : 0)
                                         : -(float)i;
            if (val > best_val) best_val = val, best = (long)i;
            if (p.mmr_lambda >= 1) break; /* relevance order: the first left */
        }
        if (best < 0) break;
        used[best] = 1;
        const cand *x = &c[best];
        if (p.filter_path) {
            int m = store_meta_match(kb->store, x->id, p.filter_path, p.filter_value);
            if (m < 0) { st = m; break; }
            if (!m) continue;
        }
        store_hit h;
        int g = store_chunk_get(kb->store, x->id, &h);
        if (g == HRT_E_RANGE) continue; /* a stale id (invariant 3) */
        if (g) { st = g; break; }
        float *v = cand_vec(kb, c, (size_t)best, vecs, have);
        sel_vec[out] = v ? v : q; /* no vector: compares as the query */
        hits[out] = (hrt_kb_hit){x->id, h.source, h.text, h.start, h.end, x->score, x->dense_rank, x->bm25_rank};
        free(h.meta);
        out++;
    }
    free(used);
    free(have);
    free(c);
    free(ids);
    free(sc);
    free(q);
    free(vecs);
    free(sel_vec);
    if (st) {
        hrt_kb_hits_free(hits, out);
        return st;
    }
    return (int)out;
}

int kb_put_vectors(hrt_kb *kb, size_t n, const char *const *sources, const char *const *texts, const float *vecs,
                   int bulk)
{
    pthread_mutex_lock(&kb->write);
    if (bulk) store_set_durable(kb->store, 0);
    int st = 0;
    for (size_t i = 0; !st && i < n; i++) {
        size_t len = strlen(texts[i]);
        store_chunk c = {texts[i], len, 0, len, 0};
        int64_t id, *old = NULL;
        size_t n_old = 0;
        st = store_doc_put(kb->store, sources[i], "-", NULL, len, &c, 1, vecs + i * (size_t)kb->dim, kb->dim, &old,
                           &n_old, &id);
        if (!st) {
            pthread_rwlock_wrlock(&kb->lock);
            st = dense_remove(kb->dense, n_old, old, NULL);
            if (!st) st = dense_add(kb->dense, 1, vecs + i * (size_t)kb->dim, &id);
            sparse_follow(kb, n_old, old, 1, &c, &id);
            pthread_rwlock_unlock(&kb->lock);
        }
        free(old);
    }
    if (bulk) store_set_durable(kb->store, 1);
    if (!st) st = save(kb);
    pthread_mutex_unlock(&kb->write);
    return st;
}

void hrt_kb_hits_free(hrt_kb_hit *hits, size_t n)
{
    for (size_t i = 0; hits && i < n; i++) {
        free(hits[i].source);
        free(hits[i].text);
        hits[i].source = hits[i].text = NULL;
    }
}

int hrt_kb_stats_get(hrt_kb *kb, hrt_kb_stats *out)
{
    if (!kb || !out) return hrt_err(HRT_E_INVALID, "hrt_kb_stats_get: NULL argument");
    memset(out, 0, sizeof *out);
    int st = store_counts(kb->store, &out->documents, &out->chunks, &out->bytes);
    pthread_rwlock_rdlock(&kb->lock);
    out->vectors = dense_count(kb->dense);
    pthread_rwlock_unlock(&kb->lock);
    out->dim = kb->dim;
    out->index_type = kb->index_type;
    out->embedding_model = kb->model;
    return st;
}
