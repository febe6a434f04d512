/* The warm tier: a SQLite database on local disk (WAL journal), holding
 * what the hot tier has given up and the cold tier has not yet taken.
 *
 * Schema version 1: meta(key TEXT PRIMARY KEY, value) with 'schema' = 1;
 * kv(key BLOB PRIMARY KEY, value BLOB NOT NULL, atime INTEGER).
 * Invariants: 1. a put or delete is one transaction, committed (WAL,
 * synchronous=FULL) before it returns, so an acknowledged write survives
 * kill -9 and power loss; 2. a database of a newer schema is refused, not
 * guessed at; 3. atime orders demotion to the cold tier (the policy's job).
 * Thread safety: one connection behind a mutex; a reader waits for at most
 * one commit. */
#ifndef HRT_WARM_H
#define HRT_WARM_H

#include <stddef.h>
#include <stdint.h>

#define WARM_SCHEMA_VERSION 1

typedef struct warm_store warm_store;

/* Opens or creates path. HRT_E_IO when it cannot be opened, HRT_E_FORMAT
 * when it is not a database of this kind or of a newer schema. */
int warm_open(const char *path, warm_store **out);
void warm_close(warm_store *w);
int warm_put(warm_store *w, const void *key, size_t key_len, const void *value, size_t value_len);
/* *value malloc'd (caller frees); HRT_E_RANGE when absent. Updates atime. */
int warm_get(warm_store *w, const void *key, size_t key_len, void **value, size_t *value_len);
int warm_del(warm_store *w, const void *key, size_t key_len);
int warm_count(warm_store *w, uint64_t *entries);

#endif
