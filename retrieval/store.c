#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "error.h"
#include "fnv.h"

struct kb_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    char *path;
    sqlite3_stmt *begin, *commit, *rollback, *doc_find, *doc_hash, *doc_chunks, *del_chunks, *del_doc, *ins_doc,
        *ins_chunk, *bump, *version, *bm25, *get, *vec, *all_vecs, *all_texts, *meta_match, *sources;
    /* chunks_fts's tokenizer, run outside SQL (s->mu held: porter keeps a
     * buffer in the instance) */
    fts5_tokenizer tok_api;
    Fts5Tokenizer *tok;
};

static int sql_err(kb_store *s, int code, const char *what)
{
    return hrt_err(code, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int step_done(sqlite3_stmt *q)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? 0 : rc;
}

void store_close(kb_store *s)
{
    if (!s) return;
    sqlite3_stmt **all[] = {&s->begin, &s->commit, &s->rollback, &s->doc_find, &s->doc_hash, &s->doc_chunks,
                            &s->del_chunks, &s->del_doc, &s->ins_doc, &s->ins_chunk, &s->bump, &s->version,
                            &s->bm25, &s->get, &s->vec, &s->all_vecs, &s->all_texts, &s->meta_match, &s->sources};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) sqlite3_finalize(*all[i]);
    if (s->tok) s->tok_api.xDelete(s->tok);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s);
}

static int check_schema(kb_store *s)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                     "PRAGMA mmap_size=1073741824;"
                     "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);"
                     "INSERT OR IGNORE INTO meta VALUES('schema', 1);"
                     "INSERT OR IGNORE INTO meta VALUES('version', 0);"
                     "CREATE TABLE IF NOT EXISTS documents(id INTEGER PRIMARY KEY AUTOINCREMENT,"
                     " source TEXT NOT NULL UNIQUE, hash TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '{}',"
                     " bytes INTEGER NOT NULL, added INTEGER NOT NULL, updated INTEGER NOT NULL);"
                     "CREATE TABLE IF NOT EXISTS chunks(id INTEGER PRIMARY KEY AUTOINCREMENT,"
                     " doc INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE, ord INTEGER NOT NULL,"
                     " start INTEGER NOT NULL, end INTEGER NOT NULL, tokens INTEGER NOT NULL, hash TEXT NOT NULL,"
                     " text TEXT NOT NULL, vec BLOB);"
                     "CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc);"
                     "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, content='chunks',"
                     " content_rowid='id', tokenize='porter unicode61');"
                     "CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN"
                     " INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text); END;"
                     "CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN"
                     " INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); END;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        int st = hrt_err(HRT_E_FORMAT, "%s: not a usable knowledge-base database: %s", s->path, msg ? msg : "?");
        sqlite3_free(msg);
        return st;
    }
    sqlite3_stmt *q = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key='schema'", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (version > STORE_SCHEMA_VERSION || version < 1)
        return hrt_err(HRT_E_FORMAT, "%s: schema version %d (this hrt knows %d)", s->path, version,
                       STORE_SCHEMA_VERSION);
    return 0;
}

/* The fts5_api of the connection (the documented way: SELECT fts5(?1)
 * with a pointer bound), then chunks_fts's tokenizer from it. */
static int open_tokenizer(kb_store *s)
{
    fts5_api *api = NULL;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT fts5(?1)", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_pointer(q, 1, (void *)&api, "fts5_api_ptr", NULL);
        sqlite3_step(q);
    }
    sqlite3_finalize(q);
    void *ud = NULL;
    const char *args[] = {"unicode61"};
    if (!api || api->iVersion < 2 || api->xFindTokenizer(api, "porter", &ud, &s->tok_api) != SQLITE_OK ||
        s->tok_api.xCreate(ud, args, 1, &s->tok) != SQLITE_OK) {
        s->tok = NULL;
        return hrt_err(HRT_E_UNSUPPORTED, "%s: this SQLite has no FTS5 porter tokenizer", s->path);
    }
    return 0;
}

