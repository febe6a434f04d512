#include "warm.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define TOUCH_BATCH 1024 /* pending access times written in a batch of their own */

typedef struct {
    void *key;
    size_t key_len;
    int64_t t;
} touch;

struct warm_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *begin, *commit, *rollback;
    sqlite3_stmt *put, *size_of, *get, *has, *del_kv, *del_vec, *set_vec, *touch;
    sqlite3_stmt *oldest_all, *oldest_before, *purge, *vectors;
    char *path;
    uint64_t entries, bytes;
    touch *touches;
    size_t n_touches;
};

static int sql_err(warm_store *w, int code, const char *what)
{
    return hrt_err(code, "%s: %s: %s", w->path, what, sqlite3_errmsg(w->db));
}

/* Binds a blob that may be empty (SQLite takes NULL for an empty blob as SQL NULL). */
static void bind_blob(sqlite3_stmt *s, int i, const void *p, size_t n)
{
    sqlite3_bind_blob64(s, i, n ? p : "", n, SQLITE_STATIC);
}

static int step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : rc;
}

static void clear_touches(warm_store *w)
{
    for (size_t i = 0; i < w->n_touches; i++) free(w->touches[i].key);
    w->n_touches = 0;
}

void warm_close(warm_store *w)
{
    if (!w) return;
    if (w->db && w->touch) warm_flush(w);
    clear_touches(w);
    free(w->touches);
    sqlite3_stmt **all[] = {&w->begin, &w->commit, &w->rollback, &w->put, &w->size_of, &w->get, &w->has,
                            &w->del_kv, &w->del_vec, &w->set_vec, &w->touch, &w->oldest_all, &w->oldest_before,
                            &w->purge, &w->vectors};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) sqlite3_finalize(*all[i]);
    sqlite3_close(w->db);
    pthread_mutex_destroy(&w->mu);
    free(w->path);
    free(w);
}

/* Creates the schema, or checks the one found. */
static int check_schema(warm_store *w)
{
    char *msg = NULL;
    if (sqlite3_exec(w->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA mmap_size=1073741824;"
                     "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);"
                     "INSERT OR IGNORE INTO meta VALUES('schema', 1);"
                     "CREATE TABLE IF NOT EXISTS kv(key BLOB PRIMARY KEY, value BLOB NOT NULL, atime INTEGER,"
                     " expires INTEGER NOT NULL DEFAULT 0);"
                     "CREATE INDEX IF NOT EXISTS kv_atime ON kv(atime);"
                     "CREATE TABLE IF NOT EXISTS vec(key BLOB PRIMARY KEY, dim INTEGER, vec BLOB, expires INTEGER);",
                     NULL, NULL, &msg) != SQLITE_OK) {
        int st = hrt_err(HRT_E_FORMAT, "%s: not a usable warm-tier database: %s", w->path, msg ? msg : "?");
        sqlite3_free(msg);
        return st;
    }
    sqlite3_stmt *q = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(w->db, "SELECT value FROM meta WHERE key='schema'", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    if (version > WARM_SCHEMA_VERSION || version < 1)
        return hrt_err(HRT_E_FORMAT, "%s: schema version %d (this hrt knows %d)", w->path, version, WARM_SCHEMA_VERSION);
    q = NULL;
    int st = 0;
    if (sqlite3_prepare_v2(w->db, "SELECT COUNT(*), COALESCE(SUM(length(key) + length(value)), 0) FROM kv", -1, &q,
                           NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
        w->entries = (uint64_t)sqlite3_column_int64(q, 0);
        w->bytes = (uint64_t)sqlite3_column_int64(q, 1);
    } else {
        st = sql_err(w, HRT_E_FORMAT, "counting records");
    }
    sqlite3_finalize(q);
    return st;
}

int warm_open(const char *path, warm_store **out)
{
    *out = NULL;
    warm_store *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path)) || !(w->touches = malloc(TOUCH_BATCH * sizeof *w->touches))) {
        if (w) free(w->path);
        free(w);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&w->mu, NULL);
    int st = 0;
    if (sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        st = hrt_err(HRT_E_IO, "%s: cannot open: %s", path, w->db ? sqlite3_errmsg(w->db) : "out of memory");
    } else {
        sqlite3_busy_timeout(w->db, 5000);
        st = check_schema(w);
    }
    struct { sqlite3_stmt **s; const char *sql; } stmts[] = {
        {&w->begin, "BEGIN IMMEDIATE"},
        {&w->commit, "COMMIT"},
        {&w->rollback, "ROLLBACK"},
        {&w->put, "INSERT INTO kv(key, value, atime, expires) VALUES(?1, ?2, ?3, ?4) ON CONFLICT(key) DO UPDATE "
                  "SET value = excluded.value, atime = excluded.atime, expires = excluded.expires"},
        {&w->size_of, "SELECT length(key) + length(value) FROM kv WHERE key = ?1"},
        {&w->get, "SELECT value FROM kv WHERE key = ?1"},
        {&w->has, "SELECT 1 FROM kv WHERE key = ?1"},
        {&w->del_kv, "DELETE FROM kv WHERE key = ?1"},
        {&w->del_vec, "DELETE FROM vec WHERE key = ?1"},
        {&w->set_vec, "INSERT OR REPLACE INTO vec(key, dim, vec, expires) VALUES(?1, ?2, ?3, ?4)"},
        {&w->touch, "UPDATE kv SET atime = max(atime, ?2) WHERE key = ?1"},
        {&w->oldest_all, "SELECT key, value FROM kv ORDER BY atime LIMIT ?1"},
        {&w->oldest_before, "SELECT key, value FROM kv WHERE atime < ?2 ORDER BY atime LIMIT ?1"},
        {&w->purge, "SELECT key FROM kv WHERE expires > 0 AND expires <= ?1 LIMIT ?2"},
        {&w->vectors, "SELECT key, dim, vec, expires FROM vec"},
    };
    for (size_t i = 0; !st && i < sizeof stmts / sizeof *stmts; i++)
        if (sqlite3_prepare_v2(w->db, stmts[i].sql, -1, stmts[i].s, NULL) != SQLITE_OK)
            st = sql_err(w, HRT_E_FORMAT, "preparing a statement");
    if (st) {
        warm_close(w);
        return st;
    }
    *out = w;
    return 0;
}

