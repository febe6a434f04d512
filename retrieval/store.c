#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
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
        *ins_chunk, *bump, *version, *bm25, *get, *vec, *all_vecs, *meta_match, *sources;
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
                            &s->bm25, &s->get, &s->vec, &s->all_vecs, &s->meta_match, &s->sources};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) sqlite3_finalize(*all[i]);
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
        {&s->meta_match, "SELECT CAST(json_extract(d.meta, ?2) AS TEXT) = ?3 FROM chunks c "
                         "JOIN documents d ON d.id = c.doc WHERE c.id = ?1"},
        {&s->sources, "SELECT source FROM documents WHERE source = ?1 OR "
                      "substr(source, 1, length(?1) + 1) IN (?1 || '/', ?1 || '#') ORDER BY source"},
    };
    for (size_t i = 0; !st && i < sizeof stmts / sizeof *stmts; i++)
        if (sqlite3_prepare_v2(s->db, stmts[i].sql, -1, stmts[i].q, NULL) != SQLITE_OK)
            st = sql_err(s, HRT_E_FORMAT, "preparing a statement");
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

static int is_word_byte(char ch)
{
    unsigned char c = (unsigned char)ch;
    return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
}

/* The FTS5 query for free text: each word (a run of letters, digits or
 * non-ASCII bytes) but the stop words quoted, joined by OR. NULL when it
 * has no such word. */
static char *fts_query(const char *text)
{
    size_t n = strlen(text), cap = 3 * n + 16, len = 0, words = 0;
    char *q = malloc(cap);
    if (!q) return NULL;
    for (size_t i = 0; i < n && words < 64;) {
        if (!is_word_byte(text[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && is_word_byte(text[j])) j++;
        if (!is_stop_word(text + i, j - i)) {
            len += (size_t)snprintf(q + len, cap - len, "%s\"%.*s\"", words ? " OR " : "", (int)(j - i), text + i);
            words++;
        }
        i = j;
    }
    if (!words) {
        free(q);
        return NULL;
    }
    return q;
}

int store_bm25(kb_store *s, const char *query, size_t k, int64_t *ids, float *scores)
{
    char *q = fts_query(query);
    if (!q) return 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_bind_text(s->bm25, 1, q, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->bm25, 2, (int64_t)k);
    int rc, n = 0;
    while (n < (int)k && (rc = sqlite3_step(s->bm25)) == SQLITE_ROW) {
        ids[n] = sqlite3_column_int64(s->bm25, 0);
        scores[n++] = (float)-sqlite3_column_double(s->bm25, 1);
    }
    int st = n;
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