int store_open(const char *path, kb_store **out)
{
    *out = NULL;
    kb_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&s->mu, NULL);
    int st = 0;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        st = hrt_err(HRT_E_IO, "%s: cannot open: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
    } else {
        sqlite3_busy_timeout(s->db, 5000);
        st = check_schema(s);
    }
    struct { sqlite3_stmt **q; const char *sql; } stmts[] = {
        {&s->begin, "BEGIN IMMEDIATE"},
        {&s->commit, "COMMIT"},
        {&s->rollback, "ROLLBACK"},
        {&s->doc_find, "SELECT id, added FROM documents WHERE source = ?1"},
        {&s->doc_hash, "SELECT hash FROM documents WHERE source = ?1"},
        {&s->doc_chunks, "SELECT id FROM chunks WHERE doc = ?1"},
        {&s->del_chunks, "DELETE FROM chunks WHERE doc = ?1"},
        {&s->del_doc, "DELETE FROM documents WHERE id = ?1"},
        {&s->ins_doc, "INSERT INTO documents(source, hash, meta, bytes, added, updated) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"},
        {&s->ins_chunk, "INSERT INTO chunks(doc, ord, start, end, tokens, hash, text, vec) "
                        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
        {&s->bump, "UPDATE meta SET value = value + 1 WHERE key = 'version'"},
        {&s->version, "SELECT value FROM meta WHERE key = 'version'"},
        {&s->bm25, "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?1 "
                   "ORDER BY bm25(chunks_fts) LIMIT ?2"},
        {&s->get, "SELECT c.doc, d.source, c.text, d.meta, c.start, c.end, c.ord FROM chunks c "
                  "JOIN documents d ON d.id = c.doc WHERE c.id = ?1"},
        {&s->vec, "SELECT vec FROM chunks WHERE id = ?1"},
        {&s->all_vecs, "SELECT id, vec FROM chunks"},
        {&s->all_texts, "SELECT id, text FROM chunks ORDER BY id"},
        {&s->meta_match, "SELECT CAST(json_extract(d.meta, ?2) AS TEXT) = ?3 FROM chunks c "
                         "JOIN documents d ON d.id = c.doc WHERE c.id = ?1"},
        {&s->sources, "SELECT source FROM documents WHERE source = ?1 OR "
                      "substr(source, 1, length(?1) + 1) IN (?1 || '/', ?1 || '#') ORDER BY source"},
    };
    for (size_t i = 0; !st && i < sizeof stmts / sizeof *stmts; i++)
        if (sqlite3_prepare_v2(s->db, stmts[i].sql, -1, stmts[i].q, NULL) != SQLITE_OK)
            st = sql_err(s, HRT_E_FORMAT, "preparing a statement");
    if (!st) st = open_tokenizer(s);
    if (st) {
        store_close(s);
        return st;
    }
    *out = s;
    return 0;
}

/* ---- writes (s->mu held) ------------------------------------------------ */
static int tx_end(kb_store *s, int st)
{
    if (!st && step_done(s->commit)) st = sql_err(s, HRT_E_IO, "commit");
    if (st) step_done(s->rollback);
    return st;
}

/* Deletes document doc and its chunks, collecting the chunk ids. */
static int drop_doc(kb_store *s, int64_t doc, int64_t **ids, size_t *n)
{
    size_t cap = 0;
    int rc, st = 0;
    sqlite3_bind_int64(s->doc_chunks, 1, doc);
    while ((rc = sqlite3_step(s->doc_chunks)) == SQLITE_ROW) {
        if (!ids) continue;
        if (*n == cap) {
            int64_t *g = realloc(*ids, (cap = cap ? 2 * cap : 64) * sizeof *g);
            if (!g) { st = hrt_err(HRT_E_NOMEM, "out of memory"); break; }
            *ids = g;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(s->doc_chunks, 0);
    }
    if (!st && rc != SQLITE_DONE) st = sql_err(s, HRT_E_IO, "listing a document's chunks");
    sqlite3_reset(s->doc_chunks);
    sqlite3_bind_int64(s->del_chunks, 1, doc);
    if (!st && step_done(s->del_chunks)) st = sql_err(s, HRT_E_IO, "deleting chunks");
    sqlite3_bind_int64(s->del_doc, 1, doc);
    if (!st && step_done(s->del_doc)) st = sql_err(s, HRT_E_IO, "deleting a document");
    return st;
}

/* The id and added time of source's document: 1 when present, 0 when not. */
static int find_doc(kb_store *s, const char *source, int64_t *id, int64_t *added)
{
    sqlite3_bind_text(s->doc_find, 1, source, -1, SQLITE_STATIC);
    int found = sqlite3_step(s->doc_find) == SQLITE_ROW;
    if (found) {
        *id = sqlite3_column_int64(s->doc_find, 0);
        *added = sqlite3_column_int64(s->doc_find, 1);
    }
    sqlite3_reset(s->doc_find);
    return found;
}

/* A chunk's hash: its identity for deduplication, not security. */
static void hash_hex(const char *p, size_t n, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)fnv1a(FNV1A_BASIS, p, n));
}