/* ---- transactions (w->mu held) ------------------------------------------ */
static int tx_begin(warm_store *w)
{
    return step_done(w->begin) ? sql_err(w, HRT_E_IO, "begin") : 0;
}

static int tx_end(warm_store *w, int st)
{
    if (!st && step_done(w->commit)) st = sql_err(w, HRT_E_IO, "commit");
    if (st) step_done(w->rollback);
    return st;
}

/* Writes the pending access times inside the open transaction; they are
 * forgotten whether or not it commits (they only order demotion). */
static int write_touches(warm_store *w)
{
    int st = 0;
    for (size_t i = 0; !st && i < w->n_touches; i++) {
        bind_blob(w->touch, 1, w->touches[i].key, w->touches[i].key_len);
        sqlite3_bind_int64(w->touch, 2, w->touches[i].t);
        if (step_done(w->touch)) st = sql_err(w, HRT_E_IO, "updating access times");
    }
    clear_touches(w);
    return st;
}

int warm_flush(warm_store *w)
{
    pthread_mutex_lock(&w->mu);
    int st = 0;
    if (w->n_touches) {
        st = tx_begin(w);
        if (!st) st = tx_end(w, write_touches(w));
    }
    pthread_mutex_unlock(&w->mu);
    return st;
}

/* ---- writes ------------------------------------------------------------- */
/* The key and value bytes of key's kv row, 0 when it has none. */
static int64_t row_size(warm_store *w, const void *key, size_t key_len, int *exists)
{
    bind_blob(w->size_of, 1, key, key_len);
    int64_t n = 0;
    *exists = sqlite3_step(w->size_of) == SQLITE_ROW;
    if (*exists) n = sqlite3_column_int64(w->size_of, 0);
    sqlite3_reset(w->size_of);
    return n;
}

