/* Entry points of retrieval/kb.c for benchmarks and tests: a search with a
 * query vector already computed (so that its latency excludes the query
 * embedding), and documents whose single chunk brings its own vector (so
 * that 100k synthetic chunks need no embedding). */
#ifndef HRT_KB_INTERNAL_H
#define HRT_KB_INTERNAL_H

#include "hrt.h"

/* hrt_kb_search with qvec (dim floats, unit length) as the query's
 * embedding; qvec is not used in HRT_KB_BM25 mode. */
int kb_search_vec(hrt_kb *kb, const char *query, const float *qvec, const hrt_kb_search_params *params,
                  hrt_kb_hit *hits);
/* Adds n one-chunk documents (sources[i], texts[i], vecs[i * dim]) in one
 * transaction each, without fsync when bulk is set (a benchmark's load). */
int kb_put_vectors(hrt_kb *kb, size_t n, const char *const *sources, const char *const *texts, const float *vecs,
                   int bulk);
/* fts5 1: BM25 by FTS5's bm25() (the store of record, a peer for the
 * benchmark and the reference for tests) instead of the in-memory index;
 * 0: back to the index. */
void kb_bm25_fts5(hrt_kb *kb, int fts5);
/* serial 1: a hybrid search runs BM25 after FAISS on the caller's thread
 * (the benchmark's comparison); 0: on the helper thread, at the same time. */
void kb_serial(hrt_kb *kb, int serial);

#endif