int store_doc_put(kb_store *s, const char *source, const char *hash, const char *meta_json, uint64_t bytes,
                  const store_chunk *chunks, size_t n, const float *vecs, int dim, int64_t **old_ids, size_t *n_old,
                  int64_t *new_ids)
{
    if (old_ids) *old_ids = NULL;
    if (n_old) *n_old = 0;
    int64_t now = (int64_t)time(NULL), id = 0, added = now;
    pthread_mutex_lock(&s->mu);
    int st = step_done(s->begin) ? sql_err(s, HRT_E_IO, "begin") : 0;
    if (!st && find_doc(s, source, &id, &added)) st = drop_doc(s, id, old_ids, n_old);
    if (!st) {
        sqlite3_bind_text(s->ins_doc, 1, source, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->ins_doc, 2, hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->ins_doc, 3, meta_json ? meta_json : "{}", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->ins_doc, 4, (int64_t)bytes);
        sqlite3_bind_int64(s->ins_doc, 5, added);
        sqlite3_bind_int64(s->ins_doc, 6, now);
        if (step_done(s->ins_doc)) st = sql_err(s, HRT_E_IO, "inserting a document");
        id = sqlite3_last_insert_rowid(s->db);
    }
    for (size_t i = 0; !st && i < n; i++) {
        char h[17];
        hash_hex(chunks[i].text, chunks[i].len, h);
        sqlite3_stmt *q = s->ins_chunk;
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_int(q, 2, (int)i);
        sqlite3_bind_int64(q, 3, (int64_t)chunks[i].start);
        sqlite3_bind_int64(q, 4, (int64_t)chunks[i].end);
        sqlite3_bind_int(q, 5, chunks[i].tokens);
        sqlite3_bind_text(q, 6, h, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 7, chunks[i].text, (int)chunks[i].len, SQLITE_STATIC);
        if (vecs) sqlite3_bind_blob(q, 8, vecs + i * (size_t)dim, dim * (int)sizeof(float), SQLITE_STATIC);
        else sqlite3_bind_null(q, 8);
        if (step_done(q)) st = sql_err(s, HRT_E_IO, "inserting a chunk");
        else if (new_ids) new_ids[i] = sqlite3_last_insert_rowid(s->db);
    }
    if (!st && step_done(s->bump)) st = sql_err(s, HRT_E_IO, "versioning");
    st = tx_end(s, st);
    pthread_mutex_unlock(&s->mu);
    if (st && old_ids) {
        free(*old_ids);
        *old_ids = NULL;
        *n_old = 0;
    }
    return st;
}

int store_doc_remove(kb_store *s, const char *source, int64_t **old_ids, size_t *n_old)
{
    if (old_ids) *old_ids = NULL;
    if (n_old) *n_old = 0;
    int64_t id, added;
    pthread_mutex_lock(&s->mu);
    int st = step_done(s->begin) ? sql_err(s, HRT_E_IO, "begin") : 0;
    if (!st && !find_doc(s, source, &id, &added)) st = HRT_E_RANGE;
    if (!st) st = drop_doc(s, id, old_ids, n_old);
    if (!st && step_done(s->bump)) st = sql_err(s, HRT_E_IO, "versioning");
    if (st == HRT_E_RANGE) {
        step_done(s->rollback);
    } else {
        st = tx_end(s, st);
    }
    pthread_mutex_unlock(&s->mu);
    if (st && old_ids) {
        free(*old_ids);
        *old_ids = NULL;
        *n_old = 0;
    }
    return st;
}