int warm_put(warm_store *w, const warm_record *recs, size_t n, int64_t now)
{
    if (!w || (n && !recs)) return hrt_err(HRT_E_INVALID, "warm_put: NULL argument");
    pthread_mutex_lock(&w->mu);
    int st = tx_begin(w);
    if (!st) st = write_touches(w);
    int64_t d_bytes = 0, d_entries = 0;
    for (size_t i = 0; !st && i < n; i++) {
        const warm_record *r = &recs[i];
        int exists;
        d_bytes -= row_size(w, r->key, r->key_len, &exists);
        d_entries += !exists;
        bind_blob(w->put, 1, r->key, r->key_len);
        bind_blob(w->put, 2, r->value, r->value_len);
        sqlite3_bind_int64(w->put, 3, now);
        sqlite3_bind_int64(w->put, 4, r->expires);
        if (step_done(w->put)) {
            st = sql_err(w, HRT_E_IO, "put");
            break;
        }
        d_bytes += (int64_t)(r->key_len + r->value_len);
        if (r->vec_mode == WARM_VEC_SET) {
            bind_blob(w->set_vec, 1, r->key, r->key_len);
            sqlite3_bind_int(w->set_vec, 2, r->dim);
            sqlite3_bind_blob64(w->set_vec, 3, r->vec, (sqlite3_uint64)r->dim * sizeof(float), SQLITE_STATIC);
            sqlite3_bind_int64(w->set_vec, 4, r->expires);
            if (step_done(w->set_vec)) st = sql_err(w, HRT_E_IO, "storing a vector");
        } else if (r->vec_mode == WARM_VEC_CLEAR) {
            bind_blob(w->del_vec, 1, r->key, r->key_len);
            if (step_done(w->del_vec)) st = sql_err(w, HRT_E_IO, "removing a vector");
        }
    }
    st = tx_end(w, st);
    if (!st) {
        w->bytes += (uint64_t)d_bytes;
        w->entries += (uint64_t)d_entries;
    }
    pthread_mutex_unlock(&w->mu);
    return st;
}

int warm_del(warm_store *w, const void *key, size_t key_len)
{
    if (!w || (!key && key_len)) return hrt_err(HRT_E_INVALID, "warm_del: NULL argument");
    pthread_mutex_lock(&w->mu);
    int exists, changes = 0;
    int st = tx_begin(w);
    int64_t size = st ? 0 : row_size(w, key, key_len, &exists);
    sqlite3_stmt *dels[] = {w->del_kv, w->del_vec};
    for (int i = 0; !st && i < 2; i++) {
        bind_blob(dels[i], 1, key, key_len);
        if (step_done(dels[i])) st = sql_err(w, HRT_E_IO, "delete");
        else changes += sqlite3_changes(w->db);
    }
    st = tx_end(w, st);
    if (!st && exists) {
        w->bytes -= (uint64_t)size;
        w->entries--;
    }
    pthread_mutex_unlock(&w->mu);
    return st ? st : changes ? 0 : HRT_E_RANGE;
}

int warm_drop_values(warm_store *w, const void *const *keys, const size_t *key_lens, size_t n, int with_vectors)
{
    pthread_mutex_lock(&w->mu);
    int st = tx_begin(w);
    int64_t d_bytes = 0, d_entries = 0;
    for (size_t i = 0; !st && i < n; i++) {
        int exists;
        d_bytes += row_size(w, keys[i], key_lens[i], &exists);
        d_entries += exists;
        bind_blob(w->del_kv, 1, keys[i], key_lens[i]);
        if (step_done(w->del_kv)) st = sql_err(w, HRT_E_IO, "removing records");
        if (!st && with_vectors) {
            bind_blob(w->del_vec, 1, keys[i], key_lens[i]);
            if (step_done(w->del_vec)) st = sql_err(w, HRT_E_IO, "removing vectors");
        }
    }
    st = tx_end(w, st);
    if (!st) {
        w->bytes -= (uint64_t)d_bytes;
        w->entries -= (uint64_t)d_entries;
    }
    pthread_mutex_unlock(&w->mu);
    return st;
}

int warm_expired(warm_store *w, int64_t now, size_t limit, warm_key_fn fn, void *ud)
{
    pthread_mutex_lock(&w->mu);
    sqlite3_bind_int64(w->purge, 1, now);
    sqlite3_bind_int64(w->purge, 2, (sqlite3_int64)limit);
    int rc, st = 0;
    while (!st && (rc = sqlite3_step(w->purge)) == SQLITE_ROW)
        st = fn(ud, sqlite3_column_blob(w->purge, 0), (size_t)sqlite3_column_bytes(w->purge, 0));
    if (!st && rc != SQLITE_DONE) st = sql_err(w, HRT_E_IO, "listing expired records");
    sqlite3_reset(w->purge);
    pthread_mutex_unlock(&w->mu);
    return st;
}

