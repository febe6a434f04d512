/* The store of a knowledge base: kb.sqlite (WAL), the source of truth.
 *
 * Schema version 1:
 *   meta(key TEXT PRIMARY KEY, value): 'schema' = 1; 'version', bumped by
 *     every write transaction (the dense index file records the version it
 *     reflects);
 *   documents(id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT UNIQUE,
 *     hash TEXT, meta TEXT (JSON), bytes INTEGER, added INTEGER,
 *     updated INTEGER);
 *   chunks(id INTEGER PRIMARY KEY AUTOINCREMENT, doc INTEGER REFERENCES
 *     documents ON DELETE CASCADE, ord INTEGER, start INTEGER, end INTEGER
 *     (byte offsets into the document's text), tokens INTEGER, hash TEXT,
 *     text TEXT, vec BLOB (dim float32, L2-normalised));
 *   chunks_fts: FTS5 over chunks.text (external content, kept by
 *     triggers), tokenizer porter + unicode61, ranked by bm25().
 * Invariants:
 *   1. A document and all its chunks (with their vectors) are written or
 *      replaced in one transaction (WAL, synchronous=FULL): after kill -9 a
 *      document is either whole or absent.
 *   2. Chunk ids are never reused (AUTOINCREMENT), so an id left in an
 *      index that cannot remove (HNSW) never names another chunk.
 *   3. The vectors are here, so the dense index can always be rebuilt.
 * Thread safety: one connection behind a mutex. */
#ifndef HRT_STORE_H
#define HRT_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 1

typedef struct kb_store kb_store;

typedef struct {
    const char *text;   /* chunk text (UTF-8) */
    size_t len;
    uint64_t start, end; /* byte offsets into the document */
    int tokens;
} store_chunk;

typedef struct {
    int64_t id;          /* chunk id */
    int64_t doc;         /* document id */
    char *source;        /* malloc'd */
    char *text;          /* malloc'd */
    char *meta;          /* the document's metadata JSON, malloc'd */
    uint64_t start, end;
    int ord;
} store_hit;

int store_open(const char *path, kb_store **out);
void store_close(kb_store *s);
/* The stored hash of source: 1 and *hash (malloc'd) when present, 0 when
 * not, or a negative status. */
int store_doc_hash(kb_store *s, const char *source, char **hash);
/* Writes source's document and chunks (vecs: n * dim floats) in one
 * transaction, replacing any earlier version. old_ids (malloc'd, may be
 * NULL) receives the chunk ids it replaced, new_ids (n, caller's array) the
 * new ones. */
int store_doc_put(kb_store *s, const char *source, const char *hash, const char *meta_json, uint64_t bytes,
                  const store_chunk *chunks, size_t n, const float *vecs, int dim, int64_t **old_ids,
                  size_t *n_old, int64_t *new_ids);
/* Removes source and its chunks; the removed chunk ids as for put.
 * HRT_E_RANGE when absent. */
int store_doc_remove(kb_store *s, const char *source, int64_t **old_ids, size_t *n_old);
/* The terms of a free-text query as chunks_fts indexes them: the words
 * FTS5's tokenizer finds (unicode61 folding, porter stemming), Lucene's
 * English stop words dropped, at most STORE_MAX_TERMS, repeats kept. */
#define STORE_MAX_TERMS 64
typedef struct {
    size_t n;
    const char *term[STORE_MAX_TERMS]; /* the token, NUL-terminated */
    int len[STORE_MAX_TERMS];
    const char *word[STORE_MAX_TERMS]; /* the query's bytes it came from */
    int word_len[STORE_MAX_TERMS];
    char *buf; /* owns the strings */
} store_terms;
int store_query_terms(kb_store *s, const char *query, store_terms *out);
void store_terms_clear(store_terms *t);
/* Runs chunks_fts's tokenizer over text as for a document: fn gets each
 * token (tok, n bytes) and its byte span in text; a non-zero return
 * stops it (HRT_E_CANCELLED). */
int store_tokenize(kb_store *s, const char *text, size_t len,
                   int (*fn)(void *ud, const char *tok, int n, int start, int end), void *ud);
/* Tokenizes every chunk in id order, for an in-memory index: fn(ud, id,
 * NULL, 0) opens chunk id, then fn(ud, id, tok, n) for each token. The
 * store is locked throughout; fn must not call back into it. */
int store_chunk_tokens(kb_store *s, int (*fn)(void *ud, int64_t id, const char *tok, int n), void *ud);
/* BM25 over the chunks by FTS5: up to k chunk ids, best first, scores
 * higher = better (negated FTS5 bm25). The query's terms
 * (store_query_terms) are searched with OR, each word quoted, so
 * punctuation cannot break the FTS5 syntax. Returns the number found. */
int store_bm25(kb_store *s, const char *query, size_t k, int64_t *ids, float *scores);
/* Fills h for chunk id: 0, HRT_E_RANGE when it no longer exists. */
int store_chunk_get(kb_store *s, int64_t id, store_hit *h);
void store_hit_clear(store_hit *h);
/* The stored vector of chunk id (dim floats into vec). */
int store_chunk_vec(kb_store *s, int64_t id, float *vec, int dim);
/* Calls fn with every chunk's id and vector (for rebuilding the index). */
int store_vectors(kb_store *s, int dim, int (*fn)(void *ud, int64_t id, const float *vec), void *ud);
/* Calls fn with the source of every document that is path itself or
 * lies under it ("path/..." or "path#..."). */
int store_sources(kb_store *s, const char *path, int (*fn)(void *ud, const char *source), void *ud);
int64_t store_version(kb_store *s);
/* durable 0: commits without fsync (PRAGMA synchronous=OFF), for a
 * benchmark's bulk load; 1: back to synchronous=FULL. */
void store_set_durable(kb_store *s, int durable);
int store_counts(kb_store *s, uint64_t *docs, uint64_t *chunks, uint64_t *bytes);
/* A metadata value of the chunk's document equals want (JSON path, e.g.
 * "$.lang"): 1, 0, or a negative status. */
int store_meta_match(kb_store *s, int64_t chunk_id, const char *path, const char *want);

#endif