/* ---- reads -------------------------------------------------------------- */
int store_doc_hash(kb_store *s, const char *source, char **hash)
{
    *hash = NULL;
    pthread_mutex_lock(&s->mu);
    sqlite3_bind_text(s->doc_hash, 1, source, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->doc_hash), st = 0;
    if (rc == SQLITE_ROW) {
        *hash = strdup((const char *)sqlite3_column_text(s->doc_hash, 0));
        st = *hash ? 1 : hrt_err(HRT_E_NOMEM, "out of memory");
    } else if (rc != SQLITE_DONE) {
        st = sql_err(s, HRT_E_IO, "looking up a document");
    }
    sqlite3_reset(s->doc_hash);
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* Lucene's English stop words (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET),
 * which BM25 baselines such as Anserini's on BEIR drop from queries: they
 * match most chunks, cost the most to rank and add almost nothing. */
static const char *const STOP_WORDS[] = {"a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if",
                                         "in", "into", "is", "it", "no", "not", "of", "on", "or", "such", "that",
                                         "the", "their", "then", "there", "these", "they", "this", "to", "was",
                                         "will", "with", NULL};

static int is_stop_word(const char *w, size_t n)
{
    for (int i = 0; STOP_WORDS[i]; i++)
        if (strlen(STOP_WORDS[i]) == n && !strncasecmp(STOP_WORDS[i], w, n)) return 1;
    return 0;
}

typedef struct {
    int (*fn)(void *ud, const char *tok, int n, int start, int end);
    void *ud;
    int st;
} tok_ctx;

static int tok_cb(void *ud, int flags, const char *tok, int n, int start, int end)
{
    (void)flags;
    tok_ctx *c = ud;
    return (c->st = c->fn(c->ud, tok, n, start, end)) ? SQLITE_ABORT : SQLITE_OK;
}

/* s->mu held. */
static int tokenize_locked(kb_store *s, const char *text, size_t len, int query,
                           int (*fn)(void *ud, const char *tok, int n, int start, int end), void *ud)
{
    if (len > INT_MAX) return hrt_err(HRT_E_INVALID, "a text of %zu bytes to tokenize", len);
    tok_ctx c = {fn, ud, 0};
    int rc = s->tok_api.xTokenize(s->tok, &c, query ? FTS5_TOKENIZE_QUERY : FTS5_TOKENIZE_DOCUMENT, text, (int)len,
                                  tok_cb);
    return c.st ? c.st : rc == SQLITE_OK ? 0 : hrt_err(HRT_E_NOMEM, "tokenizing: out of memory");
}

typedef struct {
    const char *text;
    store_terms *t;
    size_t used, cap;
} terms_ctx;

static int add_term(void *ud, const char *tok, int n, int start, int end)
{
    terms_ctx *c = ud;
    store_terms *t = c->t;
    if (t->n == STORE_MAX_TERMS || is_stop_word(c->text + start, (size_t)(end - start)) ||
        c->used + (size_t)n + (size_t)(end - start) + 2 > c->cap)
        return 0;
    t->term[t->n] = t->buf + c->used;
    t->len[t->n] = n;
    memcpy(t->buf + c->used, tok, (size_t)n);
    c->used += (size_t)n + 1;
    t->buf[c->used - 1] = 0;
    t->word[t->n] = t->buf + c->used;
    t->word_len[t->n] = end - start;
    memcpy(t->buf + c->used, c->text + start, (size_t)(end - start));
    c->used += (size_t)(end - start) + 1;
    t->buf[c->used - 1] = 0;
    t->n++;
    return 0;
}

int store_query_terms(kb_store *s, const char *query, store_terms *t)
{
    memset(t, 0, sizeof *t);
    size_t len = strlen(query);
    /* each term holds its token and its word: porter only shortens, and
     * unicode61's folding grows a letter's UTF-8 by at most half */
    size_t cap = 3 * len + 2 * STORE_MAX_TERMS + 16;
    if (!(t->buf = malloc(cap))) return hrt_err(HRT_E_NOMEM, "out of memory");
    terms_ctx c = {query, t, 0, cap};
    pthread_mutex_lock(&s->mu);
    int st = tokenize_locked(s, query, len, 1, add_term, &c);
    pthread_mutex_unlock(&s->mu);
    if (st) store_terms_clear(t);
    return st;
}

void store_terms_clear(store_terms *t)
{
    free(t->buf);
    memset(t, 0, sizeof *t);
}

int store_tokenize(kb_store *s, const char *text, size_t len, int (*fn)(void *ud, const char *tok, int n, int start, int end),
                   void *ud)
{
    pthread_mutex_lock(&s->mu);
    int st = tokenize_locked(s, text, len, 0, fn, ud);
    pthread_mutex_unlock(&s->mu);
    return st;
}

typedef struct {
    int (*fn)(void *ud, int64_t id, const char *tok, int n);
    void *ud;
    int64_t id;
} chunk_tok_ctx;

static int chunk_tok(void *ud, const char *tok, int n, int start, int end)
{
    (void)start;
    (void)end;
    chunk_tok_ctx *c = ud;
    return c->fn(c->ud, c->id, tok, n);
}

int store_chunk_tokens(kb_store *s, int (*fn)(void *ud, int64_t id, const char *tok, int n), void *ud)
{
    chunk_tok_ctx c = {fn, ud, 0};
    pthread_mutex_lock(&s->mu);
    int rc, st = 0;
    while (!st && (rc = sqlite3_step(s->all_texts)) == SQLITE_ROW) {
        c.id = sqlite3_column_int64(s->all_texts, 0);
        const char *text = (const char *)sqlite3_column_text(s->all_texts, 1);
        size_t len = (size_t)sqlite3_column_bytes(s->all_texts, 1);
        if (!(st = fn(ud, c.id, NULL, 0))) st = tokenize_locked(s, text ? text : "", len, 0, chunk_tok, &c);
    }
    if (!st && rc != SQLITE_DONE) st = sql_err(s, HRT_E_IO, "reading the chunks");
    sqlite3_reset(s->all_texts);
    pthread_mutex_unlock(&s->mu);
    return st;
}

int store_bm25(kb_store *s, const char *query, size_t k, int64_t *ids, float *scores)
{
    store_terms t;
    int st = store_query_terms(s, query, &t);
    if (st || !t.n) {
        store_terms_clear(&t);
        return st;
    }
    /* each word quoted, so FTS5 sees it as the one token it makes */
    size_t cap = 0, len = 0;
    for (size_t i = 0; i < t.n; i++) cap += (size_t)t.word_len[i] + 8;
    char *q = malloc(cap + 1);
    if (!q) {
        store_terms_clear(&t);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < t.n; i++) len += (size_t)snprintf(q + len, cap + 1 - len, "%s\"%s\"", i ? " OR " : "", t.word[i]);
    store_terms_clear(&t);
    pthread_mutex_lock(&s->mu);
    sqlite3_bind_text(s->bm25, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->bm25, 2, (int64_t)k);
    int rc, n = 0;
    while (n < (int)k && (rc = sqlite3_step(s->bm25)) == SQLITE_ROW) {
        ids[n] = sqlite3_column_int64(s->bm25, 0);
        scores[n++] = (float)-sqlite3_column_double(s->bm25, 1);
    }
    st = n;
    if (n < (int)k && rc != SQLITE_DONE) st = sql_err(s, HRT_E_IO, "BM25 search");
    sqlite3_reset(s->bm25);
    pthread_mutex_unlock(&s->mu);
    free(q);
    return st;
}

static char *dup_col(sqlite3_stmt *q, int i)
{
    const char *t = (const char *)sqlite3_column_text(q, i);
    return strdup(t ? t : "");
}

int store_chunk_get(kb_store *s, int64_t id, store_hit *h)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_lock(&s->mu);
    sqlite3_bind_int64(s->get, 1, id);
    int rc = sqlite3_step(s->get), st = 0;
    if (rc == SQLITE_ROW) {
        h->id = id;
        h->doc = sqlite3_column_int64(s->get, 0);
        h->source = dup_col(s->get, 1);
        h->text = dup_col(s->get, 2);
        h->meta = dup_col(s->get, 3);
        h->start = (uint64_t)sqlite3_column_int64(s->get, 4);
        h->end = (uint64_t)sqlite3_column_int64(s->get, 5);
        h->ord = sqlite3_column_int(s->get, 6);
        if (!h->source || !h->text || !h->meta) st = hrt_err(HRT_E_NOMEM, "out of memory");
    } else {
        st = rc == SQLITE_DONE ? HRT_E_RANGE : sql_err(s, HRT_E_IO, "reading a chunk");
    }
    sqlite3_reset(s->get);
    pthread_mutex_unlock(&s->mu);
    if (st) store_hit_clear(h);
    return st;
}