/* ---- reads -------------------------------------------------------------- */
int warm_get(warm_store *w, const void *key, size_t key_len, int64_t now, void **value, size_t *value_len)
{
    if (!w || (!key && key_len) || !value) return hrt_err(HRT_E_INVALID, "warm_get: NULL argument");
    *value = NULL;
    pthread_mutex_lock(&w->mu);
    bind_blob(w->get, 1, key, key_len);
    int rc = sqlite3_step(w->get), st = 0;
    if (rc == SQLITE_ROW) {
        int n = sqlite3_column_bytes(w->get, 0);
        const void *b = sqlite3_column_blob(w->get, 0);
        *value = malloc(n ? (size_t)n : 1);
        if (!*value) {
            st = hrt_err(HRT_E_NOMEM, "out of memory");
        } else {
            if (n) memcpy(*value, b, (size_t)n);
            if (value_len) *value_len = (size_t)n;
        }
    } else {
        st = rc == SQLITE_DONE ? HRT_E_RANGE : sql_err(w, HRT_E_IO, "get");
    }
    sqlite3_reset(w->get);
    if (!st) { /* recency for demotion, written later (invariant 3) */
        void *k = malloc(key_len ? key_len : 1);
        if (k) {
            memcpy(k, key, key_len);
            w->touches[w->n_touches++] = (touch){k, key_len, now};
        }
        if (w->n_touches == TOUCH_BATCH && !tx_begin(w)) {
            /* a batch of access times alone need not reach the disk before
             * the next commit: no fsync for it */
            sqlite3_exec(w->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
            tx_end(w, write_touches(w));
            sqlite3_exec(w->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
        }
        if (w->n_touches == TOUCH_BATCH) clear_touches(w);
    }
    pthread_mutex_unlock(&w->mu);
    return st;
}

int warm_has(warm_store *w, const void *key, size_t key_len)
{
    pthread_mutex_lock(&w->mu);
    bind_blob(w->has, 1, key, key_len);
    int rc = sqlite3_step(w->has);
    int st = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : sql_err(w, HRT_E_IO, "lookup");
    sqlite3_reset(w->has);
    pthread_mutex_unlock(&w->mu);
    return st;
}

int warm_oldest(warm_store *w, int oldest_first, int64_t cutoff, size_t limit, warm_row_fn fn, void *ud)
{
    pthread_mutex_lock(&w->mu);
    sqlite3_stmt *q = oldest_first ? w->oldest_all : w->oldest_before;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)limit);
    if (!oldest_first) sqlite3_bind_int64(q, 2, cutoff);
    int rc, st = 0;
    while (!st && (rc = sqlite3_step(q)) == SQLITE_ROW)
        st = fn(ud, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0), sqlite3_column_blob(q, 1),
                (size_t)sqlite3_column_bytes(q, 1));
    if (!st && rc != SQLITE_DONE) st = sql_err(w, HRT_E_IO, "listing records to demote");
    sqlite3_reset(q);
    pthread_mutex_unlock(&w->mu);
    return st;
}

int warm_vectors(warm_store *w, warm_vec_fn fn, void *ud)
{
    pthread_mutex_lock(&w->mu);
    sqlite3_stmt *q = w->vectors;
    int rc, st = 0;
    while (!st && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        int dim = sqlite3_column_int(q, 1);
        size_t n = (size_t)sqlite3_column_bytes(q, 2);
        if (dim <= 0 || n != (size_t)dim * sizeof(float)) {
            st = hrt_err(HRT_E_FORMAT, "%s: table vec: a vector of %zu bytes for dimension %d", w->path, n, dim);
            break;
        }
        st = fn(ud, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0), sqlite3_column_blob(q, 2), dim,
                sqlite3_column_int64(q, 3));
    }
    if (!st && rc != SQLITE_DONE) st = sql_err(w, HRT_E_IO, "reading vectors");
    sqlite3_reset(q);
    pthread_mutex_unlock(&w->mu);
    return st;
}

int warm_info(warm_store *w, uint64_t *entries, uint64_t *bytes)
{
    pthread_mutex_lock(&w->mu);
    if (entries) *entries = w->entries;
    if (bytes) *bytes = w->bytes;
    pthread_mutex_unlock(&w->mu);
    return 0;
}
