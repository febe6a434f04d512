/* The dense index of a knowledge base: a FAISS index (through the FAISS C
 * API) over L2-normalised embeddings, searched by inner product, whose ids
 * are the chunk ids of the SQLite store.
 *
 * Index types (the index_factory string is kept in kb.json):
 *   fewer than 50k vectors  "IDMap2,Flat"        exact;
 *   more                    "IDMap2,HNSW32,Flat" approximate, efSearch 64.
 * HNSW cannot remove vectors: removed ids are left in it and dropped when
 * search results are joined with the store (a chunk that is gone is not
 * returned); the caller compares dense_count() with its live chunks to
 * decide when to rebuild.
 * Invariants: 1. dense_save() replaces the file atomically (temporary
 * name, fsync, rename); 2. the index never outlives a failed call half
 * changed: FAISS adds are all-or-nothing per call. */
#ifndef HRT_DENSE_H
#define HRT_DENSE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dense_index dense_index;

/* The factory string hrt picks for n vectors. */
const char *dense_default_type(uint64_t n);
/* A new empty index of dimension dim and factory string type. */
int dense_create(int dim, const char *type, dense_index **out);
/* Reads path, an index of factory string type; HRT_E_IO when it cannot be
 * read, HRT_E_FORMAT when FAISS refuses it or its dimension is not dim. */
int dense_load(const char *path, const char *type, int dim, dense_index **out);
int dense_save(dense_index *d, const char *path);
void dense_free(dense_index *d);
int dense_add(dense_index *d, size_t n, const float *vecs, const int64_t *ids);
/* Removes ids; *removed (optional) how many the index could remove (HNSW:
 * none). */
int dense_remove(dense_index *d, size_t n, const int64_t *ids, size_t *removed);
/* The k nearest ids by inner product: ids[i] = -1 past the last. */
int dense_search(dense_index *d, const float *q, size_t k, float *scores, int64_t *ids);
uint64_t dense_count(dense_index *d);
int dense_dim(dense_index *d);
const char *dense_type(dense_index *d);

#endif
