/* The sparse index of a knowledge base: BM25 over the chunks in memory,
 * with the same tokens and the same scores as FTS5's bm25() on chunks_fts
 * (k1 1.2, b 0.75, idf = ln((N - df + 0.5) / (df + 0.5)), at least 1e-6;
 * sqlite/ext/fts5/fts5_aux.c, fts5Bm25Function), but ranked with dynamic
 * pruning (MaxScore, Turtle and Flood 1995) so that a query of common
 * terms does not score every chunk that has one. FTS5 stays the store of
 * record; this index is rebuilt from it and follows the knowledge base's
 * writes.
 *
 * Postings are per term, in chunk-id order (ids only grow: the store's
 * AUTOINCREMENT), each with its term frequency. Each term keeps an upper
 * bound of its BM25 term-frequency part, computed at a reference average
 * length ref_avgdl >= the current one (the part grows with avgdl), so a
 * bound stays valid as chunks come and go until sparse_commit() moves the
 * reference.
 * Invariants:
 *   1. Chunks are added in increasing id order (HRT_E_INVALID otherwise).
 *   2. A removed chunk is marked dead at once (never returned) and leaves
 *      the statistics (N, total length, df) at once; its postings are
 *      dropped by sparse_commit() once a quarter of the chunks are dead.
 * Thread safety: none; the caller holds a lock (searches shared, changes
 * exclusive). */
#ifndef HRT_SPARSE_H
#define HRT_SPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct sparse_index sparse_index;

int sparse_create(sparse_index **out);
void sparse_free(sparse_index *x);
/* Adds chunk id: sparse_begin, a sparse_term per token, sparse_end. A
 * failed call (HRT_E_NOMEM) leaves the index unusable: rebuild it. */
int sparse_begin(sparse_index *x, int64_t id);
int sparse_term(sparse_index *x, const char *tok, int n);
int sparse_end(sparse_index *x);
/* A new index of every chunk of the store, with chunks_fts's tokens. */
int sparse_build(kb_store *s, sparse_index **out);
/* Adds chunk id, whose text is tokenized as chunks_fts does (begin, the
 * store's tokens, end). */
int sparse_add(sparse_index *x, kb_store *s, int64_t id, const char *text, size_t len);
/* Marks the chunks of ids dead (ids not in the index are ignored). */
void sparse_remove(sparse_index *x, size_t n, const int64_t *ids);
/* After a batch of changes: drops the postings of dead chunks when they
 * are a quarter or more, and moves the bounds' reference length. */
int sparse_commit(sparse_index *x);
/* The k best live chunks for the query's terms (repeats count twice, as
 * in FTS5's OR query): ids and scores (higher = better), best first;
 * returns how many. */
int sparse_search(const sparse_index *x, const char *const *terms, const int *lens, size_t n_terms, size_t k,
                  int64_t *ids, float *scores);
/* Live chunks, and postings held (dead ones included). */
uint64_t sparse_count(const sparse_index *x);
uint64_t sparse_postings(const sparse_index *x);

#endif