void store_hit_clear(store_hit *h)
{
    free(h->source);
    free(h->text);
    free(h->meta);
    memset(h, 0, sizeof *h);
}

int store_chunk_vec(kb_store *s, int64_t id, float *vec, int dim)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_bind_int64(s->vec, 1, id);
    int rc = sqlite3_step(s->vec), st = 0;
    if (rc == SQLITE_ROW && sqlite3_column_bytes(s->vec, 0) == dim * (int)sizeof(float))
        memcpy(vec, sqlite3_column_blob(s->vec, 0), (size_t)dim * sizeof(float));
    else
        st = rc == SQLITE_ROW ? hrt_err(HRT_E_FORMAT, "%s: chunk %lld: a vector of %d bytes, want %d", s->path,
                                        (long long)id, sqlite3_column_bytes(s->vec, 0), dim * (int)sizeof(float))
                              : HRT_E_RANGE;
    sqlite3_reset(s->vec);
    pthread_mutex_unlock(&s->mu);
    return st;
}

int store_vectors(kb_store *s, int dim, int (*fn)(void *ud, int64_t id, const float *vec), void *ud)
{
    float *v = malloc((size_t)dim * sizeof *v);
    if (!v) return hrt_err(HRT_E_NOMEM, "out of memory");
    pthread_mutex_lock(&s->mu);
    int rc, st = 0;
    while (!st && (rc = sqlite3_step(s->all_vecs)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s->all_vecs, 0);
        if (sqlite3_column_bytes(s->all_vecs, 1) != dim * (int)sizeof(float)) {
            st = hrt_err(HRT_E_FORMAT, "%s: chunk %lld has no vector of dimension %d", s->path, (long long)id, dim);
            break;
        }
        memcpy(v, sqlite3_column_blob(s->all_vecs, 1), (size_t)dim * sizeof *v);
        st = fn(ud, id, v);
    }
    if (!st && rc != SQLITE_DONE) st = sql_err(s, HRT_E_IO, "reading vectors");
    sqlite3_reset(s->all_vecs);
    pthread_mutex_unlock(&s->mu);
    free(v);
    return st;
}

