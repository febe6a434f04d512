/* The warm tier: a SQLite database on local disk (WAL journal), holding
 * what the hot tier has given up and the cold tier has not yet taken, and
 * the vectors of every record that has one, whatever tier holds its value.
 *
 * Schema version 1:
 *   meta(key TEXT PRIMARY KEY, value) with 'schema' = 1;
 *   kv(key BLOB PRIMARY KEY, value BLOB NOT NULL, atime INTEGER,
 *      expires INTEGER NOT NULL DEFAULT 0), indexed on atime;
 *   vec(key BLOB PRIMARY KEY, dim INTEGER, vec BLOB, expires INTEGER).
 * Invariants:
 *   1. A put (of any number of records) or a delete is one transaction,
 *      committed (WAL, synchronous=FULL) before it returns: an acknowledged
 *      write survives kill -9 and power loss.
 *   2. A database of a newer schema is refused, not guessed at.
 *   3. atime (seconds) orders demotion to the cold tier. A get does not
 *      write: the times it reads are kept in memory and written with the
 *      next put, warm_flush(), or in a batch of their own once many are
 *      pending; losing them in a crash loses recency, never data.
 *   4. bytes counts key and value bytes of kv, computed at open and kept up
 *      to date by every write.
 * Thread safety: one connection behind a mutex; a reader waits for at most
 * one commit. */
#ifndef HRT_WARM_H
#define HRT_WARM_H

#include <stddef.h>
#include <stdint.h>

#define WARM_SCHEMA_VERSION 1

typedef struct warm_store warm_store;

enum { WARM_VEC_CLEAR, WARM_VEC_SET, WARM_VEC_KEEP };

typedef struct {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t expires;    /* unix seconds, 0: never */
    int vec_mode;       /* WARM_VEC_*: what happens to the key's vector row */
    const float *vec;   /* WARM_VEC_SET: dim floats */
    int dim;
} warm_record;

/* Opens or creates path. HRT_E_IO when it cannot be opened, HRT_E_FORMAT
 * when it is not a database of this kind or of a newer schema. */
int warm_open(const char *path, warm_store **out);
void warm_close(warm_store *w);
/* Writes n records in one transaction with atime now. */
int warm_put(warm_store *w, const warm_record *recs, size_t n, int64_t now);
/* *value malloc'd (caller frees); HRT_E_RANGE when absent. Notes atime now. */
int warm_get(warm_store *w, const void *key, size_t key_len, int64_t now, void **value, size_t *value_len);
/* 1 when key has a kv row, 0 when not, or a negative status. */
int warm_has(warm_store *w, const void *key, size_t key_len);
/* Deletes the kv and vec rows of key; HRT_E_RANGE when it had neither. */
int warm_del(warm_store *w, const void *key, size_t key_len);

/* Demotion: calls fn for up to limit kv rows, least recently used first:
 * all of them when oldest_first is set, otherwise only those with atime
 * before cutoff. fn's pointers are valid during the call only. */
typedef int (*warm_row_fn)(void *ud, const void *key, size_t key_len, const void *value, size_t value_len);
int warm_oldest(warm_store *w, int oldest_first, int64_t cutoff, size_t limit, warm_row_fn fn, void *ud);
/* Deletes the kv rows of n keys in one transaction, and their vec rows
 * when with_vectors is set (demotion keeps them). */
int warm_drop_values(warm_store *w, const void *const *keys, const size_t *key_lens, size_t n, int with_vectors);
/* Calls fn with the keys of up to limit kv rows that expired at or before
 * now (fn's pointers are valid during the call only). */
typedef int (*warm_key_fn)(void *ud, const void *key, size_t key_len);
int warm_expired(warm_store *w, int64_t now, size_t limit, warm_key_fn fn, void *ud);
/* Calls fn for every vec row (at open, to build the in-memory index). */
typedef int (*warm_vec_fn)(void *ud, const void *key, size_t key_len, const void *vec, int dim, int64_t expires);
int warm_vectors(warm_store *w, warm_vec_fn fn, void *ud);
/* Writes the pending access times. */
int warm_flush(warm_store *w);
int warm_info(warm_store *w, uint64_t *entries, uint64_t *bytes);

#endif
