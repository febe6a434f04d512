/* The in-memory vector index of a memory: every record with a vector, kept
 * L2-normalised, searched exactly (a scan with dot products). Rebuilt at
 * open from the warm tier's vec table, which is what makes it durable.
 * An exact scan reads every vector: a top-10 query took 0.5 ms over 10k
 * vectors of 384 floats and 7.4 ms over 100k on one EPYC core
 * (bench/bench_memory.c, docs/PERFORMANCE.md), which suits answer caches
 * and hot knowledge; retrieval/ holds the approximate index for large
 * collections.
 * Thread safety: a read-write lock; queries share it. */
#ifndef HRT_VINDEX_H
#define HRT_VINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "hrt.h"

typedef struct vindex vindex;

/* The squared length of a vector the index can take, or 0 for one it
 * refuses (dimension <= 0, all zeros, or not finite). */
double vindex_norm2(const float *v, int dim);

vindex *vindex_new(void);
void vindex_free(vindex *v);
/* Adds or replaces key's vector (copied, normalised). HRT_E_INVALID for a
 * zero or non-finite vector. */
int vindex_set(vindex *v, const void *key, size_t key_len, const float *vec, int dim, int64_t expires);
void vindex_del(vindex *v, const void *key, size_t key_len);
size_t vindex_count(vindex *v);
/* Top k by cosine among entries of dimension dim whose key starts with
 * prefix and that have not expired at now. Returns the number of hits. */
int vindex_query(vindex *v, const void *prefix, size_t prefix_len, const float *q, int dim, size_t k,
                 float min_score, int64_t now, hrt_memory_hit *hits);
/* Calls fn for each entry that expired at or before now (under the read
 * lock: fn must not call back into the index). */
int vindex_expired(vindex *v, int64_t now, int (*fn)(void *ud, const void *key, size_t key_len), void *ud);

#endif