int store_sources(kb_store *s, const char *path, int (*fn)(void *ud, const char *source), void *ud)
{
    /* copied out first: fn may write to the store */
    char **list = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_bind_text(s->sources, 1, path, -1, SQLITE_STATIC);
    int rc, st = 0;
    while (!st && (rc = sqlite3_step(s->sources)) == SQLITE_ROW) {
        if (n == cap) {
            char **g = realloc(list, (cap = cap ? 2 * cap : 16) * sizeof *g);
            if (!g) { st = hrt_err(HRT_E_NOMEM, "out of memory"); break; }
            list = g;
        }
        if (!(list[n++] = dup_col(s->sources, 0))) st = hrt_err(HRT_E_NOMEM, "out of memory");
    }
    if (!st && rc != SQLITE_DONE) st = sql_err(s, HRT_E_IO, "listing documents");
    sqlite3_reset(s->sources);
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; !st && i < n; i++) st = fn(ud, list[i]);
    for (size_t i = 0; i < n; i++) free(list[i]);
    free(list);
    return st;
}

void store_set_durable(kb_store *s, int durable)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_exec(s->db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->mu);
}

int64_t store_version(kb_store *s)
{
    pthread_mutex_lock(&s->mu);
    int64_t v = sqlite3_step(s->version) == SQLITE_ROW ? sqlite3_column_int64(s->version, 0) : -1;
    sqlite3_reset(s->version);
    pthread_mutex_unlock(&s->mu);
    return v;
}

int store_counts(kb_store *s, uint64_t *docs, uint64_t *chunks, uint64_t *bytes)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q = NULL;
    int st = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM chunks),"
                           " (SELECT COALESCE(SUM(bytes), 0) FROM documents)",
                           -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
        if (docs) *docs = (uint64_t)sqlite3_column_int64(q, 0);
        if (chunks) *chunks = (uint64_t)sqlite3_column_int64(q, 1);
        if (bytes) *bytes = (uint64_t)sqlite3_column_int64(q, 2);
    } else {
        st = sql_err(s, HRT_E_IO, "counting");
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    return st;
}

int store_meta_match(kb_store *s, int64_t chunk_id, const char *path, const char *want)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_bind_int64(s->meta_match, 1, chunk_id);
    sqlite3_bind_text(s->meta_match, 2, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->meta_match, 3, want, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->meta_match), st;
    if (rc == SQLITE_ROW) st = sqlite3_column_int(s->meta_match, 0) == 1;
    else st = rc == SQLITE_DONE ? 0 : sql_err(s, HRT_E_INVALID, "metadata filter (a JSON path such as $.lang)");
    sqlite3_reset(s->meta_match);
    pthread_mutex_unlock(&s->mu);
    return st;
}
