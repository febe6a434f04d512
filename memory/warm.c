#include "warm.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"

struct warm_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *put, *get, *touch, *del, *count;
    char *path;
};

static int sql_err(warm_store *w, int code, const char *what)
{
    return hrt_err(code, "%s: %s: %s", w->path, what, sqlite3_errmsg(w->db));
}

static int64_t now_s(void) { return (int64_t)time(NULL); }

void warm_close(warm_store *w)
{
    if (!w) return;
    sqlite3_finalize(w->put);
    sqlite3_finalize(w->get);
    sqlite3_finalize(w->touch);
    sqlite3_finalize(w->del);
    sqlite3_finalize(w->count);
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
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value);"
                     "INSERT OR IGNORE INTO meta VALUES('schema', 1);"
                     "CREATE TABLE IF NOT EXISTS kv(key BLOB PRIMARY KEY, value BLOB NOT NULL, atime INTEGER);",
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
    return 0;
}

int warm_open(const char *path, warm_store **out)
{
    *out = NULL;
    warm_store *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return hrt_err(HRT_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&w->mu, NULL);
    int st = 0;
    if (sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        st = hrt_err(HRT_E_IO, "%s: cannot open: %s", path, w->db ? sqlite3_errmsg(w->db) : "out of memory");
    } else {
        sqlite3_busy_timeout(w->db, 5000);
        st = check_schema(w);
    }
    struct { sqlite3_stmt **s; const char *sql; } stmts[] = {
        {&w->put, "INSERT INTO kv(key, value, atime) VALUES(?1, ?2, ?3) "
                  "ON CONFLICT(key) DO UPDATE SET value = excluded.value, atime = excluded.atime"},
        {&w->get, "SELECT value FROM kv WHERE key = ?1"},
        {&w->touch, "UPDATE kv SET atime = ?2 WHERE key = ?1"},
        {&w->del, "DELETE FROM kv WHERE key = ?1"},
        {&w->count, "SELECT COUNT(*) FROM kv"},
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

int warm_put(warm_store *w, const void *key, size_t key_len, const void *value, size_t value_len)
{
    if (!w || (!key && key_len) || (!value && value_len)) return hrt_err(HRT_E_INVALID, "warm_put: NULL argument");
    pthread_mutex_lock(&w->mu);
    sqlite3_reset(w->put);
    sqlite3_bind_blob64(w->put, 1, key_len ? key : "", key_len, SQLITE_STATIC);
    sqlite3_bind_blob64(w->put, 2, value_len ? value : "", value_len, SQLITE_STATIC);
    sqlite3_bind_int64(w->put, 3, now_s());
    int st = sqlite3_step(w->put) == SQLITE_DONE ? 0 : sql_err(w, HRT_E_IO, "put");
    sqlite3_reset(w->put);
    pthread_mutex_unlock(&w->mu);
    return st;
}

int warm_get(warm_store *w, const void *key, size_t key_len, void **value, size_t *value_len)
{
    if (!w || (!key && key_len) || !value) return hrt_err(HRT_E_INVALID, "warm_get: NULL argument");
    *value = NULL;
    pthread_mutex_lock(&w->mu);
    sqlite3_reset(w->get);
    sqlite3_bind_blob64(w->get, 1, key_len ? key : "", key_len, SQLITE_STATIC);
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
    if (!st) { /* recency for demotion; a failure here loses nothing */
        sqlite3_reset(w->touch);
        sqlite3_bind_blob64(w->touch, 1, key_len ? key : "", key_len, SQLITE_STATIC);
        sqlite3_bind_int64(w->touch, 2, now_s());
        sqlite3_step(w->touch);
        sqlite3_reset(w->touch);
    }
    pthread_mutex_unlock(&w->mu);
    return st;
}

int warm_del(warm_store *w, const void *key, size_t key_len)
{
    if (!w || (!key && key_len)) return hrt_err(HRT_E_INVALID, "warm_del: NULL argument");
    pthread_mutex_lock(&w->mu);
    sqlite3_reset(w->del);
    sqlite3_bind_blob64(w->del, 1, key_len ? key : "", key_len, SQLITE_STATIC);
    int st = sqlite3_step(w->del) == SQLITE_DONE ? (sqlite3_changes(w->db) ? 0 : HRT_E_RANGE)
                                                   : sql_err(w, HRT_E_IO, "delete");
    sqlite3_reset(w->del);
    pthread_mutex_unlock(&w->mu);
    return st;
}

int warm_count(warm_store *w, uint64_t *entries)
{
    pthread_mutex_lock(&w->mu);
    sqlite3_reset(w->count);
    int st = sqlite3_step(w->count) == SQLITE_ROW ? 0 : sql_err(w, HRT_E_IO, "count");
    if (!st) *entries = (uint64_t)sqlite3_column_int64(w->count, 0);
    sqlite3_reset(w->count);
    pthread_mutex_unlock(&w->mu);
    return st;
}
